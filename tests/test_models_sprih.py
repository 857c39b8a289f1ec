"""SPRIH (harmony.models.sprih; Wang et al., CVPR 2023, sections 3.1-3.2): discriminator targets and losses (Eqs. 3-4)
on hand-computed tensors, differentiable curves against numpy, smooth shading by construction,
full-resolution inference, dual-stream training, checkpoints, and overfitting a handful of images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harmony import io as hio  # noqa: E402
from harmony.dataset import DatasetWriter, composite_name, mask_name  # noqa: E402
from harmony.models import sprih as sp  # noqa: E402
from harmony.models.presets import create_model  # noqa: E402
from tests.test_models_data import _scene, make_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_unpaired(root: Path, *, n: int = 4, size: int = 48, seed: int = 0) -> Path:
    """A tiny HRealComposite-like set: composites with backgrounds/ and real_class/ (no real_images)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root, "HRealComposite", config={"test": "sprih"}, command="test", has_real=False,
                           extra_dirs=("backgrounds", "real_class"))
    layout = writer.layout
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(n):
        bg = _scene(rng, size)
        fg = np.clip(_scene(rng, size) * rng.uniform(0.5, 1.5, 3), 0, 1).astype(np.float32)
        cy, cx = rng.uniform(0.4, 0.6, 2) * size
        mask = ((((yy - cy) / (0.25 * size)) ** 2 + ((xx - cx) / (0.2 * size)) ** 2) <= 1).astype(np.float32)
        comp = mask[..., None] * fg + (1 - mask[..., None]) * bg
        cname, mname, bname = composite_name("r", f"s{i}", 1, 1), mask_name("r", f"s{i}", 1), f"rs{i}.jpg"
        layout.write_composite(cname, comp, quality=100)
        layout.write_mask(mname, mask)
        layout.write_extra("backgrounds", bname, bg, quality=100)
        layout.write_extra("real_class", bname, bg, quality=100)
        layout.write_unit(f"u{i}", {"rows": [{"composite": cname, "mask": f"masks/{mname}", "real": "", "split": "train",
                                              "subset": "HRealComposite", "background": f"backgrounds/{bname}",
                                              "real_class": f"real_class/{bname}"}]})
    writer.finalize(extra_columns=("background", "real_class"))
    return root


# --- Eqs. 3-4 -----------------------------------------------------------------------------------------

def test_discriminator_target_maps():
    mask = torch.tensor([[[[0.0, 1.0], [0.25, 1.0]]]])
    assert torch.equal(sp.discriminator_targets(mask, real=True), torch.ones_like(mask))
    assert torch.equal(sp.discriminator_targets(mask, real=False), torch.tensor([[[[1.0, 0.0], [0.75, 0.0]]]]))


def test_discriminator_and_generator_losses_on_hand_computed_logits():
    mask = torch.tensor([[[[0.0, 1.0]]]])
    zero = torch.zeros(1, 1, 1, 2)
    # logits 0 -> D = 1/2 everywhere: every pixel costs ln 2, for real and for fake
    assert sp.discriminator_loss(zero, zero, mask).item() == pytest.approx(2 * math.log(2), abs=1e-6)
    assert sp.generator_loss(zero).item() == pytest.approx(math.log(2), abs=1e-6)
    # D(real) = sigmoid(2) on both pixels; on the fake, background pixel logit 2 (target 1), foreground
    # pixel logit -1 (target 0): -log sig(2), -log sig(2) | -log sig(2), -log(1 - sig(-1))
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    d_real = torch.full((1, 1, 1, 2), 2.0)
    d_fake = torch.tensor([[[[2.0, -1.0]]]])
    expected = -math.log(sig(2)) + 0.5 * (-math.log(sig(2)) - math.log(1 - sig(-1)))
    assert sp.discriminator_loss(d_real, d_fake, mask).item() == pytest.approx(expected, abs=1e-6)
    assert sp.generator_loss(d_fake).item() == pytest.approx(0.5 * (-math.log(sig(2)) - math.log(sig(-1))), abs=1e-6)


# --- the parametric model -----------------------------------------------------------------------------

def test_torch_curves_match_numpy_piecewise_linear():
    rng = np.random.default_rng(0)
    ys = np.sort(rng.random((2, 3, 32)), axis=-1)
    img = rng.random((2, 3, 9, 11)).astype(np.float32)
    out = sp.apply_curves_torch(torch.from_numpy(img), torch.from_numpy(ys).float()).numpy()
    x = np.linspace(0, 1, 32)
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[b, c], np.interp(img[b, c], x, ys[b, c]), atol=1e-6)


def _tiny(**kw):
    torch.manual_seed(0)
    return create_model("sprih_tiny", **kw).eval()


def test_untrained_model_is_the_identity_and_monotone_curves():
    net = _tiny()
    c = torch.rand(2, 3, 64, 64)
    m = torch.zeros(2, 1, 64, 64)
    m[..., 20:40, 16:48] = 1
    with torch.no_grad():
        out = net(c, m)
        ys, shading = net.predict_params(c, m)
    assert torch.allclose(out, c, atol=1e-5)
    assert shading.shape == (2, 1, 64, 64) and torch.allclose(shading, torch.ones_like(shading), atol=1e-5)
    with torch.no_grad():
        net.curve_head.bias.normal_(0, 3.0)
        ys, _ = net.predict_params(c, m)
    assert (ys[..., 1:] - ys[..., :-1] >= 0).all()          # monotone parameterisation


def _high_frequency_fraction(s: np.ndarray, cutoff: float) -> float:
    spec = np.abs(np.fft.fft2(s - s.mean())) ** 2
    fy = np.abs(np.fft.fftfreq(s.shape[0]))[:, None] * s.shape[0]
    fx = np.abs(np.fft.fftfreq(s.shape[1]))[None, :] * s.shape[1]
    return float(spec[np.maximum(fy, fx) > cutoff].sum() / spec.sum())


def _laplacian_energy(s: np.ndarray, border: int) -> float:
    s = s.astype(np.float64)
    lap = s[2:, 1:-1] + s[:-2, 1:-1] + s[1:-1, 2:] + s[1:-1, :-2] - 4 * s[1:-1, 1:-1]
    b = border - 1
    return float((lap[b:lap.shape[0] - b, b:lap.shape[1] - b] ** 2).sum())


def test_shading_map_is_smooth_by_construction():
    import torch.nn.functional as F

    net = _tiny()
    with torch.no_grad():
        net.unet.head.weight.normal_(0, 20.0)    # a badly trained network: large random output weights
        net.refine.logits.normal_(0, 3.0)
        c = torch.rand(3, 3, 64, 64)
        m = (torch.rand(3, 1, 64, 64) > 0.5).float()
        _, shading = net.predict_params(c, m)
    kernel = net.refine.kernel().detach()
    assert (kernel >= 0).all() and float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    for s in shading[:, 0].numpy():
        assert 0.0 <= s.min() and s.max() <= 2.0 and s.std() > 1e-3
        # generated at 8x8 (Nyquist 4 cycles per image): little energy above 8 cycles
        assert _high_frequency_fraction(s, 8) < 0.05
    assert _high_frequency_fraction(np.random.default_rng(0).random((64, 64)), 8) > 0.9   # white noise
    # the refining convolution never adds high-frequency energy to the upsampled map (gain <= 1) ...
    low = torch.rand(4, 1, 8, 8)
    up = F.interpolate(low, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        refined = net.refine(up)
    # (Laplacian energy; Young's inequality: ||k * g|| <= ||k||_1 ||g|| = ||g||, compared on the interior)
    for a, b in zip(up[:, 0].numpy(), refined[:, 0].numpy()):
        assert _laplacian_energy(b, 3) <= _laplacian_energy(a, 2) + 1e-9
    # ... which an unconstrained 3x3 convolution (a sharpening kernel) would
    sharpen = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]).view(1, 1, 3, 3)
    sharp = F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), sharpen)
    assert _laplacian_energy(sharp[0, 0].numpy(), 3) > 2 * _laplacian_energy(up[0, 0].numpy(), 2)


def test_curves_only_model_has_no_shading_branch():
    net = _tiny(shading=False)
    assert not hasattr(net, "unet")
    with torch.no_grad():
        _, shading = net.predict_params(torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
    assert shading is None


def test_harmonizer_applies_the_parameters_at_full_resolution():
    net = _tiny()
    with torch.no_grad():
        net.curve_head.bias.normal_(0, 0.5)
        net.unet.head.bias.fill_(0.3)
    h = sp.SPRIHHarmonizer(net)
    rng = np.random.default_rng(1)
    comp = rng.random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 10:50] = 1
    out, params = h.harmonize_with_params(comp, mask)
    with torch.no_grad():
        ref = net(torch.from_numpy(comp.transpose(2, 0, 1))[None], torch.from_numpy(mask)[None, None])
    np.testing.assert_allclose(out, ref[0].numpy().transpose(1, 2, 0), atol=1e-4)   # numpy == torch at 64
    big = np.repeat(np.repeat(comp, 3, 0), 3, 1)                                       # 192 x 192 input
    big_mask = np.repeat(np.repeat(mask, 3, 0), 3, 1)
    out_big = h(big, big_mask)
    assert out_big.shape == big.shape
    assert np.array_equal(out_big[big_mask == 0], big[big_mask == 0])
    # Eq. 1 written here: the network's curves (np.interp at the knots k/31) and its shading map, upsampled
    # bilinearly (half-pixel centres) to 192 x 192, applied to the full-resolution input inside the mask.
    import cv2

    with torch.no_grad():
        ys, shading = net.predict_params(torch.from_numpy(comp.transpose(2, 0, 1))[None],
                                         torch.from_numpy(mask)[None, None])
    ys, shading = ys[0].double().numpy(), shading[0, 0].numpy()
    knots = np.arange(32) / 31
    curved = np.clip(np.stack([np.interp(big[..., c].astype(np.float64), knots, ys[c]) for c in range(3)], -1), 0, 1)
    gain = cv2.resize(shading, (192, 192), interpolation=cv2.INTER_LINEAR).astype(np.float64)[..., None]
    expected = big_mask[..., None] * np.clip(curved * gain, 0, 1) + (1 - big_mask[..., None]) * big
    np.testing.assert_allclose(out_big, expected, atol=1e-5)
    assert np.abs(out_big - big).max() > 0.05                     # the parameters really changed the image


# --- training -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sprih")
    paired = make_dataset(root / "paired", n_train=4, n_test=2, size=48, seed=3)
    unpaired = make_unpaired(root / "unpaired", n=4, size=48)
    return paired, unpaired


def _run_phases(net, opts, batch, step, seed=1):
    """The trainer's step (harmony.models.trainer.Trainer.train_step) without the loader."""
    from harmony.models.trainer import StepContext

    ctx = StepContext(step, seed, 0)
    logged = {}
    for phase in net.train_phases():
        opts[phase].zero_grad(set_to_none=True)
        losses = net.phase_losses(phase, batch, ctx)
        losses["total"].backward()
        opts[phase].step()
        values = net.log_values(losses)
        if phase != "main":
            values.pop("total")
        logged.update(values)
    return logged


def test_dual_stream_step_uses_both_streams_and_trains_the_discriminator(data_dirs):
    from harmony.models import data as D

    _, unpaired = data_dirs
    net = _tiny()
    net.train()
    table = D.unpaired_table(unpaired)
    assert len(table) == 4
    ds = D.StreamDataset({"unpaired": table}, 64)
    ub = D.to_float_batch(D.collate([ds[("unpaired", i, None)] for i in range(2)])["unpaired"], "cpu")
    assert set(ub) >= {"composite", "mask", "background", "real_class"}
    opts = {name: torch.optim.Adam(params, lr=1e-3) for name, params in net.optimizer_groups().items()}
    assert set(opts) == {"main", "discriminator"}
    batch = {"composite": torch.rand(2, 3, 64, 64), "mask": torch.zeros(2, 1, 64, 64), "real": torch.rand(2, 3, 64, 64)}
    batch["mask"][..., 16:48, 16:48] = 1
    d_before = [p.detach().clone() for p in net.discriminator.parameters()]
    streams = []
    for step in range(8):
        want = net.streams_for_step(1, step, 2)
        batch["streams"] = {"unpaired": ub} if want else {}
        losses = _run_phases(net, opts, batch, step)
        streams.append(int(losses["stream"]))
        assert set(losses) >= {"total", "l1", "g_adv", "d"}
        if streams[-1] == 2:   # no ground truth: adversarial loss only, (1 - 0.92) * L_G
            assert float(losses["l1"]) == 0.0
            assert float(losses["total"]) == pytest.approx(0.08 * float(losses["g_adv"]), rel=1e-5)
        else:
            assert float(losses["total"]) == pytest.approx(0.92 * float(losses["l1"]) + 0.08 * float(losses["g_adv"]), rel=1e-5)
    assert set(streams) == {1, 2}
    assert any(not torch.equal(a, b) for a, b in zip(d_before, net.discriminator.parameters()))


def test_tiny_preset_overfits_and_checkpoint_round_trips(data_dirs, tmp_path, cli):
    from harmony.models.checkpoint import load_checkpoint
    from harmony.models.train import foreground_metrics, load_split, predict_arrays, train
    from harmony.registry import METHODS

    paired, unpaired = data_dirs
    out = tmp_path / "ck" / "sprih"
    result = train("sprih", paired, out, preset="sprih_tiny", steps=40, val_every=40, lr=3e-3, progress=False,
                   threads=1, extra_data={"unpaired": str(unpaired)})
    assert result.steps == 40
    data = load_split(paired, "train", 64)
    net, config = load_checkpoint(out, model="sprih")
    assert config["train"]["streams"]["unpaired_images"] == 4
    pred = predict_arrays(net, data.composite, data.mask)
    fitted = foreground_metrics(pred, data.real, data.mask)["fmse"]
    cut_paste = foreground_metrics(data.composite, data.real, data.mask)["fmse"]
    assert fitted < 0.5 * cut_paste, (fitted, cut_paste)
    # the registered method loads the same weights and gives the same parameters
    h = METHODS.create("sprih", weights=str(out.parent))
    comp, mask = data.composite[0], data.mask[0]
    p1 = h.predict_params(comp, mask)
    p2 = sp.SPRIHHarmonizer(net).predict_params(comp, mask)
    np.testing.assert_array_equal(p1.curves_y, p2.curves_y)
    np.testing.assert_array_equal(p1.shading, p2.shading)
    # CLI: harmonize + export-params, then apply-params gives the same image (8-bit shading file)
    hio.write_image(tmp_path / "c.png", comp)
    hio.write_mask(tmp_path / "m.png", mask)
    code, text = cli(["harmonize", "--method", "sprih", "--weights", str(out.parent), "--composite",
                      str(tmp_path / "c.png"), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "o.png"),
                      "--export-params", str(tmp_path / "params")])
    assert code == 0, text
    assert (tmp_path / "params" / "curves.json").is_file() and (tmp_path / "params" / "shading.png").is_file()
    code, text = cli(["apply-params", str(tmp_path / "params"), "--composite", str(tmp_path / "c.png"), "--mask",
                      str(tmp_path / "m.png"), "--out", str(tmp_path / "o2.png")])
    assert code == 0, text
    a, b = hio.read_image_uint8(tmp_path / "o.png").astype(int), hio.read_image_uint8(tmp_path / "o2.png").astype(int)
    assert np.abs(a - b).max() <= 3
    code, text = cli(["harmonize", "--method", "reinhard", "--composite", str(tmp_path / "c.png"), "--mask",
                      str(tmp_path / "m.png"), "--out", str(tmp_path / "o3.png"), "--export-params", str(tmp_path / "p3")])
    assert code == 2 and "not parametric" in text
