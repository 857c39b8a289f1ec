"""`harmony datagen fivek`: style swaps between MIT-Adobe FiveK versions (HAdobe5k)."""

from __future__ import annotations

import click

from ._common import echo_summary, progress_enabled, run_options

VERSION_CHOICES = ("original", "expertA", "expertB", "expertC", "expertD", "expertE")


def swap_options(f):
    """Add the options shared by ``fivek`` and ``day2night`` to a click command.

    Parameters
    ----------
    f : callable
        The command function.

    Returns
    -------
    callable
        ``f`` with ``--per-mask``, ``--align``, ``--format``, ``--quality`` and ``--test-fraction``.
    """
    f = click.option("--test-fraction", type=click.FloatRange(0, 1), default=None,
                     help="Share of photos/scenes in the test split (hash of the id; default 0.1 for fivek, "
                          "0.3 for day2night).")(f)
    f = click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
                     help="JPEG quality of composites and real images.")(f)
    f = click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
                     help="Output format of composites and real images (png is lossless: the composite "
                          "equation then holds bit for bit).")(f)
    f = click.option("--align", type=click.Choice(["error", "resize"]), default="error", show_default=True,
                     help="Versions of different sizes: stop with an error naming both files, or resize "
                          "them to the first version (recorded in the manifest).")(f)
    f = click.option("--per-mask", type=click.IntRange(min=1), default=None, metavar="K",
                     help="Composites per mask: K ordered (real, foreground) version pairs drawn from the "
                          "seed (default: every ordered pair).")(f)
    return f


@click.command("fivek")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="FiveK tree: ROOT/<version>/<stem>.<ext> (version: original, expertA..expertE).")
@click.option("--masks", type=click.Path(file_okay=False), default=None,
              help="Foreground masks <stem>_<fg>.png (default ROOT/masks).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@click.option("--versions", default=None, metavar="LIST",
              help="Comma-separated versions to use (default: every version found).")
@swap_options
@run_options
def fivek(root, masks, out, versions, per_mask, align, fmt, quality, test_fraction, seed, workers, scheduler,
          overwrite, quiet):
    """Style swaps between MIT-Adobe FiveK versions (HAdobe5k, prefix a).

    The real image is version p; its masked foreground is replaced by the same region of version
    q != p: composite = M*q + (1-M)*p. Every ordered pair per mask, or --per-mask K.
    Without --root the embedded FiveK-like sample (synthetic) is used.

    \b
    Examples:
      harmony datagen fivek --out data/
      harmony datagen fivek --root fivek/ --masks fivek_masks/ --out data/ --per-mask 2
      harmony datagen fivek --root fivek/ --masks m/ --out data/ --align resize --format png
    """
    from ..datagen._common import split_list
    from ..datagen.swaps import SwapOptions, generate_fivek

    options = SwapOptions.from_flags(per_mask=per_mask, align=align, fmt=fmt, quality=quality, seed=seed,
                                     test_fraction=test_fraction, default_test_fraction=0.1)
    summary = generate_fivek(out, root, masks, options=options, versions=split_list(versions), workers=workers,
                             scheduler=scheduler, overwrite=overwrite, progress=progress_enabled(quiet))
    echo_summary("datagen fivek", summary.lines())
