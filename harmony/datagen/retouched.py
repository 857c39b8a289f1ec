"""Artist-retouched pairs (SPRIH: Wang et al., CVPR 2023, section 3.2) -> HRetouched.

Input: triplets ``DIR/<name>_before.<ext>`` (I), ``DIR/<name>_after.<ext>`` (O), ``DIR/<name>_mask.png``
(M). Each triplet gives two composites, as SPRIH's supervised stream does:

- foreground retouched: ``M*O + (1-M)*I``, ground truth ``I`` (image id ``<name>-before``);
- background retouched: ``M*I + (1-M)*O``, ground truth ``O`` (image id ``<name>-after``).

Output under ``<out>/HRetouched`` (prefix ``t``): ``composite_images/t<name>-before_1_1.jpg`` with real
``real_images/t<name>-before.jpg`` and mask ``masks/t<name>-before_1.png``, and the same with ``-after``.
``<name>`` is sanitised (``_`` and path characters -> ``-``). The mask is binarised (``> 0.5``) before
compositing, so the equations hold exactly with the written mask (bit for bit with ``fmt="png"``, within
JPEG error otherwise). Before and after must have the same size (``align="resize"`` resizes the after
image to the before image, recorded in the manifest). One work unit = one triplet.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import io as hio
from ..dataset import SUBSETS, SubsetLayout, composite_name, mask_name, params_json, real_name, safe_id, split_for
from ..errors import InputError
from ..parallel import unit_seed
from ..registry import GENERATORS, Card
from ._common import binary_mask_or_skip, read_mask_or_skip, sample_test_ids, tool_version
from .runner import Generator, Inputs, Plan, RunSummary, generate, no_units_error
from .swaps import SwapOptions

SUBSET = "HRetouched"
PREFIX = SUBSETS[SUBSET]
ROLE_RE = re.compile(r"^(?P<name>.+)_(?P<role>before|after|mask)$", re.IGNORECASE)


@dataclass(frozen=True)
class RetouchUnit:
    """One before/after/mask triplet (picklable work unit)."""

    key: str
    name: str
    image_id: str
    before: str
    after: str
    mask: str
    split: str
    options: SwapOptions
    synthetic: bool


def retouched_composites(before: np.ndarray, after: np.ndarray, mask: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The two composites of a retouched pair: foreground retouched, and background retouched.

    Parameters
    ----------
    before : numpy.ndarray
        ``I``, (H, W, 3), any dtype (uint8 takes the fast exact path through ``cv2.copyTo``).
    after : numpy.ndarray
        ``O``, the artist's retouch of ``I``, same shape and dtype.
    mask : numpy.ndarray
        ``M``, bool (H, W) (binary: the equations then hold exactly).

    Returns
    -------
    foreground_retouched : numpy.ndarray
        ``M*O + (1-M)*I`` (ground truth ``I``).
    background_retouched : numpy.ndarray
        ``M*I + (1-M)*O`` (ground truth ``O``).

    Raises
    ------
    ValueError
        The shapes differ.

    References
    ----------
    .. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023, section 3.2.

    Examples
    --------
    >>> import numpy as np
    >>> before, after = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 9, np.uint8)
    >>> mask = np.array([[True, False], [False, False]])
    >>> fg, bg = retouched_composites(before, after, mask)
    >>> int(fg[0, 0, 0]), int(fg[1, 1, 0]), int(bg[0, 0, 0]), int(bg[1, 1, 0])
    (9, 0, 0, 9)
    """
    if before.shape != after.shape or mask.shape != before.shape[:2]:
        raise ValueError(f"before {before.shape}, after {after.shape} and mask {mask.shape} must share (H, W)")
    binary = np.asarray(mask, bool)
    if before.dtype == np.uint8 and after.dtype == np.uint8:
        # exact masked copies; cv2.copyTo is much faster than np.where with a broadcast mask
        binary_uint8 = binary.astype(np.uint8)
        return cv2.copyTo(after, binary_uint8, before.copy()), cv2.copyTo(before, binary_uint8, after.copy())
    binary = binary[..., None]
    return np.where(binary, after, before), np.where(binary, before, after)


def work(unit: RetouchUnit, layout: SubsetLayout) -> dict:
    """Write the two composites of one triplet (``<name>-before`` and ``<name>-after``).

    Parameters
    ----------
    unit : RetouchUnit
        One before/after/mask triplet with its split and options.
    layout : SubsetLayout
        Where composites, masks and real images are written.

    Returns
    -------
    dict
        The unit record: two manifest ``rows``, or ``skipped`` entries (unreadable file, sizes differ,
        empty mask).
    """
    record: dict[str, Any] = {"rows": [], "rejected": [], "skipped": []}
    images = {}
    for role in ("before", "after"):
        path = getattr(unit, role)
        try:
            images[role] = hio.read_image_uint8(path)
        except InputError as exc:
            record["skipped"].append({"item": path, "reason": "corrupt or unreadable file", "detail": str(exc)})
    soft = read_mask_or_skip(unit.mask, record)
    if soft is None:
        return record
    if len(images) < 2:
        return record
    before, after = images["before"], images["after"]
    h, w = before.shape[:2]
    aligned = ""
    if after.shape != before.shape:
        if unit.options.align != "resize":
            record["skipped"].append({"item": unit.after, "reason": "before and after differ in size",
                                      "detail": f"{after.shape[1]}x{after.shape[0]} vs {unit.before} {w}x{h}"})
            return record
        aligned = f"after:{after.shape[1]}x{after.shape[0]}->{w}x{h}"
        after = cv2.resize(after, (w, h), interpolation=cv2.INTER_AREA)
    binary = binary_mask_or_skip(unit.mask, soft, (h, w), record)
    if binary is None:
        return record
    fg_edit, bg_edit = retouched_composites(before, after, binary)
    ext = "." + unit.options.fmt
    quality = unit.options.quality
    for target, comp_img, real_img, method in (("before", fg_edit, before, "retouched-foreground"),
                                               ("after", bg_edit, after, "retouched-background")):
        image_id = f"{unit.image_id}-{target}"
        comp = composite_name(PREFIX, image_id, 1, 1, ext)
        mname = mask_name(PREFIX, image_id, 1)
        rname = real_name(PREFIX, image_id, ext)
        layout.write_composite(comp, comp_img, quality=quality)
        layout.write_mask(mname, binary)
        layout.write_real(rname, real_img, quality=quality)
        record["rows"].append({
            "composite": comp, "mask": f"masks/{mname}", "real": f"real_images/{rname}", "subset": SUBSET,
            "split": unit.split, "source_image_id": unit.name, "source_annotation_id": 1,
            "reference_image_id": unit.name, "reference_annotation_id": 1, "method": method,
            "params": params_json({"target": target, "format": unit.options.fmt}),
            "fg_ratio": round(float(binary.mean()), 6), "seed": unit_seed(unit.options.seed, unit.key),
            "tool_version": tool_version(), "unit": unit.key, "synthetic": int(unit.synthetic),
            "target": target, "before_file": unit.before, "after_file": unit.after, "mask_file": unit.mask,
            "align": aligned,
        })
    return record


def plan_retouched(pairs: str | os.PathLike, options: SwapOptions, *, synthetic: bool = False
                   ) -> tuple[list[RetouchUnit], list[tuple[str, str]]]:
    """Group ``<name>_before|_after|_mask.<ext>`` files into triplets, one unit each.

    Parameters
    ----------
    pairs : str or os.PathLike
        The triplet folder.
    options : SwapOptions
        Alignment, format, quality, split and seed (carried by every unit).
    synthetic : bool
        The folder is the embedded sample (fixed test split).

    Returns
    -------
    units : list of RetouchUnit
        One per complete triplet, sorted by name.
    skipped : list of (str, str)
        Files with other names, second files of a role, incomplete triplets.

    Raises
    ------
    InputError
        The folder is missing, holds no triplet file, or two names collide once sanitised.
    """
    folder = Path(pairs)
    if not folder.is_dir():
        raise InputError(f"{folder}: pairs folder not found")
    groups: dict[str, dict[str, Path]] = {}
    skipped: list[tuple[str, str]] = []
    for p in hio.list_images(folder):
        m = ROLE_RE.match(p.stem)
        if not m:
            skipped.append((str(p), "name is not <name>_before|_after|_mask.<ext>"))
            continue
        role = m["role"].lower()
        slot = groups.setdefault(m["name"], {})
        if role in slot:
            skipped.append((str(p), f"second {role} file for {m['name']} (kept {slot[role].name})"))
            continue
        slot[role] = p
    if not groups:
        raise InputError(f"{folder}: no <name>_before.<ext> / <name>_after.<ext> / <name>_mask.png triplets")
    ids = {n: safe_id(n) for n in groups}
    seen: dict[str, str] = {}
    for n, sid in ids.items():
        if sid in seen:
            raise InputError(f"pair names {n!r} and {seen[sid]!r} both become {sid!r} once '_' is replaced; "
                             "rename one")
        seen[sid] = n
    units = []
    for name in sorted(groups):
        g = groups[name]
        missing = [r for r in ("before", "after", "mask") if r not in g]
        if missing:
            skipped.append((name, f"incomplete triplet: no {' / '.join(missing)} file"))
            continue
        units.append(RetouchUnit(key=f"retouched/{name}", name=name, image_id=ids[name], before=str(g["before"]),
                                 after=str(g["after"]), mask=str(g["mask"]),
                                 split=split_for(name, options.test_fraction, sample_test_ids(synthetic)), options=options,
                                 synthetic=synthetic))
    return units, skipped


class RetouchedGenerator(Generator):
    """``HRetouched`` from before/after/mask triplets (the steps of :func:`generate_retouched`).

    Parameters
    ----------
    pairs : str or os.PathLike or None
        Folder of triplets; None: the embedded retouched sample (synthetic).
    options : SwapOptions or None
        Output format, quality, split and seed (``per_mask`` is not used).
    """

    subset = SUBSET
    command = "datagen retouched"
    work = staticmethod(work)

    def __init__(self, pairs: str | os.PathLike | None, options: SwapOptions | None):
        self.pairs = pairs
        self.options = options or SwapOptions()

    def resolve(self) -> Inputs:
        """The triplet folder and its provenance (the sample's version, or the folder's absolute path).

        Returns
        -------
        Inputs
            ``data["pairs"]``: the folder to scan.
        """
        self.options.check()
        if self.pairs is None:
            from .samples_extra import SAMPLE_VERSION, retouched_sample

            return Inputs({"pairs": retouched_sample(), "synthetic": True},
                          {"data": f"embedded retouched sample {SAMPLE_VERSION}"},
                          "data: embedded retouched sample (documented global grade + dodge/burn of bundled "
                          "photos; synthetic)")
        return Inputs({"pairs": self.pairs, "synthetic": False}, {"pairs": str(Path(self.pairs).resolve())})

    def plan(self, inputs: Inputs) -> Plan:
        """One unit per complete triplet (see :func:`plan_retouched`).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.

        Returns
        -------
        Plan
            Units, skipped files and the triplet count and planning time as notes.
        """
        started = time.perf_counter()
        units, skipped = plan_retouched(inputs.data["pairs"], self.options, synthetic=inputs.data["synthetic"])
        planning_seconds = time.perf_counter() - started
        notes = [f"{len(units)} triplets -> 2 composites each (foreground retouched -> target before; "
                 "background retouched -> target after)", f"planning took {planning_seconds:.1f} s"]
        return Plan(units, skipped, notes)

    def refusal(self, inputs: Inputs, plan: Plan) -> InputError:
        """No complete triplet: one line naming the folder and the first skipped file.

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
        return no_units_error(inputs.data["pairs"], "before/after/mask triplet", plan.skipped)

    def config(self, inputs: Inputs, plan: Plan) -> dict[str, Any]:
        """The data's provenance and the output options (recorded in ``run.json``).

        Parameters
        ----------
        inputs : Inputs
            What :meth:`resolve` returned.
        plan : Plan
            What :meth:`plan` returned.

        Returns
        -------
        dict
            ``pairs`` or ``data``, then ``align``, ``format``, ``quality``, ``test_fraction``, ``seed``.
        """
        options = self.options
        return {**inputs.config, "align": options.align, "format": options.fmt, "quality": options.quality,
                "test_fraction": options.test_fraction, "seed": options.seed}


def generate_retouched(out: str | os.PathLike, pairs: str | os.PathLike | None = None, *,
                       options: SwapOptions | None = None, workers: int | None = None, scheduler: Any = None,
                       overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Build ``<out>/HRetouched``: two composites per artist-retouched before/after pair.

    Parameters
    ----------
    out : str or os.PathLike
        Output dataset root.
    pairs : str or os.PathLike or None
        Folder of ``<name>_before.<ext>``, ``<name>_after.<ext>``, ``<name>_mask.png`` triplets; None: the
        embedded retouched sample (documented global grade + dodge/burn of bundled photos; synthetic).
    options : SwapOptions or None
        Alignment (``error`` or ``resize``), output format (``jpg`` or ``png``), JPEG quality, test
        fraction and seed.
    workers, scheduler, overwrite, progress
        As in :func:`harmony.datagen.runner.generate`.

    Returns
    -------
    RunSummary
        Counts of units, composites (2 per triplet), rejections and skipped inputs.

    Raises
    ------
    InputError
        The folder is missing, holds no triplet, or two pair names map to the same image id.

    References
    ----------
    .. [1] Wang et al., "Semi-supervised Parametric Real-world Image Harmonization", CVPR 2023,
       section 3.2 (the supervised stream's retouched pairs).

    Examples
    --------
    >>> summary = generate_retouched("data/")                  # doctest: +SKIP
    >>> print("\\n".join(summary.lines()))                     # doctest: +SKIP
    HRetouched: 8 composites (6 train / 2 test) in data/HRetouched
    """
    return generate(RetouchedGenerator(pairs, options), out, workers=workers, scheduler=scheduler,
                    overwrite=overwrite, progress=progress)


GENERATORS.register("retouched", generate_retouched, card=Card(
    name="retouched", kind="generator",
    summary="Artist-retouched before/after pairs -> two composites each (HRetouched, SPRIH stream 1).",
    paper="Wang et al., Semi-supervised Parametric Real-world Image Harmonization (SPRIH), CVPR 2023, section 3.2",
    inputs=("pairs",),
    notes="M*O+(1-M)*I with target I and M*I+(1-M)*O with target O; binary M; sample data: documented "
          "global grade + dodge/burn retouch (synthetic).",
    extra={"subset": SUBSET, "prefix": PREFIX, "command": "harmony datagen retouched"},
))
