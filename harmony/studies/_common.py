"""Steps the studies share: build the (sample or real) data, train a preset (with ablation overrides),
benchmark, load a checkpoint. Everything here calls the library's public functions; nothing is
re-implemented."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..dataset import has_split_lists
from . import StudyContext


def dataset(ctx: StudyContext, kind: str, **options: Any) -> tuple[Path, str]:
    """The dataset of a study: ``--data`` when given, else the embedded sample generated once.

    Parameters
    ----------
    ctx : StudyContext
        The run (``ctx.data``, ``ctx.work``, seed, workers).
    kind : str
        ``"fivek"`` (:func:`harmony.datagen.swaps.generate_fivek`, HAdobe5k layout) or ``"coco"``
        (:func:`harmony.datagen.coco.generate`).
    **options
        The generator's options (:class:`~harmony.datagen.swaps.SwapOptions` or
        :class:`~harmony.datagen.coco.CocoOptions` fields; a None value keeps the default). They name the
        folder ``work/data_<kind>_<options>``, so a changed option makes new data.

    Returns
    -------
    root : pathlib.Path
        The iHarmony4 root.
    description : str
        Where the data came from, for the README.

    Raises
    ------
    ValueError
        On an unknown ``kind``.
    """
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
        described = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None)
        return root, ("embedded FiveK-like sample via `harmony datagen fivek` (HAdobe5k layout, synthetic expert "
                      f"edits{'; ' + described if described else ''})")
    if kind == "coco":
        if not done:
            from ..datagen.coco import CocoOptions, generate

            generate(root, options=CocoOptions(**options), workers=ctx.workers, progress=ctx.progress, overwrite=True)
        described = ", ".join(f"{k}={v}" for k, v in options.items())
        return root, f"embedded COCO-format sample via `harmony datagen coco` ({described or 'defaults'})"
    raise ValueError(f"unknown sample dataset {kind!r}")


def preset_with(base: str, tag: str, overrides: Mapping[str, Any] | None) -> str:
    """Register ``base`` with constructor ``overrides`` (one ablation row) as the preset ``<base>__<tag>``.

    Parameters
    ----------
    base : str
        A registered training preset (:func:`harmony.models.presets.get_preset`).
    tag : str
        The row's tag.
    overrides : Mapping[str, Any] or None
        Constructor arguments replacing the preset's; None or empty: ``base`` itself.

    Returns
    -------
    str
        The preset's name: ``base`` or ``<base>__<tag>``.
    """
    if not overrides:
        return base
    from ..models.presets import get_preset, register_preset

    preset = get_preset(base)
    name = f"{base}__{tag}"
    register_preset(dataclasses.replace(preset, name=name, args={**dict(preset.args), **dict(overrides)},
                                        summary=f"{preset.summary} [study ablation {tag}: {dict(overrides)}]"),
                    replace=True)
    return name


def train_row(ctx: StudyContext, model: str, data: Path, tag: str, *, preset: str, steps: int,
              overrides: Mapping[str, Any] | None = None, extra_data: Mapping[str, Any] | None = None,
              subsets=None):
    """Train one configuration into ``work/models/<tag>`` with :func:`harmony.models.train.train`.

    A repeated study run resumes the checkpoint there instead of retraining.

    Parameters
    ----------
    ctx : StudyContext
        The run (seed, progress, ``work`` folder).
    model : str
        The network (``"bargainnet"``, ``"rcl"``, ``"sprih"``, ``"dih"``, ``"charmnet"``).
    data : pathlib.Path
        The iHarmony4 root to train and validate on.
    tag : str
        The row's folder name under ``work/models``.
    preset : str
        The training preset.
    steps : int
        Training steps.
    overrides : Mapping[str, Any] or None, optional
        Constructor overrides (an ablation row, :func:`preset_with`).
    extra_data : Mapping[str, Any] or None, optional
        Second-stream data (``{"unpaired": root}`` for SPRIH, ``{"rendered": root}`` for CharmNet).
    subsets : Sequence[str] or None, optional
        Subsets of ``data`` to train on (all by default).

    Returns
    -------
    harmony.models.train.TrainResult
        The checkpoint folder, validation metrics and cut-and-paste reference.
    """
    from ..models.train import train

    name = preset_with(preset, tag, overrides)
    out = ctx.work / "models" / tag
    resume = (out / "config.json").is_file()
    return train(model, data, out, preset=name, steps=steps, seed=ctx.seed, resume=resume, overwrite=not resume,
                 progress=ctx.progress, extra_data=extra_data, subsets=subsets, val_limit=None)


def combined_dataset(ctx: StudyContext, *, coco: Mapping[str, Any] | None, fivek: Mapping[str, Any] | None
                     ) -> tuple[Path, list[str]]:
    """One root holding HCOCO (coco generator) and/or HAdobe5k (fivek generator), or ``--data``.

    Parameters
    ----------
    ctx : StudyContext
        The run.
    coco : Mapping[str, Any] or None
        :class:`~harmony.datagen.coco.CocoOptions` fields of the HCOCO part; None: no HCOCO.
    fivek : Mapping[str, Any] or None
        :class:`~harmony.datagen.swaps.SwapOptions` fields of the HAdobe5k part (None values keep the
        default); None: no HAdobe5k.

    Returns
    -------
    root : pathlib.Path
        The iHarmony4 root (``work/data_coco_...+fivek_...``).
    descriptions : list of str
        One line per subset, for the README.
    """
    if ctx.data is not None:
        return ctx.data, [f"--data {ctx.data}"]
    parts = []
    if coco is not None:
        parts.append("coco" + "".join(f"_{k}{v}" for k, v in sorted(coco.items())))
    if fivek is not None:
        parts.append("fivek" + "".join(f"_{k}{v}" for k, v in sorted(fivek.items()) if v is not None))
    root = ctx.work / ("data_" + "+".join(parts)).replace(".", "p")
    descriptions = []
    if coco is not None:
        from ..datagen.coco import CocoOptions, generate

        if not (root / "HCOCO" / "manifest.csv").is_file():
            generate(root, options=CocoOptions(**{**dict(coco), "seed": ctx.seed}), workers=ctx.workers,
                     progress=ctx.progress, overwrite=True)
        descriptions.append("HCOCO: embedded COCO-format sample via the coco generator ("
                            + ", ".join(f"{k}={v}" for k, v in coco.items()) + ")")
    if fivek is not None:
        from ..datagen.swaps import SwapOptions, generate_fivek

        if not (root / "HAdobe5k" / "manifest.csv").is_file():
            generate_fivek(root, options=SwapOptions(**{k: v for k, v in fivek.items() if v is not None},
                                                     seed=ctx.seed),
                           workers=ctx.workers, progress=ctx.progress, overwrite=True)
        descriptions.append("HAdobe5k: embedded FiveK-like sample (synthetic expert edits) via the fivek generator ("
                            + ", ".join(f"{k}={v}" for k, v in fivek.items() if v is not None) + ")")
    return root, descriptions


def bench(ctx: StudyContext, data: Path, tag: str, *, methods, sizes, protocol: str = "iharm",
          limit: int | None = None, weights: Path | None = None):
    """Benchmark methods with :func:`harmony.benchmark.runner.run_bench` into ``work/bench_<tag>``.

    The bench's per-image cache makes a repeated study run quick.

    Parameters
    ----------
    ctx : StudyContext
        The run.
    data : pathlib.Path
        The iHarmony4 root (its test split is scored).
    tag : str
        Names the bench folder.
    methods : Sequence[str]
        Registered methods.
    sizes : Sequence[int]
        Square evaluation sizes.
    protocol : str, optional
        The metric protocol (``"iharm"``: SamsungLabs iSSAM ``scripts/evaluate_model.py``).
    limit : int or None, optional
        At most this many test images (0/None: all).
    weights : pathlib.Path or None, optional
        Root of the learned methods' checkpoints.

    Returns
    -------
    harmony.benchmark.runner.BenchResult
        The per-image rows and each method's plan (runnable or why not).
    """
    from ..benchmark.runner import BenchConfig, run_bench

    config = BenchConfig(out=ctx.work / f"bench_{tag}", data=data, models=list(methods), protocol=protocol,
                         sizes=list(sizes), limit=limit or None, weights=weights, workers=ctx.workers,
                         progress=ctx.progress, gallery=0, plots=False, seed=ctx.seed)
    return run_bench(config)


def train_methods(ctx: StudyContext, data: Path, learned: Mapping[str, int]) -> tuple[Path | None, dict]:
    """Train each learned method with its preset into ``work/models/<name>``.

    Parameters
    ----------
    ctx : StudyContext
        The run; ``ctx.settings["preset_<name>"]`` picks a preset (empty: the method's default).
    data : pathlib.Path
        The iHarmony4 root.
    learned : Mapping[str, int]
        ``{method: training steps}``.

    Returns
    -------
    weights : pathlib.Path or None
        The checkpoints' root for the bench (None when nothing was trained).
    info : dict
        ``{method: {"preset", "steps", "train_images", "validation"}}``.
    """
    if not learned:
        return None, {}
    from ..models.presets import default_preset

    info = {}
    for name, steps in learned.items():
        result = train_row(ctx, name, data, name, preset=ctx.settings.get("preset_" + name) or default_preset(name),
                           steps=int(steps))
        info[name] = {"preset": result.preset, "steps": result.steps, "train_images": result.train_images,
                      "validation": result.validation}
    return ctx.work / "models", info


def fivek_recipe(ctx: StudyContext) -> dict:
    """Data recipe of the HAdobe5k-style studies: the fivek generator's sample pairs, or ``--data``.

    Parameters
    ----------
    ctx : StudyContext
        The run (``per_mask``, ``test_fraction``).

    Returns
    -------
    dict
        ``"root"`` and ``"description"``.
    """
    root, description = dataset(ctx, "fivek", per_mask=ctx.settings["per_mask"] or None,
                                test_fraction=ctx.settings["test_fraction"])
    return {"root": root, "description": description}
