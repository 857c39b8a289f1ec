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
    """A single work item (one image, one pair) failed; long runs count and list these and go on.

    Parameters
    ----------
    reason : str
        A short, countable reason (``no mask``, ``foreground too small``): what summaries group by.
    detail : str
        The specifics (which file, which value); the message is ``<reason>: <detail>``.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class MissingWeightsError(InputError):
    """A learned method has no checkpoint (the benchmark shows a row saying so instead of dropping it)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the parent during a run: new work stopped, workers were ended.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in a unit loop does not
    swallow it. ``done``/``total`` count units (filled in by :func:`harmony.parallel.map_units` and, with
    the units an earlier run finished, by :func:`harmony.datagen.runner.run_units`).

    Parameters
    ----------
    signum : int
        The signal number (``signal.SIGINT`` = 2, ``signal.SIGTERM`` = 15).
    done, total : int or None
        Units finished and planned, when known.
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
        """The one line printed when a run stops on a signal (with the units done, when known).

        Returns
        -------
        str
            ``interrupted: <done> of <total> units done; re-run the same command to resume``.
        """
        if self.done is None or self.total is None:
            return "interrupted: finished units are kept; re-run the same command to resume"
        return f"interrupted: {self.done} of {self.total} units done; re-run the same command to resume"
