"""SPRIH's parameter folder: the exported (and possibly hand-edited) curves and shading map that
`harmony harmonize --export-params` writes and `harmony apply-params` reads back (the pure
transformation is :mod:`harmony.models.curves`).

Parameter folder::

    curves.json    the three RGB curves (x, y of 32 control points each) + how to read the rest
    curves.png     a plot of the curves (for looking, not read back)
    shading.png    the grey shading map, 8-bit, storing S / 2 (mid grey = 1.0 = no change);
                   absent for a curves-only model
"""

from __future__ import annotations

import json
from pathlib import Path

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
    from .curves import encode_shading

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
    from .curves import ParametricParams, decode_shading

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


