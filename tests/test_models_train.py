"""Training, checkpoints and the commands: determinism, resume, overfitting, bad checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harmony.errors import InputError, MissingWeightsError  # noqa: E402
from harmony.models import checkpoint as ckpt  # noqa: E402
from harmony.models.presets import PRESETS, Preset, create_model, register_preset  # noqa: E402
from harmony.models.train import foreground_metrics, load_split, predict_arrays, read_log, train  # noqa: E402
from harmony.registry import METHODS  # noqa: E402

from .test_models_data import make_dataset  # noqa: E402

# Small presets at 32x32 so the training tests stay fast on 2 shared cores.
TEST_PRESETS = [
    Preset("dih_t32", "dih", {"size": 32, "widths": (8, 16, 32), "fc_dim": 32, "output": "residual"},
           batch_size=4, lr=3e-3, steps=4, val_every=2),
    Preset("bargainnet_t32", "bargainnet", {"size": 32, "ngf": 8, "levels": 4, "code_dim": 8,
                                             "extractor_widths": (8, 8, 8, 8, 8), "output": "residual"},
           batch_size=4, lr=3e-3, steps=4, val_every=2, betas=(0.5, 0.999)),
    Preset("rcl_t32", "rcl", {"size": 32, "widths": (8, 16), "bottleneck_blocks": 1, "patches": 16, "mlp_dim": 32},
           batch_size=4, lr=3e-3, steps=4, val_every=2, optimizer="adamw"),
]


@pytest.fixture(scope="module", autouse=True)
def _test_presets():
    for p in TEST_PRESETS:
        register_preset(p, replace=True)
    yield
    for p in TEST_PRESETS:
        PRESETS.pop(p.name, None)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("train") / "data", n_train=6, n_test=2, size=40)


@pytest.fixture(scope="module")
def label_data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("train_labels") / "data", n_train=4, n_test=2, size=40, labels=True)


@pytest.mark.parametrize("preset", ["dih_t32", "bargainnet_t32", "rcl_t32"])
def test_checkpoint_save_load_gives_identical_outputs(tmp_path, preset):
    torch.manual_seed(1)
    net = create_model(preset)
    net.train()  # move BN statistics away from their defaults so the round trip is not trivial
    b = {"composite": torch.rand(4, 3, 32, 32), "mask": (torch.rand(4, 1, 32, 32) > 0.5).float(),
         "real": torch.rand(4, 3, 32, 32)}
    net.training_losses(b)["total"].backward()
    net.eval()
    ckpt.save_checkpoint(tmp_path / "ck", net, preset=preset, step=7, data=str(tmp_path))
    loaded, config = ckpt.load_checkpoint(tmp_path / "ck", model=net.model_name, preset=preset)
    with torch.no_grad():
        assert torch.equal(net(b["composite"], b["mask"]), loaded(b["composite"], b["mask"]))
    assert config["step"] == 7 and config["model"] == net.model_name and config["preset"] == preset
    assert config["sha256"] == ckpt.sha256_file(tmp_path / "ck" / "weights.pt")
    assert "git" in config and config["data"] == str(tmp_path.resolve())


def test_bad_checkpoints_give_clear_errors(tmp_path):
    net = create_model("dih_t32")
    folder = ckpt.save_checkpoint(tmp_path / "dih", net, preset="dih_t32", step=0)
    with pytest.raises(InputError, match=r"model 'dih' \(preset 'dih_t32'\), not 'rcl'"):
        ckpt.load_checkpoint(folder, model="rcl")
    with pytest.raises(InputError, match="preset 'dih_t32', not 'dih_tiny'"):
        ckpt.load_checkpoint(folder, model="dih", preset="dih_tiny")
    with pytest.raises(InputError, match="not 'rcl'"):
        METHODS.create("rcl", weights=str(folder))
    raw = bytearray((folder / "weights.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / "weights.pt").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="sha256 mismatch"):
        ckpt.load_checkpoint(folder, model="dih")
    with pytest.raises(InputError, match="not a checkpoint"):
        ckpt.load_checkpoint(tmp_path)


def test_checkpoint_lookup(tmp_path, monkeypatch):
    net = create_model("rcl_t32")
    ckpt.save_checkpoint(tmp_path / "root" / "rcl", net, preset="rcl_t32", step=0)
    assert ckpt.find_checkpoint("rcl", tmp_path / "root") == tmp_path / "root" / "rcl"
    assert ckpt.find_checkpoint("rcl", tmp_path / "root" / "rcl") == tmp_path / "root" / "rcl"
    monkeypatch.setenv("HARMONY_CHECKPOINTS", str(tmp_path / "root"))
    h = METHODS.create("rcl")
    assert h.checkpoint == str(tmp_path / "root" / "rcl")
    monkeypatch.setenv("HARMONY_CHECKPOINTS", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingWeightsError, match="harmony train dih --preset dih_tiny"):
        METHODS.create("dih")


def _weights_sha(folder: Path) -> str:
    return json.loads((folder / "config.json").read_text())["sha256"]


def test_training_is_deterministic_for_a_seed(tmp_path, data):
    a = train("rcl", data, tmp_path / "a", preset="rcl_t32", steps=3, seed=5, progress=False)
    train("rcl", data, tmp_path / "b", preset="rcl_t32", steps=3, seed=5, progress=False)
    c = train("rcl", data, tmp_path / "c", preset="rcl_t32", steps=3, seed=6, progress=False)
    la, lb = read_log(tmp_path / "a" / "train_log.csv"), read_log(tmp_path / "b" / "train_log.csv")
    assert [r["total"] for r in la] == [r["total"] for r in lb]
    assert _weights_sha(tmp_path / "a") == _weights_sha(tmp_path / "b") != _weights_sha(tmp_path / "c")
    assert a.validation and set(a.validation) == {"fmse", "mse", "psnr"}
    assert (tmp_path / "a" / "loss_plot.png").stat().st_size > 1000
    assert c.steps == 3


@pytest.mark.parametrize("model", ["bargainnet", "dih", "rcl"])
def test_resume_continues_the_same_curve(tmp_path, data, model):
    preset = f"{model}_t32"
    train(model, data, tmp_path / "full", preset=preset, steps=4, seed=2, progress=False)
    part = train(model, data, tmp_path / "part", preset=preset, steps=2, seed=2, progress=False)
    assert part.steps == 2
    with pytest.raises(InputError, match="--resume"):
        train(model, data, tmp_path / "part", preset=preset, steps=4, seed=2, progress=False)
    with pytest.raises(InputError, match="seed"):
        train(model, data, tmp_path / "part", preset=preset, steps=4, seed=3, resume=True, progress=False)
    resumed = train(model, data, tmp_path / "part", preset=preset, steps=4, seed=2, resume=True, progress=False)
    assert resumed.start_step == 2 and resumed.steps == 4
    full = read_log(tmp_path / "full" / "train_log.csv")
    both = read_log(tmp_path / "part" / "train_log.csv")
    assert [r["step"] for r in both] == [1, 2, 3, 4]
    assert np.allclose([r["total"] for r in both], [r["total"] for r in full], rtol=1e-5, atol=1e-7)
    assert _weights_sha(tmp_path / "full") == _weights_sha(tmp_path / "part")


def test_dih_trains_its_parsing_decoder_when_label_maps_exist(tmp_path, label_data, data):
    res = train("dih", label_data, tmp_path / "p", preset="dih_t32", steps=4, seed=0, progress=False)
    assert res.parsing
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["args"]["num_classes"] == 3
    log = read_log(tmp_path / "p" / "train_log.csv")
    # stage 1 (first half): lambda1 L_rec + 100 L_cro; stage 2: parsing decoder frozen, L_rec only
    assert log[0]["cro"] is not None and log[0]["total"] == pytest.approx(log[0]["rec"] + 100 * log[0]["cro"], rel=1e-4)
    assert log[-1]["cro"] is None and log[-1]["total"] == pytest.approx(log[-1]["rec"], rel=1e-6)
    plain = train("dih", data, tmp_path / "q", preset="dih_t32", steps=1, progress=False)
    assert not plain.parsing


def test_a_tiny_model_overfits_a_handful_of_composites(tmp_path):
    root = make_dataset(tmp_path / "few", n_train=4, n_test=1, size=32, seed=3)
    train("dih", root, tmp_path / "ov", preset="dih_t32", steps=150, seed=0, batch_size=4, lr=3e-3,
          val_every=150, progress=False)
    net, _ = ckpt.load_checkpoint(tmp_path / "ov", model="dih")
    few = load_split(root, "train", 32)
    pred = predict_arrays(net, few.composite, few.mask)
    model_err = foreground_metrics(pred, few.real, few.mask)["fmse"]
    cut_paste = foreground_metrics(few.composite, few.real, few.mask)["fmse"]
    assert model_err < 0.3 * cut_paste, (model_err, cut_paste)


def test_time_limit_stops_with_a_checkpoint(tmp_path, data):
    res = train("dih", data, tmp_path / "t", preset="dih_t32", steps=10_000, time_limit=1.0, progress=False)
    assert res.stopped_early and 0 < res.steps < 10_000
    assert json.loads((tmp_path / "t" / "config.json").read_text())["step"] == res.steps


def test_cli_train_harmonize_inharmony(tmp_path, data, cli):
    code, out = cli(["train", "bargainnet", "--data", str(data), "--preset", "bargainnet_tiny", "--out",
                     str(tmp_path / "ck" / "bargainnet"), "--steps", "2", "--val-every", "1", "--quiet"])
    assert code == 0, out
    assert "cut-and-paste" in out and "fMSE" in out
    code, out = cli(["train", "bargainnet", "--data", str(data), "--out", str(tmp_path / "ck" / "bargainnet"),
                     "--steps", "2"])
    assert code == 2 and "--resume" in out
    comp_dir = data / "HCOCO" / "composite_images"
    mask_dir = data / "HCOCO" / "masks"
    first = sorted(comp_dir.iterdir())[0]
    code, out = cli(["harmonize", "--method", "bargainnet", "--weights", str(tmp_path / "ck"), "--composite",
                     str(first), "--mask", str(mask_dir), "--out", str(tmp_path / "one.png")])
    assert code == 0, out
    assert (tmp_path / "one.png").is_file()
    code, out = cli(["harmonize", "--method", "bargainnet", "--weights", str(tmp_path / "ck"), "--composite",
                     str(comp_dir), "--mask", str(mask_dir), "--out", str(tmp_path / "all"), "--background"])
    assert code == 0, out
    assert len(list((tmp_path / "all").glob("*.png"))) == 8
    code, out = cli(["inharmony", "--composite", str(comp_dir), "--mask", str(mask_dir), "--weights",
                     str(tmp_path / "ck"), "--out", str(tmp_path / "scores.csv")])
    assert code == 0, out
    rows = (tmp_path / "scores.csv").read_text().splitlines()
    assert rows[0] == "name,score" and len(rows) == 9 and all(float(r.split(",")[1]) >= 0 for r in rows[1:])
    code, out = cli(["harmonize", "--method", "dih", "--weights", str(tmp_path / "ck" / "bargainnet"),
                     "--composite", str(first), "--mask", str(mask_dir), "--out", str(tmp_path / "x.png")])
    assert code == 2 and "bargainnet" in out and "dih" in out


# --- --init-from (fine-tuning / two-stage training) and --device ---------------------------------------


def test_init_from_starts_a_new_run_from_the_source_weights(tmp_path, data, monkeypatch):
    from harmony.models.dih import DIH

    src = tmp_path / "src"
    train("dih", data, src, preset="dih_t32", steps=3, seed=4, progress=False)
    source_net, source_cfg = ckpt.load_checkpoint(src, model="dih")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    m = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    first = {}
    original = DIH.training_losses

    def spy(self, batch):  # the run's own network, before its first optimizer step (step 0)
        if "out" not in first:
            was = self.training
            self.eval()
            with torch.no_grad():
                first["out"] = self(x, m).clone()
            self.train(was)
        return original(self, batch)

    monkeypatch.setattr(DIH, "training_losses", spy)
    res = train("dih", data, tmp_path / "ft", preset="dih_t32", steps=2, seed=9, init_from=src, progress=False)
    monkeypatch.undo()
    with torch.no_grad():
        assert torch.equal(first["out"], source_net(x, m))                       # source weights, exactly
        assert not torch.allclose(create_model("dih_t32").eval()(x, m), first["out"], atol=1e-3)
    assert res.start_step == 0 and res.steps == 2 and res.init_from == str(src.resolve())
    _, cfg = ckpt.load_checkpoint(tmp_path / "ft", model="dih")
    assert cfg["step"] == 2
    assert cfg["train"]["init_from"]["path"] == str(src.resolve())
    assert cfg["train"]["init_from"]["sha256"] == source_cfg["sha256"] == ckpt.sha256_file(src / "weights.pt")
    # a new run: its own log from step 1 and a fresh optimizer (Adam's step counters count this run only)
    assert [r["step"] for r in read_log(tmp_path / "ft" / "train_log.csv")] == [1, 2]
    state = torch.load(tmp_path / "ft" / "training_state.pt", weights_only=True)
    assert state["step"] == 2 and all(int(s["step"]) == 2 for s in state["optimizers"]["main"]["state"].values())
    # resuming the fine-tuning run keeps the record of where it started
    train("dih", data, tmp_path / "ft", preset="dih_t32", steps=3, seed=9, resume=True, progress=False)
    assert ckpt.read_config(tmp_path / "ft")["train"]["init_from"]["sha256"] == source_cfg["sha256"]


def test_init_from_refuses_another_model_another_architecture_and_resume(tmp_path, data, cli):
    src = tmp_path / "src"
    train("dih", data, src, preset="dih_t32", steps=1, progress=False)
    with pytest.raises(InputError, match=r"model 'dih' \(preset 'dih_t32'\), not 'rcl'"):
        train("rcl", data, tmp_path / "a", preset="rcl_t32", steps=1, init_from=src, progress=False)
    register_preset(Preset("dih_t32w", "dih", {"size": 32, "widths": (8, 16, 16), "fc_dim": 32,
                                                "output": "residual"}, batch_size=4, steps=1, val_every=1),
                    replace=True)
    try:
        with pytest.raises(InputError, match="widths"):
            train("dih", data, tmp_path / "b", preset="dih_t32w", steps=1, init_from=src, progress=False)
    finally:
        PRESETS.pop("dih_t32w", None)
    with pytest.raises(InputError, match="--resume"):
        train("dih", data, src, preset="dih_t32", steps=2, resume=True, init_from=src, progress=False)
    code, out = cli(["train", "dih", "--data", str(data), "--preset", "dih_t32", "--out", str(tmp_path / "c"),
                     "--steps", "1", "--resume", "--init-from", str(src), "--quiet"])
    assert code == 2 and "--init-from" in out and "--resume" in out and "Traceback" not in out
    code, out = cli(["train", "rcl", "--data", str(data), "--preset", "rcl_t32", "--out", str(tmp_path / "d"),
                     "--steps", "1", "--init-from", str(src), "--quiet"])
    assert code == 2 and "'dih'" in out and "'rcl'" in out and len(out.strip().splitlines()) == 1
    raw = bytearray((src / "weights.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (src / "weights.pt").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="sha256 mismatch"):
        train("dih", data, tmp_path / "e", preset="dih_t32", steps=1, init_from=src, progress=False)


def test_device_cpu_explicit_trains_and_unknown_devices_are_refused(tmp_path, data, cli):
    code, out = cli(["train", "dih", "--data", str(data), "--preset", "dih_t32", "--out", str(tmp_path / "c"),
                     "--steps", "1", "--device", "cpu", "--quiet"])
    assert code == 0, out
    assert ckpt.load_checkpoint(tmp_path / "c", model="dih")[1]["step"] == 1
    code, out = cli(["train", "dih", "--data", str(data), "--preset", "dih_t32", "--out", str(tmp_path / "t"),
                     "--steps", "1", "--device", "tpu", "--quiet"])
    assert code == 2 and "cpu, cuda, cuda:N or auto" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: --device cuda is valid here")
def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, data, cli):
    for dev in ("cuda", "cuda:1"):
        code, out = cli(["train", "dih", "--data", str(data), "--preset", "dih_t32", "--out", str(tmp_path / dev),
                         "--steps", "1", "--device", dev, "--quiet"])
        assert code == 2 and "CUDA is not available" in out and "Traceback" not in out, out
        assert not (tmp_path / dev / "config.json").exists()


def test_a_subset_without_split_files_is_refused_unless_split_all(tmp_path, cli):
    import shutil

    data = make_dataset(tmp_path / "data", n_train=4, n_test=2, size=40, seed=5)
    for f in (data / "HCOCO").glob("HCOCO_*.txt"):
        f.unlink()
    args = ["train", "dih", "--data", str(data), "--preset", "dih_t32", "--steps", "1", "--quiet"]
    code, out = cli(args + ["--out", str(tmp_path / "refused")])
    assert code == 2 and "Traceback" not in out, out
    assert str(Path("HCOCO") / "HCOCO_train.txt") in out and "--split all" in out
    assert not (tmp_path / "refused" / "config.json").exists()
    code, out = cli(args + ["--out", str(tmp_path / "all"), "--split", "all"])
    assert code == 0, out
    config = ckpt.read_config(tmp_path / "all")
    assert config["train"]["split"] == "all" and "6 training pairs" in out      # train and test images
    # with the split files back, the default trains on the 4 listed training pairs only
    shutil.rmtree(data)
    make_dataset(data, n_train=4, n_test=2, size=40, seed=5)
    code, out = cli(args + ["--out", str(tmp_path / "listed")])
    assert code == 0 and "4 training pairs" in out, out
    assert "split" not in ckpt.read_config(tmp_path / "listed")["train"]


def test_learned_cards_native_size_is_the_paper_presets_side():
    from harmony.models.presets import get_preset

    for method in ("dih", "bargainnet", "rcl", "sprih", "charmnet"):
        assert METHODS.card(method).native_size == get_preset(f"{method}_paper").size, method
