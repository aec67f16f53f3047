"""The training configuration: one flat dataclass, read from a YAML or JSON file, overridable from the command line.

Defaults reproduce the 2021 recipe of the all-* models: global batch 1024, AdamW lr 2e-5 with 500 warmup steps then
linear decay, weight decay 0.01 (not on biases and LayerNorm), gradient clipping 1.0, similarity scale 20, symmetric
loss for pairs, max_seq_length 128. Paths are relative to the current directory.

A runnable example (`se1b train run.yaml`, or `se1b train run.yaml --set steps=20 --set precision=bf16`):

    model: tiny-bert            # a Hugging Face folder, a sentence-transformers folder, or tiny-bert|tiny-roberta|...
    data: data_config.yaml      # the data pipeline's config (training/data/pipeline.py)
    output_dir: runs/tiny
    batch_size: 32
    steps: 100
    learning_rate: 2.0e-4
    warmup_steps: 10
    max_seq_length: 64
    eval_sts: sts_dev.tsv       # TSV with sentence1, sentence2, score columns (optional)
    eval_every: 50
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se1b.errors import UserError
from se1b.yaml_input import load_yaml, shown
from training.model.backends import BACKENDS

SCHEDULES = ("linear", "cosine", "constant")
OBJECTIVES = ("mnrl", "distillation")
PRECISIONS = ("fp32", "bf16")
FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class TrainConfig:
    """Every knob of `se1b train`; see the module docstring for the file format."""

    model: str = ""  # base model: HF folder, sentence-transformers folder, or a tiny random config name ("tiny-bert")
    # mnrl: a data config file (or the config itself, inline); distillation: a list of {path, config, split}
    data: str | dict[str, Any] | list[dict[str, Any]] = ""
    objective: str = "mnrl"  # mnrl (pairs/triplets, in-batch negatives) | distillation (MSE to a teacher)
    output_dir: str = "runs/se1b"
    batch_size: int = 1024  # global batch: pairs per optimizer step over all devices and hosts
    steps: int = 100_000
    learning_rate: float = 2e-5
    warmup_steps: int = 500
    schedule: str = "linear"  # decay after warmup: linear | cosine | constant
    weight_decay: float = 0.01  # AdamW; biases and LayerNorm parameters are exempt
    grad_clip: float = 1.0  # global-norm clipping; 0 = off
    scale: float = 20.0  # cosine similarities are multiplied by this before the cross-entropy
    symmetric: bool = True  # pairs: (CE(S) + CE(S^T)) / 2; triplets are always one-way
    max_seq_length: int = 128  # training's; the exported model keeps the base's unless export_max_seq_length is set
    # The exported model's max_seq_length; 0 = the base model's, so training at a shorter length (cheaper) does not
    # shrink the published model's context.
    export_max_seq_length: int = 0
    # Also export these backends (onnx: onnx/model.onnx + quantised variants; openvino: openvino/openvino_model.xml)
    # so SentenceTransformer(folder, backend=...) needs no export on load; needs `pip install 'se1b[backends]'`.
    export_backends: list[str] = field(default_factory=list)
    precision: str = "fp32"  # compute dtype; parameters and optimizer state stay fp32
    gradcache_chunk: int = 0  # GradCache chunk (rows of the global batch per chunk); 0 = whole batch at once
    # MNRL in blocks of this many anchors (online log-sum-exp, no [B, B] score matrix held); 0 = in one piece
    loss_block_rows: int = 0
    # Sequence packing: several texts per row of max_seq_length tokens (attention confined to each text), so short
    # texts compute little padding; with GradCache and several processes too (training/model/packing.py).
    # true | false | auto: packed when the first batch's texts are short and padded wastefully
    # (training/loop/packing_choice.py); the run's card says which was used and why.
    pack: bool | str = "auto"
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_sts: str | None = None  # STS TSV (sentence1, sentence2, score) scored by Spearman every eval_every steps
    eval_translation: list[str] = field(default_factory=list)  # parallel TSVs: translation retrieval accuracy
    eval_every: int = 0  # 0 = only at the end (when eval_sts is set)
    # Distillation: the teacher whose vector space the model learns; its embeddings are cached in cache_dir.
    teacher: str = ""
    cache_dir: str = "~/.cache/se1b/teacher_embeddings"
    teacher_batch_size: int = 128
    # Asymmetric models: prefixes written into config_sentence_transformers.json, so that
    # SentenceTransformer.encode(texts, prompt_name="query") works. Training prepends "query" to anchors and
    # "document" to positives and hard negatives. Empty: the base model's own prompts, if any.
    prompts: dict[str, str] = field(default_factory=dict)
    # Matryoshka (training/objectives/matryoshka.py): the loss summed over these nested embedding prefixes, largest
    # first, e.g. [384, 256, 128, 64, 32]; weights default to 1 each. [] = off.
    matryoshka_dims: list[int] = field(default_factory=list)
    matryoshka_weights: list[float] = field(default_factory=list)
    # Guided in-batch negatives (training/objectives/guided.py): a frozen guide model folder (same tokenizer) whose
    # scores mask in-batch negatives it ranks above the positive (minus guide_margin). "" = off.
    guide: str = ""
    guide_margin: float = 0.0
    # For the model card.
    model_name: str = ""
    model_kind: str = "general"
    languages: list[str] = field(default_factory=list)  # default: the languages of the training data's cards
    license: str = "apache-2.0"

    def exported_length(self, base_length: int) -> int:
        """The exported model's max_seq_length, given the base model's."""
        return self.export_max_seq_length or base_length

    def validate(self) -> TrainConfig:
        """Raise a one-line `UserError` naming the first bad field."""
        if not self.model:
            raise UserError("config field 'model' is required (a model folder or a tiny config such as tiny-bert)")
        if not self.data:
            raise UserError("config field 'data' is required (a data config file, see training/data/pipeline.py)")
        if self.objective not in OBJECTIVES:
            raise UserError(f"config field 'objective' must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective == "distillation":
            if not self.teacher:
                raise UserError("config field 'teacher' is required for distillation (a sentence-transformers folder)")
            if not isinstance(self.data, list) or not all(isinstance(s, dict) and "path" in s for s in self.data):
                raise UserError("config field 'data' must be a list of {path, config, split} parallel datasets")
        elif isinstance(self.data, list):
            raise UserError("config field 'data' must be a data config file or mapping (training/data/pipeline.py)")
        for name in ("learning_rate", "weight_decay", "grad_clip", "scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or abs(value) > FLOAT32_MAX:  # the step computes in float32
                raise UserError(f"config field '{name}' must be a finite number (float32 range), got {value}")
        positive = ("batch_size", "steps", "max_seq_length", "log_every", "checkpoint_every", "keep_checkpoints",
                    "teacher_batch_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UserError(f"config field '{name}' must be > 0, got {getattr(self, name)}")
        for name in ("learning_rate", "warmup_steps", "weight_decay", "grad_clip", "gradcache_chunk", "eval_every",
                     "loss_block_rows", "export_max_seq_length"):
            if getattr(self, name) < 0:
                raise UserError(f"config field '{name}' must be >= 0, got {getattr(self, name)}")
        if self.scale <= 0:
            raise UserError(f"config field 'scale' must be > 0, got {self.scale}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"config field 'schedule' must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (isinstance(self.pack, bool) or self.pack == "auto"):
            raise UserError(f"config field 'pack' must be true, false or auto, got {self.pack!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"config field 'precision' must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        unknown_backends = [name for name in self.export_backends if name not in BACKENDS]
        if unknown_backends:
            raise UserError(f"config field 'export_backends': unknown backend {unknown_backends[0]!r}; choose from "
                            f"{', '.join(BACKENDS)}")
        unknown_prompts = set(self.prompts) - {"query", "document"}
        if unknown_prompts:
            raise UserError(f"config field 'prompts' knows 'query' and 'document', got {sorted(unknown_prompts)}")
        if self.gradcache_chunk and self.batch_size % self.gradcache_chunk:
            raise UserError(
                f"config field 'gradcache_chunk' ({self.gradcache_chunk}) must divide batch_size ({self.batch_size})"
            )
        from training.objectives.matryoshka import check_dims

        check_dims(self.matryoshka_dims, self.matryoshka_weights)
        if self.matryoshka_dims and self.objective != "mnrl":
            raise UserError("config field 'matryoshka_dims' works with objective mnrl only (the teacher's vectors "
                            "have no prefixes to match)")
        if self.guide and self.objective != "mnrl":
            raise UserError("config field 'guide' works with objective mnrl only (guided in-batch negatives)")
        return self

    @property
    def num_chunks(self) -> int:
        """GradCache chunks per global batch (1: the whole batch in one pass)."""
        return self.batch_size // self.gradcache_chunk if self.gradcache_chunk else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Check a value against the field's default type (ints may stand for floats); `source` says where it was."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    if name not in fields:
        raise UserError(f"{source}: unknown config field '{name}' (known: {', '.join(fields)})")
    default = TrainConfig().__getattribute__(name)
    if name == "pack":
        ok = isinstance(value, bool) or value == "auto"
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, str):  # PyYAML reads 1e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    elif name == "data":
        ok = isinstance(value, (str, dict, list))
    else:  # str or optional str
        ok = value is None or isinstance(value, str)
    if not ok:
        raise UserError(f"{source}: config field '{name}' has the wrong type: {shown(value)}")
    return value


def read_config(path: str | Path | None, overrides: list[str] = ()) -> list[tuple[str, Any, str]]:
    """The raw (field, value, where) entries of a YAML/JSON config file (None: none), then of `key=value` overrides
    (values parsed as YAML); `where` names the file or the --set for error messages. Shared by every config type."""
    entries: list[tuple[str, Any, str]] = []
    if path is not None:
        path = Path(path)
        try:
            loaded = load_yaml(path.read_text(encoding="utf-8"), path)
        except FileNotFoundError as error:
            raise UserError(f"{path}: config file not found") from error
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: the config must be a mapping of field: value")
        entries += [(name, value, str(path)) for name, value in loaded.items()]
    for override in overrides:
        name, sep, text = override.partition("=")
        if not sep:
            raise UserError(f"--set {shown(override)}: expected key=value")
        entries.append((name.strip(), load_yaml(text, f"--set {shown(name)}"), f"--set {shown(override)}"))
    return entries


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML/JSON config (None: defaults only) and apply `key=value` overrides (values parsed as YAML)."""
    values = {name: _coerce(name, value, where) for name, value, where in read_config(path, overrides)}
    return TrainConfig(**values).validate()


def save_config(config: TrainConfig, path: Path) -> None:
    path.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
