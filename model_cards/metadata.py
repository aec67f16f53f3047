"""What a training run leaves behind for its model card: `run_metadata.json` in the exported model folder.

The trainer fills a `RunMetadata` and saves it; `se1b card MODEL_DIR` and `write_model_card` read it back. The
training curves live in `metrics.jsonl` beside it (one JSON object per line, each with a "step"):

    {"step": 10, "loss": 2.31, "learning_rate": 1.9e-05, ...}   training log lines
    {"step": 100, "eval/stsb-dev/spearman": 0.81, ...}        evaluation lines: keys "eval/<dataset>/<metric>"

Any other numeric keys are kept and ignored by the plots. Example:

    >>> meta = RunMetadata(model_name="se1b-minilm", base_model="nreimers/MiniLM-L6-H384-uncased")
    >>> meta.training.steps = 1000
    >>> meta.save(Path("out/model/run_metadata.json"))
    >>> RunMetadata.load(Path("out/model/run_metadata.json")).training.steps
    1000
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from se1b.errors import UserError

METADATA_FILE = "run_metadata.json"
METRICS_FILE = "metrics.jsonl"
CARD_SAMPLE_ROWS = 1000  # rows of each source whose token lengths the card summarises (as sentence-transformers does)
MODEL_KINDS = ("general", "qa", "conversational", "multilingual")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the Hub spells repo ids
LOCAL_FOLDER, LOCAL_FILE = "a local folder", "a local file"
# A Hugging Face cache path names its repo: .../models--owner--name/snapshots/<sha>/...
_CACHE_REPO = re.compile(r"(?:models|datasets)--([\w.-]+?)--([\w.-]+)(?:/|$)")


def is_hub_id(value: str | None) -> bool:
    """`owner/name` that is not a path of this machine."""
    return bool(value) and bool(HUB_ID.match(value)) and not Path(value).exists()


def public_reference(value: str, known: dict[str, str] | None = None) -> str:
    """How a card names a model or dataset: its Hub id when it has one (given as one, a Hugging Face cache path, or a
    folder in `known`: local folder -> Hub id), "a local folder"/"a local file" for other paths, a bare name (e.g.
    "tiny-bert") as is. Never a path of the machine that wrote the card."""
    if not value:
        return value
    path = Path(value)
    if path.exists():
        for folder, hub_id in (known or {}).items():
            if Path(folder).exists() and path.resolve() == Path(folder).resolve():
                return hub_id
    cached = _CACHE_REPO.search(path.as_posix())
    if cached:
        return f"{cached.group(1)}/{cached.group(2)}"
    if is_hub_id(value):
        return value
    if path.exists() or path.is_absolute() or "/" in value or "\\" in value:
        return LOCAL_FILE if path.is_file() or path.suffix else LOCAL_FOLDER
    return value


@dataclass
class TrainingInfo:
    """Every hyperparameter of the run and where and how long it ran."""

    loss: str = "MultipleNegativesRankingLoss"
    symmetric: bool = True  # CLIP-style (CE(S) + CE(S^T)) / 2 for pairs
    scale: float = 20.0  # multiplies the cosine similarities before the cross-entropy
    batch_size: int = 0  # global batch (pairs per step, all devices)
    steps: int = 0  # optimizer steps actually taken
    learning_rate: float = 0.0
    warmup_steps: int = 0
    schedule: str = "linear"  # learning-rate decay after warmup
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0  # global-norm clipping; None = off
    max_seq_length: int = 128
    precision: str = "float32"  # compute dtype, e.g. "bfloat16" (parameters stay float32)
    gradcache_chunk: int | None = None  # GradCache chunk size; None = whole batch at once
    seed: int = 0
    pooling: str = "mean"
    normalize: bool = True
    hardware: str = ""  # e.g. "1 x NVIDIA H100 80GB HBM3" or "CPU (2 cores)"
    devices: int = 1
    processes: int = 1
    wall_time_seconds: float = 0.0
    pairs_seen: int = 0
    matryoshka_dims: list[int] = field(default_factory=list)  # nested prefixes trained (MatryoshkaLoss); [] = none
    matryoshka_weights: list[float] = field(default_factory=list)
    guide: str = ""  # guided in-batch negatives: the guide model's name; "" = none
    guide_margin: float = 0.0
    packing: bool = False  # several texts per row of max_seq_length tokens (sequence packing)
    # why: "pack: true (the config)", or what `pack: auto` measured on the first batch; "" = not recorded
    packing_decision: str = ""
    # real tokens / computed positions: the mean of metrics.jsonl's padding_efficiency column; None = not recorded
    padding_efficiency: float | None = None
    compiled_shapes: int | None = None  # batch shapes the train step compiled for (last start); None = not recorded


@dataclass
class DataSource:
    """One row of the card's training-data table."""

    name: str
    dataset: str  # Hub dataset id ("org/name"), else "a local folder" (never a path of the machine)
    config: str | None = None
    split: str = "train"
    weight: float = 1.0  # sampling weight as configured
    share: float | None = None  # share of the pairs actually seen (None: computed from pairs_seen)
    pairs_seen: int = 0
    license: str = "unknown"  # the dataset card's licence id; "other" with license_name / license_link
    citation: str = ""  # how to cite the original data (BibTeX or a line of text), from its dataset card
    license_name: str = ""  # for license "other": the real licence's id (e.g. psf-2.0) and a link to its text
    license_link: str = ""
    languages: list[str] = field(default_factory=list)  # the dataset card's language codes ("code" for code)
    rows: int | None = None  # rows of the split, from the dataset card; None = not stated
    columns: list[str] = field(default_factory=list)
    # per column, token counts of the first rows (truncated at max_seq_length): {"anchor": {"min", "mean", "max"}}
    token_lengths: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: list[dict[str, str]] = field(default_factory=list)  # the first rows of the source, as read


@dataclass
class Evaluation:
    """One evaluation result: `metrics` maps a metric name (e.g. "spearman", "ndcg@10") to its value."""

    task: str  # "sts" | "retrieval" | "gender-bias"
    dataset: str  # Hub id or a name such as "stsb"
    metrics: dict[str, float] = field(default_factory=dict)
    split: str = "test"
    step: int | None = None  # training step the numbers belong to; None = final model
    dataset_name: str | None = None  # human-readable name for the card
    details: list[dict[str, Any]] = field(default_factory=list)  # per-row results, e.g. per-occupation bias rows
    measured_by: str = "se1b eval"  # or "the training loop" (the trainer's in-loop evaluation of a checkpoint)
    dimension: int | None = None  # measured on the first `dimension` values of each embedding; None = all


@dataclass
class RunMetadata:
    """Everything a model card needs about the run that produced the model."""

    model_name: str
    base_model: str = ""  # Hub id of the starting checkpoint, "a local folder", or a random-init config name
    repo_id: str | None = None  # the Hub repo the model is (to be) pushed to; usage snippets load it
    min_sentence_transformers: str = "2.2.2"  # the oldest sentence-transformers that loads the folder
    model_kind: str = "general"  # one of MODEL_KINDS
    languages: list[str] = field(default_factory=lambda: ["en"])
    license: str = "apache-2.0"
    embedding_dimension: int | None = None
    # The exported model's max_seq_length (training.max_seq_length is the length it trained at); None = not recorded
    max_seq_length: int | None = None
    training: TrainingInfo = field(default_factory=TrainingInfo)
    data: list[DataSource] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)  # metrics.jsonl rows, if kept inline
    metrics_file: str | None = METRICS_FILE  # relative to the model folder
    evaluations: list[Evaluation] = field(default_factory=list)
    framework_versions: dict[str, str] = field(default_factory=dict)
    base_max_seq_length: int | None = None  # the base model's max_seq_length (tokens); None = not known
    # the card's usage example: {"sentences": [...], "similarities": [[...]]} computed with the trained model, and
    # "prompts": {"query": ..., "document": ...} when the model has them (then the snippet uses encode_query/_document)
    usage_example: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        """Write this metadata as JSON (creating parent folders); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> RunMetadata:
        """Read a `run_metadata.json`; an unknown or missing field is a `UserError` naming it."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise UserError(f"{path}: no run metadata here (the trainer writes {METADATA_FILE})") from error
        except json.JSONDecodeError as error:
            raise UserError(f"{path}: line {error.lineno}: not valid JSON: {error.msg}") from error
        if not isinstance(raw, dict):
            raise UserError(f"{path}: expected a JSON object")
        fields = _build(cls, raw, str(path))
        fields["training"] = TrainingInfo(**_build(TrainingInfo, raw.get("training", {}), f"{path}: training"))
        fields["data"] = [
            DataSource(**_build(DataSource, row, f"{path}: data[{i}]")) for i, row in enumerate(raw.get("data", []))
        ]
        fields["evaluations"] = [
            Evaluation(**_build(Evaluation, row, f"{path}: evaluations[{i}]"))
            for i, row in enumerate(raw.get("evaluations", []))
        ]
        meta = cls(**fields)
        if meta.model_kind not in MODEL_KINDS:
            raise UserError(f"{path}: model_kind {meta.model_kind!r} is not one of {', '.join(MODEL_KINDS)}")
        return meta

    def shares(self) -> list[float]:
        """Each source's share of the pairs seen (the stored share where given, else pairs_seen / total)."""
        total = sum(source.pairs_seen for source in self.data)
        return [
            source.share if source.share is not None else (source.pairs_seen / total if total else 0.0)
            for source in self.data
        ]


def _build(cls: type, raw: Any, where: str) -> dict[str, Any]:
    """Check a JSON object against a dataclass's fields: unknown keys and missing required ones are errors."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")
    for name, spec in known.items():
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if required and name not in raw:
            raise UserError(f"{where}: missing field {name!r}")
    return dict(raw)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Read `metrics.jsonl`: one JSON object with a "step" per line. A bad line is a `UserError` naming it."""
    rows = []
    path = Path(path)
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}: line {number}: not valid JSON: {error.msg}") from error
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise UserError(f"{path}: line {number}: expected an object with an integer 'step'")
            rows.append({k: v for k, v in row.items() if isinstance(v, (int, float))})  # numbers only
    return rows


def framework_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a trained model, for the card."""
    versions = {"python": platform.python_version()}
    for name in ("se1b", "jax", "flax", "optax", "transformers", "sentence-transformers", "tokenizers", "datasets",
                 "torch"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions
