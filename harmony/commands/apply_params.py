"""`harmony apply-params`: re-apply SPRIH's exported (and possibly hand-edited) curves and shading map to
a composite of any resolution (the folder format: :mod:`harmony.models.params_folder`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..models.params_folder import read_params
from ._common import UserError, echo_summary, overwrite_option, quiet_option


@click.command("apply-params")
@click.argument("params_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--composite", type=click.Path(dir_okay=False, exists=True), required=True, help="Composite image (any resolution).")
@click.option("--mask", type=click.Path(dir_okay=False, exists=True), required=True, help="Foreground mask of the composite.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output image (.png or .jpg).")
@click.option("--precision", type=click.Choice(["uint8", "float"]), default="uint8", show_default=True,
              help="uint8: 256-entry tables on the 8-bit file (fast; within 2 levels of float, 3 at bright values under a shading gain); "
                   "float: the float32 path (as `harmony harmonize`).")
@overwrite_option
@quiet_option
def apply_params(params_dir, composite, mask, out, precision, overwrite, quiet):
    """Apply SPRIH parameters (PARAMS_DIR: curves.json [+ shading.png]) to a composite.

    Computes O = M * curves(C) * upsample(S) + (1 - M) * C at the composite's own resolution (SPRIH
    Eq. 1): edit the curves in curves.json or paint on shading.png (mid grey = no change), then re-apply.

    \b
    Examples:
      harmony harmonize --method sprih --weights checkpoints/ --composite comp.jpg --mask mask.png \\
          --out out.png --export-params params/
      harmony apply-params params/ --composite comp_4k.jpg --mask mask_4k.png --out out_4k.png
    """
    from .. import io as hio
    from ..errors import InputError
    from ..models import curves

    out_path = Path(out)
    if out_path.exists() and not overwrite:
        raise UserError(f"--out {out_path}: exists (use --overwrite)")
    params = read_params(params_dir)
    t0 = time.perf_counter()
    if precision == "uint8":
        img = hio.read_image_uint8(composite)
        msk = hio.to_uint8(hio.read_mask(mask))
    else:
        img = hio.read_image(composite)
        msk = hio.read_mask(mask)
    if img.shape[:2] != msk.shape:
        raise InputError(f"{mask}: mask is {msk.shape[1]}x{msk.shape[0]}, composite is {img.shape[1]}x{img.shape[0]}")
    t1 = time.perf_counter()
    result = curves.apply_params_uint8(img, msk, params) if precision == "uint8" else curves.apply_params(img, msk, params)
    t2 = time.perf_counter()
    hio.write_image(out_path, result)
    h, w = msk.shape
    echo_summary("apply-params", [
        f"parameters: {params_dir} ({params.curves_x.shape[1]} points per curve, shading "
        + (f"{params.shading.shape[1]}x{params.shading.shape[0]}" if params.shading is not None else "none") + ")",
        f"image {w}x{h}: applied in {1000 * (t2 - t1):.0f} ms ({precision}), read {1000 * (t1 - t0):.0f} ms",
        f"output: {out_path}"])
