"""The only module that touches image files.

Reading gives the design's contract: ``np.float32`` RGB ``(H, W, 3)`` in [0, 1] for images and
``np.float32`` ``(H, W)`` in [0, 1] for masks. Reading handles JPEG, PNG, TIFF, WebP, BMP (and whatever
else Pillow opens): EXIF orientation is applied; greyscale, palette, RGBA (alpha dropped for images),
16-bit and CMYK inputs are converted. Masks are read from L, 1-bit, RGB (equal channels, else luminance)
or the alpha channel when the file has a non-trivial one.

Writing is atomic (temporary file in the same folder, then ``os.replace``), so an interrupted run never
leaves a half-written file under a final name. Importing this module changes no process-wide state
(OpenCV's thread count and the umask are set by worker initialisation and the CLI, not here). Pure dtype
conversions live in :mod:`harmony.imageops`. uint8 and BGR exist only inside this module.

A missing, corrupt or truncated file raises :class:`harmony.errors.InputError` naming the file.
"""

from __future__ import annotations

import hashlib
import io as _io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from .errors import InputError
from .imageops import to_float32, to_uint8, uint16_to_uint8  # noqa: F401 (to_uint8: public here too)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected an image file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _exif_orientation(data: bytes) -> int:
    """EXIF orientation tag (1 = upright) of a JPEG/TIFF/WebP byte string, without decoding pixels."""
    try:
        with Image.open(_io.BytesIO(data)) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientation values 2..8 (TIFF 6.0 spec), as Pillow's ImageOps.exif_transpose applies them.
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1, :]
    if orientation == 5:
        return np.swapaxes(arr, 0, 1)
    if orientation == 6:
        return np.swapaxes(arr, 0, 1)[:, ::-1]
    if orientation == 7:
        return np.swapaxes(arr, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.swapaxes(arr, 0, 1)[::-1, :]
    return arr


def _jpeg_truncated(data: bytes) -> bool:
    # A complete JPEG ends with the EOI marker FFD9 (some writers append padding after it).
    return data.rfind(b"\xff\xd9", max(0, len(data) - 4096)) < 0


def _to_float(arr: np.ndarray) -> np.ndarray:
    try:
        return to_float32(arr)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def decode_image_uint(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an encoded image to an RGB integer array, EXIF orientation applied.

    JPEG and PNG go through OpenCV (libjpeg-turbo, libpng); TIFF (CMYK and 16-bit included), WebP, BMP and
    other formats Pillow opens go through Pillow.

    Parameters
    ----------
    data : bytes
        The encoded file.
    name : str, optional
        Name used in error messages (usually the path).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8 or uint16
        RGB samples as stored (16-bit files stay uint16); grey, palette and CMYK are expanded to RGB and
        alpha is dropped.

    Raises
    ------
    harmony.errors.InputError
        For a truncated JPEG (no end-of-image marker), an unrecognised format or a corrupt file.
    """
    if data.startswith(_JPEG_MAGIC) or data.startswith(_PNG_MAGIC):
        if data.startswith(_JPEG_MAGIC) and _jpeg_truncated(data):
            raise InputError(f"{name}: truncated or corrupt JPEG (no end-of-image marker)")
        # OpenCV's libjpeg-turbo/libpng path is the fastest decoder here; IMREAD_COLOR converts grey,
        # palette and CMYK to 3 channels and drops alpha; ANYDEPTH keeps 16-bit samples.
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        if bgr is None:
            raise InputError(f"{name}: corrupt or unreadable image")
        # cvtColor swaps channels ~50x faster than np.ascontiguousarray(bgr[..., ::-1]).
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else np.repeat(bgr[..., None], 3, axis=2)
        if data.startswith(_JPEG_MAGIC):
            orientation = _exif_orientation(data)
            if orientation != 1:
                rgb = np.ascontiguousarray(_apply_orientation(rgb, orientation))
        return rgb
    # Everything else (TIFF incl. CMYK and 16-bit, WebP, BMP, GIF ...) goes through Pillow.
    try:
        with Image.open(_io.BytesIO(data)) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _pil_to_rgb(im, name)
    except InputError:
        raise
    except Exception as exc:
        from PIL import UnidentifiedImageError

        if isinstance(exc, UnidentifiedImageError):
            raise InputError(f"{name}: not a recognised image file (expected JPEG, PNG, TIFF, WebP or BMP)") from None
        raise InputError(f"{name}: corrupt or unreadable image ({exc.__class__.__name__}: {exc})") from None


def _pil_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.dtype != np.uint16:
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        return arr
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        return np.repeat((np.clip(arr, 0, 1) * 65535).astype(np.uint16)[..., None], 3, axis=2)
    if mode in ("RGB;16", "RGB;16B"):  # pragma: no cover - rare Pillow raw modes
        im = im.convert("RGB")
    if mode != "RGB":
        im = im.convert("RGB")  # handles L, LA, P, PA, RGBA, CMYK, YCbCr, LAB, 1
    return np.asarray(im)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file on the toolkit's contract.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        RGB in [0, 1] (uint8 / 255, uint16 / 65535), EXIF orientation applied.

    Raises
    ------
    harmony.errors.InputError
        Naming the file when it is missing, corrupt or truncated.
    """
    arr = decode_image_uint(_read_bytes(path), str(path))
    return _to_float(arr)


_as_uint8 = uint16_to_uint8


def read_image_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as 8-bit RGB, for metric protocols defined on the 0-255 scale.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB in [0, 255]; 16-bit files are reduced with rounding (:func:`harmony.imageops.uint16_to_uint8`).

    Raises
    ------
    harmony.errors.InputError
        As :func:`read_image`.
    """
    return _as_uint8(decode_image_uint(_read_bytes(path), str(path)))


def read_image_full(path: str | os.PathLike) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Read a file once and return its bytes and both decoded forms.

    For callers that need the file's bytes (hashing, caching) and the float and uint8 images.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    data : bytes
        The file's bytes.
    image : ndarray, shape (H, W, 3), float32
        As :func:`read_image`.
    image_uint8 : ndarray, shape (H, W, 3), uint8
        As :func:`read_image_uint8`.

    Raises
    ------
    harmony.errors.InputError
        As :func:`read_image`.
    """
    data = _read_bytes(path)
    arr = decode_image_uint(data, str(path))
    return data, _to_float(arr), _as_uint8(arr)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask file (1 = foreground; soft values kept).

    L and 1-bit files are used as they are; 16-bit grey is scaled by 1/65535; an RGB file must be grey
    (equal channels) or its luminance is used; a file with a non-trivial alpha channel (any alpha < max)
    uses the alpha channel. iHarmony4's masks are 0/255 grey PNGs.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    ndarray, shape (H, W), float32
        Values in [0, 1].

    Raises
    ------
    harmony.errors.InputError
        Naming the file when it is missing, corrupt or unreadable.
    """
    data = _read_bytes(path)
    try:
        with Image.open(_io.BytesIO(data)) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA")
                mode = "RGBA"
            if mode in ("RGBA", "LA", "PA"):
                alpha = np.asarray(im.getchannel("A"))
                if alpha.min() < 255:
                    return _to_float(alpha)
                im = im.convert("RGB" if mode == "RGBA" else "L")
                mode = im.mode
            if mode == "1":
                return np.asarray(im, dtype=np.float32)
            if mode in ("L",):
                return _to_float(np.asarray(im))
            if mode.startswith("I;16") or mode == "I":
                arr = np.asarray(im)
                return np.clip(arr.astype(np.float32) / 65535.0, 0, 1).astype(np.float32)
            if mode == "F":
                return np.clip(np.asarray(im, dtype=np.float32), 0, 1)
            rgb = np.asarray(im.convert("RGB"))
            if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                return _to_float(np.ascontiguousarray(rgb[..., 0]))
            return _to_float(np.asarray(im.convert("RGB").convert("L")))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: corrupt or unreadable mask ({exc.__class__.__name__}: {exc})") from None


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read a semantic label map (an image of class indices), values exactly as stored.

    Accepts 8-bit grey (ADE20K SceneParsing style: 0 = other, 1..150 = classes), 16-bit grey, palette
    PNGs (the palette *index* is the class id, as scene-parsing tools write them) and RGB files whose
    three channels are equal.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    ndarray, shape (H, W), integer
        uint8 or uint16 for grey and palette PNGs, int32 for other integer modes.

    Raises
    ------
    harmony.errors.InputError
        For a colour-coded RGB map (channels differ), a missing or a corrupt file.

    References
    ----------
    .. [1] Zhou et al., *Scene Parsing through ADE20K Dataset*, CVPR 2017 (the label-map format).
    """
    data = _read_bytes(path)
    # Fast path: 8/16-bit greyscale PNG (IHDR bit depth at byte 24, colour type 0 at byte 25) through
    # OpenCV, about twice as fast as Pillow; palette and other files go through Pillow (cv2 would expand
    # a palette to colours).
    if data.startswith(_PNG_MAGIC) and len(data) > 25 and data[25] == 0 and data[24] in (8, 16):
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.ndim == 2:
            return arr  # uint8 / uint16 as stored (a full-size int32 copy costs as much as the decode)
    try:
        with Image.open(_io.BytesIO(data)) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "L"):
                return np.asarray(im, dtype=np.uint8).copy()
            if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "1"):
                return np.asarray(im).astype(np.int32)
            if mode in ("RGB", "RGBA"):
                rgb = np.asarray(im.convert("RGB"))
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
                    return np.ascontiguousarray(rgb[..., 0])
            raise InputError(f"{path}: expected a single-channel label map of class indices (grey or palette "
                             f"PNG), got a {mode} image with differing channels")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: corrupt or unreadable label map ({exc.__class__.__name__}: {exc})") from None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (provenance of weights and annotation files).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    str
        64 lowercase hexadecimal digits.

    Raises
    ------
    OSError
        When the file cannot be opened.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def figure_png(fig, *, dpi: float | None = None) -> bytes:
    """Render a matplotlib figure to PNG bytes, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : float, optional
        Resolution; None uses matplotlib's default.

    Returns
    -------
    bytes
        The PNG file.
    """
    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def plain_jpeg_bytes(path: str | os.PathLike) -> bytes | None:
    """The file's bytes when it is an upright 3-channel (YCbCr/RGB) JPEG, else None.

    For such a file, copying the bytes reproduces exactly the pixels :func:`read_image` returns, so a
    generator can keep an original photo as-is (iHarmony4's real images are the original files) instead
    of re-encoding it.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    bytes or None
        None for grey, CMYK, EXIF-rotated or truncated JPEGs and for other formats (re-encode them).
    """
    data = _read_bytes(path)
    if not data.startswith(_JPEG_MAGIC) or _jpeg_truncated(data):
        return None
    try:
        with Image.open(_io.BytesIO(data)) as im:
            if im.mode != "RGB" or int(im.getexif().get(0x0112, 1) or 1) != 1:
                return None
    except Exception:
        return None
    return data


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Image size after EXIF orientation, from the header only (no pixel decode).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    tuple of int
        ``(height, width)``.

    Raises
    ------
    harmony.errors.InputError
        When the file is missing, corrupt or not an image.
    """
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.format == "TIFF" and 256 in im.tag_v2 and 257 in im.tag_v2:
                # Pillow reports a TIFF's size already swapped for orientations 5-8; use the stored size.
                w, h = int(im.tag_v2[256]), int(im.tag_v2[257])
            orientation = int(im.getexif().get(0x0112, 1) or 1) if im.format in ("JPEG", "TIFF", "WEBP") else 1
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:
        raise InputError(f"{path}: corrupt or unreadable image ({exc.__class__.__name__})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


# ---------------------------------------------------------------------------------------------------
# writing


def _create_temp(path: Path) -> tuple[int, str]:
    """A new exclusive temporary file beside ``path`` (mode 0666 before the umask)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise OSError(f"{path}: cannot create a temporary file beside it")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes atomically: a temporary file in the same folder, then ``os.replace``.

    An interrupted write never leaves a half-written file under the final name. Missing parent folders
    are created; the new file gets mode 0666 minus the process umask.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    data : bytes
        Content.

    Raises
    ------
    OSError
        When the folder is not writable (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with mode 0666 so the kernel applies the process umask (mkstemp would make it 0600); the
    # umask is never read or changed here.
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    text : str
        Content, encoded as UTF-8.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def encode_image(img: np.ndarray, ext: str = ".jpg", *, quality: int = 95) -> bytes:
    """Encode an RGB image as JPEG, PNG, WebP or TIFF bytes (OpenCV).

    Parameters
    ----------
    img : ndarray, shape (H, W, 3) or (H, W)
        float in [0, 1] (rounded to uint8 with :func:`harmony.imageops.to_uint8`) or uint8.
    ext : str, optional
        Format by extension: ``.jpg``/``.jpeg`` (default), ``.png`` (zlib level 3), ``.webp``, ``.tif``.
    quality : int, optional
        JPEG / WebP quality, 1-100 (default 95).

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    harmony.errors.InputError
        When OpenCV cannot encode the format.
    """
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)  # RGB -> BGR for OpenCV
    ext = ext.lower()
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:  # pragma: no cover
        raise InputError(f"cannot encode image as {ext}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, img: np.ndarray, *, quality: int = 95) -> None:
    """Write an RGB image atomically; the format follows the extension (PNG when there is none).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    img : ndarray, shape (H, W, 3)
        float32 in [0, 1] or uint8.
    quality : int, optional
        JPEG / WebP quality, 1-100 (default 95).
    """
    ext = Path(path).suffix or ".png"
    atomic_write_bytes(path, encode_image(img, ext, quality=quality))


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a mask as an 8-bit greyscale image (PNG unless the extension says otherwise), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    mask : ndarray, shape (H, W)
        float in [0, 1] (rounded to 0-255), bool (0/255) or uint8 (as is).

    Raises
    ------
    ValueError
        When the mask is not 2-D.
    """
    m = np.asarray(mask)
    if m.dtype == bool:
        arr = m.astype(np.uint8) * 255
    elif m.dtype == np.uint8:
        arr = m
    else:
        arr = to_uint8(m)
    if arr.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {arr.shape}")
    ext = (Path(path).suffix or ".png").lower()
    if ext == ".png":
        # Pillow's encoder at zlib level 1 is about 1.5x faster than OpenCV's on masks (measured on
        # 640x480 binary masks) and the files stay small: masks are mostly long constant runs.
        buf = _io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr), mode=None).save(buf, "PNG", compress_level=1)
        atomic_write_bytes(path, buf.getvalue())
    else:
        atomic_write_bytes(path, encode_image(arr, ext))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside a folder.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder (not searched recursively).

    Returns
    -------
    list of pathlib.Path
        Files with an image extension (:data:`IMAGE_EXTENSIONS`, case-insensitive), sorted by name.

    Raises
    ------
    harmony.errors.InputError
        When the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
