"""Constructor options added for the ablation study (``harmony study ablations``): RCLNet ``style_fusion``
(Liang, Pun et al., "Image Harmonization with Region-wise Contrastive Learning", Table VI rows
1-2) and BargainNet's generator inputs and per-loss triplet weights (BargainNet
supplement Table 2). Defaults are the papers' models."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from harmony.models.bargainnet import BargainNet  # noqa: E402
from harmony.models.base import to_signed  # noqa: E402
from harmony.models.blocks import StyleFusion  # noqa: E402
from harmony.models.rcl import RCLNet  # noqa: E402

from .conftest import torch_batch as _batch  # noqa: E402

# --- RCLNet style_fusion (RCL paper, Table VI) -------------------------------------------------------------


def test_rcl_without_style_fusion_builds_no_fusion_parameters_and_trains():
    widths = (8, 16, 32)
    on = RCLNet(size=32, widths=widths, bottleneck_blocks=1, patches=8, mlp_dim=16)
    off = RCLNet(size=32, widths=widths, bottleneck_blocks=1, patches=8, mlp_dim=16, style_fusion=False)
    assert on.config["style_fusion"] is True and off.config["style_fusion"] is False
    assert not any(isinstance(m, StyleFusion) for m in off.modules())
    assert sum(isinstance(m, StyleFusion) for m in on.modules()) == len(widths)
    # each fusion layer: two 1x1 convolutions w -> w with bias = 2 (w*w + w) parameters (counted by hand)
    fusion_params = sum(2 * (w * w + w) for w in widths)
    n_on = sum(p.numel() for p in on.parameters())
    n_off = sum(p.numel() for p in off.parameters())
    assert n_on - n_off == fusion_params
    b = _batch()
    with torch.no_grad():
        out = off(b["composite"], b["mask"])
    assert out.shape == b["composite"].shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    losses = off.training_losses(b)
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    assert all(p.grad is not None for p in off.stem.parameters())


def test_rcl_style_fusion_changes_the_output_once_trained_weights_are_nonzero():
    torch.manual_seed(0)
    on = RCLNet(size=32, widths=(8, 16), bottleneck_blocks=1, patches=8, mlp_dim=16).eval()
    off = RCLNet(size=32, widths=(8, 16), bottleneck_blocks=1, patches=8, mlp_dim=16, style_fusion=False).eval()
    off.load_state_dict({k: v for k, v in on.state_dict().items() if not k.startswith("fusion.")})
    b = _batch()
    # fusion starts as the identity (zero affines): same output with and without it
    assert torch.allclose(on(b["composite"], b["mask"]), off(b["composite"], b["mask"]))
    with torch.no_grad():
        for f in on.fusion:
            f.shift.bias.fill_(0.5)
    assert not torch.allclose(on(b["composite"], b["mask"]), off(b["composite"], b["mask"]))


# --- BargainNet input options (supplement Table 2) ----------------------------------------------------------


@pytest.mark.parametrize("kwargs, channels", [
    ({}, 3 + 1 + 16),                                   # row 3: composite, mask, z_b
    ({"code_input": "none"}, 3 + 1),                    # row 1: composite, mask
    ({"mask_input": False}, 3 + 16),                    # rows 6-7: composite, z_b
    ({"code_input": "whole"}, 3 + 1 + 16),              # row 8: composite, mask, whole-image code
    ({"code_input": "none", "mask_input": False}, 3),
])
def test_bargainnet_generator_input_channels(kwargs, channels):
    net = BargainNet(size=32, ngf=8, levels=5, code_dim=16, extractor_widths=(8, 8, 8, 8, 8), **kwargs)
    assert net.generator.down[0].in_channels == channels
    b = _batch()
    out = net(b["composite"], b["mask"])
    assert out.shape == b["composite"].shape


@pytest.mark.parametrize("code_input", ["background", "whole", "none"])
def test_bargainnet_generator_is_fed_the_chosen_code(code_input):
    net = BargainNet(size=32, ngf=8, levels=5, code_dim=4, extractor_widths=(8, 8, 8, 8, 8),
                     code_input=code_input, mask_input=False).eval()
    seen = {}
    net.generator.register_forward_hook(lambda mod, args, out: seen.setdefault("x", args[0]))
    b = _batch()
    with torch.no_grad():
        net(b["composite"], b["mask"])
        x = seen["x"]
        assert torch.allclose(x[:, :3], to_signed(b["composite"]))        # no mask channel
        if code_input == "none":
            assert x.shape[1] == 3
            return
        region = torch.ones_like(b["mask"]) if code_input == "whole" else 1.0 - b["mask"]
        code = net.extractor(to_signed(b["composite"]), region)
        assert torch.allclose(x[:, 3:], code[:, :, None, None].expand(-1, -1, 32, 32), atol=1e-6)


def test_bargainnet_separate_triplet_weights():
    kw = dict(size=32, ngf=8, levels=5, code_dim=4, extractor_widths=(8, 8, 8, 8, 8), lambda_tri=0.01)
    b = _batch()
    for extra, (w_ff, w_fb) in [({}, (0.01, 0.01)), ({"lambda_fb": 0.0}, (0.01, 0.0)),
                                ({"lambda_ff": 0.0}, (0.0, 0.01)), ({"lambda_ff": 0.5, "lambda_fb": 2.0}, (0.5, 2.0))]:
        torch.manual_seed(0)
        net = BargainNet(**kw, **extra)
        assert (net.lambda_ff, net.lambda_fb) == (w_ff, w_fb)
        with torch.no_grad():
            losses = net.training_losses(b)
        want = losses["rec"] + w_ff * losses["tri_ff"] + w_fb * losses["tri_fb"]
        assert float(losses["total"]) == pytest.approx(float(want), rel=1e-6)
        assert float(losses["tri_ff"]) > 0 and float(losses["tri_fb"]) > 0


def test_bargainnet_options_are_recorded_and_checked():
    net = BargainNet(size=32, ngf=8, levels=5, code_dim=4, extractor_widths=(8, 8, 8, 8, 8),
                     code_input="whole", mask_input=False, lambda_fb=0.0)
    cfg = net.config
    assert (cfg["code_input"], cfg["mask_input"], cfg["lambda_ff"], cfg["lambda_fb"]) == ("whole", False, None, 0.0)
    # a checkpoint written before these options existed (no such keys) builds the paper's model
    old = {k: v for k, v in cfg.items() if k not in ("code_input", "mask_input", "lambda_ff", "lambda_fb")}
    rebuilt = BargainNet(**old)
    assert rebuilt.generator.down[0].in_channels == 3 + 1 + 4 and rebuilt.lambda_ff == rebuilt.lambda_fb == 0.01
    with pytest.raises(ValueError, match="code_input"):
        BargainNet(code_input="foreground")
