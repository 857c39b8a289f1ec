"""`harmony datagen real` (SPRIH stream 2: Wang et al., CVPR 2023, section 3.2) end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("simple_lama_inpainting")

from harmony import io as hio  # noqa: E402
from harmony.datagen import inpaint as ip  # noqa: E402
from harmony.datagen import real  # noqa: E402
from harmony.dataset import DatasetReader  # noqa: E402

from .test_inpaint import make_stand_in  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _write_source(images, masks, stem, shape, box, seed, category=None, cats=None):
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    base = rng.random(3)
    img = np.clip(base[None, None] * 0.6 + 0.2 * np.sin(xx / 7.0 + seed)[..., None]
                  + 0.1 * (yy / h)[..., None], 0, 1).astype(np.float32)
    m = np.zeros((h, w), np.float32)
    y0, x0, y1, x1 = box
    m[y0:y1, x0:x1] = 1
    img[m > 0] = np.clip(img[m > 0] * 0.5 + 0.4, 0, 1)
    hio.write_image(images / f"{stem}.png", img)   # PNG: lossless, so tests can compare exactly
    hio.write_mask(masks / f"{stem}_1.png", m)
    if cats is not None:
        cats.append(f"{stem}_1.png,{category}")
    return img, m


@pytest.fixture
def folder_data(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    cats = ["mask,category"]
    _write_source(images, masks, "a", (60, 80), (10, 20, 40, 50), 1, "box", cats)
    _write_source(images, masks, "b", (64, 96), (0, 0, 30, 24), 2, "box", cats)       # touches the border
    _write_source(images, masks, "c", (50, 70), (20, 30, 45, 60), 3, "ball", cats)
    _write_source(images, masks, "d", (200, 40), (50, 5, 150, 35), 4, "ball", cats)   # very different size
    (masks / "categories.csv").write_text("\n".join(cats) + "\n")
    return images, masks


def _manifest(out):
    with open(out / "HRealComposite" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_lama_end_to_end_through_simple_lama(tmp_path, folder_data, cli, monkeypatch):
    images, masks = folder_data
    monkeypatch.setenv("LAMA_MODEL", make_stand_in(tmp_path / "big-lama.pt"))
    out = tmp_path / "out"
    before = ip.CALLS["lama"]
    code, text = cli(["datagen", "real", "--images", str(images), "--masks", str(masks), "--out", str(out),
                      "--inpainter", "lama", "--pairs", "6", "--workers", "0", "--quiet", "--test-fraction", "0",
                      "--cache", str(tmp_path / "cache")])
    assert code == 0, text
    assert ip.CALLS["lama"] == before + 4                     # one LaMa call per source background
    assert "inpainter: lama" in text
    rows = _manifest(out)
    assert len(rows) == 6
    assert {r["inpainter"] for r in rows} == {"lama"}
    assert len({(r["source_image_id"], r["reference_image_id"]) for r in rows}) == 6  # no repeated pair
    # 'd' (200x40) differs a lot from the others (~60x80): it takes part as background or foreground.
    assert any("d" in (r["source_image_id"], r["reference_image_id"]) for r in rows)
    sub = out / "HRealComposite"
    assert not (sub / "real_images").exists()
    for r in rows:
        t = json.loads(r["transform"])
        assert set(t) >= {"scale", "angle", "offset_yx", "containment", "matrix"}
        comp = hio.read_image(sub / r["composite"])
        mask = hio.read_mask(sub / r["mask"])
        bg = hio.read_image(sub / r["background"])
        assert comp.shape == bg.shape and mask.shape == comp.shape[:2]
        assert mask.sum() > 0
        # C_ij equals the inpainted background outside M_j' (up to JPEG coding of both files).
        outside = mask < 0.5
        assert np.abs(comp[outside] - bg[outside]).mean() < 0.02
    # Background of source 'a': exact outside the dilated hole (compare to the lossless cache entry),
    # the stand-in's fill inside.
    img_a = hio.read_image(images / "a.png")
    m_a = hio.read_mask(masks / "a_1.png")
    hole = ip.hole_mask(m_a, 30) > 0.5
    cache = ip.BackgroundCache(tmp_path / "cache")
    key = cache.key((images / "a.png").read_bytes(), m_a, 30, "lama")
    bg_a = cache.get(key)
    assert bg_a is not None
    np.testing.assert_array_equal(bg_a[~hole], img_a[~hole])
    assert np.all(np.rint(bg_a[hole][:, 1] * 255) == 63)  # trunc(64/256*255): the padded height 60 -> 64
    # The "real" class reproduces the source foreground (PNG mask exact; JPEG colours within coding error).
    rc = hio.read_image(sub / "real_class" / "ra-1.jpg")
    rc_mask = hio.read_mask(sub / "real_class" / "ra-1.png")
    np.testing.assert_array_equal(rc_mask > 0.5, m_a > 0.5)
    assert np.abs(rc[m_a > 0.5] - img_a[m_a > 0.5]).mean() < 0.02


def test_real_class_exact_in_memory(folder_data, tmp_path):
    images, masks = folder_data
    src = real.Source("a", "1", str(images / "a.png"), mask_path=str(masks / "a_1.png"))
    image, mask, bg, _key, _hit = real._background(src, 30, "opencv-telea", str(tmp_path / "c"), "cpu", None)
    rc = ip.real_class(image, mask, bg)
    np.testing.assert_array_equal(rc[mask > 0.5], image[mask > 0.5])


def test_opencv_cache_reused_and_sample_defaults(tmp_path, folder_data, monkeypatch):
    images, masks = folder_data
    monkeypatch.delenv("LAMA_MODEL", raising=False)
    cache = tmp_path / "cache"
    calls0 = dict(ip.CALLS)
    s1 = real.generate(tmp_path / "o1", images=images, masks=masks, inpainter="opencv-ns", pairs=4, workers=0,
                       progress=False, cache=str(cache), test_fraction=0.0)
    assert ip.CALLS["opencv-ns"] == calls0["opencv-ns"] + 4
    assert s1.inpainted_now == 4 and s1.from_cache == 0
    calls1 = dict(ip.CALLS)
    s2 = real.generate(tmp_path / "o2", images=images, masks=masks, inpainter="opencv-ns", pairs=4, workers=0,
                       progress=False, cache=str(cache), test_fraction=0.0)
    assert ip.CALLS == calls1                               # second run: the inpainter never ran
    assert s2.inpainted_now == 0 and s2.from_cache == 4
    assert s2.composites == s1.composites
    # Same seed, same pairs, byte-identical composites.
    for r in _manifest(tmp_path / "o1"):
        a = (tmp_path / "o1" / "HRealComposite" / r["composite"]).read_bytes()
        b = (tmp_path / "o2" / "HRealComposite" / r["composite"]).read_bytes()
        assert a == b
    # Re-running into the same folder resumes without redoing anything.
    s3 = real.generate(tmp_path / "o1", images=images, masks=masks, inpainter="opencv-ns", pairs=4, workers=0,
                       progress=False, cache=str(cache), test_fraction=0.0)
    assert s3.resumed_units == 4 + 4 and s3.composites == s1.composites


def test_same_category_pairs(tmp_path, folder_data):
    images, masks = folder_data
    s = real.generate(tmp_path / "o", images=images, masks=masks, inpainter="opencv-telea", pairs=100,
                      same_category=True, workers=0, progress=False, cache=str(tmp_path / "c"),
                      test_fraction=0.0, min_containment=0.0)
    rows = _manifest(tmp_path / "o")
    # 2 categories x 2 sources: 2 ordered pairs each = 4 candidates; 100 asked, 4 exist.
    assert s.pairs_sampled == 4 and len(rows) + len(s.skipped) >= 4
    assert all(r["background_category"] == r["foreground_category"] for r in rows)
    assert any("only 4 distinct pairs" in n for n in s.notes)


def test_bad_inputs_are_counted_with_reasons(tmp_path, folder_data, cli):
    images, masks = folder_data
    # Empty mask, corrupt image, a mask for a missing image, a mask of another size.
    hio.write_image(images / "e.png", np.full((40, 40, 3), 0.5, np.float32))
    hio.write_mask(masks / "e_1.png", np.zeros((40, 40), np.float32))
    (images / "f.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    hio.write_mask(masks / "f_1.png", np.ones((10, 10), np.float32))
    hio.write_mask(masks / "g_1.png", np.ones((10, 10), np.float32))
    hio.write_image(images / "h.png", np.full((30, 30, 3), 0.5, np.float32))
    hio.write_mask(masks / "h_1.png", np.ones((31, 30), np.float32))
    out = tmp_path / "out"
    code, text = cli(["datagen", "real", "--images", str(images), "--masks", str(masks), "--out", str(out),
                      "--inpainter", "opencv-telea", "--workers", "0", "--quiet", "--cache", str(tmp_path / "c")])
    assert code == 0, text
    assert "empty mask" in text
    assert "corrupt" in text or "truncated" in text
    assert "no image g.*" in text
    assert "mask size differs from image" in text
    assert "backgrounds: 4 of 7 sources ready" in text
    assert "Traceback" not in text


def test_foreground_larger_than_box_is_skipped_with_reason(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    _write_source(images, masks, "small", (40, 40), (15, 15, 20, 20), 1)     # 5x5 target box
    _write_source(images, masks, "huge", (120, 160), (5, 5, 115, 155), 2)    # 110x150 foreground
    s = real.generate(tmp_path / "o", images=images, masks=masks, inpainter="opencv-telea", pairs=2, workers=0,
                      progress=False, cache=str(tmp_path / "c"), test_fraction=0.0, min_scale=0.5,
                      dilate=3)
    reasons = " ".join(r for _i, r in s.skipped)
    assert "does not fit the background image" in reasons or "larger than the target box" in reasons
    rows = _manifest(tmp_path / "o")
    # The other direction (small foreground into the big box) works at scale 1.
    assert [(r["source_image_id"], float(r["scale"]), float(r["containment"])) for r in rows] == [("huge", 1.0, 1.0)]


@pytest.mark.parametrize("setup,needle", [
    ("unset", "LAMA_MODEL"),
    ("missing", "file not found"),
    ("not_torchscript", "not a TorchScript model"),
])
def test_lama_without_usable_weights_is_one_line_error(tmp_path, folder_data, cli, monkeypatch, setup, needle):
    images, masks = folder_data
    if setup == "unset":
        monkeypatch.delenv("LAMA_MODEL", raising=False)
    elif setup == "missing":
        monkeypatch.setenv("LAMA_MODEL", str(tmp_path / "nope" / "big-lama.pt"))
    else:
        bad = tmp_path / "big-lama.pt"
        bad.write_bytes(b"PK\x03\x04 not a zip archive at all")
        monkeypatch.setenv("LAMA_MODEL", str(bad))
    code, text = cli(["datagen", "real", "--images", str(images), "--masks", str(masks), "--out",
                      str(tmp_path / "o"), "--inpainter", "lama", "--quiet"])
    assert code == 2
    assert needle in text and "Traceback" not in text
    err = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(err) == 1 and "LAMA_MODEL" in err[0]


def test_corrupt_annotations_file(tmp_path, cli):
    (tmp_path / "imgs").mkdir()
    ann = tmp_path / "inst.json"
    ann.write_text("{ not json")
    code, text = cli(["datagen", "real", "--images", str(tmp_path / "imgs"), "--annotations", str(ann),
                      "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "Error:" in text and "Traceback" not in text


def test_sample_run_no_arguments_reads_as_no_ground_truth_set(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("LAMA_MODEL", raising=False)
    out = tmp_path / "sample"
    code, text = cli(["datagen", "real", "--out", str(out), "--quiet"])
    assert code == 0, text
    assert "inpainter: opencv-telea (auto" in text
    reader = DatasetReader(out)
    assert reader.subsets == ["HRealComposite"]
    assert not reader.has_real("HRealComposite")
    samples = reader.samples()
    rows = _manifest(out)
    assert len(samples) == len(rows) > 0
    for smp in samples:
        assert smp.real is None
        comp, mask, gt = reader.load(smp)
        assert gt is None and comp.shape[:2] == mask.shape and mask.max() == 1.0
    assert [p for p in reader.validate() if p.severity == "error"] == []
    assert {r["inpainter"] for r in rows} == {"opencv-telea"}


def test_sample_pairs_no_repeats():
    rng = np.random.default_rng(0)
    groups = {None: list(range(30))}
    image_of = [str(i // 2) for i in range(30)]               # two sources per image
    pairs, n = real.sample_pairs(groups, image_of, 200, rng)
    assert len(pairs) == 200 == len(set(pairs))
    assert all(image_of[i] != image_of[j] for i, j in pairs)
    assert n == 30 * 29 - 30                                  # ordered pairs minus same-image ones
    pairs_all, _ = real.sample_pairs(groups, image_of, 10_000, rng)
    assert len(pairs_all) == n
