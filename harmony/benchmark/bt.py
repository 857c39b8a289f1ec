"""Bradley-Terry scores of pairwise (2AFC) user studies: fit, intervals, significance, rater QC.

Pure module (no files, no printing). :func:`score_votes` runs the whole analysis as named steps:
sentinels and rater QC -> vote filter -> fit -> bootstrap -> intervals -> table.

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
  SPRIH's Table 3), ``ref:NAME`` (NAME fixed at 0, as Agresti's Table 10.11 with Baltimore = 0).
* **Uncertainty**: bootstrap percentile intervals, resampling raters (default where rater ids exist),
  votes or images; resampling is done on count matrices (per-unit cell counts times multinomial weights),
  never on vote rows, so 1,000 replicates of 1M votes take about a second. Pairwise "A better than B"
  probabilities come from the replicates. The global fit also has Hessian (observed Fisher information)
  standard errors; the centred covariance is the pseudo-inverse of the information matrix.
* **Significance** (Lai et al.): rank by total wins; i and j differ when ``|w_i - w_j| >= R``,
  ``R = ceil(0.5 W sqrt(S M) + 0.25)``, S = votes per pair, W = upper-alpha point of the range of M
  standard normals (:func:`range_quantile`, ``scipy.stats.studentized_range`` with infinite degrees of
  freedom). Agreement: Kendall's u.
* **Thurstone Case V** (JOD units) and pwcmp's observer screening: :func:`fit_thurstone`,
  :func:`screen_raters`.

References
----------
Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block designs: I. The method of paired
comparisons. Biometrika 39(3/4), 324-345.
Zermelo, E. (1929). Die Berechnung der Turnier-Ergebnisse als ein Maximumproblem der
Wahrscheinlichkeitsrechnung. Math. Z. 29.
Hunter, D. R. (2004). MM algorithms for generalized Bradley-Terry models. Ann. Statist. 32(1), 384-406.
Maystre, L. and Grossglauser, M. (2015). Fast and accurate inference of Plackett-Luce models. NIPS
(the choix package: ``ilsr_pairwise_dense``).
Lai, W.-S., Huang, J.-B., Hu, Z., Ahuja, N. and Yang, M.-H. (2016). A comparative study for single image
blind deblurring. CVPR (code: ``BT_EM_exp.m``, ``demo_bt_ranking.m``).
Agresti, A. (2002). Categorical Data Analysis, 2nd ed., section 10.6 (Table 10.11).
Thurstone, L. L. (1927). A law of comparative judgment. Psychological Review 34(4), 273-286.
Perez-Ortiz, M. and Mantiuk, R. K. (2017). A practical guide and software for analysing pairwise
comparison experiments. arXiv:1712.03686 (the pwcmp toolbox).
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
    """Cell counts of votes: cell ``w*m + l`` counts "w beat l", cell ``m*m + lo*m + hi`` a tie of lo and hi.

    One ``np.bincount`` over the votes (no Python loop). With ``unit`` the counts are split per rater or
    image, the layout the bootstrap resamples (:func:`bootstrap_cells`).

    Parameters
    ----------
    winner, loser : numpy.ndarray
        ``(N,)`` int method codes in ``0 .. m-1`` (for a tie: the two sides in either order).
    tie : numpy.ndarray
        ``(N,)`` bool.
    m : int
        Number of methods.
    unit : numpy.ndarray, optional
        ``(N,)`` int unit code in ``0 .. n_units-1`` of each vote.
    n_units : int
        Number of units (with ``unit``).

    Returns
    -------
    numpy.ndarray
        ``(n_units, 2*m*m)`` float64 counts (``(1, 2*m*m)`` without ``unit``).
    """
    n_cells = 2 * m * m
    lo = np.minimum(winner, loser)
    hi = np.maximum(winner, loser)
    cell = np.where(tie, m * m + lo * m + hi, winner * m + loser).astype(np.int64)
    if unit is None:
        return np.bincount(cell, minlength=n_cells).astype(np.float64)[None, :]
    index = unit.astype(np.int64) * n_cells + cell
    return np.bincount(index, minlength=n_units * n_cells).astype(np.float64).reshape(n_units, n_cells)


def counts_from_cells(cells: np.ndarray, m: int, ties: str = "half") -> np.ndarray:
    """Win-count matrices ``C[..., i, j]`` (times i beat j) from cell counts.

    Parameters
    ----------
    cells : numpy.ndarray
        ``(..., 2*m*m)`` counts from :func:`cells_from_votes` (any leading shape: replicates, units).
    m : int
        Number of methods.
    ties : {"half", "drop"}
        ``half`` adds half a win each way for every tie; ``drop`` ignores the tie cells.

    Returns
    -------
    numpy.ndarray
        ``(..., m, m)`` float64, diagonal 0.
    """
    cells = np.asarray(cells, dtype=np.float64)
    lead = cells.shape[:-1]
    wins = cells[..., : m * m].reshape(*lead, m, m)
    if ties == "half":
        tie_cells = cells[..., m * m:].reshape(*lead, m, m)
        wins = wins + 0.5 * (tie_cells + np.swapaxes(tie_cells, -1, -2))
    return wins


# ---------------------------------------------------------------------------------------------------
# connectivity


@dataclass
class Connectivity:
    """Whether the "i beat j" graph is strongly connected, and which methods break it.

    The Bradley-Terry maximum-likelihood estimate is finite and unique exactly when every method has a
    path of wins to every other (Zermelo 1929; Hunter 2004, assumption 1).

    Attributes
    ----------
    strongly_connected : bool
        The estimate exists.
    never_wins, never_loses, never_compared : list of str
        Methods whose estimate would be -inf, +inf or undetermined.
    components : list of list of str
        Strongly connected groups, largest first (when there are several).
    message : str
        One line saying the above, used in error messages.
    """
    strongly_connected: bool
    never_wins: list[str] = field(default_factory=list)
    never_loses: list[str] = field(default_factory=list)
    never_compared: list[str] = field(default_factory=list)
    components: list[list[str]] = field(default_factory=list)   # strongly connected groups (if > 1)
    message: str = "the comparison graph is strongly connected: the maximum-likelihood estimate exists"

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict (the ``connectivity`` entry of ``scores.json``).

        Returns
        -------
        dict
            ``strongly_connected``, ``never_wins``, ``never_loses``, ``never_compared``, ``components``,
            ``message``.
        """
        return {"strongly_connected": self.strongly_connected, "never_wins": self.never_wins,
                "never_loses": self.never_loses, "never_compared": self.never_compared,
                "components": self.components, "message": self.message}


def _n_strong(adjacency: np.ndarray) -> tuple[int, np.ndarray]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    return connected_components(csr_matrix(adjacency), directed=True, connection="strong")


def strongly_connected_batch(counts: np.ndarray) -> np.ndarray:
    """Strong connectivity of a stack of count matrices, by repeated boolean squaring of the reachability.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(B, M, M)`` win counts (any entry > 0 is an edge i -> j).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` bool: every method reaches every other through wins.
    """
    counts = np.asarray(counts)
    m = counts.shape[-1]
    reach = ((counts > 0) | np.eye(m, dtype=bool)).astype(np.float32)
    for _ in range(max(1, int(np.ceil(np.log2(max(m - 1, 1)))))):
        reach = (np.matmul(reach, reach) > 0).astype(np.float32)
    return (reach > 0).all(axis=(-1, -2))


def is_strongly_connected(counts: np.ndarray) -> bool:
    """True when every method has a path of wins to every other (the maximum-likelihood estimate exists).

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.

    Returns
    -------
    bool
    """
    return bool(strongly_connected_batch(np.asarray(counts)[None])[0])


def check_connectivity(counts: np.ndarray, methods: list[str]) -> Connectivity:
    """Say whether the "i beat j" graph is strongly connected and, if not, which methods break it.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    methods : list of str
        Names of the ``M`` methods.

    Returns
    -------
    Connectivity
        With a one-line message naming the methods that never win, never lose, were never compared, or
        the groups with no win path between them.

    References
    ----------
    Hunter, D. R. (2004). MM algorithms for generalized Bradley-Terry models. Ann. Statist. 32(1).
    """
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.shape[0]
    n_groups, labels = _n_strong(counts > 0)
    if n_groups == 1:
        return Connectivity(True)
    wins = counts.sum(1)
    losses = counts.sum(0)
    never_compared = [methods[i] for i in range(m) if wins[i] + losses[i] == 0]
    never_wins = [methods[i] for i in range(m) if wins[i] == 0 and losses[i] > 0]
    never_loses = [methods[i] for i in range(m) if losses[i] == 0 and wins[i] > 0]
    components = [[methods[i] for i in np.flatnonzero(labels == c)] for c in range(n_groups)]
    components.sort(key=lambda g: (-len(g), g))
    parts = []
    if never_wins:
        parts.append("never wins: " + ", ".join(never_wins))
    if never_loses:
        parts.append("never loses: " + ", ".join(never_loses))
    if never_compared:
        parts.append("never compared: " + ", ".join(never_compared))
    named = set(never_wins) | set(never_loses) | set(never_compared)
    rest = [g for g in components if not set(g) <= named]
    undirected, _ = _n_strong(((counts + counts.T) > 0) | np.eye(m, dtype=bool))
    if len(rest) > 1 or not parts:
        kind = "disconnected groups" if undirected > 1 + len(never_compared) else "groups with no win path between them"
        parts.append(kind + ": " + " | ".join("{" + ", ".join(g) + "}" for g in rest))
    message = "comparison graph is not strongly connected (no finite maximum-likelihood estimate): " + "; ".join(parts)
    return Connectivity(False, never_wins, never_loses, never_compared, components, message)


# ---------------------------------------------------------------------------------------------------
# fits


def fit(counts: np.ndarray, *, alpha: float = 0.0, methods: list[str] | None = None, initial=None,
        tol: float = 1e-10, max_iter: int = 10000) -> np.ndarray:
    """Centred Bradley-Terry log-strengths from a win-count matrix (choix ``ilsr_pairwise_dense``).

    Model: ``P(i preferred to j) = exp(s_i) / (exp(s_i) + exp(s_j))``. The maximum-likelihood estimate
    is the stationary distribution of a Markov chain built from the counts, iterated to convergence
    (ILSR, Maystre and Grossglauser 2015).

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` finite, >= 0 win counts, ``M >= 2`` (ties as 0.5 each way are fine).
    alpha : float
        Regularisation (>= 0): a prior worth ``alpha`` virtual comparisons between every pair.
    methods : list of str, optional
        Names used in the error message.
    initial : numpy.ndarray, optional
        ``(M,)`` starting log-strengths.
    tol, max_iter
        choix's convergence tolerance and iteration limit.

    Returns
    -------
    numpy.ndarray
        ``(M,)`` float64 natural-log strengths with mean 0.

    Raises
    ------
    ValueError
        ``counts`` not square, negative or not finite; ``alpha < 0``.
    InputError
        ``alpha == 0`` and the graph is not strongly connected (the estimate would be infinite or
        arbitrary); the message names the methods (:func:`check_connectivity`).

    References
    ----------
    Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block designs: I. The method of
    paired comparisons. Biometrika 39(3/4).
    Maystre, L. and Grossglauser, M. (2015). Fast and accurate inference of Plackett-Luce models. NIPS.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.array([[0, 3], [1, 0]])       # method 0 beat method 1 three times out of four
    >>> s = fit(counts)
    >>> round(float(s[0] - s[1]), 6) == round(float(np.log(3)), 6)
    True
    """
    import choix

    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(f"C: expected a square (M, M) count matrix with M >= 2, got shape {counts.shape}")
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise ValueError("C: counts must be finite and >= 0")
    if alpha < 0:
        raise ValueError("alpha: must be >= 0")
    if alpha == 0 and not is_strongly_connected(counts):
        names = methods or [str(i) for i in range(counts.shape[0])]
        raise InputError(check_connectivity(counts, names).message + "; pass --alpha 0.01 (or larger) to regularise")
    counts = counts.copy()
    np.fill_diagonal(counts, 0.0)
    scores = choix.ilsr_pairwise_dense(counts, alpha=alpha, initial_params=initial, max_iter=max_iter, tol=tol)
    return scores - scores.mean()


def fit_lai(counts: np.ndarray, *, start: float = 1.0, max_iter: int = 5000, tol: float = 1e-8,
            original_stop: bool = False) -> np.ndarray:
    """Lai et al.'s per-image EM/MM Bradley-Terry fit (their ``BT_EM_exp.m``), vectorised over images.

    Update ``s_i <- log(W_i / sum_j N_ij / (exp(s_i) + exp(s_j)))`` (Hunter 2004's MM step on
    log-strengths) from ``s = start``, until the L2 norm of the change is below ``tol``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(I, M, M)`` per-image win counts.
    start : float
        Initial log-strength of every compared method (Lai: 1).
    max_iter : int
        Iteration limit (Lai: 5000).
    tol : float
        Stop when the norm of the change falls below this (Lai: 1e-8).
    original_stop : bool
        Stop an image as soon as its change contains a NaN, as the MATLAB loop does.

    Returns
    -------
    numpy.ndarray
        ``(I, M)`` raw scores: -inf for a method that never wins on that image, NaN for one not compared
        there, possibly large (unconverged) for one that never loses; the caller drops non-finite values.

    References
    ----------
    Lai, W.-S., Huang, J.-B., Hu, Z., Ahuja, N. and Yang, M.-H. (2016). A comparative study for single
    image blind deblurring. CVPR.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_img, m, _ = counts.shape
    n_pairs = counts + np.swapaxes(counts, 1, 2)
    wins = counts.sum(2)
    compared = n_pairs.sum(2) > 0
    scores = np.where(compared, float(start), np.nan)
    active = np.ones(n_img, bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            index = np.flatnonzero(active)
            if index.size == 0:
                break
            current = scores[index]
            strength = np.exp(current)
            pair_strength = strength[:, :, None] + strength[:, None, :]
            n_active = n_pairs[index]
            ratio = n_active / pair_strength if original_stop else np.where(n_active > 0, n_active / pair_strength, 0.0)   # literal N./L: 0/0 = NaN
            updated = np.log(wins[index] / ratio.sum(2))
            updated = np.where(compared[index], updated, np.nan)
            change = updated - current
            if original_stop:
                norm = np.sqrt(np.sum(change * change, axis=1))          # NaN as soon as any entry is NaN
            else:
                same = (updated == current) | (np.isnan(updated) & np.isnan(current))
                finite_change = np.where(np.isfinite(change), change, np.where(same, 0.0, np.inf))
                norm = np.sqrt(np.sum(finite_change * finite_change, axis=1))
            scores[index] = updated
            active[index] = norm > tol
    return scores


def centre_per_image(scores: np.ndarray) -> np.ndarray:
    """Lai's per-image centring: non-finite scores become NaN, each row minus the mean of its finite entries.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(I, M)`` per-image scores.

    Returns
    -------
    numpy.ndarray
        ``(I, M)`` float64 with finite entries of each row summing to 0 (all-NaN rows stay NaN).
    """
    scores = np.where(np.isfinite(scores), scores, np.nan)
    with np.errstate(invalid="ignore"):
        n_finite = np.isfinite(scores).sum(1, keepdims=True)
        mean = np.where(n_finite > 0, np.nansum(scores, 1, keepdims=True) / np.maximum(n_finite, 1), np.nan)
    return scores - mean


def fit_per_image(counts: np.ndarray, *, alpha: float = 0.0, original_stop: bool = False) -> np.ndarray:
    """Per-image centred scores: Lai's MM fit when ``alpha == 0``, else a regularised choix fit per image.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(I, M, M)`` per-image win counts.
    alpha : float
        Regularisation (>= 0); > 0 fits each image's compared methods with :func:`fit`.
    original_stop : bool
        Passed to :func:`fit_lai`.

    Returns
    -------
    numpy.ndarray
        ``(I, M)`` centred scores, NaN where a method was dropped on that image.
    """
    if alpha > 0:
        scores = np.full(counts.shape[:2], np.nan)
        for image, image_counts in enumerate(counts):
            used = (image_counts.sum(0) + image_counts.sum(1)) > 0
            if used.sum() >= 2:
                scores[image, used] = fit(image_counts[np.ix_(used, used)], alpha=alpha)
        return scores
    return centre_per_image(fit_lai(counts, original_stop=original_stop))


def pooled_mean(per_image: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean over images of the finite per-image scores (Lai's pooling), optionally weighted.

    Parameters
    ----------
    per_image : numpy.ndarray
        ``(I, M)`` per-image scores (NaN = dropped).
    weights : numpy.ndarray, optional
        ``(B, I)`` image weights (bootstrap counts): returns B weighted means.

    Returns
    -------
    numpy.ndarray
        ``(M,)`` or ``(B, M)``; NaN where a method has no finite score.
    """
    finite = np.isfinite(per_image)
    filled = np.where(finite, per_image, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if weights is None:
            return filled.sum(0) / finite.sum(0)
        return (weights @ filled) / (weights @ finite.astype(np.float64))


# ---------------------------------------------------------------------------------------------------
# standard errors and scales


def fisher_information(counts: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Observed (= expected) information of the Bradley-Terry log-likelihood at ``scores``.

    A weighted graph Laplacian: off-diagonal ``-n_ij p_ij (1 - p_ij)`` with ``n_ij`` the comparisons of i
    and j and ``p_ij`` the model's probability that i wins.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    scores : numpy.ndarray
        ``(M,)`` log-strengths.

    Returns
    -------
    numpy.ndarray
        ``(M, M)`` symmetric positive semi-definite matrix with zero row sums.
    """
    n_pairs = np.asarray(counts, float) + np.asarray(counts, float).T
    np.fill_diagonal(n_pairs, 0.0)
    p_win = 1.0 / (1.0 + np.exp(scores[None, :] - scores[:, None]))
    weight = n_pairs * p_win * (1.0 - p_win)
    return np.diag(weight.sum(1)) - weight


def centred_covariance(counts: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Covariance of the centred log-strengths: the Moore-Penrose pseudo-inverse of the information.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    scores : numpy.ndarray
        ``(M,)`` fitted log-strengths.

    Returns
    -------
    numpy.ndarray
        ``(M, M)`` covariance (rows sum to 0). Its diagonal square roots match BradleyTerry2's standard
        errors once mapped to a reference scale (:func:`scale_covariance`).
    """
    return np.linalg.pinv(fisher_information(counts, scores), hermitian=True)


def parse_scale(scale: str, methods: list[str]) -> tuple[str, int | None]:
    """Parse a ``--scale`` value.

    Parameters
    ----------
    scale : str
        ``centered`` (or ``centred``), ``sum1`` or ``ref:NAME``.
    methods : list of str
        The scored methods (NAME must be one).

    Returns
    -------
    kind : {"centered", "sum1", "ref"}
    ref : int or None
        Index of NAME for ``ref``.

    Raises
    ------
    InputError
        Unknown scale, or NAME is not a method.
    """
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


def to_scale(scores: np.ndarray, kind: str, ref: int | None = None) -> np.ndarray:
    """Map centred log-strengths to a reporting scale (works on bootstrap stacks too).

    Parameters
    ----------
    scores : numpy.ndarray
        ``(..., M)`` log-strengths.
    kind : {"centered", "ref", "sum1"}
        Mean 0; method ``ref`` at 0 (Agresti 2002, Table 10.11); or ``exp(s) / sum exp(s)`` in (0, 1)
        summing to 1 (as SPRIH's Table 3).
    ref : int, optional
        Reference index for ``ref``.

    Returns
    -------
    numpy.ndarray
        ``(..., M)`` float64.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if kind == "centered":
        return scores - np.nanmean(scores, axis=-1, keepdims=True)
    if kind == "ref":
        return scores - scores[..., ref:ref + 1]
    if kind == "sum1":
        shifted = scores - np.nanmax(scores, axis=-1, keepdims=True)
        strength = np.exp(shifted)
        return strength / np.nansum(strength, axis=-1, keepdims=True)
    raise ValueError(f"unknown scale kind {kind!r}")


def scale_covariance(covariance: np.ndarray, scores: np.ndarray, kind: str, ref: int | None = None) -> np.ndarray:
    """Covariance of ``to_scale(scores)`` from the centred covariance (a linear map, or the delta method for
    ``sum1``).

    Parameters
    ----------
    covariance : numpy.ndarray
        ``(M, M)`` covariance of the centred log-strengths.
    scores : numpy.ndarray
        ``(M,)`` centred log-strengths.
    kind : {"centered", "ref", "sum1"}
    ref : int, optional

    Returns
    -------
    numpy.ndarray
        ``(M, M)``.
    """
    m = len(scores)
    if kind == "centered":
        return covariance
    if kind == "ref":
        transform = np.eye(m)
        transform[:, ref] -= 1.0
        return transform @ covariance @ transform.T
    share = to_scale(scores, "sum1")
    jacobian = np.diag(share) - np.outer(share, share)
    return jacobian @ covariance @ jacobian.T


# ---------------------------------------------------------------------------------------------------
# bootstrap


def bootstrap_weights(n_units: int, n_boot: int, rng) -> np.ndarray:
    """Multinomial resampling counts: each row is one bootstrap sample of the units, as weights.

    Parameters
    ----------
    n_units : int
        Units (raters, images).
    n_boot : int
        Replicates.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray
        ``(n_boot, n_units)`` float64 counts, each row summing to ``n_units``.
    """
    rng = as_rng(rng)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(np.float64)


def bootstrap_cells(unit_cells: np.ndarray, n_boot: int, rng, *, by_vote: bool = False) -> np.ndarray:
    """Resampled cell counts: units with multinomial weights, or single votes.

    Resampling votes with replacement is exactly a multinomial draw of the total over the cells with
    probabilities cell / total, so no vote list is touched (1,000 replicates of a million votes in about
    a second).

    Parameters
    ----------
    unit_cells : numpy.ndarray
        ``(U, K)`` per-unit cell counts (:func:`cells_from_votes` with ``unit``).
    n_boot : int
        Replicates.
    rng : int, numpy.random.Generator or None
    by_vote : bool
        Resample votes instead of units.

    Returns
    -------
    numpy.ndarray
        ``(n_boot, K)`` float64 cell counts.
    """
    rng = as_rng(rng)
    if by_vote:
        total = unit_cells.sum(0)
        n = int(round(total.sum()))
        return rng.multinomial(n, total / total.sum(), size=n_boot).astype(np.float64)
    weights = bootstrap_weights(unit_cells.shape[0], n_boot, rng)
    return weights @ unit_cells


def bootstrap_global(counts: np.ndarray, *, alpha: float = 0.0, initial=None, tol: float = 1e-8) -> tuple[np.ndarray, int]:
    """Fit every replicate count matrix with choix; replicates without a finite estimate are NaN rows.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(B, M, M)`` replicate win counts.
    alpha : float
        Regularisation; with 0, replicates that are not strongly connected are skipped.
    initial : numpy.ndarray, optional
        ``(M,)`` warm start (the full-data estimate).
    tol : float
        choix's tolerance.

    Returns
    -------
    scores : numpy.ndarray
        ``(B, M)`` centred log-strengths.
    failed : int
        Replicates without an estimate.
    """
    import choix

    n_boot, m, _ = counts.shape
    scores = np.full((n_boot, m), np.nan)
    ok = strongly_connected_batch(counts) if alpha == 0 else np.ones(n_boot, bool)
    failed = int((~ok).sum())
    for replicate in np.flatnonzero(ok):
        try:
            fitted = choix.ilsr_pairwise_dense(counts[replicate], alpha=alpha, initial_params=initial, max_iter=1000,
                                          tol=tol)
            scores[replicate] = fitted - fitted.mean()
        except (RuntimeError, ValueError):
            failed += 1
    return scores, failed


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


def significance_groups(wins: np.ndarray, critical: float) -> list[str]:
    """Group letters of Lai et al.'s range test: methods sharing a letter do not differ.

    Runs over the methods sorted by wins: each maximal run whose first and last differ by less than
    ``critical`` wins gets a letter (``a``, ``b``, ... then ``[26]``, ...).

    Parameters
    ----------
    wins : numpy.ndarray
        ``(M,)`` total wins.
    critical : float
        The critical difference R of :func:`range_test`.

    Returns
    -------
    list of str
        ``M`` letter strings, in the order of ``wins``.
    """
    wins = np.asarray(wins, float)
    order = np.argsort(-wins, kind="stable")
    sorted_wins = wins[order]
    m = len(sorted_wins)
    runs = []
    last_end = -1
    for i in range(m):
        j = i
        while j + 1 < m and sorted_wins[i] - sorted_wins[j + 1] < critical:
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
    """Lai et al.'s significance test on total wins (after David 1988).

    ``R = ceil(0.5 W sqrt(S M) + 0.25)`` with ``S = ceil(votes / C(M, 2))`` the votes per pair and ``W``
    the upper-alpha point of the range of M standard normals (:func:`range_quantile`); two methods
    differ when their wins differ by at least R.

    Parameters
    ----------
    wins : numpy.ndarray
        ``(M,)`` total wins.
    n_votes : float
        Votes used.
    alpha : float
        Level in (0, 1).

    Returns
    -------
    dict
        ``alpha``, ``M``, ``S``, ``W``, ``R``, ``significant`` (``(M, M)`` bool) and ``groups``
        (:func:`significance_groups`).
    """
    wins = np.asarray(wins, float)
    m = len(wins)
    S = math.ceil(n_votes / math.comb(m, 2))
    W = range_quantile(m, alpha)
    R = math.ceil(0.5 * W * math.sqrt(S * m) + 0.25)
    diff = np.abs(wins[:, None] - wins[None, :])
    return {"alpha": alpha, "M": m, "S": S, "W": W, "R": R, "significant": diff >= R,
            "groups": significance_groups(wins, R)}


def kendall_u(counts: np.ndarray, votes_per_pair: float | None = None) -> float:
    """Kendall's coefficient of agreement ``u = 2 sum_ij C(c_ij, 2) / (C(M, 2) C(m, 2)) - 1``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    votes_per_pair : float, optional
        ``m`` (default ``round(total / C(M, 2))``, as Lai et al.).

    Returns
    -------
    float
        1 when every vote on every pair agrees; NaN when fewer than two votes per pair. Counts below 2
        contribute 0, as in Lai's code.

    References
    ----------
    Kendall, M. G. and Babington Smith, B. (1940). On the method of paired comparisons. Biometrika 31.
    """
    counts = np.asarray(counts, float)
    n_methods = counts.shape[0]
    mask = ~np.eye(n_methods, dtype=bool)
    cell = counts[mask]
    per_pair = votes_per_pair if votes_per_pair is not None else round(cell.sum() / math.comb(n_methods, 2))
    denom = math.comb(n_methods, 2) * (per_pair * (per_pair - 1) / 2)
    if denom <= 0:
        return float("nan")
    agreeing = float(np.sum(np.where(cell > 1, cell * (cell - 1) / 2, 0.0)))
    return 2 * agreeing / denom - 1


# ---------------------------------------------------------------------------------------------------
# rater quality control


def rater_table(rater: np.ndarray, n_raters: int, a: np.ndarray, b: np.ndarray, choice: np.ndarray,
                sentinel: np.ndarray, correct: np.ndarray, a_left: np.ndarray, m: int,
                chunk: int = 2048) -> pd.DataFrame:
    """Per-rater quality control, vectorised: votes, sentinel accuracy, left/right bias, circular triads.

    Parameters
    ----------
    rater : numpy.ndarray
        ``(N,)`` int rater codes in ``0 .. n_raters-1``.
    n_raters : int
    a, b : numpy.ndarray
        ``(N,)`` int method codes.
    choice : numpy.ndarray
        ``(N,)`` 0 = a, 1 = b, 2 = tie.
    sentinel : numpy.ndarray
        ``(N,)`` bool.
    correct : numpy.ndarray
        ``(N,)`` method code that must win a sentinel (-1 unknown).
    a_left : numpy.ndarray
        ``(N,)`` bool: a was shown on the left.
    m : int
        Number of methods.
    chunk : int
        Raters per block of the triad count (memory ``chunk * m * m``).

    Returns
    -------
    pandas.DataFrame
        One row per rater code: ``votes``, ``ties`` (non-sentinel), ``sentinels``, ``sentinel_correct``,
        ``sentinel_accuracy`` (NaN without sentinels), ``left_rate`` and ``left_p`` (two-sided binomial
        test of left clicks against 0.5), ``circular_triads`` (3-cycles i > j > k > i of the rater's
        majority preferences, all images pooled) and ``decided_triads`` (triples whose three pairs are
        decided; Kendall and Babington Smith 1940).
    """
    from scipy.special import bdtr, bdtrc

    codes = rater.astype(np.int64)
    regular = ~sentinel
    votes = np.bincount(codes[regular], minlength=n_raters)
    ties = np.bincount(codes[regular & (choice == 2)], minlength=n_raters)
    chosen = np.where(choice == 0, a, np.where(choice == 1, b, -1))
    n_sentinels = np.bincount(codes[sentinel], minlength=n_raters)
    n_sentinels_right = np.bincount(codes[sentinel & (chosen == correct) & (correct >= 0)], minlength=n_raters)
    decided = choice != 2
    left = np.where(a_left, choice == 0, choice == 1) & decided
    n_decided = np.bincount(codes[decided], minlength=n_raters)
    n_left = np.bincount(codes[left], minlength=n_raters)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_sentinels > 0, n_sentinels_right / np.maximum(n_sentinels, 1), np.nan)
        left_rate = np.where(n_decided > 0, n_left / np.maximum(n_decided, 1), np.nan)
    with np.errstate(invalid="ignore"):
        p_low = bdtr(n_left, n_decided, 0.5)                                   # P(X <= k)
        p_high = np.where(n_left > 0, bdtrc(np.maximum(n_left - 1, 0), n_decided, 0.5), 1.0)   # P(X >= k)
    left_p = np.where(n_decided > 0, np.minimum(1.0, 2 * np.minimum(p_low, p_high)), np.nan)
    # circular triads on majority preferences, in chunks of raters
    keep = regular & decided
    w_code = np.where(choice == 0, a, b)[keep].astype(np.int64)
    l_code = np.where(choice == 0, b, a)[keep].astype(np.int64)
    kept_raters = codes[keep]
    cycles = np.zeros(n_raters)
    triads = np.zeros(n_raters)
    for start in range(0, n_raters, chunk):
        stop = min(n_raters, start + chunk)
        block = (kept_raters >= start) & (kept_raters < stop)
        index = (kept_raters[block] - start) * m * m + w_code[block] * m + l_code[block]
        rater_wins = np.bincount(index, minlength=(stop - start) * m * m).reshape(stop - start, m, m)
        prefers = (rater_wins > np.swapaxes(rater_wins, 1, 2)).astype(np.float64)
        decided_pairs = prefers + np.swapaxes(prefers, 1, 2)
        cycles[start:stop] = np.einsum("rij,rjk,rki->r", prefers, prefers, prefers) / 3.0
        triads[start:stop] = np.einsum("rij,rjk,rki->r", decided_pairs, decided_pairs, decided_pairs) / 6.0
    return pd.DataFrame({"votes": votes, "ties": ties, "sentinels": n_sentinels, "sentinel_correct": n_sentinels_right,
                         "sentinel_accuracy": accuracy, "left_rate": left_rate, "left_p": left_p,
                         "circular_triads": cycles.astype(np.int64), "decided_triads": triads.astype(np.int64)})


# ---------------------------------------------------------------------------------------------------
# the whole analysis: QC -> filter -> fit -> bootstrap -> intervals -> table


@dataclass
class BTResult:
    """Everything :func:`score_votes` computes; :meth:`as_dict` is the ``scores.json`` payload.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scored method, sorted by rank: ``method``, ``votes`` (int64, comparisons the method
        took part in), ``wins`` (float64, ties count 0.5 with ``ties="half"``), ``preference`` (wins / all
        votes, in [0, 1], as RCL's Table V), ``win_rate`` (wins / own votes, in [0, 1]), ``score`` (in the
        chosen scale), ``se``, ``ci_low`` / ``ci_high`` (interval at coverage ``ci``), ``rank`` (1 = best,
        equal scores share the lower rank) and ``group`` (Lai et al.'s range-test letters).
    settings : dict
        The options used and the counts behind them (votes read and used, sentinel rows, engine).
    connectivity : Connectivity
        Whether the maximum-likelihood estimate exists on the votes used.
    raters : pandas.DataFrame or None
        Per-rater quality control (:func:`rater_table` columns plus ``rater_id`` and ``excluded``);
        None without rater ids.
    excluded_raters : list of str
        Raters whose sentinel accuracy fell below the threshold (their votes are not used).
    win_matrix : pandas.DataFrame
        ``(M, M)`` float64: row beat column this many times (ties as set by ``ties``).
    pairwise_prob : pandas.DataFrame
        ``(M, M)`` probability in [0, 1] that the row method is better than the column method: the
        share of bootstrap replicates, or the normal approximation from the covariance without them.
    range_test : dict
        :func:`range_test` on the total wins.
    kendall_u : float
        Kendall's coefficient of agreement (NaN when undefined).
    replicates : numpy.ndarray or None
        ``(B, M)`` centred log-strengths per bootstrap replicate (NaN rows: failed replicates).
    covariance : numpy.ndarray or None
        ``(M, M)`` covariance of the centred scores (global pool only).
    per_image : numpy.ndarray or None
        ``(I, M)`` per-image centred scores (per-image pool only; NaN where a method was dropped).
    notes : list of str
        What the analysis dropped or changed, one sentence each.
    image_ids : list of str or None
        Row labels of ``per_image``.
    """

    table: pd.DataFrame
    settings: dict
    connectivity: Connectivity
    raters: pd.DataFrame | None
    excluded_raters: list[str]
    win_matrix: pd.DataFrame
    pairwise_prob: pd.DataFrame
    range_test: dict
    kendall_u: float
    replicates: np.ndarray | None
    covariance: np.ndarray | None
    per_image: np.ndarray | None
    notes: list[str] = field(default_factory=list)
    image_ids: list[str] | None = None

    def as_dict(self) -> dict:
        """The result as plain JSON types (NaN -> None), the layout of ``bt-score``'s ``scores.json``.

        Returns
        -------
        dict
            ``rows`` (the table's records), ``settings``, ``excluded_raters``, ``connectivity``,
            ``range_test`` (arrays as lists), ``kendall_u``, ``win_matrix`` (``methods``, ``counts``),
            ``pairwise_prob`` (``methods``, ``p_row_better`` rounded to 6 decimals) and ``notes``.
        """
        rows = self.table.replace({np.nan: None}).to_dict(orient="records")
        range_test = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.range_test.items()}
        return {"rows": rows, "settings": self.settings, "excluded_raters": self.excluded_raters,
                "connectivity": self.connectivity.as_dict(), "range_test": range_test,
                "kendall_u": None if not np.isfinite(self.kendall_u) else self.kendall_u,
                "win_matrix": {"methods": list(self.win_matrix.index),
                               "counts": self.win_matrix.to_numpy().tolist()},
                "pairwise_prob": {"methods": list(self.pairwise_prob.index),
                                  "p_row_better": np.round(self.pairwise_prob.to_numpy(), 6).tolist()},
                "notes": self.notes}


def _rank(scores: np.ndarray) -> np.ndarray:
    """Competition ranks (1 = highest); scores equal to 9 decimals tie."""
    ranks = pd.Series(np.round(scores, 9)).rank(ascending=False, method="min")
    return ranks.to_numpy()


def _check_options(*, pool: str, model: str, scale: str, ties: str, ci: float, n_boot: int) -> None:
    """InputError naming the option when a :func:`score_votes` option is outside its choices."""
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


def sentinel_rows(log, sentinel_method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which votes are sentinels, and the method that must win each.

    Parameters
    ----------
    log : harmony.benchmark.userstudy.VoteLog
        The votes.
    sentinel_method : str, optional
        A method whose every comparison is a sentinel with that method as the right answer (SPRIH's
        unedited photo). Ignored when it does not occur in the votes.

    Returns
    -------
    sentinel : numpy.ndarray
        ``(N,)`` bool: the log's ``is_sentinel`` column or a comparison with ``sentinel_method``.
    correct : numpy.ndarray
        ``(N,)`` int64 method code that must be chosen on a sentinel row, -1 where unknown.
    """
    frame = log.df
    sentinel = frame["is_sentinel"].to_numpy(bool).copy()
    correct = frame["correct"].to_numpy(np.int64).copy()
    if sentinel_method is not None and sentinel_method in log.methods:
        code = log.methods.index(sentinel_method)
        hit = (frame["a"].to_numpy() == code) | (frame["b"].to_numpy() == code)
        sentinel |= hit
        correct = np.where(hit, code, correct)
    return sentinel, correct


def _check_sentinels(log, sentinel: np.ndarray, correct: np.ndarray, sentinel_method: str | None) -> None:
    """InputError when the sentinel method is unknown, fewer than two methods are left or an answer is missing."""
    if sentinel_method is not None and sentinel_method not in log.methods:
        raise InputError(f"--sentinel-method: {sentinel_method!r} does not occur in the votes "
                         f"(methods: {', '.join(log.methods)})")
    frame = log.df
    outside = np.unique(np.concatenate([frame["a"].to_numpy(np.int64)[~sentinel],
                                        frame["b"].to_numpy(np.int64)[~sentinel]]))
    if outside.size < 2:
        raise InputError(f"only {outside.size} method(s) ({', '.join(log.methods[i] for i in outside) or 'none'}) "
                         f"outside sentinel pairs; a Bradley-Terry ranking needs at least two")
    unknown = sentinel & (correct < 0)
    if unknown.any():
        raise InputError(f"{int(unknown.sum())} sentinel rows have no known answer: give --sentinel-method NAME "
                         f"(the method that must be chosen) or a `correct` column")


@dataclass
class RaterQC:
    """What :func:`rater_qc` decides.

    Attributes
    ----------
    raters : pandas.DataFrame or None
        Per-rater table (``rater_id``, the :func:`rater_table` columns, ``excluded``) for raters with at
        least one vote or sentinel; None without rater ids.
    excluded : list of str
        Raters below the sentinel-accuracy threshold.
    keep : numpy.ndarray
        ``(N,)`` bool: the vote is not a sentinel and its rater is not excluded.
    rater_codes : numpy.ndarray or None
        ``(N,)`` int64 rater code of every vote (votes without a rater id share the last code).
    """

    raters: pd.DataFrame | None
    excluded: list[str]
    keep: np.ndarray
    rater_codes: np.ndarray | None


def rater_qc(log, sentinel: np.ndarray, correct: np.ndarray, *, min_sentinel_accuracy: float = 0.8,
             notes: list[str] | None = None) -> RaterQC:
    """Rater quality control: per-rater table and the raters below a sentinel-accuracy threshold.

    SPRIH's protocol: sentinel pairs (a real photo against an extreme retouch) have a known answer; a
    rater who answers fewer than ``min_sentinel_accuracy`` of them correctly is excluded with all of their
    votes. Raters without sentinels are kept. Sentinel rows never enter the fit.

    Parameters
    ----------
    log : harmony.benchmark.userstudy.VoteLog
        The votes.
    sentinel, correct : numpy.ndarray
        ``(N,)`` from :func:`sentinel_rows`.
    min_sentinel_accuracy : float
        Threshold in [0, 1].
    notes : list of str, optional
        Receives a note when sentinels exist but no rater can be excluded (no rater ids).

    Returns
    -------
    RaterQC
    """
    keep = ~sentinel
    if not log.has_raters:
        if sentinel.any() and notes is not None:
            notes.append("sentinel rows were dropped, but without rater ids no rater can be excluded")
        return RaterQC(None, [], keep, None)
    frame = log.df
    rater_codes = frame["rater_id"].cat.codes.to_numpy(np.int64)
    rater_names = list(map(str, frame["rater_id"].cat.categories))
    if (rater_codes < 0).any():
        rater_names = rater_names + ["<missing>"]
        rater_codes = np.where(rater_codes < 0, len(rater_names) - 1, rater_codes)
    raters = rater_table(rater_codes, len(rater_names), frame["a"].to_numpy(np.int64),
                         frame["b"].to_numpy(np.int64), frame["choice"].to_numpy(np.int64), sentinel, correct,
                         frame["a_left"].to_numpy(bool), len(log.methods))
    raters.insert(0, "rater_id", rater_names)
    below = (raters["sentinels"] > 0) & (raters["sentinel_accuracy"] < min_sentinel_accuracy)
    raters["excluded"] = below.to_numpy()
    excluded = raters.loc[below, "rater_id"].tolist()
    keep &= ~below.to_numpy()[rater_codes]
    raters = raters[raters["votes"] + raters["sentinels"] > 0].reset_index(drop=True)
    return RaterQC(raters, excluded, keep, rater_codes)


def winners_and_losers(a: np.ndarray, b: np.ndarray, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes as (winner, loser, tie) method codes: ``choice`` 0 = a won, 1 = b won, 2 = tie.

    Parameters
    ----------
    a, b : numpy.ndarray
        ``(N,)`` int method codes of the two sides.
    choice : numpy.ndarray
        ``(N,)`` int codes 0, 1 or 2.

    Returns
    -------
    winner, loser : numpy.ndarray
        ``(N,)`` method codes (for a tie: a and b).
    tie : numpy.ndarray
        ``(N,)`` bool.
    """
    return np.where(choice == 1, b, a), np.where(choice == 1, a, b), choice == 2


@dataclass
class ScoredVotes:
    """The votes that enter the fit, with methods renumbered ``0 .. M-1``.

    Attributes
    ----------
    methods : list of str
        The ``M`` scored methods, in the vote log's order.
    winner, loser : numpy.ndarray
        ``(N,)`` int method codes.
    tie : numpy.ndarray
        ``(N,)`` bool (a tie counts half a win each way, or was dropped).
    image_codes : numpy.ndarray or None
        ``(N,)`` int64 image code (``0 .. len(image_ids)-1``); None without image ids.
    image_ids : list of str or None
        Images with votes (``<missing>`` groups the votes without an id).
    rater_codes : numpy.ndarray or None
        ``(N,)`` int64 rater code (``0 .. n_raters-1``); None without rater ids.
    n_raters : int
        Raters with votes.
    """

    methods: list[str]
    winner: np.ndarray
    loser: np.ndarray
    tie: np.ndarray
    image_codes: np.ndarray | None = None
    image_ids: list[str] | None = None
    rater_codes: np.ndarray | None = None
    n_raters: int = 0

    def units(self, by: str) -> tuple[np.ndarray, int]:
        """Resampling units: (code per vote, number of units) of ``by`` = ``rater`` or ``image``.

        Parameters
        ----------
        by : {"rater", "image"}
            The unit.

        Returns
        -------
        codes : numpy.ndarray
            ``(N,)`` int64 unit code of each vote.
        n_units : int
            Number of units.
        """
        if by == "rater":
            return self.rater_codes, self.n_raters
        return self.image_codes, len(self.image_ids)


def filter_votes(log, qc: RaterQC, sentinel: np.ndarray, *, ties: str = "half",
                 notes: list[str] | None = None) -> ScoredVotes:
    """Keep the votes that QC kept (and drop ties with ``ties="drop"``); renumber the methods left.

    Parameters
    ----------
    log : harmony.benchmark.userstudy.VoteLog
        The votes.
    qc : RaterQC
        From :func:`rater_qc`.
    sentinel : numpy.ndarray
        ``(N,)`` bool from :func:`sentinel_rows`.
    ties : {"half", "drop"}
        Tie policy.
    notes : list of str, optional
        Receives the number of dropped ties and the methods left without votes.

    Returns
    -------
    ScoredVotes

    Raises
    ------
    InputError
        No vote is left, or fewer than two methods are.
    """
    notes = [] if notes is None else notes
    frame = log.df
    a = frame["a"].to_numpy(np.int64)
    b = frame["b"].to_numpy(np.int64)
    choice = frame["choice"].to_numpy(np.int64)
    keep = qc.keep.copy()
    if ties == "drop":
        n_ties = int((keep & (choice == 2)).sum())
        keep &= choice != 2
        if n_ties:
            notes.append(f"{n_ties} tie votes dropped (--ties drop)")
    if not keep.any():
        raise InputError("no votes left after removing sentinel rows, excluded raters and ties")
    voted = np.zeros(len(log.methods), bool)
    voted[a[~sentinel]] = True
    voted[b[~sentinel]] = True
    a, b, choice = a[keep], b[keep], choice[keep]
    present = np.zeros(len(log.methods), bool)
    present[a] = True
    present[b] = True
    for i in np.flatnonzero(voted & ~present):
        notes.append(f"method {log.methods[i]} has no votes left after quality control and is not scored")
    new_code = np.cumsum(present) - 1
    methods = [log.methods[i] for i in np.flatnonzero(present)]
    if len(methods) < 2:
        raise InputError(f"only one method ({', '.join(methods)}) left after quality control; need two")
    winner, loser, tie = winners_and_losers(new_code[a], new_code[b], choice)
    votes = ScoredVotes(methods, winner, loser, tie)
    if log.has_images:
        categories = list(map(str, frame["image_id"].cat.categories))
        codes = frame["image_id"].cat.codes.to_numpy(np.int64)[keep]
        codes = np.where(codes < 0, len(categories), codes)          # rows without an image id: one group
        unique_images, votes.image_codes = np.unique(codes, return_inverse=True)
        votes.image_ids = [categories[u] if u < len(categories) else "<missing>" for u in unique_images]
    if qc.rater_codes is not None:
        unique_raters, votes.rater_codes = np.unique(qc.rater_codes[keep], return_inverse=True)
        votes.n_raters = len(unique_raters)
    return votes


def _resampling_unit(pool: str, by: str | None, votes: ScoredVotes, n_boot: int) -> str:
    """The bootstrap unit (``by`` or its default), refused where the votes lack it."""
    if pool == "per-image" and votes.image_codes is None:
        raise InputError("--pool per-image needs image ids (an image_id / Image ID column)")
    if by is None:
        by = "image" if pool == "per-image" else ("rater" if votes.rater_codes is not None else "vote")
    if by not in ("rater", "vote", "image"):
        raise InputError(f"--by: expected rater, vote or image, got {by!r}")
    if by == "rater" and votes.rater_codes is None:
        raise InputError("--by rater needs rater ids (a rater_id / worker / judge column); use --by vote")
    if by == "image" and votes.image_codes is None:
        raise InputError("--by image needs image ids; use --by vote")
    if pool == "per-image" and by != "image" and n_boot > 0:
        raise InputError("--pool per-image resamples images (--by image): the per-image scores are the units")
    return by


@dataclass
class Fit:
    """Point estimate of one pooling / model choice (:func:`fit_scores`).

    Attributes
    ----------
    scores : numpy.ndarray
        ``(M,)`` centred log-strengths (JOD for Thurstone); NaN for a method without a finite score.
    covariance : numpy.ndarray or None
        ``(M, M)`` covariance of ``scores`` (global pool).
    per_image : numpy.ndarray or None
        ``(I, M)`` per-image centred scores (per-image pool).
    """

    scores: np.ndarray
    covariance: np.ndarray | None = None
    per_image: np.ndarray | None = None


def fit_scores(votes: ScoredVotes, counts: np.ndarray, *, pool: str = "global", model: str = "bt",
               alpha: float = 0.0, ties: str = "half", lai_original_stop: bool = False,
               notes: list[str] | None = None) -> Fit:
    """Fit the scores: one global fit (Bradley-Terry or Thurstone) or Lai et al.'s per-image pooling.

    Parameters
    ----------
    votes : ScoredVotes
        From :func:`filter_votes`.
    counts : numpy.ndarray
        ``(M, M)`` win counts of all votes (:func:`counts_from_cells`).
    pool : {"global", "per-image"}
        One fit of all votes, or one fit per image, centred and averaged (Lai et al. 2016).
    model : {"bt", "thurstone"}
        Bradley-Terry (:func:`fit`, choix's ILSR) or Thurstone Case V (:func:`fit_thurstone`).
    alpha : float
        Regularisation (>= 0).
    ties : {"half", "drop"}
        Tie policy of the per-image count matrices.
    lai_original_stop : bool
        Stop Lai's iteration at the first NaN change, as their MATLAB code.
    notes : list of str, optional
        Receives the number of per-image scores dropped and the methods without a finite score.

    Returns
    -------
    Fit
    """
    notes = [] if notes is None else notes
    if pool == "global" and model == "thurstone":
        scores = fit_thurstone(counts, alpha=alpha, methods=votes.methods)
        return Fit(scores, thurstone_covariance(counts + (alpha if alpha > 0 else 0.0), scores))
    if pool == "global":
        scores = fit(counts, alpha=alpha, methods=votes.methods)
        return Fit(scores, centred_covariance(counts, scores))
    m = len(votes.methods)
    image_counts = counts_from_cells(cells_from_votes(votes.winner, votes.loser, votes.tie, m, votes.image_codes,
                                                      len(votes.image_ids)), m, ties)
    per_image = fit_per_image(image_counts, alpha=alpha, original_stop=lai_original_stop)
    scores = pooled_mean(per_image)
    dropped = int((~np.isfinite(per_image) & (image_counts.sum(2) + image_counts.sum(1) > 0)).sum())
    if dropped:
        notes.append(f"{dropped} per-image scores were not finite (a method that never wins on an image) "
                     f"and were dropped before averaging, as Lai et al.")
    if not np.isfinite(scores).all():
        missing = [votes.methods[i] for i in np.flatnonzero(~np.isfinite(scores))]
        notes.append(f"no finite per-image score for: {', '.join(missing)}")
    return Fit(scores, per_image=per_image)


def bootstrap_scores(votes: ScoredVotes, cells: np.ndarray, fitted: Fit, *, n_boot: int, by: str, rng,
                     model: str = "bt", alpha: float = 0.0, ties: str = "half") -> np.ndarray | None:
    """Bootstrap replicates of the centred scores, resampling raters, votes or images.

    The global pool resamples count matrices (:func:`bootstrap_cells`) and refits each replicate; the
    per-image pool reweights the per-image scores (:func:`bootstrap_weights`, :func:`pooled_mean`).

    Parameters
    ----------
    votes : ScoredVotes
        From :func:`filter_votes`.
    cells : numpy.ndarray
        ``(2*M*M,)`` cell counts of all votes (:func:`cells_from_votes`).
    fitted : Fit
        The point estimate (starting point of the replicate fits; per-image scores).
    n_boot : int
        Replicates; 0 returns None.
    by : {"rater", "vote", "image"}
        Resampling unit.
    rng : numpy.random.Generator
        Consumed in a fixed order, so a seed gives the same replicates.
    model, alpha, ties
        As :func:`score_votes`.

    Returns
    -------
    numpy.ndarray or None
        ``(n_boot, M)`` centred scores; NaN rows are replicates without a finite estimate.
    """
    if n_boot <= 0:
        return None
    if fitted.per_image is not None:
        return pooled_mean(fitted.per_image, bootstrap_weights(len(votes.image_ids), n_boot, rng))
    m = len(votes.methods)
    if by == "vote":
        replicate_cells = bootstrap_cells(cells[None, :], n_boot, rng, by_vote=True)
    else:
        codes, n_units = votes.units(by)
        unit_cells = cells_from_votes(votes.winner, votes.loser, votes.tie, m, codes, n_units)
        replicate_cells = bootstrap_cells(unit_cells, n_boot, rng)
    replicate_counts = counts_from_cells(replicate_cells, m, ties)
    if model == "thurstone":
        return bootstrap_thurstone(replicate_counts, alpha=alpha)[0]
    return bootstrap_global(replicate_counts, alpha=alpha, initial=fitted.scores)[0]


@dataclass
class Intervals:
    """Standard errors, intervals and pairwise probabilities in the chosen scale (:func:`score_intervals`).

    Attributes
    ----------
    se, low, high : numpy.ndarray
        ``(M,)`` standard error and interval bounds.
    method : str
        How the interval was made (bootstrap percentile or normal).
    prob : numpy.ndarray
        ``(M, M)`` probability in [0, 1] that the row method is better than the column one.
    """

    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str
    prob: np.ndarray


def _standard_errors(fitted: Fit, kind: str, ref: int | None) -> np.ndarray:
    """Hessian standard errors (global) or the spread across images (per-image); NaN otherwise."""
    m = len(fitted.scores)
    if fitted.covariance is not None:
        return np.sqrt(np.clip(np.diag(scale_covariance(fitted.covariance, fitted.scores, kind, ref)), 0, None))
    if fitted.per_image is None or kind == "sum1":
        return np.full(m, np.nan)
    per_image = to_scale(fitted.per_image, "ref", ref) if kind == "ref" else fitted.per_image
    finite = np.isfinite(per_image)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # one image per method gives no spread: NaN, not a "Degrees of freedom <= 0" warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(np.where(finite, per_image, np.nan), axis=0, ddof=1) / np.sqrt(finite.sum(0))


def _normal_probabilities(fitted: Fit) -> np.ndarray:
    """``P(i better than j) = Phi((s_i - s_j) / sd(s_i - s_j))`` from the covariance (NaN without one)."""
    from scipy.special import ndtr

    m = len(fitted.scores)
    prob = np.full((m, m), np.nan)
    if fitted.covariance is not None:
        cov, scores = fitted.covariance, fitted.scores
        var = np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = ndtr((scores[:, None] - scores[None, :]) / np.sqrt(np.where(var > 0, var, np.nan)))
    np.fill_diagonal(prob, 0.5)
    return prob


def score_intervals(fitted: Fit, replicates: np.ndarray | None, *, kind: str, ref: int | None, ci: float,
                    by: str, pool: str = "global", notes: list[str] | None = None) -> Intervals:
    """Intervals of the scores: bootstrap percentiles where replicates exist, else normal intervals.

    Replicates without a finite estimate for every method are counted once (a note) and left out.
    Percentile intervals (Efron and Tibshirani 1993, ch. 13) and ``P(i better than j)`` as the share
    of replicates with ``s_i > s_j`` (ties count half); without replicates, ``score +- z se`` and the
    normal approximation from the covariance.

    Parameters
    ----------
    fitted : Fit
        The point estimate.
    replicates : numpy.ndarray or None
        ``(B, M)`` from :func:`bootstrap_scores`.
    kind, ref
        The scale (:func:`parse_scale`).
    ci : float
        Coverage in (0, 1).
    by : str
        Resampling unit (named in the interval method).
    pool : str
        ``global`` or ``per-image`` (names the cause of failed replicates).
    notes : list of str, optional
        Receives the number of failed replicates.

    Returns
    -------
    Intervals
    """
    from scipy.special import ndtri

    notes = [] if notes is None else notes
    score = to_scale(fitted.scores, kind, ref)
    se = _standard_errors(fitted, kind, ref)
    ok = np.isfinite(replicates).all(1) if replicates is not None else np.zeros(0, bool)
    if replicates is not None and int((~ok).sum()):
        why = ("the resampled votes did not connect every method both ways, so no maximum-likelihood "
               "estimate exists; --alpha 0.01 regularises" if pool == "global" else
               "a method had no finite per-image score on any resampled image")
        notes.append(f"bootstrap: {int((~ok).sum())} of {len(replicates)} replicates failed ({why}); the "
                     f"intervals use the other {int(ok.sum())}")
    if replicates is None or not ok.any():
        z = float(ndtri(0.5 + ci / 2))
        method = ("normal (Hessian standard errors)" if fitted.covariance is not None else
                  "normal (across-image standard errors)")
        return Intervals(se, score - z * se, score + z * se, method, _normal_probabilities(fitted))
    good = replicates[ok]
    low, high = np.percentile(to_scale(good, kind, ref), [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    difference = good[:, :, None] - good[:, None, :]
    prob = (difference > 0).mean(0) + 0.5 * (difference == 0).mean(0)
    return Intervals(se, low, high, f"bootstrap percentile ({int(ok.sum())} replicates, by {by})", prob)


def score_table(votes: ScoredVotes, counts: np.ndarray, score: np.ndarray, intervals: Intervals,
                range_result: dict) -> pd.DataFrame:
    """The per-method table of :class:`BTResult`, sorted by rank then name.

    Parameters
    ----------
    votes : ScoredVotes
        The votes used.
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    score : numpy.ndarray
        ``(M,)`` scores in the chosen scale.
    intervals : Intervals
        From :func:`score_intervals`.
    range_result : dict
        From :func:`range_test` (its ``groups``).

    Returns
    -------
    pandas.DataFrame
        The columns listed in :class:`BTResult`.
    """
    m = len(votes.methods)
    wins = counts.sum(1)
    n_votes = float(len(votes.winner))
    own_votes = np.bincount(votes.winner, minlength=m) + np.bincount(votes.loser, minlength=m)
    table = pd.DataFrame({
        "method": votes.methods, "votes": own_votes.astype(np.int64), "wins": wins,
        "preference": wins / n_votes,
        "win_rate": np.where(own_votes > 0, wins / np.maximum(own_votes, 1), np.nan),
        "score": score, "se": intervals.se, "ci_low": intervals.low, "ci_high": intervals.high,
        "rank": _rank(score), "group": range_result["groups"],
    })
    return table.sort_values(["rank", "method"], na_position="last", kind="stable").reset_index(drop=True)


def _engine(model: str, pool: str, alpha: float) -> str:
    """The fitting engine's name, as ``settings["engine"]`` reports it."""
    if model == "thurstone":
        return "Thurstone Case V ML (Newton), JOD units"
    return "choix.ilsr_pairwise_dense" if (pool == "global" or alpha > 0) else "Lai et al. MM (BT_EM_exp)"


def score_votes(log, *, pool: str = "global", scale: str = "centered", ties: str = "half",
                alpha: float = 0.0, n_boot: int = 1000, by: str | None = None, seed: int = 0,
                ci: float = 0.95, sentinel_method: str | None = None, min_sentinel_accuracy: float = 0.8,
                range_alpha: float = 0.01, lai_original_stop: bool = False, model: str = "bt") -> BTResult:
    """Score a pairwise (2AFC) study: rater QC, vote filter, fit, bootstrap, table.

    Each step is a function of its own: :func:`sentinel_rows` and :func:`rater_qc` (exclude raters below
    ``min_sentinel_accuracy``; sentinel rows never enter the fit), :func:`filter_votes` (tie policy,
    methods left), :func:`fit_scores` (``pool``, ``model``), :func:`bootstrap_scores` (``n_boot``
    replicates resampling ``by``, seeded), :func:`score_intervals` and :func:`score_table` (with Lai et
    al.'s range test and Kendall's u).

    Parameters
    ----------
    log : harmony.benchmark.userstudy.VoteLog
        The votes (:func:`harmony.benchmark.userstudy.load_votes`).
    pool : {"global", "per-image"}
        One fit of all votes, or Lai et al.'s per-image fits centred and averaged.
    scale : str
        ``centered`` (log-strengths, mean 0), ``sum1`` (``exp(s) / sum exp(s)``, as SPRIH's Table 3) or
        ``ref:NAME`` (NAME fixed at 0, as Agresti's Table 10.11).
    ties : {"half", "drop"}
        A tie counts half a win each way, or is dropped.
    alpha : float
        Regularisation (>= 0): virtual comparisons between every pair; 0 refuses data whose estimate
        does not exist (:func:`check_connectivity`).
    n_boot : int
        Bootstrap replicates (0: Hessian / across-image normal intervals).
    by : {"rater", "vote", "image"}, optional
        Resampling unit (default: rater where rater ids exist, else vote; image for the per-image pool).
    seed : int
        Bootstrap seed.
    ci : float
        Interval coverage in (0, 1).
    sentinel_method : str, optional
        Every comparison with this method is a sentinel it must win.
    min_sentinel_accuracy : float
        Raters with sentinels below this accuracy are excluded.
    range_alpha : float
        Level of Lai et al.'s range test.
    lai_original_stop : bool
        Per-image pool: stop at the first NaN change, as Lai's MATLAB code.
    model : {"bt", "thurstone"}
        Bradley-Terry, or Thurstone Case V in JOD units (global pool; ``centered`` or ``ref:NAME``).

    Returns
    -------
    BTResult

    Raises
    ------
    InputError
        An option outside its choices, or votes that cannot be scored (one line naming the cause).

    References
    ----------
    Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block designs: I. The method of
    paired comparisons. Biometrika 39(3/4).
    Lai, W.-S. et al. (2016). A comparative study for single image blind deblurring. CVPR.
    Maystre, L. and Grossglauser, M. (2015). Fast and accurate inference of Plackett-Luce models. NIPS
    (choix's ``ilsr_pairwise_dense``).

    Examples
    --------
    >>> from harmony.benchmark.userstudy import simulate_votes, votes_from_frame
    >>> votes = simulate_votes({"ours": 0.5, "dih": 0.0, "composite": -0.5}, 20, 30, 40, rng=0)
    >>> result = score_votes(votes_from_frame(votes), n_boot=100, seed=0)
    >>> list(result.table["method"])
    ['ours', 'dih', 'composite']
    """
    _check_options(pool=pool, model=model, scale=scale, ties=ties, ci=ci, n_boot=n_boot)
    notes: list[str] = []
    sentinel, correct = sentinel_rows(log, sentinel_method)
    _check_sentinels(log, sentinel, correct, sentinel_method)
    qc = rater_qc(log, sentinel, correct, min_sentinel_accuracy=min_sentinel_accuracy, notes=notes)
    votes = filter_votes(log, qc, sentinel, ties=ties, notes=notes)
    kind, ref = parse_scale(scale, votes.methods)
    by = _resampling_unit(pool, by, votes, n_boot)
    m = len(votes.methods)
    cells = cells_from_votes(votes.winner, votes.loser, votes.tie, m)[0]
    counts = counts_from_cells(cells, m, ties)
    connectivity = check_connectivity(counts, votes.methods)
    fitted = fit_scores(votes, counts, pool=pool, model=model, alpha=alpha, ties=ties,
                        lai_original_stop=lai_original_stop, notes=notes)
    replicates = bootstrap_scores(votes, cells, fitted, n_boot=n_boot, by=by, rng=np.random.default_rng(seed),
                                  model=model, alpha=alpha, ties=ties)
    intervals = score_intervals(fitted, replicates, kind=kind, ref=ref, ci=ci, by=by, pool=pool, notes=notes)
    range_result = range_test(counts.sum(1), float(len(votes.winner)), alpha=range_alpha)
    table = score_table(votes, counts, to_scale(fitted.scores, kind, ref), intervals, range_result)
    settings = {"pool": pool, "scale": scale, "ties": ties, "alpha": alpha, "bootstrap": n_boot, "by": by,
                "seed": seed, "ci": ci, "ci_method": intervals.method, "sentinel_method": sentinel_method,
                "min_sentinel_accuracy": min_sentinel_accuracy, "range_alpha": range_alpha,
                "format": log.format, "sources": log.sources, "votes_used": len(votes.winner),
                "votes_read": int(len(log.df)), "unanswered": log.unanswered,
                "sentinel_rows": int(sentinel.sum()), "methods": votes.methods,
                "engine": _engine(model, pool, alpha), "model": model}
    return BTResult(table=table, settings=settings, connectivity=connectivity, raters=qc.raters,
                    excluded_raters=qc.excluded,
                    win_matrix=pd.DataFrame(counts, index=votes.methods, columns=votes.methods),
                    pairwise_prob=pd.DataFrame(intervals.prob, index=votes.methods, columns=votes.methods),
                    range_test=range_result, kendall_u=kendall_u(counts), replicates=replicates,
                    covariance=fitted.covariance, per_image=fitted.per_image, notes=notes,
                    image_ids=votes.image_ids if fitted.per_image is not None else None)


# ---------------------------------------------------------------------------------------------------
# Thurstone Case V (JOD units) and observer screening, as pwcmp (Perez-Ortiz and Mantiuk 2017)

#: pwcmp's observer-noise sigma: Phi(1 / JOD_SIGMA) = 0.75, so 1 JOD = 75 % of raters prefer the better
JOD_SIGMA = 1.4826


def thurstone_nll(counts: np.ndarray, quality: np.ndarray, sigma: float = JOD_SIGMA) -> float:
    """Negative log-likelihood of Thurstone Case V: ``-sum_ij C_ij log Phi((q_i - q_j) / sigma)``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts.
    quality : numpy.ndarray
        ``(M,)`` scores in JOD.
    sigma : float
        Observer noise (:data:`JOD_SIGMA`).

    Returns
    -------
    float
    """
    from scipy.special import log_ndtr

    counts = np.asarray(counts, float)
    z = (quality[:, None] - quality[None, :]) / sigma
    mask = counts > 0
    return float(-np.sum(counts[mask] * log_ndtr(z[mask])))


def _thurstone_grad_hess(counts: np.ndarray, quality: np.ndarray, sigma: float):
    from scipy.special import log_ndtr

    z = (quality[:, None] - quality[None, :]) / sigma
    mills = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_ndtr(z))    # phi(d) / Phi(d), stable
    gradient = -(counts * mills).sum(1) / sigma + (counts * mills).sum(0) / sigma
    weight = counts * mills * (z + mills) / sigma ** 2        # -d^2/dd^2 log Phi(d) = lam (d + lam) >= 0
    weight = weight + weight.T
    np.fill_diagonal(weight, 0.0)
    hessian = np.diag(weight.sum(1)) - weight
    return gradient, hessian


def fit_thurstone(counts: np.ndarray, *, alpha: float = 0.0, methods: list[str] | None = None,
                  sigma: float = JOD_SIGMA, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Thurstone Case V maximum-likelihood scores in JOD units (centred to mean 0).

    Model (Thurstone 1927; pwcmp's ``pw_scale``, Perez-Ortiz and Mantiuk 2017):
    ``P(i preferred to j) = Phi((q_i - q_j) / sigma)`` with ``sigma = 1.4826``, so a difference of 1 JOD
    ("just objectionable difference") means 75 % of raters prefer the better condition. The negative
    log-likelihood is convex; it is minimised by Newton's method with backtracking on the scores with the
    first one held at 0, then centred. The estimate exists under the same condition as Bradley-Terry's.
    pwcmp's distance prior for sparse designs is not implemented; this is the plain maximum-likelihood
    scale.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` finite, >= 0 win counts (ties as 0.5 each way are fine).
    alpha : float
        > 0 adds ``alpha`` virtual wins each way to every pair (shrinks toward equal scores).
    methods : list of str, optional
        Names used in the error message.
    sigma : float
        Observer noise.
    tol, max_iter
        Newton's stopping rule (largest score change) and iteration limit.

    Returns
    -------
    numpy.ndarray
        ``(M,)`` float64 JOD scores with mean 0.

    Raises
    ------
    ValueError
        ``counts`` not square, negative or not finite.
    InputError
        ``alpha == 0`` and the graph is not strongly connected.

    References
    ----------
    Thurstone, L. L. (1927). A law of comparative judgment. Psychological Review 34(4).
    Perez-Ortiz, M. and Mantiuk, R. K. (2017). A practical guide and software for analysing pairwise
    comparison experiments. arXiv:1712.03686 (the pwcmp toolbox).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(f"C: expected a square (M, M) count matrix with M >= 2, got shape {counts.shape}")
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise ValueError("C: counts must be finite and >= 0")
    m = counts.shape[0]
    counts = counts.copy()
    if alpha > 0:
        counts = counts + alpha
    elif not is_strongly_connected(counts):
        names = methods or [str(i) for i in range(m)]
        raise InputError(check_connectivity(counts, names).message + "; pass --alpha 0.01 (or larger) to regularise")
    np.fill_diagonal(counts, 0.0)
    quality = np.zeros(m)
    objective = thurstone_nll(counts, quality, sigma)
    for _ in range(max_iter):
        gradient, hessian = _thurstone_grad_hess(counts, quality, sigma)
        step = np.zeros(m)
        step[1:] = np.linalg.solve(hessian[1:, 1:], -gradient[1:])
        step_size = 1.0
        while True:                                   # backtracking keeps every step a descent step
            candidate = quality + step_size * step
            candidate_objective = thurstone_nll(counts, candidate, sigma)
            if candidate_objective <= objective + 1e-4 * step_size * float(gradient @ step) or step_size < 1e-10:
                break
            step_size *= 0.5
        done = np.max(np.abs(candidate - quality)) < tol
        quality, objective = candidate, candidate_objective
        if done:
            break
    return quality - quality.mean()


def thurstone_covariance(counts: np.ndarray, quality: np.ndarray, sigma: float = JOD_SIGMA) -> np.ndarray:
    """Covariance of the centred JOD scores: pseudo-inverse of the observed information (Hessian).

    Parameters
    ----------
    counts : numpy.ndarray
        ``(M, M)`` win counts (as fitted, regularisation included).
    quality : numpy.ndarray
        ``(M,)`` fitted JOD scores.
    sigma : float

    Returns
    -------
    numpy.ndarray
        ``(M, M)``.
    """
    counts = np.asarray(counts, float).copy()
    np.fill_diagonal(counts, 0.0)
    _gradient, hessian = _thurstone_grad_hess(counts, np.asarray(quality, float), sigma)
    return np.linalg.pinv(hessian, hermitian=True)


def bootstrap_thurstone(counts: np.ndarray, *, alpha: float = 0.0) -> tuple[np.ndarray, int]:
    """Fit Thurstone Case V to every replicate count matrix; replicates without an estimate are NaN rows.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(B, M, M)`` replicate win counts.
    alpha : float
        Regularisation (:func:`fit_thurstone`).

    Returns
    -------
    scores : numpy.ndarray
        ``(B, M)`` centred JOD scores.
    failed : int
        Replicates that are not strongly connected (``alpha == 0``).
    """
    n_boot, m, _ = counts.shape
    scores = np.full((n_boot, m), np.nan)
    ok = strongly_connected_batch(counts) if alpha == 0 else np.ones(n_boot, bool)
    failed = int((~ok).sum())
    for replicate in np.flatnonzero(ok):
        scores[replicate] = fit_thurstone(counts[replicate], alpha=alpha, tol=1e-8)
    return scores, failed


def observer_log_likelihood(rater_counts: np.ndarray, quality: np.ndarray, sigma: float = JOD_SIGMA) -> float:
    """pwcmp's per-observer log-likelihood of one rater's votes under a scale.

    ``sum_{i<j} log Binom(M_ij; M_ij + M_ji, Phi((q_i - q_j) / sigma))``; pairs the observer never saw are
    skipped; each term is floored at ``log(1e-200)`` as in pwcmp's ``pw_outlier_analysis.m``.

    Parameters
    ----------
    rater_counts : numpy.ndarray
        ``(M, M)``: times this observer chose i over j.
    quality : numpy.ndarray
        ``(M,)`` JOD scale (of the other observers).
    sigma : float

    Returns
    -------
    float
        Natural-log likelihood (<= 0).
    """
    from scipy.special import gammaln, ndtr

    wins = np.asarray(rater_counts, float)
    n_pairs = wins + wins.T
    p_win = ndtr((quality[:, None] - quality[None, :]) / sigma)
    upper = np.triu_indices(len(quality), 1)
    k_wins, n_seen, p = wins[upper], n_pairs[upper], p_win[upper]
    seen = n_seen > 0
    k_wins, n_seen, p = k_wins[seen], n_seen[seen], p[seen]
    with np.errstate(divide="ignore"):
        log_p = (gammaln(n_seen + 1) - gammaln(k_wins + 1) - gammaln(n_seen - k_wins + 1)
                + np.where(k_wins > 0, k_wins * np.log(p), 0.0) + np.where(n_seen - k_wins > 0, (n_seen - k_wins) * np.log1p(-p), 0.0))
    return float(np.sum(np.maximum(log_p, math.log(1e-200))))


def outlier_distance(log_likelihood: np.ndarray) -> np.ndarray:
    """pwcmp's outlier score: ``(Q1 - L) / IQR`` where ``L < Q1``, else 0.

    Quartiles as MATLAB/Octave ``quantile`` and ``iqr`` compute them (piecewise linear with
    ``p_k = (k - 0.5) / n``: numpy's ``hazen`` method). pwcmp suggests investigating observers above 1.5.

    Parameters
    ----------
    log_likelihood : numpy.ndarray
        ``(R,)`` per-observer log-likelihoods.

    Returns
    -------
    numpy.ndarray
        ``(R,)`` float64 scores >= 0 (NaN/inf where the IQR is 0).
    """
    log_likelihood = np.asarray(log_likelihood, float)
    q1, q3 = np.quantile(log_likelihood, [0.25, 0.75], method="hazen")
    iqr = q3 - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(log_likelihood < q1, (q1 - log_likelihood) / iqr, 0.0)
    return distance


def screen_observers(rater_cells: np.ndarray, m: int, *, ties: str = "half", alpha: float = 0.0,
                     sigma: float = JOD_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """pwcmp's observer outlier analysis (``pw_outlier_analysis``) on per-rater cell counts.

    For each rater k: scale the votes of all other raters (:func:`fit_thurstone`), then the
    log-likelihood of rater k's own votes under that scale (:func:`observer_log_likelihood`). All images
    form one scene (pwcmp sums over scenes scaled separately). A leave-one-out count matrix that is not
    strongly connected is scaled with ``alpha = max(alpha, 0.01)``.

    Parameters
    ----------
    rater_cells : numpy.ndarray
        ``(R, 2*m*m)`` per-rater cell counts.
    m : int
        Number of methods.
    ties : {"half", "drop"}
    alpha : float
    sigma : float

    Returns
    -------
    log_likelihood : numpy.ndarray
        ``(R,)``.
    distance : numpy.ndarray
        ``(R,)`` :func:`outlier_distance`.

    References
    ----------
    Perez-Ortiz, M. and Mantiuk, R. K. (2017). A practical guide and software for analysing pairwise
    comparison experiments. arXiv:1712.03686.
    """
    rater_counts = counts_from_cells(rater_cells, m, ties)           # (R, M, M)
    total = rater_counts.sum(0)
    log_likelihood = np.zeros(len(rater_counts))
    for rater in range(len(rater_counts)):
        rest = total - rater_counts[rater]
        regularise = alpha if (alpha > 0 or is_strongly_connected(rest)) else 0.01
        quality = fit_thurstone(rest, alpha=max(regularise, alpha), sigma=sigma, tol=1e-8)
        log_likelihood[rater] = observer_log_likelihood(rater_counts[rater], quality, sigma)
    return log_likelihood, outlier_distance(log_likelihood)


def screen_raters(log, *, ties: str = "half", threshold: float = 1.5, sentinel_method: str | None = None,
                  alpha: float = 0.0) -> pd.DataFrame:
    """pwcmp observer screening of a vote log (non-sentinel votes of raters with ids).

    Parameters
    ----------
    log : harmony.benchmark.userstudy.VoteLog
        The votes.
    ties : {"half", "drop"}
    threshold : float
        Outlier score above which a rater is flagged (pwcmp suggests 1.5).
    sentinel_method : str, optional
        Comparisons with this method are sentinels and left out.
    alpha : float
        Regularisation of the leave-one-out scales.

    Returns
    -------
    pandas.DataFrame
        One row per rater: ``rater_id``, ``votes``, ``log_likelihood`` (natural log, the rater's votes
        under the Thurstone scale of everyone else), ``outlier_score`` (:func:`outlier_distance`) and
        ``outlier`` (bool).

    Raises
    ------
    InputError
        No rater ids, or fewer than three raters with votes.
    """
    if not log.has_raters:
        raise InputError("--screen-raters needs rater ids (a rater_id / worker / judge column)")
    frame = log.df
    sentinel, _correct = sentinel_rows(log, sentinel_method)
    choice = frame["choice"].to_numpy(np.int64)
    keep = ~sentinel & (frame["rater_id"].cat.codes.to_numpy() >= 0)
    if ties == "drop":
        keep &= choice != 2
    a = frame["a"].to_numpy(np.int64)[keep]
    b = frame["b"].to_numpy(np.int64)[keep]
    rater_codes = frame["rater_id"].cat.codes.to_numpy(np.int64)[keep]
    unique_raters, codes = np.unique(rater_codes, return_inverse=True)
    if len(unique_raters) < 3:
        raise InputError(f"--screen-raters: needs at least three raters with votes, got {len(unique_raters)}")
    used = np.unique(np.concatenate([a, b]))
    new_code = np.full(len(log.methods), -1)
    new_code[used] = np.arange(len(used))
    m = len(used)
    winner, loser, tie = winners_and_losers(new_code[a], new_code[b], choice[keep])
    cells = cells_from_votes(winner, loser, tie, m, codes, len(unique_raters))
    log_likelihood, distance = screen_observers(cells, m, ties=ties, alpha=alpha)
    names = [str(c) for c in frame["rater_id"].cat.categories[unique_raters]]
    return pd.DataFrame({"rater_id": names, "votes": np.bincount(codes, minlength=len(unique_raters)),
                         "log_likelihood": log_likelihood, "outlier_score": distance,
                         "outlier": distance > threshold})
