"""Run methods over an iHarmony4-layout dataset and score them under a named protocol (the bench runner).

``run_bench(BenchConfig(...))`` is what ``harmony bench`` calls. One work unit is one test image: it is
decoded once, brought to each evaluation size by the protocol's resize rule, and every method still to
do for it is run and scored with the one metric core (:mod:`harmony.benchmark.metrics`). Results stream
back to this process, which appends each finished row to ``OUT/cache/results.jsonl``.

Cache key. A row is keyed by the sha256 of: the method's *fingerprint* (its card, its effective
options, the sha256 of its weights for learned methods, the tool version), the protocol's full
definition, the size, the input files' identity (path, byte size and modification time of the
composite, mask and real image) and the LPIPS/SSIM switches. New weights, a changed card or option, a
new harmony version or edited inputs are therefore recomputed, never served from the cache.

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
to the evaluation size before scoring (SPRIH Table 1). For a method whose card says it keeps the
background, the evaluation-size composite's background is kept exactly after the upsampling (the method
itself pastes its prediction into the foreground; a resampled background would be an artefact of the
harness, not of the method).

Aggregation is :mod:`harmony.benchmark.rows` (pure); the files are written by
:mod:`harmony.benchmark.report`, which imports nothing from here. The gallery shows predictions this
runner saved when it computed them.
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
from . import metrics as M
from . import rows as R
from .rows import METRIC_COLUMNS, ROW_COLUMNS, BenchResult, GalleryEntry, MethodPlan  # noqa: F401 (public here too)

CACHE_FILE = "cache/results.jsonl"


@dataclass
class BenchConfig:
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
    # gallery.html rows: "auto" = every image when the run keeps every prediction (<= 4,000 image x
    # method pairs), else the 50 best and 50 worst; "all" = every image (keeps every prediction);
    # N = the N best and N worst by mean fMSE; 0 = no gallery
    gallery: int | str = "auto"
    # called with one line before any image is scored: methods without a checkpoint, a missing split
    announce: Callable[[str], None] | None = None
    save_outputs: bool = False        # save every method output (always for sets without ground truth)
    lpips: str | None = None          # weights folder/file; None = $HARMONY_LPIPS_WEIGHTS if set
    overwrite: bool = False
    seed: int = 0
    plots: bool = True
    ssim: bool | None = None          # None: only where the protocol defines SSIM (cdtnet, pctnet)


# --------------------------------------------------------------------------------------------------
# methods


def resolve_methods(models: Sequence[str], weights: str | os.PathLike | None = None) -> list[MethodPlan]:
    """Expand ``all`` and ``module:attr`` specs; unknown names raise InputError listing the valid ones."""
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
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    if not seen:
        raise InputError("--models: no method given (use 'all' or names; see `harmony list methods`)")
    plans = []
    for n in seen:
        card = METHODS.card(n)
        plan = MethodPlan(n, card)
        if card.learned:
            try:
                _method_instance(n, str(weights) if weights else None)
            except MissingWeightsError as exc:
                plan.status, plan.message = "no checkpoint", str(exc).splitlines()[0]
            except Exception as exc:  # noqa: BLE001 - a broken model becomes a row saying so
                plan.status, plan.message = "unavailable", f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        if plan.runnable:
            _fingerprint(plan, str(weights) if weights else None)
        plans.append(plan)
    return plans


_OPTION_ATTRS = ("size", "paste", "upsample", "batch_size")


def _fingerprint(plan: MethodPlan, weights: str | None) -> None:
    """Set ``plan.fingerprint``: sha256 of the card, the effective options, the weights' sha256 and the
    tool version (a learned method's checkpoint is loaded once here, then reused by the workers)."""
    options: dict[str, Any] = {}
    sha = None
    if plan.card.learned:
        inst = _method_instance(plan.name, weights)
        config = getattr(inst, "config", None) or {}
        sha = config.get("sha256")
        folder = getattr(inst, "checkpoint", None)
        if not sha and folder and (Path(folder) / "weights.pt").is_file():
            sha = hio.sha256_file(Path(folder) / "weights.pt")
        options = {k: getattr(inst, k) for k in _OPTION_ATTRS if hasattr(inst, k)}
        options["native_size"] = _native_size(inst, plan.card)
    plan.weights_sha256 = sha
    plan.options = options
    payload = {"card": plan.card.as_dict() if hasattr(plan.card, "as_dict") else str(plan.card),
               "options": options, "weights_sha256": sha, "harmony": __version__}
    plan.fingerprint = hashlib.sha256(serialize.dumps(payload, sort_keys=True).encode()).hexdigest()


def _native_size(inst: Any, card: Any) -> int:
    """The side a low-resolution method runs at: the checkpoint's (a learned method's ``native_size`` or
    ``size``), else the card's ``native_size``, else 256."""
    for attr in ("native_size", "size"):
        v = getattr(inst, attr, None)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0:
            return int(v)
    return int(card.native_size or 256)


_INSTANCES: dict[tuple[str, str | None], Any] = {}


def _method_instance(name: str, weights: str | None) -> Any:
    """One harmonizer per (method, weights) per process (models are loaded once per worker)."""
    key = (name, weights)
    if key not in _INSTANCES:
        card = METHODS.card(name)
        _INSTANCES[key] = METHODS.create(name, weights=weights) if card.learned else METHODS.create(name)
    return _INSTANCES[key]


def check_output(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The Harmonizer contract on a method's output; ValueError with the reason otherwise."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"bad output: expected a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"bad output: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != np.float32:
        raise ValueError(f"bad output: expected float32, got {out.dtype}")
    lo, hi = float(out.min()), float(out.max())   # NaN propagates into min/max
    if not (lo >= 0.0 and hi <= 1.0):
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("bad output: non-finite values")
        raise ValueError(f"bad output: values outside [0, 1] ([{lo:.4g}, {hi:.4g}])")
    return out


# --------------------------------------------------------------------------------------------------
# one unit = one image, every method and size still to do


def protocol_fingerprint(protocol: M.Protocol) -> str:
    """sha256 of a protocol's full definition (a changed rule is a changed key)."""
    return hashlib.sha256(serialize.dumps(dataclasses.asdict(protocol), sort_keys=True).encode()).hexdigest()


def input_identity(sample: Sample, paired: bool = True) -> str:
    """The identity of an image's input files: subset/name plus byte size and modification time (ns) of
    the composite, the mask and the real image (edited or regenerated inputs get new keys)."""
    parts = [sample.key]
    files = [sample.composite, sample.mask] + ([sample.real] if (paired and sample.real is not None) else [])
    for f in files:
        try:
            st = os.stat(f)
            parts.append(f"{Path(f).name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{Path(f).name}:missing")
    return "|".join(parts)


def cache_key(method_fingerprint: str, protocol_fp: str, size: Any, inputs: str, lpips: bool, ssim: bool) -> str:
    """The cache key of one row: sha256 of everything its value depends on (module docstring)."""
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


_LPIPS: dict[str, Any] = {}


def _lpips_model(path: str):
    if path not in _LPIPS:
        from .lpips import LPIPS

        _LPIPS[path] = LPIPS.from_env(path)
    return _LPIPS[path]


class _InputSkip(Exception):
    pass


def load_inputs(unit: _Unit) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        comp = hio.read_image_uint8(unit.composite)
        mask = hio.read_mask(unit.mask)
        real = hio.read_image_uint8(unit.real) if unit.real else None
    except InputError as exc:
        raise _InputSkip(str(exc).splitlines()[0]) from None
    if mask.shape != comp.shape[:2]:
        raise _InputSkip(f"{unit.mask}: mask size {mask.shape[1]}x{mask.shape[0]} differs from the composite "
                         f"{comp.shape[1]}x{comp.shape[0]}")
    if real is not None and real.shape != comp.shape:
        raise _InputSkip(f"{unit.real}: real image size {real.shape[1]}x{real.shape[0]} differs from the "
                         f"composite {comp.shape[1]}x{comp.shape[0]}")
    return comp, mask, real


def _extra_inputs(unit: _Unit, card: Any, shape: tuple[int, int]) -> dict:
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


def run_method(protocol: M.Protocol, name: str, card: Any, weights: str | None, comp_u8: np.ndarray,
               mask: np.ndarray, size: Any, prepared: M.Prepared, unit: _Unit | None = None
               ) -> tuple[np.ndarray, float]:
    """Run one method on one prepared image; returns (output float32 [0,1] at the eval size, ms)."""
    harmonize = _method_instance(name, weights)
    native = _native_size(harmonize, card)
    low = card.low_res_only and prepared.composite.shape[:2] != (native, native)
    inp = protocol.prepare(comp_u8, mask, None, native) if low else prepared
    extra = _extra_inputs(unit, card, inp.composite.shape[:2]) if (card.inputs and unit) else {}
    # Read-only views: the arrays are shared with the scoring, so a method must not modify them. One
    # that tries to (in-place arithmetic on its input) is simply given copies.
    comp_in, mask_in = inp.composite.view(), inp.mask.view()
    comp_in.flags.writeable = False
    mask_in.flags.writeable = False
    t0 = time.perf_counter()
    try:
        out = harmonize(comp_in, mask_in, **extra)
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        t0 = time.perf_counter()
        out = harmonize(inp.composite.copy(), inp.mask.copy(), **extra)
    ms = (time.perf_counter() - t0) * 1000.0
    out = check_output(out, inp.composite.shape)
    if low:
        out = protocol.upsample(out, prepared.composite.shape[:2])
        if card.keeps_background:
            # the method pasted its prediction into the foreground at its side; keep that property at
            # the evaluation size (bit-exact background outside the mask)
            out = imageops.blend(out, prepared.composite, prepared.mask)
    return out, ms


def score_unit(ctx: _Context, unit: _Unit) -> dict:
    """Worker function: every (method, size) of ``unit.todo`` -> rows (or a skip reason)."""
    protocol = M.get_protocol(ctx.protocol)
    try:
        comp_u8, mask, real_u8 = load_inputs(unit)
    except _InputSkip as exc:
        return {"skipped": str(exc), "rows": []}
    rows = []
    sizes = []
    for _m, s in unit.todo:
        if s not in sizes:
            sizes.append(s)
    lp = _lpips_model(ctx.lpips) if (ctx.lpips and real_u8 is not None) else None
    for size in sizes:
        prepared = protocol.prepare(comp_u8, mask, real_u8, size)
        h, w = prepared.mask.shape
        ratio = M.fg_ratio(prepared.mask)
        for name, s in unit.todo:
            if s != size:
                continue
            row: dict[str, Any] = {"method": name, "subset": unit.subset, "composite": unit.name,
                                   "size": size, "protocol": ctx.protocol, "fg_ratio": ratio,
                                   "height": h, "width": w, "error": ""}
            try:
                card = METHODS.card(name)
                out, ms = run_method(protocol, name, card, ctx.weights, comp_u8, mask, size, prepared, unit)
                row["time_ms"] = ms
                pred = protocol.prediction(out)
                row["bg_drift"] = M.background_drift(pred, prepared.composite255, prepared.mask)
                if prepared.real is not None:
                    row.update(protocol.score(pred, prepared.real, prepared.mask, ssim=ctx.ssim))
                    if lp is not None:
                        row["lpips"] = lp(pred / 255.0, prepared.real / 255.0)
                if ctx.save_dir and size == ctx.primary_size:
                    path = Path(ctx.save_dir) / name / unit.subset / (Path(unit.name).stem + ".png")
                    hio.write_image(path, out)
                if ctx.thumb_dir and size == ctx.primary_size:
                    hio.write_image(thumb_path(ctx.thumb_dir, name, ctx.fingerprints.get(name, ""), unit.subset,
                                               unit.name), out, quality=90)
            except Exception as exc:  # noqa: BLE001 - recorded per image; the run goes on
                row["error"] = (f"{exc.__class__.__name__}: {exc}".splitlines() or ["error"])[0][:300]
            rows.append(row)
    return {"rows": rows}


# --------------------------------------------------------------------------------------------------
# the run


def sample_dataset(workers: int | None = None, progress: bool = True) -> Path:
    """The embedded sample dataset: the coco generator run once on the sample photos, cached.

    Built with the library's generator (``GENERATORS["coco"]``) into ``<cache>/bench_sample``.
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
    """``"256,512"`` / ``[256]`` / ``"full"`` -> [256, 512] / [256] / ["full"]."""
    if isinstance(sizes, (int, str)):
        sizes = str(sizes).split(",")
    out = []
    for s in sizes:
        s = str(s).strip().lower()
        if not s:
            continue
        if s in ("full", "none", "0"):
            out.append("full")
            continue
        try:
            v = int(s)
        except ValueError:
            raise InputError(f"--size: expected integers or 'full' separated by commas, got {s!r}") from None
        if v <= 0:
            raise InputError(f"--size: expected a positive size, got {v}")
        out.append(v)
    if not out:
        raise InputError("--size: no size given")
    return list(dict.fromkeys(out))


def _read_cache(path: Path) -> dict[str, dict]:
    cache: dict[str, dict] = {}
    if not path.is_file():
        return cache
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
                cache[rec["key"]] = rec["row"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue   # a line cut by an interruption
    return cache


_NUMERIC = set(METRIC_COLUMNS) | {"fg_ratio", "se", "mask_area", "time_ms"}


def _unjson_row(row: dict) -> dict:
    """A cached row back from JSON: ``null`` metrics (the one NaN policy) are NaN again."""
    return {k: (serialize.float_or_nan(v) if k in _NUMERIC and (v is None or isinstance(v, str)) else v)
            for k, v in row.items()}


def _read_run_json(out: Path) -> dict | None:
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
    prev = _read_run_json(out)
    if prev is not None and not cfg.overwrite:
        for k in ("protocol", "sizes", "data"):
            if prev.get(k) is not None and prev.get(k) != current[k]:
                raise InputError(f"{out}: holds a bench run with {k} {prev.get(k)!r} (now {current[k]!r}); use "
                                 "--overwrite to replace its reports or choose another --out")
        return prev
    if prev is None and out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise InputError(f"{out}: folder is not empty and holds no bench run.json; use --overwrite or "
                         "choose another --out")
    return {}


def _write_run_json(out: Path, cfg: BenchConfig, sizes: list, data: Path, plans: list[MethodPlan]) -> None:
    methods = {p.name: {"status": p.status, "message": p.message, "fingerprint": p.fingerprint,
                        "weights_sha256": p.weights_sha256, "options": p.options} for p in plans}
    hio.atomic_write_text(out / "run.json", serialize.dumps(
        {"protocol": cfg.protocol, "sizes": sizes, "data": str(data), "tool": "harmony bench",
         "harmony": __version__, "methods": methods}))


def _union_plans(plans: list[MethodPlan], prev: dict, notes: list[str]) -> list[MethodPlan]:
    """This run's methods plus every method an earlier run into the folder benched (module docstring)."""
    earlier = prev.get("methods") or {}
    names = {p.name for p in plans}
    for p in plans:
        old = earlier.get(p.name)
        if old and p.runnable and old.get("fingerprint") and old.get("fingerprint") != p.fingerprint:
            what = ("weights sha256 " + str(old.get("weights_sha256"))[:12] + " -> " + str(p.weights_sha256)[:12]
                    if old.get("weights_sha256") != p.weights_sha256 else "card, options or harmony version")
            notes.append(f"{p.name}: changed since the earlier run in this folder ({what}); its results were "
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


def run_bench(cfg: BenchConfig) -> BenchResult:
    """Run and score every method on every image; write all the reports into ``cfg.out``."""
    from . import report

    t_start = time.perf_counter()
    protocol = M.get_protocol(cfg.protocol)          # InputError listing valid names
    protocol_fp = protocol_fingerprint(protocol)
    sizes = parse_sizes(cfg.sizes)
    plans = resolve_methods(cfg.models, cfg.weights)  # InputError listing valid names
    data = Path(cfg.data) if cfg.data else sample_dataset(cfg.workers, cfg.progress)
    reader = DatasetReader(data, cfg.subsets)
    announce = cfg.announce or (lambda line: None)
    missing = checkpoint_notice(plans)
    if missing:
        announce(missing)
    # Refuses, before any work, a subset without split information unless --split all, and a split
    # that lists no image (InputError naming the subset and the split).
    samples = select_split(reader, cfg.split, limit=cfg.limit)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    prev = _check_run_json(cfg, out, sizes, data)

    lpips_path = cfg.lpips or os.environ.get("HARMONY_LPIPS_WEIGHTS") or None
    notes: list[str] = []
    if lpips_path:
        try:
            _lpips_model(str(lpips_path))
        except Exception as exc:  # noqa: BLE001 - LPIPS is optional; say why it is skipped
            notes.append(f"LPIPS skipped: {str(exc).splitlines()[0]}")
            lpips_path = None
    else:
        notes.append("LPIPS skipped: no local weights (set HARMONY_LPIPS_WEIGHTS; nothing is downloaded)")

    all_plans = _union_plans(plans, prev, notes)
    _write_run_json(out, cfg, sizes, data, all_plans)
    paired_subsets = [s for s in reader.subsets if reader.has_real(s)]
    result = BenchResult(out, cfg.protocol, sizes, all_plans, [], subsets=list(reader.subsets),
                         paired_subsets=paired_subsets, notes=notes, protocol_details=protocol.explain())
    result.paired = bool(paired_subsets)

    # Inputs missing on disk are skipped and listed before any work is scheduled.
    ok_samples: list[Sample] = []
    for s in samples:
        if not s.composite.is_file():
            result.skipped.append((s.key, f"composite {s.composite.name} missing"))
        elif not s.mask.is_file():
            result.skipped.append((s.key, f"mask {s.mask.name} missing"))
        elif s.subset in paired_subsets and (s.real is None or not s.real.is_file()):
            result.skipped.append((s.key, f"real image {s.real.name if s.real else '?'} missing"))
        else:
            ok_samples.append(s)

    fps = {p.name: p.fingerprint for p in all_plans if p.runnable}
    current = [p.name for p in plans if p.runnable]
    earlier = [p.name for p in all_plans if p.runnable and p.earlier]
    use_lpips = bool(lpips_path)
    use_ssim = protocol.defines_ssim if cfg.ssim is None else bool(cfg.ssim)
    cache_path = out / CACHE_FILE
    cache = _read_cache(cache_path)
    identities = {s.key: input_identity(s, s.subset in paired_subsets) for s in ok_samples}

    def key_of(name: str, sample_key: str, size: Any) -> str:
        return cache_key(fps[name], protocol_fp, size, identities[sample_key], use_lpips, use_ssim)

    units = []
    for s in ok_samples:
        todo = [(name, size) for size in sizes for name in current if key_of(name, s.key, size) not in cache]
        result.cached += sum(1 for size in sizes for name in current if key_of(name, s.key, size) in cache)
        if todo:
            units.append(_Unit(s.key, s.subset, s.name, str(s.composite), str(s.mask),
                               str(s.real) if (s.real and s.subset in paired_subsets) else None,
                               _extra_paths(s), todo))
    unpaired = any(s.subset not in paired_subsets for s in ok_samples)
    save_dir = str(out / "outputs") if (cfg.save_outputs or unpaired) else None
    # Small runs keep a JPEG of every output for the gallery; large runs compute the few gallery images'
    # predictions again after scoring (here, in the runner: the report never runs a method).
    small = len(ok_samples) * max(1, len(current)) <= 4000 or cfg.gallery == "all"
    thumb_root = out / "cache" / "thumbs" / f"{cfg.protocol}_{sizes[0]}"
    ctx = _Context(cfg.protocol, str(cfg.weights) if cfg.weights else None,
                   str(lpips_path) if lpips_path else None, save_dir, sizes[0],
                   str(thumb_root) if (small and cfg.gallery not in (0, "0")) else None, use_ssim, fps)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_path, "a", encoding="utf-8") as cache_fh:
        for res in map_units(functools.partial(score_unit, ctx), units, workers=cfg.workers,
                             scheduler=cfg.scheduler, progress=cfg.progress, desc="bench"):
            if not res.ok:
                result.skipped.append((res.key, res.error or "failed"))
                continue
            value = res.value
            if value.get("skipped"):
                result.skipped.append((res.key, value["skipped"]))
                continue
            for row in value["rows"]:
                k = key_of(row["method"], f"{row['subset']}/{row['composite']}", row["size"])
                if not row["error"]:
                    cache_fh.write(json.dumps({"key": k, "row": serialize.to_jsonable(row)}, allow_nan=False)
                                   + "\n")
                cache[k] = row
                result.computed += 1
            cache_fh.flush()

    skipped_keys = {k for k, _ in result.skipped}
    rows = []
    missing_earlier: dict[str, int] = {}
    for s in ok_samples:
        if s.key in skipped_keys:
            continue
        for size in sizes:
            for name in current + earlier:
                k = key_of(name, s.key, size)
                if k in cache:
                    row = _unjson_row(cache[k])
                    rows.append(row)
                    if row.get("error"):
                        result.failures.append((name, f"{s.key}@{size}", row["error"]))
                elif name in earlier:
                    missing_earlier[name] = missing_earlier.get(name, 0) + 1
    for name, n in missing_earlier.items():
        notes.append(f"{name} (benched into this folder earlier) has no result for {n} image/size pairs of "
                     f"this run; run it again with --models {name} to complete its rows")
    result.rows = rows
    result.aggregates = R.aggregate(rows, result.subsets)
    result.buckets = R.bucket_rows(rows, result.subsets, sizes[0])
    k = gallery_rows(cfg.gallery, small)
    if k != 0:
        result.gallery = _prepare_gallery(result, ctx, protocol, ok_samples, thumb_root, k)
    result.seconds = time.perf_counter() - t_start
    result.summary = R.summarize(result)
    result.files = report.write_report(result, plots=cfg.plots, seed=cfg.seed)
    result.seconds = time.perf_counter() - t_start
    return result


def _prepare_gallery(result: BenchResult, ctx: _Context, protocol: M.Protocol, samples: Sequence[Sample],
                     thumb_root: Path, k: int) -> list[GalleryEntry]:
    """Pick the gallery images (every image for ``k`` < 0, else :func:`rows.select_gallery`) and make sure
    each method's prediction it shows exists (saved when it was computed; computed here for large runs
    that did not keep every prediction). The dataset's composite, mask and ground truth go in
    ``sources``: the gallery shows them at their own aspect ratio and resolution."""
    size = result.sizes[0]
    if k < 0:      # every image, in dataset order
        scored = {(r["subset"], r["composite"]) for r in result.rows if r.get("size") == size}
        chosen = [("image", s.subset, s.name) for s in samples if (s.subset, s.name) in scored]
    else:
        chosen = R.select_gallery(result.rows, size, k, result.paired)
    by_key = {(s.subset, s.name): s for s in samples}
    ratio_of = {(r["subset"], r["composite"]): r.get("fg_ratio", math.nan) for r in result.rows}
    failed = {(r["method"], r["subset"], r["composite"]) for r in result.rows if r.get("size") == size and r.get("error")}
    entries = []
    for label, subset, name in chosen:
        s = by_key.get((subset, name))
        if s is None:
            continue
        files: dict[str, Path] = {}
        todo = []
        for p in result.methods:
            if not p.runnable or (p.name, subset, name) in failed:
                continue
            path = thumb_path(thumb_root, p.name, p.fingerprint, subset, name)
            if path.is_file():
                files[p.name] = path
            elif not p.earlier:
                todo.append((p, path))
        if todo:   # large runs: compute the predictions this gallery row shows (decoded only then)
            unit = _Unit(s.key, s.subset, s.name, str(s.composite), str(s.mask),
                         str(s.real) if (s.real and subset in result.paired_subsets) else None, _extra_paths(s), [])
            try:
                comp_u8, mask, real_u8 = load_inputs(unit)
            except _InputSkip:
                continue
            prep = protocol.prepare(comp_u8, mask, real_u8, size)
            for p, path in todo:
                try:
                    img, _ms = run_method(protocol, p.name, p.card, ctx.weights, comp_u8, mask, size, prep, unit)
                    hio.write_image(path, img, quality=90)
                    files[p.name] = path
                except Exception:  # noqa: BLE001 - the gallery cell says "no output"
                    continue
        sources = {"composite": Path(s.composite), "mask": Path(s.mask)}
        if s.real is not None and subset in result.paired_subsets:
            sources["real"] = Path(s.real)
        entries.append(GalleryEntry(label, subset, name, float(ratio_of.get((subset, name), math.nan)), files,
                                    sources))
    return entries


def gallery_rows(gallery: int | str, kept_every_prediction: bool) -> int:
    """``BenchConfig.gallery`` -> -1 (every image), 0 (none) or k (the k best and k worst images)."""
    if gallery in ("all", -1):
        return -1
    if gallery in (None, "auto"):
        return -1 if kept_every_prediction else 50
    try:
        k = int(gallery)
    except (TypeError, ValueError):
        raise InputError(f"--gallery: expected auto, all or a number of images, got {gallery!r}") from None
    if k < 0:
        raise InputError(f"--gallery: expected auto, all or a number >= 0, got {gallery!r}")
    return k


def checkpoint_notice(plans: Sequence[MethodPlan]) -> str | None:
    """One line naming the learned methods without a checkpoint (``None`` when there are none)."""
    names = [p.name for p in plans if p.status == "no checkpoint"]
    if not names:
        return None
    return f"no checkpoint: {', '.join(names)} (give --weights DIR)"


def thumb_path(thumb_dir: str | os.PathLike, method: str, fingerprint: str, subset: str, name: str) -> Path:
    """Where the runner keeps a method's prediction (JPEG, evaluation size) for the gallery."""
    return Path(thumb_dir) / method / (fingerprint[:16] or "-") / subset / (Path(name).stem + ".jpg")


def _extra_paths(s: Sample) -> dict:
    """Extra inputs a method may declare (``card.inputs``): manifest columns or same-named folders."""
    extra = {}
    sub_dir = s.composite.parent.parent
    for k, v in (s.extra or {}).items():
        if k in ("composite", "mask", "real") or not v or not isinstance(v, str):
            continue
        p = sub_dir / v
        if p.suffix.lower() in hio.IMAGE_EXTENSIONS and p.is_file():
            extra[k] = str(p)
    for folder in ("background", "backgrounds", "inpainted"):
        for cand in (sub_dir / folder / s.name, sub_dir / folder / (Path(s.name).stem + ".png")):
            if cand.is_file():
                extra.setdefault(folder.rstrip("s"), str(cand))
    return extra
