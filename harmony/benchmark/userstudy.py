"""Pairwise (2AFC) user studies: task lists, vote-log loading, and a vote simulator.

A *vote log* is one row per answered pair. The canonical layout (REFERENCE.md section 7) is

    rater_id,image_id,method_a,method_b,choice[,is_sentinel,position,timestamp,correct]

with ``choice`` one of ``a`` / ``b`` / ``tie`` (an empty choice is an unanswered task: skipped and
counted), ``is_sentinel`` 0/1, ``position`` the side where ``method_a`` was shown (``left``/``right``;
absent means left) and ``correct`` (sentinel rows only, optional) the method that must be chosen.
Three other layouts in use are read as well and detected from the header:

* ``lai``: Lai et al. 2016 ``Image ID,Method 1,Method 2,Result`` (Result 1 = Method 1 chosen, 2 = Method 2),
  method ids mapped to names by a ``method.txt`` file (line k names id k);
* ``crowdkit``: crowd-kit's pairwise frame ``worker,left,right,label`` (label = the chosen item;
  optional ``task`` column = image);
* ``arena``: Chatbot-Arena battles ``model_a,model_b,winner`` (winner ``model_a``/``model_b``/``tie``/
  ``tie (bothbad)``; optional ``judge`` = rater and ``question_id`` = image);
* ``leftright``: the layout most hand-made study logs use, ``[rater,image,]left,right,winner`` with
  ``winner`` the chosen method's name, or ``left``/``right`` (also ``l``/``r``, ``a``/``b``,
  ``1``/``2``), or ``tie``. Any other header maps onto it with ``columns=`` (the CLI's ``--columns
  rater=worker,winner=label``).

Loading is column-wise with pandas' C parser (categorical columns, no Python loops over rows), so
million-row logs load in about a second. :func:`make_pairs` writes a balanced task list (every method
pair for every image, sides randomised, optional sentinel pairs as in SPRIH, seed 001 section 4.2) and
:func:`simulate_votes` answers one from known Bradley-Terry strengths (for tests and the demo).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..parallel import as_rng

CANONICAL_COLUMNS = ["rater_id", "image_id", "method_a", "method_b", "choice"]
OPTIONAL_COLUMNS = ["is_sentinel", "position", "timestamp", "correct"]

#: required header columns of each format (lower-cased, stripped)
FORMATS: dict[str, list[str]] = {
    "canonical": CANONICAL_COLUMNS,
    "lai": ["image id", "method 1", "method 2", "result"],
    "crowdkit": ["worker", "left", "right", "label"],
    "arena": ["model_a", "model_b", "winner"],
    "leftright": ["left", "right", "winner"],
}

#: optional columns of a format (shown in error messages; read where present)
FORMAT_OPTIONAL: dict[str, list[str]] = {
    "canonical": OPTIONAL_COLUMNS, "lai": [], "crowdkit": ["task"], "arena": ["judge", "question_id"],
    "leftright": ["rater", "image"],
}

#: fields ``columns=`` / ``--columns`` can map a user's column names to (the leftright layout)
COLUMN_FIELDS = ("rater", "image", "left", "right", "winner")


def accepted_formats() -> str:
    """One line listing every accepted layout with its columns (optional ones in brackets)."""
    parts = []
    for f, req in FORMATS.items():
        opt = FORMAT_OPTIONAL.get(f, [])
        parts.append(f"{f} ({','.join(req)}" + (f"[,{','.join(opt)}]" if opt else "") + ")")
    return ("accepted formats: " + "; ".join(parts) +
            "; or map your own column names with --columns rater=COL,image=COL,left=COL,right=COL,winner=COL")

CHOICE_A, CHOICE_B, CHOICE_TIE = 0, 1, 2
_CHOICE_WORDS = {"a": CHOICE_A, "b": CHOICE_B, "tie": CHOICE_TIE}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
SENTINEL_BAD = "sentinel_retouch"


@dataclass
class VoteLog:
    """Votes in canonical form.

    ``df`` columns: ``rater_id`` (category, may be all-missing), ``image_id`` (category), ``a`` / ``b``
    (int16 method codes into ``methods``), ``choice`` (int8: 0 = a, 1 = b, 2 = tie), ``is_sentinel``
    (bool), ``a_left`` (bool: method a shown on the left; missing -> True), ``correct`` (int16 method
    code for sentinel rows with a known answer, else -1).
    """

    df: pd.DataFrame
    methods: list[str]
    format: str
    sources: list[str] = field(default_factory=list)
    unanswered: int = 0
    has_raters: bool = True
    has_images: bool = True
    has_position: bool = False

    @property
    def n_votes(self) -> int:
        return len(self.df)


# ---------------------------------------------------------------------------------------------------
# format detection and loading


def _norm(col: str) -> str:
    return str(col).strip().lstrip("\ufeff").strip().lower()


def detect_format(columns: list[str], name: str = "votes") -> str:
    """The vote-log format named by a header; InputError naming missing columns or mixed formats."""
    cols = {_norm(c) for c in columns}
    full = [f for f, req in FORMATS.items() if all(c in cols for c in req)]
    if len(full) > 1:
        raise InputError(f"{name}: mixed formats: the header has the columns of {' and '.join(full)} "
                         f"({', '.join(sorted(cols))}); keep one format per file or pass --format")
    if full:
        # columns that only another format uses mean two layouts were pasted together
        own = set(FORMATS[full[0]]) | set(OPTIONAL_COLUMNS) | {"task", "judge", "question_id"}
        for other, req in FORMATS.items():
            if other != full[0]:
                extra = [c for c in req if c in cols and c not in own]
                if len(extra) >= 2:
                    raise InputError(f"{name}: mixed formats: {full[0]} header also has {other} columns "
                                     f"{', '.join(extra)}; keep one format per file or pass --format")
        return full[0]
    # the closest format: fewest required columns missing, then most present
    best = min(FORMATS, key=lambda f: (sum(c not in cols for c in FORMATS[f]), -sum(c in cols for c in FORMATS[f])))
    hits = sum(c in cols for c in FORMATS[best])
    if hits == 0:
        raise InputError(f"{name}: unrecognised header ({', '.join(sorted(cols)) or 'empty'}); "
                         f"{accepted_formats()}")
    missing = [c for c in FORMATS[best] if c not in cols]
    raise InputError(f"{name}: missing column(s) {', '.join(missing)}: no format recognised (the header "
                     f"{', '.join(sorted(cols))} is closest to {best}, which lacks them); {accepted_formats()}")


def read_method_names(path: str | os.PathLike) -> list[str]:
    """Lai et al.'s ``method.txt``: line k (1-based) names method id k."""
    try:
        with open(path, encoding="utf-8") as fh:
            names = [ln.strip() for ln in fh.read().splitlines()]
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read method names ({exc.strerror or exc})") from None
    while names and not names[-1]:
        names.pop()
    if not names or any(not n for n in names):
        raise InputError(f"{path}: expected one method name per line (line k names method id k)")
    if len(set(names)) != len(names):
        raise InputError(f"{path}: duplicate method names")
    return names


def parse_columns(value: str | None) -> dict[str, str]:
    """``rater=worker,winner=label`` -> {"rater": "worker", "winner": "label"} (field = the user's column).

    Fields are those of the leftright layout (:data:`COLUMN_FIELDS`); left, right and winner are needed
    unless the file already has columns of those names. InputError on anything else.
    """
    out: dict[str, str] = {}
    if not value:
        return out
    for part in str(value).split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--columns: expected FIELD=COLUMN pairs separated by commas, got {part.strip()!r} "
                             f"(fields: {', '.join(COLUMN_FIELDS)})")
        field, col = (x.strip() for x in part.split("=", 1))
        field = field.lower()
        if field not in COLUMN_FIELDS:
            raise InputError(f"--columns: unknown field {field!r}; expected one of {', '.join(COLUMN_FIELDS)}")
        if not col:
            raise InputError(f"--columns: no column name for {field!r}")
        if field in out:
            raise InputError(f"--columns: {field!r} given twice")
        out[field] = col
    return out


def _apply_columns(cols: list[str], columns: dict[str, str], name: str) -> list[str]:
    """Rename a header (already normalised) by a --columns mapping; InputError naming a missing column."""
    wanted = {_norm(c): f for f, c in columns.items()}
    absent = [columns[f] for f in columns if _norm(columns[f]) not in cols]
    if absent:
        raise InputError(f"{name}: --columns names column(s) {', '.join(absent)} that the header lacks "
                         f"(header: {', '.join(cols)})")
    renamed = [wanted.get(c, c if c not in COLUMN_FIELDS else f"{c} (unmapped)") for c in cols]
    missing = [f for f in FORMATS["leftright"] if f not in renamed]
    if missing:
        raise InputError(f"{name}: --columns: no column for {', '.join(missing)} (map it with "
                         f"{missing[0]}=COLUMN); the leftright layout needs {','.join(FORMATS['leftright'])}")
    return renamed


def _read_csv(path: str, fmt: str | None, columns: dict[str, str] | None = None) -> tuple[pd.DataFrame, str]:
    name = str(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise InputError(f"{name}: file not found") from None
    if size == 0:
        raise InputError(f"{name}: empty file (expected a CSV header such as {','.join(CANONICAL_COLUMNS)})")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8", skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} in the header)") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{name}: empty file (expected a CSV header such as {','.join(CANONICAL_COLUMNS)})") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{name}: not a CSV file ({str(exc).splitlines()[0]})") from None
    cols = [_norm(c) for c in header.columns]
    if columns:
        cols = _apply_columns(cols, columns, name)
        fmt = "leftright"
    detected = detect_format(cols, name) if fmt is None else fmt
    if fmt is not None:
        missing = [c for c in FORMATS[fmt] if c not in cols]
        if missing:
            raise InputError(f"{name}: missing column(s) {', '.join(missing)} ({fmt} format needs "
                             f"{','.join(FORMATS[fmt])})")
    try:
        df = pd.read_csv(path, encoding="utf-8", dtype="category", skipinitialspace=True,
                         keep_default_na=False, na_values=[""], engine="c")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} near byte "
                         f"{exc.start} of a block); re-save the file as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{name}: malformed CSV ({str(exc).splitlines()[0]})") from None
    df.columns = cols
    return df, detected


def _strings(col: pd.Series) -> pd.Series:
    """A categorical column with stripped string categories (cheap: works on the categories)."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    cats = pd.Index([str(c).strip() for c in col.cat.categories])
    if cats.has_duplicates:  # " x" and "x" collapse
        return col.astype(str).str.strip().astype("category")
    return col.cat.rename_categories(cats)


def _map_categories(col: pd.Series, mapping: dict[str, int], name: str, field: str, allowed: str,
                    missing: int = -1) -> np.ndarray:
    """Codes of a categorical column through a dict on its (few) categories; unknown values -> InputError."""
    col = _strings(col)
    cats = list(col.cat.categories)
    lut = np.empty(len(cats) + 1, dtype=np.int16)
    lut[-1] = missing
    bad = []
    for k, c in enumerate(cats):
        key = c.lower()
        if key in mapping:
            lut[k] = mapping[key]
        else:
            bad.append(c)
    if bad:
        codes = col.cat.codes.to_numpy()
        first = int(np.flatnonzero(np.isin(codes, [cats.index(b) for b in bad]))[0])
        raise InputError(f"{name}: unknown {field} value(s) {', '.join(repr(b) for b in bad[:5])} "
                         f"(first at line {first + 2}); expected {allowed}")
    return lut[col.cat.codes.to_numpy()]


def _canonical_frame(df: pd.DataFrame, fmt: str, name: str, method_names: list[str] | None) -> pd.DataFrame:
    """Columns rater_id, image_id, method_a, method_b (categorical strings), choice (int8, -1 = unanswered)."""
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    none = pd.Series(pd.Categorical([None] * n)) if n else pd.Series(pd.Categorical([]))
    if fmt == "canonical":
        out["rater_id"] = _strings(df["rater_id"])
        out["image_id"] = _strings(df["image_id"])
        out["method_a"] = _strings(df["method_a"])
        out["method_b"] = _strings(df["method_b"])
        out["choice"] = _map_categories(df["choice"], _CHOICE_WORDS, name, "choice", "a, b or tie")
        if "position" in df:
            pos = _map_categories(df["position"], {"left": 1, "l": 1, "right": 0, "r": 0},
                                  name, "position", "left or right (where method_a was shown)", missing=1)
            out["a_left"] = pos.astype(bool)
        if "is_sentinel" in df:
            m = {k: 1 for k in _TRUE} | {k: 0 for k in _FALSE}
            out["is_sentinel"] = _map_categories(df["is_sentinel"], m, name, "is_sentinel", "0/1 or true/false",
                                                 missing=0).astype(bool)
        if "correct" in df:
            out["correct"] = _strings(df["correct"])
    elif fmt == "lai":
        def ids(col):
            c = _strings(df[col])
            if method_names is None:
                return c
            mapping = {}
            for cat in c.cat.categories:
                try:
                    k = int(float(cat))
                except ValueError:
                    k = -1
                if not 1 <= k <= len(method_names):
                    raise InputError(f"{name}: {col!r} value {cat!r} is not a method id 1..{len(method_names)} "
                                     f"of the --method-names file")
                mapping[cat] = method_names[k - 1]
            return c.cat.rename_categories(mapping)
        out["rater_id"] = none
        out["image_id"] = _strings(df["image id"])
        out["method_a"] = ids("method 1")
        out["method_b"] = ids("method 2")
        out["choice"] = _map_categories(df["result"], {"1": CHOICE_A, "2": CHOICE_B, "1.0": CHOICE_A,
                                                       "2.0": CHOICE_B}, name, "Result", "1 or 2")
    elif fmt == "crowdkit":
        out["rater_id"] = _strings(df["worker"])
        out["image_id"] = _strings(df["task"]) if "task" in df else none
        left = _strings(df["left"]).astype(str).to_numpy()
        right = _strings(df["right"]).astype(str).to_numpy()
        label = _strings(df["label"])
        lab = label.astype(str).to_numpy()
        choice = np.full(n, -2, dtype=np.int16)
        choice[lab == left] = CHOICE_A
        choice[lab == right] = CHOICE_B
        choice[label.isna().to_numpy()] = -1
        bad = np.flatnonzero(choice == -2)
        if bad.size:
            raise InputError(f"{name}: unknown label value {lab[bad[0]]!r} at line {bad[0] + 2}; expected the "
                             f"left or the right item of that row")
        out["method_a"] = _strings(df["left"])
        out["method_b"] = _strings(df["right"])
        out["choice"] = choice
        out["a_left"] = True
    elif fmt == "leftright":
        out["rater_id"] = _strings(df["rater"]) if "rater" in df else none
        out["image_id"] = _strings(df["image"]) if "image" in df else none
        left = _strings(df["left"]).astype(str).to_numpy()
        right = _strings(df["right"]).astype(str).to_numpy()
        winner = _strings(df["winner"])
        win = winner.astype(str).to_numpy()
        low = np.char.lower(win.astype(str))
        choice = np.full(n, -2, dtype=np.int16)
        choice[np.isin(low, ["left", "l", "a", "1"])] = CHOICE_A
        choice[np.isin(low, ["right", "r", "b", "2"])] = CHOICE_B
        choice[np.isin(low, ["tie", "draw", "equal", "same"])] = CHOICE_TIE
        choice[win == left] = CHOICE_A
        choice[win == right] = CHOICE_B
        choice[winner.isna().to_numpy()] = -1
        bad = np.flatnonzero(choice == -2)
        if bad.size:
            raise InputError(f"{name}: unknown winner value {win[bad[0]]!r} at line {bad[0] + 2}; expected the "
                             f"left or the right method of that row, left/right, or tie")
        out["method_a"] = _strings(df["left"])
        out["method_b"] = _strings(df["right"])
        out["choice"] = choice
        out["a_left"] = True
    elif fmt == "arena":
        out["rater_id"] = _strings(df["judge"]) if "judge" in df else none
        out["image_id"] = _strings(df["question_id"]) if "question_id" in df else none
        out["method_a"] = _strings(df["model_a"])
        out["method_b"] = _strings(df["model_b"])
        out["choice"] = _map_categories(df["winner"], {"model_a": CHOICE_A, "model_b": CHOICE_B, "tie": CHOICE_TIE,
                                                       "tie (bothbad)": CHOICE_TIE}, name, "winner",
                                        "model_a, model_b, tie or tie (bothbad)")
    else:  # pragma: no cover - click restricts --format
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return out


def load_votes(paths, *, fmt: str | None = None, method_names: list[str] | None = None,
               columns: dict[str, str] | None = None) -> VoteLog:
    """Read one or more vote-log CSV files (all of one format) into a :class:`VoteLog`.

    Parameters
    ----------
    paths : path or list of paths
    fmt : ``canonical`` | ``lai`` | ``crowdkit`` | ``arena`` | ``leftright`` or None (detect from the header)
    method_names : names for Lai method ids (line k of ``method.txt`` names id k)
    columns : {field: the file's column} for the leftright fields (rater, image, left, right, winner);
        the file is then read as leftright (see :func:`parse_columns`)

    Raises InputError (one line, naming the file and field) on: an empty file, non-UTF-8 bytes, missing
    columns, mixed formats, unknown choice values, a method compared with itself, fewer than two methods.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise InputError("no vote files given")
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    frames, fmts = [], []
    for p in paths:
        raw, f = _read_csv(p, fmt, columns)
        fmts.append(f)
        frames.append((p, _canonical_frame(raw, f, p, method_names)))
    if len(set(fmts)) > 1:
        desc = ", ".join(f"{p} is {f}" for p, f in zip(paths, fmts))
        raise InputError(f"mixed formats: {desc}; convert them to one format (or give one file at a time)")
    if len(frames) == 1:
        df = frames[0][1]
    else:
        from pandas.api.types import union_categoricals
        df = pd.DataFrame({
            c: (union_categoricals([f[c] for _, f in frames], ignore_order=True)
                if isinstance(frames[0][1][c].dtype, pd.CategoricalDtype) and
                all(c in f and isinstance(f[c].dtype, pd.CategoricalDtype) for _, f in frames)
                else np.concatenate([f[c].to_numpy() if c in f else np.full(len(f), None) for _, f in frames]))
            for c in frames[0][1].columns})
    name = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    return _finish(df, fmts[0], name, paths, method_names)


def _finish(df: pd.DataFrame, fmt: str, name: str, paths: list[str], method_names: list[str] | None) -> VoteLog:
    if len(df) == 0:
        raise InputError(f"{name}: no votes (the file has a header but no rows)")
    for col in ("method_a", "method_b"):
        if df[col].isna().any():
            line = int(np.flatnonzero(df[col].isna().to_numpy())[0]) + 2
            raise InputError(f"{name}: empty {col} at line {line}")
    choice = np.asarray(df["choice"], dtype=np.int16)
    answered = choice >= 0
    unanswered = int((~answered).sum())
    if not answered.any():
        raise InputError(f"{name}: no answered votes ({unanswered} tasks have an empty choice)")
    df = df.loc[answered].reset_index(drop=True)
    ca = df["method_a"].astype("category")
    cb = df["method_b"].astype("category")
    seen = sorted(set(map(str, ca.cat.categories)) | set(map(str, cb.cat.categories)))
    if fmt == "lai" and method_names is not None:
        order = [m for m in method_names if m in seen]
    else:
        order = seen
    a = pd.Categorical(ca, categories=order).codes.astype(np.int16)
    b = pd.Categorical(cb, categories=order).codes.astype(np.int16)
    sent = df["is_sentinel"].to_numpy(bool) if "is_sentinel" in df else np.zeros(len(df), bool)
    same = (a == b) & ~sent
    if same.any():
        k = int(np.flatnonzero(same)[0])
        raise InputError(f"{name}: method {order[a[k]]!r} compared with itself (row {k + 1} of the answered "
                         f"votes); each vote needs two different methods")
    used = np.zeros(len(order), bool)
    used[a[~sent]] = True
    used[b[~sent]] = True
    if used.sum() < 2:
        only = [order[i] for i in np.flatnonzero(used)]
        raise InputError(f"{name}: only one method ({', '.join(only) or 'none'}) outside sentinel pairs; "
                         f"a Bradley-Terry ranking needs at least two")
    correct = np.full(len(df), -1, dtype=np.int16)
    if "correct" in df:
        lut = {name: k for k, name in enumerate(order)}
        cc = df["correct"].astype(object).map(lut).fillna(-1).to_numpy(np.int16)
        correct = np.where(sent, cc, -1).astype(np.int16)
    out = pd.DataFrame({
        "rater_id": df["rater_id"].astype("category"),
        "image_id": df["image_id"].astype("category"),
        "a": a, "b": b,
        "choice": df["choice"].to_numpy(np.int8),
        "is_sentinel": sent,
        "a_left": df["a_left"].to_numpy(bool) if "a_left" in df else np.ones(len(df), bool),
        "correct": correct,
    })
    return VoteLog(df=out, methods=order, format=fmt, sources=paths, unanswered=unanswered,
                   has_raters=bool(out["rater_id"].notna().any()),
                   has_images=bool(out["image_id"].notna().any()),
                   has_position="a_left" in df)


def votes_from_frame(frame: pd.DataFrame, *, name: str = "<votes>") -> VoteLog:
    """A :class:`VoteLog` from an in-memory canonical DataFrame (e.g. :func:`simulate_votes` output)."""
    cols = [_norm(c) for c in frame.columns]
    fmt = detect_format(cols, name)
    raw = frame.copy()
    raw.columns = cols
    raw = raw.astype({c: "category" for c in raw.columns})
    return _finish(_canonical_frame(raw, fmt, name, None), fmt, name, [name], None)


# ---------------------------------------------------------------------------------------------------
# task lists and simulation


def parse_list(value: str) -> list[str]:
    """``a,b,c`` or the path of a file with one item per line."""
    if os.path.isfile(value):
        try:
            with open(value, encoding="utf-8") as fh:
                items = [ln.strip() for ln in fh.read().splitlines()]
        except UnicodeDecodeError:
            raise InputError(f"{value}: not UTF-8 text") from None
    else:
        items = [v.strip() for v in value.split(",")]
    items = [i for i in items if i]
    return items


def make_pairs(methods, images, *, sentinels: int = 0, sentinel_method: str | None = None,
               rng=None) -> pd.DataFrame:
    """A balanced 2AFC task list: every unordered method pair for every image, sides randomised.

    Parameters
    ----------
    methods : sequence of str (at least two, distinct)
    images : sequence of str (at least one, distinct)
    sentinels : number of sentinel tasks added (SPRIH used 10 per rater); each compares
        ``sentinel_method`` (default ``"real"``: the unedited photo, the correct answer) with
        ``"sentinel_retouch"`` (an extreme retouch) on a random image.
    rng : np.random.Generator | int | None

    Returns
    -------
    DataFrame in the canonical layout, one row per task, in random order: ``rater_id`` (empty),
    ``image_id``, ``method_a`` (shown left), ``method_b`` (shown right), ``choice`` (empty),
    ``is_sentinel`` (0/1), ``position`` (``left``), ``correct`` (sentinel rows: the method to pick),
    ``task_id``.
    """
    methods = [str(m) for m in methods]
    images = [str(i) for i in images]
    if len(methods) < 2:
        raise InputError(f"--methods: need at least two methods, got {len(methods)}")
    if len(set(methods)) != len(methods):
        raise InputError("--methods: duplicate method names")
    if not images:
        raise InputError("--images: need at least one image")
    if len(set(images)) != len(images):
        raise InputError("--images: duplicate image ids")
    if sentinels < 0:
        raise InputError("--sentinels: must be >= 0")
    rng = as_rng(rng)
    pairs = np.array(list(itertools.combinations(range(len(methods)), 2)), dtype=np.int64)
    n_img, n_pair = len(images), len(pairs)
    img = np.repeat(np.arange(n_img), n_pair)
    pa = np.tile(pairs[:, 0], n_img)
    pb = np.tile(pairs[:, 1], n_img)
    swap = rng.random(img.size) < 0.5
    left = np.where(swap, pb, pa)
    right = np.where(swap, pa, pb)
    m = np.asarray(methods, dtype=object)
    ims = np.asarray(images, dtype=object)
    rows = pd.DataFrame({"image_id": ims[img], "method_a": m[left], "method_b": m[right],
                         "is_sentinel": 0, "correct": ""})
    if sentinels:
        good = sentinel_method or "real"
        if good in methods or SENTINEL_BAD in methods:
            raise InputError(f"--sentinel-method: {good!r} must not be one of the compared methods")
        simg = ims[rng.integers(0, n_img, sentinels)]
        sswap = rng.random(sentinels) < 0.5
        srows = pd.DataFrame({"image_id": simg,
                              "method_a": np.where(sswap, SENTINEL_BAD, good),
                              "method_b": np.where(sswap, good, SENTINEL_BAD),
                              "is_sentinel": 1, "correct": good})
        rows = pd.concat([rows, srows], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    rows.insert(0, "rater_id", "")
    rows.insert(5, "choice", "")
    rows["position"] = "left"
    rows["timestamp"] = ""
    rows["task_id"] = np.arange(len(rows))
    return rows[["rater_id", "image_id", "method_a", "method_b", "choice", "is_sentinel", "position",
                 "timestamp", "correct", "task_id"]]


def simulate_votes(strengths: dict, images, raters, votes_per_rater: int, rng=None, *,
                   sentinels_per_rater: int = 0, spammers: int = 0, tie_prob: float = 0.0,
                   left_bias: float = 0.0) -> pd.DataFrame:
    """Answer random 2AFC tasks from known Bradley-Terry log-strengths (canonical layout).

    Each rater answers ``votes_per_rater`` tasks: a random image, a random pair of distinct methods, random
    sides; method i beats j with probability ``1 / (1 + exp(s_j - s_i))``. With ``tie_prob`` a vote is a tie
    with that probability. ``spammers`` raters (the last ones) ignore the images and click left (and so fail
    the sentinels); ``left_bias`` in [0, 1) mixes a left-click habit into honest raters. With
    ``sentinels_per_rater`` each rater also answers that many sentinel pairs (``real`` vs
    ``sentinel_retouch``, correct = ``real``); honest raters get them right.

    ``images`` and ``raters`` are counts or sequences of ids. Vectorised: no loop over votes.
    """
    rng = as_rng(rng)
    names = [str(k) for k in strengths]
    s = np.asarray([float(v) for v in strengths.values()])
    if len(names) < 2:
        raise ValueError("strengths: need at least two methods")
    images = [f"img{i:04d}" for i in range(images)] if isinstance(images, (int, np.integer)) else list(images)
    raters = [f"r{i:04d}" for i in range(raters)] if isinstance(raters, (int, np.integer)) else list(raters)
    n_r, m = len(raters), len(names)
    n = n_r * votes_per_rater
    rater = np.repeat(np.arange(n_r), votes_per_rater)
    img = rng.integers(0, len(images), n)
    i = rng.integers(0, m, n)
    j = (i + rng.integers(1, m, n)) % m          # uniform over the other methods
    choice = np.where(bt_rater_prefers_first(s, i, j, rng), "a", "b").astype(object)
    if left_bias:
        habit = rng.random(n) < left_bias
        choice[habit] = "a"
    if tie_prob:
        choice[rng.random(n) < tie_prob] = "tie"
    spam = rater >= n_r - spammers
    choice[spam] = "a"
    nm = np.asarray(names, dtype=object)
    df = pd.DataFrame({"rater_id": np.asarray(raters, dtype=object)[rater],
                       "image_id": np.asarray(images, dtype=object)[img],
                       "method_a": nm[i], "method_b": nm[j], "choice": choice,
                       "is_sentinel": 0, "position": "left", "correct": ""})
    if sentinels_per_rater:
        ns = n_r * sentinels_per_rater
        srater = np.repeat(np.arange(n_r), sentinels_per_rater)
        real_left = rng.random(ns) < 0.5
        honest = srater < n_r - spammers
        # honest raters pick the real photo; spammers click left
        sch = np.where(honest, np.where(real_left, "a", "b"), "a").astype(object)
        sdf = pd.DataFrame({"rater_id": np.asarray(raters, dtype=object)[srater],
                            "image_id": np.asarray(images, dtype=object)[rng.integers(0, len(images), ns)],
                            "method_a": np.where(real_left, "real", SENTINEL_BAD),
                            "method_b": np.where(real_left, SENTINEL_BAD, "real"),
                            "choice": sch, "is_sentinel": 1, "position": "left", "correct": "real"})
        df = pd.concat([df, sdf], ignore_index=True)
        df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    return df


def bt_rater_prefers_first(strengths: np.ndarray, i: np.ndarray, j: np.ndarray, rng=None) -> np.ndarray:
    """The simulated rater of :func:`simulate_votes`: True where method ``i`` is chosen over ``j``.

    Bradley-Terry: ``P(i chosen) = 1 / (1 + exp(s_j - s_i))`` for natural-log strengths ``s`` (vectorised
    over the arrays of method codes ``i`` and ``j``). The study-design simulation
    (``benchmarks/bench_study_design.py``) answers the scheduler's pairs with it too.
    """
    rng = as_rng(rng)
    s = np.asarray(strengths, dtype=np.float64)
    i = np.asarray(i)
    j = np.asarray(j)
    p_i = 1.0 / (1.0 + np.exp(s[j] - s[i]))
    return rng.random(p_i.shape) < p_i
