"""Real composites on inpainted backgrounds: SPRIH stream 2 (Wang et al., CVPR 2023, section 3.2, Eqs. 5-6).

From a set of photos with one foreground mask each (a COCO annotation file or a mask folder):

1. **Backgrounds** (one unit per source ``i``): dilate ``M_i`` by ``--dilate`` px (30 in the paper),
   inpaint that hole (:mod:`harmony.datagen.inpaint`: LaMa through simple-lama-inpainting, or OpenCV),
   keep the known background bit-exact, cache it on disk, and write ``backgrounds/<p><i>.jpg`` and the
   discriminator's "real" class ``F_i*M_i + inpaint(B_i)*(1-M_i)`` (Eq. 6) as ``real_class/<p><i>.jpg``
   with its mask ``real_class/<p><i>.png``. Next to the cached background it caches the source's
   foreground window (the pixels around the foreground's bounding box plus its binary mask,
   ``<key>.fgwin.npy``), so pairs never decode a foreground's whole file again.
2. **Pairs** (one unit per ordered pair ``(i, j)``, ``--pairs N`` drawn without repeats): foreground
   ``j`` is scaled/rotated/translated by the bounded grid search of :mod:`harmony.datagen.placement` to be
   maximally contained in the bounding box of foreground ``i``, and pasted:
   ``C_ij = F_j*M_j' + inpaint(B_i)*(1-M_j')`` (Eq. 5).

Layout (subset ``HRealComposite``, prefix ``r``, no ``real_images/``): with source names
``<imageId>-<fgId>``::

    composite_images/r<imgI>-<fgI>_<imgJ>-<fgJ>_1.jpg   C_ij
    masks/r<imgI>-<fgI>_<imgJ>-<fgJ>.png                M_j' (binary)
    backgrounds/r<imgI>-<fgI>.jpg                       inpaint(B_i)
    real_class/r<imgI>-<fgI>.jpg  (+ .png mask M_i)     Eq. (6)

The iHarmony4 string rule maps a composite to ``r<imgI>-<fgI>.jpg``, the name of its background and of
its real-class image. ``manifest.csv`` adds the columns ``background``, ``real_class``,
``real_class_mask``, ``inpainter``, ``dilate``, ``transform`` (scale, angle, offset, containment, 2x3
matrix from foreground-source pixels to background pixels), ``containment``, categories and ids of
both sides, and ``bg_cache`` (hit/miss).

References
----------
.. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023.
.. [2] Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions" (LaMa),
   WACV 2022; run through the simple-lama-inpainting package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .. import io as hio
from ..dataset import SUBSETS, DatasetWriter, SubsetLayout, safe_id, split_for
from ..errors import InputError, ItemError
from ..imageops import bbox, fg_ratio
from ..parallel import unit_rng
from ..registry import GENERATORS, Card
from . import inpaint as ip
from .placement import PlacementGrid, paste_foreground, place, place_binary
from .runner import Generator, Inputs, Plan, empty_split_lines, run_units, skipped_lines
from .runner import generate as run_generator

SUBSET = "HRealComposite"
PREFIX = SUBSETS[SUBSET]
EXTRA_DIRS = ("backgrounds", "real_class")
EXTRA_COLUMNS = ("background", "real_class", "real_class_mask", "inpainter", "dilate", "transform",
                 "containment", "scale", "angle", "background_category", "foreground_category",
                 "background_image", "foreground_image", "bg_cache")


# --- sources -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One photo with one foreground: the image file and either a mask file or a COCO segmentation."""

    image_id: str
    fg_id: str
    image: str
    category: str = ""
    mask_path: str | None = None
    segmentation: Any = None          # COCO polygon list or RLE dict
    coco_size: tuple[int, int] | None = None  # (height, width) of the COCO image record

    @property
    def name(self) -> str:
        """``<imageId>-<fgId>``: the source's name in file names and unit keys.
        """
        return f"{self.image_id}-{self.fg_id}"


def load_source_mask(src: Source, shape: tuple[int, int]) -> np.ndarray:
    """The source's binary mask as float32 (H, W), checked against the image shape.

    Parameters
    ----------
    src : Source
        The source (mask file or COCO segmentation).
    shape : tuple of int
        The image's ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        float32 (H, W) of 0 and 1 (``> 0.5`` of the soft mask).

    Raises
    ------
    ItemError
        A bad segmentation, or a mask whose size differs from the image.
    """
    if src.mask_path is not None:
        m = hio.read_mask(src.mask_path)
    else:
        from .coco import decode_segmentation

        h, w = src.coco_size or shape
        try:
            m = decode_segmentation(src.segmentation, h, w).astype(np.float32)
        except InputError as exc:
            raise ItemError("bad segmentation", str(exc)) from None
        except Exception as exc:
            raise ItemError("bad segmentation", f"{exc.__class__.__name__}: {exc}") from None
    if m.shape != tuple(shape):
        raise ItemError("mask size differs from image",
                        f"mask {m.shape[1]}x{m.shape[0]} vs image {shape[1]}x{shape[0]}")
    return (m > 0.5).astype(np.float32)


def sources_from_coco(images: str | os.PathLike, annotations: str | os.PathLike, *,
                      min_fg_ratio: float = 0.01, max_fg_ratio: float = 0.8,
                      categories: Sequence[str] | None = None) -> tuple[list[Source], list[tuple[str, str]]]:
    """One source per image: its largest non-crowd instance with a foreground ratio in range.

    Returns (sources, skipped) where ``skipped`` lists (image, reason) for images left out.

    Parameters
    ----------
    images : str or os.PathLike
        Folder of the images named by ``file_name``.
    annotations : str or os.PathLike
        COCO instances JSON.
    min_fg_ratio, max_fg_ratio : float
        Bounds on the instance's ``area`` / image area.
    categories : sequence of str or None
        Category names to keep (None: all).

    Returns
    -------
    sources : list of Source
        Sorted by image id.
    skipped : list of (str, str)
        (image, reason) of images without a usable instance.

    Raises
    ------
    InputError
        A missing folder, or an annotation file that is not COCO instances JSON.
    """
    from .coco import load_annotations  # validated COCO instances JSON (one-line InputError otherwise)

    if not Path(images).is_dir():
        raise InputError(f"{images}: image folder not found")
    data = load_annotations(annotations)
    cat_names = {c["id"]: str(c.get("name", c["id"])) for c in data["categories"]}
    anns_of: dict[Any, list[dict]] = {}
    for ann in data["annotations"]:
        anns_of.setdefault(ann["image_id"], []).append(ann)
    wanted = set(categories) if categories else None
    out: list[Source] = []
    skipped: list[tuple[str, str]] = []
    for rec in sorted(data["images"], key=lambda r: (str(type(r["id"])), r["id"])):
        img_id = rec["id"]
        h, w = int(rec["height"]), int(rec["width"])
        best = None
        for ann in anns_of.get(img_id, []):
            if ann.get("iscrowd", 0):
                continue
            name = cat_names.get(ann.get("category_id"), "")
            if wanted is not None and name not in wanted:
                continue
            area = float(ann.get("area") or 0.0)
            ratio = area / float(h * w)
            if not (min_fg_ratio <= ratio <= max_fg_ratio):
                continue
            if best is None or area > float(best.get("area") or 0.0):
                best = ann
        fname = rec.get("file_name", "")
        if best is None:
            skipped.append((fname or str(img_id), "no non-crowd instance with a foreground ratio in "
                            f"[{min_fg_ratio}, {max_fg_ratio}]"))
            continue
        out.append(Source(safe_id(img_id), safe_id(best["id"]), str(Path(images) / fname),
                          cat_names.get(best.get("category_id"), ""), None, best.get("segmentation"),
                          (h, w)))
    return out, skipped


def sources_from_folder(images: str | os.PathLike, masks: str | os.PathLike
                        ) -> tuple[list[Source], list[tuple[str, str]]]:
    """Masks named ``<stem>_<fg>.png`` in ``masks`` for images ``<stem>.<ext>`` in ``images``.

    The last underscore separates the image stem from the foreground id. An optional
    ``<masks>/categories.csv`` (header ``mask,category``) gives each mask file a category.

    Parameters
    ----------
    images : str or os.PathLike
        Folder of ``<stem>.<ext>`` photos.
    masks : str or os.PathLike
        Folder of ``<stem>_<fg>.png`` masks (optional ``categories.csv``).

    Returns
    -------
    sources : list of Source
        One per mask with an image.
    skipped : list of (str, str)
        Masks with another name or without an image.

    Raises
    ------
    InputError
        A missing folder, a ``categories.csv`` without the columns, or two masks with the same name once
        sanitised.
    """
    img_dir, mask_dir = Path(images), Path(masks)
    if not img_dir.is_dir():
        raise InputError(f"{img_dir}: image folder not found")
    if not mask_dir.is_dir():
        raise InputError(f"{mask_dir}: mask folder not found")
    by_stem: dict[str, Path] = {}
    for p in hio.list_images(img_dir):
        by_stem.setdefault(p.stem, p)
    cats: dict[str, str] = {}
    cat_file = mask_dir / "categories.csv"
    if cat_file.is_file():
        import csv

        with open(cat_file, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"mask", "category"} <= set(reader.fieldnames):
                raise InputError(f"{cat_file}: expected a header with the columns mask,category")
            for row in reader:
                cats[row["mask"]] = row["category"]
    out: list[Source] = []
    skipped: list[tuple[str, str]] = []
    for mp in hio.list_images(mask_dir):
        stem, sep, fg = mp.stem.rpartition("_")
        if not sep or not stem or not fg:
            skipped.append((mp.name, "mask name is not <image stem>_<fg id>.png"))
            continue
        img = by_stem.get(stem)
        if img is None:
            skipped.append((mp.name, f"no image {stem}.* in {img_dir}"))
            continue
        out.append(Source(safe_id(stem), safe_id(fg), str(img), cats.get(mp.name, ""), str(mp)))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise InputError(f"{mask_dir}: two masks map to the same source name {dup!r} (ids are made file-name "
                         "safe by replacing _ and path characters with -); rename one")
    return out, skipped


# --- units ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackgroundUnit:
    """One source whose background is inpainted (picklable work unit).
    """
    key: str
    source: Source
    dilate: int
    inpainter: str
    cache: str
    device: str
    lama_model: str | None


@dataclass(frozen=True)
class PairUnit:
    """One ordered pair: foreground ``fg`` pasted on the inpainted background of ``bg`` (picklable work unit).
    """
    key: str
    bg: Source
    fg: Source
    bg_cache_key: str
    box: tuple[int, int, int, int]
    fg_mask_rle: dict
    dilate: int
    inpainter: str
    cache: str
    device: str
    lama_model: str | None
    grid: PlacementGrid
    min_containment: float
    split: str
    seed: int
    # (cache key, y, x, H, W): the foreground's cached window (see _FG_PAD) and its source's size; None:
    # decode the foreground's file instead (records written before the window existed, or a cleared cache).
    fg_crop: tuple | None = None


# The background pass caches, next to each background, a window of the source around its foreground's
# bounding box (padded by _FG_PAD px, clipped to the image): an (h, 4 w) uint8 array whose rows are the
# window's RGB row followed by its binary mask row (0/255). Pairs then read that small window instead of
# decoding the foreground's whole file. The padding covers every source pixel that the bilinear warp of a
# foreground pixel can sample (within 2 px, see placement.paste_into), so composites are bit-identical to
# warping the whole decoded image.
_FG_PAD = 4


def _fg_path(cache_dir: str, key: str) -> str:
    """Next to ``BackgroundCache(cache_dir).path(key)`` (``<key[:2]>/<key>.npy``): ``<key>.fgwin.npy``."""
    return os.path.join(cache_dir, key[:2], f"{key}.fgwin.npy")


def _save_fg_window(cache_dir: str, key: str, image_u8: np.ndarray, mask: np.ndarray) -> list | None:
    """Cache the foreground window (comment above); returns [key, y, x, H, W] for the pair units, or None
    when it cannot be written (a read-only cache: pairs then decode the foreground's file)."""
    import cv2

    binary = np.where(mask > 0.5, np.uint8(255), np.uint8(0))
    x, y, w, h = cv2.boundingRect(binary)
    H, W = binary.shape
    ya, xa = max(0, y - _FG_PAD), max(0, x - _FG_PAD)
    yb, xb = min(H, y + h + _FG_PAD), min(W, x + w + _FG_PAD)
    w = xb - xa  # one (h, 4 w) array: each row is the window's RGB row, then its mask row (plain row copies)
    win = np.empty((yb - ya, 4 * w), np.uint8)
    win[:, :3 * w] = image_u8[ya:yb, xa:xb].reshape(yb - ya, 3 * w)
    win[:, 3 * w:] = binary[ya:yb, xa:xb]
    p = _fg_path(cache_dir, key)
    if not os.path.isfile(p):  # same key, same file bytes and mask: an existing window is this one
        import io as _pyio

        buf = _pyio.BytesIO()
        np.save(buf, win, allow_pickle=False)
        try:
            hio.atomic_write_bytes(p, buf.getvalue())
        except OSError:
            return None
    return [key, ya, xa, H, W]


def _load_fg_window(unit: PairUnit) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """(source-sized RGB canvas holding the window, window's uint8 0/255 mask, origin (y, x)) or None."""
    key, ya, xa, H, W = unit.fg_crop
    try:
        win = np.load(_fg_path(unit.cache, key), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if win.dtype != np.uint8 or win.ndim != 2 or win.shape[1] % 4 or ya + win.shape[0] > H \
            or xa + win.shape[1] // 4 > W:
        return None
    h, w = win.shape[0], win.shape[1] // 4
    # Zeros elsewhere never reach the composite (placement.paste_into); calloc'd pages are never touched.
    canvas = np.zeros((H, W, 3), np.uint8)
    canvas[ya:ya + h, xa:xa + w] = win[:, :3 * w].reshape(h, w, 3)
    return canvas, np.ascontiguousarray(win[:, 3 * w:]), (ya, xa)


def _file_name(src_bg: Source, src_fg: Source | None = None, ext: str = ".jpg") -> str:
    if src_fg is None:
        return f"{PREFIX}{src_bg.name}{ext}"
    return f"{PREFIX}{src_bg.name}_{src_fg.name}"


def _read_source(src: Source, u8: list | None = None) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(float image, mask, file bytes); the file is read and decoded once (exactly as hio.read_image and,
    appended to ``u8`` when given, hio.read_image_uint8 would)."""
    data, image, arr = hio.read_image_full(src.image)
    if u8 is not None:
        u8.append(arr)
    mask = load_source_mask(src, image.shape[:2])
    return image, mask, data


def _background(src: Source, dilate: int, inpainter: str, cache_dir: str, device: str, lama_model: str | None,
                u8: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, bool]:
    """(image, mask, inpainted background, cache key, cache hit) of a source; ItemError for bad input."""
    with ip.lama_model_env(lama_model):
        image, mask, data = _read_source(src, u8)
        if not (mask > 0.5).any():
            raise ItemError("empty mask", src.name)
        hole = ip.hole_mask(mask, dilate)
        if (hole > 0.5).all():
            raise ItemError("dilated mask covers the whole image", f"{src.name} (nothing left to inpaint from)")
        cache = ip.BackgroundCache(cache_dir)
        key = cache.key(data, mask, dilate, inpainter)
        bg, hit = cache.get_or_compute(key, lambda: ip.inpaint(image, hole, inpainter, device=device))
        if bg.shape != image.shape:  # a cache entry from another file with the same key cannot happen; be safe
            bg = ip.inpaint(image, hole, inpainter, device=device)
            cache.put(key, bg)
            hit = False
        return image, mask, bg, key, hit


def work_background(unit: BackgroundUnit, layout: SubsetLayout) -> dict:
    """Inpaint (or fetch from the cache) one source's background; write it and its real-class image.

    Parameters
    ----------
    unit : BackgroundUnit
        The source, dilation, inpainter and cache folder.
    layout : SubsetLayout
        Where ``backgrounds/`` and ``real_class/`` are written.

    Returns
    -------
    dict
        The unit record: ``source_ok``, ``cache_key``, ``cache_hit``, the foreground's ``box``,
        ``mask_rle`` and ``fg_crop`` (what pair units need), or ``skipped`` with the reason.
    """
    src = unit.source
    u8: list = []
    try:
        image, mask, bg, key, hit = _background(src, unit.dilate, unit.inpainter, unit.cache, unit.device,
                                                unit.lama_model, u8)
    except (InputError, ItemError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return {"rows": [], "skipped": [{"item": src.image if src.mask_path is None else src.mask_path,
                                         "reason": _short_reason(reason)}], "source_ok": False}
    name = _file_name(src)
    layout.write_extra("backgrounds", name, bg)
    layout.write_extra("real_class", name, ip.real_class(image, mask, bg))
    hio.write_mask(layout.extra_path("real_class", name[:-4] + ".png"), mask > 0.5)
    box = bbox(mask)
    return {"rows": [], "source_ok": True, "source": asdict(src), "cache_key": key, "cache_hit": hit,
            "box": list(box), "shape": list(image.shape[:2]), "fg_ratio": fg_ratio(mask),
            "mask_rle": encode_mask(mask), "fg_crop": _save_fg_window(unit.cache, key, u8[0], mask)}


def encode_mask(mask: np.ndarray) -> dict:
    """A binary mask as compressed COCO RLE (``{"size": [h, w], "counts": str}``), small enough to travel
    with every pair unit so that pairs do not decode the foreground's mask file again.

    Parameters
    ----------
    mask : numpy.ndarray
        (H, W), foreground where ``> 0.5``.

    Returns
    -------
    dict
        ``{"size": [h, w], "counts": str}`` (pycocotools RLE, counts as ASCII).
    """
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray((mask > 0.5).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_mask(rle: dict) -> np.ndarray:
    """The binary mask of an RLE made by :func:`encode_mask`.

    Parameters
    ----------
    rle : dict
        ``{"size": [h, w], "counts": str}``.

    Returns
    -------
    numpy.ndarray
        uint8 (h, w) of 0 and 1.
    """
    from pycocotools import mask as mask_utils

    m = mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")})
    return m.astype(np.float32)


def _short_reason(reason: str) -> str:
    """Group reasons in the summary: drop the file-specific detail after the first ': ' of file errors."""
    text = str(reason).splitlines()[0]
    for marker in ("file not found", "corrupt", "truncated", "unreadable"):
        if marker in text:
            return text.split(": ", 1)[-1] if ": " in text else text
    return text


def work_pair(unit: PairUnit, layout: SubsetLayout) -> dict:
    """Place foreground j on inpaint(B_i) and write C_ij and M_j' (Eq. 5).

    Parameters
    ----------
    unit : PairUnit
        The pair, its background's cache key and the placement grid.
    layout : SubsetLayout
        Where the composite and its mask are written.

    Returns
    -------
    dict
        The unit record: one manifest row (with the transform and containment), or ``skipped`` with the
        reason (e.g. the foreground does not fit the target box).
    """
    item = f"{unit.bg.name} <- {unit.fg.name}"
    try:
        with ip.lama_model_env(unit.lama_model):
            cache = ip.BackgroundCache(unit.cache)
            # uint8 end to end (cache -> paste -> JPEG): exact, and no float round trips per pair.
            bg = cache.get_uint8(unit.bg_cache_key)
            hit = bg is not None
            if bg is None:  # the cache was cleared since the background pass: recompute (and re-cache)
                _img, _m, bgf, _key, hit = _background(unit.bg, unit.dilate, unit.inpainter, unit.cache,
                                                       unit.device, unit.lama_model)
                bg = hio.to_uint8(bgf)
        window = _load_fg_window(unit) if unit.fg_crop is not None else None
        if window is None:  # no cached window: decode the foreground's file
            image_j = hio.read_image_uint8(unit.fg.image)
            mask_j = decode_mask(unit.fg_mask_rle)
            if mask_j.shape != image_j.shape[:2]:  # the file changed since the background pass
                mask_j = load_source_mask(unit.fg, image_j.shape[:2])
    except (InputError, ItemError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return {"rows": [], "skipped": [{"item": item, "reason": _short_reason(reason)}]}
    if window is not None:
        image_j, binary_j, origin = window
        if not binary_j.any():
            return {"rows": [], "skipped": [{"item": item, "reason": "empty mask"}]}
        p = place_binary(binary_j, unit.box, bg.shape[:2], grid=unit.grid, origin=origin)
    else:
        if not (mask_j > 0.5).any():
            return {"rows": [], "skipped": [{"item": item, "reason": "empty mask"}]}
        p = place(mask_j, unit.box, bg.shape[:2], grid=unit.grid)
    if p is None:
        return {"rows": [], "skipped": [{"item": item, "reason": "foreground does not fit the background image "
                                         f"at any scale >= {unit.grid.min_scale}"}]}
    if p.containment < unit.min_containment:
        return {"rows": [], "skipped": [{"item": item, "reason": "foreground larger than the target box "
                                         f"(containment < {unit.min_containment} down to scale "
                                         f"{unit.grid.min_scale})"}]}
    comp = bg  # our own copy (fresh from the cache): paste in place
    paste_foreground(comp, image_j, p)
    # M_j' as 0/255 uint8 straight away (what layout.write_mask writes for a bool mask).
    (oy, ox), (eh, ew) = p.offset, p.size
    mask = np.zeros(comp.shape[:2], np.uint8)
    np.multiply(p.mask_crop, np.uint8(255), out=mask[oy:oy + eh, ox:ox + ew], dtype=np.uint8)
    base = _file_name(unit.bg, unit.fg)
    cname, mname = f"{base}_1.jpg", f"{base}.png"
    layout.write_composite(cname, comp)
    hio.write_mask(layout.mask_path(mname), mask)  # = layout.write_mask: 0/255
    bg_name = _file_name(unit.bg)
    row = {
        "composite": cname, "mask": f"masks/{mname}", "real": "", "subset": layout.subset, "split": unit.split,
        "source_image_id": unit.bg.image_id, "source_annotation_id": unit.bg.fg_id,
        "reference_image_id": unit.fg.image_id, "reference_annotation_id": unit.fg.fg_id,
        "method": "real-composite", "params": {"dilate": unit.dilate, "inpainter": unit.inpainter,
                                               "grid": asdict(unit.grid), "min_containment": unit.min_containment},
        "fg_ratio": float(p.mask_crop.sum()) / float(mask.size), "seed": unit.seed, "tool_version": __version__, "unit": unit.key,
        "synthetic": 0,
        "background": f"backgrounds/{bg_name}", "real_class": f"real_class/{bg_name}",
        "real_class_mask": f"real_class/{bg_name[:-4]}.png", "inpainter": unit.inpainter, "dilate": unit.dilate,
        "transform": json.dumps(p.transform(), sort_keys=True, separators=(",", ":")),
        "containment": p.containment, "scale": p.scale, "angle": p.angle,
        "background_category": unit.bg.category, "foreground_category": unit.fg.category,
        "background_image": unit.bg.image, "foreground_image": unit.fg.image, "bg_cache": "hit" if hit else "miss",
    }
    return {"rows": [row]}


# --- pairs ---------------------------------------------------------------------------------------------

def sample_pairs(groups: dict[Any, list[int]], image_of: Sequence[str], n: int, rng: np.random.Generator
                 ) -> tuple[list[tuple[int, int]], int]:
    """``n`` distinct ordered pairs (i, j), i and j in the same group and from different images.

    Returns (pairs, number of candidates, or -1 when too many to count exactly). Small candidate sets are
    enumerated and shuffled; large ones are sampled by rejection (group chosen in proportion to its
    number of ordered pairs), never repeating a pair.

    Parameters
    ----------
    groups : dict
        Group key (split, category) -> indices of the sources in it.
    image_of : sequence of str
        The image of each source (pairs from the same image are excluded).
    n : int
        Pairs wanted.
    rng : numpy.random.Generator
        The seeded generator.

    Returns
    -------
    pairs : list of (int, int)
        Distinct ordered pairs (background i, foreground j).
    candidates : int
        Number of candidate pairs, or -1 when too many to count exactly.
    """
    sizes = {g: len(v) for g, v in groups.items()}
    approx = sum(s * (s - 1) for s in sizes.values())
    if approx <= 2_000_000:
        cands = [(i, j) for g in sorted(groups, key=str) for i in groups[g] for j in groups[g]
                 if i != j and image_of[i] != image_of[j]]
        order = rng.permutation(len(cands))
        return [cands[k] for k in order[:n]], len(cands)
    keys = [g for g in sorted(groups, key=str) if sizes[g] > 1]
    weights = np.array([sizes[g] * (sizes[g] - 1) for g in keys], float)
    weights /= weights.sum()
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    tries = 0
    while len(out) < n and tries < 50 * n + 1000:
        tries += 1
        g = keys[int(rng.choice(len(keys), p=weights))]
        members = groups[g]
        i, j = members[int(rng.integers(len(members)))], members[int(rng.integers(len(members)))]
        if i == j or image_of[i] == image_of[j] or (i, j) in seen:
            continue
        seen.add((i, j))
        out.append((i, j))
    return out, -1


# --- the generator ---------------------------------------------------------------------------------------

@dataclass
class RealSummary:
    """Counts of the two passes of ``datagen real``, printed through :meth:`lines`.
    """
    out: str
    inpainter: str
    inpainter_note: str
    sources: int = 0
    sources_ok: int = 0
    inpainted_now: int = 0
    from_cache: int = 0
    pairs_requested: int = 0
    pairs_candidates: int = 0
    pairs_sampled: int = 0
    composites: int = 0
    train: int = 0
    test: int = 0
    seconds_backgrounds: float = 0.0
    seconds_pairs: float = 0.0
    resumed_units: int = 0
    failed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary the command prints.

        Returns
        -------
        list of str
            Composites per split, the inpainter, backgrounds ready / inpainted / cached, pairs sampled,
            resumed units, skipped items, failures, notes and the empty-split warning.
        """
        out = [f"{SUBSET}: {self.composites} composites ({self.train} train / {self.test} test) in {self.out}",
               f"inpainter: {self.inpainter} ({self.inpainter_note})",
               f"backgrounds: {self.sources_ok} of {self.sources} sources ready; inpainted now {self.inpainted_now}, "
               f"from cache {self.from_cache} ({self.seconds_backgrounds:.1f} s)",
               f"pairs: {self.pairs_sampled} sampled of {self.pairs_requested} requested "
               f"({self.pairs_candidates if self.pairs_candidates >= 0 else 'many'} candidates); "
               f"composites written in {self.seconds_pairs:.1f} s"]
        if self.resumed_units:
            out.append(f"resumed: {self.resumed_units} units were already done")
        if self.skipped:
            out += skipped_lines(self.skipped, "skipped")
        for key, err in self.failed[:20]:
            out.append(f"  FAILED {key}: {err}")
        out += self.notes
        out += empty_split_lines(SUBSET, self.train, self.test)
        return out


@dataclass(frozen=True)
class RealSettings:
    """The options of :func:`generate` that shape the composites (see its parameters)."""

    dilate: int = 30
    inpainter: str = "auto"
    pairs: int | None = None
    same_category: bool = False
    seed: int = 0
    min_scale: float = 0.25
    max_scale: float = 1.0
    max_angle: float = 15.0
    min_containment: float = 0.8
    test_fraction: float = 0.1
    min_fg_ratio: float = 0.01
    max_fg_ratio: float = 0.8
    categories: tuple[str, ...] | None = None
    cache: str | None = None
    device: str = "cpu"

    def check(self) -> None:
        """Refuse out-of-range values with one line naming the flag.

        Raises
        ------
        InputError
            ``dilate < 0``, ``pairs < 0``, ``min_containment`` outside [0, 1], or not
            ``0 < min_scale <= max_scale``.
        """
        if self.dilate < 0:
            raise InputError(f"--dilate {self.dilate}: expected >= 0 pixels")
        if self.pairs is not None and self.pairs < 0:
            raise InputError(f"--pairs {self.pairs}: expected >= 0")
        if not (0.0 <= self.min_containment <= 1.0):
            raise InputError(f"--min-containment {self.min_containment}: expected a value in [0, 1]")
        if not (0 < self.min_scale <= self.max_scale):
            raise InputError(f"--min-scale {self.min_scale} / --max-scale {self.max_scale}: expected 0 < min <= max")


def _resolve_inpainter(inpainter: str, device: str) -> tuple[str, str | None, str]:
    """(inpainter that really runs, LaMa model path or None, the summary's note); LaMa is loaded once here
    so that a bad model fails before any work."""
    resolved = ip.resolve_inpainter(inpainter)
    if resolved == "lama":
        lama_model = os.path.abspath(os.environ["LAMA_MODEL"])
        ip.load_lama(lama_model, device=device)
        return resolved, lama_model, f"LAMA_MODEL={lama_model}" + (", chosen by auto" if inpainter == "auto" else "")
    if inpainter == "auto":
        return resolved, None, "auto: LAMA_MODEL is not set to a file, so the OpenCV fallback ran"
    return resolved, None, "cv2.inpaint, as asked"


class RealGenerator(Generator):
    """``HRealComposite``: real composites on inpainted backgrounds (the steps of :func:`generate`).

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    images, annotations, masks : str or os.PathLike or None
        Source photos with a COCO instances JSON or a mask folder; all None: the embedded sample data.
    settings : RealSettings
        Dilation, inpainter, pairs, placement grid, split and the rest.
    """

    subset = SUBSET
    command = "datagen real"
    extra_dirs = EXTRA_DIRS
    has_real = False

    def __init__(self, out: str | os.PathLike, images, annotations, masks, settings: RealSettings):
        self.out, self.images, self.annotations, self.masks = out, images, annotations, masks
        self.settings = settings

    def resolve(self) -> Inputs:
        """Check the options, load the inpainter once and pick the sources (the user's or the sample).

        Returns
        -------
        Inputs
            ``data``: images, annotations, masks, whether it is the sample, the inpainter that runs, its
            note and the LaMa model path.

        Raises
        ------
        InputError
            Bad options, an unusable inpainter, or an incomplete set of data arguments.
        """
        settings = self.settings
        settings.check()
        resolved, lama_model, note = _resolve_inpainter(settings.inpainter, settings.device)
        images, annotations, masks = self.images, self.annotations, self.masks
        sample = images is None and annotations is None and masks is None
        if sample:
            from .samples import coco_sample

            images, annotations = coco_sample()
        if images is None:
            raise InputError("--images is required with --annotations or --masks")
        if annotations is not None and masks is not None:
            raise InputError("give either --annotations (COCO) or --masks (mask folder), not both")
        if annotations is None and masks is None:
            raise InputError("--images needs --annotations (COCO instances JSON) or --masks (mask folder)")
        config = {
            "images": "<sample>" if sample else os.path.abspath(images),
            "annotations": "<sample>" if sample else (os.path.abspath(annotations) if annotations else None),
            "masks": os.path.abspath(masks) if masks else None,
        }
        return Inputs({"images": images, "annotations": annotations, "masks": masks, "inpainter": resolved,
                       "lama_model": lama_model, "inpainter_note": note}, config)

    def plan(self, inputs: Inputs) -> Plan:
        """The sources (image + foreground mask) and one background unit each.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Background units; ``skipped`` the sources left out; ``extra`` the sources and the inpainter.

        Raises
        ------
        InputError
            ``same_category`` without any category.
        """
        settings, data = self.settings, inputs.data
        categories = settings.categories
        if data["annotations"] is not None:
            sources, skipped = sources_from_coco(data["images"], data["annotations"], min_fg_ratio=settings.min_fg_ratio,
                                                 max_fg_ratio=settings.max_fg_ratio, categories=categories)
        else:
            sources, skipped = sources_from_folder(data["images"], data["masks"])
            if categories:
                sources = [s for s in sources if s.category in set(categories)]
        if settings.same_category and sources and all(not s.category for s in sources):
            raise InputError("--same-category needs categories: use --annotations, or a categories.csv "
                             "(mask,category) in the --masks folder")
        cache_dir = str(Path(settings.cache) if settings.cache else _default_cache())
        units = [BackgroundUnit(f"bg/{s.name}", s, int(settings.dilate), data["inpainter"], cache_dir,
                                settings.device, data["lama_model"]) for s in sources]
        return Plan(units, list(skipped), extra={"sources": sources, "cache_dir": cache_dir, **data})

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError:
        """No source with a usable foreground: one line naming the images folder.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            The empty plan.

        Returns
        -------
        InputError
            The error :func:`~harmony.datagen.runner.generate` raises.
        """
        return InputError(f"{inputs.data['images']}: no usable source (image + foreground mask) found")

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The sources' provenance, the inpainter (with the LaMa weights' SHA-256) and the options.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        dict
            JSON-serialisable configuration (recorded in ``run.json``).
        """
        settings, lama_model = self.settings, inputs.data["lama_model"]
        return {**inputs.config, "dilate": int(settings.dilate), "inpainter": inputs.data["inpainter"],
                "lama_sha256": ip.model_digest(lama_model) if lama_model else None,
                "pairs": settings.pairs, "same_category": bool(settings.same_category), "seed": int(settings.seed),
                "grid": asdict(self.grid()), "min_containment": float(settings.min_containment),
                "test_fraction": float(settings.test_fraction), "min_fg_ratio": float(settings.min_fg_ratio),
                "max_fg_ratio": float(settings.max_fg_ratio),
                "categories": sorted(settings.categories) if settings.categories else None}

    def grid(self) -> PlacementGrid:
        """The placement search's grid (scales, angles) from the settings.

        Returns
        -------
        PlacementGrid
            Scales in ``[min_scale, max_scale]``, angles ``-max_angle..max_angle``.
        """
        settings = self.settings
        return PlacementGrid(min_scale=settings.min_scale, max_scale=settings.max_scale, max_angle=settings.max_angle)

    def run(self, writer: DatasetWriter, plan: Plan, *, workers: int | None, scheduler: Any, progress: bool
            ) -> RealSummary:
        """Two passes: inpaint the backgrounds, then sample pairs and paste the foregrounds.

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
        RealSummary
            Counts of both passes (the manifest is finalised with the extra columns in a fixed order).
        """
        extra = plan.extra
        summary = RealSummary(str(writer.dir), extra["inpainter"], extra["inpainter_note"],
                              sources=len(extra["sources"]))
        summary.skipped += plan.skipped
        backgrounds = run_units(writer, plan.units, work_background, workers=workers, scheduler=scheduler,
                                desc="backgrounds", progress=progress)
        summary.seconds_backgrounds = backgrounds.seconds
        summary.resumed_units += backgrounds.units_resumed
        summary.failed += backgrounds.failed
        ready = _ready_sources(writer, plan.units, summary)
        pair_units = self._pair_units(ready, plan, summary)
        composites = run_units(writer, pair_units, work_pair, workers=workers, scheduler=scheduler,
                               desc="composites", progress=progress)
        summary.seconds_pairs = composites.seconds
        summary.resumed_units += composites.units_resumed
        summary.failed += composites.failed
        # finalize() does not know the extra columns' order: the manifest is rewritten with them in a fixed order.
        final = writer.finalize(extra_columns=EXTRA_COLUMNS)
        summary.composites, summary.train, summary.test = final.composites, final.train, final.test
        summary.skipped += list(final.skipped)
        return summary

    def _pair_units(self, ready: list[tuple[Source, dict]], plan: Plan, summary: RealSummary) -> list[PairUnit]:
        """Sample the pairs (same split, optionally the same category, different images) as units."""
        settings = self.settings
        requested = len(ready) if settings.pairs is None else int(settings.pairs)
        summary.pairs_requested = requested
        groups: dict[Any, list[int]] = {}
        splits = [split_for(source.image_id, settings.test_fraction) for source, _ in ready]
        for index, (source, _record) in enumerate(ready):
            groups.setdefault((splits[index], source.category if settings.same_category else None), []).append(index)
        chosen, candidates = sample_pairs(groups, [source.image for source, _ in ready], requested,
                                          unit_rng(settings.seed, "real:pairs"))
        summary.pairs_candidates = candidates
        summary.pairs_sampled = len(chosen)
        if len(chosen) < requested:
            summary.notes.append(f"note: only {len(chosen)} distinct pairs exist under the constraints (same split"
                                 + (", same category" if settings.same_category else "") + ", different images)")
        grid, extra = self.grid(), plan.extra
        units = []
        for i, j in sorted(chosen, key=lambda ij: (ready[ij[0]][0].name, ready[ij[1]][0].name)):
            (background, background_record), (foreground, foreground_record) = ready[i], ready[j]
            fg_crop = foreground_record.get("fg_crop")
            units.append(PairUnit(f"pair/{background.name}/{foreground.name}", background, foreground,
                                  background_record["cache_key"], tuple(background_record["box"]),
                                  foreground_record["mask_rle"], int(settings.dilate), extra["inpainter"],
                                  extra["cache_dir"], settings.device, extra["lama_model"], grid,
                                  float(settings.min_containment), splits[i], int(settings.seed),
                                  tuple(fg_crop) if fg_crop else None))
        return units

    def summarise(self, summary: RealSummary, writer: DatasetWriter, inputs: Inputs, plan: Plan) -> RealSummary:
        """The summary of both passes, as :meth:`run` made it.

        Parameters
        ----------
        summary : RealSummary
            What :meth:`run` returned.
        writer : DatasetWriter
            The finished subset.
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        RealSummary
            ``summary`` unchanged.
        """
        return summary


def _ready_sources(writer: DatasetWriter, units: list[BackgroundUnit], summary: RealSummary
                   ) -> list[tuple[Source, dict]]:
    """(source, background record) of every source whose background is ready; counts cache hits."""
    ready: list[tuple[Source, dict]] = []
    for unit in units:
        if not writer.layout.unit_done(unit.key):
            continue
        record = writer.layout.read_unit(unit.key)
        if record.get("source_ok"):
            ready.append((unit.source, record))
            if record.get("cache_hit"):
                summary.from_cache += 1
            else:
                summary.inpainted_now += 1
    summary.sources_ok = len(ready)
    return ready


def generate(out: str | os.PathLike, *, images: str | os.PathLike | None = None,
             annotations: str | os.PathLike | None = None, masks: str | os.PathLike | None = None,
             dilate: int = 30, inpainter: str = "auto", pairs: int | None = None, same_category: bool = False,
             seed: int = 0, min_scale: float = 0.25, max_scale: float = 1.0, max_angle: float = 15.0,
             min_containment: float = 0.8, test_fraction: float = 0.1, min_fg_ratio: float = 0.01,
             max_fg_ratio: float = 0.8, categories: Sequence[str] | None = None, cache: str | None = None,
             device: str = "cpu", workers: int | None = None, scheduler: Any = None, overwrite: bool = False,
             progress: bool = True) -> RealSummary:
    """Build ``<out>/HRealComposite``: foreground ``j`` pasted on the inpainted background of image ``i``.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    images : str or os.PathLike or None
        Source photos (COCO ``file_name``, or ``<stem>.<ext>`` for ``masks``). With neither ``images`` nor
        ``annotations``/``masks``, the embedded sample data is used.
    annotations : str or os.PathLike or None
        COCO instances JSON: per image its largest non-crowd instance in the fg-ratio bounds.
    masks : str or os.PathLike or None
        Mask folder ``<image stem>_<fg id>.png`` (optional ``categories.csv``: mask,category).
    dilate : int
        Pixels the foreground mask is dilated by before inpainting (SPRIH: 30).
    inpainter : {"auto", "lama", "opencv-telea", "opencv-ns"}
        LaMa via simple-lama-inpainting (weights from ``$LAMA_MODEL``, never downloaded) or OpenCV;
        ``auto``: LaMa when ``$LAMA_MODEL`` is a file.
    pairs : int or None
        Composites (ordered pairs, no repeats); None: one per source.
    same_category : bool
        Pair only foregrounds and backgrounds of the same category.
    seed : int
        Seed of the pair sampling.
    min_scale, max_scale, max_angle : float
        The placement grid: scales in ``[min_scale, max_scale]``, rotations ``-max_angle..max_angle`` degrees.
    min_containment : float
        Skip a pair when less of the placed foreground (0-1) fits the target box.
    test_fraction : float
        Share of background images in the test split, 0-1.
    min_fg_ratio, max_fg_ratio : float
        COCO: instance area / image area bounds.
    categories : sequence of str or None
        Categories to keep.
    cache : str or None
        Folder of cached inpainted backgrounds (default ``$HARMONY_CACHE/inpainted``).
    device : str
        Torch device for LaMa (``cpu``, ``cuda``, ``auto``).
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RealSummary
        Sources ready, backgrounds inpainted or cached, pairs sampled, composites, skipped items.

    Raises
    ------
    InputError
        Bad options, an incomplete set of data arguments, or no usable source.

    References
    ----------
    .. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023,
       section 3.2, Eqs. 5-6 (real composites and the discriminator's real class).
    .. [2] Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions" (LaMa),
       WACV 2022.

    Examples
    --------
    >>> summary = generate("data/", pairs=8)       # doctest: +SKIP
    >>> summary.lines()[0]                         # doctest: +SKIP
    'HRealComposite: 7 composites (6 train / 1 test) in data/HRealComposite'
    """
    settings = RealSettings(dilate=dilate, inpainter=inpainter, pairs=pairs, same_category=same_category, seed=seed,
                            min_scale=min_scale, max_scale=max_scale, max_angle=max_angle,
                            min_containment=min_containment, test_fraction=test_fraction,
                            min_fg_ratio=min_fg_ratio, max_fg_ratio=max_fg_ratio,
                            categories=tuple(categories) if categories is not None else None, cache=cache,
                            device=device)
    return run_generator(RealGenerator(out, images, annotations, masks, settings), out, workers=workers,
                         scheduler=scheduler, overwrite=overwrite, progress=progress)


def _default_cache() -> Path:
    from .samples import cache_dir

    return cache_dir() / "inpainted"


GENERATORS.register("real", generate, card=Card(
    name="real", kind="generator",
    summary="Real composites on LaMa/OpenCV-inpainted backgrounds (SPRIH stream 2, HRealComposite).",
    paper="Wang et al., Semi-supervised Parametric Real-world Image Harmonization (SPRIH), CVPR 2023, section 3.2, "
          "Eqs. 5-6; LaMa inpainting (Suvorov et al., WACV 2022)",
    inputs=("images", "annotations|masks"),
    notes="Inpainter: lama (simple-lama-inpainting, weights from LAMA_MODEL, never downloaded), opencv-telea, "
          "opencv-ns, auto. Placement: bounded grid search over scale, rotation, translation "
          "(harmony.datagen.placement). No ground truth: no real_images/.",
    extra={"subset": SUBSET, "prefix": PREFIX, "extra_dirs": list(EXTRA_DIRS)},
))
