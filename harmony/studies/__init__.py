"""The papers' experiments as runnable, scaled studies (``harmony study NAME --scale ... --out DIR``).

A :class:`Study` is a declarative record: its name, the paper and table it reproduces, what it
measures, its :class:`Scale` presets (data sizes, training steps, simulations) and a ``run`` function
(``"module:function"``, imported on use) that builds the data with the library's generators, trains
with :func:`harmony.models.train.train`, scores with :func:`harmony.benchmark.runner.run_bench` or
:mod:`harmony.benchmark.bt`, and returns a :class:`StudyOutput`. :func:`run_study` writes the same five
files for every study:

``table.md`` / ``table.csv`` (our numbers), ``plot.png``, ``study.json`` (settings, seed, tool
version, data used, timings) and ``README.md`` (our table beside the paper's, and for each of the
paper's conclusions whether this run supports it at this scale).

Scales: ``test`` (seconds; what the test suite runs), ``tiny`` (minutes on 2 CPU cores: proves the
pipeline), ``small`` (tens of minutes) and ``paper`` (the paper's data sizes and settings). A scale that
needs the real datasets or a GPU says so up front and refuses (InputError -> exit 2) when they are
absent.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import serialize
from ..errors import InputError

SCALES = ("test", "tiny", "small", "paper")
OUTPUT_FILES = ("table.md", "table.csv", "plot.png", "study.json", "README.md")


@dataclass(frozen=True)
class Scale:
    """One size of a study. ``settings`` are the knobs the run function reads (all overridable with
    ``--set KEY=VALUE``); ``needs_data`` names the real dataset the scale needs (``--data``)."""

    name: str
    summary: str
    settings: Mapping[str, Any]
    needs_data: str | None = None
    needs_gpu: bool = False
    est_time: str = ""


@dataclass(frozen=True)
class Study:
    name: str
    paper: str
    table: str
    measures: str
    run: str                                   # "module:function"; function(ctx) -> StudyOutput
    scales: Mapping[str, Scale]
    notes: str = ""

    def scale(self, name: str) -> Scale:
        if name not in self.scales:
            raise InputError(f"--scale: study {self.name!r} has no scale {name!r} (valid: {', '.join(self.scales)})")
        return self.scales[name]

    def runner(self) -> Callable[[StudyContext], StudyOutput]:
        module, _, attr = self.run.partition(":")
        return getattr(importlib.import_module(module), attr)


@dataclass
class Conclusion:
    """One of the paper's claims and what this run says about it (``holds``: True / False / None =
    not testable at this scale)."""

    claim: str
    paper: str
    ours: str
    holds: bool | None

    @property
    def verdict(self) -> str:
        return {True: "holds", False: "does not hold", None: "not testable here"}[self.holds]


@dataclass
class StudyOutput:
    table: Any                                 # pandas DataFrame: our numbers
    paper_table: Any = None                    # pandas DataFrame: the paper's numbers (quoted exactly)
    paper_caption: str = ""
    conclusions: list[Conclusion] = field(default_factory=list)
    plot: Callable[[Path], None] | None = None  # draws DIR/plot.png
    data_used: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # rows/parts not runnable (and why)
    extra: dict = field(default_factory=dict)   # anything else worth keeping in study.json
    caveat: str | None = None                    # None: the default small-scale caveat; "" for none


@dataclass
class StudyContext:
    study: Study
    scale: Scale
    settings: dict
    out: Path
    seed: int
    data: Path | None = None
    workers: int | None = 0
    progress: bool = False

    @property
    def work(self) -> Path:
        """Intermediate files (generated data, checkpoints, bench caches): reused when a run resumes."""
        p = self.out / "work"
        p.mkdir(parents=True, exist_ok=True)
        return p


@dataclass
class StudyResult:
    study: str
    scale: str
    out: Path
    seconds: float
    output: StudyOutput
    files: list[str]


STUDIES: dict[str, Study] = {}


def register(study: Study) -> Study:
    if study.name in STUDIES:
        raise ValueError(f"study {study.name!r} is already registered")
    for name in study.scales:
        if name not in SCALES:
            raise ValueError(f"study {study.name!r}: unknown scale {name!r}")
    STUDIES[study.name] = study
    return study


def get_study(name: str) -> Study:
    _load_all()
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; valid: {', '.join(sorted(STUDIES))}")
    return STUDIES[name]


def list_studies() -> list[Study]:
    _load_all()
    return [STUDIES[n] for n in sorted(STUDIES)]


# One module per study; each calls register() at import (importing them is cheap: no torch).
STUDY_MODULES = ("power", "domain_code", "fg_ratio", "resolution", "inharmony", "ablations", "cross_category")


def _load_all() -> None:
    import importlib.util

    for mod in STUDY_MODULES:
        full = f"{__name__}.{mod}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


# --------------------------------------------------------------------------------------------------
# settings overrides


def parse_overrides(items: Sequence[str], defaults: Mapping[str, Any]) -> dict:
    """``["simulations=50", "strengths=a:1,b:0"]`` -> typed values (the type of the default)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InputError(f"--set: expected KEY=VALUE, got {item!r}")
        if key not in defaults:
            raise InputError(f"--set: unknown setting {key!r} (valid: {', '.join(sorted(defaults))})")
        out[key] = _coerce(value.strip(), defaults[key], key)
    return out


def _coerce(value: str, default: Any, key: str) -> Any:
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "y"):
                return True
            if value.lower() in ("0", "false", "no", "n"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, dict):
            pairs = [p.split(":", 1) for p in value.split(",") if p.strip()]
            return {k.strip(): float(v) for k, v in pairs}
        if isinstance(default, (list, tuple)):
            kind = type(default[0]) if default else str
            return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except (ValueError, TypeError):
        raise InputError(f"--set {key}: cannot read {value!r} as {type(default).__name__}") from None
    return value


# --------------------------------------------------------------------------------------------------
# running


def check_requirements(study: Study, scale: Scale, data: str | os.PathLike | None) -> None:
    """Refuse (InputError) a scale whose real dataset or GPU is absent, saying what it needs."""
    if scale.needs_data and (data is None or not Path(data).is_dir()):
        raise InputError(f"study {study.name} --scale {scale.name} needs {scale.needs_data}: pass --data DIR "
                         f"({'not found: ' + str(data) if data else 'none given'}); use --scale tiny or small "
                         "for the embedded sample data")
    if scale.needs_gpu:
        try:
            import torch

            ok = torch.cuda.is_available()
        except ImportError:  # pragma: no cover - torch is a dependency
            ok = False
        if not ok:
            raise InputError(f"study {study.name} --scale {scale.name} needs a CUDA GPU (the paper's training "
                             "sizes); none is available here. Use --scale tiny or small on CPU")


def _check_out(out: Path, study: Study, scale: Scale, seed: int, settings: dict, overwrite: bool) -> None:
    sj = out / "study.json"
    if overwrite or not out.exists() or not any(out.iterdir()):
        return
    if sj.is_file():
        try:
            prev = json.loads(sj.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            prev = {}
        same = (prev.get("study") == study.name and prev.get("scale") == scale.name and prev.get("seed") == seed
                and prev.get("settings") == json.loads(serialize.dumps(settings)))
        if same:
            return
        raise InputError(f"{out}: holds another study run ({prev.get('study')} --scale {prev.get('scale')} --seed "
                         f"{prev.get('seed')}); use --overwrite or choose another --out")
    if (out / "work").is_dir() and not (set(os.listdir(out)) - {"work"}):
        return   # an interrupted run of (presumably) this study: resume it
    raise InputError(f"{out}: folder is not empty and holds no study.json; use --overwrite or choose another --out")


def run_study(name: str, scale: str = "tiny", out: str | os.PathLike = "study_out", *, seed: int = 0,
              data: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
              workers: int | None = 0, progress: bool = False, overwrite: bool = False) -> StudyResult:
    """Run one study at one scale and write its five files into ``out``."""
    study = get_study(name)
    sc = study.scale(scale)
    check_requirements(study, sc, data)
    settings = {**dict(sc.settings), **dict(overrides or {})}
    out = Path(out)
    _check_out(out, study, sc, seed, settings, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    ctx = StudyContext(study, sc, settings, out, int(seed), Path(data) if data else None, workers, progress)
    t0 = time.perf_counter()
    output = study.runner()(ctx)
    seconds = time.perf_counter() - t0
    files = write_outputs(ctx, output, seconds)
    return StudyResult(study.name, sc.name, out, seconds, output, files)


# --------------------------------------------------------------------------------------------------
# writing


def _fmt_float(v: float) -> str:
    """Up to 4 decimals, trailing zeros dropped: the paper's numbers print exactly as published."""
    if abs(v) == float("inf"):
        return "inf" if v > 0 else "-inf"
    if 0 < abs(v) < 0.01:
        return format(v, ".4g")
    text = format(v, ".4f").rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _md_table(df) -> str:
    import math

    from ..serialize import markdown_table

    rows = []
    for row in df.itertuples(index=False):
        rows.append(["n/a" if isinstance(v, float) and math.isnan(v) else
                     (_fmt_float(v) if isinstance(v, float) else str(v)) for v in row])
    return markdown_table([str(c) for c in df.columns], rows, align="l" * len(df.columns))


def write_outputs(ctx: StudyContext, output: StudyOutput, seconds: float) -> list[str]:
    from .. import __version__
    from .. import io as hio

    out = ctx.out
    study, sc = ctx.study, ctx.scale
    table = output.table
    hio.atomic_write_text(out / "table.csv", table.to_csv(index=False))
    hio.atomic_write_text(out / "table.md", _md_table(table))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if output.plot is not None:
        output.plot(out / "plot.png")
    else:   # pragma: no cover - every study draws its own plot
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.axis("off")
        ax.text(0.5, 0.5, study.name, ha="center")
        fig.savefig(out / "plot.png", dpi=100)
        plt.close(fig)
    git = None
    try:
        from ..models.checkpoint import git_revision

        git = git_revision()
    except Exception:  # noqa: BLE001 - provenance only
        git = None
    meta = {"study": study.name, "scale": sc.name, "seed": ctx.seed, "settings": ctx.settings,
            "paper": study.paper, "table": study.table, "measures": study.measures,
            "tool": "harmony", "tool_version": __version__, "git": git, "python": platform.python_version(),
            "data": output.data_used, "data_arg": str(ctx.data) if ctx.data else None,
            "seconds": round(seconds, 2),
            "conclusions": [{"claim": c.claim, "paper": c.paper, "ours": c.ours, "holds": c.holds}
                            for c in output.conclusions],
            "missing": output.missing, "notes": output.notes, "extra": output.extra,
            "files": list(OUTPUT_FILES)}
    hio.atomic_write_text(out / "study.json", serialize.dumps(meta))
    hio.atomic_write_text(out / "README.md", render_readme(ctx, output, seconds))
    return [str(out / f) for f in OUTPUT_FILES]


def render_readme(ctx: StudyContext, output: StudyOutput, seconds: float) -> str:
    study, sc = ctx.study, ctx.scale
    lines = [f"# Study `{study.name}` at scale `{sc.name}`", "",
             f"Reproduces: {study.paper}, {study.table}. Measures: {study.measures}", "",
             f"Scale `{sc.name}`: {sc.summary} Seed {ctx.seed}; ran in {seconds:.1f} s.", "",
             "## Our numbers", "", _md_table(output.table)]
    if output.paper_table is not None:
        lines += ["## The paper's numbers", "", output.paper_caption or "", "", _md_table(output.paper_table)]
    if output.conclusions:
        lines += ["## The paper's conclusions at this scale", "", "| claim | paper | this run | verdict |",
                  "|---|---|---|---|"]
        for c in output.conclusions:
            lines.append(f"| {c.claim} | {c.paper} | {c.ours} | **{c.verdict}** |")
        lines.append("")
        held = sum(c.holds is True for c in output.conclusions)
        failed = sum(c.holds is False for c in output.conclusions)
        caveat = output.caveat
        if caveat is None:
            caveat = ("at this scale the runs use sample data and minutes of CPU training, so a conclusion that "
                      "does not hold here is not evidence against the paper" if sc.name != "paper" else "")
        lines += [f"Summary: {held} of {len(output.conclusions)} conclusions hold, {failed} do not"
                  + (f" ({caveat})." if caveat else "."), ""]
    if output.missing:
        lines += ["## Not run (missing pieces)", ""] + [f"- {m}" for m in output.missing] + [""]
    if output.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in output.notes] + [""]
    if output.data_used:
        lines += ["## Data used", ""] + [f"- {k}: {v}" for k, v in output.data_used.items()] + [""]
    lines += ["Files: table.md, table.csv, plot.png, study.json (settings, seed, tool version, data).", ""]
    return "\n".join(lines)
