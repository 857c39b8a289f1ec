"""``study-power``: power analysis of a planned 2AFC user study (the planning tool none of the papers had).

Given the methods' assumed Bradley-Terry log-strengths and the study design (images, raters, votes per
rater), the study is simulated ``simulations`` times with :func:`harmony.benchmark.userstudy.simulate_votes`
and each simulated vote log is scored with :mod:`harmony.benchmark.bt` (choix ``ilsr_pairwise_dense`` fit
and its Hessian covariance, plus Lai et al.'s range test on total wins). A pair is *separated* in one
simulated study when the Wald test of ``s_i - s_j`` (two-sided, level ``alpha``) rejects in the true
direction (for a pair with no true difference: in either direction, i.e. a false positive). Power =
share of simulated studies that separate the pair. Votes needed for 80 % power come from the expected
Fisher information of the design (votes spread evenly over pairs; variance of ``s_i - s_j`` shrinks as
1/N), and the simulated power curve over ``grid`` multiples of the planned size checks them.

Default plan: BargainNet's user study (supplement section 5 and Table 3 [1]_): 99 images, 22 raters,
10,835 votes (492.5 per rater), five "methods" whose B-T scores were 0.357 / 0.813 / 0.897 / 1.140 /
1.266. Those scores are used as natural-log strengths (their differences are what matters; the paper
does not state the scale, so this convention is unconfirmed).

References
----------
.. [1] Cong, Niu, Zhang et al., "BargainNet: Background-Guided Domain Translation for Image
   Harmonization", ICME 2021.
.. [2] Lai, Huang, Hu, Ahuja and Yang, "A Comparative Study for Single Image Blind Deblurring", CVPR 2016 (the
   range test on total wins).
"""

from __future__ import annotations

import math

import numpy as np

from . import Claim, Evidence, Finding, PaperTable, Report, Scale, Study, StudyContext, register
from .plotting import Figure, Mark, Panel

# BargainNet (Cong et al., ICME 2021) supplement Table 3: B-T scores on 99 real composites, 22 users, 10835 votes.
BARGAINNET_TABLE3 = {"composite": 0.357, "DIH": 0.813, "DoveNet": 0.897, "S2AM": 1.140, "BargainNet": 1.266}

_PLAN = {"strengths": dict(BARGAINNET_TABLE3), "images": 99, "raters": 22, "votes_per_rater": 492,
         "alpha": 0.05, "power_target": 0.8, "range_alpha": 0.01}


def design_variance(strengths: np.ndarray, n_votes: float) -> np.ndarray:
    """Variance of every strength difference ``s_i - s_j`` expected from a design of ``n_votes`` votes.

    The votes are spread evenly over the method pairs (each pair equally likely, as
    :func:`harmony.benchmark.userstudy.simulate_votes` draws them); the covariance is the inverse of the
    expected Fisher information of the Bradley-Terry model, centred (:func:`harmony.benchmark.bt.centred_covariance`).

    Parameters
    ----------
    strengths : numpy.ndarray
        (M,) natural-log strengths.
    n_votes : float
        Total votes of the design (> 0).

    Returns
    -------
    numpy.ndarray
        (M, M) float64: ``var[i, j]`` of ``s_i - s_j``; zero on the diagonal. It scales as ``1 / n_votes``.
    """
    from ..benchmark import bt

    s = np.asarray(strengths, float)
    m = len(s)
    per_pair = n_votes / (m * (m - 1) / 2)
    p_wins = 1.0 / (1.0 + np.exp(s[None, :] - s[:, None]))     # P(i beats j)
    expected_wins = per_pair * p_wins                            # wins[i, j] + wins[j, i] = per_pair
    np.fill_diagonal(expected_wins, 0.0)
    cov = bt.centred_covariance(expected_wins, s)
    diag = np.diag(cov)
    return diag[:, None] + diag[None, :] - 2 * cov


def votes_for_power(diff: float, var_one_vote: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Votes needed to detect a strength difference with a two-sided Wald test.

    Normal approximation: the estimate of ``diff`` has variance ``var_one_vote / N``, so
    ``N = ((z_{1-alpha/2} + z_power) / diff)^2 * var_one_vote``.

    Parameters
    ----------
    diff : float
        True difference of log-strengths (either sign).
    var_one_vote : float
        Variance of its estimate from one vote of the design (:func:`design_variance` with ``n_votes=1``).
    alpha : float, optional
        Level of the test, in (0, 1).
    power : float, optional
        Target power, in (0, 1).

    Returns
    -------
    float
        Total votes N (not rounded); ``inf`` when ``diff`` is 0.

    Examples
    --------
    >>> round(votes_for_power(0.5, 4.0), 1)          # (1.95996 + 0.84162)^2 / 0.25 * 4
    125.6
    """
    from scipy.special import ndtri

    if diff == 0:
        return math.inf
    z = float(ndtri(1 - alpha / 2) + ndtri(power))
    return (z / abs(diff)) ** 2 * var_one_vote


def _separations(counts: np.ndarray, true_sign: np.ndarray, z_critical: float, range_threshold: float):
    """(Wald, range-test) (M, M) booleans: which pairs one simulated study separates in the right direction."""
    from ..benchmark import bt

    s = bt.fit(counts)
    cov = bt.centred_covariance(counts, s)
    diag = np.diag(cov)
    var = diag[:, None] + diag[None, :] - 2 * cov
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (s[:, None] - s[None, :]) / np.sqrt(np.where(var > 0, var, np.nan))
    right_way = np.where(true_sign == 0, True, np.sign(z) == true_sign)
    wald = (np.abs(z) > z_critical) & right_way
    wins = counts.sum(1)
    win_diff = wins[:, None] - wins[None, :]
    by_range = (np.abs(win_diff) >= range_threshold) & np.where(true_sign == 0, True, np.sign(win_diff) == true_sign)
    return wald, by_range


def simulate_power(strengths: dict, *, images: int, raters: int, votes_per_rater: int, simulations: int,
                   alpha: float = 0.05, range_alpha: float = 0.01, rng=None) -> dict:
    """Simulate a planned 2AFC study many times; per pair, the share of studies that separate it.

    Parameters
    ----------
    strengths : dict
        ``{method: natural-log strength}``.
    images, raters, votes_per_rater : int
        The design (:func:`harmony.benchmark.userstudy.simulate_votes`).
    simulations : int
        Number of simulated studies.
    alpha : float, optional
        Level of the two-sided Wald test of ``s_i - s_j`` (choix fit, Hessian covariance).
    range_alpha : float, optional
        Level of Lai et al.'s range test on total wins (:func:`harmony.benchmark.bt.range_test`).
    rng : int, numpy.random.Generator or None, optional
        Random source.

    Returns
    -------
    dict
        ``"methods"`` (names, in ``strengths`` order); ``"wald"`` and ``"range"``: (M, M) float64 shares in
        [0, 1] (NaN on the diagonal), ``[i, j]`` counting studies where the test rejects and, for a true
        difference, the sign is right; ``"failed"``: studies without a finite fit (a method that never
        won or never lost), left out of the shares; ``"votes"``: ``raters * votes_per_rater``.
    """
    import pandas as pd
    from scipy.special import ndtri

    from ..benchmark import bt
    from ..benchmark.userstudy import simulate_votes
    from ..parallel import as_rng

    rng = as_rng(rng)
    names = list(strengths)
    true_strengths = np.asarray([float(strengths[k]) for k in names])
    m = len(names)
    z_critical = float(ndtri(1 - alpha / 2))
    true_sign = np.sign(true_strengths[:, None] - true_strengths[None, :])
    wald = np.zeros((m, m))
    range_hits = np.zeros((m, m))
    failed = 0
    n_votes = raters * votes_per_rater
    # Lai's threshold depends only on (M, votes, alpha): take it once from bt.range_test
    range_threshold = bt.range_test(np.zeros(m), float(n_votes), alpha=range_alpha)["R"]
    for _ in range(simulations):
        votes = simulate_votes(strengths, images, raters, votes_per_rater, rng)
        a = pd.Categorical(votes["method_a"], categories=names).codes.astype(np.int64)
        b = pd.Categorical(votes["method_b"], categories=names).codes.astype(np.int64)
        a_won = (votes["choice"] == "a").to_numpy()
        cells = bt.cells_from_votes(np.where(a_won, a, b), np.where(a_won, b, a), np.zeros(len(a), bool), m)[0]
        counts = bt.counts_from_cells(cells, m, "half")
        if not bt.is_strongly_connected(counts):
            failed += 1
            continue
        by_wald, by_range = _separations(counts, true_sign, z_critical, range_threshold)
        wald += by_wald
        range_hits += by_range
    kept = max(simulations - failed, 1)
    wald /= kept
    range_hits /= kept
    np.fill_diagonal(wald, np.nan)
    np.fill_diagonal(range_hits, np.nan)
    return {"methods": names, "wald": wald, "range": range_hits, "failed": failed, "votes": n_votes}


# --------------------------------------------------------------------------------------------------
# the study's steps


def plan(ctx: StudyContext) -> dict:
    """Data recipe: the planned study (no data are read; the votes are simulated).

    Parameters
    ----------
    ctx : StudyContext
        The run; ``strengths`` come from its settings.

    Returns
    -------
    dict
        ``"strengths"`` (``{method: float}``), ``"names"`` and ``"s"`` ((M,) array, same order).
    """
    strengths = {str(k): float(v) for k, v in ctx.settings["strengths"].items()}
    names = list(strengths)
    return {"strengths": strengths, "names": names, "s": np.asarray([strengths[k] for k in names])}


def simulate(ctx: StudyContext, planned: dict) -> dict:
    """Methods step: simulate the study at its planned size, then at each multiple of ``grid``.

    Parameters
    ----------
    ctx : StudyContext
        The run (seed and settings).
    planned : dict
        What :func:`plan` returned.

    Returns
    -------
    dict
        ``planned`` plus ``"result"`` (:func:`simulate_power` at the planned size), ``"curve"``
        (``{multiple: (votes, wald shares)}``) and ``"grid"``.
    """
    settings = ctx.settings
    rng = np.random.default_rng(ctx.seed)
    options = {"images": settings["images"], "votes_per_rater": settings["votes_per_rater"],
               "alpha": settings["alpha"], "range_alpha": settings["range_alpha"], "rng": rng}
    result = simulate_power(planned["strengths"], raters=settings["raters"], simulations=settings["simulations"],
                            **options)
    grid = [float(g) for g in settings["grid"]]
    curve = {}
    for multiple in grid:
        raters = max(1, int(round(settings["raters"] * multiple)))
        if multiple == 1.0:
            curve[multiple] = (raters * settings["votes_per_rater"], result["wald"])
            continue
        point = simulate_power(planned["strengths"], raters=raters, simulations=settings["curve_simulations"],
                               **options)
        curve[multiple] = (point["votes"], point["wald"])
    return {**planned, "result": result, "curve": curve, "grid": grid}


def _ordered_pairs(s: np.ndarray):
    """(better, worse) index pairs of every method pair, in row order."""
    for i in range(len(s)):
        for j in range(i + 1, len(s)):
            yield (i, j) if s[i] >= s[j] else (j, i)


def build_table(ctx: StudyContext, measured: dict):
    """One row per method pair: true difference, simulated power, votes needed for the target power.

    Parameters
    ----------
    ctx : StudyContext
        The run (``alpha``, ``power_target``).
    measured : dict
        What :func:`simulate` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``better``, ``worse``, ``true_diff``, ``p_better_wins``, ``power_wald``,
        ``power_range_test``, ``votes_for_80pct``, ``votes_per_pair_for_80pct``,
        ``simulated_votes_reaching_80pct``.
    """
    import pandas as pd

    settings, names, s = ctx.settings, measured["names"], measured["s"]
    result, curve = measured["result"], measured["curve"]
    var_one_vote = design_variance(s, 1.0)
    n_pairs = len(s) * (len(s) - 1) // 2
    rows = []
    for better, worse in _ordered_pairs(s):
        diff = s[better] - s[worse]
        needed = votes_for_power(diff, var_one_vote[better, worse], alpha=settings["alpha"],
                                 power=settings["power_target"])
        # the simulated curve: smallest simulated size reaching the target
        reached = [m for m, (_, wald) in sorted(curve.items()) if wald[better, worse] >= settings["power_target"]]
        rows.append({"better": names[better], "worse": names[worse], "true_diff": round(float(diff), 4),
                     "p_better_wins": round(float(1 / (1 + math.exp(-diff))), 4),
                     "power_wald": float(result["wald"][better, worse]),
                     "power_range_test": float(result["range"][better, worse]),
                     "votes_for_80pct": float(needed) if math.isfinite(needed) else math.inf,
                     "votes_per_pair_for_80pct": float(needed / n_pairs) if math.isfinite(needed) else math.inf,
                     "simulated_votes_reaching_80pct": curve[reached[0]][0] if reached else math.nan})
    return pd.DataFrame(rows).round({"power_wald": 3, "power_range_test": 3, "votes_for_80pct": 0,
                                     "votes_per_pair_for_80pct": 1})


def _top_pair(evidence: Evidence, _item=None) -> Finding:
    """The two highest-scored methods: can the planned study separate them?"""
    settings, table = evidence.settings, evidence.table
    names, s, strengths = evidence.measured["names"], evidence.measured["s"], evidence.measured["strengths"]
    planned_votes = evidence.measured["result"]["votes"]
    top, second = names[int(np.argmax(s))], names[int(np.argsort(-s)[1])]
    row = table[(table["better"] == top) & (table["worse"] == second)].iloc[0]
    ratio = row["votes_for_80pct"] / planned_votes if math.isfinite(row["votes_for_80pct"]) else math.inf
    ours = (f"power to separate them with {planned_votes} votes: {row['power_wald']:.2f} (Wald, alpha "
            f"{settings['alpha']}), {row['power_range_test']:.2f} (Lai range test, alpha {settings['range_alpha']}); "
            f"80 % power needs about {row['votes_for_80pct']:.0f} votes ({ratio:.1f}x the study)")
    return Finding(ours, bool(row["power_wald"] >= settings["power_target"]),
                   {"top": top, "second": second, "top_score": strengths[top], "second_score": strengths[second],
                    "votes": planned_votes})


def _every_pair(evidence: Evidence, _item=None) -> Finding:
    """Does every pair reach the target power at the planned size?"""
    target, table = evidence.settings["power_target"], evidence.table
    return Finding(f"{int((table['power_wald'] >= target).sum())} of {len(table)} pairs reach {target:.0%} power",
                   bool((table["power_wald"] >= target).all()))


CLAIMS = (
    Claim("{top} ranks above {second} (paper: highest B-T score)",
          "{top} {top_score:.3f} vs {second} {second_score:.3f} from {votes} votes (Table 3)", _top_pair),
    Claim("every method pair is separable at the planned size", "implied by the paper's full ranking", _every_pair),
)

PAPER_TABLE = PaperTable(
    ("method", "B-T score"), tuple(BARGAINNET_TABLE3.items()),
    "BargainNet (Cong et al., ICME 2021) supplement Table 3: B-T scores on 99 real composites, 22 users, 10835 "
    "pairwise results (used here as the assumed log-strengths).")


def plot(evidence: Evidence) -> Figure:
    """Plot spec: simulated Wald power of each pair against total votes (log), target and plan marked.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Figure
        One panel.
    """
    names, s, curve = evidence.measured["names"], evidence.measured["s"], evidence.measured["curve"]
    multiples = sorted(curve)
    votes = [curve[m][0] for m in multiples]
    marks = [Mark("plot", (votes, [curve[m][1][better, worse] for m in multiples]),
                  {"marker": "o", "ms": 3, "label": f"{names[better]} > {names[worse]} (d={s[better] - s[worse]:.2f})"})
             for better, worse in _ordered_pairs(s)]
    marks += [Mark("axhline", (evidence.settings["power_target"],), {"color": "k", "ls": "--", "lw": 0.8}),
              Mark("axvline", (evidence.measured["result"]["votes"],), {"color": "grey", "ls": ":", "lw": 0.8})]
    return Figure((6.5, 4), [Panel(marks, xscale={"value": "log"}, xlabel="total votes",
                                   ylabel="power (Wald, simulated)", ylim=(-0.02, 1.02),
                                   legend={"fontsize": 5, "ncol": 2, "loc": "lower right"},
                                   title="study-power: share of simulated studies separating each pair")])


def report(evidence: Evidence) -> Report:
    """The simulated design, the test used and how to read the votes needed.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Report
        Data used (the plan), notes and the planned vote count (in ``extra``).
    """
    settings, measured = evidence.settings, evidence.measured
    planned_votes = measured["result"]["votes"]
    notes = [f"{settings['simulations']} simulated studies at the planned size ({measured['result']['failed']} without "
             f"a finite fit were left out); {settings['curve_simulations']} per point of the power curve (grid "
             f"{measured['grid']} x raters).",
             "Wald test on the choix fit with its Hessian (observed information) covariance: votes are "
             "independent in the simulation, so this equals a votes bootstrap; real raters differ, so a "
             "rater bootstrap (bt-score's default) is wider and the votes needed are a lower bound.",
             "votes_for_80pct: normal approximation from the design's expected information; "
             "simulated_votes_reaching_80pct: the smallest simulated grid size that reached it (NaN: none did; "
             "when it is the grid's smallest size it is only an upper bound).",
             f"planned votes = raters x votes_per_rater = {planned_votes} (the paper's study: 10835 votes from 22 users)."]
    return Report(data_used={"votes": "simulated (harmony.benchmark.userstudy.simulate_votes)",
                             "plan": {k: settings[k] for k in ("images", "raters", "votes_per_rater")}},
                  notes=notes, extra={"planned_votes": planned_votes})


register(Study(
    name="study-power", paper="BargainNet (Cong et al., ICME 2021), supplement section 5", table="Table 3 (user study plan)",
    measures="probability of separating each method pair in a planned 2AFC study and the votes needed for 80 % "
             "power (simulated with the bt-score machinery)",
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
    recipe=plan, methods=simulate, build_table=build_table, claims=CLAIMS, paper_table=PAPER_TABLE, plot=plot,
    report=report,
    caveat="a simulation of the paper's design under its own reported scores: the verdicts are about that study's "
           "power, at any scale",
    notes="Change the plan with --set strengths=a:1.2,b:0.9,c:0 --set raters=40 --set votes_per_rater=100."))
