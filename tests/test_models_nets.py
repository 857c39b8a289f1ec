"""Every preset: output shapes and ranges; gradients reach every parameter group; paper parameter counts;
the adapter's numpy contract and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: one thread is fastest on shared cores

from harmony.errors import InputError  # noqa: E402
from harmony.models.adapter import TorchHarmonizer, harmonize_background  # noqa: E402
from harmony.models.blocks import count_parameters  # noqa: E402
from harmony.models.presets import PRESETS, create_model  # noqa: E402

from .conftest import torch_batch as _batch  # noqa: E402

TINY = sorted(n for n in PRESETS if n.endswith("_tiny") and PRESETS[n].model in ("dih", "bargainnet", "rcl"))
PAPER = sorted(n for n in PRESETS if n.endswith("_paper") and PRESETS[n].model in ("dih", "bargainnet", "rcl"))


@pytest.mark.parametrize("name", TINY)
def test_tiny_preset_output_shape_and_range(name):
    torch.manual_seed(0)
    net = create_model(name).eval()
    s = PRESETS[name].size
    b = _batch(s)
    with torch.no_grad():
        out = net(b["composite"], b["mask"])
    assert out.shape == (2, 3, s, s) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", TINY + ["dih_tiny+parsing"])
def test_gradient_reaches_every_parameter_group(name):
    torch.manual_seed(0)
    if name == "dih_tiny+parsing":
        net = create_model("dih_tiny", num_classes=3)
    else:
        net = create_model(name)
    net.train()
    b = _batch(PRESETS[name.split("+")[0]].size)
    if name.endswith("parsing"):
        b["labels"] = torch.randint(0, 3, (2, 64, 64))
    losses = net.training_losses(b)
    assert set(losses) >= {"total"} and all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    for group, module in net.named_children():
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            continue
        got = sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)
        assert got > 0, f"{name}: no gradient reaches {group}"
    # individual parameters: every weight tensor receives a gradient (none is dead code)
    dead = [n for n, p in net.named_parameters() if p.grad is None]
    assert not dead, f"{name}: parameters without gradient: {dead[:5]}"


# Published / implied totals (BargainNet 58.74M, RCL 28.37M in RCL Table II; DIH is not given).
PAPER_COUNTS = {"bargainnet_paper": 58.74e6, "rcl_paper": 28.37e6}


@pytest.mark.parametrize("name", PAPER)
def test_paper_preset_builds_with_paper_scale_parameter_count(name):
    net = create_model(name)
    n = count_parameters(net)
    if name in PAPER_COUNTS:
        assert abs(n - PAPER_COUNTS[name]) / PAPER_COUNTS[name] < 0.06, f"{name}: {n / 1e6:.2f}M"
    else:  # DIH: 7 stride-2 levels 64..512 + FC bottleneck: tens of millions
        assert 30e6 < n < 100e6
    if name == "rcl_paper":  # one forward at a small size is affordable for the fully convolutional RCL
        with torch.no_grad():
            out = net.eval()(*[_batch(32, n=1)[k] for k in ("composite", "mask")])
        assert out.shape == (1, 3, 32, 32)


def _harmonizer(name="bargainnet_tiny", **kw):
    torch.manual_seed(0)
    net = create_model(name)
    return TorchHarmonizer(net, size=net.size, **kw)


def _pair(h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    comp = rng.random((h, w, 3)).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[10:30, 15:40] = 1.0
    return comp, mask


def test_adapter_contract_paste_and_batching():
    h = _harmonizer()
    comp, mask = _pair()
    out = h(comp, mask)
    assert out.shape == comp.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out[mask == 0], comp[mask == 0])       # background kept exactly
    assert not np.allclose(out[mask == 1], comp[mask == 1])
    comp2, mask2 = _pair(64, 48, seed=1)
    batched = h.harmonize_batch([comp, comp2, comp], [mask, mask2, mask])
    assert np.allclose(batched[0], out, atol=1e-5) and np.allclose(batched[2], out, atol=1e-5)
    assert batched[1].shape == comp2.shape
    free = _harmonizer(paste=False)(comp, mask)
    assert not np.array_equal(free[mask == 0], comp[mask == 0])
    bg = harmonize_background(h, comp, mask)
    assert np.array_equal(bg[mask == 1], comp[mask == 1])        # foreground kept, background changed


def test_adapter_native_resolution_pads_to_the_multiple():
    torch.manual_seed(0)
    net = create_model("rcl_tiny")
    h = TorchHarmonizer(net, size=None)
    comp, mask = _pair(37, 45)
    out = h(comp, mask)
    assert out.shape == comp.shape


def test_adapter_bad_input():
    h = _harmonizer()
    comp, mask = _pair()
    with pytest.raises(InputError, match="no foreground"):
        h(comp, np.zeros_like(mask))
    small = np.zeros((4, 6, 3), np.float32)
    with pytest.raises(InputError, match="at least"):
        h(small, np.ones((4, 6), np.float32))
    with pytest.raises(ValueError, match="float32"):
        h(comp.astype(np.float64), mask)
    with pytest.raises(ValueError, match="shape"):
        h(comp, mask[:-1])


def test_dih_rejects_other_sizes_inside_the_network():
    net = create_model("dih_tiny").eval()
    with pytest.raises(ValueError, match="64x64"):
        net(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32))


def test_importing_the_models_package_does_not_import_torch():
    code = ("import sys; import harmony.models; from harmony.registry import METHODS; "
            "c = METHODS.card('dih'); assert c.learned and 'dih_tiny' in c.presets; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-500:]
    # the commands' --help does not need torch either
    code = ("import sys, contextlib, io; from harmony.cli import main\n"
            "for cmd in ('train', 'harmonize', 'inharmony'):\n"
            "    buf = io.StringIO()\n"
            "    with contextlib.redirect_stdout(buf):\n"
            "        try: main([cmd, '--help'])\n"
            "        except SystemExit: pass\n"
            "    assert 'Examples' in buf.getvalue(), cmd\n"
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-500:]
    # a learned method without a checkpoint says so (MissingWeightsError) without loading torch,
    # so `bench --models all` on a machine with no checkpoints stays light
    code = ("import sys; from harmony.registry import METHODS; from harmony.errors import MissingWeightsError\n"
            "for m in ('dih', 'bargainnet', 'rcl', 'sprih', 'charmnet'):\n"
            "    try: METHODS.create(m, weights='/nonexistent/checkpoints')\n"
            "    except MissingWeightsError: pass\n"
            "    else: raise SystemExit(m + ' found a checkpoint')\n"
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-500:]
