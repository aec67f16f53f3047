"""Distillation data: parallel datasets (anchor = source sentence, positive = its translation), the teacher's
embeddings of the source sentences computed ONCE and cached, and the batches the loop trains on.

The cache lives under `cache_dir/<sha256 of teacher files + source sentences + teacher max_seq_length>/` and is
memory-mapped, so a second run on the same teacher and data (or a resumed run) never loads the teacher. Rows are
read in a seeded permutation per epoch, batch `step` holding rows [step x B, (step + 1) x B) of that order: a pure
function of the step, so resuming needs only the step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from se1b.errors import UserError, library_logs_held
from training.model.sentence_model import SentenceModel, load_sentence_model

TEACHER_CHUNK = 4096  # source sentences per teacher encode call (progress granularity)


def load_parallel_data(sources: list[dict[str, Any]]):
    """The configured parallel datasets ([{path, config, split}]), concatenated (columns anchor = source, positive =
    translation), and the row offset where each starts."""
    import datasets

    parts = []
    for source in sources:
        name = f"{source['path']} ({source.get('config') or 'default'})"
        with library_logs_held("datasets"):  # its error lines would repeat the UserError's
            try:
                part = datasets.load_dataset(source["path"], source.get("config"),
                                             split=source.get("split", "train"))
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


class TeacherBatches:
    """The loop's batches for distillation: this process's share of global batch `step`, tokenised, with the
    teacher's embeddings of its source sentences. Same interface as the pair pipeline (iterate, state_dict,
    load_state_dict, close, stats, card_sources)."""

    def __init__(self, sources: list[dict[str, Any]], dataset, offsets: np.ndarray, teacher: np.ndarray,
                 model: SentenceModel, *, global_batch_size: int, max_seq_length: int, seed: int,
                 process_index: int = 0, process_count: int = 1):
        self.sources, self.dataset, self.offsets, self.teacher, self.model = sources, dataset, offsets, teacher, model
        self.global_batch_size, self.max_seq_length, self.seed = global_batch_size, max_seq_length, seed
        local = global_batch_size // process_count
        self.local_rows = slice(process_index * local, (process_index + 1) * local)
        self.step = 0
        self.stats: dict[str, int] = {}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            rows = batch_rows(self.step, self.global_batch_size, len(self.dataset), self.seed)[self.local_rows]
            texts = self.dataset[rows]
            self.step += 1
            yield {"anchor": self.model.tokenize(texts["anchor"], self.max_seq_length),
                   "positive": self.model.tokenize(texts["positive"], self.max_seq_length),
                   "teacher": np.asarray(self.teacher[rows], dtype=np.float32)}

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])

    def close(self) -> None:
        pass

    def card_sources(self) -> list[dict[str, Any]]:
        """Rows for the card's data table: each parallel dataset with the pairs it gave to the batches so far."""
        seen = pairs_per_source(self.step, self.global_batch_size, self.offsets, self.seed)
        total = max(int(seen.sum()), 1)
        return [{"name": source.get("config") or Path(source["path"]).name, "dataset": str(source["path"]),
                 "config": source.get("config"), "split": source.get("split", "train"), "weight": 1.0,
                 "pairs_seen": int(count), "share": int(count) / total}
                for source, count in zip(self.sources, seen, strict=True)]
