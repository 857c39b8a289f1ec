"""Progress for training and ``harmony prepare``: the project's :class:`harmony.progress.Progress` (a tqdm
bar when stderr is a terminal, plain lines at most every ``interval`` seconds otherwise), with one last
line when training ends so logs of scripts and CI runs always show where it stopped."""

from __future__ import annotations

import sys

from ..progress import Progress


def progress(total: int, desc: str, *, initial: int = 0, unit: str = "step", enabled: bool = True,
             interval: float | None = None, stream=None) -> Progress:
    """A progress reporter with ``update(n)``, ``set_postfix(**kw)`` and ``close()``.

    Parameters
    ----------
    total : int
        Steps expected.
    desc : str
        Label (``train dih_tiny``).
    initial : int
        Steps already done (a resumed run).
    unit : str
        What a step is (shown by the bar).
    enabled : bool
        False prints nothing (``--quiet``).
    interval : float, optional
        Seconds between plain lines (default 30 or ``HARMONY_PROGRESS_INTERVAL``).
    stream : text stream, optional
        Where to write (default ``sys.stderr``).

    Returns
    -------
    harmony.progress.Progress
        A tqdm bar on a terminal, plain lines otherwise, with one last line when it closes.
    """
    return Progress(total, desc, enabled=enabled, file=stream or sys.stderr, interval=interval, unit=unit,
                    initial=initial, final_line=True)
