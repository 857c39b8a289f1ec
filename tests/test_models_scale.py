"""Training at scale: streaming data and its memory bound, augmentation determinism across loader
workers, the pre-resized cache, exact resume for all five models, weight decay 0, DDP on gloo, bad
input, and the CUDA paths (skipped without a GPU)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harmony.models import data as D  # noqa: E402
from harmony.models.presets import PRESETS, Preset, register_preset  # noqa: E402
from harmony.models.train import train  # noqa: E402

from .test_models_charmnet import make_rendered  # noqa: E402
from .test_models_data import make_dataset  # noqa: E402
from .test_models_sprih import make_unpaired  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HAS_CUDA = torch.cuda.is_available()

# Small presets (32 px) so five models x (straight + half + resume) stay within seconds.
TEST_PRESETS = [
    Preset("dih_s32", "dih", {"size": 32, "widths": (8, 16, 32), "fc_dim": 32, "output": "residual"},
           batch_size=2, lr=3e-3, steps=4, val_every=2, augment={"hflip": 0.5, "crop_scale": (0.5, 1.0)}),
    Preset("bargainnet_s32", "bargainnet", {"size": 32, "ngf": 8, "levels": 4, "code_dim": 8,
                                            "extractor_widths": (8, 8, 8, 8, 8), "output": "residual"},
           batch_size=2, lr=3e-3, steps=4, val_every=2, betas=(0.5, 0.999)),
    Preset("rcl_s32", "rcl", {"size": 32, "widths": (8, 16), "bottleneck_blocks": 1, "patches": 16, "mlp_dim": 32},
           batch_size=2, lr=3e-3, steps=4, val_every=2, optimizer="adamw", weight_decay=0.01),
    Preset("sprih_s64", "sprih", {"size": 64, "stem": 8, "widths": (8, 16), "blocks": (1, 1), "block": "basic",
                                  "unet_widths": (8, 8, 8, 8), "disc_nf": 4, "norm": "group", "shading": True},
           batch_size=2, lr=3e-3, steps=4, val_every=2),
    Preset("charmnet_s32", "charmnet", {"size": 32, "ch": 4, "depth": 5, "specific": 4, "max_channels": 16,
                                        "cls_width": 8, "disc_width": 8, "norm": "group"},
           batch_size=2, lr=3e-3, steps=4, val_every=2),
]
PRESET_OF = {"dih": "dih_s32", "bargainnet": "bargainnet_s32", "rcl": "rcl_s32", "sprih": "sprih_s64",
             "charmnet": "charmnet_s32"}


@pytest.fixture(scope="module", autouse=True)
def _presets():
    for p in TEST_PRESETS:
        register_preset(p, replace=True)
    torch.set_num_threads(1)
    yield
    for p in TEST_PRESETS:
        PRESETS.pop(p.name, None)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return {"paired": make_dataset(root / "paired", n_train=6, n_test=2, size=40, seed=3),
            "unpaired": make_unpaired(root / "unpaired", n=4, size=40),
            "rendered": make_rendered(root / "rendered", views=1, styles=(1, 2), size=40)}


def _sha(folder: Path) -> str:
    return hashlib.sha256((Path(folder) / "weights.pt").read_bytes()).hexdigest()


def _extra(model: str, dirs) -> dict:
    return {"sprih": {"unpaired": str(dirs["unpaired"])}, "charmnet": {"rendered": str(dirs["rendered"])}}.get(model, {})


def _kw(model, dirs, **more):
    return dict(preset=PRESET_OF[model], progress=False, loader_workers=0, val_limit=2,
                extra_data=_extra(model, dirs), **more)


# --- streaming data ------------------------------------------------------------------------------------

def _batches(dirs, workers: int, steps: int = 5):
    table = D.paired_table(dirs["paired"], "train")
    ds = D.StreamDataset({"main": table}, 32, seed=7, augment={"hflip": 0.5, "crop_scale": (0.3, 1.0)})
    sampler = D.StepBatchSampler(len(table), 4, seed=7, start=0, total=steps)
    return [b["main"] for b in D.make_loader(ds, sampler, workers)]


def test_batches_are_uint8_augmented_and_identical_for_any_number_of_loader_workers(dirs):
    one, two = _batches(dirs, 0), _batches(dirs, 2)
    assert len(one) == len(two) == 5
    for a, b in zip(one, two):
        assert a["composite"].dtype == torch.uint8 and a["composite"].shape == (4, 3, 32, 32)
        assert a["mask"].shape == (4, 1, 32, 32) and set(torch.unique(a["mask"]).tolist()) <= {0, 255}
        assert a["keys"] == b["keys"]
        for k in ("composite", "mask", "real"):
            assert torch.equal(a[k], b[k])
    # the crop really changes the images (against the un-augmented resize of the same item)
    table = D.paired_table(dirs["paired"], "train")
    plain = D.StreamDataset({"main": table}, 32)
    i = [table.key(j) for j in range(len(table))].index(one[0]["keys"][0])
    ref = plain[("main", i, None)]["composite"]
    assert not np.array_equal(one[0]["composite"][0].permute(1, 2, 0).numpy(), ref)


def test_sampler_epochs_cover_the_data_and_ranks_split_the_global_batch():
    n, b = 10, 2
    single = D.StepBatchSampler(n, 2 * b, seed=3, start=0, total=5)
    r0 = D.StepBatchSampler(n, b, seed=3, start=0, total=5, rank=0, world=2)
    r1 = D.StepBatchSampler(n, b, seed=3, start=0, total=5, rank=1, world=2)
    seen = []
    for s in range(5):
        full = single.items(s)
        both = r0.items(s) + r1.items(s)
        assert sorted(full) == sorted(both)          # same items, same augmentation keys
        seen += [i for _, i, _ in full]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))   # two epochs


def test_training_curve_does_not_depend_on_loader_workers(dirs, tmp_path):
    a = train("dih", dirs["paired"], tmp_path / "w0", steps=3, **_kw("dih", dirs))
    b = train("dih", dirs["paired"], tmp_path / "w2", steps=3, **{**_kw("dih", dirs), "loader_workers": 2})
    assert a.last_losses == b.last_losses
    assert _sha(tmp_path / "w0") == _sha(tmp_path / "w2")


def _symlinked_layout(root: Path, src: Path, n_train: int, n_test: int = 10) -> Path:
    """An iHarmony4 layout of ``n_train`` + ``n_test`` names, all symlinks to a few real files."""
    sub = root / "HCOCO"
    for d in ("composite_images", "masks", "real_images"):
        (sub / d).mkdir(parents=True, exist_ok=True)
    srcs = sorted((src / "HCOCO" / "composite_images").iterdir())[:3]
    names = {"train": [], "test": []}
    for i in range(n_train + n_test):
        c = srcs[i % len(srcs)]
        m, r = D.derive_mask_and_real(c.name)
        cname = f"c{100000 + i}_1_1.jpg"
        os.symlink(c, sub / "composite_images" / cname)
        os.symlink(src / "HCOCO" / "masks" / m, sub / "masks" / f"c{100000 + i}_1.png")
        os.symlink(src / "HCOCO" / "real_images" / r, sub / "real_images" / f"c{100000 + i}.jpg")
        names["train" if i < n_train else "test"].append(cname)
    for split, ns in names.items():
        (root / "HCOCO" / f"HCOCO_{split}.txt").write_text("".join(f"{x}\n" for x in ns))
    return root


def _peak_tree_pss(cmd: list[str], env=None) -> tuple[float, int]:
    """Peak PSS (MB) of a command's process tree (sampled every 50 ms) and its exit code."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = 0.0

    def tree(pid):
        out = [pid]
        try:
            for t in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{t}/children") as fh:
                    for c in fh.read().split():
                        out += tree(int(c))
        except OSError:
            pass
        return out

    while proc.poll() is None:
        total = 0
        for pid in tree(proc.pid):
            try:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    for line in fh:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        peak = max(peak, total / 1024)
        time.sleep(0.05)
    return peak, proc.returncode


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc smaps_rollup")
def test_streaming_memory_does_not_grow_with_a_5000_name_layout(dirs, tmp_path):
    big = _symlinked_layout(tmp_path / "big", dirs["paired"], 5000)
    # what the trainer keeps per pair: paths as numpy byte strings (the old loader kept 3 float32 arrays)
    table = D.paired_table(big, "train")
    held = table.keys.nbytes + sum(a.nbytes for _, a in table.fields.values())
    assert len(table) == 5000 and held < 5000 * 300, held
    old_loader = 5000 * 64 * 64 * 7 * 4            # composite + real + mask float32 at 64 px: 573 MB
    cmd = [sys.executable, "-m", "harmony", "train", "dih", "--data", str(big), "--preset", "dih_tiny",
           "--steps", "4", "--val-every", "4", "--val-limit", "2", "--loader-workers", "2", "-q",
           "--out", str(tmp_path / "ck")]
    peak, code = _peak_tree_pss(cmd)
    assert code == 0
    # parent + 2 loader workers (torch imported in each, pages shared): well under the old loader's arrays
    assert peak < 1200 and peak < 2 * old_loader / 2 ** 20, peak


# --- the cache ---------------------------------------------------------------------------------------------

def test_cache_is_reused_recomputed_when_damaged_and_gives_the_same_training(dirs, tmp_path, cli):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dirs["paired"], data)
    code, text = cli(["prepare", str(data), "--size", "32", "--workers", "0", "-q"])
    assert code == 0, text
    assert "8 pairs at 32x32: 8 decoded, 0 reused" in text
    code, text = cli(["prepare", str(data), "--size", "32", "--workers", "0", "-q"])
    assert "0 decoded, 8 reused" in text
    rows = data / ".harmony" / "cache" / "size32" / "rows.u8"
    raw = bytearray(rows.read_bytes())
    raw[7 * 32 * 32 * 2 + 100] ^= 0xFF                     # damage row 2
    rows.write_bytes(bytes(raw))
    cache = D.open_cache(data, 32)
    assert sum(cache.get(k, [Path(p) for p in ps]) is None for k, ps in _cache_items(data)) == 1
    with_cache = train("bargainnet", data, tmp_path / "c1", steps=3, **_kw("bargainnet", dirs))
    assert with_cache.cache is not None
    code, text = cli(["prepare", str(data), "--size", "32", "--workers", "0", "-q"])
    assert "1 decoded, 7 reused" in text
    shutil.rmtree(data / ".harmony" / "cache")
    plain = train("bargainnet", data, tmp_path / "c2", steps=3, **_kw("bargainnet", dirs))
    assert plain.cache is None
    # the cache holds the same resize as decoding, and the damaged row fell back to its files: without a
    # crop (bargainnet_s32 flips only) training from the cache is bit-identical
    assert _sha(tmp_path / "c1") == _sha(tmp_path / "c2")
    # train --cache prepares the cache itself when there is none
    again = train("bargainnet", data, tmp_path / "c3", steps=1, cache=True, **_kw("bargainnet", dirs))
    assert again.cache is not None and (data / ".harmony" / "cache" / "size32" / "rows.u8").is_file()


def _cache_items(root):
    t = D.paired_table(root, "train")
    t2 = D.paired_table(root, "test")
    out = []
    for tab in (t, t2):
        for i in range(len(tab)):
            out.append((tab.key(i), [tab.path(n, i) for n in ("composite", "mask", "real")]))
    return out


def test_cached_rows_equal_decoded_items(dirs, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dirs["paired"], data)
    D.prepare_cache(data, 32)
    cache = D.open_cache(data, 32)
    table = D.paired_table(data, "train")
    plain = D.StreamDataset({"main": table}, 32)
    cached = D.StreamDataset({"main": table}, 32, cache=cache)
    for i in range(len(table)):
        a, b = plain[("main", i, (0, i))], cached[("main", i, (0, i))]
        for k in ("composite", "mask", "real"):
            np.testing.assert_array_equal(a[k], b[k])


# --- exact resume, weight decay ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["dih", "bargainnet", "rcl", "sprih", "charmnet"])
def test_straight_run_equals_half_plus_resume(model, dirs, tmp_path):
    train(model, dirs["paired"], tmp_path / "straight", steps=4, **_kw(model, dirs))
    train(model, dirs["paired"], tmp_path / "split", steps=2, **_kw(model, dirs))
    state = torch.load(tmp_path / "split" / "training_state.pt", weights_only=True)
    groups = {"sprih": {"main", "discriminator"}, "charmnet": {"main", "critic"}}.get(model, {"main"})
    assert set(state["optimizers"]) == groups and state["data_position"]["step"] == 2 and "rng" in state
    if model in ("sprih", "charmnet"):       # negative control: without the second optimizer's state ...
        import shutil

        shutil.copytree(tmp_path / "split", tmp_path / "lossy")
        lossy = dict(state)
        lossy["optimizers"] = {"main": state["optimizers"]["main"]}
        torch.save(lossy, tmp_path / "lossy" / "training_state.pt")
        train(model, dirs["paired"], tmp_path / "lossy", steps=4, resume=True, **_kw(model, dirs))
        assert _sha(tmp_path / "lossy") != _sha(tmp_path / "straight")     # ... resume is not exact
    train(model, dirs["paired"], tmp_path / "split", steps=4, resume=True, **_kw(model, dirs))
    assert _sha(tmp_path / "split") == _sha(tmp_path / "straight")


def test_weight_decay_zero_means_zero(dirs, tmp_path):
    train("rcl", dirs["paired"], tmp_path / "wd0", steps=1, weight_decay=0.0, **_kw("rcl", dirs))
    train("rcl", dirs["paired"], tmp_path / "wdp", steps=1, **_kw("rcl", dirs))
    s0 = torch.load(tmp_path / "wd0" / "training_state.pt", weights_only=True)
    sp = torch.load(tmp_path / "wdp" / "training_state.pt", weights_only=True)
    assert s0["optimizers"]["main"]["param_groups"][0]["weight_decay"] == 0.0
    assert sp["optimizers"]["main"]["param_groups"][0]["weight_decay"] == 0.01
    assert _sha(tmp_path / "wd0") != _sha(tmp_path / "wdp")


# --- bad input -----------------------------------------------------------------------------------------

def test_corrupt_and_missing_images_mid_epoch_are_skipped_counted_and_listed(dirs, tmp_path, cli):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dirs["paired"], data)
    table = D.paired_table(data, "train")
    table.path("composite", 1).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    table.path("real", 3).unlink()
    code, text = cli(["train", "dih", "--data", str(data), "--preset", "dih_s32", "--steps", "4", "--batch-size", "3",
                      "--loader-workers", "0", "-q", "--out", str(tmp_path / "ck")])
    assert code == 0, text
    listed = (tmp_path / "ck" / "train_skipped.txt").read_text().splitlines()
    keys = {line.split("\t")[1] for line in listed}
    assert keys == {table.key(1), table.key(3)}
    assert any("corrupt" in line for line in listed) and any("not found" in line or "No such" in line or "missing" in line
                                                            for line in listed)
    assert "skipped" in text and "train_skipped.txt" in text
    log = (tmp_path / "ck" / "train_log.csv").read_text()
    assert "skipped" in log.splitlines()[0]


def test_no_training_pairs_is_one_line_error(tmp_path, cli, dirs):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dirs["paired"], data)
    (data / "HCOCO" / "HCOCO_train.txt").write_text("")
    code, text = cli(["train", "dih", "--data", str(data), "--out", str(tmp_path / "ck"), "-q"])
    assert code == 2 and "no training pair" in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1
    assert not (tmp_path / "ck").exists()


def test_cuda_and_16_mixed_without_gpu_are_one_line_errors(tmp_path, cli, dirs):
    if HAS_CUDA:
        pytest.skip("a GPU is present")
    code, text = cli(["train", "dih", "--data", str(dirs["paired"]), "--device", "cuda", "--out", str(tmp_path / "a")])
    assert code == 2 and "CUDA is not available" in text and len(text.strip().splitlines()) == 1
    code, text = cli(["train", "dih", "--data", str(dirs["paired"]), "--precision", "16-mixed", "--out", str(tmp_path / "b")])
    assert code == 2 and "16-mixed needs --device cuda" in text and len(text.strip().splitlines()) == 1


def test_bf16_autocast_trains_on_cpu(dirs, tmp_path):
    r = train("dih", dirs["paired"], tmp_path / "bf16", steps=2, precision="bf16", **_kw("dih", dirs))
    assert r.precision == "bf16" and np.isfinite(r.last_losses["total"])


def test_checkpoint_of_another_model_or_architecture_is_one_line_error(dirs, tmp_path, cli):
    train("dih", dirs["paired"], tmp_path / "dih", steps=1, **_kw("dih", dirs))
    code, text = cli(["train", "rcl", "--data", str(dirs["paired"]), "--preset", "rcl_s32", "--resume",
                      "--out", str(tmp_path / "dih")])
    assert code == 2 and "checkpoint is for model 'dih'" in text and len(text.strip().splitlines()) == 1
    code, text = cli(["train", "rcl", "--data", str(dirs["paired"]), "--preset", "rcl_s32", "--init-from",
                      str(tmp_path / "dih"), "--out", str(tmp_path / "x")])
    assert code == 2 and "checkpoint is for model 'dih'" in text and len(text.strip().splitlines()) == 1
    code, text = cli(["train", "dih", "--data", str(dirs["paired"]), "--preset", "dih_tiny", "--init-from",
                      str(tmp_path / "dih"), "--out", str(tmp_path / "y")])
    assert code == 2 and "architecture" in text and len(text.strip().splitlines()) == 1
    code, text = cli(["train", "dih", "--data", str(dirs["paired"]), "--preset", "dih_tiny", "--resume",
                      "--out", str(tmp_path / "dih")])
    assert code == 2 and "preset 'dih_s32', not 'dih_tiny'" in text


def test_sigterm_writes_a_checkpoint_and_says_how_to_resume(dirs, tmp_path):
    out = tmp_path / "ck"
    cmd = [sys.executable, "-m", "harmony", "train", "dih", "--data", str(dirs["paired"]), "--preset", "dih_tiny",
           "--steps", "100000", "--val-every", "1", "--val-limit", "1", "--loader-workers", "0", "-q", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (out / "config.json").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, text
    assert "interrupted by SIGTERM" in text and "--resume" in text and "Traceback" not in text
    import json

    step = json.loads((out / "config.json").read_text())["step"]
    assert 1 <= step < 100000
    state = torch.load(out / "training_state.pt", weights_only=True)
    assert state["step"] == step


# --- DDP on gloo -----------------------------------------------------------------------------------------

DDP_SCRIPT = textwrap.dedent('''
    import sys
    import torch
    from harmony.models.presets import Preset, register_preset
    from harmony.models.train import train
    register_preset(Preset("dih_in32", "dih", {"size": 32, "widths": (8, 16, 32), "fc_dim": 32,
                                               "output": "residual", "norm": "instance"},
                           batch_size=2, lr=3e-3, steps=4, val_every=4, augment={"hflip": 0.5, "crop_scale": (0.6, 1.0)}))
    data, out, bs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # 2 steps, then --resume to 4 in the same processes (the process group is set up again)
    for steps, resume in ((2, False), (4, True)):
        train("dih", data, out, preset="dih_in32", steps=steps, batch_size=bs, progress=False, loader_workers=0,
              val_limit=2, resume=resume, overwrite=not resume)
''')


def _run_group(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; on a time-out the whole group (torchrun and its ranks) is
    killed, so a hang fails the test without leaving orphan rank processes behind.

    torchrun starts each rank in a session of its own, out of the group's reach: the ranks are found
    among the descendants (psutil, when installed) and killed too; otherwise they would keep the
    output pipes open and the test would wait for them forever.
    """
    import signal

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            import psutil

            ranks = psutil.Process(proc.pid).children(recursive=True)
        except Exception:  # noqa: BLE001 - psutil missing or the launcher already gone
            ranks = []
        os.killpg(proc.pid, signal.SIGKILL)
        for rank in ranks:
            try:
                rank.kill()
            except Exception:  # noqa: BLE001 - already gone
                pass
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _torchrun(nproc: int, script: Path, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script),
           *map(str, args)]
    return _run_group(cmd)


def test_ddp_two_gloo_processes_equal_one_process_with_double_batch_and_resume(dirs, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    register_preset(Preset("dih_in32", "dih", {"size": 32, "widths": (8, 16, 32), "fc_dim": 32, "output": "residual",
                                               "norm": "instance"}, batch_size=2, lr=3e-3, steps=4, val_every=4,
                           augment={"hflip": 0.5, "crop_scale": (0.6, 1.0)}), replace=True)
    try:
        train("dih", dirs["paired"], tmp_path / "one", preset="dih_in32", steps=4, batch_size=4, progress=False,
              loader_workers=0, val_limit=2)
    finally:
        PRESETS.pop("dih_in32", None)
    two = _torchrun(2, script, dirs["paired"], tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    a = torch.load(tmp_path / "one" / "weights.pt")
    b = torch.load(tmp_path / "two" / "weights.pt")
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    moved = max(float(a[k].float().abs().max()) for k in a)
    assert worst < 1e-5 * max(1.0, moved), worst
    import json

    cfg = json.loads((tmp_path / "two" / "config.json").read_text())
    assert cfg["train"]["world_size"] == 2 and cfg["train"]["global_batch_size"] == 4 and cfg["step"] == 4
    # only rank 0 wrote: one log with one row per step
    rows = (tmp_path / "two" / "train_log.csv").read_text().splitlines()
    assert len(rows) == 1 + 4


def test_nproc_launches_torchrun(dirs, tmp_path, cli):
    out = tmp_path / "ck"
    proc = _run_group([sys.executable, "-m", "harmony", "train", "charmnet", "--data", str(dirs["paired"]),
                       "--rendered", str(dirs["rendered"]), "--preset", "charmnet_tiny", "--steps", "2",
                       "--batch-size", "1", "--loader-workers", "0", "--nproc", "2", "-q", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout and "torch.distributed.run" in proc.stderr or "torchrun" in proc.stderr
    import json

    assert json.loads((out / "config.json").read_text())["train"]["world_size"] == 2


# --- CUDA (skipped without a GPU) -----------------------------------------------------------------------

@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
@pytest.mark.parametrize("model", ["dih", "bargainnet", "rcl", "sprih", "charmnet"])
@pytest.mark.parametrize("precision", ["32", "bf16", "16-mixed"])
def test_cuda_trains_and_predicts(model, precision, dirs, tmp_path):
    r = train(model, dirs["paired"], tmp_path / "ck", steps=2, device="cuda", precision=precision, **_kw(model, dirs))
    assert r.device.startswith("cuda") and np.isfinite(r.last_losses["total"])
    from harmony.registry import METHODS

    h = METHODS.create(model, weights=str(tmp_path / "ck"), device="cuda")
    comp = np.random.default_rng(0).random((40, 40, 3), dtype=np.float32)
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 10:30] = 1
    assert h(comp, mask).shape == comp.shape


def test_progress_is_plain_lines_when_stderr_is_not_a_tty():
    import io

    from harmony.models._progress import progress

    buf = io.StringIO()
    bar = progress(10, "train x", stream=buf, interval=3600)
    for _ in range(10):
        bar.update(1)
    bar.set_postfix(loss="0.1")
    bar.close()
    lines = buf.getvalue().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("train x 10/10 (100.0 %)") and lines[0].endswith("loss 0.1")
    assert "\r" not in buf.getvalue()
    buf = io.StringIO()
    bar = progress(4, "p", stream=buf, interval=0.0)
    for _ in range(4):
        bar.update(1)
    bar.close()
    assert len(buf.getvalue().splitlines()) == 5          # one per update at interval 0, plus the final line
