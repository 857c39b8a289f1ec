"""`harmony datagen <kind>`: one subcommand per generator, each in ``harmony/commands/datagen_<kind>.py``."""

from __future__ import annotations

import click

from ..cli import LazyGroup

DATAGEN_COMMANDS = {
    "coco": ("harmony.commands.datagen_coco:coco", "Colour-transfer composites from COCO-style data (HCOCO)."),
    "flickr": ("harmony.commands.datagen_flickr:flickr", "Label-histogram retrieval + colour transfer (HFlickr)."),
    "fivek": ("harmony.commands.datagen_fivek:fivek", "Style swaps between FiveK expert versions (HAdobe5k)."),
    "day2night": ("harmony.commands.datagen_day2night:day2night", "Fixed-camera captures at other times (Hday2night)."),
    "retouched": ("harmony.commands.datagen_retouched:retouched", "Artist-retouched before/after pairs (SPRIH)."),
    "real": ("harmony.commands.datagen_real:real", "Real composites on LaMa-inpainted backgrounds (SPRIH)."),
    "rendered": ("harmony.commands.datagen_rendered:rendered", "Rendered scenes with soft style labels (RdHarmony)."),
}


@click.group(cls=LazyGroup, lazy_commands=DATAGEN_COMMANDS)
def datagen():
    """Build datasets in the iHarmony4 layout.

    Every generator runs on embedded sample data when given no data arguments.

    \b
    Examples:
      harmony datagen coco --out data/
      harmony datagen coco --images coco/train2017 --annotations instances_train2017.json --out data/
    """
