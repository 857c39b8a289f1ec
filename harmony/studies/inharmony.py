"""``inharmony``: BargainNet [1]_ section 4.5 / supplement section 7 and Fig. 3: the inharmony score
``d(E(I, M), E(I, 1 - M))`` (distance between foreground and background domain codes) of composites
before and after harmonization, and of the real image.

As in the paper, the data are HAdobe5k-style groups: one real image (one FiveK version) and the
composites that paste the foreground of the other versions onto it (the fivek generator on the embedded
FiveK-like sample, or ``--data``). A ``bargainnet_tiny`` is trained with :func:`harmony.models.train.train`
and scored with :func:`harmony.models.bargainnet.inharmony_scores` through the registered method
(``METHODS.create("bargainnet", weights=...)``). Fig. 3 prints its scores only inside the figure, so the
paper column quotes its claims, not numbers.

References
----------
.. [1] Cong, Niu, Zhang et al., "BargainNet: Background-Guided Domain Translation for Image
   Harmonization", ICME 2021.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import Claim, Evidence, Finding, PaperTable, Report, Scale, Study, StudyContext, register
from ._common import fivek_recipe, train_row
from .plotting import Figure, Mark, Panel

PAPER_TABLE = PaperTable(
    ("image", "paper"),
    (("composite (five per real image)", "higher when foreground and background are obviously inconsistent"),
     ("harmonized composite", "decreases dramatically"),
     ("real image", "lowest of its group"),
     ("harmonized real image", "lower still")),
    "BargainNet (Cong et al., ICME 2021) Fig. 3 (supplement section 7), HAdobe5k: the scores appear only inside "
    "the figure, so the claims are quoted instead.")



def _test_groups(root, limit: int):
    """The test samples with a real image, grouped by (real image, mask) in sorted order."""
    from ..dataset import DatasetReader

    reader = DatasetReader(root)
    samples = [s for s in reader.samples(split="test") if s.real is not None]
    if limit:
        samples = samples[:limit]
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for sample in samples:
        groups[(str(sample.real), str(sample.mask))].append(sample)
    return reader, [members for _, members in sorted(groups.items())]


def methods(ctx: StudyContext, data: dict) -> dict:
    """Methods step: train BargainNet, harmonize each group's composites and real image, score all four.

    Scores come from :func:`harmony.models.bargainnet.inharmony_scores` through the registered method.
    The per-image scores are also written to ``work/per_image_scores.csv``.

    Parameters
    ----------
    ctx : StudyContext
        The run (``preset``, ``steps``, ``limit``).
    data : dict
        What :func:`recipe` returned.

    Returns
    -------
    dict
        ``"training"`` (the TrainResult), ``"group_of"`` ((N,) group index of each composite) and the
        (N,) / (G,) float arrays ``"composite"``, ``"harmonized"``, ``"real"``, ``"real_harmonized"``.
    """
    import pandas as pd

    from ..models.bargainnet import inharmony_scores
    from ..registry import METHODS

    training = train_row(ctx, "bargainnet", data["root"], "bargainnet", preset=ctx.settings["preset"],
                         steps=ctx.settings["steps"])
    harmonizer = METHODS.create("bargainnet", weights=str(training.out))
    reader, groups = _test_groups(data["root"], ctx.settings["limit"])
    composites, masks, harmonized, group_of = [], [], [], []
    reals, real_masks, reals_harmonized = [], [], []
    for index, members in enumerate(groups):
        for sample in members:
            composite, mask, real = reader.load(sample)
            composites.append(composite)
            masks.append(mask)
            harmonized.append(harmonizer(composite, mask))
            group_of.append(index)
        reals.append(real)
        real_masks.append(mask)
        reals_harmonized.append(harmonizer(real, mask))
    scores = {"composite": inharmony_scores(harmonizer, composites, masks),
              "harmonized": inharmony_scores(harmonizer, harmonized, masks),
              "real": inharmony_scores(harmonizer, reals, real_masks),
              "real_harmonized": inharmony_scores(harmonizer, reals_harmonized, real_masks)}
    scores = {k: np.asarray(v) for k, v in scores.items()}
    group_of = np.asarray(group_of)
    pd.DataFrame({"group": group_of, "composite": [s.name for members in groups for s in members],
                  "score_composite": scores["composite"], "score_harmonized": scores["harmonized"],
                  "score_real": scores["real"][group_of],
                  "score_real_harmonized": scores["real_harmonized"][group_of]}
                 ).to_csv(ctx.work / "per_image_scores.csv", index=False)
    return {"training": training, "group_of": group_of, **scores}


def build_table(ctx: StudyContext, measured: dict):
    """Mean, median and spread of the score for composites, harmonized composites, real and harmonized real.

    Parameters
    ----------
    ctx : StudyContext
        The run.
    measured : dict
        What :func:`methods` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``N``, ``mean_score``, ``median_score``, ``std``; rounded to 6 decimals.
    """
    import pandas as pd

    return pd.DataFrame([
        {"image": name, "N": len(v), "mean_score": float(np.mean(v)), "median_score": float(np.median(v)),
         "std": float(np.std(v))}
        for name, v in (("composite", measured["composite"]), ("harmonized composite", measured["harmonized"]),
                        ("real image", measured["real"]), ("harmonized real image", measured["real_harmonized"]))
    ]).round(6)


def _harmonization_lowers(evidence: Evidence, _item=None) -> Finding:
    """Share of composites whose score drops after harmonization."""
    composite, harmonized = evidence.measured["composite"], evidence.measured["harmonized"]
    dropped = float(np.mean(harmonized < composite))
    return Finding(f"{dropped:.0%} of {len(composite)} composites drop; mean {composite.mean():.4g} -> "
                   f"{harmonized.mean():.4g}", bool(dropped > 0.5))


def _real_is_lowest(evidence: Evidence, _item=None) -> Finding:
    """Share of groups whose real image scores below every composite of the group."""
    composite, real, group_of = evidence.measured["composite"], evidence.measured["real"], evidence.measured["group_of"]
    lowest = float(np.mean([real[g] < composite[group_of == g].min() for g in range(len(real))]))
    return Finding(f"real lowest in {lowest:.0%} of {len(real)} groups (mean real {real.mean():.4g} vs "
                   f"composites {composite.mean():.4g})", bool(lowest > 0.5))


def _harmonized_real_lower(evidence: Evidence, _item=None) -> Finding:
    """Share of real images whose score drops when they are harmonized."""
    real, real_harmonized = evidence.measured["real"], evidence.measured["real_harmonized"]
    dropped = float(np.mean(real_harmonized < real))
    return Finding(f"{dropped:.0%} of {len(real)} real images drop", bool(dropped > 0.5))


CLAIMS = (
    Claim("harmonization lowers the inharmony score",
          "Fig. 3: the score of every composite drops 'dramatically' after harmonization", _harmonization_lowers),
    Claim("the real image has the lowest score of its group",
          "Fig. 3: the ground-truth real image has the lowest inharmony score", _real_is_lowest),
    Claim("harmonizing the real image lowers its score further", "Fig. 3 (noted as 'interesting')",
          _harmonized_real_lower),
)


def plot(evidence: Evidence) -> Figure:
    """Plot spec: per group (at most 12), the composites' scores before and after, the real image's.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Figure
        One scatter panel.
    """
    measured = evidence.measured
    group_of, real = measured["group_of"], measured["real"]
    marks = []
    for g in range(min(len(real), 12)):
        selected = group_of == g
        marks += [
            Mark("scatter", (np.full(selected.sum(), g) - 0.12, measured["composite"][selected]),
                 {"c": "tab:red", "s": 12, "label": "composite" if g == 0 else None}),
            Mark("scatter", (np.full(selected.sum(), g) + 0.12, measured["harmonized"][selected]),
                 {"c": "tab:blue", "s": 12, "label": "harmonized" if g == 0 else None}),
            Mark("scatter", ([g], [real[g]]), {"c": "k", "marker": "*", "s": 50, "label": "real" if g == 0 else None}),
            Mark("scatter", ([g], [measured["real_harmonized"][g]]),
                 {"c": "tab:green", "marker": "x", "s": 30, "label": "real, harmonized" if g == 0 else None}),
        ]
    return Figure((6, 3.8), [Panel(marks, xlabel="group (one real image and its composites)",
                                   ylabel="inharmony score d(z_b, z~f)", legend={"fontsize": 6},
                                   title="inharmony: BargainNet Fig. 3 (ours)")])


def report(evidence: Evidence) -> Report:
    """Data used, and a warning when the triplet losses ended at their margin (collapsed codes).

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Report
        What the README and study.json say besides the tables.
    """
    from ..models.train import LOG_NAME, read_log

    training = evidence.measured["training"]
    notes = ["harmonized = the registered bargainnet method (prediction pasted into the foreground); scores at the "
             "network's side"]
    log = read_log(training.out / LOG_NAME) if (training.out / LOG_NAME).is_file() else []
    if log and log[-1].get("tri_fb", 0) >= 0.99 and log[-1].get("tri_ff", 0) >= 0.99:
        notes.append(f"the triplet losses ended at the margin (tri_fb {log[-1]['tri_fb']:.3f}, tri_ff "
                     f"{log[-1]['tri_ff']:.3f}, margin 1): the domain codes have nearly collapsed, so all scores are "
                     "tiny and their differences small; train longer (--scale small) before reading much into them")
    return Report(
        data_used={"dataset": evidence.data["description"], "root": str(evidence.data["root"]),
                   "groups": len(evidence.measured["real"]), "composites": len(evidence.measured["composite"]),
                   "network": training.preset, "steps": training.steps,
                   "per-image scores": str(evidence.ctx.work / "per_image_scores.csv")},
        notes=notes)


_BASE = {"preset": "bargainnet_tiny", "per_mask": 0, "test_fraction": 0.25, "limit": 0}
register(Study(
    name="inharmony", paper="BargainNet (Cong et al., ICME 2021), section 4.5 and supplement section 7", table="Fig. 3",
    measures="inharmony score of composites before and after harmonization and of the real images: does "
             "harmonization lower it, and is the real image lowest?",
    scales={
        "test": Scale("test", "bargainnet_tiny, 3 steps, 3 composites per sample mask.",
                      {**_BASE, "steps": 3, "per_mask": 3}, est_time="10 s"),
        "tiny": Scale("tiny", "bargainnet_tiny (64 px), 300 steps, FiveK-like sample (60 test composites).",
                      {**_BASE, "steps": 300}, est_time="4 min (measured 237 s)"),
        "small": Scale("small", "bargainnet_tiny, 3000 steps.", {**_BASE, "steps": 3000}, est_time="4.5 min (measured 265 s)"),
        "paper": Scale("paper", "bargainnet_paper, HAdobe5k.", {**_BASE, "preset": "bargainnet_paper", "steps": 100_000},
                       needs_data="HAdobe5k (--data ROOT with HAdobe5k)", needs_gpu=True, est_time="days"),
    },
    recipe=fivek_recipe, methods=methods, build_table=build_table, claims=CLAIMS, paper_table=PAPER_TABLE, plot=plot,
    report=report))
