"""`harmony datagen rendered` (RdHarmony, Cao et al., BMVC 2022: composites, soft labels, label file).

Golden values are computed here independently: the composite by per-pixel selection written in the
test, the soft label from the mask file's exactly-255 pixel count, and labels.txt through a parser
written from the RdHarmony format description (not harmony's parser).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harmony.datagen.rendered import generate_rendered, synthetic_style, write_labels
from harmony.dataset import derive_mask_and_real
from harmony.errors import InputError
from harmony.styles import STYLE_NAMES, STYLES, parse_styles, soft_label

NAMES = ["Clear_SunriseSunset", "Clear_Noon", "Clear_OtherTimes", "PartlyCloudy_SunriseSunset",
         "PartlyCloudy_Noon", "PartlyCloudy_OtherTimes", "Cloudy_SunriseSunset", "Cloudy_Noon",
         "Cloudy_OtherTimes", "Night"]


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def make_view(folder: Path, style_ids, rng, size=(12, 16), mask=None, sizes=None):
    """Random uint8 renders named <Style>.png and a mask.png; returns {style id: array}, mask array."""
    h, w = size
    renders = {}
    for sid in style_ids:
        hh, ww = (sizes or {}).get(sid, (h, w))
        arr = rng.integers(0, 256, (hh, ww, 3), dtype=np.uint8)
        _png(folder / f"{NAMES[sid - 1]}.png", arr)
        renders[sid] = arr
    if mask is None:
        mask = np.zeros((h, w), np.uint8)
        mask[3:9, 4:11] = 255
    _png(folder / "mask.png", mask)
    return renders, mask


# --- the RdHarmony label format, parsed independently -----------------------------------------------

def parse_rdharmony_labels(text: str):
    """<relative composite path> TAB <s1>_..._<s10> TAB <1-based gt style id>, one line per composite."""
    out = []
    for line in text.splitlines():
        path, soft, gt = line.split("\t")
        values = [float(v) for v in soft.split("_")]
        assert len(values) == 10
        out.append((path, values, int(gt)))
    return out


def format_rdharmony_labels(entries) -> str:
    return "".join(f"{p}\t{'_'.join(f'{v:.6f}' for v in vals)}\t{gt}\n" for p, vals, gt in entries)


def _manifest(root: Path) -> list[dict]:
    with open(root / "HRendered" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# --- taxonomy ---------------------------------------------------------------------------------------

def test_taxonomy_names_and_ids():
    assert list(STYLE_NAMES) == NAMES
    assert [s.id for s in STYLES] == list(range(1, 11))
    assert [s.name for s in parse_styles("2,Night,clear_noon")] == ["Clear_Noon", "Night"]
    assert len(parse_styles("all")) == 10
    with pytest.raises(InputError, match="unknown style"):
        parse_styles("Foggy_Noon")
    v = soft_label(3, 10, 0.25)
    assert v.sum() == pytest.approx(1.0) and v[2] == 0.75 and v[9] == 0.25


# --- composites, labels, layout ---------------------------------------------------------------------

def test_composite_equation_exact_and_soft_labels(tmp_path, rng):
    scenes = tmp_path / "scenes"
    views = {}
    for v, ids in enumerate([(1, 2, 10), (4, 8)]):
        views[f"v{v}"] = make_view(scenes / f"v{v}", ids, rng)
    out = tmp_path / "out"
    s = generate_rendered(out, scenes, image_format="png", workers=0, progress=False, category="cube")
    assert s.run.final.composites == 3 * 2 + 2 * 1           # ordered pairs i != j
    rows = _manifest(out)
    assert len(rows) == 8
    labels = parse_rdharmony_labels((out / "labels.txt").read_text())
    assert len(labels) == 8
    by_path = {p: (vals, gt) for p, vals, gt in labels}
    for row in rows:
        view = row["view"]
        renders, mask = views[view]
        i, j = int(row["bg_style"]), int(row["fg_style"])
        fg = mask == 255
        comp = _read(out / "HRendered" / row["composite"])
        expected = np.where(fg[..., None], renders[j], renders[i])   # I = M*O_j + (1-M)*B_i
        np.testing.assert_array_equal(comp, expected)
        np.testing.assert_array_equal(_read(out / "HRendered" / row["real"]), renders[i])
        np.testing.assert_array_equal(_read(out / "HRendered" / row["mask"]) == 255, fg)
        # The iHarmony4 string rule resolves the same files as the manifest columns.
        mname, rname = derive_mask_and_real(Path(row["composite"]).name)
        assert row["mask"] == f"masks/{mname}"
        assert Path(row["real"]).stem == Path(rname).stem
        # Soft label: r*onehot(j) + (1-r)*onehot(i), r = exactly-255 area ratio; hard label = gt style i.
        r = fg.sum() / fg.size
        vals, gt = by_path[f"HRendered/{row['composite']}"]
        assert gt == i == int(row["gt_style"])
        assert sum(vals) == pytest.approx(1.0, abs=1e-9)
        expect = np.zeros(10)
        expect[j - 1] += r
        expect[i - 1] += 1 - r
        np.testing.assert_allclose(vals, expect, atol=5e-7)
        assert int(np.argmax(vals)) + 1 == (i if r < 0.5 else j)
        assert row["soft_label"] == "_".join(f"{v:.6f}" for v in vals)
        assert row["category"] == "cube"
        assert (out / f"HRendered/{row['composite']}").is_file()


def test_label_file_round_trips(tmp_path, rng):
    make_view(tmp_path / "s" / "a", (1, 5, 9), rng)
    out = tmp_path / "o"
    generate_rendered(out, tmp_path / "s", workers=0, progress=False)
    text = (out / "labels.txt").read_text()
    entries = parse_rdharmony_labels(text)
    assert format_rdharmony_labels(entries) == text
    for path, _vals, _gt in entries:
        assert (out / path).is_file()                    # paths are relative to labels.txt's folder
    assert [p for p, _, _ in entries] == sorted(p for p, _, _ in entries)
    # Rebuilt from the manifest (composite = composite_images/<name>), the label file is the same bytes:
    # its paths stay HRendered/composite_images/<name>, relative to the output root.
    rows = _manifest(out)
    assert all(r["composite"].startswith("composite_images/") for r in rows)
    (tmp_path / "again").mkdir()
    again = write_labels(tmp_path / "again", rows)
    assert again.read_text() == text
    assert all(p.startswith("HRendered/composite_images/") and p.count("composite_images") == 1
               for p, _, _ in entries)


def test_pairs_per_view_and_resume(tmp_path, rng):
    make_view(tmp_path / "s" / "a", (1, 2, 3, 4), rng)
    out = tmp_path / "o"
    a = generate_rendered(out, tmp_path / "s", pairs_per_view=5, seed=3, workers=0, progress=False)
    assert a.run.final.composites == 5
    first = (out / "labels.txt").read_text()
    b = generate_rendered(out, tmp_path / "s", pairs_per_view=5, seed=3, workers=0, progress=False)
    assert b.run.units_resumed == 1 and (out / "labels.txt").read_text() == first
    with pytest.raises(InputError, match="another run"):
        generate_rendered(out, tmp_path / "s", pairs_per_view=6, seed=3, workers=0, progress=False)


# --- bad input ----------------------------------------------------------------------------------------

def test_view_missing_styles_uses_present_and_counts(tmp_path, rng):
    make_view(tmp_path / "s" / "full", range(1, 11), rng)
    make_view(tmp_path / "s" / "part", (2, 7, 10), rng)
    s = generate_rendered(tmp_path / "o", tmp_path / "s", workers=0, progress=False)
    assert s.run.final.composites == 90 + 6
    assert (s.views_complete, s.views_partial, s.renders_missing) == (1, 1, 7)
    assert any("7 renders missing" in line for line in s.lines())


def test_render_of_other_size_is_skipped(tmp_path, rng):
    make_view(tmp_path / "s" / "a", (1, 2, 3), rng, sizes={3: (10, 16)})
    s = generate_rendered(tmp_path / "o", tmp_path / "s", workers=0, progress=False)
    assert s.run.final.composites == 2
    assert [r for _i, r in s.run.final.skipped] == ["render size differs from the mask"]


def test_all_zero_mask_skipped(tmp_path, rng):
    make_view(tmp_path / "s" / "a", (1, 2), rng, mask=np.zeros((12, 16), np.uint8))
    make_view(tmp_path / "s" / "b", (1, 2), rng)
    s = generate_rendered(tmp_path / "o", tmp_path / "s", workers=0, progress=False)
    assert s.run.final.composites == 2
    assert [r for _i, r in s.run.final.skipped] == ["mask has no pixel equal to 255 (empty foreground)"]


def test_soft_mask_only_255_is_foreground(tmp_path, rng):
    mask = np.zeros((12, 16), np.uint8)
    mask[2:6, 2:6] = 255
    mask[6:8, 2:6] = 128          # anti-aliased edge: background under the RdHarmony rule
    mask[8, 2:6] = 254
    renders, _ = make_view(tmp_path / "s" / "a", (1, 2), rng, mask=mask)
    out = tmp_path / "o"
    s = generate_rendered(out, tmp_path / "s", image_format="png", workers=0, progress=False)
    assert s.soft_masks == 1 and any("0/255" in line for line in s.lines())
    comp = _read(out / "HRendered" / "composite_images" / "na-1_1_2.png")
    np.testing.assert_array_equal(comp, np.where((mask == 255)[..., None], renders[2], renders[1]))
    vals = parse_rdharmony_labels((out / "labels.txt").read_text())[0][1]
    assert vals[1] == pytest.approx(16 / 192, abs=5e-7)


def test_unknown_style_name_skipped(tmp_path, rng):
    make_view(tmp_path / "s" / "a", (1, 2), rng)
    _png(tmp_path / "s" / "a" / "Foggy_Noon.png", np.zeros((12, 16, 3), np.uint8))
    s = generate_rendered(tmp_path / "o", tmp_path / "s", workers=0, progress=False)
    assert s.run.final.composites == 2
    assert s.run.final.skipped == [("a/Foggy_Noon.png", "unknown style name")]


def test_several_masks_and_cli(tmp_path, rng, cli):
    folder = tmp_path / "s" / "scene_1" / "cam 2"
    make_view(folder, (1, 2), rng)
    (folder / "mask.png").rename(folder / "mask_car.png")
    m2 = np.zeros((12, 16), np.uint8)
    m2[0:2, 0:3] = 255
    _png(folder / "mask_tree.png", m2)
    code, out = cli(["datagen", "rendered", "--scenes", str(tmp_path / "s"), "--out", str(tmp_path / "o"),
                     "--workers", "0", "--quiet"])
    assert code == 0, out
    names = sorted(p.name for p in (tmp_path / "o" / "HRendered" / "composite_images").iterdir())
    assert names == ["nscene-1-cam-2-1_car_2.jpg", "nscene-1-cam-2-1_tree_2.jpg",
                     "nscene-1-cam-2-2_car_1.jpg", "nscene-1-cam-2-2_tree_1.jpg"]
    code, out = cli(["datagen", "rendered", "--scenes", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")])
    assert code == 2 and "Error:" in out and "Traceback" not in out


# --- sample sets ------------------------------------------------------------------------------------

def test_synthetic_sample_set_via_cli(tmp_path, cli):
    code, out = cli(["datagen", "rendered", "--out", str(tmp_path / "o"), "--sample", "synthetic", "--quiet"])
    assert code == 0, out
    assert "synthetic" in out
    rows = _manifest(tmp_path / "o")
    assert rows and all(r["synthetic"] == "1" for r in rows)
    assert len(parse_rdharmony_labels((tmp_path / "o" / "labels.txt").read_text())) == len(rows)


def test_synthetic_style_changes_illumination(rng):
    img = rng.uniform(0.2, 0.8, (8, 8, 3)).astype(np.float32)
    outs = {st.name: synthetic_style(img, st) for st in STYLES}
    assert all(o.shape == img.shape and o.dtype == np.float32 for o in outs.values())
    assert outs["Night"].mean() < 0.5 * outs["Clear_Noon"].mean()
    sun = outs["Clear_SunriseSunset"]
    assert sun[..., 0].mean() - sun[..., 2].mean() > outs["Clear_Noon"][..., 0].mean() - outs["Clear_Noon"][..., 2].mean()


def test_without_mitsuba_default_sample_is_synthetic(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mitsuba", None)      # as if the render extra were not installed
    s = generate_rendered(tmp_path / "o", None, workers=0, progress=False)
    assert s.sample and "synthetic" in s.sample
    rows = _manifest(tmp_path / "o")
    assert rows and {r["synthetic"] for r in rows} == {"1"}
    assert {r["category"] for r in rows} <= {"cat", "cup", "person", "motorcycle"}
