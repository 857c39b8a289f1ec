"""Votes from a study database in the canonical vote-log format (the one ``harmony bt-score`` reads).

Columns: ``rater_id,image_id,method_a,method_b,choice,is_sentinel,position,timestamp,correct`` (choice
``a``/``b``/``tie`` refers to method_a/method_b of the task list; ``position`` is the side where
method_a was shown to that rater, randomised per vote; ``timestamp`` UTC ISO 8601) followed by
``task_id,vote_id,seq,response_ms,flagged,excluded`` (``flagged``: the rater fell below the sentinel
threshold; ``excluded``: the server stopped the rater).
"""

from __future__ import annotations

import sqlite3

import pandas as pd

COLUMNS = ["rater_id", "image_id", "method_a", "method_b", "choice", "is_sentinel", "position", "timestamp",
           "correct", "task_id", "vote_id", "seq", "response_ms", "flagged", "excluded"]

_QUERY = """
SELECT v.rater_id, t.image_id, t.method_a, t.method_b, v.choice, t.is_sentinel, v.a_left, v.created,
       t.correct, v.task_id, v.vote_id, v.seq, v.response_ms, r.flagged, r.excluded
FROM votes v JOIN tasks t ON t.task_id = v.task_id JOIN raters r ON r.rater_id = v.rater_id
ORDER BY v.created, v.rowid
"""


def votes_frame(con: sqlite3.Connection) -> pd.DataFrame:
    """All acknowledged votes, one row each, in arrival order (canonical columns first).

    Parameters
    ----------
    con : sqlite3.Connection
        A connection to the study database.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`COLUMNS` (see the module docstring).
    """
    rows = con.execute(_QUERY).fetchall()
    df = pd.DataFrame(rows, columns=["rater_id", "image_id", "method_a", "method_b", "choice", "is_sentinel",
                                     "a_left", "created", "correct", "task_id", "vote_id", "seq", "response_ms",
                                     "flagged", "excluded"])
    df["position"] = df["a_left"].map({1: "left", 0: "right"})
    df["timestamp"] = pd.to_datetime(df["created"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return df[COLUMNS]


def read_study_votes(path: str) -> pd.DataFrame:
    """The votes of the study database ``path`` (:func:`votes_frame`), after checking it is one.

    Parameters
    ----------
    path : str
        A ``harmony study serve`` database.

    Returns
    -------
    pandas.DataFrame
        As :func:`votes_frame`.

    Raises
    ------
    InputError
        ``path`` is not a `harmony study serve` database, or it holds no vote yet.
    """
    from ..errors import InputError
    from .storage import check_study_db

    con = check_study_db(path)
    try:
        df = votes_frame(con)
    finally:
        con.close()
    if len(df) == 0:
        raise InputError(f"{path}: the study database has no votes yet")
    return df


def votes_csv(con: sqlite3.Connection) -> str:
    """The votes as CSV text (``/admin/export.csv`` and ``harmony study export``), read by ``bt-score``.

    Parameters
    ----------
    con : sqlite3.Connection
        A connection to the study database.

    Returns
    -------
    str
        CSV with a header, Unix line ends, response times to 0.1 ms.
    """
    return votes_frame(con).to_csv(index=False, lineterminator="\n", float_format="%.1f")
