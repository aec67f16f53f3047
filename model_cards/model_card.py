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

from model_cards.metadata import (
    CARD_SAMPLE_ROWS,
    LOCAL_FILE,
    LOCAL_FOLDER,
    METADATA_FILE,
    Evaluation,
    RunMetadata,
    is_hub_id,
    public_reference,
    read_metrics,
)
from model_cards.plots import (
    eval_series,
    plot_dimension_curves,
    plot_eval_curves,
    plot_training_curves,
    short_label,
)
from model_cards.render import card_text, render_template
from se1b.errors import UserError

PLOTS_DIR = "plots"
LOSS_TABLE_ROWS = 10  # logged steps shown in the card's loss table (first, last, largest and smallest loss included)
WIDGET_CHARS = 500  # the widget's texts, cut from training rows
SAMPLE_CHARS = 300  # sample rows in the card's data sections
SIMILARITY_NAMES = {"cosine": "Cosine Similarity", "dot": "Dot Product", "euclidean": "Euclidean Distance",
                    "manhattan": "Manhattan Distance"}

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
    readme.write_text(model_card_text(metadata, history, plots, _embedding_dimension(model_dir, metadata),
                                      model_details(model_dir)), encoding="utf-8")
    return readme


def model_details(model_dir: Path) -> dict[str, Any]:
    """What sentence-transformers itself reports of the exported folder: the architecture printout, max_seq_length,
    output dimension, similarity function and prompts; {} where the folder does not load (no weights yet)."""
    if not (model_dir / "modules.json").is_file():
        return {}
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # no "Loading weights" bar each time a card is written
    try:
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    except Exception:  # noqa: BLE001 - a folder that does not load has no details to show; `se1b push` refuses it
        return {}
    finally:
        if shown:
            transformers_logging.enable_progress_bar()
    return {"architecture": str(model), "max_seq_length": model.max_seq_length,
            "dimension": getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)(),
            "similarity": SIMILARITY_NAMES.get(model.similarity_fn_name or "cosine", model.similarity_fn_name),
            "prompts": dict(model.prompts or {})}


def model_card_text(
    metadata: RunMetadata, history: list[dict[str, float]], plots: dict[str, str], dimension: int | None,
    details: dict[str, Any] | None = None,
) -> str:
    """The card as text: YAML front matter + markdown body. `details`: `model_details` of the exported folder."""
    details = {"architecture": "", "max_seq_length": None, "similarity": "", "prompts": {}} | (details or {})
    example = {"sentences": [], "similarities": [], "prompts": {}} | metadata.usage_example
    final = _final_evaluations(metadata.evaluations)
    base = _base_evaluations(metadata.evaluations, final)
    series = _eval_points(history, metadata.evaluations)
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
        base_metrics=[base.get(_key(e), {}) for e in shown if e.dimension is None],
        details=details,
        example=example,
        sample_chars=SAMPLE_CHARS,
        sample_rows=CARD_SAMPLE_ROWS,
        training_arguments=training_arguments(metadata),
        loss_parameters=loss_parameters(metadata),
        log_rows=_log_rows(history, series),
        log_columns=sorted(series),
        dataset_size=dataset_size(metadata),
        metric_notes=list(dict.fromkeys(METRIC_TEXT[(e.task, name)] for e in shown for name in e.metrics
                                        if (e.task, name) in METRIC_TEXT)),
        measured_by=measured_by,
        dimension_rows=_dimension_rows(final),
        task_names={task: name for task, (_, name, _) in TASKS.items()},
        bias=bias,
        bias_rows=sorted(bias.details, key=lambda row: -row["stereotypical_share"]) if bias else [],
        loss_rows=_loss_rows(history),
        short_label=short_label,
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


def dataset_size(metadata: RunMetadata) -> int:
    """The training data's size, as sentence-transformers' `dataset_size:N` tag counts it: the rows of every source
    where each card states them, else the pairs the run saw."""
    rows = [source.rows for source in metadata.data]
    return sum(rows) if rows and all(row is not None for row in rows) else metadata.training.pairs_seen


def card_metadata(metadata: RunMetadata, evaluations: list[Evaluation]) -> dict[str, Any]:
    """The YAML front matter the Hub reads: languages, licence, library, task, tags (those sentence-transformers'
    own cards carry among them), datasets, base model, a widget from training rows and a model-index with every
    final evaluation (local data too, under its own name, as sentence-transformers files its evaluators)."""
    loss = metadata.training.loss.split()[0]
    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense",
            f"dataset_size:{dataset_size(metadata)}", f"loss:{loss}", "jax", "flax", "se1b"]
    if metadata.model_kind != "general":  # "general" says nothing on the Hub
        tags.append(metadata.model_kind)
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
    front["widget"] = [_widget(metadata)]
    results = []
    for evaluation in evaluations:
        task_type, task_name, metric_types = TASKS[evaluation.task]
        metrics = [
            {"type": metric_types[name], "value": float(value), "name": name}
            for name, value in evaluation.metrics.items() if name in metric_types
        ]
        if task_type is None or not metrics:
            continue  # the bias shares are no task on a dataset: the card's text has them
        name = evaluation.dataset_name or evaluation.dataset
        local = evaluation.dataset in (LOCAL_FOLDER, LOCAL_FILE)
        results.append({
            "task": {"type": task_type, "name": task_name},
            "dataset": {"type": _slug(name) if local else evaluation.dataset,
                        "name": name, "split": evaluation.split},
            "metrics": metrics,
        })
    if results:
        front["model-index"] = [{"name": metadata.model_name, "results": results}]
    return front


def _widget(metadata: RunMetadata) -> dict[str, Any]:
    """The Hub's sentence-similarity widget, from the training data as sentence-transformers builds it: an anchor
    and the positives of the first rows; the model kind's fixed example without rows."""
    rows = [row for source in metadata.data for row in source.samples if row.get("anchor") and row.get("positive")]
    if len(rows) < 2:
        return WIDGETS[metadata.model_kind]
    cut = [text[:WIDGET_CHARS] for text in [rows[0]["anchor"], *(r["positive"] for r in rows[:3])]]
    return {"source_sentence": cut[0], "sentences": cut[1:]}


def _slug(name: str) -> str:
    """A dataset name as a model-index dataset type for local data (sentence-transformers uses e.g. `sts-dev`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:96] or "local"


def loss_parameters(metadata: RunMetadata) -> dict[str, Any]:
    """sentence-transformers' MultipleNegativesRankingLoss arguments for the run's loss ({} for another loss): the
    symmetric form averages a softmax over the positives per anchor and one over the anchors per positive."""
    training = metadata.training
    if training.loss != "MultipleNegativesRankingLoss":
        return {}
    parameters: dict[str, Any] = {"scale": training.scale, "similarity_fct": "cos_sim"}
    if training.symmetric:
        parameters |= {"directions": ["query_to_doc", "doc_to_query"], "partition_mode": "per_direction"}
    return parameters


def training_arguments(metadata: RunMetadata) -> list[tuple[str, Any]]:
    """The run's hyperparameters under the `SentenceTransformerTrainingArguments` names a user would copy to rerun
    it with sentence-transformers' Trainer."""
    training = metadata.training
    arguments = [
        ("per_device_train_batch_size", training.batch_size // max(training.devices, 1)),
        ("max_steps", training.steps),
        ("learning_rate", training.learning_rate),
        ("warmup_steps", training.warmup_steps),
        ("lr_scheduler_type", "constant_with_warmup" if training.schedule == "constant" and training.warmup_steps
         else training.schedule),  # se1b's schedules all warm up linearly, as transformers' do
        ("weight_decay", training.weight_decay),
        ("max_grad_norm", training.grad_clip if training.grad_clip is not None else 0),
        ("seed", training.seed),
        ("bf16", training.precision == "bfloat16"),
        ("batch_sampler", "no_duplicates"),  # no text twice in a batch, as se1b's pipeline guarantees
    ]
    if metadata.usage_example.get("prompts"):
        arguments.append(("prompts", {"anchor": metadata.usage_example["prompts"]["query"],
                                      "positive": metadata.usage_example["prompts"]["document"]}))
    return arguments


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
        key = _key(evaluation)
        rank = float("inf") if evaluation.step is None else evaluation.step
        current = latest.get(key)
        if current is None or rank >= (float("inf") if current.step is None else current.step):
            latest[key] = evaluation
    return list(latest.values())


def _key(evaluation: Evaluation) -> tuple:
    return (evaluation.task, evaluation.dataset_name or evaluation.dataset, evaluation.split, evaluation.dimension)


def _base_evaluations(evaluations: list[Evaluation], final: list[Evaluation]) -> dict[tuple, dict[str, float]]:
    """The base model's numbers (the step-0 evaluation) of each final evaluation that has one, by `_key`."""
    finals = {_key(e): e for e in final}
    base = {}
    for evaluation in _final_evaluations([e for e in evaluations if e.step == 0]):
        if finals.get(_key(evaluation)) is not None and finals[_key(evaluation)].step != 0:
            base[_key(evaluation)] = evaluation.metrics
    return base


def _log_rows(history: list[dict[str, float]], series: dict[str, list]) -> list[dict[str, Any]]:
    """The card's training logs, as sentence-transformers writes them: the loss table's steps and every step with
    an evaluation, each with its loss, learning rate and evaluation values."""
    rows: dict[int, dict[str, Any]] = {int(row["step"]): {"step": int(row["step"]), "loss": row["loss"],
                                                          "learning_rate": row.get("learning_rate", row.get("lr")),
                                                          "evals": {}} for row in _loss_rows(history)}
    for name, points in series.items():
        for step, value in points:
            rows.setdefault(step, {"step": step, "loss": None, "learning_rate": None, "evals": {}})
            rows[step]["evals"][name] = value
    return [rows[step] for step in sorted(rows)]


def _series_name(evaluation: Evaluation, metric: str) -> str:
    """A curve's name: the dataset's short name (its id, or the file name of local data) and the metric."""
    public = public_reference(evaluation.dataset)
    name = public if public not in (LOCAL_FOLDER, LOCAL_FILE) else evaluation.dataset_name or public
    return f"{name}/{metric}"


def _dimension_points(evaluations: list[Evaluation]) -> dict[str, list[tuple[int, float]]]:
    """Per "<dataset>/<metric>", (dimension, value) of the final model's evaluations at each embedding prefix."""
    series: dict[str, list[tuple[int, float]]] = {}
    for evaluation in _final_evaluations(evaluations):
        if evaluation.dimension is None or evaluation.task == "gender-bias":
            continue
        for metric in TASKS[evaluation.task][2]:
            if metric in evaluation.metrics:
                series.setdefault(_series_name(evaluation, metric), []).append(
                    (evaluation.dimension, float(evaluation.metrics[metric])))
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
    """Evaluation curves: the metrics.jsonl eval lines, and the metadata evaluations that carry a step (e.g. the
    base model at step 0 and the trained one, measured by `se1b eval`); the trainer's own records are skipped where
    metrics.jsonl has curves, since it logs them there too (plotting both would draw them twice)."""
    series = eval_series(history)
    logged = bool(series)
    for evaluation in evaluations:
        if evaluation.step is None or evaluation.task == "gender-bias" or \
                (logged and evaluation.measured_by == "the training loop"):
            continue
        for metric in TASKS[evaluation.task][2]:
            if metric in evaluation.metrics:
                points = series.setdefault(_series_name(evaluation, metric), [])
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
