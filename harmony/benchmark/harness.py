"""Run methods over an iHarmony4-layout dataset and score them under a named protocol.

``run_bench(BenchConfig(...))`` is what ``harmony bench`` calls. One work unit is one test image: it is
decoded once, brought to each evaluation size by the protocol's resize rule, and every method still to
do for it is run and scored (see :mod:`harmony.benchmark.metrics`). Results stream back to this process,
which appends each finished (method, image, protocol, size) row to ``OUT/cache/results.jsonl``: an
interrupted run, or one extended with more methods, images or sizes, recomputes nothing already done.

Failures never stop a run: an input that is missing or unreadable is *skipped* (listed with its reason);
a method that raises or returns something other than a float32 (H, W, 3) image in [0, 1] is recorded as
a *failure* for that image (the row keeps NaN metrics and the error). Learned methods without a
checkpoint become a "no checkpoint" row in every table.

Low-resolution-only methods (``card.low_res_only``; ``card.native_size``, default 256) are run at their
size and upsampled bilinearly to the evaluation size before scoring (SPRIH Table 1, REFERENCE.md
section 2).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import io as hio
from ..dataset import DatasetReader, Sample, has_split_lists, select_split
from ..errors import InputError, MissingWeightsError
from ..parallel import map_units
from ..registry import METHODS
from . import metrics as M

METRIC_COLUMNS = ("mse", "psnr", "fmse", "fpsnr", "ssim", "fssim", "lpips", "bg_drift")
ROW_COLUMNS = ("method", "subset", "composite", "size", "protocol", "fg_ratio", *METRIC_COLUMNS,
               "se", "mask_area", "height", "width", "time_ms", "error")
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
    gallery: int = 4                  # best and worst images shown in the gallery
    save_outputs: bool = False        # save every method output (always for sets without ground truth)
    lpips: str | None = None          # weights folder/file; None = $HARMONY_LPIPS_WEIGHTS if set
    overwrite: bool = False
    seed: int = 0
    plots: bool = True
    ssim: bool | None = None          # None: only where the protocol defines SSIM (cdtnet, pctnet)


@dataclass
class MethodPlan:
    name: str
    card: Any
    status: str = "ok"        # "ok" | "no checkpoint" | "unavailable"
    message: str = ""

    @property
    def runnable(self) -> bool:
        return self.status == "ok"


@dataclass
class BenchResult:
    out: Path
    protocol: str
    sizes: list
    methods: list[MethodPlan]
    rows: list[dict]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)   # (method, image, error)
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    paired: bool = True
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


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
        plans.append(plan)
    return plans


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


def cache_key(method: str, image: str, protocol: str, size: Any, lpips: bool, ssim: bool = False) -> str:
    return f"{method}|{protocol}|{size}|{image}" + ("|lpips" if lpips else "") + ("|ssim" if ssim else "")


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
    native = card.native_size or 256
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
                    hio.write_image(thumb_path(ctx.thumb_dir, name, unit.subset, unit.name), out, quality=90)
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


def _json_float(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _unjson_row(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        out[k] = float(v) if isinstance(v, str) and v in ("nan", "inf", "-inf") else v
    return out


def _check_run_json(cfg: BenchConfig, out: Path, sizes: list, data: Path) -> None:
    run_json = out / "run.json"
    current = {"protocol": cfg.protocol, "sizes": sizes, "data": str(data)}
    if run_json.is_file() and not cfg.overwrite:
        try:
            prev = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            prev = {}
        for k in ("protocol", "sizes", "data"):
            if prev.get(k) is not None and prev.get(k) != current[k]:
                raise InputError(f"{out}: holds a bench run with {k} {prev.get(k)!r} (now {current[k]!r}); use "
                                 "--overwrite to replace its reports or choose another --out")
    elif not run_json.is_file() and out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise InputError(f"{out}: folder is not empty and holds no bench run.json; use --overwrite or "
                         "choose another --out")
    hio.atomic_write_text(run_json, json.dumps({**current, "tool": "harmony bench"}, indent=2) + "\n")


def run_bench(cfg: BenchConfig) -> BenchResult:
    """Run and score every method on every image; write all the reports into ``cfg.out``."""
    t_start = time.perf_counter()
    protocol = M.get_protocol(cfg.protocol)          # InputError listing valid names
    sizes = parse_sizes(cfg.sizes)
    plans = resolve_methods(cfg.models, cfg.weights)  # InputError listing valid names
    data = Path(cfg.data) if cfg.data else sample_dataset(cfg.workers, cfg.progress)
    reader = DatasetReader(data, cfg.subsets)
    # Refuses, before any work, a subset without split information unless --split all (issue 19).
    samples = select_split(reader, cfg.split, limit=cfg.limit)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_run_json(cfg, out, sizes, data)

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

    result = BenchResult(out, cfg.protocol, sizes, plans, [], notes=notes)
    paired_subsets = {s for s in reader.subsets if reader.has_real(s)}
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

    runnable = [p.name for p in plans if p.runnable]
    use_lpips = bool(lpips_path)
    use_ssim = protocol.defines_ssim if cfg.ssim is None else bool(cfg.ssim)
    cache_path = out / CACHE_FILE
    cache = _read_cache(cache_path)
    units = []
    wanted: list[str] = []
    for s in ok_samples:
        todo = []
        for size in sizes:
            for name in runnable:
                k = cache_key(name, s.key, cfg.protocol, size, use_lpips, use_ssim)
                wanted.append(k)
                if k not in cache:
                    todo.append((name, size))
        if todo:
            units.append(_Unit(s.key, s.subset, s.name, str(s.composite), str(s.mask),
                               str(s.real) if (s.real and s.subset in paired_subsets) else None,
                               _extra_paths(s), todo))
    result.cached = sum(1 for k in wanted if k in cache)
    unpaired = any(s.subset not in paired_subsets for s in ok_samples)
    save_dir = str(out / "outputs") if (cfg.save_outputs or unpaired) else None
    # Small runs keep a JPEG of every output for the gallery (no re-run); large runs re-run the methods
    # on the few gallery images instead of writing thousands of files.
    small = len(ok_samples) * max(1, len(runnable)) <= 4000
    thumb_dir = str(out / "cache" / "thumbs" / f"{cfg.protocol}_{sizes[0]}") if small and cfg.gallery else None
    ctx = _Context(cfg.protocol, str(cfg.weights) if cfg.weights else None,
                   str(lpips_path) if lpips_path else None, save_dir, sizes[0], thumb_dir, use_ssim)
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
                k = cache_key(row["method"], f"{row['subset']}/{row['composite']}", cfg.protocol, row["size"],
                              use_lpips, use_ssim)
                if not row["error"]:
                    cache_fh.write(json.dumps({"key": k, "row": {c: _json_float(v) for c, v in row.items()}})
                                   + "\n")
                cache[k] = row
                result.computed += 1
            cache_fh.flush()

    skipped_keys = {k for k, _ in result.skipped}
    rows = []
    for s in ok_samples:
        if s.key in skipped_keys:
            continue
        for size in sizes:
            for name in runnable:
                k = cache_key(name, s.key, cfg.protocol, size, use_lpips, use_ssim)
                if k in cache:
                    row = _unjson_row(cache[k])
                    rows.append(row)
                    if row.get("error"):
                        result.failures.append((name, f"{s.key}@{size}", row["error"]))
    result.rows = rows
    result.seconds = time.perf_counter() - t_start

    from . import report

    result.files = report.write_all(result, cfg, reader=reader, samples=ok_samples, protocol=protocol,
                                    ctx=ctx)
    result.seconds = time.perf_counter() - t_start
    return result


def thumb_path(thumb_dir: str | os.PathLike, method: str, subset: str, name: str) -> Path:
    return Path(thumb_dir) / method / subset / (Path(name).stem + ".jpg")


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
