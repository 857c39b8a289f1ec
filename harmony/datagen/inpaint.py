"""Background inpainting for real composites (SPRIH stream 2: Wang et al., CVPR 2023, section 3.2).

The foreground mask of a source photo is dilated (SPRIH: 30 px) and that hole is filled by an
*inpainter*; then the known background is re-composited so that **only the hole changes**:
``out = where(hole, inpainted, image)``, bit-exact outside the hole.

Inpainters
----------
``lama``
    LaMa through ``simple_lama_inpainting.SimpleLama`` (0.1.x). The TorchScript weights (``big-lama.pt``)
    come from the environment variable ``LAMA_MODEL``; nothing is ever downloaded: without the variable
    (or with a path that is not a file) this module raises :class:`~harmony.errors.InputError` before
    SimpleLama could reach its download branch. SimpleLama pads bottom/right to a multiple of 8 and does
    not crop back (101x203 in -> 104x208 out, simple-lama-inpainting 0.1.x): the output is cropped to
    ``[:H, :W]`` here. Its output is truncated (not rounded) to uint8 by SimpleLama itself.
``opencv-telea`` / ``opencv-ns``
    ``cv2.inpaint`` with ``INPAINT_TELEA`` / ``INPAINT_NS`` (radius :data:`OPENCV_RADIUS`), the offline
    fallback.
``auto``
    ``lama`` when ``LAMA_MODEL`` names an existing file, otherwise ``opencv-telea``; callers record which
    one ran (:func:`resolve_inpainter`).

Both backends work on uint8 RGB, because that is what SimpleLama and ``cv2.inpaint`` accept; the
conversion happens here and the public functions take and return the float32 contract.

Cache
-----
:class:`BackgroundCache` stores inpainted backgrounds as uncompressed uint8 ``.npy`` arrays (exact,
and about 50x faster to load than a PNG of the same image, which matters because every pair reads one),
keyed by sha256 of (image bytes, binarised mask, dilation, inpainter; for LaMa also the weight file's
size, mtime and sha256), so re-runs and other pairings reuse them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .. import io as hio
from ..errors import InputError
from ..imageops import check_image, check_mask, dilate

INPAINTERS = ("auto", "lama", "opencv-telea", "opencv-ns")
OPENCV_RADIUS = 5  # px neighbourhood of cv2.inpaint (OpenCV's docs use 3; 5 gives smoother large holes)
LAMA_HELP = ("set LAMA_MODEL=/path/to/big-lama.pt (the TorchScript LaMa weights of simple-lama-inpainting; "
             "nothing is downloaded) or use --inpainter opencv-telea")

# Counts real inpainter invocations in this process (tests and summaries use it to prove cache reuse).
CALLS = {"lama": 0, "opencv-telea": 0, "opencv-ns": 0}


# --- choosing a backend ------------------------------------------------------------------------------

def resolve_inpainter(name: str, environ: dict | None = None) -> str:
    """The backend that will run for ``name``: ``lama`` | ``opencv-telea`` | ``opencv-ns``.

    ``auto`` is ``lama`` when ``LAMA_MODEL`` names an existing file, else ``opencv-telea``. Asking for
    ``lama`` without usable weights raises :class:`InputError` (one line, saying how to provide them).

    Parameters
    ----------
    name : {"auto", "lama", "opencv-telea", "opencv-ns"}
        The inpainter asked for.
    environ : dict or None
        Environment to read ``LAMA_MODEL`` from (default ``os.environ``).

    Returns
    -------
    str
        ``lama``, ``opencv-telea`` or ``opencv-ns``.

    Raises
    ------
    InputError
        An unknown name, or ``lama`` without a weight file.
    """
    env = os.environ if environ is None else environ
    if name not in INPAINTERS:
        raise InputError(f"--inpainter {name!r}: expected one of {', '.join(INPAINTERS)}")
    path = env.get("LAMA_MODEL") or ""
    if name == "auto":
        return "lama" if path and Path(path).is_file() else "opencv-telea"
    if name == "lama":
        if not path:
            raise InputError(f"--inpainter lama needs LaMa weights: {LAMA_HELP}")
        if not Path(path).is_file():
            raise InputError(f"LAMA_MODEL={path}: file not found; {LAMA_HELP}")
    return name


_LAMA: dict[tuple, object] = {}
_DIGESTS: dict[tuple, str] = {}


def _file_stat_key(path: str) -> tuple:
    stat = os.stat(path)
    return (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


def model_digest(path: str) -> str:
    """sha256 of the weight file (memoised per process by path, size and mtime).

    Parameters
    ----------
    path : str
        The TorchScript weight file.

    Returns
    -------
    str
        Hex SHA-256 of the file (recorded in ``run.json`` and in background cache keys).
    """
    key = _file_stat_key(path)
    if key not in _DIGESTS:
        _DIGESTS[key] = hio.sha256_file(path)
    return _DIGESTS[key]


@contextlib.contextmanager
def lama_model_env(path: str | None):
    """Set ``LAMA_MODEL`` to ``path`` for the block and restore it after; ``None`` leaves it as it is.

    Parameters
    ----------
    path : str or None
        The weight file.

    Yields
    ------
    None
        Inside the block, ``os.environ["LAMA_MODEL"] == path``.
    """
    if path is None:
        yield
        return
    old = os.environ.get("LAMA_MODEL")
    os.environ["LAMA_MODEL"] = path
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LAMA_MODEL", None)
        else:
            os.environ["LAMA_MODEL"] = old


def load_lama(path: str | None = None, device: str = "cpu"):
    """A ``simple_lama_inpainting.SimpleLama`` loaded from ``path`` (default ``$LAMA_MODEL``), memoised.

    SimpleLama reads the weights from ``LAMA_MODEL`` with ``torch.jit.load``; the variable is set for the
    constructor so its download branch is never reached. A missing file or a file that is not a
    TorchScript archive raises :class:`InputError`.

    Parameters
    ----------
    path : str or None
        TorchScript weights (big-lama.pt); None: ``$LAMA_MODEL``.
    device : str
        ``cpu``, ``cuda`` or ``auto`` (cuda when available).

    Returns
    -------
    simple_lama_inpainting.SimpleLama
        The model, memoised by file (path, size, mtime) and device.

    Raises
    ------
    InputError
        No weights, a missing file, or a file torch.jit.load cannot read.

    References
    ----------
    .. [1] Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions", WACV 2022;
       the simple-lama-inpainting package (https://github.com/enesmsahin/simple-lama-inpainting).
    """
    path = path or os.environ.get("LAMA_MODEL") or ""
    if not path:
        raise InputError(f"LaMa needs weights: {LAMA_HELP}")
    if not Path(path).is_file():
        raise InputError(f"LAMA_MODEL={path}: file not found; {LAMA_HELP}")
    key = (*_file_stat_key(path), str(device))
    if key not in _LAMA:
        import torch
        from simple_lama_inpainting import SimpleLama

        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           ("cpu" if device == "auto" else device))
        with lama_model_env(path):
            try:
                _LAMA[key] = SimpleLama(device=dev)
            except FileNotFoundError:
                raise InputError(f"LAMA_MODEL={path}: file not found; {LAMA_HELP}") from None
            except (RuntimeError, ValueError, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                raise InputError(f"LAMA_MODEL={path}: not a TorchScript model that torch.jit.load can read "
                                 f"({first[:120]}); {LAMA_HELP}") from None
    return _LAMA[key]


# --- inpainting ------------------------------------------------------------------------------------

def _to_u8(img: np.ndarray) -> np.ndarray:
    return hio.to_uint8(img)


def _lama_fill(image_u8: np.ndarray, hole_u8: np.ndarray, device: str) -> np.ndarray:
    lama = load_lama(device=device)
    h, w = hole_u8.shape
    try:
        out = np.asarray(lama(image_u8, hole_u8))  # PIL RGB, padded to a multiple of 8
    except Exception as exc:  # a TorchScript file with another signature fails here, at first use
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"LAMA_MODEL={os.environ.get('LAMA_MODEL')}: the model failed on a {w}x{h} image "
                         f"({first[:120]}); expected LaMa's forward(image (1,3,H,W) float, mask (1,1,H,W))") from None
    if out.ndim != 3 or out.shape[0] < h or out.shape[1] < w or out.shape[2] != 3:
        raise InputError(f"LAMA_MODEL={os.environ.get('LAMA_MODEL')}: model output {out.shape} does not cover the "
                         f"{h}x{w} input; expected an RGB image of the (padded) input size")
    CALLS["lama"] += 1
    return out[:h, :w]  # SimpleLama does not crop its modulo-8 padding back


def _opencv_fill(image_u8: np.ndarray, hole_u8: np.ndarray, method: str) -> np.ndarray:
    flag = cv2.INPAINT_TELEA if method == "opencv-telea" else cv2.INPAINT_NS
    bgr = np.ascontiguousarray(image_u8[..., ::-1])
    out = cv2.inpaint(bgr, hole_u8, OPENCV_RADIUS, flag)
    CALLS[method] += 1
    return out[..., ::-1]


def inpaint(image: np.ndarray, hole: np.ndarray, method: str, *, device: str = "cpu") -> np.ndarray:
    """Fill ``hole`` (> 0.5) of ``image`` with ``method`` and re-composite the known background.

    Parameters
    ----------
    image: float32 (H, W, 3) in [0, 1].
    hole: float32 (H, W) in [0, 1]; pixels > 0.5 are filled.
    method: ``lama`` | ``opencv-telea`` | ``opencv-ns`` (resolve ``auto`` first with
        :func:`resolve_inpainter`).

    Returns
    -------
    float32 (H, W, 3): equal to ``image`` (bit-exact) outside the hole, the inpainter's output inside.
    """
    check_image(image)
    check_mask(hole, image.shape[:2], "hole")
    if method not in ("lama", "opencv-telea", "opencv-ns"):
        raise ValueError(f"inpaint: method must be lama | opencv-telea | opencv-ns, got {method!r}")
    inside = hole > 0.5
    if not inside.any():
        return image.copy()
    img_u8 = _to_u8(image)
    hole_u8 = inside.astype(np.uint8) * 255
    if method == "lama":
        filled = _lama_fill(img_u8, hole_u8, device)
    else:
        filled = _opencv_fill(img_u8, hole_u8, method)
    out = image.copy()
    out[inside] = filled[inside].astype(np.float32) * np.float32(1.0 / 255.0)
    return out


def hole_mask(mask: np.ndarray, dilation: int) -> np.ndarray:
    """The region to inpaint: ``mask > 0.5`` dilated by ``dilation`` px (disc), float32 {0, 1}.

    Parameters
    ----------
    mask : numpy.ndarray
        float32 (H, W) in [0, 1].
    dilation : int
        Radius in pixels (SPRIH: 30).

    Returns
    -------
    numpy.ndarray
        float32 (H, W) of 0 and 1.
    """
    check_mask(mask)
    return dilate(mask, int(dilation))


def real_class(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """SPRIH Eq. (6): ``F_i * M_i + inpaint(B_i) * (1 - M_i)`` with the binarised source mask ``M_i``.

    Inside ``M_i`` the result is the source photo exactly; in the dilation ring it is the inpainted
    background (so the inpainting seam is present in the "real" class too, as the paper intends).

    Parameters
    ----------
    image : numpy.ndarray
        The source photo ``F_i``, float32 (H, W, 3) in [0, 1].
    mask : numpy.ndarray
        ``M_i``, float32 (H, W) in [0, 1] (binarised at 0.5).
    background : numpy.ndarray
        ``inpaint(B_i)``, float32 (H, W, 3) in [0, 1].

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3): the discriminator's "real" sample.

    References
    ----------
    .. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023, Eq. 6.
    """
    check_image(image)
    check_image(background, "background")
    check_mask(mask, image.shape[:2])
    inside = mask > 0.5
    out = background.copy()
    out[inside] = image[inside]
    return out


# --- cache -----------------------------------------------------------------------------------------

class BackgroundCache:
    """Inpainted backgrounds on disk, keyed by (image bytes, mask, dilation, inpainter [+ weights]).

    Files are ``<folder>/<key[:2]>/<key>.npy``: uint8 (H, W, 3) RGB, so a cached background is
    bit-identical to the freshly computed one whenever the source was an 8-bit image (3 bytes per pixel
    on disk: about 0.9 MB for 640x480).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @staticmethod
    def key(image_bytes: bytes, mask: np.ndarray, dilation: int, inpainter: str) -> str:
        """The cache key of a background.

        Parameters
        ----------
        image_bytes : bytes
            The source file's bytes.
        mask : numpy.ndarray
            The source mask (binarised at 0.5).
        dilation : int
            Hole dilation in pixels.
        inpainter : str
            The backend that runs (with ``lama``, the weights' SHA-256 is part of the key).

        Returns
        -------
        str
            Hex SHA-256.
        """
        digest = hashlib.sha256()
        digest.update(b"harmony-inpaint-v1\0")
        digest.update(hashlib.sha256(image_bytes).digest())
        binary = np.ascontiguousarray(mask > 0.5)
        digest.update(np.asarray(binary.shape, np.int64).tobytes())
        digest.update(np.packbits(binary).tobytes())
        digest.update(f"\0dilate={int(dilation)}\0inpainter={inpainter}".encode())
        if inpainter == "lama":
            path = os.environ.get("LAMA_MODEL") or ""
            digest.update(f"\0lama={model_digest(path)}".encode())
        digest.update(f"\0opencv_radius={OPENCV_RADIUS}".encode() if inpainter.startswith("opencv") else b"")
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        """The file of a key.

        Parameters
        ----------
        key : str
            A key from :meth:`key`.

        Returns
        -------
        pathlib.Path
            ``<folder>/<key[:2]>/<key>.npy``.
        """
        return self.folder / key[:2] / f"{key}.npy"

    def get_uint8(self, key: str) -> np.ndarray | None:
        """The cached background as stored (uint8 RGB), or None (absent or damaged: recompute it).

        Parameters
        ----------
        key : str
            A key from :meth:`key`.

        Returns
        -------
        numpy.ndarray or None
            uint8 (H, W, 3), or None.
        """
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            return None
        return arr

    def get(self, key: str) -> np.ndarray | None:
        """The cached background on the float32 contract (exactly what :func:`inpaint` returned).

        Parameters
        ----------
        key : str
            A key from :meth:`key`.

        Returns
        -------
        numpy.ndarray or None
            float32 (H, W, 3) in [0, 1], or None when absent or damaged.
        """
        arr = self.get_uint8(key)
        return None if arr is None else arr.astype(np.float32) * np.float32(1.0 / 255.0)

    def put(self, key: str, background: np.ndarray) -> Path:
        """Store a background (as uint8 RGB, atomically).

        Parameters
        ----------
        key : str
            A key from :meth:`key`.
        background : numpy.ndarray
            float32 (H, W, 3) in [0, 1].

        Returns
        -------
        pathlib.Path
            The file written.
        """
        import io as _pyio

        p = self.path(key)
        buf = _pyio.BytesIO()
        np.save(buf, hio.to_uint8(background), allow_pickle=False)
        hio.atomic_write_bytes(p, buf.getvalue())
        return p

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """(background, hit): the cached background, or ``compute()`` stored first.

        Parameters
        ----------
        key : str
            A key from :meth:`key`.
        compute : callable
            ``compute() -> float32 (H, W, 3)``, run on a miss.

        Returns
        -------
        background : numpy.ndarray
            float32 (H, W, 3) in [0, 1].
        hit : bool
            Whether it came from the cache.
        """
        cached = self.get(key)
        if cached is not None:
            return cached, True
        bg = compute()
        self.put(key, bg)
        return bg, False
