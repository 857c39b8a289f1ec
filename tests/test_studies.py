"""Tests of the studies (harmony/studies/).

Every registered study runs end to end at ``--scale test`` through the CLI and writes its five files with
the expected columns; the study-power simulation recovers known powers (a large difference -> power near
1, no difference -> the test's false-positive rate, the normal-approximation sample size -> about 80 %);
the domain-code shares (BargainNet, Cong et al. ICME 2021, Table 2 and section 4.4) are checked on hand-built codes.
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
    "cross-category": {"table", "row", "model", "train pairs", "MSE", "fMSE", "PSNR", "paper MSE", "paper fMSE",
                       "paper PSNR"},
}
EXPECTED_ROWS = {
    "study-power": 3,            # 3 methods -> 3 pairs
    "domain-code": 4,            # 2 models x {train, test}
    "fg-ratio": 3,               # 3 methods at the test scale
    "resolution": 2,
    "inharmony": 4,              # composite, harmonized, real, harmonized real
    "ablations": 14,             # 2 SPRIH + 8 BargainNet + 2 DIH rows + 2 cut-and-paste references
    "cross-category": 9,         # composite + Table 1 x3 + Table 2 rows 4, 7, 8, 12, 13
}


def _mitsuba() -> bool:
    from harmony.datagen.render import mitsuba_available

    return mitsuba_available()


def test_every_study_has_an_expectation():
    assert {s.name for s in list_studies()} == set(EXPECTED_COLUMNS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_study_runs_at_test_scale(cli, tmp_path, name):
    if name == "cross-category" and not _mitsuba():
        pytest.skip("Mitsuba 3 (the render extra) is not installed: no rendered pairs")
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


# --- ablations: DIH with / without the semantic decoder (Tsai et al. CVPR 2017, Tables 2-3) ----------


def test_dih_ablation_rows_train_with_and_without_the_parsing_decoder(cli, tmp_path):
    import csv

    from harmony import io as hio

    out = tmp_path / "abl"
    # 2 steps: the first is the joint (parsing) stage, the second the fine-tuning stage (parsing_fraction 0.5)
    code, text = cli(["study", "ablations", "--scale", "test", "--out", str(out), "--set", "groups=dih",
                      "--set", "steps=2", "-q"])
    assert code == 0, text
    table = pd.read_csv(out / "table.csv")
    assert list(table["row"]) == ["DIH w/o semantics", "DIH with semantics (parsing decoder)",
                                  "cut-and-paste (composite), flickr sample"]
    # the paper's Flickr column, quoted from DIH Tables 2 (MSE) and 3 (PSNR)
    assert list(table["paper MSE"]) == [491.7, 406.8, 701.6]
    assert list(table["paper PSNR"]) == [27.2, 27.4, 25.9]
    # both rows train on the same flickr sample, which carries label maps
    maps = sorted((out / "work" / "data_flickr" / "HFlickr" / "labels").glob("*.png"))
    assert maps
    classes = max(int(hio.read_label_map(m).max()) for m in maps) + 1     # independent of the trainer
    models = out / "work" / "models"
    cfg_without = json.loads((models / "dih_DIH_w_o_semantics" / "config.json").read_text())
    cfg_with = json.loads((models / "dih_DIH_with_semantics_parsing_decoder" / "config.json").read_text())
    assert cfg_without["data"] == cfg_with["data"]
    assert cfg_with["args"]["num_classes"] == classes and cfg_with["args"]["semantic"] is True
    assert cfg_without["args"]["num_classes"] == 0 and cfg_without["args"]["semantic"] is False

    def log(tag):
        with open(models / tag / "train_log.csv", newline="") as fh:
            return list(csv.DictReader(fh))

    assert float(log("dih_DIH_with_semantics_parsing_decoder")[0]["cro"]) > 0   # parsing loss trained
    assert "cro" not in log("dih_DIH_w_o_semantics")[0]
    # the verdict follows the table: "with semantics < without on MSE"
    meta = json.loads((out / "study.json").read_text())
    (concl,) = [c for c in meta["conclusions"] if c["claim"].startswith("DIH")]
    assert concl["holds"] == bool(table["MSE"][1] < table["MSE"][0])
    assert meta["extra"]["dih"]["DIH with semantics (parsing decoder)"]["parsing decoder"] is True
    assert "406.8" in (out / "README.md").read_text()


def test_dih_semantic_false_builds_no_parsing_decoder():
    from harmony.models.dih import DIH

    on, off = DIH(num_classes=5), DIH(num_classes=5, semantic=False)
    assert on.parsing is not None and on.num_classes == 5
    assert off.parsing is None and off.num_classes == 0 and off.config["num_classes"] == 0
    assert sum(q.numel() for q in off.parameters()) < sum(q.numel() for q in on.parameters())


# --- ablations: RCL Table VI (style fusion off) and BargainNet supplement Table 2 (inputs) --------------


def test_rcl_and_bargainnet_ablation_rows_use_the_model_options(cli, tmp_path):
    out = tmp_path / "abl"
    # one run for both groups (keeps the file fast); the BargainNet rows are checked below
    code, text = cli(["study", "ablations", "--scale", "test", "--out", str(out), "--set", "groups=rcl,bargainnet",
                      "-q"])
    assert code == 0, text
    table = pd.read_csv(out / "table.csv")
    t6 = table[table["table"] == "Liang et al. Table VI"]
    # Liang et al. (ICCV 2021) Table VI, rows 1-4 quoted exactly (MSE, PSNR)
    assert list(t6["paper MSE"]) == [54.55, 42.14, 29.08, 25.92]
    assert list(t6["paper PSNR"]) == [34.56, 35.53, 37.01, 37.5]
    models = out / "work" / "models"
    args = {d.name: json.loads((d / "config.json").read_text())["args"] for d in models.glob("rcl_*")}
    fusion = sorted((a["style_fusion"], tuple(a["lambdas"])) for a in args.values())
    assert fusion == [(False, (0.4, 0.0, 0.0)), (False, (0.4, 0.5, 0.0)), (True, (0.4, 0.5, 0.0)),
                      (True, (0.4, 0.5, 0.1))]
    meta = json.loads((out / "study.json").read_text())
    mse = dict(zip(table["row"], table["MSE"]))
    (sf,) = [c for c in meta["conclusions"] if "style fusion helps" in c["claim"]]
    assert sf["holds"] == bool(mse["L1 + Lpixel + S.F. (no L_HCL)"] < mse["L1 + Lpixel (no S.F., no L_HCL)"])
    readme = (out / "README.md").read_text()
    assert "54.55" in readme and "style fusion" not in "".join(meta.get("missing", []))

    t2 = table[table["table"] == "BargainNet supp. Table 2"]
    # BargainNet supplement Table 2, rows 1-8 in the paper's order, quoted exactly
    assert list(t2["paper MSE"]) == [60.79, 43.70, 37.82, 41.03, 41.71, 115.48, 120.49, 43.18]
    assert list(t2["paper PSNR"]) == [34.15, 35.43, 35.88, 35.47, 35.50, 31.94, 31.89, 35.50]
    got = set()
    for d in models.glob("bargainnet_*"):
        a = json.loads((d / "config.json").read_text())["args"]
        lam_ff = a["lambda_tri"] if a.get("lambda_ff") is None else a["lambda_ff"]
        lam_fb = a["lambda_tri"] if a.get("lambda_fb") is None else a["lambda_fb"]
        got.add((a.get("mask_input", True), a.get("code_input", "background"), lam_ff > 0, lam_fb > 0))
    # (mask, generator code, L_ff, L_fb) of the supplement's rows 1-8
    assert got == {(True, "none", False, False), (True, "background", False, False),
                   (True, "background", True, True), (True, "background", True, False),
                   (True, "background", False, True), (False, "background", True, True),
                   (False, "background", False, False), (True, "whole", True, True)}
    meta = json.loads((out / "study.json").read_text())
    assert not any("BargainNet" in m for m in meta.get("missing", []))
    assert len([c for c in meta["conclusions"] if c["claim"].startswith("BargainNet")]) == 9


# --- cross-category (CharmNet, Cao et al. BMVC 2022, Tables 1-2) ---------------------------------------


def test_cross_category_training_sets_follow_the_manifest(cli, tmp_path):
    if not _mitsuba():
        pytest.skip("Mitsuba 3 (the render extra) is not installed: no rendered pairs")
    import csv

    out = tmp_path / "cc"
    code, text = cli(["study", "cross-category", "--scale", "test", "--out", str(out), "--set", "charmnet=false",
                      "--seed", "1", "-q"])
    assert code == 0, text
    with open(out / "work" / "data_coco" / "HCOCO" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by = {(c, sp): {r["composite"].split("/")[-1] for r in rows if r["category"] == c and r["split"] == sp}
          for c in {r["category"] for r in rows} for sp in ("train", "test")}
    novel_test = by[("person", "test")]
    base_train = set().union(*(v for (c, sp), v in by.items() if c != "person" and sp == "train"))
    assert novel_test and base_train and by[("person", "train")]
    sets = out / "work" / "sets"

    def names(root, sub, split):
        f = sets / root / sub / f"{sub}_{split}.txt"
        return {x.strip() for x in f.read_text().splitlines() if x.strip()} if f.is_file() else set()

    n = len(by[("person", "train")])
    for root in ("novel", "base_sub", "rendered_sub", "rendered", "base", "fusion", "upper"):
        assert names(root, "HCOCO", "test") == novel_test, root        # one test set: novel real pairs
        assert not names(root, "HRendered", "test")
    assert names("novel", "HCOCO", "train") == by[("person", "train")]
    assert names("base_sub", "HCOCO", "train") <= base_train and len(names("base_sub", "HCOCO", "train")) == min(
        n, len(base_train))
    assert names("rendered_sub", "HCOCO", "train") == set() and len(names("rendered_sub", "HRendered", "train")) == n
    assert names("base", "HCOCO", "train") == base_train
    rendered = {x.strip() for x in (out / "work" / "data_rendered" / "HRendered" / "HRendered_train.txt").read_text().splitlines()
                if x.strip()}
    assert names("fusion", "HRendered", "train") == rendered and names("fusion", "HCOCO", "train") == base_train
    assert names("rendered", "HRendered", "train") == rendered and not names("rendered", "HCOCO", "train")
    # Table 2 row 7: stage 2 (base real pairs) starts from stage 1's (all rendered pairs) checkpoint
    stage1 = json.loads((out / "work" / "models" / "rendered_dih" / "config.json").read_text())
    stage2 = json.loads((out / "work" / "models" / "base_dih_from_rendered" / "config.json").read_text())
    assert stage2["train"]["init_from"]["sha256"] == stage1["sha256"]
    assert stage2["data"] == str((sets / "base").resolve()) and stage1["data"] == str((sets / "rendered").resolve())
    assert names("upper", "HCOCO", "train") == base_train | by[("person", "train")]
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 8 and not table["row"].str.contains("CharmNet").any()
    assert table["row"].str.startswith("7: two-stage").sum() == 1
    # Table 1's three training sets have the same size (the trainer's own count)
    t1 = table[table["table"] == "Table 1"]
    assert t1["train pairs"].nunique() == 1
    meta = json.loads((out / "study.json").read_text())
    fusion_holds = [c["holds"] for c in meta["conclusions"] if c["claim"].startswith("dataset fusion")]
    mse = dict(zip(table["row"], table["MSE"]))
    fusion, base = mse["8: dataset fusion (D_rd_tr,n + D_rl_tr,b)"], mse["4: D_rl_tr,b (base real only)"]
    assert fusion_holds == [bool(fusion < base)]
    two_stage = mse["7: two-stage training (D_rd_tr,n, then fine-tuning on D_rl_tr,b)"]
    assert [c["holds"] for c in meta["conclusions"] if c["claim"].startswith("two-stage training brings")] == [
        bool(two_stage < base)]
    assert "931.74" in (out / "README.md").read_text()
