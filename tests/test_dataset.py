"""harmony.dataset: iHarmony4 names (the release's naming rule, Cong et al. CVPR 2020), Writer (resume,
refusal, overwrite), manifest and split files, Reader and validate, and the `harmony check` command."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from harmony import dataset as ds
from harmony import io as hio
from harmony.datagen.runner import run_units
from harmony.errors import InputError

ISSUE_COLUMNS = ["composite", "mask", "real", "subset", "split", "source_image_id", "source_annotation_id",
                 "reference_image_id", "reference_annotation_id", "method", "params", "fg_ratio", "seed"]


# --- names ---------------------------------------------------------------------------------------

def test_names_follow_ihharmony4_rule():
    # Names of the iHarmony4 release (bcmi/Image-Harmonization-Dataset-iHarmony4).
    assert ds.composite_name("c", 100300, 1602094, 1) == "c100300_1602094_1.jpg"
    assert ds.mask_name("c", 100300, 1602094) == "c100300_1602094.png"
    assert ds.real_name("c", 100300) == "c100300.jpg"
    assert ds.derive_mask_and_real("c100300_1602094_1.jpg") == ("c100300_1602094.png", "c100300.jpg")
    assert ds.derive_mask_and_real("a0001_1_1.jpg") == ("a0001_1.png", "a0001.jpg")
    assert ds.derive_mask_and_real("d21901-20130410-181833_1_9.jpg") == (
        "d21901-20130410-181833_1.png", "d21901-20130410-181833.jpg")
    with pytest.raises(InputError):
        ds.derive_mask_and_real("nounderscore.jpg")
    assert "_" not in ds.safe_id("a_b/c d") and "/" not in ds.safe_id("a_b/c d")


def test_split_is_deterministic_and_close_to_fraction():
    ids = list(range(2000))
    a = [ds.split_for(i, 0.2) for i in ids]
    assert a == [ds.split_for(i, 0.2) for i in ids]
    share = a.count("test") / len(a)
    assert 0.17 < share < 0.23
    assert ds.split_for(5, 0.2, test_ids=["5", "9"]) == "test"
    assert ds.split_for(6, 0.2, test_ids=["5", "9"]) == "train"
    assert all(ds.split_for(i, 0.0) == "train" for i in ids[:50])
    assert all(ds.split_for(i, 1.0) == "test" for i in ids[:50])


# --- a tiny generator used to exercise Writer + runner ---------------------------------------------

@dataclass(frozen=True)
class _Unit:
    key: str
    image_id: int
    split: str


def _work(unit: _Unit, layout: ds.SubsetLayout) -> dict:
    rng = np.random.default_rng(unit.image_id)
    real = rng.random((16, 20, 3)).astype(np.float32)
    mask = np.zeros((16, 20), np.float32)
    mask[4:12, 5:15] = 1
    rows = []
    for k in (1, 2):
        comp = real.copy()
        comp[mask > 0] = comp[mask > 0] * 0.5
        name = ds.composite_name(layout.prefix, unit.image_id, 7, k)
        layout.write_composite(name, comp)
        rows.append({"composite": f"composite_images/{name}", "mask": f"masks/{ds.mask_name(layout.prefix, unit.image_id, 7)}",
                     "real": f"real_images/{ds.real_name(layout.prefix, unit.image_id)}", "subset": layout.subset,
                     "split": unit.split, "source_image_id": unit.image_id, "source_annotation_id": 7,
                     "reference_image_id": 0, "reference_annotation_id": 0, "method": "half",
                     "params": ds.params_json({"k": k}), "fg_ratio": 0.25, "seed": 1})
    layout.write_mask(ds.mask_name(layout.prefix, unit.image_id, 7), mask)
    layout.write_real(ds.real_name(layout.prefix, unit.image_id), real)
    return {"rows": rows, "rejected": [{"reason": "too dull"}], "skipped": [{"item": f"img{unit.image_id}.jpg",
                                                                               "reason": "missing image"}]}


def _units(n=3):
    return [_Unit(f"c{i}", i, "test" if i == 2 else "train") for i in range(1, n + 1)]


def _make(root, config=None, n=3, **kw):
    w = ds.DatasetWriter(root, "HCOCO", config=config or {"a": 1}, command="test", **kw)
    return w, run_units(w, _units(n), _work, workers=0, progress=False)


def test_writer_builds_layout_manifest_and_splits(tmp_path):
    w, summary = _make(tmp_path)
    sub = tmp_path / "HCOCO"
    assert sorted(p.name for p in (sub / "composite_images").iterdir()) == [
        "c1_7_1.jpg", "c1_7_2.jpg", "c2_7_1.jpg", "c2_7_2.jpg", "c3_7_1.jpg", "c3_7_2.jpg"]
    assert (sub / "masks" / "c1_7.png").is_file() and (sub / "real_images" / "c1.jpg").is_file()
    # Split files inside the subset folder, as the official iHarmony4 release (and iharm's HDataset).
    assert (sub / "HCOCO_train.txt").read_text().split() == ["c1_7_1.jpg", "c1_7_2.jpg", "c3_7_1.jpg",
                                                             "c3_7_2.jpg"]
    assert (sub / "HCOCO_test.txt").read_text().split() == ["c2_7_1.jpg", "c2_7_2.jpg"]
    assert not (tmp_path / "HCOCO_train.txt").exists() and not (tmp_path / "HCOCO_test.txt").exists()
    assert (tmp_path / "IHD_test.txt").read_text().split() == ["HCOCO/composite_images/c2_7_1.jpg",
                                                               "HCOCO/composite_images/c2_7_2.jpg"]
    with open(sub / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    assert all(c in rows[0] for c in ISSUE_COLUMNS)
    assert json.loads(rows[1]["params"]) == {"k": 2}
    run = json.loads((sub / "run.json").read_text())
    assert run["config"] == {"a": 1} and run["prefix"] == "c"
    assert summary.final.composites == 6 and summary.final.train == 4 and summary.final.test == 2
    assert summary.final.rejected == {"too dull": 3}
    assert len(summary.final.skipped) == 3
    text = "\n".join(summary.lines())
    assert "rejected: too dull 3" in text and "missing image 3" in text and str(sub) in text


def test_resume_skips_finished_units_and_refuses_other_config(tmp_path):
    _make(tmp_path, n=2)
    manifest_2 = (tmp_path / "HCOCO" / "manifest.csv").read_text()
    w, summary = _make(tmp_path, n=3)   # same config: resumes, runs only the new unit
    assert w.resumed and summary.units_resumed == 2 and summary.units_run == 1
    assert len((tmp_path / "HCOCO" / "manifest.csv").read_text().splitlines()) == 7
    assert manifest_2.splitlines()[1] in (tmp_path / "HCOCO" / "manifest.csv").read_text()
    with pytest.raises(InputError, match="another run"):
        ds.DatasetWriter(tmp_path, "HCOCO", config={"a": 2}, command="test")
    w, summary = _make(tmp_path, config={"a": 2}, n=1, overwrite=True)
    assert summary.final.composites == 2
    assert sorted(p.name for p in (tmp_path / "HCOCO" / "composite_images").iterdir()) == ["c1_7_1.jpg", "c1_7_2.jpg"]


def test_non_empty_folder_without_run_json_is_refused(tmp_path):
    (tmp_path / "HCOCO").mkdir()
    (tmp_path / "HCOCO" / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        ds.DatasetWriter(tmp_path, "HCOCO", config={}, command="test")
    assert (tmp_path / "HCOCO" / "precious.txt").read_text() == "keep me"


# --- reader and validation ------------------------------------------------------------------------

def test_reader_loads_samples_via_manifest_and_string_rule(tmp_path):
    _make(tmp_path)
    r = ds.DatasetReader(tmp_path)
    assert r.subsets == ["HCOCO"]
    test = r.samples("test")
    assert [s.name for s in test] == ["c2_7_1.jpg", "c2_7_2.jpg"]
    comp, mask, real = r.load(test[0])
    assert comp.shape == real.shape == (16, 20, 3) and mask.shape == (16, 20)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert test[0].extra["method"] == "half"
    assert r.validate() == []
    # Without the manifest, paths come from the iHarmony4 string rule.
    (tmp_path / "HCOCO" / "manifest.csv").unlink()
    s = ds.DatasetReader(tmp_path).samples("test")[0]
    assert s.mask.name == "c2_7.png" and s.real.name == "c2.jpg"


def test_validate_reports_each_problem(tmp_path):
    _make(tmp_path)
    sub = tmp_path / "HCOCO"
    (sub / "masks" / "c1_7.png").unlink()                                       # missing mask
    hio.write_image(sub / "real_images" / "c2.jpg", np.zeros((8, 8, 3), np.float32))   # size mismatch
    hio.write_mask(sub / "masks" / "c3_7.png", np.zeros((16, 20), np.float32))  # empty mask
    (sub / "composite_images" / "c3_7_2.jpg").write_bytes(b"\xff\xd8\xff garbage")  # corrupt
    with open(sub / "HCOCO_train.txt", "a") as fh:
        fh.write("c9_7_1.jpg\n")                                                 # listed, missing
    problems = ds.DatasetReader(tmp_path).validate()
    text = "\n".join(str(p) for p in problems)
    assert "mask c1_7.png missing" in text
    assert "differs from real image c2.jpg" in text
    assert "mask is empty" in text
    assert "c3_7_2.jpg" in text
    assert "c9_7_1.jpg: listed in the split file but missing" in text
    assert all(p.severity == "error" for p in problems)


def test_soft_mask_is_a_warning(tmp_path):
    _make(tmp_path, n=1)
    soft = np.zeros((16, 20), np.uint8)
    soft[4:12, 5:15] = 200
    Image.fromarray(soft, "L").save(tmp_path / "HCOCO" / "masks" / "c1_7.png")
    problems = ds.DatasetReader(tmp_path).validate()
    assert problems and all(p.severity == "warning" for p in problems)
    assert "not binary" in str(problems[0])


def test_reader_bad_roots(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ds.DatasetReader(tmp_path / "nope")
    with pytest.raises(InputError, match="no subset"):
        ds.DatasetReader(tmp_path)


# --- harmony check --------------------------------------------------------------------------------

def test_check_command_exit_codes(tmp_path, cli):
    _make(tmp_path)
    code, out = cli(["check", str(tmp_path)])
    assert code == 0, out
    assert "6 composites checked" in out and "0 errors" in out
    (tmp_path / "HCOCO" / "masks" / "c1_7.png").unlink()
    code, out = cli(["check", str(tmp_path)])
    assert code == 1, out
    assert "mask c1_7.png missing" in out and "FAILED" in out
    code, out = cli(["check", str(tmp_path / "missing")])
    assert code == 2 and "Error:" in out and "not found" in out
    code, out = cli(["check", "--help"])
    assert code == 0 and "Examples" in out


def test_check_dataset_counts_and_reports(tmp_path):
    _make(tmp_path)
    (tmp_path / "HCOCO" / "masks" / "c1_7.png").unlink()
    notices = []
    report = ds.check_dataset(tmp_path, notify=notices.append)
    # c1_7's two composites lose their mask; nothing else is wrong.
    assert (report.checked, report.per_subset, len(report.errors), report.exit_code) == (6, {"HCOCO": 6}, 2, 1)
    assert notices == [] and report.incomplete == []
    lines = report.lines(max_problems=1)
    assert lines[0].startswith("error: ") and lines[0].endswith("mask c1_7.png missing")
    assert lines[1:3] == ["... and 1 more problems", f"\n== check {tmp_path}"]
    assert lines[3:] == ["subsets: HCOCO 6", lines[4], "FAILED"]
    assert lines[4].startswith("6 composites checked in ") and lines[4].endswith(" s: 2 errors, 0 warnings")
    # An interrupted run: the notice comes first, only finished units count, and the check fails.
    ds.write_run_state(ds.SubsetLayout(tmp_path, "HCOCO", "c"), units_total=9, complete=False)
    report = ds.check_dataset(tmp_path, notify=notices.append)
    assert notices == ["HCOCO: incomplete run (3 of 9 units done): re-run the same command to finish"]
    assert report.exit_code == 1 and report.lines()[-1] == "INCOMPLETE: only the finished units were checked"
