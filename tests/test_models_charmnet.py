"""CharmNet (harmony.models.charmnet; Cao et al., "Deep Image Harmonization by Bridging the Reality Gap",
BMVC 2022, section 4): each loss of Eqs. 1-5 on hand-computed tensors, the two-domain architecture, the
rendered label loader (``labels.txt`` of `harmony datagen rendered`), checkpoints, and overfitting a
handful of images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harmony.dataset import DatasetWriter, composite_name, mask_name, real_name  # noqa: E402
from harmony.models import charmnet as cm  # noqa: E402
from harmony.models.presets import create_model  # noqa: E402
from tests.test_models_data import _scene, make_dataset  # noqa: E402

LN2 = math.log(2.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logits(*probs):
    return torch.log(torch.tensor([list(probs)], dtype=torch.float64))


# --- losses on hand-checked tensors -------------------------------------------------------------------

def test_soft_cross_entropy():
    logits = _logits(0.5, 0.25, 0.25)
    assert cm.soft_cross_entropy(torch.tensor([[1.0, 0, 0]], dtype=torch.float64), logits).item() == pytest.approx(LN2)
    # soft label 0.5/0.5: 0.5 ln 2 + 0.5 ln 4
    assert cm.soft_cross_entropy(torch.tensor([[0.5, 0.5, 0]], dtype=torch.float64), logits).item() == pytest.approx(1.5 * LN2)
    # batch mean of the two
    both = cm.soft_cross_entropy(torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0]], dtype=torch.float64), logits.repeat(2, 1))
    assert both.item() == pytest.approx(1.25 * LN2)


def test_weighted_classification_loss_uses_p_in_as_weights():
    li = _logits(0.5, 0.5, 1e-30).requires_grad_(True)
    lo = _logits(0.5, 0.25, 0.25).requires_grad_(True)
    loss = cm.weighted_classification_loss(li, lo)
    assert loss.item() == pytest.approx(0.5 * LN2 + 0.5 * 2 * LN2)      # -(0.5 ln .5 + 0.5 ln .25)
    loss.backward()
    assert li.grad is None or float(li.grad.abs().sum()) == 0.0          # the weights are a target
    assert float(lo.grad.abs().sum()) > 0


def test_entropy_reduction_margin():
    uniform = _logits(0.25, 0.25, 0.25, 0.25)                            # H = 2 ln 2
    peaked = _logits(0.5, 0.25, 0.125, 0.125)                            # H = 1.75 ln 2
    assert cm.entropy(uniform).item() == pytest.approx(2 * LN2)
    assert cm.entropy(peaked).item() == pytest.approx(1.75 * LN2)
    # output more concentrated than input by 0.25 ln 2 = 0.173: margin 0.1 satisfied, 0.5 not
    assert cm.entropy_reduction_loss(uniform, peaked, 0.1).item() == pytest.approx(0.0)
    assert cm.entropy_reduction_loss(uniform, peaked, 0.5).item() == pytest.approx(0.5 - 0.25 * LN2)
    # output less concentrated: m + H_out - H_in
    assert cm.entropy_reduction_loss(peaked, uniform, 0.1).item() == pytest.approx(0.1 + 0.25 * LN2)


def test_hinge_domain_losses():
    d_real = torch.tensor([2.0, 0.5])
    d_rd = torch.tensor([-2.0, 0.0])
    # real: max(0, 1-2)=0, max(0, 0.5)=0.5 -> 0.25; rendered: max(0, 1-2)=0, max(0, 1)=1 -> 0.5
    assert cm.hinge_d_loss(d_real, d_rd).item() == pytest.approx(0.75)
    assert cm.hinge_g_loss(d_rd).item() == pytest.approx(1.0)


# --- architecture -------------------------------------------------------------------------------------

def test_domain_specific_first_and_last_four_layers_and_shared_middle():
    torch.manual_seed(0)
    net = create_model("charmnet_tiny").eval()
    assert len(net.enc_specific["real"]) == 4 and len(net.dec_specific["real"]) == 4
    assert len(net.enc_shared) == 1 and len(net.dec_shared) == 1           # depth 5
    c, m = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    m[..., 16:40, 20:44] = 1
    with torch.no_grad():
        out, f_in, f_out = net.run(c, m, "real")
        assert out.shape == c.shape and f_in.shape == f_out.shape
        before_real = out.clone()
        before_rd = net(c, m, "rendered").clone()
        for p in net.enc_specific["rendered"].parameters():
            p.add_(0.5)
        assert torch.equal(net(c, m, "real"), before_real)                 # real branch untouched
        assert not torch.allclose(net(c, m, "rendered"), before_rd)
        for p in net.enc_shared.parameters():
            p.mul_(1.5)
        assert not torch.allclose(net(c, m, "real"), before_real)          # shared layers are shared
    with pytest.raises(ValueError, match="domain"):
        net.run(c, m, "synthetic")


# --- data and training --------------------------------------------------------------------------------

def make_rendered(root: Path, *, views: int = 2, styles=(1, 2, 10), size: int = 48, seed: int = 1) -> Path:
    """A tiny HRendered-like set with labels.txt: per view, one mask and one 'render' per style."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(root, "HRendered", config={"test": "charmnet"}, command="test")
    layout = writer.layout
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    lines = []
    for v in range(views):
        scene = _scene(rng, size)
        mask = (((yy - size / 2) / (0.3 * size)) ** 2 + ((xx - size / 2) / (0.2 * size)) ** 2 <= 1).astype(np.float32)
        renders = {s: np.clip(scene * (0.4 + 0.15 * s if s < 10 else 0.3), 0, 1).astype(np.float32) for s in styles}
        ratio = float((mask > 0.5).mean())
        rows = []
        for i in styles:
            layout.write_real(real_name("n", f"v{v}-{i}"), renders[i], quality=100)
            layout.write_mask(mask_name("n", f"v{v}-{i}", 1), mask)
            for j in styles:
                if i == j:
                    continue
                comp = mask[..., None] * renders[j] + (1 - mask[..., None]) * renders[i]
                cname = composite_name("n", f"v{v}-{i}", 1, j)
                layout.write_composite(cname, comp, quality=100)
                soft = np.zeros(10)
                soft[j - 1] += ratio
                soft[i - 1] += 1 - ratio
                lines.append(f"HRendered/composite_images/{cname}\t{'_'.join(f'{x:.6f}' for x in soft)}\t{i}\n")
                rows.append({"composite": cname, "mask": f"masks/{mask_name('n', f'v{v}-{i}', 1)}",
                             "real": f"real_images/{real_name('n', f'v{v}-{i}')}", "split": "train", "subset": "HRendered"})
        layout.write_unit(f"v{v}", {"rows": rows})
    writer.finalize()
    (root / "labels.txt").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("charmnet")
    return make_dataset(root / "real", n_train=4, n_test=2, size=48, seed=5), make_rendered(root / "rendered")


def _rendered_batch(rendered, size, n=None):
    from harmony.models import data as D

    table = D.rendered_table(rendered)
    ds = D.StreamDataset({"rendered": table}, size)
    items = [ds[("rendered", i, None)] for i in range(len(table) if n is None else n)]
    return table, D.to_float_batch(D.collate(items)["rendered"], "cpu")


def test_rendered_loader_reads_soft_labels(dirs, tmp_path):
    _, rendered = dirs
    table, data = _rendered_batch(rendered, 32)
    assert len(table) == 12 and data["composite"].shape == (12, 3, 32, 32)
    np.testing.assert_allclose(data["soft"].sum(1).numpy(), 1.0, atol=1e-5)
    name = "HRendered/nv0-10_1_2.jpg"
    k = data["keys"].index(name)
    assert int(data["style"][k]) == 9                                      # 1-based id 10 -> index 9
    assert data["soft"][k, 1] > 0 and data["soft"][k, 9] > data["soft"][k, 1]   # fg style 2, bg style 10
    bad = tmp_path / "bad"
    bad.mkdir()
    from harmony.errors import InputError
    from harmony.models import data as D

    with pytest.raises(InputError, match="labels.txt"):
        D.rendered_table(bad)


def test_step_updates_generator_and_domain_critic(dirs):
    from harmony.models.trainer import StepContext

    _, rendered = dirs
    torch.manual_seed(0)
    net = create_model("charmnet_tiny")
    net.train()
    assert net.extra_streams == {"rendered": True}
    _, rb = _rendered_batch(rendered, 64, n=2)
    opts = {name: torch.optim.Adam(params, lr=1e-3) for name, params in net.optimizer_groups().items()}
    assert set(opts) == {"main", "critic"}
    batch = {"composite": torch.rand(2, 3, 64, 64), "mask": torch.ones(2, 1, 64, 64), "real": torch.rand(2, 3, 64, 64)}
    with pytest.raises(Exception, match="rendered"):
        net.phase_losses("main", batch, StepContext(0, 0, 0))
    batch["streams"] = {"rendered": rb}
    d_before = [p.detach().clone() for p in net.domain_discriminator.parameters()]
    ctx = StepContext(0, 0, 0)
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
    losses = logged
    assert set(losses) == {"total", "rec_rd", "rec_rl", "adv_g", "sty_in_rd", "sty_out_rd", "sa_w_rl", "sa_er_rl", "d"}
    expected = (losses["rec_rd"] + losses["rec_rl"] + 0.01 * losses["adv_g"] + 0.01 * (losses["sty_in_rd"] + losses["sty_out_rd"])
                + 0.01 * (losses["sa_w_rl"] + losses["sa_er_rl"]))
    assert float(losses["total"]) == pytest.approx(float(expected), rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, net.domain_discriminator.parameters()))


def test_tiny_preset_overfits_and_checkpoint_round_trips(dirs, tmp_path):
    from harmony.models.train import foreground_metrics, load_split, predict_arrays, train
    from harmony.registry import METHODS

    real, rendered = dirs
    out = tmp_path / "ck" / "charmnet"
    train("charmnet", real, out, preset="charmnet_tiny", steps=40, val_every=40, lr=3e-3, progress=False, threads=1,
          extra_data={"rendered": str(rendered)})
    data = load_split(real, "train", 64)
    h = METHODS.create("charmnet", weights=str(out.parent))
    pred = predict_arrays(h.network, data.composite, data.mask)
    fitted = foreground_metrics(pred, data.real, data.mask)["fmse"]
    cut_paste = foreground_metrics(data.composite, data.real, data.mask)["fmse"]
    assert fitted < 0.5 * cut_paste, (fitted, cut_paste)
    # the reloaded harmonizer and a fresh load give identical outputs
    from harmony.models.checkpoint import load_checkpoint

    net, config = load_checkpoint(out, model="charmnet")
    assert config["train"]["streams"]["rendered_images"] == 12
    with torch.no_grad():
        c = torch.from_numpy(data.composite[:2].transpose(0, 3, 1, 2).copy())
        m = torch.from_numpy(data.mask[:2, None].copy())
        assert torch.equal(net(c, m), h.network(c, m))
    img = h(data.composite[0], data.mask[0])
    assert img.shape == data.composite[0].shape and np.array_equal(img[data.mask[0] == 0], data.composite[0][data.mask[0] == 0])
