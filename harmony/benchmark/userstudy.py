"""Pairwise (2AFC) user studies: task lists, vote-log loading, and a vote simulator.

A *vote log* is one row per answered pair. The canonical layout (this package's own) is

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
pair for every image, sides randomised, optional sentinel pairs as in SPRIH's user study) and
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
    """One line listing every accepted layout with its columns (optional ones in brackets), for error messages.

    Returns
    -------
    str
    """
    parts = []
    for f, req in FORMATS.items():
        opt = FORMAT_OPTIONAL.get(f, [])
        parts.append(f"{f} ({','.join(req)}" + (f"[,{','.join(opt)}]" if opt else "") + ")")
    return ("accepted formats: " + "; ".join(parts) +
            "; or map your own column names with --columns rater=COL,image=COL,left=COL,right=COL,winner=COL")

CHOICE_A, CHOICE_B, CHOICE_TIE = 0, 1, 2
_CHOICE_WORDS = {"a": CHOICE_A, "b": CHOICE_B, "tie": CHOICE_TIE}
#: spellings of a true / false flag (``is_sentinel``), lower case
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f", ""}
SENTINEL_BAD = "sentinel_retouch"


@dataclass
class VoteLog:
    """Votes in canonical form: what :func:`load_votes` returns and :func:`harmony.benchmark.bt.score_votes` reads.

    Attributes
    ----------
    df : pandas.DataFrame
        One row per answered vote: ``rater_id`` (category, may be all-missing), ``image_id`` (category),
        ``a`` / ``b`` (int16 method codes into ``methods``), ``choice`` (int8: 0 = a, 1 = b, 2 = tie),
        ``is_sentinel`` (bool), ``a_left`` (bool: method a shown on the left; missing -> True), ``correct``
        (int16 method code for sentinel rows with a known answer, else -1).
    methods : list of str
        Method names (sorted, or the order of Lai's ``method.txt``).
    format : str
        The layout read (a key of :data:`FORMATS`).
    sources : list of str
        The files read.
    unanswered : int
        Tasks with an empty choice (skipped).
    has_raters, has_images, has_position : bool
        Whether rater ids, image ids and a ``position`` column were present.
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
        """Number of answered votes.

        Returns
        -------
        int
        """
        return len(self.df)


# ---------------------------------------------------------------------------------------------------
# format detection and loading


def _norm(col: str) -> str:
    return str(col).strip().lstrip("\ufeff").strip().lower()


def detect_format(columns: list[str], name: str = "votes") -> str:
    """The vote-log layout named by a header.

    Parameters
    ----------
    columns : list of str
        Header names (normalised: stripped, lower case).
    name : str
        File name for the messages.

    Returns
    -------
    str
        A key of :data:`FORMATS`.

    Raises
    ------
    InputError
        Missing columns (naming them and the closest layout), an unrecognised header, or the columns of
        two layouts pasted together.
    """
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
    """Lai et al.'s ``method.txt``: line k (1-based) names method id k.

    Parameters
    ----------
    path : str or os.PathLike
        The file (UTF-8, one name a line; trailing blank lines ignored).

    Returns
    -------
    list of str
        The names, id 1 first.

    Raises
    ------
    InputError
        Unreadable or non-UTF-8 file, empty or blank lines, duplicate names.
    """
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
    """Parse ``--columns``: ``rater=worker,winner=label`` -> ``{"rater": "worker", "winner": "label"}``.

    Parameters
    ----------
    value : str or None
        Comma-separated ``FIELD=COLUMN`` pairs; fields are those of the leftright layout
        (:data:`COLUMN_FIELDS`). Empty or None gives an empty mapping.

    Returns
    -------
    dict of str to str
        Field -> the user's column name.

    Raises
    ------
    InputError
        A part without ``=``, an unknown or repeated field, or an empty column name.
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


def _no_ids(n: int) -> pd.Series:
    """An all-missing categorical column of length ``n`` (a layout without rater or image ids)."""
    return pd.Series(pd.Categorical([None] * n)) if n else pd.Series(pd.Categorical([]))


def _optional_ids(df: pd.DataFrame, column: str) -> pd.Series:
    """The stripped ids of ``column``, or an all-missing column where the file has none."""
    return _strings(df[column]) if column in df else _no_ids(len(df))


def _choice_by_name(df: pd.DataFrame, column: str, name: str, expected: str,
                    words: dict[int, list[str]] | None = None) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Sides and choice codes of a layout whose ``column`` names the chosen side (crowdkit, leftright).

    A value equal to the row's ``left`` (``right``) method picks that side; other values go through
    ``words`` (choice code -> lower-case spellings such as ``left``/``l``); an empty value is unanswered
    (-1). The method names win over the words. InputError names the first value matching neither.
    """
    left, right, answer = _strings(df["left"]), _strings(df["right"]), _strings(df[column])
    given = answer.astype(str).to_numpy()
    choice = np.full(len(df), -2, dtype=np.int16)
    lowered = np.char.lower(given.astype(str))
    for code, spellings in (words or {}).items():
        choice[np.isin(lowered, spellings)] = code
    choice[given == left.astype(str).to_numpy()] = CHOICE_A
    choice[given == right.astype(str).to_numpy()] = CHOICE_B
    choice[answer.isna().to_numpy()] = -1
    bad = np.flatnonzero(choice == -2)
    if bad.size:
        raise InputError(f"{name}: unknown {column} value {given[bad[0]]!r} at line {bad[0] + 2}; expected {expected}")
    return left, right, choice


def _from_canonical(df: pd.DataFrame, name: str, method_names: list[str] | None) -> dict:
    """Columns of the canonical layout (``rater_id,image_id,method_a,method_b,choice[,...]``)."""
    out = {"rater_id": _strings(df["rater_id"]), "image_id": _strings(df["image_id"]),
           "method_a": _strings(df["method_a"]), "method_b": _strings(df["method_b"]),
           "choice": _map_categories(df["choice"], _CHOICE_WORDS, name, "choice", "a, b or tie")}
    if "position" in df:
        out["a_left"] = _map_categories(df["position"], {"left": 1, "l": 1, "right": 0, "r": 0}, name, "position",
                                        "left or right (where method_a was shown)", missing=1).astype(bool)
    if "is_sentinel" in df:
        truth = {k: 1 for k in TRUE_WORDS} | {k: 0 for k in FALSE_WORDS}
        out["is_sentinel"] = _map_categories(df["is_sentinel"], truth, name, "is_sentinel", "0/1 or true/false",
                                             missing=0).astype(bool)
    if "correct" in df:
        out["correct"] = _strings(df["correct"])
    return out


def _lai_method_ids(df: pd.DataFrame, column: str, name: str, method_names: list[str] | None) -> pd.Series:
    """Lai et al.'s method ids of ``column`` renamed by the ``method.txt`` names (line k names id k)."""
    ids = _strings(df[column])
    if method_names is None:
        return ids
    mapping = {}
    for category in ids.cat.categories:
        try:
            k = int(float(category))
        except ValueError:
            k = -1
        if not 1 <= k <= len(method_names):
            raise InputError(f"{name}: {column!r} value {category!r} is not a method id 1..{len(method_names)} "
                             f"of the --method-names file")
        mapping[category] = method_names[k - 1]
    return ids.cat.rename_categories(mapping)


def _from_lai(df: pd.DataFrame, name: str, method_names: list[str] | None) -> dict:
    """Columns of Lai et al.'s layout (``Image ID,Method 1,Method 2,Result``; Result 1 or 2)."""
    return {"rater_id": _no_ids(len(df)), "image_id": _strings(df["image id"]),
            "method_a": _lai_method_ids(df, "method 1", name, method_names),
            "method_b": _lai_method_ids(df, "method 2", name, method_names),
            "choice": _map_categories(df["result"], {"1": CHOICE_A, "2": CHOICE_B, "1.0": CHOICE_A,
                                                     "2.0": CHOICE_B}, name, "Result", "1 or 2")}


def _from_crowdkit(df: pd.DataFrame, name: str, method_names: list[str] | None) -> dict:
    """Columns of crowd-kit's pairwise layout (``worker,left,right,label[,task]``; label = chosen item)."""
    left, right, choice = _choice_by_name(df, "label", name, "the left or the right item of that row")
    return {"rater_id": _strings(df["worker"]), "image_id": _optional_ids(df, "task"),
            "method_a": left, "method_b": right, "choice": choice, "a_left": True}


_LEFTRIGHT_WORDS = {CHOICE_A: ["left", "l", "a", "1"], CHOICE_B: ["right", "r", "b", "2"],
                    CHOICE_TIE: ["tie", "draw", "equal", "same"]}


def _from_leftright(df: pd.DataFrame, name: str, method_names: list[str] | None) -> dict:
    """Columns of the leftright layout (``[rater,image,]left,right,winner``; winner = name, side or tie)."""
    left, right, choice = _choice_by_name(df, "winner", name, "the left or the right method of that row, "
                                          "left/right, or tie", _LEFTRIGHT_WORDS)
    return {"rater_id": _optional_ids(df, "rater"), "image_id": _optional_ids(df, "image"),
            "method_a": left, "method_b": right, "choice": choice, "a_left": True}


def _from_arena(df: pd.DataFrame, name: str, method_names: list[str] | None) -> dict:
    """Columns of Chatbot Arena's battles (``model_a,model_b,winner[,judge,question_id]``)."""
    winners = {"model_a": CHOICE_A, "model_b": CHOICE_B, "tie": CHOICE_TIE, "tie (bothbad)": CHOICE_TIE}
    return {"rater_id": _optional_ids(df, "judge"), "image_id": _optional_ids(df, "question_id"),
            "method_a": _strings(df["model_a"]), "method_b": _strings(df["model_b"]),
            "choice": _map_categories(df["winner"], winners, name, "winner",
                                      "model_a, model_b, tie or tie (bothbad)")}


#: the reader of each layout: (raw frame, file name, Lai method names) -> canonical columns
_READERS = {"canonical": _from_canonical, "lai": _from_lai, "crowdkit": _from_crowdkit,
            "leftright": _from_leftright, "arena": _from_arena}


def _canonical_frame(df: pd.DataFrame, fmt: str, name: str, method_names: list[str] | None) -> pd.DataFrame:
    """Columns rater_id, image_id, method_a, method_b (categorical strings), choice (int8, -1 = unanswered)."""
    if fmt not in _READERS:  # pragma: no cover - click restricts --format
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for column, values in _READERS[fmt](df, name, method_names).items():
        out[column] = values
    return out


def load_votes(paths, *, fmt: str | None = None, method_names: list[str] | None = None,
               columns: dict[str, str] | None = None) -> VoteLog:
    """Read one or more vote-log CSV files (all of one layout) into a :class:`VoteLog`.

    Parameters
    ----------
    paths : str, os.PathLike or list of them
        The CSV files.
    fmt : {"canonical", "lai", "crowdkit", "arena", "leftright"}, optional
        The layout (default: detected from the header, :func:`detect_format`).
    method_names : list of str, optional
        Names for Lai method ids (line k of ``method.txt`` names id k).
    columns : dict of str to str, optional
        ``{field: the file's column}`` for the leftright fields (rater, image, left, right, winner); the
        file is then read as leftright (see :func:`parse_columns`).

    Returns
    -------
    VoteLog

    Raises
    ------
    InputError
        One line naming the file and field: an empty file, non-UTF-8 bytes, missing columns, mixed
        layouts, unknown choice values, a method compared with itself, fewer than two methods.

    References
    ----------
    Lai et al. (2016), CVPR, user-study data (``Image ID,Method 1,Method 2,Result``); crowd-kit's
    pairwise frame (``worker,left,right,label``, Toloka); LMSYS Chatbot Arena battles
    (``model_a,model_b,winner``).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "votes.csv")
    >>> import pandas as pd
    >>> pd.DataFrame({"rater": ["r1", "r2"], "left": ["dih", "ours"], "right": ["ours", "dih"],
    ...               "winner": ["ours", "left"]}).to_csv(path, index=False)
    >>> log = load_votes(path)
    >>> log.format, log.methods, log.df["choice"].tolist()
    ('leftright', ['dih', 'ours'], [1, 0])
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
    """A :class:`VoteLog` from an in-memory vote table (for example :func:`simulate_votes` output).

    Parameters
    ----------
    frame : pandas.DataFrame
        Votes in any layout :func:`detect_format` recognises.
    name : str
        Name used in error messages.

    Returns
    -------
    VoteLog
    """
    cols = [_norm(c) for c in frame.columns]
    fmt = detect_format(cols, name)
    raw = frame.copy()
    raw.columns = cols
    raw = raw.astype({c: "category" for c in raw.columns})
    return _finish(_canonical_frame(raw, fmt, name, None), fmt, name, [name], None)


# ---------------------------------------------------------------------------------------------------
# task lists and simulation


def parse_list(value: str) -> list[str]:
    """A list option: ``a,b,c`` or the path of a file with one item per line.

    Parameters
    ----------
    value : str
        Comma-separated items, or an existing file (UTF-8).

    Returns
    -------
    list of str
        Stripped, non-empty items.

    Raises
    ------
    InputError
        The file is not UTF-8.
    """
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
    methods : sequence of str
        At least two distinct methods.
    images : sequence of str
        At least one distinct image id.
    sentinels : int
        Number of sentinel tasks added (SPRIH used 10 per rater); each compares ``sentinel_method`` (the
        unedited photo, the correct answer) with ``sentinel_retouch`` (an extreme retouch) on a random
        image.
    sentinel_method : str, optional
        Name of the sentinel's right answer (default ``real``).
    rng : int, numpy.random.Generator or None

    Returns
    -------
    pandas.DataFrame
        The canonical layout, one row per task, in random order: ``rater_id`` (empty), ``image_id``,
        ``method_a`` (shown left), ``method_b`` (shown right), ``choice`` (empty), ``is_sentinel`` (0/1),
        ``position`` (``left``), ``timestamp`` (empty), ``correct`` (sentinel rows: the method to pick),
        ``task_id``.

    Raises
    ------
    InputError
        Too few or duplicate methods or images, negative ``sentinels``, or a sentinel name that is also a
        compared method.
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

    Each rater answers ``votes_per_rater`` tasks: a random image, a random pair of distinct methods;
    method i beats j with probability ``1 / (1 + exp(s_j - s_i))`` (:func:`bt_rater_prefers_first`).
    Vectorised: no loop over votes.

    Parameters
    ----------
    strengths : dict of str to float
        Natural-log strengths of at least two methods.
    images, raters : int or sequence of str
        Counts (ids ``img0000`` ..., ``r0000`` ...) or the ids.
    votes_per_rater : int
        Regular votes per rater.
    rng : int, numpy.random.Generator or None
    sentinels_per_rater : int
        Sentinel pairs per rater (``real`` against ``sentinel_retouch``, correct = ``real``; honest raters
        get them right).
    spammers : int
        The last raters ignore the images and click left (so they fail the sentinels).
    tie_prob : float
        Probability in [0, 1] that a vote is a tie.
    left_bias : float
        In [0, 1): share of honest votes replaced by a left click.

    Returns
    -------
    pandas.DataFrame
        ``rater_id, image_id, method_a, method_b, choice, is_sentinel, position, correct``; ``choice`` is
        ``a``, ``b`` or ``tie``.

    Raises
    ------
    ValueError
        Fewer than two methods.
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

    Bradley-Terry: ``P(i chosen) = 1 / (1 + exp(s_j - s_i))`` for natural-log strengths ``s``. The
    study-design simulation (``benchmarks/bench_study_design.py``) answers the scheduler's pairs with it.

    Parameters
    ----------
    strengths : numpy.ndarray
        ``(M,)`` log-strengths.
    i, j : numpy.ndarray
        Method codes (any matching shape).
    rng : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        bool, the shape of ``i``.
    """
    rng = as_rng(rng)
    s = np.asarray(strengths, dtype=np.float64)
    i = np.asarray(i)
    j = np.asarray(j)
    p_i = 1.0 / (1.0 + np.exp(s[j] - s[i]))
    return rng.random(p_i.shape) < p_i
