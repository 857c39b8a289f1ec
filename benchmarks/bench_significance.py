"""Speed of the significance tables (harmony.benchmark.significance) on a full iHarmony4-size run.

7,404 images x 13 methods x 2 metrics (fMSE, PSNR), 2,000 bootstrap replicates: every method's mean
with its BCa interval and all 78 pairs per metric (paired bootstrap + Wilcoxon, Holm), for All only.
Peer, measured in the same run: scipy's per-call route for the same numbers,
``scipy.stats.bootstrap(method="BCa")`` per (method, metric) mean and per pair difference plus
``scipy.stats.wilcoxon`` per pair (on a subset of the pairs, scaled to all of them: the full peer takes
minutes). The ratio is peer time / harmony time. The machine is shared: quote the ratio.

    .venv/bin/python benchmarks/bench_significance.py [--images 7404] [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from harmony.benchmark import significance as S  # noqa: E402


def records(n_images: int, n_methods: int, rng) -> pd.DataFrame:
    base = rng.lognormal(6, 0.8, n_images)
    frames = []
    for k in range(n_methods):
        fmse = base * (0.5 + 0.05 * k) * rng.lognormal(0, 0.3, n_images)
        frames.append(pd.DataFrame({"subset": "HCOCO", "name": np.arange(n_images).astype(str), "method": f"m{k:02d}",
                                    "fmse": fmse, "psnr": 45 - 3 * np.log(fmse)}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=7404)
    ap.add_argument("--methods", type=int, default=13)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=6, help="peer: pairs timed (scaled to all)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    df = records(args.images, args.methods, rng)
    metrics = ["fmse", "psnr"]
    t0 = time.perf_counter()
    sig = S.analyse(df, metrics, n_boot=args.boot, by_subset=False, rng=1)
    ours = time.perf_counter() - t0
    n_pairs = args.methods * (args.methods - 1) // 2
    assert len(sig.pairs) == n_pairs * len(metrics)

    wide = {m: df.pivot(index="name", columns="method", values=m).to_numpy() for m in metrics}
    t0 = time.perf_counter()
    for m in metrics:
        for j in range(args.methods):
            stats.bootstrap((wide[m][:, j],), np.mean, n_resamples=args.boot, method="BCa",
                            random_state=np.random.default_rng(j))
    peer_means = time.perf_counter() - t0
    t0 = time.perf_counter()
    for m in metrics:
        for a, b in [(i, j) for i in range(args.methods) for j in range(i + 1, args.methods)][: args.pairs]:
            d = wide[m][:, a] - wide[m][:, b]
            stats.bootstrap((d,), np.mean, n_resamples=args.boot, method="BCa", random_state=np.random.default_rng(a))
            stats.wilcoxon(d)
    peer_pairs = (time.perf_counter() - t0) * n_pairs / args.pairs
    peer = peer_means + peer_pairs
    print(f"images {args.images}, methods {args.methods}, metrics {len(metrics)}, replicates {args.boot}")
    print(f"harmony significance.analyse: {ours:.2f} s (means + intervals + {n_pairs} pairs x {len(metrics)} "
          f"metrics, Holm)")
    print(f"scipy per call: {peer:.1f} s (means {peer_means:.1f} s measured; pairs {peer_pairs:.1f} s scaled from "
          f"{args.pairs} of {n_pairs} per metric)")
    print(f"ratio scipy / harmony: {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
