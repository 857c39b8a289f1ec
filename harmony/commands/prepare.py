"""`harmony prepare DATA --size S`: the pre-resized uint8 training cache (:mod:`harmony.models.data`)."""

from __future__ import annotations

import click

from ._common import echo_summary, quiet_option


@click.command("prepare")
@click.argument("data", type=click.Path(file_okay=False, exists=True))
@click.option("--size", type=click.IntRange(min=8), required=True,
              help="Side of the cached images (the network's input side, e.g. 256 for *_paper presets at 256).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where the cache goes  [default: DATA/.harmony/cache/size<S>, where training finds it]")
@click.option("--subsets", default=None, metavar="A,B", help="Only these subsets of DATA  [default: all]")
@click.option("--workers", type=click.IntRange(min=0), default=None, show_default="all cores",
              help="Decoding processes (0: inline).")
@quiet_option
def prepare(data, size, cache_dir, subsets, workers, quiet):
    """Decode and resize the train and test splits of DATA once into a memory-mapped uint8 cache.

    The cache is keyed by the files' content (sha256) and the size: a second run reuses every row whose
    files are unchanged and recomputes changed or damaged rows (each row carries a CRC-32). `harmony
    train` reads from it whenever it exists for the preset's size (and falls back to the files for
    any row whose files changed since).

    \b
    Examples:
      harmony prepare iHarmony4/ --size 256
      harmony train rcl --data iHarmony4/ --preset rcl_paper --device cuda --out ck/rcl
    """
    import os

    from ..models._progress import progress
    from ..models.data import prepare_cache

    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    bar = progress(0, f"prepare {size}px", unit="image", enabled=not quiet)
    result = prepare_cache(data, size, folder=cache_dir, workers=workers, progress=bar.update,
                           on_total=lambda n: setattr(bar, "total", n),
                           subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else None)
    bar.close()
    lines = [f"{result.items} pairs at {size}x{size}: {result.computed} decoded, {result.reused} reused "
             f"in {result.seconds:.1f} s",
             f"cache: {result.folder}"]
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} pairs, e.g. {result.skipped[0][0]}: {result.skipped[0][1]}")
    echo_summary("prepare", lines)
