"""`harmony apply-params`: re-apply SPRIH's exported (and possibly hand-edited) curves and shading map to
a composite of any resolution. Also holds the parameter-folder I/O used by `harmony harmonize
--export-params` (the pure transformation is :mod:`harmony.models.curves`).

Parameter folder::

    curves.json    the three RGB curves (x, y of 32 control points each) + how to read the rest
    curves.png     a plot of the curves (for looking, not read back)
    shading.png    the grey shading map, 8-bit, storing S / 2 (mid grey = 1.0 = no change);
                   absent for a curves-only model
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ._common import UserError, echo_summary, overwrite_option, quiet_option

CURVES_JSON = "curves.json"
CURVES_PLOT = "curves.png"
SHADING_PNG = "shading.png"


def plot_curves_png(params) -> bytes:
    """A plot of the three curves over the identity line (``curves.png``, for looking; not read back).

    Parameters
    ----------
    params : harmony.models.curves.ParametricParams

    Returns
    -------
    bytes
        A 400x400 PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import figure_png

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--", label="identity")
    for c, (name, color) in enumerate(zip(("R", "G", "B"), ("tab:red", "tab:green", "tab:blue"))):
        ax.plot(params.curves_x[c], params.curves_y[c], "-o", ms=2, lw=1.2, color=color, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(params.curves_y.min())), max(1.0, float(params.curves_y.max())))
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    ax.set_title("SPRIH RGB curves")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def write_params(folder: str | Path, params, *, overwrite: bool = False) -> list[Path]:
    """Write a parameter folder: ``curves.json``, ``curves.png`` and (when present) ``shading.png``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Created when missing.
    params : harmony.models.curves.ParametricParams
    overwrite : bool, default False
        Replace existing files (a stale ``shading.png`` is removed for a curves-only model).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    harmony.errors.InputError
        A target exists and ``overwrite`` is False.

    References
    ----------
    .. [1] K. Wang, M. Gharbi, H. Zhang, Z. Xia, E. Shechtman, "Semi-supervised Parametric Real-world
       Image Harmonization", CVPR 2023, Section 3.1 (the editable curves and shading map).
    """
    from .. import io as hio
    from ..errors import InputError
    from ..models.curves import encode_shading

    folder = Path(folder)
    targets = [folder / CURVES_JSON, folder / CURVES_PLOT] + ([folder / SHADING_PNG] if params.shading is not None else [])
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]}: exists (use --overwrite to replace the exported parameters)")
    folder.mkdir(parents=True, exist_ok=True)
    if params.shading is None:
        (folder / SHADING_PNG).unlink(missing_ok=True)   # a stale map would otherwise be re-applied
    else:
        hio.write_mask(folder / SHADING_PNG, encode_shading(params.shading))
    hio.atomic_write_bytes(folder / CURVES_PLOT, plot_curves_png(params))
    hio.atomic_write_text(folder / CURVES_JSON, json.dumps(params.to_json(), indent=2) + "\n")
    return targets


def read_params(folder: str | Path):
    """Read a parameter folder written by :func:`write_params` (and possibly edited by hand).

    Parameters
    ----------
    folder : str or pathlib.Path

    Returns
    -------
    harmony.models.curves.ParametricParams
        The shading map decoded from ``shading.png`` (8-bit, S / 2), or None when the file is absent.

    Raises
    ------
    harmony.errors.InputError
        A missing or malformed ``curves.json`` or unreadable ``shading.png`` (one line naming the file).
    """
    from .. import io as hio
    from ..errors import InputError
    from ..models.curves import ParametricParams, decode_shading

    folder = Path(folder)
    path = folder / CURVES_JSON
    if not path.is_file():
        raise InputError(f"{folder}: no {CURVES_JSON} (export one with `harmony harmonize --method sprih "
                         "--export-params DIR`)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc.__class__.__name__}: {exc})") from None
    shading = None
    if obj.get("shading") is not None:
        spath = folder / str(obj["shading"].get("file", SHADING_PNG))
        if not spath.is_file():
            raise InputError(f"{spath}: shading map named in {CURVES_JSON} is missing")
        shading = decode_shading(hio.read_mask(spath))
    try:
        return ParametricParams.from_json(obj, shading)
    except ValueError as exc:
        raise InputError(f"{path}: {str(exc).splitlines()[0]}") from None


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
