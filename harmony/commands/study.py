"""`harmony study <name>`: user-study task lists and the papers' experiments.

Subcommands are listed in ``STUDY_COMMANDS`` as ``module:attr`` strings and imported on first use (the
same lazy pattern as ``harmony datagen``), so adding a paper's study is one line here plus its module
(e.g. ``"dih-table4": ("harmony.commands.study_dih:dih_table4", "...")``).
"""

from __future__ import annotations

import os
import re
import time

import click

from ..cli import LazyGroup
from ..errors import InputError
from ._common import UserError, echo_summary

STUDY_COMMANDS = {
    "pairs": ("harmony.commands.study:pairs", "Balanced 2AFC task list (every method pair per image)."),
    "simulate": ("harmony.commands.study:simulate", "Simulate answered votes from known B-T strengths."),
    # the collection server (harmony/study/)
    "serve": ("harmony.commands.study:serve", "Serve a 2AFC study in the browser (consent, rating, /admin)."),
    "export": ("harmony.commands.study:export", "Write a study database's votes as a bt-score CSV."),
    # the papers' experiments (harmony/studies/)
    "list": ("harmony.studies.cli:list_cmd", "List the papers' experiments (studies) with paper, table, time."),
    "study-power": ("harmony.studies.cli:study_power", "Power of a planned 2AFC study (votes for 80 % power)."),
    "domain-code": ("harmony.studies.cli:domain_code", "BargainNet Table 2: domain-code inequality shares."),
    "fg-ratio": ("harmony.studies.cli:fg_ratio", "BargainNet supp. Table 1: MSE/fMSE per fg-ratio bucket."),
    "resolution": ("harmony.studies.cli:resolution", "Liang et al. Table IV: PSNR at 256/512/1024 (HAdobe5k-style)."),
    "inharmony": ("harmony.studies.cli:inharmony", "BargainNet Fig. 3: inharmony score before/after harmonization."),
    "ablations": ("harmony.studies.cli:ablations", "Runnable ablation rows: SPRIH T4, Liang et al. T6-T7, BargainNet supp. T2, DIH T2-3."),
    "cross-category": ("harmony.studies.cli:cross_category", "CharmNet T1-2: novel-category harmonization (real/rendered)."),
}


@click.group(cls=LazyGroup, lazy_commands=STUDY_COMMANDS)
def study():
    """User-study task lists and the papers' experiments.

    \b
    Examples:
      harmony study pairs --methods composite,dih,ours --images 1,2,3 --sentinels 10 --out tasks.csv
      harmony study simulate --strengths ours=0.8,dih=0.3,composite=-0.6 --out votes.csv
      harmony study serve tasks.csv --images outputs/ --db study.sqlite
      harmony study export --db study.sqlite --out votes.csv
      harmony study list
      harmony study study-power --scale tiny --out runs/power
    """


def _write_csv(df, out: str, overwrite: bool) -> None:
    import os

    from ..io import atomic_write_text

    if os.path.exists(out) and not overwrite:
        raise UserError(f"--out: {out} already exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    atomic_write_text(out, df.to_csv(index=False))


@click.command("pairs")
@click.option("--methods", required=True, metavar="A,B,...|FILE", help="Methods to compare (comma list or file).")
@click.option("--images", required=True, metavar="I1,I2,...|FILE", help="Image ids (comma list or file, one a line).")
@click.option("--sentinels", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sentinel pairs to add (real photo vs. an extreme retouch; SPRIH used 10 per rater).")
@click.option("--sentinel-method", default="real", show_default=True,
              help="Name of the side that must win a sentinel pair.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for sides and order.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Task list CSV to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def pairs(methods, images, sentinels, sentinel_method, seed, out, overwrite):
    """Write a balanced 2AFC task list in the canonical vote format (choice left empty).

    Every unordered method pair appears once per image; which method is shown on the left is random
    (method_a = left); rows are shuffled; the same seed gives the same file. Answer it by filling
    rater_id and choice (a|b|tie), then run `harmony bt-score` on it (unanswered rows are skipped).

    \b
    Examples:
      harmony study pairs --methods composite,dih,dovenet,ours --images images.txt --out tasks.csv
      harmony study pairs --methods a,b,c --images 1,2,3,4 --sentinels 10 --seed 7 --out tasks.csv
    """
    from ..benchmark.userstudy import make_pairs, parse_list

    t0 = time.perf_counter()
    try:
        ms = parse_list(_existing_list_file(methods, "--methods"))
        ims = parse_list(_existing_list_file(images, "--images"))
        df = make_pairs(ms, ims, sentinels=sentinels, sentinel_method=sentinel_method, rng=seed)
    except InputError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    _write_csv(df, out, overwrite)
    n_pairs = len(ms) * (len(ms) - 1) // 2
    echo_summary("study pairs", [
        f"{len(df)} tasks: {len(ims)} images x {n_pairs} method pairs" + (f" + {sentinels} sentinels" if sentinels else ""),
        f"methods: {', '.join(ms)}; seed {seed}",
        f"written: {out} ({time.perf_counter() - t0:.2f} s)"])


# Extensions of list files: a value ending in one of these (or holding a path separator) means a file.
_LIST_FILE = re.compile(r"\.(txt|csv|tsv|lst|list|json)$", re.IGNORECASE)


def _existing_list_file(value: str, option: str) -> str:
    """``value`` unchanged, unless it looks like the path of a list file (a single item with a path
    separator or a list-file extension: .txt, .csv, ...) that does not exist: then an error naming it,
    instead of a one-item list whose item is the file name."""
    looks_like_path = "," not in value and ("/" in value or os.sep in value or _LIST_FILE.search(value.strip()))
    if looks_like_path and not os.path.isfile(value):
        raise InputError(f"{option} {value}: file not found (give an existing file with one item a line, "
                         "or a comma-separated list)")
    return value


@click.command("simulate")
@click.option("--strengths", required=True, metavar="NAME=S,...|CSV",
              help="True natural-log B-T strengths (or a CSV with columns method,strength).")
@click.option("--images", type=click.IntRange(min=1), default=50, show_default=True, help="Number of images.")
@click.option("--raters", type=click.IntRange(min=1), default=100, show_default=True, help="Number of raters.")
@click.option("--votes-per-rater", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--sentinels-per-rater", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sentinel pairs per rater (real vs sentinel_retouch; correct = real).")
@click.option("--spammers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Raters who always click left (they fail the sentinels).")
@click.option("--tie-prob", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Vote log CSV to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def simulate(strengths, images, raters, votes_per_rater, sentinels_per_rater, spammers, tie_prob, seed, out,
             overwrite):
    """Simulate an answered study from known Bradley-Terry strengths (canonical vote format).

    Each rater answers random pairs on random images; method i is chosen over j with probability
    1 / (1 + exp(s_j - s_i)). Spammers click left on everything, including the sentinels.

    \b
    Examples:
      harmony study simulate --strengths ours=0.8,dih=0.3,composite=-0.6 --out votes.csv
      harmony study simulate --strengths truth.csv --raters 200 --sentinels-per-rater 10 --spammers 10 \\
          --seed 1 --out votes.csv
    """
    from ..benchmark.userstudy import simulate_votes
    from .bt_score import parse_strengths

    t0 = time.perf_counter()
    try:
        st = parse_strengths(strengths)
        if spammers > raters:
            raise InputError("--spammers: more spammers than raters")
    except InputError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    df = simulate_votes(st, images, raters, votes_per_rater, seed, sentinels_per_rater=sentinels_per_rater,
                        spammers=spammers, tie_prob=tie_prob)
    _write_csv(df, out, overwrite)
    echo_summary("study simulate", [
        f"{len(df)} votes from {raters} raters ({spammers} spammers) on {images} images",
        "true log-strengths: " + ", ".join(f"{k}={v:g}" for k, v in st.items()),
        f"written: {out} ({time.perf_counter() - t0:.2f} s)"])


# ---------------------------------------------------------------------------------------------------
# the collection server


@click.command("serve", context_settings={"max_content_width": 100})
@click.argument("tasks", type=click.Path(dir_okay=False))
@click.option("--images", required=True, type=click.Path(file_okay=False),
              help="Folder with <method>/<image_id> files (e.g. bench's outputs/).")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created or continued).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 = all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--design", type=click.Choice(["balanced", "asap"]), default="balanced", show_default=True,
              help="Pair scheduling: even coverage (Lai et al. 2016) or expected information gain (ASAP-style).")
@click.option("--votes-per-rater", type=click.IntRange(min=1), default=50, show_default=True,
              help="Quota of pairs per rater, sentinels included.")
@click.option("--allow-ties", is_flag=True, help="Offer a 'same' answer (stored as choice=tie).")
@click.option("--sentinel-every", type=click.IntRange(min=2), default=10, show_default=True,
              help="One sentinel pair in this many (when the task list has sentinels).")
@click.option("--min-sentinel-accuracy", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Raters below this (after 2+ sentinels) are flagged.")
@click.option("--auto-exclude", is_flag=True, help="Stop flagged raters at once (no completion code).")
@click.option("--admin-token", default=None, help="Token for /admin and /admin/export.csv [default: random, printed].")
@click.option("--completion-code", default=None, help="Code shown at the end (Prolific cc) [default: random, kept in the db].")
@click.option("--title", default="Which image looks more realistic?", show_default=True)
@click.option("--durable", is_flag=True, help="fsync every vote (survives power loss, slower); default survives a killed process.")
@click.option("--max-body", type=click.IntRange(min=256), default=4096, show_default=True, help="Request body limit, bytes.")
@click.option("--seed", type=int, default=None, help="Seed of sides and tie-breaks [default: random].")
def serve(tasks, images, db, host, port, design, votes_per_rater, allow_ties, sentinel_every, min_sentinel_accuracy,
          auto_exclude, admin_token, completion_code, title, durable, max_body, seed):
    """Serve a 2AFC user study from one process (Starlette under uvicorn, SQLite in WAL mode).

    TASKS is a task list from `harmony study pairs` (or bench's pairs.csv). Raters open
    http://HOST:PORT/ (append Prolific's ?PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=... or MTurk's
    ?workerId=...&assignmentId=...&hitId=...&turkSubmitTo=...), consent, then answer one pair at a time.
    Every vote is idempotent and on disk before it is acknowledged; re-running the same command
    continues the study. /admin shows progress, coverage, sentinels, position bias and live scores.

    \b
    Examples:
      harmony study pairs --methods composite,dih,ours --images ids.txt --sentinels 20 --out tasks.csv
      harmony study serve tasks.csv --images outputs/ --db study.sqlite --design asap --votes-per-rater 40
      harmony study serve tasks.csv --images outputs/ --db study.sqlite --host 0.0.0.0 --allow-ties
    """
    import secrets

    from ..study.app import Study, StudyConfig, admin_url, build_app
    from ..study.tasks import read_tasks, resolve_images

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("study serve needs starlette and uvicorn: pip install 'harmony[study]'") from None
    try:
        task_list = read_tasks(tasks)
        files = resolve_images(task_list, images)
        token = admin_token or secrets.token_urlsafe(16)
        cfg = StudyConfig(db=db, design=design, votes_per_rater=votes_per_rater, allow_ties=allow_ties,
                          sentinel_every=sentinel_every, min_sentinel_accuracy=min_sentinel_accuracy,
                          auto_exclude=auto_exclude, admin_token=token, title=title, max_body=max_body,
                          durable=durable, completion_code=completion_code, seed=seed)
        study_obj = Study(task_list, files, cfg)
    except InputError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    import socket

    try:   # a clear one-line error instead of uvicorn's log when the port is taken
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UserError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    app = build_app(study_obj)
    n_votes = study_obj.store.con.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    echo_summary("study serve", [
        f"tasks: {len(task_list.frame)} from {tasks} ({int(task_list.frame['is_sentinel'].sum())} sentinels); "
        f"methods: {', '.join(task_list.methods)}",
        f"images: {len(files)} files under {images}",
        f"db: {db} ({'continuing: ' + str(n_votes) + ' votes' if n_votes else 'new study'}); design {design}; "
        f"{votes_per_rater} pairs per rater" + ("; ties allowed" if allow_ties else ""),
        f"raters: http://{shown}:{port}/",
        f"admin:  {admin_url(shown, port, token)}",
        f"completion code: {study_obj.store.meta['completion_code']}",
        "stop with Ctrl-C (every acknowledged vote is already stored)"])
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)


@click.command("export")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Study database of `study serve`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Vote log CSV to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def export(db, out, overwrite):
    """Write the votes of a study database in the canonical vote format (`harmony bt-score` reads it).

    \b
    Examples:
      harmony study export --db study.sqlite --out votes.csv
      harmony bt-score votes.csv --sentinel-method real      (or directly: harmony bt-score study.sqlite)
    """
    from ..study.export import read_study_votes

    t0 = time.perf_counter()
    try:
        df = read_study_votes(db)
    except InputError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    _write_csv(df, out, overwrite)
    echo_summary("study export", [
        f"{len(df)} votes from {df['rater_id'].nunique()} raters ({int(df['is_sentinel'].sum())} sentinel answers)",
        f"written: {out} ({time.perf_counter() - t0:.2f} s)"])
