"""`harmony check DIR`: validate a dataset in the iHarmony4 layout."""

from __future__ import annotations

import sys
import time

import click


@click.command("check")
@click.argument("root", type=click.Path())
@click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Check one split only.")
@click.option("--fast", is_flag=True, help="Headers only: skip decoding composites and mask pixel checks.")
@click.option("--max-problems", type=int, default=50, show_default=True, help="Problems to print (all are counted).")
def check(root, split, fast, max_problems):
    """Validate a dataset in the iHarmony4 layout (a harmony output or the iHarmony4 release).

    Every composite listed in the split files must have its mask and real image, sizes must agree,
    masks must be non-empty (and binary: soft values are a warning), and files must decode.
    Exit code 0 when no error is found (warnings allowed), 1 when errors are found or a run into ROOT
    was interrupted (then only its finished units are checked), 2 for bad input (e.g. ROOT missing or
    not a dataset).

    \b
    Examples:
      harmony check data/
      harmony check data/ --split test --fast
    """
    t0 = time.perf_counter()
    reader, incomplete = _reader_for(root)
    problems = reader.validate(pixels=not fast, split=split)
    samples = reader.samples(split=split)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    for p in problems[:max_problems]:
        click.echo(str(p))
    if len(problems) > max_problems:
        click.echo(f"... and {len(problems) - max_problems} more problems")
    per_subset = {}
    for s in samples:
        per_subset[s.subset] = per_subset.get(s.subset, 0) + 1
    click.echo(f"\n== check {root}")
    click.echo("subsets: " + ", ".join(f"{k} {v}" for k, v in sorted(per_subset.items())) if per_subset
               else "subsets: none with listed composites")
    click.echo(f"{len(samples)} composites checked in {time.perf_counter() - t0:.1f} s: "
               f"{len(errors)} errors, {len(warnings)} warnings")
    click.echo("OK" if not errors else "FAILED")
    if incomplete:
        click.echo("INCOMPLETE: only the finished units were checked")
    sys.exit(1 if errors or incomplete else 0)


def _reader_for(root):
    """The dataset reader, and whether a subset holds an interrupted run (then only its finished units,
    listed by the run's journal, are checked: the split files and manifest do not exist yet)."""
    from ..dataset import DatasetReader, PartialRunReader, incomplete_runs

    runs = incomplete_runs(root)
    for subset, done, total in runs:
        click.echo(f"{subset}: incomplete run ({done} of {total} units done): re-run the same command to finish")
    if not runs:
        return DatasetReader(root), False
    return PartialRunReader(root, [subset for subset, _d, _t in runs]), True
