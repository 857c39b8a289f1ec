"""``study-power``: power analysis of a planned 2AFC user study (the planning tool none of the papers had).

Given the methods' assumed Bradley-Terry log-strengths and the study design (images, raters, votes per
rater), the study is simulated ``simulations`` times with :func:`harmony.benchmark.userstudy.simulate_votes`
and each simulated vote log is scored with :mod:`harmony.benchmark.bt` (choix ``ilsr_pairwise_dense`` fit
and its Hessian covariance, plus Lai et al.'s range test on total wins: Lai et al., CVPR 2016). A pair is
*separated* in one simulated study when the Wald test of ``s_i - s_j`` (two-sided, level ``alpha``) rejects
in the true direction (for a pair with no true difference: in either direction, i.e. a false positive).
Power = share of simulated studies that separate the pair. Votes needed for 80 % power come from the
expected Fisher information of the design (votes spread evenly over pairs; variance of ``s_i - s_j``
shrinks as 1/N), and the simulated power curve over ``grid`` multiples of the planned size checks them.

Default plan: BargainNet's user study (Cong et al., ICME 2021, supplement section 5 and Table 3): 99 images, 22 raters,
10,835 votes (492.5 per rater), five "methods" whose B-T scores were 0.357 / 0.813 / 0.897 / 1.140 /
1.266. Those scores are used as natural-log strengths (their differences are what matters; the paper
does not state the scale, so this convention is unconfirmed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import Conclusion, Scale, Study, StudyContext, StudyOutput, register

# BargainNet (Cong et al., ICME 2021) supplement Table 3: B-T scores on 99 real composites, 22 users, 10835 votes.
BARGAINNET_TABLE3 = {"composite": 0.357, "DIH": 0.813, "DoveNet": 0.897, "S2AM": 1.140, "BargainNet": 1.266}

_PLAN = {"strengths": dict(BARGAINNET_TABLE3), "images": 99, "raters": 22, "votes_per_rater": 492,
         "alpha": 0.05, "power_target": 0.8, "range_alpha": 0.01}


def design_variance(strengths: np.ndarray, n_votes: float) -> np.ndarray:
    """(M, M) variance of ``s_i - s_j`` from the expected information of ``n_votes`` votes spread evenly
    over the method pairs (each pair equally likely, as ``simulate_votes`` draws them)."""
    from ..benchmark import bt

    s = np.asarray(strengths, float)
    m = len(s)
    n_pairs = m * (m - 1) / 2
    per_pair = n_votes / n_pairs
    p = 1.0 / (1.0 + np.exp(s[None, :] - s[:, None]))          # P(i beats j)
    C = per_pair * p                                           # expected wins: C + C.T = per_pair off-diagonal
    np.fill_diagonal(C, 0.0)
    cov = bt.centred_covariance(C, s)
    d = np.diag(cov)
    return d[:, None] + d[None, :] - 2 * cov


def votes_for_power(diff: float, var_one_vote: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Votes N so that a two-sided level-``alpha`` Wald test of a difference ``diff`` with variance
    ``var_one_vote / N`` has the given power (normal approximation; inf when diff = 0)."""
    from scipy.special import ndtri

    if diff == 0:
        return math.inf
    z = float(ndtri(1 - alpha / 2) + ndtri(power))
    return (z / abs(diff)) ** 2 * var_one_vote


def simulate_power(strengths: dict, *, images: int, raters: int, votes_per_rater: int, simulations: int,
                   alpha: float = 0.05, range_alpha: float = 0.01, rng=None) -> dict:
    """Simulate the planned study ``simulations`` times; per pair, the share of studies separating it.

    Returns ``{"methods", "wald" (M, M) share, "range" (M, M) share, "failed" (studies without a finite
    fit: a method that never won or never lost), "votes"}``. ``wald[i, j]`` counts studies where the
    Wald test rejects and (for a true difference) the sign is right.
    """
    import pandas as pd
    from scipy.special import ndtri

    from ..benchmark import bt
    from ..benchmark.userstudy import simulate_votes
    from ..parallel import as_rng

    rng = as_rng(rng)
    names = list(strengths)
    s_true = np.asarray([float(strengths[k]) for k in names])
    m = len(names)
    zc = float(ndtri(1 - alpha / 2))
    true_sign = np.sign(s_true[:, None] - s_true[None, :])
    wald = np.zeros((m, m))
    rng_hits = np.zeros((m, m))
    failed = 0
    n_votes = raters * votes_per_rater
    # Lai's threshold R depends only on (M, votes, alpha): take it once from bt.range_test
    R = bt.range_test(np.zeros(m), float(n_votes), alpha=range_alpha)["R"]
    for _ in range(simulations):
        df = simulate_votes(strengths, images, raters, votes_per_rater, rng)
        a = pd.Categorical(df["method_a"], categories=names).codes.astype(np.int64)
        b = pd.Categorical(df["method_b"], categories=names).codes.astype(np.int64)
        a_won = (df["choice"] == "a").to_numpy()
        winner = np.where(a_won, a, b)
        loser = np.where(a_won, b, a)
        cells = bt.cells_from_votes(winner, loser, np.zeros(len(a), bool), m)[0]
        C = bt.counts_from_cells(cells, m, "half")
        if not bt.is_strongly_connected(C):
            failed += 1
            continue
        s = bt.fit(C)
        cov = bt.centred_covariance(C, s)
        d = np.diag(cov)
        var = d[:, None] + d[None, :] - 2 * cov
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (s[:, None] - s[None, :]) / np.sqrt(np.where(var > 0, var, np.nan))
        sig = np.abs(z) > zc
        right = np.where(true_sign == 0, True, np.sign(z) == true_sign)
        wald += sig & right
        w = C.sum(1)
        rdiff = w[:, None] - w[None, :]
        rng_hits += (np.abs(rdiff) >= R) & np.where(true_sign == 0, True, np.sign(rdiff) == true_sign)
    ok = max(simulations - failed, 1)
    wald /= ok
    rng_hits /= ok
    np.fill_diagonal(wald, np.nan)
    np.fill_diagonal(rng_hits, np.nan)
    return {"methods": names, "wald": wald, "range": rng_hits, "failed": failed, "votes": n_votes}


def run(ctx: StudyContext) -> StudyOutput:
    import pandas as pd

    st = ctx.settings
    strengths = {str(k): float(v) for k, v in st["strengths"].items()}
    names = list(strengths)
    s = np.asarray([strengths[k] for k in names])
    m = len(names)
    rng = np.random.default_rng(ctx.seed)
    plan = simulate_power(strengths, images=st["images"], raters=st["raters"], votes_per_rater=st["votes_per_rater"],
                          simulations=st["simulations"], alpha=st["alpha"], range_alpha=st["range_alpha"], rng=rng)
    n_plan = plan["votes"]
    var1 = design_variance(s, 1.0)
    grid = [float(g) for g in st["grid"]]
    curve = {}
    for g in grid:
        raters = max(1, int(round(st["raters"] * g)))
        if g == 1.0:
            curve[g] = (raters * st["votes_per_rater"], plan["wald"])
            continue
        res = simulate_power(strengths, images=st["images"], raters=raters, votes_per_rater=st["votes_per_rater"],
                             simulations=st["curve_simulations"], alpha=st["alpha"], range_alpha=st["range_alpha"],
                             rng=rng)
        curve[g] = (res["votes"], res["wald"])
    rows = []
    n_pairs = m * (m - 1) // 2
    for i in range(m):
        for j in range(i + 1, m):
            hi, lo = (i, j) if s[i] >= s[j] else (j, i)
            diff = s[hi] - s[lo]
            n80 = votes_for_power(diff, var1[hi, lo], alpha=st["alpha"], power=st["power_target"])
            # the simulated curve: smallest simulated size reaching the target
            reached = [v for v, (nv, w) in sorted(curve.items()) if w[hi, lo] >= st["power_target"]]
            sim_n = curve[reached[0]][0] if reached else math.nan
            rows.append({"better": names[hi], "worse": names[lo], "true_diff": round(float(diff), 4),
                         "p_better_wins": round(float(1 / (1 + math.exp(-diff))), 4),
                         "power_wald": float(plan["wald"][hi, lo]), "power_range_test": float(plan["range"][hi, lo]),
                         "votes_for_80pct": float(n80) if math.isfinite(n80) else math.inf,
                         "votes_per_pair_for_80pct": float(n80 / n_pairs) if math.isfinite(n80) else math.inf,
                         "simulated_votes_reaching_80pct": sim_n})
    table = pd.DataFrame(rows).round({"power_wald": 3, "power_range_test": 3, "votes_for_80pct": 0,
                                      "votes_per_pair_for_80pct": 1})
    top = names[int(np.argmax(s))]
    second = names[int(np.argsort(-s)[1])]
    top_row = table[(table["better"] == top) & (table["worse"] == second)].iloc[0]
    ratio = top_row["votes_for_80pct"] / n_plan if math.isfinite(top_row["votes_for_80pct"]) else math.inf
    conclusions = [
        Conclusion(f"{top} ranks above {second} (paper: highest B-T score)",
                   f"{top} {strengths[top]:.3f} vs {second} {strengths[second]:.3f} from {n_plan} votes (Table 3)",
                   f"power to separate them with {n_plan} votes: {top_row['power_wald']:.2f} (Wald, alpha "
                   f"{st['alpha']}), {top_row['power_range_test']:.2f} (Lai range test, alpha {st['range_alpha']}); "
                   f"80 % power needs about {top_row['votes_for_80pct']:.0f} votes ({ratio:.1f}x the study)",
                   bool(top_row["power_wald"] >= st["power_target"])),
        Conclusion("every method pair is separable at the planned size", "implied by the paper's full ranking",
                   f"{int((table['power_wald'] >= st['power_target']).sum())} of {len(table)} pairs reach "
                   f"{st['power_target']:.0%} power", bool((table["power_wald"] >= st["power_target"]).all())),
    ]

    def plot(path: Path) -> None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        xs = sorted(curve)
        votes = [curve[g][0] for g in xs]
        for i in range(m):
            for j in range(i + 1, m):
                hi, lo = (i, j) if s[i] >= s[j] else (j, i)
                ax.plot(votes, [curve[g][1][hi, lo] for g in xs], marker="o", ms=3,
                        label=f"{names[hi]} > {names[lo]} (d={s[hi] - s[lo]:.2f})")
        ax.axhline(st["power_target"], color="k", ls="--", lw=0.8)
        ax.axvline(n_plan, color="grey", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("total votes")
        ax.set_ylabel("power (Wald, simulated)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("study-power: share of simulated studies separating each pair", fontsize=9)
        ax.legend(fontsize=5, ncol=2, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    paper = pd.DataFrame({"method": list(BARGAINNET_TABLE3), "B-T score": list(BARGAINNET_TABLE3.values())})
    notes = [f"{st['simulations']} simulated studies at the planned size ({plan['failed']} without a finite fit "
             f"were left out); {st['curve_simulations']} per point of the power curve (grid {grid} x raters).",
             "Wald test on the choix fit with its Hessian (observed information) covariance: votes are "
             "independent in the simulation, so this equals a votes bootstrap; real raters differ, so a "
             "rater bootstrap (bt-score's default) is wider and the votes needed are a lower bound.",
             "votes_for_80pct: normal approximation from the design's expected information; "
             "simulated_votes_reaching_80pct: the smallest simulated grid size that reached it (NaN: none did; "
             "when it is the grid's smallest size it is only an upper bound).",
             f"planned votes = raters x votes_per_rater = {n_plan} (the paper's study: 10835 votes from 22 users)."]
    return StudyOutput(table=table, paper_table=paper,
                       paper_caption="BargainNet (Cong et al., ICME 2021) supplement Table 3: B-T scores on 99 real composites, "
                                     "22 users, 10835 pairwise results (used here as the assumed log-strengths).",
                       conclusions=conclusions, plot=plot,
                       data_used={"votes": "simulated (harmony.benchmark.userstudy.simulate_votes)",
                                  "plan": {k: st[k] for k in ("images", "raters", "votes_per_rater")}},
                       notes=notes, extra={"planned_votes": n_plan},
                       caveat="a simulation of the paper's design under its own reported scores: the verdicts are "
                              "about that study's power, at any scale")


register(Study(
    name="study-power", paper="BargainNet (Cong et al., ICME 2021), supplement section 5", table="Table 3 (user study plan)",
    measures="probability of separating each method pair in a planned 2AFC study and the votes needed for 80 % "
             "power (simulated with the bt-score machinery)",
    run="harmony.studies.power:run",
    scales={
        "test": Scale("test", "3 methods, 20 raters x 30 votes, 20 simulations.",
                      {**_PLAN, "strengths": {"a": 1.0, "b": 0.5, "c": 0.0}, "images": 10, "raters": 20,
                       "votes_per_rater": 30, "simulations": 20, "curve_simulations": 10, "grid": [0.5, 1.0, 2.0]},
                      est_time="2 s"),
        "tiny": Scale("tiny", "BargainNet's plan (99 images, 22 raters x 492 votes), 100 simulations.",
                      {**_PLAN, "simulations": 100, "curve_simulations": 40, "grid": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]},
                      est_time="10 s (measured 7 s)"),
        "small": Scale("small", "BargainNet's plan, 400 simulations, finer curve.",
                       {**_PLAN, "simulations": 400, "curve_simulations": 150,
                        "grid": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]}, est_time="30 s"),
        "paper": Scale("paper", "BargainNet's plan, 2000 simulations (no data or GPU needed: bt only).",
                       {**_PLAN, "simulations": 2000, "curve_simulations": 500,
                        "grid": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]}, est_time="30 min"),
    },
    notes="Change the plan with --set strengths=a:1.2,b:0.9,c:0 --set raters=40 --set votes_per_rater=100."))
