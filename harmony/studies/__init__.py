"""The papers' experiments as runnable, scaled studies (``harmony study NAME --scale ... --out DIR``).

Every study has one shape, a :class:`Study` record registered at import with :func:`register`:

1. a **data recipe** (``recipe(ctx)``): the embedded sample data made with the library's generators,
   or the user's ``--data``;
2. the **methods** (``methods(ctx, data)``): training with :func:`harmony.models.train.train`, scoring
   with :func:`harmony.benchmark.runner.run_bench` or :mod:`harmony.benchmark.bt`;
3. a **table builder** (``build_table(ctx, measured)``): our numbers as a pandas DataFrame;
4. the paper's **conclusions as data** (:class:`Claim`: the claim, the paper's numbers behind it and a
   judge that reads our table), the paper's own table (:class:`PaperTable`), a **plot spec**
   (:class:`harmony.studies.plotting.Figure`) and a **report** (:class:`Report`: data used, notes,
   rows not run).

:meth:`Study.execute` runs the steps in that order for any study, and :func:`run_study` writes the
same five files for every study through one writer (:func:`write_outputs`, with
:func:`harmony.serialize.dumps` and :func:`harmony.serialize.markdown_table`):

``table.md`` / ``table.csv`` (our numbers), ``plot.png`` (drawn by
:func:`harmony.studies.plotting.draw`), ``study.json`` (settings, seed, tool version, data used,
timings) and ``README.md`` (our table beside the paper's, and for each of the paper's conclusions
whether this run supports it at this scale).

Scales: ``test`` (seconds; what the test suite runs), ``tiny`` (minutes on 2 CPU cores: proves the
pipeline), ``small`` (tens of minutes) and ``paper`` (the paper's data sizes and settings). A scale that
needs the real datasets or a GPU says so up front and refuses (InputError -> exit 2) when they are
absent.

References
----------
.. [1] Tsai, Shen, Lin, Sunkavalli, Lu and Yang, "Deep Image Harmonization", CVPR 2017 (DIH).
.. [2] Cong, Niu, Zhang et al., "BargainNet: Background-Guided Domain Translation for Image
   Harmonization", ICME 2021.
.. [3] Liang, Pun et al., "Image Harmonization with Region-wise Contrastive Learning", ICCV 2021.
.. [4] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization" (SPRIH), CVPR 2023.
.. [5] Cao, Cong, Niu et al., "Deep Image Harmonization by Bridging the Reality Gap" (RdHarmony /
   CharmNet), BMVC 2022.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import serialize
from ..errors import InputError

SCALES = ("test", "tiny", "small", "paper")
OUTPUT_FILES = ("table.md", "table.csv", "plot.png", "study.json", "README.md")


@dataclass(frozen=True)
class Scale:
    """One size of a study.

    Parameters
    ----------
    name : str
        One of :data:`SCALES`.
    summary : str
        One sentence for ``--help`` and the README (data sizes, training steps).
    settings : Mapping[str, Any]
        The knobs the study's steps read from ``ctx.settings``; each is overridable with
        ``--set KEY=VALUE`` (read with the type of its default, :func:`parse_overrides`).
    needs_data : str or None, optional
        The real dataset the scale needs (``--data``), in words; None when the sample data serve.
    needs_gpu : bool, optional
        Whether the scale refuses to run without a CUDA GPU.
    est_time : str, optional
        Expected wall time, shown by ``harmony study list``.
    """

    name: str
    summary: str
    settings: Mapping[str, Any]
    needs_data: str | None = None
    needs_gpu: bool = False
    est_time: str = ""


@dataclass
class Conclusion:
    """One of the paper's claims and what this run says about it.

    Parameters
    ----------
    claim : str
        The claim, in words.
    paper : str
        The paper's numbers behind it.
    ours : str
        What this run measured.
    holds : bool or None
        True / False, or None when the claim is not testable at this scale.
    """

    claim: str
    paper: str
    ours: str
    holds: bool | None

    @property
    def verdict(self) -> str:
        """``"holds"``, ``"does not hold"`` or ``"not testable here"``."""
        return {True: "holds", False: "does not hold", None: "not testable here"}[self.holds]


@dataclass(frozen=True)
class Finding:
    """What a :class:`Claim`'s judge read from one run.

    Parameters
    ----------
    ours : str
        This run's numbers, in words (the README's "this run" column).
    holds : bool or None
        Whether the claim holds here; None when it cannot be tested at this scale.
    fields : Mapping[str, Any], optional
        Values for the ``{placeholders}`` of the claim's text and paper numbers (for example the sizes
        of a resolution sweep).
    """

    ours: str
    holds: bool | None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One of the paper's conclusions, as data: the claim, its paper numbers and how to judge it.

    Parameters
    ----------
    claim : str
        The conclusion in words; may hold ``{placeholders}`` filled from the finding's ``fields`` and
        ``{item}``.
    paper : str
        The paper's numbers behind it (quoted exactly), with the same placeholders.
    judge : Callable[[Evidence, Any], Finding or None]
        Reads the run (``judge(evidence, item)``) and returns a :class:`Finding`, or None when the rows
        it needs were not run (the conclusion is then left out).
    each : Callable[[Evidence], Iterable] or None, optional
        When given, the claim is judged once per item it yields (for example once per learned
        method); ``item`` is None otherwise.
    """

    claim: str
    paper: str
    judge: Callable[[Evidence, Any], Finding | None]
    each: Callable[[Evidence], Iterable[Any]] | None = None

    def conclusions(self, evidence: Evidence) -> list[Conclusion]:
        """Judge the claim on one run.

        Parameters
        ----------
        evidence : Evidence
            The run: context, data, measurements and table.

        Returns
        -------
        list of Conclusion
            One per item (one when ``each`` is None); none for items the judge skips.
        """
        items = [None] if self.each is None else list(self.each(evidence))
        out = []
        for item in items:
            found = self.judge(evidence, item)
            if found is None:
                continue
            fields = {"item": item, **dict(found.fields)}
            out.append(Conclusion(self.claim.format(**fields), self.paper.format(**fields), found.ours,
                                  found.holds))
        return out


@dataclass(frozen=True)
class PaperTable:
    """The paper's table, quoted exactly.

    Parameters
    ----------
    columns : Sequence[str]
        Column names.
    rows : Sequence[Sequence]
        Rows of cells (numbers as published; text where the paper gives no number).
    caption : str
        Where the table comes from (paper, table number, dataset).
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str

    def frame(self):
        """The table as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per paper row, columns :attr:`columns`.
        """
        import pandas as pd

        return pd.DataFrame([tuple(r) for r in self.rows], columns=list(self.columns))


@dataclass
class Report:
    """What a study says about its run besides the table.

    Parameters
    ----------
    data_used : dict
        The data (generator and options, or ``--data``), written to README.md and study.json.
    notes : list of str, optional
        Caveats of this run.
    missing : list of str, optional
        The paper's rows or parts not run here, and why.
    extra : dict, optional
        Anything else worth keeping in study.json.
    """

    data_used: dict
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class StudyOutput:
    """Everything :func:`write_outputs` writes for one run.

    Parameters
    ----------
    table : pandas.DataFrame
        Our numbers.
    paper_table : pandas.DataFrame or None, optional
        The paper's numbers, quoted exactly.
    paper_caption : str, optional
        Where the paper's numbers come from.
    conclusions : list of Conclusion, optional
        The paper's conclusions judged on this run.
    figure : harmony.studies.plotting.Figure or None, optional
        The plot spec drawn into ``plot.png``.
    data_used, notes, missing, extra
        As in :class:`Report`.
    caveat : str or None, optional
        The README summary's caveat; None: the default small-scale caveat; ``""``: none.
    """

    table: Any
    paper_table: Any = None
    paper_caption: str = ""
    conclusions: list[Conclusion] = field(default_factory=list)
    figure: Any = None
    data_used: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    caveat: str | None = None


@dataclass
class StudyContext:
    """One run of one study: what its steps read.

    Parameters
    ----------
    study : Study
        The study being run.
    scale : Scale
        The chosen scale.
    settings : dict
        The scale's settings with the ``--set`` overrides applied.
    out : pathlib.Path
        The output folder.
    seed : int
        Random seed of data generation, training and simulation.
    data : pathlib.Path or None, optional
        The user's dataset root (``--data``); None: the embedded sample data.
    workers : int or None, optional
        Worker processes for data generation and benchmarking (0: inline).
    progress : bool, optional
        Whether to show progress bars.
    """

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
        folder = self.out / "work"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass
class Evidence:
    """A finished run as the claims, the plot spec and the report read it.

    Parameters
    ----------
    ctx : StudyContext
        The run's context (settings, seed, folders).
    data : Any
        What the study's data recipe returned.
    measured : Any
        What the study's methods step returned.
    table : pandas.DataFrame
        What the study's table builder returned.
    """

    ctx: StudyContext
    data: Any
    measured: Any
    table: Any

    @property
    def settings(self) -> dict:
        """The run's settings (``ctx.settings``)."""
        return self.ctx.settings

    def cell(self, key_column: str, key: Any, column: str) -> float:
        """One number of the table: ``column`` of the first row whose ``key_column`` equals ``key``.

        Parameters
        ----------
        key_column : str
            Column that names the rows (``"method"``, ``"row"``).
        key : Any
            The row's name.
        column : str
            The column to read.

        Returns
        -------
        float
            The value; NaN when no row has that name.
        """
        rows = self.table[self.table[key_column] == key]
        return float(rows[column].iloc[0]) if len(rows) else float("nan")


@dataclass(frozen=True)
class Study:
    """A paper's experiment, declared once: data recipe, methods, table builder, claims, plot, report.

    Parameters
    ----------
    name : str
        The command name (``harmony study NAME``).
    paper : str
        The paper (authors, venue) and section reproduced.
    table : str
        The paper's table or figure reproduced.
    measures : str
        What the study measures, in one sentence.
    scales : Mapping[str, Scale]
        The scale presets, keyed by name (a subset of :data:`SCALES`).
    recipe : Callable[[StudyContext], Any]
        Builds or finds the data (``--data`` wins over the embedded sample).
    methods : Callable[[StudyContext, Any], Any]
        Trains, benchmarks or simulates on that data; returns the measurements.
    build_table : Callable[[StudyContext, Any], pandas.DataFrame]
        Our numbers as one table.
    claims : Sequence[Claim]
        The paper's conclusions with their paper numbers, judged in this order.
    paper_table : PaperTable
        The paper's table, quoted exactly.
    plot : Callable[[Evidence], harmony.studies.plotting.Figure]
        The plot spec of ``plot.png``.
    report : Callable[[Evidence], Report]
        Data used, notes and the rows not run.
    caveat : str or None, optional
        The README summary's caveat (None: the default small-scale caveat).
    notes : str, optional
        A usage line appended to the command's ``--help`` examples.
    """

    name: str
    paper: str
    table: str
    measures: str
    scales: Mapping[str, Scale]
    recipe: Callable[[StudyContext], Any]
    methods: Callable[[StudyContext, Any], Any]
    build_table: Callable[[StudyContext, Any], Any]
    claims: Sequence[Claim]
    paper_table: PaperTable
    plot: Callable[[Evidence], Any]
    report: Callable[[Evidence], Report]
    caveat: str | None = None
    notes: str = ""

    def scale(self, name: str) -> Scale:
        """The scale called ``name``.

        Parameters
        ----------
        name : str
            A scale name.

        Returns
        -------
        Scale
            The study's preset of that name.

        Raises
        ------
        InputError
            When the study has no such scale.
        """
        if name not in self.scales:
            raise InputError(f"--scale: study {self.name!r} has no scale {name!r} (valid: {', '.join(self.scales)})")
        return self.scales[name]

    def execute(self, ctx: StudyContext) -> StudyOutput:
        """Run the study's steps in order: recipe, methods, table, claims, plot spec, report.

        Parameters
        ----------
        ctx : StudyContext
            The run's context.

        Returns
        -------
        StudyOutput
            What :func:`write_outputs` writes.
        """
        data = self.recipe(ctx)
        measured = self.methods(ctx, data)
        table = self.build_table(ctx, measured)
        evidence = Evidence(ctx, data, measured, table)
        conclusions = [c for claim in self.claims for c in claim.conclusions(evidence)]
        report = self.report(evidence)
        return StudyOutput(table=table, paper_table=self.paper_table.frame(), paper_caption=self.paper_table.caption,
                           conclusions=conclusions, figure=self.plot(evidence), data_used=report.data_used,
                           notes=report.notes, missing=report.missing, extra=report.extra, caveat=self.caveat)


@dataclass
class StudyResult:
    """What :func:`run_study` returns.

    Parameters
    ----------
    study, scale : str
        The study's and the scale's names.
    out : pathlib.Path
        The output folder.
    seconds : float
        Wall time of the study's steps (writing excluded).
    output : StudyOutput
        The table, conclusions and report written.
    files : list of str
        Paths of the five files written.
    """

    study: str
    scale: str
    out: Path
    seconds: float
    output: StudyOutput
    files: list[str]


STUDIES: dict[str, Study] = {}


def register(study: Study) -> Study:
    """Add a study to the registry (each study module calls it at import).

    Parameters
    ----------
    study : Study
        The study record.

    Returns
    -------
    Study
        The same record.

    Raises
    ------
    ValueError
        When the name is taken or a scale is not one of :data:`SCALES`.
    """
    if study.name in STUDIES:
        raise ValueError(f"study {study.name!r} is already registered")
    for name in study.scales:
        if name not in SCALES:
            raise ValueError(f"study {study.name!r}: unknown scale {name!r}")
    STUDIES[study.name] = study
    return study


def get_study(name: str) -> Study:
    """The registered study called ``name``.

    Parameters
    ----------
    name : str
        A study name (``harmony study list`` shows them).

    Returns
    -------
    Study
        Its record.

    Raises
    ------
    InputError
        When no study has that name.
    """
    _load_all()
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; valid: {', '.join(sorted(STUDIES))}")
    return STUDIES[name]


def list_studies() -> list[Study]:
    """Every registered study.

    Returns
    -------
    list of Study
        Sorted by name.
    """
    _load_all()
    return [STUDIES[n] for n in sorted(STUDIES)]


# One module per study; each calls register() at import (importing them is cheap: no torch).
STUDY_MODULES = ("power", "domain_code", "fg_ratio", "resolution", "inharmony", "ablations", "cross_category")


def _load_all() -> None:
    for module in STUDY_MODULES:
        full = f"{__name__}.{module}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


def parse_overrides(items: Sequence[str], defaults: Mapping[str, Any]) -> dict:
    """Read ``--set KEY=VALUE`` items with the type of each setting's default.

    Parameters
    ----------
    items : Sequence[str]
        ``KEY=VALUE`` strings; ``-`` in a key reads as ``_``. Lists are comma-separated
        (``grid=0.5,1,2``), mappings ``name:number`` pairs (``strengths=a:1.2,b:0``).
    defaults : Mapping[str, Any]
        The scale's settings (their types decide how a value is read).

    Returns
    -------
    dict
        ``{key: typed value}``.

    Raises
    ------
    InputError
        On an item without ``=``, an unknown key or a value of the wrong type.

    Examples
    --------
    >>> parse_overrides(["simulations=50", "strengths=a:1,b:0"], {"simulations": 100, "strengths": {}})
    {'simulations': 50, 'strengths': {'a': 1.0, 'b': 0.0}}
    """
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


def check_requirements(study: Study, scale: Scale, data: str | os.PathLike | None) -> None:
    """Refuse a scale whose real dataset or GPU is absent, saying what it needs.

    Parameters
    ----------
    study : Study
        The study (its name goes into the message).
    scale : Scale
        The chosen scale.
    data : str, os.PathLike or None
        The ``--data`` argument.

    Raises
    ------
    InputError
        When the scale needs a dataset and ``data`` is not a folder, or needs a CUDA GPU and torch sees
        none.
    """
    if scale.needs_data and (data is None or not Path(data).is_dir()):
        raise InputError(f"study {study.name} --scale {scale.name} needs {scale.needs_data}: pass --data DIR "
                         f"({'not found: ' + str(data) if data else 'none given'}); use --scale tiny or small "
                         "for the embedded sample data")
    if scale.needs_gpu:
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"study {study.name} --scale {scale.name} needs a CUDA GPU (the paper's training "
                             "sizes); none is available here. Use --scale tiny or small on CPU")


def _check_out(out: Path, study: Study, scale: Scale, seed: int, settings: dict, overwrite: bool) -> None:
    """Refuse an output folder that holds another run (a repeat of the same run resumes)."""
    meta_path = out / "study.json"
    if overwrite or not out.exists() or not any(out.iterdir()):
        return
    if meta_path.is_file():
        try:
            previous = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = {}
        same = (previous.get("study") == study.name and previous.get("scale") == scale.name
                and previous.get("seed") == seed and previous.get("settings") == json.loads(serialize.dumps(settings)))
        if same:
            return
        raise InputError(f"{out}: holds another study run ({previous.get('study')} --scale {previous.get('scale')} "
                         f"--seed {previous.get('seed')}); use --overwrite or choose another --out")
    if (out / "work").is_dir() and not (set(os.listdir(out)) - {"work"}):
        return   # an interrupted run of (presumably) this study: resume it
    raise InputError(f"{out}: folder is not empty and holds no study.json; use --overwrite or choose another --out")


def run_study(name: str, scale: str = "tiny", out: str | os.PathLike = "study_out", *, seed: int = 0,
              data: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
              workers: int | None = 0, progress: bool = False, overwrite: bool = False) -> StudyResult:
    """Run one study at one scale and write its five files into ``out``.

    Parameters
    ----------
    name : str
        A registered study (``harmony study list``).
    scale : str, optional
        ``test``, ``tiny``, ``small`` or ``paper`` (where the study has it).
    out : str or os.PathLike, optional
        Output folder; intermediate data, checkpoints and bench caches go to ``out/work`` and are
        reused when the same run (study, scale, seed, settings) is repeated.
    seed : int, optional
        Random seed.
    data : str, os.PathLike or None, optional
        A real dataset root (iHarmony4 layout) instead of the embedded sample data.
    overrides : Mapping[str, Any] or None, optional
        Settings replacing the scale's (typed values, see :func:`parse_overrides`).
    workers : int or None, optional
        Worker processes for data generation and benchmarking (0: inline).
    progress : bool, optional
        Show progress bars.
    overwrite : bool, optional
        Replace another run's files in ``out``.

    Returns
    -------
    StudyResult
        The output, its files and the wall time.

    Raises
    ------
    InputError
        Unknown study or scale, a missing dataset or GPU, or an ``out`` holding another run.

    Examples
    --------
    >>> result = run_study("study-power", "test", "runs/power")          # doctest: +SKIP
    >>> [c.verdict for c in result.output.conclusions]                   # doctest: +SKIP
    ['holds', 'does not hold']
    """
    study = get_study(name)
    chosen = study.scale(scale)
    check_requirements(study, chosen, data)
    settings = {**dict(chosen.settings), **dict(overrides or {})}
    out = Path(out)
    _check_out(out, study, chosen, seed, settings, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    ctx = StudyContext(study, chosen, settings, out, int(seed), Path(data) if data else None, workers, progress)
    started = time.perf_counter()
    output = study.execute(ctx)
    seconds = time.perf_counter() - started
    files = write_outputs(ctx, output, seconds)
    return StudyResult(study.name, chosen.name, out, seconds, output, files)


def _format_float(value: float) -> str:
    """Up to 4 decimals, trailing zeros dropped: the paper's numbers print exactly as published."""
    if abs(value) == float("inf"):
        return "inf" if value > 0 else "-inf"
    if 0 < abs(value) < 0.01:
        return format(value, ".4g")
    text = format(value, ".4f").rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def markdown(frame) -> str:
    """A study table as Markdown: floats with up to 4 decimals (trailing zeros dropped), NaN as ``n/a``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.

    Returns
    -------
    str
        A left-aligned Markdown table (:func:`harmony.serialize.markdown_table`).
    """
    import math

    rows = []
    for row in frame.itertuples(index=False):
        rows.append(["n/a" if isinstance(v, float) and math.isnan(v) else
                     (_format_float(v) if isinstance(v, float) else str(v)) for v in row])
    return serialize.markdown_table([str(c) for c in frame.columns], rows, align="l" * len(frame.columns))


def _git_revision() -> str | None:
    from ..models.checkpoint import git_revision

    try:
        return git_revision()
    except Exception:  # noqa: BLE001 - provenance only
        return None


def write_outputs(ctx: StudyContext, output: StudyOutput, seconds: float) -> list[str]:
    """Write a run's five files (:data:`OUTPUT_FILES`) into ``ctx.out``.

    Parameters
    ----------
    ctx : StudyContext
        The run's context.
    output : StudyOutput
        The table, paper table, conclusions, plot spec and report.
    seconds : float
        The run's wall time (recorded in study.json and README.md).

    Returns
    -------
    list of str
        The paths written, in the order of :data:`OUTPUT_FILES`.
    """
    from .. import __version__
    from .. import io as hio
    from .plotting import draw

    out, study = ctx.out, ctx.study
    hio.atomic_write_text(out / "table.csv", output.table.to_csv(index=False))
    hio.atomic_write_text(out / "table.md", markdown(output.table))
    draw(output.figure, out / "plot.png")
    meta = {"study": study.name, "scale": ctx.scale.name, "seed": ctx.seed, "settings": ctx.settings,
            "paper": study.paper, "table": study.table, "measures": study.measures,
            "tool": "harmony", "tool_version": __version__, "git": _git_revision(), "python": platform.python_version(),
            "data": output.data_used, "data_arg": str(ctx.data) if ctx.data else None,
            "seconds": round(seconds, 2),
            "conclusions": [{"claim": c.claim, "paper": c.paper, "ours": c.ours, "holds": c.holds}
                            for c in output.conclusions],
            "missing": output.missing, "notes": output.notes, "extra": output.extra,
            "files": list(OUTPUT_FILES)}
    hio.atomic_write_text(out / "study.json", serialize.dumps(meta))
    hio.atomic_write_text(out / "README.md", render_readme(ctx, output, seconds))
    return [str(out / f) for f in OUTPUT_FILES]


def _conclusion_lines(ctx: StudyContext, output: StudyOutput) -> list[str]:
    """The README's conclusions table and its one-line summary."""
    lines = ["## The paper's conclusions at this scale", "", "| claim | paper | this run | verdict |", "|---|---|---|---|"]
    for c in output.conclusions:
        lines.append(f"| {c.claim} | {c.paper} | {c.ours} | **{c.verdict}** |")
    lines.append("")
    held = sum(c.holds is True for c in output.conclusions)
    failed = sum(c.holds is False for c in output.conclusions)
    caveat = output.caveat
    if caveat is None:
        caveat = ("at this scale the runs use sample data and minutes of CPU training, so a conclusion that "
                  "does not hold here is not evidence against the paper" if ctx.scale.name != "paper" else "")
    lines += [f"Summary: {held} of {len(output.conclusions)} conclusions hold, {failed} do not"
              + (f" ({caveat})." if caveat else "."), ""]
    return lines


def render_readme(ctx: StudyContext, output: StudyOutput, seconds: float) -> str:
    """The run's README.md: our table beside the paper's, the conclusions' verdicts, notes, data used.

    Parameters
    ----------
    ctx : StudyContext
        The run's context.
    output : StudyOutput
        What the run produced.
    seconds : float
        The run's wall time.

    Returns
    -------
    str
        Markdown text.
    """
    study, scale = ctx.study, ctx.scale
    lines = [f"# Study `{study.name}` at scale `{scale.name}`", "",
             f"Reproduces: {study.paper}, {study.table}. Measures: {study.measures}", "",
             f"Scale `{scale.name}`: {scale.summary} Seed {ctx.seed}; ran in {seconds:.1f} s.", "",
             "## Our numbers", "", markdown(output.table)]
    if output.paper_table is not None:
        lines += ["## The paper's numbers", "", output.paper_caption or "", "", markdown(output.paper_table)]
    if output.conclusions:
        lines += _conclusion_lines(ctx, output)
    if output.missing:
        lines += ["## Not run (missing pieces)", ""] + [f"- {m}" for m in output.missing] + [""]
    if output.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in output.notes] + [""]
    if output.data_used:
        lines += ["## Data used", ""] + [f"- {k}: {v}" for k, v in output.data_used.items()] + [""]
    lines += ["Files: table.md, table.csv, plot.png, study.json (settings, seed, tool version, data).", ""]
    return "\n".join(lines)
