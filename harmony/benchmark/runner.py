"""Run methods over an iHarmony4-layout dataset and score them under a named protocol (the bench runner).

``run_bench(BenchConfig(...))`` is what ``harmony bench`` calls. One work unit is one test image: it is
decoded once, brought to each evaluation size by the protocol's resize rule, and every method still to
do for it is run and scored with the one metric core (:mod:`harmony.benchmark.metrics`). Results stream
back to this process, which appends each finished row to ``OUT/cache/results.jsonl``.

Learned methods in batches. With ``device="cuda"`` or ``batch_size`` > 1, the learned methods do not run
image by image in the worker processes: this process runs each of them on the device over batches of
images whose network input has the same shape (grouped by the evaluation size, or by the image size at
``full``), and scores every prediction on the CPU with the same float64 metric core. On the CPU the rows
equal those of the image-by-image path within 1e-6 relative (a batch's float32 convolutions may round
the last bits differently); the batch size is not part of any cache key.

Cache key. A row is keyed by the sha256 of: the method's *fingerprint* (its card, its effective
options, the sha256 of its weights for learned methods, the tool version; the device where it is not
the CPU), the protocol's full definition, the size, the input files' identity (path, byte size and
modification time of the composite, mask and real image) and the LPIPS/SSIM switches. New weights, a
changed card or option, a new harmony version or edited inputs are therefore recomputed, never served
from the cache.

Union. ``run.json`` records every method benched into the folder with its fingerprint. Running again
with other ``--models`` *adds* to the results: the tables are rebuilt from the rows of every method the
folder holds (the earlier ones read back from the cache under their recorded fingerprints). A method
re-run with other weights replaces its earlier rows (said in the notes). Nothing is silently dropped.

Failures never stop a run: an input that is missing or unreadable is *skipped* (listed with its reason);
a method that raises or returns something other than a float32 (H, W, 3) image in [0, 1] is recorded as
a *failure* for that image (the row keeps NaN metrics and the error). Learned methods without a
checkpoint become a "no checkpoint" row in every table.

Low-resolution-only methods (``card.low_res_only``) are run at their native size (a learned method's
comes from its checkpoint's config; otherwise ``card.native_size``, default 256) and upsampled bilinearly
to the evaluation size before scoring (SPRIH, Wang et al. CVPR 2023, Table 1). For a method whose card
says it keeps the background, the evaluation-size composite's background is kept exactly after the
upsampling (the method itself pastes its prediction into the foreground; a resampled background would be
an artefact of the harness, not of the method).

Aggregation is :mod:`harmony.benchmark.rows` (pure); the files are written by
:mod:`harmony.benchmark.report`, which imports nothing from here. The gallery shows predictions this
runner saved when it computed them.

References
----------
.. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020: the
       iHarmony4 dataset layout and its ``evaluation.py`` (MSE, PSNR, fMSE on 256 x 256 images).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, imageops, serialize
from .. import io as hio
from ..dataset import DatasetReader, Sample, has_split_lists, select_split
from ..errors import InputError, MissingWeightsError
from ..parallel import map_units
from ..registry import METHODS, Card
from . import metrics
from .rows import (  # noqa: F401 (public here too)
    METRIC_COLUMNS,
    ROW_COLUMNS,
    BenchResult,
    GalleryEntry,
    MethodPlan,
    aggregate,
    bucket_rows,
    select_gallery,
    summarize,
)

CACHE_FILE = "cache/results.jsonl"
#: images per forward pass of a learned method on a GPU when ``BenchConfig.batch_size`` is not given
CUDA_BATCH_SIZE = 16


@dataclass
class BenchConfig:
    """The settings of one bench run (``harmony bench``'s options).

    Parameters
    ----------
    out : Path
        Output folder (tables, plots, gallery, ``cache/``).
    data : Path or None
        Dataset in the iHarmony4 layout; ``None``: the embedded sample dataset (:func:`sample_dataset`).
    models : sequence of str
        ``"all"``, registered method names (comma-separated or separate) or ``module:attr`` plugins.
    protocol : str
        Metric protocol name (:func:`harmony.benchmark.metrics.get_protocol`).
    sizes : int, str or sequence
        Evaluation sizes (:func:`parse_sizes`): square sides or ``"full"``.
    subsets : sequence of str or None
        Subsets to read (``None``: every subset found).
    split : str or None
        ``"test"``, ``"train"`` or ``None`` (every image).
    limit : int or None
        First N images of each subset.
    weights : Path or None
        Checkpoint folder for learned methods.
    workers, scheduler
        Worker processes / Dask scheduler for the per-image units (:func:`harmony.parallel.map_units`).
    progress : bool
        Show a progress bar.
    gallery : int or str
        ``gallery.html`` rows: ``"auto"`` (every image when the run keeps every prediction, at most 4,000
        image x method pairs, else the 50 best and 50 worst), ``"all"``, N (the N best and N worst by mean
        fMSE) or 0 (no gallery).
    announce : callable or None
        Called with one line before any image is scored (methods without a checkpoint).
    save_outputs : bool
        Save every method output under ``OUT/outputs`` (always done for sets without ground truth).
    lpips : str or None
        LPIPS weights folder or file; ``None``: ``$HARMONY_LPIPS_WEIGHTS`` if set.
    overwrite : bool
        Replace a folder holding another kind of run.
    seed : int
        Seed of the bootstrap intervals in the reports.
    plots : bool
        Draw the matplotlib figures.
    ssim : bool or None
        Compute SSIM/fSSIM; ``None``: only where the protocol defines them (cdtnet, pctnet).
    device : str
        Torch device of the learned methods: ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
    batch_size : int or None
        Images per forward pass of the learned methods. ``None``: 1 on the CPU (image by image, in the
        worker processes), :data:`CUDA_BATCH_SIZE` on a GPU. Results do not depend on it beyond float32
        rounding (< 1e-6 relative).
    """

    out: Path
    data: Path | None = None
    models: Sequence[str] = ("all",)
    protocol: str = "iharm"
    sizes: Sequence[Any] = (256,)
    subsets: Sequence[str] | None = None
    split: str | None = "test"
    limit: int | None = None
    weights: Path | None = None
    workers: int | None = None
    scheduler: Any = None
    progress: bool = True
    gallery: int | str = "auto"
    announce: Callable[[str], None] | None = None
    save_outputs: bool = False
    lpips: str | None = None
    overwrite: bool = False
    seed: int = 0
    plots: bool = True
    ssim: bool | None = None
    device: str = "cpu"
    batch_size: int | None = None


# --------------------------------------------------------------------------------------------------
# methods


def check_device(device: str) -> str:
    """Validate ``--device`` before any work.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    str
        The device name, lower case (``"cpu"`` is returned without importing torch).

    Raises
    ------
    harmony.errors.InputError
        For another name, or a CUDA device where torch sees none (one line, no traceback).
    """
    name = str(device or "cpu").strip().lower()
    if name == "cpu":
        return name
    if not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise InputError(f"--device {device}: expected cpu, cuda or cuda:N")
    from ..models.trainer import resolve_device

    resolve_device(name)        # InputError where CUDA is not available or the index is out of range
    return name


def bench_batch_size(device: str, batch_size: int | None) -> int:
    """Images per forward pass of a learned method in a bench run.

    Parameters
    ----------
    device : str
        ``"cpu"`` or a CUDA device.
    batch_size : int or None
        ``--batch-size``; ``None`` picks the default.

    Returns
    -------
    int
        ``batch_size`` if given, else 1 on the CPU and :data:`CUDA_BATCH_SIZE` on a GPU.

    Raises
    ------
    harmony.errors.InputError
        For a batch size below 1.
    """
    if batch_size is None:
        return 1 if device == "cpu" else CUDA_BATCH_SIZE
    if int(batch_size) < 1:
        raise InputError(f"--batch-size: expected a number >= 1, got {batch_size}")
    return int(batch_size)


def resolve_methods(models: Sequence[str], weights: str | os.PathLike | None = None,
                    device: str = "cpu") -> list[MethodPlan]:
    """The methods of a run, each with its status and fingerprint.

    Parameters
    ----------
    models : sequence of str
        ``"all"``, registered names (comma-separated or separate) or ``package.module:attr`` specs.
    weights : str, os.PathLike or None
        Checkpoint folder of the learned methods (``None``: each model's default folder).
    device : str
        Torch device the learned methods are loaded on.

    Returns
    -------
    list of MethodPlan
        In the order given, duplicates removed. A learned method without a checkpoint has status
        ``"no checkpoint"``, one whose loading raises ``"unavailable"`` (with the one-line reason).

    Raises
    ------
    harmony.errors.InputError
        For an unknown name (listing the valid ones) or when no method is given.
    """
    names: list[str] = []
    for spec in models:
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                names += METHODS.names()
            else:
                names.append(METHODS.resolve_spec(part))
    unique = list(dict.fromkeys(names))
    if not unique:
        raise InputError("--models: no method given (use 'all' or names; see `harmony list methods`)")
    weights_text = str(weights) if weights else None
    plans = []
    for name in unique:
        card = METHODS.card(name)
        plan = MethodPlan(name, card)
        if card.learned:
            try:
                _method_instance(name, weights_text, device)
            except MissingWeightsError as exc:
                plan.status, plan.message = "no checkpoint", str(exc).splitlines()[0]
            except Exception as exc:  # noqa: BLE001 - a broken model becomes a row saying so
                plan.status, plan.message = "unavailable", f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        if plan.runnable:
            _fingerprint(plan, weights_text, device)
        plans.append(plan)
    return plans


_OPTION_ATTRS = ("size", "paste", "upsample", "batch_size")


def _fingerprint(plan: MethodPlan, weights: str | None, device: str = "cpu") -> None:
    """Set ``plan.fingerprint``: sha256 of the card, the effective options, the weights' sha256 and the
    tool version (a learned method's checkpoint is loaded once here, then reused by the workers).

    The options are those of the harmonizer as the registry creates it (its own ``batch_size`` included,
    not the bench's ``--batch-size``). A device other than the CPU is an option too: a GPU's rows are
    not served to a CPU run, nor the other way round."""
    options: dict[str, Any] = {}
    sha = None
    if plan.card.learned:
        harmonizer = _method_instance(plan.name, weights, device)
        config = getattr(harmonizer, "config", None) or {}
        sha = config.get("sha256")
        folder = getattr(harmonizer, "checkpoint", None)
        if not sha and folder and (Path(folder) / "weights.pt").is_file():
            sha = hio.sha256_file(Path(folder) / "weights.pt")
        options = {attr: getattr(harmonizer, attr) for attr in _OPTION_ATTRS if hasattr(harmonizer, attr)}
        options["native_size"] = _native_size(harmonizer, plan.card)
        if device != "cpu":
            options["device"] = device
    plan.weights_sha256 = sha
    plan.options = options
    payload = {"card": plan.card.as_dict() if hasattr(plan.card, "as_dict") else str(plan.card),
               "options": options, "weights_sha256": sha, "harmony": __version__}
    plan.fingerprint = hashlib.sha256(serialize.dumps(payload, sort_keys=True).encode()).hexdigest()


def _native_size(harmonizer: Any, card: Any) -> int:
    """The side a low-resolution method runs at: the checkpoint's (a learned method's ``native_size`` or
    ``size``), else the card's ``native_size``, else 256."""
    for attr in ("native_size", "size"):
        value = getattr(harmonizer, attr, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return int(card.native_size or 256)


_INSTANCES: dict[tuple[str, str | None, str], Any] = {}


def _method_instance(name: str, weights: str | None, device: str = "cpu") -> Any:
    """One harmonizer per (method, weights, device) per process (models are loaded once per worker)."""
    key = (name, weights, device)
    if key not in _INSTANCES:
        card = METHODS.card(name)
        if not card.learned:
            _INSTANCES[key] = METHODS.create(name)
        elif device == "cpu":
            _INSTANCES[key] = METHODS.create(name, weights=weights)
        else:
            _INSTANCES[key] = METHODS.create(name, weights=weights, device=device)
    return _INSTANCES[key]


def check_output(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Check a method's output against the Harmonizer contract.

    Parameters
    ----------
    out : object
        What the method returned.
    shape : tuple of int
        The expected shape, ``(H, W, 3)`` of its input.

    Returns
    -------
    ndarray, shape (H, W, 3), float32 in [0, 1]
        ``out`` itself.

    Raises
    ------
    ValueError
        Naming what is wrong: not an array, another shape or dtype, non-finite values or values outside
        [0, 1]. The runner records it as that image's failure.
    """
    if not isinstance(out, np.ndarray):
        raise ValueError(f"bad output: expected a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"bad output: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != np.float32:
        raise ValueError(f"bad output: expected float32, got {out.dtype}")
    low, high = float(out.min()), float(out.max())   # NaN propagates into min/max
    if not (low >= 0.0 and high <= 1.0):
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError("bad output: non-finite values")
        raise ValueError(f"bad output: values outside [0, 1] ([{low:.4g}, {high:.4g}])")
    return out


# --------------------------------------------------------------------------------------------------
# one unit = one image, every method and size still to do


def protocol_fingerprint(protocol: metrics.Protocol) -> str:
    """The sha256 of a protocol's full definition (a changed rule is a changed cache key).

    Parameters
    ----------
    protocol : harmony.benchmark.metrics.Protocol

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    return hashlib.sha256(serialize.dumps(dataclasses.asdict(protocol), sort_keys=True).encode()).hexdigest()


def input_identity(sample: Sample, paired: bool = True) -> str:
    """The identity of an image's input files, part of its cache keys.

    Parameters
    ----------
    sample : harmony.dataset.Sample
        One image of the dataset.
    paired : bool
        Include the real (ground-truth) image.

    Returns
    -------
    str
        ``subset/name`` plus, per file (composite, mask, real), its name, byte size and modification time
        in ns (``name:missing`` for a missing file): edited or regenerated inputs get new keys.
    """
    parts = [sample.key]
    files = [sample.composite, sample.mask] + ([sample.real] if (paired and sample.real is not None) else [])
    for path in files:
        try:
            stat = os.stat(path)
            parts.append(f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            parts.append(f"{Path(path).name}:missing")
    return "|".join(parts)


def cache_key(method_fingerprint: str, protocol_fp: str, size: Any, inputs: str, lpips: bool, ssim: bool) -> str:
    """The cache key of one row: the sha256 of everything its value depends on (module docstring).

    Parameters
    ----------
    method_fingerprint : str
        ``MethodPlan.fingerprint``.
    protocol_fp : str
        :func:`protocol_fingerprint`.
    size : int or str
        Evaluation size.
    inputs : str
        :func:`input_identity`.
    lpips, ssim : bool
        Whether the row holds LPIPS / SSIM values.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = f"{method_fingerprint}|{protocol_fp}|{size}|{inputs}|lpips={int(bool(lpips))}|ssim={int(bool(ssim))}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Unit:
    key: str
    subset: str
    name: str
    composite: str
    mask: str
    real: str | None
    extra_inputs: dict
    todo: list            # [(method, size), ...]


@dataclass
class _Context:
    protocol: str
    weights: str | None
    lpips: str | None
    save_dir: str | None        # save outputs here (None = do not)
    primary_size: Any
    thumb_dir: str | None = None  # gallery thumbnails (JPEG) of every output at the primary size
    ssim: bool | None = None
    fingerprints: dict = field(default_factory=dict)   # method -> fingerprint (thumbnail folders)
    device: str = "cpu"
    batch_size: int = 1


_LPIPS: dict[str, Any] = {}


def _lpips_model(path: str):
    if path not in _LPIPS:
        from .lpips import LPIPS

        _LPIPS[path] = LPIPS.from_env(path)
    return _LPIPS[path]


class _InputSkip(Exception):
    pass


def _unit_of(sample: Sample, paired_subsets: Sequence[str], todo: list) -> _Unit:
    """The work unit of one dataset image (paths as strings: units travel to worker processes)."""
    real = str(sample.real) if (sample.real and sample.subset in paired_subsets) else None
    return _Unit(sample.key, sample.subset, sample.name, str(sample.composite), str(sample.mask), real,
                 _extra_paths(sample), todo)


def load_inputs(unit: _Unit) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decode one unit's composite, mask and real image and check that their sizes agree.

    Parameters
    ----------
    unit : _Unit
        The work unit (file paths of one image).

    Returns
    -------
    composite : ndarray, shape (H, W, 3), uint8
    mask : ndarray, shape (H, W), float32 in [0, 1]
    real : ndarray, shape (H, W, 3), uint8, or None
        ``None`` for a set without ground truth.

    Raises
    ------
    _InputSkip
        With the one-line reason: a file that cannot be decoded, or a mask / real image whose size differs
        from the composite's. The runner lists the image as skipped.
    """
    try:
        composite = hio.read_image_uint8(unit.composite)
        mask = hio.read_mask(unit.mask)
        real = hio.read_image_uint8(unit.real) if unit.real else None
    except InputError as exc:
        raise _InputSkip(str(exc).splitlines()[0]) from None
    if mask.shape != composite.shape[:2]:
        raise _InputSkip(f"{unit.mask}: mask size {mask.shape[1]}x{mask.shape[0]} differs from the composite "
                         f"{composite.shape[1]}x{composite.shape[0]}")
    if real is not None and real.shape != composite.shape:
        raise _InputSkip(f"{unit.real}: real image size {real.shape[1]}x{real.shape[0]} differs from the "
                         f"composite {composite.shape[1]}x{composite.shape[0]}")
    return composite, mask, real


def _extra_inputs(unit: _Unit, card: Any, shape: tuple[int, int]) -> dict:
    """The extra inputs ``card.inputs`` names, read from the unit's files at ``shape`` (H, W)."""
    extra = {}
    for name in card.inputs:
        path = unit.extra_inputs.get(name)
        if not path:
            raise ValueError(f"needs the extra input {name!r}, which this dataset does not provide")
        img = hio.read_image(path)
        if img.shape[:2] != shape:
            import cv2

            img = np.clip(cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), 0, 1)
        extra[name] = img
    return extra


def _method_input(protocol: metrics.Protocol, harmonizer: Any, card: Any, composite_u8: np.ndarray,
                  mask: np.ndarray, prepared: metrics.Prepared) -> tuple[metrics.Prepared, bool]:
    """The input a method sees: the evaluation-size image, or the image at the method's native side for a
    low-resolution-only method (second value True: its output is upsampled afterwards)."""
    native = _native_size(harmonizer, card)
    low = card.low_res_only and prepared.composite.shape[:2] != (native, native)
    return (protocol.prepare(composite_u8, mask, None, native) if low else prepared), low


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: the arrays are shared with the scoring, so a method must not modify them."""
    view = array.view()
    view.flags.writeable = False
    return view


def _finish_output(protocol: metrics.Protocol, card: Any, out: Any, method_input: metrics.Prepared,
                   prepared: metrics.Prepared, low: bool) -> np.ndarray:
    """Check a method's output and bring it to the evaluation size (upsampled for a low-resolution run,
    with the composite's background kept exactly when the card says the method keeps it)."""
    out = check_output(out, method_input.composite.shape)
    if low:
        out = protocol.upsample(out, prepared.composite.shape[:2])
        if card.keeps_background:
            # the method pasted its prediction into the foreground at its side; keep that property at
            # the evaluation size (bit-exact background outside the mask)
            out = imageops.blend(out, prepared.composite, prepared.mask)
    return out


def run_method(protocol: metrics.Protocol, name: str, card: Any, weights: str | None, comp_u8: np.ndarray,
               mask: np.ndarray, size: Any, prepared: metrics.Prepared, unit: _Unit | None = None,
               device: str = "cpu") -> tuple[np.ndarray, float]:
    """Run one method on one prepared image.

    Parameters
    ----------
    protocol : harmony.benchmark.metrics.Protocol
        The protocol whose resize rule made ``prepared`` (used again for a low-resolution method).
    name : str
        Registered method name.
    card : harmony.registry.Card
        The method's card (``low_res_only``, ``keeps_background``, ``inputs``).
    weights : str or None
        Checkpoint folder of a learned method.
    comp_u8 : ndarray, shape (H0, W0, 3), uint8
        The composite as decoded.
    mask : ndarray, shape (H0, W0), float32 in [0, 1]
        Its foreground mask.
    size : int or str
        Evaluation size (kept for callers; ``prepared`` is already at it).
    prepared : harmony.benchmark.metrics.Prepared
        Composite and mask at the evaluation size.
    unit : _Unit or None
        The unit, for methods that declare extra inputs.
    device : str
        Torch device of a learned method.

    Returns
    -------
    output : ndarray, shape (H, W, 3), float32 in [0, 1]
        The prediction at the evaluation size.
    milliseconds : float
        Wall-clock time of the method call alone.

    Raises
    ------
    Exception
        Whatever the method raises, and ValueError for an output that breaks the contract
        (:func:`check_output`).
    """
    harmonizer = _method_instance(name, weights, device)
    method_input, low = _method_input(protocol, harmonizer, card, comp_u8, mask, prepared)
    extra = _extra_inputs(unit, card, method_input.composite.shape[:2]) if (card.inputs and unit) else {}
    start = time.perf_counter()
    try:
        out = harmonizer(_read_only(method_input.composite), _read_only(method_input.mask), **extra)
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        # a method that modifies its input in place is simply given copies
        start = time.perf_counter()
        out = harmonizer(method_input.composite.copy(), method_input.mask.copy(), **extra)
    milliseconds = (time.perf_counter() - start) * 1000.0
    return _finish_output(protocol, card, out, method_input, prepared, low), milliseconds


def _error_text(exc: BaseException) -> str:
    """The one-line error a failed row keeps (at most 300 characters)."""
    return (f"{exc.__class__.__name__}: {exc}".splitlines() or ["error"])[0][:300]


def _new_row(ctx: _Context, unit: _Unit, name: str, size: Any, prepared: metrics.Prepared) -> dict[str, Any]:
    """A row before its method ran: identity, foreground ratio and the evaluation-size shape."""
    height, width = prepared.mask.shape
    return {"method": name, "subset": unit.subset, "composite": unit.name, "size": size,
            "protocol": ctx.protocol, "fg_ratio": metrics.fg_ratio(prepared.mask), "height": height,
            "width": width, "error": ""}


def _score_output(ctx: _Context, protocol: metrics.Protocol, row: dict, unit: _Unit, prepared: metrics.Prepared,
                  out: np.ndarray, lpips_model: Any) -> None:
    """Score one method output into ``row`` with the float64 metric core (on the CPU), and save the
    output / its gallery thumbnail at the primary size when the run keeps them."""
    name, size = row["method"], row["size"]
    prediction = protocol.prediction(out)
    row["bg_drift"] = metrics.background_drift(prediction, prepared.composite255, prepared.mask)
    if prepared.real is not None:
        row.update(protocol.score(prediction, prepared.real, prepared.mask, ssim=ctx.ssim))
        if lpips_model is not None:
            row["lpips"] = lpips_model(prediction / 255.0, prepared.real / 255.0)
    if ctx.save_dir and size == ctx.primary_size:
        path = Path(ctx.save_dir) / name / unit.subset / (Path(unit.name).stem + ".png")
        hio.write_image(path, out)
    if ctx.thumb_dir and size == ctx.primary_size:
        hio.write_image(thumb_path(ctx.thumb_dir, name, ctx.fingerprints.get(name, ""), unit.subset, unit.name),
                        out, quality=90)


def score_unit(ctx: _Context, unit: _Unit) -> dict:
    """Run and score every (method, size) of one unit: the worker function of :func:`run_bench`.

    Parameters
    ----------
    ctx : _Context
        The run's settings (protocol name, weights, LPIPS, output folders).
    unit : _Unit
        One image and the (method, size) pairs still to do for it.

    Returns
    -------
    dict
        ``{"rows": [row, ...]}`` (one row per pair; a failed method keeps NaN metrics and ``error``), or
        ``{"skipped": reason, "rows": []}`` when the inputs cannot be read.
    """
    protocol = metrics.get_protocol(ctx.protocol)
    try:
        comp_u8, mask, real_u8 = load_inputs(unit)
    except _InputSkip as exc:
        return {"skipped": str(exc), "rows": []}
    rows = []
    lpips_model = _lpips_model(ctx.lpips) if (ctx.lpips and real_u8 is not None) else None
    for size in dict.fromkeys(size for _name, size in unit.todo):
        prepared = protocol.prepare(comp_u8, mask, real_u8, size)
        for name, todo_size in unit.todo:
            if todo_size != size:
                continue
            row = _new_row(ctx, unit, name, size, prepared)
            try:
                card = METHODS.card(name)
                out, row["time_ms"] = run_method(protocol, name, card, ctx.weights, comp_u8, mask, size, prepared,
                                                 unit, ctx.device)
                _score_output(ctx, protocol, row, unit, prepared, out, lpips_model)
            except Exception as exc:  # noqa: BLE001 - recorded per image; the run goes on
                row["error"] = _error_text(exc)
            rows.append(row)
    return {"rows": rows}


# --------------------------------------------------------------------------------------------------
# learned methods in batches (--device cuda, --batch-size N)


@dataclass
class _Batch:
    """Images for one learned method at one size whose network inputs share a shape."""

    method: str
    size: Any
    units: list
    key: str = ""             # unique in the run: method@size#n


def _batch_group(unit: _Unit, size: Any) -> tuple:
    """The group of a unit in the batched pass: images at a fixed evaluation size all reach a network at
    one shape; at ``full`` the image's own size decides (read from the header, no decoding)."""
    if size != "full":
        return ()
    try:
        return tuple(hio.image_size(unit.composite))
    except Exception:  # noqa: BLE001 - an unreadable file is skipped when the batch decodes it
        return ("unreadable",)


def _plan_batches(units_by_pair: dict[tuple[str, Any], list[_Unit]], batch_size: int) -> list[_Batch]:
    """Batches of at most ``batch_size`` images, per (method, size), images grouped by network input."""
    batches = []
    for (method, size), units in units_by_pair.items():
        groups: dict[tuple, list[_Unit]] = {}
        for unit in units:
            groups.setdefault(_batch_group(unit, size), []).append(unit)
        for group in groups.values():
            for start in range(0, len(group), batch_size):
                batches.append(_Batch(method, size, group[start:start + batch_size],
                                      f"{method}@{size}#{len(batches)}"))
    return batches


def _call_batch(harmonizer: Any, composites: list[np.ndarray], masks: list[np.ndarray],
                batch_size: int) -> list[Any]:
    """One forward pass (or a few) over same-shaped inputs: ``harmonize_batch`` where the method has one."""
    from ..models.adapter import TorchHarmonizer

    if isinstance(harmonizer, TorchHarmonizer):
        return harmonizer.harmonize_batch(composites, masks, batch_size=batch_size)
    if hasattr(harmonizer, "harmonize_batch"):
        return list(harmonizer.harmonize_batch(composites, masks))
    return [harmonizer(composite, mask) for composite, mask in zip(composites, masks)]


def score_batch(ctx: _Context, batch: _Batch) -> dict:
    """Run one learned method on a batch of images on ``ctx.device`` and score each output on the CPU.

    Parameters
    ----------
    ctx : _Context
        The run's settings (``device``, ``batch_size`` included).
    batch : _Batch
        One method, one size, up to ``ctx.batch_size`` images.

    Returns
    -------
    dict
        ``{"rows": [...], "skipped": [(key, reason), ...]}``. The rows equal those :func:`score_unit`
        gives image by image (within 1e-6 relative on the CPU); a batch whose forward pass raises is run
        again image by image, so each failure is recorded on its own image.
    """
    protocol = metrics.get_protocol(ctx.protocol)
    card = METHODS.card(batch.method)
    harmonizer = _method_instance(batch.method, ctx.weights, ctx.device)
    items, skipped = [], []
    for unit in batch.units:
        try:
            comp_u8, mask, real_u8 = load_inputs(unit)
        except _InputSkip as exc:
            skipped.append((unit.key, str(exc)))
            continue
        prepared = protocol.prepare(comp_u8, mask, real_u8, batch.size)
        method_input, low = _method_input(protocol, harmonizer, card, comp_u8, mask, prepared)
        lpips_model = _lpips_model(ctx.lpips) if (ctx.lpips and real_u8 is not None) else None
        items.append((unit, comp_u8, mask, prepared, method_input, low, lpips_model))
    outputs: list[Any] | None = None
    if items and not card.inputs:
        start = time.perf_counter()
        try:
            outputs = _call_batch(harmonizer, [_read_only(item[4].composite) for item in items],
                                  [_read_only(item[4].mask) for item in items], ctx.batch_size)
            milliseconds = (time.perf_counter() - start) * 1000.0 / len(items)
        except Exception:  # noqa: BLE001 - run image by image below: each failure on its own row
            outputs = None
    rows = []
    for index, (unit, comp_u8, mask, prepared, method_input, low, lpips_model) in enumerate(items):
        row = _new_row(ctx, unit, batch.method, batch.size, prepared)
        try:
            if outputs is None:
                out, row["time_ms"] = run_method(protocol, batch.method, card, ctx.weights, comp_u8, mask,
                                                 batch.size, prepared, unit, ctx.device)
            else:
                out = _finish_output(protocol, card, outputs[index], method_input, prepared, low)
                row["time_ms"] = milliseconds
            _score_output(ctx, protocol, row, unit, prepared, out, lpips_model)
        except Exception as exc:  # noqa: BLE001 - recorded per image; the run goes on
            row["error"] = _error_text(exc)
        rows.append(row)
    return {"rows": rows, "skipped": skipped}


# --------------------------------------------------------------------------------------------------
# the run


def sample_dataset(workers: int | None = None, progress: bool = True) -> Path:
    """The embedded sample dataset: the coco generator run once on the sample photos, cached.

    Parameters
    ----------
    workers : int or None
        Worker processes of the generator (first use only).
    progress : bool
        Show the generator's progress bar.

    Returns
    -------
    Path
        ``<cache>/bench_sample``, built with the library's generator (``GENERATORS["coco"]``) on first
        use, in the iHarmony4 layout with split lists.

    Raises
    ------
    harmony.errors.InputError
        When the coco generator is not registered.
    """
    from ..datagen.samples import cache_dir
    from ..registry import GENERATORS

    root = cache_dir() / "bench_sample"
    if has_split_lists(root):   # False for a cache in the old layout: the generator resumes and rewrites it
        return root
    if "coco" not in GENERATORS:
        raise InputError("no --data given and the coco generator is not available to build the embedded "
                         "sample dataset; pass --data DIR")
    GENERATORS.factory("coco")(root, workers=workers, progress=progress)
    return root


def parse_sizes(sizes: Any) -> list:
    """Parse ``--size``.

    Parameters
    ----------
    sizes : int, str or sequence
        ``"256,512"``, ``[256]``, ``"full"`` (also ``"none"`` / ``"0"``: no resize).

    Returns
    -------
    list
        Positive ints and ``"full"``, duplicates removed, in the order given: ``[256, 512]``,
        ``[256]``, ``["full"]``.

    Raises
    ------
    harmony.errors.InputError
        For a value that is neither a positive integer nor ``full``, or no value at all.

    Examples
    --------
    >>> parse_sizes("256, 512,256")
    [256, 512]
    >>> parse_sizes("full")
    ['full']
    """
    if isinstance(sizes, (int, str)):
        sizes = str(sizes).split(",")
    out = []
    for text in sizes:
        text = str(text).strip().lower()
        if not text:
            continue
        if text in ("full", "none", "0"):
            out.append("full")
            continue
        try:
            value = int(text)
        except ValueError:
            raise InputError(f"--size: expected integers or 'full' separated by commas, got {text!r}") from None
        if value <= 0:
            raise InputError(f"--size: expected a positive size, got {value}")
        out.append(value)
    if not out:
        raise InputError("--size: no size given")
    return list(dict.fromkeys(out))


def _read_cache(path: Path) -> dict[str, dict]:
    """The cached rows of a folder, ``{key: row}`` (lines cut by an interruption are ignored)."""
    cache: dict[str, dict] = {}
    if not path.is_file():
        return cache
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
                cache[record["key"]] = record["row"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return cache


_NUMERIC = set(METRIC_COLUMNS) | {"fg_ratio", "se", "mask_area", "time_ms"}


def _unjson_row(row: dict) -> dict:
    """A cached row back from JSON: ``null`` metrics (the one NaN policy) are NaN again."""
    return {key: (serialize.float_or_nan(value) if key in _NUMERIC and (value is None or isinstance(value, str))
                  else value)
            for key, value in row.items()}


def _read_run_json(out: Path) -> dict | None:
    """The folder's ``run.json`` (``None`` when there is none, ``{}`` when it cannot be read)."""
    run_json = out / "run.json"
    if not run_json.is_file():
        return None
    try:
        return json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _check_run_json(cfg: BenchConfig, out: Path, sizes: list, data: Path) -> dict:
    """Refuse a folder holding another kind of run; return the earlier run.json ({} if none)."""
    current = {"protocol": cfg.protocol, "sizes": sizes, "data": str(data)}
    previous = _read_run_json(out)
    if previous is not None and not cfg.overwrite:
        for key in ("protocol", "sizes", "data"):
            if previous.get(key) is not None and previous.get(key) != current[key]:
                raise InputError(f"{out}: holds a bench run with {key} {previous.get(key)!r} (now {current[key]!r}); "
                                 "use --overwrite to replace its reports or choose another --out")
        return previous
    if previous is None and out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise InputError(f"{out}: folder is not empty and holds no bench run.json; use --overwrite or "
                         "choose another --out")
    return {}


def _write_run_json(out: Path, cfg: BenchConfig, sizes: list, data: Path, plans: list[MethodPlan]) -> None:
    """Record the run's protocol, sizes, data and every method with its fingerprint (``run.json``)."""
    methods = {plan.name: {"status": plan.status, "message": plan.message, "fingerprint": plan.fingerprint,
                           "weights_sha256": plan.weights_sha256, "options": plan.options} for plan in plans}
    hio.atomic_write_text(out / "run.json", serialize.dumps(
        {"protocol": cfg.protocol, "sizes": sizes, "data": str(data), "tool": "harmony bench",
         "harmony": __version__, "methods": methods}))


def _union_plans(plans: list[MethodPlan], previous: dict, notes: list[str]) -> list[MethodPlan]:
    """This run's methods plus every method an earlier run into the folder benched (module docstring)."""
    earlier = previous.get("methods") or {}
    names = {plan.name for plan in plans}
    for plan in plans:
        old = earlier.get(plan.name)
        if old and plan.runnable and old.get("fingerprint") and old.get("fingerprint") != plan.fingerprint:
            what = ("weights sha256 " + str(old.get("weights_sha256"))[:12] + " -> " + str(plan.weights_sha256)[:12]
                    if old.get("weights_sha256") != plan.weights_sha256 else "card, options or harmony version")
            notes.append(f"{plan.name}: changed since the earlier run in this folder ({what}); its results were "
                         "recomputed and replace the earlier ones")
    out = list(plans)
    for name, old in earlier.items():
        if name in names:
            continue
        card = METHODS.card(name) if name in METHODS else Card(name=name, kind="method")
        out.append(MethodPlan(name, card, status=old.get("status", "ok"), message=old.get("message", ""),
                              fingerprint=old.get("fingerprint", ""), weights_sha256=old.get("weights_sha256"),
                              options=old.get("options") or {}, earlier=True))
    return out


@dataclass
class _Run:
    """The state the steps of :func:`run_bench` share (built by :func:`_open_run`)."""

    cfg: BenchConfig
    protocol: metrics.Protocol
    protocol_fp: str
    sizes: list
    plans: list[MethodPlan]           # the methods asked for in this run
    data: Path
    reader: DatasetReader
    samples: list[Sample]
    out: Path
    previous: dict                    # the folder's earlier run.json ({} if none)
    device: str = "cpu"
    batch_size: int = 1
    notes: list[str] = field(default_factory=list)
    lpips_path: str | None = None
    result: BenchResult | None = None
    ok_samples: list[Sample] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    use_ssim: bool = False
    cache: dict[str, dict] = field(default_factory=dict)
    context: _Context | None = None
    thumb_root: Path | None = None
    kept_every_prediction: bool = False

    @property
    def current(self) -> list[str]:
        """The runnable methods asked for in this run."""
        return [plan.name for plan in self.plans if plan.runnable]

    @property
    def earlier(self) -> list[str]:
        """The runnable methods kept from earlier runs into the folder."""
        return [plan.name for plan in self.result.methods if plan.runnable and plan.earlier]

    def key(self, method: str, sample_key: str, size: Any) -> str:
        """The cache key of one (method, image, size) row (:func:`cache_key`)."""
        return cache_key(self.fingerprints[method], self.protocol_fp, size, self.identities[sample_key],
                         bool(self.lpips_path), self.use_ssim)


def _open_run(cfg: BenchConfig) -> _Run:
    """Check everything that can be checked before any image is decoded: protocol, sizes, device, methods,
    data and split, the output folder. Announces the methods without a checkpoint."""
    protocol = metrics.get_protocol(cfg.protocol)          # InputError listing valid names
    sizes = parse_sizes(cfg.sizes)
    device = check_device(cfg.device)
    batch_size = bench_batch_size(device, cfg.batch_size)
    plans = resolve_methods(cfg.models, cfg.weights, device)  # InputError listing valid names
    data = Path(cfg.data) if cfg.data else sample_dataset(cfg.workers, cfg.progress)
    reader = DatasetReader(data, cfg.subsets)
    missing = checkpoint_notice(plans)
    if missing and cfg.announce:
        cfg.announce(missing)
    # Refuses, before any work, a subset without split information unless --split all, and a split
    # that lists no image (InputError naming the subset and the split).
    samples = select_split(reader, cfg.split, limit=cfg.limit)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = _check_run_json(cfg, out, sizes, data)
    return _Run(cfg, protocol, protocol_fingerprint(protocol), sizes, plans, data, reader, samples, out, previous,
                device, batch_size)


def _choose_lpips(run: _Run) -> None:
    """LPIPS is optional: load its weights once here, or say in the notes why it is skipped."""
    path = run.cfg.lpips or os.environ.get("HARMONY_LPIPS_WEIGHTS") or None
    if not path:
        run.notes.append("LPIPS skipped: no local weights (set HARMONY_LPIPS_WEIGHTS; nothing is downloaded)")
        return
    try:
        _lpips_model(str(path))
    except Exception as exc:  # noqa: BLE001 - LPIPS is optional; say why it is skipped
        run.notes.append(f"LPIPS skipped: {str(exc).splitlines()[0]}")
        return
    run.lpips_path = str(path)


def _start_result(run: _Run) -> None:
    """Join this run's methods with the folder's earlier ones, record them in run.json, and start the
    :class:`BenchResult`."""
    all_plans = _union_plans(run.plans, run.previous, run.notes)
    _write_run_json(run.out, run.cfg, run.sizes, run.data, all_plans)
    paired_subsets = [subset for subset in run.reader.subsets if run.reader.has_real(subset)]
    run.result = BenchResult(run.out, run.cfg.protocol, run.sizes, all_plans, [], subsets=list(run.reader.subsets),
                             paired_subsets=paired_subsets, notes=run.notes,
                             protocol_details=run.protocol.explain())
    run.result.paired = bool(paired_subsets)
    run.fingerprints = {plan.name: plan.fingerprint for plan in all_plans if plan.runnable}


def _skip_missing_inputs(run: _Run) -> None:
    """Inputs missing on disk are skipped and listed before any work is scheduled."""
    result = run.result
    for sample in run.samples:
        if not sample.composite.is_file():
            result.skipped.append((sample.key, f"composite {sample.composite.name} missing"))
        elif not sample.mask.is_file():
            result.skipped.append((sample.key, f"mask {sample.mask.name} missing"))
        elif sample.subset in result.paired_subsets and (sample.real is None or not sample.real.is_file()):
            result.skipped.append((sample.key, f"real image {sample.real.name if sample.real else '?'} missing"))
        else:
            run.ok_samples.append(sample)


def _make_context(run: _Run) -> None:
    """The worker context: where outputs and gallery thumbnails go, LPIPS, SSIM, device and batch size.

    Small runs keep a JPEG of every output for the gallery; large runs compute the few gallery images'
    predictions again after scoring (here, in the runner: the report never runs a method)."""
    cfg, result = run.cfg, run.result
    run.use_ssim = run.protocol.defines_ssim if cfg.ssim is None else bool(cfg.ssim)
    run.identities = {sample.key: input_identity(sample, sample.subset in result.paired_subsets)
                      for sample in run.ok_samples}
    unpaired = any(sample.subset not in result.paired_subsets for sample in run.ok_samples)
    save_dir = str(run.out / "outputs") if (cfg.save_outputs or unpaired) else None
    run.kept_every_prediction = len(run.ok_samples) * max(1, len(run.current)) <= 4000 or cfg.gallery == "all"
    run.thumb_root = run.out / "cache" / "thumbs" / f"{cfg.protocol}_{run.sizes[0]}"
    keep_thumbs = run.kept_every_prediction and cfg.gallery not in (0, "0")
    run.context = _Context(cfg.protocol, str(cfg.weights) if cfg.weights else None, run.lpips_path, save_dir,
                           run.sizes[0], str(run.thumb_root) if keep_thumbs else None, run.use_ssim,
                           run.fingerprints, run.device, run.batch_size)


def _batched_methods(run: _Run) -> set[str]:
    """The learned methods that run in batches in this process: all of them on a GPU or with a batch size
    above 1; none otherwise (they run image by image in the worker processes)."""
    if run.device == "cpu" and run.batch_size == 1:
        return set()
    return {plan.name for plan in run.plans if plan.runnable and plan.card.learned}


def _plan_work(run: _Run) -> tuple[list[_Unit], list[_Batch]]:
    """Every (method, image, size) not in the cache: per-image units for the worker processes, and batches
    of the learned methods that run batched. Counts the rows served from the cache."""
    run.cache = _read_cache(run.out / CACHE_FILE)
    batched = _batched_methods(run)
    units: list[_Unit] = []
    batched_units: dict[tuple[str, Any], list[_Unit]] = {}
    for sample in run.ok_samples:
        pairs = [(name, size) for size in run.sizes for name in run.current]
        todo = [pair for pair in pairs if run.key(pair[0], sample.key, pair[1]) not in run.cache]
        run.result.cached += len(pairs) - len(todo)
        per_image = [pair for pair in todo if pair[0] not in batched]
        if per_image:
            units.append(_unit_of(sample, run.result.paired_subsets, per_image))
        for pair in todo:
            if pair[0] in batched:
                batched_units.setdefault(pair, []).append(_unit_of(sample, run.result.paired_subsets, []))
    return units, _plan_batches(batched_units, run.batch_size)


def _store_rows(run: _Run, value: dict, cache_fh) -> None:
    """Append a unit's or batch's finished rows to the cache file (failed rows are kept in memory only)."""
    for row in value["rows"]:
        key = run.key(row["method"], f"{row['subset']}/{row['composite']}", row["size"])
        if not row["error"]:
            cache_fh.write(json.dumps({"key": key, "row": serialize.to_jsonable(row)}, allow_nan=False) + "\n")
        run.cache[key] = row
        run.result.computed += 1
    cache_fh.flush()


def _compute(run: _Run, units: list[_Unit], batches: list[_Batch]) -> None:
    """Score the per-image units (worker processes or Dask), then the batches (this process, on the
    device); every finished row goes to the cache as it arrives, so an interrupted run resumes."""
    cfg, result = run.cfg, run.result
    cache_path = run.out / CACHE_FILE
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_path, "a", encoding="utf-8") as cache_fh:
        for res in map_units(functools.partial(score_unit, run.context), units, workers=cfg.workers,
                             scheduler=cfg.scheduler, progress=cfg.progress, desc="bench"):
            if not res.ok:
                result.skipped.append((res.key, res.error or "failed"))
            elif res.value.get("skipped"):
                result.skipped.append((res.key, res.value["skipped"]))
            else:
                _store_rows(run, res.value, cache_fh)
        by_key = {batch.key: batch for batch in batches}
        for res in map_units(functools.partial(score_batch, run.context), batches, workers=0,
                             key=lambda batch: batch.key, progress=cfg.progress,
                             desc=f"bench (learned, {run.device}, batches of {run.batch_size})"):
            value = res.value if res.ok else {"rows": [], "skipped": [(unit.key, res.error or "failed")
                                                                      for unit in by_key[res.key].units]}
            already = {key for key, _reason in result.skipped}
            result.skipped += [(key, reason) for key, reason in value["skipped"] if key not in already]
            _store_rows(run, value, cache_fh)


def _collect_rows(run: _Run) -> None:
    """The rows of this run from the cache, in dataset order (image, size, method); failures listed, and
    a note for each earlier method that misses rows of this run."""
    result = run.result
    skipped_keys = {key for key, _ in result.skipped}
    missing_earlier: dict[str, int] = {}
    earlier = run.earlier
    for sample in run.ok_samples:
        if sample.key in skipped_keys:
            continue
        for size in run.sizes:
            for name in run.current + earlier:
                key = run.key(name, sample.key, size)
                if key in run.cache:
                    row = _unjson_row(run.cache[key])
                    result.rows.append(row)
                    if row.get("error"):
                        result.failures.append((name, f"{sample.key}@{size}", row["error"]))
                elif name in earlier:
                    missing_earlier[name] = missing_earlier.get(name, 0) + 1
    for name, count in missing_earlier.items():
        run.notes.append(f"{name} (benched into this folder earlier) has no result for {count} image/size pairs "
                         f"of this run; run it again with --models {name} to complete its rows")


def run_bench(cfg: BenchConfig) -> BenchResult:
    """Run and score every method on every image; write all the reports into ``cfg.out``.

    The steps: check the settings and open the folder, choose LPIPS, start the result (the union with
    the folder's earlier methods), skip missing inputs, plan the work the cache does not hold, compute it
    (per-image units in worker processes; learned methods in batches on the device where asked), collect
    the rows, aggregate them, prepare the gallery and write the reports (:mod:`harmony.benchmark.report`).

    Parameters
    ----------
    cfg : BenchConfig
        The run's settings.

    Returns
    -------
    BenchResult
        Rows, aggregates, skipped inputs, failures, notes and the files written (relative to ``cfg.out``).

    Raises
    ------
    harmony.errors.InputError
        Before any image is scored: an unknown protocol or method, a bad size, ``--device cuda`` without a
        GPU, a dataset or split without images, a folder holding another kind of run.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020: the iHarmony4 ``evaluation.py`` the ``iharm`` protocol follows.

    Examples
    --------
    >>> from harmony.benchmark.runner import BenchConfig, run_bench
    >>> result = run_bench(BenchConfig(out="bench", models=["cut-and-paste"]))  # doctest: +SKIP
    >>> result.all_row("cut-and-paste")["fmse"]                                    # doctest: +SKIP
    """
    from . import report

    started = time.perf_counter()
    run = _open_run(cfg)
    _choose_lpips(run)
    _start_result(run)
    _skip_missing_inputs(run)
    _make_context(run)
    units, batches = _plan_work(run)
    _compute(run, units, batches)
    _collect_rows(run)
    result = run.result
    result.aggregates = aggregate(result.rows, result.subsets)
    result.buckets = bucket_rows(result.rows, result.subsets, run.sizes[0])
    rows_shown = gallery_rows(cfg.gallery, run.kept_every_prediction)
    if rows_shown != 0:
        result.gallery = _prepare_gallery(result, run.context, run.protocol, run.ok_samples, run.thumb_root,
                                          rows_shown)
    result.seconds = time.perf_counter() - started
    result.summary = summarize(result)
    result.files = report.write_report(result, plots=cfg.plots, seed=cfg.seed)
    result.seconds = time.perf_counter() - started
    return result


def _prepare_gallery(result: BenchResult, ctx: _Context, protocol: metrics.Protocol, samples: Sequence[Sample],
                     thumb_root: Path, rows_shown: int) -> list[GalleryEntry]:
    """Pick the gallery images (every image for ``rows_shown`` < 0, else :func:`rows.select_gallery`) and
    make sure each method's prediction it shows exists (saved when it was computed; computed here for
    large runs that did not keep every prediction). The dataset's composite, mask and ground truth go in
    ``sources``: the gallery shows them at their own aspect ratio and resolution."""
    size = result.sizes[0]
    if rows_shown < 0:      # every image, in dataset order
        scored = {(row["subset"], row["composite"]) for row in result.rows if row.get("size") == size}
        chosen = [("image", sample.subset, sample.name) for sample in samples if (sample.subset, sample.name) in scored]
    else:
        chosen = select_gallery(result.rows, size, rows_shown, result.paired)
    by_key = {(sample.subset, sample.name): sample for sample in samples}
    ratio_of = {(row["subset"], row["composite"]): row.get("fg_ratio", math.nan) for row in result.rows}
    failed = {(row["method"], row["subset"], row["composite"]) for row in result.rows
              if row.get("size") == size and row.get("error")}
    entries = []
    for label, subset, name in chosen:
        sample = by_key.get((subset, name))
        if sample is None:
            continue
        files: dict[str, Path] = {}
        todo = []
        for plan in result.methods:
            if not plan.runnable or (plan.name, subset, name) in failed:
                continue
            path = thumb_path(thumb_root, plan.name, plan.fingerprint, subset, name)
            if path.is_file():
                files[plan.name] = path
            elif not plan.earlier:
                todo.append((plan, path))
        if todo and not _gallery_predictions(result, ctx, protocol, sample, size, todo, files):
            continue
        sources = {"composite": Path(sample.composite), "mask": Path(sample.mask)}
        if sample.real is not None and subset in result.paired_subsets:
            sources["real"] = Path(sample.real)
        entries.append(GalleryEntry(label, subset, name, float(ratio_of.get((subset, name), math.nan)), files,
                                    sources))
    return entries


def _gallery_predictions(result: BenchResult, ctx: _Context, protocol: metrics.Protocol, sample: Sample, size: Any,
                         todo: list, files: dict[str, Path]) -> bool:
    """Large runs: compute the predictions one gallery row shows (the image is decoded only then) into
    ``files``; False when its inputs cannot be read (the row is left out)."""
    unit = _unit_of(sample, result.paired_subsets, [])
    try:
        comp_u8, mask, real_u8 = load_inputs(unit)
    except _InputSkip:
        return False
    prepared = protocol.prepare(comp_u8, mask, real_u8, size)
    for plan, path in todo:
        try:
            image, _milliseconds = run_method(protocol, plan.name, plan.card, ctx.weights, comp_u8, mask, size,
                                              prepared, unit, ctx.device)
            hio.write_image(path, image, quality=90)
            files[plan.name] = path
        except Exception:  # noqa: BLE001 - the gallery cell says "no output"
            continue
    return True


def gallery_rows(gallery: int | str, kept_every_prediction: bool) -> int:
    """How many gallery rows ``BenchConfig.gallery`` asks for.

    Parameters
    ----------
    gallery : int or str
        ``"auto"``, ``"all"``, or a number of images N >= 0.
    kept_every_prediction : bool
        Whether the run keeps every prediction (small runs; decides ``"auto"``).

    Returns
    -------
    int
        -1 (every image), 0 (no gallery) or N (the N best and N worst images by mean fMSE); ``"auto"``
        gives -1 when every prediction is kept, else 50.

    Raises
    ------
    harmony.errors.InputError
        For any other value (``harmony bench`` calls this before any work).
    """
    if gallery in ("all", -1):
        return -1
    if gallery in (None, "auto"):
        return -1 if kept_every_prediction else 50
    try:
        count = int(gallery)
    except (TypeError, ValueError):
        raise InputError(f"--gallery: expected auto, all or a number of images, got {gallery!r}") from None
    if count < 0:
        raise InputError(f"--gallery: expected auto, all or a number >= 0, got {gallery!r}")
    return count


def checkpoint_notice(plans: Sequence[MethodPlan]) -> str | None:
    """One line naming the learned methods without a checkpoint.

    Parameters
    ----------
    plans : sequence of MethodPlan
        The run's methods (:func:`resolve_methods`).

    Returns
    -------
    str or None
        ``"no checkpoint: dih, rcl (give --weights DIR)"``, or ``None`` when every learned method has one.
    """
    names = [plan.name for plan in plans if plan.status == "no checkpoint"]
    if not names:
        return None
    return f"no checkpoint: {', '.join(names)} (give --weights DIR)"


def thumb_path(thumb_dir: str | os.PathLike, method: str, fingerprint: str, subset: str, name: str) -> Path:
    """Where the runner keeps a method's prediction for the gallery.

    Parameters
    ----------
    thumb_dir : str or os.PathLike
        ``OUT/cache/thumbs/<protocol>_<size>``.
    method : str
        Method name.
    fingerprint : str
        The method's fingerprint (its first 16 digits name a folder: new weights, new thumbnails).
    subset, name : str
        The image's subset and composite file name.

    Returns
    -------
    Path
        ``thumb_dir/method/<fingerprint[:16]>/subset/<stem>.jpg`` (a JPEG at the evaluation size).
    """
    return Path(thumb_dir) / method / (fingerprint[:16] or "-") / subset / (Path(name).stem + ".jpg")


def _extra_paths(sample: Sample) -> dict:
    """Extra inputs a method may declare (``card.inputs``): manifest columns or same-named folders."""
    extra = {}
    subset_dir = sample.composite.parent.parent
    for column, value in (sample.extra or {}).items():
        if column in ("composite", "mask", "real") or not value or not isinstance(value, str):
            continue
        path = subset_dir / value
        if path.suffix.lower() in hio.IMAGE_EXTENSIONS and path.is_file():
            extra[column] = str(path)
    for folder in ("background", "backgrounds", "inpainted"):
        for candidate in (subset_dir / folder / sample.name, subset_dir / folder / (Path(sample.name).stem + ".png")):
            if candidate.is_file():
                extra.setdefault(folder.rstrip("s"), str(candidate))
    return extra
