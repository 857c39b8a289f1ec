"""`harmony render`: Mitsuba 3 scenes rendered in the 10 capture styles, with exact foreground masks."""

from __future__ import annotations

import sys

import click

from ._common import (
    echo_summary,
    overwrite_option,
    progress_enabled,
    quiet_option,
    scheduler_option,
    seed_option,
)


@click.command("render")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output folder: one view folder each (<Style>.png, mask.png, coverage.png, view.json).")
@click.option("--views", type=click.IntRange(min=1), default=4, show_default=True, help="Number of viewpoints.")
@click.option("--styles", default="all", show_default=True, metavar="LIST",
              help="'all' or comma-separated style names / ids 1-10 (e.g. Clear_Noon,Night or 2,10).")
@click.option("--size", type=click.IntRange(8, 8192), default=256, show_default=True, help="Image side (pixels).")
@click.option("--spp", type=click.IntRange(min=1), default=64, show_default=True, help="Samples per pixel.")
@click.option("--mask-spp", type=click.IntRange(min=1), default=None,
              help="Samples per pixel of the coverage mask (stratified)  [default: max(16, --spp)]")
@click.option("--max-depth", type=click.IntRange(min=2), default=3, show_default=True,
              help="Path length (3 = direct light + one bounce).")
@click.option("--objects", default="all", show_default=True, metavar="LIST",
              help="Foreground kinds to draw from: sphere, box, cylinder, snowman, bottle, human.")
@click.option("--format", "image_format", type=click.Choice(["png", "jpg"]), default="png", show_default=True)
@click.option("--variant", default="scalar_rgb", show_default=True,
              help="Mitsuba variant. llvm_* variants are refused unless libLLVM >= 16 is what Dr.Jit loads "
                   "(older LLVM aborts the process); see docs.")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Render processes (each uses cores/workers threads); 0 renders in this process.")
@seed_option
@scheduler_option
@overwrite_option
@quiet_option
def render(out, views, styles, size, spp, mask_spp, max_depth, objects, image_format, variant, workers, seed,
           scheduler, overwrite, quiet):
    """Render simple scenes in the 10 capture styles with Mitsuba 3 (scalar_rgb, CPU).

    Each view: a ground plane, 2-5 distractor primitives and one foreground object (sphere, box,
    cylinder, snowman, bottle or human figure) with random materials, a random camera, lit by the
    sunsky emitter per style (sun elevation/azimuth from the time of day, turbidity and sun/sky scale from
    the weather; Night: dim sky + a warm lamp). Also writes the exact anti-aliased foreground coverage
    (depth-1 render where only the object emits) as coverage.png and its binary mask.png. The output
    feeds `harmony datagen rendered --scenes` directly. Same --seed, same scenes. Needs the extra:
    pip install 'harmony-toolkit[render]'.

    \b
    Examples:
      harmony render --out renders/ --views 4 --size 128 --spp 16
      harmony render --out renders/ --views 50 --styles all --size 256 --spp 64 --seed 1 --workers 2
      harmony render --out renders/ --views 10 --styles Clear_Noon,Night --objects human
      harmony datagen rendered --scenes renders/ --out data/
    """
    from ..datagen.render import render_views

    summary = render_views(out, styles=styles, objects=objects, variant=variant, views=views, size=size, spp=spp,
                           mask_spp=mask_spp, seed=seed, max_depth=max_depth, workers=workers, scheduler=scheduler,
                           overwrite=overwrite, progress=progress_enabled(quiet), image_format=image_format)
    echo_summary("render", summary.lines())
    if summary.failed:
        sys.exit(1)
