"""The model card (README.md) of an exported model, generated from the run's own metadata and metrics.

    >>> write_model_card(Path("out/model"))               # reads out/model/run_metadata.json + metrics.jsonl
    PosixPath('out/model/README.md')

Every number in the card comes from `RunMetadata` or `metrics.jsonl`; nothing is typed by hand. Plots are written
to `<model>/plots/` and linked relatively, so they render on the Hub.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from model_cards.metadata import (
    LOCAL_FILE,
    LOCAL_FOLDER,
    METADATA_FILE,
    Evaluation,
    RunMetadata,
    is_hub_id,
    public_reference,
    read_metrics,
)
from model_cards.plots import eval_series, plot_dimension_curves, plot_eval_curves, plot_training_curves
from model_cards.render import card_text, render_template
from se1b.errors import UserError

PLOTS_DIR = "plots"
LOSS_TABLE_ROWS = 10  # logged steps shown in the card's loss table (first, last, largest and smallest loss included)

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
# our task -> (model-index task type, task name, {metric: model-index metric type}). Task types follow
# sentence-transformers' own cards (its evaluators' descriptions); results go into the model-index only for datasets
# with a Hub id, and the bias measurement (not a task on any dataset of the Hub) stays in the card's text.
TASKS = {
    "sts": ("sentence-similarity", "Semantic Textual Similarity",
            {"spearman": "spearman_cosine", "pearson": "pearson_cosine"}),
    "retrieval": ("information-retrieval", "Information Retrieval",
                  {"ndcg@10": "ndcg_at_10", "mrr@10": "mrr_at_10", "recall@100": "recall_at_100"}),
    "gender-bias": (None, "Gender bias (occupations)", {}),
    "translation": ("translation", "Translation retrieval",  # bitext matching, per language pair (se1b distill)
                    {"src2tgt_accuracy": "src2tgt_accuracy", "tgt2src_accuracy": "tgt2src_accuracy",
                     "accuracy": "accuracy"}),
}
# What each metric the card may show means, so the text explains exactly the metrics it shows.
METRIC_TEXT = {
    ("sts", "spearman"): "Spearman rank correlation between the cosine similarity of each pair and its gold score",
    ("sts", "pearson"): "Pearson correlation between the cosine similarity of each pair and its gold score",
    ("retrieval", "ndcg@10"): "nDCG@10 of cosine-similarity search over the corpus",
    ("retrieval", "mrr@10"): "mean reciprocal rank of the first relevant document in the top 10",
    ("retrieval", "recall@100"): "share of the relevant documents found in the top 100",
    ("translation", "src2tgt_accuracy"): "share of source sentences whose nearest target is their translation",
    ("translation", "tgt2src_accuracy"): "share of target sentences whose nearest source is their translation",
    ("translation", "accuracy"): "the mean of both directions",
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
    shown = [e for e in final if e.task != "gender-bias"]
    measured_by = sorted({e.measured_by for e in shown})
    body = render_template(
        "model_card.md.j2",
        meta=metadata,
        training=metadata.training,
        dimension=dimension,
        sources=[(source, share) for source, share in zip(metadata.data, shares, strict=True)],
        hub_ids={source.dataset for source in metadata.data if is_hub_id(source.dataset)},
        base_model_on_hub=is_hub_id(metadata.base_model),
        base_model_local=metadata.base_model in (LOCAL_FOLDER, LOCAL_FILE),
        model_ref=model_reference(metadata),
        evaluations=[e for e in shown if e.dimension is None],
        metric_notes=list(dict.fromkeys(METRIC_TEXT[(e.task, name)] for e in shown for name in e.metrics
                                        if (e.task, name) in METRIC_TEXT)),
        measured_by=measured_by,
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


def model_reference(metadata: RunMetadata) -> str:
    """What the card's usage snippets load: the repo id it is pushed to, else the model name when it is a Hub id,
    else a placeholder for the folder."""
    if metadata.repo_id:
        return metadata.repo_id
    return metadata.model_name if is_hub_id(metadata.model_name) else "path/to/this/model"


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
    }
    datasets = list(dict.fromkeys(s.dataset for s in metadata.data if is_hub_id(s.dataset)))
    if datasets:  # local data has no Hub id to claim: no key rather than an empty list
        front["datasets"] = datasets
    if is_hub_id(metadata.base_model):  # not a local folder or a random-init config name
        front["base_model"] = metadata.base_model
    front["widget"] = [WIDGETS[metadata.model_kind]]
    results = []
    for evaluation in evaluations:
        task_type, task_name, metric_types = TASKS[evaluation.task]
        metrics = [
            {"type": metric_types[name], "value": float(value), "name": name}
            for name, value in evaluation.metrics.items() if name in metric_types
        ]
        if task_type is None or not metrics or not is_hub_id(evaluation.dataset):
            continue  # the model-index files results on Hub datasets only; the card's text has the rest
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
        public = public_reference(evaluation.dataset)
        name = evaluation.dataset_name or (Path(evaluation.dataset).name if public != evaluation.dataset else None)
        evaluation = dataclasses.replace(evaluation, dataset=public, dataset_name=name)
        key = (evaluation.task, evaluation.dataset_name or evaluation.dataset, evaluation.split, evaluation.dimension)
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
                name = f"{evaluation.dataset_name or public_reference(evaluation.dataset)}/{metric}"
                points = series.setdefault(name, [])
                if (evaluation.step, evaluation.metrics[metric]) not in points:
                    points.append((evaluation.step, float(evaluation.metrics[metric])))
    return series


def _loss_rows(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Up to LOSS_TABLE_ROWS logged steps, evenly spread, always with the first, the last and the steps holding the
    largest and the smallest loss."""
    rows = [row for row in history if "loss" in row]
    if len(rows) <= LOSS_TABLE_ROWS:
        return rows
    losses = [row["loss"] for row in rows]
    extremes = {0, len(rows) - 1, losses.index(max(losses)), losses.index(min(losses))}
    spread = [round(i * (len(rows) - 1) / (LOSS_TABLE_ROWS - 1)) for i in range(LOSS_TABLE_ROWS)]
    picks = set(extremes)
    for index in spread:  # evenly spread steps fill what the extremes leave
        if len(picks) >= LOSS_TABLE_ROWS:
            break
        picks.add(index)
    return [rows[i] for i in sorted(picks)]


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


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
