"""Options and helpers shared by the commands (so every command spells them the same way)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..cli import UserError  # noqa: F401  (re-exported for commands)


def workers_option(f):
    return click.option("--workers", type=click.IntRange(min=0), default=None, show_default="all cores",
                        help="Local worker processes; 0 runs inline (debugging).")(f)


def scheduler_option(f):
    return click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="Run on a Dask distributed cluster instead of local processes.")(f)


def seed_option(f):
    return click.option("--seed", type=int, default=0, show_default=True,
                        help="Random seed; the same seed gives byte-identical output.")(f)


def overwrite_option(f):
    return click.option("--overwrite", is_flag=True,
                        help="Replace another run's data in the output folder (otherwise refused).")(f)


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(f)


def run_options(f):
    """The options every long-running generator takes, in this order: --seed, --workers, --scheduler,
    --overwrite, --quiet."""
    for option in (quiet_option, overwrite_option, scheduler_option, workers_option, seed_option):
        f = option(f)
    return f


def echo_summary(title: str, lines: list[str]) -> None:
    click.echo(f"\n== {title}")
    for line in lines:
        click.echo(line)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def progress_enabled(quiet: bool) -> bool:
    """Progress unless --quiet: a bar on a terminal, plain lines every 30 s in a log (harmony.progress)."""
    return not quiet
