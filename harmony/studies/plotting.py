"""The one plot helper of the studies: a declarative figure spec and :func:`draw`.

A study's ``plot`` step returns a :class:`Figure` (panels of :class:`Mark` calls and axis settings);
:func:`harmony.studies.write_outputs` draws it into ``plot.png`` with :func:`draw`. The spec names
matplotlib ``Axes`` methods and their arguments, so a study says *what* to draw and this module
alone says *how* (backend, figure creation, the order axis settings are applied, layout, dpi, closing).
Like :mod:`harmony.benchmark.plots` it uses the non-interactive Agg backend and writes nothing but the
file asked for.

Examples
--------
>>> figure = Figure(size=(4, 3), panels=[Panel(
...     marks=[Mark("plot", ([256, 512, 1024], [36.0, 35.5, 35.1]), {"marker": "o", "label": "reinhard"})],
...     xlabel="evaluation size", ylabel="PSNR (dB)", legend={"fontsize": 6}, title="resolution")])
>>> draw(figure, "plot.png")                                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Mark:
    """One drawing call on a panel: ``getattr(ax, kind)(*args, **options)``.

    Parameters
    ----------
    kind : str
        A matplotlib ``Axes`` drawing method: ``"plot"``, ``"bar"``, ``"barh"``, ``"scatter"``,
        ``"axhline"`` or ``"axvline"``.
    args : tuple
        Its positional arguments (x and y values, bar positions and heights, a line's position).
    options : Mapping[str, Any], optional
        Its keyword arguments (``label``, ``marker``, ``color``, ``ls``, ...).
    """

    kind: str
    args: tuple = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Panel:
    """One axes of a figure: its marks, then its axis settings.

    Parameters
    ----------
    marks : Sequence[Mark]
        Drawn in order.
    xscale, yscale : Mapping[str, Any] or None, optional
        ``Axes.set_xscale`` / ``set_yscale`` keyword arguments (``{"value": "log", "base": 2}``).
    xticks, yticks : Sequence or None, optional
        Tick positions.
    xticklabels, yticklabels : Sequence[str] or None, optional
        Tick labels, with ``xticklabel_options`` / ``yticklabel_options`` (``rotation``, ``fontsize``).
    invert_y : bool, optional
        Draw the y axis top-down (horizontal bar charts list rows from the top).
    xlabel, ylabel : str or None, optional
        Axis labels.
    ylim : tuple of float or None, optional
        y-axis limits.
    legend : Mapping[str, Any] or None, optional
        ``Axes.legend`` keyword arguments; None: no legend.
    title : str or None, optional
        Panel title (font size 9).
    """

    marks: Sequence[Mark]
    xscale: Mapping[str, Any] | None = None
    yscale: Mapping[str, Any] | None = None
    xticks: Sequence[Any] | None = None
    xticklabels: Sequence[str] | None = None
    xticklabel_options: Mapping[str, Any] = field(default_factory=dict)
    yticks: Sequence[Any] | None = None
    yticklabels: Sequence[str] | None = None
    yticklabel_options: Mapping[str, Any] = field(default_factory=dict)
    invert_y: bool = False
    xlabel: str | None = None
    ylabel: str | None = None
    ylim: tuple[float, float] | None = None
    legend: Mapping[str, Any] | None = None
    title: str | None = None


@dataclass(frozen=True)
class Figure:
    """A whole plot: panels side by side.

    Parameters
    ----------
    size : tuple of float
        Figure size in inches (width, height).
    panels : Sequence[Panel]
        One or more panels, left to right.
    suptitle : str or None, optional
        A title over all panels (font size 9).
    dpi : int, optional
        Resolution of the PNG (120).
    """

    size: tuple[float, float]
    panels: Sequence[Panel]
    suptitle: str | None = None
    dpi: int = 120


def _apply(ax, panel: Panel) -> None:
    """Draw one panel's marks, then apply its settings (scales before ticks: a scale resets them)."""
    for mark in panel.marks:
        getattr(ax, mark.kind)(*mark.args, **dict(mark.options))
    if panel.xscale is not None:
        ax.set_xscale(**dict(panel.xscale))
    if panel.yscale is not None:
        ax.set_yscale(**dict(panel.yscale))
    if panel.xticks is not None:
        ax.set_xticks(panel.xticks)
    if panel.xticklabels is not None:
        ax.set_xticklabels(panel.xticklabels, **dict(panel.xticklabel_options))
    if panel.yticks is not None:
        ax.set_yticks(panel.yticks)
    if panel.yticklabels is not None:
        ax.set_yticklabels(panel.yticklabels, **dict(panel.yticklabel_options))
    if panel.invert_y:
        ax.invert_yaxis()
    if panel.xlabel is not None:
        ax.set_xlabel(panel.xlabel)
    if panel.ylabel is not None:
        ax.set_ylabel(panel.ylabel)
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    if panel.legend is not None:
        ax.legend(**dict(panel.legend))
    if panel.title is not None:
        ax.set_title(panel.title, fontsize=9)


def draw(figure: Figure, path: str | Path) -> Path:
    """Draw a :class:`Figure` into a PNG file.

    Parameters
    ----------
    figure : Figure
        The spec.
    path : str or pathlib.Path
        The PNG to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(figure.panels), figsize=figure.size, squeeze=False)
    for ax, panel in zip(axes[0], figure.panels):
        _apply(ax, panel)
    if figure.suptitle is not None:
        fig.suptitle(figure.suptitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=figure.dpi)
    plt.close(fig)
    return Path(path)
