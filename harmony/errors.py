"""Error types shared by the library and the command line.

`InputError` is the one exception type for *expected* bad input (a file that is missing or corrupt, a
field that is malformed, an option that does not fit). Its message is a single line that names the file
or field and says what was expected. The CLI turns it into ``Error: <message>`` and exit code 2, with no
traceback. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input the user can fix: the message names the file or field and what was expected."""


class ItemError(RuntimeError):
    """A single work item (one image, one pair) failed; long runs count and list these and go on."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class MissingWeightsError(InputError):
    """A learned method has no checkpoint (the benchmark shows a row saying so instead of dropping it)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the parent during a run: new work stopped, workers were ended.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in a unit loop does not
    swallow it. ``done``/``total`` count units (filled in by :func:`map_units` and, with the units an
    earlier run finished, by :func:`harmony.datagen.runner.run_units`). ``exit_code`` is 128 + signal
    number (130 for SIGINT, 143 for SIGTERM), as shells report a process ended by that signal.
    """

    def __init__(self, signum: int, done: int | None = None, total: int | None = None):
        super().__init__(signum)
        self.signum = int(signum)
        self.done = done
        self.total = total

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    def message(self) -> str:
        """The one line printed when a run stops on a signal (with the units done, when known)."""
        if self.done is None or self.total is None:
            return "interrupted: finished units are kept; re-run the same command to resume"
        return f"interrupted: {self.done} of {self.total} units done; re-run the same command to resume"
