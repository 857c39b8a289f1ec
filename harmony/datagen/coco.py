"""HCOCO-style colour-transfer composites from COCO-format instance annotations (iHarmony4, Cong et al. 2020).

For every source image, the foreground objects are the largest non-crowd instance of each category in it
whose area ratio lies in ``[min_fg_ratio, max_fg_ratio]`` (default >= 5 % of the image, as iHarmony4's
HCOCO; ``objects="all"`` keeps every instance in bounds). Each object gets ``per_object`` composites: the
object's colours are transferred from a *reference* instance of the same category in another image (the
reference region's statistics only, as DoveNet's HCOCO), with a method drawn from ``methods`` and
parameters from :func:`harmony.datagen.transfer.sample_params`. The background is left bit-exact by the
kernels and checked here. Composites whose foreground barely changed or became degenerate (clipped to
black/white, flattened) are rejected and counted per reason; a rejected attempt is replaced by another
draw, up to ``max_attempts`` per composite. No two composites of an object share (reference, method,
parameters): the transfer is a function of these, so a repeat would be a byte-identical copy (as when
only one reference exists and a parameter-free method is drawn twice). Repeats are rejected ("duplicate"),
and an object left with fewer distinct composites than ``per_object`` gets fewer, counted in the summary.

Output is the iHarmony4 layout under ``<out>/HCOCO``:
``composite_images/c<imageId>_<annId>_<k>.jpg``, ``masks/c<imageId>_<annId>.png``,
``real_images/c<imageId>.jpg``, split files, ``manifest.csv`` and ``run.json``.

Segmentations are decoded with pycocotools exactly as ``COCO.annToMask`` does (polygons merged with
``frPyObjects`` + ``merge``, uncompressed RLE through ``frPyObjects``, compressed RLE as is); polygons
with fewer than three points are dropped (pycocotools would read a 4-number polygon as a box).

One work unit = one source image (see :func:`harmony.datagen.runner.run_units`); every random draw comes
from ``(seed, image id, annotation id, attempt)``, so output is byte-identical for any worker count or
scheduler.

References
----------
.. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020 (iHarmony4).
.. [2] Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; pycocotools
   (https://github.com/cocodataset/cocoapi) for the segmentation decoding.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import io as hio
from ..dataset import SUBSETS, SubsetLayout, composite_name, mask_name, params_json, real_name, safe_id, split_for
from ..errors import InputError
from ..imageops import fg_ratio
from ..parallel import unit_seed
from ..registry import GENERATORS, Card
from ._common import split_list, tool_version
from .runner import Generator, Inputs, Plan, RunSummary
from .runner import generate as generate_with

SUBSET = "HCOCO"
PREFIX = SUBSETS[SUBSET]
DEFAULT_METHODS = ("gct", "gctrgb", "hgm", "idt")  # the four transfer methods of iHarmony4's HCOCO
REFERENCE_FALLBACKS = ("none", "any")
OBJECT_MODES = ("largest", "all")

# Rejection reasons (the summary counts them under these names).
R_UNCHANGED = "foreground barely changed"
R_CLIPPED = "foreground clipped"
R_FLAT = "foreground flattened"
R_BACKGROUND = "background changed"
R_INVALID = "invalid output"
R_FAILED = "transfer failed"
R_DUPLICATE = "duplicate (same reference, method and parameters as a composite already made)"
R_SHORT = "object got fewer than --per-object composites"


# --- annotations --------------------------------------------------------------------------------

def load_annotations(path: str | os.PathLike) -> dict:
    """Read and validate a COCO instances JSON; every structural problem raises one-line InputError.

    Checked: the file exists and parses; ``images``, ``annotations`` and ``categories`` are lists; each
    image has ``id``, ``file_name``, positive ``height``/``width``; each category has ``id``; each
    annotation has ``id``, ``image_id`` and ``category_id`` naming known entries, and a ``segmentation``
    that is a list of polygons (flat number lists of even length) or an RLE dict with ``size`` and
    ``counts``. The message names the JSON path (``annotations[3].segmentation``).

    Parameters
    ----------
    path : str or os.PathLike
        COCO instances JSON (``instances_train2017.json`` or the same format).

    Returns
    -------
    dict
        The parsed file (``images``, ``annotations``, ``categories``), validated by
        :func:`validate_annotations`.

    Raises
    ------
    InputError
        Missing or unreadable file, malformed JSON, or a structural problem.

    References
    ----------
    .. [1] Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; the instances format as
       documented at https://cocodataset.org/#format-data.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read annotation file ({exc})") from None
    validate_annotations(data, str(path))
    return data


_NUMBER_TYPES = {int, float}   # exact types: bool (a subclass of int) is not a coordinate


def validate_annotations(data: Any, source: str = "annotations") -> None:
    """Check the structure of a parsed COCO instances file; the first problem raises a one-line error.

    Parameters
    ----------
    data : object
        The parsed JSON.
    source : str
        Name of the file, the message's prefix.

    Raises
    ------
    InputError
        ``"<source>: <json path>: <what was expected>"``, e.g. ``annotations[3].segmentation``.
    """
    def fail(where: str, what: str) -> None:
        raise InputError(f"{source}: {where}: {what}")

    if not isinstance(data, dict):
        fail("top level", f"expected a JSON object with images/annotations/categories, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            fail(key, "missing (a COCO instances file needs images, annotations and categories)")
        if not isinstance(data[key], list):
            fail(key, f"expected a list, got {type(data[key]).__name__}")
    image_ids = set()
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            fail(f"images[{i}]", "expected an object")
        for f in ("id", "file_name", "height", "width"):
            if f not in image:
                fail(f"images[{i}].{f}", "missing")
        for f in ("height", "width"):
            if not isinstance(image[f], int) or isinstance(image[f], bool) or image[f] <= 0:
                fail(f"images[{i}].{f}", f"expected a positive integer, got {image[f]!r}")
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            fail(f"images[{i}].file_name", f"expected a file name, got {image['file_name']!r}")
        if image["id"] in image_ids:
            fail(f"images[{i}].id", f"duplicate image id {image['id']!r}")
        image_ids.add(image["id"])
    cat_ids = set()
    for i, c in enumerate(data["categories"]):
        if not isinstance(c, dict) or "id" not in c:
            fail(f"categories[{i}].id", "missing")
        cat_ids.add(c["id"])
    ann_ids = set()
    for i, a in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(a, dict):
            fail(where, "expected an object")
        for f in ("id", "image_id", "category_id", "segmentation"):
            if f not in a:
                fail(f"{where}.{f}", "missing")
        if a["id"] in ann_ids:
            fail(f"{where}.id", f"duplicate annotation id {a['id']!r}")
        ann_ids.add(a["id"])
        if a["image_id"] not in image_ids:
            fail(f"{where}.image_id", f"{a['image_id']!r} is not an id in images")
        if a["category_id"] not in cat_ids:
            fail(f"{where}.category_id", f"{a['category_id']!r} is not an id in categories")
        segmentation = a["segmentation"]
        if isinstance(segmentation, list):
            for j, poly in enumerate(segmentation):
                # set(map(type, ...)) runs in C: 40 M coordinates at train2017 size take seconds, not tens.
                if not isinstance(poly, list) or len(poly) % 2 or not set(map(type, poly)) <= _NUMBER_TYPES:
                    fail(f"{where}.segmentation[{j}]", "expected a polygon: a flat list of x, y numbers")
        elif isinstance(segmentation, dict):
            size = segmentation.get("size")
            if (not isinstance(size, list) or len(size) != 2
                    or not all(isinstance(v, int) and v > 0 for v in size)):
                fail(f"{where}.segmentation.size", f"expected [height, width], got {size!r}")
            counts = segmentation.get("counts")
            if not isinstance(counts, (str, list)):
                fail(f"{where}.segmentation.counts", "expected an RLE string or a list of run lengths")
        else:
            fail(f"{where}.segmentation", f"expected polygons (list) or RLE (object), got {type(segmentation).__name__}")


def segmentation_rle(segmentation: Any, height: int, width: int) -> dict | None:
    """The segmentation as one pycocotools RLE, as ``COCO.annToRLE`` builds it; None when it has no polygon.

    Raises :class:`InputError` when an RLE's ``size`` is not ``[height, width]``.

    Parameters
    ----------
    segmentation : list or dict
        Polygons (flat ``[x0, y0, x1, y1, ...]`` lists; those under three points are dropped), an
        uncompressed RLE (``counts`` a list) or a compressed RLE (``counts`` a string).
    height, width : int
        The image's size.

    Returns
    -------
    dict or None
        One pycocotools RLE (polygons merged with ``frPyObjects`` + ``merge``); None without a polygon.

    Raises
    ------
    InputError
        An RLE whose ``size`` is not ``[height, width]``.
    """
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        # pycocotools converts each polygon to float64 itself (validated numbers only reach here).
        polys = [p for p in segmentation if len(p) >= 6]
        if not polys:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    size = list(segmentation["size"])
    if size != [height, width]:
        raise InputError(f"RLE size {size} differs from the image's [height, width] [{height}, {width}]")
    if isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, height, width)
    counts = segmentation["counts"]
    return {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Binary uint8 (H, W) mask of a COCO segmentation (all zeros for a polygon-less one).

    Parameters
    ----------
    segmentation : list or dict
        Polygons or RLE, as in :func:`segmentation_rle`.
    height, width : int
        The image's size.

    Returns
    -------
    numpy.ndarray
        uint8 (height, width), 1 inside the object, exactly as pycocotools' ``COCO.annToMask``.
    """
    from pycocotools import mask as mask_utils

    rle = segmentation_rle(segmentation, height, width)
    if rle is None:
        return np.zeros((height, width), np.uint8)
    return np.ascontiguousarray(mask_utils.decode(rle))


def _polygon_out_of_bounds(segmentation: Any, height: int, width: int) -> bool:
    if not isinstance(segmentation, list):
        return False
    for p in segmentation:
        if len(p) < 2:
            continue
        # Plain min/max over short Python lists: far cheaper than numpy arrays per polygon.
        xs, ys = p[0::2], p[1::2]
        if min(xs) < -1 or min(ys) < -1 or max(xs) > width + 1 or max(ys) > height + 1:
            return True
    return False


# --- planning -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """A reference instance: the object whose colours a composite takes.
    """
    image_id: Any
    annotation_id: Any
    category_id: Any
    path: str
    height: int
    width: int
    segmentation: Any


@dataclass(frozen=True)
class Target:
    """A foreground object of a source image, with its drawn references.
    """
    annotation_id: Any
    category_id: Any
    category: str
    segmentation: Any
    fg_ratio: float   # pixel-area ratio (pycocotools), or the polygon's where the bounds made it unnecessary
    references: tuple[Reference, ...]


@dataclass(frozen=True)
class CocoUnit:
    """One source image and everything made from it (picklable)."""

    key: str
    image_id: Any
    file_name: str
    path: str
    height: int
    width: int
    split: str
    seed: int
    targets: tuple[Target, ...]
    skipped: tuple[tuple[str, str], ...]
    per_object: int
    methods: tuple[str, ...]
    max_attempts: int
    min_change: float
    max_clipped: float
    min_contrast: float
    quality: int
    filter_spec: str | None = None


@dataclass
class PlanStats:
    """Counts of the object selection, printed under the run summary.
    """
    images: int = 0
    annotations: int = 0
    crowd: int = 0
    empty: int = 0
    out_of_bounds_clipped: int = 0
    out_of_ratio: int = 0
    objects: int = 0
    no_reference: int = 0
    fallback_references: int = 0
    test_ids_unknown: int = 0

    def lines(self) -> list[str]:
        """The summary lines of the selection.

        Returns
        -------
        list of str
            ``input: ...`` (images, annotations, objects selected), then a ``selection: ...`` line listing
            only the non-zero counts (crowd, out of ratio, empty, clipped, without reference, ...).
        """
        out = [f"input: {self.images} images with annotations, {self.annotations} annotations; "
               f"{self.objects} foreground objects selected"]
        extra = []
        if self.crowd:
            extra.append(f"{self.crowd} iscrowd annotations ignored")
        if self.out_of_ratio:
            extra.append(f"{self.out_of_ratio} candidates outside the fg-ratio bounds")
        if self.empty:
            extra.append(f"{self.empty} zero-area segmentations skipped")
        if self.out_of_bounds_clipped:
            extra.append(f"{self.out_of_bounds_clipped} segmentations partly outside their image clipped")
        if self.no_reference:
            extra.append(f"{self.no_reference} objects without a reference of their category skipped")
        if self.fallback_references:
            extra.append(f"{self.fallback_references} objects use a reference of another category (fallback any)")
        if self.test_ids_unknown:
            extra.append(f"{self.test_ids_unknown} --test-ids not found among the images")
        if extra:
            out.append("selection: " + "; ".join(extra))
        return out


@dataclass
class CocoOptions:
    """Options of the HCOCO generator (the flags of ``harmony datagen coco``).

    Attributes
    ----------
    per_object : int
        Composites per foreground object.
    methods : tuple of str
        Colour-transfer methods drawn per composite (iHarmony4's four: ``gct``, ``gctrgb``, ``hgm``,
        ``idt``; also ``dih``).
    min_fg_ratio, max_fg_ratio : float
        Foreground area / image area bounds (HCOCO: at least 5 %).
    objects : {"largest", "all"}
        Per image and category, its largest instance or every instance within the bounds.
    reference_fallback : {"none", "any"}
        Without another instance of the category: skip the object, or take any category's.
    test_fraction : float
        Share of images in the test split (ignored when ``test_ids`` is given).
    test_ids : tuple of str or None
        Image ids forming the test split.
    seed, quality : int
        Seed of every draw; JPEG quality.
    max_attempts : int
        Draws per composite before the object gets fewer.
    min_change, max_clipped, min_contrast : float
        Rejection thresholds (see :func:`reject_reason`).
    max_images : int or None
        Use only the first N annotated images.
    filter : str or None
        ``package.module:function`` of a composite filter (see :func:`load_filter`).
    """
    per_object: int = 2
    methods: tuple[str, ...] = DEFAULT_METHODS
    min_fg_ratio: float = 0.05
    max_fg_ratio: float = 0.8
    objects: str = "largest"
    reference_fallback: str = "none"
    test_fraction: float = 0.1
    test_ids: tuple[str, ...] | None = None
    seed: int = 0
    quality: int = 95
    max_attempts: int = 3
    min_change: float = 0.02
    max_clipped: float = 0.2
    min_contrast: float = 0.25
    max_images: int | None = None
    filter: str | None = None

    def __post_init__(self) -> None:
        from .transfer import dataset_codes  # kernel names or iHarmony4 codes in, the codes recorded

        self.methods = dataset_codes(self.methods)

    def check(self) -> None:
        """Refuse out-of-range options with one line naming the flag (and load the filter, to fail early).

        Raises
        ------
        InputError
            A bad count, unknown method, ratio bounds not ``0 <= min < max <= 1``, an unknown mode, or a
            filter that cannot be loaded.
        """
        from . import transfer

        if self.per_object < 1:
            raise InputError(f"--per-object: expected >= 1, got {self.per_object}")
        if not self.methods:
            raise InputError("--methods: expected at least one method")
        unknown = [m for m in self.methods if m not in transfer.METHOD_NAMES]
        if unknown:
            raise InputError(f"--methods: unknown {', '.join(unknown)}; valid: {', '.join(sorted(transfer.METHOD_NAMES))}")
        if not (0.0 <= self.min_fg_ratio < self.max_fg_ratio <= 1.0):
            raise InputError(f"--min-fg-ratio/--max-fg-ratio: expected 0 <= min < max <= 1, got "
                             f"{self.min_fg_ratio} and {self.max_fg_ratio}")
        if self.objects not in OBJECT_MODES:
            raise InputError(f"--objects: expected one of {', '.join(OBJECT_MODES)}, got {self.objects!r}")
        if self.reference_fallback not in REFERENCE_FALLBACKS:
            raise InputError(f"--reference-fallback: expected one of {', '.join(REFERENCE_FALLBACKS)}, "
                             f"got {self.reference_fallback!r}")
        if not (0.0 <= self.test_fraction <= 1.0):
            raise InputError(f"--test-fraction: expected a value in [0, 1], got {self.test_fraction}")
        if self.max_attempts < 1:
            raise InputError(f"max_attempts: expected >= 1, got {self.max_attempts}")
        if self.filter is not None:
            load_filter(self.filter)  # fail early, in the main process, with a clear message

    @classmethod
    def from_flags(cls, *, methods: str, test_fraction: float | None, test_ids: str | os.PathLike | None,
                   **fields: Any) -> CocoOptions:
        """The options from ``harmony datagen coco``'s flags.

        Parameters
        ----------
        methods : str
            Comma-separated methods (``"gct,gctrgb,hgm,idt"``).
        test_fraction : float or None
            Share of images in the test split (None: 0.1, or the test-id file decides).
        test_ids : str or os.PathLike or None
            File of test image ids (see :func:`read_test_ids`).
        **fields
            The other fields, as named in the dataclass.

        Returns
        -------
        CocoOptions
            Not yet checked (:func:`generate` checks it).

        Raises
        ------
        InputError
            Both ``test_fraction`` and ``test_ids``, or a test-id file that does not exist.
        """
        if test_ids is not None and test_fraction is not None:
            raise InputError("--test-fraction and --test-ids exclude each other")
        return cls(methods=tuple(split_list(methods) or ()), test_fraction=0.1 if test_fraction is None else test_fraction,
                   test_ids=read_test_ids(test_ids) if test_ids else None, **fields)

    def config(self) -> dict:
        """The options as recorded in ``run.json``.

        Returns
        -------
        dict
            Every field; ``filter`` only when set (so runs without one still resume), ``test_ids`` sorted
            and ``test_fraction`` None when test ids are given.
        """
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["methods"] = list(self.methods)
        if self.filter is None:
            d.pop("filter")  # keeps run.json of runs without a filter unchanged (so they still resume)
        if self.test_ids is not None:
            d["test_ids"] = sorted(str(t) for t in self.test_ids)
            d["test_fraction"] = None
        return d


def _exact_area(annotation: dict, height: int, width: int) -> int:
    """The annotation's pixel area as pycocotools counts it (raises InputError for a bad RLE)."""
    from pycocotools import mask as mask_utils

    rle = segmentation_rle(annotation["segmentation"], height, width)
    return int(mask_utils.area(rle)) if rle is not None else 0


def _measure(image: dict, annotations: list, bounds: dict, stats: PlanStats, skipped: list
             ) -> dict[Any, list[list]]:
    """Per category, ``[ratio or None, annotation, lower, upper, polygon estimate]`` of the image's instances.

    Crowd and zero-area annotations are counted and left out. The exact area is computed only where the
    polygon bounds cannot tell (it is filled in later where the selection needs it).
    """
    height, width = image["height"], image["width"]
    area_px = float(height * width)
    per_category: dict[Any, list[list]] = {}
    if len(annotations) > 1:
        annotations = sorted(annotations, key=lambda a: _sort_key(a["id"]))
    for annotation in annotations:
        stats.annotations += 1
        if annotation.get("iscrowd"):
            stats.crowd += 1
            continue
        bound = bounds.get(id(annotation))
        if bound is not None and bound[0] > 0:
            # Certainly not empty; the exact area is computed only where the selection needs it.
            area, lower, upper, estimate = None, bound[0], bound[1], bound[2]
        else:
            try:
                area = _exact_area(annotation, height, width)
            except InputError as exc:
                skipped.append((f"{image['file_name']} annotation {annotation['id']}", f"bad segmentation ({exc})"))
                continue
            lower = upper = estimate = area
        outside = _polygon_out_of_bounds(annotation["segmentation"], height, width)
        if area == 0:
            stats.empty += 1
            skipped.append((f"{image['file_name']} annotation {annotation['id']}",
                            "segmentation outside the image" if outside else "zero-area segmentation"))
            continue
        if outside:
            stats.out_of_bounds_clipped += 1
        per_category.setdefault(annotation["category_id"], []).append(
            [None if area is None else area / area_px, annotation, lower / area_px, upper / area_px,
             estimate / area_px])
    return per_category


def _choose(per_category: dict[Any, list[list]], image: dict, options: CocoOptions, stats: PlanStats
            ) -> list[tuple[Any, dict, float]]:
    """(category, annotation, fg ratio) of the objects kept: per category the largest instance (or all)
    whose ratio lies in ``[min_fg_ratio, max_fg_ratio]``."""
    height, width = image["height"], image["width"]
    area_px = float(height * width)
    low, high = options.min_fg_ratio, options.max_fg_ratio
    chosen = []
    for category in sorted(per_category, key=_sort_key) if len(per_category) > 1 else per_category:
        items = per_category[category]
        if options.objects == "largest":
            # Largest instance of its category (ties: lowest annotation id, the first in sorted order).
            # Only instances whose area bound reaches the others' lower bounds can be the largest, and
            # when even the largest bound misses the ratio bounds no exact area is needed at all.
            floor = max(item[2] for item in items)
            if max(item[3] for item in items) < low or floor > high:
                stats.out_of_ratio += 1
                continue
            contenders = [item for item in items if item[3] >= floor]
            if len(contenders) > 1:
                for item in contenders:
                    if item[0] is None:
                        item[0] = _exact_area(item[1], height, width) / area_px
            items = [max(contenders, key=lambda item: item[0])] if len(contenders) > 1 else contenders
        for item in items:
            if item[3] < low or item[2] > high:
                stats.out_of_ratio += 1
                continue
            if item[0] is None and low <= item[2] and item[3] <= high:
                # Certainly within the bounds: the polygon-area ratio stands in for the pixel count
                # (Target.fg_ratio is informative; the manifest's fg_ratio is measured on the mask).
                chosen.append((category, item[1], item[4]))
                continue
            if item[0] is None:
                item[0] = _exact_area(item[1], height, width) / area_px
            if low <= item[0] <= high:
                chosen.append((category, item[1], item[0]))
            else:
                stats.out_of_ratio += 1
    return chosen


@dataclass
class _Pools:
    """The selected objects as reference pools: per category, and all of them (``--reference-fallback any``),
    with the number each image contributes (so drawing "another image" needs no list copy)."""

    by_category: dict[Any, list[tuple[Any, dict]]]
    everything: list[tuple[Any, dict]]
    own: dict[Any, dict[Any, int]]
    own_all: dict[Any, int]


def _pools(image_order: list, candidates: dict) -> _Pools:
    by_category: dict[Any, list[tuple[Any, dict]]] = {}
    everything: list[tuple[Any, dict]] = []
    for image_id in image_order:
        for category, annotation, _ratio in candidates[image_id]:
            by_category.setdefault(category, []).append((image_id, annotation))
            everything.append((image_id, annotation))
    own: dict[Any, dict[Any, int]] = {category: {} for category in by_category}
    own_all: dict[Any, int] = {}
    for category, entries in by_category.items():
        for image_id, _annotation in entries:
            own[category][image_id] = own[category].get(image_id, 0) + 1
            own_all[image_id] = own_all.get(image_id, 0) + 1
    return _Pools(by_category, everything, own, own_all)


def _targets(image_id: Any, candidates: list, pools: _Pools, images: Mapping[Any, dict],
             categories: dict, images_root: str, options: CocoOptions, stats: PlanStats, skipped: list
             ) -> list[Target]:
    """The image's objects with their references (``per_object`` + 2 spares, from other images)."""
    image = images[image_id]
    targets = []
    for category, annotation, ratio in candidates:
        source_pool, own_count = pools.by_category[category], pools.own[category].get(image_id, 0)
        if len(source_pool) == own_count and options.reference_fallback == "any":
            source_pool, own_count = pools.everything, pools.own_all.get(image_id, 0)
            if len(source_pool) > own_count:
                stats.fallback_references += 1
        if len(source_pool) == own_count:   # no instance in another image
            stats.no_reference += 1
            skipped.append((f"{image['file_name']} annotation {annotation['id']}",
                            f"no reference: category {categories[category]!r} has no instance in another image"))
            continue
        rng = np.random.default_rng(unit_seed(options.seed, f"ref:{image_id}:{annotation['id']}"))
        # per_object references (distinct when possible) plus two spares, used only when a reference
        # image turns out to be missing or unreadable in the worker.
        drawn = _draw_others(source_pool, image_id, own_count, options.per_object + 2, rng)
        references = []
        for ref_image_id, ref_annotation in drawn:
            ref_image = images[ref_image_id]
            references.append(Reference(ref_image_id, ref_annotation["id"], ref_annotation["category_id"],
                                        os.path.join(images_root, ref_image["file_name"]), ref_image["height"],
                                        ref_image["width"], ref_annotation["segmentation"]))
        targets.append(Target(annotation["id"], category, categories[category], annotation["segmentation"], ratio,
                              tuple(references)))
    return targets


def plan_units(data: Mapping[str, Any], images_dir: str | os.PathLike, options: CocoOptions
               ) -> tuple[list[CocoUnit], PlanStats]:
    """Select foreground objects and their references; one :class:`CocoUnit` per annotated image.

    Parameters
    ----------
    data : mapping
        Parsed COCO instances JSON (``images``, ``annotations``, ``categories``), validated.
    images_dir : str or os.PathLike
        Folder of the images named by ``file_name``.
    options : CocoOptions
        Object selection (``objects``, fg-ratio bounds), composites per object, reference fallback,
        split and seed.

    Returns
    -------
    units : list of CocoUnit
        One per annotated image (sorted by image id), possibly with no target.
    stats : PlanStats
        Counts of the selection (crowd, empty, out of bounds, without a reference, ...).
    """
    images_root = str(images_dir)
    stats = PlanStats()
    images = {im["id"]: im for im in data["images"]}
    categories = {c["id"]: str(c.get("name", c["id"])) for c in data["categories"]}
    by_image: dict[Any, list[dict]] = {}
    for annotation in data["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    image_order = sorted(by_image, key=_sort_key)
    if options.max_images is not None:
        image_order = image_order[:options.max_images]
    stats.images = len(image_order)
    skipped: dict[Any, list[tuple[str, str]]] = {i: [] for i in image_order}
    candidates: dict[Any, list[tuple[Any, dict, float]]] = {}
    bounds: dict[int, tuple[float, float, float]] = {}
    chunk = 2000   # images per batch of area bounds (bounded temporary memory)
    for position, image_id in enumerate(image_order):
        if position % chunk == 0:
            bounds = _area_bounds([a for i in image_order[position:position + chunk] for a in by_image[i]], images)
        per_category = _measure(images[image_id], by_image[image_id], bounds, stats, skipped[image_id])
        candidates[image_id] = _choose(per_category, images[image_id], options, stats)
    pools = _pools(image_order, candidates)
    test_ids = None if options.test_ids is None else {str(t) for t in options.test_ids}
    if test_ids is not None:
        stats.test_ids_unknown = len(test_ids - {str(i) for i in image_order})
    units = []
    for image_id in image_order:
        image = images[image_id]
        targets = _targets(image_id, candidates[image_id], pools, images, categories, images_root, options, stats,
                           skipped[image_id])
        stats.objects += len(targets)
        units.append(CocoUnit(
            key=f"{PREFIX}{safe_id(image_id)}", image_id=image_id, file_name=image["file_name"],
            path=os.path.join(images_root, image["file_name"]), height=image["height"], width=image["width"],
            split=split_for(image_id, options.test_fraction, test_ids),
            seed=options.seed, targets=tuple(targets), skipped=tuple(skipped[image_id]),
            per_object=options.per_object, methods=tuple(options.methods), max_attempts=options.max_attempts,
            min_change=options.min_change, max_clipped=options.max_clipped, min_contrast=options.min_contrast,
            quality=options.quality, filter_spec=options.filter))
    return units, stats


def _area_bounds(annotations: list, images: Mapping[Any, dict]) -> dict[int, tuple[float, float, float]]:
    """Bounds ``(lower, upper, polygon area)`` on the pycocotools pixel area of every simple polygon annotation.

    Rasterising 900 k polygons with pycocotools dominated planning at train2017 size, yet most objects
    are far below the fg-ratio bounds, where their exact area changes nothing. For a one-polygon
    annotation inside its image, the pixel count differs from the polygon's (shoelace) area by at most
    the pixels its boundary crosses: a segment of length l crosses at most sqrt(2) * l + 2 pixels, and
    pycocotools rounds vertices to 1/5 pixel, hence the margin ``1.6 * perimeter + 2 * vertices + 8``
    (measured differences on 15,000 polygons stay within 0.2 * perimeter). Computed for all annotations at once with numpy; keyed by
    ``id(annotation)``. Others (several polygons, RLE, crowd, partly outside the image) get no bound and
    are rasterised as before, as are those whose bounds cannot decide.
    """
    import itertools

    picked, polys, lengths, sizes = [], [], [], []
    for a in annotations:
        seg = a["segmentation"]
        if a.get("iscrowd") or not isinstance(seg, list) or len(seg) != 1 or len(seg[0]) < 6:
            continue
        im = images.get(a["image_id"])
        if im is None:
            continue
        picked.append(a)
        polys.append(seg[0])
        lengths.append(len(seg[0]))
        sizes.append((im["width"], im["height"]))
    if not picked:
        return {}
    lengths_a = np.asarray(lengths, np.int64)
    flat = np.fromiter(itertools.chain.from_iterable(polys), np.float64, int(lengths_a.sum()))
    xs, ys = flat[0::2], flat[1::2]
    n_vert = lengths_a // 2
    starts = np.concatenate([[0], np.cumsum(n_vert)[:-1]])
    # The previous vertex of each vertex, wrapping around inside its own polygon.
    prev = np.arange(xs.size) - 1
    prev[starts] = starts + n_vert - 1
    px, py = xs[prev], ys[prev]
    area = np.abs(np.add.reduceat(px * ys - xs * py, starts)) / 2.0
    perimeter = np.add.reduceat(np.hypot(xs - px, ys - py), starts)
    wh = np.asarray(sizes, np.float64)
    inside = ((np.minimum.reduceat(xs, starts) >= 0) & (np.minimum.reduceat(ys, starts) >= 0)
              & (np.maximum.reduceat(xs, starts) <= wh[:, 0] - 1) & (np.maximum.reduceat(ys, starts) <= wh[:, 1] - 1))
    margin = 1.6 * perimeter + 2.0 * n_vert + 8.0
    lower, upper = area - margin, area + margin
    return {id(a): (float(lo), float(hi), float(mid)) for a, lo, hi, mid, ok in zip(picked, lower, upper, area, inside)
            if ok}


def _draw_others(entries: list, image_id: Any, own_count: int, n: int, rng: np.random.Generator) -> list:
    """Up to ``n`` distinct entries whose image is not ``image_id``, drawn by ``rng`` (deterministic).

    Small pools are filtered and sampled without replacement; large ones (COCO's person category has
    tens of thousands of instances) by rejection sampling of indices, which never copies the pool.
    """
    available = len(entries) - own_count
    n = min(n, available)
    if n <= 0:
        return []
    if len(entries) <= 256 or available < 4 * n:
        others = [e for e in entries if e[0] != image_id]
        return [others[int(i)] for i in rng.choice(len(others), size=n, replace=False)]
    picked: list[int] = []
    seen: set[int] = set()
    while len(picked) < n:
        j = int(rng.integers(len(entries)))
        if j not in seen and entries[j][0] != image_id:
            seen.add(j)
            picked.append(j)
    return [entries[j] for j in picked]


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


# --- rejection ----------------------------------------------------------------------------------

_FILTERS: dict[str, Any] = {}


def load_filter(spec: str):
    """Resolve a pluggable composite filter ``package.module:attr`` (cached per process).

    iHarmony4 ranked its raw composites with an aesthetics model and filtered them by hand; neither has
    public weights, so the generator takes any filter a lab has: a callable
    ``fn(composite, mask, real) -> bool | str | None`` on the float32 contract. ``True``/``None`` keeps
    the composite; ``False`` rejects it (reason ``filter``); a string rejects it with that reason
    (counted as ``filter: <reason>``). It runs after the automatic rejection checks.

    Parameters
    ----------
    spec : str
        ``package.module:function``.

    Returns
    -------
    callable
        The filter.

    Raises
    ------
    InputError
        A malformed spec, a module or attribute that cannot be imported, or a non-callable.
    """
    fn = _FILTERS.get(spec)
    if fn is None:
        import importlib

        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise InputError(f"--filter: expected package.module:function, got {spec!r}")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"--filter {spec}: cannot load it ({exc})") from None
        if not callable(fn):
            raise InputError(f"--filter {spec}: not callable")
        _FILTERS[spec] = fn
    return fn


def filter_reason(spec: str | None, composite: np.ndarray, mask: np.ndarray, real: np.ndarray) -> str | None:
    """Rejection reason from the pluggable filter, or None to keep the composite.

    Parameters
    ----------
    spec : str or None
        ``package.module:function`` of the filter; None: no filter.
    composite, mask, real : numpy.ndarray
        float32 (H, W, 3) in [0, 1], float32 (H, W) in [0, 1], float32 (H, W, 3) in [0, 1].

    Returns
    -------
    str or None
        ``"filter"`` or ``"filter: <reason>"`` when the filter rejects the composite; None to keep it.
    """
    if spec is None:
        return None
    verdict = load_filter(spec)(composite, mask, real)
    if verdict is None or verdict is True:
        return None
    if verdict is False:
        return "filter"
    return f"filter: {str(verdict).splitlines()[0]}"


def reject_reason(source: np.ndarray, composite: np.ndarray, mask: np.ndarray, *, min_change: float = 0.02,
                  max_clipped: float = 0.2, min_contrast: float = 0.25) -> str | None:
    """Why a composite is not kept, or None. All statistics are over the foreground (``mask > 0.5``).

    - ``background changed``: any pixel with ``mask == 0`` differs from the source (kernel contract).
    - ``foreground clipped``: the share of foreground pixels with a channel at 0 or 1 grew by more than
      ``max_clipped`` (the transfer pushed the object out of range).
    - ``foreground flattened``: the luminance standard deviation fell below ``min_contrast`` times the
      source's (or below 1/255): the object lost its texture.
    - ``foreground barely changed``: the mean absolute change per channel is below ``min_change``
      (0-1 scale), so the composite is not inharmonious.

    Parameters
    ----------
    source : numpy.ndarray
        The source image, float32 (H, W, 3) in [0, 1].
    composite : numpy.ndarray
        The transferred image, float32 (H, W, 3).
    mask : numpy.ndarray
        float32 (H, W) in [0, 1].
    min_change : float
        Smallest mean absolute foreground change (0-1 scale).
    max_clipped : float
        Largest growth of the share of clipped foreground pixels.
    min_contrast : float
        Smallest ratio of foreground luminance standard deviations (composite / source).

    Returns
    -------
    str or None
        The rejection reason (the ``R_*`` constants), or None to keep the composite.
    """
    import cv2

    if not cv2.checkRange(composite)[0]:   # NaN or infinite values anywhere
        return R_INVALID
    x0, y0, bw, bh = cv2.boundingRect((mask > 0).view(np.uint8))
    if bw == 0 or bh == 0:
        return R_INVALID
    y1, x1 = y0 + bh, x0 + bw
    # OpenCV's masked reductions below are single passes (numpy boolean indexing of (H, W, 3) arrays
    # cost more than the transfer kernels at 640x480).
    background = (mask == 0).view(np.uint8)
    if cv2.countNonZero(background) and cv2.norm(composite, source, cv2.NORM_INF, mask=background) != 0:
        return R_BACKGROUND
    # The foreground statistics only need its bounding box.
    src, out = source[y0:y1, x0:x1], composite[y0:y1, x0:x1]
    fg = (mask[y0:y1, x0:x1] > 0.5).view(np.uint8)
    n = cv2.countNonZero(fg)
    if n == 0:
        return R_INVALID
    lo, hi = 0.5 / 255.0, 254.5 / 255.0

    def clipped_share(img: np.ndarray) -> float:
        inside = cv2.inRange(img, (lo, lo, lo), (hi, hi, hi))   # 255 where every channel is in range
        return (n - cv2.countNonZero(cv2.bitwise_and(inside, inside, mask=fg))) / n

    if clipped_share(out) - clipped_share(src) > max_clipped:
        return R_CLIPPED
    lum = np.array([[0.299, 0.587, 0.114]], np.float32)
    std_src = float(cv2.meanStdDev(cv2.transform(src, lum), mask=fg)[1][0, 0])
    std_out = float(cv2.meanStdDev(cv2.transform(out, lum), mask=fg)[1][0, 0])
    if std_out < max(min_contrast * std_src, 1.0 / 255.0):
        return R_FLAT
    change = float(np.mean(cv2.mean(cv2.absdiff(out, src), mask=fg)[:3]))
    if change < min_change:
        return R_UNCHANGED
    return None


# --- the work unit ------------------------------------------------------------------------------

def work(unit: CocoUnit, layout: SubsetLayout) -> dict:
    """Make every composite of one source image.

    Parameters
    ----------
    unit : CocoUnit
        One annotated image with its selected objects and their references.
    layout : SubsetLayout
        Where composites, masks and the real image are written.

    Returns
    -------
    dict
        The unit record: ``rows`` (manifest rows), ``rejected`` (one entry per rejected attempt, with its
        reason) and ``skipped`` (objects and files left out, with the reason).
    """
    record: dict[str, Any] = {"rows": [], "rejected": [],
                              "skipped": [{"item": item, "reason": reason} for item, reason in unit.skipped]}
    if not unit.targets:
        return record
    image = _read_source(unit, record)
    if image is None:
        return record
    image_id = safe_id(unit.image_id)
    references: dict[str, np.ndarray | None] = {}
    made_any = False
    for target in unit.targets:
        mask = decode_segmentation(target.segmentation, unit.height, unit.width).astype(np.float32)
        usable = _usable_references(unit, target, references, record)
        if not usable:
            continue
        accepted = _composites_of_object(unit, layout, image, mask, target, usable, record)
        if accepted < unit.per_object:
            record["rejected"].append({"reason": R_SHORT, "item": f"{unit.file_name} annotation "
                                       f"{target.annotation_id}: {accepted} of {unit.per_object}"})
        if accepted:
            layout.write_mask(mask_name(PREFIX, image_id, safe_id(target.annotation_id)), mask)
            made_any = True
    if made_any:
        _write_real(unit, layout, image)
    return record


def _read_source(unit: CocoUnit, record: dict) -> np.ndarray | None:
    """The source image (float32 RGB in [0, 1]), or None with the reason in ``record["skipped"]``."""
    try:
        image = hio.read_image(unit.path)
    except InputError as exc:
        reason = "missing image" if not Path(unit.path).is_file() else "corrupt image"
        record["skipped"].append({"item": unit.file_name, "reason": reason, "detail": str(exc)})
        return None
    if image.shape[:2] != (unit.height, unit.width):
        record["skipped"].append({"item": unit.file_name, "reason": "image size differs from annotation",
                                  "detail": f"{image.shape[1]}x{image.shape[0]} vs {unit.width}x{unit.height}"})
        return None
    return image


def _usable_references(unit: CocoUnit, target: Target, cache: dict, record: dict) -> list[tuple]:
    """Up to ``per_object`` readable references of the object: (reference, image, float32 mask)."""
    usable = []
    for ref in target.references:
        ref_image = _load_reference(cache, ref)
        if ref_image is None:
            record["skipped"].append({"item": Path(ref.path).name, "reason": "unreadable reference image",
                                      "detail": f"reference for {unit.file_name} annotation {target.annotation_id}"})
            continue
        usable.append((ref, ref_image, decode_segmentation(ref.segmentation, ref.height, ref.width)
                       .astype(np.float32)))
        if len(usable) == unit.per_object:
            break
    return usable


def _composites_of_object(unit: CocoUnit, layout: SubsetLayout, image: np.ndarray, mask: np.ndarray,
                          target: Target, usable: list[tuple], record: dict) -> int:
    """Draw (reference, method, parameters) until ``per_object`` composites pass the checks; return how many.

    No two composites of an object share (reference, method, parameters): the transfer is a function of
    these, so a repeat would be a byte-identical copy (e.g. one reference and a parameter-free method drawn
    twice). Repeats are rejected and counted.
    """
    from . import transfer

    image_id, ann_id = safe_id(unit.image_id), safe_id(target.annotation_id)
    accepted = attempts = ref_index = 0
    made: set[tuple[str, str, str, str]] = set()
    while accepted < unit.per_object and attempts < unit.per_object * unit.max_attempts:
        seed = unit_seed(unit.seed, f"{unit.image_id}:{target.annotation_id}:{attempts}")
        rng = np.random.default_rng(seed)
        ref, ref_image, ref_mask = usable[ref_index % len(usable)]
        method = unit.methods[int(rng.integers(len(unit.methods)))]
        params = transfer.sample_params(method, rng)
        attempts += 1
        item = f"{unit.file_name} annotation {target.annotation_id} attempt {attempts}"
        identity = (str(ref.image_id), str(ref.annotation_id), method, params_json(params))
        if identity in made:
            record["rejected"].append({"reason": R_DUPLICATE, "item": item, "method": method})
            continue
        try:
            out = transfer.transfer(method, image, mask, ref_image, ref_mask, rng=rng, **params)
        except ValueError as exc:  # e.g. a degenerate region the kernel cannot use
            record["rejected"].append({"reason": R_FAILED, "item": item, "method": method,
                                       "detail": str(exc).splitlines()[0]})
            continue
        reason = reject_reason(image, out, mask, min_change=unit.min_change, max_clipped=unit.max_clipped,
                               min_contrast=unit.min_contrast)
        if reason is None:
            reason = filter_reason(unit.filter_spec, out, mask, image)
        if reason is not None:
            record["rejected"].append({"reason": reason, "item": item, "method": method})
            continue
        made.add(identity)
        ref_index += 1
        accepted += 1
        comp = composite_name(PREFIX, image_id, ann_id, accepted)
        layout.write_composite(comp, out, quality=unit.quality)
        record["rows"].append({
            "composite": f"composite_images/{comp}", "mask": f"masks/{mask_name(PREFIX, image_id, ann_id)}",
            "real": f"real_images/{real_name(PREFIX, image_id)}", "subset": SUBSET, "split": unit.split,
            "source_image_id": unit.image_id, "source_annotation_id": target.annotation_id,
            "reference_image_id": ref.image_id, "reference_annotation_id": ref.annotation_id,
            "method": method, "params": params_json(params), "fg_ratio": round(fg_ratio(mask), 6),
            "seed": seed, "tool_version": tool_version(), "unit": unit.key, "synthetic": 1,
            "category_id": target.category_id, "category": target.category,
            "reference_category_id": ref.category_id, "attempt": attempts,
            "source_file": unit.file_name, "reference_file": Path(ref.path).name,
        })
    return accepted


def _write_real(unit: CocoUnit, layout: SubsetLayout, image: np.ndarray) -> None:
    """The real image: an upright RGB JPEG source byte for byte (as iHarmony4 keeps the COCO originals);
    grey, CMYK, EXIF-rotated or non-JPEG sources as the RGB pixels read."""
    real = real_name(PREFIX, safe_id(unit.image_id))
    original = hio.plain_jpeg_bytes(unit.path)
    if original is not None:
        hio.atomic_write_bytes(layout.real_path(real), original)
    else:
        layout.write_real(real, image, quality=unit.quality)


def _load_reference(cache: dict, ref: Reference) -> np.ndarray | None:
    if ref.path not in cache:
        try:
            img = hio.read_image(ref.path)
            cache[ref.path] = img if img.shape[:2] == (ref.height, ref.width) else None
        except InputError:
            cache[ref.path] = None
    return cache[ref.path]


# --- the generator ------------------------------------------------------------------------------

def read_test_ids(path: str | os.PathLike) -> tuple[str, ...]:
    """Image ids, one per line (``#`` starts a comment; blank lines ignored).

    Parameters
    ----------
    path : str or os.PathLike
        Text file of image ids.

    Returns
    -------
    tuple of str
        The ids, in file order.

    Raises
    ------
    InputError
        The file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: test-id file not found")
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line)
    return tuple(ids)


class CocoGenerator(Generator):
    """``HCOCO`` from COCO instance annotations (the steps of :func:`generate`).

    Parameters
    ----------
    images, annotations : str or os.PathLike or None
        The images folder and the instances JSON; both None: the embedded sample data.
    options : CocoOptions or None
        Object selection, transfer methods, rejection thresholds, split and seed.
    """

    subset = SUBSET
    command = "datagen coco"
    split_options = "--test-fraction/--test-ids"
    work = staticmethod(work)

    def __init__(self, images: str | os.PathLike | None, annotations: str | os.PathLike | None,
                 options: CocoOptions | None):
        self.images, self.annotations = images, annotations
        self.options = options or CocoOptions()

    def resolve(self) -> Inputs:
        """The images folder and annotation file: the user's (checked) or the embedded sample.

        Returns
        -------
        Inputs
            ``data["images"]``, ``data["annotations"]`` and their provenance.

        Raises
        ------
        InputError
            Only one of the two given, or the images folder missing.
        """
        self.options.check()
        images, annotations = self.images, self.annotations
        if (images is None) != (annotations is None):
            raise InputError("--images and --annotations go together (give both, or neither for the sample data)")
        if images is None:
            from .samples import SAMPLE_VERSION, coco_sample

            images, annotations = coco_sample()
            return Inputs({"images": images, "annotations": annotations},
                          {"data": f"embedded sample {SAMPLE_VERSION}"})
        images_path = Path(images)
        if not images_path.is_dir():
            raise InputError(f"{images_path}: images folder not found")
        return Inputs({"images": images, "annotations": annotations},
                      {"images": str(images_path.resolve()), "annotations": str(Path(annotations).resolve())})

    def plan(self, inputs: Inputs) -> Plan:
        """Read and validate the annotations, then select objects and references (:func:`plan_units`).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            One unit per annotated image; the selection counts and planning time as notes; the
            annotation file's SHA-256 (user data only) in ``extra``.
        """
        data = load_annotations(inputs.data["annotations"])
        extra = {}
        if "annotations" in inputs.config:
            extra["annotations_sha256"] = hio.sha256_file(Path(inputs.data["annotations"]))
        started = time.perf_counter()
        units, stats = plan_units(data, inputs.data["images"], self.options)
        planning_seconds = time.perf_counter() - started
        return Plan(units, [], stats.lines() + [f"planning took {planning_seconds:.1f} s"], extra)

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The data's provenance (with the annotation file's SHA-256) and the options.

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
        return {**inputs.config, **plan.extra, **self.options.config()}


def generate(out: str | os.PathLike, images: str | os.PathLike | None = None,
             annotations: str | os.PathLike | None = None, *, options: CocoOptions | None = None,
             workers: int | None = None, scheduler: Any = None, overwrite: bool = False,
             progress: bool = True) -> RunSummary:
    """Build ``<out>/HCOCO`` (iHarmony4 layout): colour-transfer composites of COCO objects.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    images : str or os.PathLike or None
        Folder of the images named by the annotations' ``file_name``.
    annotations : str or os.PathLike or None
        COCO instances JSON (polygons or RLE). With neither ``images`` nor ``annotations`` the embedded
        sample data is used (:func:`harmony.datagen.samples.coco_sample`).
    options : CocoOptions or None
        Composites per object, methods, fg-ratio bounds, rejection thresholds, split, seed.
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RunSummary
        Counts of units and composites, rejections per reason, skipped objects and the selection notes.

    Raises
    ------
    InputError
        Bad options, a missing folder, or an annotation file that is not COCO instances JSON.

    References
    ----------
    .. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020
       (iHarmony4's HCOCO subset: colour transfer from a same-category reference).
    .. [2] Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (the annotation format;
       decoded with pycocotools).

    Examples
    --------
    >>> summary = generate("data/")                # doctest: +SKIP
    >>> summary.lines()[0]                         # doctest: +SKIP
    'HCOCO: 7 composites (3 train / 4 test) in data/HCOCO'
    """
    return generate_with(CocoGenerator(images, annotations, options), out, workers=workers, scheduler=scheduler,
                         overwrite=overwrite, progress=progress)


GENERATORS.register("coco", generate, card=Card(
    name="coco", kind="generator",
    summary="Colour-transfer composites from COCO instance annotations (HCOCO, iHarmony4 layout).",
    paper="Cong et al., DoveNet: Deep Image Harmonization via Domain Verification, CVPR 2020 (iHarmony4, HCOCO)",
    inputs=("images", "annotations"),
    notes="Largest instance per category >= 5 % of the image; reference of the same category from another "
          "image; methods gct, gctrgb, hgm, idt (and dih) from harmony.datagen.transfer; rejects unchanged, "
          "clipped or flattened foregrounds; a pluggable --filter module:function stands in for iHarmony4's "
          "aesthetics model and manual filtering (no public weights).",
    extra={"subset": SUBSET, "prefix": PREFIX, "command": "harmony datagen coco"},
))
