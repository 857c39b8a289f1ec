"""harmony.benchmark.plots: distinct styles for 13+ methods, intervals on every bar, the composite as a
reference line, legends outside the axes, column-width PDF + PNG; the training loss plot's legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmony.benchmark import plots as P
from harmony.benchmark import significance as S

METHODS = ["cut-and-paste", "bargainnet", "charmnet", "dih", "fecker", "idt", "mkl", "poisson", "rcl", "reinhard",
           "sprih", "xiao", "xue2012", "plugin-a"]


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        fg = float(rng.uniform(0.005, 0.6))
        base = rng.lognormal(6, 0.5)
        for k, m in enumerate(METHODS):
            fmse = base * (1.0 if m == "cut-and-paste" else 0.5 + 0.04 * k) * rng.lognormal(0, 0.1)
            rows.append({"subset": ["HCOCO", "HFlickr"][i % 2], "name": f"{i}.jpg", "method": m, "fg_ratio": fg,
                         "fmse": fmse, "psnr": 45 - 3 * np.log(fmse)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def summary(records):
    return S.analyse(records, ["fmse", "psnr"], n_boot=300, rng=0).summary


def test_styles_distinct_for_14_methods():
    st = P.method_styles(METHODS)
    triples = [(s["color"], s["hatch"]) for m, s in st.items() if m != P.BASELINE]
    assert len(set(triples)) == len(triples) == 13
    assert len({s["marker"] for m, s in st.items() if m != P.BASELINE}) == 13
    assert st[P.BASELINE]["color"] == P.BASELINE_COLOUR
    # neighbours never look alike: a different colour or a different hatch
    names = [m for m in METHODS if m != P.BASELINE]
    for a, b in zip(names, names[1:]):
        assert (st[a]["color"], st[a]["hatch"]) != (st[b]["color"], st[b]["hatch"])
        assert st[a]["hatch"] != st[b]["hatch"]


def _inside(fig, artist_bbox, ax):
    return artist_bbox.overlaps(ax.get_window_extent())


def test_bar_chart(summary, tmp_path):
    fig = P.bar_chart(summary, "fmse")
    ax = fig.axes[0]
    assert fig.get_size_inches()[0] == pytest.approx(P.COLUMN_WIDTH)
    bars = [p for c in ax.containers if c.__class__.__name__ == "BarContainer" for p in c.patches]
    assert len(bars) == 13                             # every method but the composite
    assert len({(p.get_facecolor(), p.get_hatch()) for p in bars}) == 13
    # an error bar per bar, ending at the bootstrap interval
    errs = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(errs) == 13
    s = summary[(summary.group == "All") & (summary.metric == "fmse")].set_index("method")
    ends = sorted(float(x) for c in errs for seg in c.lines[2][0].get_segments() for x in (seg[0][0], seg[1][0]))
    want = sorted(float(x) for m in s.index if m != P.BASELINE for x in (s.loc[m, "ci_low"], s.loc[m, "ci_high"]))
    np.testing.assert_allclose(ends, want, rtol=1e-9)
    # the composite: a dashed vertical line at its mean
    lines = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(lines) == 1 and lines[0].get_xdata()[0] == pytest.approx(s.loc[P.BASELINE, "mean"])
    assert ax.get_legend() is None                     # methods are labelled on the axis
    paths = P.save_figure(fig, tmp_path / "fmse")
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    assert paths[0].read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    w, h = Image.open(paths[1]).size
    assert 0.8 * 3.3 * 300 < w < 1.05 * 3.3 * 300     # 3.3 in at 300 dpi (tight bbox)


def test_grouped_chart_legend_outside(summary):
    fig = P.grouped_bar_chart(summary, "psnr")
    fig.canvas.draw()
    ax = fig.axes[0]
    leg = ax.get_legend()
    assert leg is not None
    assert not leg.get_window_extent().overlaps(ax.get_window_extent())
    labels = [t.get_text() for t in leg.get_texts()]
    assert "cut-and-paste" in labels and len(labels) == 14
    errs = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(errs) == 13


def test_fg_ratio_bins_against_numpy(records):
    b = P.fg_ratio_bins(records, "fmse")
    r = records[(records.method == "dih") & (records.fg_ratio >= 0.05) & (records.fg_ratio < 0.10)]["fmse"]
    row = b[(b.method == "dih") & (b.lo == 0.05)].iloc[0]
    assert row["n"] == len(r)
    np.testing.assert_allclose([row["q25"], row["median"], row["q75"]], np.percentile(r, [25, 50, 75]))
    # the last bin is closed: fg_ratio 1.0 falls in it
    one = pd.DataFrame({"method": ["x"] * 3, "fg_ratio": [1.0, 0.5, 0.45], "fmse": [1.0, 2.0, 3.0]})
    assert P.fg_ratio_bins(one, "fmse")["n"].tolist() == [3]


def test_fg_ratio_chart_small_multiples(records):
    fig = P.fg_ratio_chart(records)
    fig.canvas.draw()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 13                          # one panel per method (the composite is the reference)
    for ax in visible:
        assert len(ax.collections) == 1                # the IQR band
        assert any(ln.get_linestyle() == "--" for ln in ax.lines)  # cut-and-paste median
    leg = fig.legends[0]
    assert not any(leg.get_window_extent().overlaps(ax.get_window_extent()) for ax in visible)


def test_training_loss_plot_legend_outside(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from harmony import io as hio
    from harmony.models import train as T

    captured = {}
    real_png = hio.figure_png

    def keep(fig, **kw):
        fig.canvas.draw()
        captured["fig"] = fig
        leg = fig.axes[0].get_legend()
        captured["legend"] = leg.get_window_extent() if leg else None
        captured["axes"] = [ax.get_window_extent() for ax in fig.axes]
        captured["labels"] = [t.get_text() for t in leg.get_texts()] if leg else []
        return real_png(fig, **kw)

    monkeypatch.setattr(hio, "figure_png", keep)
    rows = [{"step": s, "total": 1.0 / (s + 1), "val_fmse": (500.0 - s if s % 10 == 0 else None),
             "cut_paste_fmse": 700.0} for s in range(0, 100)]
    T._plot(tmp_path / "loss.png", rows, "dih_tiny")
    assert (tmp_path / "loss.png").is_file()
    assert captured["labels"] == ["training loss", "test fMSE", "cut-and-paste fMSE"]
    assert not any(captured["legend"].overlaps(a) for a in captured["axes"])
    plt.close("all")
