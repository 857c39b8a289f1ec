"""A COCO-format instances file of any size (train2017's by default) whose images are symlinks.

Used by ``bench_scale.py`` and by the scale tests. The structure follows COCO's instances files
(images with id/file_name/height/width, annotations with polygon segmentations, bbox, area, iscrowd,
80 categories); the statistics are chosen to resemble train2017: 118,287 images, about 7.5 annotations
per image (886,982 in train2017), polygons of 8 to 40 vertices with coordinates rounded to 2 decimals,
object sizes log-uniform from a few pixels to most of the image, a person-heavy category mix. Every
``file_name`` is a symlink to one of a few real 640x480 JPEGs (scikit-image's sample photos, resized),
so a run reads real images without a 19 GB download. Nothing here is random across runs: the file is a
pure function of its arguments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

TRAIN2017_IMAGES = 118_287
TRAIN2017_ANNOTATIONS = 886_982
H, W = 480, 640


def _source_jpegs(folder: Path) -> list[Path]:
    """A few real photos (scikit-image's data) resized to 640x480 and written as JPEG (quality 95)."""
    import cv2

    from harmony.datagen.samples import available_photos, load_photo

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in available_photos()[:4]:
        p = folder / f"{name}.jpg"
        if not p.is_file():
            img = load_photo(name)
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
            bgr = cv2.cvtColor(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(p), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(p)
    if not out:
        raise RuntimeError("no sample photo available (scikit-image's data is needed)")
    return out


def build_coco(workdir: str | os.PathLike, n_images: int = TRAIN2017_IMAGES,
               n_annotations: int | None = None, seed: int = 0) -> tuple[Path, Path]:
    """Write ``<workdir>/images/`` (symlinks) and ``<workdir>/instances.json``; return both paths.

    Reuses them when ``instances.json`` already exists for the same arguments (a ``.params`` file
    beside it records them).
    """
    workdir = Path(workdir)
    images = workdir / "images"
    ann = workdir / "instances.json"
    if n_annotations is None:
        n_annotations = round(n_images * TRAIN2017_ANNOTATIONS / TRAIN2017_IMAGES)
    params = f"{n_images} {n_annotations} {seed}\n"
    stamp = workdir / "instances.params"
    if ann.is_file() and stamp.is_file() and stamp.read_text() == params:
        return images, ann
    sources = _source_jpegs(workdir / "sources")
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Image ids like COCO's (sparse, not consecutive) and file names like COCO's.
    ids = np.sort(rng.choice(np.arange(1, 6 * n_images + 1), size=n_images, replace=False))
    existing = set(os.listdir(images))
    for i, image_id in enumerate(ids):
        name = f"{int(image_id):012d}.jpg"
        if name not in existing:
            os.symlink(sources[i % len(sources)].resolve(), images / name)
    n_cat = 80
    # A person-heavy mix, as COCO (about a quarter of all instances are people).
    cat_p = np.full(n_cat, 0.75 / (n_cat - 1))
    cat_p[0] = 0.25
    owner = np.sort(rng.integers(0, n_images, size=n_annotations))
    cats = rng.choice(n_cat, size=n_annotations, p=cat_p) + 1
    tmp = ann.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write('{"info": {"description": "synthetic train2017-size COCO instances (harmony bench)"}, ')
        fh.write('"licenses": [], "images": [')
        fh.write(", ".join(json.dumps({"id": int(i), "file_name": f"{int(i):012d}.jpg", "height": H, "width": W,
                                      "license": 1}) for i in ids))
        fh.write('], "categories": [')
        fh.write(", ".join(json.dumps({"id": c, "name": "person" if c == 1 else f"category{c}",
                                      "supercategory": "thing"}) for c in range(1, n_cat + 1)))
        fh.write('], "annotations": [')
        chunk = 20000
        first = True
        for start in range(0, n_annotations, chunk):
            stop = min(n_annotations, start + chunk)
            n = stop - start
            k = rng.integers(8, 41, size=n)
            radius = np.exp(rng.uniform(np.log(4.0), np.log(300.0), size=n))
            cx = rng.uniform(0, W, size=n)
            cy = rng.uniform(0, H, size=n)
            parts = []
            for j in range(n):
                ang = np.sort(rng.uniform(0, 2 * np.pi, size=k[j]))
                r = radius[j] * rng.uniform(0.6, 1.0, size=k[j])
                xs = np.clip(cx[j] + r * np.cos(ang), 0, W - 1)
                ys = np.clip(cy[j] + r * np.sin(ang), 0, H - 1)
                poly = np.round(np.stack([xs, ys], 1).ravel(), 2)
                x0, y0 = float(xs.min()), float(ys.min())
                area = 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
                parts.append('{"id": %d, "image_id": %d, "category_id": %d, "iscrowd": 0, "area": %.2f, '  # noqa: UP031
                             '"bbox": [%.2f, %.2f, %.2f, %.2f], "segmentation": [[%s]]}' % (
                                 start + j + 1, int(ids[owner[start + j]]), int(cats[start + j]), area,
                                 x0, y0, float(xs.max()) - x0, float(ys.max()) - y0,
                                 ", ".join(f"{v:.2f}" for v in poly)))
            fh.write(("" if first else ", ") + ", ".join(parts))
            first = False
        fh.write("]}")
    os.replace(tmp, ann)
    stamp.write_text(params)
    return images, ann
