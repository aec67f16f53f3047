"""Matplotlib figures for the Space's tabs, drawn on `Figure` objects (no pyplot state shared between requests)."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]


def _short(text: str, width: int = 40) -> str:
    return textwrap.shorten(text, width=width, placeholder="...")


def grouped_bars(labels: list[str], values_by_series: dict[str, np.ndarray], xlabel: str, title: str) -> Figure:
    """Horizontal bars, one group per label and one colour per series (a model), first label at the top."""
    figure = Figure(figsize=(8, 1.2 + 0.45 * len(labels) * max(1, len(values_by_series))), layout="constrained")
    axes = figure.add_subplot()
    height = 0.8 / max(1, len(values_by_series))
    positions = np.arange(len(labels))
    for index, (series, values) in enumerate(values_by_series.items()):
        axes.barh(positions + index * height, values, height=height, label=series, color=COLORS[index % len(COLORS)])
    axes.set_yticks(positions + height * (len(values_by_series) - 1) / 2, [_short(label) for label in labels])
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def share_bars(labels: list[str], values_by_series: dict[str, np.ndarray], title: str) -> Figure:
    """Per-category shares (0..1) as grouped bars with the 50% parity line marked."""
    figure = grouped_bars(labels, values_by_series, xlabel="share of stereotypical choices", title=title)
    axes = figure.axes[0]
    axes.axvline(0.5, color="black", linewidth=1, linestyle="--")
    axes.set_xlim(0, 1)
    return figure


def cluster_scatter(points: np.ndarray, assignments: np.ndarray, cluster_names: list[str], title: str) -> Figure:
    """A 2-D scatter of the corpus, coloured by cluster, each cluster named in the legend."""
    figure = Figure(figsize=(8, 6), layout="constrained")
    axes = figure.add_subplot()
    for cluster, name in enumerate(cluster_names):
        members = assignments == cluster
        axes.scatter(points[members, 0], points[members, 1], s=24, color=COLORS[cluster % len(COLORS)], label=name)
    axes.set_xlabel("first principal component")
    axes.set_ylabel("second principal component")
    axes.set_title(title)
    axes.legend(fontsize="small", loc="best")
    return figure
