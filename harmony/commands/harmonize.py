"""`harmony harmonize`: run any registered method on one composite or a folder of composites.

The work (matching composites to masks, the job loop, its error policy, the summary) is
:func:`harmony.harmonize.harmonize_paths`; this module holds the options and prints the summary.
"""

from __future__ import annotations

import click

from ._common import echo_summary, overwrite_option, quiet_option


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
    from ..harmonize import harmonize_paths

    summary = harmonize_paths(method, composite, mask, out, weights=weights, device=device, background=background,
                              export_params=export_params, overwrite=overwrite, progress=not quiet)
    echo_summary("harmonize", summary.lines())
