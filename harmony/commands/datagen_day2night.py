"""`harmony datagen day2night`: fixed-camera captures at other times of day (Hday2night)."""

from __future__ import annotations

import click

from ._common import echo_summary, progress_enabled, run_options
from .datagen_fivek import swap_options


@click.command("day2night")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Scenes: ROOT/<scene>/<yyyymmdd>-<hhmmss>.jpg and ROOT/<scene>/masks/<fg>.png.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@swap_options
@run_options
def day2night(root, out, per_mask, align, fmt, quality, test_fraction, seed, workers, scheduler, overwrite,
              quiet):
    """Overlay a static foreground from one capture onto another (Hday2night, prefix d).

    Names d<scene>-<yyyymmdd>-<hhmmss>_<fg>_<k>: the capture is the real image, k the 1-based
    (time-ordered) capture the foreground comes from. Scene and fg ids lose their underscores
    ('_' -> '-'). Without --root the embedded day2night-like sample (synthetic) is used.

    \b
    Examples:
      harmony datagen day2night --out data/
      harmony datagen day2night --root scenes/ --out data/ --per-mask 3
    """
    from ..datagen.swaps import SwapOptions, generate_day2night

    options = SwapOptions.from_flags(per_mask=per_mask, align=align, fmt=fmt, quality=quality, seed=seed,
                                     test_fraction=test_fraction, default_test_fraction=0.3)
    summary = generate_day2night(out, root, options=options, workers=workers, scheduler=scheduler,
                                 overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen day2night", summary.lines())
