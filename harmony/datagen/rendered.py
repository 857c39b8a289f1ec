"""Rendered composites with soft style labels (RdHarmony / CharmNet: Cao et al., BMVC 2022).

CharmNet (Cao, Cong, Niu et al., section 3) renders each viewpoint of a 3D scene in 10 capture
styles (:mod:`harmony.styles`), exchanges the foreground between two renders of the same viewpoint and
labels the composite with a *soft* style label. This generator does that for any folder of renders.

Input (``--scenes DIR``): every folder under DIR that holds image files is one viewpoint::

    DIR/<view>/<Style>.<ext>      any subset of the 10 style names (case-insensitive), png/jpg/...
    DIR/<view>/mask.png           the shared foreground mask, or several: mask_<fg>.png (one per object)
    DIR/<view>/coverage*.png      (optional, ignored: the anti-aliased masks ``harmony render`` also writes)
    DIR/<view>/view.json          (optional: ``category`` and ``synthetic`` are read from it)

For every mask and every ordered pair of present styles (i, j), i != j (or ``pairs_per_view`` pairs drawn
from those, seeded per view), the composite is ``I_{i->j} = M * O_j + (1 - M) * B_i``: foreground from the
style-j render, background from the style-i render, ground truth = the style-i render. Masks are read as
RdHarmony does: **foreground = pixels exactly 255** (``mask_threshold=255``; 8-bit level after rounding);
anything below is background, so the composite is an exact per-pixel selection, computed on 8-bit pixels.
Masks with values other than 0 and 255 are used with that rule and counted in the summary.

Output (iHarmony4 layout, subset ``HRendered``, prefix ``n``)::

    <out>/HRendered/composite_images/n<view>-<i>_<fg>_<j>.jpg    bg/gt style i, fg style j, object fg
    <out>/HRendered/real_images/n<view>-<i>.jpg                   the style-i render (ground truth)
    <out>/HRendered/masks/n<view>-<i>_<fg>.png                    binary 0/255, one per (view, i, fg)
    <out>/HRendered/manifest.csv  run.json                        provenance + soft labels (below)
    <out>/HRendered/HRendered_train.txt  HRendered_test.txt   <out>/IHD_train.txt  IHD_test.txt
    <out>/labels.txt                                              the RdHarmony label file

Names: the RdHarmony release names its files ``composite_images/<X>-<Y>_<Z>.jpg``,
``real_images/<X>-<Y>.jpg``, ``masks/<X>.png``. Here X = ``n<view>``, Y = the ground-truth (background)
style id i and Z = the foreground style id j, with the object id inserted before Z, so the iHarmony4
string rule (mask = name minus ``_<k>``, real = name minus ``_<fg>_<k>``) also resolves every file: the
mask is therefore stored once per (view, i, fg) under the derived name (identical copies, small PNGs).
The manifest's ``mask`` / ``real`` columns hold the exact relative paths as well.

Label file ``labels.txt`` (at ``<out>``, paths relative to it), one line per composite, tab-separated::

    HRendered/composite_images/n<view>-<i>_<fg>_<j>.jpg<TAB><s1>_<s2>_..._<s10><TAB><i>

field 2 = ``r * onehot(j) + (1 - r) * onehot(i)`` with r the foreground area ratio (exactly-255 pixels /
all pixels) rounded to 6 decimals, printed with 6 decimals (the 10 values sum to exactly 1); field 3 =
the 1-based ground-truth style id i. The manifest repeats these (``soft_label``, ``gt_style``,
``bg_style``, ``fg_style``, their names, ``category``, ``view``).

Bad input (never stops the run; counted in the summary): unknown style names (file skipped), renders
whose size differs from the view's mask (render skipped), a view with fewer than two usable styles or no
mask (view skipped), an all-zero mask (no pixel equals 255: "empty foreground", mask skipped), views missing some styles
(the present ones are used; the summary counts the missing renders).

Sample set (no ``--scenes``): built once into ``samples.cache_dir()``: rendered with Mitsuba when it is
installed (:func:`build_sample_scenes`: 3 views, 80x80, 16 spp, all 10 styles; views 0-1 fall in the test
split, view 2 in train), otherwise made from the
bundled photographs with the per-style global illumination changes of :func:`synthetic_style`
(marked ``synthetic`` in the manifest).

References
----------
.. [1] Cao, Cong, Niu, Zhang and Zhang, "Deep Image Harmonization by Bridging the Reality Gap"
   (RdHarmony / CharmNet), BMVC 2022.
.. [2] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020 (the
   iHarmony4 layout and name rule).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .. import io as hio
from ..dataset import COMPOSITE_DIR, SUBSETS, DatasetWriter, safe_id, split_for
from ..errors import InputError
from ..parallel import unit_rng
from ..registry import GENERATORS
from ..styles import N_STYLES, STYLES, Style, format_soft_label, lookup, style_by_id
from .runner import Generator, Inputs, Plan, RunSummary, generate, run_units

SUBSET = "HRendered"
PREFIX = SUBSETS[SUBSET]
LABEL_FILE = "labels.txt"
SAMPLE_VERSION = 3


# --- pure pieces ---------------------------------------------------------------------------------

def composite_uint8(fg_render: np.ndarray, bg_render: np.ndarray, fg_mask: np.ndarray,
                    out: np.ndarray | None = None) -> np.ndarray:
    """``M * O_j + (1 - M) * B_i`` for a binary mask, exactly, on uint8 (H, W, 3) renders.

    ``fg_mask``: bool (H, W), True = foreground (taken from the style-j render ``fg_render``). ``out``:
    an optional reusable (H, W, 3) uint8 buffer. A per-pixel selection (no arithmetic), so exact.

    Parameters
    ----------
    fg_render : numpy.ndarray
        uint8 (H, W, 3), the style-j render ``O_j`` (foreground source).
    bg_render : numpy.ndarray
        uint8 (H, W, 3), the style-i render ``B_i`` (background and ground truth).
    fg_mask : numpy.ndarray
        bool (H, W), True = foreground.
    out : numpy.ndarray or None
        Reusable uint8 (H, W, 3) buffer.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W, 3) composite.

    Raises
    ------
    ValueError
        Shapes differ, or the renders are not uint8.

    Examples
    --------
    >>> import numpy as np
    >>> fg, bg = np.full((1, 2, 3), 200, np.uint8), np.zeros((1, 2, 3), np.uint8)
    >>> composite_uint8(fg, bg, np.array([[True, False]]))[0, :, 0].tolist()
    [200, 0]
    """
    if fg_render.shape != bg_render.shape or fg_render.shape[:2] != fg_mask.shape:
        raise ValueError(f"composite: shapes differ: fg {fg_render.shape}, bg {bg_render.shape}, mask {fg_mask.shape}")
    if fg_render.dtype != np.uint8 or bg_render.dtype != np.uint8:
        raise ValueError("composite: expected uint8 renders")
    return _composite_u8(fg_render, bg_render, np.ascontiguousarray(fg_mask, dtype=np.uint8), out)


def _composite_u8(fg_render: np.ndarray, bg_render: np.ndarray, mask_u8: np.ndarray,
                  out: np.ndarray | None = None) -> np.ndarray:
    # OpenCV's masked copy is ~50x faster than np.where with a broadcast mask (and a reused buffer
    # avoids a fresh large allocation, i.e. page faults, per composite).
    import cv2

    if out is None:
        out = np.empty_like(bg_render)
    np.copyto(out, bg_render)
    cv2.copyTo(fg_render, mask_u8, out)
    return out


def mask_levels(mask: np.ndarray) -> np.ndarray:
    """A float [0, 1] mask (as io.read_mask gives) -> integer 8-bit levels 0..255.

    Parameters
    ----------
    mask : numpy.ndarray
        float (H, W) in [0, 1].

    Returns
    -------
    numpy.ndarray
        int32 (H, W) in 0..255 (rounded), so that "exactly 255" is RdHarmony's foreground rule.
    """
    return np.rint(np.asarray(mask, dtype=np.float64) * 255.0).astype(np.int32)


def composite_name(view: str, bg: int, fg_id: str, fg: int, ext: str) -> str:
    """The composite's file name ``n<view>-<i>_<fg>_<j><ext>``.

    Parameters
    ----------
    view : str
        The view id.
    bg : int
        Background / ground-truth style id ``i`` (1-10).
    fg_id : str
        The foreground object's id.
    fg : int
        Foreground style id ``j``.
    ext : str
        ``.jpg`` or ``.png``.

    Returns
    -------
    str
        For example ``nview0-2_1_10.jpg``.
    """
    return f"{PREFIX}{view}-{bg}_{fg_id}_{fg}{ext}"


def mask_file_name(view: str, bg: int, fg_id: str) -> str:
    """The mask's file name ``n<view>-<i>_<fg>.png`` (the iHarmony4 rule: composite name minus ``_<j>``).

    Parameters
    ----------
    view : str
        The view id.
    bg : int
        Background style id ``i``.
    fg_id : str
        The foreground object's id.

    Returns
    -------
    str
        For example ``nview0-2_1.png``.
    """
    return f"{PREFIX}{view}-{bg}_{fg_id}.png"


def real_file_name(view: str, bg: int, ext: str) -> str:
    """The ground truth's file name ``n<view>-<i><ext>``.

    Parameters
    ----------
    view : str
        The view id.
    bg : int
        Background style id ``i``.
    ext : str
        ``.jpg`` or ``.png``.

    Returns
    -------
    str
        For example ``nview0-2.jpg``.
    """
    return f"{PREFIX}{view}-{bg}{ext}"


def parse_label_line(line: str) -> tuple[str, np.ndarray, int]:
    """(relative composite path, soft label (10,), ground-truth style id) of one ``labels.txt`` line.

    Parameters
    ----------
    line : str
        ``<path>\t<s1>_..._<s10>\t<gt style id>``.

    Returns
    -------
    path : str
        The composite, relative to the dataset root.
    soft_label : numpy.ndarray
        float64 (10,), summing to 1.
    gt_style : int
        1-based ground-truth style id.

    Raises
    ------
    InputError
        Not three fields, or not 10 values.
    """
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 3:
        raise InputError(f"label line {line[:60]!r}: expected 3 tab-separated fields")
    vals = np.array([float(v) for v in parts[1].split("_")])
    if vals.shape != (N_STYLES,):
        raise InputError(f"label line {parts[0]}: expected {N_STYLES} values joined by '_', got {vals.size}")
    return parts[0], vals, int(parts[2])


# --- synthetic fallback (photographs + per-style global illumination changes) ----------------------

def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def synthetic_style(image: np.ndarray, style: Style, lamp_center: tuple[float, float] = (0.3, 0.25)) -> np.ndarray:
    """A photograph re-lit globally as ``style`` (the fallback when Mitsuba is absent; marked synthetic).

    In linear RGB: multiply by ``gain * white`` (exposure and white balance), scale chroma around the
    luminance by ``saturation``, blend ``haze`` of a grey-blue veil (0.55, 0.60, 0.68) x the mean
    luminance, and (Night) add a warm lamp: ``lamp * lamp_color * exp(-d^2 / (2 * 0.3^2)) * original``
    with d the distance to ``lamp_center`` (relative x, y) in units of the image diagonal; back to sRGB,
    then the tone curve ``x ** gamma``. Pure; float32 (H, W, 3) in [0, 1] in and out.

    Parameters
    ----------
    image : numpy.ndarray
        float32 (H, W, 3) sRGB in [0, 1].
    style : Style
        One of the 10 capture styles (:data:`harmony.styles.STYLES`).
    lamp_center : tuple of float
        (x, y) of the Night style's lamp, as fractions of the width and height.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) sRGB in [0, 1].
    """
    from ..imageops import check_image

    check_image(image)
    lin = _srgb_to_linear(image)
    out = lin * np.float32(style.gain) * np.asarray(style.white, np.float32)
    lum = out @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    out = lum[..., None] + np.float32(style.saturation) * (out - lum[..., None])
    if style.haze:
        veil = np.array([0.55, 0.60, 0.68], np.float32) * np.float32(max(float(lum.mean()), 0.05))
        out = (1 - style.haze) * out + style.haze * veil
    if style.lamp:
        h, w = image.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        diag = math.hypot(h, w)
        d2 = ((xx - lamp_center[0] * w) ** 2 + (yy - lamp_center[1] * h) ** 2) / diag ** 2
        glow = np.exp(-d2 / (2 * 0.3 ** 2)).astype(np.float32)
        out = out + np.float32(style.lamp) * glow[..., None] * np.asarray(style.lamp_color, np.float32) * lin
    srgb = _linear_to_srgb(out)
    return np.clip(srgb ** np.float32(style.gamma), 0.0, 1.0).astype(np.float32)


# photo -> (category, ellipse centre x, y, radii x, y; relative to width / height): a rough object region
_SYNTHETIC_VIEWS = {
    "chelsea": ("cat", 0.45, 0.45, 0.26, 0.40),
    "coffee": ("cup", 0.50, 0.45, 0.36, 0.38),
    "astronaut": ("person", 0.42, 0.56, 0.30, 0.44),
    "motorcycle_left": ("motorcycle", 0.55, 0.55, 0.42, 0.30),
}


def _ellipse_mask(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((xx + 0.5 - cx * w) / (rx * w)) ** 2 + ((yy + 0.5 - cy * h) / (ry * h)) ** 2) <= 1.0


def _photo_polygon(name: str, category: str) -> list[float] | None:
    """The hand-placed object polygon of a bundled photo from the COCO sample layout, when present."""
    from . import samples

    cats = {c["id"]: c["name"] for c in getattr(samples, "COCO_SAMPLE_CATEGORIES", [])}
    for _image_id, photo, anns in getattr(samples, "COCO_SAMPLE_LAYOUT", []):
        if photo == name:
            for _ann_id, cat_id, _storage, poly in anns:
                if cats.get(cat_id) == category:
                    return list(poly)
    return None


def _synthetic_mask(name: str, shape: tuple[int, int], width: int) -> np.ndarray:
    import cv2

    category, cx, cy, rx, ry = _SYNTHETIC_VIEWS[name]
    h0, w0 = shape
    poly = _photo_polygon(name, category)
    h = int(round(h0 * width / w0))
    if poly is not None and len(poly) >= 6:
        pts = np.asarray(poly, np.float64).reshape(-1, 2) * (width / w0)
        m = np.zeros((h, width), np.uint8)
        cv2.fillPoly(m, [np.rint(pts).astype(np.int32)], 1)
        if 0 < m.mean() <= 0.6:  # the COCO sample's cat covers > 80 % on purpose: too large here
            return m.astype(bool)
    return _ellipse_mask(h, width, cx, cy, rx, ry)


def build_synthetic_scenes(out: str | os.PathLike, width: int = 160) -> Path:
    """The sample scenes from the bundled photographs (every style via :func:`synthetic_style`).

    The mask of each photo is the hand-placed object polygon of the COCO sample
    (``samples.COCO_SAMPLE_LAYOUT``) when it is there and covers at most 60 % of the photo, else a
    hand-placed ellipse (the cat's face).

    Parameters
    ----------
    out : str or os.PathLike
        Folder to write the view folders into.
    width : int
        Width of every view (the height follows the photo's aspect).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InputError
        No bundled photograph is available.
    """
    from ..imageops import resize
    from .samples import available_photos, load_photo

    out = Path(out)
    names = [n for n in _SYNTHETIC_VIEWS if n in available_photos()]
    if not names:
        raise InputError("no bundled sample photographs found (they come with scikit-image / matplotlib)")
    for k, name in enumerate(names):
        category = _SYNTHETIC_VIEWS[name][0]
        photo = load_photo(name)
        mask = _synthetic_mask(name, photo.shape[:2], width)
        h = mask.shape[0]
        photo = np.clip(resize(photo, (h, width), "area"), 0, 1).astype(np.float32)
        view = out / f"photo{k}-{safe_id(name)}"
        view.mkdir(parents=True, exist_ok=True)
        for st in STYLES:
            hio.write_image(view / f"{st.name}.png", synthetic_style(photo, st))
        hio.write_mask(view / "mask.png", mask)
        hio.atomic_write_text(view / "view.json", json.dumps(
            {"synthetic": True, "category": category, "source_photo": name,
             "note": "global illumination changes of one photograph (harmony.datagen.rendered.synthetic_style); "
                     "the mask is a hand-placed outline, so fg and bg are the same photo re-lit"}, indent=1) + "\n")
    return out


def build_sample_scenes(kind: str = "auto", progress: bool = False) -> tuple[Path, bool]:
    """The cached sample scene folder and whether it is synthetic.

    ``kind``: ``auto`` (Mitsuba when installed, else synthetic), ``mitsuba`` or ``synthetic``. Built once
    into ``samples.cache_dir()/rendered_sample_<kind>_v<N>`` (atomically: a temporary folder renamed).

    Parameters
    ----------
    kind : {"auto", "mitsuba", "synthetic"}
        Which sample set.
    progress : bool
        Show the render's progress.

    Returns
    -------
    folder : pathlib.Path
        The cached scene folder.
    synthetic : bool
        Whether it was made from photographs rather than rendered.

    Raises
    ------
    InputError
        An unknown kind, ``mitsuba`` without Mitsuba 3, or a failed render.
    """
    from .render import mitsuba_available, render_dataset
    from .samples import cache_dir

    if kind not in ("auto", "mitsuba", "synthetic"):
        raise InputError(f"--sample {kind}: expected auto, mitsuba or synthetic")
    if kind == "auto":
        kind = "mitsuba" if mitsuba_available() else "synthetic"
    if kind == "mitsuba" and not mitsuba_available():
        from .render import INSTALL_HINT

        raise InputError(f"--sample mitsuba: Mitsuba 3 is not installed; {INSTALL_HINT}")
    final = cache_dir() / f"rendered_sample_{kind}_v{SAMPLE_VERSION}"
    if (final / ".complete").is_file():
        return final, kind == "synthetic"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache_dir()))
    try:
        if kind == "mitsuba":
            # One worker process, so Mitsuba is imported there, not here; but if this process already
            # runs Mitsuba (its thread pool would not survive a fork), render here.
            import sys

            workers = 0 if sys.modules.get("mitsuba") is not None else 1
            summary = render_dataset(tmp, views=3, size=80, spp=16, mask_spp=16, seed=7, workers=workers,
                                     progress=progress, sheet=True)
            if summary.failed:
                raise InputError(f"sample render failed: {summary.failed[0][1]}")
        else:
            build_synthetic_scenes(tmp)
        (tmp / ".complete").write_text("ok\n")
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, kind == "synthetic"


# --- planning ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ViewUnit:
    """One view folder with the options of its composites (picklable work unit).
    """
    key: str                   # the view id used in file names (no underscores)
    folder: str
    rel: str                   # the folder relative to --scenes
    seed: int
    pairs_per_view: int | None
    ext: str                   # .jpg | .png
    quality: int
    category: str | None
    test_fraction: float
    mask_threshold: int
    synthetic: bool


def _is_view_file(name: str) -> bool:
    p = Path(name)
    if name.startswith(".") or p.suffix.lower() not in hio.IMAGE_EXTENSIONS:
        return False
    low = p.stem.lower()
    return lookup(p.stem) is not None or low == "mask" or low.startswith("mask_")


def find_views(scenes: str | os.PathLike) -> list[tuple[str, Path]]:
    """(relative path, folder) of every folder under ``scenes`` holding a style render or a mask, sorted.

    Folders whose images are all other names (e.g. the contact sheet at a render's root) are not views.

    Parameters
    ----------
    scenes : str or os.PathLike
        The scenes folder.

    Returns
    -------
    list of (str, pathlib.Path)
        Sorted by relative path (``"."`` for the root itself).

    Raises
    ------
    InputError
        The folder is missing or holds no view.
    """
    root = Path(scenes)
    if not root.is_dir():
        raise InputError(f"--scenes {root}: folder not found")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if any(_is_view_file(f) for f in filenames):
            p = Path(dirpath)
            rel = p.relative_to(root).as_posix()
            out.append(("." if rel == "." else rel, p))
    if not out:
        raise InputError(f"--scenes {root}: no view folders (expected <view>/<Style>.png and <view>/mask.png)")
    return sorted(out)


def plan_units(scenes: str | os.PathLike, *, seed: int, pairs_per_view: int | None, ext: str, quality: int,
               category: str | None, test_fraction: float, mask_threshold: int, synthetic: bool) -> list[ViewUnit]:
    """One unit per view folder, with its sanitised id as key.

    Parameters
    ----------
    scenes : str or os.PathLike
        The scenes folder.
    seed, pairs_per_view, ext, quality, category, test_fraction, mask_threshold
        As in :func:`generate_rendered` (``ext`` with its dot).
    synthetic : bool
        The scenes are the photograph-based sample.

    Returns
    -------
    list of ViewUnit
        Sorted by relative path.

    Raises
    ------
    InputError
        Two view folders with the same sanitised id.
    """
    units, seen = [], {}
    for rel, folder in find_views(scenes):
        key = safe_id(rel if rel != "." else Path(scenes).resolve().name)
        if key in seen:
            raise InputError(f"--scenes: view folders {seen[key]!r} and {rel!r} give the same id {key!r} "
                             "(underscores and separators become '-'); rename one")
        seen[key] = rel
        units.append(ViewUnit(key, str(folder), rel, int(seed), pairs_per_view, ext, int(quality), category,
                              float(test_fraction), int(mask_threshold), bool(synthetic)))
    return units


# --- the work unit ---------------------------------------------------------------------------------

def _view_meta(folder: Path) -> dict:
    p = folder / "view.json"
    if p.is_file():
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
            return meta if isinstance(meta, dict) else {}
        except (OSError, json.JSONDecodeError):
            return {}
    return {}


def _view_files(unit: ViewUnit, skipped: list[dict]) -> tuple[dict[int, Path], dict[str, Path]]:
    """The view folder's renders by style id and its masks by foreground id (``mask.png`` is ``1``)."""
    styles: dict[int, Path] = {}
    masks: dict[str, Path] = {}
    for path in hio.list_images(Path(unit.folder)):
        stem = path.stem
        if path.name.startswith("."):
            continue
        lower = stem.lower()
        if lower == "mask":
            masks["1"] = path
        elif lower.startswith("mask_") and len(stem) > 5:
            masks[safe_id(stem[5:])] = path
        elif lower == "coverage" or lower.startswith("coverage_"):
            continue
        else:
            style = lookup(stem)
            if style is None:
                skipped.append({"item": f"{unit.rel}/{path.name}", "reason": "unknown style name"})
            elif style.id in styles:
                skipped.append({"item": f"{unit.rel}/{path.name}", "reason": "duplicate style render"})
            else:
                styles[style.id] = path
    return styles, masks


def _foreground_masks(unit: ViewUnit, masks: dict[str, Path], record: dict
                      ) -> tuple[dict[str, np.ndarray], tuple[int, int] | None]:
    """Binary foregrounds (pixels ``>= mask_threshold``; RdHarmony: exactly 255) and the view's size.

    The first usable mask sets the size; masks of another size or without a foreground pixel are skipped.
    """
    skipped = record["skipped"]
    foregrounds: dict[str, np.ndarray] = {}
    size = None
    for fg_id, path in sorted(masks.items()):
        levels = mask_levels(hio.read_mask(path))
        if size is not None and levels.shape != size:
            skipped.append({"item": f"{unit.rel}/{path.name}", "reason": "mask size differs from the view's other masks"})
            continue
        foreground = levels >= unit.mask_threshold
        if not foreground.any():
            rule = "equal to 255" if unit.mask_threshold == 255 else f">= {unit.mask_threshold}"
            skipped.append({"item": f"{unit.rel}/{path.name}", "reason": f"mask has no pixel {rule} (empty foreground)"})
            continue
        if np.any((levels > 0) & (levels < 255)):
            record["soft_masks"] += 1
        foregrounds[fg_id] = foreground
        size = levels.shape
    return foregrounds, size


def _read_renders(unit: ViewUnit, styles: dict[int, Path], size, skipped: list[dict]) -> dict[int, np.ndarray]:
    """The renders (uint8 RGB) of the view's size, by style id; others are skipped."""
    renders: dict[int, np.ndarray] = {}
    for style_id, path in sorted(styles.items()):
        if hio.image_size(path) != size:
            skipped.append({"item": f"{unit.rel}/{path.name}", "reason": "render size differs from the mask"})
            continue
        renders[style_id] = hio.read_image_uint8(path)
    return renders


def _combinations(unit: ViewUnit, foregrounds: dict, renders: dict) -> list[tuple[str, int, int]]:
    """(fg id, background style i, foreground style j): every ordered pair, or ``pairs_per_view`` drawn."""
    combos = [(fg_id, i, j) for fg_id in sorted(foregrounds) for i, j in itertools.permutations(sorted(renders), 2)]
    if unit.pairs_per_view is not None and unit.pairs_per_view < len(combos):
        rng = unit_rng(unit.seed, unit.key)
        pick = rng.choice(len(combos), size=unit.pairs_per_view, replace=False)
        combos = [combos[k] for k in sorted(pick)]
    return combos


def _write_real(unit: ViewUnit, layout, name: str, source: Path, render: np.ndarray) -> None:
    """The ground truth: the source file itself when its format matches, else the decoded render re-encoded."""
    if source.suffix.lower() in ((".jpg", ".jpeg") if unit.ext == ".jpg" else (unit.ext,)):
        hio.atomic_write_bytes(layout.real_path(name), source.read_bytes())
    else:
        hio.write_image(layout.real_path(name), render, quality=unit.quality)


def work(unit: ViewUnit, layout) -> dict:
    """Make every composite of one view (``I = M*O_j + (1-M)*B_i`` per ordered style pair).

    Parameters
    ----------
    unit : ViewUnit
        One view folder with its options.
    layout : SubsetLayout
        Where composites, masks and real images are written.

    Returns
    -------
    dict
        The unit record: manifest ``rows`` (with the soft label), ``skipped``, and the view's styles present,
        missing and used, its mask count and soft-mask count.
    """
    skipped: list[dict] = []
    styles, masks = _view_files(unit, skipped)
    missing = [s.name for s in STYLES if s.id not in styles]
    record: dict[str, Any] = {"rows": [], "skipped": skipped, "view": unit.key, "styles_present": sorted(styles),
                              "styles_missing": missing, "soft_masks": 0, "masks": len(masks)}
    if not masks:
        skipped.append({"item": unit.rel, "reason": "no mask.png / mask_<fg>.png"})
        return record
    foregrounds, size = _foreground_masks(unit, masks, record)
    if not foregrounds:
        return record
    renders = _read_renders(unit, styles, size, skipped)
    record["styles_used"] = sorted(renders)
    if len(renders) < 2:
        skipped.append({"item": unit.rel, "reason": "fewer than 2 usable style renders"})
        return record
    meta = _view_meta(Path(unit.folder))
    category = unit.category if unit.category is not None else str(meta.get("category", "") or "")
    synthetic = bool(unit.synthetic or meta.get("synthetic", False))
    split = split_for(unit.key, unit.test_fraction)
    written_masks, written_reals = set(), set()
    masks_uint8 = {k: m.astype(np.uint8) for k, m in foregrounds.items()}
    buffer = np.empty_like(next(iter(renders.values())))
    ratios = {k: float(np.count_nonzero(m)) / float(m.size) for k, m in foregrounds.items()}
    for fg_id, i, j in _combinations(unit, foregrounds, renders):
        name = composite_name(unit.key, i, fg_id, j, unit.ext)
        mname = mask_file_name(unit.key, i, fg_id)
        rname = real_file_name(unit.key, i, unit.ext)
        hio.write_image(layout.composite_path(name), _composite_u8(renders[j], renders[i], masks_uint8[fg_id], buffer),
                        quality=unit.quality)
        if mname not in written_masks:
            hio.write_mask(layout.mask_path(mname), foregrounds[fg_id])
            written_masks.add(mname)
        if rname not in written_reals:
            _write_real(unit, layout, rname, styles[i], renders[i])
            written_reals.add(rname)
        ratio = ratios[fg_id]
        record["rows"].append({
            "composite": name, "mask": f"masks/{mname}", "real": f"real_images/{rname}", "subset": SUBSET,
            "split": split, "source_image_id": unit.rel, "source_annotation_id": fg_id,
            "reference_image_id": f"{unit.rel}/{styles[j].name}", "reference_annotation_id": fg_id,
            "method": "rendered", "params": {"bg_style": i, "fg_style": j, "mask_threshold": unit.mask_threshold,
                                             "format": unit.ext},
            "fg_ratio": ratio, "seed": unit.seed, "tool_version": __version__, "unit": unit.key,
            "synthetic": int(synthetic), "view": unit.key, "fg": fg_id, "bg_style": i, "fg_style": j,
            "bg_style_name": style_by_id(i).name, "fg_style_name": style_by_id(j).name, "gt_style": i,
            "soft_label": format_soft_label(i, j, ratio), "category": category,
        })
    return record


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class RenderedSummary:
    """The run's summary plus the label file and the counts of complete and partial views.
    """
    run: RunSummary
    labels: Path
    views_complete: int = 0
    views_partial: int = 0
    renders_missing: int = 0
    soft_masks: int = 0
    sample: str | None = None

    def lines(self) -> list[str]:
        """The summary the command prints.

        Returns
        -------
        list of str
            The run's lines, then views complete / partial, soft masks, the label file and the sample note.
        """
        out = self.run.lines()
        out.append(f"views: {self.views_complete} with all {N_STYLES} styles, {self.views_partial} with some styles "
                   f"missing ({self.renders_missing} renders missing in all; the present styles were used)")
        if self.soft_masks:
            out.append(f"masks with values other than 0/255: {self.soft_masks} (only pixels equal to 255 were used "
                       "as foreground, as RdHarmony reads masks)")
        out.append(f"labels: {self.labels}")
        if self.sample:
            out.append(self.sample)
        return out


def write_labels(root: Path, rows: Sequence[dict]) -> Path:
    """``labels.txt`` at the dataset root (paths relative to it), sorted by composite name.

    ``rows[i]["composite"]`` may be a bare name or ``composite_images/<name>`` (the manifest's form).

    Parameters
    ----------
    root : pathlib.Path
        The dataset root.
    rows : sequence of dict
        Manifest rows with ``composite``, ``soft_label`` and ``gt_style``.

    Returns
    -------
    pathlib.Path
        ``root / "labels.txt"``.

    References
    ----------
    .. [1] Cao et al., "Deep Image Harmonization by Bridging the Reality Gap" (RdHarmony), BMVC 2022:
       the label file's three fields.
    """
    named = sorted(((Path(r["composite"]).name, r) for r in rows), key=lambda nr: nr[0])
    lines = [f"{SUBSET}/{COMPOSITE_DIR}/{n}\t{r['soft_label']}\t{int(r['gt_style'])}\n" for n, r in named]
    path = root / LABEL_FILE
    hio.atomic_write_text(path, "".join(lines))
    return path


class RenderedGenerator(Generator):
    """``HRendered`` from renders of views in several styles (the steps of :func:`generate_rendered`).

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root (``labels.txt`` is written there).
    scenes : str or os.PathLike or None
        Folder of view folders; None: the built-in sample set.
    settings : dict
        The keyword arguments of :func:`generate_rendered` that shape the composites.
    progress : bool
        Show progress while the sample set is built.
    """

    subset = SUBSET
    command = "datagen rendered"
    work = staticmethod(work)

    def __init__(self, out: str | os.PathLike, scenes: str | os.PathLike | None, settings: dict[str, Any],
                 progress: bool):
        self.out, self.scenes, self.settings, self.progress = out, scenes, settings, progress

    def resolve(self) -> Inputs:
        """The scenes folder (building the sample set when none is given), with the options checked.

        Returns
        -------
        Inputs
            ``data``: the scenes folder, whether it is synthetic, the image extension and the sample note.

        Raises
        ------
        InputError
            A format other than jpg/png, ``pairs_per_view < 1``, a mask threshold outside 1-255 or a test
            fraction outside 0-1.
        """
        settings = self.settings
        scenes, synthetic, sample_note = self.scenes, False, None
        if scenes is None:
            scenes, synthetic = build_sample_scenes(settings["sample"], progress=self.progress)
            sample_note = (f"sample set: {scenes} ("
                           + ("synthetic: bundled photographs with per-style global illumination changes"
                              if synthetic else "rendered with Mitsuba 3") + ")")
        image_format = settings["image_format"]
        ext = "." + str(image_format).lower().lstrip(".").replace("jpeg", "jpg")
        if ext not in (".jpg", ".png"):
            raise InputError(f"--format {image_format}: expected jpg or png (png is lossless)")
        if settings["pairs_per_view"] is not None and settings["pairs_per_view"] < 1:
            raise InputError(f"--pairs-per-view {settings['pairs_per_view']}: expected at least 1")
        if not 1 <= int(settings["mask_threshold"]) <= 255:
            raise InputError(f"--mask-threshold {settings['mask_threshold']}: expected 1-255 (RdHarmony: 255)")
        if not 0.0 <= settings["test_fraction"] <= 1.0:
            raise InputError(f"--test-fraction {settings['test_fraction']}: expected 0-1")
        return Inputs({"scenes": scenes, "synthetic": synthetic, "ext": ext, "sample_note": sample_note},
                      {"scenes": str(Path(scenes).resolve())})

    def plan(self, inputs: Inputs) -> Plan:
        """One unit per view folder (:func:`plan_units`).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            The units (no skipped inputs or notes at this stage).
        """
        settings = self.settings
        return Plan(plan_units(inputs.data["scenes"], seed=settings["seed"],
                               pairs_per_view=settings["pairs_per_view"], ext=inputs.data["ext"],
                               quality=settings["quality"], category=settings["category"],
                               test_fraction=settings["test_fraction"], mask_threshold=settings["mask_threshold"],
                               synthetic=inputs.data["synthetic"]))

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The scenes folder and the options (recorded in ``run.json``).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        dict
            JSON-serialisable configuration.
        """
        settings = self.settings
        return {**inputs.config, "seed": int(settings["seed"]), "pairs_per_view": settings["pairs_per_view"],
                "format": inputs.data["ext"], "quality": int(settings["quality"]), "category": settings["category"],
                "test_fraction": float(settings["test_fraction"]), "mask_threshold": int(settings["mask_threshold"])}

    def run(self, writer: DatasetWriter, plan: Plan, *, workers: int | None, scheduler: Any, progress: bool
            ) -> RunSummary:
        """Run the view units (progress bar titled with the subset name).

        Parameters
        ----------
        writer : DatasetWriter
            The open subset.
        plan : Plan
            What :meth:`plan` returned.
        workers, scheduler, progress
            As in :func:`harmony.parallel.map_units`.

        Returns
        -------
        RunSummary
            Counts of the run.
        """
        return run_units(writer, plan.units, work, workers=workers, scheduler=scheduler, desc=SUBSET,
                         progress=progress)

    def summarise(self, summary: RunSummary, writer: DatasetWriter, inputs: Inputs, plan: Plan
                  ) -> RenderedSummary:
        """Write ``labels.txt`` and count complete and partial views.

        Parameters
        ----------
        summary : RunSummary
            What :meth:`run` returned.
        writer : DatasetWriter
            The finished subset (its unit records are read).
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        RenderedSummary
            The run's summary with the label file and the view counts.
        """
        records = writer.layout.unit_records()
        rows = [row for record in records for row in record.get("rows", [])]
        labels = write_labels(Path(self.out), rows)
        rendered = RenderedSummary(summary, labels, sample=inputs.data["sample_note"])
        for record in records:
            if "styles_present" not in record:
                continue
            n_missing = len(record.get("styles_missing", []))
            if n_missing:
                rendered.views_partial += 1
                rendered.renders_missing += n_missing
            else:
                rendered.views_complete += 1
            rendered.soft_masks += int(record.get("soft_masks", 0))
        return rendered


def generate_rendered(out: str | os.PathLike, scenes: str | os.PathLike | None = None, *, seed: int = 0,
                      pairs_per_view: int | None = None, image_format: str = "jpg", quality: int = 95,
                      category: str | None = None, test_fraction: float = 0.2, mask_threshold: int = 255,
                      sample: str = "auto", workers: int | None = None, scheduler: Any = None,
                      overwrite: bool = False, progress: bool = True) -> RenderedSummary:
    """Build ``<out>/HRendered`` and ``<out>/labels.txt`` from renders of views in several styles.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    scenes : str or os.PathLike or None
        Folder of view folders, each with ``<Style>.png`` renders and ``mask.png`` (or ``mask_<fg>.png``),
        the layout ``harmony render`` writes; None: the built-in sample set.
    seed : int
        Seed of the drawn combinations (with ``pairs_per_view``).
    pairs_per_view : int or None
        Draw this many (object, background style, foreground style) combinations per view; None: every
        ordered pair of different styles.
    image_format : {"jpg", "png"}
        Composite and real-image format (png is lossless).
    quality : int
        JPEG quality, 1-100.
    category : str or None
        Foreground category for the manifest (default: ``view.json``'s ``category``).
    test_fraction : float
        Share of views in the test split, 0-1 (hash of the view id).
    mask_threshold : int
        Mask level counted as foreground, 1-255 (RdHarmony: exactly 255).
    sample : {"auto", "mitsuba", "synthetic"}
        Without ``scenes``: the sample set rendered with Mitsuba 3 (auto: when installed) or made from
        bundled photographs.
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RenderedSummary
        The run's counts, the label file's path and the complete/partial view counts.

    Raises
    ------
    InputError
        Bad options, or two view folders with the same sanitised id.

    References
    ----------
    .. [1] Cao, Cong, Niu, Zhang and Zhang, "Deep Image Harmonization by Bridging the Reality Gap" (RdHarmony), BMVC 2022
       (rendered composites and the soft style labels ``r*onehot(j) + (1-r)*onehot(i)``).
    .. [2] Jakob et al., Mitsuba 3 renderer, 2022 (https://mitsuba.readthedocs.io).

    Examples
    --------
    >>> summary = generate_rendered("data/")       # doctest: +SKIP
    >>> summary.labels.name                        # doctest: +SKIP
    'labels.txt'
    """
    settings = {"seed": seed, "pairs_per_view": pairs_per_view, "image_format": image_format, "quality": quality,
                "category": category, "test_fraction": test_fraction, "mask_threshold": mask_threshold,
                "sample": sample}
    return generate(RenderedGenerator(out, scenes, settings, progress), out, workers=workers, scheduler=scheduler,
                    overwrite=overwrite, progress=progress)


GENERATORS.register(
    "rendered", generate_rendered,
    summary="Rendered views in 10 capture styles -> composites with RdHarmony soft style labels (HRendered).",
    paper="Cao et al., Deep Image Harmonization by Bridging the Reality Gap (RdHarmony / CharmNet), BMVC 2022",
    notes="I = M*O_j + (1-M)*B_i for every ordered style pair of a view; labels.txt in the RdHarmony format; "
          "masks read as exactly-255 = foreground. Renders come from `harmony render` (Mitsuba 3) or any folder "
          "of <Style>.png + mask.png; the built-in sample is rendered with Mitsuba when installed, else synthetic.",
    inputs=("scenes",),
    extra={"subset": SUBSET, "prefix": PREFIX},
)
