"""`harmony harmonize`: run any registered method on one composite or a folder of composites."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ._common import UserError, echo_summary, overwrite_option, quiet_option


def _find_mask(composite: Path, mask_dir: Path) -> Path | None:
    """Mask of a composite in a folder: same stem, or the iHarmony4 rule (``x_<fg>_<k>`` -> ``x_<fg>``)."""
    from ..dataset import derive_mask_and_real
    from ..errors import InputError

    candidates = [mask_dir / f"{composite.stem}.png", mask_dir / composite.name]
    try:
        candidates.append(mask_dir / derive_mask_and_real(composite.name)[0])
    except InputError:
        pass
    return next((c for c in candidates if c.is_file()), None)


@click.command("harmonize")
@click.option("--method", required=True, help="Registered method (see `harmony list methods`) or module:attr.")
@click.option("--weights", type=click.Path(exists=True), default=None,
              help="Checkpoint folder, or a folder holding <method>/ checkpoints (learned methods)  "
                   "[default: $HARMONY_CHECKPOINTS or ./checkpoints]")
@click.option("--composite", "composite", type=click.Path(exists=True), required=True,
              help="Composite image, or a folder of composites.")
@click.option("--mask", "mask", type=click.Path(exists=True), required=True,
              help="Foreground mask, or a folder of masks (same stem .png, or the iHarmony4 name rule).")
@click.option("--out", type=click.Path(), required=True, help="Output image, or output folder for a folder input.")
@click.option("--background", is_flag=True,
              help="Harmonize the background to the foreground instead (the method runs with the inverted "
                   "mask; BargainNet supplement section 6).")
@click.option("--device", default="cpu", show_default=True, help="torch device of learned methods.")
# --- parametric methods (sprih) ---
@click.option("--export-params", "export_params", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Parametric methods (sprih): also write the predicted curves (curves.json, curves.png) and "
                   "shading map (shading.png) to DIR (folder input: DIR/<stem>/); see `harmony apply-params`.")
@overwrite_option
@quiet_option
def harmonize(method, weights, composite, mask, out, background, device, export_params, overwrite, quiet):
    """Harmonize one composite (or every composite of a folder) with METHOD.

    Learned methods load a checkpoint made by `harmony train`; outputs are written as PNG or JPEG by
    the --out suffix (folder mode: PNG with the composite's stem). Existing outputs are kept unless
    --overwrite.

    \b
    Examples:
      harmony harmonize --method reinhard --composite comp.jpg --mask mask.png --out out.png
      harmony harmonize --method dih --weights checkpoints/ --composite comp.jpg --mask mask.png --out out.png
      harmony harmonize --method bargainnet --weights checkpoints/ --composite data/HCOCO/composite_images \\
          --mask data/HCOCO/masks --out harmonized/
      harmony harmonize --method bargainnet --background --composite comp.jpg --mask mask.png --out bg.png
      harmony harmonize --method sprih --weights checkpoints/ --composite comp.jpg --mask mask.png \
          --out out.png --export-params params/
    """
    import numpy as np
    from tqdm import tqdm

    from .. import io as hio
    from ..errors import InputError, ItemError
    from ..registry import METHODS

    name = METHODS.resolve_spec(method)
    card = METHODS.card(name)
    harmonizer = METHODS.create(name, weights=weights, device=device) if card.learned else METHODS.create(name)
    comp_path, mask_path, out_path = Path(composite), Path(mask), Path(out)
    if export_params is not None and not hasattr(harmonizer, "harmonize_with_params"):
        raise UserError(f"--export-params: method {name} is not parametric (use --method sprih)")
    if comp_path.is_dir():
        if not mask_path.is_dir():
            raise UserError(f"--mask {mask_path}: expected a folder of masks for a folder of composites")
        jobs = []
        for c in hio.list_images(comp_path):
            jobs.append((c, _find_mask(c, mask_path), out_path / f"{c.stem}.png"))
        if not jobs:
            raise UserError(f"--composite {comp_path}: no images found")
    else:
        if mask_path.is_dir():
            m = _find_mask(comp_path, mask_path)
            if m is None:
                raise UserError(f"--mask {mask_path}: no mask for {comp_path.name}")
            mask_path = m
        jobs = [(comp_path, mask_path, out_path)]

    done, kept, failed = 0, 0, []
    t0 = time.perf_counter()
    for c, m, o in tqdm(jobs, desc=f"harmonize {name}", disable=quiet or len(jobs) == 1, unit="img"):
        if o.exists() and not overwrite:
            kept += 1
            continue
        try:
            if m is None:
                raise ItemError("no mask", f"no mask for {c.name} in {mask_path}")
            img, msk = hio.read_image(c), hio.read_mask(m)
            if img.shape[:2] != msk.shape:
                raise InputError(f"{m}: mask is {msk.shape[1]}x{msk.shape[0]}, composite {c.name} is "
                                 f"{img.shape[1]}x{img.shape[0]}")
            if background:
                msk = (1.0 - msk).astype(np.float32)
            if export_params is not None:  # SPRIH parameter export
                from .apply_params import write_params

                result, params = harmonizer.harmonize_with_params(img, msk)
                write_params(Path(export_params) / (c.stem if len(jobs) > 1 or comp_path.is_dir() else ""), params,
                             overwrite=overwrite)
            else:
                result = harmonizer(img, msk)
            hio.write_image(o, np.clip(result, 0, 1).astype(np.float32))
            done += 1
        except (InputError, ItemError, ValueError) as exc:
            if len(jobs) == 1:
                raise InputError(str(exc).splitlines()[0]) from None
            failed.append((c.name, str(exc).splitlines()[0]))
    secs = time.perf_counter() - t0
    lines = [f"method {name}" + (f" (checkpoint {getattr(harmonizer, 'checkpoint', '')})" if card.learned else "")
             + (" - background harmonization (inverted mask)" if background else ""),
             f"written {done}, kept {kept} existing (use --overwrite), failed {len(failed)}"
             + (f"; {1000 * secs / max(done, 1):.0f} ms/image" if done else "")]
    lines += [f"  failed {n}: {why}" for n, why in failed[:10]]
    lines.append(f"output: {out_path}")
    if export_params is not None:
        lines.append(f"parameters: {export_params} (curves.json, curves.png, shading.png; `harmony apply-params`)")
    echo_summary("harmonize", lines)
