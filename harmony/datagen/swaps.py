"""Style swaps: HAdobe5k from MIT-Adobe FiveK versions and Hday2night from fixed-camera captures.

Both generators make composites from several *aligned versions of one view* (iHarmony4's HAdobe5k and Hday2night, Cong et al., CVPR 2020):
the real image is version ``p``; its foreground (a hand-made mask) is replaced by the same region of
version ``q != p``, so ``composite = M * version_q + (1 - M) * version_p`` exactly (``M`` is the binary
mask written to ``masks/``, ``mask > 0.5`` as iHarmony4's masks are 0/255). The blend is a uint8
masked copy (``cv2.copyTo``): lossless outputs (``fmt="png"``) hold the equation bit for bit, JPEG
outputs within the codec's error.

- **fivek** (HAdobe5k, prefix ``a``; DIH, Tsai et al. 2017, section 3.1): versions ``original, expertA..E`` of
  each photo, masks ``<stem>_<fg>.png``. Names: image id ``<stem>-<P>`` where ``<stem>`` is the photo
  stem with underscores and path characters replaced by ``-`` (iHarmony4 names use ``_`` as the field
  separator; FiveK stems ``a0001-...`` keep only their number, ``0001``) and ``P`` the code of the real image's version (``O`` original, ``A``..``E`` experts);
  ``k`` is the 1-based position of the foreground's version in ``original, expertA, ..., expertE``.
  Example: ``a0001-C_1_2.jpg`` = expert C's photo with the foreground of expert A.
- **day2night** (Hday2night, prefix ``d``): ``<scene>/<yyyymmdd>-<hhmmss>.<ext>`` captures and
  ``<scene>/masks/<fg>.png``. Names ``d<scene>-<yyyymmdd>-<hhmmss>_<fg>_<k>`` (the iHarmony4
  release's names) where the capture is the real image and ``k`` is the 1-based position (by time) of the capture
  the foreground comes from. Scene and fg ids are sanitised the same way (no ``_``).

Pairs: every ordered pair ``(p, q)`` per mask, or ``per_mask=K`` pairs drawn without replacement from the
unit's seed. Versions must be aligned (same size): a mismatch is an :class:`InputError` naming both files
unless ``align="resize"``, which resizes every version to the first version's size (area filter when
shrinking, bilinear when enlarging) and records it in the manifest (``align`` column).

One work unit = one photo (fivek) or one scene (day2night): each version is decoded once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import io as hio
from ..dataset import SUBSETS, SubsetLayout, composite_name, mask_name, params_json, real_name, safe_id, split_for
from ..errors import InputError
from ..parallel import unit_rng, unit_seed
from ..registry import GENERATORS, Card
from ._common import binary_mask_or_skip, read_mask_or_skip, sample_test_ids, tool_version
from .runner import Generator, Inputs, Plan, RunSummary, generate, no_units_error

VERSIONS = ("original", "expertA", "expertB", "expertC", "expertD", "expertE")
VERSION_CODES = {"original": "O", "expertA": "A", "expertB": "B", "expertC": "C", "expertD": "D",
                 "expertE": "E"}
# Folder names people's FiveK exports use, normalised (lower case, alphanumerics only) -> version.
VERSION_ALIASES = {
    "original": "original", "originals": "original", "input": "original", "inputs": "original",
    "raw": "original", "source": "original", "orig": "original", "o": "original",
    **{f"expert{c}": f"expert{c.upper()}" for c in "abcde"},
    **{c: f"expert{c.upper()}" for c in "abcde"},
    **{f"{c}expert": f"expert{c.upper()}" for c in "abcde"},
    **{f"expert{c}gt": f"expert{c.upper()}" for c in "abcde"},
}
# When one version holds the same stem twice (a TIFF and a JPEG export), the lossless file wins.
EXTENSION_ORDER = (".tif", ".tiff", ".png", ".webp", ".bmp", ".jpg", ".jpeg")
FORMATS = ("jpg", "png")
ALIGN_MODES = ("error", "resize")
CAPTURE_RE = re.compile(r"^(\d{8})-(\d{6})$")


def normalise_version(name: str) -> str | None:
    """Map a folder or file name to a MIT-Adobe FiveK version.

    Parameters
    ----------
    name : str
        A folder or file stem as exports name them (``ExpertC``, ``c``, ``expertC_gt``, ``input``, ...);
        matched lower-case with non-alphanumerics removed.

    Returns
    -------
    str or None
        ``original`` or ``expertA``..``expertE``; None when the name is no version.

    Examples
    --------
    >>> normalise_version("Expert-C"), normalise_version("inputs"), normalise_version("masks")
    ('expertC', 'original', None)
    """
    return VERSION_ALIASES.get(re.sub(r"[^a-z0-9]", "", name.lower()))


# --- units -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwapOptions:
    """Options shared by the style-swap generators (fivek, day2night) and ``retouched``.

    Attributes
    ----------
    per_mask : int or None
        Composites per mask: ``K`` ordered (real, foreground) version pairs drawn from the seed; None:
        every ordered pair.
    align : {"error", "resize"}
        Versions of different sizes: an error naming both files, or resize to the first version.
    fmt : {"jpg", "png"}
        Output format (png is lossless: the composite equation then holds bit for bit).
    quality : int
        JPEG quality, 1-100.
    test_fraction : float
        Share of photos / scenes in the test split, 0-1 (hash of the id).
    seed : int
        Seed of the drawn pairs.
    """

    per_mask: int | None = None      # None: every ordered pair
    align: str = "error"
    fmt: str = "jpg"
    quality: int = 95
    test_fraction: float = 0.1
    seed: int = 0

    @classmethod
    def from_flags(cls, *, test_fraction: float | None, default_test_fraction: float, **fields: Any) -> SwapOptions:
        """The options from the command's flags, with the generator's default test fraction.

        Parameters
        ----------
        test_fraction : float or None
            ``--test-fraction`` (None: not given).
        default_test_fraction : float
            The generator's default (fivek 0.1, day2night 0.3).
        **fields
            The other fields, as named in the dataclass.

        Returns
        -------
        SwapOptions
            Not yet checked (the generator checks it).
        """
        return cls(test_fraction=default_test_fraction if test_fraction is None else test_fraction, **fields)

    def check(self) -> None:
        """Refuse out-of-range options with one line naming the flag.

        Raises
        ------
        InputError
            ``per_mask < 1``, an unknown ``align`` or ``fmt``, ``quality`` outside 1-100, or
            ``test_fraction`` outside 0-1.
        """
        if self.per_mask is not None and self.per_mask < 1:
            raise InputError(f"--per-mask: expected a positive number, got {self.per_mask}")
        if self.align not in ALIGN_MODES:
            raise InputError(f"--align: expected one of {', '.join(ALIGN_MODES)}, got {self.align!r}")
        if self.fmt not in FORMATS:
            raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {self.fmt!r}")
        if not 1 <= self.quality <= 100:
            raise InputError(f"--quality: expected 1..100, got {self.quality}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise InputError(f"--test-fraction: expected 0..1, got {self.test_fraction}")

    def config(self) -> dict:
        """The options as recorded in ``run.json``.

        Returns
        -------
        dict
            ``per_mask``, ``align``, ``format``, ``quality``, ``test_fraction``, ``seed``.
        """
        return {"per_mask": self.per_mask, "align": self.align, "format": self.fmt, "quality": self.quality,
                "test_fraction": self.test_fraction, "seed": self.seed}


@dataclass(frozen=True)
class Version:
    """One aligned version of a view: a FiveK expert's photo or a day2night capture."""

    name: str        # expertC / 20130410-181833
    path: str
    image_id: str    # iHarmony4 image id of composites whose real image is this version
    k: int           # 1-based index used as <k> when this version gives the foreground


@dataclass(frozen=True)
class SwapUnit:
    """One photo (fivek) or scene (day2night) with its versions and masks (picklable work unit)."""

    key: str
    subset: str
    prefix: str
    method: str
    source_id: str                       # photo stem / scene as given
    versions: tuple[Version, ...]
    masks: tuple[tuple[str, str], ...]   # (sanitised fg id, path)
    split: str
    options: SwapOptions
    synthetic: bool
    skipped: tuple[tuple[str, str], ...] = ()   # (item, reason) found while planning


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(p, q) for p in range(n) for q in range(n) if p != q]


class _Versions:
    """Decodes versions on first use (uint8), so ``per_mask=K`` only pays for the versions it needs.

    Corrupt files are listed once and their pairs skipped; sizes are aligned to the first version's
    header size (``align="resize"``) or the version is skipped (planning already refused mismatches).
    """

    def __init__(self, unit: SwapUnit, record: dict):
        self.unit, self.record = unit, record
        self.cache: dict[int, np.ndarray] = {}
        self.bad: set[int] = set()
        self.aligned: dict[str, str] = {}
        try:
            self.size = hio.image_size(unit.versions[0].path)
        except InputError:
            self.size = None

    def __call__(self, i: int) -> np.ndarray | None:
        if i in self.bad:
            return None
        if i in self.cache:
            return self.cache[i]
        v = self.unit.versions[i]
        try:
            img = hio.read_image_uint8(v.path)
        except InputError as exc:
            self.record["skipped"].append({"item": v.path, "reason": "corrupt or unreadable file",
                                           "detail": str(exc)})
            self.bad.add(i)
            return None
        if self.size is None:
            self.size = img.shape[:2]
        h, w = self.size
        if img.shape[:2] != (h, w):
            if self.unit.options.align != "resize":
                self.record["skipped"].append({"item": v.path, "reason": "size differs from the other versions",
                                               "detail": f"{img.shape[1]}x{img.shape[0]} vs "
                                                         f"{self.unit.versions[0].path} {w}x{h}"})
                self.bad.add(i)
                return None
            interp = cv2.INTER_AREA if img.shape[0] * img.shape[1] > h * w else cv2.INTER_LINEAR
            self.aligned[v.name] = f"{img.shape[1]}x{img.shape[0]}->{w}x{h}"
            img = cv2.resize(img, (w, h), interpolation=interp)
        self.cache[i] = img
        return img


def work(unit: SwapUnit, layout: SubsetLayout) -> dict:
    """Write every composite of one photo or scene: ``M * version_q + (1 - M) * version_p``.

    Parameters
    ----------
    unit : SwapUnit
        The photo's versions (or the scene's captures) and masks.
    layout : SubsetLayout
        Where composites, masks and real images are written.

    Returns
    -------
    dict
        The unit record: manifest ``rows`` and ``skipped`` entries (unreadable or unaligned versions,
        bad masks).
    """
    record: dict[str, Any] = {"rows": [], "rejected": [],
                              "skipped": [{"item": i, "reason": r} for i, r in unit.skipped]}
    versions = list(unit.versions)
    if len(versions) < 2:
        if versions:
            record["skipped"].append({"item": unit.source_id, "reason": "fewer than two usable versions"})
        return record
    load = _Versions(unit, record)
    options = unit.options
    ext = "." + options.fmt
    pairs_all = _pairs(len(versions))
    reals_written: set[int] = set()
    masks_written: set[tuple[int, str]] = set()
    for fg, mask_path in unit.masks:
        soft = read_mask_or_skip(mask_path, record)
        if soft is None:
            continue
        if load.size is None:
            load(0)
        binary = binary_mask_or_skip(mask_path, soft, load.size if load.size is not None else soft.shape, record)
        if binary is None:
            continue
        if options.per_mask is None or options.per_mask >= len(pairs_all):
            pairs = pairs_all
        else:
            rng = unit_rng(options.seed, f"{unit.key}/{fg}")
            pick = np.sort(rng.choice(len(pairs_all), size=options.per_mask, replace=False))
            pairs = [pairs_all[i] for i in pick]
        ratio = float(binary.mean())
        binary_uint8 = binary.astype(np.uint8)
        for p, q in pairs:
            img_p, img_q = load(p), load(q)
            if img_p is None or img_q is None:
                continue
            vp, vq = versions[p], versions[q]
            comp = composite_name(unit.prefix, vp.image_id, fg, vq.k, ext)
            mname = mask_name(unit.prefix, vp.image_id, fg)
            rname = real_name(unit.prefix, vp.image_id, ext)
            # cv2.copyTo is an exact masked copy, ~14x faster than np.where with a broadcast mask.
            layout.write_composite(comp, cv2.copyTo(img_q, binary_uint8, img_p.copy()), quality=options.quality)
            if (p, fg) not in masks_written:
                layout.write_mask(mname, binary)
                masks_written.add((p, fg))
            if p not in reals_written:
                layout.write_real(rname, img_p, quality=options.quality)
                reals_written.add(p)
            params = {"version_p": vp.name, "version_q": vq.name, "format": options.fmt}
            aligned = {k: v for k, v in load.aligned.items() if k in (vp.name, vq.name)}
            if aligned:
                params["align"] = aligned
            record["rows"].append({
                "composite": comp, "mask": f"masks/{mname}", "real": f"real_images/{rname}",
                "subset": unit.subset, "split": unit.split,
                "source_image_id": unit.source_id, "source_annotation_id": fg,
                "reference_image_id": unit.source_id, "reference_annotation_id": fg,
                "method": unit.method, "params": params_json(params),
                "fg_ratio": round(ratio, 6), "seed": unit_seed(options.seed, unit.key), "tool_version": tool_version(),
                "unit": unit.key, "synthetic": int(unit.synthetic),
                "version_p": vp.name, "version_q": vq.name, "file_p": vp.path, "file_q": vq.path,
                "align": ";".join(f"{k}:{v}" for k, v in sorted(aligned.items())),
            })
    usable = len(versions) - len(load.bad)
    if usable < 2:
        record["skipped"].append({"item": unit.source_id, "reason": "fewer than two usable versions"})
    return record


# --- planning: shared ------------------------------------------------------------------------------

def _check_alignment(files: Sequence[str], align: str, skipped: list) -> list[str]:
    """Header-only size check; returns the files whose header is readable. Mismatch -> InputError."""
    good, first, first_size = [], None, None
    for f in files:
        try:
            size = hio.image_size(f)
        except InputError:
            skipped.append((f, "corrupt or unreadable file"))
            continue
        good.append(f)
        if first is None:
            first, first_size = f, size
        elif size != first_size and align != "resize":
            raise InputError(f"{f}: size {size[1]}x{size[0]} differs from {first} {first_size[1]}x{first_size[0]}"
                             " (versions must be aligned); use --align resize to resize to the first version")
    return good


def _mask_files(folder: Path) -> list[Path]:
    return [p for p in hio.list_images(folder) if not p.name.startswith(".")]


def _unique_ids(mapping: dict[str, str], what: str) -> None:
    seen: dict[str, str] = {}
    for raw, sid in mapping.items():
        if sid in seen and seen[sid] != raw:
            raise InputError(f"{what} {raw!r} and {seen[sid]!r} both become {sid!r} once underscores are replaced "
                             "(iHarmony4 names use '_' as separator); rename one")
        seen[sid] = raw


# --- fivek -----------------------------------------------------------------------------------------

def fivek_image_id(stem: str) -> str:
    """The iHarmony4 image id of a FiveK photo stem.

    Parameters
    ----------
    stem : str
        The photo's file stem.

    Returns
    -------
    str
        FiveK's own number for ``a<digits>-...`` stems (so names read ``a0001-C_1_2.jpg`` like
        iHarmony4's ``a0001_1_1.jpg``); any other stem with ``_`` and path characters replaced by ``-``.

    Examples
    --------
    >>> fivek_image_id("a0001-jmac_DSC1459"), fivek_image_id("my_photo")
    ('0001', 'my-photo')
    """
    m = re.match(r"^a(\d{4,})(?:-|$)", stem)
    return m.group(1) if m else safe_id(stem)


@dataclass
class FivekTree:
    """The versions found under a FiveK root: ``files[stem][version] = path``, the layout, DNGs ignored."""

    files: dict[str, dict[str, str]]       # stem -> version -> path
    layout: str
    ignored_raw: int = 0


def scan_fivek(root: str | os.PathLike) -> FivekTree:
    """Find the versions of every photo under ``root``.

    Accepted layouts (version folder names are matched case-insensitively, see ``VERSION_ALIASES``):

    1. ``ROOT/<version>/<stem>.<ext>`` (canonical), files may sit in sub-folders of the version folder
       (``ROOT/expertC/HQa1to700/photos/<stem>.tif``);
    2. ``ROOT/<stem>/<version>.<ext>`` (one folder per photo).

    Extensions: JPEG, PNG, TIFF (8 or 16 bit; 16-bit is reduced to 8 bit), WebP, BMP. DNG raw files
    are not decoded (export them to TIFF first); they are counted. When a version holds a stem twice,
    the lossless file wins (``EXTENSION_ORDER``).

    Parameters
    ----------
    root : str or os.PathLike
        The FiveK root folder.

    Returns
    -------
    FivekTree
        Paths by stem and version, the layout found, and the number of DNG files ignored.

    Raises
    ------
    InputError
        The folder is missing or holds no version.

    References
    ----------
    .. [1] Bychkovsky et al., "Learning Photographic Global Tonal Adjustment with a Database of
       Input / Output Image Pairs", CVPR 2011 (MIT-Adobe FiveK: one original and five experts' versions).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: FiveK root folder not found")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    version_dirs = {normalise_version(p.name): p for p in subdirs if normalise_version(p.name)}
    files: dict[str, dict[str, str]] = {}
    raw = 0

    def add(stem: str, version: str, path: Path) -> None:
        slot = files.setdefault(stem, {})
        old = slot.get(version)
        if old is None or EXTENSION_ORDER.index(path.suffix.lower()) < EXTENSION_ORDER.index(Path(old).suffix.lower()):
            slot[version] = str(path)

    if version_dirs:
        for version, folder in sorted(version_dirs.items()):
            for p in sorted(folder.rglob("*")):
                if not p.is_file() or p.name.startswith("."):
                    continue
                if p.suffix.lower() == ".dng":
                    raw += 1
                elif p.suffix.lower() in EXTENSION_ORDER:
                    add(p.stem, version, p)
        layout = "ROOT/<version>/<stem>.<ext>"
    else:
        for folder in subdirs:
            for p in sorted(folder.iterdir()):
                if p.is_file() and p.suffix.lower() in EXTENSION_ORDER and normalise_version(p.stem):
                    add(folder.name, normalise_version(p.stem), p)
        layout = "ROOT/<stem>/<version>.<ext>"
    if not files:
        raise InputError(f"{root}: no FiveK versions found (expected ROOT/<version>/<stem>.<ext> with version "
                         f"folders {', '.join(VERSIONS)}, or ROOT/<stem>/<version>.<ext>)"
                         + (f"; {raw} DNG files found: export them to TIFF or JPEG" if raw else ""))
    return FivekTree(files, layout, raw)


def plan_fivek(root: str | os.PathLike, masks: str | os.PathLike, options: SwapOptions, *,
               versions: Sequence[str] | None = None, synthetic: bool = False
               ) -> tuple[list[SwapUnit], list[tuple[str, str]], list[str]]:
    """One unit per photo that has a mask and two or more versions.

    Parameters
    ----------
    root : str or os.PathLike
        The FiveK tree (see :func:`scan_fivek`).
    masks : str or os.PathLike
        Mask folder, ``<stem>_<fg>.png``.
    options : SwapOptions
        Carried by every unit; ``align`` decides whether unaligned versions are an error.
    versions : sequence of str or None
        Versions to use (default: every version found).
    synthetic : bool
        The inputs are the embedded sample (fixed test split).

    Returns
    -------
    units : list of SwapUnit
        Sorted by stem.
    skipped : list of (str, str)
        Masks matching no photo, missing versions, photos with fewer than two versions.
    notes : list of str
        The input layout and versions, photos without a mask, DNG files ignored.

    Raises
    ------
    InputError
        Unknown or fewer than two versions, a missing masks folder, unaligned versions (without
        ``align="resize"``), or ids that collide once sanitised.
    """
    tree = scan_fivek(root)
    wanted = list(versions) if versions else [v for v in VERSIONS if any(v in s for s in tree.files.values())]
    for v in wanted:
        if v not in VERSIONS:
            raise InputError(f"--versions: unknown version {v!r}; expected some of {', '.join(VERSIONS)}")
    if len(wanted) < 2:
        raise InputError(f"{root}: found only version(s) {', '.join(wanted) or 'none'}; need two or more")
    masks = Path(masks)
    if not masks.is_dir():
        raise InputError(f"{masks}: masks folder not found")
    skipped: list[tuple[str, str]] = []
    by_stem: dict[str, list[tuple[str, str]]] = {}
    for p in _mask_files(masks):
        stem, sep, fg = p.stem.rpartition("_")
        if not sep or not stem or not fg:
            skipped.append((str(p), "mask name is not <stem>_<fg>.png"))
            continue
        if stem not in tree.files:
            skipped.append((str(p), "mask matches no image"))
            continue
        by_stem.setdefault(stem, []).append((fg, str(p)))
    stem_ids = {s: fivek_image_id(s) for s in by_stem}
    _unique_ids(stem_ids, "photo stems")
    units = []
    for stem in sorted(by_stem):
        have = tree.files[stem]
        missing = [v for v in wanted if v not in have]
        for v in missing:
            skipped.append((f"{stem}/{v}", "version missing"))
        present = [v for v in wanted if v in have]
        if len(present) < 2:
            skipped.append((stem, f"only {len(present)} version(s) found; need two or more"))
            continue
        unit_skipped: list[tuple[str, str]] = []
        good = set(_check_alignment([have[v] for v in present], options.align, unit_skipped))
        sid = stem_ids[stem]
        vs = tuple(Version(v, have[v], f"{sid}-{VERSION_CODES[v]}", VERSIONS.index(v) + 1)
                   for v in present if have[v] in good)
        fgs = {safe_id(fg): path for fg, path in sorted(by_stem[stem])}
        _unique_ids({fg: safe_id(fg) for fg, _ in by_stem[stem]}, f"mask ids of {stem}")
        units.append(SwapUnit(key=f"fivek/{stem}", subset="HAdobe5k", prefix=SUBSETS["HAdobe5k"],
                              method="style-swap", source_id=stem, versions=vs, masks=tuple(sorted(fgs.items())),
                              split=split_for(stem, options.test_fraction, sample_test_ids(synthetic)), options=options, synthetic=synthetic,
                              skipped=tuple(unit_skipped)))
    notes = [f"input layout: {tree.layout}; versions: {', '.join(wanted)}"]
    without = len(set(tree.files) - set(by_stem))
    if without:
        notes.append(f"{without} photos have no mask (not used)")
    if tree.ignored_raw:
        notes.append(f"{tree.ignored_raw} DNG raw files ignored (export them to TIFF or JPEG)")
    return units, skipped, notes


class FivekGenerator(Generator):
    """``HAdobe5k`` from MIT-Adobe FiveK versions and masks (the steps of :func:`generate_fivek`).

    Parameters
    ----------
    root, masks : str or os.PathLike or None
        The FiveK tree and the mask folder (default ``root/masks``); both None: the embedded sample.
    options : SwapOptions or None
        Pairs per mask, alignment, output format, quality, split and seed.
    versions : sequence of str or None
        Versions to use (default: every version found).
    """

    subset = "HAdobe5k"
    command = "datagen fivek"
    work = staticmethod(work)

    def __init__(self, root: str | os.PathLike | None, masks: str | os.PathLike | None,
                 options: SwapOptions | None, versions: Sequence[str] | None):
        self.root, self.masks, self.versions = root, masks, versions
        self.options = options or SwapOptions()

    def resolve(self) -> Inputs:
        """The FiveK root and mask folder: the user's (checked to exist) or the embedded sample.

        Returns
        -------
        Inputs
            ``data["root"]``, ``data["masks"]`` and ``data["synthetic"]``.

        Raises
        ------
        InputError
            ``--masks`` without ``--root``, or a folder that does not exist.
        """
        self.options.check()
        root, masks = self.root, self.masks
        if root is None and masks is None:
            from .samples_extra import SAMPLE_VERSION, fivek_sample

            root, masks = fivek_sample()
            return Inputs({"root": root, "masks": masks, "synthetic": True},
                          {"data": f"embedded fivek sample {SAMPLE_VERSION}"},
                          "data: embedded FiveK-like sample (documented global edits of bundled photos; synthetic)")
        if root is None:
            raise InputError("--root is required with --masks (or give neither for the sample data)")
        if not Path(root).is_dir():
            raise InputError(f"{root}: FiveK root folder not found")
        if masks is None:
            masks = Path(root) / "masks"
            if not masks.is_dir():
                raise InputError(f"--masks not given and {masks} does not exist")
        return Inputs({"root": root, "masks": masks, "synthetic": False},
                      {"root": str(Path(root).resolve()), "masks": str(Path(masks).resolve())})

    def plan(self, inputs: Inputs) -> Plan:
        """One unit per photo with a mask (see :func:`plan_fivek`), with the planning time as a note.

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Units, skipped inputs and notes (input layout, versions, photos without a mask).
        """
        started = time.perf_counter()
        units, skipped, notes = plan_fivek(inputs.data["root"], inputs.data["masks"], self.options,
                                           versions=self.versions, synthetic=inputs.data["synthetic"])
        notes.append(f"planning took {time.perf_counter() - started:.1f} s")
        return Plan(units, skipped, notes)

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError:
        """No photo with a mask and two versions: one line naming the root and the first skipped item.

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
        return no_units_error(inputs.data["root"], "photo (a mask plus two or more versions)", plan.skipped)

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The data's provenance, the options and the versions asked for (recorded in ``run.json``).

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
        return {**inputs.config, **self.options.config(), "versions": list(self.versions) if self.versions else None}


def generate_fivek(out: str | os.PathLike, root: str | os.PathLike | None = None,
                   masks: str | os.PathLike | None = None, *, options: SwapOptions | None = None,
                   versions: Sequence[str] | None = None, workers: int | None = None, scheduler: Any = None,
                   overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Build ``<out>/HAdobe5k``: style swaps between the expert versions of MIT-Adobe FiveK photos.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    root : str or os.PathLike or None
        FiveK tree, ``ROOT/<version>/<stem>.<ext>`` or ``ROOT/<stem>/<version>.<ext>`` (see
        :func:`scan_fivek`). With neither ``root`` nor ``masks``: the embedded FiveK-like sample
        (documented global edits of bundled photos; synthetic).
    masks : str or os.PathLike or None
        Foreground masks ``<stem>_<fg>.png`` (default ``root/masks``).
    options : SwapOptions or None
        Pairs per mask (None: every ordered pair), alignment, output format, quality, test fraction, seed.
    versions : sequence of str or None
        Versions to use, from ``original, expertA..expertE`` (default: every version found).
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RunSummary
        Counts of units, composites, rejections and skipped inputs.

    Raises
    ------
    InputError
        Missing folders, fewer than two versions, unaligned versions without ``align="resize"``, or no
        photo with a mask.

    References
    ----------
    .. [1] Bychkovsky, Paris, Chan and Durand, "Learning Photographic Global Tonal Adjustment with a
       Database of Input / Output Image Pairs", CVPR 2011 (MIT-Adobe FiveK).
    .. [2] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020
       (iHarmony4's HAdobe5k subset).

    Examples
    --------
    >>> summary = generate_fivek("data/", options=SwapOptions(per_mask=3))   # doctest: +SKIP
    >>> summary.lines()[0]                                                   # doctest: +SKIP
    'HAdobe5k: 24 composites (18 train / 6 test) in data/HAdobe5k'
    """
    return generate(FivekGenerator(root, masks, options, versions), out, workers=workers, scheduler=scheduler,
                    overwrite=overwrite, progress=progress)


# --- day2night -------------------------------------------------------------------------------------

def plan_day2night(root: str | os.PathLike, options: SwapOptions, *, synthetic: bool = False
                   ) -> tuple[list[SwapUnit], list[tuple[str, str]], list[str]]:
    """One unit per scene folder ``ROOT/<scene>/`` holding two or more captures and ``masks/``.

    Parameters
    ----------
    root : str or os.PathLike
        Scenes: ``ROOT/<scene>/<yyyymmdd>-<hhmmss>.<ext>`` and ``ROOT/<scene>/masks/<fg>.png``.
    options : SwapOptions
        Carried by every unit.
    synthetic : bool
        The inputs are the embedded sample (fixed test split).

    Returns
    -------
    units : list of SwapUnit
        Sorted by scene; captures in time order.
    skipped : list of (str, str)
        Badly named captures, scenes without masks or with fewer than two captures.
    notes : list of str
        The scene count and how many scene ids were sanitised.

    Raises
    ------
    InputError
        The root is missing or has no scene folder, unaligned captures, or ids that collide.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: day2night root folder not found")
    skipped: list[tuple[str, str]] = []
    scenes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not scenes:
        raise InputError(f"{root}: no scene folders (expected ROOT/<scene>/<yyyymmdd>-<hhmmss>.jpg and "
                         "ROOT/<scene>/masks/<fg>.png)")
    scene_ids = {s.name: safe_id(s.name) for s in scenes}
    _unique_ids(scene_ids, "scene folders")
    units, renamed = [], 0
    for scene in scenes:
        captures = []
        for p in hio.list_images(scene):
            if CAPTURE_RE.match(p.stem):
                captures.append(p)
            else:
                skipped.append((str(p), "capture name is not <yyyymmdd>-<hhmmss>"))
        mask_dir = scene / "masks"
        masks = _mask_files(mask_dir) if mask_dir.is_dir() else []
        if not masks:
            skipped.append((str(scene), "no masks/<fg>.png"))
            continue
        if len(captures) < 2:
            skipped.append((str(scene), f"only {len(captures)} capture(s); need two or more"))
            continue
        captures.sort(key=lambda p: p.stem)
        unit_skipped: list[tuple[str, str]] = []
        good = set(_check_alignment([str(p) for p in captures], options.align, unit_skipped))
        sid = scene_ids[scene.name]
        renamed += sid != scene.name
        vs = tuple(Version(p.stem, str(p), f"{sid}-{p.stem}", i + 1) for i, p in enumerate(captures)
                   if str(p) in good)
        _unique_ids({m.stem: safe_id(m.stem) for m in masks}, f"mask ids of scene {scene.name}")
        units.append(SwapUnit(key=f"day2night/{scene.name}", subset="Hday2night", prefix=SUBSETS["Hday2night"],
                              method="day2night-swap", source_id=scene.name, versions=vs,
                              masks=tuple(sorted((safe_id(m.stem), str(m)) for m in masks)),
                              split=split_for(scene.name, options.test_fraction, sample_test_ids(synthetic)), options=options,
                              synthetic=synthetic, skipped=tuple(unit_skipped)))
    notes = [f"{len(units)} scenes"]
    if renamed:
        notes.append(f"{renamed} scene id(s) sanitised ('_' and path characters -> '-') for iHarmony4 names")
    return units, skipped, notes


class Day2nightGenerator(Generator):
    """``Hday2night`` from fixed-camera captures (the steps of :func:`generate_day2night`).

    Parameters
    ----------
    root : str or os.PathLike or None
        Scene folders; None: the embedded day2night-like sample.
    options : SwapOptions or None
        Pairs per mask, alignment, output format, quality, split (default test fraction 0.3) and seed.
    """

    subset = "Hday2night"
    command = "datagen day2night"
    work = staticmethod(work)

    def __init__(self, root: str | os.PathLike | None, options: SwapOptions | None):
        self.root = root
        self.options = options or SwapOptions(test_fraction=0.3)

    def resolve(self) -> Inputs:
        """The scene root: the user's, or the embedded day2night-like sample.

        Returns
        -------
        Inputs
            ``data["root"]`` and ``data["synthetic"]``.
        """
        self.options.check()
        if self.root is None:
            from .samples_extra import SAMPLE_VERSION, day2night_sample

            return Inputs({"root": day2night_sample(), "synthetic": True},
                          {"data": f"embedded day2night sample {SAMPLE_VERSION}"},
                          "data: embedded day2night-like sample (documented illumination changes; synthetic)")
        return Inputs({"root": self.root, "synthetic": False}, {"root": str(Path(self.root).resolve())})

    def plan(self, inputs: Inputs) -> Plan:
        """One unit per scene with two or more captures and masks (see :func:`plan_day2night`).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Units, skipped inputs and notes (scene count, sanitised ids).
        """
        units, skipped, notes = plan_day2night(inputs.data["root"], self.options, synthetic=inputs.data["synthetic"])
        return Plan(units, skipped, notes)

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError:
        """No usable scene: one line naming the root and the first skipped item.

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
        return no_units_error(inputs.data["root"], "scene (two or more captures plus masks/)", plan.skipped)

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The data's provenance and the options (recorded in ``run.json``).

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
        return {**inputs.config, **self.options.config()}


def generate_day2night(out: str | os.PathLike, root: str | os.PathLike | None = None, *,
                       options: SwapOptions | None = None, workers: int | None = None, scheduler: Any = None,
                       overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Build ``<out>/Hday2night``: a static foreground from one capture overlaid on another of the same scene.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    root : str or os.PathLike or None
        Scenes ``ROOT/<scene>/<yyyymmdd>-<hhmmss>.<ext>`` with masks ``ROOT/<scene>/masks/<fg>.png``; None:
        the embedded day2night-like sample (documented illumination changes; synthetic).
    options : SwapOptions or None
        Pairs per mask, alignment, output format, quality, test fraction (default 0.3) and seed.
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RunSummary
        Counts of units, composites, rejections and skipped inputs.

    Raises
    ------
    InputError
        Missing root, no scene folder, scene ids that collide once sanitised, or no usable scene.

    References
    ----------
    .. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020
       (iHarmony4's Hday2night subset and its file names).

    Examples
    --------
    >>> summary = generate_day2night("data/")      # doctest: +SKIP
    >>> summary.lines()[0]                         # doctest: +SKIP
    'Hday2night: 72 composites (48 train / 24 test) in data/Hday2night'
    """
    return generate(Day2nightGenerator(root, options), out, workers=workers, scheduler=scheduler,
                    overwrite=overwrite, progress=progress)


GENERATORS.register("fivek", generate_fivek, card=Card(
    name="fivek", kind="generator",
    summary="Style swaps between MIT-Adobe FiveK versions (HAdobe5k, iHarmony4 layout).",
    paper="Tsai et al., Deep Image Harmonization, CVPR 2017, section 3.1; iHarmony4 HAdobe5k (Cong et al. 2020)",
    inputs=("root", "masks"),
    notes="composite = M*version_q + (1-M)*version_p (binary M); all ordered pairs or --per-mask K; "
          "--align resize for unaligned versions; sample data: documented global edits (synthetic).",
    extra={"subset": "HAdobe5k", "prefix": "a", "command": "harmony datagen fivek"},
))

GENERATORS.register("day2night", generate_day2night, card=Card(
    name="day2night", kind="generator",
    summary="Fixed-camera captures at other times of day (Hday2night, iHarmony4 layout).",
    paper="Cong et al. 2020 (DoveNet / iHarmony4, Hday2night)",
    inputs=("root",),
    notes="Names d<scene>-<yyyymmdd>-<hhmmss>_<fg>_<k>; scene/fg ids sanitised (no '_'); sample data: "
          "documented illumination changes (synthetic).",
    extra={"subset": "Hday2night", "prefix": "d", "command": "harmony datagen day2night"},
))
