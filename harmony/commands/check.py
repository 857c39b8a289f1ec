"""`harmony check DIR`: validate a dataset in the iHarmony4 layout.

The checks and the report are :func:`harmony.dataset.check_dataset`; this module holds the options.
"""

from __future__ import annotations

import sys

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
    from ..dataset import check_dataset

    report = check_dataset(root, split=split, pixels=not fast, notify=click.echo)
    for line in report.lines(max_problems):
        click.echo(line)
    sys.exit(report.exit_code)
