"""The training loop of ``harmony train``: a small :class:`Trainer` with named steps.

``Trainer(options).run()`` goes through

1. :meth:`Trainer.setup_runtime` -- device (``cpu`` | ``cuda`` | ``cuda:N`` | ``auto``), precision
   (``32`` | ``bf16`` | ``16-mixed``: ``torch.autocast`` plus a ``GradScaler`` for float16), threads, and
   ``torch.distributed`` when launched by ``torchrun`` (``WORLD_SIZE`` > 1: ``gloo`` on CPU, ``nccl`` on
   CUDA; one device per local rank);
2. :meth:`Trainer.setup_data` -- the streaming datasets of :mod:`harmony.models.data` (train split, the
   network's extra streams, the pre-resized cache when one exists), a ``DataLoader`` with
   ``loader_workers`` processes, the validation images;
3. :meth:`Trainer.setup_model` -- the network (new, ``--init-from`` weights, or the ``--resume``
   checkpoint), one optimizer per :meth:`~harmony.models.base.HarmonyNet.optimizer_groups` entry, the
   learning-rate scheduler, the GradScaler, and ``DistributedDataParallel`` around it under DDP;
4. :meth:`Trainer.restore` -- on ``--resume``: every optimizer, the scheduler, the scaler and the RNG
   states (the data position is the step: batches are a pure function of ``(seed, step)``);
5. the loop: :meth:`Trainer.train_step` (the network's phases, each back-propagated and stepped),
   :meth:`Trainer.validate` and :meth:`Trainer.save` every ``val_every`` steps and at the end (rank 0
   only writes), a SIGINT/SIGTERM stops after the current step with a checkpoint.

Determinism: torch's RNG is re-seeded from ``(seed, step, rank)`` before each step and the batches do
not depend on the loader-worker count, so on CPU the same command gives the same weights (sha256), and
``n`` straight steps equal ``n/2`` steps plus ``--resume`` to ``n``. Under DDP, 2 processes with batch
``b`` follow 1 process with batch ``2b`` within float tolerance (gradients are averaged by DDP;
per-sample normalisation or group norm needed: BatchNorm sees per-rank batches unless it is converted to
``SyncBatchNorm``, which this trainer does on CUDA).

Validation metrics go through one function, :func:`validation_metrics`.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import io as hio
from ..errors import InputError
from ..serialize import to_jsonable
from . import checkpoint as ckpt
from ._progress import progress as make_progress
from .presets import Preset, get_preset, model_class

LOG_NAME = "train_log.csv"
PLOT_NAME = "loss_plot.png"
SKIPPED_NAME = "train_skipped.txt"
PRECISIONS = ("32", "bf16", "16-mixed")


_PROCESS_GROUPS = itertools.count()


def init_process_group(backend: str) -> None:
    """Join this process's next process group, under a key prefix of its own in the rendezvous store.

    torch names the default group after a counter that ``destroy_process_group`` resets, so a second
    group in the same processes (a run resumed by a second ``train()`` call, as in a notebook or the DDP
    resume test) would find the first group's gloo addresses under the same keys of torchrun's store
    and wait on connections to ranks that are gone. Each call here takes a fresh prefix; every rank calls
    it the same number of times, so the prefixes agree.

    Parameters
    ----------
    backend : {"gloo", "nccl"}
        The ``torch.distributed`` backend.

    References
    ----------
    torch.distributed, "Initialization" (``init_process_group`` with an explicit ``store``):
    https://pytorch.org/docs/stable/distributed.html
    """
    import torch.distributed as dist

    store, rank, world_size = next(dist.rendezvous("env://"))
    prefix = f"harmony/group{next(_PROCESS_GROUPS)}"
    dist.init_process_group(backend, store=dist.PrefixStore(prefix, store), rank=rank, world_size=world_size)


# --- helpers (also imported through harmony.models.train) ----------------------------------------------

def foreground_metrics(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Per-image MSE, fMSE and PSNR on the 0-255 scale under the ``iharm`` protocol (SamsungLabs
    image_harmonization's evaluation: peak ``gt.max()``, epsilon 1e-6), averaged over the images.

    Parameters
    ----------
    pred, real : ndarray, (N, h, w, 3) float in [0, 1]
    mask : ndarray, (N, h, w) float in [0, 1]

    Returns
    -------
    dict
        ``mse``, ``fmse``, ``psnr``. Computed by the benchmark's float64 metric core
        (:func:`harmony.benchmark.metrics.batch_metrics`), so validation and ``harmony bench`` agree; an
        empty mask gives NaN fMSE, left out of the mean (NaN when every mask is empty).
    """
    from ..benchmark import metrics

    per = metrics.batch_metrics(np.asarray(pred, np.float64) * 255.0, np.asarray(real, np.float64) * 255.0, mask)
    return {key: metrics.nan_mean(per[key])[0] for key in ("mse", "fmse", "psnr")}


def validation_metrics(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The one place training validation scores images (see :func:`foreground_metrics`).

    Parameters
    ----------
    pred, real : ndarray, (N, h, w, 3) float in [0, 1]
    mask : ndarray, (N, h, w) float in [0, 1]

    Returns
    -------
    dict of str to float
        ``mse``, ``fmse``, ``psnr`` on the 0-255 scale, averaged over the images.
    """
    return foreground_metrics(pred, real, mask)


def predict_arrays(net, composite: np.ndarray, mask: np.ndarray, *, batch_size: int = 8, paste: bool = True) -> np.ndarray:
    """Network predictions at its own resolution for arrays of composites (eval mode, no gradient).

    Parameters
    ----------
    net : harmony.models.base.HarmonyNet
        Run on the device its parameters are on; its train/eval mode is restored afterwards.
    composite : ndarray, (N, s, s, 3) float32 in [0, 1]
    mask : ndarray, (N, s, s) float32 in [0, 1]
    batch_size : int, default 8
    paste : bool, default True
        Keep the composite outside the mask: ``pred * M + C * (1 - M)``.

    Returns
    -------
    ndarray, (N, s, s, 3) float32 in [0, 1]
    """
    import torch

    dev = next((q.device for q in net.parameters()), torch.device("cpu"))
    was_training = net.training
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(composite), batch_size):
            c = torch.from_numpy(np.ascontiguousarray(composite[i:i + batch_size].transpose(0, 3, 1, 2))).to(dev)
            m = torch.from_numpy(np.ascontiguousarray(mask[i:i + batch_size, None])).to(dev)
            p = net(c, m).float().clamp(0, 1)
            if paste:
                p = p * m + c * (1 - m)
            outs.append(p.permute(0, 2, 3, 1).cpu().numpy())
    net.train(was_training)
    if not outs:
        return np.zeros_like(composite, dtype=np.float32)
    return np.concatenate(outs).astype(np.float32)


def resolve_device(device: str | None, local_rank: int | None = None):
    """The ``torch.device`` of a ``--device`` value.

    Parameters
    ----------
    device : str or None
        ``cpu`` (also None), ``cuda``, ``cuda:N`` or ``auto`` (cuda when available, else cpu).
    local_rank : int, optional
        Under DDP, ``cuda`` means ``cuda:<local rank>``.

    Returns
    -------
    torch.device

    Raises
    ------
    harmony.errors.InputError
        CUDA asked for where it is unavailable, a device index out of range, or another value.
    """
    import torch

    name = str(device or "cpu").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                             f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu or auto")
        index = int(name[5:]) if ":" in name else (int(local_rank) if local_rank is not None else 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return torch.device(f"cuda:{index}")
    raise InputError(f"--device {device}: expected cpu, cuda, cuda:N or auto")


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    import io as _io

    columns: list[str] = ["step"]
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    hio.atomic_write_text(path, buf.getvalue())


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a training log (``train_log.csv``), numbers parsed.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list of dict
        ``step`` as int, other columns as float (None where empty).
    """
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
    if all((r.get("total") or 0) > 0 for r in rows):
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
    plt.close(fig)


def check_source_checkpoint(folder: str | os.PathLike, model: str, args: Mapping[str, Any], option: str) -> dict:
    """The config of a checkpoint given to ``--init-from``/``--resume``, after checking it fits this run.

    Parameters
    ----------
    folder : str or os.PathLike
    model : str
        The model being trained.
    args : mapping
        This run's architecture-defining constructor arguments.
    option : str
        The option named in messages (``--init-from``).

    Returns
    -------
    dict
        The checkpoint's config.

    Raises
    ------
    harmony.errors.InputError
        Another model, or constructor arguments that differ (the first four are named).
    """
    folder = Path(folder)
    config = ckpt.read_config(folder)
    if config["model"] != model:
        raise InputError(f"{option} {folder}: checkpoint is for model {config['model']!r} "
                         f"(preset {config['preset']!r}), not {model!r}")
    want = to_jsonable(dict(args))
    have = config["args"]
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if diff:
        shown = ", ".join(f"{k}={have.get(k)!r} vs {want.get(k)!r}" for k in diff[:4])
        raise InputError(f"{option} {folder}: checkpoint's {model} architecture (preset {config['preset']!r}) differs "
                         f"from this run's: {shown}{' ...' if len(diff) > 4 else ''}")
    return config


@dataclass
class TrainResult:
    """Summary of one :meth:`Trainer.run`: where it wrote (``out``), what it trained (``model``, ``preset``,
    ``parameters``), the steps (``start_step`` to ``steps``, ``seconds``), the data (``train_images``,
    ``val_images``, ``skipped`` items with reasons), the last logged losses, the validation and
    cut-and-paste metrics, and how it ended (``stopped_early`` by ``--time-limit``, ``interrupted`` by a
    signal) on which ``device``, ``world_size``, ``precision`` and ``cache``.
    """
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
    interrupted: str | None = None          # "SIGINT" | "SIGTERM" when a signal stopped the run
    world_size: int = 1
    precision: str = "32"
    cache: str | None = None


@dataclass
class TrainOptions:
    """Everything ``harmony train`` passes to the :class:`Trainer` (see :func:`harmony.models.train.train`)."""

    model: str
    data: str
    out: str
    preset: str | None = None
    steps: int | None = None
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    val_every: int | None = None
    val_limit: int | None = 64
    time_limit: float | None = None
    threads: int | None = 1
    progress: bool = True
    on_validation: Callable[[int, dict], None] | None = None
    extra_data: Mapping[str, Any] | None = None
    subsets: Any = None
    init_from: str | None = None
    device: str = "cpu"
    precision: str = "32"
    loader_workers: int | None = 0
    cache: bool | str | None = None         # True: prepare/use the default cache; a path: that folder
    handle_signals: bool = True
    split: str = "train"                    # "all": every image of every subset (test included)


class StepContext:
    """What a network's :meth:`~harmony.models.base.HarmonyNet.phase_losses` gets besides the batch.

    Parameters
    ----------
    step, seed, rank : int
        ``rng`` is ``numpy.random.default_rng([seed, step, rank, 19])``; ``carry`` is a dict shared by the
        phases of the step.
    """

    def __init__(self, step: int, seed: int, rank: int):
        self.step, self.seed, self.rank = step, seed, rank
        self.rng = np.random.default_rng([int(seed), int(step), int(rank), 19])
        self.carry: dict[str, Any] = {}


def _phase_module(net):
    """An ``nn.Module`` whose forward is ``net.phase_losses`` (what DistributedDataParallel wraps, so
    every phase's backward synchronises gradients)."""
    import torch

    class PhaseModule(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.net = inner

        def forward(self, phase, batch, context):
            return self.net.phase_losses(phase, batch, context)

    return PhaseModule(net)


class Trainer:
    """One training run (see the module docstring for the named steps).

    Parameters
    ----------
    options : TrainOptions

    References
    ----------
    .. [1] PyTorch documentation, "DistributedDataParallel" and "Writing Distributed Applications"
       (https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html,
       https://pytorch.org/docs/stable/distributed.html).
    """

    def __init__(self, options: TrainOptions):
        self.options = options
        self.stop_signal: str | None = None
        self.skipped: list[tuple[str, str]] = []
        self.skipped_steps: list[tuple[int, str, str]] = []
        self.rows: list[dict[str, Any]] = []

    # -- 1. runtime ------------------------------------------------------------------------------------
    def setup_runtime(self) -> None:
        """Step 1: device, precision, threads and (under ``torchrun``) the process group.

        Raises
        ------
        harmony.errors.InputError
            Unknown ``--precision``, ``16-mixed`` without CUDA, or an unavailable device.

        References
        ----------
        .. [1] PyTorch documentation, "DistributedDataParallel" and "Writing Distributed Applications"
           (https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html,
           https://pytorch.org/docs/stable/distributed.html).
        """
        import torch

        options = self.options
        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0)
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
        self.device = resolve_device(options.device, self.local_rank if self.world > 1 else None)
        if options.precision not in PRECISIONS:
            raise InputError(f"--precision {options.precision}: expected one of {', '.join(PRECISIONS)}")
        if options.precision == "16-mixed" and self.device.type != "cuda":
            raise InputError("--precision 16-mixed needs --device cuda (float16 autocast and GradScaler are CUDA "
                             "features here); use --precision bf16 or 32 on the CPU")
        self.amp_dtype = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}[options.precision]
        if options.threads:
            torch.set_num_threads(int(options.threads))
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.distributed = self.world > 1
        if self.distributed:
            import torch.distributed as dist

            if not dist.is_initialized():
                init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.is_main = self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (nothing without DDP)."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    # -- 2. data ---------------------------------------------------------------------------------------
    def setup_data(self) -> None:
        """Step 2: the training table, the cache (prepared first when ``--cache``), the extra streams, the
        streaming dataset and the validation images with their cut-and-paste baseline.

        Raises
        ------
        harmony.errors.InputError
            No training pair, an extra stream the model does not take or lacks, or an empty stream.
        """
        from . import data as D

        options = self.options
        preset = self.preset
        cls = model_class(options.model)
        want_labels = "labels" in cls.optional_inputs
        split = None if options.split == "all" else self._require_train_lists()
        self.train_table = D.paired_table(options.data, split, subsets=options.subsets, with_labels=want_labels)
        self.skipped.extend(self.train_table.skipped)
        if len(self.train_table) == 0:
            first = f": {self.train_table.skipped[0][0]}: {self.train_table.skipped[0][1]}" if self.train_table.skipped else ""
            raise InputError(f"{options.data}: no training pair in the train split (a <Sub>/<Sub>_train.txt listing composites "
                             f"with masks and real images is needed; {len(self.train_table.skipped)} skipped{first})")
        self.cache = None
        self.cache_folder = None
        if options.cache:
            folder = None if options.cache is True else str(options.cache)
            if self.is_main:          # rank 0 prepares (or completes) the cache; the others wait for it
                self.cache = D.open_cache(options.data, preset.size, folder)
                if self.cache is None or not self._cache_complete():
                    prog = make_progress(0, f"prepare cache {preset.size}px", unit="image", enabled=options.progress)
                    D.prepare_cache(options.data, preset.size, folder=folder, subsets=options.subsets, workers=self.workers(),
                                    progress=prog.update, on_total=lambda n: setattr(prog, "total", n))
                    prog.close()
            self.barrier()
            self.cache = D.open_cache(options.data, preset.size, folder)
        elif D.open_cache(options.data, preset.size) is not None:
            self.cache = D.open_cache(options.data, preset.size)       # a prepared cache is used when present
        if self.cache is not None:
            self.cache_folder = str(self.cache.folder)
        # extra streams (SPRIH's unpaired real composites, CharmNet's rendered pairs)
        extra = {k: str(v) for k, v in (options.extra_data or {}).items() if v}
        unknown = sorted(set(extra) - set(cls.extra_streams))
        if unknown:
            takes = ", ".join(f"--{k}" for k in cls.extra_streams) or "no extra data"
            raise InputError(f"model {options.model!r} takes {takes}, not --{', --'.join(unknown)}")
        for name, required in cls.extra_streams.items():
            if required and name not in extra:
                raise InputError(f"{options.model}: needs --{name} DIR" + (
                    " (a rendered dataset with labels.txt, made by `harmony datagen rendered`)" if name == "rendered" else ""))
        tables = {"main": self.train_table}
        self.stream_info: dict[str, Any] = {}
        for name, folder in extra.items():
            if name == "unpaired":
                t = D.unpaired_table(folder)
            elif name == "rendered":
                t = D.rendered_table(folder)
            else:  # pragma: no cover - a network declaring a stream the dataset layer does not know
                raise InputError(f"{options.model}: unknown extra stream {name!r}")
            if not len(t):
                raise InputError(f"{folder}: no usable item for --{name}")
            tables[name] = t
            self.skipped.extend(t.skipped)
            self.stream_info[f"{name}_images"] = len(t)
        self.extra = extra
        self.dataset = D.StreamDataset(tables, preset.size, seed=options.seed, augment=preset.augment, cache=self.cache)
        val_table = D.paired_table(options.data, "test", subsets=options.subsets) if self._has_test() else None
        if val_table is not None and len(val_table):
            self.val, vskip = D.load_eval(val_table, preset.size, cache=self.cache, limit=options.val_limit)
            self.skipped.extend(vskip)
        else:
            s = preset.size
            self.val = {"composite": np.zeros((0, s, s, 3), np.float32), "mask": np.zeros((0, s, s), np.float32),
                        "real": np.zeros((0, s, s, 3), np.float32)}
        self.cut_paste = validation_metrics(self.val["composite"], self.val["real"], self.val["mask"]) if len(
            self.val["composite"]) else {}

    def _require_train_lists(self) -> str:
        """``"train"``, after checking that every subset used lists its training images.

        A subset without ``<Sub>/<Sub>_train.txt`` (nor any other split file) would otherwise train on
        every image it holds, test images included; ``--split all`` asks for exactly that.
        """
        from ..dataset import SPLITS, DatasetReader, subset_split_file

        reader = DatasetReader(self.options.data, subsets=self.options.subsets)
        for sub in reader.subsets:
            if not any(subset_split_file(reader.root, sub, s).is_file() for s in SPLITS):
                missing = subset_split_file(reader.root, sub, "train")
                raise InputError(f"{missing}: missing, so the training images of subset {sub} cannot be told from "
                                 "its test images; add the split files, choose other --subsets, or pass --split all "
                                 "to train on every image (test included)")
        return "train"

    def _has_test(self) -> bool:
        from ..dataset import DatasetReader, subset_split_file

        reader = DatasetReader(self.options.data, subsets=self.options.subsets)
        return any(subset_split_file(reader.root, s, "test").is_file() for s in reader.subsets)

    def _cache_complete(self) -> bool:
        return all(self.train_table.key(i) in self.cache.rows for i in range(0, len(self.train_table),
                                                                              max(1, len(self.train_table) // 64)))

    def workers(self) -> int:
        """Loader processes: ``--loader-workers``, or (None) the usable cores divided among the local ranks.

        Returns
        -------
        int
        """
        w = self.options.loader_workers
        if w is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
            w = max(1, cores // max(1, local))
        return int(w)

    # -- 3. model --------------------------------------------------------------------------------------
    def setup_model(self) -> None:
        """Step 3: the network (new, ``--init-from`` weights, or the ``--resume`` checkpoint), its optimizers,
        the learning-rate scheduler, the GradScaler, and DistributedDataParallel under DDP.

        Raises
        ------
        harmony.errors.InputError
            A resumed checkpoint trained with another seed, batch size or process count.

        References
        ----------
        .. [1] PyTorch documentation, "DistributedDataParallel" and "Writing Distributed Applications"
           (https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html,
           https://pytorch.org/docs/stable/distributed.html).
        """
        import torch

        options, preset = self.options, self.preset
        cls = model_class(options.model)
        out = Path(options.out)
        self.start_step = 0
        overrides = cls.data_overrides({"num_classes": self.train_table.num_classes})
        if self.resuming:
            config = ckpt.read_config(out)
            ckpt.check_config(config, out, model=options.model, preset=self.preset_name)
            old = config.get("train", {})
            for key in ("seed", "batch_size", "world_size"):
                have = old.get(key, 1 if key == "world_size" else None)
                if have != self.train_cfg[key]:
                    raise InputError(f"{out}: checkpoint was trained with {key}={have}, not {self.train_cfg[key]}; "
                                     "resume with the same options")
            net, config = ckpt.load_checkpoint(out, model=options.model, preset=self.preset_name)
            self.start_step = int(config["step"])
            if old.get("init_from"):
                self.train_cfg["init_from"] = old["init_from"]
            if self.is_main and (out / LOG_NAME).is_file():
                self.rows = [r for r in read_log(out / LOG_NAME) if r["step"] <= self.start_step]
        else:
            torch.manual_seed(options.seed)
            net = cls(**{**dict(preset.args), **overrides})
            if options.init_from is not None:
                src = check_source_checkpoint(options.init_from, options.model, net.config, "--init-from")
                loaded, src = ckpt.load_checkpoint(options.init_from, model=options.model)
                net.load_state_dict(loaded.state_dict())
                self.train_cfg["init_from"] = {"path": str(Path(options.init_from).resolve()), "sha256": src["sha256"],
                                               "preset": src["preset"], "step": int(src.get("step") or 0)}
        if self.distributed and self.device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net.to(self.device)
        net.train()
        self.net = net
        groups = net.optimizer_groups()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for name, params in groups.items():
            if name == "main":
                if preset.optimizer == "adamw":
                    optimizer = torch.optim.AdamW(params, lr=self.lr, betas=preset.betas, weight_decay=self.weight_decay)
                else:
                    optimizer = torch.optim.Adam(params, lr=self.lr, betas=preset.betas, weight_decay=self.weight_decay)
            else:
                optimizer = torch.optim.Adam(params, **{"lr": self.lr, **net.optimizer_options(name)})
            self.optimizers[name] = optimizer
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizers["main"], milestones=list(preset.lr_milestones), gamma=float(preset.lr_gamma))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(options.precision == "16-mixed"))
        module = _phase_module(net)
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.module = DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                              find_unused_parameters=len(net.train_phases()) > 1 or bool(getattr(net, "num_classes", 0)))
        else:
            self.module = module

    # -- 4. resume -------------------------------------------------------------------------------------
    def restore(self) -> None:
        """Step 4 (``--resume``): every optimizer, the scheduler, the scaler and the RNG states from
        ``training_state.pt`` when it is of the checkpoint's step.

        Raises
        ------
        harmony.errors.InputError
            An unreadable state file.
        """
        import torch

        path = Path(self.options.out) / ckpt.STATE_NAME
        if not path.is_file():
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable state file is one clear line
            raise InputError(f"{path}: unreadable training state ({exc.__class__.__name__})") from None
        if int(state.get("step", -1)) != self.start_step:
            return
        saved = state.get("optimizers") or ({"main": state["optimizer"]} if "optimizer" in state else {})
        for name, optimizer in self.optimizers.items():
            if name in saved:
                optimizer.load_state_dict(saved[name])
        if state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "numpy" in rng:
            name, keys, pos, has_gauss, gauss = rng["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
        if "python" in rng:
            version, pstate, pgauss = rng["python"]
            random.setstate((int(version), tuple(int(x) for x in pstate.tolist()), pgauss))
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    # -- 5. the loop -----------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float] | None:
        """One optimisation step over the network's phases.

        Parameters
        ----------
        batch : dict
            A collated batch (:func:`harmony.models.data.collate`).
        step : int
            0-based step; torch's RNG is re-seeded from ``(seed, step, rank)``.

        Returns
        -------
        dict of str to float or None
            The logged values of every phase; None when the batch had no usable item (all ranks skip
            together under DDP).
        """
        import torch

        from .data import to_float_batch

        main = batch.get("main")
        usable = main is not None and not any(req and name in self.extra and name not in batch
                                              for name, req in self.net.extra_streams.items())
        if self.distributed:        # every rank skips together (a lone skip would hang DDP's reduction)
            flag = torch.tensor([0.0 if usable else 1.0])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            usable = flag.item() == 0
        if not usable:
            return None
        floats = to_float_batch(main, self.device)
        floats["streams"] = {name: to_float_batch(batch[name], self.device) for name in self.extra if name in batch}
        torch.manual_seed((int(self.options.seed) * 1_000_003 + step * 7919 + self.rank) % (2 ** 63))
        self.net.train()
        self.net.on_train_step(step, self.total)
        context = StepContext(step, self.options.seed, self.rank)
        logged: dict[str, float] = {}
        for phase in self.net.train_phases():
            optimizer = self.optimizers[phase]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
                losses = self.module(phase, floats, context)
            self.scaler.scale(losses["total"].float()).backward()
            self.scaler.step(optimizer)
            values = self.net.log_values(losses)
            if phase != "main":
                values.pop("total", None)
            logged.update(values)
        self.scaler.update()
        self.scheduler.step()
        return logged

    def validate(self) -> dict[str, float]:
        """Score the validation images (rank 0).

        Returns
        -------
        dict of str to float
            ``mse``, ``fmse``, ``psnr`` (:func:`validation_metrics`); empty without test images.
        """
        if not len(self.val["composite"]):
            return {}
        pred = predict_arrays(self.net, self.val["composite"], self.val["mask"])
        return validation_metrics(pred, self.val["real"], self.val["mask"])

    def state_dict(self, step: int) -> dict[str, Any]:
        """The training state saved beside the weights (loadable with ``torch.load(weights_only=True)``).

        Parameters
        ----------
        step : int

        Returns
        -------
        dict
            ``step``, ``optimizers``, ``scheduler``, ``scaler``, ``rng`` (torch, numpy, python, cuda) and
            ``data_position``.
        """
        import torch

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, pstate, pgauss = random.getstate()
        # plain tensors and numbers only, so the file loads with torch.load(weights_only=True)
        rng = {"torch": torch.get_rng_state(),
               "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)],
               "python": [int(version), torch.tensor(pstate, dtype=torch.int64), pgauss]}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"step": int(step), "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "rng": rng,
                "data_position": {"step": int(step), "seed": int(self.options.seed), "world_size": self.world,
                                  "batch_size": self.batch_size}}

    def save(self, step: int) -> None:
        """Write the training state, then the weights and config naming the step (rank 0), then wait for all.

        Parameters
        ----------
        step : int
        """
        import io

        import torch

        self._gather_skipped()
        if self.is_main:
            out = Path(self.options.out)
            out.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            torch.save(self.state_dict(step), buf)
            hio.atomic_write_bytes(out / ckpt.STATE_NAME, buf.getvalue())
            ckpt.save_checkpoint(out, self.net, preset=self.preset_name, step=step, data=str(self.options.data),
                                 train=self.train_cfg, git=self.git)
            if self.skipped_steps:
                hio.atomic_write_text(out / SKIPPED_NAME, "".join(f"{s}\t{k}\t{r}\n" for s, k, r in self.skipped_steps))
        self.barrier()

    def _gather_skipped(self) -> None:
        if not self.distributed:
            return
        import torch.distributed as dist

        got: list = [None] * self.world
        dist.all_gather_object(got, self._pending_skips)
        self._pending_skips = []
        if self.is_main:
            seen = set(self.skipped_steps)
            for part in got:
                for item in part or []:
                    if tuple(item) not in seen:
                        self.skipped_steps.append(tuple(item))

    def _stop_requested(self) -> bool:
        flag = self.stop_signal is not None
        if self.distributed:
            import torch
            import torch.distributed as dist

            t = torch.tensor([1.0 if flag else 0.0])
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            if t.item() > 0 and self.stop_signal is None:
                self.stop_signal = "SIGTERM"
            return bool(t.item() > 0)
        return flag

    def _install_signals(self):
        if not self.options.handle_signals:
            return {}
        import threading

        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}

        def handler(signum, _frame):
            self.stop_signal = signal.Signals(signum).name

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
        return old

    # -- the whole run ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Resolve the preset and options, set up the runtime, and refuse what cannot be run before any data is
        read (another model's checkpoint in ``--out``, a non-empty ``--out`` without ``--overwrite``,
        ``--init-from`` with ``--resume``).

        Raises
        ------
        harmony.errors.InputError
        """
        from .presets import default_preset

        options = self.options
        self.preset_name = options.preset or default_preset(options.model)
        self.preset: Preset = get_preset(self.preset_name)
        if self.preset.model != options.model:
            raise InputError(f"preset {self.preset_name!r} is for model {self.preset.model!r}, not {options.model!r}")
        if options.init_from is not None and options.resume:
            raise InputError("--init-from starts a new run from another checkpoint's weights and cannot be combined "
                             "with --resume (which continues the checkpoint in --out)")
        self.setup_runtime()
        preset = self.preset
        self.total = int(options.steps if options.steps is not None else preset.steps)
        self.batch_size = int(options.batch_size or preset.batch_size)
        self.lr = float(options.lr if options.lr is not None else preset.lr)
        self.val_every = int(options.val_every or preset.val_every)
        if self.total < 1 or self.batch_size < 1 or self.val_every < 1:
            raise InputError("--steps, --batch-size and validation interval must be at least 1")
        self.weight_decay = float(options.weight_decay if options.weight_decay is not None else preset.weight_decay)
        self.train_cfg: dict[str, Any] = {
            "seed": int(options.seed), "batch_size": self.batch_size, "lr": self.lr, "steps": self.total, "val_every": self.val_every,
            "optimizer": preset.optimizer, "betas": list(preset.betas), "weight_decay": self.weight_decay, "world_size": self.world,
            "global_batch_size": self.batch_size * self.world, "precision": options.precision, "augment": dict(preset.augment)}
        out = Path(options.out)
        existing = (out / ckpt.CONFIG_NAME).is_file()
        # every rank checks (same file system), so a refusal never leaves the others waiting at a barrier
        if existing and not options.resume and not options.overwrite:
            raise InputError(f"{out}: already holds a checkpoint; use --resume to continue it or --overwrite to "
                             "start again")
        if out.is_dir() and any(out.iterdir()) and not existing and not options.overwrite:
            raise InputError(f"{out}: folder is not empty and holds no checkpoint; choose another --out or use "
                             "--overwrite")
        if options.resume and existing:
            # fail before loading any data: another model or architecture in --out is one line
            config = ckpt.read_config(out)
            if config["model"] != options.model:
                raise InputError(f"--resume {out}: checkpoint is for model {config['model']!r} "
                                 f"(preset {config['preset']!r}), not {options.model!r}")
            ckpt.check_config(config, out, model=options.model, preset=self.preset_name)
        if options.init_from is not None:
            cfg = ckpt.read_config(options.init_from)
            if cfg["model"] != options.model:
                raise InputError(f"--init-from {options.init_from}: checkpoint is for model {cfg['model']!r} "
                                 f"(preset {cfg['preset']!r}), not {options.model!r}")
        self.barrier()
        if options.overwrite and not options.resume and self.is_main:
            for name in (ckpt.CONFIG_NAME, ckpt.WEIGHTS_NAME, ckpt.STATE_NAME, LOG_NAME, PLOT_NAME, SKIPPED_NAME):
                (out / name).unlink(missing_ok=True)
            existing = False
        self.barrier()
        self.resuming = bool(options.resume and existing)
        if self.device.type != "cpu":
            self.train_cfg["device"] = self.device.type
        if options.subsets:
            self.train_cfg["subsets"] = list(options.subsets)
        if options.split != "train":
            if options.split != "all":
                raise InputError(f"--split {options.split}: expected train or all")
            self.train_cfg["split"] = options.split
        self.git = ckpt.git_revision() or ""

    def run(self) -> TrainResult:
        """Train to ``--steps``: set up, loop over the step-indexed batches, write the plot, report.

        Returns
        -------
        TrainResult
            The run's summary: steps done, last losses, validation metrics, skipped items, and whether a
            time limit or a signal stopped it early.
        """
        self._start()
        loader = self._make_loader()
        started = time.perf_counter()
        bar = make_progress(self.total, f"train {self.preset_name}", initial=min(self.start_step, self.total),
                            enabled=self.options.progress and self.is_main)
        old_handlers = self._install_signals()
        try:
            step, stopped_early, last, validation = self._loop(loader, bar, started)
        finally:
            bar.close()
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            del loader
        return self._finish(step, stopped_early, last, validation, started)

    def _start(self) -> None:
        """Steps 1-4 (runtime, data, model, resume) and the skipped items a resumed run already logged."""
        self.prepare()
        self.setup_data()
        self.setup_model()
        if self.extra:
            self.train_cfg["extra_data"] = {k: str(Path(v).resolve()) for k, v in self.extra.items()}
            self.train_cfg["streams"] = dict(self.stream_info)
        if self.resuming:
            self.restore()
        self._pending_skips: list = []
        skipped_file = Path(self.options.out) / SKIPPED_NAME
        if self.resuming and self.is_main and skipped_file.is_file():
            for line in skipped_file.read_text(encoding="utf-8").splitlines():
                step, key, reason = line.split("\t", 2)
                if int(step) <= self.start_step:
                    self.skipped_steps.append((int(step), key, reason))

    def _make_loader(self):
        """The ``DataLoader`` over :class:`~harmony.models.data.StepBatchSampler` from the start step."""
        from .data import StepBatchSampler, make_loader

        sizes = {name: len(self.dataset.tables[name]) for name in self.extra}
        net, seed, batch_size = self.net, self.options.seed, self.batch_size

        def streams_for_step(step):
            return {k: v for k, v in net.streams_for_step(seed, step, batch_size).items() if k in sizes}

        sampler = StepBatchSampler(len(self.train_table), self.batch_size, seed=seed, start=self.start_step, total=self.total,
                                   rank=self.rank, world=self.world,
                                   streams_for_step=streams_for_step if sizes else None, stream_sizes=sizes)
        return make_loader(self.dataset, sampler, self.workers(), pin_memory=self.device.type == "cuda")

    def _loop(self, loader, bar, started: float) -> tuple[int, bool, dict[str, float], dict[str, float]]:
        """Step 5: train step by step; validate, save and write the log at the checkpoints.

        Returns the last step done, whether the time limit stopped the run, the last logged losses and
        the last validation metrics.
        """
        out = Path(self.options.out)
        last: dict[str, float] = {}
        validation: dict[str, float] = {}
        step = self.start_step
        stopped_early = False
        batches = iter(loader)
        while step < self.total:
            try:
                batch = next(batches)
            except (RuntimeError, StopIteration):
                if self.stop_signal is not None:
                    break            # loader workers were interrupted with us: save at this step
                raise
            self._note_skipped(batch, step)
            logged = self.train_step(batch, step)
            step += 1
            if logged is not None:
                last = logged
            row = self._log_row(step, logged, started)
            out_of_time = self._out_of_time(started)
            stop = self._stop_requested()
            checkpoint = step % self.val_every == 0 or step == self.total or out_of_time or stop
            if checkpoint:
                validation = self._checkpoint(step, row, validation)
            self.rows.append(row)
            bar.update(1)
            if "total" in last:
                bar.set_postfix(loss=f"{last['total']:.4f}")
            if self.is_main and checkpoint:
                _write_log(out / LOG_NAME, self.rows)
            if stop:
                break
            if out_of_time and step < self.total:
                stopped_early = True
                break
        if self.stop_signal is not None and (not self.rows or self.rows[-1]["step"] != step) and step > self.start_step:
            self.save(step)          # interrupted while waiting for a batch
            if self.is_main:
                _write_log(out / LOG_NAME, self.rows)
        return step, stopped_early, last, validation

    def _note_skipped(self, batch: dict[str, Any], step: int) -> None:
        """Record the items the loader skipped for this batch (corrupt or missing files)."""
        for key, reason in batch.get("skipped", []):
            self._pending_skips.append((step + 1, key, reason))
            if not self.distributed:
                self.skipped_steps.append((step + 1, key, reason))

    def _log_row(self, step: int, logged: dict[str, float] | None, started: float) -> dict[str, Any]:
        """The log row of ``step`` (NaN loss when the batch had no usable item); InputError on divergence."""
        if logged is None:
            row: dict[str, Any] = {"step": step, "total": float("nan"), "seconds": time.perf_counter() - started}
        else:
            if not math.isfinite(logged.get("total", 0.0)):
                raise InputError(f"training diverged at step {step} (loss {logged['total']}); lower --lr")
            row = {"step": step, **logged, "seconds": time.perf_counter() - started}
        if self.skipped_steps or self._pending_skips:
            row["skipped"] = len(self.skipped_steps) if not self.distributed else len(self._pending_skips)
        return row

    def _out_of_time(self, started: float) -> bool:
        """Whether ``--time-limit`` has passed (on any rank under DDP, so all ranks stop together)."""
        import torch

        limit = self.options.time_limit
        out_of_time = limit is not None and time.perf_counter() - started >= limit
        if self.distributed and limit is not None:
            flag = torch.tensor([1.0 if out_of_time else 0.0])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag.item() > 0)
        return out_of_time

    def _checkpoint(self, step: int, row: dict[str, Any], validation: dict[str, float]) -> dict[str, float]:
        """Validate (rank 0, metrics added to ``row``) and save; returns the current validation metrics."""
        if self.is_main:
            validation = self.validate()
            row.update({f"val_{k}": v for k, v in validation.items()})
            row.update({f"cut_paste_{k}": v for k, v in self.cut_paste.items()})
        self.save(step)
        if self.options.on_validation and self.is_main:
            self.options.on_validation(step, validation)
        return validation

    def _finish(self, step: int, stopped_early: bool, last: dict[str, float], validation: dict[str, float],
                started: float) -> TrainResult:
        """Write the loss plot (rank 0) and build the run's :class:`TrainResult`."""
        out = Path(self.options.out)
        if self.is_main and self.rows and step > self.start_step:
            finite = [r for r in self.rows if isinstance(r.get("total"), float) and math.isfinite(r["total"])]
            _plot(out / PLOT_NAME, finite or self.rows, f"{self.preset_name} (seed {self.options.seed})")
        if step == self.start_step and self.is_main:
            validation = self.validate()
        self.skipped.extend((k, r) for _, k, r in self.skipped_steps)
        net = self.net
        return TrainResult(out, self.options.model, self.preset_name, self.start_step, step, time.perf_counter() - started,
                           len(self.train_table), len(self.val["composite"]),
                           sum(q.numel() for q in net.parameters()), last, validation, self.cut_paste,
                           self.skipped, stopped_early, parsing=bool(getattr(net, "num_classes", 0)),
                           init_from=(self.train_cfg.get("init_from") or {}).get("path"), device=str(self.device),
                           interrupted=self.stop_signal, world_size=self.world, precision=self.options.precision,
                           cache=self.cache_folder)

    def close(self) -> None:
        """Leave the process group (all ranks together, bounded wait on gloo); nothing without DDP."""
        if getattr(self, "distributed", False):
            import torch.distributed as dist

            if dist.is_initialized():
                # All ranks leave together: rank 0 validates and writes alone at the end, and a rank that
                # destroyed the group early could start a new one (a second train() in the same
                # processes) against keys rank 0 has not released, which hangs in gloo's connect.
                # Bounded on gloo, so a rank that failed alone cannot keep the others waiting for long.
                try:
                    if dist.get_backend() == "gloo":
                        import datetime

                        dist.monitored_barrier(timeout=datetime.timedelta(seconds=120))
                    else:
                        dist.barrier()
                except Exception:  # noqa: BLE001 - a peer already gone: nothing left to wait for
                    pass
                finally:
                    dist.destroy_process_group()
