"""Means with bootstrap intervals and paired significance tests between methods scored on the same images.

Image-harmonization papers report per-method means (MSE, fMSE, PSNR ... over an image set) with no
statement of uncertainty. This module adds what a reader needs to judge a difference such as
1233 vs 1314 fMSE on 37 images:

* **Per-method means with a 95 % bootstrap interval over images** (Efron & Tibshirani, *An Introduction
  to the Bootstrap*, 1993, ch. 14: the bias-corrected and accelerated, BCa, interval; for the mean the
  jackknife acceleration has the closed form ``sum(u^3) / (6 sum(u^2)^1.5)`` with ``u = x - mean(x)``;
  with Hesterberg's small-sample expansion, see :func:`bca_interval`).
* **Paired tests between every two methods on the images both scored**: the paired bootstrap (the
  images are resampled together, so each replicate compares the methods on the same images; BCa
  interval of the mean difference, two-sided p-value from the bootstrap distribution shifted to the
  null, Efron & Tibshirani section 16.4) and the Wilcoxon signed-rank test (zero differences dropped,
  exact null distribution for n <= 50 without ties, otherwise the normal approximation with the tie
  correction: the choices of ``scipy.stats.wilcoxon``'s defaults). Both families of p-values are
  Holm-corrected across the pairs of a metric within one group (Holm 1979, step-down).
* **The best method per column and the methods not significantly worse than it** (Holm-corrected
  paired-bootstrap p >= alpha against the best).
* Markdown and LaTeX (booktabs) tables with the best value bold and the methods not significantly worse
  marked with a dagger, and the long table of every pair (``significance.csv``).

All functions are pure: a per-image records DataFrame in (columns ``subset``, an image key --
``name`` or ``composite`` --, ``method`` and the metric columns; NaN = undefined for that image), data
frames and strings out. Resampling is shared by all methods of a group (one matrix of multinomial
weights, so a replicate's means are one matrix product), which keeps a 7,404-image, 13-method run to
seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..parallel import as_rng

ALL = "All"

#: direction of the metrics the bench writes (False = lower is better); others come from the registry
HIGHER_IS_BETTER: dict[str, bool] = {"mse": False, "fmse": False, "psnr": True, "fpsnr": True, "ssim": True,
                                     "fssim": True, "lpips": False, "bg_drift": False}

#: (column, header, format) in the order the bench tables use
METRIC_HEADERS: dict[str, tuple[str, str]] = {"mse": ("MSE", ".2f"), "fmse": ("fMSE", ".2f"),
                                              "psnr": ("PSNR", ".2f"), "fpsnr": ("fPSNR", ".2f"),
                                              "ssim": ("SSIM", ".4f"), "fssim": ("fSSIM", ".4f"),
                                              "lpips": ("LPIPS", ".4f"), "bg_drift": ("bg drift", ".2f")}

PAIR_COLUMNS = ["group", "metric", "method_a", "method_b", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high",
                "p_bootstrap", "p_bootstrap_holm", "wilcoxon_w", "p_wilcoxon", "p_wilcoxon_holm", "better"]
#: fewer images than this: no bootstrap interval or bootstrap p-value (NaN; a resample of 1-4 values
#: says nothing about the population), so such a method is never marked significantly worse
MIN_IMAGES = 5
SUMMARY_COLUMNS = ["group", "metric", "method", "n", "mean", "ci_low", "ci_high", "best", "not_worse"]


# --------------------------------------------------------------------------------------------------
# primitives


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, NaN kept as NaN.

    The i-th smallest of m p-values is multiplied by (m - i + 1), a running maximum keeps the order, and
    values are capped at 1; a hypothesis is rejected at level alpha when its adjusted p <= alpha.

    Parameters
    ----------
    pvalues : sequence of float or numpy.ndarray
        Raw p-values in [0, 1] (NaN = no test; not counted in m).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in [0, 1], the shape of ``pvalues``.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6(2),
    65-70.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    raw = np.asarray(pvalues, dtype=np.float64)
    out = np.full(raw.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(raw))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(raw[tested], kind="stable")]
    adjusted = np.maximum.accumulate(raw[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _wilcoxon_exact_cdf(n: int) -> np.ndarray:
    """P(W+ <= k) for k = 0 .. n(n+1)/2 under the null (all 2^n sign patterns equally likely)."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1, dtype=np.float64)
    counts[0] = 1.0
    for r in range(1, n + 1):            # add rank r with a + sign (shift) or a - sign (stay)
        counts[r:] = counts[r:] + counts[:-r].copy() if r <= top else counts[r:]
    return np.cumsum(counts) / 2.0 ** n


def wilcoxon_signed_rank(d: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences.

    Zero differences are dropped (Wilcoxon's original rule); the statistic is min(W+, W-) over the
    average ranks of ``|d|``. The p-value follows the choices of ``scipy.stats.wilcoxon``'s defaults: the
    exact null distribution for n <= 50 without zeros or tied ranks; the exact sign-flip distribution for
    n <= 13 otherwise; beyond, the normal approximation with the tie correction and no continuity
    correction.

    Parameters
    ----------
    d : numpy.ndarray
        ``(n,)`` paired differences (non-finite values ignored).

    Returns
    -------
    statistic : float
        min(W+, W-).
    p : float
        Two-sided p-value in [0, 1]; both NaN when no non-zero difference is left.

    References
    ----------
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. Biometrics Bulletin 1(6).
    """
    from scipy.special import ndtr
    from scipy.stats import rankdata

    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    n_all = d.size
    has_zero = bool((d == 0).any())
    d = d[d != 0]
    n = d.size
    if n == 0:
        return math.nan, math.nan
    ranks = rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    w_minus = float(ranks[d < 0].sum())
    stat = min(w_plus, w_minus)
    ties = np.unique(ranks, return_counts=True)[1]
    has_ties = bool((ties > 1).any())
    if n_all <= 50 and not (has_ties or has_zero):
        cdf = _wilcoxon_exact_cdf(n)
        return stat, float(min(1.0, 2.0 * cdf[int(round(stat))]))
    if n_all <= 13:       # every one of the 2^n sign patterns of the (tied) ranks
        signs = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
        null = signs @ ranks
        tol = 1e-14 * max(1.0, abs(w_plus))
        p = 2.0 * min(np.mean(null <= w_plus + tol), np.mean(null >= w_plus - tol))
        return stat, float(min(1.0, p))
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - (ties ** 3 - ties).sum() / 48.0
    if var <= 0:
        return stat, 1.0
    z = (stat - mean) / math.sqrt(var)
    return stat, float(min(1.0, 2.0 * ndtr(-abs(z))))


def bootstrap_weights(n: int, n_boot: int, rng) -> np.ndarray:
    """Resampling counts of the images: each row is one bootstrap sample (n draws with replacement).

    Counts come from one ``np.bincount`` over the drawn indices.

    Parameters
    ----------
    n : int
        Images.
    n_boot : int
        Replicates.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        ``(n_boot, n)`` float64 counts, each row summing to n.
    """
    rng = as_rng(rng)
    draws = rng.integers(0, n, size=(n_boot, n))
    draws += (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _weighted_means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Replicate means (B, k) of the columns of ``values`` (n, k) under ``weights`` (B, n), NaN entries left out."""
    finite = np.isfinite(values)
    numerator = weights @ np.where(finite, values, 0.0)
    denominator = weights @ finite.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def bca_interval(x: np.ndarray, reps: np.ndarray, ci: float = 0.95, *, expanded: bool = True) -> tuple[float, float]:
    """BCa interval of the mean of ``x`` from its bootstrap replicates.

    Efron and Tibshirani (1993) eq. 14.9-14.15, with the jackknife acceleration of the mean in closed form
    ``sum(u^3) / (6 sum(u^2)^1.5)``, ``u = x - mean(x)``. ``expanded`` (default) replaces the normal
    quantile z by ``sqrt(n / (n - 1)) t_{n-1}``, Hesterberg's expanded-percentile correction: percentile-type
    intervals of a mean are too narrow for small n (about 93 % coverage at n = 40), the expansion restores
    the nominal coverage. ``expanded=False`` is the textbook BCa interval (what
    ``scipy.stats.bootstrap(method="BCa")`` computes). Falls back to the (expanded) percentile interval
    where the bias correction is undefined (all replicates on one side of the estimate).

    Parameters
    ----------
    x : numpy.ndarray
        ``(n,)`` sample (non-finite values ignored).
    reps : numpy.ndarray
        ``(B,)`` bootstrap replicates of the mean.
    ci : float
        Coverage in (0, 1).
    expanded : bool
        Hesterberg's small-sample expansion.

    Returns
    -------
    low, high : float
        NaN when fewer than :data:`MIN_IMAGES` values or no replicate.

    References
    ----------
    Efron, B. (1987). Better bootstrap confidence intervals. JASA 82(397), 171-185.
    Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 14.
    Hesterberg, T. C. (2015). What teachers should know about the bootstrap. The American Statistician
    69(4).
    """
    from scipy.special import ndtr, ndtri
    from scipy.stats import t as student_t

    x = x[np.isfinite(x)]
    reps = reps[np.isfinite(reps)]
    if x.size < MIN_IMAGES or reps.size == 0:
        return math.nan, math.nan
    n = x.size
    est = x.mean()
    z_high = float(ndtri((1 + ci) / 2))
    if expanded and n >= 2:
        z_high = math.sqrt(n / (n - 1)) * float(student_t.ppf((1 + ci) / 2, n - 1))
    z_low = -z_high
    q_low, q_high = float(ndtr(z_low)), float(ndtr(z_high))
    below = float(np.mean(reps < est))
    u = x - est
    s2 = float((u ** 2).sum())
    if 0.0 < below < 1.0 and s2 > 0:
        z0 = float(ndtri(below))
        acceleration = float((u ** 3).sum()) / (6.0 * s2 ** 1.5)
        q_low = float(ndtr(z0 + (z0 + z_low) / (1 - acceleration * (z0 + z_low))))
        q_high = float(ndtr(z0 + (z0 + z_high) / (1 - acceleration * (z0 + z_high))))
    low, high = np.quantile(reps, [q_low, q_high])
    return float(low), float(high)


def bootstrap_p_value(d: np.ndarray, reps: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of mean(d) = 0 (replicates shifted to the null).

    ``p = (1 + #{|r_b - mean(d)| >= |mean(d)|}) / (1 + B)`` (Efron and Tibshirani 1993, section 16.4; the
    +1 keeps p > 0 with a finite number of replicates).

    Parameters
    ----------
    d : numpy.ndarray
        ``(n,)`` paired differences.
    reps : numpy.ndarray
        ``(B,)`` bootstrap replicates of mean(d).

    Returns
    -------
    float
        In (0, 1]; 1 when every difference is 0; NaN with fewer than :data:`MIN_IMAGES` differences.
    """
    d = d[np.isfinite(d)]
    reps = reps[np.isfinite(reps)]
    if d.size < MIN_IMAGES or reps.size == 0:
        return math.nan
    est = d.mean()
    if np.all(d == 0):
        return 1.0
    extreme = np.abs(reps - est) >= abs(est) - 1e-12 * max(1.0, abs(est))
    return float((1 + extreme.sum()) / (1 + reps.size))


# --------------------------------------------------------------------------------------------------
# tables from per-image records


@dataclass
class Significance:
    """What :func:`analyse` returns.

    ``summary``: one row per (group, metric, method): n, mean, ci_low, ci_high, best (bool), not_worse
    (bool: the best itself, or Holm-corrected paired-bootstrap p >= alpha against the best, or too few
    images -- fewer than :data:`MIN_IMAGES` -- to test).
    ``pairs``: one row per (group, metric, pair): the columns of :data:`PAIR_COLUMNS`; ``diff`` is
    mean(a - b) over the images both methods scored, ``better`` the method with the better mean where
    the corrected bootstrap p < alpha, else empty.
    """

    summary: pd.DataFrame
    pairs: pd.DataFrame
    metrics: list[str]
    methods: list[str]
    groups: list[str]
    ci: float
    alpha: float
    n_boot: int


def _image_key(records: pd.DataFrame) -> list[str]:
    name = "name" if "name" in records else "composite" if "composite" in records else None
    if name is None or "method" not in records:
        raise ValueError("records: expected columns method and name (or composite), plus metric columns")
    return (["subset"] if "subset" in records else []) + [name]


def _usable_records(records: pd.DataFrame, metrics: Iterable[str],
                    methods: Sequence[str] | None) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """Rows without an error, the image key columns, the metrics with a finite value, the methods present."""
    df = records
    if "error" in df:
        df = df[df["error"].fillna("").astype(str) == ""]
    key = _image_key(df)
    metrics = [m for m in metrics if m in df and np.isfinite(pd.to_numeric(df[m], errors="coerce")).any()]
    if methods is None:
        methods = list(dict.fromkeys(df["method"].astype(str)))
    methods = [m for m in methods if (df["method"].astype(str) == m).any()]
    return df, key, metrics, methods


def _groups(df: pd.DataFrame, by_subset: bool) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) of each subset (when there are several and ``by_subset``), then :data:`ALL`."""
    groups: list[tuple[str, pd.DataFrame]] = []
    if by_subset and "subset" in df:
        subsets = list(dict.fromkeys(df["subset"].astype(str)))
        if len(subsets) > 1:
            groups += [(s, df[df["subset"].astype(str) == s]) for s in subsets]
    groups.append((ALL, df))
    return groups


def _method_rows(group: str, metric: str, present: list[str], values: np.ndarray, reps: np.ndarray,
                 ci: float) -> list[dict]:
    """Summary rows (n, mean, BCa interval) of each method of one metric in one group."""
    rows = []
    for j, method in enumerate(present):
        column = values[:, j]
        finite = np.isfinite(column)
        if not finite.any():
            continue
        low, high = bca_interval(column, reps[:, j], ci)
        rows.append({"group": group, "metric": metric, "method": method, "n": int(finite.sum()),
                     "mean": float(column[finite].mean()), "ci_low": low, "ci_high": high})
    return rows


def _pair_rows(group: str, metric: str, present: list[str], values: np.ndarray, reps: np.ndarray,
               weights: np.ndarray, ci: float) -> list[dict]:
    """Paired rows (difference, BCa interval, bootstrap p, Wilcoxon) of every two methods, images both scored."""
    rows = []
    for a in range(len(present)):
        for b in range(a + 1, len(present)):
            xa, xb = values[:, a], values[:, b]
            both = np.isfinite(xa) & np.isfinite(xb)
            if not both.any():
                continue
            d = np.where(both, xa - xb, np.nan)
            if np.array_equal(both, np.isfinite(xa)) and np.array_equal(both, np.isfinite(xb)):
                diff_reps = reps[:, a] - reps[:, b]
            else:
                diff_reps = _weighted_means(weights, d[:, None])[:, 0]
            low, high = bca_interval(d, diff_reps, ci)
            statistic, p_wilcoxon = wilcoxon_signed_rank(d)
            rows.append({"group": group, "metric": metric, "method_a": present[a], "method_b": present[b],
                         "n": int(both.sum()), "mean_a": float(xa[both].mean()), "mean_b": float(xb[both].mean()),
                         "diff": float(d[both].mean()), "ci_low": low, "ci_high": high,
                         "p_bootstrap": bootstrap_p_value(d, diff_reps), "wilcoxon_w": statistic,
                         "p_wilcoxon": p_wilcoxon})
    return rows


def _correct_pairs(rows: list[dict], higher_better: bool, alpha: float) -> None:
    """Add the Holm-corrected p-values of one metric's pairs and the method that is significantly better."""
    if not rows:
        return
    p_bootstrap = holm([r["p_bootstrap"] for r in rows])
    p_wilcoxon = holm([r["p_wilcoxon"] for r in rows])
    for row, pb, pw in zip(rows, p_bootstrap, p_wilcoxon):
        row["p_bootstrap_holm"], row["p_wilcoxon_holm"] = float(pb), float(pw)
        better = ""
        if np.isfinite(pb) and pb < alpha and row["diff"] != 0:
            a_better = (row["diff"] > 0) == higher_better
            better = row["method_a"] if a_better else row["method_b"]
        row["better"] = better


def _analyse_group(group: str, rows: pd.DataFrame, key: list[str], metrics: list[str], methods: list[str], *,
                   n_boot: int, ci: float, alpha: float, hib: Mapping[str, bool], rng) -> tuple[list, list]:
    """Summary rows and pair rows of one group; every metric and method share one set of resamples."""
    wide_all = (rows[key + ["method"] + metrics].assign(method=rows["method"].astype(str))
                .groupby(key + ["method"], sort=False, dropna=False)[metrics].first().unstack("method"))
    weights = bootstrap_weights(len(wide_all), n_boot, rng)
    summary_rows, pair_rows = [], []
    for metric in metrics:
        wide = wide_all[metric]
        wide = wide.reindex(columns=[m for m in methods if m in wide.columns])
        present = list(wide.columns)
        if not present or len(wide) == 0:
            continue
        values = pd.DataFrame(wide).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        reps = _weighted_means(weights, values)
        summary_rows += _method_rows(group, metric, present, values, reps, ci)
        here = _pair_rows(group, metric, present, values, reps, weights, ci)
        _correct_pairs(here, hib.get(metric, False), alpha)
        pair_rows += here
    return summary_rows, pair_rows


def analyse(records: pd.DataFrame, metrics: Iterable[str], *, methods: Sequence[str] | None = None,
            by_subset: bool = True, n_boot: int = 2000, ci: float = 0.95, alpha: float = 0.05,
            higher_is_better: Mapping[str, bool] | None = None, rng=0) -> Significance:
    """Means with bootstrap intervals and Holm-corrected paired tests, per group (subset, then All).

    Parameters
    ----------
    records : pandas.DataFrame
        One row per (method, image): ``method``, ``subset`` (optional), ``name`` or ``composite``, and
        the metric columns (float; NaN = undefined for that image; a row with a non-empty ``error`` is
        left out).
    metrics : iterable of str
        Metric columns to analyse (those missing or all-NaN are skipped).
    methods : sequence of str, optional
        Order of the methods (default: order of first appearance).
    by_subset : bool
        One group per subset as well as ``All`` (every image counts once).
    n_boot : int
        Bootstrap replicates, >= 100 (shared by all methods of a group: the same images for every method).
    ci : float
        Interval coverage in (0, 1).
    alpha : float
        Level of the "not significantly worse" test.
    higher_is_better : mapping of str to bool, optional
        Direction per metric (default :data:`HIGHER_IS_BETTER`).
    rng : int or numpy.random.Generator
        Seed or generator of the resamples.

    Returns
    -------
    Significance

    Raises
    ------
    ValueError
        ``ci`` outside (0, 1), fewer than 100 replicates, or records without ``method`` and an image key.

    References
    ----------
    Efron, B. (1987). Better bootstrap confidence intervals. JASA 82(397) (the BCa interval).
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6(2).

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({"method": ["a", "b"] * 6, "name": [i // 2 for i in range(12)],
    ...                         "mse": [1.0, 2.0, 1.5, 2.5, 0.5, 2.0, 1.0, 3.0, 1.2, 2.2, 0.9, 2.9]})
    >>> sig = analyse(records, ["mse"], n_boot=200)
    >>> sig.summary.set_index("method")["mean"].round(3).to_dict()
    {'a': 1.017, 'b': 2.433}
    >>> sig.summary.loc[sig.summary["best"], "method"].tolist()
    ['a']
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci: expected a value in (0, 1), got {ci}")
    if n_boot < 100:
        raise ValueError(f"n_boot: expected at least 100 replicates, got {n_boot}")
    hib = dict(HIGHER_IS_BETTER)
    hib.update(higher_is_better or {})
    rng = as_rng(rng)
    df, key, metrics, methods = _usable_records(records, metrics, methods)
    groups = _groups(df, by_subset)
    summary_rows, pair_rows = [], []
    for group, rows in groups:
        if len(rows) == 0:
            continue
        group_summary, group_pairs = _analyse_group(group, rows, key, metrics, methods, n_boot=n_boot, ci=ci,
                                                    alpha=alpha, hib=hib, rng=rng)
        summary_rows += group_summary
        pair_rows += group_pairs
    summary = pd.DataFrame(summary_rows, columns=SUMMARY_COLUMNS[:-2])
    pairs = pd.DataFrame(pair_rows, columns=PAIR_COLUMNS)
    summary = _mark_best(summary, pairs, hib, alpha)
    return Significance(summary=summary, pairs=pairs, metrics=metrics, methods=list(methods),
                        groups=[g for g, _ in groups], ci=ci, alpha=alpha, n_boot=n_boot)


def _mark_best(summary: pd.DataFrame, pairs: pd.DataFrame, higher_is_better: Mapping[str, bool], alpha: float) -> pd.DataFrame:
    summary = summary.copy()
    summary["best"] = False
    summary["not_worse"] = False
    if summary.empty:
        return summary
    adjusted = {}
    for r in pairs.itertuples(index=False):
        adjusted[(r.group, r.metric, r.method_a, r.method_b)] = r.p_bootstrap_holm
        adjusted[(r.group, r.metric, r.method_b, r.method_a)] = r.p_bootstrap_holm
    for (group, metric), idx in summary.groupby(["group", "metric"], sort=False).groups.items():
        rows = summary.loc[idx]
        means = rows["mean"].to_numpy()
        if not np.isfinite(means).any():
            continue
        pick = np.nanargmax(means) if higher_is_better.get(metric, False) else np.nanargmin(means)
        best = rows["method"].iloc[pick]
        summary.loc[rows.index[pick], "best"] = True
        for i, m in zip(rows.index, rows["method"]):
            p_holm = adjusted.get((group, metric, best, m), math.nan)
            # NaN (too few images to test) cannot show a difference: not significantly worse
            summary.loc[i, "not_worse"] = bool(m == best or not (np.isfinite(p_holm) and p_holm < alpha))
    return summary


# --------------------------------------------------------------------------------------------------
# formatting (Markdown, LaTeX booktabs, CSV)


def _cell(row, spec: str, intervals: bool, latex: bool) -> str:
    if row is None or not np.isfinite(row["mean"]):
        return "-"
    val = format(row["mean"], spec)
    if row["best"]:
        val = rf"\textbf{{{val}}}" if latex else f"**{val}**"
    elif row["not_worse"]:
        val = val + (r"$^\dagger$" if latex else "†")
    if intervals and np.isfinite(row["ci_low"]):
        iv = f"[{format(row['ci_low'], spec)}, {format(row['ci_high'], spec)}]"
        val += rf" {{\scriptsize {iv}}}" if latex else f" {iv}"
    return val


def _grid(sig: Significance, group: str, intervals: bool, latex: bool) -> tuple[list[str], list[list[str]]]:
    s = sig.summary[sig.summary["group"] == group]
    lookup = {(r["method"], r["metric"]): r for r in s.to_dict("records")}
    metrics = [m for m in sig.metrics if (s["metric"] == m).any()]
    arrows = {True: "↑", False: "↓"}
    head = ["Method", "N"] + [f"{METRIC_HEADERS.get(m, (m, ''))[0]} {arrows[HIGHER_IS_BETTER.get(m, False)]}"
                              if not latex else METRIC_HEADERS.get(m, (m, ""))[0] +
                              (r" $\uparrow$" if HIGHER_IS_BETTER.get(m, False) else r" $\downarrow$")
                              for m in metrics]
    body = []
    for method in sig.methods:
        cells = [lookup.get((method, m)) for m in metrics]
        if all(c is None for c in cells):
            continue
        n = max((c["n"] for c in cells if c is not None), default=0)
        body.append([method, str(n)] + [_cell(c, METRIC_HEADERS.get(m, (m, ".4g"))[1], intervals, latex)
                                        for c, m in zip(cells, metrics)])
    return head, body


def _legend(sig: Significance) -> str:
    return (f"Mean over images with its {sig.ci:.0%} BCa bootstrap interval ({sig.n_boot} replicates); bold: "
            f"best in the column; dagger: not significantly worse than the best (paired bootstrap, "
            f"Holm-corrected over all pairs of the column, alpha {sig.alpha}).")


def to_markdown(sig: Significance, *, intervals: bool = True) -> str:
    """Markdown: one table per group (subsets, then All), best bold, not significantly worse with a dagger.

    Parameters
    ----------
    sig : Significance
    intervals : bool
        Show each mean's interval in brackets.

    Returns
    -------
    str
    """
    out = [f"# Means with {sig.ci:.0%} intervals and significance", "", _legend(sig), ""]
    for group in sig.groups:
        head, body = _grid(sig, group, intervals, latex=False)
        if not body:
            continue
        out += [f"## {group}", "", "| " + " | ".join(head) + " |",
                "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in body]
        out.append("")
    return "\n".join(out)


def _tex_escape(s: str) -> str:
    return (s.replace("\\", r"\textbackslash{}").replace("&", r"\&").replace("%", r"\%").replace("_", r"\_")
            .replace("#", r"\#"))


def to_latex(sig: Significance, *, intervals: bool = False) -> str:
    """LaTeX (booktabs): one ``table`` per group; needs ``\\usepackage{booktabs}``.

    Parameters
    ----------
    sig : Significance
    intervals : bool
        Show each mean's interval (scriptsize).

    Returns
    -------
    str
    """
    out = [f"% {_legend(sig)}"]
    for group in sig.groups:
        head, body = _grid(sig, group, intervals, latex=True)
        if not body:
            continue
        out += [r"\begin{table}[t]", r"\centering", r"\small",
                rf"\caption{{{_tex_escape(group)}: mean over images; \textbf{{bold}}: best; $^\dagger$: not "
                rf"significantly worse (paired bootstrap, Holm, $\alpha={sig.alpha}$).}}",
                r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule",
                " & ".join(_tex_escape(h) if "$" not in h else h for h in head) + r" \\", r"\midrule"]
        out += [" & ".join([_tex_escape(r[0])] + r[1:]) + r" \\" for r in body]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


def pairs_csv(sig: Significance) -> str:
    """``significance.csv``: every pair's difference, interval, statistic and p-values (raw and Holm).

    Parameters
    ----------
    sig : Significance

    Returns
    -------
    str
        CSV with the columns of :data:`PAIR_COLUMNS`, 6 significant digits.
    """
    return sig.pairs.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def summary_csv(sig: Significance) -> str:
    """Per (group, metric, method): N, mean, interval, best, not_worse.

    Parameters
    ----------
    sig : Significance

    Returns
    -------
    str
        CSV with the columns of :data:`SUMMARY_COLUMNS`, 6 significant digits.
    """
    return sig.summary.to_csv(index=False, float_format="%.6g", lineterminator="\n")
