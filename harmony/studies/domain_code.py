"""``domain-code``: BargainNet [1]_ Table 2, section 4.4: the share of image triplets (composite, real image,
harmonized output) whose domain codes satisfy each of six distance inequalities.

With ``z_b`` the background code, ``z_f`` the real foreground's, ``z~f`` the composite foreground's and
``z^f`` the harmonized foreground's (all from the domain code extractor E) and ``d`` the Euclidean
distance, the columns of Table 2 are

``d(b,f) < d(b,f~)``, ``d(b,f^) < d(b,f~)``, ``d(f,f^) < d(f,f~)``, ``d(f^,f) < d(f^,f~)``,
``d(f^,b) < d(f^,f~)``, ``d(f,b) < d(f,f~)`` and ``All`` (every one of the six at once).

:func:`inequality_shares` is the pure computation. The run trains ``bargainnet_tiny`` twice on the
HAdobe5k-style sample data, with the triplet losses (the paper's model) and without them
(``lambda_tri = 0``: the same network whose domain code is shaped by the reconstruction loss alone; the
paper's comparison row is DoveNet, a different network we do not have), and measures the shares on the
train and test splits.

References
----------
.. [1] Cong, Niu, Zhang et al., "BargainNet: Background-Guided Domain Translation for Image
   Harmonization", ICME 2021.
"""

from __future__ import annotations

import numpy as np

from . import Claim, Evidence, Finding, PaperTable, Report, Scale, Study, StudyContext, register
from ._common import fivek_recipe, train_row
from .plotting import Figure, Mark, Panel

INEQUALITIES = ("d(b,f)<d(b,f~)", "d(b,f^)<d(b,f~)", "d(f,f^)<d(f,f~)", "d(f^,f)<d(f^,f~)",
                "d(f^,b)<d(f^,f~)", "d(f,b)<d(f,f~)")

# BargainNet (Cong et al., ICME 2021) Table 2, percentages.
PAPER_TABLE2 = [
    ("DoveNet", "train", 47.08, 49.24, 72.22, 71.47, 12.01, 11.75, 5.93),
    ("DoveNet", "test", 51.34, 51.58, 62.34, 54.65, 13.68, 15.64, 5.09),
    ("BargainNet (Ours)", "train", 88.63, 97.87, 93.65, 91.92, 96.38, 87.98, 80.70),
    ("BargainNet (Ours)", "test", 90.28, 97.39, 91.87, 89.28, 96.26, 89.09, 81.36),
]


def inequality_shares(z_b: np.ndarray, z_f: np.ndarray, z_tilde_f: np.ndarray, z_hat_f: np.ndarray) -> dict[str, float]:
    """Share of triplets satisfying each inequality of BargainNet Table 2, and all six at once.

    Parameters
    ----------
    z_b, z_f, z_tilde_f, z_hat_f : numpy.ndarray
        (N, L) domain codes (any real dtype, read as float64) of the background, the real foreground,
        the composite foreground and the harmonized foreground of N triplets.

    Returns
    -------
    dict of str to float
        ``{inequality: share in [0, 1]}`` for each of :data:`INEQUALITIES` (Euclidean distances; strict
        inequalities: a tie does not satisfy one), and ``"All"``: the share satisfying all six.

    Raises
    ------
    ValueError
        When the four arrays are not 2-D of one shape, or N is 0.

    Examples
    --------
    >>> b = np.zeros((1, 2)); f = np.array([[1.0, 0.0]]); ft = np.array([[3.0, 0.0]]); fh = np.array([[1.0, 0.5]])
    >>> inequality_shares(b, f, ft, fh)["All"]
    1.0
    """
    codes = [np.asarray(z, dtype=np.float64) for z in (z_b, z_f, z_tilde_f, z_hat_f)]
    shape = codes[0].shape
    if codes[0].ndim != 2 or any(c.shape != shape for c in codes):
        raise ValueError(f"codes: expected four (N, L) arrays of one shape, got {[c.shape for c in codes]}")
    if shape[0] == 0:
        raise ValueError("codes: need at least one triplet")
    background, real, composite, harmonized = codes

    def distance(x, y):
        return np.linalg.norm(x - y, axis=1)

    tests = [distance(background, real) < distance(background, composite),
             distance(background, harmonized) < distance(background, composite),
             distance(real, harmonized) < distance(real, composite),
             distance(harmonized, real) < distance(harmonized, composite),
             distance(harmonized, background) < distance(harmonized, composite),
             distance(real, background) < distance(real, composite)]
    out = {name: float(t.mean()) for name, t in zip(INEQUALITIES, tests)}
    out["All"] = float(np.logical_and.reduce(tests).mean())
    return out


def triplet_codes(net, composite: np.ndarray, mask: np.ndarray, real: np.ndarray, *, batch_size: int = 16):
    """Domain codes of each (composite, real, harmonized) triplet with a trained BargainNet.

    Harmonized = the network's output pasted into the foreground (:func:`harmony.models.train.predict_arrays`).

    Parameters
    ----------
    net : harmony.models.bargainnet.BargainNet
        The trained network (put in eval mode).
    composite, real : numpy.ndarray
        (N, s, s, 3) float32 images in [0, 1] at the network's side ``s``.
    mask : numpy.ndarray
        (N, s, s) float32 foreground masks in [0, 1].
    batch_size : int, optional
        Images per forward pass.

    Returns
    -------
    tuple of numpy.ndarray
        ``(z_b, z_f, z~f, z^f)``, each (N, L) float32: the background code (composite, inverted mask),
        the real, composite and harmonized foreground codes.
    """
    import torch

    from ..models.train import predict_arrays

    predicted = predict_arrays(net, composite, mask, batch_size=batch_size)
    net.eval()
    codes = [[], [], [], []]
    with torch.no_grad():
        for start in range(0, len(composite), batch_size):
            def batch(images, start=start):
                return torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size].transpose(0, 3, 1, 2)))

            foreground = torch.from_numpy(np.ascontiguousarray(mask[start:start + batch_size, None]))
            composites, reals, predictions = batch(composite), batch(real), batch(predicted)
            codes[0].append(net.domain_code(composites, 1.0 - foreground).numpy())
            codes[1].append(net.domain_code(reals, foreground).numpy())
            codes[2].append(net.domain_code(composites, foreground).numpy())
            codes[3].append(net.domain_code(predictions, foreground).numpy())
    return tuple(np.concatenate(c) for c in codes)


# (row label, model folder tag, constructor overrides)
ROWS = (("BargainNet (with triplet losses)", "full", None),
        ("BargainNet w/o triplet losses (lambda_tri=0)", "no_triplet", {"lambda_tri": 0.0}))
WITH_TRIPLET, WITHOUT_TRIPLET = ROWS[0][0], ROWS[1][0]

PAPER_TABLE = PaperTable(
    ("model", "split", *INEQUALITIES, "All"), PAPER_TABLE2,
    "BargainNet (Cong et al., ICME 2021) Table 2: ratio (%) of training/testing image triplets satisfying each "
    "requirement, iHarmony4 (DoveNet vs BargainNet).")



def methods(ctx: StudyContext, data: dict) -> dict:
    """Methods step: train each row's BargainNet, then measure the shares on the train and test splits.

    Parameters
    ----------
    ctx : StudyContext
        The run (``preset``, ``steps``, ``limit``).
    data : dict
        What :func:`recipe` returned.

    Returns
    -------
    dict
        ``"rows"`` (one dict per model and split, shares in %) and ``"trained"`` (``{tag: TrainResult}``).
    """
    from ..models.checkpoint import load_checkpoint
    from ..models.train import load_split

    settings = ctx.settings
    rows, trained = [], {}
    for label, tag, overrides in ROWS:
        result = train_row(ctx, "bargainnet", data["root"], tag, preset=settings["preset"], steps=settings["steps"],
                           overrides=overrides)
        trained[tag] = result
        net, config = load_checkpoint(result.out)
        size = int(config["args"]["size"])
        for split in ("train", "test"):
            pairs = load_split(data["root"], split, size, limit=settings["limit"] or None)
            if len(pairs) == 0:
                continue
            shares = inequality_shares(*triplet_codes(net, pairs.composite, pairs.mask, pairs.real))
            rows.append({"model": label, "split": split, "N": len(pairs),
                         **{k: round(100 * v, 2) for k, v in shares.items()}})
    return {"rows": rows, "trained": trained}


def build_table(ctx: StudyContext, measured: dict):
    """The shares (%) per model and split, as BargainNet Table 2.

    Parameters
    ----------
    ctx : StudyContext
        The run.
    measured : dict
        What :func:`methods` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``split``, ``N``, the six :data:`INEQUALITIES` and ``All`` (percent, 2 decimals).
    """
    import pandas as pd

    return pd.DataFrame(measured["rows"])


def _share(evidence: Evidence, model: str, split: str, column: str) -> float:
    table = evidence.table
    rows = table[(table["model"] == model) & (table["split"] == split)]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")


def _most_satisfied(evidence: Evidence, _item=None) -> Finding:
    """Range of the test shares with the triplet losses."""
    test = [_share(evidence, WITH_TRIPLET, "test", c) for c in INEQUALITIES]
    return Finding(f"test: {min(test):.1f}-{max(test):.1f} %", bool(min(test) > 50.0))


def _triplet_raises_all(evidence: Evidence, _item=None) -> Finding:
    """Share satisfying all six on test, with and without the triplet losses."""
    with_loss, without = _share(evidence, WITH_TRIPLET, "test", "All"), _share(evidence, WITHOUT_TRIPLET, "test", "All")
    return Finding(f"All (test): {with_loss:.1f} % vs {without:.1f} % without L_tri", bool(with_loss > without))


def _generalises(evidence: Evidence, _item=None) -> Finding:
    """Train against test share of all six; untestable while the train share is near 0 (collapsed codes)."""
    train, test = _share(evidence, WITH_TRIPLET, "train", "All"), _share(evidence, WITH_TRIPLET, "test", "All")
    return Finding(f"All: {train:.1f} % train, {test:.1f} % test",
                   bool(abs(train - test) <= 10.0) if train > 5.0 else None)


CLAIMS = (
    Claim("with the triplet losses most test triplets satisfy every inequality", "test: 89.28-97.39 % per inequality",
          _most_satisfied),
    Claim("the triplet losses raise the share satisfying all six (BargainNet vs DoveNet)",
          "All (test): 81.36 % vs 5.09 %", _triplet_raises_all),
    Claim("the requirements learned on train generalise to test", "All: 80.70 % train, 81.36 % test", _generalises),
)


def plot(evidence: Evidence) -> Figure:
    """Plot spec: grouped bars of each inequality's share per model and split, and the paper's test row.

    Parameters
    ----------
    evidence : Evidence
        The finished run.

    Returns
    -------
    Figure
        One panel.
    """
    columns = [*INEQUALITIES, "All"]
    x = np.arange(len(columns))
    groups = [(r["model"], r["split"]) for _, r in evidence.table.iterrows()]
    width = 0.8 / max(len(groups) + 1, 1)
    marks = [Mark("bar", (x + k * width, [_share(evidence, model, split, c) for c in columns], width),
                  {"label": f"ours: {model[:26]} ({split})"}) for k, (model, split) in enumerate(groups)]
    paper_test = PAPER_TABLE.frame().iloc[3]
    marks.append(Mark("bar", (x + len(groups) * width, [paper_test[c] for c in columns], width),
                      {"color": "k", "alpha": 0.35, "label": "paper: BargainNet (test)"}))
    return Figure((8, 3.6), [Panel(marks, xticks=x + width * len(groups) / 2, xticklabels=columns,
                                   xticklabel_options={"rotation": 25, "fontsize": 7}, ylabel="% of triplets",
                                   ylim=(0, 100), legend={"fontsize": 6}, title="domain-code: BargainNet Table 2")])


def report(evidence: Evidence) -> Report:
    """Data used, the missing DoveNet row, and a warning when the codes collapsed.

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

    settings, full = evidence.settings, evidence.measured["trained"]["full"]
    notes = [f"harmonized output = the network's prediction pasted into the foreground, at the network's side "
             f"({settings['preset']}); codes from the trained extractor in eval mode"]
    log = read_log(full.out / LOG_NAME) if (full.out / LOG_NAME).is_file() else []
    last = log[-1] if log else full.last_losses
    if last.get("tri_fb", 0) >= 0.99 and last.get("tri_ff", 0) >= 0.99:
        notes.append(f"the triplet losses ended at the margin (tri_fb {last['tri_fb']:.3f}, tri_ff {last['tri_ff']:.3f} "
                     "with margin 1): the extractor's codes have (nearly) collapsed to one point, so the "
                     "inequalities anchored on the harmonized foreground cannot hold; more steps (--scale small) "
                     "or a larger lambda_tri are needed before this table says anything about the paper")
    return Report(
        data_used={"dataset": evidence.data["description"], "root": str(evidence.data["root"]),
                   "network": settings["preset"], "steps": settings["steps"], "train_pairs": full.train_images},
        missing=["the paper's DoveNet row (a different network with a domain verification discriminator) is not "
                 "implemented; the comparison row here is BargainNet without its triplet losses"],
        notes=notes)


_BASE = {"preset": "bargainnet_tiny", "limit": 0, "per_mask": 0, "test_fraction": 0.25}
register(Study(
    name="domain-code", paper="BargainNet (Cong et al., ICME 2021), section 4.4", table="Table 2",
    measures="share of (composite, real, harmonized) triplets whose domain codes satisfy each of the six distance "
             "inequalities, train and test, with and without the triplet losses",
    scales={
        "test": Scale("test", "bargainnet_tiny, 3 steps, 3 composites per sample mask.", {**_BASE, "steps": 3, "per_mask": 3},
                      est_time="10 s"),
        "tiny": Scale("tiny", "bargainnet_tiny (64 px), 300 steps per row on the FiveK-like sample (180/60 pairs).",
                      {**_BASE, "steps": 300}, est_time="2.5 min (measured 134 s)"),
        "small": Scale("small", "bargainnet_tiny, 2000 steps per row.", {**_BASE, "steps": 2000}, est_time="7 min (measured 405 s)"),
        "paper": Scale("paper", "bargainnet_paper (256 px, 100k steps) on iHarmony4.",
                       {**_BASE, "preset": "bargainnet_paper", "steps": 100_000},
                       needs_data="the iHarmony4 dataset (--data IHARMONY4_ROOT)", needs_gpu=True, est_time="days"),
    },
    recipe=fivek_recipe, methods=methods, build_table=build_table, claims=CLAIMS, paper_table=PAPER_TABLE, plot=plot,
    report=report))
