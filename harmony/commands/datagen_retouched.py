"""`harmony datagen retouched`: artist-retouched before/after pairs (SPRIH) -> HRetouched."""

from __future__ import annotations

import click

from ._common import echo_summary, progress_enabled, run_options


@click.command("retouched")
@click.option("--pairs", type=click.Path(file_okay=False), default=None,
              help="Folder of <name>_before.<ext>, <name>_after.<ext>, <name>_mask.png triplets.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@click.option("--align", type=click.Choice(["error", "resize"]), default="error", show_default=True,
              help="Before/after of different sizes: skip the pair (listed), or resize after to before.")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="Output format of composites and real images (png: equations hold bit for bit).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality.")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of pairs in the test split (hash of the pair name).")
@run_options
def retouched(pairs, out, align, fmt, quality, test_fraction, seed, workers, scheduler, overwrite, quiet):
    """Two composites per (before I, after O, mask M) triplet, as in SPRIH (prefix t).

    t<name>-before_1_1 = M*O + (1-M)*I (foreground retouched), ground truth I;
    t<name>-after_1_1  = M*I + (1-M)*O (background retouched), ground truth O.
    Without --pairs the embedded retouched sample (synthetic) is used.

    \b
    Examples:
      harmony datagen retouched --out data/
      harmony datagen retouched --pairs artist_pairs/ --out data/ --format png
    """
    from ..datagen.retouched import generate_retouched
    from ..datagen.swaps import SwapOptions

    options = SwapOptions(align=align, fmt=fmt, quality=quality, test_fraction=test_fraction, seed=seed)
    summary = generate_retouched(out, pairs, options=options, workers=workers, scheduler=scheduler,
                                 overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen retouched", summary.lines())
