"""Embedded sample data, built from photographs that installed packages ship (scikit-image, matplotlib).

Nothing is downloaded: the photos are files inside the installed packages. Generators build their
sample datasets from these (see ``coco_sample`` and the other ``*_sample`` builders) into a cache folder
(``$HARMONY_CACHE`` or ``~/.cache/harmony``), once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# name -> (package, relative file). All RGB photographs of real scenes.
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def photo_path(name: str) -> Path:
    """The file of a bundled photograph (shipped with scikit-image or matplotlib's sample data).

    Parameters
    ----------
    name : str
        A key of :data:`PHOTOS` (``astronaut``, ``coffee``, ...).

    Returns
    -------
    pathlib.Path
        The photograph's file in the installed package.

    Raises
    ------
    KeyError
        Unknown name.
    FileNotFoundError
        The package that ships it is not installed.
    """
    import importlib.util

    if name not in PHOTOS:
        raise KeyError(f"unknown sample photo {name!r}; known: {', '.join(PHOTOS)}")
    package, rel = PHOTOS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"sample photo {name!r} needs the package {package!r}")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def available_photos() -> list[str]:
    """The names of the bundled photographs present on this machine.

    Returns
    -------
    list of str
        Keys of :data:`PHOTOS` whose file exists, in :data:`PHOTOS` order.
    """
    return [n for n in PHOTOS if _exists(n)]


def _exists(name: str) -> bool:
    try:
        return photo_path(name).is_file()
    except (KeyError, FileNotFoundError):
        return False


def load_photo(name: str) -> np.ndarray:
    """A bundled photograph as float32 RGB (H, W, 3) in [0, 1].

    Parameters
    ----------
    name : str
        A key of :data:`PHOTOS`.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) RGB in [0, 1].
    """
    from .. import io as hio

    return hio.read_image(photo_path(name))


def cache_dir() -> Path:
    """Where built sample datasets live (``$HARMONY_CACHE`` or ``~/.cache/harmony``).

    Returns
    -------
    pathlib.Path
        The folder (created if missing).
    """
    root = Path(os.environ.get("HARMONY_CACHE") or Path.home() / ".cache" / "harmony")
    root.mkdir(parents=True, exist_ok=True)
    return root


# --- the embedded COCO-format sample ---------------------------------------------------------------

SAMPLE_VERSION = "coco-v2"

# Categories (COCO ids where COCO has the category; "flag" and "rocket" are not COCO classes).
COCO_SAMPLE_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 4, "name": "motorcycle", "supercategory": "vehicle"},
    {"id": 17, "name": "cat", "supercategory": "animal"},
    {"id": 47, "name": "cup", "supercategory": "kitchen"},
    {"id": 1001, "name": "flag", "supercategory": "object"},
    {"id": 1002, "name": "rocket", "supercategory": "vehicle"},
]

# (image id, photo, [(annotation id, category id, storage, polygon)]): hand-placed polygons in the
# photo's pixels (x0, y0, x1, y1, ...). storage "polygon" keeps the COCO polygon; "rle" rasterises it
# with pycocotools and stores compressed RLE, so the sample exercises both encodings. Several
# categories have an instance in two photos (person, motorcycle, flag, rocket) so references of the same
# category exist; cat and cup have one instance each, which shows the "no reference" skip (or
# --reference-fallback any); the rocket in rocket.jpg covers < 5 % of its image and the cat > 80 % (the
# fg-ratio bounds). Image ids are chosen so that grace_hopper and motorcycle_right fall in the test split
# of the default --test-fraction 0.1 (dataset.split_for hashes the id).
_MOTO = [95, 205, 150, 160, 350, 168, 468, 158, 500, 100, 560, 118, 592, 170, 640, 290, 682, 380, 642, 447,
         562, 442, 515, 362, 470, 362, 400, 372, 330, 402, 282, 372, 250, 392, 170, 397, 125, 342, 118, 270,
         95, 235]
COCO_SAMPLE_LAYOUT = [
    (1, "astronaut", [
        (101, 1, "polygon", [215, 15, 265, 20, 295, 50, 300, 110, 290, 150, 300, 175, 300, 230, 340, 260,
                             360, 330, 365, 420, 300, 400, 280, 470, 270, 511, 20, 511, 25, 380, 40, 300, 60, 255,
                             120, 215, 115, 180, 140, 160, 160, 110, 155, 60, 180, 25]),
        (102, 1001, "polygon", [0, 0, 100, 0, 96, 130, 84, 245, 45, 300, 28, 400, 20, 511, 0, 511]),
        (103, 1002, "polygon", [398, 4, 412, 0, 428, 40, 436, 110, 452, 150, 468, 215, 445, 245, 430, 270,
                                398, 272, 368, 245, 358, 215, 378, 150, 392, 110]),
    ]),
    (27, "grace_hopper", [
        (201, 1, "rle", [160, 40, 240, 25, 330, 45, 360, 80, 370, 140, 350, 220, 330, 300, 400, 350, 480, 400,
                         505, 470, 511, 599, 20, 599, 15, 480, 40, 400, 110, 360, 180, 320, 160, 260, 150, 180,
                         150, 110]),
        (202, 1001, "polygon", [0, 0, 148, 0, 150, 110, 150, 260, 170, 320, 110, 360, 40, 400, 15, 480, 0, 500]),
    ]),
    (30, "motorcycle_left", [(301, 4, "rle", _MOTO)]),
    (36, "motorcycle_right", [(401, 4, "rle", [v - 45 if i % 2 == 0 else v for i, v in enumerate(_MOTO)])]),
    (37, "chelsea", [(501, 17, "rle", [0, 40, 50, 0, 360, 0, 385, 40, 370, 150, 380, 299, 0, 299])]),
    (38, "coffee", [
        (601, 47, "polygon", [175, 70, 210, 30, 280, 18, 360, 25, 405, 60, 410, 120, 395, 180, 370, 230, 330, 262,
                              280, 272, 240, 262, 200, 245, 197, 290, 225, 305, 240, 280, 215, 240, 185, 190,
                              175, 130]),
    ]),
    (39, "rocket", [
        (701, 1002, "polygon", [318, 128, 326, 134, 334, 160, 336, 260, 338, 405, 330, 410, 310, 410, 304, 405,
                                306, 260, 308, 160, 312, 134]),
    ]),
]


def coco_sample() -> tuple[Path, Path]:
    """Build (once) the embedded COCO-format dataset; return ``(images_dir, annotations_json)``.

    The photos (:data:`PHOTOS`) are written as JPEG (quality 95) into ``<cache>/coco_sample-<version>/
    images`` and their instance masks (:data:`COCO_SAMPLE_LAYOUT`: hand-placed
    polygons, some stored as compressed RLE) into ``instances.json``. Photos whose package is absent
    are left out. The folder is built in a temporary sibling and renamed, so concurrent builders never
    see half a dataset.

    Returns
    -------
    images_dir : pathlib.Path
        Folder of the sample's JPEG photos.
    annotations_json : pathlib.Path
        Its COCO instances JSON (polygons and one RLE annotation).
    """
    import shutil
    import tempfile

    root = cache_dir() / f"coco_sample-{SAMPLE_VERSION}"
    ann_path = root / "instances.json"
    if ann_path.is_file():
        return root / "images", ann_path
    tmp = Path(tempfile.mkdtemp(prefix=".coco_sample-", dir=cache_dir()))
    try:
        _build_coco_sample(tmp)
        try:
            os.replace(tmp, root)
        except OSError:
            if not ann_path.is_file():  # pragma: no cover - another process won the race otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / "images", ann_path


def _build_coco_sample(root: Path) -> None:
    import json

    from pycocotools import mask as mask_utils

    from .. import io as hio

    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    available = set(available_photos())
    for image_id, photo, anns in COCO_SAMPLE_LAYOUT:
        if photo not in available:
            continue
        img = load_photo(photo)
        h, w = img.shape[:2]
        file_name = f"{photo}.jpg"
        hio.write_image(root / "images" / file_name, img, quality=95)
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w,
                       "license": 0, "source": f"{PHOTOS[photo][0]}:{PHOTOS[photo][1]}"})
        for ann_id, cat_id, storage, polygon in anns:
            polys = [[float(v) for v in polygon]]
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            if storage == "rle":
                segmentation: object = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
            else:
                segmentation = polys
            x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": cat_id,
                                "segmentation": segmentation, "area": float(mask_utils.area(rle)),
                                "bbox": [x, y, bw, bh], "iscrowd": 0})
    data = {"info": {"description": "harmony embedded COCO-format sample", "version": SAMPLE_VERSION},
            "licenses": [{"id": 0, "name": "as shipped by scikit-image / matplotlib"}],
            "images": images, "annotations": annotations, "categories": COCO_SAMPLE_CATEGORIES}
    hio.atomic_write_text(root / "instances.json", json.dumps(data, indent=1) + "\n")


def write_coco_sample(out: str | Path, *, overwrite: bool = False) -> tuple[Path, int, int, int]:
    """Write the embedded COCO-format sample data out for inspection (``harmony samples``).

    Parameters
    ----------
    out : str or pathlib.Path
        Folder to write into; the data goes to ``out/coco/images/*.jpg`` and ``out/coco/instances.json``
        (the COCO instances format: polygons and RLE masks, categories).
    overwrite : bool, optional
        Replace a non-empty ``out/coco``. Default False.

    Returns
    -------
    target : pathlib.Path
        The ``out/coco`` folder.
    images, annotations, categories : int
        How many of each were written.

    Raises
    ------
    harmony.errors.InputError
        ``out/coco`` exists, is not empty and ``overwrite`` is False.

    References
    ----------
    Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (the annotation format).
    """
    import json
    import shutil

    from ..errors import InputError

    images, annotations = coco_sample()
    target = Path(out) / "coco"
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise InputError(f"{target}: folder is not empty; use --overwrite to replace it")
        shutil.rmtree(target)
    (target / "images").mkdir(parents=True, exist_ok=True)
    copied = sorted(Path(images).iterdir())
    for image in copied:
        shutil.copyfile(image, target / "images" / image.name)
    shutil.copyfile(annotations, target / "instances.json")
    data = json.loads(Path(annotations).read_text(encoding="utf-8"))
    return target, len(copied), len(data["annotations"]), len(data["categories"])
