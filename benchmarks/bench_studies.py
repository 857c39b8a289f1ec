"""Speed of the study-power simulation loop (the only study whose own code is on the hot path; the
others spend their time in the generators, the trainer and the harness, measured by their own scripts).

Per simulated study: simulate_votes (floor: drawing the votes) + count matrix + choix fit + Hessian
covariance + range test. Prints medians of repeats and the ratio to the floor (the scoring overhead).

    .venv/bin/python benchmarks/bench_studies.py
"""

from __future__ import annotations

import statistics
import time

from harmony.benchmark.userstudy import simulate_votes
from harmony.studies.power import BARGAINNET_TABLE3, simulate_power


def median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    plan = dict(images=99, raters=22, votes_per_rater=492)
    n = 10
    floor = median_time(lambda: [simulate_votes(BARGAINNET_TABLE3, plan["images"], plan["raters"],
                                                plan["votes_per_rater"], i) for i in range(n)]) / n
    full = median_time(lambda: simulate_power(BARGAINNET_TABLE3, simulations=n, rng=0, **plan)) / n
    print(f"votes per simulated study: {plan['raters'] * plan['votes_per_rater']}")
    print(f"floor  simulate_votes only         : {floor * 1000:8.2f} ms / study (median of 5 x {n})")
    print(f"full   simulate + fit + cov + range : {full * 1000:8.2f} ms / study")
    print(f"ratio full / floor                  : {full / floor:8.2f}  (target <= 2: scoring costs at most "
          "as much as drawing the votes)")


if __name__ == "__main__":
    main()
