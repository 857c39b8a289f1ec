"""Run a generator's work units into a :class:`~harmony.dataset.DatasetWriter`, resumably.

Every generator follows the same shape: build a list of picklable units (one source image each, with
its key and seed), a module-level ``work(unit, layout) -> record`` function that writes the unit's files
and returns ``{"rows": [...manifest rows], "rejected": [{"reason": ...}], "skipped": [{"item", "reason"}]}``,
then :func:`run_units`. A unit's record is written only after all its files, and the parent then adds
the unit's key to the subset's journal (:class:`harmony.dataset.UnitJournal`), so a killed run resumes
where it stopped by reading one file; failed units get no record and are retried by the next run.
SIGINT/SIGTERM end the run cleanly (:class:`harmony.parallel.Interrupted`, with the units done so far);
``.harmony/run_state.json`` says whether the run finished, which ``harmony check`` reads.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dataset import DatasetWriter, FinalizeSummary, SubsetLayout, UnitJournal, finished_keys, write_run_state
from ..parallel import Interrupted, map_units


def _job(work: Callable[[Any, SubsetLayout], dict], layout: SubsetLayout, unit: Any) -> dict:
    record = work(unit, layout) or {}
    layout.write_unit(unit.key, record)
    return {"rows": len(record.get("rows", []))}


def skipped_lines(skipped: Sequence[tuple[str, str]], label: str) -> list[str]:
    """Summary lines for skipped inputs: ``<label>: <reason> <count>, ...``, then the first 10 items."""
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
    empty is worth a line in the summary that says how to change it (``options``: the flags the
    generator has, e.g. ``--test-fraction`` or ``--test-fraction/--test-ids``).
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
        return self.made_this_run / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
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
    """Run the pending units (in parallel as asked), then finalize the manifest and split files."""
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


def run_generator(out: str | os.PathLike, subset: str, config: dict, command: str, units: Sequence[Any],
                  work: Callable[[Any, SubsetLayout], dict], *, skipped: Sequence[tuple[str, str]] = (),
                  notes: Sequence[str] = (), workers: int | None = None, scheduler: Any = None,
                  overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Open ``<out>/<subset>`` (a :class:`DatasetWriter` recording ``config`` and ``command``), run the units
    with :func:`run_units` (progress bar titled ``command``), then put the inputs the planner ``skipped``
    first in the summary's skipped list and the planner's ``notes`` before the run's own notes."""
    writer = DatasetWriter(out, subset, config=config, overwrite=overwrite, command=command)
    summary = run_units(writer, units, work, workers=workers, scheduler=scheduler, desc=command,
                        progress=progress)
    if summary.final is not None:
        summary.final.skipped[:0] = list(skipped)
    summary.notes = list(notes) + summary.notes
    if command == "datagen coco":
        summary.split_options = "--test-fraction/--test-ids"
    return summary
