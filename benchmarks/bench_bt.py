"""Speed of `bt-score`'s core: 1M votes, 10 methods, 1,000 raters .

Measures (medians of --repeats runs, same process, same data):

* ours: load the CSV (pandas, column-wise) + global fit (choix.ilsr_pairwise_dense on the count matrix)
  + 1,000-replicate rater bootstrap (per-rater count matrices x multinomial weights), and the whole
  `score_votes` analysis (QC, range test, Kendall u, pairwise probabilities) on top;
* peer 1: choix.ilsr_pairwise on the vote list (one fit; a bootstrap would be 1,000 of these);
* peer 2: crowd-kit 1.4.2 BradleyTerry on the (worker, left, right, label) frame (one fit). Its MM loop
  stops after two iterations whatever n_iter (crowd-kit 1.4.2 source: `p_old = p_new` aliases the array,
  so the loss is 0 at the second step); the script prints how far its scores are from the MLE.

crowd-kit is a benchmark peer only: install it where the package does not see it, e.g.
``.venv/bin/pip install --no-deps --target .venv/bench-peers crowd-kit==1.4.2 attrs`` (its full
dependency set would add pyarrow, which changes pandas' default string dtype for everyone).

Run: ``.venv/bin/python benchmarks/bench_bt.py`` (add ``--quick`` for 100k votes).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

from harmony.benchmark import bt  # noqa: E402
from harmony.benchmark.userstudy import load_votes, simulate_votes  # noqa: E402


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def load_crowdkit_bt():
    """crowd-kit's BradleyTerry without importing crowdkit.aggregation (which pulls sklearn, nltk, ...)."""
    peers = REPO / ".venv" / "bench-peers"
    if peers.is_dir() and str(peers) not in sys.path:
        sys.path.append(str(peers))
    spec = importlib.util.find_spec("crowdkit")
    if spec is None:
        return None
    root = Path(spec.origin).parent
    for name, path in (("crowdkit", root), ("crowdkit.aggregation", root / "aggregation"),
                       ("crowdkit.aggregation.pairwise", root / "aggregation" / "pairwise")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules.setdefault(name, mod)
    from crowdkit.aggregation.pairwise.bradley_terry import BradleyTerry
    return BradleyTerry


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=1_000_000)
    ap.add_argument("--methods", type=int, default=10)
    ap.add_argument("--raters", type=int, default=1000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100k votes, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.votes, args.repeats = 100_000, 1
    import choix

    m, n_r = args.methods, args.raters
    truth = {f"method{k:02d}": float(v) for k, v in enumerate(np.linspace(1.0, -1.0, m))}
    sim = simulate_votes(truth, 500, n_r, args.votes // n_r, 0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_bt_"))
    csv = tmp / "votes.csv"
    sim[["rater_id", "image_id", "method_a", "method_b", "choice"]].to_csv(csv, index=False)
    print(f"data: {len(sim):,} votes, {m} methods, {n_r} raters ({csv.stat().st_size / 1e6:.0f} MB CSV); "
          f"{args.repeats} repeats, medians; machine shared (2 cores)")

    # --- ours, in stages ------------------------------------------------------------------------
    t_load, log = median_time(lambda: load_votes(csv), args.repeats)
    df = log.df
    a, b, ch = df["a"].to_numpy(np.int64), df["b"].to_numpy(np.int64), df["choice"].to_numpy(np.int64)
    w = np.where(ch == 1, b, a)
    lo = np.where(ch == 1, a, b)
    tie = ch == 2
    rc = df["rater_id"].cat.codes.to_numpy(np.int64)

    def one_fit():
        C = bt.counts_from_cells(bt.cells_from_votes(w, lo, tie, m)[0], m)
        return bt.fit(C)

    t_fit, s = median_time(one_fit, args.repeats)

    def boot():
        cells = bt.cells_from_votes(w, lo, tie, m, rc, n_r)
        rep = bt.bootstrap_cells(cells, args.boot, np.random.default_rng(0))
        return bt.bootstrap_global(bt.counts_from_cells(rep, m), initial=s)

    t_boot, (reps, failed) = median_time(boot, args.repeats)
    t_core = t_load + t_fit + t_boot
    t_all, res = median_time(lambda: bt.score_votes(load_votes(csv), n_boot=args.boot, by="rater", seed=0),
                             args.repeats)

    # --- peer 1: choix on the vote list -------------------------------------------------------------
    pairs = np.stack([w[~tie], lo[~tie]], axis=1)
    slow_repeats = 1 if args.votes >= 500_000 else args.repeats       # tens of seconds per fit at 1M
    t_choix, s_choix = median_time(lambda: choix.ilsr_pairwise(m, pairs, alpha=0.0, tol=1e-10, max_iter=1000),
                                   slow_repeats)
    s_choix = s_choix - s_choix.mean()

    # --- peer 2: crowd-kit BradleyTerry -------------------------------------------------------------
    BT = load_crowdkit_bt()
    ck = None
    if BT is not None:
        names = np.asarray(log.methods, dtype=object)
        frame = pd.DataFrame({"worker": df["rater_id"].astype(str), "left": names[a], "right": names[b],
                              "label": names[w]})
        t_ck, scores = median_time(lambda: BT(n_iter=100).fit(frame).scores_, args.repeats)
        s_ck = np.log(scores.reindex(log.methods).to_numpy())
        s_ck -= s_ck.mean()
        ck = (t_ck, float(np.abs(s_ck - s).max()), float(np.abs(s_ck).max() / np.abs(s).max()))

    tv = np.array(list(truth.values()))
    tv -= tv.mean()
    lo_ci, hi_ci = np.percentile(reps, [2.5, 97.5], axis=0)
    print(f"\nours   load {t_load:.2f} s + fit {t_fit * 1e3:.1f} ms + {args.boot}-replicate rater bootstrap "
          f"{t_boot:.2f} s = {t_core:.2f} s (target < 10 s: {'PASS' if t_core < 10 else 'FAIL'})")
    print(f"ours   full score_votes (load, QC, fit, bootstrap, range test, u): {t_all:.2f} s")
    print(f"       max |estimate - truth| {np.abs(s - tv).max():.3f}; truth inside 95% CI for "
          f"{int(((lo_ci <= tv) & (tv <= hi_ci)).sum())}/{m}; failed replicates {failed}")
    print(f"choix  ilsr_pairwise on the vote list: {t_choix:.2f} s per fit "
          f"(ratio to our fit: {t_choix / t_fit:.0f}x; a {args.boot}-replicate bootstrap ~ "
          f"{t_choix * args.boot:.0f} s = {t_choix * args.boot / t_boot:.0f}x ours); "
          f"max |diff| to ours {np.abs(s_choix - s).max():.1e}")
    if ck:
        t_ck, diff, shrink = ck
        print(f"crowd-kit 1.4.2 BradleyTerry: {t_ck:.2f} s per fit (ratio to our fit: {t_ck / t_fit:.0f}x; "
              f"to our load+fit: {t_ck / (t_load + t_fit):.1f}x); max |diff| to the MLE {diff:.3f} "
              f"(its spread is {shrink:.2f} of the MLE's: stops after 2 iterations: crowd-kit 1.4.2)")
    else:
        print("crowd-kit: not installed (see the docstring); peer skipped")


if __name__ == "__main__":
    main()
