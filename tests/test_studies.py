"""Tests of the studies (harmony/studies/, issue 10).

Every registered study runs end to end at ``--scale test`` through the CLI and writes its five files with
the expected columns; the study-power simulation recovers known powers (a large difference -> power near
1, no difference -> the test's false-positive rate, the normal-approximation sample size -> about 80 %);
the domain-code shares (BargainNet Table 2, seed 003 section 4.4) are checked on hand-built codes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harmony.studies import OUTPUT_FILES, list_studies
from harmony.studies.domain_code import INEQUALITIES, inequality_shares
from harmony.studies.power import design_variance, simulate_power, votes_for_power

EXPECTED_COLUMNS = {
    "study-power": {"better", "worse", "true_diff", "power_wald", "power_range_test", "votes_for_80pct"},
    "domain-code": {"model", "split", "N", *INEQUALITIES, "All"},
    "fg-ratio": {"method", "MSE 0%-5%", "fMSE 0%-5%", "MSE 5%-15%", "fMSE 5%-15%", "MSE 15%-100%", "fMSE 15%-100%",
                 "MSE 0%-100%", "fMSE 0%-100%"},
    "resolution": {"method", "runs at", "PSNR 64", "PSNR 128"},
    "inharmony": {"image", "N", "mean_score", "median_score"},
    "ablations": {"table", "row", "MSE", "fMSE", "PSNR", "paper MSE", "paper PSNR"},
}
EXPECTED_ROWS = {
    "study-power": 3,            # 3 methods -> 3 pairs
    "domain-code": 4,            # 2 models x {train, test}
    "fg-ratio": 3,               # 3 methods at the test scale
    "resolution": 2,
    "inharmony": 4,              # composite, harmonized, real, harmonized real
    "ablations": 5,              # 2 SPRIH + 2 BargainNet rows + the cut-and-paste reference
}


def test_every_study_has_an_expectation():
    assert {s.name for s in list_studies()} == set(EXPECTED_COLUMNS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_study_runs_at_test_scale(cli, tmp_path, name):
    out = tmp_path / name
    code, text = cli(["study", name, "--scale", "test", "--out", str(out), "--seed", "3", "-q"])
    assert code == 0, text
    for f in OUTPUT_FILES:
        assert (out / f).is_file(), f"{f} missing"
    table = pd.read_csv(out / "table.csv")
    assert EXPECTED_COLUMNS[name] <= set(table.columns), set(table.columns)
    assert len(table) == EXPECTED_ROWS[name]
    meta = json.loads((out / "study.json").read_text())
    assert meta["study"] == name and meta["scale"] == "test" and meta["seed"] == 3
    assert meta["tool_version"] and meta["settings"] and "data" in meta
    readme = (out / "README.md").read_text()
    assert "## Our numbers" in readme and "## The paper's numbers" in readme
    assert (out / "plot.png").stat().st_size > 1000
    md = (out / "table.md").read_text().splitlines()
    assert len(md) == 2 + len(table)


def test_rerun_with_other_seed_is_refused(cli, tmp_path):
    out = tmp_path / "p"
    assert cli(["study", "study-power", "--scale", "test", "--out", str(out), "-q"])[0] == 0
    code, text = cli(["study", "study-power", "--scale", "test", "--out", str(out), "--seed", "9", "-q"])
    assert code == 2 and "another study run" in text
    code, text = cli(["study", "study-power", "--scale", "test", "--out", str(out), "--seed", "9", "--overwrite",
                      "-q", "--set", "simulations=5", "--set", "curve_simulations=4"])
    assert code == 0, text
    assert json.loads((out / "study.json").read_text())["settings"]["simulations"] == 5


def test_paper_scale_refuses_without_data(cli, tmp_path):
    code, text = cli(["study", "fg-ratio", "--scale", "paper", "--out", str(tmp_path / "x"), "-q"])
    assert code == 2
    assert "needs the iHarmony4 dataset" in text and "Traceback" not in text
    assert not (tmp_path / "x").exists()


def test_bad_setting_is_a_clean_error(cli, tmp_path):
    code, text = cli(["study", "study-power", "--scale", "test", "--out", str(tmp_path / "x"), "--set", "nope=1"])
    assert code == 2 and "unknown setting" in text


def test_list_shows_every_study(cli):
    code, text = cli(["study", "list"])
    assert code == 0, text
    for st in list_studies():
        assert st.name in text and st.table in text
    assert text.count("tiny:") == len(list_studies())


# --- study-power ------------------------------------------------------------------------------------


def test_power_large_difference_is_near_one():
    res = simulate_power({"a": 3.0, "b": 0.0}, images=5, raters=10, votes_per_rater=20, simulations=40, rng=0)
    assert res["wald"][0, 1] >= 0.95 and res["wald"][1, 0] >= 0.95


def test_power_zero_difference_is_the_false_positive_rate():
    res = simulate_power({"a": 0.0, "b": 0.0}, images=5, raters=10, votes_per_rater=20, simulations=300,
                         alpha=0.05, rng=1)
    # binomial(300, 0.05): mean 15, sd 3.8 -> the share lies in [0.015, 0.10] with overwhelming probability
    assert 0.015 <= res["wald"][0, 1] <= 0.10


def test_votes_for_80pct_against_the_two_method_formula():
    # Two methods: each vote is a Bernoulli(p) on the one pair, so Var(d_hat) = 1 / (N p (1 - p)) and
    # N80 = (z_0.975 + z_0.8)^2 / (d^2 p (1 - p)) (hand formula; z from the normal table).
    d = 0.5
    p = 1 / (1 + math.exp(-d))
    var1 = design_variance(np.array([d, 0.0]), 1.0)[0, 1]
    assert var1 == pytest.approx(1 / (p * (1 - p)), rel=1e-9)
    n80 = votes_for_power(d, var1, alpha=0.05, power=0.8)
    assert n80 == pytest.approx((1.959964 + 0.841621) ** 2 / (d * d * p * (1 - p)), rel=1e-5)
    assert votes_for_power(0.0, var1) == math.inf
    # and the simulation at that size reaches about 80 %
    res = simulate_power({"a": d, "b": 0.0}, images=3, raters=int(round(n80)), votes_per_rater=1, simulations=200,
                         rng=2)
    assert 0.70 <= res["wald"][0, 1] <= 0.90


# --- domain-code shares -----------------------------------------------------------------------------


def test_inequality_shares_on_hand_built_codes():
    # Triplet 1: every requirement holds (composite foreground far away, the rest together).
    # Triplet 2: harmonized foreground left at the composite's code (the network did nothing): only
    #            d(b,f) < d(b,f~) and d(f,b) < d(f,f~) hold.
    # Triplet 3: real foreground far from the background: d(b,f) < d(b,f~) and d(f,b) < d(f,f~) fail.
    z_b = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    z_f = np.array([[0.1, 0.0], [0.1, 0.0], [5.0, 0.0]])
    z_t = np.array([[3.0, 0.0], [3.0, 0.0], [2.0, 0.0]])   # composite foreground (f~)
    z_h = np.array([[0.0, 0.2], [3.0, 0.0], [4.5, 0.0]])   # harmonized foreground (f^)
    shares = inequality_shares(z_b, z_f, z_t, z_h)
    # triplet 3 by hand: d(b,f)=5 > d(b,f~)=2 (no); d(b,f^)=4.5 > 2 (no); d(f,f^)=0.5 < d(f,f~)=3 (yes);
    # d(f^,f)=0.5 < d(f^,f~)=2.5 (yes); d(f^,b)=4.5 > 2.5 (no); d(f,b)=5 > 3 (no)
    # triplet 2: d(b,f)=.1<3 yes; d(b,f^)=3<3 no; d(f,f^)=2.9<2.9 no; d(f^,f)=2.9<0 no; d(f^,b)=3<0 no; d(f,b)=.1<2.9 yes
    expected = {"d(b,f)<d(b,f~)": 2 / 3, "d(b,f^)<d(b,f~)": 1 / 3, "d(f,f^)<d(f,f~)": 2 / 3,
                "d(f^,f)<d(f^,f~)": 2 / 3, "d(f^,b)<d(f^,f~)": 1 / 3, "d(f,b)<d(f,f~)": 2 / 3, "All": 1 / 3}
    assert shares == pytest.approx(expected)


def test_inequality_shares_check_shapes():
    with pytest.raises(ValueError, match="codes"):
        inequality_shares(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((2, 3)))
