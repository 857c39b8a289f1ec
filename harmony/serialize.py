"""One JSON encoder and one table writer for every report harmony writes (bench, bt-score, studies).

JSON policy (one, everywhere): NaN and +-inf become ``null`` (RFC 8259 JSON has no NaN; Python's
``json`` would otherwise write the invalid token ``NaN``), numpy scalars and arrays become plain numbers
and lists, tuples and sets become lists, paths become strings, dataclasses become objects, mapping keys
become strings. A reader that needs the NaN back reads ``null`` as "undefined" (see
:func:`float_or_nan`).

Tables: :func:`markdown_table`, :func:`csv_table` and :func:`latex_table` take a header and rows of
already formatted cells (strings), so the three files of one table always show the same numbers;
:func:`format_number` is the shared cell formatter (NaN -> ``-`` by default).

Pure: no file access (callers write the returned text with :func:`harmony.io.atomic_write_text`).
"""

from __future__ import annotations

import csv
import dataclasses
import io as _io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "dumps", "float_or_nan", "format_number", "markdown_table", "csv_table",
           "latex_table", "escape_latex"]


def to_jsonable(value: Any) -> Any:
    """Convert a value to plain JSON types under the one policy.

    Parameters
    ----------
    value : object
        Mappings, sequences, sets (sorted by ``str``), numpy arrays and scalars, paths, dataclasses,
        numbers, strings, None; anything else becomes ``str(value)``.

    Returns
    -------
    object
        dict / list / str / int / float / bool / None; non-finite floats become None (RFC 8259 JSON has
        no NaN).
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return str(value)


def dumps(value: Any, *, indent: int | None = 2, sort_keys: bool = False, newline: bool = True) -> str:
    """JSON text of a value (:func:`to_jsonable` first; strict: never writes ``NaN``).

    Parameters
    ----------
    value : object
        What to encode.
    indent : int or None, optional
        Indentation (default 2); None gives compact ``,``/``:`` separators.
    sort_keys : bool, optional
        Sort mapping keys (default False: insertion order).
    newline : bool, optional
        End the text with a newline (default True).

    Returns
    -------
    str
        RFC 8259 JSON.
    """
    text = json.dumps(to_jsonable(value), indent=indent, sort_keys=sort_keys, allow_nan=False,
                      separators=None if indent is not None else (",", ":"))
    return text + "\n" if newline else text


def float_or_nan(value: Any) -> float:
    """Read one number back under the NaN policy (the inverse of :func:`to_jsonable` for floats).

    Parameters
    ----------
    value : float, int, str or None
        None (written for NaN/inf) or anything ``float`` accepts (also the strings "nan", "inf", "-inf").

    Returns
    -------
    float
        NaN for None, ``float(value)`` otherwise.

    Raises
    ------
    ValueError, TypeError
        When ``float`` rejects the value.
    """
    if value is None:
        return math.nan
    return float(value)


def format_number(value: Any, spec: str = ".2f", *, nan: str = "-") -> str:
    """Format one table cell.

    Parameters
    ----------
    value : object
        Number, None or anything else (``str``).
    spec : str, optional
        ``format`` spec for floats (default ``".2f"``); integers use it only when it ends in ``d``.
    nan : str, optional
        Text for NaN and None (default ``"-"``).

    Returns
    -------
    str
        ``format(value, spec)``; ``nan`` for NaN/None; ``inf`` / ``-inf`` for infinities.
    """
    if value is None:
        return nan
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return nan
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return format(f, spec)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return format(int(value), spec) if spec.endswith("d") else str(int(value))
    return str(value)


def _cells(rows: Iterable[Sequence[Any]]) -> list[list[str]]:
    return [[c if isinstance(c, str) else format_number(c) for c in r] for r in rows]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table.

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : iterable of sequences
        Cells; strings are used as they are, anything else goes through :func:`format_number`.
    align : str, optional
        One of ``l``/``r``/``c`` per column; default: the first column left, the others right (as papers
        set numbers).

    Returns
    -------
    str
        The table, ending with a newline.
    """
    header = [str(h) for h in header]
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in _cells(rows)]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV text with ``\\n`` line ends.

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : iterable of sequences
        Cells; strings are used as they are, anything else goes through :func:`format_number`.

    Returns
    -------
    str
    """
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([str(h) for h in header])
    w.writerows(_cells(rows))
    return buf.getvalue()


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters ``\\ & % _ #`` in a cell or caption.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    out = str(text).replace("\\", r"\textbackslash{}")
    for ch in "&%_#":
        out = out.replace(ch, "\\" + ch)
    return out


def latex_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str = "",
                caption_below: bool = False, align: str | None = None) -> str:
    """A booktabs ``table`` environment (``\\toprule``/``\\midrule``/``\\bottomrule``).

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : iterable of sequences
        Cells; strings are used as they are, anything else goes through :func:`format_number`.
    caption : str, optional
        Caption (escaped); none when empty.
    caption_below : bool, optional
        Put the caption under the tabular (default: above).
    align : str, optional
        Column spec; default ``l`` then ``r`` for every other column.

    Returns
    -------
    str
        LaTeX source ending with a newline; needs ``\\usepackage{booktabs}``.
    """
    header = [str(h) for h in header]
    spec = align or ("l" + "r" * (len(header) - 1))
    cap = [f"\\caption{{{escape_latex(caption)}}}"] if caption else []
    lines = [r"\begin{table}[t]", r"\centering"] + ([] if caption_below else cap)
    lines += [f"\\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(escape_latex(h) for h in header) + r" \\",
              r"\midrule"]
    lines += [" & ".join(escape_latex(c) for c in r) + r" \\" for r in _cells(rows)]
    lines += [r"\bottomrule", r"\end{tabular}"] + (cap if caption_below else []) + [r"\end{table}", ""]
    return "\n".join(lines)
