"""`datagen flickr`: spatial-pyramid label-histogram retrieval + same-label colour transfer.

DIH (Tsai et al., CVPR 2017, section 3.1). Golden values: pyramid histograms and similarities
computed by hand for tiny maps, an independent loop implementation, and constructed pools where the
right ranking is known by construction.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from harmony import io as hio
from harmony.datagen.flickr import (
    HistogramIndex,
    colour_texture_descriptor,
    foreground_labels,
    label_histogram,
    label_segments,
)
from harmony.dataset import DatasetReader

H, W = 40, 48
COLOURS = {1: (0.3, 0.5, 0.9), 2: (0.8, 0.2, 0.2), 3: (0.2, 0.7, 0.3), 4: (0.9, 0.9, 0.2), 5: (0.5, 0.5, 0.5)}


def _loop_histogram(labels, num_classes):
    """Independent reference: explicit loops over levels, cells and pixels."""
    h, w = labels.shape
    out = []
    for level, weight in ((0, 0.25), (1, 0.25), (2, 0.5)):
        g = 2 ** level
        for cy in range(g):
            for cx in range(g):
                hist = [0.0] * num_classes
                for y in range(h):
                    for x in range(w):
                        if (y * g) // h == cy and (x * g) // w == cx and labels[y, x] > 0:
                            hist[labels[y, x] - 1] += 1
                out += [weight * v / (h * w) for v in hist]
    return np.array(out)


def test_label_histogram_matches_loops_and_hand_values():
    lab = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0], [3, 3, 0, 0]])
    hist = label_histogram(lab, 3, max_side=None)
    assert hist.shape == (3 * 21,)
    np.testing.assert_allclose(hist, _loop_histogram(lab, 3), atol=1e-7)
    # hand values: level 0 = 1/4 * (4/16, 4/16, 4/16); level-1 top-left cell = 1/4 * (4/16, 0, 0)
    np.testing.assert_allclose(hist[:3], [1 / 16] * 3, atol=1e-7)
    np.testing.assert_allclose(hist[3:6], [1 / 16, 0, 0], atol=1e-7)
    rng = np.random.default_rng(0)
    odd = rng.integers(0, 6, size=(7, 11))
    np.testing.assert_allclose(label_histogram(odd, 5, max_side=None), _loop_histogram(odd, 5), atol=1e-7)
    with pytest.raises(ValueError):
        label_histogram(np.full((4, 4), 9), 5)


def _layout(top, bottom_left, bottom_right, h=H, w=W):
    lab = np.empty((h, w), np.uint8)
    lab[: h // 2] = top
    lab[h // 2:, : w // 2] = bottom_left
    lab[h // 2:, w // 2:] = bottom_right
    return lab


def test_retrieval_ranks_constructed_case():
    target = _layout(1, 2, 2)
    pool = {
        "same": _layout(1, 2, 2),            # identical layout: similarity 1
        "half": _layout(1, 3, 3),            # shares the top half: 0.25*0.5 + 0.25*0.5 + 0.5*0.5 = 0.5
        "flipped": _layout(2, 1, 1),         # same classes, swapped places: level 0 only = 0.25
        "unrelated": _layout(4, 5, 5),       # no class in common: 0
    }
    hists = np.stack([label_histogram(v, 5) for v in pool.values()])
    index = HistogramIndex(hists, list(pool))
    idx, scores = index.rank(label_histogram(target, 5))
    assert [index.names[i] for i in idx] == ["same", "half", "flipped", "unrelated"]
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.25, 0.0], atol=1e-6)
    # restricted to images containing class 3
    idx, _ = index.rank(label_histogram(target, 5), allowed=hists[:, 2] > 0)
    assert [index.names[i] for i in idx] == ["half"]


def test_index_scores_equal_dense_intersection(rng):
    dense = rng.random((300, 63)) * (rng.random((300, 63)) < 0.1)
    q = rng.random(63) * (rng.random(63) < 0.3)
    index = HistogramIndex(dense.astype(np.float32), [str(i) for i in range(300)])
    expect = np.minimum(dense.astype(np.float32), q.astype(np.float32)).sum(axis=1)
    np.testing.assert_allclose(index.scores(q), expect, rtol=1e-5, atol=1e-6)


def test_label_rule_and_foreground_labels():
    lab = _layout(1, 2, 3)
    segs = label_segments(lab, min_fg=0.05, max_fg=0.5, limit=5)
    # class 1 spans the full width (stuff rule) -> excluded; 2 and 3 cover 25 % each
    assert [c for c, _ in segs] == [2, 3]
    assert segs[0][1].sum() == (H // 2) * (W // 2)
    m = np.zeros_like(lab, bool)
    m[H // 2 - 4:, : W // 2] = True   # mostly class 2, a strip of class 1 (4 of 24 rows: 16.7 %)
    assert foreground_labels(lab, m) == [2]
    m[H // 2 - 8:, : W // 2] = True   # now 8 of 28 rows are class 1 (28.6 %)
    assert foreground_labels(lab, m) == [2, 1]


def test_descriptor_prefers_similar_colours(rng):
    red = np.zeros((32, 32, 3), np.float32)
    red[..., 0] = 0.9
    red2 = np.clip(red + rng.normal(0, 0.02, red.shape).astype(np.float32), 0, 1)
    blue = red[..., ::-1].copy()
    idx = HistogramIndex(np.stack([colour_texture_descriptor(blue), colour_texture_descriptor(red2)]),
                         ["blue", "red"])
    order, _ = idx.rank(colour_texture_descriptor(red))
    assert [idx.names[i] for i in order] == ["red", "blue"]


# --- end to end ---------------------------------------------------------------------------------------

def _paint(lab, rng, shift=(0.0, 0.0, 0.0)):
    img = np.zeros(lab.shape + (3,), np.float32)
    for c, col in COLOURS.items():
        img[lab == c] = np.clip(np.array(col) + np.array(shift), 0, 1)
    return np.clip(img + rng.normal(0, 0.04, img.shape).astype(np.float32), 0, 1)


def _dataset(tmp: Path, rng) -> dict[str, Path]:
    d = {k: tmp / k for k in ("images", "labels", "refs", "ref_labels")}
    lab = _layout(1, 2, 3)
    hio.write_image(d["images"] / "t_one.png", _paint(lab, rng))
    hio.write_mask(d["labels"] / "t_one.png", lab)
    # bad targets: unknown class id, wrong size
    hio.write_image(d["images"] / "badids.png", _paint(lab, rng))
    hio.write_mask(d["labels"] / "badids.png", np.where(lab == 3, 77, lab).astype(np.uint8))
    hio.write_image(d["images"] / "badsize.png", _paint(lab, rng))
    hio.write_mask(d["labels"] / "badsize.png", np.ones((10, 10), np.uint8))
    hio.write_image(d["images"] / "nolabels.png", _paint(lab, rng))
    # references: a good one with class 2 region recoloured, plus bad ones
    ref_lab = _layout(1, 2, 3)
    ref = _paint(ref_lab, rng, shift=(0.0, 0.0, 0.0))
    ref[ref_lab == 2] = np.clip(np.array([0.2, 0.3, 0.9]) + rng.normal(0, 0.05, ((ref_lab == 2).sum(), 3)), 0, 1)
    ref[ref_lab == 3] = np.clip(np.array([0.9, 0.6, 0.1]) + rng.normal(0, 0.05, ((ref_lab == 3).sum(), 3)), 0, 1)
    hio.write_image(d["refs"] / "r_good.png", ref)
    hio.write_mask(d["ref_labels"] / "r_good.png", ref_lab)
    hio.write_image(d["refs"] / "r_other.png", _paint(_layout(4, 5, 5), rng))
    hio.write_mask(d["ref_labels"] / "r_other.png", _layout(4, 5, 5))
    hio.write_image(d["refs"] / "r_badids.png", _paint(ref_lab, rng))
    hio.write_mask(d["ref_labels"] / "r_badids.png", np.full((H, W), 200, np.uint8))
    hio.write_image(d["refs"] / "r_corrupt.png", _paint(ref_lab, rng))
    (d["ref_labels"] / "r_corrupt.png").write_bytes(b"garbage")
    # a reference with the target's stem is never used for it
    hio.write_image(d["refs"] / "t_one.png", _paint(lab, rng))
    hio.write_mask(d["ref_labels"] / "t_one.png", lab)
    return d


def _rows(out: Path) -> list[dict]:
    with open(out / "HFlickr" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _args(d, out, *extra):
    return ["datagen", "flickr", "--images", str(d["images"]), "--labels", str(d["labels"]),
            "--reference-images", str(d["refs"]), "--reference-labels", str(d["ref_labels"]), "--out", str(out),
            "--num-classes", "10", "--methods", "gct", "--workers", "0", "--format", "png", *extra]


def test_end_to_end_same_label_transfer_and_bad_inputs(cli, tmp_path, rng):
    d = _dataset(tmp_path, rng)
    out = tmp_path / "out"
    code, text = cli(_args(d, out))
    assert code == 0, text
    for expected in ("unknown class ids 77", "differs from image", "no label map", "reference excluded",
                     "unknown class ids 200", "corrupt or unreadable label map"):
        assert expected in text, (expected, text)
    rows = _rows(out)
    assert sorted(Path(r["composite"]).name for r in rows) == ["ft-one_2_1.png", "ft-one_3_1.png"]
    reader = DatasetReader(out)
    assert [p for p in reader.validate() if p.severity == "error"] == []
    ref = hio.read_image(d["refs"] / "r_good.png")
    ref_lab = hio.read_label_map(d["ref_labels"] / "r_good.png")
    for row in rows:
        assert row["retrieval"] == "labels" and row["reference_image_id"] == "r_good"
        cls = int(row["source_annotation_id"])
        assert row["reference_annotation_id"] == str(cls)
        comp = hio.read_image(out / "HFlickr" / row["composite"])
        real = hio.read_image(out / "HFlickr" / row["real"])
        m = hio.read_mask(out / "HFlickr" / row["mask"]) > 0.5
        np.testing.assert_array_equal(comp[~m], real[~m])          # background bit-exact
        region_mean = ref[ref_lab == cls].mean(axis=0)
        whole_mean = ref.reshape(-1, 3).mean(axis=0)
        fg_mean = comp[m].mean(axis=0)
        # colours came from the same-label region, not from the whole reference image
        assert np.abs(fg_mean - region_mean).max() < 0.06, (fg_mean, region_mean)
        assert np.abs(fg_mean - region_mean).sum() < np.abs(fg_mean - whole_mean).sum() / 2


def test_no_shared_labels_falls_back_and_counts(cli, tmp_path, rng):
    d = _dataset(tmp_path, rng)
    for name in ("r_good", "t_one", "r_badids", "r_corrupt"):
        (d["refs"] / f"{name}.png").unlink()
        (d["ref_labels"] / f"{name}.png").unlink()
    out = tmp_path / "out"
    code, text = cli(_args(d, out))
    assert code == 0, text
    assert "no reference sharing their labels (fallback to the most similar image): 2" in text
    rows = _rows(out)
    assert len(rows) == 2 and all(r["retrieval"] == "labels-fallback" for r in rows)
    assert all(r["reference_image_id"] == "r_other" and r["reference_annotation_id"] == "all" for r in rows)


def test_without_label_maps_uses_descriptor(cli, tmp_path, rng):
    d = _dataset(tmp_path, rng)
    masks = tmp_path / "masks"
    m = np.zeros((H, W), bool)
    m[25:35, 5:20] = True
    hio.write_mask(masks / "t_one_1.png", m)
    hio.write_mask(masks / "t_one_2.png", np.zeros((H, W), bool))      # empty
    hio.write_mask(masks / "t_one_3.png", np.ones((5, 5), bool))       # other size
    hio.write_mask(masks / "ghost_1.png", m)                           # matches no image
    out = tmp_path / "out"
    args = ["datagen", "flickr", "--images", str(d["images"]), "--reference-images", str(d["refs"]),
            "--masks", str(masks), "--out", str(out), "--methods", "gct", "--workers", "0"]
    code, text = cli(args)
    assert code == 0, text
    assert "FALLBACK colour/texture descriptor" in text
    for expected in ("empty mask", "mask size differs", "mask matches no image"):
        assert expected in text
    rows = _rows(out)
    assert [Path(r["composite"]).name for r in rows] == ["ft-one_1_1.jpg"]
    assert rows[0]["retrieval"] == "descriptor" and rows[0]["reference_image_id"] != "t_one"
    # no masks and no label maps: nothing can pick a foreground -> a clear error
    code, text = cli(args[:6] + ["--out", str(tmp_path / "o2")])
    assert code == 2 and "--masks" in text and "Traceback" not in text


def test_sample_runs_and_is_marked_synthetic(cli, tmp_path):
    out = tmp_path / "out"
    code, text = cli(["datagen", "flickr", "--out", str(out), "--workers", "0", "--methods", "gct,hgm"])
    assert code == 0, text
    assert "synthetic" in text and "spatial-pyramid label histograms" in text
    rows = _rows(out)
    assert rows and all(r["synthetic"] == "1" for r in rows)
    reader = DatasetReader(out)
    assert [p for p in reader.validate() if p.severity == "error"] == []


def test_read_label_map_formats(tmp_path):
    from PIL import Image

    lab = np.random.default_rng(3).integers(0, 151, (9, 13)).astype(np.uint8)
    hio.write_mask(tmp_path / "grey.png", lab)
    np.testing.assert_array_equal(hio.read_label_map(tmp_path / "grey.png"), lab)
    pal = Image.fromarray(lab, "P")
    pal.putpalette(list(range(256)) * 3)
    pal.save(tmp_path / "palette.png")          # the palette index is the class, not the colour
    np.testing.assert_array_equal(hio.read_label_map(tmp_path / "palette.png"), lab)
    Image.fromarray(lab.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(hio.read_label_map(tmp_path / "deep.png"), lab.astype(np.int32) * 257)
    rgb = np.stack([lab, lab // 2, lab], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    from harmony.errors import InputError

    with pytest.raises(InputError, match="single-channel"):
        hio.read_label_map(tmp_path / "colour.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(InputError, match="bad.png"):
        hio.read_label_map(tmp_path / "bad.png")


# --- label maps written for DIH's scene-parsing decoder -------------------------------------------------

def test_label_maps_written_losslessly_and_listed(cli, tmp_path, rng):
    d = _dataset(tmp_path, rng)
    out = tmp_path / "out"
    code, text = cli(_args(d, out))
    assert code == 0, text
    sub = out / "HFlickr"
    # only the target that produced composites gets its map, named after the real image's stem
    assert sorted(p.name for p in (sub / "labels").iterdir()) == ["ft-one.png"]
    written = hio.read_label_map(sub / "labels" / "ft-one.png")
    given = hio.read_label_map(d["labels"] / "t_one.png")
    assert written.dtype == np.uint8
    np.testing.assert_array_equal(written, given)
    rows = _rows(out)
    assert rows and all(r["labels"] == "labels/ft-one.png" for r in rows)
    for r in rows:
        assert Path(r["labels"]).stem == Path(r["real"]).stem      # <Sub>/labels/<real stem>.png
        assert hio.image_size(sub / r["labels"]) == hio.image_size(sub / r["real"])
    assert "label maps: 1 written" in text
    # the extra folder confuses neither the reader nor `harmony check`
    assert [p for p in DatasetReader(out).validate() if p.severity == "error"] == []
    code, text = cli(["check", str(out)])
    assert code == 0 and "OK" in text, text
    # resume: the labels folder is an extra dir (stale temporaries cleared, finished maps kept)
    stale = sub / "labels" / ".ft-one.png.abc123.tmp"
    stale.write_bytes(b"partial")
    code, text = cli(_args(d, out))
    assert code == 0 and "already done" in text, text
    assert not stale.exists()
    np.testing.assert_array_equal(hio.read_label_map(sub / "labels" / "ft-one.png"), given)
    # --overwrite with another configuration (descriptor mode: no label maps) removes the old maps
    masks = tmp_path / "masks"
    m = np.zeros((H, W), bool)
    m[25:35, 5:20] = True
    hio.write_mask(masks / "t_one_1.png", m)
    code, text = cli(["datagen", "flickr", "--images", str(d["images"]), "--reference-images", str(d["refs"]),
                      "--masks", str(masks), "--out", str(out), "--methods", "gct", "--workers", "0", "--overwrite"])
    assert code == 0, text
    assert not (sub / "labels").exists()
    assert "label maps: none written" in text
    assert [r["labels"] for r in _rows(out)] == [""]


def test_sixteen_bit_label_maps_round_trip(cli, tmp_path, rng):
    """Class ids above 255 (e.g. a 300-class parser) are kept exactly in a 16-bit PNG."""
    from PIL import Image

    d = {k: tmp_path / k for k in ("images", "labels", "refs", "ref_labels")}
    for k in d.values():
        k.mkdir()
    lab = _layout(1, 2, 3).astype(np.uint16)
    big = np.select([lab == 1, lab == 2, lab == 3], [7, 258, 300]).astype(np.uint16)
    big[:3, :5] = 0                                                   # some unlabelled pixels
    hio.write_image(d["images"] / "deep.png", _paint(lab.astype(np.uint8), rng))
    Image.fromarray(big).save(d["labels"] / "deep.png")               # 16-bit grey PNG
    ref = _paint(lab.astype(np.uint8), rng, shift=(0.3, -0.2, 0.1))
    hio.write_image(d["refs"] / "r1.png", ref)
    Image.fromarray(big).save(d["ref_labels"] / "r1.png")
    out = tmp_path / "out"
    code, text = cli(_args(d, out)[:-8] + ["--num-classes", "300", "--methods", "gct", "--workers", "0",
                                            "--format", "png", "--min-change", "0.001"])
    assert code == 0, text
    assert _rows(out), text
    path = out / "HFlickr" / "labels" / "fdeep.png"
    assert path.read_bytes()[24] == 16                               # IHDR bit depth: 16
    written = hio.read_label_map(path)
    np.testing.assert_array_equal(written.astype(np.int64), big.astype(np.int64))


def test_sample_writes_the_sample_label_maps(cli, tmp_path):
    from harmony.datagen.samples_extra import flickr_sample

    out = tmp_path / "out"
    code, text = cli(["datagen", "flickr", "--out", str(out), "--workers", "0", "--methods", "gct,hgm"])
    assert code == 0, text
    sample = flickr_sample()
    rows = _rows(out)
    sources = sorted({r["source_image_id"] for r in rows})
    assert sources
    for stem in sources:
        row = next(r for r in rows if r["source_image_id"] == stem)
        written = hio.read_label_map(out / "HFlickr" / row["labels"])
        np.testing.assert_array_equal(written, hio.read_label_map(Path(sample["labels"]) / f"{stem}.png"))
    assert len(list((out / "HFlickr" / "labels").iterdir())) == len(sources)


def test_sample_has_no_duplicate_composites(cli, tmp_path):
    """No two composites of one object share (reference, method, parameters) and no
    two are byte-identical (each candidate reference is used at most once per object)."""
    import hashlib

    out = tmp_path / "out"
    code, text = cli(["datagen", "flickr", "--out", str(out), "--workers", "0", "--methods", "gct,hgm",
                      "--per-mask", "3"])
    assert code == 0, text
    rows = _rows(out)
    assert rows
    identities = [(r["source_image_id"], r["source_annotation_id"], r["reference_image_id"], r["method"], r["params"])
                  for r in rows]
    assert len(identities) == len(set(identities))
    digests = [hashlib.sha256((out / "HFlickr" / "composite_images" / Path(r["composite"]).name).read_bytes())
               .hexdigest() for r in rows]
    assert len(digests) == len(set(digests))
