"""SQLite store of a study (WAL mode): identity, tasks, raters, assignments, votes, rejected requests.

One writer connection, used by one thread (the server's event loop); every vote is one transaction
(``BEGIN IMMEDIATE`` ... ``COMMIT``) that checks the task token, stores the vote and marks the assignment
answered, so an acknowledged vote is on disk in the write-ahead log before the reply leaves. With
``synchronous=NORMAL`` (the default) a committed transaction survives the process being killed (SIGKILL);
``durable=True`` sets ``synchronous=FULL`` so it also survives a power cut (an fsync per vote).
Readers (the dashboard, ``export``) open their own connections and never block the writer (WAL).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time

from ..errors import InputError

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY, image_id TEXT NOT NULL, method_a TEXT NOT NULL, method_b TEXT NOT NULL,
    is_sentinel INTEGER NOT NULL, correct TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    rater_id TEXT PRIMARY KEY, session TEXT UNIQUE NOT NULL, source TEXT NOT NULL, external TEXT NOT NULL,
    created REAL NOT NULL, slot_offset INTEGER NOT NULL, flagged INTEGER NOT NULL DEFAULT 0,
    excluded INTEGER NOT NULL DEFAULT 0, completed REAL);
CREATE TABLE IF NOT EXISTS assignments (
    token TEXT PRIMARY KEY, rater_id TEXT NOT NULL, seq INTEGER NOT NULL, task_id INTEGER NOT NULL,
    a_left INTEGER NOT NULL, issued REAL NOT NULL, answered INTEGER NOT NULL DEFAULT 0,
    UNIQUE (rater_id, seq));
CREATE TABLE IF NOT EXISTS votes (
    vote_id TEXT PRIMARY KEY, token TEXT UNIQUE NOT NULL, rater_id TEXT NOT NULL, task_id INTEGER NOT NULL,
    seq INTEGER NOT NULL, choice TEXT NOT NULL, a_left INTEGER NOT NULL, response_ms REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS votes_rater ON votes (rater_id);
"""


def is_sqlite_file(path: str) -> bool:
    """Whether ``path`` is a readable file starting with SQLite's 16-byte header ``SQLite format 3``.

    Parameters
    ----------
    path : str
        Any path.

    Returns
    -------
    bool
        False for a missing or unreadable file.

    References
    ----------
    SQLite database file format, section 1.3 (the database header): https://www.sqlite.org/fileformat.html
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def connect(path: str, *, readonly: bool = False, durable: bool = False) -> sqlite3.Connection:
    """Open the study database with the server's settings (WAL journal, a 5 s busy timeout).

    Parameters
    ----------
    path : str
        The SQLite file.
    readonly : bool
        Open read-only (``mode=ro``): the dashboard and ``export`` never block the writer.
    durable : bool
        ``synchronous=FULL`` (an fsync per transaction, survives a power cut) instead of ``NORMAL``
        (survives a killed process).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (``isolation_level=None``): callers issue ``BEGIN IMMEDIATE`` themselves.

    References
    ----------
    SQLite, "Write-Ahead Logging" (https://www.sqlite.org/wal.html) and ``PRAGMA synchronous``.
    """
    if readonly:
        con = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, isolation_level=None,
                              check_same_thread=False)
    else:
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    con.execute("PRAGMA busy_timeout=5000")
    return con


def check_study_db(path: str) -> sqlite3.Connection:
    """Open an existing study database read-only, refusing anything else.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    sqlite3.Connection
        Read-only; the caller closes it.

    Raises
    ------
    InputError
        The file is missing, is not SQLite, or has no harmony study metadata.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: database not found")
    if not is_sqlite_file(path):
        raise InputError(f"{path}: not an SQLite database")
    con = connect(path, readonly=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key='harmony_study_schema'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None:
        con.close()
        raise InputError(f"{path}: not a harmony study database (no study metadata)")
    return con


class Store:
    """The study's database (tables ``meta``, ``tasks``, ``raters``, ``assignments``, ``votes``, ``rejects``).

    Create or continue one with :meth:`open`.

    Parameters
    ----------
    con : sqlite3.Connection
        The writer connection (:func:`connect`).
    path : str
        Its file.
    """

    def __init__(self, con: sqlite3.Connection, path: str):
        self.con = con
        self.path = path
        self.meta = dict(con.execute("SELECT key, value FROM meta").fetchall())

    @classmethod
    def open(cls, path: str, tasks, *, completion_code: str | None = None, durable: bool = False,
             settings: dict | None = None) -> Store:
        """Create the study database, or continue it; refuse a database of another study or program.

        Parameters
        ----------
        path : str
            The SQLite file (created when missing or empty).
        tasks : TaskList
            The task list; its ``study_id`` (a hash of the tasks) must match a continued database.
        completion_code : str, optional
            Code shown at the end (Prolific ``cc``); default a random one kept in the database.
        durable : bool
            See :func:`connect`.
        settings : dict, optional
            Server settings recorded in ``meta`` at creation.

        Returns
        -------
        Store

        Raises
        ------
        InputError
            Not an SQLite file, another program's database, another schema or another study.
        """
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if exists and not is_sqlite_file(path):
            raise InputError(f"--db: {path} is not an SQLite database")
        con = connect(path, durable=durable)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            raise InputError(f"--db: {path} is not a readable SQLite database") from None
        if names and "meta" not in names:
            con.close()
            raise InputError(f"--db: {path} belongs to another program (tables {', '.join(sorted(names)[:4])}); "
                             f"use a new --db file")
        if names:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("harmony_study_schema") != SCHEMA_VERSION:
                con.close()
                raise InputError(f"--db: {path} is not a harmony study database (schema "
                                 f"{meta.get('harmony_study_schema')!r})")
            if meta.get("study_id") != tasks.study_id:
                con.close()
                raise InputError(f"--db: {path} holds another study (task list {meta.get('tasks_file')!r}, "
                                 f"id {meta.get('study_id', '')[:12]}); this task list is {tasks.study_id[:12]}: "
                                 f"use a new --db file")
            if completion_code and meta.get("completion_code") != completion_code:
                con.execute("UPDATE meta SET value=? WHERE key='completion_code'", (completion_code,))
            return cls(con, path)
        con.executescript(SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        meta = {"harmony_study_schema": SCHEMA_VERSION, "study_id": tasks.study_id,
                "tasks_file": os.path.abspath(tasks.source), "created": f"{time.time():.3f}",
                "completion_code": completion_code or secrets.token_hex(4).upper(),
                "secret": secrets.token_hex(16), "settings": json.dumps(settings or {})}
        con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
        f = tasks.frame
        con.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?)",
                        zip(f["task_id"].tolist(), f["image_id"].tolist(), f["method_a"].tolist(),
                            f["method_b"].tolist(), f["is_sentinel"].astype(int).tolist(), f["correct"].tolist()))
        con.execute("COMMIT")
        return cls(con, path)

    # queries ---------------------------------------------------------------------------------------
    def reject(self, kind: str, detail: str) -> None:
        """Log a refused request in the ``rejects`` table (shown on the dashboard).

        Parameters
        ----------
        kind : str
            Category, e.g. ``forged_token``, ``admin_token``, ``body_too_large``.
        detail : str
            Short description (cut to 200 characters).
        """
        self.con.execute("INSERT INTO rejects (at, kind, detail) VALUES (?, ?, ?)", (time.time(), kind, detail[:200]))

    def add_rater(self, rater_id: str, source: str, external: dict, slot_offset: int) -> str:
        """Insert a rater and return its new session id (not committed here: the caller's transaction).

        Parameters
        ----------
        rater_id : str
            Prolific / MTurk worker id, or an anonymous id.
        source : {"prolific", "mturk", "direct"}
        external : dict
            The platform's parameters (kept as JSON for the completion redirect).
        slot_offset : int
            The rater's sentinel offset (:meth:`PairScheduler.is_sentinel_slot`).

        Returns
        -------
        str
            A random URL-safe session id (24 bytes).
        """
        session = secrets.token_urlsafe(24)
        self.con.execute("INSERT INTO raters (rater_id, session, source, external, created, slot_offset) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (rater_id, session, source, json.dumps(external), time.time(), slot_offset))
        return session
