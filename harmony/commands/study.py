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
    # the papers' experiments (harmony/studies/, issue 10)
    "list": ("harmony.studies.cli:list_cmd", "List the papers' experiments (studies) with paper, table, time."),
    "study-power": ("harmony.studies.cli:study_power", "Power of a planned 2AFC study (votes for 80 % power)."),
    "domain-code": ("harmony.studies.cli:domain_code", "BargainNet Table 2: domain-code inequality shares."),
    "fg-ratio": ("harmony.studies.cli:fg_ratio", "BargainNet supp. Table 1: MSE/fMSE per fg-ratio bucket."),
    "resolution": ("harmony.studies.cli:resolution", "Seed 002 Table IV: PSNR at 256/512/1024 (HAdobe5k-style)."),
    "inharmony": ("harmony.studies.cli:inharmony", "BargainNet Fig. 3: inharmony score before/after harmonization."),
    "ablations": ("harmony.studies.cli:ablations", "Runnable ablation rows: SPRIH T4, seed 002 T6-T7, BargainNet supp. T2, DIH T2-3."),
    "cross-category": ("harmony.studies.cli:cross_category", "CharmNet T1-2: novel-category harmonization (real/rendered)."),
}


@click.group(cls=LazyGroup, lazy_commands=STUDY_COMMANDS)
def study():
    """User-study task lists and the papers' experiments.

    \b
    Examples:
      harmony study pairs --methods composite,dih,ours --images 1,2,3 --sentinels 10 --out tasks.csv
      harmony study simulate --strengths ours=0.8,dih=0.3,composite=-0.6 --out votes.csv
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
