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
    """``value`` as plain JSON types under the one policy (non-finite floats -> None)."""
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
    """JSON text of ``value`` (:func:`to_jsonable` first; strict: never writes ``NaN``)."""
    text = json.dumps(to_jsonable(value), indent=indent, sort_keys=sort_keys, allow_nan=False,
                      separators=None if indent is not None else (",", ":"))
    return text + "\n" if newline else text


def float_or_nan(value: Any) -> float:
    """The inverse of the NaN policy for one number: ``None`` (and the legacy strings "nan", "inf",
    "-inf") -> float, anything numeric -> float."""
    if value is None:
        return math.nan
    return float(value)


def format_number(value: Any, spec: str = ".2f", *, nan: str = "-") -> str:
    """One table cell: ``format(value, spec)``; NaN/None -> ``nan``; +-inf -> ``inf`` / ``-inf``."""
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
    """A GitHub-flavoured Markdown table. ``align``: one of ``l``/``r``/``c`` per column (default: the
    first column left, the others right, as papers set numbers)."""
    header = [str(h) for h in header]
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in _cells(rows)]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV text (``\\n`` line ends)."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([str(h) for h in header])
    w.writerows(_cells(rows))
    return buf.getvalue()


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters ``\\ & % _ #`` in a cell or caption."""
    out = str(text).replace("\\", r"\textbackslash{}")
    for ch in "&%_#":
        out = out.replace(ch, "\\" + ch)
    return out


def latex_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str = "",
                caption_below: bool = False, align: str | None = None) -> str:
    """A booktabs ``table`` environment (``\\toprule``/``\\midrule``/``\\bottomrule``)."""
    header = [str(h) for h in header]
    spec = align or ("l" + "r" * (len(header) - 1))
    cap = [f"\\caption{{{escape_latex(caption)}}}"] if caption else []
    lines = [r"\begin{table}[t]", r"\centering"] + ([] if caption_below else cap)
    lines += [f"\\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(escape_latex(h) for h in header) + r" \\",
              r"\midrule"]
    lines += [" & ".join(escape_latex(c) for c in r) + r" \\" for r in _cells(rows)]
    lines += [r"\bottomrule", r"\end{tabular}"] + (cap if caption_below else []) + [r"\end{table}", ""]
    return "\n".join(lines)
