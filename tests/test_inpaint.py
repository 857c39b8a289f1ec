"""Inpainting backends (LaMa, Suvorov et al., WACV 2022; OpenCV): LaMa through simple-lama-inpainting's own code path with
a tiny TorchScript stand-in, OpenCV, the hole-only guarantee and the cache."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
torch = pytest.importorskip("torch")
pytest.importorskip("simple_lama_inpainting")

from harmony.datagen import inpaint as ip  # noqa: E402
from harmony.errors import InputError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class _StandInLama(torch.nn.Module):
    """LaMa's call signature: forward(image (1,3,H,W) float in [0,1], mask (1,1,H,W) {0,1}) -> (1,3,H,W).

    The hole is filled with (mean red of the known pixels, H/256, W/1024): the red channel proves the
    image reached the model, the other two prove the model saw the padded size.
    """

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(image.dtype)
        known = 1.0 - m
        red = (image[:, 0:1] * known).sum() / known.sum().clamp(min=1.0)
        h, w = image.shape[2], image.shape[3]
        fill = torch.stack([red, torch.tensor(h / 256.0), torch.tensor(w / 1024.0)]).view(1, 3, 1, 1)
        return image * known + fill * m


def make_stand_in(path) -> str:
    scripted = torch.jit.script(_StandInLama())
    torch.jit.save(scripted, str(path))
    return str(path)


@pytest.fixture
def lama_model(tmp_path, monkeypatch):
    path = make_stand_in(tmp_path / "big-lama.pt")
    monkeypatch.setenv("LAMA_MODEL", path)
    return path


def _image(h, w, seed=0):
    # Same float values as harmony.io.read_image gives for a uint8 file (k * float32(1/255)).
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.float32) * np.float32(1.0 / 255.0)


def test_lama_path_pads_crops_truncates_and_recomposites(lama_model):
    h, w = 101, 203  # SimpleLama pads to a multiple of 8: 104x208 for this input
    img = _image(h, w, 1)
    mask = np.zeros((h, w), np.float32)
    mask[30:60, 0:50] = 1  # touches the left border
    hole = ip.hole_mask(mask, 10)
    before = ip.CALLS["lama"]
    out = ip.inpaint(img, hole, "lama")
    assert ip.CALLS["lama"] == before + 1
    assert out.shape == img.shape and out.dtype == np.float32
    inside = hole > 0.5
    # Nothing outside the dilated hole changed, bit for bit.
    np.testing.assert_array_equal(out[~inside], img[~inside])
    # Inside: the stand-in's fill, computed independently from SimpleLama's documented preprocessing
    # (uint8 / 255, symmetric bottom/right padding to a multiple of 8, mask > 0) and output truncation.
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    hp, wp = 104, 208
    chw = np.pad(np.transpose(u8, (2, 0, 1)).astype(np.float32) / 255, ((0, 0), (0, hp - h), (0, wp - w)),
                 mode="symmetric")
    mpad = np.pad((hole > 0.5).astype(np.float32), ((0, hp - h), (0, wp - w)), mode="symmetric") > 0
    red = chw[0][~mpad].astype(np.float64).mean()
    expect = np.floor(np.clip(np.array([red, hp / 256.0, wp / 1024.0]) * 255, 0, 255)) / 255
    np.testing.assert_allclose(out[inside], np.broadcast_to(expect, out[inside].shape), atol=1.5 / 255)
    # The padded size reached the model: G = trunc(104/256*255) = 103, B = trunc(208/1024*255) = 51.
    assert np.all(np.rint(out[inside][:, 1] * 255) == 103)
    assert np.all(np.rint(out[inside][:, 2] * 255) == 51)


def test_lama_loaded_through_simple_lama(lama_model):
    from simple_lama_inpainting import SimpleLama

    model = ip.load_lama(lama_model)
    assert isinstance(model, SimpleLama)
    # The network SimpleLama holds is the file's: on a hand-made input it gives the stand-in's documented
    # fill (mean red of the known pixels, H/256, W/1024) inside the hole and the image outside.
    image = torch.zeros(1, 3, 8, 16)
    image[:, 0] = 0.5
    mask = torch.zeros(1, 1, 8, 16)
    mask[..., 2:4, 3:7] = 1
    with torch.no_grad():
        out = model.model(image, mask)
    torch.testing.assert_close(out[0, :, 2, 3], torch.tensor([0.5, 8 / 256, 16 / 1024]))
    torch.testing.assert_close(out[..., 0, 0], image[..., 0, 0])


@pytest.mark.parametrize("method,flag", [("opencv-telea", 1), ("opencv-ns", 0)])
def test_opencv_fills_exactly_the_hole(method, flag):
    img = _image(48, 64, 2)
    mask = np.zeros((48, 64), np.float32)
    mask[40:48, 55:64] = 1  # bottom-right corner: touches two borders
    hole = ip.hole_mask(mask, 4)
    out = ip.inpaint(img, hole, method)
    inside = hole > 0.5
    np.testing.assert_array_equal(out[~inside], img[~inside])
    ref_flag = cv2.INPAINT_TELEA if flag == 1 else cv2.INPAINT_NS
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    ref = cv2.inpaint(np.ascontiguousarray(u8[..., ::-1]), inside.astype(np.uint8) * 255, ip.OPENCV_RADIUS,
                      ref_flag)[..., ::-1]
    np.testing.assert_array_equal(np.rint(out[inside] * 255).astype(np.uint8), ref[inside])
    assert not np.array_equal(out[inside], img[inside])


@pytest.mark.parametrize("radius", [5, 30])
def test_hole_is_dilated_disc(radius):
    n = 2 * radius + 11
    c = n // 2
    mask = np.zeros((n, n), np.float32)
    mask[c, c] = 1
    hole = ip.hole_mask(mask, radius) > 0.5
    yy, xx = np.mgrid[:n, :n]
    d2 = (yy - c) ** 2 + (xx - c) ** 2
    # Every pixel within `radius` px (Euclidean) of the foreground is in the hole, none beyond radius + 0.5.
    assert hole[d2 <= radius ** 2].all()
    assert not hole[d2 > (radius + 0.5) ** 2].any()


def test_real_class_reproduces_source_foreground():
    img = _image(30, 40, 3)
    mask = np.zeros((30, 40), np.float32)
    mask[5:20, 10:25] = 1
    hole = ip.hole_mask(mask, 3)
    bg = ip.inpaint(img, hole, "opencv-telea")
    rc = ip.real_class(img, mask, bg)
    m = mask > 0.5
    np.testing.assert_array_equal(rc[m], img[m])            # F_i * M_i: exact
    np.testing.assert_array_equal(rc[~m], bg[~m])           # inpaint(B_i) * (1 - M_i)
    ring = (hole > 0.5) & ~m
    assert not np.array_equal(rc[ring], img[ring])          # the seam ring is inpainted, as in Eq. (6)


def test_resolve_inpainter(tmp_path):
    assert ip.resolve_inpainter("auto", {}) == "opencv-telea"
    assert ip.resolve_inpainter("opencv-ns", {}) == "opencv-ns"
    f = tmp_path / "w.pt"
    f.write_bytes(b"x")
    assert ip.resolve_inpainter("auto", {"LAMA_MODEL": str(f)}) == "lama"
    assert ip.resolve_inpainter("auto", {"LAMA_MODEL": str(tmp_path / "missing.pt")}) == "opencv-telea"
    with pytest.raises(InputError, match="LAMA_MODEL"):
        ip.resolve_inpainter("lama", {})
    with pytest.raises(InputError, match="file not found"):
        ip.resolve_inpainter("lama", {"LAMA_MODEL": str(tmp_path / "missing.pt")})


def test_lama_model_not_torchscript(tmp_path):
    bad = tmp_path / "big-lama.pt"
    bad.write_text("this is not a TorchScript archive\n")
    with pytest.raises(InputError, match="not a TorchScript model") as exc:
        ip.load_lama(str(bad))
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="file not found"):
        ip.load_lama(str(tmp_path / "nope.pt"))


def test_cache_roundtrip_is_exact(tmp_path):
    img = _image(20, 30, 4)
    mask = np.zeros((20, 30), np.float32)
    mask[5:10, 5:10] = 1
    cache = ip.BackgroundCache(tmp_path / "c")
    key = cache.key(b"bytes-of-the-file", mask, 3, "opencv-telea")
    assert key != cache.key(b"bytes-of-the-file", mask, 4, "opencv-telea")
    assert key != cache.key(b"bytes-of-the-file", mask, 3, "opencv-ns")
    assert key != cache.key(b"other-file", mask, 3, "opencv-telea")
    mask2 = mask.copy()
    mask2[0, 0] = 1
    assert key != cache.key(b"bytes-of-the-file", mask2, 3, "opencv-telea")
    calls = []

    def compute():
        calls.append(1)
        return ip.inpaint(img, ip.hole_mask(mask, 3), "opencv-telea")

    a, hit_a = cache.get_or_compute(key, compute)
    b, hit_b = cache.get_or_compute(key, compute)
    assert (hit_a, hit_b) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(a, b)
