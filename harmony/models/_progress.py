"""Minimal progress reporting for training and ``harmony prepare``: a tqdm bar when stderr is a TTY,
plain lines (at most one every ``interval`` seconds, plus one at the end) otherwise, so logs of scripts
and CI runs show progress without carriage returns.

Kept to one factory, :func:`progress`, so it can be swapped for the project-wide progress module.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class _Lines:
    def __init__(self, total: int, desc: str, initial: int, unit: str, interval: float, stream):
        self.total, self.desc, self.n, self.unit = int(total), desc, int(initial), unit
        self.interval, self.stream = float(interval), stream
        self.t0 = time.monotonic()
        self.start = int(initial)
        self.last = self.t0
        self.postfix = ""

    def set_postfix(self, **kw: Any) -> None:
        self.postfix = " ".join(f"{k} {v}" for k, v in kw.items())

    def _line(self) -> None:
        el = time.monotonic() - self.t0
        rate = (self.n - self.start) / el if el > 0 else 0.0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}s ({pct:.0f}%), {el:.0f} s, {rate:.2f} {self.unit}/s"
              + (f", {self.postfix}" if self.postfix else ""), file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line()

    def close(self) -> None:
        self._line()


class _Off:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, *, initial: int = 0, unit: str = "step", enabled: bool = True,
             interval: float = 30.0, stream=None):
    """A progress object with ``update(n)``, ``set_postfix(**kw)`` and ``close()``."""
    stream = stream or sys.stderr
    if not enabled:
        return _Off()
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return _Lines(total, desc, initial, unit, interval, stream)
