"""The Space's charts: Gradio's native plots (Vega-Lite, drawn in the visitor's browser) and the tables they plot.

The server only builds a small pandas DataFrame per chart; no image is rendered on it, so a chart costs no more
server time than a table and never holds the GIL for long (matplotlib rendering did: one chart at a time for
the whole server under load). Each plot is a scatter of points, so a zero value is still visible, and its legend
sits beside the plot, not over the points; hovering a point shows its values.
"""

from __future__ import annotations

import textwrap

import gradio as gr
import numpy as np
import pandas as pd

SIMILARITY = "cosine similarity"
SHARE = "stereotypical share (%)"
PERCENT_WOMEN = "percent women"
PCA_LIMIT = 1.08  # the cluster plot's axis range: the scaled coordinates (within [-1, 1]) plus a margin


def _short(text: str, width: int = 48) -> str:
    return textwrap.shorten(text, width=width, placeholder="...")


def percent_of(share: float) -> float:
    """A share in [0, 1] as the model card prints it: percent, one decimal (0.7212 -> 72.1)."""
    return round(float(share) * 100, 1)


def legend_names(labels: list[str]) -> dict[str, str]:
    """label -> the name a chart's legend shows: the part after the Hub owner when those are distinct (the plot
    cuts legend entries at ~160 px, which would leave `owner/name` and `owner/name (2)` indistinguishable)."""
    short = {label: label.rsplit("/", 1)[-1] for label in labels}
    return short if len(set(short.values())) == len(short) else {label: label for label in labels}


def similarity_plot() -> gr.ScatterPlot:
    """One row per text, one coloured dot per model: a dot plot of the similarity to the source."""
    return gr.ScatterPlot(
        x=SIMILARITY, y="text", color="model", x_lim=[-0.2, 1.0], tooltip="all", title="Similarity to the source",
        label="similarity plot", show_label=False, height=320, elem_id="similarity-plot",
    )  # fmt: skip


def similarity_data(texts: list[str], scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The dot plot's points. Texts are numbered so the plot's (alphabetical) row order is the input order."""
    width = len(str(len(texts)))
    names = [f"{number:0{width}d}. {_short(text)}" for number, text in enumerate(texts, start=1)]
    legend = legend_names(list(scores))
    return pd.DataFrame(
        [
            {"text": name, SIMILARITY: round(float(value), 4), "model": legend[model]}
            for model, values in scores.items()
            for name, value in zip(names, values, strict=True)
        ],
        columns=["text", SIMILARITY, "model"],
    )


def cluster_plot() -> gr.ScatterPlot:
    """The corpus in two PCA dimensions, coloured by cluster number (the table beside names each cluster; a legend
    of keywords would be cut off); hovering a point shows its cluster's keywords and its text."""
    return gr.ScatterPlot(
        x="PC1", y="PC2", color="cluster", tooltip=["keywords", "text"], title="2-D projection (PCA) by cluster",
        x_lim=[-PCA_LIMIT, PCA_LIMIT], y_lim=[-PCA_LIMIT, PCA_LIMIT], label="cluster plot", show_label=False,
        height=460, elem_id="cluster-plot",
    )  # fmt: skip


def cluster_data(points: np.ndarray, assignments: np.ndarray, keywords: list[str], texts: list[str]) -> pd.DataFrame:
    """One row per text, in cluster order: its PCA coordinates (scaled so the largest is 1: PCA's scale has no unit,
    and fixed axis ranges with a margin keep every point whole; on a range ending at the data's extreme Vega clips
    half of that point), its cluster (zero-padded), and the cluster's keywords and the text (shortened) for the
    tooltip."""
    points = points / max(float(np.abs(points).max()), 1e-12)
    width = len(str(len(keywords) - 1))
    return pd.DataFrame(
        {
            "PC1": np.round(points[:, 0], 4),
            "PC2": np.round(points[:, 1], 4),
            "cluster": [f"{cluster:0{width}d}" for cluster in assignments],
            "keywords": [keywords[cluster] for cluster in assignments],
            "text": [_short(text, 80) for text in texts],
        }
    ).sort_values("cluster", kind="stable")  # the legend lists clusters in the order the rows name them


def bias_plot() -> gr.ScatterPlot:
    """Each occupation's stereotypical share against its share of women, one colour per model."""
    return gr.ScatterPlot(
        x=PERCENT_WOMEN, y=SHARE, color="model", x_lim=[-2, 102], y_lim=[-4, 104], tooltip=["occupation"],
        title="Stereotype closer, per occupation (50% = none)", label="bias plot", show_label=False, height=420,
        elem_id="bias-plot",
    )  # fmt: skip


def bias_data(occupations: list[str], percent_women: list[float], shares: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (occupation, model); shares in percent, as the model card gives them."""
    legend = legend_names(list(shares))
    return pd.DataFrame(
        [
            {"occupation": occupation, PERCENT_WOMEN: percent, SHARE: percent_of(share), "model": legend[model]}
            for model, values in shares.items()
            for occupation, percent, share in zip(occupations, percent_women, values, strict=True)
        ],
        columns=["occupation", PERCENT_WOMEN, SHARE, "model"],
    )
