"""Training loop shared by every network (``harmony train``).

- Data: a dataset in the iHarmony4 layout (:class:`harmony.dataset.DatasetReader`); the train split is
  loaded once, resized to the preset's side (images: area/bilinear; masks: bilinear then binarised at
  0.5); optional per-image label maps ``<Sub>/labels/<real image stem>.png`` (class ids, 255 = unlabeled)
  feed DIH's scene-parsing decoder.
- Order: the batch at step ``s`` is a pure function of ``(seed, s)`` (per-epoch permutations from
  ``default_rng([seed, epoch])``, horizontal flips from ``default_rng([seed, s])``, and torch's RNG is
  re-seeded from ``(seed, s)`` before each step for in-model sampling), so a resumed run continues the
  same curve and two runs with the same seed are identical on CPU.
- Every ``val_every`` steps and at the end: validation on the test split (fMSE, MSE, PSNR on the 0-255
  scale at the network's side, prediction pasted into the foreground, next to cut-and-paste's numbers),
  a checkpoint (:mod:`harmony.models.checkpoint`), the CSV log and the loss plot.

Pure of printing: progress goes through a tqdm bar on stderr when ``progress`` is true.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import imageops
from .. import io as hio
from ..dataset import DatasetReader
from ..errors import InputError
from . import checkpoint as ckpt
from .presets import Preset, get_preset, model_class

LOG_NAME = "train_log.csv"
PLOT_NAME = "loss_plot.png"
LABEL_DIR = "labels"


@dataclass
class TrainData:
    composite: np.ndarray          # (N, s, s, 3) float32
    mask: np.ndarray               # (N, s, s) float32 in {0, 1}
    real: np.ndarray               # (N, s, s, 3) float32
    labels: np.ndarray | None      # (N, s, s) uint8, 255 = unlabeled
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        if self.labels is None:
            return 0
        valid = self.labels[self.labels != 255]
        return int(valid.max()) + 1 if valid.size else 0


def _label_path(sample) -> Path | None:
    folder = sample.composite.parent.parent / LABEL_DIR
    for stem in ((sample.real.stem if sample.real is not None else None), sample.composite.stem):
        if stem and (folder / f"{stem}.png").is_file():
            return folder / f"{stem}.png"
    return None


def load_with_real(reader: DatasetReader, sample, skipped: list[tuple[str, str]]):
    """``reader.load(sample)`` as ``(composite, mask, real)``; None (with ``(key, reason)`` appended to
    ``skipped``) when the sample has no ground-truth real image or its files cannot be read."""
    if sample.real is None:
        skipped.append((sample.key, "no ground-truth real image"))
        return None
    try:
        return reader.load(sample)
    except InputError as exc:
        skipped.append((sample.key, str(exc)))
        return None


def load_split(root: str | os.PathLike, split: str, size: int, *, limit: int | None = None,
               with_labels: bool = False, subsets=None) -> TrainData:
    """Load one split resized to ``size x size``; samples without a ground truth or with an empty mask
    are skipped (listed in ``skipped``). ``subsets`` (models II hook): only these subsets of ``root``."""
    reader = DatasetReader(root, subsets=subsets)  # models II: subsets (None = all)
    samples = reader.samples(split=split)
    if limit is not None:
        samples = samples[:limit]
    comps, masks, reals, labels, names, skipped = [], [], [], [], [], []
    want_labels = with_labels and any(_label_path(s) is not None for s in samples)
    for s in samples:
        loaded = load_with_real(reader, s, skipped)
        if loaded is None:
            continue
        comp, mask, real = loaded
        if comp.shape[:2] != mask.shape or real.shape != comp.shape:
            skipped.append((s.key, "composite, mask and real image sizes differ"))
            continue
        h, w = mask.shape
        interp = "area" if min(h, w) > size else "bilinear"
        m = (imageops.resize(mask, (size, size), "bilinear") > 0.5).astype(np.float32)
        if not m.any():
            skipped.append((s.key, f"mask has no foreground at {size}x{size}"))
            continue
        comps.append(np.clip(imageops.resize(comp, (size, size), interp), 0, 1))
        reals.append(np.clip(imageops.resize(real, (size, size), interp), 0, 1))
        masks.append(m)
        if want_labels:
            lp = _label_path(s)
            if lp is None:
                labels.append(np.full((size, size), 255, np.uint8))
            else:
                lab = np.clip(hio.read_label_map(lp), 0, 255).astype(np.float32)
                labels.append(imageops.resize(lab, (size, size), "nearest").astype(np.uint8))
        names.append(s.key)
    if not names:
        return TrainData(np.zeros((0, size, size, 3), np.float32), np.zeros((0, size, size), np.float32),
                         np.zeros((0, size, size, 3), np.float32), None, [], skipped)
    return TrainData(np.stack(comps).astype(np.float32), np.stack(masks), np.stack(reals).astype(np.float32),
                     np.stack(labels) if want_labels else None, names, skipped)


def batch_indices(seed: int, step: int, batch_size: int, n: int, _cache: dict | None = None) -> np.ndarray:
    """Dataset indices of the batch at ``step``: consecutive slices of per-epoch permutations."""
    start = step * batch_size
    out = np.empty(batch_size, dtype=np.int64)
    for j in range(batch_size):
        pos = start + j
        epoch = pos // n
        perm = None if _cache is None else _cache.get(epoch)
        if perm is None:
            perm = np.random.default_rng([seed, epoch]).permutation(n)
            if _cache is not None:
                _cache[epoch] = perm
        out[j] = perm[pos % n]
    return out


def foreground_metrics(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Per-image MSE, fMSE, PSNR on the 0-255 scale under the ``iharm`` protocol (peak ``gt.max()``,
    epsilon 1e-6; REFERENCE.md section 2), averaged over the images. ``pred``/``real``: (N, h, w, 3) in
    [0, 1]; ``mask``: (N, h, w). The benchmark's own metric core
    (:func:`harmony.benchmark.metrics.batch_metrics`), so validation and ``harmony bench`` agree; an empty
    mask gives NaN fMSE, left out of the mean (NaN when every mask is empty)."""
    from ..benchmark import metrics as M

    per = M.batch_metrics(np.asarray(pred, np.float64) * 255.0, np.asarray(real, np.float64) * 255.0, mask)
    return {k: M.nan_mean(per[k])[0] for k in ("mse", "fmse", "psnr")}


def predict_arrays(net, composite: np.ndarray, mask: np.ndarray, *, batch_size: int = 8, paste: bool = True) -> np.ndarray:
    """Network predictions at its own resolution for (N, s, s, 3) / (N, s, s) arrays (eval mode), computed
    on the device the network's parameters are on."""
    import torch

    dev = next((q.device for q in net.parameters()), torch.device("cpu"))
    was_training = net.training
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(composite), batch_size):
            c = torch.from_numpy(np.ascontiguousarray(composite[i:i + batch_size].transpose(0, 3, 1, 2))).to(dev)
            m = torch.from_numpy(np.ascontiguousarray(mask[i:i + batch_size, None])).to(dev)
            p = net(c, m).clamp(0, 1)
            if paste:
                p = p * m + c * (1 - m)
            outs.append(p.permute(0, 2, 3, 1).cpu().numpy())
    net.train(was_training)
    return np.concatenate(outs).astype(np.float32)


def resolve_device(device: str | None):
    """``torch.device`` for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when
    ``torch.cuda.is_available()``, else cpu). Asking for CUDA where it is unavailable is an InputError."""
    import torch

    name = str(device or "cpu").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                             f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu or auto")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return torch.device(name)
    raise InputError(f"--device {device}: expected cpu, cuda, cuda:N or auto")


def _init_source(init_from: str | os.PathLike, model: str, args: Mapping[str, Any]) -> tuple[dict, dict]:
    """``(state dict, source config)`` of the checkpoint ``init_from`` after checking that it is for the same
    ``model`` with the same architecture-defining constructor ``args`` (sha256 checked by the loader)."""
    folder = Path(init_from)
    config = ckpt.read_config(folder)
    if config["model"] != model:
        raise InputError(f"--init-from {folder}: checkpoint is for model {config['model']!r} "
                         f"(preset {config['preset']!r}), not {model!r}")
    want = ckpt._json_clean(dict(args))
    have = config["args"]
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if diff:
        shown = ", ".join(f"{k}={have.get(k)!r} vs {want.get(k)!r}" for k in diff[:4])
        raise InputError(f"--init-from {folder}: checkpoint's {model} architecture (preset {config['preset']!r}) differs "
                         f"from this run's: {shown}{' ...' if len(diff) > 4 else ''}")
    src, config = ckpt.load_checkpoint(folder, model=model)
    return src.state_dict(), config


@dataclass
class TrainResult:
    out: Path
    model: str
    preset: str
    start_step: int
    steps: int
    seconds: float
    train_images: int
    val_images: int
    parameters: int
    last_losses: dict[str, float]
    validation: dict[str, float]
    cut_and_paste: dict[str, float]
    skipped: list[tuple[str, str]]
    stopped_early: bool = False
    parsing: bool = False
    init_from: str | None = None
    device: str = "cpu"


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = ["step"]
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    import io as _io

    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    hio.atomic_write_text(path, buf.getvalue())


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a training log, numbers parsed."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        out.append({k: (float(v) if v not in ("", None) and k != "step" else (int(v) if k == "step" else None))
                    for k, v in r.items()})
    return out


def _plot(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [r["total"] for r in rows], lw=1, label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    val = [(r["step"], r["val_fmse"]) for r in rows if r.get("val_fmse") not in (None, "")]
    if val:
        ax2 = ax.twinx()
        ax2.plot([v[0] for v in val], [v[1] for v in val], "o-", color="C1", label="test fMSE")
        cp = [r["cut_paste_fmse"] for r in rows if r.get("cut_paste_fmse") not in (None, "")]
        if cp:
            ax2.axhline(cp[-1], color="C2", ls="--", lw=1, label="cut-and-paste fMSE")
        ax2.set_ylabel("test fMSE")
    # One legend for both axes, below the plot: inside the axes it covered the curves.
    handles = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8,
              frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    hio.atomic_write_bytes(path, hio.figure_png(fig))


def train(model: str, data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None,
          steps: int | None = None, seed: int = 0, resume: bool = False, overwrite: bool = False,
          batch_size: int | None = None, lr: float | None = None, val_every: int | None = None,
          val_limit: int | None = 64, time_limit: float | None = None, threads: int | None = 1,
          progress: bool = True, on_validation: Callable[[int, dict], None] | None = None,
          extra_data: Mapping[str, Any] | None = None, subsets=None,
          init_from: str | os.PathLike | None = None, device: str = "cpu") -> TrainResult:
    """Train ``model`` with ``preset`` on the dataset ``data``; the checkpoint folder is ``out``.

    ``resume`` continues the checkpoint in ``out`` (same model, preset, seed, batch size and data);
    without it a non-empty ``out`` is refused unless ``overwrite``. ``time_limit`` (seconds) stops early
    with a checkpoint. Returns a :class:`TrainResult`.

    Models II hooks (SPRIH, CharmNet; a network opts in by defining the method):
    ``extra_data`` (e.g. ``{"unpaired": DIR}``, ``{"rendered": DIR}``) goes to
    ``net.attach_streams(extra_data, size=, seed=)``, which loads its extra data streams; the optimizer
    covers ``net.generator_parameters()`` when defined (a network keeps its own discriminator optimizer);
    ``net.custom_step(batch, optimizer, step=, seed=)`` replaces the standard backward/step and returns
    the loss dict. ``subsets`` restricts ``data`` to those subsets.

    ``init_from`` (fine-tuning, two-stage training): a checkpoint folder of the same model with the same
    architecture-defining arguments whose weights (sha256-checked) start a NEW run: step 0, fresh
    optimizer, this run's data order; recorded as ``train.init_from`` (path and sha256) in config.json.
    It cannot be combined with ``resume``. ``device``: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``;
    the network and the batches live there, the checkpoint is written device-independently (CPU tensors).
    Bit-for-bit determinism is promised on CPU only.
    """
    import torch

    from .presets import default_preset

    preset_name = preset or default_preset(model)
    p: Preset = get_preset(preset_name)
    if p.model != model:
        raise InputError(f"preset {preset_name!r} is for model {p.model!r}, not {model!r}")
    if init_from is not None and resume:
        raise InputError("--init-from starts a new run from another checkpoint's weights and cannot be combined "
                         "with --resume (which continues the checkpoint in --out)")
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    out = Path(out)
    total = int(steps if steps is not None else p.steps)
    bs = int(batch_size or p.batch_size)
    rate = float(lr if lr is not None else p.lr)
    every = int(val_every or p.val_every)
    if total < 1 or bs < 1 or every < 1:
        raise InputError("--steps, --batch-size and validation interval must be at least 1")
    train_cfg = {"seed": int(seed), "batch_size": bs, "lr": rate, "steps": total, "val_every": every,
                 "optimizer": p.optimizer, "betas": list(p.betas), "weight_decay": p.weight_decay}

    existing = (out / ckpt.CONFIG_NAME).is_file()
    if existing and not resume and not overwrite:
        raise InputError(f"{out}: already holds a checkpoint; use --resume to continue it or --overwrite to "
                         "start again")
    if out.is_dir() and any(out.iterdir()) and not existing and not overwrite:
        raise InputError(f"{out}: folder is not empty and holds no checkpoint; choose another --out or use --overwrite")
    if overwrite and not resume:
        for name in (ckpt.CONFIG_NAME, ckpt.WEIGHTS_NAME, ckpt.STATE_NAME, LOG_NAME, PLOT_NAME):
            (out / name).unlink(missing_ok=True)
        existing = False

    cls = model_class(model)
    want_labels = "labels" in cls.optional_inputs
    train_data = load_split(data, "train", p.size, with_labels=want_labels, subsets=subsets)
    if len(train_data) == 0:
        raise InputError(f"{data}: no usable training pair in the train split "
                         f"({len(train_data.skipped)} skipped{': ' + train_data.skipped[0][1] if train_data.skipped else ''})")
    val_data = load_split(data, "test", p.size, limit=val_limit, subsets=subsets)
    overrides = cls.data_overrides({"num_classes": train_data.num_classes})

    start_step = 0
    rows: list[dict[str, Any]] = []
    if resume and existing:
        config = ckpt.read_config(out)
        ckpt.check_config(config, out, model=model, preset=preset_name)
        old = config.get("train", {})
        for key in ("seed", "batch_size"):
            if old.get(key) != train_cfg[key]:
                raise InputError(f"{out}: checkpoint was trained with {key}={old.get(key)}, not {train_cfg[key]}; "
                                 "resume with the same options")
        net, config = ckpt.load_checkpoint(out, model=model, preset=preset_name)
        start_step = int(config["step"])
        if old.get("init_from"):   # a fine-tuning run keeps the record of where it started
            train_cfg["init_from"] = old["init_from"]
        if (out / LOG_NAME).is_file():
            rows = [r for r in read_log(out / LOG_NAME) if r["step"] <= start_step]
    else:
        torch.manual_seed(seed)
        net = cls(**{**dict(p.args), **overrides})
        if init_from is not None:
            state, src_config = _init_source(init_from, model, net.config)
            net.load_state_dict(state)
            train_cfg["init_from"] = {"path": str(Path(init_from).resolve()), "sha256": src_config["sha256"],
                                      "preset": src_config["preset"], "step": int(src_config.get("step") or 0)}
    if dev.type != "cpu" and hasattr(net, "custom_step"):
        raise InputError(f"--device {device}: {model} trains with its own extra-stream step, which runs on the CPU "
                         "only for now; use --device cpu")
    net.to(dev)
    if dev.type != "cpu":
        train_cfg["device"] = str(dev)

    # --- models II hooks: extra data streams and generator-only parameters ---
    extra_data = {k: str(v) for k, v in (extra_data or {}).items() if v}
    if hasattr(net, "attach_streams"):
        stream_info = net.attach_streams(extra_data, size=p.size, seed=seed)
        train_cfg["extra_data"] = {k: str(Path(v).resolve()) for k, v in extra_data.items()}
        train_cfg["streams"] = {k: v for k, v in (stream_info or {}).items() if not k.endswith("_skipped")}
    elif extra_data:
        raise InputError(f"model {model!r} takes no extra data ({', '.join(sorted(extra_data))})")
    if subsets:
        train_cfg["subsets"] = list(subsets)
    net.train()
    params = list(net.generator_parameters()) if hasattr(net, "generator_parameters") else [q for q in net.parameters()]
    # --- end models II hooks ---
    if p.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=rate, betas=p.betas, weight_decay=p.weight_decay or 0.01)
    else:
        opt = torch.optim.Adam(params, lr=rate, betas=p.betas, weight_decay=p.weight_decay)
    if resume and existing and (out / ckpt.STATE_NAME).is_file():
        state = torch.load(out / ckpt.STATE_NAME, map_location="cpu", weights_only=True)
        if int(state.get("step", -1)) == start_step:
            opt.load_state_dict(state["optimizer"])

    cut_paste = foreground_metrics(val_data.composite, val_data.real, val_data.mask) if len(val_data) else {}
    n = len(train_data)
    perm_cache: dict[int, np.ndarray] = {}
    comp_t = torch.from_numpy(train_data.composite.transpose(0, 3, 1, 2).copy()).to(dev)
    mask_t = torch.from_numpy(train_data.mask[:, None].copy()).to(dev)
    real_t = torch.from_numpy(train_data.real.transpose(0, 3, 1, 2).copy()).to(dev)
    labels_t = torch.from_numpy(train_data.labels.astype(np.int64)).to(dev) if (
        train_data.labels is not None and getattr(net, "num_classes", 0)) else None

    git = ckpt.git_revision() or ""

    def save(step: int) -> None:
        ckpt.save_checkpoint(out, net, preset=preset_name, step=step, data=str(data), train=train_cfg, optimizer=opt,
                             git=git)

    def validate() -> dict[str, float]:
        if not len(val_data):
            return {}
        pred = predict_arrays(net, val_data.composite, val_data.mask)
        return foreground_metrics(pred, val_data.real, val_data.mask)

    from tqdm import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=total, initial=min(start_step, total), desc=f"train {preset_name}", unit="step",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    last: dict[str, float] = {}
    validation: dict[str, float] = {}
    step = start_step
    stopped_early = False
    try:
        while step < total:
            idx = batch_indices(seed, step, bs, n, perm_cache)
            flips = np.random.default_rng([seed, step]).random(bs) < 0.5
            sel = torch.from_numpy(idx).to(dev)
            batch = {"composite": comp_t[sel], "mask": mask_t[sel], "real": real_t[sel]}
            if labels_t is not None:
                batch["labels"] = labels_t[sel]
            if flips.any():
                f = torch.from_numpy(flips).to(dev)
                for k, v in batch.items():
                    batch[k] = torch.where(f.view(-1, *([1] * (v.dim() - 1))), v.flip(-1), v)
            torch.manual_seed((int(seed) * 1_000_003 + step) % (2 ** 63))
            net.train()
            net.on_train_step(step, total)
            if hasattr(net, "custom_step"):  # models II hook: the network runs its own (GAN) step
                losses = net.custom_step(batch, opt, step=step, seed=seed)
            else:
                losses = net.training_losses(batch)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                opt.step()
            step += 1
            last = {k: float(v.detach()) for k, v in losses.items()}
            if not math.isfinite(last["total"]):
                raise RuntimeError(f"training diverged at step {step} (loss {last['total']}); lower --lr")
            row: dict[str, Any] = {"step": step, **last, "seconds": time.perf_counter() - t0}
            out_of_time = time_limit is not None and time.perf_counter() - t0 >= time_limit
            if step % every == 0 or step == total or out_of_time:
                validation = validate()
                row.update({f"val_{k}": v for k, v in validation.items()})
                row.update({f"cut_paste_{k}": v for k, v in cut_paste.items()})
                save(step)
                if on_validation:
                    on_validation(step, validation)
            rows.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{last['total']:.4f}")
            if step % every == 0 or step == total or out_of_time:
                _write_log(out / LOG_NAME, rows)
            if out_of_time and step < total:
                stopped_early = True
                break
    finally:
        bar.close()
    if rows and step > start_step:
        _plot(out / PLOT_NAME, rows, f"{preset_name} (seed {seed})")
    if step == start_step:  # nothing to do: already trained
        validation = validate()
    return TrainResult(out, model, preset_name, start_step, step, time.perf_counter() - t0, n, len(val_data),
                       sum(q.numel() for q in net.parameters()), last, validation, cut_paste,
                       train_data.skipped + val_data.skipped, stopped_early,
                       parsing=bool(getattr(net, "num_classes", 0)),
                       init_from=(train_cfg.get("init_from") or {}).get("path"), device=str(dev))
