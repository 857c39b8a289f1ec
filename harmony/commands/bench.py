"""`harmony bench`: run methods over a dataset and score them under a named metric protocol."""

from __future__ import annotations

import click

from ._common import overwrite_option, quiet_option, scheduler_option, seed_option, workers_option


@click.command("bench")
@click.option("--data", type=click.Path(), default=None,
              help="Dataset in the iHarmony4 layout (default: the embedded sample dataset, built on first use).")
@click.option("--models", "-m", multiple=True, default=("all",), show_default=True,
              help="'all', registered names (comma-separated or repeated) or package.module:attr plugins.")
@click.option("--protocol", "-p", default="iharm", show_default=True,
              help="Metric protocol: iharm, iharmony4, cdtnet, pctnet, hdnet, diffharmony "
                   "(`harmony list protocols`).")
@click.option("--size", "-s", "size", default=None, metavar="S[,S2,..]",
              help="Evaluation size(s), square SxS; 'full' = no resize. Several sizes = resolution sweep. "
                   "[default: the protocol's (256; pctnet: full)]")
@click.option("--out", "-o", type=click.Path(), required=True, help="Output folder for tables, plots, gallery.")
@click.option("--subsets", default=None, help="Comma-separated subsets (default: all found).")
@click.option("--split", default="test", show_default=True, help="train | test | all.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N images of each subset.")
@click.option("--weights", type=click.Path(), default=None,
              help="Checkpoint folder for learned methods (default: each model's default folder).")
@click.option("--lpips-weights", type=click.Path(), default=None,
              help="Folder with alexnet.pth + alex.pth for LPIPS (or $HARMONY_LPIPS_WEIGHTS).")
@click.option("--gallery", default="auto", show_default=True, metavar="auto|all|N",
              help="Rows of gallery.html: auto = every image when the run keeps every prediction (up to "
                   "4,000 image x method pairs), else the 50 best and 50 worst; all = every image; N = the N "
                   "best and N worst by mean fMSE; 0 = no gallery.")
@click.option("--save-outputs", is_flag=True, help="Save every method output under OUT/outputs/.")
@click.option("--ssim/--no-ssim", default=None,
              help="Compute SSIM/fSSIM (CDTNet's definition) even where the protocol does not define them "
                   "(iharm, iharmony4: costly, about the price of decoding the image). [default: only for "
                   "cdtnet and pctnet]")
@click.option("--no-plots", is_flag=True, help="Skip the matplotlib charts.")
@click.option("--device", default="cpu", show_default=True, metavar="cpu|cuda|cuda:N",
              help="Torch device of the learned methods. On cuda they run in batches in this process; the "
                   "metrics stay on the CPU (float64).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Images per forward pass of a learned method (grouped by network input size). Scores do "
                   "not depend on it beyond float32 rounding (< 1e-6 relative) and it is not part of the cache key. "
                   "[default: 1 on cpu (image by image, in the workers), 16 on cuda]")
@workers_option
@scheduler_option
@seed_option
@overwrite_option
@quiet_option
def bench(data, models, protocol, size, out, subsets, split, limit, weights, lpips_weights, gallery,
          save_outputs, ssim, no_plots, device, batch_size, workers, scheduler, seed, overwrite, quiet):
    """Benchmark harmonization methods on a dataset under a named metric protocol.

    Writes OUT/per_image.csv, OUT/summary.json, the iSSAM-style table per subset + All (table.md/.csv/
    .tex/.json), methods compared (compare.*), foreground-ratio buckets (fg_ratio.*), the resolution sweep
    (sweep.*, with several --size), means with 95 % bootstrap intervals and paired significance tests
    (significance.md/.tex/.csv), paper figures (plots/*.pdf|png) and gallery.html. Results are cached in OUT/cache,
    keyed by the method's card, options and weights' sha256, the protocol, the size, the harmony version
    and the input files: re-running resumes, new weights are recomputed. Running again into the same
    OUT with other --models adds them: the tables show every method benched into OUT.
    Datasets without ground truth (no real_images/) get outputs, a gallery and a 2AFC pairs.csv.

    \b
    Examples:
      harmony bench --out bench/                                  # all methods, sample data
      harmony bench --data data/ --models all --protocol iharm --size 256 --out bench/
      harmony bench --data data/ --models cut-and-paste,reinhard --size 256,512,1024 --out sweep/
      harmony bench --data iHarmony4/ --subsets HCOCO --protocol iharmony4 --out bench_ih4/
      harmony bench --data data/ --models mypkg.methods:my_harmonizer --out bench/
      harmony bench --data data/ --models dih,rcl --weights ckpts/ --device cuda --batch-size 32 --out b/
    """
    from pathlib import Path

    from ..benchmark.metrics import get_protocol
    from ..benchmark.runner import BenchConfig, check_device, gallery_rows, run_bench
    from ..errors import InputError
    from ._common import UserError

    try:
        gallery_rows(gallery, True)          # a bad --gallery or --device value stops here, before any work
        device = check_device(device)
    except InputError as exc:
        raise UserError(str(exc)) from None
    if str(gallery).isdigit():
        gallery = int(gallery)
    chosen_protocol = get_protocol(protocol)
    announced: list[str] = []     # lines said before the run are not repeated after the table
    if size is None:
        size = str(chosen_protocol.default_size) if chosen_protocol.default_size else "full"
    cfg = BenchConfig(
        out=Path(out), data=Path(data) if data else None, models=models, protocol=protocol, sizes=size,
        subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else None,
        split=None if split in ("all", "none") else split, limit=limit,
        weights=Path(weights) if weights else None, workers=workers, scheduler=scheduler,
        progress=not quiet, gallery=gallery, save_outputs=save_outputs, lpips=lpips_weights,
        overwrite=overwrite, seed=seed, plots=not no_plots, ssim=ssim, device=device, batch_size=batch_size,
        announce=lambda line: (announced.append(line), click.echo(line, err=True)))
    if data is None:
        click.echo("no --data: using the embedded sample dataset (built on first use)", err=True)
    _print_result(run_bench(cfg), announced)


def _mean_text(stats: dict, key: str) -> str:
    """A mean as the summary lines print it: ``.2f``, ``-`` when missing or NaN."""
    value = stats.get(key)
    return "-" if value is None or value != value else f"{value:.2f}"


def _print_result(result, announced: list[str]) -> None:
    """The lines printed after a run: counts, one line per method, skipped inputs, failures, notes."""
    click.echo(f"\n== bench: protocol {result.protocol}, size {','.join(map(str, result.sizes))}")
    images = len({(row['subset'], row['composite']) for row in result.rows})
    asked = [plan for plan in result.methods if not plan.earlier]
    click.echo(f"{images} images x {sum(plan.runnable for plan in asked)} methods: {result.computed} "
               f"results computed, {result.cached} from the cache, in {result.seconds:.1f} s")
    earlier = [plan.name for plan in result.methods if plan.earlier]
    if earlier:
        click.echo(f"kept from earlier runs into {result.out}: {', '.join(earlier)} (tables show every method)")
    for plan in result.methods:
        if plan.status == "no checkpoint":      # said once before the run (with --weights DIR)
            click.echo(f"  {plan.name:16s} no checkpoint")
            continue
        if not plan.runnable:
            click.echo(f"  {plan.name:16s} {plan.status}: {plan.message}")
            continue
        stats = result.all_row(plan.name)
        if stats:
            click.echo(f"  {plan.name:16s} N {stats['N']:5d}  MSE {_mean_text(stats, 'mse'):>8s}  "
                       f"fMSE {_mean_text(stats, 'fmse'):>8s}  PSNR {_mean_text(stats, 'psnr'):>6s}  "
                       f"{_mean_text(stats, 'time_ms'):>7s} ms")
        else:
            click.echo(f"  {plan.name:16s} no result")
    if result.skipped:
        click.echo(f"skipped inputs: {len(result.skipped)}")
        for key, reason in result.skipped[:10]:
            click.echo(f"  - {key}: {reason}")
        if len(result.skipped) > 10:
            click.echo(f"  ... and {len(result.skipped) - 10} more (summary.json)")
    if result.failures:
        click.echo(f"failures: {len(result.failures)}")
        for method, image, error in result.failures[:10]:
            click.echo(f"  - {method} on {image}: {error}")
        if len(result.failures) > 10:
            click.echo(f"  ... and {len(result.failures) - 10} more (summary.json)")
    undefined = result.summary.get("fmse_undefined", {}).get("count_by_method", {})
    if undefined:
        click.echo("fMSE undefined (empty mask): "
                   + ", ".join(f"{method} {count}" for method, count in undefined.items()))
    for note in result.notes:
        if note not in announced:
            click.echo(note)
    click.echo(f"outputs in {result.out}: " + ", ".join(result.files[:8]) + (" ..." if len(result.files) > 8 else ""))
