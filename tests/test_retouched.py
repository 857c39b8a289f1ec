"""`datagen retouched`: SPRIH's two composites per (before I, after O, mask M) triplet.

SPRIH (Wang et al., CVPR 2023), section 3.2: ``M*O + (1-M)*I`` with target I and ``M*I + (1-M)*O``
with target O. The expected images are computed here in float from the input files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harmony import io as hio
from harmony.datagen.retouched import retouched_composites
from harmony.dataset import DatasetReader
from harmony.registry import GENERATORS


def _rows(out: Path) -> list[dict]:
    with open(out / "HRetouched" / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _no_errors(out: Path) -> None:
    reader = DatasetReader(out)
    assert [p for p in reader.validate() if p.severity == "error"] == []
    comp, mask, real = reader.load(reader.samples()[0])
    assert comp.shape == real.shape


def _img(rng, h=20, w=28):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    return np.clip(c + 0.15 * np.sin(yy[..., None] / 4 + np.arange(3)) * np.cos(xx[..., None] / 6), 0, 1)


def _mask(h=20, w=28):
    m = np.zeros((h, w), bool)
    m[5:14, 8:20] = True
    return m


def test_pair_equations_on_tiny_arrays():
    before = np.array([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]], np.float32)
    after = np.array([[[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]]], np.float32)
    mask = np.array([[True, False]])
    fg, bg = retouched_composites(before, after, mask)
    np.testing.assert_array_equal(fg, np.float32([[[0.9, 0.8, 0.7], [0.4, 0.5, 0.6]]]))   # M*O + (1-M)*I
    np.testing.assert_array_equal(bg, np.float32([[[0.1, 0.2, 0.3], [0.6, 0.5, 0.4]]]))   # M*I + (1-M)*O


def test_sample_png_equations_exact(cli, tmp_path):
    out = tmp_path / "out"
    code, text = cli(["datagen", "retouched", "--out", str(out), "--format", "png", "--workers", "0"])
    assert code == 0, text
    assert "synthetic" in text
    _no_errors(out)
    rows = _rows(out)
    assert len(rows) == 2 * 4
    sub = out / "HRetouched"
    for row in rows:
        I = hio.read_image(row["before_file"])
        O = hio.read_image(row["after_file"])
        M = (hio.read_mask(row["mask_file"]) > 0.5).astype(np.float32)[..., None]
        comp = hio.read_image(sub / row["composite"])
        real = hio.read_image(sub / row["real"])
        np.testing.assert_array_equal(hio.read_mask(sub / row["mask"])[..., None], M)
        if row["target"] == "before":
            assert row["composite"].endswith("-before_1_1.png")
            np.testing.assert_array_equal(comp, M * O + (1 - M) * I)
            np.testing.assert_array_equal(real, I)
        else:
            assert row["composite"].endswith("-after_1_1.png")
            np.testing.assert_array_equal(comp, M * I + (1 - M) * O)
            np.testing.assert_array_equal(real, O)
        assert row["synthetic"] == "1"


def test_jpeg_within_tolerance_and_bad_inputs(cli, tmp_path, rng):
    d = tmp_path / "pairs"
    for name in ("good_one", "bad-size-mask", "empty", "corrupt", "other-size"):
        hio.write_image(d / f"{name}_before.png", _img(rng))
        hio.write_image(d / f"{name}_after.png", np.clip(_img(rng) * 1.2, 0, 1))
        hio.write_mask(d / f"{name}_mask.png", _mask())
    hio.write_mask(d / "bad-size-mask_mask.png", np.ones((10, 10), bool))
    hio.write_mask(d / "empty_mask.png", np.zeros((20, 28), bool))
    (d / "corrupt_after.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    hio.write_image(d / "other-size_after.png", _img(rng, 40, 56))
    hio.write_image(d / "incomplete_before.png", _img(rng))
    hio.write_image(d / "stray.png", _img(rng))
    out = tmp_path / "out"
    code, text = cli(["datagen", "retouched", "--pairs", str(d), "--out", str(out), "--workers", "0"])
    assert code == 0, text
    for expected in ("mask size differs", "empty mask", "corrupt or unreadable file", "differ in size",
                     "incomplete triplet", "name is not <name>_before"):
        assert expected in text, (expected, text)
    rows = _rows(out)
    assert sorted(Path(r["composite"]).name for r in rows) == ["tgood-one-after_1_1.jpg", "tgood-one-before_1_1.jpg"]
    _no_errors(out)
    I, O = hio.read_image(d / "good_one_before.png"), hio.read_image(d / "good_one_after.png")
    M = hio.read_mask(d / "good_one_mask.png")[..., None]
    path = out / "HRetouched" / "composite_images" / "tgood-one-before_1_1.jpg"
    expect = M * O + (1 - M) * I
    assert np.abs(hio.read_image(path) - expect).mean() < 8 / 255
    # within JPEG tolerance, exactly: the file is the q95 JPEG of the expected pixels
    np.testing.assert_array_equal(hio.read_image_uint8(path),
                                  hio.decode_image_uint(hio.encode_image(expect, ".jpg", quality=95)))
    # --align resize takes the pair whose after image has another size
    out2 = tmp_path / "out2"
    code, text = cli(["datagen", "retouched", "--pairs", str(d), "--out", str(out2), "--align", "resize",
                      "--workers", "0"])
    assert code == 0, text
    rows = {Path(r["composite"]).name: r for r in _rows(out2)}
    assert rows["tother-size-before_1_1.jpg"]["align"] == "after:56x40->28x20"


def test_no_triplets_is_an_error(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, text = cli(["datagen", "retouched", "--pairs", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert code == 2 and "Error:" in text and "Traceback" not in text
    code, text = cli(["datagen", "retouched", "--help"])
    assert code == 0 and "Examples:" in text


def test_dask_scheduler_gives_identical_output(cli, tmp_path, dask_cluster):
    outs = []
    for extra in (["--workers", "0"], ["--scheduler", dask_cluster]):
        out = tmp_path / ("dask" if "--scheduler" in extra else "inline")
        code, text = cli(["datagen", "retouched", "--out", str(out), "--quiet", *extra])
        assert code == 0, text
        outs.append(out / "HRetouched")
    a = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file() and p.suffix != ".json")
    b = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file() and p.suffix != ".json")
    assert a == b and len(a) > 8
    assert all((outs[0] / p).read_bytes() == (outs[1] / p).read_bytes() for p in a)


def test_incomplete_triplets_are_refused_in_one_line(cli, tmp_path):
    # The template's refusal step: no usable unit -> one line naming the folder and the first skipped item.
    folder = tmp_path / "pairs"
    folder.mkdir()
    hio.write_image(folder / "x_before.jpg", np.full((8, 8, 3), 0.5, np.float32))
    code, text = cli(["datagen", "retouched", "--pairs", str(folder), "--out", str(tmp_path / "out")])
    assert code == 2 and "Traceback" not in text
    error_lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert error_lines == [f"Error: {folder}: no usable before/after/mask triplet (1 inputs skipped; e.g. x: "
                           "incomplete triplet: no after / mask file)"]
    assert not (tmp_path / "out" / "HRetouched").exists()   # refused before anything is written


def test_every_generator_declares_the_template_steps():
    # One shape for every generator: a Generator subclass per registered generator, named by its command.
    import inspect

    import harmony.datagen  # noqa: F401  (registers the generators)
    from harmony.datagen.runner import Generator

    commands = {}
    for name in GENERATORS.names():
        module = inspect.getmodule(GENERATORS.factory(name))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Generator) and cls is not Generator:
                commands[cls.command] = cls
    assert {f"datagen {name}" for name in GENERATORS.names()} <= set(commands)
    for cls in commands.values():
        assert cls.subset and cls.resolve is not Generator.resolve and cls.plan is not Generator.plan
