"""The study server: a Starlette application over the SQLite store and the pair scheduler.

Routes
------
``GET /``                consent and instructions page (query string kept: Prolific ``PROLIFIC_PID``,
                         ``STUDY_ID``, ``SESSION_ID``; MTurk ``workerId``, ``assignmentId``, ``hitId``,
                         ``turkSubmitTo``; ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` is MTurk's preview:
                         instructions only, no session, no vote)
``GET /rate``, ``/done`` the rating page (one pair at a time) and the thank-you page
``POST /api/session``    consent given: create the rater (or resume the same Prolific/MTurk worker)
``GET /api/state``       the rater's current pair, the next pair to preload, progress (``X-Session``)
``POST /api/vote``       ``{vote_id, token, choice: left|right|same, response_ms}``; idempotent on the
                         client's ``vote_id``; the task ``token`` must be an open assignment of this rater
``GET /img/<key>``       an image by opaque key (method names are not shown to raters); only files found
                         inside ``--images`` at start have keys
``GET /admin``           dashboard; ``/admin/data.json``, ``/admin/plot.png``, ``/admin/export.csv``
                         (admin token: ``Authorization: Bearer T`` or ``?token=T``)

Every rejected request (unknown session, forged / foreign / replayed token, bad admin token, oversized
or malformed body) gets a 4xx and a row in the ``rejects`` table (shown on the dashboard). All database
writes happen on the event-loop thread, one transaction per request, so concurrent raters never
interleave inside a vote (no lost updates); the dashboard's statistics run in a worker thread on a
read-only connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from .scheduler import PairScheduler
from .storage import Store, connect
from .tasks import TaskList

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
_EXT_ID_RE = re.compile(r"^[\x20-\x7e]{1,128}$")
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


@dataclass
class StudyConfig:
    """Settings of one ``harmony study serve`` run (see the command's help)."""

    db: str
    design: str = "balanced"
    votes_per_rater: int = 50
    allow_ties: bool = False
    sentinel_every: int = 10
    min_sentinel_accuracy: float = 0.8
    min_sentinels: int = 2
    auto_exclude: bool = False
    admin_token: str = ""
    title: str = "Which image looks more realistic?"
    max_body: int = 4096
    lookahead: int = 2
    durable: bool = False
    completion_code: str | None = None
    seed: int | None = None
    stats_every_s: float = 5.0
    notes: list[str] = field(default_factory=list)


def page(name: str) -> str:
    """The text of a file of ``harmony/study/pages`` (HTML, JavaScript or CSS shipped with the package).

    Parameters
    ----------
    name : str
        File name, e.g. ``rate.html``.

    Returns
    -------
    str
    """
    return resources.files("harmony.study").joinpath("pages", name).read_text(encoding="utf-8")


class _Rater:
    """In-memory mirror of one rater (rebuilt from the store at start; the store stays the authority)."""

    __slots__ = ("rater_id", "session", "offset", "flagged", "excluded", "completed", "answered", "assigned",
                 "open", "source", "external")

    def __init__(self, rater_id, session, offset, flagged=0, excluded=0, completed=None, source="direct",
                 external="{}"):
        self.rater_id, self.session, self.offset = rater_id, session, offset
        self.flagged, self.excluded, self.completed = flagged, excluded, completed
        self.source, self.external = source, external
        self.answered = 0
        self.assigned = 0
        self.open: list[tuple[str, int, int, int]] = []     # (token, seq, task, a_left), by seq


class Study:
    """State of a running study: the store, the scheduler (rebuilt from the store) and the image keys.

    All methods run on one thread (the event loop). Each vote is one SQLite transaction whose checks
    (vote id, task token, owner, already answered) read the database itself; the in-memory mirror of the
    raters only saves queries when building the reply, and is rebuilt from the store after any error.
    """

    def __init__(self, tasks: TaskList, images: dict, cfg: StudyConfig):
        self.tasks = tasks
        self.cfg = cfg
        self.store = Store.open(cfg.db, tasks, completion_code=cfg.completion_code, durable=cfg.durable,
                                settings={"design": cfg.design, "votes_per_rater": cfg.votes_per_rater})
        secret = self.store.meta["secret"]
        self.key_of: dict[tuple[str, str], str] = {}
        self.file_of: dict[str, Path] = {}
        for (method, image_id), path in images.items():
            key = hashlib.sha256(f"{secret}\x1f{method}\x1f{image_id}".encode()).hexdigest()[:24] + path.suffix.lower()
            self.key_of[(method, image_id)] = key
            self.file_of[key] = path
        frame = tasks.frame
        self.url_a = ["/img/" + self.key_of[(m, i)] for m, i in zip(frame["method_a"], frame["image_id"])]
        self.url_b = ["/img/" + self.key_of[(m, i)] for m, i in zip(frame["method_b"], frame["image_id"])]
        self.method_a = frame["method_a"].tolist()
        self.method_b = frame["method_b"].tolist()
        self.correct = frame["correct"].tolist()
        self.sentinel = frame["is_sentinel"].to_numpy(bool).tolist()
        self._stats_cache: tuple[float, dict] | None = None
        self._plot_cache: bytes | None = None
        self._rebuild()

    # start-up ---------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """(Re)build the scheduler and the rater mirror from the store (a restart continues the study)."""
        cfg, con = self.cfg, self.store.con
        self.scheduler = PairScheduler(self.tasks.arrays, design=cfg.design, votes_per_rater=cfg.votes_per_rater,
                                       sentinel_every=cfg.sentinel_every, rng=cfg.seed)
        self.sent_total: dict[str, int] = {}
        self.sent_ok: dict[str, int] = {}
        self.by_session: dict[str, _Rater] = {}
        self.by_id: dict[str, _Rater] = {}
        for rater_id, session, offset, flagged, excluded, completed, source, external in con.execute(
                "SELECT rater_id, session, slot_offset, flagged, excluded, completed, source, external FROM raters"):
            rater = _Rater(rater_id, session, offset, flagged, excluded, completed, source, external)
            self.by_session[session] = rater
            self.by_id[rater_id] = rater
        for token, rater_id, seq, task, a_left, answered in con.execute(
                "SELECT token, rater_id, seq, task_id, a_left, answered FROM assignments ORDER BY rater_id, seq"):
            rater = self.by_id[rater_id]
            rater.assigned += 1
            self.scheduler.seen(rater_id)[task] = True
            if answered == 0:
                rater.open.append((token, seq, task, a_left))
                self.scheduler.issued(rater_id, task)
        for rater_id, task, choice in con.execute("SELECT rater_id, task_id, choice FROM votes ORDER BY created, rowid"):
            self.by_id[rater_id].answered += 1
            self.scheduler.record(task, choice)
            if self.sentinel[task]:
                self._count_sentinel(rater_id, task, choice)

    def _count_sentinel(self, rater: str, task: int, choice: str) -> None:
        """Count a sentinel answer toward the rater's sentinel accuracy."""
        self.sent_total[rater] = self.sent_total.get(rater, 0) + 1
        self.sent_ok[rater] = self.sent_ok.get(rater, 0) + int(self._chosen(task, choice) == self.correct[task])

    # sessions ---------------------------------------------------------------------------------------
    def rater(self, session: str) -> _Rater | None:
        """The rater of a session id, None when unknown or empty.

        Parameters
        ----------
        session : str
            The ``X-Session`` header.

        Returns
        -------
        _Rater or None
        """
        return self.by_session.get(session) if session else None

    def create_session(self, params: dict) -> tuple[int, dict]:
        """Start (or resume) a rater after consent: ``POST /api/session``.

        A Prolific link carries ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID``; an MTurk external question
        ``workerId``, ``assignmentId``, ``hitId`` and ``turkSubmitTo`` (its preview,
        ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``, gets no session). The same worker id resumes its
        session; other visitors get an anonymous id.

        Parameters
        ----------
        params : dict
            The study link's query parameters.

        Returns
        -------
        status : int
            200, 400 (an id that is not printable ASCII) or 403 (MTurk preview).
        payload : dict
            ``{"session", "rater_id", "resumed"}`` or ``{"error"}``.

        References
        ----------
        Prolific, "Integrating with Prolific: URL parameters and completion codes" (researcher help centre).
        Amazon Mechanical Turk API reference, "ExternalQuestion" (``assignmentId``, ``turkSubmitTo``,
        ``/mturk/externalSubmit``).
        """
        params = {str(k): str(v) for k, v in (params or {}).items() if isinstance(k, str)}
        if params.get("assignmentId") == MTURK_PREVIEW:
            self.store.reject("mturk_preview", "session requested during MTurk preview")
            return 403, {"error": "preview: accept the HIT before starting"}
        if params.get("PROLIFIC_PID"):
            source, rater_id = "prolific", params["PROLIFIC_PID"]
            external = {k: params.get(k, "") for k in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")}
        elif params.get("workerId"):
            source, rater_id = "mturk", params["workerId"]
            external = {k: params.get(k, "") for k in ("workerId", "assignmentId", "hitId", "turkSubmitTo")}
        else:
            source, rater_id, external = "direct", "anon-" + secrets.token_hex(6), {}
        if not _EXT_ID_RE.match(rater_id) or any(len(v) > 256 for v in external.values()):
            self.store.reject("bad_request", "rater id not printable ASCII (1-128 characters)")
            return 400, {"error": "rater id must be printable ASCII, 1-128 characters"}
        known = self.by_id.get(rater_id)
        if known is not None:
            return 200, {"session": known.session, "rater_id": rater_id, "resumed": True}
        offset = secrets.randbelow(max(1, self.cfg.sentinel_every))
        session = self.store.add_rater(rater_id, source, external, offset)
        rater = _Rater(rater_id, session, offset, source=source, external=json.dumps(external))
        self.by_session[session] = rater
        self.by_id[rater_id] = rater
        return 200, {"session": session, "rater_id": rater_id, "resumed": False}

    def _image_urls(self, task: int, a_left: int) -> tuple[str, str]:
        return (self.url_a[task], self.url_b[task]) if a_left else (self.url_b[task], self.url_a[task])

    def _top_up(self, rater: _Rater, n_open: int) -> list[tuple[str, int, int, int]]:
        """Issue assignments until ``lookahead`` are open or the quota is reached (inside a transaction)."""
        new = []
        seq = rater.assigned
        while n_open < self.cfg.lookahead:
            task = self.scheduler.pick(rater.rater_id, seq, rater.offset)
            if task is None:
                break
            a_left = int(self.scheduler.rng.random() < 0.5)
            token = secrets.token_urlsafe(18)
            self.store.con.execute("INSERT INTO assignments (token, rater_id, seq, task_id, a_left, issued) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", (token, rater.rater_id, seq, task, a_left, time.time()))
            self.scheduler.issued(rater.rater_id, task)
            new.append((token, seq, task, a_left))
            seq += 1
            n_open += 1
        return new

    def state(self, rater: _Rater) -> dict:
        """The rater's page state (``GET /api/state``): current pair, the next ones to preload, progress.

        Tops up the rater's open assignments to ``lookahead`` (one transaction) and marks the rater completed
        when nothing is left.

        Parameters
        ----------
        rater : _Rater
            The rater.

        Returns
        -------
        dict
            ``state`` = ``rate`` (with ``token``, ``left`` / ``right`` image URLs, ``preload``, ``allow_ties``,
            ``progress``), ``done`` (completion ``code``, a Prolific ``redirect`` or an MTurk submit form) or
            ``excluded``.
        """
        con = self.store.con
        total = self.cfg.votes_per_rater
        if rater.excluded:
            return {"state": "excluded", "rater_id": rater.rater_id, "progress": {"done": rater.answered, "total": total}}
        if len(rater.open) < self.cfg.lookahead and rater.completed is None and rater.assigned < total:
            con.execute("BEGIN IMMEDIATE")
            try:
                new = self._top_up(rater, len(rater.open))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                self._rebuild()
                raise
            rater.open += new
            rater.assigned += len(new)
        if not rater.open:
            if rater.completed is None:
                rater.completed = time.time()
                con.execute("UPDATE raters SET completed=? WHERE rater_id=?", (rater.completed, rater.rater_id))
            return self._done_state(rater)
        token, _seq, task, a_left = rater.open[0]
        left, right = self._image_urls(task, a_left)
        preload = []
        for _t, _s, t2, al2 in rater.open[1:]:
            preload += list(self._image_urls(t2, al2))
        return {"state": "rate", "rater_id": rater.rater_id, "token": token, "left": left, "right": right,
                "preload": preload, "allow_ties": self.cfg.allow_ties,
                "progress": {"done": rater.answered, "total": max(total, rater.answered + len(rater.open))}}

    def _done_state(self, rater: _Rater) -> dict:
        code = self.store.meta["completion_code"]
        out = {"state": "done", "rater_id": rater.rater_id, "code": code,
               "progress": {"done": rater.answered, "total": max(rater.answered, 1)}, "redirect": None, "mturk": None}
        if rater.source == "prolific":
            out["redirect"] = PROLIFIC_COMPLETE + code
        elif rater.source == "mturk":
            external = json.loads(rater.external)
            submit_to = external.get("turkSubmitTo", "").rstrip("/")
            if submit_to in MTURK_HOSTS and external.get("assignmentId"):
                out["mturk"] = {"action": submit_to + "/mturk/externalSubmit",
                                "assignmentId": external["assignmentId"], "completion_code": code}
        return out

    # votes -------------------------------------------------------------------------------------------
    def _chosen(self, task: int, code: str) -> str | None:
        """The method a vote chose (``a`` / ``b``), None for a tie."""
        return self.method_a[task] if code == "a" else (self.method_b[task] if code == "b" else None)

    def _refuse_body(self, body: dict) -> tuple[int, dict] | None:
        """(400, error) for a malformed vote body (logged as a reject), None when it is well formed."""
        vote_id, token, choice = body.get("vote_id"), body.get("token"), body.get("choice")
        if not (isinstance(vote_id, str) and _ID_RE.match(vote_id)) or not (isinstance(token, str) and _ID_RE.match(token)):
            self.store.reject("bad_request", "vote_id/token missing or malformed")
            return 400, {"error": "vote_id and token: 8-64 characters [A-Za-z0-9_-]"}
        allowed = ("left", "right", "same") if self.cfg.allow_ties else ("left", "right")
        if choice not in allowed:
            self.store.reject("bad_request", f"choice {str(choice)[:20]!r}")
            return 400, {"error": f"choice: expected {', '.join(allowed)}"}
        return None

    def _refuse_assignment(self, rater: _Rater, assignment, token: str) -> tuple[int, dict] | None:
        """(4xx, error) when the token is forged, another rater's, already answered, or the rater is
        excluded (commits and logs a reject); None when the vote may be stored."""
        kind = None
        if assignment is None:
            kind, status, message = "forged_token", 403, "unknown task token"
        elif assignment[0] != rater.rater_id:
            kind, status, message = "foreign_token", 403, "this task was not assigned to you"
        elif assignment[3] != 0:
            kind, status, message = "replayed_token", 409, "this task was already answered"
        elif rater.excluded:
            kind, status, message = "excluded_rater", 403, "session ended"
        if kind is None:
            return None
        self.store.con.execute("COMMIT")
        self.store.reject(kind, f"rater {rater.rater_id[:40]} token {token[:12]}")
        return status, {"error": message}

    def _store_vote(self, rater: _Rater, assignment, vote_id: str, token: str, choice: str,
                    response_ms) -> tuple[int, str, list, bool, bool, list]:
        """Write the vote, flag the rater on failed sentinels, issue the next tasks (inside the transaction).

        Returns (task, choice code, open assignments left, flagged now, excluded now, new assignments).
        """
        con = self.store.con
        _rater_id, task, a_left, _answered, seq = assignment
        code = "tie" if choice == "same" else ("a" if (choice == "left") == bool(a_left) else "b")
        con.execute("INSERT INTO votes (vote_id, token, rater_id, task_id, seq, choice, a_left, response_ms, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (vote_id, token, rater.rater_id, task, seq, code, a_left, response_ms, time.time()))
        con.execute("UPDATE assignments SET answered=1 WHERE token=?", (token,))
        open_after = [a for a in rater.open if a[0] != token]
        flag = exclude = False
        if self.sentinel[task]:
            total = self.sent_total.get(rater.rater_id, 0) + 1
            right = self.sent_ok.get(rater.rater_id, 0) + int(self._chosen(task, code) == self.correct[task])
            if (total >= self.cfg.min_sentinels and right / total < self.cfg.min_sentinel_accuracy
                    and not rater.flagged):
                flag, exclude = True, self.cfg.auto_exclude
                con.execute("UPDATE raters SET flagged=1, excluded=? WHERE rater_id=?", (int(exclude), rater.rater_id))
                if exclude:   # release the rater's open tasks to the others
                    con.execute("UPDATE assignments SET answered=-1 WHERE rater_id=? AND answered=0", (rater.rater_id,))
        new = [] if exclude else self._top_up(rater, len(open_after))
        return task, code, open_after, flag, exclude, new

    def _mirror_vote(self, rater: _Rater, task: int, code: str, open_after: list, flag: bool, exclude: bool,
                     new: list) -> None:
        """Apply a committed vote to the scheduler and the in-memory rater."""
        self.scheduler.answered_vote(task, code)
        if self.sentinel[task]:
            self._count_sentinel(rater.rater_id, task, code)
        rater.answered += 1
        rater.open = open_after + new
        rater.assigned += len(new)
        if flag:
            rater.flagged = 1
            rater.excluded = int(exclude)
            if exclude:
                for _token, _seq, open_task, _a_left in rater.open:
                    self.scheduler.release(open_task)
                rater.open = []

    def vote(self, session: str, body: dict) -> tuple[int, dict]:
        """Record one answer: ``POST /api/vote``.

        The checks (vote id, task token, owner, already answered) read the database inside one
        ``BEGIN IMMEDIATE`` transaction, so concurrent requests never interleave inside a vote. Repeating
        a vote id with the same token (a retry, a double click) answers as the first time; every refusal
        is logged in the ``rejects`` table.

        Parameters
        ----------
        session : str
            The rater's ``X-Session`` header.
        body : dict
            ``{"vote_id": str, "token": str, "choice": "left" | "right" | "same", "response_ms": float}``
            (ids: 8-64 characters ``[A-Za-z0-9_-]``; ``same`` only with ties allowed).

        Returns
        -------
        status : int
            HTTP status: 200, or 400 / 401 / 403 / 409 for a refused vote.
        payload : dict
            ``{"ok": True, "duplicate": bool, **state}`` (:meth:`state`) or ``{"error": message}``.
        """
        store, con = self.store, self.store.con
        rater = self.rater(session)
        if rater is None:
            store.reject("unknown_session", f"session {session[:16]!r}")
            return 401, {"error": "unknown session: start from the study link"}
        refusal = self._refuse_body(body)
        if refusal is not None:
            return refusal
        vote_id, token, choice, response_ms = body["vote_id"], body["token"], body["choice"], body.get("response_ms")
        if response_ms is not None and not (isinstance(response_ms, (int, float)) and math.isfinite(response_ms)
                                            and 0 <= response_ms < 1e8):
            response_ms = None
        con.execute("BEGIN IMMEDIATE")
        try:
            previous = con.execute("SELECT token, rater_id FROM votes WHERE vote_id=?", (vote_id,)).fetchone()
            if previous is not None:
                con.execute("COMMIT")
                if previous[0] == token and previous[1] == rater.rater_id:     # a retry or a double click
                    return 200, {"ok": True, "duplicate": True, **self.state(rater)}
                store.reject("vote_id_reused", f"vote {vote_id} with another token")
                return 409, {"error": "vote id already used for another task"}
            assignment = con.execute("SELECT rater_id, task_id, a_left, answered, seq FROM assignments "
                                     "WHERE token=?", (token,)).fetchone()
            refusal = self._refuse_assignment(rater, assignment, token)
            if refusal is not None:
                return refusal
            stored = self._store_vote(rater, assignment, vote_id, token, choice, response_ms)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            self._rebuild()
            raise
        task, code, open_after, flag, exclude, new = stored
        self._mirror_vote(rater, task, code, open_after, flag, exclude, new)
        return 200, {"ok": True, "duplicate": False, **self.state(rater)}

    # dashboard ---------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Dashboard numbers, recomputed at most every ``stats_every_s`` seconds (:func:`compute_stats`).

        Returns
        -------
        dict
            The JSON of ``/admin/data.json``.
        """
        now = time.monotonic()
        if self._stats_cache and now - self._stats_cache[0] < self.cfg.stats_every_s:
            return self._stats_cache[1]
        data, plot = compute_stats(self.cfg.db, self.tasks, self.cfg)
        self._stats_cache = (now, data)
        self._plot_cache = plot
        return data


def compute_stats(db: str, tasks: TaskList, cfg: StudyConfig) -> tuple[dict, bytes | None]:
    """Everything the dashboard shows, from a read-only connection (runs in a worker thread).

    Scores, intervals, per-rater sentinel accuracy and left/right bias come from
    :func:`harmony.benchmark.bt.score_votes` (Bradley-Terry, choix; regularised with alpha 0.01 when the
    votes do not yet connect every method) and the plot from ``bt-score``'s
    :func:`~harmony.commands.bt_score.plot_png`; nothing statistical is re-implemented here.

    Parameters
    ----------
    db : str
        The study database.
    tasks : TaskList
        The task list.
    cfg : StudyConfig
        The server's settings.

    Returns
    -------
    data : dict
        Progress (votes, raters, completed, flagged, excluded, open assignments), coverage per task and
        per pair, overall sentinel accuracy, left-click rate with its binomial p-value, median response
        time, ``scores`` (the score table's rows) and ``per_rater``.
    plot : bytes or None
        PNG of the scores with their intervals (None before the first regular vote).
    """
    import pandas as pd
    from scipy.stats import binomtest

    from ..benchmark import bt, userstudy
    from ..errors import InputError
    from .export import votes_frame

    con = connect(db, readonly=True)
    try:
        df = votes_frame(con)
        raters = pd.read_sql_query("SELECT rater_id, source, flagged, excluded, completed FROM raters", con)
        rejects = dict(con.execute("SELECT kind, COUNT(*) FROM rejects GROUP BY kind").fetchall())
        assigned = con.execute("SELECT COUNT(*) FROM assignments WHERE answered=0").fetchone()[0]
    finally:
        con.close()
    frame = tasks.frame
    regular_tasks = frame[~frame["is_sentinel"]]
    out: dict = {"votes": int(len(df)), "raters": int(len(raters)),
                 "completed": int(raters["completed"].notna().sum()), "flagged": int(raters["flagged"].sum()),
                 "excluded": int(raters["excluded"].sum()), "open_assignments": int(assigned),
                 "design": cfg.design, "votes_per_rater": cfg.votes_per_rater, "rejects": rejects,
                 "tasks": int(len(regular_tasks)), "sentinel_tasks": int(frame["is_sentinel"].sum())}
    regular = df[df["is_sentinel"] == 0]
    per_task = regular.groupby("task_id").size().reindex(regular_tasks["task_id"], fill_value=0)
    out["coverage"] = {"min": int(per_task.min()), "median": float(per_task.median()), "max": int(per_task.max()),
                       "tasks_without_votes": int((per_task == 0).sum())}
    pair = (regular_tasks[["method_a", "method_b"]].apply(lambda row: " vs ".join(sorted(row)), axis=1)).to_numpy()
    per_pair = pd.Series(per_task.to_numpy(), index=pair).groupby(level=0).agg(["sum", "min", "max"])
    out["pairs"] = [{"pair": pair_name, "votes": int(row["sum"]), "min_per_image": int(row["min"]), "max_per_image": int(row["max"])}
                    for pair_name, row in per_pair.iterrows()]
    sent = df[df["is_sentinel"] == 1]
    if len(sent):
        chosen = sent["method_a"].where(sent["choice"] == "a", sent["method_b"].where(sent["choice"] == "b", ""))
        out["sentinel_accuracy"] = float((chosen == sent["correct"]).mean())
    else:
        out["sentinel_accuracy"] = None
    decided = df[df["choice"] != "tie"]
    if len(decided):
        left = ((decided["choice"] == "a") == (decided["position"] == "left")).to_numpy()
        out["left_rate"] = float(left.mean())
        out["left_p"] = float(binomtest(int(left.sum()), len(left), 0.5).pvalue)
    else:
        out["left_rate"] = out["left_p"] = None
    response_ms = df["response_ms"].dropna()
    out["response_ms_median"] = float(response_ms.median()) if len(response_ms) else None
    per_rater = []
    plot = None
    out["scores"], out["scores_note"] = [], ""
    if len(regular):
        try:
            log = userstudy.votes_from_frame(df[["rater_id", "image_id", "method_a", "method_b", "choice",
                                                 "is_sentinel", "position", "correct"]], name="study")
            try:
                res = bt.score_votes(log, n_boot=200, seed=0, min_sentinel_accuracy=cfg.min_sentinel_accuracy)
            except InputError as exc:
                res = bt.score_votes(log, n_boot=200, seed=0, alpha=0.01,
                                     min_sentinel_accuracy=cfg.min_sentinel_accuracy)
                out["scores_note"] = f"regularised (alpha 0.01): {str(exc).split(';')[0]}"
            cols = ["method", "votes", "wins", "win_rate", "score", "ci_low", "ci_high", "rank", "group"]
            out["scores"] = json.loads(res.table[cols].to_json(orient="records"))
            out["scores_ci"] = res.settings["ci_method"]
            if res.raters is not None:
                rater_qc = res.raters
                per_rater = json.loads(rater_qc[["rater_id", "votes", "sentinels", "sentinel_accuracy", "left_rate",
                                             "left_p", "excluded"]].to_json(orient="records"))
            from ..commands.bt_score import plot_png
            plot = plot_png(res.table, res.settings["scale"], f"live Bradley-Terry scores; {len(df)} votes; "
                            f"{res.settings['ci_method']}")
        except InputError as exc:
            out["scores_note"] = str(exc).splitlines()[0]
    flags = raters.set_index("rater_id")
    med_rt = df.groupby("rater_id")["response_ms"].median()
    for row in per_rater:
        rater_id = row["rater_id"]
        row["flagged"] = bool(flags["flagged"].get(rater_id, 0))
        row["stopped"] = bool(flags["excluded"].get(rater_id, 0))
        row["median_response_ms"] = None if rater_id not in med_rt or pd.isna(med_rt[rater_id]) else float(med_rt[rater_id])
    out["per_rater"] = per_rater
    return out, plot


# -------------------------------------------------------------------------------------------------------
# ASGI


class BodyLimit:
    """Pure ASGI middleware: refuse request bodies above ``limit`` bytes with 413.

    A declared ``Content-Length`` above the limit is refused before reading; a body without one (chunked)
    is read here up to the limit and then replayed to the application, so the application never sees
    more than ``limit`` bytes and no response has started when the refusal is sent.

    Parameters
    ----------
    app : ASGI application
    limit : int
        Largest accepted body, bytes.
    on_reject : callable
        ``on_reject(kind, detail)`` logs a refusal (:meth:`Store.reject`).
    """

    def __init__(self, app, limit: int, on_reject):
        self.app, self.limit, self.on_reject = app, limit, on_reject

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                self.on_reject("body_too_large", f"content-length {declared[:20]!r}")
                return await _plain(send, 413, b"request body too large")
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                self.on_reject("body_too_large", "streamed body")
                return await _plain(send, 413, b"request body too large")
            if not msg.get("more_body"):
                break
        body, done = b"".join(chunks), False

        async def replay():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _plain(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                               "script-src 'self'; form-action 'self' https://www.mturk.com "
                                               "https://workersandbox.mturk.com; frame-ancestors *"}


def _html_page(study: Study, name: str, **substitutions: str):
    """A page of ``harmony/study/pages`` with ``{{title}}`` and the other ``{{key}}`` placeholders filled."""
    from starlette.responses import HTMLResponse

    text = page(name).replace("{{title}}", html.escape(study.cfg.title))
    for key, value in substitutions.items():
        text = text.replace("{{" + key + "}}", value)
    return HTMLResponse(text, headers=SECURITY_HEADERS)


async def _read_json(request) -> dict | None:
    """The request body as a JSON object, None when it is not one."""
    try:
        body = await request.body()
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _page_routes(study: Study) -> list:
    """Routes of the rater's pages, the static files, the images and the health check."""
    from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    statics = {"study.js": "text/javascript", "admin.js": "text/javascript", "study.css": "text/css"}
    static_text = {name: page(name) for name in statics}
    ties = "yes" if study.cfg.allow_ties else "no"

    async def consent(request):
        return _html_page(study, "consent.html", ties=ties)

    async def rate(request):
        return _html_page(study, "rate.html", ties=ties)

    async def done(request):
        return _html_page(study, "done.html")

    async def static(request):
        name = request.path_params["name"]
        if name not in statics:
            return PlainTextResponse("not found", status_code=404)
        return Response(static_text[name], media_type=statics[name], headers={"Cache-Control": "no-cache"})

    async def image(request):
        path = study.file_of.get(request.path_params["key"])
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                            headers={"Cache-Control": "private, max-age=86400"})

    async def health(request):
        return JSONResponse({"ok": True, "study_id": study.tasks.study_id[:12]})

    return [Route("/", consent), Route("/rate", rate), Route("/done", done), Route("/static/{name}", static),
            Route("/img/{key}", image), Route("/healthz", health)]


def _api_routes(study: Study) -> list:
    """Routes of the rating API: session, state and vote (JSON)."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def api_session(request):
        data = await _read_json(request)
        if data is None or data.get("consent") is not True:
            study.store.reject("bad_request", "session without consent")
            return JSONResponse({"error": "consent required"}, status_code=400)
        status, out = study.create_session(data.get("params") or {})
        return JSONResponse(out, status_code=status)

    async def api_state(request):
        session = request.headers.get("x-session", "")
        rater = study.rater(session)
        if rater is None:
            study.store.reject("unknown_session", f"state for {session[:16]!r}")
            return JSONResponse({"error": "unknown session"}, status_code=401)
        return JSONResponse(study.state(rater))

    async def api_vote(request):
        data = await _read_json(request)
        if data is None:
            study.store.reject("bad_request", "vote body is not a JSON object")
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        status, out = study.vote(request.headers.get("x-session", ""), data)
        return JSONResponse(out, status_code=status)

    return [Route("/api/session", api_session, methods=["POST"]), Route("/api/state", api_state),
            Route("/api/vote", api_vote, methods=["POST"])]


def _authorised(study: Study, request) -> bool:
    """Whether the request carries the admin token (``Authorization: Bearer T`` or ``?token=T``); a miss is
    logged as a reject. Compared in constant time."""
    given = request.query_params.get("token", "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    ok = bool(given) and hmac.compare_digest(given.encode(), study.cfg.admin_token.encode())
    if not ok:
        study.store.reject("admin_token", f"{request.url.path} {'no token' if not given else 'wrong token'}")
    return ok


def _admin_routes(study: Study) -> list:
    """Routes of the dashboard: page, statistics, plot and the CSV export (admin token required)."""
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    def denied():
        return PlainTextResponse("admin token required (Authorization: Bearer T or ?token=T)", status_code=401)

    async def admin(request):
        if not _authorised(study, request):
            return denied()
        return _html_page(study, "admin.html")

    async def admin_data(request):
        if not _authorised(study, request):
            return denied()
        return JSONResponse(await asyncio.to_thread(study.stats))

    async def admin_plot(request):
        if not _authorised(study, request):
            return denied()
        await asyncio.to_thread(study.stats)
        if study._plot_cache is None:
            return PlainTextResponse("no scores yet", status_code=404)
        return Response(study._plot_cache, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def admin_export(request):
        if not _authorised(study, request):
            return denied()
        from .export import votes_csv

        def export():
            con = connect(study.cfg.db, readonly=True)
            try:
                return votes_csv(con)
            finally:
                con.close()
        text = await asyncio.to_thread(export)
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="votes.csv"'})

    return [Route("/admin", admin), Route("/admin/data.json", admin_data), Route("/admin/plot.png", admin_plot),
            Route("/admin/export.csv", admin_export)]


def build_app(study: Study):
    """The Starlette application of a :class:`Study`, behind the request-body limit.

    Parameters
    ----------
    study : Study
        The running study.

    Returns
    -------
    BodyLimit
        An ASGI application (serve it with uvicorn): the routes of the module docstring wrapped in
        :class:`BodyLimit` (``cfg.max_body`` bytes).
    """
    from starlette.applications import Starlette

    app = Starlette(routes=_page_routes(study) + _api_routes(study) + _admin_routes(study))
    return BodyLimit(app, study.cfg.max_body, study.store.reject)


def admin_url(host: str, port: int, token: str) -> str:
    """The dashboard's address with its admin token, as ``study serve`` prints it.

    Parameters
    ----------
    host : str
    port : int
    token : str
        The admin token (URL-encoded here).

    Returns
    -------
    str
        ``http://HOST:PORT/admin?token=...``.
    """
    return f"http://{host}:{port}/admin?" + urlencode({"token": token})
