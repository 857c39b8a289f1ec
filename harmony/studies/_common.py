"""Shared steps of the studies: build the (sample or real) data, train a preset (with ablation overrides),
load a checkpoint. Everything here calls the library's public functions; nothing is re-implemented."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..dataset import has_split_lists
from . import StudyContext


def dataset(ctx: StudyContext, kind: str, **options: Any) -> tuple[Path, str]:
    """(dataset root, description). ``--data`` wins; otherwise the embedded sample data is generated once
    into ``work/<kind>`` with the library's generator (``fivek``: :func:`harmony.datagen.swaps.generate_fivek`;
    ``coco``: :func:`harmony.datagen.coco.generate` with ``options`` as :class:`CocoOptions` fields)."""
    if ctx.data is not None:
        return ctx.data, f"--data {ctx.data}"
    suffix = "_".join(f"{k}{v}" for k, v in sorted(options.items()) if v is not None)
    root = ctx.work / (f"data_{kind}" + (f"_{suffix}" if suffix else ""))
    done = has_split_lists(root)
    if kind == "fivek":
        if not done:
            from ..datagen.swaps import SwapOptions, generate_fivek

            generate_fivek(root, options=SwapOptions(**{k: v for k, v in options.items() if v is not None},
                                                     seed=ctx.seed),
                           workers=ctx.workers, progress=ctx.progress, overwrite=True)
        opts = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None)
        return root, ("embedded FiveK-like sample via `harmony datagen fivek` (HAdobe5k layout, synthetic expert "
                      f"edits{'; ' + opts if opts else ''})")
    if kind == "coco":
        if not done:
            from ..datagen.coco import CocoOptions, generate

            generate(root, options=CocoOptions(**options), workers=ctx.workers, progress=ctx.progress, overwrite=True)
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        return root, f"embedded COCO-format sample via `harmony datagen coco` ({opts or 'defaults'})"
    raise ValueError(f"unknown sample dataset {kind!r}")


def preset_with(base: str, tag: str, overrides: Mapping[str, Any] | None) -> str:
    """Name of ``base`` with constructor ``overrides`` (an ablation row), registered as ``<base>__<tag>``."""
    if not overrides:
        return base
    from ..models.presets import get_preset, register_preset

    p = get_preset(base)
    name = f"{base}__{tag}"
    register_preset(dataclasses.replace(p, name=name, args={**dict(p.args), **dict(overrides)},
                                        summary=f"{p.summary} [study ablation {tag}: {dict(overrides)}]"),
                    replace=True)
    return name


def train_row(ctx: StudyContext, model: str, data: Path, tag: str, *, preset: str, steps: int,
              overrides: Mapping[str, Any] | None = None, extra_data: Mapping[str, Any] | None = None,
              subsets=None):
    """Train one configuration into ``work/models/<tag>`` with :func:`harmony.models.train.train`
    (resumed, so a repeated study run does not retrain); returns the TrainResult."""
    from ..models.train import train

    name = preset_with(preset, tag, overrides)
    out = ctx.work / "models" / tag
    resume = (out / "config.json").is_file()
    return train(model, data, out, preset=name, steps=steps, seed=ctx.seed, resume=resume, overwrite=not resume,
                 progress=ctx.progress, extra_data=extra_data, subsets=subsets, val_limit=None)


def load_net(folder: Path):
    from ..models.checkpoint import load_checkpoint

    net, config = load_checkpoint(folder)
    return net, config


def fmt(v: float, spec: str = ".2f") -> str:
    import math

    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def combined_dataset(ctx: StudyContext, *, coco: Mapping[str, Any] | None, fivek: Mapping[str, Any] | None
                     ) -> tuple[Path, list[str]]:
    """One root holding HCOCO (coco generator) and/or HAdobe5k (fivek generator) from the sample data, or
    ``--data``. Returns (root, descriptions)."""
    if ctx.data is not None:
        return ctx.data, [f"--data {ctx.data}"]
    parts = []
    if coco is not None:
        parts.append("coco" + "".join(f"_{k}{v}" for k, v in sorted(coco.items())))
    if fivek is not None:
        parts.append("fivek" + "".join(f"_{k}{v}" for k, v in sorted(fivek.items()) if v is not None))
    root = ctx.work / ("data_" + "+".join(parts)).replace(".", "p")
    desc = []
    if coco is not None:
        from ..datagen.coco import CocoOptions, generate

        if not (root / "HCOCO" / "manifest.csv").is_file():
            generate(root, options=CocoOptions(**{**dict(coco), "seed": ctx.seed}), workers=ctx.workers,
                     progress=ctx.progress, overwrite=True)
        desc.append("HCOCO: embedded COCO-format sample via the coco generator ("
                    + ", ".join(f"{k}={v}" for k, v in coco.items()) + ")")
    if fivek is not None:
        from ..datagen.swaps import SwapOptions, generate_fivek

        if not (root / "HAdobe5k" / "manifest.csv").is_file():
            generate_fivek(root, options=SwapOptions(**{k: v for k, v in fivek.items() if v is not None},
                                                     seed=ctx.seed),
                           workers=ctx.workers, progress=ctx.progress, overwrite=True)
        desc.append("HAdobe5k: embedded FiveK-like sample (synthetic expert edits) via the fivek generator ("
                    + ", ".join(f"{k}={v}" for k, v in fivek.items() if v is not None) + ")")
    return root, desc


def bench(ctx: StudyContext, data: Path, tag: str, *, methods, sizes, protocol: str = "iharm",
          limit: int | None = None, weights: Path | None = None):
    """:func:`harmony.benchmark.runner.run_bench` into ``work/bench_<tag>`` (cached, resumable)."""
    from ..benchmark.runner import BenchConfig, run_bench

    cfg = BenchConfig(out=ctx.work / f"bench_{tag}", data=data, models=list(methods), protocol=protocol,
                      sizes=list(sizes), limit=limit or None, weights=weights, workers=ctx.workers,
                      progress=ctx.progress, gallery=0, plots=False, seed=ctx.seed)
    return run_bench(cfg)


def train_methods(ctx: StudyContext, data: Path, learned: Mapping[str, int]) -> tuple[Path | None, dict]:
    """Train each learned method ``{name: steps}`` with its tiny preset into ``work/models/<name>``; return
    (weights root for the harness, {name: validation dict})."""
    if not learned:
        return None, {}
    from ..models.presets import default_preset

    info = {}
    for name, steps in learned.items():
        res = train_row(ctx, name, data, name, preset=ctx.settings.get("preset_" + name) or default_preset(name),
                        steps=int(steps))
        info[name] = {"preset": res.preset, "steps": res.steps, "train_images": res.train_images,
                      "validation": res.validation}
    return ctx.work / "models", info
