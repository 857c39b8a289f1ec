"""`harmony samples`: write the embedded sample data out for inspection."""

from __future__ import annotations

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
    from ..datagen.samples import write_coco_sample

    target, images, annotations, categories = write_coco_sample(out, overwrite=overwrite)
    echo_summary("samples", [f"coco: {images} images, {annotations} annotations, {categories} categories in {target}"])
