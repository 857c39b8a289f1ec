"""`harmony bench` writes the paper outputs: significance tables, PDF/PNG figures and the gallery."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from harmony.benchmark.runner import gallery_rows
from harmony.errors import InputError


def test_gallery_rows_values():
    assert gallery_rows("auto", True) == -1 and gallery_rows("auto", False) == 50
    assert gallery_rows("all", False) == -1 and gallery_rows(0, True) == 0 and gallery_rows("3", True) == 3
    with pytest.raises(InputError, match="--gallery"):
        gallery_rows("many", True)


def test_bench_writes_tables_figures_gallery(tmp_path, cli):
    code, out = cli(["datagen", "coco", "--out", str(tmp_path / "d")])
    assert code == 0, out
    b = tmp_path / "b"
    code, out = cli(["bench", "--data", str(tmp_path / "d"), "--models", "cut-and-paste,reinhard,mkl,dih",
                     "--weights", str(tmp_path / "none"), "--split", "all", "--out", str(b), "--quiet",
                     "--workers", "0"])
    assert code == 0, out
    per = pd.read_csv(b / "per_image.csv")
    n_images = per[["subset", "composite"]].drop_duplicates().shape[0]
    # significance: every pair of the three methods that ran, per metric, with Holm-corrected p-values
    sig = pd.read_csv(b / "significance.csv")
    assert set(sig.columns) >= {"metric", "method_a", "method_b", "diff", "ci_low", "ci_high", "p_bootstrap_holm",
                                "p_wilcoxon_holm"}
    assert len(sig[(sig.metric == "fmse") & (sig.group == "All")]) == 3
    fm = sig[(sig.metric == "fmse") & (sig.group == "All") & (sig.method_a == "cut-and-paste")
             & (sig.method_b == "reinhard")].iloc[0]
    w = per.pivot_table(index="composite", columns="method", values="fmse")
    assert fm["diff"] == pytest.approx((w["cut-and-paste"] - w["reinhard"]).mean(), rel=1e-6)
    md = (b / "significance.md").read_text()
    assert "## All" in md and "**" in md
    assert r"\toprule" in (b / "significance.tex").read_text()
    for stem in ("fmse", "psnr", "fmse_vs_fg_ratio"):
        assert (b / "plots" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (b / "plots" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    # gallery: every image of this small run, the learned method without a checkpoint said at the top
    text = (b / "gallery.html").read_text()
    gal = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    assert len(gal["rows"]) == n_images and gal["methods"] == ["cut-and-paste", "reinhard", "mkl"]
    assert "no checkpoint: dih (give --weights DIR)" in text
    # --gallery N: the N best and N worst
    code, out = cli(["bench", "--data", str(tmp_path / "d"), "--models", "cut-and-paste,reinhard", "--split", "all",
                     "--out", str(tmp_path / "c"), "--quiet", "--workers", "0", "--gallery", "1", "--no-plots"])
    assert code == 0, out
    text = (tmp_path / "c" / "gallery.html").read_text()
    gal = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    assert len(gal["rows"]) == 2 and "1 best and 1 worst" in text
    assert not (tmp_path / "c" / "plots").exists()
    code, out = cli(["bench", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "e"), "--gallery", "lots"])
    assert code == 2 and "--gallery" in out and not (tmp_path / "e").exists()
