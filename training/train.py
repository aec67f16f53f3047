"""`se1b train CONFIG`: the canonical training loop, MultipleNegativesRankingLoss with in-batch negatives.

One jitted step: embed anchors/positives(/negatives) -> MNRL over the GLOBAL batch -> AdamW. Data parallel over
every device of every host with `jax.sharding`: parameters replicated, the batch sharded on the 'data' axis of a
one-axis mesh; the loss's matrix products see all rows, so the negatives come from the global batch and XLA inserts
the all-gather. Multi-host: start one process per host with --coordinator/--num-processes/--process-id (or the
SE1B_COORDINATOR / SE1B_NUM_PROCESSES / SE1B_PROCESS_ID environment variables); each process feeds its slice of
the global batch.

    se1b train run.yaml                                   # see training/config.py for the config file
    se1b train run.yaml --set steps=2000 --set precision=bf16 --resume

Writes into output_dir: checkpoints/ (orbax, last K), best/ (best STS checkpoint), metrics.jsonl, tensorboard/,
config.json, and at the end model/ (a sentence-transformers folder with run_metadata.json and README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from training.checkpoint import Checkpointer
from training.config import TrainConfig, load_config, save_config
from training.errors import UserError
from training.gradcache import gradcache_value_and_grad, plain_value_and_grad
from training.loss import mnrl_loss
from training.sentence_model import SentenceModel, load_sentence_model

COLUMNS = ("anchor", "positive", "negative")


# ---------------------------------------------------------------------------------------------------------------
# Set-up: distributed runtime, model, optimizer.


def init_distributed(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Join a multi-process run (no-op for a single process). On CPU the collectives go through gloo."""
    if not coordinator:
        return
    if num_processes is None or process_id is None:
        raise UserError("--coordinator needs --num-processes and --process-id")
    # Before any backend call; it only concerns CPU devices, so it is harmless on accelerators.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def load_base_model(config: TrainConfig) -> SentenceModel:
    """The starting model: a folder, or `tiny-<family>` (a tiny random model written into output_dir)."""
    dtype = jnp.bfloat16 if config.precision == "bf16" else jnp.float32
    path = Path(config.model)
    if config.model.startswith("tiny-") and not path.exists():
        from training.tiny import TINY_FAMILIES, write_tiny_model

        family = config.model.removeprefix("tiny-")
        if family not in TINY_FAMILIES:
            raise UserError(f"unknown tiny model {config.model!r}; choose tiny-{' | tiny-'.join(TINY_FAMILIES)}")
        path = Path(config.output_dir) / "base-model"
        if jax.process_index() == 0 and not (path / "config.json").exists():
            write_tiny_model(path, family, seed=config.seed)
        _barrier("tiny-model")
    model = load_sentence_model(path, dtype=dtype)
    if config.prompts:  # the run's prompts replace the base model's; training and export both read model.prompts
        model.prompts = dict(config.prompts)
    return model


def make_optimizer(config: TrainConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW with warmup then decay; weight decay only on matrices (not biases, not LayerNorm scales)."""
    warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    decay_steps = max(config.steps - config.warmup_steps, 1)
    decay = {
        "linear": optax.linear_schedule(config.learning_rate, 0.0, decay_steps),
        "cosine": optax.cosine_decay_schedule(config.learning_rate, decay_steps),
        "constant": optax.constant_schedule(config.learning_rate),
    }[config.schedule]
    schedule = optax.join_schedules([warmup, decay], [config.warmup_steps])

    def decay_mask(params):
        return jax.tree.map(lambda p: p.ndim > 1, params)

    adamw = optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-6, weight_decay=config.weight_decay, mask=decay_mask)
    parts = [optax.clip_by_global_norm(config.grad_clip)] if config.grad_clip else []
    return optax.chain(*parts, adamw), schedule


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _replicate(tree: Any, sharding: NamedSharding) -> Any:
    """Place identical host values on every device of every process (works multi-host, unlike device_put)."""
    def place(x):
        return jax.make_array_from_callback(np.shape(x), sharding, lambda index: np.asarray(x)[index])

    return jax.tree.map(place, tree)


def _host(tree: Any) -> Any:
    """A host (numpy) copy of replicated arrays: the local shard is the whole value."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def make_mesh(config: TrainConfig) -> Mesh:
    """A one-axis mesh over every device of every process: the batch is split on 'data'."""
    devices = jax.devices()
    if config.batch_size % len(devices):
        raise UserError(f"batch_size {config.batch_size} must be a multiple of the device count ({len(devices)})")
    return Mesh(np.array(devices), ("data",))


def init_state(config: TrainConfig, sentence_model: SentenceModel, mesh: Mesh):
    """Split the model into (graphdef, trainable params, other state), replicate both over the mesh and build the
    optimizer; returns (graphdef, params, rest, optimizer, schedule, opt_state)."""
    graphdef, params, rest = nnx.split(sentence_model.model, nnx.Param, ...)
    replicated = NamedSharding(mesh, P())
    optimizer, schedule = make_optimizer(config)
    params, rest = _replicate(params, replicated), _replicate(rest, replicated)
    opt_state = jax.jit(optimizer.init, out_shardings=replicated)(params)
    return graphdef, params, rest, optimizer, schedule, opt_state


# ---------------------------------------------------------------------------------------------------------------
# The train step.


def make_train_step(graphdef, config: TrainConfig, optimizer: optax.GradientTransformation, mesh: Mesh):
    """A jitted (params, opt_state, rest, batch, key) -> (params, opt_state, metrics) for the sharded mesh."""
    num_chunks = config.batch_size // config.gradcache_chunk if config.gradcache_chunk else 1


    def loss_fn(embeddings):
        return mnrl_loss(
            embeddings["anchor"], embeddings["positive"], embeddings.get("negative"),
            scale=config.scale, symmetric=config.symmetric,
        )

    def train_step(params, opt_state, rest, batch, key):
        def embed(p, input_ids, attention_mask, dropout_rng):
            model = nnx.merge(graphdef, p, rest)
            return model(input_ids, attention_mask, dropout_rng=dropout_rng).astype(jnp.float32)

        if num_chunks > 1:
            loss, grads = gradcache_value_and_grad(embed, loss_fn, params, batch, key, num_chunks)
        else:
            loss, grads = plain_value_and_grad(embed, loss_fn, params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    replicated = NamedSharding(mesh, P())
    return jax.jit(train_step, donate_argnums=(0, 1), out_shardings=(replicated, replicated, replicated))


def global_batch(local_batch: dict, sharding: NamedSharding) -> dict:
    """This process's numpy batch -> global jax arrays sharded on 'data' (rows of all processes, in process order)."""
    return {
        column: {name: jax.make_array_from_process_local_data(sharding, local_batch[column][name])
                 for name in ("input_ids", "attention_mask")}
        for column in COLUMNS if column in local_batch
    }


# ---------------------------------------------------------------------------------------------------------------
# Data, evaluation, logging.


def open_data(config: TrainConfig, model: SentenceModel):
    """The data pipeline for this process's share of each global batch."""
    from training.data import PairPipeline

    return PairPipeline(
        config.data, global_batch_size=config.batch_size, tokenizer=model.tokenizer,
        max_seq_length=config.max_seq_length, seed=config.seed,
        process_index=jax.process_index(), process_count=jax.process_count(),
        prefixes={"anchor": model.prompts.get("query", ""), "positive": model.prompts.get("document", ""),
                  "negative": model.prompts.get("document", "")},
    )


def pad_to_common_lengths(local_batch: dict) -> dict:
    """Multi-process: every process must feed the same shapes, so pad each column to the longest bucket of any
    process (one tiny all-gather of the lengths per step)."""
    columns = [c for c in COLUMNS if c in local_batch]
    if jax.process_count() == 1:
        return local_batch
    from jax.experimental import multihost_utils

    lengths = np.array([local_batch[c]["input_ids"].shape[1] for c in columns], dtype=np.int32)
    longest = np.asarray(multihost_utils.process_allgather(lengths)).max(axis=0)
    padded = {}
    for column, length in zip(columns, longest.tolist(), strict=True):
        ids, mask = local_batch[column]["input_ids"], local_batch[column]["attention_mask"]
        extra = ((0, 0), (0, length - ids.shape[1]))
        # Pad ids with whatever token: the mask hides them, and position ids of real tokens do not change.
        padded[column] = {"input_ids": np.pad(ids, extra, mode="edge"), "attention_mask": np.pad(mask, extra)}
    return padded


def sts_spearman(model: SentenceModel, sts) -> float:
    """Spearman correlation between cosine similarities and gold scores (the STSb metric)."""
    from training.evaluators.sts import evaluate_sts

    return evaluate_sts(lambda texts: model.encode(texts, batch_size=128), sts)["spearman"]


class MetricsLog:
    """metrics.jsonl + TensorBoard, written by process 0 only. Lines past `resume_step` (from a killed run that
    got further than its last checkpoint) are dropped so the log matches the resumed run."""

    def __init__(self, output_dir: Path, resume_step: int, enabled: bool):
        self.enabled = enabled
        if not enabled:
            return
        from tensorboardX import SummaryWriter

        self.path = output_dir / "metrics.jsonl"
        kept = []
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= resume_step]
        self.path.write_text("".join(line + "\n" for line in kept))
        self.writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.enabled:
            self.writer.close()


# ---------------------------------------------------------------------------------------------------------------
# The loop.


def train(config: TrainConfig, *, resume: bool = False) -> Path | None:
    """Run training as configured; returns the exported model folder (None on processes other than 0)."""
    from tqdm.auto import tqdm

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lead = jax.process_index() == 0
    checkpoints = Checkpointer(output_dir / "checkpoints", keep=config.keep_checkpoints)
    if checkpoints.latest_step() is not None and not resume:
        raise UserError(f"{output_dir} already holds checkpoints; pass --resume to continue, or another output_dir")
    if lead:
        save_config(config, output_dir / "config.json")

    sentence_model = load_base_model(config)
    mesh = make_mesh(config)
    data_sharding = NamedSharding(mesh, P("data"))
    graphdef, params, rest, optimizer, schedule, opt_state = init_state(config, sentence_model, mesh)
    base_key = jax.random.key(config.seed)
    data = open_data(config, sentence_model)

    step = 0
    if resume and checkpoints.latest_step() is not None:
        step = checkpoints.latest_step()
        state, extra = checkpoints.restore(step, {"params": params, "opt_state": opt_state,
                                                  "rng": jax.random.key_data(base_key)})
        params, opt_state = state["params"], state["opt_state"]
        base_key = jax.random.wrap_key_data(np.asarray(state["rng"]))
        data.load_state_dict(extra["data"])
        print(f"resumed from step {step} ({checkpoints.directory / str(step)})")

    train_step = make_train_step(graphdef, config, optimizer, mesh)
    sts = None
    if config.eval_sts:
        from training.evaluators.sts import load_sts

        sts = load_sts(config.eval_sts)
    best = Checkpointer(output_dir / "best", keep=1) if sts else None
    best_score = -math.inf
    if best is not None and best.latest_step() is not None:
        best_score = json.loads((output_dir / "best_score.json").read_text())["spearman"]
    log = MetricsLog(output_dir, step, enabled=lead)

    def current_model() -> SentenceModel:
        model = nnx.merge(graphdef, _host(params), _host(rest))
        return SentenceModel(model, sentence_model.tokenizer, config.max_seq_length, sentence_model.prompts)

    def save(at_step: int) -> None:
        checkpoints.save(at_step, {"params": params, "opt_state": opt_state, "rng": jax.random.key_data(base_key)},
                         {"data": data.state_dict(), "config": config.to_dict()})

    def evaluate(at_step: int) -> float:
        nonlocal best_score
        score = sts_spearman(current_model(), sts)
        log.write(at_step, {"eval/sts/spearman": score})
        if score > best_score:
            best_score = score
            best.save(at_step, {"params": params}, {"spearman": score, "step": at_step})
            if lead:
                (output_dir / "best_score.json").write_text(json.dumps({"spearman": score, "step": at_step}))
        return score

    if sts and step == 0:
        evaluate(0)  # the base model's score: the baseline the run must beat
    start_time, pairs_seen = time.perf_counter(), step * config.batch_size
    window_start, window_step = start_time, step  # pairs/s over the last log window (excludes earlier compiles)
    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step", disable=not lead, dynamic_ncols=True)
    batches = iter(data)
    while step < config.steps:
        try:
            local = next(batches)
        except StopIteration:
            bar.write(f"the data ran out after {step} steps (stopping_strategy in the data config)")
            break
        batch = global_batch(pad_to_common_lengths(local), data_sharding)
        params, opt_state, metrics = train_step(params, opt_state, rest, batch, jax.random.fold_in(base_key, step))
        loss = float(metrics["loss"])
        if not math.isfinite(loss):
            checkpoints.wait()
            last = checkpoints.latest_step()
            kept = f"the last good checkpoint (step {last}) is kept" if last is not None else "no checkpoint was saved"
            raise UserError(f"loss is {loss} at step {step + 1}; stopped. {kept} in {checkpoints.directory}. "
                            "Lower learning_rate or check the data, then rerun with --resume")
        step += 1
        pairs_seen += config.batch_size
        if step % config.log_every == 0 or step in (1, config.steps):
            now = time.perf_counter()
            rate = (step - window_step) * config.batch_size / (now - window_start)
            window_start, window_step = now, step
            lr = float(schedule(step - 1))
            log.write(step, {"loss": loss, "learning_rate": lr, "grad_norm": float(metrics["grad_norm"]),
                             "pairs_per_second": rate})
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", pairs_s=f"{rate:.1f}")
        bar.update(1)
        if step % config.checkpoint_every == 0 or step == config.steps:
            save(step)
        if sts and config.eval_every and step % config.eval_every == 0:
            evaluate(step)
    bar.close()
    data.close()
    skipped = {reason: count for reason, count in data.stats.items() if count}
    if lead and skipped:
        print(f"data pipeline: {', '.join(f'{count} {reason}' for reason, count in skipped.items())}")
    checkpoints.wait()
    final_score = evaluate(step) if sts and not (config.eval_every and step % config.eval_every == 0) else None
    if best is not None:
        best.wait()
        best.close()
    checkpoints.close()
    log.close()
    wall_time = time.perf_counter() - start_time
    if not lead:
        return None
    return export_run(config, current_model(), data, step=step, wall_time=wall_time, pairs_seen=pairs_seen,
                      final_score=final_score if final_score is not None else best_score if sts else None)


def export_run(config: TrainConfig, model: SentenceModel, data, *, step: int, wall_time: float, pairs_seen: int,
               final_score: float | None, out_dir: Path | None = None, overwrite: bool = True) -> Path:
    """Export to `out_dir` (default output_dir/model) with run_metadata.json, metrics.jsonl and a model card."""
    from model_cards.metadata import METADATA_FILE, DataSource, Evaluation, RunMetadata, TrainingInfo
    from training.export import export_sentence_model

    output_dir = Path(config.output_dir)
    devices = jax.devices()
    hardware = f"{len(devices)} x {devices[0].device_kind}" if devices[0].platform != "cpu" else (
        f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    meta = RunMetadata(
        model_name=config.model_name or output_dir.name, base_model=config.model, model_kind=config.model_kind,
        languages=config.languages, license=config.license, embedding_dimension=model.dimension,
        training=TrainingInfo(
            symmetric=config.symmetric, scale=config.scale, batch_size=config.batch_size, steps=step,
            learning_rate=config.learning_rate, warmup_steps=config.warmup_steps, schedule=config.schedule,
            weight_decay=config.weight_decay, grad_clip=config.grad_clip or None,
            max_seq_length=config.max_seq_length, precision={"fp32": "float32", "bf16": "bfloat16"}[config.precision],
            gradcache_chunk=config.gradcache_chunk or None, seed=config.seed, pooling=model.model.pooling,
            normalize=model.model.normalize, hardware=hardware, devices=len(devices),
            processes=jax.process_count(), wall_time_seconds=round(wall_time, 1), pairs_seen=pairs_seen,
        ),
        data=[DataSource(**source) for source in data_sources(data)] if data is not None else [],
        framework_versions=_versions(),
    )
    if final_score is not None:
        meta.evaluations.append(Evaluation(task="sts", dataset=str(config.eval_sts), metrics={"spearman": final_score},
                                           split="dev", step=step))
    metrics_file = output_dir / "metrics.jsonl"
    out = export_sentence_model(
        model.model, model.tokenizer, out_dir or output_dir / "model", max_seq_length=config.max_seq_length,
        overwrite=overwrite,
        prompts=model.prompts or None,
        extra_files={METADATA_FILE: json.dumps(dataclasses.asdict(meta), indent=2) + "\n",
                     "metrics.jsonl": metrics_file.read_text() if metrics_file.exists() else ""},
    )
    try:
        from model_cards.model_card import write_model_card
    except ImportError:
        write_model_card = None
    if write_model_card is not None:
        write_model_card(out)
    print(f"exported the model to {out}")
    return out


def export_checkpoint(run_dir: str | Path, out_dir: str | Path | None = None, *, step: int | None = None,
                      best: bool = False, overwrite: bool = False) -> Path:
    """Export checkpoint `step` (default: the latest), or the best-evaluated one, of a training run folder to a
    sentence-transformers folder (default: <run_dir>/model-step<N> or <run_dir>/model-best)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir}: not a training run folder (no config.json)")
    config = load_config(run_dir / "config.json")
    config.output_dir = str(run_dir)
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
    state, _ = checkpoints.restore(step, like)
    checkpoints.close()
    sentence_model.model = nnx.merge(graphdef, _host(state["params"]), rest)
    out = Path(out_dir) if out_dir else run_dir / ("model-best" if best else f"model-step{step}")
    return export_run(config, sentence_model, None, step=step, wall_time=0.0, pairs_seen=step * config.batch_size,
                      final_score=None, out_dir=out, overwrite=overwrite)


def data_sources(data) -> list[dict[str, Any]]:
    """Rows for the card's data table: every configured source with the pairs it contributed."""
    counts = data.pairs_per_source
    total = max(sum(counts.values()), 1)
    return [{"name": s.name, "dataset": s.path, "config": s.config, "split": s.split, "weight": s.weight,
             "pairs_seen": counts.get(s.name, 0), "share": counts.get(s.name, 0) / total}
            for s in data.config.sources]


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("jax", "flax", "optax", "orbax-checkpoint", "transformers", "sentence-transformers", "tokenizers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


# ---------------------------------------------------------------------------------------------------------------
# CLI.


def configure(parser: argparse.ArgumentParser) -> None:
    from training import config as config_module

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    fields = ", ".join(f"{name}={value!r}" for name, value in TrainConfig().to_dict().items())
    parser.epilog = f"{config_module.__doc__}\nFields and defaults: {fields}"
    parser.add_argument("config", help="training config, YAML or JSON (see below)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set steps=200 --set precision=bf16 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    parser.add_argument("--coordinator", default=os.environ.get("SE1B_COORDINATOR"),
                        help="multi-host: host:port of process 0 (env SE1B_COORDINATOR)")
    parser.add_argument("--num-processes", type=int, default=_env_int("SE1B_NUM_PROCESSES"),
                        help="multi-host: number of processes (env SE1B_NUM_PROCESSES)")
    parser.add_argument("--process-id", type=int, default=_env_int("SE1B_PROCESS_ID"),
                        help="multi-host: this process's index (env SE1B_PROCESS_ID)")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    init_distributed(args.coordinator, args.num_processes, args.process_id)
    train(config, resume=args.resume)
    return 0
