"""Sample inputs for the ``fivek``, ``day2night``, ``retouched`` and ``flickr`` generators.

Every builder starts from the photographs bundled with installed packages
(:func:`harmony.datagen.samples.load_photo`), applies *documented* synthetic edits, and writes an input
tree in exactly the layout the corresponding generator reads from real data. Datasets generated from
these trees are marked ``synthetic=true`` in their manifest. Trees are built once into
``<cache>/samples/<kind>-v<N>`` (``$HARMONY_CACHE`` or ``~/.cache/harmony``) and reused.

What each builder makes (all deterministic, no randomness):

- :func:`fivek_sample`: FiveK-like versions. ``original/<stem>.tif`` (8-bit TIFF, as FiveK's DNG
  exports) and ``expertA..E/<stem>.jpg``: each expert is a fixed global edit of the original, in this
  order: white-balance gains (per-channel multiply), tone curve (gamma, then linear contrast about
  mid-grey), saturation (blend with Rec.601 luma), clip (:data:`EXPERT_EDITS`). Masks
  ``masks/<stem>_<fg>.png`` come from :func:`region_mask`. Stems contain an underscore on purpose, as
  real FiveK stems (``a0001-jmac_DSC1459``) do.
- :func:`day2night_sample`: fixed-camera scenes ``<scene>/<yyyymmdd>-<hhmmss>.jpg``: the same photo under
  documented illumination changes per time of day (:data:`CAPTURES`): linearise (power 2.2), multiply
  by exposure and illuminant colour gains, add a tinted ambient term, re-encode (power 1/2.2). Static
  foreground masks in ``<scene>/masks/<fg>.png``. Scene folder names keep the photo's underscore (the
  generator sanitises them).
- :func:`retouched_sample`: ``<name>_before.jpg`` (the photo), ``<name>_after.jpg`` (a global grade plus
  a smooth local dodge-and-burn shading map, like an artist's retouch) and ``<name>_mask.png``.
- :func:`flickr_sample`: target ``images/`` and reference ``ref_images/`` with label maps ``labels/`` and
  ``ref_labels/`` (8-bit PNG of class indices). There is no scene-parsing model here, so the label maps
  are *pseudo scene classes*: SLIC superpixels, each labelled by a rule on its mean colour
  (:func:`pseudo_label_map`; 15 classes, 0 unused). The reference pool holds other photos than the
  targets, plus mirrored and cropped variants.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .. import io as hio
from ..color import luminance
from ..imageops import resize
from .samples import available_photos, cache_dir, load_photo

SAMPLE_VERSION = 1
MAX_SIDE = 320  # sample photos are downscaled (area) so the demo runs in seconds

# Fixed global edits standing in for FiveK's five experts (documented in docs/datagen_more.md).
EXPERT_EDITS: dict[str, dict] = {
    "expertA": {"wb": (1.06, 1.00, 0.92), "gamma": 0.85, "contrast": 1.15, "saturation": 1.15},
    "expertB": {"wb": (0.94, 1.00, 1.08), "gamma": 1.15, "contrast": 0.90, "saturation": 0.90},
    "expertC": {"wb": (1.00, 1.00, 1.00), "gamma": 0.95, "contrast": 1.30, "saturation": 1.30},
    "expertD": {"wb": (1.10, 1.02, 0.88), "gamma": 1.05, "contrast": 1.00, "saturation": 0.75},
    "expertE": {"wb": (0.92, 0.98, 1.10), "gamma": 0.80, "contrast": 1.10, "saturation": 1.05},
}

# Capture time -> illumination (exposure, illuminant RGB gains, ambient RGB added in linear light).
CAPTURES: dict[str, dict] = {
    "20130410-063000": {"exposure": 0.70, "gains": (0.92, 0.96, 1.12), "ambient": (0.00, 0.00, 0.02)},
    "20130410-121500": {"exposure": 1.10, "gains": (1.00, 1.00, 1.00), "ambient": (0.00, 0.00, 0.00)},
    "20130410-181833": {"exposure": 0.55, "gains": (1.18, 0.92, 0.68), "ambient": (0.01, 0.00, 0.00)},
    "20130410-221000": {"exposure": 0.12, "gains": (1.00, 0.82, 0.55), "ambient": (0.00, 0.005, 0.02)},
}

# Sources in the test split when a generator runs on sample data (the coffee photo in each sample).
SAMPLE_TEST_IDS = ("a0003-sample_coffee", "coffee")

FIVEK_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
DAY2NIGHT_PHOTOS = ("motorcycle_left", "coffee", "grace_hopper")
RETOUCHED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
FLICKR_TARGETS = ("astronaut", "chelsea", "coffee", "grace_hopper")
FLICKR_REFERENCES = ("rocket", "motorcycle_left", "motorcycle_right")


# --- documented edits ------------------------------------------------------------------------------

def expert_edit(img: np.ndarray, *, wb, gamma: float, contrast: float, saturation: float) -> np.ndarray:
    """White balance -> tone curve (gamma, then contrast about 0.5) -> saturation -> clip to [0, 1].

    Parameters
    ----------
    img : numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].
    wb : sequence of float
        Per-channel white-balance gains.
    gamma, contrast, saturation : float
        Tone-curve exponent, contrast about 0.5, chroma scale.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1]: one "expert" version of the FiveK-like sample.
    """
    x = np.clip(img * np.asarray(wb, np.float32), 0.0, 1.0)
    x = x ** np.float32(gamma)
    x = 0.5 + np.float32(contrast) * (x - 0.5)
    lum = luminance(x)[..., None]
    x = lum + np.float32(saturation) * (x - lum)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def illuminate(img: np.ndarray, *, exposure: float, gains, ambient) -> np.ndarray:
    """Relight in linear light: ``(x^2.2 * exposure * gains + ambient)^(1/2.2)``, clipped.

    Parameters
    ----------
    img : numpy.ndarray
        float32 (H, W, 3) sRGB-like in [0, 1].
    exposure : float
        Global gain in linear light.
    gains, ambient : sequence of float
        Per-channel light colour and additive ambient light.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1]: one capture of the day2night-like sample.
    """
    lin = img.astype(np.float32) ** np.float32(2.2)
    lin = lin * np.float32(exposure) * np.asarray(gains, np.float32) + np.asarray(ambient, np.float32)
    return np.clip(np.clip(lin, 0.0, 1.0) ** np.float32(1 / 2.2), 0.0, 1.0).astype(np.float32)


def retouch(img: np.ndarray) -> np.ndarray:
    """An artist-like retouch: warm global grade plus a smooth dodge (upper left) and burn (lower right).

    Parameters
    ----------
    img : numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1] (the "before" image).

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1] (the "after" image).
    """
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= max(h - 1, 1)
    xx /= max(w - 1, 1)
    dodge = np.exp(-((yy - 0.3) ** 2 + (xx - 0.3) ** 2) / 0.08)
    burn = np.exp(-((yy - 0.8) ** 2 + (xx - 0.75) ** 2) / 0.05)
    shading = (1.0 + 0.35 * dodge - 0.35 * burn)[..., None].astype(np.float32)
    graded = expert_edit(img, wb=(1.05, 1.0, 0.93), gamma=0.9, contrast=1.1, saturation=1.1)
    return np.clip(graded * shading, 0.0, 1.0).astype(np.float32)


def sample_photo(name: str, max_side: int = MAX_SIDE) -> np.ndarray:
    """A bundled photograph resized (area) so that its longer side is at most ``max_side``.

    Parameters
    ----------
    name : str
        A bundled photograph (:data:`harmony.datagen.samples.PHOTOS`).
    max_side : int
        Longest side in pixels.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].
    """
    img = load_photo(name)
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s < 1:
        img = np.clip(resize(img, (round(h * s), round(w * s)), "area"), 0, 1).astype(np.float32)
    return img


def _superpixels(img: np.ndarray, n_segments: int) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(img.astype(np.float64), n_segments=n_segments, compactness=10, start_label=1,
                channel_axis=-1)


def region_mask(img: np.ndarray, centre: tuple[float, float], radii: tuple[float, float],
                n_segments: int = 60) -> np.ndarray:
    """A segmented-looking foreground: the SLIC superpixels lying mostly (> 50 %) inside an ellipse.

    ``centre`` and ``radii`` are fractions of (height, width). Falls back to the ellipse itself if no
    superpixel qualifies. Returns a bool (H, W) mask.

    Parameters
    ----------
    img : numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].
    centre : tuple of float
        The ellipse's centre (y, x) as fractions of the height and width.
    radii : tuple of float
        Its radii (y, x) as fractions of the height and width.
    n_segments : int
        SLIC superpixels.

    Returns
    -------
    numpy.ndarray
        bool (H, W) foreground.

    References
    ----------
    .. [1] Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", TPAMI 2012
       (``skimage.segmentation.slic``).
    """
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    in_ellipse = ((yy / h - centre[0]) / radii[0]) ** 2 + ((xx / w - centre[1]) / radii[1]) ** 2 <= 1.0
    superpixels = _superpixels(img, n_segments)
    inside = np.bincount(superpixels.ravel(), weights=in_ellipse.ravel(), minlength=superpixels.max() + 1)
    total = np.bincount(superpixels.ravel(), minlength=superpixels.max() + 1)
    keep = inside > 0.5 * np.maximum(total, 1)
    mask = keep[superpixels]
    return mask if mask.any() else in_ellipse


MASK_REGIONS = {"1": ((0.5, 0.5), (0.28, 0.22)), "2": ((0.68, 0.28), (0.2, 0.16))}


def pseudo_label_map(img: np.ndarray, n_segments: int = 40) -> np.ndarray:
    """Pseudo scene classes: SLIC superpixels labelled by their mean colour (uint8 (H, W), ids 1..15).

    Rule (HSV of the superpixel's mean RGB): saturation < 0.2 -> grey classes 1 (value < 1/3),
    2 (value < 2/3), 3 (lighter); otherwise ``4 + 2 * hue_bin + (value >= 0.5)`` with six 60-degree
    hue bins starting at red (ids 4..15).

    Parameters
    ----------
    img : numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].
    n_segments : int
        SLIC superpixels.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W), class ids 1..15 (the sample's stand-in for a scene-parsing model's output).
    """
    from skimage.color import rgb2hsv

    seg = _superpixels(img, n_segments)
    n = seg.max() + 1
    counts = np.maximum(np.bincount(seg.ravel(), minlength=n), 1)
    means = np.stack([np.bincount(seg.ravel(), weights=img[..., c].ravel(), minlength=n) / counts
                      for c in range(3)], axis=1)
    hsv = rgb2hsv(means[None].astype(np.float64))[0]
    hue_bin = np.minimum((hsv[:, 0] * 6).astype(int), 5)
    grey = np.where(hsv[:, 2] < 1 / 3, 1, np.where(hsv[:, 2] < 2 / 3, 2, 3))
    colour = 4 + 2 * hue_bin + (hsv[:, 2] >= 0.5)
    cls = np.where(hsv[:, 1] < 0.2, grey, colour).astype(np.uint8)
    return cls[seg]


# --- builders ----------------------------------------------------------------------------------------

def _build(kind: str, fn) -> Path:
    """Build ``<cache>/samples/<kind>-v<N>`` once (into a temp folder, then renamed)."""
    final = cache_dir() / "samples" / f"{kind}-v{SAMPLE_VERSION}"
    if (final / "SAMPLE.json").is_file():
        return final
    tmp = final.parent / f".{final.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    info = fn(tmp)
    hio.atomic_write_text(tmp / "SAMPLE.json", json.dumps({"kind": kind, "version": SAMPLE_VERSION,
                                                           "synthetic": True, **info}, indent=2) + "\n")
    try:
        os.replace(tmp, final)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _photos(names) -> list[str]:
    have = set(available_photos())
    out = [n for n in names if n in have]
    if not out:
        raise FileNotFoundError("no bundled sample photo is available (scikit-image / matplotlib data)")
    return out


def fivek_sample() -> tuple[Path, Path]:
    """(root, masks) of a FiveK-like tree: ``root/<version>/<stem>.<ext>``, ``masks/<stem>_<fg>.png``.

    Returns
    -------
    root : pathlib.Path
        ``root/<version>/<stem>.jpg`` for the original and experts A-E (documented global edits).
    masks : pathlib.Path
        ``<stem>_<fg>.png`` foreground masks.
    """
    def make(d: Path) -> dict:
        stems = []
        for i, name in enumerate(_photos(FIVEK_PHOTOS), start=1):
            stem = f"a{i:04d}-sample_{name.replace('_', '')}"
            stems.append(stem)
            img = sample_photo(name)
            hio.write_image(d / "original" / f"{stem}.tif", img)
            for version, edit in EXPERT_EDITS.items():
                hio.write_image(d / version / f"{stem}.jpg", expert_edit(img, **edit), quality=95)
            for fg, (c, r) in MASK_REGIONS.items():
                hio.write_mask(d / "masks" / f"{stem}_{fg}.png", region_mask(img, c, r))
        return {"stems": stems, "edits": EXPERT_EDITS}

    root = _build("fivek", make)
    return root, root / "masks"


def day2night_sample() -> Path:
    """A day2night-like tree: ``root/<scene>/<yyyymmdd>-<hhmmss>.jpg`` and ``root/<scene>/masks/<fg>.png``.

    Returns
    -------
    pathlib.Path
        The scene root (captures re-lit with documented illumination changes).
    """
    def make(d: Path) -> dict:
        for name in _photos(DAY2NIGHT_PHOTOS):
            img = sample_photo(name, 256)
            for when, light in CAPTURES.items():
                hio.write_image(d / name / f"{when}.jpg", illuminate(img, **light), quality=95)
            for fg, (c, r) in MASK_REGIONS.items():
                hio.write_mask(d / name / "masks" / f"{fg}.png", region_mask(img, c, r))
        return {"captures": CAPTURES}

    return _build("day2night", make)


def retouched_sample() -> Path:
    """A folder of ``<name>_before.jpg``, ``<name>_after.jpg``, ``<name>_mask.png`` triplets.

    Returns
    -------
    pathlib.Path
        The triplet folder (after = the documented retouch of before).
    """
    def make(d: Path) -> dict:
        for name in _photos(RETOUCHED_PHOTOS):
            img = sample_photo(name)
            hio.write_image(d / f"{name}_before.jpg", img, quality=95)
            hio.write_image(d / f"{name}_after.jpg", retouch(img), quality=95)
            c, r = MASK_REGIONS["1"]
            hio.write_mask(d / f"{name}_mask.png", region_mask(img, c, r))
        return {}

    return _build("retouched", make)


def flickr_sample() -> dict[str, Path]:
    """Targets and a reference pool with pseudo label maps; keys images, labels, reference_images,
    reference_labels.

    Returns
    -------
    dict of str to pathlib.Path
        Folders ``images``, ``labels``, ``reference_images``, ``reference_labels`` (pseudo label maps).
    """
    def make(d: Path) -> dict:
        for name in _photos(FLICKR_TARGETS):
            img = sample_photo(name, 256)
            hio.write_image(d / "images" / f"{name}.jpg", img, quality=95)
            hio.write_mask(d / "labels" / f"{name}.png", pseudo_label_map(img).astype(np.uint8))
        refs = [n for n in FLICKR_REFERENCES if n in available_photos()]
        for name in _photos(refs):
            img = sample_photo(name, 256)
            h, w = img.shape[:2]
            variants = {name: img, f"{name}-mirror": img[:, ::-1],
                        f"{name}-crop": img[h // 8: h - h // 8, w // 8: w - w // 8]}
            for vname, v in variants.items():
                v = np.ascontiguousarray(v)
                hio.write_image(d / "ref_images" / f"{vname}.jpg", v, quality=95)
                hio.write_mask(d / "ref_labels" / f"{vname}.png", pseudo_label_map(v).astype(np.uint8))
        return {"label_rule": "pseudo scene classes (SLIC + mean-colour rule)", "classes": 15}

    root = _build("flickr", make)
    return {"images": root / "images", "labels": root / "labels",
            "reference_images": root / "ref_images", "reference_labels": root / "ref_labels"}
