"""`harmony datagen real`: real composites on inpainted backgrounds (SPRIH stream 2, HRealComposite)."""

from __future__ import annotations

import sys

import click

from ._common import echo_summary, progress_enabled, run_options


@click.command("real")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Folder of source photos (COCO file_name, or <stem>.<ext> for --masks).")
@click.option("--annotations", type=click.Path(dir_okay=False), default=None,
              help="COCO instances JSON: per image its largest non-crowd instance is the foreground.")
@click.option("--masks", type=click.Path(file_okay=False), default=None,
              help="Mask folder instead of COCO: <image stem>_<fg id>.png (+ optional categories.csv "
                   "with columns mask,category).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output dataset root (HRealComposite/ is written inside it).")
@click.option("--dilate", type=click.IntRange(min=0), default=30, show_default=True, metavar="PX",
              help="Dilate each foreground mask by this many pixels before inpainting (SPRIH: 30).")
@click.option("--inpainter", type=click.Choice(["auto", "lama", "opencv-telea", "opencv-ns"]), default="auto",
              show_default=True,
              help="lama = simple-lama-inpainting with TorchScript weights from $LAMA_MODEL (never downloaded); "
                   "auto = lama when $LAMA_MODEL is a file, else opencv-telea.")
@click.option("--device", default="cpu", show_default=True, metavar="cpu|cuda|auto", help="Torch device for LaMa.")
@click.option("--pairs", type=click.IntRange(min=0), default=None, metavar="N",
              help="Composites (ordered pairs i<-j, no repeats)  [default: one per source]")
@click.option("--same-category", is_flag=True, help="Pair only foregrounds and backgrounds of the same category.")
@click.option("--categories", default=None, metavar="LIST", help="Comma-separated categories to keep.")
@click.option("--min-scale", type=click.FloatRange(min=0, min_open=True), default=0.25, show_default=True,
              help="Smallest scale the placement search may shrink a foreground to.")
@click.option("--max-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Largest scale (above 1 enlarges small foregrounds to fill the target box).")
@click.option("--max-angle", type=click.FloatRange(min=0, max=180), default=15.0, show_default=True,
              help="Rotations searched: -max..+max degrees in steps of 5.")
@click.option("--min-containment", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Skip a pair (with its reason) when less of the placed foreground fits the target box.")
@click.option("--min-fg-ratio", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="COCO: smallest instance area / image area.")
@click.option("--max-fg-ratio", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="COCO: largest instance area / image area.")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of background images in the test split (hash of the image id).")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Folder of cached inpainted backgrounds  [default: $HARMONY_CACHE/inpainted]")
@run_options
def real(images, annotations, masks, out, dilate, inpainter, device, pairs, same_category, categories, min_scale,
         max_scale, max_angle, min_containment, min_fg_ratio, max_fg_ratio, test_fraction, cache, seed, workers,
         scheduler, overwrite, quiet):
    """Real composites: foreground j pasted on the inpainted background of image i (SPRIH Eqs. 5-6).

    Each source's mask is dilated by --dilate px and the hole inpainted (LaMa via simple-lama-inpainting,
    or OpenCV); only the hole changes, and backgrounds are cached so re-runs reuse them. For each sampled
    pair, foreground j is scaled, rotated and shifted (a bounded grid search) to be maximally contained
    in foreground i's bounding box, never leaving the image. Writes composite_images/, masks/,
    backgrounds/ and real_class/ (the discriminator's "real" class, Eq. 6), no real_images/. Without
    --images the embedded sample data is used.

    \b
    Examples:
      harmony datagen real --out data/
      harmony datagen real --out data/ --inpainter opencv-ns --pairs 20 --same-category
      LAMA_MODEL=~/models/big-lama.pt harmony datagen real --images coco/val2017 \\
          --annotations instances_val2017.json --out data/ --inpainter lama --pairs 5000 --workers 2
      harmony datagen real --images photos/ --masks masks/ --out data/ --dilate 20
    """
    from ..datagen._common import split_list
    from ..datagen.real import generate

    summary = generate(out, images=images, annotations=annotations, masks=masks, dilate=dilate,
                       inpainter=inpainter, pairs=pairs, same_category=same_category, seed=seed,
                       min_scale=min_scale, max_scale=max_scale, max_angle=max_angle,
                       min_containment=min_containment, test_fraction=test_fraction, min_fg_ratio=min_fg_ratio,
                       max_fg_ratio=max_fg_ratio, categories=split_list(categories), cache=cache, device=device, workers=workers,
                       scheduler=scheduler, overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen real", summary.lines())
    if summary.failed:
        sys.exit(1)
