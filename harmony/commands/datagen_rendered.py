"""`harmony datagen rendered`: composites with soft style labels from renders in 10 styles (RdHarmony)."""

from __future__ import annotations

import sys

import click

from ._common import echo_summary, progress_enabled, run_options


@click.command("rendered")
@click.option("--scenes", type=click.Path(file_okay=False), default=None,
              help="Folder of view folders, each with <Style>.png renders and mask.png (or mask_<fg>.png); "
                   "`harmony render` writes this layout. Default: the built-in sample set.")
@click.option("--out", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Output dataset root (HRendered/ and labels.txt are written inside it).")
@click.option("--pairs-per-view", type=click.IntRange(min=1), default=None, metavar="K",
              help="Draw K (object, bg style, fg style) combinations per view (seeded) instead of every "
                   "ordered pair of different styles.")
@click.option("--category", default=None, metavar="NAME",
              help="Foreground category written to the manifest (default: view.json's 'category', if any).")
@click.option("--format", "image_format", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="Composite and real-image format; png is lossless (the composite equation then holds "
                   "exactly in the files).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality.")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Share of views in the test split (hash of the view id; all composites of a view share it).")
@click.option("--mask-threshold", type=click.IntRange(1, 255), default=255, show_default=True,
              help="Mask level counted as foreground (>=). RdHarmony: exactly 255.")
@click.option("--sample", type=click.Choice(["auto", "mitsuba", "synthetic"]), default="auto", show_default=True,
              help="Without --scenes: the sample set rendered with Mitsuba (auto: when installed) or made "
                   "from bundled photographs (synthetic).")
@run_options
def rendered(scenes, out, pairs_per_view, category, image_format, quality, test_fraction, mask_threshold,
             sample, seed, workers, scheduler, overwrite, quiet):
    """Composites I = M*O_j + (1-M)*B_i from renders of one view in several styles (HRendered, prefix n).

    Every ordered pair of different styles (i, j) of a view gives a composite whose background and ground
    truth come from style i and whose foreground comes from style j. labels.txt (at --out) holds the
    RdHarmony soft label r*onehot(j) + (1-r)*onehot(i), r = foreground area ratio, and the ground-truth
    style id i. Masks are read as exactly-255 = foreground. Styles (ids 1-10): Clear_SunriseSunset,
    Clear_Noon, Clear_OtherTimes, PartlyCloudy_SunriseSunset, PartlyCloudy_Noon, PartlyCloudy_OtherTimes,
    Cloudy_SunriseSunset, Cloudy_Noon, Cloudy_OtherTimes, Night.

    \b
    Examples:
      harmony datagen rendered --out data/                   # the built-in sample set
      harmony render --out renders/ --views 20 && harmony datagen rendered --scenes renders/ --out data/
      harmony datagen rendered --scenes unity_views/ --out data/ --pairs-per-view 20 --category human
      harmony datagen rendered --scenes renders/ --out data_png/ --format png    # lossless
    """
    from ..datagen.rendered import generate_rendered

    summary = generate_rendered(out, scenes, seed=seed, pairs_per_view=pairs_per_view, image_format=image_format,
                                quality=quality, category=category, test_fraction=test_fraction,
                                mask_threshold=mask_threshold, sample=sample, workers=workers,
                                scheduler=scheduler, overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen rendered", summary.lines())
    if summary.run.failed:
        sys.exit(1)
