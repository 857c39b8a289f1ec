"""Vote-log loading (four formats, bad input), 2AFC task lists, the simulator, and Lai et al.'s real study.

The Lai et al. 2016 votes are read in place from the shared data folder, data/lai2016 (skipped where absent).
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harmony.benchmark import bt
from harmony.benchmark.userstudy import (
    detect_format,
    load_votes,
    make_pairs,
    read_method_names,
    simulate_votes,
    votes_from_frame,
)
from harmony.errors import InputError

# the same six votes in each format: x beats y twice, y beats z, z beats x, x beats z, y beats x
VOTES = [("r1", "1", "x", "y", "a"), ("r1", "2", "y", "x", "b"), ("r2", "1", "y", "z", "a"),
         ("r2", "2", "x", "z", "b"), ("r1", "3", "z", "x", "b"), ("r2", "3", "x", "y", "b")]
EXPECTED = np.array([[0, 2, 1], [1, 0, 1], [1, 0, 0]], float)   # methods x, y, z


def _win_matrix(log):
    m = len(log.methods)
    df = log.df
    w = np.where(df["choice"] == 1, df["b"], df["a"])
    lo = np.where(df["choice"] == 1, df["a"], df["b"])
    C = np.zeros((m, m))
    np.add.at(C, (w, lo), 1)
    return C


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_four_formats_give_the_same_win_matrix(tmp_path):
    canon = "rater_id,image_id,method_a,method_b,choice\n" + "".join(f"{r},{i},{a},{b},{c}\n" for r, i, a, b, c in VOTES)
    ids = {"x": 1, "y": 2, "z": 3}
    lai = "Image ID,Method 1,Method 2,Result\n" + "".join(
        f"{i},{ids[a]},{ids[b]},{1 if c == 'a' else 2}\n" for r, i, a, b, c in VOTES)
    ck = "worker,left,right,label\n" + "".join(f"{r},{a},{b},{a if c == 'a' else b}\n" for r, i, a, b, c in VOTES)
    arena = "model_a,model_b,winner,judge\n" + "".join(
        f"{a},{b},{'model_a' if c == 'a' else 'model_b'},{r}\n" for r, i, a, b, c in VOTES)
    names = _write(tmp_path / "method.txt", "x\ny\nz\n")
    logs = {
        "canonical": load_votes(_write(tmp_path / "c.csv", canon)),
        "lai": load_votes(_write(tmp_path / "l.csv", lai), method_names=read_method_names(names)),
        "crowdkit": load_votes(_write(tmp_path / "k.csv", ck)),
        "arena": load_votes(_write(tmp_path / "a.csv", arena)),
    }
    for fmt, log in logs.items():
        assert log.format == fmt
        assert log.methods == ["x", "y", "z"]
        np.testing.assert_array_equal(_win_matrix(log), EXPECTED, err_msg=fmt)
    assert logs["canonical"].has_raters and not logs["lai"].has_raters and logs["arena"].has_raters
    # --format overrides detection
    assert load_votes(tmp_path / "k.csv", fmt="crowdkit").format == "crowdkit"


def test_ties_half_and_drop(tmp_path):
    p = _write(tmp_path / "t.csv", "rater_id,image_id,method_a,method_b,choice\nr,1,x,y,a\nr,1,x,y,tie\n"
               "r,1,y,x,a\nr,2,x,y,TIE\n")
    log = load_votes(p)
    half = bt.score_votes(log, n_boot=0, ties="half")
    np.testing.assert_array_equal(half.win_matrix.to_numpy(), [[0, 2], [2, 0]])   # 1 + 0.5 + 0.5 each
    drop = bt.score_votes(log, n_boot=0, ties="drop")
    np.testing.assert_array_equal(drop.win_matrix.to_numpy(), [[0, 1], [1, 0]])
    assert drop.settings["votes_used"] == 2 and half.settings["votes_used"] == 4


def test_unanswered_rows_are_skipped_and_counted(tmp_path):
    p = _write(tmp_path / "t.csv", "rater_id,image_id,method_a,method_b,choice\nr,1,x,y,a\nr,1,y,x,\nr,2,x,y,b\n")
    log = load_votes(p)
    assert log.n_votes == 2 and log.unanswered == 1


# --------------------------------------------------------------------------------------------------
# bad input: exit code 2, one line naming the problem


BAD = {
    "missing": ("rater_id,image_id,method_a,choice\nr,1,x,a\n", "missing column(s) method_b"),
    "choice": ("rater_id,image_id,method_a,method_b,choice\nr,1,x,y,left\n", "unknown choice value(s) 'left'"),
    "self": ("rater_id,image_id,method_a,method_b,choice\nr,1,x,y,a\nr,1,x,x,a\n", "'x' compared with itself"),
    "one": ("rater_id,image_id,method_a,method_b,choice\n", "no votes"),
    "empty": ("", "empty file"),
    "mixed": ("rater_id,image_id,method_a,method_b,choice,model_a,model_b,winner\nr,1,x,y,a,x,y,model_a\n",
              "mixed formats"),
    "header": ("foo,bar\n1,2\n", "unrecognised header"),
    "lai_result": ("Image ID,Method 1,Method 2,Result\n1,1,2,3\n", "unknown Result value(s) '3'"),
    "crowdkit_label": ("worker,left,right,label\nw,x,y,z\n", "unknown label value 'z'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line(case, tmp_path, cli):
    text, msg = BAD[case]
    p = _write(tmp_path / f"{case}.csv", text)
    code, out = cli(["bt-score", str(p)])
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), out
    assert msg in lines[0]


def test_one_method_only(tmp_path, cli):
    p = _write(tmp_path / "one.csv", "rater_id,image_id,method_a,method_b,choice\nr,1,x,real,b\n"
               "r,1,x,real,a\n")
    code, out = cli(["bt-score", str(p), "--sentinel-method", "real"])
    assert code == 2 and "only 0 method(s) (none) outside sentinel pairs" in out and "\n" not in out.strip()
    p = _write(tmp_path / "one2.csv", "rater_id,image_id,method_a,method_b,choice,is_sentinel,correct\n"
               "r,1,x,real,b,1,real\nr,1,x,y,a,1,y\n")
    code, out = cli(["bt-score", str(p)])
    assert code == 2 and "only one method" in out and "\n" not in out.strip()


def test_non_utf8_bytes(tmp_path, cli):
    p = _write(tmp_path / "latin.csv", "rater_id,image_id,method_a,method_b,choice\nr,1,caf\xe9,y,a\n",
               encoding="latin-1")
    code, out = cli(["bt-score", str(p)])
    assert code == 2 and "not UTF-8" in out and "0xe9" in out and len(out.strip().splitlines()) == 1


def test_mixed_formats_across_files(tmp_path, cli):
    a = _write(tmp_path / "a.csv", "rater_id,image_id,method_a,method_b,choice\nr,1,x,y,a\n")
    b = _write(tmp_path / "b.csv", "model_a,model_b,winner\nx,y,model_b\n")
    code, out = cli(["bt-score", str(a), str(b)])
    assert code == 2 and "mixed formats" in out and "a.csv is canonical" in out


def test_missing_columns_are_named():
    with pytest.raises(InputError, match="missing column.s. rater_id, choice"):
        detect_format(["image_id", "method_a", "method_b"])


def test_refuses_to_overwrite_outputs(tmp_path, cli):
    p = tmp_path / "v.csv"
    simulate_votes({"a": 0.5, "b": 0.0, "c": -0.5}, 5, 10, 20, 0).to_csv(p, index=False)
    assert cli(["bt-score", str(p), "--bootstrap", "20", "--out", str(tmp_path / "o")])[0] == 0
    code, out = cli(["bt-score", str(p), "--bootstrap", "20", "--out", str(tmp_path / "o")])
    assert code == 2 and "--overwrite" in out
    assert cli(["bt-score", str(p), "--bootstrap", "20", "--out", str(tmp_path / "o"), "--overwrite"])[0] == 0


def test_million_rows_load_column_wise(tmp_path):
    rng = np.random.default_rng(0)
    block = simulate_votes({f"m{k}": v for k, v in enumerate(np.linspace(1, -1, 10))}, 200, 1000, 10, rng)
    block = block[["rater_id", "image_id", "method_a", "method_b", "choice"]]
    body = block.to_csv(index=False, header=False).encode()
    p = tmp_path / "big.csv"
    p.write_bytes(b"rater_id,image_id,method_a,method_b,choice\n" + body * 100)       # 1,000,000 votes
    t = time.perf_counter()
    log = load_votes(p)
    elapsed = time.perf_counter() - t
    n = 100 * len(block)
    assert n == 1_000_000 and log.n_votes == n and len(log.methods) == 10
    assert log.df["rater_id"].nunique() == 1000
    k = rng.integers(0, n, 1000)                                    # codes agree with the rows
    assert (np.asarray(log.methods)[log.df["a"].to_numpy()[k]] == block["method_a"].to_numpy()[k % len(block)]).all()
    assert elapsed < 60  # generous: the point is that loading is column-wise, not a row loop


# --------------------------------------------------------------------------------------------------
# task lists and simulation


def test_make_pairs_is_balanced_randomised_and_seeded():
    methods, images = ["a", "b", "c", "d"], [f"im{i}" for i in range(30)]
    df = make_pairs(methods, images, rng=5)
    assert len(df) == 30 * 6
    pairs = df.apply(lambda r: (r["image_id"], frozenset((r["method_a"], r["method_b"]))), axis=1)
    expected = {(i, frozenset(p)) for i in images for p in itertools.combinations(methods, 2)}
    assert set(pairs) == expected and pairs.is_unique
    left = df["method_a"].value_counts()
    assert set(left.index) == set(methods) and 0.3 < left["a"] / 90 < 0.7   # sides are random
    assert (df["choice"] == "").all() and (df["is_sentinel"] == 0).all()
    pd.testing.assert_frame_equal(df, make_pairs(methods, images, rng=5))
    assert not df.equals(make_pairs(methods, images, rng=6))


def test_make_pairs_sentinels_and_errors():
    df = make_pairs(["a", "b"], ["1", "2"], sentinels=10, rng=0)
    s = df[df["is_sentinel"] == 1]
    assert len(s) == 10 and (s["correct"] == "real").all()
    assert ((s["method_a"] == "real") ^ (s["method_b"] == "real")).all()
    with pytest.raises(InputError, match="at least two"):
        make_pairs(["a"], ["1"])
    with pytest.raises(InputError, match="duplicate"):
        make_pairs(["a", "a"], ["1"])


def test_study_pairs_cli_roundtrip(tmp_path, cli):
    out = tmp_path / "tasks.csv"
    code, text = cli(["study", "pairs", "--methods", "a,b,c", "--images", "1,2,3", "--sentinels", "4",
                      "--seed", "1", "--out", str(out)])
    assert code == 0, text
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df.columns[:5]) == ["rater_id", "image_id", "method_a", "method_b", "choice"]
    assert len(df) == 3 * 3 + 4
    assert cli(["study", "pairs", "--methods", "a,b,c", "--images", "1,2,3", "--out", str(out)])[0] == 2
    # answer it: the always-the-alphabetically-first rater, then score it
    df["rater_id"] = "r1"
    df["choice"] = np.where(df["method_a"] < df["method_b"], "a", "b")
    df.loc[df["is_sentinel"] == "1", "choice"] = np.where(df.loc[df["is_sentinel"] == "1", "method_a"] == "real", "a", "b")
    df.loc[0, "choice"] = ""                                            # one unanswered task
    df.to_csv(out, index=False)
    log = load_votes(out)
    assert log.unanswered == 1 and log.df["is_sentinel"].sum() == 4


def test_simulate_votes_layout_and_rates():
    sim = simulate_votes({"a": 1.0, "b": 0.0}, 10, 50, 400, 0)
    assert len(sim) == 20_000 and set(sim["choice"]) == {"a", "b"}
    won_a = np.where(sim["choice"] == "a", sim["method_a"], sim["method_b"]) == "a"
    assert abs(won_a.mean() - 1 / (1 + np.exp(-1.0))) < 0.015          # P(a beats b) = sigmoid(1)
    log = votes_from_frame(sim)
    assert log.methods == ["a", "b"] and log.n_votes == 20_000


def test_demo_commands_show_truth(tmp_path, cli):
    votes = tmp_path / "votes.csv"
    st = "ours=0.8,harmonizer=0.4,iht=0.3,dovenet=0,composite=-0.9"
    code, out = cli(["study", "simulate", "--strengths", st, "--images", "40", "--raters", "60",
                     "--votes-per-rater", "40", "--sentinels-per-rater", "10", "--spammers", "5",
                     "--seed", "3", "--out", str(votes)])
    assert code == 0, out
    code, out = cli(["bt-score", str(votes), "--truth", st, "--bootstrap", "100", "--out", str(tmp_path / "bt")])
    assert code == 0, out
    assert "true" in out.splitlines()[0] and "excluded 5" in out
    res = json.loads((tmp_path / "bt" / "scores.json").read_text())
    assert res["settings"]["truth"]["ours"] == 0.8 and len(res["excluded_raters"]) == 5
    for name in ["scores.csv", "scores.md", "scores.tex", "win_matrix.csv", "pairwise_prob.csv", "raters.csv",
                 "scores.png", "summary.txt"]:
        assert (tmp_path / "bt" / name).stat().st_size > 0
    assert (tmp_path / "bt" / "scores.png").read_bytes()[:4] == b"\x89PNG"
    df = pd.read_csv(tmp_path / "bt" / "scores.csv")
    assert {"method", "votes", "wins", "preference", "win_rate", "score", "ci_low", "ci_high", "rank"} <= set(df)
    assert df["preference"].sum() == pytest.approx(1.0)
    assert ((df["ci_low"] <= df["score"]) & (df["score"] <= df["ci_high"])).all()


# --------------------------------------------------------------------------------------------------
# Lai et al. 2016 (real data, read in place)


@pytest.fixture(scope="module")
def lai(shared_dir):
    d = shared_dir / "data" / "lai2016"
    if not (d / "votes_real_balance_all.csv").is_file():
        pytest.skip(f"{d} is absent")
    return d


def test_lai2016_loads(lai):
    names = read_method_names(lai / "method.txt")
    log = load_votes(lai / "votes_real_balance_all.csv", method_names=names)
    assert log.format == "lai" and log.n_votes == 23_478
    assert log.methods == names and len(names) == 14
    assert log.df["image_id"].nunique() == 100
    ids = {ln.strip() for ln in (lai / "real_all.txt").read_text().split() if ln.strip()}
    assert set(map(str, log.df["image_id"].cat.categories)) == ids


def _lai_plain(C, max_iter=5000, precision=1e-8):
    """BT_EM_exp.m iterated to convergence on the methods that win at least once (independent loop)."""
    keep = C.sum(1) > 0
    s = np.full(C.shape[0], np.nan)
    Ck = C[np.ix_(keep, keep)]
    Nfull = C + C.T
    lost_to_dropped = Nfull[np.ix_(keep, ~keep)].sum(1)            # wins against never-winners: certain
    Wk = Ck.sum(1)
    Nk = Ck + Ck.T
    x = np.ones(keep.sum())
    for _ in range(max_iter):
        L = np.exp(x)[None, :] + np.exp(x)[:, None]
        x_new = np.log(Wk / (Nk / L).sum(1))
        d = x_new - x
        x = x_new
        if np.linalg.norm(d) <= precision:
            break
    # (the W_i and N_i terms against never-winners cancel at the fixed point; see test_bt)
    assert np.all(lost_to_dropped >= 0)
    s[keep] = x - x.mean()
    return s


def test_lai2016_per_image_pool(lai, tmp_path, cli):
    code, out = cli(["bt-score", str(lai / "votes_real_balance_all.csv"), "--method-names", str(lai / "method.txt"),
                     "--pool", "per-image", "--bootstrap", "200", "--out", str(tmp_path / "lai")])
    assert code == 0, out
    res = json.loads((tmp_path / "lai" / "scores.json").read_text())
    assert res["settings"]["votes_used"] == 23_478 and res["settings"]["pool"] == "per-image"
    rows = {r["method"]: r for r in res["rows"]}
    assert len(rows) == 14 and abs(sum(r["score"] for r in rows.values())) < 1e-9
    assert rows["Blur"]["rank"] == 14                                  # the blurry input is last
    # independent check of the per-image averaging on 10 images with a plain per-image loop
    names = read_method_names(lai / "method.txt")
    raw = pd.read_csv(lai / "votes_real_balance_all.csv")
    per_image = pd.read_csv(tmp_path / "lai" / "per_image_scores.csv", index_col="image_id")
    assert len(per_image) == 100 and list(per_image.columns) == names
    ids = list(per_image.index)
    per_image = per_image.to_numpy()
    for k in range(0, 100, 10):
        g = raw[raw["Image ID"] == ids[k]]
        C = np.zeros((14, 14))
        w = np.where(g["Result"] == 1, g["Method 1"], g["Method 2"]) - 1
        lo = np.where(g["Result"] == 1, g["Method 2"], g["Method 1"]) - 1
        np.add.at(C, (w, lo), 1)
        ref = _lai_plain(C)
        fin = np.isfinite(ref)
        if (C.sum(0)[fin] > 0).all():                                 # no never-loser (those stop at 5000)
            np.testing.assert_allclose(per_image[k][fin], ref[fin], atol=1e-6)
        assert np.array_equal(np.isfinite(per_image[k]), fin)
    assert names[0] == "Blur"


# --- list options that name a missing file (issue 19, defect 9) --------------------------------------

@pytest.mark.parametrize("option,value", [("--images", "images.txt"), ("--methods", "methods.csv"),
                                          ("--images", "lists/images")])
def test_pairs_missing_list_file_is_an_error(tmp_path, cli, option, value):
    out = tmp_path / "tasks.csv"
    args = {"--methods": "a,b,c", "--images": "1,2"}
    args[option] = str(tmp_path / value) if "/" in value else value
    code, text = cli(["study", "pairs", "--methods", args["--methods"], "--images", args["--images"],
                      "--out", str(out)])
    lines = [x for x in text.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, text
    assert option in lines[0] and "not found" in lines[0] and Path(value).name in lines[0]
    assert not out.exists()


def test_pairs_list_file_and_comma_list_still_work(tmp_path, cli):
    images = tmp_path / "images.txt"
    images.write_text("c1_1_1.jpg\nc2_2_1.jpg\n")
    out = tmp_path / "tasks.csv"
    code, text = cli(["study", "pairs", "--methods", "a,b", "--images", str(images), "--out", str(out)])
    assert code == 0, text
    df = pd.read_csv(out)
    assert sorted(df["image_id"].unique()) == ["c1_1_1.jpg", "c2_2_1.jpg"]
    # a single image id that is a file name of an image (not a list file) is an id
    code, text = cli(["study", "pairs", "--methods", "a,b", "--images", "c1_1_1.jpg", "--out", str(out),
                      "--overwrite"])
    assert code == 0, text
