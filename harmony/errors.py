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
