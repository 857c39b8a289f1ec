"""`harmony datagen coco` (iHarmony4's HCOCO, Cong et al. 2020; COCO format): pycocotools decoding, object and reference
selection, rejection, bad input, determinism across workers and a Dask LocalCluster, resume after a
killed run, refusal of another configuration, and the embedded sample data."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from harmony import io as hio
from harmony.datagen import coco
from harmony.dataset import DatasetReader
from harmony.errors import InputError

from .conftest import output_files as _files

H, W = 48, 64
FAST = "gct,gctrgb,hgm"
ISSUE_COLUMNS = ["composite", "mask", "real", "subset", "split", "source_image_id", "source_annotation_id",
                 "reference_image_id", "reference_annotation_id", "method", "params", "fg_ratio", "seed"]


# --- a tiny COCO-format dataset written by the test ------------------------------------------------

_OBJECT_COLOURS = [(0.85, 0.2, 0.15), (0.15, 0.3, 0.9), (0.2, 0.8, 0.25), (0.9, 0.8, 0.2), (0.6, 0.2, 0.8),
                   (0.3, 0.8, 0.8)]


def _photo(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Textured background plus a textured object of a colour that differs per image."""
    rng = np.random.default_rng(100 + i)
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([0.3 + 0.3 * xx / w, 0.4 + 0.2 * yy / h, 0.5 - 0.2 * xx / w], -1)
    img = bg + rng.normal(0, 0.03, (h, w, 3))
    col = np.array(_OBJECT_COLOURS[i % len(_OBJECT_COLOURS)])
    tex = rng.normal(0, 0.08, (h, w, 1))
    obj = np.clip(col * (0.8 + 0.4 * yy[..., None] / h) + tex, 0, 1)
    region = (slice(h // 5, 4 * h // 5), slice(w // 6, 4 * w // 6))
    img[region] = obj[region]
    return np.clip(img, 0, 1).astype(np.float32)


def _rect(x0, y0, x1, y1):
    return [[float(x0), float(y0), float(x1), float(y0), float(x1), float(y1), float(x0), float(y1)]]


def make_coco(root: Path, n: int = 4) -> tuple[Path, Path, dict]:
    """n images 'img<i>.jpg' (ids 1..n), each with one 'thing' instance (category 1) on its object; image 1
    also has a 'solo' instance (category 2, no other image has one). Annotation ids: 10*i."""
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    from pycocotools import mask as mask_utils

    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}, {"id": 2, "name": "solo"}]}
    for i in range(1, n + 1):
        hio.write_image(images_dir / f"img{i}.jpg", _photo(i), quality=95)
        data["images"].append({"id": i, "file_name": f"img{i}.jpg", "height": H, "width": W})
        seg = _rect(W // 6, H // 5, 4 * W // 6, 4 * H // 5)
        if i % 2 == 0:  # every other one as compressed RLE
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, H, W))
            seg = {"size": [H, W], "counts": rle["counts"].decode("ascii")}
        data["annotations"].append({"id": 10 * i, "image_id": i, "category_id": 1, "segmentation": seg,
                                    "iscrowd": 0})
    data["annotations"].append({"id": 11, "image_id": 1, "category_id": 2,
                                "segmentation": _rect(2, 2, 20, 30), "iscrowd": 0})
    ann = root / "instances.json"
    ann.write_text(json.dumps(data))
    return images_dir, ann, data


def _write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def _manifest(root: Path) -> list[dict]:
    with open(root / "HCOCO" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# --- pycocotools decoding -------------------------------------------------------------------------

def test_decoding_matches_pycocotools_annToMask():
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    h, w = 30, 40
    poly = [[3.5, 2.0, 30.2, 4.1, 25.0, 25.7, 5.0, 20.0], [32, 20, 39, 20, 39, 29, 32, 29]]  # two parts
    dense = np.zeros((h, w), np.uint8)
    dense[5:17, 8:33] = 1
    dense[20:28, 2:6] = 1
    compressed = mask_utils.encode(np.asfortranarray(dense))
    # Uncompressed RLE: run lengths in column-major order, starting with zeros.
    flat = dense.flatten(order="F")
    runs, cur, count = [], 0, 0
    for v in flat:
        if v == cur:
            count += 1
        else:
            runs.append(count)
            cur, count = v, 1
    runs.append(count)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": poly, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": {"size": [h, w], "counts": compressed["counts"].decode("ascii")}},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": {"size": [h, w], "counts": runs}},
        {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [[-10, -10, 15, -5, 12, 50, -3, 20]]},
    ]
    api = COCO()
    api.dataset = {"images": [{"id": 1, "height": h, "width": w, "file_name": "x.jpg"}], "annotations": anns,
                   "categories": [{"id": 1, "name": "a"}]}
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    for a in anns:
        ours = coco.decode_segmentation(copy.deepcopy(a["segmentation"]), h, w)
        np.testing.assert_array_equal(ours, api.annToMask(a), err_msg=f"annotation {a['id']}")
    np.testing.assert_array_equal(coco.decode_segmentation(anns[2]["segmentation"], h, w), dense)
    assert coco.decode_segmentation(anns[0]["segmentation"], h, w).sum() > 0
    with pytest.raises(InputError, match="RLE size"):
        coco.decode_segmentation({"size": [h + 1, w], "counts": runs}, h, w)


# --- annotation JSON errors -------------------------------------------------------------------------

@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("annotations"), r"annotations: missing"),
    (lambda d: d.__setitem__("images", {}), r"images: expected a list"),
    (lambda d: d["annotations"][1].pop("segmentation"), r"annotations\[1\]\.segmentation: missing"),
    (lambda d: d["annotations"][0].__setitem__("image_id", 999), r"annotations\[0\]\.image_id: 999 is not an id"),
    (lambda d: d["annotations"][0].__setitem__("category_id", 7), r"annotations\[0\]\.category_id"),
    (lambda d: d["annotations"][0].__setitem__("segmentation", [[1, 2, 3]]), r"annotations\[0\]\.segmentation\[0\]"),
    (lambda d: d["annotations"][0].__setitem__("segmentation", "abc"), r"annotations\[0\]\.segmentation: expected"),
    (lambda d: d["annotations"][1].__setitem__("segmentation", {"size": [4], "counts": "x"}),
     r"annotations\[1\]\.segmentation\.size"),
    (lambda d: d["images"][2].__setitem__("height", 0), r"images\[2\]\.height"),
    (lambda d: d["images"][0].pop("file_name"), r"images\[0\]\.file_name: missing"),
    (lambda d: d["annotations"].append(dict(d["annotations"][0])), r"duplicate annotation id"),
])
def test_malformed_annotations_name_the_field(tmp_path, mutate, match):
    _, ann, data = make_coco(tmp_path, n=3)
    bad = copy.deepcopy(data)
    mutate(bad)
    path = _write_json(tmp_path / "bad.json", bad)
    with pytest.raises(InputError, match=match) as info:
        coco.load_annotations(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_or_unparsable_json_cli(tmp_path, cli):
    images, _, _ = make_coco(tmp_path, n=2)
    code, out = cli(["datagen", "coco", "--images", str(images), "--annotations", str(tmp_path / "nope.json"),
                     "--out", str(tmp_path / "o")])
    assert code == 2 and "nope.json: annotation file not found" in out and "Traceback" not in out
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [\n  {"id": 1,, }\n]}')
    code, out = cli(["datagen", "coco", "--images", str(images), "--annotations", str(broken),
                     "--out", str(tmp_path / "o")])
    assert code == 2 and "broken.json: malformed JSON at line 2" in out
    code, out = cli(["datagen", "coco", "--images", str(images), "--out", str(tmp_path / "o")])
    assert code == 2 and "--images and --annotations go together" in out
    code, out = cli(["datagen", "coco", "--images", str(images), "--annotations", str(tmp_path / "instances.json"),
                     "--out", str(tmp_path / "o"), "--methods", "gct,nope"])
    assert code == 2 and "unknown nope" in out


# --- selection ----------------------------------------------------------------------------------------

def test_selection_largest_ratio_bounds_crowd_empty_oob_and_single_instance(tmp_path):
    images, _, data = make_coco(tmp_path, n=3)
    anns = data["annotations"]
    # Image 2: a smaller 'thing' (not the largest), a crowd region, a zero-area and an outside polygon,
    # and a partly-outside polygon of a third category that is kept (clipped) but has no reference.
    data["categories"].append({"id": 3, "name": "edge"})
    anns += [
        {"id": 21, "image_id": 2, "category_id": 1, "segmentation": _rect(0, 0, 10, 10), "iscrowd": 0},
        {"id": 22, "image_id": 2, "category_id": 1, "segmentation": _rect(0, 0, 60, 40), "iscrowd": 1},
        {"id": 23, "image_id": 2, "category_id": 1, "segmentation": [[5, 5, 20, 5, 35, 5]], "iscrowd": 0},
        {"id": 24, "image_id": 2, "category_id": 1, "segmentation": _rect(100, 100, 140, 140), "iscrowd": 0},
        {"id": 25, "image_id": 2, "category_id": 3, "segmentation": _rect(50, 30, 90, 70), "iscrowd": 0},
    ]
    units, stats = coco.plan_units(data, images, coco.CocoOptions(seed=3))
    by_id = {u.image_id: u for u in units}
    assert [t.annotation_id for t in by_id[2].targets] == [20]  # the largest thing; edge has no reference
    thing = by_id[2].targets[0]
    assert thing.fg_ratio == pytest.approx(((4 * W // 6 - W // 6) * (4 * H // 5 - H // 5)) / (H * W), rel=0.05)
    assert {r.image_id for r in thing.references} == {1, 3} and len(thing.references) == 2
    assert all(r.category_id == 1 for r in thing.references)
    skipped = dict(by_id[2].skipped)
    assert skipped["img2.jpg annotation 23"] == "zero-area segmentation"
    assert skipped["img2.jpg annotation 24"] == "segmentation outside the image"
    assert "no reference" in skipped["img2.jpg annotation 25"]
    assert "no reference" in dict(by_id[1].skipped)["img1.jpg annotation 11"]  # single 'solo' instance
    assert stats.crowd == 1 and stats.empty == 2 and stats.out_of_bounds_clipped == 1
    assert stats.no_reference == 2
    # Bounds: a 40 % minimum leaves nothing.
    units, stats = coco.plan_units(data, images, coco.CocoOptions(min_fg_ratio=0.4))
    assert not any(u.targets for u in units) and stats.out_of_ratio >= 3
    # objects="all": the small thing (ratio 100/3072 = 3 %) with a low bound.
    units, _ = coco.plan_units(data, images, coco.CocoOptions(objects="all", min_fg_ratio=0.01))
    assert [t.annotation_id for t in {u.image_id: u for u in units}[2].targets] == [20, 21]  # 25: no reference
    # Fallback: the single-instance objects take a reference of another category.
    units, stats = coco.plan_units(data, images, coco.CocoOptions(reference_fallback="any"))
    solo = [t for u in units for t in u.targets if t.annotation_id == 11][0]
    assert solo.references and all(r.image_id != 1 for r in solo.references)
    assert stats.fallback_references == 2 and stats.no_reference == 0


def test_references_are_deterministic_and_vary_with_seed(tmp_path):
    images, _, data = make_coco(tmp_path, n=6)
    plan = lambda s: [(t.annotation_id, tuple(r.image_id for r in t.references))  # noqa: E731
                      for u in coco.plan_units(data, images, coco.CocoOptions(seed=s))[0] for t in u.targets]
    assert plan(1) == plan(1)
    assert any(plan(s) != plan(1) for s in range(2, 6))


# --- rejection -------------------------------------------------------------------------------------------

def test_reject_reason_hand_cases():
    rng = np.random.default_rng(0)
    src = (0.3 + 0.4 * rng.random((20, 20, 3))).astype(np.float32)
    mask = np.zeros((20, 20), np.float32)
    mask[5:15, 5:15] = 1
    fg = mask > 0
    assert coco.reject_reason(src, src.copy(), mask) == coco.R_UNCHANGED
    good = src.copy()
    good[fg] = np.clip(good[fg] * 0.7 + 0.05, 0, 1)
    assert coco.reject_reason(src, good, mask) is None
    bg = good.copy()
    bg[0, 0, 0] += 1e-3
    assert coco.reject_reason(src, bg, mask) == coco.R_BACKGROUND
    clipped = src.copy()
    clipped[fg] = np.clip(clipped[fg] * 3.0, 0, 1)
    assert coco.reject_reason(src, clipped, mask) == coco.R_CLIPPED
    flat = src.copy()
    flat[fg] = 0.5
    assert coco.reject_reason(src, flat, mask) == coco.R_FLAT
    small = src.copy()
    small[fg] += 0.01
    assert coco.reject_reason(src, small, mask) == coco.R_UNCHANGED
    assert coco.reject_reason(src, small, mask, min_change=0.005) is None
    nan = good.copy()
    nan[7, 7, 1] = np.nan
    assert coco.reject_reason(src, nan, mask) == coco.R_INVALID
    assert coco.reject_reason(src, good, np.zeros_like(mask)) == coco.R_INVALID
    # A soft edge (0 < m < 1) may change; only m == 0 is background.
    soft = mask.copy()
    soft[4, 5:15] = 0.3
    edge = good.copy()
    edge[4, 5:15] *= 0.9
    assert coco.reject_reason(src, edge, soft) is None


# --- end to end -------------------------------------------------------------------------------------------

def _run(cli, images, ann, out, *extra):
    return cli(["datagen", "coco", "--images", str(images), "--annotations", str(ann), "--out", str(out),
                "--methods", FAST, "--quiet", *extra])


def test_end_to_end_layout_manifest_summary_and_check(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=4)
    out = tmp_path / "out"
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "2", "--test-fraction", "0.5")
    assert code == 0, text
    rows = _manifest(out)
    assert len(rows) == 8 and all(c in rows[0] for c in ISSUE_COLUMNS)
    for r in rows:
        assert r["method"] in FAST.split(",") and json.loads(r["params"]) == {}
        assert r["composite"].startswith("composite_images/c") and r["mask"].startswith("masks/")
        assert r["reference_image_id"] != r["source_image_id"] and r["subset"] == "HCOCO"
        assert (out / "HCOCO" / r["composite"]).is_file() and (out / "HCOCO" / r["real"]).is_file()
        name = Path(r["composite"]).name
        assert name == f"c{r['source_image_id']}_{r['source_annotation_id']}_{name.rsplit('_', 1)[1]}"
    assert {r["split"] for r in rows} == {"train", "test"}
    # Upright RGB JPEG sources are kept byte for byte as the real images (iHarmony4 keeps the originals).
    assert (out / "HCOCO" / "real_images" / "c1.jpg").read_bytes() == (images / "img1.jpg").read_bytes()
    # The composite differs from the real image inside the mask, and (up to JPEG) not outside it.
    r0 = rows[0]
    comp = hio.read_image(out / "HCOCO" / r0["composite"])
    real = hio.read_image(out / "HCOCO" / r0["real"])
    mask = hio.read_mask(out / "HCOCO" / r0["mask"]) > 0.5
    from harmony.imageops import dilate

    far = dilate(mask.astype(np.float32), 9) == 0
    assert np.abs(comp - real)[mask].mean() > 0.03
    assert np.abs(comp - real)[far].mean() < 1.5 / 255
    # Summary: counts, skipped input listed, throughput, output path.
    assert "HCOCO: 8 composites" in text and str(out / "HCOCO") in text
    assert "composites/s" in text and "no reference" in text and "img1.jpg annotation 11" in text
    code, check_out = cli(["check", str(out)])
    assert code == 0 and "0 errors" in check_out
    assert len(DatasetReader(out).samples()) == 8


def test_missing_corrupt_grey_cmyk_and_rotated_images(tmp_path, cli):
    images, ann, data = make_coco(tmp_path, n=6)
    (images / "img2.jpg").unlink()                                          # missing
    (images / "img3.jpg").write_bytes((images / "img3.jpg").read_bytes()[:300])   # truncated
    grey = Image.fromarray(hio.to_uint8(_photo(4))).convert("L")
    grey.save(images / "img4.jpg", quality=95)
    Image.fromarray(hio.to_uint8(_photo(5))).convert("CMYK").save(images / "img5.jpg", quality=95)
    # img6: stored rotated, with EXIF orientation 6 (display = rotate 90 degrees clockwise back).
    upright = hio.to_uint8(_photo(6))
    stored = np.rot90(upright, k=1)       # counter-clockwise; orientation 6 turns it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(images / "img6.jpg", quality=95, exif=exif)
    out = tmp_path / "out"
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "1")
    assert code == 0, text
    assert "missing image 1" in text and "corrupt image 1" in text
    assert "img2.jpg: missing image" in text and "img3.jpg: corrupt image" in text
    made = {r["source_image_id"] for r in _manifest(out)}
    assert {"4", "5", "6"} <= made and not made & {"2", "3"}
    real6 = hio.read_image(out / "HCOCO" / "real_images" / "c6.jpg")
    with Image.open(images / "img6.jpg") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), np.float32) / 255
    assert real6.shape == (H, W, 3) and np.abs(real6 - expected).mean() < 3 / 255
    real4 = hio.read_image(out / "HCOCO" / "real_images" / "c4.jpg")
    assert np.abs(real4[..., 0] - real4[..., 2]).max() < 0.05        # grey stays grey in RGB
    assert cli(["check", str(out)])[0] == 0


def test_image_size_mismatch_is_skipped(tmp_path, cli):
    images, ann, data = make_coco(tmp_path, n=3)
    hio.write_image(images / "img3.jpg", _photo(3, 40, 40))
    code, text = _run(cli, images, ann, tmp_path / "out", "--workers", "0", "--per-object", "1")
    assert code == 0 and "image size differs from annotation 1" in text


def test_test_ids_file_and_exclusive_split_options(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=4)
    ids = tmp_path / "test_ids.txt"
    ids.write_text("# held out\n3\n4\n")
    out = tmp_path / "out"
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "1", "--test-ids", str(ids))
    assert code == 0, text
    split = {r["source_image_id"]: r["split"] for r in _manifest(out)}
    assert split == {"1": "train", "2": "train", "3": "test", "4": "test"}
    assert (out / "HCOCO" / "HCOCO_test.txt").read_text().split() == ["c3_30_1.jpg", "c4_40_1.jpg"]
    code, text = _run(cli, images, ann, tmp_path / "o2", "--test-ids", str(ids), "--test-fraction", "0.2")
    assert code == 2 and "exclude each other" in text


def test_other_configuration_refused_unless_overwrite(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=3)
    out = tmp_path / "out"
    assert _run(cli, images, ann, out, "--workers", "0", "--per-object", "1")[0] == 0
    before = _files(out)
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "2")
    assert code == 2 and "holds another run's data" in text and "per_object" in text
    assert _files(out) == before
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "1")  # same: resumes
    assert code == 0 and "3 already done" in text and _files(out) == before
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "2", "--overwrite")
    assert code == 0 and len(_manifest(out)) == 6


def test_byte_identical_across_workers_and_dask(tmp_path, cli, dask_cluster):
    images, ann, _ = make_coco(tmp_path, n=5)
    outputs = {}
    runs = {"inline": ["--workers", "0"], "one": ["--workers", "1"], "two": ["--workers", "2"],
            "dask": ["--scheduler", dask_cluster]}
    for name, args in runs.items():
        out = tmp_path / name
        code, text = _run(cli, images, ann, out, "--per-object", "2", "--seed", "11", *args)
        assert code == 0, text
        outputs[name] = _files(out)
    assert len([k for k in outputs["inline"] if k.endswith(".jpg")]) > 5
    for name in ("one", "two", "dask"):
        assert outputs[name] == outputs["inline"], name
    code, _ = _run(cli, images, ann, tmp_path / "seed12", "--per-object", "2", "--seed", "12", "--workers", "0")
    assert _files(tmp_path / "seed12") != outputs["inline"]


def test_resume_after_killed_run_matches_uninterrupted(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=12)
    args = ["--images", str(images), "--annotations", str(ann), "--methods", "idt", "--per-object", "2",
            "--workers", "0", "--quiet"]
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "harmony", "datagen", "coco", "--out", str(killed), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    units = killed / "HCOCO" / ".harmony" / "units"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if units.is_dir() and len(list(units.glob("*.json"))) >= 1:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(units.glob("*.json")))
    assert 1 <= done_before < 12, f"the run must be killed mid-way ({done_before} of 12 units done)"
    assert not (killed / "HCOCO" / "manifest.csv").exists()
    code, text = cli(["datagen", "coco", "--out", str(killed), *args])
    assert code == 0, text
    assert f"{done_before} already done" in text
    full = tmp_path / "full"
    assert cli(["datagen", "coco", "--out", str(full), *args])[0] == 0
    assert _files(killed) == _files(full)
    assert not list(killed.rglob("*.tmp"))


def test_embedded_sample_runs_checks_and_loads(tmp_path, cli):
    out = tmp_path / "sample_out"
    # The first two sample photos (astronaut, grace_hopper: person and flag in both) keep the test short.
    code, text = cli(["datagen", "coco", "--out", str(out), "--methods", "gctrgb,hgm", "--per-object", "1",
                      "--workers", "0", "--quiet", "--max-images", "2"])
    assert code == 0, text
    assert "no reference: category 'rocket'" in text
    code, check_out = cli(["check", str(out)])
    assert code == 0, check_out
    reader = DatasetReader(out)
    samples = reader.samples()
    assert len(samples) >= 3 and {s.split for s in samples} == {"train", "test"}
    comp, mask, real = reader.load(samples[0])
    assert comp.shape == real.shape and mask.shape == comp.shape[:2] and mask.max() == 1.0
    # `harmony samples` writes the same data out; used as explicit input it gives the same composites.
    code, text = cli(["samples", "--out", str(tmp_path / "s")])
    assert code == 0 and "annotations" in text
    data = json.loads((tmp_path / "s" / "coco" / "instances.json").read_text())
    assert {c["name"] for c in data["categories"]} >= {"person", "motorcycle", "flag"}
    per_cat = {}
    for a in data["annotations"]:
        per_cat.setdefault(a["category_id"], set()).add(a["image_id"])
    assert sum(len(v) >= 2 for v in per_cat.values()) >= 3   # several categories with references
    assert any(isinstance(a["segmentation"], dict) for a in data["annotations"])
    assert any(isinstance(a["segmentation"], list) for a in data["annotations"])
    assert cli(["samples", "--out", str(tmp_path / "s")])[0] == 2   # refuses to overwrite


def test_help_documents_the_reference_fallback(cli):
    code, out = cli(["datagen", "coco", "--help"])
    assert code == 0 and "Examples" in out and "--reference-fallback" in out


def test_rejections_are_counted_per_reason_in_summary(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=3)
    out = tmp_path / "out"
    # An impossible change threshold: every attempt (3 per composite) is rejected, most as barely changed.
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "1", "--min-change", "0.99")
    assert code == 0, text
    assert "HCOCO: 0 composites" in text
    records = [json.loads(p.read_text()) for p in (out / "HCOCO" / ".harmony" / "units").glob("*.json")]
    reasons = [r["reason"] for rec in records for r in rec["rejected"]]
    assert reasons.count(coco.R_SHORT) == 3                             # each object: 0 of 1 made
    attempts = [r for r in reasons if r != coco.R_SHORT]
    assert len(attempts) == 9 and attempts.count(coco.R_UNCHANGED) >= 5   # 3 objects x 3 attempts
    counts = {reason: reasons.count(reason) for reason in set(reasons)}
    line = "rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    assert line in text
    assert _manifest(out) == []


# --- pluggable filter (stands in for iHarmony4's aesthetics model + manual filtering) ------------------

def reject_dark_filter(composite, mask, real):
    """A test filter: rejects composites whose foreground got darker than the real image's."""
    m = mask > 0.5
    return "darker" if composite[m].mean() < real[m].mean() else True


def keep_all_filter(composite, mask, real):
    return None


def test_pluggable_filter_rejects_with_its_reason(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=3)
    base = tmp_path / "base"
    code, text = _run(cli, images, ann, base, "--workers", "0", "--per-object", "2")
    assert code == 0, text
    kept = _run(cli, images, ann, tmp_path / "kept", "--workers", "0", "--per-object", "2",
                "--filter", f"{__name__}:keep_all_filter")
    assert kept[0] == 0, kept[1]
    assert _manifest(tmp_path / "kept") == _manifest(base)   # a filter that keeps everything changes nothing
    out = tmp_path / "filtered"
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "2",
                      "--filter", f"{__name__}:reject_dark_filter")
    assert code == 0, text
    records = [json.loads(p.read_text()) for p in (out / "HCOCO" / ".harmony" / "units").glob("*.json")]
    reasons = [r["reason"] for rec in records for r in rec["rejected"]]
    # Every kept composite is at least as bright as its real image inside the mask (checked from files).
    from harmony import io as hio

    for row in _manifest(out):
        comp = hio.read_image(out / "HCOCO" / row["composite"])
        real = hio.read_image(out / "HCOCO" / row["real"])
        m = hio.read_mask(out / "HCOCO" / row["mask"]) > 0.5
        assert comp[m].mean() >= real[m].mean() - 2 / 255   # JPEG tolerance
    # On this data the filter rejects most attempts (11 here), and the summary counts them by reason.
    assert reasons.count("filter: darker") >= 3 and len(_manifest(out)) < len(_manifest(base))
    assert f"filter: darker {reasons.count('filter: darker')}" in text


def test_bad_filter_spec_is_a_clear_error(tmp_path, cli):
    images, ann, _ = make_coco(tmp_path, n=2)
    code, text = _run(cli, images, ann, tmp_path / "o", "--filter", "no_such_module_xyz:fn")
    assert code == 2 and "--filter no_such_module_xyz:fn: cannot load it" in text
    code, text = _run(cli, images, ann, tmp_path / "o2", "--filter", "just-a-name")
    assert code == 2 and "expected package.module:function" in text


# --- no duplicate composites -----------------------------------------------------------------------

def _assert_no_duplicates(subset_dir: Path, rows: list[dict]) -> None:
    import hashlib

    identities = [(r["source_image_id"], r["source_annotation_id"], r["reference_image_id"],
                   r["reference_annotation_id"], r["method"], r["params"]) for r in rows]
    assert len(identities) == len(set(identities)), "two composites share (object, reference, method, params)"
    digests = [hashlib.sha256((subset_dir / r["composite"]).read_bytes()).hexdigest() for r in rows]
    assert len(digests) == len(set(digests)), "byte-identical composites"


def test_sample_has_no_duplicate_composites_and_counts_the_shortfall(tmp_path, cli):
    """The embedded sample has objects with a single reference; with four methods, three of them
    parameter-free, a second draw could repeat (reference, method, {}) and write the same bytes
    (c1_102_1.jpg == c1_102_2.jpg before the fix)."""
    out = tmp_path / "out"
    code, text = cli(["datagen", "coco", "--out", str(out), "--workers", "0", "--per-object", "4"])
    assert code == 0, text
    rows = _manifest(out)
    assert rows
    _assert_no_duplicates(out / "HCOCO", rows)
    per_object: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["source_image_id"], r["source_annotation_id"])
        per_object[key] = per_object.get(key, 0) + 1
    records = [json.loads(p.read_text()) for p in (out / "HCOCO" / ".harmony" / "units").glob("*.json")]
    short = {r["item"] for rec in records for r in rec["rejected"] if r["reason"] == coco.R_SHORT}
    for (image_id, ann_id), n in per_object.items():
        if n < 4:   # each object left short is counted, with how many it got
            assert any(f"annotation {ann_id}: {n} of 4" in item for item in short), (image_id, ann_id, short)
    assert coco.R_SHORT in text


def test_one_reference_and_parameter_free_methods_give_fewer_composites(tmp_path, cli):
    """One reference per object and only parameter-free methods: at most one composite per
    (reference, method); the rest are counted as duplicates, never written."""
    images, ann, _ = make_coco(tmp_path, n=2)
    out = tmp_path / "out"
    code, text = _run(cli, images, ann, out, "--workers", "0", "--per-object", "3", "--methods", "gct")
    assert code == 0, text
    rows = _manifest(out)
    _assert_no_duplicates(out / "HCOCO", rows)
    per_object: dict[tuple[str, str], int] = {}
    for r in rows:
        per_object[(r["source_image_id"], r["source_annotation_id"])] = per_object.get(
            (r["source_image_id"], r["source_annotation_id"]), 0) + 1
    assert per_object and all(n == 1 for n in per_object.values()), per_object
    assert "duplicate" in text and coco.R_SHORT in text
