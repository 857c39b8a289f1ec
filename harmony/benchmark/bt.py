"""Bradley-Terry scores of pairwise (2AFC) user studies: fit, intervals, significance, rater QC.

Pure module (no files, no printing). Facts followed: REFERENCE.md section 7.

Model: P(i preferred to j) = exp(s_i) / (exp(s_i) + exp(s_j)), s = natural-log strengths.

* **Engine**: choix 0.4.1 ``ilsr_pairwise_dense`` on the count matrix ``C[i, j]`` = times i beat j (ties
  count 0.5 each way with ``ties="half"``, or are dropped). Its output is centred to mean 0.
* **Existence**: the maximum-likelihood estimate exists only when the "i beat j" graph is strongly
  connected (Zermelo 1929; Hunter 2004). :func:`check_connectivity` says which methods break it (never
  wins, never loses, never compared, or groups with no win path between them). With ``alpha = 0`` (the
  default) the global fit refuses such data with that message; ``alpha > 0`` uses choix's regularised
  chain (a prior worth ``alpha`` virtual comparisons between every pair) and always returns finite scores.
* **Pooling**: ``global`` = one fit of all votes; ``per-image`` = Lai et al. 2016 (CVPR; their code
  ``BT_EM_exp.m`` / ``demo_bt_ranking.m``): one fit per image with the EM/MM update
  ``s_i <- log(W_i / sum_j N_ij / (e^s_i + e^s_j))`` started at s = 1 (at most 5000 iterations, stop when
  the L2 norm of the change is below 1e-8), non-finite scores dropped, each image centred on the mean of
  its finite scores, then the mean over images. A method that never wins on an image gets -inf there and
  is dropped from that image. (Lai's MATLAB loop also stops as soon as the change contains a NaN, i.e.
  after two iterations on such images; ``lai_original_stop=True`` reproduces that, the default iterates
  the finite scores to convergence.) With ``alpha > 0`` the per-image fits use choix instead.
* **Scales** (papers differ): ``centered`` (log-strengths, mean 0), ``sum1`` (``exp(s)/sum exp(s)``, as
  SPRIH Table 3, seed 001), ``ref:NAME`` (NAME fixed at 0, as Agresti's Table 10.11 with Baltimore = 0).
* **Uncertainty**: bootstrap percentile intervals, resampling raters (default where rater ids exist),
  votes or images; resampling is done on count matrices (per-unit cell counts times multinomial weights),
  never on vote rows, so 1,000 replicates of 1M votes take about a second. Pairwise "A better than B"
  probabilities come from the replicates. The global fit also has Hessian (observed Fisher information)
  standard errors; the centred covariance is the pseudo-inverse of the information matrix.
* **Significance** (Lai et al.): rank by total wins; i and j differ when ``|w_i - w_j| >= R``,
  ``R = ceil(0.5 W sqrt(S M) + 0.25)``, S = votes per pair, W = upper-alpha point of the range of M
  standard normals (:func:`range_quantile`, by numeric integration). Agreement: Kendall's u.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..parallel import as_rng

# ---------------------------------------------------------------------------------------------------
# count matrices


def cells_from_votes(winner: np.ndarray, loser: np.ndarray, tie: np.ndarray, m: int,
                     unit: np.ndarray | None = None, n_units: int = 1) -> np.ndarray:
    """Cell counts (n_units, 2*m*m): cell ``w*m + l`` = w beat l; cell ``m*m + lo*m + hi`` = a tie.

    One ``np.bincount`` over the votes (no Python loop). ``unit`` (int codes) splits counts per rater /
    image for the bootstrap.
    """
    k = 2 * m * m
    lo = np.minimum(winner, loser)
    hi = np.maximum(winner, loser)
    cell = np.where(tie, m * m + lo * m + hi, winner * m + loser).astype(np.int64)
    if unit is None:
        return np.bincount(cell, minlength=k).astype(np.float64)[None, :]
    idx = unit.astype(np.int64) * k + cell
    return np.bincount(idx, minlength=n_units * k).astype(np.float64).reshape(n_units, k)


def counts_from_cells(cells: np.ndarray, m: int, ties: str = "half") -> np.ndarray:
    """Win matrices ``C[..., i, j]`` from cell counts (..., 2*m*m); ties add 0.5 each way when ``half``."""
    cells = np.asarray(cells, dtype=np.float64)
    lead = cells.shape[:-1]
    wins = cells[..., : m * m].reshape(*lead, m, m)
    if ties == "half":
        t = cells[..., m * m:].reshape(*lead, m, m)
        wins = wins + 0.5 * (t + np.swapaxes(t, -1, -2))
    return wins


# ---------------------------------------------------------------------------------------------------
# connectivity


@dataclass
class Connectivity:
    strongly_connected: bool
    never_wins: list[str] = field(default_factory=list)
    never_loses: list[str] = field(default_factory=list)
    never_compared: list[str] = field(default_factory=list)
    components: list[list[str]] = field(default_factory=list)   # strongly connected groups (if > 1)
    message: str = "the comparison graph is strongly connected: the maximum-likelihood estimate exists"

    def as_dict(self) -> dict:
        return {"strongly_connected": self.strongly_connected, "never_wins": self.never_wins,
                "never_loses": self.never_loses, "never_compared": self.never_compared,
                "components": self.components, "message": self.message}


def _n_strong(adj: np.ndarray) -> tuple[int, np.ndarray]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    return connected_components(csr_matrix(adj), directed=True, connection="strong")


def strongly_connected_batch(Cs: np.ndarray) -> np.ndarray:
    """(B,) bool for a stack of count matrices (B, M, M): reachability by repeated boolean squaring."""
    Cs = np.asarray(Cs)
    m = Cs.shape[-1]
    R = ((Cs > 0) | np.eye(m, dtype=bool)).astype(np.float32)
    for _ in range(max(1, int(np.ceil(np.log2(max(m - 1, 1)))))):
        R = (np.matmul(R, R) > 0).astype(np.float32)
    return (R > 0).all(axis=(-1, -2))


def is_strongly_connected(C: np.ndarray) -> bool:
    """True when every method has a path of wins to every other (the MLE exists)."""
    return bool(strongly_connected_batch(np.asarray(C)[None])[0])


def check_connectivity(C: np.ndarray, methods: list[str]) -> Connectivity:
    """Say whether the "i beat j" graph is strongly connected and, if not, which methods break it."""
    C = np.asarray(C, dtype=np.float64)
    m = C.shape[0]
    n, labels = _n_strong(C > 0)
    if n == 1:
        return Connectivity(True)
    wins = C.sum(1)
    losses = C.sum(0)
    never_cmp = [methods[i] for i in range(m) if wins[i] + losses[i] == 0]
    never_w = [methods[i] for i in range(m) if wins[i] == 0 and losses[i] > 0]
    never_l = [methods[i] for i in range(m) if losses[i] == 0 and wins[i] > 0]
    comps = [[methods[i] for i in np.flatnonzero(labels == c)] for c in range(n)]
    comps.sort(key=lambda g: (-len(g), g))
    parts = []
    if never_w:
        parts.append("never wins: " + ", ".join(never_w))
    if never_l:
        parts.append("never loses: " + ", ".join(never_l))
    if never_cmp:
        parts.append("never compared: " + ", ".join(never_cmp))
    named = set(never_w) | set(never_l) | set(never_cmp)
    rest = [g for g in comps if not set(g) <= named]
    undirected, _ = _n_strong(((C + C.T) > 0) | np.eye(m, dtype=bool))
    if len(rest) > 1 or not parts:
        kind = "disconnected groups" if undirected > 1 + len(never_cmp) else "groups with no win path between them"
        parts.append(kind + ": " + " | ".join("{" + ", ".join(g) + "}" for g in rest))
    msg = "comparison graph is not strongly connected (no finite maximum-likelihood estimate): " + "; ".join(parts)
    return Connectivity(False, never_w, never_l, never_cmp, comps, msg)


# ---------------------------------------------------------------------------------------------------
# fits


def fit(C: np.ndarray, *, alpha: float = 0.0, methods: list[str] | None = None, initial=None,
        tol: float = 1e-10, max_iter: int = 10000) -> np.ndarray:
    """Centred log-strengths from a win-count matrix with choix ``ilsr_pairwise_dense``.

    With ``alpha == 0`` a graph that is not strongly connected raises InputError naming the methods that
    break it (the estimate would be infinite or arbitrary); ``alpha > 0`` regularises.
    """
    import choix

    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
        raise ValueError(f"C: expected a square (M, M) count matrix with M >= 2, got shape {C.shape}")
    if (C < 0).any() or not np.isfinite(C).all():
        raise ValueError("C: counts must be finite and >= 0")
    if alpha < 0:
        raise ValueError("alpha: must be >= 0")
    if alpha == 0 and not is_strongly_connected(C):
        names = methods or [str(i) for i in range(C.shape[0])]
        raise InputError(check_connectivity(C, names).message + "; pass --alpha 0.01 (or larger) to regularise")
    C = C.copy()
    np.fill_diagonal(C, 0.0)
    s = choix.ilsr_pairwise_dense(C, alpha=alpha, initial_params=initial, max_iter=max_iter, tol=tol)
    return s - s.mean()


def fit_lai(Cs: np.ndarray, *, start: float = 1.0, max_iter: int = 5000, tol: float = 1e-8,
            original_stop: bool = False) -> np.ndarray:
    """Lai et al.'s per-image EM/MM fit, vectorised over images: ``Cs`` (I, M, M) -> (I, M) raw scores.

    Entries are -inf for a method that never wins on that image, NaN for one not compared there, and may
    be large (unconverged) for one that never loses; the caller drops non-finite values.
    """
    Cs = np.asarray(Cs, dtype=np.float64)
    n_img, m, _ = Cs.shape
    N = Cs + np.swapaxes(Cs, 1, 2)
    wins = Cs.sum(2)
    compared = N.sum(2) > 0
    s = np.where(compared, float(start), np.nan)
    active = np.ones(n_img, bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            sa = s[idx]
            e = np.exp(sa)
            L = e[:, :, None] + e[:, None, :]
            Na = N[idx]
            q = Na / L if original_stop else np.where(Na > 0, Na / L, 0.0)   # literal N./L: 0/0 = NaN
            s_next = np.log(wins[idx] / q.sum(2))
            s_next = np.where(compared[idx], s_next, np.nan)
            delta = s_next - sa
            if original_stop:
                norm = np.sqrt(np.sum(delta * delta, axis=1))          # NaN as soon as any entry is NaN
            else:
                same = (s_next == sa) | (np.isnan(s_next) & np.isnan(sa))
                d = np.where(np.isfinite(delta), delta, np.where(same, 0.0, np.inf))
                norm = np.sqrt(np.sum(d * d, axis=1))
            s[idx] = s_next
            active[idx] = norm > tol
    return s


def centre_per_image(S: np.ndarray) -> np.ndarray:
    """Lai's per-image centring: non-finite -> NaN, subtract each row's mean of its finite entries."""
    S = np.where(np.isfinite(S), S, np.nan)
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(S).sum(1, keepdims=True)
        mean = np.where(cnt > 0, np.nansum(S, 1, keepdims=True) / np.maximum(cnt, 1), np.nan)
    return S - mean


def fit_per_image(Cs: np.ndarray, *, alpha: float = 0.0, original_stop: bool = False) -> np.ndarray:
    """Per-image centred scores (I, M) (NaN where dropped): Lai's MM when alpha == 0, else choix."""
    if alpha > 0:
        out = np.full(Cs.shape[:2], np.nan)
        for k, C in enumerate(Cs):
            used = (C.sum(0) + C.sum(1)) > 0
            if used.sum() >= 2:
                out[k, used] = fit(C[np.ix_(used, used)], alpha=alpha)
        return out
    return centre_per_image(fit_lai(Cs, original_stop=original_stop))


def pooled_mean(P: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean over images of the finite per-image scores; ``weights`` (B, I) gives B weighted means."""
    fin = np.isfinite(P)
    Z = np.where(fin, P, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if weights is None:
            return Z.sum(0) / fin.sum(0)
        return (weights @ Z) / (weights @ fin.astype(np.float64))


# ---------------------------------------------------------------------------------------------------
# standard errors and scales


def fisher_information(C: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Observed = expected information of the BT log-likelihood at s (a weighted graph Laplacian)."""
    N = np.asarray(C, float) + np.asarray(C, float).T
    np.fill_diagonal(N, 0.0)
    p = 1.0 / (1.0 + np.exp(s[None, :] - s[:, None]))
    w = N * p * (1.0 - p)
    return np.diag(w.sum(1)) - w


def centred_covariance(C: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Covariance of the centred log-strengths: Moore-Penrose pseudo-inverse of the information."""
    return np.linalg.pinv(fisher_information(C, s), hermitian=True)


def parse_scale(scale: str, methods: list[str]) -> tuple[str, int | None]:
    """``centered`` | ``sum1`` | ``ref:NAME`` -> (kind, reference index)."""
    if scale in ("centered", "centred"):
        return "centered", None
    if scale == "sum1":
        return "sum1", None
    if scale.startswith("ref:"):
        name = scale[4:]
        if name not in methods:
            raise InputError(f"--scale: reference method {name!r} is not among the methods "
                             f"({', '.join(methods)})")
        return "ref", methods.index(name)
    raise InputError(f"--scale: expected centered, sum1 or ref:NAME, got {scale!r}")


def to_scale(s: np.ndarray, kind: str, ref: int | None = None) -> np.ndarray:
    """Centred log-strengths (..., M) -> the chosen scale (works on bootstrap stacks too)."""
    s = np.asarray(s, dtype=np.float64)
    if kind == "centered":
        return s - np.nanmean(s, axis=-1, keepdims=True)
    if kind == "ref":
        return s - s[..., ref:ref + 1]
    if kind == "sum1":
        z = s - np.nanmax(s, axis=-1, keepdims=True)
        e = np.exp(z)
        return e / np.nansum(e, axis=-1, keepdims=True)
    raise ValueError(f"unknown scale kind {kind!r}")


def scale_covariance(cov: np.ndarray, s: np.ndarray, kind: str, ref: int | None = None) -> np.ndarray:
    """Covariance of ``to_scale(s)`` from the centred covariance (linear maps / delta method)."""
    m = len(s)
    if kind == "centered":
        return cov
    if kind == "ref":
        A = np.eye(m)
        A[:, ref] -= 1.0
        return A @ cov @ A.T
    p = to_scale(s, "sum1")
    J = np.diag(p) - np.outer(p, p)
    return J @ cov @ J.T


# ---------------------------------------------------------------------------------------------------
# bootstrap


def bootstrap_weights(n_units: int, n_boot: int, rng) -> np.ndarray:
    """(n_boot, n_units) multinomial resampling counts (a bootstrap sample of units, as weights)."""
    rng = as_rng(rng)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(np.float64)


def bootstrap_cells(unit_cells: np.ndarray, n_boot: int, rng, *, by_vote: bool = False) -> np.ndarray:
    """Resampled cell counts (n_boot, K): units with multinomial weights, or votes (multinomial on cells).

    Resampling votes with replacement is exactly a multinomial draw of the total over the cells with
    probabilities cell/total, so no vote list is touched.
    """
    rng = as_rng(rng)
    if by_vote:
        tot = unit_cells.sum(0)
        n = int(round(tot.sum()))
        return rng.multinomial(n, tot / tot.sum(), size=n_boot).astype(np.float64)
    W = bootstrap_weights(unit_cells.shape[0], n_boot, rng)
    return W @ unit_cells


def bootstrap_global(rep_counts: np.ndarray, *, alpha: float = 0.0, initial=None, tol: float = 1e-8) -> tuple[np.ndarray, int]:
    """Fit each replicate count matrix (B, M, M); replicates without a finite MLE (alpha = 0) are NaN."""
    import choix

    B, m, _ = rep_counts.shape
    out = np.full((B, m), np.nan)
    ok = strongly_connected_batch(rep_counts) if alpha == 0 else np.ones(B, bool)
    failed = int((~ok).sum())
    for b in np.flatnonzero(ok):
        try:
            s = choix.ilsr_pairwise_dense(rep_counts[b], alpha=alpha, initial_params=initial, max_iter=1000,
                                          tol=tol)
            out[b] = s - s.mean()
        except (RuntimeError, ValueError):
            failed += 1
    return out, failed


# ---------------------------------------------------------------------------------------------------
# significance and agreement


def range_cdf(w: float, m: int) -> float:
    """P(range of m iid standard normals <= w).

    Parameters
    ----------
    w : float
        Range threshold (>= 0).
    m : int
        Number of normals (methods), >= 2.

    Returns
    -------
    float
        ``scipy.stats.studentized_range.cdf(w, m, inf)``: the studentized range with infinite degrees of
        freedom, i.e. the range of ``m`` standard normals (David, 1988, used by Lai et al. 2016).
    """
    from scipy.stats import studentized_range

    if w <= 0:
        return 0.0
    return float(studentized_range.cdf(w, m, np.inf))


def range_quantile(m: int, alpha: float = 0.01) -> float:
    """W_{m, alpha}: the upper-alpha point of the range of m standard normals.

    Parameters
    ----------
    m : int
        Number of methods, >= 2.
    alpha : float
        Upper-tail probability in (0, 1).

    Returns
    -------
    float
        ``scipy.stats.studentized_range.isf(alpha, m, inf)`` (studentized range, df = inf).

    Raises
    ------
    ValueError
        ``m < 2`` or ``alpha`` outside (0, 1).
    """
    from scipy.stats import studentized_range

    if m < 2:
        raise ValueError("m: need at least two methods")
    if not 0 < alpha < 1:
        raise ValueError("alpha: must be in (0, 1)")
    return float(studentized_range.isf(alpha, m, np.inf))


def significance_groups(wins: np.ndarray, R: float) -> list[str]:
    """Letters: methods sharing a letter do not differ (|w_i - w_j| < R); runs over methods sorted by wins."""
    wins = np.asarray(wins, float)
    order = np.argsort(-wins, kind="stable")
    w = wins[order]
    m = len(w)
    runs = []
    last_end = -1
    for i in range(m):
        j = i
        while j + 1 < m and w[i] - w[j + 1] < R:
            j += 1
        if j > last_end:
            runs.append((i, j))
            last_end = j
    letters = [""] * m
    for k, (i, j) in enumerate(runs):
        ch = chr(ord("a") + k) if k < 26 else f"[{k}]"
        for t in range(i, j + 1):
            letters[order[t]] += ch
    return letters


def range_test(wins: np.ndarray, n_votes: float, *, alpha: float = 0.01) -> dict:
    """Lai et al.'s test on total wins: R = ceil(0.5 W sqrt(S M) + 0.25), S = ceil(votes / C(M, 2))."""
    wins = np.asarray(wins, float)
    m = len(wins)
    S = math.ceil(n_votes / math.comb(m, 2))
    W = range_quantile(m, alpha)
    R = math.ceil(0.5 * W * math.sqrt(S * m) + 0.25)
    diff = np.abs(wins[:, None] - wins[None, :])
    return {"alpha": alpha, "M": m, "S": S, "W": W, "R": R, "significant": diff >= R,
            "groups": significance_groups(wins, R)}


def kendall_u(C: np.ndarray, votes_per_pair: float | None = None) -> float:
    """Kendall's coefficient of agreement u = 2 sum_ij C(c_ij, 2) / (C(M, 2) C(m, 2)) - 1.

    ``m`` = votes per pair (default: round(total / C(M, 2)), as Lai et al.); u = 1 when every vote on
    every pair agrees. Counts below 2 contribute 0 (C(c, 2) = 0), as in Lai's code.
    """
    C = np.asarray(C, float)
    M = C.shape[0]
    mask = ~np.eye(M, dtype=bool)
    c = C[mask]
    m = votes_per_pair if votes_per_pair is not None else round(c.sum() / math.comb(M, 2))
    denom = math.comb(M, 2) * (m * (m - 1) / 2)
    if denom <= 0:
        return float("nan")
    w = float(np.sum(np.where(c > 1, c * (c - 1) / 2, 0.0)))
    return 2 * w / denom - 1


# ---------------------------------------------------------------------------------------------------
# rater quality control


def rater_table(rater: np.ndarray, n_raters: int, a: np.ndarray, b: np.ndarray, choice: np.ndarray,
                sentinel: np.ndarray, correct: np.ndarray, a_left: np.ndarray, m: int,
                chunk: int = 2048) -> pd.DataFrame:
    """Per-rater QC (vectorised): votes, sentinel accuracy, left/right bias, circular triads.

    ``rater`` int codes (0..n_raters-1); ``choice`` 0 = a, 1 = b, 2 = tie; ``correct`` the method code
    that must win a sentinel pair (-1 if unknown). Circular triads: on each rater's majority preference
    between pairs (all images pooled; a split pair is undecided), the number of 3-cycles i > j > k > i,
    and the number of triples whose three pairs are all decided.
    """
    from scipy.special import bdtr, bdtrc

    r = rater.astype(np.int64)
    ns = ~sentinel
    votes = np.bincount(r[ns], minlength=n_raters)
    ties = np.bincount(r[ns & (choice == 2)], minlength=n_raters)
    chosen = np.where(choice == 0, a, np.where(choice == 1, b, -1))
    s_tot = np.bincount(r[sentinel], minlength=n_raters)
    s_ok = np.bincount(r[sentinel & (chosen == correct) & (correct >= 0)], minlength=n_raters)
    decided = choice != 2
    left = np.where(a_left, choice == 0, choice == 1) & decided
    n_dec = np.bincount(r[decided], minlength=n_raters)
    n_left = np.bincount(r[left], minlength=n_raters)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(s_tot > 0, s_ok / np.maximum(s_tot, 1), np.nan)
        left_rate = np.where(n_dec > 0, n_left / np.maximum(n_dec, 1), np.nan)
    with np.errstate(invalid="ignore"):
        lo = bdtr(n_left, n_dec, 0.5)                                   # P(X <= k)
        hi = np.where(n_left > 0, bdtrc(np.maximum(n_left - 1, 0), n_dec, 0.5), 1.0)   # P(X >= k)
    left_p = np.where(n_dec > 0, np.minimum(1.0, 2 * np.minimum(lo, hi)), np.nan)
    # circular triads on majority preferences, in chunks of raters
    keep = ns & decided
    w_code = np.where(choice == 0, a, b)[keep].astype(np.int64)
    l_code = np.where(choice == 0, b, a)[keep].astype(np.int64)
    rk = r[keep]
    cyc = np.zeros(n_raters)
    tri = np.zeros(n_raters)
    for start in range(0, n_raters, chunk):
        stop = min(n_raters, start + chunk)
        sel = (rk >= start) & (rk < stop)
        idx = (rk[sel] - start) * m * m + w_code[sel] * m + l_code[sel]
        Wr = np.bincount(idx, minlength=(stop - start) * m * m).reshape(stop - start, m, m)
        A = (Wr > np.swapaxes(Wr, 1, 2)).astype(np.float64)
        D = A + np.swapaxes(A, 1, 2)
        cyc[start:stop] = np.einsum("rij,rjk,rki->r", A, A, A) / 3.0
        tri[start:stop] = np.einsum("rij,rjk,rki->r", D, D, D) / 6.0
    return pd.DataFrame({"votes": votes, "ties": ties, "sentinels": s_tot, "sentinel_correct": s_ok,
                         "sentinel_accuracy": acc, "left_rate": left_rate, "left_p": left_p,
                         "circular_triads": cyc.astype(np.int64), "decided_triads": tri.astype(np.int64)})


# ---------------------------------------------------------------------------------------------------
# the whole analysis


@dataclass
class BTResult:
    table: pd.DataFrame              # one row per method, sorted by rank
    settings: dict
    connectivity: Connectivity
    raters: pd.DataFrame | None      # per-rater QC (None without rater ids)
    excluded_raters: list[str]
    win_matrix: pd.DataFrame         # C[i, j] = times i beat j (ties as set by `ties`)
    pairwise_prob: pd.DataFrame      # P(row better than column), bootstrap (or normal approximation)
    range_test: dict
    kendall_u: float
    replicates: np.ndarray | None    # (B, M) centred log-strengths per bootstrap replicate
    covariance: np.ndarray | None    # centred covariance (global fit)
    per_image: np.ndarray | None     # (I, M) per-image centred scores (per-image pooling)
    notes: list[str] = field(default_factory=list)
    image_ids: list[str] | None = None   # row labels of per_image

    def as_dict(self) -> dict:
        rows = self.table.replace({np.nan: None}).to_dict(orient="records")
        rt = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.range_test.items()}
        return {"rows": rows, "settings": self.settings, "excluded_raters": self.excluded_raters,
                "connectivity": self.connectivity.as_dict(), "range_test": rt,
                "kendall_u": None if not np.isfinite(self.kendall_u) else self.kendall_u,
                "win_matrix": {"methods": list(self.win_matrix.index),
                               "counts": self.win_matrix.to_numpy().tolist()},
                "pairwise_prob": {"methods": list(self.pairwise_prob.index),
                                  "p_row_better": np.round(self.pairwise_prob.to_numpy(), 6).tolist()},
                "notes": self.notes}


def _rank(scores: np.ndarray) -> np.ndarray:
    r = pd.Series(np.round(scores, 9)).rank(ascending=False, method="min")   # equal up to rounding = tie
    return r.to_numpy()


def score_votes(log, *, pool: str = "global", scale: str = "centered", ties: str = "half",
                alpha: float = 0.0, n_boot: int = 1000, by: str | None = None, seed: int = 0,
                ci: float = 0.95, sentinel_method: str | None = None, min_sentinel_accuracy: float = 0.8,
                range_alpha: float = 0.01, lai_original_stop: bool = False, model: str = "bt") -> BTResult:
    """Score a :class:`harmony.benchmark.userstudy.VoteLog` (see the module docstring for the protocol).

    ``model="thurstone"`` fits Thurstone Case V instead (:func:`fit_thurstone`, JOD units; global pool,
    scales ``centered`` or ``ref:NAME`` only); everything else (QC, bootstrap, table) is shared.

    Steps: mark sentinels -> rater QC (exclude raters below ``min_sentinel_accuracy``; sentinel rows never
    enter the fit) -> ties policy -> connectivity check -> fit (``pool``) -> bootstrap (``n_boot`` replicates
    resampling ``by`` = rater | vote | image, seeded) -> scale -> table, range test, Kendall u.
    """
    if pool not in ("global", "per-image"):
        raise InputError(f"--pool: expected global or per-image, got {pool!r}")
    if model not in ("bt", "thurstone"):
        raise InputError(f"--model: expected bt or thurstone, got {model!r}")
    if model == "thurstone" and pool != "global":
        raise InputError("--model thurstone: only --pool global is implemented")
    if model == "thurstone" and scale == "sum1":
        raise InputError("--model thurstone: JOD scores have no sum-to-one scale; use centered or ref:NAME")
    if ties not in ("drop", "half"):
        raise InputError(f"--ties: expected drop or half, got {ties!r}")
    if not 0 < ci < 1:
        raise InputError("--ci: must be in (0, 1)")
    if n_boot < 0:
        raise InputError("--bootstrap: must be >= 0")
    notes: list[str] = []
    df = log.df
    methods_all = list(log.methods)
    a = df["a"].to_numpy(np.int64)
    b = df["b"].to_numpy(np.int64)
    choice = df["choice"].to_numpy(np.int64)
    sent = df["is_sentinel"].to_numpy(bool).copy()
    correct = df["correct"].to_numpy(np.int64).copy()
    a_left = df["a_left"].to_numpy(bool)

    # sentinels
    if sentinel_method is not None:
        if sentinel_method not in methods_all:
            raise InputError(f"--sentinel-method: {sentinel_method!r} does not occur in the votes "
                             f"(methods: {', '.join(methods_all)})")
        k = methods_all.index(sentinel_method)
        hit = (a == k) | (b == k)
        sent |= hit
        correct = np.where(hit, k, correct)
    outside = np.unique(np.concatenate([a[~sent], b[~sent]]))
    if outside.size < 2:
        raise InputError(f"only {outside.size} method(s) ({', '.join(methods_all[i] for i in outside) or 'none'}) "
                         f"outside sentinel pairs; a Bradley-Terry ranking needs at least two")
    unknown = sent & (correct < 0)
    if unknown.any():
        raise InputError(f"{int(unknown.sum())} sentinel rows have no known answer: give --sentinel-method NAME "
                         f"(the method that must be chosen) or a `correct` column")

    # rater QC
    raters_df = None
    excluded: list[str] = []
    keep = ~sent
    if log.has_raters:
        rc = df["rater_id"].cat.codes.to_numpy(np.int64)
        rnames = list(map(str, df["rater_id"].cat.categories))
        if (rc < 0).any():
            rnames = rnames + ["<missing>"]
            rc = np.where(rc < 0, len(rnames) - 1, rc)
        raters_df = rater_table(rc, len(rnames), a, b, choice, sent, correct, a_left, len(methods_all))
        raters_df.insert(0, "rater_id", rnames)
        bad = (raters_df["sentinels"] > 0) & (raters_df["sentinel_accuracy"] < min_sentinel_accuracy)
        raters_df["excluded"] = bad.to_numpy()
        excluded = raters_df.loc[bad, "rater_id"].tolist()
        keep &= ~bad.to_numpy()[rc]
        raters_df = raters_df[raters_df["votes"] + raters_df["sentinels"] > 0].reset_index(drop=True)
    elif sent.any():
        notes.append("sentinel rows were dropped, but without rater ids no rater can be excluded")
    if ties == "drop":
        n_ties = int((keep & (choice == 2)).sum())
        keep &= choice != 2
        if n_ties:
            notes.append(f"{n_ties} tie votes dropped (--ties drop)")
    if not keep.any():
        raise InputError("no votes left after removing sentinel rows, excluded raters and ties")

    # methods that remain
    voted = np.zeros(len(methods_all), bool)
    voted[a[~sent]] = True
    voted[b[~sent]] = True
    a, b, choice = a[keep], b[keep], choice[keep]
    present = np.zeros(len(methods_all), bool)
    present[a] = True
    present[b] = True
    for i in np.flatnonzero(voted & ~present):
        notes.append(f"method {methods_all[i]} has no votes left after quality control and is not scored")
    remap = np.cumsum(present) - 1
    methods = [methods_all[i] for i in np.flatnonzero(present)]
    a, b = remap[a], remap[b]
    m = len(methods)
    if m < 2:
        raise InputError(f"only one method ({', '.join(methods)}) left after quality control; need two")
    tie = choice == 2
    winner = np.where(choice == 1, b, a)
    loser = np.where(choice == 1, a, b)
    kind, ref = parse_scale(scale, methods)

    # units for the bootstrap / pooling
    img_codes = None
    image_ids = None
    if log.has_images:
        cats = list(map(str, df["image_id"].cat.categories))
        ic = df["image_id"].cat.codes.to_numpy(np.int64)[keep]
        ic = np.where(ic < 0, len(cats), ic)                       # rows without an image id: one group
        uniq, img_codes = np.unique(ic, return_inverse=True)
        n_img = len(uniq)
        image_ids = [cats[u] if u < len(cats) else "<missing>" for u in uniq]
    rat_codes = None
    if log.has_raters:
        rcode = rc[keep]
        uniq_r, rat_codes = np.unique(rcode, return_inverse=True)
        n_rat = len(uniq_r)
    if pool == "per-image" and img_codes is None:
        raise InputError("--pool per-image needs image ids (an image_id / Image ID column)")
    if by is None:
        by = "image" if pool == "per-image" else ("rater" if rat_codes is not None else "vote")
    if by not in ("rater", "vote", "image"):
        raise InputError(f"--by: expected rater, vote or image, got {by!r}")
    if by == "rater" and rat_codes is None:
        raise InputError("--by rater needs rater ids (a rater_id / worker / judge column); use --by vote")
    if by == "image" and img_codes is None:
        raise InputError("--by image needs image ids; use --by vote")
    if pool == "per-image" and by != "image" and n_boot > 0:
        raise InputError("--pool per-image resamples images (--by image): the per-image scores are the units")

    cells = cells_from_votes(winner, loser, tie, m)[0]
    C = counts_from_cells(cells, m, ties)
    conn = check_connectivity(C, methods)
    n_votes = float(len(winner))
    rng = np.random.default_rng(seed)

    replicates = None
    cov = None
    per_image = None
    failed = 0
    if pool == "global" and model == "thurstone":
        s = fit_thurstone(C, alpha=alpha, methods=methods)
        cov = thurstone_covariance(C + (alpha if alpha > 0 else 0.0), s)
        if n_boot > 0:
            if by == "vote":
                rep_cells = bootstrap_cells(cells[None, :], n_boot, rng, by_vote=True)
            else:
                codes, n_u = (rat_codes, n_rat) if by == "rater" else (img_codes, n_img)
                rep_cells = bootstrap_cells(cells_from_votes(winner, loser, tie, m, codes, n_u), n_boot, rng)
            replicates, failed = bootstrap_thurstone(counts_from_cells(rep_cells, m, ties), alpha=alpha)
    elif pool == "global":
        s = fit(C, alpha=alpha, methods=methods)
        cov = centred_covariance(C, s)
        if n_boot > 0:
            if by == "vote":
                rep_cells = bootstrap_cells(cells[None, :], n_boot, rng, by_vote=True)
            else:
                codes, n_u = (rat_codes, n_rat) if by == "rater" else (img_codes, n_img)
                unit_cells = cells_from_votes(winner, loser, tie, m, codes, n_u)
                rep_cells = bootstrap_cells(unit_cells, n_boot, rng)
            replicates, failed = bootstrap_global(counts_from_cells(rep_cells, m, ties), alpha=alpha, initial=s)
    else:
        Cs = counts_from_cells(cells_from_votes(winner, loser, tie, m, img_codes, n_img), m, ties)
        per_image = fit_per_image(Cs, alpha=alpha, original_stop=lai_original_stop)
        s = pooled_mean(per_image)
        dropped = int((~np.isfinite(per_image) & (Cs.sum(2) + Cs.sum(1) > 0)).sum())
        if dropped:
            notes.append(f"{dropped} per-image scores were not finite (a method that never wins on an image) "
                         f"and were dropped before averaging, as Lai et al.")
        if n_boot > 0:
            W = bootstrap_weights(n_img, n_boot, rng)
            replicates = pooled_mean(per_image, W)
        if not np.isfinite(s).all():
            bad = [methods[i] for i in np.flatnonzero(~np.isfinite(s))]
            notes.append(f"no finite per-image score for: {', '.join(bad)}")

    score = to_scale(s, kind, ref)
    from scipy.special import ndtri
    z = float(ndtri(0.5 + ci / 2))
    se = np.full(m, np.nan)
    if cov is not None:
        se = np.sqrt(np.clip(np.diag(scale_covariance(cov, s, kind, ref)), 0, None))
    elif per_image is not None and kind != "sum1":
        P = to_scale(per_image, "ref", ref) if kind == "ref" else per_image
        fin = np.isfinite(P)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            # one image per method gives no spread: NaN, not a "Degrees of freedom <= 0" warning
            warnings.simplefilter("ignore", RuntimeWarning)
            se = np.nanstd(np.where(fin, P, np.nan), axis=0, ddof=1) / np.sqrt(fin.sum(0))
    # Replicates without a finite estimate for every method are counted once, here, and left out
    # before any reduction (numpy would warn "Mean of empty slice" on their all-NaN rows).
    ok = np.isfinite(replicates).all(1) if replicates is not None else np.zeros(0, bool)
    if replicates is not None and int((~ok).sum()):
        why = ("the resampled votes did not connect every method both ways, so no maximum-likelihood "
               "estimate exists; --alpha 0.01 regularises" if pool == "global" else
               "a method had no finite per-image score on any resampled image")
        notes.append(f"bootstrap: {int((~ok).sum())} of {n_boot} replicates failed ({why}); the intervals use "
                     f"the other {int(ok.sum())}")
    if replicates is not None and ok.any():
        reps = to_scale(replicates[ok], kind, ref)
        lo, hi = np.percentile(reps, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
        ci_method = f"bootstrap percentile ({int(ok.sum())} replicates, by {by})"
        d = replicates[ok][:, :, None] - replicates[ok][:, None, :]
        prob = (d > 0).mean(0) + 0.5 * (d == 0).mean(0)
    else:
        lo, hi = score - z * se, score + z * se
        ci_method = "normal (Hessian standard errors)" if cov is not None else "normal (across-image standard errors)"
        prob = np.full((m, m), np.nan)
        if cov is not None:
            from scipy.special import ndtr
            var = np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov
            with np.errstate(invalid="ignore", divide="ignore"):
                prob = ndtr((s[:, None] - s[None, :]) / np.sqrt(np.where(var > 0, var, np.nan)))
        np.fill_diagonal(prob, 0.5)

    wins = C.sum(1)
    votes = np.bincount(winner, minlength=m) + np.bincount(loser, minlength=m)
    rt = range_test(wins, n_votes, alpha=range_alpha)
    table = pd.DataFrame({
        "method": methods, "votes": votes.astype(np.int64), "wins": wins,
        "preference": wins / n_votes, "win_rate": np.where(votes > 0, wins / np.maximum(votes, 1), np.nan),
        "score": score, "se": se, "ci_low": lo, "ci_high": hi, "rank": _rank(score),
        "group": rt["groups"],
    })
    table = table.sort_values(["rank", "method"], na_position="last", kind="stable").reset_index(drop=True)
    settings = {"pool": pool, "scale": scale, "ties": ties, "alpha": alpha, "bootstrap": n_boot, "by": by,
                "seed": seed, "ci": ci, "ci_method": ci_method, "sentinel_method": sentinel_method,
                "min_sentinel_accuracy": min_sentinel_accuracy, "range_alpha": range_alpha,
                "format": log.format, "sources": log.sources, "votes_used": int(n_votes),
                "votes_read": int(len(df)), "unanswered": log.unanswered,
                "sentinel_rows": int(sent.sum()), "methods": methods,
                "engine": ("Thurstone Case V ML (Newton), JOD units" if model == "thurstone" else
                           "choix.ilsr_pairwise_dense" if (pool == "global" or alpha > 0) else "Lai et al. MM (BT_EM_exp)"),
                "model": model}
    return BTResult(table=table, settings=settings, connectivity=conn, raters=raters_df,
                    excluded_raters=excluded,
                    win_matrix=pd.DataFrame(C, index=methods, columns=methods),
                    pairwise_prob=pd.DataFrame(prob, index=methods, columns=methods),
                    range_test=rt, kendall_u=kendall_u(C), replicates=replicates, covariance=cov,
                    per_image=per_image, notes=notes,
                    image_ids=image_ids if per_image is not None else None)


# ---------------------------------------------------------------------------------------------------
# Thurstone Case V (JOD units) and observer screening, as pwcmp (Perez-Ortiz and Mantiuk 2017)

#: pwcmp's observer-noise sigma: Phi(1 / JOD_SIGMA) = 0.75, so 1 JOD = 75 % of raters prefer the better
JOD_SIGMA = 1.4826


def thurstone_nll(C: np.ndarray, q: np.ndarray, sigma: float = JOD_SIGMA) -> float:
    """Negative log-likelihood of Thurstone Case V: ``-sum_ij C_ij log Phi((q_i - q_j) / sigma)``."""
    from scipy.special import log_ndtr

    C = np.asarray(C, float)
    d = (q[:, None] - q[None, :]) / sigma
    mask = C > 0
    return float(-np.sum(C[mask] * log_ndtr(d[mask])))


def _thurstone_grad_hess(C: np.ndarray, q: np.ndarray, sigma: float):
    from scipy.special import log_ndtr

    d = (q[:, None] - q[None, :]) / sigma
    lam = np.exp(-0.5 * d * d - 0.5 * math.log(2 * math.pi) - log_ndtr(d))    # phi(d) / Phi(d), stable
    g = -(C * lam).sum(1) / sigma + (C * lam).sum(0) / sigma
    w = C * lam * (d + lam) / sigma ** 2        # -d^2/dd^2 log Phi(d) = lam (d + lam) >= 0
    w = w + w.T
    np.fill_diagonal(w, 0.0)
    H = np.diag(w.sum(1)) - w
    return g, H


def fit_thurstone(C: np.ndarray, *, alpha: float = 0.0, methods: list[str] | None = None,
                  sigma: float = JOD_SIGMA, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Thurstone Case V maximum-likelihood scores in JOD units (centred to mean 0).

    Model (Thurstone 1927; pwcmp's ``pw_scale``, Perez-Ortiz and Mantiuk 2017):
    ``P(i preferred to j) = Phi((q_i - q_j) / sigma)`` with ``sigma = 1.4826``, so a difference of 1 JOD
    ("just objectionable difference") means 75 % of raters prefer the better condition. ``C[i, j]`` = times
    i beat j (ties as 0.5 each way are fine). The negative log-likelihood is convex; it is minimised by
    Newton's method on the scores with the first one held at 0, then centred. The estimate exists under the
    same condition as Bradley-Terry's (a strongly connected "i beat j" graph): with ``alpha == 0`` other
    data raise InputError naming the methods; ``alpha > 0`` adds ``alpha`` virtual wins each way to every
    pair (shrinking toward equal scores). pwcmp's default distance prior for sparse designs is not
    implemented; this is the plain maximum-likelihood scale.
    """
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
        raise ValueError(f"C: expected a square (M, M) count matrix with M >= 2, got shape {C.shape}")
    if (C < 0).any() or not np.isfinite(C).all():
        raise ValueError("C: counts must be finite and >= 0")
    m = C.shape[0]
    C = C.copy()
    if alpha > 0:
        C = C + alpha
    elif not is_strongly_connected(C):
        names = methods or [str(i) for i in range(m)]
        raise InputError(check_connectivity(C, names).message + "; pass --alpha 0.01 (or larger) to regularise")
    np.fill_diagonal(C, 0.0)
    q = np.zeros(m)
    f = thurstone_nll(C, q, sigma)
    for _ in range(max_iter):
        g, H = _thurstone_grad_hess(C, q, sigma)
        step = np.zeros(m)
        step[1:] = np.linalg.solve(H[1:, 1:], -g[1:])
        t = 1.0
        while True:                                   # backtracking keeps every step a descent step
            q_new = q + t * step
            f_new = thurstone_nll(C, q_new, sigma)
            if f_new <= f + 1e-4 * t * float(g @ step) or t < 1e-10:
                break
            t *= 0.5
        done = np.max(np.abs(q_new - q)) < tol
        q, f = q_new, f_new
        if done:
            break
    return q - q.mean()


def thurstone_covariance(C: np.ndarray, q: np.ndarray, sigma: float = JOD_SIGMA) -> np.ndarray:
    """Covariance of the centred JOD scores: pseudo-inverse of the observed information (Hessian)."""
    C = np.asarray(C, float).copy()
    np.fill_diagonal(C, 0.0)
    _g, H = _thurstone_grad_hess(C, np.asarray(q, float), sigma)
    return np.linalg.pinv(H, hermitian=True)


def bootstrap_thurstone(rep_counts: np.ndarray, *, alpha: float = 0.0) -> tuple[np.ndarray, int]:
    """Fit Thurstone Case V to each replicate count matrix (B, M, M); failures are NaN rows."""
    B, m, _ = rep_counts.shape
    out = np.full((B, m), np.nan)
    ok = strongly_connected_batch(rep_counts) if alpha == 0 else np.ones(B, bool)
    failed = int((~ok).sum())
    for b in np.flatnonzero(ok):
        out[b] = fit_thurstone(rep_counts[b], alpha=alpha, tol=1e-8)
    return out, failed


def observer_log_likelihood(C_rater: np.ndarray, q: np.ndarray, sigma: float = JOD_SIGMA) -> float:
    """pwcmp's per-observer log-likelihood: ``sum_{i<j} log Binom(M_ij; M_ij + M_ji, Phi((q_i - q_j)/sigma))``.

    ``C_rater[i, j]`` = times this observer chose i over j; pairs the observer never saw are skipped; each
    probability is floored at 1e-200 as in pwcmp's ``pw_outlier_analysis.m``. Natural logarithm.
    """
    from scipy.special import gammaln, ndtr

    M = np.asarray(C_rater, float)
    D = M + M.T
    P = ndtr((q[:, None] - q[None, :]) / sigma)
    iu = np.triu_indices(len(q), 1)
    k, n, p = M[iu], D[iu], P[iu]
    sel = n > 0
    k, n, p = k[sel], n[sel], p[sel]
    with np.errstate(divide="ignore"):
        logp = (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
                + np.where(k > 0, k * np.log(p), 0.0) + np.where(n - k > 0, (n - k) * np.log1p(-p), 0.0))
    return float(np.sum(np.maximum(logp, math.log(1e-200))))


def outlier_distance(L: np.ndarray) -> np.ndarray:
    """pwcmp's outlier score: ``(Q1 - L) / IQR`` where ``L < Q1``, else 0 (Q1, IQR of all observers' L).

    Quartiles as MATLAB/Octave ``quantile`` and ``iqr`` compute them (piecewise linear with p_k =
    (k - 0.5) / n, numpy's ``hazen`` method). pwcmp suggests investigating observers above 1.5.
    """
    L = np.asarray(L, float)
    q1, q3 = np.quantile(L, [0.25, 0.75], method="hazen")
    iqr = q3 - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(L < q1, (q1 - L) / iqr, 0.0)
    return dist


def screen_observers(rater_cells: np.ndarray, m: int, *, ties: str = "half", alpha: float = 0.0,
                     sigma: float = JOD_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """pwcmp's observer outlier analysis (``pw_outlier_analysis``) on per-rater cell counts.

    For each rater k: scale the votes of all other raters (Thurstone Case V, :func:`fit_thurstone`), then
    compute the log-likelihood of rater k's own votes under that scale (:func:`observer_log_likelihood`).
    Returns ``(L, dist)`` with ``dist = outlier_distance(L)``. All images are pooled into one scene (pwcmp
    sums the likelihoods over scenes scaled separately; here the methods are ranked over all composites).
    A leave-one-out count matrix that is not strongly connected is scaled with ``alpha = max(alpha, 0.01)``.
    """
    Cr = counts_from_cells(rater_cells, m, ties)           # (R, M, M)
    total = Cr.sum(0)
    L = np.zeros(len(Cr))
    for k in range(len(Cr)):
        rest = total - Cr[k]
        a = alpha if (alpha > 0 or is_strongly_connected(rest)) else 0.01
        q = fit_thurstone(rest, alpha=max(a, alpha), sigma=sigma, tol=1e-8)
        L[k] = observer_log_likelihood(Cr[k], q, sigma)
    return L, outlier_distance(L)


def screen_raters(log, *, ties: str = "half", threshold: float = 1.5, sentinel_method: str | None = None,
                  alpha: float = 0.0) -> pd.DataFrame:
    """pwcmp observer screening of a :class:`~harmony.benchmark.userstudy.VoteLog` (non-sentinel votes).

    Returns one row per rater: ``rater_id``, ``votes``, ``log_likelihood`` (natural log, the rater's votes
    under the Thurstone scale of everyone else), ``outlier_score`` (:func:`outlier_distance`) and
    ``outlier`` (score above ``threshold``; pwcmp suggests 1.5). Needs rater ids and three or more raters.
    """
    if not log.has_raters:
        raise InputError("--screen-raters needs rater ids (a rater_id / worker / judge column)")
    df = log.df
    sent = df["is_sentinel"].to_numpy(bool)
    if sentinel_method is not None and sentinel_method in log.methods:
        k = log.methods.index(sentinel_method)
        sent = sent | (df["a"].to_numpy() == k) | (df["b"].to_numpy() == k)
    choice = df["choice"].to_numpy(np.int64)
    keep = ~sent & (df["rater_id"].cat.codes.to_numpy() >= 0)
    if ties == "drop":
        keep &= choice != 2
    a = df["a"].to_numpy(np.int64)[keep]
    b = df["b"].to_numpy(np.int64)[keep]
    ch = choice[keep]
    rc = df["rater_id"].cat.codes.to_numpy(np.int64)[keep]
    uniq, codes = np.unique(rc, return_inverse=True)
    if len(uniq) < 3:
        raise InputError(f"--screen-raters: needs at least three raters with votes, got {len(uniq)}")
    used = np.unique(np.concatenate([a, b]))
    remap = np.full(len(log.methods), -1)
    remap[used] = np.arange(len(used))
    a, b = remap[a], remap[b]
    m = len(used)
    winner = np.where(ch == 1, b, a)
    loser = np.where(ch == 1, a, b)
    cells = cells_from_votes(winner, loser, ch == 2, m, codes, len(uniq))
    L, dist = screen_observers(cells, m, ties=ties, alpha=alpha)
    names = [str(c) for c in df["rater_id"].cat.categories[uniq]]
    return pd.DataFrame({"rater_id": names, "votes": np.bincount(codes, minlength=len(uniq)),
                         "log_likelihood": L, "outlier_score": dist, "outlier": dist > threshold})
