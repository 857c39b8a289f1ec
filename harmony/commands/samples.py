"""`harmony samples`: write the embedded sample data out for inspection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from ._common import echo_summary


@click.command("samples")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to write into.")
@click.option("--overwrite", is_flag=True, help="Replace files already in --out/coco.")
def samples(out, overwrite):
    """Write the embedded sample data (COCO format) out for inspection.

    Writes OUT/coco/images/*.jpg (photographs shipped by scikit-image and matplotlib) and
    OUT/coco/instances.json (instance polygons and RLE masks, categories), the data that
    `harmony datagen coco` uses when given no --images/--annotations.

    \b
    Examples:
      harmony samples --out sample_data/
      harmony datagen coco --images sample_data/coco/images \\
          --annotations sample_data/coco/instances.json --out data/
    """
    from ..datagen.samples import coco_sample
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
    echo_summary("samples", [f"coco: {len(copied)} images, {len(data['annotations'])} annotations, "
                             f"{len(data['categories'])} categories in {target}"])
