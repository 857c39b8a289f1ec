"""Training data for ``harmony train``: streaming torch Datasets over the iHarmony4 layout, per-sample
augmentation, the step sampler (DistributedSampler underneath) and the pre-resized uint8 cache.

Everything a reader needs about *where training data comes from* lives here; the networks only see
batches (the extra streams of SPRIH and CharmNet included).

Design
------
- **Streaming.** :class:`ImageTable` keeps the file paths of a split as numpy byte-string arrays (no
  per-sample Python objects, so forked loader workers do not copy them page by page), and
  :class:`StreamDataset` decodes, crops, resizes and flips one item when asked. Items stay ``uint8``
  (images ``(s, s, 3)``, masks ``(s, s)`` in {0, 255}) until :func:`collate` stacks them; the trainer
  converts a batch to float on the device. Memory therefore does not grow with the dataset.
- **Determinism.** A loader item is ``(stream, index, aug_key)``; the augmentation of that item is drawn
  from ``numpy.random.default_rng([seed, *aug_key])`` where ``aug_key = (epoch, position in the epoch's
  permutation)``. Nothing depends on which worker decodes the item, so the same command gives the same
  batches for any ``--loader-workers`` (and, with DDP, the union of the ranks' batches at step ``s`` is
  the single-process batch of the same global size).
- **Order.** :class:`StepBatchSampler` yields, for each step ``s``, this rank's ``b`` items: positions
  ``[s b, (s + 1) b)`` of the rank's stream, which is the concatenation over epochs of
  ``torch.utils.data.DistributedSampler`` (``shuffle=True``, ``seed``, ``set_epoch(epoch)``). A resumed
  run starts the sampler at its step: the data position is the step.
- **Augmentation** (iharm / iSSAM ``HorizontalFlip`` + ``RandomResizedCrop``; per preset): a random
  resized crop (area fraction in ``crop_scale``, aspect ratio in ``crop_ratio``, as
  ``torchvision.transforms.RandomResizedCrop``; fallback centre crop after 10 tries), then the resize to
  the network's side (images: area when shrinking, bilinear otherwise; masks: bilinear then > 0.5, as
  :func:`harmony.models.train.load_split`), then a horizontal flip with probability ``hflip``.
- **Bad items.** A missing or corrupt file met mid-epoch makes the item a skip record
  ``{"skip": (key, reason)}``; :func:`collate` drops it and lists it in the batch, the trainer counts it
  and writes it to the log, and training goes on.
- **Cache** (:func:`prepare_cache`, ``harmony prepare``): one memory-mapped ``uint8`` file of rows
  ``composite | real | mask`` at ``size x size`` per dataset and size, an index keyed by the content
  (sha256) of the three files and their size, and a CRC-32 per row. Training uses a row when the
  files' (size, mtime) still match the index and the row's CRC is intact, and decodes the files
  otherwise; re-running ``prepare`` recomputes changed or damaged rows only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import imageops
from .. import io as hio
from ..dataset import DatasetReader, derive_mask_and_real
from ..errors import InputError

LABEL_DIR = "labels"
CACHE_FORMAT = "harmony-train-cache/1"

#: augmentation of a preset: {"hflip": p, "crop_scale": (lo, hi) | None, "crop_ratio": (lo, hi)}
DEFAULT_AUGMENT: dict[str, Any] = {"hflip": 0.5, "crop_scale": None, "crop_ratio": (3 / 4, 4 / 3)}


# --- a compact table of file paths -------------------------------------------------------------------

def _encode(paths: Sequence[str]) -> np.ndarray:
    return np.array([p.encode("utf-8") for p in paths], dtype=np.bytes_) if paths else np.zeros(0, "S1")


@dataclass
class ImageTable:
    """Paths of one stream as numpy byte strings (relative to ``root``; ``b""`` = absent).

    ``fields`` maps a batch key to ``(kind, paths)`` with kind ``image`` | ``mask`` | ``label``;
    ``arrays`` holds per-item numbers (CharmNet's soft labels); ``keys`` names the items in messages.
    """

    root: str
    keys: np.ndarray
    fields: dict[str, tuple[str, np.ndarray]]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    num_classes: int = 0

    def __len__(self) -> int:
        return int(len(self.keys))

    def path(self, name: str, i: int) -> Path | None:
        """Absolute path of one field of one item.

        Parameters
        ----------
        name : str
            A key of ``fields`` (``composite``, ``mask``, ``real``, ...).
        i : int
            Item index.

        Returns
        -------
        pathlib.Path or None
            None when the item has no such file (an optional label map).
        """
        raw = self.fields[name][1][i]
        return Path(self.root) / raw.decode("utf-8") if raw else None

    def key(self, i: int) -> str:
        """The item's key, as named in messages and the cache index (``<Sub>/<composite name>``).

        Parameters
        ----------
        i : int

        Returns
        -------
        str
        """
        return self.keys[i].decode("utf-8")


def _rel(root: Path, p: Path | None) -> str:
    if p is None:
        return ""
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def label_path(sample) -> Path | None:
    """The scene-parsing label map of a sample, when it exists (DIH's joint parsing).

    Parameters
    ----------
    sample : harmony.dataset.Sample
        A sample of :class:`harmony.dataset.DatasetReader`.

    Returns
    -------
    pathlib.Path or None
        ``<Sub>/labels/<real image stem>.png``, else ``<Sub>/labels/<composite stem>.png``, else None.
    """
    folder = sample.composite.parent.parent / LABEL_DIR
    for stem in ((sample.real.stem if sample.real is not None else None), sample.composite.stem):
        if stem and (folder / f"{stem}.png").is_file():
            return folder / f"{stem}.png"
    return None


def paired_table(root: str | os.PathLike, split: str, *, subsets=None, limit: int | None = None,
                 with_labels: bool = False) -> ImageTable:
    """One split of an iHarmony4-layout dataset as an :class:`ImageTable` of composite, mask and real paths.

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root (``<Sub>/<Sub>_<split>.txt`` listing ``composite_images/`` names).
    split : {"train", "test"}
    subsets : sequence of str, optional
        Only these subsets (default: all of ``root``).
    limit : int, optional
        At most this many samples.
    with_labels : bool, default False
        Add a ``labels`` field when label maps exist, and count their classes into ``num_classes``.


    Returns
    -------
    ImageTable
        Paths only (nothing is decoded here); items that cannot be used are listed in ``skipped``. Samples without a ground-truth real image are skipped.

    References
    ----------
    .. [1] K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021 (the ``iharm`` training pipeline: HorizontalFlip + RandomResizedCrop).
    .. [2] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, "DoveNet: Deep Image Harmonization
       via Domain Verification", CVPR 2020 (the iHarmony4 layout).
    """
    root = Path(root)
    reader = DatasetReader(root, subsets=subsets)
    samples = reader.samples(split=split, limit=limit)
    skipped: list[tuple[str, str]] = []
    keep = []
    for s in samples:
        if s.real is None:
            skipped.append((s.key, "no ground-truth real image"))
        else:
            keep.append(s)
    del samples
    labels = [label_path(s) for s in keep] if with_labels else []
    fields = {"composite": ("image", _encode([_rel(root, s.composite) for s in keep])),
              "mask": ("mask", _encode([_rel(root, s.mask) for s in keep])),
              "real": ("image", _encode([_rel(root, s.real) for s in keep]))}
    num_classes = 0
    if any(p is not None for p in labels):
        fields["labels"] = ("label", _encode([_rel(root, p) for p in labels]))
        for p in labels:      # class count from the label maps only (small next to the images)
            if p is None:
                continue
            try:
                lab = hio.read_label_map(p)
            except InputError:
                continue
            valid = lab[lab != 255]
            if valid.size:
                num_classes = max(num_classes, int(valid.max()) + 1)
    return ImageTable(str(root), _encode([s.key for s in keep]), fields, skipped=skipped, num_classes=num_classes)


def unpaired_table(root: str | os.PathLike, *, split: str = "train") -> ImageTable:
    """SPRIH's stream 2 (a ``harmony datagen real`` dataset): composite ``C_ij``, mask ``M_j``, inpainted
    background ``inpaint(B_i)`` and the "real" class image (Eq. 6).

    Parameters
    ----------
    root : str or os.PathLike
        Subsets without ``backgrounds/`` are ignored.
    split : str, default "train"
        The split to read; when it is empty every composite is used.


    Returns
    -------
    ImageTable
        Paths only (nothing is decoded here); items that cannot be used are listed in ``skipped``.

    Raises
    ------
    harmony.errors.InputError
        No subset with ``backgrounds/``.
    """
    root = Path(root)
    reader = DatasetReader(root)
    subsets = [s for s in reader.subsets if (root / s / "backgrounds").is_dir()]
    if not subsets:
        raise InputError(f"{root}: no subset with backgrounds/ (make one with `harmony datagen real`)")
    samples = reader.samples(split=split, subsets=subsets)
    if not samples:
        samples = reader.samples(split=None, subsets=subsets)
    comp, mask, bg, rc, keys, skipped = [], [], [], [], [], []
    for s in samples:
        try:
            real_name = derive_mask_and_real(s.name)[1]
        except InputError:
            real_name = None
        bg_rel = s.extra.get("background") or (f"backgrounds/{real_name}" if real_name else None)
        rc_rel = s.extra.get("real_class") or (f"real_class/{real_name}" if real_name else None)
        if not bg_rel or not rc_rel:
            skipped.append((s.key, "no background/real_class file name"))
            continue
        comp.append(_rel(root, s.composite))
        mask.append(_rel(root, s.mask))
        bg.append(f"{s.subset}/{bg_rel}")
        rc.append(f"{s.subset}/{rc_rel}")
        keys.append(s.key)
    return ImageTable(str(root), _encode(keys), {"composite": ("image", _encode(comp)), "mask": ("mask", _encode(mask)),
                                                 "background": ("image", _encode(bg)),
                                                 "real_class": ("image", _encode(rc))}, skipped=skipped)


def rendered_table(root: str | os.PathLike, *, split: str = "train", n_styles: int = 10) -> ImageTable:
    """CharmNet's rendered stream: the pairs listed in ``<root>/labels.txt`` (``harmony datagen rendered``)
    with their soft style labels.

    Parameters
    ----------
    root : str or os.PathLike
    split : str, default "train"
        The split's labelled composites, or every labelled composite when that split is empty.
    n_styles : int, default 10
        Capture styles; style ids in ``labels.txt`` must be in ``1..n_styles``.


    Returns
    -------
    ImageTable
        Paths only (nothing is decoded here); items that cannot be used are listed in ``skipped``. ``arrays`` holds ``soft`` (N, n_styles) float32 and ``style`` (N,) int64 (0-based).

    Raises
    ------
    harmony.errors.InputError
        No ``labels.txt``, or a malformed line (named with its line number).
    """
    from ..datagen.rendered import LABEL_FILE, parse_label_line

    root = Path(root)
    label_path_ = root / LABEL_FILE
    if not label_path_.is_file():
        raise InputError(f"{root}: no {LABEL_FILE} (make the rendered set with `harmony datagen rendered`)")
    labels: dict[str, tuple[np.ndarray, int]] = {}
    for n, line in enumerate(label_path_.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, soft, gt = parse_label_line(line)
        except (InputError, ValueError) as exc:
            raise InputError(f"{label_path_}:{n}: {str(exc).splitlines()[0]}") from None
        if not 1 <= gt <= n_styles:
            raise InputError(f"{label_path_}:{n}: style id {gt} outside 1..{n_styles}")
        labels[rel.replace("\\", "/")] = (soft.astype(np.float32), gt - 1)
    reader = DatasetReader(root)
    samples = [s for s in reader.samples(split=split) if _rel(root, s.composite) in labels]
    if not samples:
        samples = reader.samples(split=None)
    comp, mask, real, keys, soft, style, skipped = [], [], [], [], [], [], []
    for s in samples:
        rel = _rel(root, s.composite)
        if rel not in labels:
            continue
        if s.real is None:
            skipped.append((s.key, "no ground-truth real image"))
            continue
        comp.append(rel)
        mask.append(_rel(root, s.mask))
        real.append(_rel(root, s.real))
        keys.append(s.key)
        soft.append(labels[rel][0])
        style.append(labels[rel][1])
    arrays = {"soft": np.stack(soft).astype(np.float32) if soft else np.zeros((0, n_styles), np.float32),
              "style": np.asarray(style, dtype=np.int64)}
    return ImageTable(str(root), _encode(keys), {"composite": ("image", _encode(comp)), "mask": ("mask", _encode(mask)),
                                                 "real": ("image", _encode(real))}, arrays=arrays, skipped=skipped)


# --- decoding and augmentation ------------------------------------------------------------------------

def _read(kind: str, path: Path) -> np.ndarray:
    if kind == "image":
        return hio.read_image_uint8(path)
    if kind == "mask":
        m = hio.read_mask(path)
        return (np.clip(m, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    lab = hio.read_label_map(path)
    return np.clip(lab, 0, 255).astype(np.uint8)


def crop_box(rng: np.random.Generator, h: int, w: int, scale: Sequence[float],
             ratio: Sequence[float]) -> tuple[int, int, int, int]:
    """The box of a random resized crop (torchvision's ``RandomResizedCrop.get_params`` rule).

    Area fraction uniform in ``scale``, log-uniform aspect ratio in ``ratio``, 10 tries, then the centre
    crop clamped to ``ratio``.

    Parameters
    ----------
    rng : numpy.random.Generator
    h, w : int
        Image size.
    scale : (float, float)
        Area fraction range.
    ratio : (float, float)
        Aspect ratio (width / height) range.

    Returns
    -------
    top, left, height, width : int
    """
    area = h * w
    log_r = (np.log(ratio[0]), np.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        ar = float(np.exp(rng.uniform(*log_r)))
        cw = int(round(np.sqrt(target * ar)))
        ch = int(round(np.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def _resize(kind: str, arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    if kind == "image":
        return imageops.resize(arr, (size, size), "area" if min(h, w) > size else "bilinear")
    if kind == "mask":
        return np.where(imageops.resize(arr, (size, size), "bilinear") > 127, 255, 0).astype(np.uint8)
    return imageops.resize(arr, (size, size), "nearest")


def augment_item(arrays: Mapping[str, tuple[str, np.ndarray]], size: int, augment: Mapping[str, Any] | None,
                 rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    """Crop, resize and flip the arrays of one item together (same box, same flip).

    Parameters
    ----------
    arrays : mapping of str to (kind, ndarray)
        ``kind`` is ``image`` ((h, w, 3) uint8), ``mask`` ((h, w) uint8, 255 = foreground) or ``label``.
    size : int
        Output side.
    augment : mapping, optional
        ``hflip`` probability, ``crop_scale`` (None = no crop), ``crop_ratio`` (see
        :data:`DEFAULT_AUGMENT`).
    rng : numpy.random.Generator or None
        None: resize only (validation, the cache).

    Returns
    -------
    dict of str to ndarray
        uint8 at ``size x size``: images area-resized when shrinking (bilinear otherwise), masks bilinear
        then thresholded at 127 (values {0, 255}), label maps nearest.

    References
    ----------
    .. [1] K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021 (the ``iharm`` training pipeline: HorizontalFlip + RandomResizedCrop).
    .. [2] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, "DoveNet: Deep Image Harmonization
       via Domain Verification", CVPR 2020 (the iHarmony4 layout).
    """
    aug = {**DEFAULT_AUGMENT, **dict(augment or {})}
    first = next(iter(arrays.values()))[1]
    h, w = first.shape[:2]
    box = None
    if rng is not None and aug.get("crop_scale"):
        box = crop_box(rng, h, w, aug["crop_scale"], aug.get("crop_ratio") or (3 / 4, 4 / 3))
    flip = rng is not None and float(aug.get("hflip") or 0) > 0 and rng.random() < float(aug["hflip"])
    out = {}
    for name, (kind, arr) in arrays.items():
        if box is not None:
            t, l, ch, cw = box
            arr = arr[t:t + ch, l:l + cw]
        arr = _resize(kind, arr, size)
        if flip:
            arr = arr[:, ::-1]
        out[name] = np.ascontiguousarray(arr)
    return out


# --- the cache ------------------------------------------------------------------------------------------

def default_cache_dir(root: str | os.PathLike, size: int) -> Path:
    """Where ``harmony prepare`` puts a dataset's cache by default: ``<root>/.harmony/cache/size<S>``.

    Parameters
    ----------
    root : str or os.PathLike
    size : int

    Returns
    -------
    pathlib.Path
    """
    return Path(root) / ".harmony" / "cache" / f"size{int(size)}"


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def content_key(paths: Sequence[Path]) -> str:
    """The cache's content key of one item: sha256 over the sha256 digests of its files' bytes.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Composite, mask and real image.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    OSError
        A file cannot be read.
    """
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


class TrainCache:
    """A prepared cache folder, read through a memory map.

    ``rows.u8`` holds N rows of ``composite | real | mask`` uint8 at ``size x size``; ``index.json`` per
    row the item key, the content sha256, the files' ``[size, mtime_ns]`` and the row's CRC-32. The map
    opens lazily in each process (loader workers open their own).

    Parameters
    ----------
    folder : str or os.PathLike

    Raises
    ------
    harmony.errors.InputError
        Not a cache of this format, or a rows file of the wrong length (damaged).
    """

    ROW_FIELDS = (("composite", 3), ("real", 3), ("mask", 1))

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        index = json.loads((self.folder / "index.json").read_text(encoding="utf-8"))
        if index.get("format") != CACHE_FORMAT:
            raise InputError(f"{self.folder}: not a harmony training cache")
        self.size = int(index["size"])
        self.rows = {k: i for i, k in enumerate(index["keys"])}
        self.stats = index["stats"]
        self.crc = index["crc"]
        self.valid = index.get("valid") or [True] * len(self.crc)
        self._mm = None
        expected = len(self.crc) * self.row_bytes
        have = (self.folder / "rows.u8").stat().st_size if (self.folder / "rows.u8").is_file() else -1
        if have != expected:
            raise InputError(f"{self.folder / 'rows.u8'}: {have} bytes, expected {expected} (damaged cache)")

    @property
    def row_bytes(self) -> int:
        """Bytes of one row: ``7 * size * size``."""
        return 7 * self.size * self.size

    def _map(self) -> np.memmap:
        if self._mm is None:
            self._mm = np.memmap(self.folder / "rows.u8", dtype=np.uint8, mode="r",
                                 shape=(len(self.crc), self.row_bytes))
        return self._mm

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_mm"] = None
        return state

    def get(self, key: str, paths: Sequence[Path]) -> dict[str, np.ndarray] | None:
        """One item's arrays from the cache.

        Parameters
        ----------
        key : str
            The item's key.
        paths : sequence of pathlib.Path
            Its composite, mask and real files (their size and mtime must match the index).

        Returns
        -------
        dict of str to ndarray or None
            ``composite``, ``real`` (size, size, 3) and ``mask`` (size, size) uint8 views of the map; None when
            the item is not cached, its files changed, or its row fails the CRC check.
        """
        i = self.rows.get(key)
        if i is None or not self.valid[i]:
            return None
        try:
            if [_stat_key(p) for p in paths] != self.stats[i]:
                return None
        except OSError:
            return None
        row = np.asarray(self._map()[i])
        if zlib.crc32(row) != self.crc[i]:
            return None
        s = self.size
        comp = row[:3 * s * s].reshape(s, s, 3)
        real = row[3 * s * s:6 * s * s].reshape(s, s, 3)
        mask = row[6 * s * s:].reshape(s, s)
        return {"composite": comp, "real": real, "mask": mask}


def open_cache(root: str | os.PathLike, size: int, folder: str | os.PathLike | None = None) -> TrainCache | None:
    """The cache of a dataset at a size, when one was prepared and is readable.

    Parameters
    ----------
    root : str or os.PathLike
    size : int
    folder : str or os.PathLike, optional
        Default :func:`default_cache_dir`.

    Returns
    -------
    TrainCache or None
    """
    folder = Path(folder) if folder else default_cache_dir(root, size)
    if not (folder / "index.json").is_file():
        return None
    try:
        cache = TrainCache(folder)
    except (InputError, OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return cache if cache.size == int(size) else None


# --- the dataset ----------------------------------------------------------------------------------------

class StreamDataset:
    """torch ``Dataset`` over one or more :class:`ImageTable` streams (``main`` plus extra streams).

    ``dataset[(stream, index, aug_key)]`` decodes item ``index`` of ``stream`` (from the cache when one is
    attached and valid), augments it with ``default_rng([seed, *aug_key])`` (no augmentation when
    ``aug_key`` is None) and returns uint8 arrays at ``size x size`` plus ``"key"``; a file that cannot be
    read gives ``{"skip": (key, reason)}``.

    Parameters
    ----------
    tables : mapping of str to ImageTable
    size : int
    seed : int, default 0
    augment : mapping, optional
        See :func:`augment_item`.
    cache : TrainCache, optional
        Used for the ``main`` stream when it has no label maps.

    References
    ----------
    .. [1] K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021 (the ``iharm`` training pipeline: HorizontalFlip + RandomResizedCrop).
    .. [2] W. Cong, J. Zhang, L. Niu, L. Liu, Z. Ling, W. Li, L. Zhang, "DoveNet: Deep Image Harmonization
       via Domain Verification", CVPR 2020 (the iHarmony4 layout).
    """

    def __init__(self, tables: Mapping[str, ImageTable], size: int, *, seed: int = 0,
                 augment: Mapping[str, Any] | None = None, cache: TrainCache | None = None):
        self.tables = dict(tables)
        self.size = int(size)
        self.seed = int(seed)
        self.augment = dict(augment or {})
        self.cache = cache

    def __len__(self) -> int:
        return len(self.tables["main"]) if "main" in self.tables else 0

    def load(self, stream: str, index: int) -> dict[str, tuple[str, np.ndarray]]:
        """Decode one item's files at their own size (from the cache when possible).

        Parameters
        ----------
        stream : str
        index : int

        Returns
        -------
        dict of str to (kind, ndarray)
            uint8 arrays per field.

        Raises
        ------
        harmony.errors.InputError
            A required file is missing or unreadable.
        """
        table = self.tables[stream]
        if stream == "main" and self.cache is not None and "labels" not in table.fields:
            paths = [table.path(n, index) for n in ("composite", "mask", "real")]
            hit = self.cache.get(table.key(index), paths)
            if hit is not None:
                return {"composite": ("image", hit["composite"]), "mask": ("mask", hit["mask"]),
                        "real": ("image", hit["real"])}
        out = {}
        for name, (kind, _) in table.fields.items():
            p = table.path(name, index)
            if p is None:
                if kind == "label":
                    continue
                raise InputError(f"{table.key(index)}: no {name} file")
            out[name] = (kind, _read(kind, p))
        return out

    def __getitem__(self, item) -> dict[str, Any]:
        stream, index, aug_key = item
        table = self.tables[stream]
        key = table.key(index)
        try:
            arrays = self.load(stream, index)
        except InputError as exc:
            return {"stream": stream, "skip": (key, str(exc).splitlines()[0])}
        shapes = {a.shape[:2] for _, a in arrays.values()}
        if len(shapes) != 1:
            if "labels" in arrays and len({a.shape[:2] for n, (_, a) in arrays.items() if n != "labels"}) == 1:
                lab_kind, lab = arrays["labels"]
                hw = arrays["composite"][1].shape[:2]
                arrays["labels"] = (lab_kind, imageops.resize(lab, hw, "nearest"))
            else:
                return {"stream": stream, "skip": (key, "composite, mask and real image sizes differ")}
        rng = np.random.default_rng([self.seed, *aug_key]) if aug_key is not None else None
        out: dict[str, Any] = augment_item(arrays, self.size, self.augment, rng)
        if not out["mask"].any():
            return {"stream": stream, "skip": (key, f"mask has no foreground at {self.size}x{self.size}")}
        if "labels" in table.fields and "labels" not in out:
            out["labels"] = np.full((self.size, self.size), 255, np.uint8)
        for name, arr in table.arrays.items():
            out[name] = arr[index]
        out["stream"] = stream
        out["key"] = key
        return out


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack the good items of each stream into uint8 tensors and list the skipped ones.

    Parameters
    ----------
    items : sequence of mapping
        :class:`StreamDataset` items.

    Returns
    -------
    dict
        ``{"main": {...}, "<stream>": {...}, "skipped": [(key, reason), ...]}``; per stream images
        ``(N, 3, s, s)`` uint8, masks ``(N, 1, s, s)`` uint8, labels ``(N, s, s)``, per-item arrays stacked,
        and ``keys``.
    """
    import torch

    out: dict[str, Any] = {"skipped": []}
    groups: dict[str, list] = {}
    for item in items:
        if "skip" in item:
            out["skipped"].append(tuple(item["skip"]))
            continue
        groups.setdefault(item["stream"], []).append(item)
    for stream, stream_items in groups.items():
        stream_batch: dict[str, Any] = {"keys": [item["key"] for item in stream_items]}
        for name in stream_items[0]:
            if name in ("stream", "key"):
                continue
            arr = np.stack([item[name] for item in stream_items])
            if arr.dtype == np.uint8 and arr.ndim == 4:          # images (B, s, s, 3)
                stream_batch[name] = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
            elif arr.dtype == np.uint8 and name == "mask":       # (B, s, s) -> (B, 1, s, s)
                stream_batch[name] = torch.from_numpy(arr)[:, None]
            else:
                stream_batch[name] = torch.from_numpy(np.ascontiguousarray(arr))
        out[stream] = stream_batch
    return out


def to_float_batch(batch: Mapping[str, Any], device) -> dict[str, Any]:
    """A collated stream batch on a device, in the networks' float contract.

    Parameters
    ----------
    batch : mapping
        One stream of :func:`collate`'s output.
    device : torch.device or str

    Returns
    -------
    dict
        Images and masks float32 in [0, 1] (masks exactly {0, 1}), labels int64 (255 = unlabeled), other
        tensors unchanged, ``keys`` as given.
    """
    import torch

    out: dict[str, Any] = {}
    for name, v in batch.items():
        if name == "keys":
            out[name] = v
            continue
        v = v.to(device, non_blocking=True)
        if name == "labels":
            out[name] = v.long()
        elif v.dtype == torch.uint8:
            out[name] = v.float().div_(255.0)
        else:
            out[name] = v
    return out


# --- the step sampler -------------------------------------------------------------------------------------

class StepBatchSampler:
    """Batches of one rank for steps ``start .. total - 1`` (a ``batch_sampler`` of the DataLoader).

    Main-stream positions come from ``torch.utils.data.DistributedSampler(shuffle=True, seed=seed)``
    epoch by epoch; ``streams_for_step(step) -> {stream: count}`` adds items of extra streams drawn with
    ``default_rng([seed, step, rank, 17])``.

    Parameters
    ----------
    n : int
        Items of the main stream.
    batch_size : int
        Main items per step and rank.
    seed, start, total : int
        The run's seed, first step (a resumed run's) and step count.
    rank, world : int
        This process's rank and the number of processes (DDP).
    streams_for_step : callable, optional
    stream_sizes : mapping of str to int, optional
        Items of each extra stream.

    References
    ----------
    .. [1] PyTorch documentation, ``torch.utils.data.distributed.DistributedSampler`` and "Getting
       Started with Distributed Data Parallel" (https://pytorch.org/docs/stable/data.html,
       https://pytorch.org/tutorials/intermediate/ddp_tutorial.html).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, start: int, total: int, rank: int = 0,
                 world: int = 1, streams_for_step: Callable[[int], Mapping[str, int]] | None = None,
                 stream_sizes: Mapping[str, int] | None = None):
        from torch.utils.data import DistributedSampler

        self.items_total, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.start, self.total, self.rank, self.world = int(start), int(total), int(rank), int(world)
        self.streams_for_step = streams_for_step
        self.stream_sizes = dict(stream_sizes or {})
        self._sampler = DistributedSampler(range(self.items_total), num_replicas=self.world, rank=self.rank, shuffle=True,
                                           seed=self.seed, drop_last=False)
        self.per_epoch = len(self._sampler)      # ceil(n / world) positions of this rank per epoch
        self._epoch_cache: tuple[int, list[int]] | None = None

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def _epoch(self, e: int) -> list[int]:
        if self._epoch_cache is None or self._epoch_cache[0] != e:
            self._sampler.set_epoch(e)
            self._epoch_cache = (e, list(iter(self._sampler)))
        return self._epoch_cache[1]

    def items(self, step: int) -> list[tuple]:
        """The loader items of one step.

        Parameters
        ----------
        step : int

        Returns
        -------
        list of tuple
            ``(stream, index, aug_key)`` per item: ``batch_size`` main items (``aug_key = (epoch, global
            position in the epoch)``, the same for any worker or rank count), then the step's extra-stream items.
        """
        out = []
        for j in range(self.batch_size):
            q = step * self.batch_size + j                          # rank-local position
            e, qe = divmod(q, self.per_epoch)
            idx = self._epoch(e)[qe]
            out.append(("main", int(idx), (e, qe * self.world + self.rank)))   # global position in the epoch
        if self.streams_for_step is not None:
            want = self.streams_for_step(step)
            if want:
                rng = np.random.default_rng([self.seed, step, self.rank, 17])
                for stream, count in want.items():
                    n = self.stream_sizes.get(stream, 0)
                    if n <= 0:
                        continue
                    for j, idx in enumerate(rng.integers(0, n, int(count))):
                        out.append((stream, int(idx), (1_000_000 + step, self.rank, j)))
        return out

    def __iter__(self) -> Iterator[list[tuple]]:
        for step in range(self.start, self.total):
            yield self.items(step)


def _worker_init(_worker_id: int) -> None:
    """Loader workers: one OpenCV/torch thread each, and Ctrl-C left to the training process (which
    finishes its step, writes a checkpoint and then shuts the workers down)."""
    import signal

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(dataset: StreamDataset, sampler: StepBatchSampler, workers: int, *, pin_memory: bool = False):
    """A ``torch.utils.data.DataLoader`` over a dataset with a step sampler's batches.

    Parameters
    ----------
    dataset : StreamDataset
    sampler : StepBatchSampler
    workers : int
        Loader processes (0: in the training process); each runs OpenCV and torch on one thread and
        ignores SIGINT.
    pin_memory : bool, default False
        For CUDA training.

    Returns
    -------
    torch.utils.data.DataLoader
        Batches come back in step order for any ``workers``.
    """
    from torch.utils.data import DataLoader

    kwargs: dict[str, Any] = {}
    if workers > 0:
        import cv2

        # The workers are forked. OpenCV's pthreads pool, if this process has used it (any cv2 resize or
        # decode before training, e.g. in a notebook), does not survive a fork, and the child's first
        # cv2.setNumThreads then waits forever for threads that do not exist in it. One OpenCV thread in
        # this process from here on leaves no pool behind to inherit (the training process runs torch,
        # not OpenCV, in its loop).
        cv2.setNumThreads(1)
        kwargs = {"prefetch_factor": 2, "worker_init_fn": _worker_init, "persistent_workers": False}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=int(workers), collate_fn=collate,
                      pin_memory=pin_memory, **kwargs)


def load_eval(table: ImageTable, size: int, cache: TrainCache | None = None, limit: int | None = None
              ) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """The first usable items of a table, without augmentation, as float arrays (validation).

    Parameters
    ----------
    table : ImageTable
    size : int
    cache : TrainCache, optional
    limit : int, optional
        At most this many items.

    Returns
    -------
    arrays : dict of str to ndarray
        ``composite`` and ``real`` (N, size, size, 3) float32 in [0, 1], ``mask`` (N, size, size) float32 in
        {0, 1}.
    skipped : list of (str, str)
        Items that could not be used, with the reason.
    """
    ds = StreamDataset({"main": table}, size, cache=cache)
    comps, masks, reals, skipped = [], [], [], []
    for i in range(len(table)):
        if limit is not None and len(comps) >= limit:
            break
        item = ds[("main", i, None)]
        if "skip" in item:
            skipped.append(tuple(item["skip"]))
            continue
        comps.append(item["composite"].astype(np.float32) / 255.0)
        masks.append((item["mask"] > 127).astype(np.float32))
        reals.append(item["real"].astype(np.float32) / 255.0)
    s = int(size)
    if not comps:
        return ({"composite": np.zeros((0, s, s, 3), np.float32), "mask": np.zeros((0, s, s), np.float32),
                 "real": np.zeros((0, s, s, 3), np.float32)}, skipped)
    return {"composite": np.stack(comps), "mask": np.stack(masks), "real": np.stack(reals)}, skipped


# --- preparing the cache ----------------------------------------------------------------------------------

@dataclass
class PrepareResult:
    """What :func:`prepare_cache` did: ``folder``, ``items`` (rows), ``computed`` and ``reused`` rows, the
    ``skipped`` items ``(key, reason)`` and the ``seconds`` taken.
    """
    folder: Path
    items: int
    computed: int
    reused: int
    skipped: list[tuple[str, str]]
    seconds: float


class _PrepareDataset:
    """Items to (re)compute: ``i -> (row, arrays | skip, content key, stats)``."""

    def __init__(self, table: ImageTable, size: int, todo: Sequence[int]):
        self.ds = StreamDataset({"main": table}, size)
        self.table = table
        self.todo = list(todo)

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, k: int):
        i = self.todo[k]
        paths = [self.table.path(n, i) for n in ("composite", "mask", "real")]
        it = self.ds[("main", i, None)]
        try:
            stats = [_stat_key(p) for p in paths]
            digest = content_key(paths)
        except OSError as exc:
            return i, {"skip": (self.table.key(i), f"cannot read ({exc.__class__.__name__})")}, "", []
        return i, it, digest, stats


def prepare_cache(root: str | os.PathLike, size: int, *, folder: str | os.PathLike | None = None, subsets=None,
                  workers: int = 0, progress: Callable[[int], Any] | None = None,
                  on_total: Callable[[int], Any] | None = None) -> PrepareResult:
    """Write (or bring up to date) the pre-resized uint8 cache of a dataset's train and test splits.

    Rows whose files have the same content as recorded (size and modification time, else sha256) and
    whose CRC-32 is intact are reused; the others are decoded, resized and written again.

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root in the iHarmony4 layout (``<Sub>/<Sub>_train.txt``, ``composite_images/``,
        ``masks/``, ``real_images/``).
    size : int
        Side of the square rows, in pixels (the training preset's ``size``, e.g. 256).
    folder : str or os.PathLike, optional
        Cache folder; default :func:`default_cache_dir` of ``root`` and ``size``.
    subsets : sequence of str, optional
        Subsets to include (default: every subset of ``root``).
    workers : int, default 0
        ``DataLoader`` worker processes that decode and resize (0: in this process).
    progress : callable, optional
        Called with 1 after each row (reused or written), e.g. a progress bar's ``update``.
    on_total : callable, optional
        Called once with the number of rows before the first ``progress`` call.

    Returns
    -------
    PrepareResult
        The folder, the number of rows, how many were written and reused, the skipped items
        ``(key, reason)`` and the seconds taken.

    Notes
    -----
    Layout: ``rows.u8`` holds one row of ``7 * size * size`` bytes per pair (composite RGB, real RGB,
    mask, uint8, C order), read back with ``np.memmap``; ``index.json`` holds the keys, content keys and
    CRCs. The rows file is written to a temporary name and renamed, so a crash leaves the old cache.
    Rows are resized without augmentation, as :func:`augment_item` with ``rng=None`` (images: area
    interpolation when shrinking, bilinear otherwise; masks: bilinear, then thresholded at 127).

    References
    ----------
    .. [1] K. Sofiiuk, P. Popenova, A. Konushin, "Foreground-aware Semantic Representations for Image
       Harmonization", WACV 2021 (the ``iharm`` data pipeline this cache feeds).
    """
    started = time.perf_counter()
    folder = Path(folder) if folder else default_cache_dir(root, size)
    table, skipped = _prepare_table(root, subsets)
    keys = [table.key(i) for i in range(len(table))]
    row_bytes = 7 * size * size
    old = _read_index(folder, size)
    folder.mkdir(parents=True, exist_ok=True)
    rows_path = folder / "rows.u8"
    reuse, old_rows = _reusable_rows(rows_path, old, table, keys, row_bytes)
    tmp = folder / "rows.u8.tmp"
    index, todo = _write_rows(tmp, table, size, row_bytes, reuse, old, old_rows, workers, skipped, progress, on_total)
    del old_rows
    if len(table) == 0:
        tmp.write_bytes(b"")
    os.replace(tmp, rows_path)
    index = {"format": CACHE_FORMAT, "size": int(size), "keys": keys, **index, "root": str(Path(root).resolve())}
    hio.atomic_write_text(folder / "index.json", json.dumps(index) + "\n")
    return PrepareResult(folder, len(table), len(todo), len(reuse), skipped, time.perf_counter() - started)


def _prepare_table(root: str | os.PathLike, subsets) -> tuple[ImageTable, list[tuple[str, str]]]:
    """One table of the train and test pairs (in that order) and the items their split files skipped."""
    tables = [paired_table(root, split, subsets=subsets) for split in ("train", "test")]
    keys: list[str] = []
    fields: dict[str, list] = {"composite": [], "mask": [], "real": []}
    for part in tables:
        for i in range(len(part)):
            keys.append(part.key(i))
            for name, paths in fields.items():
                paths.append(part.fields[name][1][i])
    skipped = [s for part in tables for s in part.skipped]
    table = ImageTable(str(Path(root)), _encode(keys), {
        name: (kind, np.array(fields[name], dtype=np.bytes_))
        for name, kind in (("composite", "image"), ("mask", "mask"), ("real", "image"))})
    return table, skipped


def _read_index(folder: Path, size: int) -> dict[str, Any] | None:
    """The cache's ``index.json`` when it is of this format and size; None otherwise (or unreadable)."""
    if not (folder / "index.json").is_file():
        return None
    try:
        old = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if old.get("format") != CACHE_FORMAT or int(old.get("size", -1)) != int(size):
        return None
    return old


def _reusable_rows(rows_path: Path, old: dict[str, Any] | None, table: ImageTable, keys: list[str],
                   row_bytes: int) -> tuple[dict[int, int], np.memmap | None]:
    """``{new row: old row}`` for rows whose key, content and CRC still match, and the old rows' map."""
    reuse: dict[int, int] = {}
    if old is None or not rows_path.is_file() or rows_path.stat().st_size != len(old["keys"]) * row_bytes:
        return reuse, None
    old_index = {k: j for j, k in enumerate(old["keys"])}
    old_rows = np.memmap(rows_path, dtype=np.uint8, mode="r", shape=(len(old["keys"]), row_bytes)) if old["keys"] else None
    for i, key in enumerate(keys):
        j = old_index.get(key)
        if j is None or not old["valid"][j]:
            continue
        paths = [table.path(name, i) for name in ("composite", "mask", "real")]
        try:
            stats = [_stat_key(p) for p in paths]
            same = stats == old["stats"][j] or content_key(paths) == old["content"][j]
        except OSError:
            continue
        if same and zlib.crc32(np.asarray(old_rows[j])) == old["crc"][j]:
            reuse[i] = j
    return reuse, old_rows


def _write_rows(tmp: Path, table: ImageTable, size: int, row_bytes: int, reuse: dict[int, int],
                old: dict[str, Any] | None, old_rows: np.memmap | None, workers: int,
                skipped: list, progress: Callable[[int], Any] | None,
                on_total: Callable[[int], Any] | None) -> tuple[dict[str, list], list[int]]:
    """Copy the reused rows and decode the others into ``tmp``; appends load failures to ``skipped``.

    Returns the per-row index fields (``content``, ``stats``, ``crc``, ``valid``) and the rows decoded.
    """
    from torch.utils.data import DataLoader

    n = len(table)
    rows = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(max(n, 1), row_bytes))
    crc = [0] * n
    stats_all: list[list] = [[] for _ in range(n)]
    content = [""] * n
    valid = [False] * n
    if on_total:
        on_total(n)
    for i, j in reuse.items():
        rows[i] = old_rows[j]
        crc[i], stats_all[i], content[i], valid[i] = old["crc"][j], old["stats"][j], old["content"][j], True
        if progress:
            progress(1)
    todo = [i for i in range(n) if i not in reuse]
    if todo:
        loader = DataLoader(_PrepareDataset(table, size, todo), batch_size=None, num_workers=int(workers),
                            worker_init_fn=_worker_init if workers else None)
        for i, item, digest, stats in loader:
            if "skip" in item:
                skipped.append(tuple(item["skip"]))
            else:
                row = np.concatenate([item["composite"].reshape(-1), item["real"].reshape(-1), item["mask"].reshape(-1)])
                rows[i] = row
                crc[i], stats_all[i], content[i], valid[i] = zlib.crc32(row), stats, digest, True
            if progress:
                progress(1)
    rows.flush()
    del rows
    return {"content": content, "stats": stats_all, "crc": crc, "valid": valid}, todo
