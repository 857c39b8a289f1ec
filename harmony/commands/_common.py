"""Options and helpers shared by the commands (so every command spells them the same way)."""

from __future__ import annotations

import click

from ..cli import UserError  # noqa: F401  (re-exported for commands)


def workers_option(f):
    """``--workers N``: local worker processes (default: every core; 0 runs inline).

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the option added.
    """
    return click.option("--workers", type=click.IntRange(min=0), default=None, show_default="all cores",
                        help="Local worker processes; 0 runs inline (debugging).")(f)


def scheduler_option(f):
    """``--scheduler tcp://HOST:PORT``: run on a Dask distributed cluster instead.

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the option added.
    """
    return click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="Run on a Dask distributed cluster instead of local processes.")(f)


def seed_option(f):
    """``--seed N`` (default 0): the same seed gives byte-identical output.

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the option added.
    """
    return click.option("--seed", type=int, default=0, show_default=True,
                        help="Random seed; the same seed gives byte-identical output.")(f)


def overwrite_option(f):
    """``--overwrite``: replace another run's data in the output folder (otherwise refused).

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the option added.
    """
    return click.option("--overwrite", is_flag=True,
                        help="Replace another run's data in the output folder (otherwise refused).")(f)


def quiet_option(f):
    """``--quiet`` / ``-q``: no progress bar.

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the option added.
    """
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(f)


def run_options(f):
    """The options every long-running generator takes, in this order: --seed, --workers, --scheduler,
    --overwrite, --quiet.

    Parameters
    ----------
    f : callable
        The click command function to decorate.

    Returns
    -------
    callable
        ``f`` with the five options added.
    """
    for option in (quiet_option, overwrite_option, scheduler_option, workers_option, seed_option):
        f = option(f)
    return f


def echo_summary(title: str, lines: list[str]) -> None:
    """Print a command's closing summary: a blank line, ``== <title>``, then the lines.

    Parameters
    ----------
    title : str
        Usually the command's name.
    lines : list of str
        The summary lines, printed as they are.
    """
    click.echo(f"\n== {title}")
    for line in lines:
        click.echo(line)


def progress_enabled(quiet: bool) -> bool:
    """Whether to show progress: yes unless ``--quiet``.

    Where it goes is :class:`harmony.progress.Progress`'s choice: a bar on a terminal, a plain line every
    30 s in a log file.

    Parameters
    ----------
    quiet : bool
        The ``--quiet`` flag.

    Returns
    -------
    bool
    """
    return not quiet
