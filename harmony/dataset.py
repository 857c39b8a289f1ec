"""The iHarmony4 layout (Cong et al., DoveNet, CVPR 2020): names, split files, manifest, Writer and Reader.

Layout of one subset ``<root>/<Sub>/``::

    composite_images/<p><imageId>_<fgId>_<k>.jpg
    masks/<p><imageId>_<fgId>.png                 (binary 0/255)
    real_images/<p><imageId>.jpg                  (absent for unpaired sets)
    <Sub>_train.txt  <Sub>_test.txt               (bare composite file names, one per line)
    manifest.csv  run.json                        (harmony's provenance; other loaders ignore them)
    .harmony/units/<key>.json                     (per-unit records that make runs resumable)
    .harmony/journal.txt  .harmony/run_state.json (index of finished units; state of the last run)

and at the dataset root::

    IHD_train.txt       IHD_test.txt              (``<Sub>/composite_images/<name>``, paired subsets only)
    unpaired_train.txt  unpaired_test.txt         (the same for unpaired subsets, e.g. HRealComposite)

This is the official iHarmony4 release's layout (Cong et al., DoveNet, CVPR 2020; bcmi/Image-Harmonization-
Dataset-iHarmony4): SamsungLabs iharm's ``HDataset(dataset_path=<root>/<Sub>, split)`` reads the one
``*.txt`` directly in the subset folder whose stem ends with the split, and DoveNet's ``Iharmony4Dataset``
reads ``<root>/IHD_<split>.txt`` and opens the real image of every listed composite, so the root lists hold
paired subsets only; unpaired subsets (no ``real_images/``) are listed in ``unpaired_<split>.txt`` instead.
Split files at the dataset root (``<root>/<Sub>_train.txt``, written by earlier harmony versions) are an old
layout: :class:`DatasetReader` refuses them with a message saying where to move them.

Existing loaders (DoveNet, iSSAM/iDIH, PCT-Net, Harmonizer, libcom) derive the mask and real paths by
string replacement, so names follow the rule exactly: mask = composite minus ``_<k>``, real = composite
minus ``_<fgId>_<k>``; image ids contain no ``_`` (iharm takes the real image's name as
``name.split('_')[0]``).

Writes are atomic (``io.atomic_write_*``). A *unit* (one source image and everything made from it) is
finished when its record ``.harmony/units/<key>.json`` exists; re-running the same command skips
finished units, and :meth:`DatasetWriter.finalize` rebuilds the manifest and split files from all
records, sorted, so the output does not depend on worker count or completion order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, serialize
from . import io as hio
from .errors import InputError

# Subset folder -> file-name prefix. The first four are iHarmony4's; the others are harmony's own kinds.
SUBSETS: dict[str, str] = {
    "HCOCO": "c",
    "HAdobe5k": "a",
    "HFlickr": "f",
    "Hday2night": "d",
    "HRetouched": "t",       # artist-retouched pairs (SPRIH), two composites per pair
    "HRealComposite": "r",   # LaMa real composites (SPRIH stream 2): no ground truth
    "HRendered": "n",        # rendered scenes with soft style labels (RdHarmony / CharmNet)
}

COMPOSITE_DIR = "composite_images"
MASK_DIR = "masks"
REAL_DIR = "real_images"
UNITS_DIR = ".harmony/units"
SPLITS = ("train", "test")


def subset_split_file(root: str | os.PathLike, subset: str, split: str) -> Path:
    """``<root>/<Sub>/<Sub>_<split>.txt``: bare composite names, where the official release keeps them.

    iharm's ``HDataset(dataset_path=<root>/<Sub>, split)`` reads the one ``*.txt`` in the subset folder
    whose stem ends with the split.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    subset : str
        Subset folder name (``HCOCO``, ``HAdobe5k`` ...).
    split : {"train", "test"}
        The split.

    Returns
    -------
    Path
        The split file's path (which may not exist).
    """
    return Path(root) / subset / f"{subset}_{split}.txt"


def legacy_split_file(root: str | os.PathLike, subset: str, split: str) -> Path:
    """``<root>/<Sub>_<split>.txt``: where earlier harmony versions wrote subset split files.

    iharm cannot load a split file there; :class:`DatasetReader` refuses it with a message saying where to
    move it, and :meth:`DatasetWriter.finalize` deletes it.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    subset : str
        Subset folder name.
    split : {"train", "test"}
        The split.

    Returns
    -------
    Path
        The old location (which may not exist).
    """
    return Path(root) / f"{subset}_{split}.txt"


def root_split_file(root: str | os.PathLike, split: str, *, paired: bool = True) -> Path:
    """``<root>/IHD_<split>.txt`` (paired subsets, DoveNet's list) or ``<root>/unpaired_<split>.txt``.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    split : {"train", "test"}
        The split.
    paired : bool
        True for DoveNet's ``IHD_<split>.txt`` (subsets with ground truth), False for the list of unpaired
        subsets.

    Returns
    -------
    Path
        The list's path (which may not exist).
    """
    return Path(root) / (f"IHD_{split}.txt" if paired else f"unpaired_{split}.txt")


def has_split_lists(root: str | os.PathLike) -> bool:
    """True when ``root`` holds root split lists of the current layout: a finished generator run.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.

    Returns
    -------
    bool
        False when no ``IHD_<split>.txt`` / ``unpaired_<split>.txt`` exists, or when split files of the old
        layout (``<root>/<Sub>_<split>.txt``) remain, so callers that generate data on demand regenerate it.
    """
    root = Path(root)
    if not any(root_split_file(root, s, paired=p).is_file() for s in SPLITS for p in (True, False)):
        return False
    return not any(legacy_split_file(root, sub, s).is_file() for sub in subset_folders(root) for s in SPLITS)

MANIFEST_COLUMNS = [
    "composite", "mask", "real", "subset", "split", "source_image_id", "source_annotation_id",
    "reference_image_id", "reference_annotation_id", "method", "params", "fg_ratio", "seed",
    "tool_version", "unit", "synthetic",
]


# --- names ----------------------------------------------------------------------------------------

def composite_name(prefix: str, image_id: Any, fg_id: Any, k: int, ext: str = ".jpg") -> str:
    """The iHarmony4 file name of a composite: ``<p><imageId>_<fgId>_<k>.jpg``.

    Parameters
    ----------
    prefix : str
        The subset's one-letter prefix (:data:`SUBSETS`: ``c`` for HCOCO ...).
    image_id : object
        Source image id (made safe with :func:`safe_id` by callers: no ``_``).
    fg_id : object
        Foreground (object) id within the image.
    k : int
        Index of the composite among those of one foreground (1-based in iHarmony4).
    ext : str
        File extension with its dot.

    Returns
    -------
    str
        E.g. ``c100300_1602094_1.jpg`` for ``("c", 100300, 1602094, 1)``.

    References
    ----------
    .. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020;
       https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4

    Examples
    --------
    >>> composite_name("c", 100300, 1602094, 1)
    'c100300_1602094_1.jpg'
    """
    return f"{prefix}{image_id}_{fg_id}_{k}{ext}"


def mask_name(prefix: str, image_id: Any, fg_id: Any) -> str:
    """The iHarmony4 file name of a foreground mask: ``<p><imageId>_<fgId>.png``.

    Parameters
    ----------
    prefix : str
        The subset's prefix.
    image_id, fg_id : object
        Source image id and foreground id.

    Returns
    -------
    str
        E.g. ``c100300_1602094.png``: the composite's name minus ``_<k>``, with ``.png``.
    """
    return f"{prefix}{image_id}_{fg_id}.png"


def real_name(prefix: str, image_id: Any, ext: str = ".jpg") -> str:
    """The iHarmony4 file name of a real (ground-truth) image: ``<p><imageId>.jpg``.

    Parameters
    ----------
    prefix : str
        The subset's prefix.
    image_id : object
        Source image id.
    ext : str
        File extension with its dot.

    Returns
    -------
    str
        E.g. ``c100300.jpg``: the composite's name minus ``_<fgId>_<k>``.
    """
    return f"{prefix}{image_id}{ext}"


_NAME_RE = re.compile(r"^(?P<base>.+)_(?P<fg>[^_]+)_(?P<k>[^_.]+)\.(?P<ext>[A-Za-z0-9]+)$")


def derive_mask_and_real(composite: str) -> tuple[str, str]:
    """The iHarmony4 string rule: ``x_<fg>_<k>.jpg`` -> (``x_<fg>.png``, ``x.jpg``).

    Loaders of the release (DoveNet, iharm's ``HDataset``) find the mask and real image of a composite by
    this rule, so harmony writes names that follow it exactly.

    Parameters
    ----------
    composite : str
        A composite file name (no folder).

    Returns
    -------
    mask : str
        The mask's file name.
    real : str
        The real image's file name (``.jpg``).

    Raises
    ------
    InputError
        The name has fewer than three ``_``-separated fields or no extension.

    References
    ----------
    .. [1] Cong et al., DoveNet, CVPR 2020 (the iHarmony4 release's naming);
       K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021 (iharm's ``HDataset``).

    Examples
    --------
    >>> derive_mask_and_real("c100300_1602094_1.jpg")
    ('c100300_1602094.png', 'c100300.jpg')
    """
    match = _NAME_RE.match(composite)
    if not match:
        raise InputError(f"{composite}: not an iHarmony4 composite name (<prefix><imageId>_<fgId>_<k>.jpg)")
    return f"{match['base']}_{match['fg']}.png", f"{match['base']}.jpg"


def safe_id(value: Any) -> str:
    """An id usable inside iHarmony4 names: no underscores (they separate fields) nor path characters.

    Parameters
    ----------
    value : object
        Any id (``str(value)`` is used).

    Returns
    -------
    str
        Runs of ``_``, whitespace and ``\\/:*?"<>|`` replaced by one ``-``, outer ``-`` stripped; ``x``
        when nothing is left.

    Examples
    --------
    >>> safe_id("img_01 a/b")
    'img-01-a-b'
    """
    text = re.sub(r"[\\/:*?\"<>|\s_]+", "-", str(value))
    return text.strip("-") or "x"


def split_for(image_id: Any, test_fraction: float, test_ids: Iterable[Any] | None = None) -> str:
    """Deterministic train/test assignment of a *source image* (all its composites share the split).

    With ``test_ids``, membership decides. Otherwise a hash of the image id (independent of the run
    seed, so one image is in the same split in every run) is compared with ``test_fraction``.

    Parameters
    ----------
    image_id : object
        The source image's id.
    test_fraction : float
        Expected fraction of test images, in [0, 1].
    test_ids : iterable or None
        Explicit test image ids (compared as strings).

    Returns
    -------
    {"train", "test"}
        The first 8 bytes of ``sha256("split:<image_id>")`` as a number in [0, 1) below ``test_fraction``
        give ``test``.
    """
    if test_ids is not None:
        return "test" if str(image_id) in {str(t) for t in test_ids} else "train"
    position = int.from_bytes(hashlib.sha256(f"split:{image_id}".encode()).digest()[:8], "little") / 2.0**64
    return "test" if position < test_fraction else "train"


# --- writing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubsetLayout:
    """Paths of one subset; picklable, so workers write their own files.

    Parameters
    ----------
    root : Path
        The dataset folder.
    subset : str
        Subset folder name.
    prefix : str
        File-name prefix of the subset (:data:`SUBSETS`).
    has_real : bool
        The subset has ground truth (``real_images/``).
    extra_dirs : tuple of str
        Folders beyond the iHarmony4 three (e.g. style labels of rendered scenes).
    """

    root: Path
    subset: str
    prefix: str
    has_real: bool = True
    extra_dirs: tuple[str, ...] = ()

    @property
    def dir(self) -> Path:
        return Path(self.root) / self.subset

    def composite_path(self, name: str) -> Path:
        """``<root>/<Sub>/composite_images/<name>``.

        Parameters
        ----------
        name : str
            File name.

        Returns
        -------
        Path
        """
        return self.dir / COMPOSITE_DIR / name

    def mask_path(self, name: str) -> Path:
        """``<root>/<Sub>/masks/<name>``.

        Parameters
        ----------
        name : str
            File name.

        Returns
        -------
        Path
        """
        return self.dir / MASK_DIR / name

    def real_path(self, name: str) -> Path:
        """``<root>/<Sub>/real_images/<name>``.

        Parameters
        ----------
        name : str
            File name.

        Returns
        -------
        Path
        """
        return self.dir / REAL_DIR / name

    def extra_path(self, folder: str, name: str) -> Path:
        """``<root>/<Sub>/<folder>/<name>``: a folder of the subset beyond the iHarmony4 three.

        Parameters
        ----------
        folder : str
            Folder name (one of the layout's ``extra_dirs``, e.g. style labels of rendered scenes).
        name : str
            File name.

        Returns
        -------
        Path
        """
        return self.dir / folder / name

    def unit_path(self, key: str) -> Path:
        """The record file that marks a unit finished: ``.harmony/units/<safe key>-<sha1 prefix>.json``.

        Parameters
        ----------
        key : str
            The unit's key.

        Returns
        -------
        Path
            The first 80 characters of :func:`safe_id` of the key, then 10 hex digits of its SHA-1 (so two
            keys never share a file).
        """
        digest = hashlib.sha1(key.encode()).hexdigest()[:10]
        return self.dir / UNITS_DIR / f"{safe_id(key)[:80]}-{digest}.json"

    # Writes ----------------------------------------------------------------------------------
    def write_composite(self, name: str, image: np.ndarray, *, quality: int = 95) -> None:
        """Write a composite atomically (JPEG or PNG by the name's suffix).

        Parameters
        ----------
        name : str
            File name (:func:`composite_name`).
        image : ndarray, shape (H, W, 3)
            float32 RGB in [0, 1] (or uint8), as :func:`harmony.io.write_image` takes.
        quality : int
            JPEG quality, 1-100 (iHarmony4's composites are JPEG; 95 by default).
        """
        hio.write_image(self.composite_path(name), image, quality=quality)

    def write_mask(self, name: str, mask: np.ndarray) -> None:
        """Write a mask binary (0/255 PNG), as iHarmony4's are: ``mask > 0.5``.

        Parameters
        ----------
        name : str
            File name (:func:`mask_name`).
        mask : ndarray, shape (H, W)
            Values in [0, 1] (soft values are thresholded at 0.5).
        """
        hio.write_mask(self.mask_path(name), np.asarray(mask) > 0.5)

    def write_real(self, name: str, image: np.ndarray, *, quality: int = 95) -> None:
        """Write a real (ground-truth) image atomically.

        Parameters
        ----------
        name : str
            File name (:func:`real_name`).
        image : ndarray, shape (H, W, 3)
            float32 RGB in [0, 1] (or uint8).
        quality : int
            JPEG quality, 1-100.
        """
        hio.write_image(self.real_path(name), image, quality=quality)

    def write_extra(self, folder: str, name: str, image: np.ndarray, *, quality: int = 95) -> None:
        """Write an image into one of the layout's extra folders.

        Parameters
        ----------
        folder : str
            The extra folder.
        name : str
            File name.
        image : ndarray, shape (H, W) or (H, W, 3)
            float32 in [0, 1] (or uint8).
        quality : int
            JPEG quality, 1-100.
        """
        hio.write_image(self.extra_path(folder, name), image, quality=quality)

    def unit_done(self, key: str) -> bool:
        """True when the unit's record exists (the unit finished in this or an earlier run).

        Parameters
        ----------
        key : str
            The unit's key.

        Returns
        -------
        bool
        """
        return self.unit_path(key).is_file()

    def write_unit(self, key: str, record: Mapping[str, Any]) -> None:
        """Mark a unit finished. Call after every file of the unit has been written.

        Parameters
        ----------
        key : str
            The unit's key (stored in the record as ``key``).
        record : mapping
            JSON-able: ``rows`` (manifest rows), and optionally ``error``, ``rejected``, ``skipped``
            (read back by :meth:`DatasetWriter.finalize`).
        """
        payload = dict(record)
        payload["key"] = key
        hio.atomic_write_text(self.unit_path(key), serialize.dumps(payload, sort_keys=True, indent=None, newline=False))

    def read_unit(self, key: str) -> dict:
        """The record of a finished unit.

        Parameters
        ----------
        key : str
            The unit's key.

        Returns
        -------
        dict
            What :meth:`write_unit` stored.

        Raises
        ------
        FileNotFoundError
            The unit has no record.
        """
        with open(self.unit_path(key), encoding="utf-8") as fh:
            return json.load(fh)

    def unit_records(self) -> list[dict]:
        """Every unit record of the subset, in file-name order.

        Returns
        -------
        list of dict
            Empty when the subset has no ``.harmony/units`` folder.
        """
        folder = self.dir / UNITS_DIR
        if not folder.is_dir():
            return []
        out = []
        for p in sorted(folder.glob("*.json")):
            with open(p, encoding="utf-8") as fh:
                out.append(json.load(fh))
        return out


def params_json(params: Mapping[str, Any]) -> str:
    """Canonical JSON for the manifest's ``params`` column (sorted keys, floats rounded to 6 digits).

    Parameters
    ----------
    params : mapping
        A method's parameters; NumPy scalars and arrays become plain numbers and lists.

    Returns
    -------
    str
        Compact JSON (no spaces), the same text for the same values in any process.

    Examples
    --------
    >>> params_json({"b": 0.1234567, "a": [1, 2]})
    '{"a":[1,2],"b":0.123457}'
    """
    def clean(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return round(float(v), 6)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(dict(params)), sort_keys=True, separators=(",", ":"))


@dataclass
class FinalizeSummary:
    """What :meth:`DatasetWriter.finalize` assembled for one subset.

    Parameters
    ----------
    subset : str
        Subset folder name.
    composites, train, test : int
        Composites in the manifest, and in each split.
    units, units_failed : int
        Unit records read, and those recording an error.
    rejected : dict of str to int
        Candidates rejected, by reason (e.g. a foreground too small).
    skipped, failed : list of (str, str)
        ``(item, reason)`` of skipped items and ``(unit, error)`` of failed units.
    """
    subset: str
    composites: int = 0
    train: int = 0
    test: int = 0
    units: int = 0
    units_failed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)   # (unit, error)


class DatasetWriter:
    """Prepares ``<root>/<subset>`` for a run and assembles manifest and split files at the end.

    ``config`` is the command's full configuration (no execution details such as worker count): it is
    written to ``run.json``; re-running with the same config resumes, a different config into a
    non-empty subset is refused unless ``overwrite=True`` (which deletes the subset's previous files).

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    subset : str
        Subset folder name.
    config : mapping
        The run's configuration (JSON-able).
    prefix : str or None
        File-name prefix (None: the one :data:`SUBSETS` gives the subset).
    overwrite : bool
        Replace another run's data in the subset.
    has_real : bool
        Create ``real_images/`` (False for unpaired subsets).
    extra_dirs : sequence of str
        Extra folders to create.
    command : str
        The command that made the run (compared on resume, as the config is).

    Raises
    ------
    InputError
        Unknown subset without a prefix, a non-empty folder holding no (or another) run, an unreadable
        ``run.json``.
    """

    def __init__(self, root: str | os.PathLike, subset: str, *, config: Mapping[str, Any],
                 prefix: str | None = None, overwrite: bool = False, has_real: bool = True,
                 extra_dirs: Sequence[str] = (), command: str = ""):
        if prefix is None:
            if subset not in SUBSETS:
                raise InputError(f"unknown subset {subset!r}: give a prefix (known: {', '.join(SUBSETS)})")
            prefix = SUBSETS[subset]
        self.layout = SubsetLayout(Path(root), subset, prefix, has_real, tuple(extra_dirs))
        self.config = json.loads(serialize.dumps(dict(config), sort_keys=True))
        self.command = command
        self.resumed = False
        self._prepare(overwrite)

    @property
    def dir(self) -> Path:
        return self.layout.dir

    def _run_json(self) -> dict:
        return {"command": self.command, "config": self.config, "subset": self.layout.subset,
                "prefix": self.layout.prefix, "tool": "harmony", "tool_version": __version__}

    def _prepare(self, overwrite: bool) -> None:
        subset_dir = self.dir
        run_json = subset_dir / "run.json"
        non_empty = subset_dir.is_dir() and any(subset_dir.iterdir())
        if non_empty and not overwrite:
            if not run_json.is_file():
                raise InputError(f"{subset_dir}: folder is not empty and holds no harmony run.json; "
                                 "use --overwrite to replace it or choose another --out")
            try:
                previous = json.loads(run_json.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raise InputError(f"{run_json}: unreadable run.json; use --overwrite to replace the run") from None
            if previous.get("config") != self.config or previous.get("command") != self.command:
                diff = _config_diff(previous.get("config", {}), self.config)
                raise InputError(f"{subset_dir}: holds another run's data (different {diff}); use --overwrite to "
                                 "replace it or choose another --out")
            self.resumed = True
            # A killed run can leave io.atomic_write_bytes temporaries (".<name>.<random>.tmp") behind.
            for sub in (COMPOSITE_DIR, MASK_DIR, REAL_DIR, UNITS_DIR, *self.layout.extra_dirs):
                folder = subset_dir / sub
                if folder.is_dir():
                    for tmp in folder.glob(".*.tmp"):
                        tmp.unlink(missing_ok=True)
        elif non_empty and overwrite:
            for sub in (COMPOSITE_DIR, MASK_DIR, REAL_DIR, ".harmony", *self.layout.extra_dirs):
                shutil.rmtree(subset_dir / sub, ignore_errors=True)
            for name in ("manifest.csv", "run.json"):
                (subset_dir / name).unlink(missing_ok=True)
            for split in SPLITS:
                subset_split_file(self.layout.root, self.layout.subset, split).unlink(missing_ok=True)
                legacy_split_file(self.layout.root, self.layout.subset, split).unlink(missing_ok=True)
        for sub in (COMPOSITE_DIR, MASK_DIR, *((REAL_DIR,) if self.layout.has_real else ()),
                    UNITS_DIR, *self.layout.extra_dirs):
            (subset_dir / sub).mkdir(parents=True, exist_ok=True)
        hio.atomic_write_text(run_json, json.dumps(self._run_json(), indent=2, sort_keys=True) + "\n")

    def pending(self, units: Iterable[Any], key=lambda u: u.key) -> list[Any]:
        """Units not finished by an earlier run (found from the journal, see :func:`finished_keys`).

        Parameters
        ----------
        units : iterable
            The planned units.
        key : callable
            ``key(unit) -> str`` (default: the unit's ``key`` attribute).

        Returns
        -------
        list
            The units still to run, in their planned order.
        """
        units = list(units)
        done = finished_keys(self.layout, [key(u) for u in units])
        return [u for u in units if key(u) not in done]

    def finalize(self, extra_columns: Sequence[str] = ()) -> FinalizeSummary:
        """Write ``manifest.csv`` and the split files from every unit record (sorted, deterministic).

        Also rebuilds the root lists (:func:`write_root_splits`) and removes split files of the old layout
        for this subset.

        Parameters
        ----------
        extra_columns : sequence of str
            Manifest columns after :data:`MANIFEST_COLUMNS` (columns found in rows are appended after them).

        Returns
        -------
        FinalizeSummary
            Composites per split, units done and failed, rejections by reason, skipped items.
        """
        summary = FinalizeSummary(self.layout.subset)
        rows: list[dict] = []
        for rec in self.layout.unit_records():
            summary.units += 1
            if rec.get("error"):
                summary.units_failed += 1
                summary.failed.append((rec["key"], rec["error"]))
            rows.extend(rec.get("rows", []))
            for rejected in rec.get("rejected", []):
                reason = rejected.get("reason", "rejected")
                summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
            for skipped in rec.get("skipped", []):
                summary.skipped.append((skipped.get("item", rec["key"]), skipped.get("reason", "skipped")))
        for row in rows:
            # The manifest's paths are relative to the subset folder: normalise generators
            # that return bare composite names.
            if "/" not in str(row["composite"]):
                row["composite"] = f"{COMPOSITE_DIR}/{row['composite']}"
        rows.sort(key=lambda row: row["composite"])
        columns = list(MANIFEST_COLUMNS) + [c for c in extra_columns if c not in MANIFEST_COLUMNS]
        for row in rows:
            for column in row:
                if column not in columns:
                    columns.append(column)
        write_manifest(self.dir / "manifest.csv", rows, columns)
        root = Path(self.layout.root)
        for split in SPLITS:
            # The manifest's composite column may be relative to the subset folder
            # (composite_images/<name>); split files hold bare names, inside the subset folder as in
            # the official iHarmony4 release (where iharm's HDataset looks for them).
            names = [Path(r["composite"]).name for r in rows if r.get("split") == split]
            setattr(summary, split, len(names))
            hio.atomic_write_text(subset_split_file(root, self.layout.subset, split),
                                  "".join(f"{n}\n" for n in names))
            # Split files an earlier harmony version wrote at the root for this subset are replaced.
            legacy_split_file(root, self.layout.subset, split).unlink(missing_ok=True)
        write_root_splits(root)
        summary.composites = len(rows)
        return summary


def _config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    changed = [k for k in keys if old.get(k) != new.get(k)]
    if not changed:
        return "command"
    k = changed[0]
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    return f"{k}: {old.get(k)!r} -> {new.get(k)!r}{more}"


def write_manifest(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write ``manifest.csv`` atomically: a header, then one row per composite.

    Parameters
    ----------
    path : Path
        The CSV file.
    rows : sequence of mapping
        One mapping per composite; missing columns are empty, floats are written with 6 significant
        digits, dicts as :func:`params_json`.
    columns : sequence of str
        The columns, in order.
    """
    import io as text_io

    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: _format_cell(row.get(column, "")) for column in columns})
    hio.atomic_write_text(path, buffer.getvalue())


def _format_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if isinstance(v, (dict, list)):
        return params_json(v) if isinstance(v, dict) else json.dumps(v)
    return v


def subset_folders(root: str | os.PathLike) -> list[str]:
    """Names of the subset folders under ``root`` (those holding ``composite_images/``), sorted.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.

    Returns
    -------
    list of str
    """
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / COMPOSITE_DIR).is_dir())


def write_root_splits(root: str | os.PathLike) -> None:
    """Rebuild the root lists from every ``<Sub>/<Sub>_<split>.txt`` under ``root``.

    ``IHD_<split>.txt`` lists the *paired* subsets (those with ``real_images/``) only, because DoveNet's
    ``Iharmony4Dataset`` opens the real image of every line; it is always written (possibly empty).
    ``unpaired_<split>.txt`` lists the unpaired subsets (no ground truth, e.g. ``HRealComposite``) in the
    same form, ``<Sub>/composite_images/<name>``; it exists only while the root holds an unpaired subset.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    """
    root = Path(root)
    subsets = subset_folders(root)
    paired = {sub: (root / sub / REAL_DIR).is_dir() for sub in subsets}
    for split in SPLITS:
        lines: dict[bool, list[str]] = {True: [], False: []}
        for sub in subsets:
            f = subset_split_file(root, sub, split)
            if f.is_file():
                lines[paired[sub]] += [f"{sub}/{COMPOSITE_DIR}/{n.strip()}"
                                       for n in f.read_text().splitlines() if n.strip()]
        hio.atomic_write_text(root_split_file(root, split), "".join(f"{x}\n" for x in lines[True]))
        unpaired_file = root_split_file(root, split, paired=False)
        if not all(paired.values()):
            hio.atomic_write_text(unpaired_file, "".join(f"{x}\n" for x in lines[False]))
        else:
            unpaired_file.unlink(missing_ok=True)


# --- reading ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One composite of a dataset and the paths that go with it.

    Parameters
    ----------
    subset : str
        Subset folder name.
    name : str
        Composite file name.
    composite, mask : Path
        The composite and its mask.
    real : Path or None
        The ground truth (None for unpaired subsets).
    split : str or None
        ``train``, ``test``, or None for a subset without split files.
    extra : mapping
        The manifest row, when the subset has a manifest.
    """
    subset: str
    name: str               # composite file name
    composite: Path
    mask: Path
    real: Path | None       # None for unpaired sets
    split: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)  # the manifest row, when there is one

    @property
    def key(self) -> str:
        return f"{self.subset}/{self.name}"


@dataclass(frozen=True)
class Problem:
    """One problem found by :meth:`DatasetReader.validate`; ``str()`` gives ``<severity>: <path>: <message>``.

    Parameters
    ----------
    path : str
        The file (or folder) concerned.
    message : str
        What is wrong, in one line.
    severity : {"error", "warning"}
        Errors make ``harmony check`` fail; warnings do not.
    """
    path: str
    message: str
    severity: str = "error"   # "error" | "warning"

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


class DatasetReader:
    """Reads any dataset in the iHarmony4 layout (a harmony output or the original iHarmony4 release).

    Paths come from ``manifest.csv`` when a subset has one, otherwise from the iHarmony4 string rule
    (:func:`derive_mask_and_real`). Samples come from the split files inside each subset folder
    (``<Sub>/<Sub>_train.txt`` / ``<Sub>/<Sub>_test.txt``, the official release's layout, read as iharm's
    ``HDataset`` reads them); a subset without split files lists every file in ``composite_images/`` with
    split ``None`` (:func:`select_split` refuses such a subset when a split is asked for).

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    subsets : sequence of str or None
        Read these subsets only (None: every folder holding ``composite_images/``).

    Raises
    ------
    InputError
        ``root`` is not a folder, a named subset is missing, no subset folder exists, or a split file sits
        at the dataset root (``<root>/<Sub>_train.txt``, the layout of earlier harmony versions: the message
        says where to move it).

    References
    ----------
    .. [1] W. Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020; the
       release and its layout: https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4
    .. [2] K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021; ``iharm.data.datasets.HDataset`` in
       https://github.com/SamsungLabs/image_harmonization

    Examples
    --------
    >>> reader = DatasetReader("data/")                         # doctest: +SKIP
    >>> reader.subsets                                          # doctest: +SKIP
    ['HAdobe5k', 'HCOCO', 'Hday2night', 'HFlickr']
    >>> sample = reader.samples(split="test")[0]                # doctest: +SKIP
    >>> composite, mask, real = reader.load(sample)             # doctest: +SKIP
    >>> composite.shape, composite.dtype, mask.shape            # doctest: +SKIP
    ((480, 640, 3), dtype('float32'), (480, 640))
    """

    def __init__(self, root: str | os.PathLike, subsets: Sequence[str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: dataset folder not found")
        found = subset_folders(self.root)
        if subsets:
            missing = [s for s in subsets if s not in found]
            if missing:
                raise InputError(f"{self.root}: no subset {', '.join(missing)} (found: {', '.join(found) or 'none'})")
            found = [s for s in found if s in subsets]
        if not found:
            raise InputError(f"{self.root}: no subset folder with composite_images/ (expected the iHarmony4 "
                             "layout: <root>/<Sub>/composite_images, masks, real_images)")
        self.subsets = found
        for sub in found:
            for split in SPLITS:
                old, new = legacy_split_file(self.root, sub, split), subset_split_file(self.root, sub, split)
                if old.is_file() and not new.is_file():
                    raise InputError(
                        f"{old}: split file at the dataset root (old harmony layout); the iHarmony4 layout keeps "
                        f"it inside the subset folder: move it there (mv {old} {new}) or re-run the generator "
                        f"that made {sub}")

    def manifest(self, subset: str) -> dict[str, dict]:
        """The rows of a subset's ``manifest.csv`` by composite file name (empty without a manifest).

        Parameters
        ----------
        subset : str
            Subset folder name.

        Returns
        -------
        dict of str to dict
            ``{composite name: row}``, every value a string as the CSV holds it.
        """
        path = self.root / subset / "manifest.csv"
        if not path.is_file():
            return {}
        with open(path, newline="", encoding="utf-8") as fh:
            return {Path(row["composite"]).name: row for row in csv.DictReader(fh)}

    def has_real(self, subset: str) -> bool:
        """True when the subset has ground truth (a ``real_images/`` folder).

        Parameters
        ----------
        subset : str
            Subset folder name.

        Returns
        -------
        bool
        """
        return (self.root / subset / REAL_DIR).is_dir()

    def has_splits(self, subset: str) -> bool:
        """True when the subset folder holds at least one split file (``<Sub>/<Sub>_<split>.txt``).

        Parameters
        ----------
        subset : str
            Subset folder name.

        Returns
        -------
        bool
        """
        return any(subset_split_file(self.root, subset, s).is_file() for s in SPLITS)

    def _split_names(self, subset: str) -> dict[str, list[str]]:
        out = {}
        for split in SPLITS:
            f = subset_split_file(self.root, subset, split)
            if f.is_file():
                out[split] = [Path(line.strip()).name for line in f.read_text().splitlines() if line.strip()]
        return out

    def samples(self, split: str | None = None, subsets: Sequence[str] | None = None,
                limit: int | None = None) -> list[Sample]:
        """Samples of the chosen split, per subset, sorted by name.

        Parameters
        ----------
        split : {"train", "test"} or None
            The split (None: every listed composite, or every file of subsets without split files).
        subsets : sequence of str or None
            Subsets to read (None: all of the reader's).
        limit : int or None
            Keep the first N samples of each subset.

        Returns
        -------
        list of Sample
            Paths of composite, mask and real image (None for unpaired subsets), the split and the manifest
            row.

        Raises
        ------
        InputError
            A named subset is not one of the reader's.
        """
        out: list[Sample] = []
        for sub in subsets or self.subsets:
            if sub not in self.subsets:
                raise InputError(f"{self.root}: no subset {sub!r} (found: {', '.join(self.subsets)})")
            manifest = self.manifest(sub)
            splits = self._split_names(sub)
            if splits:
                pairs = [(n, s) for s, names in splits.items() for n in names if split in (None, s)]
            else:
                names = sorted(p.name for p in (self.root / sub / COMPOSITE_DIR).iterdir()
                               if p.suffix.lower() in hio.IMAGE_EXTENSIONS)
                pairs = [(n, None) for n in names]
            pairs.sort()
            if limit is not None:
                pairs = pairs[:limit]
            has_real = self.has_real(sub)
            for name, sample_split in pairs:
                row = manifest.get(name)
                mask_path, real_path = _sample_paths(self.root / sub, name, row, has_real)
                out.append(Sample(sub, name, self.root / sub / COMPOSITE_DIR / name, mask_path, real_path,
                                  sample_split, dict(row) if row else {}))
        return out

    def load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(composite, mask, real or None) on the float32 contract.

        Parameters
        ----------
        sample : Sample
            From :meth:`samples`.

        Returns
        -------
        composite : ndarray, shape (H, W, 3), float32
            RGB in [0, 1].
        mask : ndarray, shape (H, W), float32
            In [0, 1] (1 = foreground).
        real : ndarray, shape (H, W, 3), float32, or None
            The ground truth; None for unpaired subsets.

        Raises
        ------
        InputError
            A file is missing or cannot be decoded.
        """
        comp = hio.read_image(sample.composite)
        mask = hio.read_mask(sample.mask)
        real = hio.read_image(sample.real) if sample.real is not None else None
        return comp, mask, real

    def validate(self, *, pixels: bool = True, split: str | None = None) -> list[Problem]:
        """Every problem found: missing files, size mismatches, masks that are not binary or are empty.

        Parameters
        ----------
        pixels : bool
            Decode composites and check mask pixels (False: headers and existence only).
        split : {"train", "test"} or None
            Validate one split only.

        Returns
        -------
        list of Problem
            Severity ``error`` (a missing or undecodable file, differing sizes, an empty mask) or ``warning``
            (a subset without split files, a mask with values strictly between 0 and 255).
        """
        problems: list[Problem] = []
        for sub in self.subsets:
            if not self.has_splits(sub):
                problems.append(Problem(str(self.root / sub), "no split files "
                                        f"({sub}/{sub}_train.txt / {sub}/{sub}_test.txt)", "warning"))
        seen_masks: dict[Path, Problem | None] = {}
        for sample in self.samples(split=split):
            if not sample.composite.is_file():
                problems.append(Problem(str(sample.composite), "listed in the split file but missing"))
                continue
            try:
                size = hio.image_size(sample.composite)
            except InputError as exc:
                problems.append(Problem(str(sample.composite), str(exc).split(": ", 1)[-1]))
                continue
            if not sample.mask.is_file():
                problems.append(Problem(str(sample.composite), f"mask {sample.mask.name} missing"))
            else:
                if sample.mask not in seen_masks:
                    seen_masks[sample.mask] = _check_mask_file(sample.mask, pixels)
                mask_problem = seen_masks[sample.mask]
                if mask_problem is not None:
                    problems.append(mask_problem)
                try:
                    mask_size = hio.image_size(sample.mask)
                    if mask_size != size:
                        problems.append(Problem(str(sample.composite), f"size {size[1]}x{size[0]} differs from mask "
                                                f"{sample.mask.name} {mask_size[1]}x{mask_size[0]}"))
                except InputError:
                    pass
            if self.has_real(sample.subset):
                if sample.real is None or not sample.real.is_file():
                    problems.append(Problem(str(sample.composite), f"real image {sample.real.name if sample.real else '?'} missing"))
                else:
                    try:
                        real_size = hio.image_size(sample.real)
                        if real_size != size:
                            problems.append(Problem(str(sample.composite), f"size {size[1]}x{size[0]} differs from real "
                                                    f"image {sample.real.name} {real_size[1]}x{real_size[0]}"))
                    except InputError as exc:
                        problems.append(Problem(str(sample.real), str(exc).split(": ", 1)[-1]))
            if pixels:
                try:
                    hio.read_image(sample.composite)
                except InputError as exc:
                    problems.append(Problem(str(sample.composite), str(exc).split(": ", 1)[-1]))
        return problems


def select_split(reader: DatasetReader, split: str | None, *, limit: int | None = None) -> list[Sample]:
    """The samples a benchmark scores: those of ``split`` in every subset of ``reader``.

    Refuses (:class:`InputError`, before any work) when a subset has no split files, since its test
    images cannot be told from its training images, and when the split files list no image of
    ``split``; ``split=None`` (``--split all``) takes every image, train included.

    Parameters
    ----------
    reader : DatasetReader
        The dataset.
    split : {"train", "test"} or None
        The split to score.
    limit : int or None
        Keep the first N samples of each subset.

    Returns
    -------
    list of Sample

    Raises
    ------
    InputError
        An unknown split, a subset without split files, or no sample of ``split``.
    """
    if split is None:
        return reader.samples(split=None, limit=limit)
    if split not in SPLITS:
        raise InputError(f"--split: expected one of {', '.join(SPLITS)} or all, got {split!r}")
    missing = [sub for sub in reader.subsets if not reader.has_splits(sub)]
    if missing:
        sub = missing[0]
        raise InputError(
            f"{reader.root / sub}: subset {', '.join(missing)} has no split files ({sub}/{sub}_train.txt, "
            f"{sub}/{sub}_test.txt), so its {split} images cannot be told from the others; add them, choose "
            "other --subsets, or pass --split all to score every image (train included)")
    samples = reader.samples(split=split, limit=limit)
    if not samples:
        raise InputError(f"{reader.root}: the split files of {', '.join(reader.subsets)} list no {split!r} image; "
                         "pass --split all to score every image (train included)")
    return samples


def _sample_paths(subset_dir: Path, name: str, row: Mapping[str, Any] | None,
                  has_real: bool) -> tuple[Path, Path | None]:
    """Mask and real image of composite ``name``: those its manifest (or unit-record) row names, else the
    iHarmony4 rule's (a name outside the rule: ``<stem>.png`` and no real image)."""
    if row is not None and row.get("mask"):
        real_rel = row.get("real") or None
        return subset_dir / str(row["mask"]), (subset_dir / str(real_rel)) if (real_rel and has_real) else None
    try:
        mask_file, real_file = derive_mask_and_real(name)
    except InputError:
        mask_file, real_file = Path(name).stem + ".png", None
    real_path = (subset_dir / REAL_DIR / real_file) if (has_real and real_file) else None
    return subset_dir / MASK_DIR / mask_file, real_path


def _check_mask_file(path: Path, pixels: bool) -> Problem | None:
    try:
        m = hio.read_mask(path)
    except InputError as exc:
        return Problem(str(path), str(exc).split(": ", 1)[-1])
    if not (m > 0).any():
        return Problem(str(path), "mask is empty (no foreground pixel)")
    if pixels:
        soft = np.count_nonzero((m > 0) & (m < 1))
        if soft:
            return Problem(str(path), f"mask is not binary ({soft} pixels strictly between 0 and 255)", "warning")
    return None


# --- resume at scale: the journal of finished units -------------------------------------------------

JOURNAL = ".harmony/journal.txt"
RUN_STATE = ".harmony/run_state.json"


class UnitJournal:
    """Append-only index of finished units: ``<subset>/.harmony/journal.txt``, one JSON string per line.

    The parent process appends a unit's key after the unit's record (and so all its files) exists, so a
    key in the journal is always a finished unit. Crash-safe without locks: a line counts only when it is
    complete (ends with a newline), so a write cut by a crash or SIGKILL is ignored and that unit simply
    runs again (units are deterministic and their writes atomic). Resuming reads this one file instead
    of one record per unit. Lines are flushed at once and synced to disk at most once a second.
    """

    def __init__(self, layout: SubsetLayout):
        self.path = layout.dir / JOURNAL
        self._fh = None
        self._synced = 0.0

    def keys(self) -> set[str]:
        """Keys of every complete line (an unterminated last line is ignored).

        Returns
        -------
        set of str
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return set()
        lines = data.split(b"\n")[:-1]   # the piece after the last newline is incomplete (or empty)
        out = set()
        for line in lines:
            try:
                out.add(json.loads(line))
            except ValueError:
                continue
        return out

    def append(self, keys: Iterable[str]) -> None:
        """Append finished units' keys, one JSON string per line (flushed now, synced at most once a second).

        Parameters
        ----------
        keys : iterable of str
            Keys of units whose record exists.
        """
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
            if self._fh.tell():   # after a crash the file may end in a cut line: start on a fresh one
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        self._fh.write(b"\n")
        self._fh.write(b"".join(json.dumps(str(k)).encode() + b"\n" for k in keys))
        self._fh.flush()
        now = time.monotonic()
        if now - self._synced >= 1.0:
            os.fsync(self._fh.fileno())
            self._synced = now

    def close(self) -> None:
        """Flush, sync to disk and close the journal file (a later :meth:`append` opens it again)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def compact(self) -> None:
        """Rewrite the journal sorted and without duplicates (atomically), once a run has finished, so a
        finished folder is byte-identical whatever the worker count or completion order."""
        self.close()
        if self.path.is_file():
            hio.atomic_write_text(self.path, "".join(json.dumps(k) + "\n" for k in sorted(self.keys())))


def finished_keys(layout: SubsetLayout, keys: Sequence[str] | None = None) -> set[str]:
    """Keys of the finished units: the journal, plus records the journal lacks (then added to it).

    A record without a journal line exists when a run was killed between the two writes, or was written
    by a harmony version without a journal; they are found with one directory listing (no file is read)
    among ``keys``, and appended to the journal so the next resume needs the journal alone.

    Parameters
    ----------
    layout : SubsetLayout
        The subset.
    keys : sequence of str or None
        The planned units' keys (None: the journal alone).

    Returns
    -------
    set of str
    """
    journal = UnitJournal(layout)
    done = journal.keys()
    if keys is None:
        return done
    folder = layout.dir / UNITS_DIR
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        names = set()
    if names:
        extra = [k for k in keys if k not in done and layout.unit_path(k).name in names]
        if extra:
            journal.append(extra)
            journal.close()
            done.update(extra)
    return done


def write_run_state(layout: SubsetLayout, *, units_total: int, complete: bool, other_done: int = 0) -> None:
    """``.harmony/run_state.json``: how many units this stage has and whether its run finished.

    Parameters
    ----------
    layout : SubsetLayout
        The subset.
    units_total : int
        Units this stage planned.
    complete : bool
        True once the run has finished (``harmony check`` then reads the split files).
    other_done : int
        Journal entries of an earlier stage in the same subset (a generator with two kinds of unit), so
        that :func:`run_state` reports this stage's count alone.
    """
    hio.atomic_write_text(layout.dir / RUN_STATE, json.dumps(
        {"units_total": int(units_total), "complete": bool(complete), "other_done": int(other_done)},
        sort_keys=True) + "\n")


def run_state(subset_dir: str | os.PathLike) -> tuple[int, int, bool] | None:
    """``(units done, units total, complete)`` of the last run into ``subset_dir``.

    Parameters
    ----------
    subset_dir : str or path-like
        The subset folder.

    Returns
    -------
    tuple of (int, int, bool) or None
        None when the folder has no readable run state.
    """
    d = Path(subset_dir)
    try:
        state = json.loads((d / RUN_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    layout = SubsetLayout(d.parent, d.name, "")
    done = max(0, len(UnitJournal(layout).keys()) - int(state.get("other_done", 0)))
    return done, int(state.get("units_total", 0)), bool(state.get("complete", False))


def incomplete_runs(root: str | os.PathLike) -> list[tuple[str, int, int]]:
    """``(subset, done, total)`` for every subset under ``root`` whose last run did not finish.

    Parameters
    ----------
    root : str or path-like
        The dataset folder (a missing folder has none).

    Returns
    -------
    list of (str, int, int)
        Sorted by subset; ``done`` is at most ``total``.
    """
    root = Path(root)
    out = []
    if not root.is_dir():
        return out
    for subset_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        state = run_state(subset_dir)
        if state is not None and not state[2]:
            done, total, _complete = state
            out.append((subset_dir.name, min(done, total), total))
    return out


class PartialRunReader(DatasetReader):
    """A :class:`DatasetReader` that, for subsets of an interrupted run, reads only the finished units.

    An interrupted run has no split files or manifest yet (they are written when the run finishes); the
    finished units' records name their composites, masks and real images, so those can be checked.
    """

    def __init__(self, root: str | os.PathLike, partial_subsets: Sequence[str]):
        super().__init__(root)
        self.partial = {s: self._finished_samples(s) for s in partial_subsets if s in self.subsets}

    def _finished_samples(self, subset: str) -> list[Sample]:
        layout = SubsetLayout(self.root, subset, "")
        subset_dir = self.root / subset
        has_real = self.has_real(subset)
        out = []
        for key in sorted(UnitJournal(layout).keys()):
            try:
                rec = layout.read_unit(key)
            except (OSError, ValueError):
                continue
            for row in rec.get("rows", []):
                comp = str(row.get("composite", ""))
                if not comp:
                    continue
                name = Path(comp).name
                comp_rel = comp if "/" in comp else f"{COMPOSITE_DIR}/{comp}"
                mask_path, real_path = _sample_paths(subset_dir, name, row, has_real)
                out.append(Sample(subset, name, subset_dir / comp_rel, mask_path, real_path, row.get("split"),
                                  dict(row)))
        out.sort(key=lambda sample: sample.name)
        return out

    def _split_names(self, subset: str) -> dict[str, list[str]]:
        if subset in self.partial:
            return {"finished": [s.name for s in self.partial[subset]]}
        return super()._split_names(subset)

    def samples(self, split: str | None = None, subsets: Sequence[str] | None = None,
                limit: int | None = None) -> list[Sample]:
        """Samples as :meth:`DatasetReader.samples`; for an interrupted subset, its finished units' composites.

        Parameters
        ----------
        split : {"train", "test"} or None
            The split (interrupted subsets: the split recorded in each unit's rows).
        subsets : sequence of str or None
            Subsets to read.
        limit : int or None
            Keep the first N samples of each subset.

        Returns
        -------
        list of Sample
        """
        wanted = list(subsets or self.subsets)
        full = [s for s in wanted if s not in self.partial]
        out = super().samples(split, full, limit) if full else []
        for sub in wanted:
            if sub in self.partial:
                picked = [s for s in self.partial[sub] if split in (None, s.split)]
                out += picked[:limit] if limit is not None else picked
        return out


# --- checking a dataset (`harmony check`) ---------------------------------------------------------------

@dataclass
class DatasetCheck:
    """The outcome of :func:`check_dataset`: every problem found, and what was checked.

    Parameters
    ----------
    root : str
        The dataset folder, as given.
    problems : list of Problem
        Errors and warnings, in the order :meth:`DatasetReader.validate` found them.
    per_subset : dict of str to int
        Composites checked per subset.
    checked : int
        Composites checked in all.
    incomplete : list of (str, int, int)
        ``(subset, units done, units total)`` of every subset holding an interrupted run (only its
        finished units were checked).
    seconds : float
        Wall-clock time of the check.
    """

    root: str
    problems: list[Problem]
    per_subset: dict[str, int]
    checked: int
    incomplete: list[tuple[str, int, int]]
    seconds: float

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> int:
        """0 when no error was found (warnings allowed), 1 on errors or an interrupted run."""
        return 1 if self.errors or self.incomplete else 0

    def lines(self, max_problems: int = 50) -> list[str]:
        """The report ``harmony check`` prints, one string per line.

        Parameters
        ----------
        max_problems : int
            Problems to list (all are counted).

        Returns
        -------
        list of str
            The problems, then ``== check <root>``, composites per subset, the error and warning counts
            with the time, ``OK`` or ``FAILED``, and ``INCOMPLETE`` after an interrupted run.
        """
        errors = len(self.errors)
        lines = [str(p) for p in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"... and {len(self.problems) - max_problems} more problems")
        lines.append(f"\n== check {self.root}")
        lines.append("subsets: " + ", ".join(f"{k} {v}" for k, v in sorted(self.per_subset.items()))
                     if self.per_subset else "subsets: none with listed composites")
        lines.append(f"{self.checked} composites checked in {self.seconds:.1f} s: "
                     f"{errors} errors, {len(self.problems) - errors} warnings")
        lines.append("OK" if not errors else "FAILED")
        if self.incomplete:
            lines.append("INCOMPLETE: only the finished units were checked")
        return lines


def incomplete_run_notice(subset: str, done: int, total: int) -> str:
    """The line that tells the user a subset holds an interrupted run, and how to finish it.

    Parameters
    ----------
    subset : str
        Subset folder name.
    done, total : int
        Units finished, and units the run planned.

    Returns
    -------
    str
        ``<subset>: incomplete run (<done> of <total> units done): re-run the same command to finish``.
    """
    return f"{subset}: incomplete run ({done} of {total} units done): re-run the same command to finish"


def check_dataset(root: str | os.PathLike, *, split: str | None = None, pixels: bool = True,
                  notify: Callable[[str], None] | None = None) -> DatasetCheck:
    """Validate a dataset in the iHarmony4 layout: open it, validate every listed sample, count.

    Every composite listed in the split files must have its mask and real image, sizes must agree,
    masks must be non-empty (and binary: soft values are a warning), and files must decode. A subset
    whose last run was interrupted has no split files yet: its finished units (from the run's journal)
    are checked instead, through :class:`PartialRunReader`.

    Parameters
    ----------
    root : str or path-like
        The dataset folder (a harmony output, or the iHarmony4 release [1]_).
    split : {"train", "test"} or None
        Check one split only (None: every listed composite).
    pixels : bool
        Decode composites and check mask pixels (False: headers only, much faster).
    notify : callable or None
        Called with :func:`incomplete_run_notice` for each interrupted run, as soon as it is found.

    Returns
    -------
    DatasetCheck
        The problems and counts; ``lines()`` is the printed report, ``exit_code`` the command's status.

    Raises
    ------
    InputError
        ``root`` is not a folder, holds no subset folder, or keeps split files of the old layout.

    References
    ----------
    .. [1] Cong et al., "DoveNet: Deep Image Harmonization via Domain Verification", CVPR 2020;
       https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4

    Examples
    --------
    >>> report = check_dataset("demo_out/data", pixels=False)       # doctest: +SKIP
    >>> report.exit_code, report.per_subset["HCOCO"], len(report.problems)   # doctest: +SKIP
    (0, 7, 0)
    >>> print("\\n".join(report.lines()[-3:]))                     # doctest: +SKIP
    subsets: HAdobe5k 24, HCOCO 7, HFlickr 6, HRealComposite 7, HRendered 270, HRetouched 8, Hday2night 72
    394 composites checked in 0.4 s: 0 errors, 0 warnings
    OK
    """
    start = time.perf_counter()
    runs = incomplete_runs(root)
    for subset, done, total in runs:
        if notify is not None:
            notify(incomplete_run_notice(subset, done, total))
    if runs:
        reader: DatasetReader = PartialRunReader(root, [subset for subset, _done, _total in runs])
    else:
        reader = DatasetReader(root)
    problems = reader.validate(pixels=pixels, split=split)
    samples = reader.samples(split=split)
    per_subset: dict[str, int] = {}
    for sample in samples:
        per_subset[sample.subset] = per_subset.get(sample.subset, 0) + 1
    return DatasetCheck(str(root), problems, per_subset, len(samples), runs, time.perf_counter() - start)

