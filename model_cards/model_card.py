"""The model card (README.md) of an exported model, generated from the run's own metadata and metrics.

    >>> write_model_card(Path("out/model"))               # reads out/model/run_metadata.json + metrics.jsonl
    PosixPath('out/model/README.md')

Every number in the card comes from `RunMetadata` or `metrics.jsonl`; nothing is typed by hand. Plots are written
to `<model>/plots/` and linked relatively, so they render on the Hub.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from model_cards.metadata import METADATA_FILE, Evaluation, RunMetadata, read_metrics
from model_cards.plots import eval_series, plot_dimension_curves, plot_eval_curves, plot_training_curves
from model_cards.render import card_text, render_template
from se1b.errors import UserError

PLOTS_DIR = "plots"
LOSS_TABLE_ROWS = 10  # logged steps shown in the card's loss table (first and last included)
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

WIDGETS = {
    "general": {
        "source_sentence": "A man is playing a guitar on stage.",
        "sentences": ["A musician performs a song.", "A woman is slicing an onion.",
                      "Someone is playing an instrument."],
    },
    "qa": {
        "source_sentence": "How do I keep bread from going stale?",
        "sentences": ["Store bread in a paper bag at room temperature.", "The bakery opens at seven.",
                      "Freezing sliced bread keeps it fresh for weeks."],
    },
    "conversational": {
        "source_sentence": "Could you book a table for two tonight?",
        "sentences": ["Sure, what time would you like the reservation?", "The museum is closed on Mondays.",
                      "I have reserved a table for two at eight."],
    },
    "multilingual": {
        "source_sentence": "The weather is lovely today.",
        "sentences": ["Il fait très beau aujourd'hui.", "Das Wetter ist heute schön.", "The train was late."],
    },
}
TASKS = {  # our task -> (model-index task type, task name, {metric: model-index metric type})
    "sts": ("sentence-similarity", "Semantic Textual Similarity",
            {"spearman": "spearman_cosine", "pearson": "pearson_cosine"}),
    "retrieval": ("sentence-similarity", "Retrieval",
                  {"ndcg@10": "ndcg_at_10", "mrr@10": "mrr_at_10", "recall@100": "recall_at_100"}),
    "gender-bias": ("sentence-similarity", "Gender bias (occupations)",
                    {"stereotypical_share": "stereotypical_share", "male_share": "male_share",
                     "mean_gap": "mean_gap"}),
    "translation": ("translation", "Translation retrieval",  # bitext matching, per language pair (se1b distill)
                    {"src2tgt_accuracy": "src2tgt_accuracy", "tgt2src_accuracy": "tgt2src_accuracy",
                     "accuracy": "accuracy"}),
}
CITATIONS = {
    "Sentence-BERT": """@inproceedings{reimers-2019-sentence-bert,
  title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
  author = "Reimers, Nils and Gurevych, Iryna",
  booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
  year = "2019",
  publisher = "Association for Computational Linguistics",
  url = "https://arxiv.org/abs/1908.10084"
}""",
    "MultipleNegativesRankingLoss": """@misc{henderson2017efficient,
  title = {Efficient Natural Language Response Suggestion for Smart Reply},
  author = {Matthew Henderson and Rami Al-Rfou and Brian Strope and Yun-hsuan Sung and Laszlo Lukacs and
            Ruiqi Guo and Sanjiv Kumar and Balint Miklos and Ray Kurzweil},
  year = {2017},
  eprint = {1705.00652},
  archivePrefix = {arXiv}
}""",
    "GradCache": """@inproceedings{gao2021scaling,
  title = {Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
  author = {Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
  booktitle = {Proceedings of the 6th Workshop on Representation Learning for NLP},
  year = {2021}
}""",
}


def write_model_card(model_dir: Path, metadata: RunMetadata | None = None) -> Path:
    """Write `<model_dir>/README.md` (and its plots) from `metadata`, or from `<model_dir>/run_metadata.json`
    and the metrics file it names when `metadata` is None. Returns the README path."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model folder")
    metadata = RunMetadata.load(model_dir / METADATA_FILE) if metadata is None else metadata
    history = metadata.history
    if not history and metadata.metrics_file and (model_dir / metadata.metrics_file).is_file():
        history = read_metrics(model_dir / metadata.metrics_file)
    plots = {}
    loss_plot = plot_training_curves(history, model_dir / PLOTS_DIR / "training_loss.png")
    if loss_plot is not None:
        plots["Training loss and learning rate"] = loss_plot.relative_to(model_dir).as_posix()
    eval_plot = plot_eval_curves(_eval_points(history, metadata.evaluations), model_dir / PLOTS_DIR / "evaluation.png")
    if eval_plot is not None:
        plots["Evaluation during training"] = eval_plot.relative_to(model_dir).as_posix()
    dims_plot = plot_dimension_curves(_dimension_points(metadata.evaluations),
                                      model_dir / PLOTS_DIR / "dimensions.png")
    if dims_plot is not None:
        plots["Score vs embedding dimension (Matryoshka prefixes)"] = dims_plot.relative_to(model_dir).as_posix()
    readme = model_dir / "README.md"
    readme.write_text(model_card_text(metadata, history, plots, _embedding_dimension(model_dir, metadata)),
                      encoding="utf-8")
    return readme


def model_card_text(
    metadata: RunMetadata, history: list[dict[str, float]], plots: dict[str, str], dimension: int | None
) -> str:
    """The card as text: YAML front matter + markdown body."""
    final = _final_evaluations(metadata.evaluations)
    bias = next((e for e in final if e.task == "gender-bias"), None)
    shares = metadata.shares()
    body = render_template(
        "model_card.md.j2",
        meta=metadata,
        training=metadata.training,
        dimension=dimension,
        sources=[(source, share) for source, share in zip(metadata.data, shares, strict=True)],
        hub_ids={source.dataset for source in metadata.data if _is_hub_id(source.dataset)},
        base_model_on_hub=_is_hub_id(metadata.base_model),
        evaluations=[e for e in final if e.task != "gender-bias" and e.dimension is None],
        dimension_rows=_dimension_rows(final),
        task_names={task: name for task, (_, name, _) in TASKS.items()},
        bias=bias,
        bias_rows=sorted(bias.details, key=lambda row: -row["stereotypical_share"]) if bias else [],
        loss_rows=_loss_rows(history),
        plots=plots,
        wall_time=_duration(metadata.training.wall_time_seconds),
        pairs_per_second=(metadata.training.pairs_seen / metadata.training.wall_time_seconds
                          if metadata.training.wall_time_seconds else None),
        citations=CITATIONS if metadata.training.gradcache_chunk else
        {k: v for k, v in CITATIONS.items() if k != "GradCache"},
    )
    return card_text(card_metadata(metadata, [e for e in final if e.dimension is None]), body)


def card_metadata(metadata: RunMetadata, evaluations: list[Evaluation]) -> dict[str, Any]:
    """The YAML front matter the Hub reads: languages, licence, library, task, tags, datasets, base model,
    widget and a model-index with every final evaluation."""
    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "jax", "flax", "se1b",
            metadata.model_kind]
    front: dict[str, Any] = {
        "language": metadata.languages,
        "license": metadata.license,
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "tags": list(dict.fromkeys(tags)),
        "datasets": list(dict.fromkeys(s.dataset for s in metadata.data if _is_hub_id(s.dataset))),
    }
    if _is_hub_id(metadata.base_model):  # not a local folder or a random-init config name
        front["base_model"] = metadata.base_model
    front["widget"] = [WIDGETS[metadata.model_kind]]
    results = []
    for evaluation in evaluations:
        task_type, task_name, metric_types = TASKS[evaluation.task]
        metrics = [
            {"type": metric_types[name], "value": float(value), "name": name}
            for name, value in evaluation.metrics.items() if name in metric_types
        ]
        results.append({
            "task": {"type": task_type, "name": task_name},
            "dataset": {"type": evaluation.dataset, "name": evaluation.dataset_name or evaluation.dataset,
                        "split": evaluation.split},
            "metrics": metrics,
        })
    if results:
        front["model-index"] = [{"name": metadata.model_name, "results": results}]
    return front


def _final_evaluations(evaluations: list[Evaluation]) -> list[Evaluation]:
    """Per (task, dataset, split, dimension) the latest evaluation: step None (the final model) counts as the
    latest."""
    latest: dict[tuple, Evaluation] = {}
    for evaluation in evaluations:
        if evaluation.task not in TASKS:
            raise UserError(f"evaluation task {evaluation.task!r} is not one of {', '.join(TASKS)}")
        evaluation = dataclasses.replace(evaluation, dataset=_dataset_label(evaluation.dataset))
        key = (evaluation.task, evaluation.dataset, evaluation.split, evaluation.dimension)
        rank = float("inf") if evaluation.step is None else evaluation.step
        current = latest.get(key)
        if current is None or rank >= (float("inf") if current.step is None else current.step):
            latest[key] = evaluation
    return list(latest.values())


def _dimension_points(evaluations: list[Evaluation]) -> dict[str, list[tuple[int, float]]]:
    """Per "<dataset>/<metric>", (dimension, value) of the final model's evaluations at each embedding prefix."""
    series: dict[str, list[tuple[int, float]]] = {}
    for evaluation in _final_evaluations(evaluations):
        if evaluation.dimension is None or evaluation.task == "gender-bias":
            continue
        for metric in TASKS[evaluation.task][2]:
            if metric in evaluation.metrics:
                name = f"{evaluation.dataset_name or evaluation.dataset}/{metric}"
                series.setdefault(name, []).append((evaluation.dimension, float(evaluation.metrics[metric])))
    return series


def _dimension_rows(final: list[Evaluation]) -> list[dict[str, Any]]:
    """The card's Matryoshka table: one row per (task, dataset, split, metric), one value per dimension."""
    rows: dict[tuple, dict[str, Any]] = {}
    for evaluation in final:
        if evaluation.dimension is None or evaluation.task == "gender-bias":
            continue
        for metric in TASKS[evaluation.task][2]:
            if metric in evaluation.metrics:
                key = (evaluation.task, evaluation.dataset_name or evaluation.dataset, evaluation.split, metric)
                row = rows.setdefault(key, {"task": evaluation.task, "dataset": key[1], "split": key[2],
                                            "metric": metric, "values": {}})
                row["values"][evaluation.dimension] = float(evaluation.metrics[metric])
    return list(rows.values())


def _eval_points(history: list[dict[str, float]], evaluations: list[Evaluation]) -> dict[str, list]:
    """Evaluation curves: the metrics.jsonl eval lines, or else the metadata evaluations that carry a step (the
    trainer records its last eval point in both; plotting both would draw it twice)."""
    series = eval_series(history)
    for evaluation in evaluations if not series else []:
        if evaluation.step is None or evaluation.task == "gender-bias":
            continue
        for metric in TASKS[evaluation.task][2]:
            if metric in evaluation.metrics:
                name = f"{evaluation.dataset_name or _dataset_label(evaluation.dataset)}/{metric}"
                points = series.setdefault(name, [])
                if (evaluation.step, evaluation.metrics[metric]) not in points:
                    points.append((evaluation.step, float(evaluation.metrics[metric])))
    return series


def _loss_rows(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Up to LOSS_TABLE_ROWS logged steps, evenly spread, always with the first and the last."""
    rows = [row for row in history if "loss" in row]
    if len(rows) <= LOSS_TABLE_ROWS:
        return rows
    picks = sorted({round(i * (len(rows) - 1) / (LOSS_TABLE_ROWS - 1)) for i in range(LOSS_TABLE_ROWS)})
    return [rows[i] for i in picks]


def _embedding_dimension(model_dir: Path, metadata: RunMetadata) -> int | None:
    if metadata.embedding_dimension:
        return metadata.embedding_dimension
    for name, key in (("1_Pooling/config.json", "word_embedding_dimension"),
                      ("1_Pooling/config.json", "embedding_dimension"), ("config.json", "hidden_size")):
        path = model_dir / name
        if path.is_file():
            value = json.loads(path.read_text()).get(key)
            if value:
                return int(value)
    return None


def _dataset_label(dataset: str) -> str:
    """A Hub id as is; a local file or folder by its last two path parts, without this machine's directories."""
    return "/".join(Path(dataset).parts[-2:]) if Path(dataset).exists() else dataset


def _is_hub_id(dataset: str) -> bool:
    return bool(HUB_ID.match(dataset)) and not Path(dataset).exists()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
