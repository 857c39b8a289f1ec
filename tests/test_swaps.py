"""`datagen fivek` and `datagen day2night` (iHarmony4's HAdobe5k and Hday2night; DIH, Tsai et al. 2017, section 3.1).

Golden values are the composite equation computed here from the input files (independently of the
generator's uint8 ``where``), and hand-made names from the iHarmony4 string rule.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from harmony import io as hio
from harmony.dataset import DatasetReader, derive_mask_and_real


def _manifest(root: Path, subset: str) -> list[dict]:
    with open(root / subset / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _validate(root: Path) -> DatasetReader:
    reader = DatasetReader(root)
    errors = [p for p in reader.validate() if p.severity == "error"]
    assert errors == [], errors
    samples = reader.samples()
    assert samples
    comp, mask, real = reader.load(samples[0])
    assert comp.shape == real.shape and mask.shape == comp.shape[:2]
    return reader


def _img(rng, h=24, w=32) -> np.ndarray:
    # smooth-ish content so JPEG error stays small
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    img = c + 0.2 * np.sin(yy[..., None] / 5 + np.arange(3)) * np.cos(xx[..., None] / 7)
    return np.clip(img, 0, 1).astype(np.float32)


def _versions_of(img: np.ndarray) -> dict[str, np.ndarray]:
    return {"original": img, "expertA": np.clip(img * 1.3, 0, 1), "expertC": np.clip(img ** 2, 0, 1)}


def _mask(h=24, w=32, box=(4, 6, 16, 20)) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[box[0]:box[2], box[1]:box[3]] = True
    return m


def _fivek_tree(tmp: Path, rng) -> tuple[Path, Path]:
    root, masks = tmp / "fivek", tmp / "masks"
    for _i, stem in enumerate(["a0007-jmac_DSC1", "a0008-x_y"]):
        for v, im in _versions_of(_img(rng)).items():
            ext = ".tif" if v == "original" else ".png"
            hio.write_image(root / v / f"{stem}{ext}", im)
        hio.write_mask(masks / f"{stem}_1.png", _mask())
    hio.write_mask(masks / "a0008-x_y_2.png", _mask(box=(10, 2, 20, 12)))
    return root, masks


def test_fivek_sample_png_is_exact(cli, tmp_path):
    out = tmp_path / "out"
    code, text = cli(["datagen", "fivek", "--out", str(out), "--format", "png", "--per-mask", "3", "--workers", "0"])
    assert code == 0, text
    assert "synthetic" in text
    _validate(out)
    rows = _manifest(out, "HAdobe5k")
    assert len(rows) == 4 * 2 * 3  # 4 sample photos x 2 masks x 3 sampled pairs
    for row in rows:
        assert row["synthetic"] == "1"
        assert row["version_p"] != row["version_q"]
        comp = hio.read_image(out / "HAdobe5k" / row["composite"])
        m = hio.read_mask(out / "HAdobe5k" / row["mask"])[..., None]
        p = hio.read_image(row["file_p"])
        q = hio.read_image(row["file_q"])
        np.testing.assert_array_equal(comp, m * q + (1 - m) * p)
        np.testing.assert_array_equal(hio.read_image(out / "HAdobe5k" / row["real"]), p)


def test_fivek_all_pairs_names_and_jpeg_tolerance(cli, tmp_path, rng):
    root, masks = _fivek_tree(tmp_path, rng)
    out = tmp_path / "out"
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(out),
                      "--workers", "0"])
    assert code == 0, text
    rows = _manifest(out, "HAdobe5k")
    assert len(rows) == 3 * 6  # 3 masks x all 6 ordered pairs of 3 versions
    names = {Path(r["composite"]).name for r in rows}
    # stem a0007-jmac_DSC1 -> id 0007; real version expertC (C), foreground from expertA (k = 2)
    assert "a0007-C_1_2.jpg" in names and "a0007-O_1_4.jpg" in names
    assert "a0008-A_2_1.jpg" in names
    assert derive_mask_and_real("a0007-C_1_2.jpg") == ("a0007-C_1.png", "a0007-C.jpg")
    _validate(out)
    for row in rows:
        comp = hio.read_image(out / "HAdobe5k" / row["composite"])
        m = hio.read_mask(out / "HAdobe5k" / row["mask"])[..., None]
        expect = m * hio.read_image(row["file_q"]) + (1 - m) * hio.read_image(row["file_p"])
        err = np.abs(comp - expect)
        assert err.mean() < 4 / 255, (row["composite"], err.mean())
        # JPEG tolerance made precise: the file is the JPEG (q95) of exactly the expected pixels.
        again = hio.decode_image_uint(hio.encode_image(expect, ".jpg", quality=95))
        np.testing.assert_array_equal(hio.read_image_uint8(out / "HAdobe5k" / row["composite"]),
                                      again)


def test_fivek_bad_inputs_are_skipped_and_listed(cli, tmp_path, rng):
    root, masks = _fivek_tree(tmp_path, rng)
    # a stem with one version only, a stem missing one version, a corrupt version file
    hio.write_image(root / "original" / "a0009-lonely.png", _img(rng))
    hio.write_mask(masks / "a0009-lonely_1.png", _mask())
    for v, im in _versions_of(_img(rng)).items():
        if v != "expertC":
            hio.write_image(root / v / "a0010-partial.png", im)
    hio.write_mask(masks / "a0010-partial_1.png", _mask())
    data = (root / "expertA" / "a0008-x_y.png").read_bytes()
    (root / "expertA" / "a0008-x_y.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    # masks: matching no image, a different size, empty, corrupt
    hio.write_mask(masks / "nosuchphoto_1.png", _mask())
    hio.write_mask(masks / "a0007-jmac_DSC1_big.png", np.ones((30, 30), bool))
    hio.write_mask(masks / "a0007-jmac_DSC1_empty.png", np.zeros((24, 32), bool))
    (masks / "a0007-jmac_DSC1_bad.png").write_bytes(b"not a png at all")
    out = tmp_path / "out"
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(out),
                      "--workers", "0"])
    assert code == 0, text
    for expected in ("mask matches no image", "mask size differs from the image", "empty mask",
                     "corrupt or unreadable mask", "version missing", "need two or more",
                     "corrupt or unreadable file"):
        assert expected in text, (expected, text)
    rows = _manifest(out, "HAdobe5k")
    stems = {r["source_image_id"] for r in rows}
    assert stems == {"a0007-jmac_DSC1", "a0008-x_y", "a0010-partial"}
    # a0008 lost expertA (corrupt): 2 versions -> 2 ordered pairs per mask, 2 masks
    assert sum(r["source_image_id"] == "a0008-x_y" for r in rows) == 4
    assert sum(r["source_image_id"] == "a0010-partial" for r in rows) == 2
    _validate(out)


def test_fivek_size_mismatch_error_or_resize(cli, tmp_path, rng):
    root, masks = _fivek_tree(tmp_path, rng)
    hio.write_image(root / "expertC" / "a0007-jmac_DSC1.png", _img(rng, 48, 64))
    out = tmp_path / "out"
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(out)])
    assert code == 2
    assert "Error:" in text and "a0007-jmac_DSC1.png" in text and "a0007-jmac_DSC1.tif" in text
    assert "Traceback" not in text
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(out),
                      "--align", "resize", "--workers", "0", "--overwrite"])
    assert code == 0, text
    rows = [r for r in _manifest(out, "HAdobe5k") if r["source_image_id"] == "a0007-jmac_DSC1"]
    assert len(rows) == 6
    for r in rows:  # the resize is recorded on every composite that uses the resized version
        uses_c = "expertC" in (r["version_p"], r["version_q"])
        assert r["align"] == ("expertC:64x48->32x24" if uses_c else ""), r
    _validate(out)


def test_fivek_deterministic_across_workers_and_resumable(cli, tmp_path, rng):
    root, masks = _fivek_tree(tmp_path, rng)
    outs = []
    for workers in ("0", "2"):
        out = tmp_path / f"out{workers}"
        code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(out),
                          "--per-mask", "2", "--seed", "5", "--workers", workers])
        assert code == 0, text
        outs.append(out)
    a, b = (sorted((o / "HAdobe5k" / "composite_images").iterdir()) for o in outs)
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 6
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert (outs[0] / "HAdobe5k" / "manifest.csv").read_text() == (outs[1] / "HAdobe5k" / "manifest.csv").read_text()
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(outs[0]),
                      "--per-mask", "2", "--seed", "5", "--workers", "0"])
    assert code == 0 and "2 already done" in text
    code, text = cli(["datagen", "fivek", "--root", str(root), "--masks", str(masks), "--out", str(outs[0]),
                      "--per-mask", "2", "--seed", "6"])
    assert code == 2 and "--overwrite" in text


def test_fivek_per_photo_folder_layout(tmp_path, rng):
    from harmony.datagen.swaps import scan_fivek

    for v in ("Input", "ExpertC", "b"):
        hio.write_image(tmp_path / "a0001-z_q" / f"{v}.jpg", _img(rng))
    tree = scan_fivek(tmp_path)
    assert tree.files == {"a0001-z_q": {"original": str(tmp_path / "a0001-z_q" / "Input.jpg"),
                                        "expertC": str(tmp_path / "a0001-z_q" / "ExpertC.jpg"),
                                        "expertB": str(tmp_path / "a0001-z_q" / "b.jpg")}}


def test_day2night_sample_names_and_exactness(cli, tmp_path):
    out = tmp_path / "out"
    code, text = cli(["datagen", "day2night", "--out", str(out), "--format", "png", "--per-mask", "2",
                      "--workers", "0"])
    assert code == 0, text
    _validate(out)
    rows = _manifest(out, "Hday2night")
    assert len(rows) == 3 * 2 * 2  # 3 scenes x 2 masks x 2 sampled (real, foreground) capture pairs
    pat = re.compile(r"^d[^_]+-\d{8}-\d{6}_[^_]+_\d+\.png$")
    for row in rows:
        assert pat.match(Path(row["composite"]).name), row["composite"]
        comp = hio.read_image(out / "Hday2night" / row["composite"])
        m = hio.read_mask(out / "Hday2night" / row["mask"])[..., None]
        np.testing.assert_array_equal(comp, m * hio.read_image(row["file_q"]) + (1 - m) * hio.read_image(row["file_p"]))
    # the scene folder motorcycle_left is sanitised to motorcycle-left
    assert any(Path(r["composite"]).name.startswith("dmotorcycle-left-2013") for r in rows)
    # k is the time-ordered index of the capture the foreground comes from
    r = rows[0]
    captures = sorted(Path(r["file_p"]).parent.glob("*.jpg"))
    k = int(Path(r["composite"]).name.rsplit("_", 1)[1].split(".")[0])
    assert captures[k - 1].name == Path(r["file_q"]).name


def test_day2night_bad_inputs(cli, tmp_path, rng):
    root = tmp_path / "scenes"
    img = _img(rng)
    for t in ("20200101-120000", "20200101-220000"):
        hio.write_image(root / "cam_1" / f"{t}.jpg", img * (0.5 if t.endswith("220000") else 1.0))
    hio.write_image(root / "cam_1" / "snapshot.jpg", img)
    hio.write_mask(root / "cam_1" / "masks" / "car_a.png", _mask())
    hio.write_mask(root / "cam_1" / "masks" / "empty.png", np.zeros((24, 32), bool))
    hio.write_image(root / "lonely" / "20200101-120000.jpg", img)
    hio.write_mask(root / "lonely" / "masks" / "1.png", _mask())
    out = tmp_path / "out"
    code, text = cli(["datagen", "day2night", "--root", str(root), "--out", str(out), "--workers", "0"])
    assert code == 0, text
    assert "capture name is not <yyyymmdd>-<hhmmss>" in text and "need two or more" in text
    assert "empty mask" in text
    names = sorted(Path(r["composite"]).name for r in _manifest(out, "Hday2night"))
    assert names == ["dcam-1-20200101-120000_car-a_2.jpg", "dcam-1-20200101-220000_car-a_1.jpg"]
    _validate(out)
    # two scenes that collide once '_' is replaced
    hio.write_image(root / "cam-1" / "20200101-120000.jpg", img)
    code, text = cli(["datagen", "day2night", "--root", str(root), "--out", str(tmp_path / "o2")])
    assert code == 2 and "rename one" in text


def test_help_has_examples(cli):
    for cmd in ("fivek", "day2night"):
        code, text = cli(["datagen", cmd, "--help"])
        assert code == 0 and "Examples:" in text and f"harmony datagen {cmd} --out data/" in text


def test_nothing_usable_is_one_clear_error(cli, tmp_path, rng):
    hio.write_image(tmp_path / "scenes" / "cam" / "noon.jpg", _img(rng))
    code, text = cli(["datagen", "day2night", "--root", str(tmp_path / "scenes"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no usable scene" in text and "Traceback" not in text
    code, text = cli(["datagen", "fivek", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2 and "FiveK root folder not found" in text
