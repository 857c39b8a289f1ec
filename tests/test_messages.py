"""User-facing messages: empty splits after datagen; bench's checkpoint and split notices."""

from __future__ import annotations

from harmony.datagen.runner import empty_split_lines


def test_empty_split_lines_unit():
    assert empty_split_lines("HCOCO", 5, 2) == []
    assert empty_split_lines("HCOCO", 0, 0) == []
    (line,) = empty_split_lines("HFlickr", 12, 0)
    assert line.startswith("warning: HFlickr: the test split is empty (0 of 12 composites)")
    assert "--test-fraction" in line and "--test-ids" not in line
    (line,) = empty_split_lines("HCOCO", 12, 0, "--test-fraction/--test-ids")
    assert "--test-fraction (e.g. 0.5) or list the test images with --test-ids" in line
    (line,) = empty_split_lines("HAdobe5k", 0, 7)
    assert "train split is empty" in line and "--test-fraction" in line


def test_datagen_warns_on_an_empty_test_split(tmp_path, cli):
    code, out = cli(["datagen", "coco", "--out", str(tmp_path / "d"), "--test-fraction", "0"])
    assert code == 0, out
    warn = [ln for ln in out.splitlines() if "test split is empty" in ln]
    assert len(warn) == 1 and "--test-fraction" in warn[0] and "--test-ids" in warn[0]
    code, out = cli(["datagen", "coco", "--out", str(tmp_path / "e")])        # the default split: both sides
    assert code == 0 and "split is empty" not in out


def test_bench_checkpoint_summary_line_before_the_run(tmp_path, cli):
    code, out = cli(["datagen", "coco", "--out", str(tmp_path / "d")])
    assert code == 0, out
    code, out = cli(["bench", "--data", str(tmp_path / "d"), "--models", "cut-and-paste,dih,rcl",
                     "--weights", str(tmp_path / "no_weights"), "--out", str(tmp_path / "b"), "--quiet",
                     "--gallery", "0", "--no-plots"])
    assert code == 0, out
    lines = out.splitlines()
    notice = [i for i, ln in enumerate(lines) if ln.startswith("no checkpoint: ")]
    assert len(notice) == 1, out
    assert lines[notice[0]] == "no checkpoint: dih, rcl (give --weights DIR)"
    assert notice[0] < lines.index(next(ln for ln in lines if ln.startswith("== bench")))
    # the table part says "no checkpoint" in a short row, never the long per-model message again
    assert all(len(ln) < 120 for ln in lines if "no checkpoint" in ln), out
    assert sum("no checkpoint" in ln for ln in lines) == 3


def test_bench_without_the_split_says_so_before_any_work(tmp_path, cli):
    code, out = cli(["datagen", "coco", "--out", str(tmp_path / "d"), "--test-fraction", "0"])
    assert code == 0, out
    code, out = cli(["bench", "--data", str(tmp_path / "d"), "--models", "cut-and-paste",
                     "--out", str(tmp_path / "b"), "--quiet", "--gallery", "0", "--no-plots"])
    # Refused before any work, in one line naming the split and the way out (--split all).
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and "list no 'test' image" in lines[0] and "--split all" in lines[0], out
    assert "Traceback" not in out
    assert not (tmp_path / "b" / "per_image.csv").exists()
