"""`harmony bt-score` input and output: format detection (leftright), --columns, the error listing every
format, --out refused before any work, failed bootstrap replicates in one line with no numpy warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from harmony.benchmark import userstudy
from harmony.errors import InputError

METHODS = ["a", "b", "c", "d"]


def _votes(seed=0, raters=6, p_first=0.75):
    """Every rater judges every pair once (rater, image, left, right, winner = a method name)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(raters):
        for i in range(4):
            for j in range(i + 1, 4):
                left, right = (METHODS[i], METHODS[j]) if rng.random() < 0.5 else (METHODS[j], METHODS[i])
                w = METHODS[i] if rng.random() < p_first else METHODS[j]
                rows.append({"rater": f"r{r}", "image": f"im{(i + j) % 3}", "left": left, "right": right,
                             "winner": w})
    return pd.DataFrame(rows)


def _scores(out: str) -> dict[str, float]:
    got = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in METHODS and len(parts) > 5:
            got[parts[0]] = float(parts[5])
    return got


def test_leftright_is_recognised_and_equals_canonical(tmp_path, cli):
    df = _votes(raters=10)
    lr = tmp_path / "lr.csv"
    df.to_csv(lr, index=False)
    # the same votes in the canonical layout, with the winner as a/b
    canon = pd.DataFrame({"rater_id": df.rater, "image_id": df.image, "method_a": df.left, "method_b": df.right,
                          "choice": np.where(df.winner == df.left, "a", "b")})
    cp = tmp_path / "canon.csv"
    canon.to_csv(cp, index=False)
    c1, o1 = cli(["bt-score", str(lr), "--bootstrap", "0"])
    c2, o2 = cli(["bt-score", str(cp), "--bootstrap", "0"])
    assert c1 == 0 and c2 == 0, o1
    assert "(leftright format" in o1
    assert _scores(o1) == _scores(o2) and len(_scores(o1)) == 4
    # winner given as left/right/tie words: the same votes
    words = df.assign(winner=np.where(df.winner == df.left, "left", "right"))
    assert userstudy.load_votes(_write(tmp_path / "w.csv", words)).df["choice"].tolist() == \
        userstudy.load_votes(str(lr)).df["choice"].tolist()


def _write(path, df):
    df.to_csv(path, index=False)
    return str(path)


def test_unrecognised_header_lists_every_format(tmp_path, cli):
    p = _write(tmp_path / "odd.csv", pd.DataFrame({"who": ["x"], "pic": ["y"], "pick": ["z"]}))
    code, out = cli(["bt-score", p])
    assert code == 2 and "Traceback" not in out
    line = [ln for ln in out.splitlines() if ln.startswith("Error")]
    assert len(line) == 1
    for fmt, cols in userstudy.FORMATS.items():
        assert f"{fmt} ({','.join(cols)}" in line[0], fmt
    assert "--columns" in line[0]
    # a near miss (crowd-kit-like without worker/label) also lists them, and names what is lacking
    p = _write(tmp_path / "near.csv", pd.DataFrame({"left": ["a"], "right": ["b"], "choice_made": ["a"]}))
    code, out = cli(["bt-score", p])
    assert code == 2 and "missing column(s) winner" in out and "leftright (left,right,winner" in out


def test_columns_maps_a_users_names(tmp_path, cli):
    df = _votes(raters=10)
    mine = df.rename(columns={"rater": "worker", "image": "photo", "left": "shown_left", "right": "shown_right",
                              "winner": "label"})
    p = _write(tmp_path / "mine.csv", mine)
    ref = _write(tmp_path / "lr.csv", df)
    code, out = cli(["bt-score", p, "--bootstrap", "0", "--columns",
                     "rater=worker,image=photo,left=shown_left,right=shown_right,winner=label"])
    assert code == 0, out
    _, out_ref = cli(["bt-score", ref, "--bootstrap", "0"])
    assert _scores(out) == _scores(out_ref)
    log = userstudy.load_votes(p, columns=userstudy.parse_columns(
        "rater=worker,image=photo,left=shown_left,right=shown_right,winner=label"))
    assert log.has_raters and log.has_images and log.format == "leftright"
    # errors: a column the file lacks, an unknown field, a needed field left unmapped
    code, out = cli(["bt-score", p, "--columns", "rater=judge,left=shown_left,right=shown_right,winner=label"])
    assert code == 2 and "judge" in out and "header lacks" in out
    code, out = cli(["bt-score", p, "--columns", "voter=worker"])
    assert code == 2 and "unknown field 'voter'" in out
    code, out = cli(["bt-score", p, "--columns", "rater=worker,left=shown_left,right=shown_right"])
    assert code == 2 and "no column for winner" in out
    with pytest.raises(InputError, match="FIELD=COLUMN"):
        userstudy.parse_columns("rater")


def test_existing_out_is_refused_before_any_work(tmp_path, cli):
    out = tmp_path / "scores"
    out.mkdir()
    (out / "scores.csv").write_text("old\n")
    bad_votes = _write(tmp_path / "bad.csv", pd.DataFrame({"nothing": [1]}))
    code, text = cli(["bt-score", bad_votes, "--out", str(out)])
    # the --out error, not the votes' one: nothing was read
    assert code == 2 and "--out" in text and "already has scores.csv" in text and "unrecognised" not in text
    assert (out / "scores.csv").read_text() == "old\n"
    good = _write(tmp_path / "lr.csv", _votes(raters=10))
    code, text = cli(["bt-score", good, "--bootstrap", "0", "--out", str(out), "--overwrite"])
    assert code == 0 and (out / "scores.csv").read_text() != "old\n"


def test_failed_replicates_one_line_no_numpy_warning(tmp_path, cli):
    # 6 raters, strong preferences: resampled raters often leave a method that never loses
    p = _write(tmp_path / "sparse.csv", _votes(seed=3, raters=6, p_first=0.8))
    for extra in ([], ["--scale", "sum1"], ["--by", "vote"], ["--pool", "per-image", "--by", "image"]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, out = cli(["bt-score", p, *extra])
        assert code == 0, out
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
        assert "RuntimeWarning" not in out and "Mean of empty slice" not in out
        lines = [ln for ln in out.splitlines() if "replicates failed" in ln]
        if extra[:1] != ["--pool"]:
            assert len(lines) == 1, out
            n_failed = int(lines[0].split("bootstrap: ")[1].split(" of ")[0])
            assert 0 < n_failed < 1000 and f"use the other {1000 - n_failed}" in lines[0]
            assert "did not connect every method" in lines[0]
