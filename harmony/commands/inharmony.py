"""`harmony inharmony`: BargainNet's inharmony score of composites (domain-code distance)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ._common import echo_summary, quiet_option


@click.command("inharmony")
@click.option("--composite", "composite", type=click.Path(exists=True), required=True,
              help="Composite image, or a folder of composites.")
@click.option("--mask", "mask", type=click.Path(exists=True), required=True,
              help="Foreground mask, or a folder of masks (same stem .png, or the iHarmony4 name rule).")
@click.option("--weights", type=click.Path(exists=True), default=None,
              help="BargainNet checkpoint folder, or a folder holding bargainnet/  "
                   "[default: $HARMONY_CHECKPOINTS or ./checkpoints]")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="CSV file of scores (name,score); printed only when absent.")
@click.option("--device", default="cpu", show_default=True)
@quiet_option
def inharmony(composite, mask, weights, out, device, quiet):
    """Inharmony score: Euclidean distance between the foreground and background domain codes.

    The score is the distance between BargainNet's domain codes of the foreground and the background
    (BargainNet section 4.5): larger means the two regions look as if captured in more different
    conditions. Images are resized to the checkpoint's side, as for harmonization.

    \b
    Examples:
      harmony inharmony --composite comp.jpg --mask mask.png --weights checkpoints/
      harmony inharmony --composite data/HCOCO/composite_images --mask data/HCOCO/masks \\
          --weights checkpoints/ --out scores.csv
    """
    from tqdm import tqdm

    from .. import io as hio
    from ..errors import InputError
    from ..harmonize import plan_jobs
    from ..models.bargainnet import inharmony_scores
    from ..registry import METHODS

    harmonizer = METHODS.create("bargainnet", weights=weights, device=device)
    # The same composite-to-mask matching as `harmony harmonize` (no output images here).
    jobs = [(job.composite, job.mask) for job in plan_jobs(composite, mask, out=".")]
    rows, failed = [], []
    t0 = time.perf_counter()
    for c, m in tqdm(jobs, desc="inharmony", disable=quiet or len(jobs) == 1, unit="img"):
        try:
            if m is None or not Path(m).is_file():
                raise InputError(f"{c.name}: no mask found")
            img, msk = hio.read_image(c), hio.read_mask(m)
            if img.shape[:2] != msk.shape:
                raise InputError(f"{m}: mask size differs from composite {c.name}")
            rows.append((c.name, inharmony_scores(harmonizer, [img], [msk])[0]))
        except (InputError, ValueError) as exc:
            if len(jobs) == 1:
                raise InputError(str(exc).splitlines()[0]) from None
            failed.append((c.name, str(exc).splitlines()[0]))
    secs = time.perf_counter() - t0
    if out:
        hio.atomic_write_text(out, "name,score\n" + "".join(f"{n},{s:.6f}\n" for n, s in rows))
    else:
        for n, s in rows:
            click.echo(f"{n}\t{s:.4f}")
    lines = [f"checkpoint {harmonizer.checkpoint}", f"scored {len(rows)} composites, failed {len(failed)}"
             + (f"; {1000 * secs / max(len(rows), 1):.0f} ms/image" if rows else "")]
    if rows:
        scores = sorted(s for _, s in rows)
        lines.append(f"score min {scores[0]:.4f}, median {scores[len(scores) // 2]:.4f}, max {scores[-1]:.4f}")
    lines += [f"  failed {n}: {why}" for n, why in failed[:10]]
    if out:
        lines.append(f"scores: {out}")
    echo_summary("inharmony", lines)
