"""Bradley-Terry fit, intervals, significance and QC (harmony.benchmark.bt).

Golden values come from published sources (Agresti 2002 Table 10.11 via BradleyTerry2; RCL's Table V,
Liang, Pun et al., Image Harmonization with Region-wise Contrastive Learning; studentized-range tables)
or from independent implementations written here (scipy ML fit, Lai's loop).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harmony.benchmark import bt
from harmony.benchmark.userstudy import simulate_votes, votes_from_frame
from harmony.errors import InputError

# --------------------------------------------------------------------------------------------------
# Agresti (2002), Categorical Data Analysis, 2nd ed., section 10.6, Table 10.11: 1987 American League
# East, each pair of teams played 13 games. Games as (home, away, home wins, away wins), the `baseball`
# data of the R package BradleyTerry2 (hturner/BradleyTerry2, data/baseball.csv).
TEAMS = ["Milwaukee", "Detroit", "Toronto", "New York", "Boston", "Cleveland", "Baltimore"]
BASEBALL = [
    ("Milwaukee", "Detroit", 4, 3), ("Milwaukee", "Toronto", 4, 2), ("Milwaukee", "New York", 4, 3),
    ("Milwaukee", "Boston", 6, 1), ("Milwaukee", "Cleveland", 4, 2), ("Milwaukee", "Baltimore", 6, 0),
    ("Detroit", "Milwaukee", 3, 3), ("Detroit", "Toronto", 4, 2), ("Detroit", "New York", 4, 3),
    ("Detroit", "Boston", 6, 0), ("Detroit", "Cleveland", 6, 1), ("Detroit", "Baltimore", 4, 3),
    ("Toronto", "Milwaukee", 2, 5), ("Toronto", "Detroit", 4, 3), ("Toronto", "New York", 2, 4),
    ("Toronto", "Boston", 4, 3), ("Toronto", "Cleveland", 4, 2), ("Toronto", "Baltimore", 6, 0),
    ("New York", "Milwaukee", 3, 3), ("New York", "Detroit", 5, 1), ("New York", "Toronto", 2, 5),
    ("New York", "Boston", 4, 3), ("New York", "Cleveland", 4, 2), ("New York", "Baltimore", 6, 1),
    ("Boston", "Milwaukee", 5, 1), ("Boston", "Detroit", 2, 5), ("Boston", "Toronto", 3, 3),
    ("Boston", "New York", 4, 2), ("Boston", "Cleveland", 5, 2), ("Boston", "Baltimore", 6, 0),
    ("Cleveland", "Milwaukee", 2, 5), ("Cleveland", "Detroit", 3, 3), ("Cleveland", "Toronto", 3, 4),
    ("Cleveland", "New York", 4, 3), ("Cleveland", "Boston", 4, 2), ("Cleveland", "Baltimore", 2, 4),
    ("Baltimore", "Milwaukee", 2, 5), ("Baltimore", "Detroit", 1, 5), ("Baltimore", "Toronto", 1, 6),
    ("Baltimore", "New York", 2, 4), ("Baltimore", "Boston", 1, 6), ("Baltimore", "Cleveland", 3, 4),
]
# Agresti's estimates (Baltimore = 0) and the standard errors BradleyTerry2 prints for the same model
# (tests/baseball.Rout.save: Milwaukee 0.3433, Detroit 0.3396, Toronto 0.3367, New York 0.3359,
# Boston 0.3339, Cleveland 0.3319).
AGRESTI = [1.58, 1.44, 1.29, 1.25, 1.11, 0.68, 0.00]
AGRESTI_SE = [0.3433, 0.3396, 0.3367, 0.3359, 0.3339, 0.3319, 0.0]


def baseball_matrix() -> np.ndarray:
    C = np.zeros((7, 7))
    for home, away, hw, aw in BASEBALL:
        i, j = TEAMS.index(home), TEAMS.index(away)
        C[i, j] += hw
        C[j, i] += aw
    return C


def baseball_votes_csv(path) -> None:
    rows = []
    for home, away, hw, aw in BASEBALL:
        rows += [("fan", f"{home}-{away}", home, away, "a")] * hw + [("fan", f"{home}-{away}", home, away, "b")] * aw
    pd.DataFrame(rows, columns=["rater_id", "image_id", "method_a", "method_b", "choice"]).to_csv(path, index=False)


def test_baseball_design_is_13_games_per_pair():
    C = baseball_matrix()
    N = C + C.T
    assert np.all(N[~np.eye(7, dtype=bool)] == 13)


def test_agresti_baseball_estimates_and_standard_errors():
    C = baseball_matrix()
    s = bt.fit(C, methods=TEAMS)
    est = bt.to_scale(s, "ref", 6)
    np.testing.assert_allclose(est, AGRESTI, atol=0.005)          # published to 2 decimals
    cov = bt.scale_covariance(bt.centred_covariance(C, s), s, "ref", 6)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), AGRESTI_SE, atol=5e-5)


def test_agresti_baseball_through_the_cli(tmp_path, cli):
    votes = tmp_path / "baseball.csv"
    baseball_votes_csv(votes)
    code, out = cli(["bt-score", str(votes), "--scale", "ref:Baltimore", "--bootstrap", "0",
                     "--out", str(tmp_path / "o")])
    assert code == 0, out
    df = pd.read_csv(tmp_path / "o" / "scores.csv").set_index("method").loc[TEAMS]
    np.testing.assert_allclose(df["score"], AGRESTI, atol=0.005)
    np.testing.assert_allclose(df["se"], AGRESTI_SE, atol=5e-5)
    assert list(df["rank"]) == [1, 2, 3, 4, 5, 6, 7]
    assert df["votes"].tolist() == [78] * 7                          # 6 opponents x 13 games


def _independent_mle(C: np.ndarray) -> np.ndarray:
    """Maximise sum_ij C_ij log sigmoid(s_i - s_j) with scipy (s_0 fixed at 0), then centre."""
    from scipy.optimize import minimize

    m = C.shape[0]

    def nll(x):
        s = np.concatenate([[0.0], x])
        d = s[:, None] - s[None, :]
        return float(np.sum(C * np.logaddexp(0.0, -d)))

    def grad(x):
        s = np.concatenate([[0.0], x])
        p = 1.0 / (1.0 + np.exp(-(s[:, None] - s[None, :])))
        g = -(C.sum(1) - ((C + C.T) * p).sum(1))
        return g[1:]

    r = minimize(nll, np.zeros(m - 1), jac=grad, method="BFGS", options={"gtol": 1e-11, "maxiter": 10000})
    s = np.concatenate([[0.0], r.x])
    return s - s.mean(), nll


def test_agrees_with_independent_scipy_maximum_likelihood(rng):
    m = 8
    true = rng.normal(0, 1, m)
    N = rng.integers(5, 60, (m, m))
    N = np.triu(N, 1)
    N = N + N.T
    p = 1 / (1 + np.exp(-(true[:, None] - true[None, :])))
    wins = rng.binomial(np.triu(N, 1), np.triu(p, 1))
    C = wins + np.triu(N - wins, 1).T
    C = C.astype(float)
    C[0, 1] += 0.5                                                 # a tie counted half each way
    C[1, 0] += 0.5
    s = bt.fit(C)
    ref, nll = _independent_mle(C)
    np.testing.assert_allclose(s, ref, atol=1e-6)
    # Hessian standard errors: compare with a finite-difference Hessian of the test's own likelihood
    # (s_0 fixed at 0, so this is the covariance of s_i - s_0)
    x0 = (ref - ref[0])[1:]
    h = 1e-4
    H = np.zeros((m - 1, m - 1))
    for i in range(m - 1):
        for j in range(m - 1):
            e_i, e_j = np.eye(m - 1)[i] * h, np.eye(m - 1)[j] * h
            H[i, j] = (nll(x0 + e_i + e_j) - nll(x0 + e_i - e_j) - nll(x0 - e_i + e_j) + nll(x0 - e_i - e_j)) / (4 * h * h)
    se_fd = np.sqrt(np.diag(np.linalg.inv(H)))
    cov = bt.scale_covariance(bt.centred_covariance(C, s), s, "ref", 0)
    np.testing.assert_allclose(np.sqrt(np.diag(cov))[1:], se_fd, rtol=1e-4)


def test_scales():
    s = np.array([1.0, 0.0, -1.0])
    np.testing.assert_allclose(bt.to_scale(s, "sum1"), np.exp(s) / np.exp(s).sum())
    np.testing.assert_allclose(bt.to_scale(s, "ref", 2), [2.0, 1.0, 0.0])
    np.testing.assert_allclose(bt.to_scale(s + 5, "centered"), s)
    with pytest.raises(InputError, match="not among"):
        bt.parse_scale("ref:nope", ["a", "b"])


# --------------------------------------------------------------------------------------------------
# RCL (Liang, Pun et al.), Table V: votes 326 521 491 618 816 -> preference 11.76% 18.80% 17.71% 22.29% 29.44%

TABLE_V = {"Copy-paste": 326, "DIH": 521, "BargainNet": 491, "RainNet": 618, "Ours": 816}
TABLE_V_PREF = {"Copy-paste": 11.76, "DIH": 18.80, "BargainNet": 17.71, "RainNet": 22.29, "Ours": 29.44}


def test_preference_reproduces_rcl_table_v(rng, tmp_path, cli):
    names = list(TABLE_V)
    rows = []
    for _k, (name, n) in enumerate(TABLE_V.items()):
        others = [o for o in names if o != name]
        losers = rng.choice(others, n)
        for r, lo in enumerate(losers):
            left = rng.random() < 0.5
            rows.append((f"u{r % 22}", f"img{r % 99}", name if left else lo, lo if left else name,
                         "a" if left else "b"))
    path = tmp_path / "rcl.csv"
    pd.DataFrame(rows, columns=["rater_id", "image_id", "method_a", "method_b", "choice"]).to_csv(path, index=False)
    code, out = cli(["bt-score", str(path), "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert code == 0, out
    df = pd.read_csv(tmp_path / "o" / "scores.csv").set_index("method")
    for name in names:
        assert df.loc[name, "wins"] == TABLE_V[name]
        assert round(100 * df.loc[name, "preference"], 2) == TABLE_V_PREF[name]
    assert df["votes"].sum() == 2 * sum(TABLE_V.values())


# --------------------------------------------------------------------------------------------------
# recovery of known strengths


def test_recovers_known_strengths_within_bootstrap_interval():
    truth = {"ours": 0.9, "b": 0.4, "c": 0.1, "d": -0.3, "composite": -1.1}
    sim = simulate_votes(truth, 60, 120, 80, 11, sentinels_per_rater=10, spammers=12)
    res = bt.score_votes(votes_from_frame(sim), n_boot=300, by="rater", seed=3, ci=0.99)
    t = res.table.set_index("method")
    tv = np.array(list(truth.values()))
    tv = dict(zip(truth, tv - tv.mean()))
    for m, v in tv.items():
        assert t.loc[m, "ci_low"] <= v <= t.loc[m, "ci_high"], (m, v, t.loc[m].to_dict())
    assert list(t.index) == list(truth)                          # the ranking is recovered
    # excluded = raters below 0.8 sentinel accuracy, counted here with pandas from the simulated log
    sent = sim[sim["is_sentinel"] == 1]
    picked = np.where(sent["choice"] == "a", sent["method_a"], sent["method_b"])
    acc = (pd.Series(picked == sent["correct"].to_numpy()).groupby(sent["rater_id"].to_numpy()).mean())
    expected = sorted(acc[acc < 0.8].index)
    assert sorted(res.excluded_raters) == expected
    assert set(expected) <= {f"r{i:04d}" for i in range(108, 120)} and len(expected) >= 9   # spammers
    assert res.settings["votes_used"] == (120 - len(expected)) * 80
    # pairwise probabilities: the best beats the worst in every replicate
    assert res.pairwise_prob.loc["ours", "composite"] == 1.0
    np.testing.assert_allclose(res.pairwise_prob + res.pairwise_prob.T, 1.0)


def test_hessian_se_matches_vote_bootstrap():
    truth = {"a": 0.5, "b": 0.0, "c": -0.5, "d": 0.2}
    sim = simulate_votes(truth, 20, 50, 100, 5)
    res = bt.score_votes(votes_from_frame(sim), n_boot=600, by="vote", seed=1)
    boot_sd = np.std(res.replicates, axis=0, ddof=1)
    se = np.sqrt(np.diag(res.covariance))
    np.testing.assert_allclose(boot_sd, se, rtol=0.15)          # bootstrap and Hessian SE agree for independent votes


def test_unit_bootstrap_equals_resampling_rows(rng):
    """W @ per-unit cells is exactly the count of the rows of a resampled set of units."""
    m, n = 4, 500
    w = rng.integers(0, m, n)
    lo = (w + rng.integers(1, m, n)) % m
    tie = rng.random(n) < 0.1
    unit = rng.integers(0, 30, n)
    cells = bt.cells_from_votes(w, lo, tie, m, unit, 30)
    W = bt.bootstrap_weights(30, 3, rng)
    rep = W @ cells
    for b in range(3):
        picked = np.repeat(np.arange(30), W[b].astype(int))
        rows = np.concatenate([np.flatnonzero(unit == u) for u in picked])
        direct = bt.cells_from_votes(w[rows], lo[rows], tie[rows], m)[0]
        np.testing.assert_array_equal(rep[b], direct)


# --------------------------------------------------------------------------------------------------
# degenerate comparison graphs (documented behaviour: refuse with alpha = 0, naming the methods;
# regularise with --alpha; per-image pooling drops non-finite per-image scores)


def _c(pairs, m):
    C = np.zeros((m, m))
    for i, j, k in pairs:
        C[i, j] += k
    return C


NAMES = ["a", "b", "c", "d"]


def test_never_wins_is_refused_and_regularised():
    C = _c([(0, 1, 3), (1, 0, 2), (0, 2, 4), (1, 2, 5), (0, 3, 1), (3, 0, 1), (3, 1, 2), (1, 3, 1)], 4)
    with pytest.raises(InputError, match=r"never wins: c.*--alpha"):
        bt.fit(C, methods=NAMES)
    s = bt.fit(C, alpha=0.01, methods=NAMES)
    assert np.isfinite(s).all() and np.argmin(s) == 2


def test_never_loses_is_refused():
    C = _c([(0, 1, 3), (0, 2, 2), (1, 2, 2), (2, 1, 1), (3, 1, 1), (1, 3, 2), (3, 2, 1), (2, 3, 2)], 4)
    conn = bt.check_connectivity(C, NAMES)
    assert not conn.strongly_connected and conn.never_loses == ["a"]
    with pytest.raises(InputError, match="never loses: a"):
        bt.fit(C, methods=NAMES)
    assert np.argmax(bt.fit(C, alpha=0.01)) == 0


def test_never_compared_and_disconnected():
    C = _c([(0, 1, 3), (1, 0, 2), (2, 3, 1), (3, 2, 4)], 5)
    conn = bt.check_connectivity(C, NAMES + ["e"])
    assert conn.never_compared == ["e"]
    assert "disconnected groups" in conn.message and "{a, b}" in conn.message and "{c, d}" in conn.message
    with pytest.raises(InputError, match="never compared: e"):
        bt.fit(C, methods=NAMES + ["e"])


def test_disconnected_graph_via_cli_exits_2(tmp_path, cli):
    path = tmp_path / "v.csv"
    pd.DataFrame({"rater_id": ["r"] * 4, "image_id": ["1"] * 4, "method_a": ["a", "a", "c", "c"],
                  "method_b": ["b", "b", "d", "d"], "choice": ["a", "b", "a", "b"]}).to_csv(path, index=False)
    code, out = cli(["bt-score", str(path)])
    assert code == 2
    assert out.strip().startswith("Error:") and "disconnected groups: {a, b} | {c, d}" in out
    assert len(out.strip().splitlines()) == 1
    code, out = cli(["bt-score", str(path), "--alpha", "0.5", "--bootstrap", "50"])
    assert code == 0, out


def _lai_loop(C, max_iter=5000, precision=1e-8):
    """Lai et al.'s BT_EM_exp.m, written out independently (one image, plain loop)."""
    N = C + C.T
    n = C.shape[0]
    s = np.ones(n)
    for _ in range(max_iter):
        L = np.exp(s)[None, :] + np.exp(s)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            s_next = np.log(C.sum(1) / (N / L).sum(1))
        delta = s_next - s
        s = s_next
        if not np.linalg.norm(delta) > precision:
            break
    return s


def test_lai_mm_matches_choix_and_a_plain_loop(rng):
    Cs = rng.integers(1, 6, (5, 6, 6)).astype(float)
    for C in Cs:
        np.fill_diagonal(C, 0)
    raw = bt.fit_lai(Cs)
    for k, C in enumerate(Cs):
        ref = _lai_loop(C)
        np.testing.assert_allclose(raw[k], ref, atol=1e-7)
        np.testing.assert_allclose(raw[k] - raw[k].mean(), bt.fit(C), atol=1e-6)


def test_per_image_drops_never_winning_scores():
    # image 0: everyone wins sometimes; image 1: c never wins (a beat b once, b beat a twice)
    C0 = _c([(0, 1, 2), (1, 0, 1), (0, 2, 1), (2, 0, 1), (1, 2, 1), (2, 1, 2)], 3)
    C1 = _c([(0, 1, 1), (1, 0, 2), (0, 2, 2), (1, 2, 3)], 3)
    P = bt.fit_per_image(np.stack([C0, C1]))
    assert np.isnan(P[1, 2]) and np.isfinite(P[0]).all()
    s0 = bt.fit(C0)
    np.testing.assert_allclose(P[0], s0, atol=1e-6)
    # with c at strength 0 the fixed point is the a-vs-b fit alone: s_a - s_b = log(1/2), centred
    half = 0.5 * math.log(0.5)
    np.testing.assert_allclose(P[1, :2], [half, -half], atol=1e-6)
    pooled = bt.pooled_mean(P)
    np.testing.assert_allclose(pooled, [(s0[0] + half) / 2, (s0[1] - half) / 2, s0[2]], atol=1e-6)
    # Lai's MATLAB loop stops at the first NaN change (after two iterations here): reproduced on request
    orig = bt.fit_lai(np.stack([C0, C1]), original_stop=True)
    ref = _lai_loop(C1)
    assert np.isnan(ref[2]) and np.isnan(orig[1, 2])
    np.testing.assert_allclose(orig[1, :2], ref[:2], atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Lai et al.'s range test and Kendall's u


def test_range_quantile_against_published_tables():
    # m = 2: the range is |Z1 - Z2| = sqrt(2)|Z|, so W = sqrt(2) z_{alpha/2}
    assert bt.range_quantile(2, 0.05) == pytest.approx(math.sqrt(2) * 1.959964, abs=1e-5)
    assert bt.range_quantile(2, 0.01) == pytest.approx(math.sqrt(2) * 2.575829, abs=1e-5)
    # studentized range tables, df = infinity (e.g. Harter 1960; any Tukey HSD table)
    assert round(bt.range_quantile(3, 0.05), 2) == 3.31
    assert round(bt.range_quantile(5, 0.05), 2) == 3.86
    assert round(bt.range_quantile(10, 0.01), 2) == 5.16
    assert round(bt.range_quantile(20, 0.01), 2) == 5.65


def test_range_test_threshold_and_groups():
    wins = np.array([100.0, 90, 60, 55, 10])
    rt = bt.range_test(wins, n_votes=200, alpha=0.01)
    # S = ceil(200 votes / C(5, 2) pairs) = 20; W(5, 0.01, df = inf) = 4.60 in the studentized-range tables;
    # R = ceil(0.5 * 4.60 * sqrt(20 * 5) + 0.25) = ceil(23.25) = 24
    assert rt["W"] == pytest.approx(4.60, abs=0.005)
    assert (rt["S"], rt["R"]) == (20, 24)
    assert rt["groups"] == ["a", "a", "b", "b", "c"]
    assert bt.significance_groups(np.array([10.0, 8, 6, 4]), 3) == ["a", "ab", "bc", "c"]


def test_kendall_u_hand_cases():
    M, m = 3, 4
    C = np.array([[0, 4, 0], [0, 0, 4], [4, 0, 0]], float)        # every rater agrees on every pair
    assert bt.kendall_u(C) == pytest.approx(1.0)
    # splits 2-2 on every pair: sum C(2,2) = 6 -> u = 2*6/(3*6) - 1 = -1/3
    C = np.array([[0, 2, 2], [2, 0, 2], [2, 2, 0]], float)
    assert bt.kendall_u(C) == pytest.approx(2 * 6 / (math.comb(M, 2) * math.comb(m, 2)) - 1)
    assert bt.kendall_u(C) == pytest.approx(-1 / 3)


# --------------------------------------------------------------------------------------------------
# rater quality control


def test_rater_table_bias_sentinels_and_triads():
    # rater 0: a>b, b>c, c>a (one circular triad), all chosen on the left
    # rater 1: a>b, b>c, a>c (transitive); one sentinel right, one wrong
    a = np.array([0, 1, 2, 0, 1, 0, 3, 3])
    b = np.array([1, 2, 0, 1, 2, 2, 4, 4])
    choice = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    rater = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    sent = np.array([0, 0, 0, 0, 0, 0, 1, 1], bool)
    correct = np.array([-1, -1, -1, -1, -1, -1, 3, 3])
    a_left = np.array([1, 1, 1, 0, 0, 1, 1, 1], bool)
    t = bt.rater_table(rater, 2, a, b, choice, sent, correct, a_left, 5)
    assert t["votes"].tolist() == [3, 3]
    assert t["circular_triads"].tolist() == [1, 0]
    assert t["decided_triads"].tolist() == [1, 1]
    assert t["sentinels"].tolist() == [0, 2] and t["sentinel_accuracy"][1] == 0.5
    assert t["left_rate"][0] == 1.0 and t["left_rate"][1] == pytest.approx(2 / 5)
    assert t["left_p"][0] == pytest.approx(2 * 0.5 ** 3)           # two-sided binomial, 3 of 3 left


def test_equal_scores_share_a_rank():
    # y and z are exchangeable (each beaten once by x, each beat one other once): same score, same rank
    df = pd.DataFrame({"rater_id": ["w1", "w1", "w2", "w2", "w3"], "image_id": ["1"] * 5,
                       "method_a": ["x", "y", "z", "x", "y"], "method_b": ["y", "z", "x", "z", "x"],
                       "choice": ["a", "a", "a", "a", "b"]})
    res = bt.score_votes(votes_from_frame(df), alpha=0.1, n_boot=0)
    t = res.table.set_index("method")
    assert t.loc["y", "score"] == pytest.approx(t.loc["z", "score"], abs=1e-9)
    assert t["rank"].tolist() == [1, 2, 2]


# --------------------------------------------------------------------------------------------------
# the named steps of score_votes, on a log small enough to follow by hand


def _hand_log():
    rows = [("r1", "1", "x", "y", "a", 0, ""), ("r1", "1", "y", "z", "a", 0, ""),
            ("r1", "2", "real", "bad", "a", 1, "real"),              # r1 picks the real photo: right
            ("r2", "1", "x", "z", "a", 0, ""), ("r2", "2", "real", "bad", "b", 1, "real"),   # r2: wrong
            ("r3", "1", "x", "y", "b", 0, ""), ("r3", "2", "y", "z", "tie", 0, ""),
            ("r3", "2", "z", "x", "a", 0, "")]
    frame = pd.DataFrame(rows, columns=["rater_id", "image_id", "method_a", "method_b", "choice", "is_sentinel",
                                        "correct"])
    return votes_from_frame(frame)


def test_qc_and_filter_steps_by_hand():
    log = _hand_log()
    sentinel, correct = bt.sentinel_rows(log)
    assert sentinel.tolist() == [False, False, True, False, True, False, False, False]
    assert [log.methods[c] if c >= 0 else None for c in correct[sentinel]] == ["real", "real"]
    notes = []
    qc = bt.rater_qc(log, sentinel, correct, min_sentinel_accuracy=0.8, notes=notes)
    assert qc.excluded == ["r2"]                                      # 0 of 1 sentinels right
    assert qc.raters.set_index("rater_id")["sentinel_accuracy"].to_dict() == pytest.approx(
        {"r1": 1.0, "r2": 0.0, "r3": float("nan")}, nan_ok=True)
    assert qc.keep.tolist() == [True, True, False, False, False, True, True, True]
    votes = bt.filter_votes(log, qc, sentinel, ties="drop", notes=notes)
    assert notes == ["1 tie votes dropped (--ties drop)"]
    assert votes.methods == ["x", "y", "z"]
    # kept: x>y (r1), y>z (r1), y>x (r3, chose b), z>x (r3)
    assert votes.winner.tolist() == [0, 1, 1, 2] and votes.loser.tolist() == [1, 2, 0, 0]
    assert votes.image_ids == ["1", "2"] and votes.image_codes.tolist() == [0, 0, 0, 1]
    assert votes.n_raters == 2 and votes.rater_codes.tolist() == [0, 0, 1, 1]


def test_normal_intervals_without_bootstrap_by_hand():
    # win counts C = [[0, 2, 1], [1, 0, 2], [1, 1, 0]] (x, y, z): every method wins and loses, so the MLE exists
    frame = pd.DataFrame({"rater_id": ["r"] * 8, "image_id": ["1"] * 8,
                          "method_a": ["x", "x", "y", "x", "z", "y", "y", "z"],
                          "method_b": ["y", "y", "x", "z", "x", "z", "z", "y"],
                          "choice": ["a", "a", "a", "a", "a", "a", "a", "a"]})
    res = bt.score_votes(votes_from_frame(frame), n_boot=0)
    t = res.table.set_index("method")
    # wins by hand: x 3, y 3, z 2; 8 votes
    assert t["wins"].to_dict() == {"x": 3.0, "y": 3.0, "z": 2.0}
    assert t["preference"].to_dict() == pytest.approx({"x": 3 / 8, "y": 3 / 8, "z": 2 / 8})
    z = 1.959963984540054                                           # Phi^-1(0.975)
    np.testing.assert_allclose(t["ci_high"] - t["score"], z * t["se"], rtol=1e-12)
    np.testing.assert_allclose(t["score"] - t["ci_low"], z * t["se"], rtol=1e-12)
    assert res.settings["ci_method"] == "normal (Hessian standard errors)"
    ref, _ = _independent_mle(res.win_matrix.to_numpy())
    np.testing.assert_allclose(res.table.set_index("method").loc[res.settings["methods"], "score"], ref, atol=1e-6)
