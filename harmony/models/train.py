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
from pathlib import Path
from typing import Any

import numpy as np

from .. import imageops
from .. import io as hio
from ..dataset import DatasetReader
from ..errors import InputError
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


def train(model: str, data: str | os.PathLike, out: str | os.PathLike, *, preset: str | None = None,
          steps: int | None = None, seed: int = 0, resume: bool = False, overwrite: bool = False,
          batch_size: int | None = None, lr: float | None = None, val_every: int | None = None,
          val_limit: int | None = 64, time_limit: float | None = None, threads: int | None = 1,
          progress: bool = True, on_validation: Callable[[int, dict], None] | None = None,
          extra_data: Mapping[str, Any] | None = None, subsets=None,
          init_from: str | os.PathLike | None = None, device: str = "cpu", precision: str = "32",
          weight_decay: float | None = None, loader_workers: int | None = 0, cache: bool | str | None = None,
          handle_signals: bool = True) -> TrainResult:
    """Train ``model`` with ``preset`` on the dataset ``data``; the checkpoint folder is ``out``.

    ``resume`` continues the checkpoint in ``out`` exactly (same model, preset, seed, batch size and
    process count; every optimizer, the scheduler, the RNG states and the data position are restored);
    without it a non-empty ``out`` is refused unless ``overwrite``. ``time_limit`` (seconds) stops early
    with a checkpoint. ``extra_data`` (``{"unpaired": DIR}`` for SPRIH, ``{"rendered": DIR}`` for
    CharmNet) feeds the network's extra streams; ``subsets`` restricts ``data``. ``init_from`` starts a
    NEW run from the weights of a checkpoint of the same model and architecture (not with ``resume``).
    ``device``: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``; ``precision``: ``32``, ``bf16`` or
    ``16-mixed``; ``weight_decay`` overrides the preset's (0 means 0); ``loader_workers``: DataLoader
    processes (None: all cores; 0: load in this process); ``cache``: True prepares/uses the pre-resized
    cache (``harmony prepare``), a path names the cache folder. Bit-for-bit determinism is promised on
    CPU only. Returns a :class:`~harmony.models.trainer.TrainResult`.
    """
    opts = TrainOptions(model=model, data=str(data), out=str(out), preset=preset, steps=steps, seed=seed, resume=resume,
                        overwrite=overwrite, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                        val_every=val_every, val_limit=val_limit, time_limit=time_limit, threads=threads,
                        progress=progress, on_validation=on_validation, extra_data=extra_data, subsets=subsets,
                        init_from=str(init_from) if init_from is not None else None, device=device,
                        precision=str(precision), loader_workers=loader_workers, cache=cache,
                        handle_signals=handle_signals)
    trainer = Trainer(opts)
    try:
        return trainer.run()
    finally:
        trainer.close()
