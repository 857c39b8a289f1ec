"""`harmony bt-score`: Bradley-Terry (or Thurstone) scores of pairwise user-study votes.

The command reads vote logs (:func:`harmony.benchmark.userstudy.load_votes`) or ``harmony study serve``
databases, scores them with :func:`harmony.benchmark.bt.score_votes` and writes the tables
(CSV / JSON / Markdown / LaTeX), the win and pairwise-probability matrices, the per-rater QC and a plot.

References
----------
Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block designs: I. The method of
paired comparisons. Biometrika 39(3/4).
Maystre, L. and Grossglauser, M. (2015). Fast and accurate inference of Plackett-Luce models. NIPS
(choix).
Perez-Ortiz, M. and Mantiuk, R. K. (2017). A practical guide and software for analysing pairwise
comparison experiments. arXiv:1712.03686 (pwcmp: JOD scale and observer screening).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from .. import serialize
from ..errors import InputError
from ._common import UserError, echo_summary

OUTPUT_FILES = ["scores.csv", "scores.json", "scores.md", "scores.tex", "win_matrix.csv", "pairwise_prob.csv",
                "raters.csv", "per_image_scores.csv", "scores.png", "summary.txt"]
CSV_COLUMNS = ["method", "votes", "wins", "preference", "win_rate", "score", "se", "ci_low", "ci_high", "rank",
               "group"]


def parse_strengths(value: str) -> dict[str, float]:
    """Known log-strengths (``--truth``, ``study simulate --strengths``).

    Parameters
    ----------
    value : str
        ``name=value,name=value`` or the path of a CSV with columns ``method,strength``.

    Returns
    -------
    dict of str to float
        Natural-log Bradley-Terry strengths by method.

    Raises
    ------
    InputError
        Unreadable CSV, missing columns, a part without ``=``, a value that is not a number, or fewer
        than two methods.
    """
    if os.path.isfile(value):
        try:
            df = pd.read_csv(value, encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{value}: unreadable strengths CSV ({exc.__class__.__name__})") from None
        cols = {c.strip().lower(): c for c in df.columns}
        if "method" not in cols or "strength" not in cols:
            raise InputError(f"{value}: expected columns method,strength")
        return {str(k): float(v) for k, v in zip(df[cols["method"]], df[cols["strength"]])}
    out = {}
    for part in value.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"strengths: expected name=value pairs separated by commas, got {part!r}")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise InputError(f"strengths: {v.strip()!r} is not a number (for {k.strip()!r})") from None
    if len(out) < 2:
        raise InputError("strengths: need at least two methods")
    return out


def _fmt(x, nd=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{nd}f}"


def _display_rows(table: pd.DataFrame, scale: str) -> tuple[list[str], list[list[str]]]:
    nd = 4 if scale == "sum1" else 3
    head = ["method", "votes", "wins", "pref %", "win rate", "score", "95% CI", "rank", "group"]
    if "truth" in table:
        head.insert(6, "true")
    rows = []
    for r in table.itertuples(index=False):
        wins = r.wins if float(r.wins) != int(r.wins) else int(r.wins)
        row = [r.method, _fmt(int(r.votes)), str(wins), f"{100 * r.preference:.2f}", _fmt(r.win_rate),
               _fmt(r.score, nd), f"[{_fmt(r.ci_low, nd)}, {_fmt(r.ci_high, nd)}]",
               "-" if not math.isfinite(r.rank) else str(int(r.rank)), r.group]
        if "truth" in table:
            row.insert(6, _fmt(r.truth, nd))
        rows.append(row)
    return head, rows


def format_text(table: pd.DataFrame, scale: str) -> str:
    """The score table as aligned plain text (the terminal output and the head of ``summary.txt``).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`harmony.benchmark.bt.BTResult.table` (optionally with ``truth``).
    scale : str
        The scale (``sum1`` shows 4 decimals, others 3).

    Returns
    -------
    str
    """
    head, rows = _display_rows(table, scale)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_markdown(table: pd.DataFrame, scale: str, caption: str) -> str:
    """The score table as Markdown (``scores.md``) with the caption as an HTML comment.

    Parameters
    ----------
    table : pandas.DataFrame
    scale : str
    caption : str

    Returns
    -------
    str
    """
    from ..serialize import markdown_table

    head, rows = _display_rows(table, scale)
    return f"<!-- {caption} -->\n" + markdown_table(head, rows)


def format_latex(table: pd.DataFrame, scale: str, caption: str) -> str:
    """The score table as a LaTeX booktabs table (``scores.tex``), caption below.

    Parameters
    ----------
    table : pandas.DataFrame
    scale : str
    caption : str

    Returns
    -------
    str
    """
    from ..serialize import latex_table

    head, rows = _display_rows(table, scale)
    return latex_table(head, rows, caption=caption, caption_below=True)


def plot_png(table: pd.DataFrame, scale: str, title: str, xlabel: str | None = None) -> bytes:
    """Scores with their intervals as a dot plot (``scores.png``, the study dashboard's plot).

    Parameters
    ----------
    table : pandas.DataFrame
        The score table (best first; plotted top down).
    scale : str
        Names the x axis unless ``xlabel`` is given.
    title : str
        Plot title (``; `` starts a new line).
    xlabel : str, optional

    Returns
    -------
    bytes
        PNG file contents.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import figure_png

    t = table.iloc[::-1]
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(t) + 1.4), dpi=110)
    lo = (t["score"] - t["ci_low"]).to_numpy(float)
    hi = (t["ci_high"] - t["score"]).to_numpy(float)
    # a percentile interval need not contain the estimate (sparse or regularised data): no whisker then
    err = np.clip(np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)]), 0, None)
    ax.errorbar(t["score"], y, xerr=err, fmt="o", color="C0", capsize=3, label="estimate and interval")
    if "truth" in t:
        ax.plot(t["truth"], y, "x", color="C3", label="true strength")
        ax.legend(loc="best", fontsize=8)
    ax.set_yticks(y, t["method"])
    ax.set_xlabel(xlabel or {"sum1": "B-T score (sums to 1)", "centered": "B-T log-strength (mean 0)"}.get(
        scale, f"B-T log-strength ({scale})"))
    ax.set_title(title.replace("; ", "\n"), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


def summary_lines(res, elapsed: float) -> list[str]:
    """The lines of the ``bt-score summary`` block: votes used, settings, intervals, raters, connectivity,
    range test, Kendall's u, notes and time.

    Parameters
    ----------
    res : harmony.benchmark.bt.BTResult
    elapsed : float
        Seconds taken.

    Returns
    -------
    list of str
    """
    s = res.settings
    lines = [f"votes: {s['votes_used']} used of {s['votes_read']} read ({s['format']} format"
             + (f", {s['unanswered']} unanswered tasks skipped" if s["unanswered"] else "")
             + (f", {s['sentinel_rows']} sentinel rows" if s["sentinel_rows"] else "") + ")",
             f"methods: {len(s['methods'])}; pool {s['pool']}; scale {s['scale']}; ties {s['ties']}; "
             f"alpha {s['alpha']}; engine {s['engine']}",
             f"intervals: {s['ci']:.0%} {s['ci_method']}"]
    if res.raters is not None:
        n = len(res.raters)
        lines.append(f"raters: {n}, excluded {len(res.excluded_raters)} below sentinel accuracy "
                     f"{s['min_sentinel_accuracy']}" + (f": {', '.join(res.excluded_raters[:10])}"
                                                         + (" ..." if len(res.excluded_raters) > 10 else "")
                                                         if res.excluded_raters else ""))
        biased = res.raters[(res.raters["left_p"] < 0.01)]
        if len(biased):
            lines.append(f"left/right bias (binomial p < 0.01): {len(biased)} raters")
    lines.append("connectivity: " + res.connectivity.message)
    rt = res.range_test
    lines.append(f"range test (Lai et al., alpha {rt['alpha']}): W = {rt['W']:.3f}, S = {rt['S']}, "
                 f"R = {rt['R']} wins; methods sharing a group letter do not differ")
    lines.append(f"Kendall's u = {res.kendall_u:.4f}" if math.isfinite(res.kendall_u) else "Kendall's u: n/a")
    lines += [f"note: {n}" for n in res.notes]
    lines.append(f"time: {elapsed:.2f} s")
    return lines


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse an output folder that is a file, or already holds outputs without ``overwrite``.

    Parameters
    ----------
    out : pathlib.Path
        The ``--out`` folder.
    overwrite : bool

    Raises
    ------
    InputError
        ``out`` is a file, or has files of :data:`OUTPUT_FILES` and ``overwrite`` is off.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    clash = [f for f in OUTPUT_FILES if (out / f).exists()]
    if clash and not overwrite:
        raise InputError(f"--out: {out} already has {', '.join(clash[:3])}"
                         f"{' ...' if len(clash) > 3 else ''}; pass --overwrite to replace them, or another --out")


def write_outputs(res, out: Path, *, overwrite: bool, caption: str, summary: str) -> list[str]:
    """Write every output file atomically into ``out``.

    Parameters
    ----------
    res : harmony.benchmark.bt.BTResult
    out : pathlib.Path
        The folder (created).
    overwrite : bool
        Replace existing outputs (:func:`check_out`).
    caption : str
        Caption of the Markdown / LaTeX tables and title of the plot.
    summary : str
        Text of ``summary.txt``.

    Returns
    -------
    list of str
        The files written: ``scores.csv`` (10 significant digits), ``scores.json``, ``scores.md``,
        ``scores.tex``, ``win_matrix.csv``, ``pairwise_prob.csv``, ``raters.csv`` and
        ``per_image_scores.csv`` where they apply, ``scores.png``, ``summary.txt``.
    """
    from ..io import atomic_write_bytes, atomic_write_text

    out = Path(out)
    check_out(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    t = res.table
    scale = res.settings["scale"]
    cols = CSV_COLUMNS + (["truth"] if "truth" in t else [])
    written = []

    def put(name, text):
        atomic_write_text(out / name, text)
        written.append(name)

    put("scores.csv", t[cols].to_csv(index=False, float_format="%.10g"))
    put("scores.json", serialize.dumps(res.as_dict()))
    put("scores.md", format_markdown(t, scale, caption))
    put("scores.tex", format_latex(t, scale, caption))
    put("win_matrix.csv", res.win_matrix.to_csv(index_label="winner \\ loser", float_format="%.10g"))
    put("pairwise_prob.csv", res.pairwise_prob.to_csv(index_label="P(row better than column)",
                                                       float_format="%.4f"))
    if res.raters is not None:
        put("raters.csv", res.raters.to_csv(index=False, float_format="%.10g"))
    if res.per_image is not None:
        pi = pd.DataFrame(res.per_image, columns=res.settings["methods"], index=res.image_ids)
        put("per_image_scores.csv", pi.to_csv(index_label="image_id", float_format="%.10g"))
    atomic_write_bytes(out / "scores.png", plot_png(
        t, scale, caption, xlabel=f"JOD ({scale}; 1 JOD = 75 % preference)" if res.settings.get("model") == "thurstone" else None))
    written.append("scores.png")
    put("summary.txt", summary + "\n")
    return written


@click.command("bt-score", context_settings={"max_content_width": 100})
@click.argument("votes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "canonical", "lai", "crowdkit", "arena", "leftright"]),
              default="auto", show_default=True, help="Vote-log layout (auto = detect from the header).")
@click.option("--columns", "columns", default=None, metavar="FIELD=COL,...",
              help="Read your own column names as the leftright layout: fields rater, image, left, right, "
                   "winner (e.g. --columns rater=worker,left=shown_left,right=shown_right,winner=label).")
@click.option("--method-names", type=click.Path(dir_okay=False), default=None,
              help="Lai format: file whose line k names method id k (e.g. method.txt).")
@click.option("--pool", type=click.Choice(["global", "per-image"]), default="global", show_default=True,
              help="One fit of all votes, or Lai et al.: a fit per image, centred, averaged.")
@click.option("--scale", default="centered", show_default=True, metavar="centered|sum1|ref:NAME",
              help="Log-strengths with mean 0; exp(s)/sum exp(s) (SPRIH Table 3); or NAME fixed at 0.")
@click.option("--ties", type=click.Choice(["half", "drop"]), default="half", show_default=True,
              help="A tie counts 0.5 win for each side, or is dropped.")
@click.option("--alpha", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="choix regularisation; 0 refuses a graph that is not strongly connected (try 0.01).")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap replicates for intervals (0 = Hessian / normal intervals).")
@click.option("--by", type=click.Choice(["rater", "vote", "image"]), default=None,
              help="Resampling unit [default: rater when rater ids exist, else vote; image for per-image].")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Interval coverage.")
@click.option("--sentinel-method", default=None, metavar="NAME",
              help="Rows comparing NAME are sentinels and NAME is the right answer (e.g. real).")
@click.option("--min-sentinel-accuracy", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Raters below this sentinel accuracy are excluded (raters without sentinels are kept).")
@click.option("--range-alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="Level of Lai et al.'s range test on total wins.")
@click.option("--truth", default=None, metavar="NAME=S,...|CSV",
              help="Known log-strengths (simulations): shown beside the estimates in the chosen scale.")
@click.option("--lai-original-stop", is_flag=True,
              help="Per-image pool: stop Lai's iteration at the first NaN change, as their MATLAB code.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write scores.csv/.json/.md/.tex, win_matrix.csv, pairwise_prob.csv, raters.csv, scores.png.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the text table.")
@click.option("--model", type=click.Choice(["bt", "thurstone"]), default="bt", show_default=True,
              help="Bradley-Terry (logistic), or Thurstone Case V in JOD units (1 JOD = 75 % preference; "
                   "first method at 0 unless --scale ref:NAME), as pwcmp.")
@click.option("--screen-raters", is_flag=True,
              help="pwcmp observer outlier scores (IQR-normalised log-likelihood); lists raters above 1.5.")
def bt_score(votes, fmt, columns, method_names, pool, scale, ties, alpha, n_boot, by, seed, ci, sentinel_method,
             min_sentinel_accuracy, range_alpha, truth, lai_original_stop, out_dir, overwrite, as_json,
             model="bt", screen_raters=False):
    """Bradley-Terry scores of pairwise (2AFC) user-study votes.

    VOTES is one or more CSV files (or `harmony study serve` databases, study.sqlite): canonical (rater_id,image_id,method_a,method_b,choice with choice
    a|b|tie, optional is_sentinel,position,timestamp,correct), Lai et al. (Image ID,Method 1,Method 2,
    Result), crowd-kit (worker,left,right,label), arena (model_a,model_b,winner) or leftright
    ([rater,image,]left,right,winner with winner the chosen method, left/right or tie); --columns maps
    other column names onto leftright. The fit is choix's
    ilsr_pairwise_dense on the win-count matrix; the table has votes, wins, preference (% of all votes,
    as RCL Table V), win rate, score, interval, rank and the range-test group.

    \b
    Examples:
      harmony bt-score votes.csv
      harmony bt-score votes.csv --scale sum1 --sentinel-method real --out scores/
      harmony bt-score lai2016/votes_real_balance_all.csv --method-names lai2016/method.txt \\
          --pool per-image --out lai/
      harmony bt-score votes.csv --scale ref:composite --bootstrap 2000 --by rater --seed 1
      harmony bt-score battles.csv --format arena --alpha 0.01
      harmony bt-score log.csv --columns rater=worker,image=task,left=a,right=b,winner=label
      harmony bt-score study.sqlite --model thurstone --screen-raters
    """
    from ..benchmark import bt, userstudy

    t0 = time.perf_counter()
    if out_dir:      # refuse an existing output before reading or fitting anything
        try:
            check_out(Path(out_dir), overwrite=overwrite)
        except InputError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
    stack = contextlib.ExitStack()
    # `bt-score study.sqlite`: a `harmony study serve` database is exported to a canonical CSV
    # in a temporary folder and read like any vote log.
    votes = _study_db_as_csv(votes, stack)
    if model == "thurstone" and click.get_current_context().get_parameter_source("scale").name == "DEFAULT":
        scale = None     # pwcmp anchors the first condition at 0 (resolved below)
    try:
        mapping = userstudy.parse_columns(columns)
        if mapping and fmt not in ("auto", "leftright"):
            raise InputError(f"--columns reads the file as the leftright layout; it cannot be combined with "
                             f"--format {fmt}")
        names = userstudy.read_method_names(method_names) if method_names else None
        log = userstudy.load_votes(list(votes), fmt=None if fmt == "auto" else fmt, method_names=names,
                                   columns=mapping or None)
        if log.format == "lai" and names is None:
            click.echo("note: Lai format without --method-names: methods are named by their ids", err=True)
        if scale is None:
            scale = "ref:" + _first_method(log, sentinel_method)
        res = bt.score_votes(log, pool=pool, scale=scale, ties=ties, alpha=alpha, n_boot=n_boot, by=by,
                             seed=seed, ci=ci, sentinel_method=sentinel_method,
                             min_sentinel_accuracy=min_sentinel_accuracy, range_alpha=range_alpha,
                             lai_original_stop=lai_original_stop, model=model)
        screened = (bt.screen_raters(log, ties=ties, sentinel_method=sentinel_method, alpha=alpha)
                    if screen_raters else None)
        if truth:
            true = parse_strengths(truth)
            kind, ref = bt.parse_scale(scale, res.settings["methods"])
            ms = res.settings["methods"]
            missing = [m for m in ms if m not in true]
            if missing:
                raise InputError(f"--truth: no strength for {', '.join(missing)}")
            tv = bt.to_scale(np.array([true[m] for m in ms]), kind, ref)
            res.table["truth"] = res.table["method"].map(dict(zip(ms, tv)))
            res.settings["truth"] = true
    except InputError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    finally:
        stack.close()
    if screened is not None:
        _attach_screening(res, screened)
    elapsed = time.perf_counter() - t0
    caption = (f"{'Thurstone Case V (JOD)' if model == 'thurstone' else 'Bradley-Terry'} scores "
               f"({res.settings['scale']}, pool {res.settings['pool']}); "
               f"{res.settings['ci']:.0%} {res.settings['ci_method']}")
    lines = summary_lines(res, elapsed)
    text = format_text(res.table, res.settings["scale"])
    if as_json:
        click.echo(serialize.dumps(res.as_dict(), newline=False))
    else:
        click.echo(text)
    if out_dir:
        try:
            written = write_outputs(res, Path(out_dir), overwrite=overwrite, caption=caption,
                                    summary=text + "\n\n" + "\n".join(lines))
        except InputError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        lines.append(f"outputs: {out_dir}/ ({', '.join(written)})")
    if not as_json:
        echo_summary("bt-score summary", lines)


# ---------------------------------------------------------------------------------------------------
# study databases, Thurstone scale default, observer screening


def _study_db_as_csv(votes, stack: contextlib.ExitStack) -> tuple:
    """Replace each `harmony study serve` SQLite database among VOTES by a canonical CSV export of it."""
    from ..study.storage import is_sqlite_file

    out = []
    for v in votes:
        if not is_sqlite_file(v):
            out.append(v)
            continue
        from ..study.export import read_study_votes

        try:
            df = read_study_votes(v)
        except InputError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bt-score-db-"))
        path = os.path.join(tmp, os.path.basename(v) + ".csv")
        df.to_csv(path, index=False)
        out.append(path)
    return tuple(out)


def _first_method(log, sentinel_method) -> str:
    """pwcmp's reference: the first condition (here: first in the vote log's sorted method list)."""
    from ..benchmark.bt import sentinel_rows

    sentinel, _correct = sentinel_rows(log, sentinel_method)
    used = np.union1d(log.df["a"].to_numpy()[~sentinel], log.df["b"].to_numpy()[~sentinel])
    return log.methods[int(used[0])]


def _attach_screening(res, screened) -> None:
    flagged = screened[screened["outlier"]]
    res.notes.append(f"rater screening (pwcmp outlier score, > 1.5): {len(flagged)} of {len(screened)} raters"
                     + (": " + ", ".join(f"{r} ({d:.2f})" for r, d in zip(flagged['rater_id'], flagged['outlier_score']))
                        if len(flagged) else ""))
    if res.raters is not None:
        sc = screened.set_index("rater_id")
        res.raters["outlier_score"] = res.raters["rater_id"].map(sc["outlier_score"])
        res.raters["outlier_log_likelihood"] = res.raters["rater_id"].map(sc["log_likelihood"])
    res.settings["screen_raters"] = {"threshold": 1.5,
                                     "outliers": flagged["rater_id"].tolist(),
                                     "scores": dict(zip(screened["rater_id"], screened["outlier_score"].round(4)))}
