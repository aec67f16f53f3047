"""Multilingual knowledge distillation (Reimers & Gurevych 2020, "Making Monolingual Sentence Embeddings
Multilingual using Knowledge Distillation"): a student learns to map a source sentence AND its translation onto the
teacher's embedding of the source sentence, with mean squared error:

    loss = ( MSE(student(source), teacher(source)) + MSE(student(target), teacher(source)) ) / 2

The teacher (any sentence-transformers folder, e.g. our English model, run by the project's Flax encoder) embeds
the source sentences ONCE: the embeddings are cached as a .npy file under
`cache_dir/<sha256 of teacher files + source sentences + teacher max_seq_length>/` and memory-mapped, so a second run
on the same teacher and data (or a resumed run) never loads the teacher. Rows are streamed in a seeded permutation
per epoch (training/data/teacher.py). `se1b distill` is a preset of the one training loop (training/loop/train.py)
with the distillation objective (training/objectives/distillation.py): optimizer, checkpoints and exact resume, NaN
stop, metrics log, mesh, GradCache, best checkpoint and export are the loop's; the export carries run_metadata.json
(model kind "multilingual") and a model card with the translation-retrieval evaluations per language pair.

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
vector space). Multi-device and multi-host as `se1b train` (the same flags).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se1b.errors import UserError
from training.data.teacher import teacher_cache_key  # noqa: F401  (part of this command's Python API)
from training.loop.config import TrainConfig, read_config
from training.loop.setup import init_distributed
from training.loop.train import add_distributed_arguments, train


@dataclass
class DistillConfig:
    """Every knob of `se1b distill`. The optimizer fields mean what they mean in `training.loop.config.TrainConfig`."""

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
        self.to_train_config()  # the loop's own checks of the shared fields
        return self

    def to_train_config(self) -> TrainConfig:
        """The loop's config for this distillation run."""
        shared = {f.name for f in dataclasses.fields(TrainConfig)}
        values = {name: value for name, value in dataclasses.asdict(self).items() if name in shared}
        values |= {"model": self.student, "objective": "distillation", "symmetric": False,
                   "model_kind": "multilingual", "languages": _languages(self)}
        return TrainConfig(**values).validate()


def _languages(config: DistillConfig) -> list[str]:
    if config.languages:
        return config.languages
    found: list[str] = []
    for source in config.data:  # parallel_en_de -> en, de
        match = re.fullmatch(r"parallel_([a-z]+)_([a-z]+)", source.get("config") or "")
        found += match.groups() if match else []
    return list(dict.fromkeys(found)) or ["en"]


def load_distill_config(path: str | Path | None, overrides: list[str] = ()) -> DistillConfig:
    """Read a YAML/JSON config (None: defaults) and apply `key=value` overrides (values parsed as YAML)."""
    values: dict[str, Any] = {name: value for name, value, _ in read_config(path, overrides)}
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


def distill(config: DistillConfig, *, resume: bool = False) -> Path | None:
    """Run distillation as configured; returns the exported model folder (None on processes other than 0)."""
    return train(config.validate().to_train_config(), resume=resume)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="distillation config, YAML or JSON (fields: see training/loop/distill.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set steps=200 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    add_distributed_arguments(parser)


def main(args: argparse.Namespace) -> int:
    config = load_distill_config(args.config, args.overrides)
    init_distributed(args.coordinator, args.num_processes, args.process_id)
    distill(config, resume=args.resume)
    return 0
