"""`harmony datagen coco`: colour-transfer composites from COCO-style data (HCOCO)."""

from __future__ import annotations

import sys

import click

from ._common import echo_summary, progress_enabled, run_options


@click.command("coco")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Folder of the images named by the annotations' file_name.")
@click.option("--annotations", type=click.Path(dir_okay=False), default=None,
              help="COCO instances JSON (polygons or RLE; iscrowd annotations are ignored).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output dataset root (HCOCO/ is written inside it).")
@click.option("--per-object", type=click.IntRange(min=1), default=2, show_default=True, metavar="K",
              help="Composites per foreground object.")
@click.option("--methods", default="gct,gctrgb,hgm,idt", show_default=True, metavar="LIST",
              help="Comma-separated colour-transfer methods drawn per composite (gct, gctrgb, hgm, idt, dih).")
@click.option("--min-fg-ratio", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Smallest foreground area / image area.")
@click.option("--max-fg-ratio", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Largest foreground area / image area.")
@click.option("--objects", type=click.Choice(["largest", "all"]), default="largest", show_default=True,
              help="Per image and category: its largest instance, or every instance within the bounds.")
@click.option("--reference-fallback", type=click.Choice(["none", "any"]), default="none", show_default=True,
              help="When no other image has the object's category: skip the object (none) or take a "
                   "reference of any category from another image (any).")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=None,
              help="Share of source images in the test split (hash of the image id)  [default: 0.1]")
@click.option("--test-ids", type=click.Path(dir_okay=False), default=None,
              help="File of image ids (one per line) forming the test split; the rest is train.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG quality of composites and real images.")
@click.option("--min-change", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Reject composites whose mean absolute foreground change (0-1 scale) is below this.")
@click.option("--max-clipped", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Reject composites whose share of clipped foreground pixels grew by more than this.")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Use only the first N annotated images (sorted by id): quick trials.")
@click.option("--filter", "filter_spec", default=None, metavar="MODULE:FUNCTION",
              help="Your own composite filter (e.g. an aesthetics model): fn(composite, mask, real) returning "
                   "True/None to keep, False or a reason string to reject; runs after the built-in checks.")
@run_options
def coco(images, annotations, out, per_object, methods, min_fg_ratio, max_fg_ratio, objects,
         reference_fallback, test_fraction, test_ids, quality, min_change, max_clipped, max_images, filter_spec,
         seed, workers, scheduler, overwrite, quiet):
    """Colour-transfer composites from COCO instance annotations (HCOCO, prefix c).

    Each foreground object (by default the largest instance of its category covering 5-80 % of the
    image) is recoloured to match an instance of the same category in another image, K times, with a
    method drawn from --methods. Composites whose foreground barely changed, clipped or went flat are
    rejected (counted per reason). Without --images/--annotations the embedded sample data is used.
    Re-running the same command resumes; another configuration into the same --out needs --overwrite.

    \b
    Examples:
      harmony datagen coco --out data/
      harmony datagen coco --images coco/val2017 --annotations instances_val2017.json --out data/
      harmony datagen coco --images imgs/ --annotations inst.json --out data/ --per-object 5 \\
          --methods gct,hgm --test-ids test_ids.txt --workers 8
      harmony datagen coco --out data/ --scheduler tcp://10.0.0.5:8786
    """
    from ..datagen.coco import CocoOptions, generate

    options = CocoOptions.from_flags(
        methods=methods, test_fraction=test_fraction, test_ids=test_ids, per_object=per_object,
        min_fg_ratio=min_fg_ratio, max_fg_ratio=max_fg_ratio, objects=objects, reference_fallback=reference_fallback,
        seed=seed, quality=quality, min_change=min_change, max_clipped=max_clipped, max_images=max_images,
        filter=filter_spec)
    summary = generate(out, images, annotations, options=options, workers=workers, scheduler=scheduler,
                       overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen coco", summary.lines())
    if summary.failed:
        sys.exit(1)
