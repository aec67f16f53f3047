"""Training and evaluation curves as PNG files for the model card (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches a display

EVAL_PREFIX = "eval/"  # metrics.jsonl keys "eval/<dataset>/<metric>"
LABEL_CHARS = 48  # legend labels beyond this are cut (the card's tables carry the full names)


def plot_training_curves(history: list[dict[str, float]], path: Path) -> Path | None:
    """Loss (and learning rate, where logged) against step; None when the history holds no loss."""
    rows = [row for row in history if "loss" in row]
    if not rows:
        return None
    rates = [row for row in history if _learning_rate(row) is not None]
    figure = Figure(figsize=(10 if rates else 6, 4))
    loss_axes = figure.add_subplot(1, 2 if rates else 1, 1)
    loss_axes.plot([row["step"] for row in rows], [row["loss"] for row in rows], color="tab:blue")
    loss_axes.set(xlabel="step", ylabel="training loss", title="MultipleNegativesRankingLoss")
    loss_axes.grid(alpha=0.3)
    if rates:
        rate_axes = figure.add_subplot(1, 2, 2)
        rate_axes.plot([row["step"] for row in rates], [_learning_rate(row) for row in rates], color="tab:orange")
        rate_axes.set(xlabel="step", ylabel="learning rate", title="learning-rate schedule")
        rate_axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_eval_curves(series: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    """One line per evaluation metric ("<dataset>/<metric>" -> [(step, value)]); None when there is nothing."""
    series = {name: sorted(points) for name, points in series.items() if points}
    if not series:
        return None
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot(1, 1, 1)
    for name, points in sorted(series.items()):
        axes.plot([step for step, _ in points], [value for _, value in points], marker="o", label=name)
    axes.set(xlabel="step", ylabel="score", title="evaluation during training")
    axes.grid(alpha=0.3)
    _legend_below(axes)
    return _save(figure, path)


def plot_dimension_curves(series: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    """Score against embedding dimension (Matryoshka prefixes), one line per "<dataset>/<metric>"."""
    series = {name: sorted(points) for name, points in series.items() if len(points) > 1}
    if not series:
        return None
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot(1, 1, 1)
    for name, points in sorted(series.items()):
        axes.plot([dim for dim, _ in points], [value for _, value in points], marker="o", label=name)
    axes.set(xlabel="embedding dimension (prefix)", ylabel="score", title="score vs dimension", xscale="log")
    axes.grid(alpha=0.3)
    _legend_below(axes)
    return _save(figure, path)


def eval_series(history: list[dict[str, float]]) -> dict[str, list[tuple[int, float]]]:
    """The evaluation points of a metrics.jsonl history, keyed "<dataset>/<metric>"."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in history:
        for key, value in row.items():
            if key.startswith(EVAL_PREFIX):
                series.setdefault(key[len(EVAL_PREFIX) :], []).append((int(row["step"]), float(value)))
    return series


def _learning_rate(row: dict[str, float]) -> float | None:
    return row.get("learning_rate", row.get("lr"))


def short_label(label: str) -> str:
    """A legend label of at most LABEL_CHARS characters."""
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _legend_below(axes) -> None:
    """The legend under the axes, one short label a line: it never covers the curves or the y label, and
    `_save` grows the image to hold it."""
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles, [short_label(label) for label in labels], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                fontsize="small", frameon=False)


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")  # "tight": the legend below the axes is kept whole
    return path
