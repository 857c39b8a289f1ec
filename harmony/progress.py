"""Progress reporting that works on a terminal and in a batch job's log file.

On a terminal (stderr is a TTY) a :mod:`tqdm` bar is drawn. Otherwise (stderr redirected to a file, as in
a SLURM or cron job) a bar would write nothing readable, so plain lines are printed instead, at most one
every ``interval`` seconds (30 by default)::

    units 12,345/118,287 (10.4 %), 17.2/s, ETA 1:53:10

The rate is the mean since the start (a batch job wants the long-run figure, not the last second's).
The API is deliberately small so any long loop (data generation, benchmarking, training) can use it::

    with Progress(total=len(items), desc="units") as bar:
        for item in items:
            ...
            bar.update(1)

``HARMONY_PROGRESS_INTERVAL`` (seconds) overrides the default interval of the plain lines, e.g. for
tests or for jobs whose logs are read more often.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO

DEFAULT_INTERVAL = 30.0


def format_eta(seconds: float) -> str:
    """``H:MM:SS`` (hours unbounded), as in ``1:53:10``; ``?`` when unknown.

    Parameters
    ----------
    seconds : float
        Remaining time in seconds; NaN, negative or infinite means unknown.

    Returns
    -------
    str

    Examples
    --------
    >>> format_eta(6790.2), format_eta(float("nan"))
    ('1:53:10', '?')
    """
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def progress_line(desc: str, done: int, total: int | None, elapsed: float, *, start: int = 0) -> str:
    """One plain progress line: ``<desc> done/total (pct %), rate/s, ETA h:mm:ss``.

    Parameters
    ----------
    desc : str
        Label (``units`` when empty).
    done : int
        Steps finished, resumed ones included.
    total : int or None
        Steps expected (None or 0: the line shows the count and rate only).
    elapsed : float
        Seconds since this run started.
    start : int
        Steps done before ``elapsed`` began (a resumed run): the rate counts only the rest.

    Returns
    -------
    str
        The rate is the mean since the start (a batch job wants the long-run figure).

    Examples
    --------
    >>> progress_line("units", 12345, 118287, 717.7)
    'units 12,345/118,287 (10.4 %), 17.2/s, ETA 1:42:39'
    """
    rate = (done - start) / elapsed if elapsed > 0 else 0.0
    label = desc or "units"
    if total:
        pct = 100.0 * done / total
        eta = format_eta((total - done) / rate) if rate > 0 else "?"
        return f"{label} {done:,}/{total:,} ({pct:.1f} %), {rate:.1f}/s, ETA {eta}"
    return f"{label} {done:,}, {rate:.1f}/s"


class Progress:
    """A progress bar on a terminal, plain lines at most every ``interval`` seconds otherwise.

    Parameters
    ----------
    total : int or None
        Number of steps expected (None: unknown; lines then show the count and rate only).
    desc : str
        Label at the start of the bar or line (``units`` when empty).
    enabled : bool
        False prints nothing at all (``--quiet``).
    file : text stream, optional
        Where to write (default ``sys.stderr``, looked up when the object is created).
    interval : float, optional
        Seconds between plain lines (default 30, or ``HARMONY_PROGRESS_INTERVAL``).
    tty : bool, optional
        Force the bar (True) or the plain lines (False); default: ``file.isatty()``.
    unit : str
        What one step is (shown by the bar).
    initial : int
        Steps already done when the run starts (a resumed run); the rate counts only new steps.
    final_line : bool
        Print one last plain line on :meth:`close` (training does; ``map_units`` prints its own summary).
    """

    def __init__(self, total: int | None = None, desc: str = "", *, enabled: bool = True,
                 file: IO[str] | None = None, interval: float | None = None, tty: bool | None = None,
                 unit: str = "item", initial: int = 0, final_line: bool = False):
        self.total = total
        self.desc = desc
        self.done = int(initial)
        self._start = int(initial)
        self.final_line = final_line
        self.postfix = ""
        self.enabled = enabled
        self.file = file if file is not None else sys.stderr
        if interval is None:
            interval = float(os.environ.get("HARMONY_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
        self.interval = float(interval)
        self._t0 = time.monotonic()
        self._last = self._t0
        self._bar = None
        if not enabled:
            return
        if tty is None:
            try:
                tty = bool(self.file.isatty())
            except (AttributeError, ValueError):
                tty = False
        if tty:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread (it would be inherited badly by forked processes)
            self._bar = tqdm(total=total, desc=desc or None, unit=unit, file=self.file, dynamic_ncols=True,
                             leave=True, initial=int(initial))

    def set_postfix(self, **values) -> None:
        """Show ``name value`` pairs after the counts (e.g. the current loss).

        Parameters
        ----------
        **values
            Names and values, shown in the given order.
        """
        self.postfix = " ".join(f"{k} {v}" for k, v in values.items())
        if self._bar is not None:
            self._bar.set_postfix(**values)

    def _write_line(self, now: float) -> None:
        line = progress_line(self.desc, self.done, self.total, now - self._t0, start=self._start)
        self.file.write(line + (f", {self.postfix}" if self.postfix else "") + "\n")
        self.file.flush()

    def update(self, n: int = 1) -> None:
        """Record ``n`` more finished steps (and draw/print when due).

        Parameters
        ----------
        n : int
            Steps finished since the last call.
        """
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._write_line(now)

    def close(self) -> None:
        """Close the bar; with ``final_line``, print the last plain line."""
        if self.enabled and self._bar is None and self.final_line:
            self._write_line(time.monotonic())
            self.final_line = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
