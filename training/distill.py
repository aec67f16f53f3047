"""Multilingual knowledge distillation (Reimers & Gurevych 2020, "Making Monolingual Sentence Embeddings
Multilingual using Knowledge Distillation"): a student learns to map a source sentence AND its translation onto the
teacher's embedding of the source sentence, with mean squared error:

    loss = ( MSE(student(source), teacher(source)) + MSE(student(target), teacher(source)) ) / 2

The teacher (any sentence-transformers folder, e.g. our English model, run by the project's Flax encoder) embeds
the source sentences ONCE: the embeddings are cached as a .npy file under
`cache_dir/<sha256 of teacher files + source sentences + teacher max_seq_length>/` and memory-mapped, so a second run
on the same teacher and data (or a resumed run) never loads the teacher. Rows are streamed in a seeded permutation
per epoch (position = step x batch, so resuming needs no data state). The optimizer, checkpoints, metrics log and
mesh are the trainer's (training/train.py); the export carries run_metadata.json (model kind "multilingual") and a
model card with the translation-retrieval evaluations per language pair.

    se1b distill distill.yaml
    se1b distill distill.yaml --set steps=50 --resume

A runnable config (YAML or JSON; every field in `DistillConfig`):

    teacher: runs/english/model                  # sentence-transformers folder
    student: runs/xlmr-base                      # HF/sentence-transformers folder, or tiny-xlm-roberta
    data:                                        # parallel datasets: `se1b data publish parallel_en_de ...`
      - {path: hub/parallel, config: parallel_en_de, split: train}
    output_dir: runs/multilingual
    batch_size: 64
    steps: 20000
    learning_rate: 2.0e-5
    eval_translation: [tatoeba-en-de.tsv]        # source<TAB>target files, scored every eval_every steps

The student's embedding dimension must equal the teacher's (as in the paper: the student reproduces the teacher's
vector space). Runs on every local device of one host (data parallel over the trainer's mesh).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import yaml
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from training.checkpoint import Checkpointer
from training.errors import UserError
from training.sentence_model import SentenceModel, load_sentence_model
from training.train import MetricsLog, make_mesh, make_optimizer

TEACHER_CHUNK = 4096  # source sentences per teacher encode call (progress granularity)
LOSS_NAME = "MSELoss (multilingual knowledge distillation)"


@dataclass
class DistillConfig:
    """Every knob of `se1b distill`. The optimizer fields mean what they mean in `training.config.TrainConfig`."""

    teacher: str = ""  # sentence-transformers folder whose vector space the student learns
    student: str = ""  # HF or sentence-transformers folder, or tiny-<family> (a tiny random model, for tests)
    data: list[dict[str, Any]] = field(default_factory=list)  # [{path, config, split}] parallel datasets
    output_dir: str = "runs/distill"
    cache_dir: str = "~/.cache/se1b/teacher_embeddings"  # teacher embeddings, shared between runs
    batch_size: int = 64  # translation pairs per step (each gives a source and a target row)
    steps: int = 20_000
    learning_rate: float = 2e-5
    warmup_steps: int = 500
    schedule: str = "linear"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_seq_length: int = 128  # student's
    teacher_batch_size: int = 128
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_translation: list[str] = field(default_factory=list)  # parallel TSVs for translation retrieval accuracy
    eval_every: int = 0  # 0 = only before and after training
    # For the model card.
    model_name: str = ""
    languages: list[str] = field(default_factory=list)  # default: the languages of the parallel data configs
    license: str = "apache-2.0"

    def validate(self) -> DistillConfig:
        """Raise a one-line `UserError` naming the first bad field."""
        for name in ("teacher", "student"):
            if not getattr(self, name):
                raise UserError(f"config field '{name}' is required (a model folder)")
        if not self.data:
            raise UserError("config field 'data' is required: a list of {path, config, split} parallel datasets")
        for i, source in enumerate(self.data):
            if not isinstance(source, dict) or "path" not in source:
                raise UserError(f"config field 'data[{i}]' must be a mapping with 'path' (and 'config', 'split')")
        for name in ("batch_size", "steps", "max_seq_length", "teacher_batch_size", "log_every", "checkpoint_every",
                     "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise UserError(f"config field '{name}' must be > 0, got {getattr(self, name)}")
        for name in ("learning_rate", "warmup_steps", "weight_decay", "grad_clip", "eval_every"):
            if getattr(self, name) < 0:
                raise UserError(f"config field '{name}' must be >= 0, got {getattr(self, name)}")
        if self.schedule not in ("linear", "cosine", "constant"):
            raise UserError(f"config field 'schedule' must be linear, cosine or constant, got {self.schedule!r}")
        return self


def load_distill_config(path: str | Path | None, overrides: list[str] = ()) -> DistillConfig:
    """Read a YAML/JSON config (None: defaults) and apply `key=value` overrides (values parsed as YAML)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise UserError(f"{path}: config file not found") from error
        except yaml.YAMLError as error:
            raise UserError(f"{path}: not valid YAML/JSON: {str(error).splitlines()[0]}") from error
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: the config must be a mapping of field: value")
        values.update(loaded)
    for override in overrides:
        name, sep, text = override.partition("=")
        if not sep:
            raise UserError(f"--set {override!r}: expected key=value")
        values[name.strip()] = yaml.safe_load(text)
    known = {f.name: f for f in dataclasses.fields(DistillConfig)}
    for name, value in values.items():
        if name not in known:
            raise UserError(f"{path or '--set'}: unknown config field '{name}' (known: {', '.join(known)})")
        default = getattr(DistillConfig(), name)
        if name == "eval_translation" and isinstance(value, str):
            value = [value]
        if isinstance(default, float) and not isinstance(value, bool):
            try:
                value = float(value)  # ints stand for floats; PyYAML reads 1e-5 (no dot) as a string
            except (TypeError, ValueError):
                pass
        if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
            raise UserError(f"{path or '--set'}: config field '{name}' has the wrong type: {value!r}")
        values[name] = value
    return DistillConfig(**values).validate()


# ---------------------------------------------------------------------------------------------------------------
# Data and the teacher cache.


def load_parallel_data(config: DistillConfig):
    """The configured parallel datasets, concatenated (columns anchor = source, positive = translation), and the
    row offset where each starts."""
    import datasets

    parts = []
    for source in config.data:
        name = f"{source['path']} ({source.get('config') or 'default'})"
        try:
            part = datasets.load_dataset(source["path"], source.get("config"), split=source.get("split", "train"))
        except Exception as error:  # datasets raises many types; the user needs the message
            raise UserError(f"data source {name}: cannot load: {error}") from error
        missing = {"anchor", "positive"} - set(part.column_names)
        if missing:
            raise UserError(f"data source {name}: no column(s) {', '.join(sorted(missing))}; expected a parallel "
                            "dataset (se1b data publish parallel_<src>_<tgt>)")
        if len(part) == 0:
            raise UserError(f"data source {name}: no rows")
        parts.append(part.select_columns(["anchor", "positive"]))
    offsets = np.cumsum([0] + [len(part) for part in parts])
    return datasets.concatenate_datasets(parts), offsets


def _hash_folder(digest, folder: Path) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "README.md"):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def teacher_cache_key(teacher: str | Path, sources, max_seq_length: int) -> str:
    """sha256 of the teacher folder's files, its max_seq_length and every source sentence, in order."""
    digest = hashlib.sha256()
    _hash_folder(digest, Path(teacher))
    digest.update(f"\0max_seq_length={max_seq_length}\0".encode())
    for batch in sources.iter(batch_size=10_000):
        for text in batch["anchor"]:
            digest.update(text.encode() + b"\0")
    return digest.hexdigest()[:32]


def load_teacher(teacher: str | Path) -> SentenceModel:
    """The teacher, run by the Flax encoder (a function of its own so tests can count the loads)."""
    return load_sentence_model(teacher)


def teacher_embeddings(teacher: str | Path, sources, cache_dir: str | Path, *, batch_size: int = 128
                       ) -> tuple[np.ndarray, Path, bool]:
    """Teacher embeddings of `sources["anchor"]` as a read-only memory map, computed only when not cached;
    returns (embeddings [rows, dim] float32, cache folder, cache hit)."""
    from tqdm.auto import tqdm

    teacher = Path(teacher)
    if not teacher.is_dir():
        raise UserError(f"teacher {teacher}: no such model folder")
    config_file = teacher / "sentence_bert_config.json"
    max_seq_length = json.loads(config_file.read_text()).get("max_seq_length") if config_file.exists() else None
    folder = Path(cache_dir).expanduser() / teacher_cache_key(teacher, sources, max_seq_length or 0)
    if (folder / "meta.json").is_file():
        return np.load(folder / "embeddings.npy", mmap_mode="r"), folder, True
    model = load_teacher(teacher)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")  # renamed when complete: no torn cache
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    out = np.lib.format.open_memmap(partial / "embeddings.npy", mode="w+", dtype=np.float32,
                                    shape=(len(sources), model.dimension))
    for start in tqdm(range(0, len(sources), TEACHER_CHUNK), desc="teacher", unit="chunk"):
        texts = sources[start : start + TEACHER_CHUNK]["anchor"]
        out[start : start + len(texts)] = model.encode(texts, batch_size=batch_size)
    out.flush()
    del out
    meta = {"teacher": str(teacher), "rows": len(sources), "dimension": model.dimension,
            "max_seq_length": model.max_seq_length}
    (partial / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    try:
        partial.rename(folder)
    except OSError:  # another run finished the same cache first: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    return np.load(folder / "embeddings.npy", mmap_mode="r"), folder, False


def batch_rows(step: int, batch_size: int, rows: int, seed: int) -> np.ndarray:
    """Row indices of batch `step`: a seeded permutation per epoch, read in order (a pure function of the step,
    so resuming needs no data state)."""
    epochs, offsets = np.divmod(np.arange(step * batch_size, (step + 1) * batch_size), rows)
    result = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        result[epochs == epoch] = _epoch_order(seed, int(epoch), rows)[offsets[epochs == epoch]]
    return result


@functools.lru_cache(maxsize=2)  # a batch spans at most two epochs
def _epoch_order(seed: int, epoch: int, rows: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(rows)


def pairs_per_source(steps: int, batch_size: int, offsets: np.ndarray, seed: int) -> np.ndarray:
    """Pairs each configured dataset gave to the first `steps` batches (for the card's data table)."""
    counts = np.zeros(len(offsets) - 1, dtype=np.int64)
    for step in range(steps):
        rows = batch_rows(step, batch_size, int(offsets[-1]), seed)
        counts += np.bincount(np.searchsorted(offsets, rows, side="right") - 1, minlength=len(counts))
    return counts


# ---------------------------------------------------------------------------------------------------------------
# The step.


def make_distill_step(graphdef, optimizer: optax.GradientTransformation):
    """A jitted (params, opt_state, rest, batch, key) -> (params, opt_state, metrics) MSE distillation step."""

    def distill_step(params, opt_state, rest, batch, key):
        source_key, target_key = jax.random.split(key)

        def loss_fn(p):
            model = nnx.merge(graphdef, p, rest)
            source = model(batch["source"]["input_ids"], batch["source"]["attention_mask"], dropout_rng=source_key)
            target = model(batch["target"]["input_ids"], batch["target"]["attention_mask"], dropout_rng=target_key)
            teacher = batch["teacher"]
            mse_source = jnp.mean((source.astype(jnp.float32) - teacher) ** 2)
            mse_target = jnp.mean((target.astype(jnp.float32) - teacher) ** 2)
            return (mse_source + mse_target) / 2, (mse_source, mse_target)

        (loss, (mse_source, mse_target)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "mse_source": mse_source, "mse_target": mse_target,
                                   "grad_norm": optax.tree.norm(grads)}

    return jax.jit(distill_step, donate_argnums=(0, 1))


# ---------------------------------------------------------------------------------------------------------------
# The loop.


def load_student(config: DistillConfig) -> SentenceModel:
    """The student folder, or `tiny-<family>`: a tiny random model written into output_dir/base-model."""
    path = Path(config.student)
    if config.student.startswith("tiny-") and not path.exists():
        from training.tiny import TINY_FAMILIES, write_tiny_model

        family = config.student.removeprefix("tiny-")
        if family not in TINY_FAMILIES:
            raise UserError(f"unknown tiny model {config.student!r}; choose tiny-{' | tiny-'.join(TINY_FAMILIES)}")
        path = Path(config.output_dir) / "base-model"
        if not (path / "config.json").exists():
            write_tiny_model(path, family, seed=config.seed)
    return load_sentence_model(path)


def evaluate_translations(model: SentenceModel, files: list[str], step: int) -> list:
    """Translation retrieval accuracy on each file, as `Evaluation` records (dataset name carries the pair)."""
    from model_cards.metadata import Evaluation
    from training.evaluators.translation import evaluate_translation, load_translation

    results = []
    for path in files:
        data = load_translation(path)
        metrics = evaluate_translation(lambda texts: model.encode(texts, batch_size=128), data)
        label = f"{data.name} ({data.language_pair})" if data.language_pair else data.name
        results.append(Evaluation(task="translation", dataset=data.name, dataset_name=label, split="test",
                                  step=step, metrics=metrics))
    return results


def distill(config: DistillConfig, *, resume: bool = False) -> Path:
    """Run distillation as configured; returns the exported model folder."""
    from tqdm.auto import tqdm

    config.validate()
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = Checkpointer(output_dir / "checkpoints", keep=config.keep_checkpoints)
    if checkpoints.latest_step() is not None and not resume:
        raise UserError(f"{output_dir} already holds checkpoints; pass --resume to continue, or another output_dir")
    for path in config.eval_translation:
        if not Path(path).is_file():
            raise UserError(f"eval_translation {path}: no such file")
    (output_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")

    dataset, offsets = load_parallel_data(config)
    teacher, cache_folder, hit = teacher_embeddings(config.teacher, dataset, config.cache_dir,
                                                    batch_size=config.teacher_batch_size)
    print(f"teacher embeddings: {'reused' if hit else 'computed and cached in'} {cache_folder}")
    student = load_student(config)
    if student.dimension != teacher.shape[1]:
        raise UserError(f"student {config.student} embeds in {student.dimension} dimensions but the teacher in "
                        f"{teacher.shape[1]}: the student must reproduce the teacher's vector space")
    encoder_config = student.model.encoder.config
    offset = 0 if encoder_config.padding_idx is None else encoder_config.padding_idx + 1  # RoBERTa-family positions
    positions = encoder_config.max_positions - offset
    if config.max_seq_length > positions:
        raise UserError(f"config field 'max_seq_length' ({config.max_seq_length}) exceeds the student's "
                        f"{positions} positions")

    mesh = make_mesh(config)
    replicated, rows_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    graphdef, params, rest = nnx.split(student.model, nnx.Param, ...)
    optimizer, schedule = make_optimizer(config)
    params, rest = jax.device_put(params, replicated), jax.device_put(rest, replicated)
    opt_state = jax.jit(optimizer.init, out_shardings=replicated)(params)
    base_key = jax.random.key(config.seed)
    step = 0
    if resume and checkpoints.latest_step() is not None:
        step = checkpoints.latest_step()
        state, _ = checkpoints.restore(step, {"params": params, "opt_state": opt_state})
        params, opt_state = state["params"], state["opt_state"]
        print(f"resumed from step {step}")
    distill_step = make_distill_step(graphdef, optimizer)
    log = MetricsLog(output_dir, step, enabled=True)

    def current_model() -> SentenceModel:
        return SentenceModel(nnx.merge(graphdef, params, rest), student.tokenizer, config.max_seq_length)

    evaluations = []

    def evaluate(at_step: int) -> None:
        for result in evaluate_translations(current_model(), config.eval_translation, at_step):
            evaluations.append(result)
            log.write(at_step, {f"eval/{result.dataset_name}/{name}": value
                                for name, value in result.metrics.items() if name != "pairs"})

    if step == 0:
        evaluate(0)  # the untrained student: the baseline distillation must beat
    start_time, start_step = time.perf_counter(), step
    bar = tqdm(total=config.steps, initial=step, desc="distill", unit="step", dynamic_ncols=True)
    while step < config.steps:
        rows = batch_rows(step, config.batch_size, len(dataset), config.seed)
        texts = dataset[rows]
        batch = {"source": student.tokenize(texts["anchor"], config.max_seq_length),
                 "target": student.tokenize(texts["positive"], config.max_seq_length),
                 "teacher": np.asarray(teacher[rows], dtype=np.float32)}
        batch = jax.device_put(batch, rows_sharding)
        params, opt_state, metrics = distill_step(params, opt_state, rest, batch, jax.random.fold_in(base_key, step))
        loss = float(metrics["loss"])
        if not math.isfinite(loss):
            raise UserError(f"loss is {loss} at step {step + 1}; stopped. Lower learning_rate, then rerun with "
                            "--resume")
        step += 1
        if step % config.log_every == 0 or step in (1, config.steps):
            rate = (step - start_step) * config.batch_size / (time.perf_counter() - start_time)
            log.write(step, {"loss": loss, "mse_source": float(metrics["mse_source"]),
                             "mse_target": float(metrics["mse_target"]), "learning_rate": float(schedule(step - 1)),
                             "grad_norm": float(metrics["grad_norm"]), "pairs_per_second": rate})
            bar.set_postfix(loss=f"{loss:.3e}", pairs_s=f"{rate:.1f}")
        bar.update(1)
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoints.save(step, {"params": params, "opt_state": opt_state}, {"config": dataclasses.asdict(config)})
        if config.eval_every and step % config.eval_every == 0 and step != config.steps:
            evaluate(step)
    bar.close()
    checkpoints.wait()
    checkpoints.close()
    evaluate(step)
    log.close()
    seen = pairs_per_source(step, config.batch_size, offsets, config.seed)
    return export_distilled(config, current_model(), evaluations, step=step, pairs_seen=seen,
                            wall_time=time.perf_counter() - start_time)


def _languages(config: DistillConfig) -> list[str]:
    if config.languages:
        return config.languages
    found: list[str] = []
    for source in config.data:  # parallel_en_de -> en, de
        match = re.fullmatch(r"parallel_([a-z]+)_([a-z]+)", source.get("config") or "")
        found += match.groups() if match else []
    return list(dict.fromkeys(found)) or ["en"]


def export_distilled(config: DistillConfig, model: SentenceModel, evaluations: list, *, step: int,
                     pairs_seen: np.ndarray, wall_time: float) -> Path:
    """Export output_dir/model with run_metadata.json (model kind "multilingual"), metrics.jsonl and the card."""
    import platform

    from model_cards.metadata import METADATA_FILE, DataSource, RunMetadata, TrainingInfo, framework_versions
    from model_cards.model_card import write_model_card
    from training.export import export_sentence_model

    output_dir = Path(config.output_dir)
    devices = jax.devices()
    hardware = f"{len(devices)} x {devices[0].device_kind}" if devices[0].platform != "cpu" else (
        f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    total = max(int(pairs_seen.sum()), 1)
    meta = RunMetadata(
        model_name=config.model_name or output_dir.name, base_model=config.student, model_kind="multilingual",
        languages=_languages(config), license=config.license, embedding_dimension=model.dimension,
        training=TrainingInfo(
            loss=f"{LOSS_NAME} from the teacher {Path(config.teacher).name}", symmetric=False, scale=0.0,
            batch_size=config.batch_size, steps=step, learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps, schedule=config.schedule, weight_decay=config.weight_decay,
            grad_clip=config.grad_clip or None, max_seq_length=config.max_seq_length, seed=config.seed,
            pooling=model.model.pooling, normalize=model.model.normalize, hardware=hardware, devices=len(devices),
            wall_time_seconds=round(wall_time, 1), pairs_seen=int(pairs_seen.sum()),
        ),
        data=[DataSource(name=source.get("config") or Path(source["path"]).name, dataset=str(source["path"]),
                         config=source.get("config"), split=source.get("split", "train"), weight=1.0,
                         pairs_seen=int(seen), share=int(seen) / total)
              for source, seen in zip(config.data, pairs_seen, strict=True)],
        evaluations=evaluations,
        framework_versions=framework_versions(),
    )
    metrics_file = output_dir / "metrics.jsonl"
    out = export_sentence_model(
        model.model, model.tokenizer, output_dir / "model", max_seq_length=config.max_seq_length, overwrite=True,
        extra_files={METADATA_FILE: json.dumps(dataclasses.asdict(meta), indent=2) + "\n",
                     "metrics.jsonl": metrics_file.read_text() if metrics_file.exists() else ""},
    )
    write_model_card(out)
    print(f"exported the distilled model to {out}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# CLI.


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="distillation config, YAML or JSON (fields: see training/distill.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set steps=200 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")


def main(args: argparse.Namespace) -> int:
    distill(load_distill_config(args.config, args.overrides), resume=args.resume)
    return 0

