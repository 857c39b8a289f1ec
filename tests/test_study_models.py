"""Thurstone Case V (JOD), pwcmp observer screening, the Gaussian posterior and the pair scheduler,
each against an independent computation written here (closed forms, IRLS, quadrature, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from harmony.benchmark import bt
from harmony.study.scheduler import GaussianPosterior, PairScheduler, TaskArrays

SIGMA = 1.4826


def test_one_jod_is_75_percent():
    assert stats.norm.cdf(1 / bt.JOD_SIGMA) == pytest.approx(0.75, abs=1e-4)
    q = bt.fit_thurstone(np.array([[0, 75.0], [25, 0]]))
    assert q[0] - q[1] == pytest.approx(1.0, abs=1e-4)
    # two conditions: the ML difference is sigma * Phi^-1(wins / n) (closed form)
    q = bt.fit_thurstone(np.array([[0, 37.0], [13, 0]]))
    assert q[0] - q[1] == pytest.approx(SIGMA * stats.norm.ppf(37 / 50), abs=1e-8)


def irls_probit(C, ref=0, iters=100):
    """Independent check: grouped probit regression by Fisher scoring (IRLS); q_ref = 0."""
    m = C.shape[0]
    rows, y, n = [], [], []
    for i in range(m):
        for j in range(i + 1, m):
            if C[i, j] + C[j, i] > 0:
                x = np.zeros(m)
                x[i], x[j] = 1, -1
                rows.append(np.delete(x, ref))
                n.append(C[i, j] + C[j, i])
                y.append(C[i, j] / n[-1])
    X, y, n = np.array(rows), np.array(y), np.array(n)
    beta = np.zeros(m - 1)
    for _ in range(iters):
        eta = X @ beta
        mu = stats.norm.cdf(eta)
        dens = stats.norm.pdf(eta)
        w = n * dens ** 2 / (mu * (1 - mu))
        z = eta + (y - mu) / dens
        beta_new = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * z))
        if np.max(np.abs(beta_new - beta)) < 1e-13:
            beta = beta_new
            break
        beta = beta_new
    return np.insert(beta, ref, 0.0) * SIGMA


def test_thurstone_matches_independent_irls_probit():
    rng = np.random.default_rng(3)
    C = rng.integers(1, 40, (6, 6)).astype(float)
    np.fill_diagonal(C, 0)
    q = bt.fit_thurstone(C)
    ref = irls_probit(C)
    np.testing.assert_allclose(q - q[0], ref, atol=1e-7)
    # incomplete design (some pairs never compared) still connected
    C[0, 3] = C[3, 0] = C[1, 5] = C[5, 1] = 0
    q = bt.fit_thurstone(C)
    np.testing.assert_allclose(q - q[0], irls_probit(C), atol=1e-7)


def test_thurstone_refuses_disconnected_and_score_votes_reports_jod():
    with pytest.raises(Exception, match="strongly connected"):
        bt.fit_thurstone(np.array([[0, 5.0, 3], [0, 0, 2], [0, 1, 0]]))
    from harmony.benchmark.userstudy import simulate_votes, votes_from_frame

    df = simulate_votes({"a": 1.0, "b": 0.0, "c": -1.0}, 20, 40, 30, rng=1)
    log = votes_from_frame(df)
    res = bt.score_votes(log, model="thurstone", scale="ref:c", n_boot=100)
    t = res.table.set_index("method")
    assert t.loc["c", "score"] == 0 and t.loc["a", "score"] > t.loc["b", "score"] > 0
    assert (t["ci_low"] <= t["ci_high"]).all()
    s_bt = bt.score_votes(log, scale="ref:c", n_boot=0).table.set_index("method")
    # logistic vs probit scales: BT log-odds of ~1.7 x JOD / sigma (logistic ~ probit x 1.7); same order
    ratio = (s_bt.loc["a", "score"]) / (t.loc["a", "score"] / SIGMA)
    assert 1.5 < ratio < 1.8
    with pytest.raises(Exception, match="sum-to-one"):
        bt.score_votes(log, model="thurstone", scale="sum1", n_boot=0)


def matlab_quantile(x, p):
    """MATLAB/Octave quantile: sorted x at p_k = (k - 0.5) / n, linear in between, clamped at the ends."""
    x = np.sort(np.asarray(x, float))
    n = len(x)
    pk = (np.arange(1, n + 1) - 0.5) / n
    return float(np.interp(p, pk, x))


def test_outlier_distance_quartiles_hand_computed():
    # L = 1..4: Q1 = 1.5 and Q3 = 3.5 with MATLAB's rule, IQR 2; below Q1 only L = 1: (1.5 - 1) / 2
    np.testing.assert_allclose(bt.outlier_distance(np.array([4.0, 1, 3, 2])), [0, 0.25, 0, 0])
    x = np.array([-30.0, -12, -11, -10.5, -10, -9, -8.7])
    q1, q3 = matlab_quantile(x, 0.25), matlab_quantile(x, 0.75)
    np.testing.assert_allclose(bt.outlier_distance(x), np.where(x < q1, (q1 - x) / (q3 - q1), 0))


def pwcmp_screen_reference(Cr):
    """Independent loop re-implementation of pw_outlier_analysis (scipy optimiser and binomial pmf)."""
    R, m = Cr.shape[0], Cr.shape[1]
    L = np.zeros(R)
    for k in range(R):
        M = Cr.sum(0) - Cr[k]

        def nll(x, M=M):
            q = np.concatenate([[0.0], x])
            d = (q[:, None] - q[None, :]) / SIGMA
            return -np.sum(M * stats.norm.logcdf(d))

        q = np.concatenate([[0.0], optimize.minimize(nll, np.zeros(m - 1), method="BFGS", tol=1e-12).x])
        for i in range(m):
            for j in range(i + 1, m):
                n = Cr[k, i, j] + Cr[k, j, i]
                if n > 0:
                    p = stats.norm.cdf((q[i] - q[j]) / SIGMA)
                    L[k] += math.log(max(stats.binom.pmf(Cr[k, i, j], n, p), 1e-200))
    q1, q3 = matlab_quantile(L, 0.25), matlab_quantile(L, 0.75)
    return L, np.where(L < q1, (q1 - L) / (q3 - q1), 0.0)


def test_screen_observers_matches_reference_and_finds_reversed_observer():
    # pwcmp's own test scenario: true scores 0..4, observer 0 answers with the scale reversed
    rng = np.random.default_rng(7)
    x = np.arange(5.0)
    n_obs, n_rep, m = 20, 2, 5
    Cr = np.zeros((n_obs, m, m))
    for o in range(n_obs):
        xs = -x if o == 0 else x
        for i in range(m):
            for j in range(i + 1, m):
                wins = rng.binomial(n_rep, stats.norm.cdf((xs[i] - xs[j]) / SIGMA))
                Cr[o, i, j], Cr[o, j, i] = wins, n_rep - wins
    cells = np.zeros((n_obs, 2 * m * m))
    cells[:, : m * m] = Cr.reshape(n_obs, -1)
    L, dist = bt.screen_observers(cells, m)
    L_ref, dist_ref = pwcmp_screen_reference(Cr)
    np.testing.assert_allclose(L, L_ref, atol=1e-5)
    np.testing.assert_allclose(dist, dist_ref, atol=1e-5)
    assert np.argmax(dist) == 0 and dist[0] > 1.5 and (dist[1:] <= 1.5).all()


def test_screen_raters_on_vote_log_flags_spammers():
    from harmony.benchmark.userstudy import simulate_votes, votes_from_frame

    df = simulate_votes({"a": 1.5, "b": 0.5, "c": -0.5, "d": -1.5}, 10, 30, 40, rng=2, spammers=3)
    out = bt.screen_raters(votes_from_frame(df))
    top = set(out.sort_values("outlier_score", ascending=False)["rater_id"].iloc[:3])
    assert top == {"r0027", "r0028", "r0029"}             # the random clickers score highest
    assert set(out.loc[out["outlier"], "rater_id"]) >= top


# ---------------------------------------------------------------------------------------------------
# the posterior and the scheduler


def grid_moments(mu, cov, sign=1.0, n=401):
    """Mean, covariance and mass of N(mu, cov) x Phi(sign (q0 - q1) / sigma) by 2-D quadrature."""
    sd = np.sqrt(np.diag(cov))
    g0 = np.linspace(mu[0] - 8 * sd[0], mu[0] + 8 * sd[0], n)
    g1 = np.linspace(mu[1] - 8 * sd[1], mu[1] + 8 * sd[1], n)
    Q0, Q1 = np.meshgrid(g0, g1, indexing="ij")
    pts = np.stack([Q0, Q1], -1)
    dens = stats.multivariate_normal(mu, cov).pdf(pts) * stats.norm.cdf(sign * (Q0 - Q1) / SIGMA)
    Z = dens.sum()
    mean = (pts * dens[..., None]).sum((0, 1)) / Z
    d = pts - mean
    c = np.einsum("abi,abj,ab->ij", d, d, dens) / Z
    cell = (g0[1] - g0[0]) * (g1[1] - g1[0])
    return mean, c, Z * cell


def kl_gauss(m1, S1, m0, S0):
    S0i = np.linalg.inv(S0)
    k = len(m0)
    return 0.5 * (np.trace(S0i @ S1) - k + (m0 - m1) @ S0i @ (m0 - m1) + np.log(np.linalg.det(S0) / np.linalg.det(S1)))


def test_adf_update_is_moment_matching_and_gain_is_expected_kl():
    mu = np.array([0.3, -0.2])
    cov = np.array([[1.0, 0.2], [0.2, 0.5]])
    post = GaussianPosterior(2)
    post.mu, post.cov = mu.copy(), cov.copy()
    gain = post.information_gain()[0, 1]
    post.update(0, 1)
    m_ref, c_ref, p_win = grid_moments(mu, cov)
    np.testing.assert_allclose(post.mu, m_ref, atol=1e-5)
    np.testing.assert_allclose(post.cov, c_ref, atol=1e-5)
    m_lose, c_lose, p_lose = grid_moments(mu, cov, sign=-1.0)
    assert p_win + p_lose == pytest.approx(1.0, abs=1e-6)
    expected = p_win * kl_gauss(m_ref, c_ref, mu, cov) + p_lose * kl_gauss(m_lose, c_lose, mu, cov)
    assert gain == pytest.approx(expected, rel=1e-4)


def toy_tasks(m=4, images=5):
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    img = np.repeat(np.arange(images), len(pairs))
    a = np.tile([p[0] for p in pairs], images)
    b = np.tile([p[1] for p in pairs], images)
    return TaskArrays(image=img, a=a, b=b, sentinel=np.zeros(len(img), bool), methods=[f"m{k}" for k in range(m)])


def test_balanced_design_covers_evenly():
    tasks = toy_tasks()
    sch = PairScheduler(tasks, design="balanced", votes_per_rater=7, sentinel_every=0, rng=0)
    for r in range(40):
        for slot in range(7):
            t = sch.pick(f"r{r}", slot)
            assert t is not None
            sch.issued(f"r{r}", t)
            sch.answered_vote(t, "a")
        assert sch.pick(f"r{r}", 7) is None                       # quota
    assert sch.answered.sum() == 280 and sch.answered.max() - sch.answered.min() <= 1
    assert all(sch.seen(f"r{r}").sum() == 7 for r in range(40))    # never the same task twice


def test_asap_avoids_a_settled_pair_and_mixes_sentinels():
    tasks = toy_tasks()
    sch = PairScheduler(tasks, design="asap", votes_per_rater=100, sentinel_every=0, rng=0)
    t01 = np.flatnonzero((tasks.a == 0) & (tasks.b == 1))
    for k in range(60):
        sch.record(int(t01[k % len(t01)]), "a")
    g = sch.information_gain().reshape(4, 4)
    t = sch.pick("new", 0)
    assert (tasks.a[t], tasks.b[t]) != (0, 1)
    assert g[tasks.a[t], tasks.b[t]] == pytest.approx(max(g[i, j] for i in range(4) for j in range(i + 1, 4)))
    # sentinels: with one in three slots, slot k is a sentinel when k % 3 == offset
    sent = toy_tasks()
    sent.sentinel[:3] = True
    s2 = PairScheduler(sent, design="asap", votes_per_rater=9, sentinel_every=3, rng=0)
    picks = [s2.pick("r", k, offset=1) for k in range(9)]
    assert [bool(sent.sentinel[p]) for p in picks] == [k % 3 == 1 for k in range(9)]


def test_bt_score_cli_thurstone_and_screening(tmp_path, cli):
    from harmony.benchmark.userstudy import simulate_votes

    votes = tmp_path / "v.csv"
    simulate_votes({"a": 1.0, "b": 0.2, "c": -0.8}, 10, 25, 30, rng=4, spammers=3).to_csv(votes, index=False)
    code, output = cli(["bt-score", str(votes), "--model", "thurstone", "--screen-raters",
                        "--bootstrap", "50", "--out", str(tmp_path / "o")])
    assert code == 0, output
    assert "Thurstone Case V" in output and "scale ref:a" in output
    assert "rater screening (pwcmp outlier score, > 1.5)" in output
    import pandas as pd

    raters = pd.read_csv(tmp_path / "o" / "raters.csv")
    assert "outlier_score" in raters and raters.set_index("rater_id").loc["r0024", "outlier_score"] > 1.5
    scores = pd.read_csv(tmp_path / "o" / "scores.csv").set_index("method")
    assert scores.loc["a", "score"] == 0.0
    code, output = cli(["bt-score", str(votes), "--model", "thurstone", "--scale", "sum1"])
    assert code == 2 and "sum-to-one" in output


def test_laplace_refit_is_the_map_and_inverse_hessian():
    rng = np.random.default_rng(5)
    C = rng.integers(0, 12, (5, 5)).astype(float)
    np.fill_diagonal(C, 0)
    post = GaussianPosterior(5, prior_sd=2.0)
    post.refit(C)

    def neg_log_post(q):
        d = (q[:, None] - q[None, :]) / SIGMA
        return -np.sum(C * stats.norm.logcdf(d)) + np.sum(q * q) / (2 * 4.0)

    ref = optimize.minimize(neg_log_post, np.zeros(5), method="BFGS", tol=1e-12).x
    np.testing.assert_allclose(post.mu, ref, atol=1e-6)
    # covariance = inverse of the numerical Hessian of the negative log-posterior at the mode
    eps = 1e-4
    H = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            e_i, e_j = np.eye(5)[i] * eps, np.eye(5)[j] * eps
            H[i, j] = (neg_log_post(ref + e_i + e_j) - neg_log_post(ref + e_i - e_j)
                       - neg_log_post(ref - e_i + e_j) + neg_log_post(ref - e_i - e_j)) / (4 * eps * eps)
    np.testing.assert_allclose(post.cov, np.linalg.inv(H), rtol=1e-3, atol=1e-5)
