"""One JSON policy (NaN -> null) and one table writer for every output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harmony import io as hio
from harmony import serialize


def test_json_policy_nan_to_null_and_numpy_types():
    value = {"a": math.nan, "b": np.float32(1.5), "c": np.int64(3), "d": (1, math.inf), "e": np.array([1.0, np.nan]),
             "f": Path("x/y"), 2: np.bool_(True), "g": -math.inf}
    text = serialize.dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": 1.5, "c": 3, "d": [1, None], "e": [1.0, None], "f": "x/y",
                                "2": True, "g": None}
    assert math.isnan(serialize.float_or_nan(None)) and serialize.float_or_nan(2) == 2.0


def test_tables_share_cells():
    header = ["Method", "MSE", "note_%"]
    rows = [["a_b", serialize.format_number(1.234), "x&y"], ["c", serialize.format_number(math.nan), "-"]]
    md = serialize.markdown_table(header, rows)
    assert md.splitlines()[1] == "|:---|---:|---:|"
    assert "| a_b | 1.23 | x&y |" in md and "| c | - | - |" in md
    assert serialize.csv_table(header, rows).splitlines() == ["Method,MSE,note_%", "a_b,1.23,x&y", "c,-,-"]
    tex = serialize.latex_table(header, rows, caption="t_1")
    assert r"a\_b & 1.23 & x\&y \\" in tex and r"\caption{t\_1}" in tex and r"note\_\%" in tex


def test_bench_cache_and_summary_write_null_not_nan_strings(cli, tmp_path):
    """The bench cache wrote NaN as the string "nan" (a second policy); now null everywhere."""
    d = tmp_path / "data" / "HCOCO"
    rng = np.random.default_rng(0)
    names = []
    for i in range(2):
        real = rng.uniform(0.2, 0.8, (24, 32, 3)).astype(np.float32)
        mask = np.zeros((24, 32), np.float32)
        if i == 0:
            mask[4:14, 6:20] = 1.0          # image 1 has an empty mask: fMSE undefined
        hio.write_image(d / "composite_images" / f"c{i}_{i}_1.jpg", np.clip(real + 0.1 * mask[..., None], 0, 1),
                        quality=100)
        hio.write_mask(d / "masks" / f"c{i}_{i}.png", mask)
        hio.write_image(d / "real_images" / f"c{i}.jpg", real, quality=100)
        names.append(f"c{i}_{i}_1.jpg")
    (tmp_path / "data" / "HCOCO_test.txt").write_text("\n".join(names) + "\n")
    (d / "HCOCO_test.txt").write_text("\n".join(names) + "\n")
    out = tmp_path / "bench"
    code, text = cli(["bench", "--data", str(tmp_path / "data"), "--models", "cut-and-paste", "--out", str(out),
                      "--workers", "0", "--quiet", "--no-plots", "--gallery", "0"])
    assert code == 0, text
    for f in (out / "cache" / "results.jsonl", out / "summary.json", out / "run.json"):
        body = f.read_text()
        assert ': "nan"' not in body and ': NaN' not in body and ':NaN' not in body, f
    rows = [json.loads(line)["row"] for line in (out / "cache" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["fmse"] is None for r in rows) == [False, True]
    # and read back through the cache they are NaN again (a second run serves them from the cache)
    code, text = cli(["bench", "--data", str(tmp_path / "data"), "--models", "cut-and-paste", "--out", str(out),
                      "--workers", "0", "--quiet", "--no-plots", "--gallery", "0"])
    assert code == 0 and "2 from the cache" in text, text
    assert "fMSE undefined (empty mask): cut-and-paste 1" in text
    per = (out / "per_image.csv").read_text()
    assert per.count(",nan,") >= 1


@pytest.mark.parametrize("module", ["harmony/commands/bt_score.py", "harmony/studies/__init__.py",
                                    "harmony/benchmark/report.py", "harmony/benchmark/runner.py"])
def test_no_private_json_sanitisers_left(module):
    src = (Path(__file__).resolve().parents[1] / module).read_text()
    for name in ("def _jsonable", "def _json_default", "def _json_float"):
        assert name not in src, (module, name)
