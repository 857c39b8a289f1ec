"""``harmony train``'s entry point and the in-memory helpers some studies use.

:func:`train` runs :class:`harmony.models.trainer.Trainer` (streaming data from
:mod:`harmony.models.data`, DDP under ``torchrun``, exact ``--resume``); see those modules.
:func:`load_split` loads a small split into RAM as float32 arrays (studies and tests on sample data; it
is NOT used by training, whose memory does not grow with the dataset).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import imageops
from .. import io as hio
from ..dataset import DatasetReader
from ..errors import InputError
from .data import LABEL_DIR, label_path  # noqa: F401 (LABEL_DIR: public name kept)
from .trainer import (  # noqa: F401
    LOG_NAME,
    PLOT_NAME,
    SKIPPED_NAME,
    Trainer,
    TrainOptions,
    TrainResult,
    _plot,
    _write_log,
    foreground_metrics,
    predict_arrays,
    read_log,
    resolve_device,
    validation_metrics,
)


@dataclass
class TrainData:
    """A split loaded into memory by :func:`load_split`.

    Attributes
    ----------
    composite, real : ndarray, (N, s, s, 3) float32 in [0, 1]
    mask : ndarray, (N, s, s) float32 in {0, 1}
    labels : ndarray, (N, s, s) uint8, or None
        Scene-parsing class ids, 255 = unlabeled (DIH's joint parsing).
    names : list of str
        Sample keys.
    skipped : list of (str, str)
        Samples left out, with the reason.
    """

    composite: np.ndarray
    mask: np.ndarray
    real: np.ndarray
    labels: np.ndarray | None
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        """Label classes present (largest id + 1, 255 ignored); 0 without label maps."""
        if self.labels is None:
            return 0
        valid = self.labels[self.labels != 255]
        return int(valid.max()) + 1 if valid.size else 0


def load_with_real(reader: DatasetReader, sample, skipped: list[tuple[str, str]]):
    """Load a sample's composite, mask and real image, or record why it cannot be used.

    Parameters
    ----------
    reader : harmony.dataset.DatasetReader
    sample : harmony.dataset.Sample
    skipped : list of (str, str)
        ``(key, reason)`` is appended when the sample is left out.

    Returns
    -------
    tuple of ndarray or None
        ``(composite (H, W, 3), mask (H, W), real (H, W, 3))`` float32 in [0, 1] (``reader.load``); None
        when the sample has no ground-truth real image or its files cannot be read.
    """
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
    """Load one split into memory, resized to ``size x size`` (studies and tests on sample data).

    Training does not use this (its memory does not grow with the dataset; see
    :mod:`harmony.models.data`).

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root in the iHarmony4 layout.
    split : {"train", "test"}
    size : int
        Output side: images area-resized when shrinking (bilinear otherwise), masks bilinear then > 0.5,
        label maps nearest.
    limit : int, optional
        At most this many samples.
    with_labels : bool, default False
        Load ``<Sub>/labels/`` maps when any exists.
    subsets : sequence of str, optional
        Only these subsets of ``root``.

    Returns
    -------
    TrainData
        Samples without a ground truth, with mismatched sizes or with an empty mask at ``size`` are
        listed in ``skipped``.
    """
    reader = DatasetReader(root, subsets=subsets)
    samples = reader.samples(split=split)
    if limit is not None:
        samples = samples[:limit]
    comps, masks, reals, labels, names, skipped = [], [], [], [], [], []
    want_labels = with_labels and any(label_path(s) is not None for s in samples)
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
            lp = label_path(s)
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


def train(model: str, data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None,
          steps: int | None = None, seed: int = 0, resume: bool = False, overwrite: bool = False,
          batch_size: int | None = None, lr: float | None = None, val_every: int | None = None,
          val_limit: int | None = 64, time_limit: float | None = None, threads: int | None = 1,
          progress: bool = True, on_validation: Callable[[int, dict], None] | None = None,
          extra_data: Mapping[str, Any] | None = None, subsets=None,
          init_from: str | os.PathLike | None = None, device: str = "cpu", precision: str = "32",
          weight_decay: float | None = None, loader_workers: int | None = 0, cache: bool | str | None = None,
          handle_signals: bool = True, split: str = "train") -> TrainResult:
    """Train a model with a preset on a dataset; the checkpoint folder is ``out`` (``harmony train``).

    Parameters
    ----------
    model : str
        ``dih``, ``bargainnet``, ``rcl``, ``sprih`` or ``charmnet``.
    data : str or os.PathLike
        Dataset root in the iHarmony4 layout (``<Sub>/<Sub>_train.txt`` and ``_test.txt``).
    out : str or os.PathLike
        Checkpoint folder (``config.json``, ``weights.pt``, ``training_state.pt``, ``train_log.csv``,
        ``loss_plot.png``).
    preset : str, optional
        Default: the model's ``_tiny`` preset.
    steps, batch_size, lr, val_every, weight_decay : optional
        Override the preset's (``weight_decay=0`` means 0).
    seed : int, default 0
        Fixes initialisation, batches and augmentation.
    resume : bool, default False
        Continue the checkpoint in ``out`` exactly (same model, preset, seed, batch size and process count;
        optimizers, scheduler, RNG states and data position restored).
    overwrite : bool, default False
        Without it a non-empty ``out`` is refused.
    val_limit : int, optional, default 64
        Test images scored at each validation.
    time_limit : float, optional
        Seconds; stops early with a checkpoint.
    threads : int, optional, default 1
        ``torch.set_num_threads``.
    progress : bool, default True
    on_validation : callable, optional
        ``on_validation(step, metrics)`` after each validation (rank 0).
    extra_data : mapping, optional
        ``{"unpaired": DIR}`` (SPRIH's stream 2) or ``{"rendered": DIR}`` (CharmNet).
    subsets : sequence of str, optional
        Restrict ``data`` to these subsets.
    init_from : str or os.PathLike, optional
        Start a new run from the weights of a checkpoint of the same model and architecture.
    device : str, default "cpu"
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    precision : {"32", "bf16", "16-mixed"}
    loader_workers : int, optional, default 0
        DataLoader processes (None: all cores; 0: in this process).
    cache : bool or str, optional
        True prepares/uses the pre-resized cache (``harmony prepare``); a path names the cache folder.
    handle_signals : bool, default True
        SIGINT/SIGTERM stop after the current step with a checkpoint.

    Returns
    -------
    harmony.models.trainer.TrainResult

    Raises
    ------
    harmony.errors.InputError
        Bad options, a subset without split files (unless ``split="all"``), no training pair, another model's checkpoint in ``out``, CUDA unavailable, divergence.

    Notes
    -----
    On CPU the same command gives the same weights bit for bit, and ``n`` straight steps equal ``n/2``
    steps plus ``resume`` to ``n``. Under ``torchrun`` each process is one DDP rank (gloo on CPU, nccl on
    CUDA) and rank 0 alone writes.

    References
    ----------
    .. [1] PyTorch documentation, "DistributedDataParallel" and "torchrun (Elastic Launch)"
       (https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html,
       https://pytorch.org/docs/stable/elastic/run.html).

    Examples
    --------
    >>> from harmony.models.train import train
    >>> result = train("dih", "demo_out/data", "checkpoints/dih", preset="dih_tiny",
    ...                steps=20)  # doctest: +SKIP
    >>> result.steps  # doctest: +SKIP
    20
    """
    opts = TrainOptions(model=model, data=str(data), out=str(out), preset=preset, steps=steps, seed=seed, resume=resume,
                        overwrite=overwrite, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                        val_every=val_every, val_limit=val_limit, time_limit=time_limit, threads=threads,
                        progress=progress, on_validation=on_validation, extra_data=extra_data, subsets=subsets,
                        init_from=str(init_from) if init_from is not None else None, device=device,
                        precision=str(precision), loader_workers=loader_workers, cache=cache,
                        handle_signals=handle_signals, split=split)
    trainer = Trainer(opts)
    try:
        return trainer.run()
    finally:
        trainer.close()
