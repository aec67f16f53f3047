"""`se1b train CONFIG`: the one training loop. Every objective runs through it; `se1b distill` is a preset of it.

The loop reads a config (training/loop/config.py); what varies is the objective (training/objectives/: MNRL on
pairs and triplets, distillation MSE to cached teacher embeddings) and the batches that feed it (the pair pipeline,
training/data/pipeline.py, or the teacher batches, training/data/teacher.py). One jitted step: embed the objective's
text columns -> objective loss over the GLOBAL batch -> AdamW. Data parallel over every device of every host with
`jax.sharding`: parameters replicated, the batch sharded on the 'data' axis of a one-axis mesh; the loss sees all
rows, so in-batch negatives come from the global batch and XLA inserts the all-gather. GradCache (gradcache_chunk)
applies to every objective, since each reads only embeddings and batch arrays. Multi-host: start one process per
host with --coordinator/--num-processes/--process-id (or the SE1B_COORDINATOR / SE1B_NUM_PROCESSES /
SE1B_PROCESS_ID environment variables); each process feeds its slice of the global batch.

    se1b train run.yaml                                   # see training/loop/config.py for the config file
    se1b train run.yaml --set steps=2000 --set precision=bf16 --resume

Writes into output_dir: checkpoints/ (orbax, last K), best/ (best evaluated checkpoint), metrics.jsonl,
tensorboard/, config.json, and at the end model/ (a sentence-transformers folder with run_metadata.json and
README.md). output_dir must be new, empty or a run's own (its .se1b-run marker), never the file system root or the
home folder; one run at a time holds it (.se1b-train.lock, training/loop/guard.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from se1b.errors import Interrupted, UserError
from training.loop.checkpoint import Checkpointer
from training.loop.config import TrainConfig, load_config
from training.loop.export_run import export_run
from training.loop.gradcache import gradcache_value_and_grad, plain_value_and_grad
from training.loop.guard import (
    RunLock,
    accept_start,
    all_finite,
    check_finite_state,
    check_output_dir,
    check_start,
    divergence_error,
    keep_if,
)
from training.loop.interrupt import InterruptRequest
from training.loop.packing_choice import choose_packing, packing_at_start
from training.loop.setup import (
    agree,
    barrier,
    host,
    init_distributed,
    load_base_model,
    make_mesh,
    make_objective,
    make_optimizer,
    replicate,
)
from training.model.backends import check_backends
from training.model.sentence_model import SentenceModel
from training.objectives.base import Objective, column_dropout_keys


def init_state(config: TrainConfig, sentence_model: SentenceModel, mesh: Mesh):
    """Split the model into (graphdef, trainable params, other state), replicate both over the mesh and build the
    optimizer; returns (graphdef, params, rest, optimizer, schedule, opt_state)."""
    graphdef, params, rest = nnx.split(sentence_model.model, nnx.Param, ...)
    replicated = NamedSharding(mesh, P())
    optimizer, schedule = make_optimizer(config)
    params, rest = replicate(params, replicated), replicate(rest, replicated)
    opt_state = jax.jit(optimizer.init, out_shardings=replicated)(params)
    return graphdef, params, rest, optimizer, schedule, opt_state


# ---------------------------------------------------------------------------------------------------------------
# The train step.


def make_train_step(graphdef, config: TrainConfig, objective: Objective, optimizer: optax.GradientTransformation,
                    mesh: Mesh):
    """A jitted (params, opt_state, rest, batch, key) -> (params, opt_state, metrics) for the sharded mesh."""
    num_chunks = config.num_chunks
    dropout_keys = getattr(objective, "dropout_keys", column_dropout_keys)

    def train_step(params, opt_state, rest, batch, key):
        texts = {column: batch[column] for column in objective.text_columns if column in batch}
        arrays = {column: batch[column] for column in objective.array_columns if column in batch}

        def embed(p, input_ids, attention_mask, dropout_rng, text_ids=None, lengths=None):
            model = nnx.merge(graphdef, p, rest)
            # Packed rows (config.pack): the texts' numbers, and how many texts the rows hold.
            packing = {} if text_ids is None else {"text_ids": text_ids, "num_texts": lengths.shape[0]}
            return model(input_ids, attention_mask, dropout_rng=dropout_rng, **packing).astype(jnp.float32)

        def loss_fn(embeddings):
            return objective.loss(embeddings, arrays)

        if num_chunks > 1:
            (loss, extra), grads = gradcache_value_and_grad(embed, loss_fn, params, texts, key, num_chunks,
                                                            has_aux=True, dropout_keys=dropout_keys)
        else:
            (loss, extra), grads = plain_value_and_grad(embed, loss_fn, params, texts, key, has_aux=True,
                                                        dropout_keys=dropout_keys)
        grad_norm = optax.tree.norm(grads)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        # A non-finite step is not applied: the state stays the last finite one, which the host then reports.
        finite = all_finite((loss, grad_norm, new_params))
        params, opt_state = keep_if(finite, new_params, params), keep_if(finite, new_opt_state, opt_state)
        return params, opt_state, {"loss": loss, "grad_norm": grad_norm, "finite": finite, **extra}

    replicated = NamedSharding(mesh, P())
    return jax.jit(train_step, donate_argnums=(0, 1), out_shardings=(replicated, replicated, replicated))


def pack_batch(local_batch: dict, objective: Objective, row_length: int, pad_id: int, row_multiple: int, *,
               num_chunks: int = 1) -> dict:
    """Each padded text column of this process -> packed rows of `row_length` tokens: per GradCache chunk (one when
    off) a row count that is a multiple of `row_multiple` and the same on every process (one small all-gather),
    as the sharded step needs; text numbers count over the global batch (training/model/packing.py)."""
    from training.model.packing import interleave_chunks, pack_chunks, unpad

    columns = [column for column in objective.text_columns if column in local_batch]
    chunks = {column: pack_chunks(unpad(local_batch[column]), row_length, num_chunks, pad_id=pad_id,
                                  row_multiple=row_multiple) for column in columns}
    rows = np.array([max(chunk["input_ids"].shape[0] for chunk in chunks[column]) for column in columns])
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        rows = np.asarray(multihost_utils.process_allgather(rows)).max(axis=0)
    packed = dict(local_batch)
    for column, column_rows in zip(columns, rows.tolist(), strict=True):
        texts_per_chunk = len(chunks[column][0]["lengths"])
        packed[column] = interleave_chunks(chunks[column], column_rows, pad_id=pad_id,
                                           text_offset=jax.process_index() * texts_per_chunk)
    return packed


def packed_row_multiple(texts_per_chunk: int, local_devices: int) -> int:
    """What packed rows per chunk and process are rounded up to: a multiple of the local device count (each chunk
    spreads evenly over the devices) and >= texts_per_chunk / 8, so that, as rows <= texts, a text column compiles
    for at most 8 row counts."""
    return math.lcm(math.ceil(texts_per_chunk / 8), local_devices)


def token_counts(batch: dict, objective: Objective) -> tuple[int, int, tuple]:
    """(real tokens, computed positions, shapes of the text columns) of a batch: its padding efficiency and the
    shape signature jit compiles for."""
    columns = [batch[c] for c in objective.text_columns if c in batch]
    real = sum(int(np.asarray(f["attention_mask"]).sum()) for f in columns)
    computed = sum(int(np.asarray(f["attention_mask"]).size) for f in columns)
    return real, computed, tuple(f["input_ids"].shape for f in columns)


def first_batch_counts(local_batch: dict, objective: Objective) -> tuple[int, int, int]:
    """(real tokens, computed positions, texts) of the text columns of a padded batch, summed over all processes:
    what `pack: auto` decides from, the same on every process."""
    real, computed, shapes = token_counts(local_batch, objective)
    counts = np.array([real, computed, sum(shape[0] for shape in shapes)], dtype=np.int64)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        counts = np.asarray(multihost_utils.process_allgather(counts)).sum(axis=0)
    return tuple(int(count) for count in counts)


def global_batch(local_batch: dict, objective: Objective, sharding: NamedSharding) -> dict:
    """This process's numpy batch -> global jax arrays sharded on 'data' (rows of all processes, in process order):
    the objective's text columns (token dicts) and array columns."""
    def place(x):
        return jax.make_array_from_process_local_data(sharding, x)

    names = ("input_ids", "attention_mask", "text_ids", "lengths")  # the last two in packed batches only
    batch = {column: {name: place(local_batch[column][name]) for name in names if name in local_batch[column]}
             for column in objective.text_columns if column in local_batch}
    return batch | {column: place(local_batch[column]) for column in objective.array_columns
                    if column in local_batch}


# ---------------------------------------------------------------------------------------------------------------
# Data, evaluation, logging.


def open_batches(config: TrainConfig, model: SentenceModel):
    """The batches for this process's share of each global batch: the pair pipeline for MNRL, parallel sentences
    with cached teacher embeddings for distillation."""
    if config.objective == "distillation":
        from training.data.teacher import TeacherBatches, load_parallel_data, teacher_embeddings

        dataset, offsets = load_parallel_data(config.data)
        teacher, cache_folder, hit = teacher_embeddings(config.teacher, dataset, config.cache_dir,
                                                        batch_size=config.teacher_batch_size)
        print(f"teacher embeddings: {'reused' if hit else 'computed and cached in'} {cache_folder}")
        if model.dimension != teacher.shape[1]:
            raise UserError(f"model {config.model} embeds in {model.dimension} dimensions but the teacher in "
                            f"{teacher.shape[1]}: the student must reproduce the teacher's vector space")
        return TeacherBatches(config.data, dataset, offsets, teacher, model, global_batch_size=config.batch_size,
                              max_seq_length=config.max_seq_length, seed=config.seed,
                              process_index=jax.process_index(), process_count=jax.process_count())
    from training.data.pipeline import PairPipeline

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
    columns = [c for c, value in local_batch.items() if isinstance(value, dict) and "input_ids" in value]
    if jax.process_count() == 1:
        return local_batch
    from jax.experimental import multihost_utils

    lengths = np.array([local_batch[c]["input_ids"].shape[1] for c in columns], dtype=np.int32)
    longest = np.asarray(multihost_utils.process_allgather(lengths)).max(axis=0)
    padded = dict(local_batch)
    for column, length in zip(columns, longest.tolist(), strict=True):
        ids, mask = local_batch[column]["input_ids"], local_batch[column]["attention_mask"]
        extra = ((0, 0), (0, length - ids.shape[1]))
        # Pad ids with whatever token: the mask hides them, and position ids of real tokens do not change.
        padded[column] = {"input_ids": np.pad(ids, extra, mode="edge"), "attention_mask": np.pad(mask, extra)}
    return padded


def replicated_key_data(key: jax.Array, mesh: Mesh) -> jax.Array:
    """The RNG key's data as an array replicated over the mesh: orbax cannot save a host-local array when several
    processes run."""
    return replicate(np.asarray(jax.random.key_data(key)), NamedSharding(mesh, P()))


def data_states_by_process(data) -> dict:
    """Multi-process: every process's data pipeline state, for the checkpoint's JSON (which only process 0 writes);
    each process resumes from its own. Nothing extra for a single process."""
    if jax.process_count() == 1:
        return {}
    from jax.experimental import multihost_utils

    raw = np.frombuffer(json.dumps(data.state_dict()).encode(), dtype=np.uint8)
    lengths = np.asarray(multihost_utils.process_allgather(np.array([raw.size], dtype=np.int64))).ravel()
    padded = np.zeros(int(lengths.max()), dtype=np.uint8)
    padded[:raw.size] = raw
    gathered = np.asarray(multihost_utils.process_allgather(padded))
    return {"data_by_process": [json.loads(bytes(row[:n]).decode()) for row, n in zip(gathered, lengths.tolist(),
                                                                                      strict=True)]}


class Evaluator:
    """The run's evaluations (STS Spearman, translation retrieval accuracy), logged to metrics.jsonl and kept as
    `Evaluation` records for the card. `score` is the one number the best checkpoint follows: the STS Spearman when
    eval_sts is set, else the mean translation accuracy."""

    def __init__(self, config: TrainConfig):
        from training.evaluation.sts import load_sts
        from training.evaluation.translation import load_translation

        for path in config.eval_translation:
            if not Path(path).is_file():
                raise UserError(f"eval_translation {path}: no such file")
        self.sts_source = config.eval_sts
        self.sts = load_sts(config.eval_sts) if config.eval_sts else None
        self.translations = [load_translation(path) for path in config.eval_translation]
        self.records: list = []

    @property
    def enabled(self) -> bool:
        return self.sts is not None or bool(self.translations)

    def __call__(self, model: SentenceModel, step: int) -> tuple[float, dict[str, float]]:
        """(score, logged metrics) of `model` at `step`."""
        from model_cards.metadata import Evaluation
        from training.evaluation.sts import evaluate_sts
        from training.evaluation.translation import evaluate_translation

        def encode(texts):
            return model.encode(texts, batch_size=128)

        logged: dict[str, float] = {}
        accuracies = []
        if self.sts is not None:
            spearman = evaluate_sts(encode, self.sts)["spearman"]
            logged["eval/sts/spearman"] = spearman
            self.records.append(Evaluation(task="sts", dataset=str(self.sts_source), metrics={"spearman": spearman},
                                           split="dev", step=step))
        for data in self.translations:
            metrics = evaluate_translation(encode, data)
            label = f"{data.name} ({data.language_pair})" if data.language_pair else data.name
            self.records.append(Evaluation(task="translation", dataset=data.name, dataset_name=label, split="test",
                                           step=step, metrics=metrics))
            logged |= {f"eval/{label}/{name}": value for name, value in metrics.items() if name != "pairs"}
            accuracies.append(metrics["accuracy"])
        score = logged["eval/sts/spearman"] if self.sts is not None else float(np.mean(accuracies))
        return score, logged


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
            lines = self.path.read_text().splitlines()
            kept = [line for line in lines if _logged_step(self.path, line) <= resume_step]
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


def _logged_step(path: Path, line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: a line that is not a JSON record with a step ({line[:80]!r}); this log is "
                        "written by se1b train only: restore it, or train into another output_dir") from error


# ---------------------------------------------------------------------------------------------------------------
# The loop.


def train(config: TrainConfig, *, resume: bool = False) -> Path | None:
    """Run training as configured; returns the exported model folder (None on processes other than 0). SIGINT or
    SIGTERM stops it between steps with a checkpoint saved (`Interrupted`). Process 0 holds output_dir's lock from
    before its first check to the end."""
    lock = RunLock(Path(config.output_dir)) if jax.process_index() == 0 else None
    try:
        with InterruptRequest() as interrupt:
            return _train(config, resume, interrupt, lock)
    finally:
        if lock is not None:
            lock.release()


def _stop_requested(interrupt: InterruptRequest) -> bool:
    """Whether any process got SIGINT/SIGTERM (every process must stop at the same step: saves are collective)."""
    requested = interrupt.signal_name is not None
    if jax.process_count() == 1:
        return requested
    from jax.experimental import multihost_utils

    return bool(np.asarray(multihost_utils.process_allgather(np.array([requested]))).any())


def _interrupted(interrupt: InterruptRequest, checkpoints: Checkpointer, step: int) -> Interrupted:
    """The one line of a stopped run: what was saved and where `--resume` continues."""
    stopped = f"stopped by {interrupt.signal_name or 'a signal on another process'} at step {step}"
    latest = checkpoints.latest_step()
    if latest is None:
        return Interrupted(f"{stopped}, before any checkpoint: nothing to resume; a new run starts from step 0")
    return Interrupted(f"{stopped}; checkpoint {latest} is saved in {checkpoints.directory}: `se1b train CONFIG "
                       f"--resume` continues from step {latest}")


def _train(config: TrainConfig, resume: bool, interrupt: InterruptRequest, lock: RunLock | None) -> Path | None:
    from tqdm.auto import tqdm

    output_dir = Path(config.output_dir)
    lead = jax.process_index() == 0
    # Everything that can be checked is checked before anything is written into output_dir: a failed start leaves
    # nothing behind. A fresh tiny base model is written to a temporary folder and installed once accepted.
    # Multi-process: every process runs the checks, then all agree (`agree`) before anything collective (the
    # parameters' placement, the steps) or written, so a process failing alone stops them all with one line each.
    staging, failure = None, None
    num_chunks = config.num_chunks
    local_texts = config.batch_size // jax.process_count()  # per text column, in this process's share of a batch
    # Packing as configured (the config alone decides: the same on every process); pack auto: None until the first
    # batch decides, or a resumed run's checkpoint says what its first batch decided.
    packing, packing_decision = packing_at_start(config.pack, config.batch_size, jax.process_count(), num_chunks)
    try:
        check_output_dir(output_dir)
        if lock is not None:
            lock.acquire()
        resume_step = check_start(config, resume)
        check_backends(config.export_backends)  # a missing package found now, not after the run
        evaluator = Evaluator(config)
        mesh = make_mesh(config)
        staging = Path(tempfile.mkdtemp(prefix="se1b-base-model-")) if resume_step is None else None
        sentence_model = load_base_model(config, staging=staging)
        objective = make_objective(config, sentence_model.dimension)
        data = open_batches(config, sentence_model)
        if config.guide:  # guided in-batch negatives: the frozen guide's embeddings ride along as array columns
            from training.data.guide import GuidedBatches, load_guide

            data = GuidedBatches(data, load_guide(config.guide, sentence_model, config.max_seq_length))
    except Exception as error:  # heard by every process in `agree`, then raised
        failure = error
    try:
        agree(failure)
        data_sharding = NamedSharding(mesh, P("data"))
        graphdef, params, rest, optimizer, schedule, opt_state = init_state(config, sentence_model, mesh)
        base_key = jax.random.key(config.seed)
        if lead:
            accept_start(config, staging)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    barrier("accepted")
    checkpoints = Checkpointer(output_dir / "checkpoints", keep=config.keep_checkpoints)

    step = 0
    if resume_step is not None:
        step = resume_step
        state, extra = checkpoints.restore(step, {"params": params, "opt_state": opt_state,
                                                  "rng": replicated_key_data(base_key, mesh)})
        if packing is None and "packing" in extra:
            packing, packing_decision = extra["packing"], extra["packing_decision"]
        params, opt_state = state["params"], state["opt_state"]
        check_finite_state(host(params), f"checkpoint {checkpoints.directory / str(step)}")
        base_key = jax.random.wrap_key_data(np.asarray(state["rng"]))
        data.load_state_dict(extra.get("data_by_process", [extra["data"]])[jax.process_index()])
        print(f"resumed from step {step} ({checkpoints.directory / str(step)})")

    train_step = make_train_step(graphdef, config, objective, optimizer, mesh)
    best = Checkpointer(output_dir / "best", keep=1) if evaluator.enabled else None
    best_score = -math.inf
    if best is not None and best.latest_step() is not None:
        best_score = json.loads((output_dir / "best_score.json").read_text())["score"]
    log = MetricsLog(output_dir, step, enabled=lead)

    def current_model() -> SentenceModel:
        model = nnx.merge(graphdef, host(params), host(rest))
        # The model as it is exported (and evaluated): at the base's length unless the config asks for another.
        return dataclasses.replace(sentence_model, model=model,
                                   max_seq_length=config.exported_length(sentence_model.max_seq_length))

    def save(at_step: int) -> None:
        try:
            checkpoints.save(at_step, {"params": params, "opt_state": opt_state,
                                       "rng": replicated_key_data(base_key, mesh)},
                             {"data": data.state_dict(), "config": config.to_dict(), **data_states_by_process(data),
                              "packing": packing, "packing_decision": packing_decision})
        except UserError:  # a full disk
            bar.close()  # the error then starts on its own line, not on the progress bar's
            raise

    def evaluate(at_step: int) -> None:
        nonlocal best_score
        score, logged = evaluator(current_model(), at_step)
        log.write(at_step, logged)
        if score > best_score:
            best_score = score
            best.save(at_step, {"params": params}, {"score": score, "step": at_step, "packing": packing,
                                                    "packing_decision": packing_decision})
            if lead:
                (output_dir / "best_score.json").write_text(json.dumps({"score": score, "step": at_step}))

    if evaluator.enabled and step == 0:
        evaluate(0)  # the base model's score: the baseline the run must beat
    start_time, pairs_seen = time.perf_counter(), step * config.batch_size
    window_start, window_step = start_time, step  # pairs/s over the last log window (excludes earlier compiles)
    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step", disable=not lead, dynamic_ncols=True)
    batches = iter(data)
    last_evaluated = None
    first_step = step
    # Padding efficiency (real tokens / computed positions) per log window, and the distinct batch shapes compiled.
    window_real, window_computed, compiled_shapes = 0, 0, set()
    row_multiple = packed_row_multiple(local_texts // num_chunks, jax.local_device_count())
    stopped = False
    while step < config.steps:
        if _stop_requested(interrupt):
            stopped = True
            break
        try:
            local = next(batches)
        except StopIteration:
            bar.write(f"the data ran out after {step} steps (stopping_strategy in the data config)")
            break
        local = pad_to_common_lengths(local)
        if packing is None:
            packing, packing_decision = choose_packing(*first_batch_counts(local, objective), config.max_seq_length)
            if lead:
                bar.write(packing_decision)
        if packing:
            local = pack_batch(local, objective, config.max_seq_length, sentence_model.tokenizer.pad_token_id,
                               row_multiple, num_chunks=num_chunks)
        real, computed, shapes = token_counts(local, objective)
        window_real, window_computed = window_real + real, window_computed + computed
        compiled_shapes.add(shapes)
        batch = global_batch(local, objective, data_sharding)
        params, opt_state, metrics = train_step(params, opt_state, rest, batch, jax.random.fold_in(base_key, step))
        loss = float(metrics["loss"])
        if not bool(metrics.pop("finite")):
            bar.close()  # the error then starts on its own line, not on the progress bar's
            raise divergence_error(config, checkpoints, step=step + 1, first_step=step == first_step, loss=loss,
                                   grad_norm=float(metrics["grad_norm"]), learning_rate=float(schedule(step)))
        step += 1
        pairs_seen += config.batch_size
        if step % config.log_every == 0 or step in (1, config.steps):
            now = time.perf_counter()
            rate = (step - window_step) * config.batch_size / (now - window_start)
            window_start, window_step = now, step
            lr = float(schedule(step - 1))
            extra = {name: float(value) for name, value in metrics.items() if name not in ("loss", "grad_norm")}
            log.write(step, {"loss": loss, **extra, "learning_rate": lr, "grad_norm": float(metrics["grad_norm"]),
                             "pairs_per_second": rate, "padding_efficiency": window_real / window_computed})
            window_real = window_computed = 0
            bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2e}", pairs_s=f"{rate:.1f}")
        bar.update(1)
        if step % config.checkpoint_every == 0 or step == config.steps:
            save(step)
        if evaluator.enabled and config.eval_every and step % config.eval_every == 0:
            evaluate(step)
            last_evaluated = step
    bar.close()
    if stopped and step > first_step and step % config.checkpoint_every:
        save(step)  # the work since the last checkpoint is kept
    if lead:
        print(f"compiled batch shapes: {len(compiled_shapes)}")
    data.close()
    skipped = {reason: count for reason, count in data.stats.items() if count}
    if lead and skipped:
        print(f"data pipeline: {', '.join(f'{count} {reason}' for reason, count in skipped.items())}")
    checkpoints.wait()
    interrupted = _interrupted(interrupt, checkpoints, step) if stopped else None
    if evaluator.enabled and last_evaluated != step and not stopped:
        evaluate(step)
    if best is not None:
        best.wait()
        best.close()
    checkpoints.close()
    log.close()
    if interrupted is not None:
        raise interrupted
    wall_time = time.perf_counter() - start_time
    if not lead:
        return None
    return export_run(config, current_model(), data.card_sources(), evaluator.records, objective, step=step,
                      wall_time=wall_time, pairs_seen=pairs_seen, compiled_shapes=len(compiled_shapes),
                      packing=bool(packing), packing_decision=packing_decision)


# ---------------------------------------------------------------------------------------------------------------
# CLI.


def configure(parser: argparse.ArgumentParser) -> None:
    from training.loop import config as config_module

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    fields = ", ".join(f"{name}={value!r}" for name, value in TrainConfig().to_dict().items())
    parser.epilog = f"{config_module.__doc__}\nFields and defaults: {fields}"
    parser.add_argument("config", help="training config, YAML or JSON (see below)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set steps=200 --set precision=bf16 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in output_dir; the schedule, evaluation, logging"
                        " and checkpointing fields may change, the model, data, shapes, seed and objective may not")
    add_distributed_arguments(parser)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Multi-host flags, shared by every command that runs the loop."""
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
