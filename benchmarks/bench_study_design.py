"""Pair scheduling of `harmony study serve`: balanced vs ASAP-style, by simulation.

The two schedulers of :mod:`harmony.study.scheduler` (the code the server runs) choose the pairs; the
simulated raters of `harmony study simulate` answer them (Bradley-Terry,
:func:`harmony.benchmark.userstudy.bt_rater_prefers_first`). Raters arrive one after another and answer
``--per-rater`` pairs each. After every ``--step`` votes the global Bradley-Terry fit
(:func:`harmony.benchmark.bt.fit`, choix; ``alpha`` 0.01 so early sparse data still give scores) is
compared with the true ranking (Kendall's tau, scipy). Reported, as medians over ``--seeds`` runs:

* votes to reach tau >= 0.9 (first time, and "stays": from then on at every checkpoint), and the mean
  tau at equal vote counts;
* the mean width of the 95 % intervals (Hessian standard errors, :func:`bt.centred_covariance`) at equal
  vote counts;
* the time of one scheduling decision with 20 methods x 100 images (19,000 tasks) for each design
  (ratio ASAP / balanced; the issue's target is <= 20 ms for ASAP).

Run: ``.venv/bin/python benchmarks/bench_study_design.py`` (``--quick`` for fewer seeds).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from harmony.benchmark import bt  # noqa: E402
from harmony.benchmark.userstudy import bt_rater_prefers_first  # noqa: E402
from harmony.study.scheduler import PairScheduler, TaskArrays  # noqa: E402


def task_grid(m: int, images: int) -> TaskArrays:
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    img = np.repeat(np.arange(images), len(pairs))
    a = np.tile([p[0] for p in pairs], images)
    b = np.tile([p[1] for p in pairs], images)
    return TaskArrays(image=img, a=a, b=b, sentinel=np.zeros(len(img), bool), methods=[f"m{k}" for k in range(m)])


def simulate(design: str, strengths: np.ndarray, *, images: int, per_rater: int, max_votes: int, step: int,
             seed: int, widths_at: list[int]) -> dict:
    m = len(strengths)
    tasks = task_grid(m, images)
    rng = np.random.default_rng(seed)
    sch = PairScheduler(tasks, design=design, votes_per_rater=per_rater, sentinel_every=0, rng=seed)
    C = np.zeros((m, m))
    first = stays = None
    widths = {}
    votes = 0
    rater = 0
    taus = []
    while votes < max_votes:
        rid = f"r{rater}"
        for slot in range(per_rater):
            t = sch.pick(rid, slot)
            if t is None:
                break
            sch.issued(rid, t)
            i, j = int(tasks.a[t]), int(tasks.b[t])
            a_wins = bool(bt_rater_prefers_first(strengths, np.array([i]), np.array([j]), rng)[0])
            sch.answered_vote(t, "a" if a_wins else "b")
            C[(i, j) if a_wins else (j, i)] += 1
            votes += 1
            if votes % step == 0:
                s = bt.fit(C, alpha=0.01)
                tau = kendalltau(s, strengths).statistic
                taus.append((votes, tau))
                if tau >= 0.9 and first is None:
                    first = votes
                if votes in widths_at:
                    cov = bt.centred_covariance(C, s)
                    widths[votes] = float(np.mean(2 * 1.96 * np.sqrt(np.clip(np.diag(cov), 0, None))))
            if votes >= max_votes:
                break
        rater += 1
    for k in range(len(taus)):
        if all(t >= 0.9 for _, t in taus[k:]):
            stays = taus[k][0]
            break
    return {"first": first, "stays": stays, "widths": widths, "taus": dict(taus)}


def pick_time(design: str, m: int = 20, images: int = 100, warm_votes: int = 2000, n: int = 200,
              fresh_gain: bool = False) -> np.ndarray:
    tasks = task_grid(m, images)
    sch = PairScheduler(tasks, design=design, votes_per_rater=10 ** 6, sentinel_every=0, rng=0)
    rng = np.random.default_rng(0)
    s = np.linspace(-1, 1, m)
    for k in range(warm_votes):                     # a study in progress
        t = sch.pick(f"w{k % 50}", k // 50)
        sch.issued(f"w{k % 50}", t)
        a_wins = bool(bt_rater_prefers_first(s, tasks.a[t:t + 1], tasks.b[t:t + 1], rng)[0])
        sch.answered_vote(t, "a" if a_wins else "b")
    out = []
    for k in range(n):
        if fresh_gain:
            sch._gain = None                        # force the full information-gain computation
        t0 = time.perf_counter()
        t = sch.pick(f"new{k}", 0)
        out.append(1000 * (time.perf_counter() - t0))
        sch.issued(f"new{k}", t)
        sch.answered_vote(t, "a")
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", type=int, default=8)
    ap.add_argument("--gap", type=float, default=0.25, help="Spacing of the true log-strengths.")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--per-rater", type=int, default=20)
    ap.add_argument("--max-votes", type=int, default=4000)
    ap.add_argument("--step", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.max_votes = 4, 2000
    m = args.methods
    strengths = (np.arange(m) - (m - 1) / 2) * args.gap
    widths_at = [500, 1000, 2000]
    print(f"simulation: {m} methods, true log-strengths spaced {args.gap} ({strengths[0]:.3f} .. {strengths[-1]:.3f}), "
          f"{args.images} images, {args.per_rater} pairs per rater, up to {args.max_votes} votes, "
          f"{args.seeds} seeds; Kendall tau of the B-T fit every {args.step} votes")
    res = {}
    for design in ("balanced", "asap"):
        t0 = time.perf_counter()
        runs = [simulate(design, strengths, images=args.images, per_rater=args.per_rater, max_votes=args.max_votes,
                         step=args.step, seed=s, widths_at=widths_at) for s in range(args.seeds)]
        res[design] = runs
        f = [r["first"] if r["first"] is not None else np.inf for r in runs]
        st = [r["stays"] if r["stays"] is not None else np.inf for r in runs]
        w = {v: np.median([r["widths"][v] for r in runs if v in r["widths"]]) for v in widths_at}
        print(f"{design:9s}: votes to tau >= 0.9: median {np.median(f):.0f} (first), {np.median(st):.0f} (stays) "
              f"[reached in {sum(np.isfinite(f))}/{len(f)} runs]; mean 95% CI width at "
              + ", ".join(f"{v}: {w[v]:.3f}" for v in widths_at) + f"  ({time.perf_counter() - t0:.1f} s)")
    for v in (250, 500, 1000):
        tb_ = np.mean([r["taus"][v] for r in res["balanced"]])
        ta_ = np.mean([r["taus"][v] for r in res["asap"]])
        print(f"mean Kendall tau at {v} votes: balanced {tb_:.3f}, asap {ta_:.3f}")
    fb = np.median([r["stays"] or np.inf for r in res["balanced"]])
    fa = np.median([r["stays"] or np.inf for r in res["asap"]])
    print(f"ratio votes (stays) asap / balanced: {fa / fb:.2f}")
    for v in widths_at:
        wb = np.median([r["widths"][v] for r in res["balanced"]])
        wa = np.median([r["widths"][v] for r in res["asap"]])
        print(f"ratio CI width asap / balanced at {v} votes: {wa / wb:.3f}")
    tb = pick_time("balanced")
    ta = pick_time("asap")
    tf = pick_time("asap", fresh_gain=True)
    print(f"pick time, 20 methods x 100 images (19,000 tasks): balanced median {np.median(tb):.3f} ms "
          f"(p99 {np.percentile(tb, 99):.3f}); asap median {np.median(ta):.3f} ms (p99 {np.percentile(ta, 99):.3f}); "
          f"asap with the gain matrix recomputed for every pick: median {np.median(tf):.3f} ms "
          f"(p99 {np.percentile(tf, 99):.3f}); ratio asap (recomputed) / balanced {np.median(tf) / np.median(tb):.2f}; "
          f"target asap <= 20 ms")


if __name__ == "__main__":
    main()
