"""`harmony train MODEL`: train a learned harmonization network into a checkpoint folder.

``--nproc N`` relaunches the same command under ``torch.distributed.run`` (torchrun) with N processes
on this machine; a command started by ``torchrun`` itself (``WORLD_SIZE`` set) runs
DistributedDataParallel directly (see :mod:`harmony.models.trainer`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from ..models.presets import MODEL_CLASSES
from ._common import echo_summary, overwrite_option, quiet_option


@click.command("train")
@click.argument("model", type=click.Choice(sorted(MODEL_CLASSES)))
@click.option("--data", type=click.Path(file_okay=False, exists=True), required=True,
              help="Dataset root in the iHarmony4 layout (train split trains, test split validates).")
@click.option("--preset", default=None, metavar="NAME",
              help="Named configuration, e.g. dih_tiny, dih_paper (validated when the command runs, so presets "
                   "registered by plugins and studies are accepted too; `harmony list methods` shows them)  "
                   "[default: MODEL_tiny]")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Checkpoint folder (config.json, weights.pt, train_log.csv, loss_plot.png).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Total training steps  [default: the preset's]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of initialisation, data order and augmentation (same seed, same curve on CPU).")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in --out up to --steps, exactly (every optimizer, RNG state and the data position are restored).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the preset's]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate  [default: the preset's]")
@click.option("--val-every", type=click.IntRange(min=1), default=None,
              help="Validate, log and checkpoint every N steps  [default: the preset's]")
@click.option("--val-limit", type=click.IntRange(min=1), default=64, show_default=True,
              help="Test-split images used for validation.")
@click.option("--time-limit", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Stop after this long (with a checkpoint; --resume continues).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads (1 is fastest on a shared machine).")
@click.option("--device", default="cpu", show_default=True, metavar="cpu|cuda|cuda:N|auto",
              help="Where to train (auto: cuda when available). Checkpoints load on any device; "
                   "bit-for-bit determinism is promised on CPU only.")
@click.option("--precision", type=click.Choice(["32", "bf16", "16-mixed"]), default="32", show_default=True,
              help="32-bit, bfloat16 autocast, or float16 autocast with a GradScaler (CUDA only).")
@click.option("--weight-decay", "weight_decay", type=click.FloatRange(min=0), default=None,
              help="Optimizer weight decay (0 means none)  [default: the preset's]")
@click.option("--loader-workers", "loader_workers", type=click.IntRange(min=0), default=None,
              show_default="all cores", help="DataLoader processes that decode and augment images (0: inline). "
                                              "The batches do not depend on this number.")
@click.option("--cache", "cache", is_flag=True,
              help="Prepare (once) and read the pre-resized uint8 cache of --data (as `harmony prepare DATA "
                   "--size S`); a prepared cache is used even without this flag.")
@click.option("--nproc", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train with N processes on this machine (DistributedDataParallel via torchrun; --batch-size "
                   "is per process). Several machines: run `torchrun --nnodes ... -m harmony train ...` on each.")
@click.option("--init-from", "init_from", type=click.Path(file_okay=False, exists=True), default=None,
              metavar="CHECKPOINT_DIR",
              help="Start a NEW run (step 0, fresh optimizer) from the weights of this checkpoint of the same "
                   "model and architecture (fine-tuning, two-stage training); not with --resume.")
@click.option("--unpaired", type=click.Path(file_okay=False, exists=True), default=None,
              help="sprih: real composites from `harmony datagen real` (stream 2, adversarial only); "
                   "without it sprih trains stream 1 only.")
@click.option("--rendered", type=click.Path(file_okay=False, exists=True), default=None,
              help="charmnet: rendered dataset with labels.txt from `harmony datagen rendered` (required).")
@click.option("--subsets", default=None, metavar="A,B",
              help="Use only these subsets of --data (e.g. HRetouched), comma-separated  [default: all]")
@click.option("--split", "split", type=click.Choice(["train", "all"]), default="train", show_default=True,
              help="train: the images <Sub>/<Sub>_train.txt lists (a subset without split files is refused); "
                   "all: every image of every subset, test included.")
@overwrite_option
@quiet_option
def train(model, data, preset, out, steps, seed, resume, batch_size, lr, val_every, val_limit, time_limit,
          threads, device, precision, weight_decay, loader_workers, cache, nproc, init_from, unpaired, rendered,
          subsets, split, overwrite, quiet):
    """Train MODEL (dih, bargainnet, rcl, sprih, charmnet) on an iHarmony4-layout dataset.

    The data order, augmentation and initialisation follow --seed, so the same command gives the
    same training curve, and --resume continues it exactly. Every --val-every steps the network is
    scored on the test split (fMSE, MSE, PSNR at the network's resolution, next to cut-and-paste) and
    the checkpoint, CSV log and loss plot are written. DIH trains its scene-parsing decoder when the
    subsets hold label maps (<Sub>/labels/<real image stem>.png).

    \b
    Examples:
      harmony datagen coco --out data/
      harmony train dih --data data/ --preset dih_tiny --out checkpoints/dih
      harmony train rcl --data data/ --out checkpoints/rcl --steps 600 --resume
      harmony train dih --data rendered/ --out checkpoints/dih_stage1 --device auto
      harmony train dih --data data/ --init-from checkpoints/dih_stage1 --out checkpoints/dih_ft
      harmony bench --data data/ --models all --weights checkpoints/ --out bench/
      harmony train sprih --data data/ --subsets HRetouched --unpaired data/ --out checkpoints/sprih
      harmony train charmnet --data data/ --subsets HRetouched --rendered data/ --out checkpoints/charmnet
      harmony train dih --data iHarmony4/ --preset dih_paper --device cuda --precision bf16 --out ck/dih
      harmony train dih --data iHarmony4/ --preset dih_paper --device cuda --nproc 4 --out ck/dih
    """
    if nproc is not None and "WORLD_SIZE" not in os.environ:
        raise SystemExit(_launch_torchrun(nproc))
    from ..models.train import train as run_train

    result = run_train(model, data, out, preset=preset, steps=steps, seed=seed, resume=resume, overwrite=overwrite,
                       batch_size=batch_size, lr=lr, val_every=val_every, val_limit=val_limit,
                       time_limit=time_limit, threads=threads, progress=not quiet, device=device,
                       init_from=init_from, precision=precision, weight_decay=weight_decay,
                       loader_workers=loader_workers, cache=cache or None,
                       extra_data={"unpaired": unpaired, "rendered": rendered},
                       subsets=[s.strip() for s in subsets.split(",") if s.strip()] if subsets else None,
                       split=split)
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return                                   # under DDP only rank 0 reports
    lines = [f"model {result.model}, preset {result.preset}: {result.parameters / 1e6:.3f}M parameters"
             + (" (scene-parsing decoder on)" if result.parsing else ""),
             f"steps {result.start_step} -> {result.steps} in {result.seconds:.1f} s"
             + (" (stopped by --time-limit; --resume continues)" if result.stopped_early else ""),
             f"data: {result.train_images} training pairs, {result.val_images} test pairs"]
    if result.init_from:
        lines.append(f"started from {result.init_from} (weights only; new run, fresh optimizer)")
    if result.device != "cpu" or result.precision != "32" or result.world_size > 1:
        lines.append(f"device: {result.device}, precision {result.precision}, {result.world_size} process(es)")
    if result.cache:
        lines.append(f"read from the pre-resized cache {result.cache}")
    if result.last_losses:
        lines.append("last losses: " + ", ".join(f"{k} {v:.4g}" for k, v in result.last_losses.items()))
    if result.validation:
        v, c = result.validation, result.cut_and_paste
        lines.append(f"test: fMSE {v['fmse']:.2f}  MSE {v['mse']:.2f}  PSNR {v['psnr']:.2f}   "
                     f"(cut-and-paste: fMSE {c['fmse']:.2f}  MSE {c['mse']:.2f}  PSNR {c['psnr']:.2f})")
    else:
        lines.append("test: no test split, no validation")
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} pairs, e.g. {result.skipped[0][0]}: {result.skipped[0][1]}"
                     + (" (all listed in train_skipped.txt)" if (Path(result.out) / "train_skipped.txt").is_file() else ""))
    lines.append(f"checkpoint: {result.out} (train_log.csv, loss_plot.png)")
    if result.interrupted:
        lines.append(f"interrupted by {result.interrupted} at step {result.steps}: checkpoint written; continue with "
                     f"the same command plus --resume")
    echo_summary("train", lines)
    if result.interrupted:
        raise SystemExit(130 if result.interrupted == "SIGINT" else 143)


def _command_args() -> list[str]:
    """This invocation's options rebuilt from click's parsed parameters (without --nproc)."""
    ctx = click.get_current_context()
    args = ["train"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name == "nproc" or value is None or value is False:
            continue
        if isinstance(param, click.Argument):
            args.append(str(value))
        elif getattr(param, "is_flag", False):
            args.append(param.opts[0])
        else:
            args += [param.opts[0], str(value)]
    return args


def _launch_torchrun(nproc: int) -> int:
    """Re-run this command as ``python -m torch.distributed.run --standalone --nproc_per_node N -m harmony
    train ...`` (without --nproc); returns torchrun's exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "harmony", *_command_args()]
    click.echo("launching: torchrun " + " ".join(cmd[3:]), err=True)
    return subprocess.call(cmd)
