"""`harmony datagen flickr`: label-histogram retrieval + colour transfer (HFlickr)."""

from __future__ import annotations

import click

from ._common import echo_summary, progress_enabled, run_options


@click.command("flickr")
@click.option("--images", type=click.Path(file_okay=False), default=None, help="Target photos.")
@click.option("--labels", type=click.Path(file_okay=False), default=None,
              help="Target label maps <stem>.png (class indices, e.g. ADE20K: 0 other, 1..150); copied "
                   "losslessly to HFlickr/labels/<real stem>.png for DIH's scene-parsing decoder.")
@click.option("--reference-images", type=click.Path(file_okay=False), default=None, help="Reference pool photos.")
@click.option("--reference-labels", type=click.Path(file_okay=False), default=None,
              help="Reference label maps <stem>.png.")
@click.option("--masks", type=click.Path(file_okay=False), default=None,
              help="Foreground masks <stem>_<fg>.png (default: segments chosen by the label rule).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset root.")
@click.option("--methods", default="gct,gctrgb,hgm,idt", show_default=True,
              help="Colour-transfer kernels to draw from (gct, gctrgb, hgm, idt, dih).")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Label ids allowed: 0..N (0 = unlabelled).  [default: ADE20K's 150; sample data: 15]")
@click.option("--per-mask", type=click.IntRange(min=1), default=1, show_default=True,
              help="Composites per foreground (k-th uses the k-th retrieved reference).")
@click.option("--per-image", type=click.IntRange(min=1), default=2, show_default=True,
              help="Foregrounds per image chosen by the label rule (without --masks).")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Retrieved candidates kept per class.")
@click.option("--min-fg-ratio", "min_fg", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Label rule: smallest segment, as a share of the image.")
@click.option("--max-fg-ratio", "max_fg", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Label rule: largest segment, as a share of the image.")
@click.option("--min-change", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Reject composites whose foreground changed less (mean absolute change).")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="Output format of composites and real images.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality.")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=None,
              help="Share of target images in the test split.  [default: 0.1; sample data: 0.25]")
@run_options
def flickr(images, labels, reference_images, reference_labels, masks, out, methods, num_classes, per_mask,
           per_image, top_k, min_fg, max_fg, min_change, fmt, quality, test_fraction, seed, workers, scheduler, overwrite,
           quiet):
    """Composites by semantic retrieval and colour transfer, as DIH built its Flickr set (prefix f).

    Spatial-pyramid label histograms (levels 0-2) retrieve the closest references; the foreground
    (a mask, or a segment chosen by the label rule) takes the colours of the reference region with
    the same labels. Without label maps, retrieval falls back to a colour/texture descriptor (masks
    needed). With no data argument the embedded Flickr-like sample (synthetic) is used. With label
    maps, each target's map is also written to HFlickr/labels/ (manifest column `labels`), where
    `harmony train dih` finds it for its joint scene-parsing decoder.

    \b
    Examples:
      harmony datagen flickr --out data/
      harmony datagen flickr --images flickr/ --labels flickr_labels/ \\
          --reference-images ade/images --reference-labels ade/annotations --out data/
      harmony datagen flickr --images photos/ --masks masks/ --reference-images pool/ --out data/
    """
    from ..datagen._common import split_list
    from ..datagen.flickr import FlickrOptions, generate_flickr

    options = FlickrOptions(methods=tuple(split_list(methods) or ()), per_mask=per_mask, per_image=per_image,
                            top_k=top_k, min_fg=min_fg, max_fg=max_fg, min_change=min_change, num_classes=num_classes,
                            quality=quality, fmt=fmt, test_fraction=test_fraction, seed=seed)
    summary = generate_flickr(out, images, labels, reference_images, reference_labels, masks, options=options,
                              workers=workers, scheduler=scheduler, overwrite=overwrite,
                              progress=progress_enabled(quiet))
    echo_summary("datagen flickr", summary.lines())
