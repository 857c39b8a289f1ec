"""harmony.io: formats, EXIF orientation, conversions, masks, atomic writes, bad files.

Expected values come from Pillow (an independent decoder) or from the arrays the test wrote itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from harmony import io as hio
from harmony.errors import InputError


def _quadrants(h=32, w=48) -> np.ndarray:
    """An image whose orientation is unambiguous: four flat, very different quadrants."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (250, 20, 20)
    img[: h // 2, w // 2:] = (20, 250, 20)
    img[h // 2:, : w // 2] = (20, 20, 250)
    img[h // 2:, w // 2:] = (240, 240, 30)
    return img


def _noise(rng, h=20, w=30) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- lossless formats: exact values ------------------------------------------------------------

@pytest.mark.parametrize("ext,kwargs", [(".png", {}), (".tif", {}), (".webp", {"lossless": True}), (".bmp", {})])
def test_lossless_rgb_formats_read_exactly(tmp_path, rng, ext, kwargs):
    arr = _noise(rng)
    path = tmp_path / f"x{ext}"
    Image.fromarray(arr).save(path, **kwargs)
    img = hio.read_image(path)
    assert img.dtype == np.float32 and img.shape == (20, 30, 3)
    np.testing.assert_array_equal(np.rint(img * 255).astype(np.uint8), arr)
    assert img.min() >= 0 and img.max() <= 1


def test_jpeg_matches_pillow_decode(tmp_path, rng):
    arr = _quadrants(64, 64)
    path = tmp_path / "q.jpg"
    Image.fromarray(arr).save(path, quality=95)
    ours = hio.read_image(path)
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB"), np.float32) / 255
    assert np.abs(ours - ref).mean() < 2 / 255


def test_grey_palette_rgba_inputs(tmp_path, rng):
    grey = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    g = hio.read_image(tmp_path / "g.png")
    assert g.shape == (10, 12, 3)
    for c in range(3):
        np.testing.assert_array_equal(np.rint(g[..., c] * 255).astype(np.uint8), grey)

    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 128, 255] + [0] * 762)
    pal.putdata([0, 1, 1, 0, 1, 0, 0, 1])
    pal.save(tmp_path / "p.png")
    p = np.rint(hio.read_image(tmp_path / "p.png") * 255).astype(int)
    assert tuple(p[0, 0]) == (255, 0, 0) and tuple(p[0, 1]) == (0, 128, 255)

    rgba = np.dstack([_noise(rng, 8, 9), np.full((8, 9), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = hio.read_image(tmp_path / "a.png")
    assert a.shape == (8, 9, 3)  # alpha dropped, colour kept (not premultiplied)
    np.testing.assert_array_equal(np.rint(a * 255).astype(np.uint8), rgba[..., :3])


def test_sixteen_bit_png_keeps_precision(tmp_path, rng):
    import cv2

    rgb16 = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])
    img = hio.read_image(tmp_path / "c16.png")
    np.testing.assert_allclose(img, rgb16.astype(np.float32) / 65535, atol=1e-7)
    u8 = hio.read_image_uint8(tmp_path / "c16.png")
    assert u8.dtype == np.uint8
    assert np.abs(u8.astype(int) - np.rint(rgb16 / 257).astype(int)).max() <= 1

    grey16 = rng.integers(0, 65536, (5, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    Image.fromarray(grey16).save(tmp_path / "g16.tif")  # 16-bit grey TIFF: the Pillow path
    for name in ("g16.png", "g16.tif"):
        g = hio.read_image(tmp_path / name)
        assert g.shape == (5, 4, 3), name
        np.testing.assert_allclose(g[..., 1], grey16.astype(np.float32) / 65535, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("ext", [".tif", ".jpg"])
def test_cmyk_is_converted_like_pillow(tmp_path, ext):
    cmyk = Image.fromarray(_quadrants(), "RGB").convert("CMYK")
    path = tmp_path / f"cmyk{ext}"
    cmyk.save(path, **({"quality": 98} if ext == ".jpg" else {}))
    ours = hio.read_image(path)
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB"), np.float32) / 255
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).mean() < 3 / 255
    # And the colours are those written (red top-left), not inverted CMYK.
    assert ours[4, 4, 0] > 0.8 and ours[4, 4, 1] < 0.3


@pytest.mark.parametrize("ext", [".jpg", ".tif", ".webp"])
@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, ext, orientation):
    arr = _quadrants(32, 48)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}{ext}"
    kwargs = {"quality": 95} if ext == ".jpg" else ({"lossless": True} if ext == ".webp" else {})
    Image.fromarray(arr).save(path, exif=exif, **kwargs)
    ours = hio.read_image(path)
    with Image.open(path) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), np.float32) / 255
    assert ours.shape == ref.shape
    assert ours.shape[:2] == ((48, 32) if orientation >= 5 else (32, 48))
    assert np.abs(ours - ref).mean() < 2 / 255
    assert hio.image_size(path) == ours.shape[:2]


# --- masks -------------------------------------------------------------------------------------

def test_masks_from_L_1bit_rgb_and_alpha(tmp_path, rng):
    m = (rng.random((9, 11)) > 0.5)
    Image.fromarray(m.astype(np.uint8) * 255, "L").save(tmp_path / "l.png")
    Image.fromarray(m).convert("1").save(tmp_path / "b.png")
    Image.fromarray(np.dstack([m.astype(np.uint8) * 255] * 3), "RGB").save(tmp_path / "rgb.png")
    rgba = np.zeros((9, 11, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = m.astype(np.uint8) * 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    for name in ("l.png", "b.png", "rgb.png", "alpha.png"):
        got = hio.read_mask(tmp_path / name)
        assert got.dtype == np.float32 and got.shape == (9, 11), name
        np.testing.assert_array_equal(got, m.astype(np.float32), err_msg=name)


def test_soft_and_colour_masks(tmp_path):
    soft = np.array([[0, 64, 128, 255]], np.uint8)
    Image.fromarray(soft, "L").save(tmp_path / "soft.png")
    np.testing.assert_allclose(hio.read_mask(tmp_path / "soft.png"), soft / 255.0, atol=1e-7)
    colour = np.zeros((1, 2, 3), np.uint8)
    colour[0, 1] = (255, 0, 0)
    Image.fromarray(colour, "RGB").save(tmp_path / "colour.png")
    got = hio.read_mask(tmp_path / "colour.png")
    # Pillow's L conversion: L = R * 299/1000 + G * 587/1000 + B * 114/1000.
    np.testing.assert_allclose(got, [[0.0, round(255 * 0.299) / 255]], atol=1.5 / 255)


# --- writing -----------------------------------------------------------------------------------

def test_write_png_roundtrip_and_jpeg_quality(tmp_path, rng):
    img = _noise(rng, 24, 24).astype(np.float32) / 255
    hio.write_image(tmp_path / "x.png", img)
    np.testing.assert_array_equal(hio.to_uint8(hio.read_image(tmp_path / "x.png")), hio.to_uint8(img))
    smooth = np.repeat(np.linspace(0, 1, 64, dtype=np.float32)[None, :, None], 64, 0).repeat(3, 2)
    hio.write_image(tmp_path / "q95.jpg", smooth, quality=95)
    hio.write_image(tmp_path / "q30.jpg", smooth, quality=30)
    assert (tmp_path / "q30.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size
    with Image.open(tmp_path / "q95.jpg") as im:
        assert im.format == "JPEG"
    mask = np.zeros((5, 6), np.float32)
    mask[1:3, 2:5] = 1
    hio.write_mask(tmp_path / "m.png", mask)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), (mask * 255).astype(np.uint8))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "a.png"
    hio.write_image(target, np.zeros((4, 4, 3), np.float32))
    before = target.read_bytes()

    def boom(src, dst):
        raise KeyboardInterrupt  # the run is killed between writing the temp file and renaming it

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        hio.write_image(target, np.ones((4, 4, 3), np.float32))
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.png"]  # no temp file left


# --- bad files ---------------------------------------------------------------------------------

def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".webp"])
def test_truncated_file_raises_input_error_naming_it(tmp_path, rng, ext):
    path = tmp_path / f"cut{ext}"
    Image.fromarray(_noise(rng, 64, 64)).save(path)
    _truncate(path)
    with pytest.raises(InputError, match=str(path).replace(".", r"\.")):
        hio.read_image(path)


def test_garbage_missing_and_folder_raise_input_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + os.urandom(200) + b"\xff\xd9")
    with pytest.raises(InputError, match="bad.jpg"):
        hio.read_image(bad)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match="notes.png"):
        hio.read_image(text)
    with pytest.raises(InputError, match="notes.png"):
        hio.read_mask(text)
    with pytest.raises(InputError, match="missing.png"):
        hio.read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="is a folder"):
        hio.read_image(tmp_path)
    with pytest.raises(InputError, match="missing.jpg"):
        hio.image_size(tmp_path / "missing.jpg")


def test_list_images(tmp_path):
    for name in ("b.JPG", "a.png", "c.txt", "d.webp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in hio.list_images(tmp_path)] == ["a.png", "b.JPG", "d.webp"]
    with pytest.raises(InputError):
        hio.list_images(tmp_path / "nope")


def test_plain_jpeg_bytes_only_for_upright_rgb_jpeg(tmp_path):
    arr = _quadrants()
    Image.fromarray(arr).save(tmp_path / "rgb.jpg", quality=90)
    data = hio.plain_jpeg_bytes(tmp_path / "rgb.jpg")
    assert data == (tmp_path / "rgb.jpg").read_bytes()
    Image.fromarray(arr).convert("L").save(tmp_path / "grey.jpg")
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(tmp_path / "rot.jpg", exif=exif)
    Image.fromarray(arr).save(tmp_path / "x.png")
    for name in ("grey.jpg", "cmyk.jpg", "rot.jpg", "x.png"):
        assert hio.plain_jpeg_bytes(tmp_path / name) is None, name


def test_importing_io_changes_no_process_state(tmp_path):
    """Issue 19: importing harmony.io must not call cv2.setNumThreads or touch the umask."""
    import subprocess
    import sys

    code = (
        "import os, cv2\n"
        "cv2.setNumThreads(3)\n"
        "calls = []\n"
        "real_umask = os.umask\n"
        "os.umask = lambda m: (calls.append(m), real_umask(m))[1]\n"
        "old = real_umask(0o027); real_umask(0o027)\n"
        "import harmony.io as hio\n"
        "import harmony.baselines.poisson\n"
        "assert cv2.getNumThreads() == 3, cv2.getNumThreads()\n"
        "assert not calls, calls\n"
        "assert real_umask(0o027) == 0o027\n"
        f"hio.atomic_write_text({str(tmp_path / 'f.txt')!r}, 'x')\n"
        f"print(oct(os.stat({str(tmp_path / 'f.txt')!r}).st_mode & 0o777))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0o640"      # 0666 under the process's umask 027


def test_dtype_helpers_live_in_imageops():
    from harmony import imageops

    img = np.array([[[0.0, 0.5, 1.0]]], np.float32)
    assert imageops.to_uint8(img).tolist() == [[[0, 128, 255]]]
    assert imageops.uint16_to_uint8(np.array([65535, 32768, 0], np.uint16)).tolist() == [255, 128, 0]
    assert imageops.to_float32(np.array([255], np.uint8))[0] == np.float32(1.0)
    src = (Path(__file__).resolve().parents[1] / "harmony" / "baselines" / "poisson.py").read_text()
    assert "from ..io" not in src and "import io" not in src
