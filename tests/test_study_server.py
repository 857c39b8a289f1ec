"""`harmony study serve` as a real subprocess on loopback: the rating flow, idempotence, security cases,
restart and SIGKILL, concurrency, export and `bt-score study.sqlite`."""

from __future__ import annotations

import concurrent.futures as cf
import json
import sqlite3
import uuid

import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from tests._study_util import EVIL, Server, db_votes, make_study_dir  # noqa: E402


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def harmony(*args):
    """The `harmony` command in-process (click's runner; exit codes and stderr as the console script)."""
    from click.testing import CliRunner

    from harmony.cli import cli

    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return _Result(r.exit_code, r.stdout, r.stderr)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    tasks, imgs = make_study_dir(root)
    srv = Server(tasks, imgs, root / "study.sqlite", "--votes-per-rater", 6, "--sentinel-every", 3, "--seed", 1,
                 "--title", "<b>Pick</b> & <script>x</script>")
    yield srv, root, tasks, imgs
    srv.stop()


def rate_all(srv, session, choice="left"):
    status, st = srv.json("GET", "/api/state", session=session)
    assert status == 200
    acks = []
    while st["state"] == "rate":
        status, nxt = srv.vote(session, st["token"], choice)
        assert status == 200, nxt
        acks.append(st["token"])
        st = nxt
    return st, acks


def test_flow_prolific_sides_and_duplicates(study):
    srv, root, *_ = study
    s = srv.session(PROLIFIC_PID="pp1", STUDY_ID="st", SESSION_ID="se")
    status, st = srv.json("GET", "/api/state", session=s)
    assert st["state"] == "rate" and st["progress"] == {"done": 0, "total": 6}
    assert st["left"].startswith("/img/") and len(st["preload"]) == 2          # next pair preloaded
    assert "composite" not in json.dumps(st) and "ours" not in json.dumps(st)   # method names hidden
    img = srv.request("GET", st["left"])
    assert img[0] == 200 and img[1][:8] == b"\x89PNG\r\n\x1a\n"
    vid = uuid.uuid4().hex
    s1, r1 = srv.vote(s, st["token"], "right", vote_id=vid)
    s2, r2 = srv.vote(s, st["token"], "right", vote_id=vid)                   # retry / double click
    assert (s1, s2) == (200, 200) and r2["duplicate"] is True and r1["progress"]["done"] == 1
    assert r2["token"] == r1["token"]
    # a reload resumes at the same pair (server-side state)
    assert srv.json("GET", "/api/state", session=s)[1]["token"] == r1["token"]
    # resuming with the same Prolific id gives the same session
    assert srv.session(PROLIFIC_PID="pp1") == s
    final, _ = rate_all(srv, s)
    assert final["state"] == "done"
    assert final["redirect"] == "https://app.prolific.com/submissions/complete?cc=" + final["code"]
    rows = [r for r in db_votes(root / "study.sqlite") if r[2] == "pp1"]
    assert len(rows) == 6 and len({r[0] for r in rows}) == 6
    # the stored choice maps the clicked side through the recorded position
    con = sqlite3.connect(root / "study.sqlite")
    choice, a_left = con.execute("SELECT choice, a_left FROM votes WHERE vote_id=?", (vid,)).fetchone()
    con.close()
    assert choice == ("b" if a_left else "a")          # "right" clicked


def test_mturk_preview_and_submit(study):
    srv, *_ = study
    status, j = srv.json("POST", "/api/session", {"consent": True, "params": {
        "workerId": "W1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H"}})
    assert status == 403
    s = srv.session(workerId="W1", assignmentId="A1", hitId="H", turkSubmitTo="https://workersandbox.mturk.com")
    final, _ = rate_all(srv, s)
    assert final["mturk"] == {"action": "https://workersandbox.mturk.com/mturk/externalSubmit",
                              "assignmentId": "A1", "completion_code": final["code"]}
    s2 = srv.session(workerId="W2", assignmentId="A2", hitId="H", turkSubmitTo="https://evil.example")
    assert rate_all(srv, s2)[0]["mturk"] is None                # no open redirect to another host


def rejects(root):
    con = sqlite3.connect(root / "study.sqlite")
    try:
        return dict(con.execute("SELECT kind, COUNT(*) FROM rejects GROUP BY kind").fetchall())
    finally:
        con.close()


def test_tokens_forged_replayed_foreign_unknown(study):
    srv, root, *_ = study
    before = rejects(root)
    a, b = srv.session(), srv.session()
    st_a = srv.json("GET", "/api/state", session=a)[1]
    st_b = srv.json("GET", "/api/state", session=b)[1]
    assert srv.vote(a, "forgedtoken123456")[0] == 403
    assert srv.vote(a, st_b["token"])[0] == 403                              # another rater's task
    assert srv.vote("nosuchsession", st_a["token"])[0] == 401
    assert srv.vote(a, st_a["token"])[0] == 200
    assert srv.vote(a, st_a["token"])[0] == 409                              # replay, new vote id
    assert srv.json("POST", "/api/vote", {"vote_id": "x", "token": st_a["token"], "choice": "left"}, a)[0] == 400
    assert srv.vote(a, srv.json("GET", "/api/state", session=a)[1]["token"], choice="same")[0] == 400  # no ties
    after = rejects(root)
    for kind, n in {"forged_token": 1, "foreign_token": 1, "unknown_session": 1, "replayed_token": 1,
                    "bad_request": 2}.items():
        assert after.get(kind, 0) - before.get(kind, 0) == n, (kind, before, after)


@pytest.mark.parametrize("path", ["/img/../../../etc/passwd", "/img/..%2f..%2fetc%2fpasswd", "/img//etc/passwd",
                                  "/img/%2Fetc%2Fpasswd", "/img/..", "/img/composite%2Fimg1.png",
                                  "/static/../app.py", "/static/consent.html"])
def test_image_route_only_inside_images(study, path):
    srv, *_ = study
    assert srv.request("GET", path)[0] == 404


def test_admin_token_and_escaping(study):
    srv, root, *_ = study
    before = rejects(root).get("admin_token", 0)
    for path in ("/admin", "/admin/data.json", "/admin/export.csv", "/admin/plot.png"):
        assert srv.request("GET", path)[0] == 401
    assert srv.request("GET", "/admin/data.json?token=wrong")[0] == 401
    assert srv.request("GET", "/admin/data.json", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert rejects(root)["admin_token"] - before == 6
    # a rater whose id is markup, on an image whose name is markup
    s = srv.session(PROLIFIC_PID="<script>alert(1)</script>")
    rate_all(srv, s)
    status, page, _ = srv.request("GET", "/admin?token=" + srv.token)
    assert status == 200 and b"<script>alert" not in page and b"<script>x" not in page
    for path in ("/", "/rate", "/done"):
        status, page, headers = srv.request("GET", path)
        assert status == 200 and b"&lt;b&gt;Pick&lt;/b&gt; &amp; &lt;script&gt;x" in page and b"<b>Pick" not in page
        assert "script-src 'self'" in headers["content-security-policy"]
    status, data, headers = srv.request("GET", "/admin/data.json", headers={"Authorization": "Bearer " + srv.token})
    assert status == 200 and headers["content-type"].startswith("application/json")
    d = json.loads(data)
    assert any(r["rater_id"] == "<script>alert(1)</script>" for r in d["per_rater"])
    assert d["votes"] >= 6 and d["scores"]
    status, csv, _ = srv.request("GET", "/admin/export.csv?token=" + srv.token)
    assert status == 200 and EVIL.encode() in csv
    assert srv.request("GET", "/admin/plot.png?token=" + srv.token)[1][:4] == b"\x89PNG"


def test_body_limit(study):
    srv, root, *_ = study
    before = rejects(root).get("body_too_large", 0)
    status, _, _ = srv.request("POST", "/api/vote", raw=b"{" + b" " * 10000 + b"}", session="x")
    assert status == 413
    # the same without Content-Length (chunked transfer encoding), and a small chunked vote still works
    import http.client

    def chunked(payload: bytes, session: str):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.putrequest("POST", "/api/vote")
        c.putheader("Transfer-Encoding", "chunked")
        c.putheader("Content-Type", "application/json")
        c.putheader("X-Session", session)
        c.endheaders()
        for k in range(0, len(payload), 1000):
            part = payload[k:k + 1000]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        out = r.status, r.read()
        c.close()
        return out

    assert chunked(b"{" + b" " * 10000 + b"}", "x")[0] == 413
    assert rejects(root)["body_too_large"] == before + 2
    s = srv.session()
    st = srv.json("GET", "/api/state", session=s)[1]
    status, data = chunked(json.dumps({"vote_id": uuid.uuid4().hex, "token": st["token"], "choice": "left"}).encode(), s)
    assert status == 200 and json.loads(data)["ok"] is True


def test_missing_images_refused_before_start(tmp_path):
    tasks, imgs = make_study_dir(tmp_path)
    (imgs / "dih" / "img2.png").unlink()
    r = harmony("study", "serve", tasks, "--images", imgs, "--db", tmp_path / "x.sqlite", "--port", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "1 of" in r.stderr and "dih/img2" in r.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_other_db_refused(tmp_path):
    tasks, imgs = make_study_dir(tmp_path)
    other = tmp_path / "other.csv"
    pd.read_csv(tasks).iloc[:-1].to_csv(other, index=False)
    from harmony.study.storage import Store
    from harmony.study.tasks import read_tasks

    Store.open(str(tmp_path / "a.sqlite"), read_tasks(other)).con.close()
    r = harmony("study", "serve", tasks, "--images", imgs, "--db", tmp_path / "a.sqlite", "--port", "1")
    assert r.returncode == 2 and "another study" in r.stderr and "Traceback" not in r.stderr
    con = sqlite3.connect(tmp_path / "foreign.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    r = harmony("study", "serve", tasks, "--images", imgs, "--db", tmp_path / "foreign.sqlite", "--port", "1")
    assert r.returncode == 2 and "another program" in r.stderr
    r = harmony("bt-score", tmp_path / "foreign.sqlite")
    assert r.returncode == 2 and "not a harmony study database" in r.stderr


def test_sigkill_restart_keeps_every_acknowledged_vote(tmp_path):
    tasks, imgs = make_study_dir(tmp_path, images=[f"i{k}" for k in range(12)], sentinels=0)
    db = tmp_path / "s.sqlite"
    srv = Server(tasks, imgs, db, "--votes-per-rater", 30, "--seed", 3)
    acked = []
    try:
        sessions = [srv.session() for _ in range(6)]

        def run(s):
            out = []
            st = srv.json("GET", "/api/state", session=s)[1]
            while st["state"] == "rate":
                vid = uuid.uuid4().hex
                status, nxt = srv.vote(s, st["token"], vote_id=vid)
                if status != 200:
                    break
                out.append(vid)
                st = nxt
                if len(out) == 12:
                    break
            return out

        with cf.ThreadPoolExecutor(6) as ex:
            for got in ex.map(run, sessions):
                acked += got
        code = json.loads(srv.request("GET", "/admin/data.json?token=" + srv.token)[1])["votes"]
    finally:
        srv.kill()                                         # SIGKILL: no shutdown, no checkpoint
    assert code == len(acked) == 72
    rows = db_votes(db)
    assert sorted(r[0] for r in rows) == sorted(acked)     # every acknowledged vote, once
    # a second serve on the same db continues: the same raters resume where they were
    srv2 = Server(tasks, imgs, db, "--votes-per-rater", 30, "--seed", 4)
    try:
        st = srv2.json("GET", "/api/state", session=sessions[0])[1]
        assert st["state"] == "rate" and st["progress"]["done"] == 12
        assert srv2.vote(sessions[0], st["token"])[0] == 200
    finally:
        srv2.stop()
    assert len(db_votes(db)) == 73


def test_concurrent_raters_with_retries(tmp_path):
    """20 raters x 20 votes from 10 threads, every vote sent twice: 400 rows, each (rater, task) once."""
    tasks, imgs = make_study_dir(tmp_path, images=[f"i{k}" for k in range(10)], sentinels=0)
    db = tmp_path / "c.sqlite"
    srv = Server(tasks, imgs, db, "--votes-per-rater", 20, "--design", "asap", "--seed", 5)
    try:
        def run(_):
            s = srv.session()
            st = srv.json("GET", "/api/state", session=s)[1]
            n = 0
            while st["state"] == "rate":
                vid = uuid.uuid4().hex
                srv.vote(s, st["token"], vote_id=vid)
                status, st = srv.vote(s, st["token"], vote_id=vid)   # the retry is acknowledged too
                assert status == 200
                n += 1
            return n

        with cf.ThreadPoolExecutor(10) as ex:
            counts = list(ex.map(run, range(20)))
    finally:
        srv.stop()
    rows = db_votes(db)
    assert counts == [20] * 20 and len(rows) == 400
    assert len({(r[2], r[3]) for r in rows}) == 400 and len({r[1] for r in rows}) == 400


def test_auto_exclude_and_export_and_bt_score(tmp_path):
    tasks, imgs = make_study_dir(tmp_path, sentinels=6)
    db = tmp_path / "e.sqlite"
    srv = Server(tasks, imgs, db, "--votes-per-rater", 8, "--sentinel-every", 2, "--auto-exclude", "--seed", 2,
                 "--allow-ties")
    try:
        good = srv.session()
        st = srv.json("GET", "/api/state", session=good)[1]
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

        def correct_side(token):
            task, a_left = con.execute("SELECT task_id, a_left FROM assignments WHERE token=?", (token,)).fetchone()
            ma, mb, sent, corr = con.execute("SELECT method_a, method_b, is_sentinel, correct FROM tasks "
                                             "WHERE task_id=?", (task,)).fetchone()
            if not sent:
                return "same"
            a_wins = corr == ma
            return "left" if a_wins == bool(a_left) else "right"

        while st["state"] == "rate":
            status, st = srv.vote(good, st["token"], correct_side(st["token"]))
            assert status == 200
        assert st["state"] == "done"
        bad = srv.session()
        st = srv.json("GET", "/api/state", session=bad)[1]
        while st["state"] == "rate":
            side = correct_side(st["token"])
            wrong = {"left": "right", "right": "left", "same": "left"}[side]
            status, st = srv.vote(bad, st["token"], wrong)
        con.close()
        assert st["state"] == "excluded" and st["progress"]["done"] < 8
    finally:
        srv.stop()
    out = tmp_path / "votes.csv"
    r = harmony("study", "export", "--db", db, "--out", out)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns[:9]) == ["rater_id", "image_id", "method_a", "method_b", "choice", "is_sentinel",
                                    "position", "timestamp", "correct"]
    assert len(df) == len(db_votes(db)) and set(df["choice"]) <= {"a", "b", "tie"}
    assert set(df["position"]) <= {"left", "right"}
    assert df.loc[df["excluded"] == 1, "rater_id"].nunique() == 1
    r_db = harmony("bt-score", db, "--bootstrap", "0", "--alpha", "0.01", "--json")
    r_csv = harmony("bt-score", out, "--bootstrap", "0", "--alpha", "0.01", "--json")
    assert r_db.returncode == 0, r_db.stderr
    a, b = json.loads(r_db.stdout), json.loads(r_csv.stdout)
    assert a["rows"] == b["rows"] and a["excluded_raters"] == b["excluded_raters"] and len(a["excluded_raters"]) == 1
    assert harmony("study", "export", "--db", db, "--out", out).returncode == 2      # no silent overwrite


@pytest.mark.slow
def test_load_200_raters_50_clients_exactly_once(tmp_path):
    """The issue's load test (loopback, bounded): 200 raters, 50 concurrent clients, 50 votes each, 5 % of
    the votes sent twice; the db holds exactly the 10,000 acknowledged votes, once each."""
    from harmony.study.loadtest import run_load

    tasks, imgs = make_study_dir(tmp_path, images=[f"i{k}" for k in range(40)], methods=[f"m{k}" for k in range(8)],
                                 sentinels=0)
    db = tmp_path / "load.sqlite"
    srv = Server(tasks, imgs, db, "--votes-per-rater", 50, "--seed", 9)
    try:
        res = run_load(srv.base, raters=200, clients=50, resend=0.05, seed=1)
    finally:
        srv.stop()
    rows = db_votes(db)
    assert len(res.acked) == 10_000 and len(rows) == 10_000
    assert sorted(r[0] for r in rows) == sorted(res.acked)
    assert res.resent > 0 and res.duplicates_acked == res.resent
    assert len({(r[2], r[3]) for r in rows}) == 10_000          # no rater saw a task twice
