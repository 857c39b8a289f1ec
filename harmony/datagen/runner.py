"""Run a generator's work units into a :class:`~harmony.dataset.DatasetWriter`, resumably.

Every generator is a :class:`Generator`: a declaration of its steps, which :func:`generate` runs in
order: resolve the inputs (the embedded sample data or the user's), plan the work units, refuse with
one line when there are none, run the units, summarise. A unit is picklable (one source image, photo,
scene or view, with its key and seed); a module-level ``work(unit, layout) -> record`` writes the
unit's files and returns ``{"rows": [...manifest rows], "rejected": [{"reason": ...}],
"skipped": [{"item", "reason"}]}``; :func:`run_units` runs them. A unit's record is written only after
all its files, and the parent then adds the unit's key to the subset's journal
(:class:`harmony.dataset.UnitJournal`), so a killed run resumes where it stopped by reading one file;
failed units get no record and are retried by the next run. SIGINT/SIGTERM end the run cleanly
(:class:`harmony.parallel.Interrupted`, with the units done so far); ``.harmony/run_state.json`` says
whether the run finished, which ``harmony check`` reads.

References
----------
.. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020 (the
   iHarmony4 layout every generator writes).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dataset import DatasetWriter, FinalizeSummary, SubsetLayout, UnitJournal, finished_keys, write_run_state
from ..errors import InputError
from ..parallel import Interrupted, map_units


def _job(work: Callable[[Any, SubsetLayout], dict], layout: SubsetLayout, unit: Any) -> dict:
    record = work(unit, layout) or {}
    layout.write_unit(unit.key, record)
    return {"rows": len(record.get("rows", []))}


def skipped_lines(skipped: Sequence[tuple[str, str]], label: str) -> list[str]:
    """Summary lines for skipped inputs: counts per reason, then the first 10 items.

    Parameters
    ----------
    skipped : sequence of (str, str)
        ``(item, reason)`` pairs.
    label : str
        The first line's label (``"skipped inputs"``).

    Returns
    -------
    list of str
        ``"<label>: <reason> <count>, ..."`` (reasons sorted), then ``"  - <item>: <reason>"`` lines and,
        past 10, a line saying how many more.
    """
    reasons: dict[str, int] = {}
    for _item, reason in skipped:
        reasons[reason] = reasons.get(reason, 0) + 1
    out = [f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))]
    for item, reason in skipped[:10]:
        out.append(f"  - {item}: {reason}")
    if len(skipped) > 10:
        out.append(f"  ... and {len(skipped) - 10} more (see the unit records)")
    return out


def empty_split_lines(subset: str, train: int, test: int, options: str = "--test-fraction") -> list[str]:
    """A warning line when a split came out empty although composites were made (small datasets).

    ``harmony bench`` scores the test split and ``harmony train`` reads the train split, so either
    empty is worth a line in the summary that says how to change it.

    Parameters
    ----------
    subset : str
        Subset name, quoted in the warning.
    train, test : int
        Composites in each split.
    options : str
        The generator's flags that set the split (``--test-fraction`` or ``--test-fraction/--test-ids``).

    Returns
    -------
    list of str
        One warning line, or no line when both splits have composites (or none was made).
    """
    total = train + test
    if total == 0:
        return []
    if test == 0:
        how = "raise --test-fraction (e.g. 0.5)"
        if "--test-ids" in options:
            how += " or list the test images with --test-ids"
        return [f"warning: {subset}: the test split is empty (0 of {total} composites), so `harmony bench` has "
                f"nothing to score here; {how}"]
    if train == 0:
        return [f"warning: {subset}: the train split is empty (all {total} composites are test), so "
                f"`harmony train` has nothing to learn from here; lower --test-fraction"]
    return []


@dataclass
class RunSummary:
    """Counts of one generator run, printed by the command through :meth:`lines`.

    Attributes
    ----------
    out : str
        The subset folder.
    subset : str
        The subset name (``HCOCO``, ...).
    units_total, units_resumed, units_run : int
        Units planned, found already done (resumed) and run now.
    seconds : float
        Wall-clock time of the run (not of planning).
    failed : list of (str, str)
        ``(unit key, error)`` of units that raised; they are retried by the next run.
    final : FinalizeSummary or None
        Composites per split, rejections and skipped inputs, from the finalised manifest.
    notes : list of str
        Extra summary lines (the planner's first).
    made_this_run : int
        Composites written by this run.
    split_options : str
        The generator's flags that set the split (named by the empty-split warning).
    """

    out: str
    subset: str
    units_total: int
    units_resumed: int
    units_run: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)
    final: FinalizeSummary | None = None
    notes: list[str] = field(default_factory=list)
    made_this_run: int = 0
    split_options: str = "--test-fraction"      # the generator's flags that set the split (for the warning)

    @property
    def throughput(self) -> float:
        """Composites written per second of this run (0 when nothing ran)."""
        return self.made_this_run / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary the command prints.

        Returns
        -------
        list of str
            Composites per split, units (run, resumed, failed), throughput, rejections per reason,
            skipped inputs, failures, notes and the empty-split warning.
        """
        f = self.final
        out = [f"{self.subset}: {f.composites if f else 0} composites "
               f"({f.train if f else 0} train / {f.test if f else 0} test) in {self.out}"]
        out.append(f"units: {self.units_total} total, {self.units_run} run now, {self.units_resumed} already done"
                   f" (resumed), {len(self.failed)} failed")
        if self.units_run:
            out.append(f"made {self.made_this_run} composites in {self.seconds:.1f} s "
                       f"({self.throughput:.2f} composites/s)")
        if f and f.rejected:
            out.append("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(f.rejected.items())))
        if f and f.skipped:
            out += skipped_lines(f.skipped, "skipped inputs")
        for key, err in self.failed[:20]:
            out.append(f"  FAILED {key}: {err}")
        if len(self.failed) > 20:
            out.append(f"  ... and {len(self.failed) - 20} more failures")
        out += self.notes
        if f:
            out += empty_split_lines(self.subset, f.train, f.test, self.split_options)
        return out


def run_units(writer: DatasetWriter, units: Sequence[Any], work: Callable[[Any, SubsetLayout], dict], *,
              workers: int | None = None, scheduler: Any = None, desc: str = "", progress: bool = True
              ) -> RunSummary:
    """Run the pending units (in parallel as asked), then finalise the manifest and split files.

    Units whose key the subset's journal already lists are skipped (resumed). SIGINT/SIGTERM end the run
    cleanly with :class:`harmony.parallel.Interrupted`, its ``done``/``total`` set.

    Parameters
    ----------
    writer : DatasetWriter
        The open subset.
    units : sequence
        Picklable units with unique ``key`` attributes.
    work : callable
        Module-level ``work(unit, layout) -> record`` (picklable, so it runs in worker processes).
    workers : int or None
        Worker processes (None: the machine's cores; 0: in this process).
    scheduler : object or None
        A Dask scheduler address or client instead of local processes.
    desc : str
        Progress bar title (default: the subset name).
    progress : bool
        Show a progress bar.

    Returns
    -------
    RunSummary
        Units run, resumed and failed, composites made, and the finalised counts.

    Raises
    ------
    ValueError
        Two units share a key.
    """
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise ValueError("unit keys must be unique")
    done_keys = finished_keys(writer.layout, keys)
    pending = [u for u in units if u.key not in done_keys]
    summary = RunSummary(str(writer.dir), writer.layout.subset, len(units), len(units) - len(pending))
    write_run_state(writer.layout, units_total=len(units), complete=False,
                    other_done=len(done_keys) - summary.units_resumed)
    fn = functools.partial(_job, work, writer.layout)
    journal = UnitJournal(writer.layout)
    ok = 0
    t0 = time.perf_counter()
    results = map_units(fn, pending, workers=workers, scheduler=scheduler, desc=desc or writer.layout.subset,
                        progress=progress)
    try:
        for res in results:
            summary.units_run += 1
            if res.ok:
                journal.append([res.key])
                ok += 1
                summary.made_this_run += res.value["rows"]
            else:
                summary.failed.append((res.key, res.error or "failed"))
    except Interrupted as exc:
        exc.done, exc.total = summary.units_resumed + ok, len(units)
        raise
    finally:
        results.close()   # ends the workers at once, whatever happened
        journal.close()
    summary.seconds = time.perf_counter() - t0
    summary.final = writer.finalize()
    journal.compact()
    write_run_state(writer.layout, units_total=len(units), complete=True,
                    other_done=len(done_keys) - summary.units_resumed)
    return summary


def no_units_error(source: Any, what: str, skipped: Sequence[tuple[str, str]]) -> InputError:
    """The one-line error of a generator that found nothing usable, naming the input and the first reason.

    Parameters
    ----------
    source : str or os.PathLike
        The input folder or file the user gave (or the sample data's folder).
    what : str
        What a usable input is, singular (``"scene (two or more captures plus masks/)"``).
    skipped : sequence of (str, str)
        ``(item, reason)`` of the inputs the planner left out; the first is quoted as an example.

    Returns
    -------
    InputError
        ``"<source>: no usable <what> (<n> inputs skipped; e.g. <item>: <reason>)"``.
    """
    example = f"; e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
    return InputError(f"{source}: no usable {what} ({len(skipped)} inputs skipped{example})")


@dataclass
class Inputs:
    """The data a generator runs on, once resolved (the user's folders or the embedded sample data).

    Attributes
    ----------
    data : dict
        The resolved paths the planner reads (for example ``{"root": ..., "masks": ...}``).
    config : dict
        Their provenance, recorded in the subset's ``run.json`` (a resumed run must match it).
    sample_note : str or None
        The summary's first note when the embedded sample data is used; None for the user's data.
    """

    data: dict[str, Any]
    config: dict[str, Any]
    sample_note: str | None = None


@dataclass
class Plan:
    """What the planner found: the work units, the inputs it skipped and the summary notes.

    Attributes
    ----------
    units : list
        Picklable work units, each with a unique ``key`` (one source image, photo, scene or view).
    skipped : list of (str, str)
        ``(item, reason)`` of every input left out while planning; listed first in the summary.
    notes : list of str
        Lines the summary prints after the run's own counts.
    extra : dict
        Anything else a generator's later steps need (for example the retrieval mode of ``flickr``).
    """

    units: list[Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class Generator:
    """The template every dataset generator follows, as a list of named steps.

    A generator is a subclass that declares its subset, command and work function and fills in the
    steps; :func:`generate` runs them in order:

    1. :meth:`resolve`: the embedded sample data or the user's, with the options checked;
    2. :meth:`plan`: the work units, the inputs skipped and the summary notes;
    3. :meth:`refusal`: the one-line error raised when the plan has no unit;
    4. :meth:`run`: the units into a :class:`~harmony.dataset.DatasetWriter` (resumable);
    5. :meth:`summarise`: the summary the command prints.

    Attributes
    ----------
    subset : str
        The iHarmony4-style subset folder written under ``out`` (``HCOCO``, ``HAdobe5k``, ...).
    command : str
        The command name, recorded in ``run.json`` and used as the progress bar's title.
    split_options : str
        The flags that set the split, named by the empty-split warning.
    extra_dirs : tuple of str
        Folders the subset has besides the iHarmony4 ones (cleared by ``--overwrite``).
    has_real : bool
        Whether the subset has ``real_images/`` (ground truth).
    """

    subset: str = ""
    command: str = ""
    split_options: str = "--test-fraction"
    extra_dirs: tuple[str, ...] = ()
    has_real: bool = True

    @staticmethod
    def work(unit: Any, layout: SubsetLayout) -> dict:
        """Write one unit's files and return its record (see :func:`run_units`).

        Parameters
        ----------
        unit : object
            One work unit of the plan.
        layout : SubsetLayout
            Where the unit's files go.

        Returns
        -------
        dict
            ``{"rows": [...], "rejected": [...], "skipped": [...]}``.
        """
        raise NotImplementedError

    def resolve(self) -> Inputs:
        """Check the options and pick the data (the user's folders, or the embedded sample data).

        Returns
        -------
        Inputs
            The data paths, their provenance and the sample-data note.
        """
        raise NotImplementedError

    def plan(self, inputs: Inputs) -> Plan:
        """Scan the inputs and list the work units.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Units, skipped inputs and notes.
        """
        raise NotImplementedError

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError | None:
        """The one-line error for a plan without units (None: run anyway, writing an empty subset).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            The plan, whose ``units`` is empty.

        Returns
        -------
        InputError or None
            Raised by :func:`generate`, naming the input and the first skipped item.
        """
        return None

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The configuration recorded in ``run.json`` (a resumed run must have the same).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        dict
            JSON-serialisable provenance and options.
        """
        return dict(inputs.config)

    def run(self, writer: DatasetWriter, plan: Plan, *, workers: int | None, scheduler: Any, progress: bool
            ) -> Any:
        """Run the plan's units into ``writer`` (default: one :func:`run_units` pass).

        Parameters
        ----------
        writer : DatasetWriter
            The open subset.
        plan : Plan
            What :meth:`plan` returned.
        workers, scheduler, progress
            As in :func:`harmony.parallel.map_units`.

        Returns
        -------
        RunSummary
            Counts of the run (or a generator's own summary type).
        """
        return run_units(writer, plan.units, self.work, workers=workers, scheduler=scheduler, desc=self.command,
                         progress=progress)

    def summarise(self, summary: Any, writer: DatasetWriter, inputs: Inputs, plan: Plan) -> Any:
        """Add the planner's skipped inputs and notes (the sample-data note first) to the run's summary.

        Parameters
        ----------
        summary : RunSummary
            What :meth:`run` returned.
        writer : DatasetWriter
            The finished subset (its unit records can be read).
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        RunSummary
            The summary the command prints with its ``lines()``.
        """
        if summary.final is not None:
            summary.final.skipped[:0] = list(plan.skipped)
        notes = ([inputs.sample_note] if inputs.sample_note else []) + list(plan.notes)
        summary.notes = notes + summary.notes
        summary.split_options = self.split_options
        return summary


def generate(generator: Generator, out: str | os.PathLike, *, workers: int | None = None, scheduler: Any = None,
             overwrite: bool = False, progress: bool = True) -> Any:
    """Run a generator's steps: resolve inputs, plan units, refuse an empty plan, run, summarise.

    Parameters
    ----------
    generator : Generator
        The generator, holding the user's arguments.
    out : str or os.PathLike
        Output dataset root; the subset is written to ``<out>/<generator.subset>``.
    workers : int or None
        Worker processes (None: the machine's cores; 0: in this process).
    scheduler : object or None
        A Dask scheduler address or client to run the units on instead of local processes.
    overwrite : bool
        Replace a subset made with another configuration (otherwise a mismatch is an error).
    progress : bool
        Show a progress bar.

    Returns
    -------
    RunSummary
        The run's summary (a generator may return its own summary type).

    Raises
    ------
    InputError
        Bad options or inputs, or no usable unit (one line naming the input).
    """
    inputs = generator.resolve()
    plan = generator.plan(inputs)
    if not plan.units:
        error = generator.refusal(inputs, plan)
        if error is not None:
            raise error
    writer = DatasetWriter(out, generator.subset, config=generator.config(inputs, plan), overwrite=overwrite,
                           command=generator.command, has_real=generator.has_real,
                           extra_dirs=generator.extra_dirs)
    summary = generator.run(writer, plan, workers=workers, scheduler=scheduler, progress=progress)
    return generator.summarise(summary, writer, inputs, plan)
