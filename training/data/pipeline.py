"""Streaming weighted pair pipeline: many Hub-format sources -> deduplicated, tokenised, resumable batches.

Data config (YAML or JSON)::

    sources:                      # or a path to a 2021 data_config.json (relative to this file)
      - {name: gooaq, path: se1b/gooaq, config: default, split: train, weight: 6}
      - {name: eli5, path: ./data/eli5, weight: 3}          # a local folder: Parquet shards + README.md `configs:`
    root: published               # a source without `path` is root/<name>: a folder written by
                                  # `se1b data publish NAME --out published/NAME`, or the Hub repo namespace/NAME
    batch_composition: single_source   # or "mixed"
    steps_per_source: 4           # single_source: keep a source for k consecutive steps (the 2021 run used 4)
    stopping_strategy: never      # never | first_exhausted | all_exhausted | all_exhausted_without_replacement
    shuffle_window: 10000         # rows shuffled together per source
    swap_sides: false             # randomly swap anchor and positive of pairs (not of triplets)
    drop_last: false              # with a stopping strategy: drop the short batch at the end of the data

The 2021 form is a JSON list of {"name": "reddit/reddit_2015.jsonl.gz", "lines": N, "weight": W} (all-MiniLM-L6-v2's
data_config.json); give it with a `root`. Each file name is looked up in the builders' catalog
(datasets_builders.catalog), which says which source holds it (read from root/<source>); the files of one source
merge into one entry whose weight (and line count) is the sum of theirs, so within a source rows come in stream
order rather than by the 2021 per-file weights (e.g. per Stack Exchange site). Other names give root/<name>.
Weights are relative (any positive numbers) and are normalised into sampling probabilities, exactly as
`interleave_datasets(..., probabilities=...)` uses them, with the same stopping strategies plus "never" (the
default: exhausted sources restart with a new epoch, as a long run needs).

Batch contract (what iterating a `PairPipeline` yields, one dict per step, per process)::

    {"anchor":   {"input_ids": int32[B, T1], "attention_mask": int32[B, T1]},
     "positive": {"input_ids": int32[B, T2], "attention_mask": int32[B, T2]},
     "negative": {...}                # only when every row of the batch has a hard negative
     "source": "gooaq"                # single_source
     "sources": ["gooaq", "eli5", ...]}  # mixed: one name per row

with B = global_batch_size // process_count (this process's slice of the global batch; a short last batch is split
into near-equal parts) and T1, T2 bucket lengths <= max_seq_length
(see training/data/tokenize.py).
Without a tokenizer the same dict holds lists of strings instead of the token dicts.

Design, and why:
- Sources are read with `load_dataset(..., streaming=True)` in Arrow blocks (`.iter(batch_size=shuffle_window)`);
  each block is shuffled with a permutation seeded by (seed, source, 0, epoch, block) (0: the former process index,
  kept so one-process streams and their saved states are unchanged). We do not use `.shuffle(buffer_size=...)`:
  datasets does not restore its buffer, so a resume would not replay the same batches. Our shuffle is a pure
  function of the position, so the state is tiny: the datasets stream state at the start of the current block plus
  the offset inside it. Each epoch also reads the source's data files (shards) in a new seeded order, so a large
  source is mixed beyond one block.
- Multi-process: every process draws the whole global batch of a step, exactly as one process would (the same
  streams, seeds and dedupe), and keeps only its own slice of rows (process p: the p-th of process_count near-equal
  parts) for tokenisation. So a W-process run trains on the 1-process run's global batches row for row, the dedupe
  is over the global batch (no text twice in a global batch, across processes too), all processes end at the same
  step, and the pipeline state is the same on every process. The cost: each process reads and dedupes every row of
  the global batch, not 1/W of them. Reading is the cheap part (200,000+ text pairs/s per core, BENCHMARKS.md "Data
  pipeline", against ~17,000 pairs per CPU-second for tokenisation, which stays split W ways), i.e. ~0.1 core per
  host per 20,000 pairs/s of global training rate, whatever W. Reading disjoint parts per process (the previous
  design, `split_dataset_by_node`) saved that but made the global batch depend on W and let a text occur twice
  in a global batch across processes (a false in-batch negative).
- Which source a step (single_source) or a row (mixed) comes from is drawn with numpy from a generator seeded by
  (seed, step): no RNG state to carry, and every process draws the same source for the same step. Mixing rows with
  numpy over Arrow blocks avoids row-level `interleave_datasets`, which runs at ~3,100 rows/s here
  (bench/bench_pipeline.py measures both).
- No text appears twice in a batch (in-batch negatives would contain false negatives): a row whose anchor, positive
  or negative is already in the batch is deferred to the source's next batch; beyond `global_batch_size` deferred
  rows per source the excess is dropped. Both are counted in `stats`.
- Hard negatives: a source has them when its schema has a `negative` column (published triplet configs do, pair
  configs have only anchor and positive; `source_has_negative` reads the dataset's features). A batch has a
  negative for every row or for none, the same on every process (one loss, one set of shapes): single_source
  batches carry their source's negatives (a row of that source without one is skipped,
  `stats["skipped_no_negative"]`); mixed batches carry negatives only when every source has them, otherwise they
  are left out and counted in `stats["negatives_ignored"]`.
- Tokenisation runs in a pool of `num_workers` threads (the Rust tokenizer releases the GIL; default: cores - 1),
  fed by a producer thread that keeps `prefetch` tokenised batches ready beyond those being tokenised. Every
  produced batch carries a snapshot of the pipeline state after it, and `state_dict()` returns the snapshot of the
  last batch handed out, so prefetching never leaks into a checkpoint.

State (`state_dict()`, JSON-serialisable)::

    {"version": 1, "step": int, "finished": bool, "fingerprint": {...the settings that shape the stream...},
     "pairs_per_source": {name: int}, "stats": {name: int},
     "sources": [{"name", "epoch", "block", "offset", "stream_state", "stream_ended", "exhausted_once", "finished",
                  "deferred": [[anchor, positive, negative_or_null], ...]}, ...]}

`stats`: deferred_duplicates, dropped_duplicates, skipped_empty, skipped_no_negative, dropped_at_end,
negatives_ignored (row counts). The fingerprint holds source names/configs/splits/weights, composition,
steps_per_source, stopping strategy, shuffle window, swap_sides, drop_last, per-process batch size, seed and
process layout (not paths: data may move between runs); `load_state_dict` refuses a state whose fingerprint differs.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from se1b.errors import UserError, library_logs_held
from se1b.yaml_input import load_yaml, shown

COMPOSITIONS = ("single_source", "mixed")
STOPPING_STRATEGIES = ("never", "first_exhausted", "all_exhausted", "all_exhausted_without_replacement")
STATE_VERSION = 1
_SOURCE_KEYS = {"name", "path", "config", "split", "weight", "lines"}
_CONFIG_KEYS = {"sources", "root", "batch_composition", "steps_per_source", "stopping_strategy", "shuffle_window",
                "swap_sides", "drop_last"}
_STATS = ("deferred_duplicates", "dropped_duplicates", "skipped_empty", "skipped_no_negative", "dropped_at_end",
          "negatives_ignored")


@dataclass(frozen=True)
class SourceSpec:
    """One pair source: a Hub dataset repo id or a local Hub-format folder, its config and split, and a weight."""

    name: str
    path: str
    config: str | None = None
    split: str = "train"
    weight: float = 1.0
    lines: int | None = None  # informational (the 2021 config lists it)


@dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceSpec, ...]
    batch_composition: str = "single_source"
    steps_per_source: int = 1
    stopping_strategy: str = "never"
    shuffle_window: int = 10_000
    swap_sides: bool = False
    drop_last: bool = False

    @property
    def probabilities(self) -> np.ndarray:
        weights = np.array([s.weight for s in self.sources], dtype=np.float64)
        return weights / weights.sum()


@cache
def _catalog_2021() -> dict[str, str]:
    """2021 file name -> the builders' catalog source that holds it."""
    from datasets_builders.registry import list_sources

    return {file: source.name for source in list_sources() for file, _, _ in source.files_2021}


def _parse_source(entry: object, where: str, root: str | None) -> tuple[SourceSpec, bool]:
    """One source entry -> (spec, whether it is a 2021 file name mapped to its catalog source)."""
    if not isinstance(entry, dict):
        raise UserError(f"{where}: a source must be a mapping with name, path, config, split, weight")
    unknown = set(entry) - _SOURCE_KEYS
    if unknown:
        raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SOURCE_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise UserError(f"{where}: missing source 'name'")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
        raise UserError(f"{where}: source {shown(name)} has weight {shown(weight)}; weights must be positive numbers")
    path, config, mapped = entry.get("path"), entry.get("config"), False
    if path is None:
        if root is None:
            raise UserError(f"{where}: source {shown(name)} has no 'path' and the config gives no 'root'")
        if name.endswith((".jsonl.gz", ".jsonl")) and name in _catalog_2021():
            name, mapped = _catalog_2021()[name], True
        path = f"{root.rstrip('/')}/{name.removesuffix('.gz').removesuffix('.jsonl')}"
    spec = SourceSpec(name=name, path=str(path), config=config, split=str(entry.get("split", "train")),
                      weight=float(weight), lines=entry.get("lines"))
    return spec, mapped


def _merge_2021_files(parsed: list[tuple[SourceSpec, bool]]) -> list[SourceSpec]:
    """The 2021 config lists files (290); the catalog has one source per family of files (33): sum their weights
    and lines, so each source keeps the share its files had together."""
    out: list[SourceSpec] = []
    position: dict[str, int] = {}  # source name -> its index in `out`
    for spec, mapped in parsed:
        if mapped and spec.name in position:
            first = out[position[spec.name]]
            lines = None if first.lines is None or spec.lines is None else first.lines + spec.lines
            out[position[spec.name]] = replace(first, weight=first.weight + spec.weight, lines=lines)
            continue
        if mapped:
            position[spec.name] = len(out)
        out.append(spec)
    return out


def _read_file(path: Path) -> object:
    if not path.is_file():
        raise UserError(f"data config not found: {path}")
    return load_yaml(path.read_text(), path)  # YAML is a superset of JSON


def load_data_config(config: str | Path | dict | list, *, root: str | Path | None = None) -> DataConfig:
    """Read and check a data config (a YAML/JSON file, or the parsed mapping/list); `root` locates sources given by
    name only (the 2021 form) and overrides the file's own `root`. Raises UserError naming the field at fault."""
    where, base = "data config", Path.cwd()
    if isinstance(config, str | Path):
        where, base = str(config), Path(config).parent
        config = _read_file(Path(config))
    if isinstance(config, list):  # the 2021 data_config.json form
        config = {"sources": config}
    if not isinstance(config, dict):
        raise UserError(f"{where}: expected a mapping with 'sources' or a list of sources")
    unknown = set(config) - _CONFIG_KEYS
    if unknown:
        raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_CONFIG_KEYS)}")
    if root is None and config.get("root") is not None:  # a root written in the file is relative to the file
        root = str(config["root"])
        root = str(base / root) if not Path(root).is_absolute() and (base / root).exists() else root
    entries = config.get("sources")
    if isinstance(entries, str):  # a path to a 2021 data_config.json
        sources_file = base / entries
        where, entries = str(sources_file), _read_file(sources_file)
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{where}: 'sources' must be a non-empty list")
    parsed = [_parse_source(entry, f"{where}: sources[{i}]", root) for i, entry in enumerate(entries)]
    sources = tuple(_merge_2021_files(parsed))
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UserError(f"{where}: source name(s) listed twice: {duplicated}")
    composition = config.get("batch_composition", "single_source")
    if composition not in COMPOSITIONS:
        raise UserError(f"{where}: batch_composition {shown(composition)} is not one of {COMPOSITIONS}")
    strategy = config.get("stopping_strategy", "never")
    if strategy not in STOPPING_STRATEGIES:
        raise UserError(f"{where}: stopping_strategy {shown(strategy)} is not one of {STOPPING_STRATEGIES}")
    for key in ("steps_per_source", "shuffle_window"):
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{where}: {key} must be a positive integer, got {shown(value)}")
    return DataConfig(sources=sources, batch_composition=composition,
                      steps_per_source=config.get("steps_per_source", 1), stopping_strategy=strategy,
                      shuffle_window=config.get("shuffle_window", 10_000), swap_sides=bool(config.get("swap_sides")),
                      drop_last=bool(config.get("drop_last")))


def open_source(spec: SourceSpec, process_index: int = 0, process_count: int = 1, *,
                shard_order_seed: list[int] | None = None):
    """This process's part of one source as a streaming, Arrow-formatted `IterableDataset`, its data files (shards)
    in an order permuted by `shard_order_seed` (give every process the same seed: they split the same list).
    Raises UserError when the source cannot be opened, lacks the split or lacks the anchor/positive columns."""
    import datasets
    from datasets.distributed import split_dataset_by_node

    what = f"data source {spec.name!r} ({spec.path}, config {spec.config}, split {spec.split})"
    looks_local = spec.path.startswith((".", "/", "~")) or spec.path.count("/") > 1
    if looks_local and not Path(spec.path).expanduser().is_dir():
        raise UserError(f"{what}: folder not found")
    # datasets logs the errors it raises; the UserError says them once (library_logs_held)
    with library_logs_held("datasets"):
        try:  # resolves the README's `configs:` (or the repo's files) to data files, without reading them
            builder = datasets.load_dataset_builder(spec.path, spec.config)
        except Exception as error:  # datasets raises many types (ValueError, FileNotFoundError, ConnectionError...)
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(f"{what}: cannot open: {reason}") from error
    splits = {str(name): files for name, files in (builder.config.data_files or {}).items()}
    if not splits.get(spec.split):
        raise UserError(f"{what}: no split {spec.split!r}; available: {sorted(splits)}")
    files = list(splits[spec.split])
    if shard_order_seed is not None:
        files = [files[i] for i in np.random.default_rng(shard_order_seed).permutation(len(files))]
    with library_logs_held("datasets"):
        try:  # reads the first shard's schema
            dataset = datasets.load_dataset(builder.name, data_files={spec.split: files}, split=spec.split,
                                            streaming=True, features=builder.info.features)
        except Exception as error:  # pyarrow (ArrowInvalid, OSError) and datasets raise many types
            raise read_error(spec, error) from error
    columns = list(dataset.features) if dataset.features is not None else list(next(iter(dataset.take(1)), {}))
    missing = [c for c in ("anchor", "positive") if c not in columns]
    if missing:
        raise UserError(f"{what}: missing column(s) {missing}; found {columns} (needs anchor, positive[, negative])")
    keep = [c for c in ("anchor", "positive", "negative") if c in columns]
    dataset = dataset.select_columns(keep)
    if process_count > 1:
        dataset = split_dataset_by_node(dataset, rank=process_index, world_size=process_count)
    return dataset.with_format("arrow")


CARD_SHOWN_ROWS = 3  # rows of each source the card shows


def source_summary(spec: SourceSpec, tokenizer: object = None, max_seq_length: int = 128) -> dict:
    """What the model card shows of a source beside its dataset card's facts: its columns, its first rows, and the
    min / mean / max token count of each column over the first CARD_SAMPLE_ROWS rows (tokenised as the model
    does, truncated at max_seq_length; none without a tokenizer)."""
    from model_cards.metadata import CARD_SAMPLE_ROWS

    dataset = open_source(spec)
    block = next_block(spec, dataset.iter(batch_size=CARD_SAMPLE_ROWS))
    rows = block.to_pylist() if block is not None else []
    columns = list(dataset.column_names or (rows[0] if rows else []))
    lengths = {}
    for column in columns if tokenizer is not None and rows else []:
        texts = [row[column] for row in rows if isinstance(row[column], str)]
        counts = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_seq_length)["input_ids"]]
        if counts:
            lengths[column] = {"min": min(counts), "mean": round(sum(counts) / len(counts), 2), "max": max(counts)}
    return {"columns": columns, "token_lengths": lengths, "samples": rows[:CARD_SHOWN_ROWS]}


def source_has_negative(dataset) -> bool:
    """Whether an opened source (`open_source`) gives hard negatives, read from its schema: a triplet config has a
    `negative` column, a pair config has none. The schema is the same for every process, so they all agree."""
    return "negative" in (dataset.column_names or [])


def next_block(spec: SourceSpec, blocks: Iterator):
    """The next Arrow block of a source (None at its end); a corrupt or truncated shard is a one-line UserError
    naming the file, when a footer check finds it."""
    with library_logs_held("datasets"):
        try:
            return next(blocks, None)
        except Exception as error:  # pyarrow (ArrowInvalid, OSError) and datasets wrap read errors in many types
            raise read_error(spec, error) from error


def read_error(spec: SourceSpec, error: Exception) -> UserError:
    """The one-line error for a source whose data files cannot be read, naming the broken shards it can find."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    broken = _unreadable_parquet_files(spec)
    where = f"{', '.join(broken)} cannot be read" if broken else "a data file cannot be read"
    return UserError(f"data source {spec.name!r} ({spec.path}): {where} ({reason}); the shard is corrupt or "
                     "truncated: rebuild or re-download it")


def _unreadable_parquet_files(spec: SourceSpec) -> list[str]:
    """The local Parquet files of a source whose footer (metadata) cannot be read."""
    import pyarrow.parquet as pq

    folder = Path(spec.path).expanduser()
    if not folder.is_dir():
        return []
    broken = []
    for path in sorted(folder.rglob("*.parquet")):
        try:
            pq.read_metadata(path)
        except Exception:  # noqa: BLE001 - any failure to read the footer means the file is broken
            broken.append(str(path))
    return broken


@dataclass
class _SourceStream:
    """One source's rows for this process, shuffled by block, with the duplicates it had to defer."""

    spec: SourceSpec
    index: int
    seed: int
    process_index: int
    process_count: int
    block_size: int
    carry_negative: bool  # the source has negatives and this pipeline puts them in its batches
    epoch: int = 0
    block: int = -1  # -1: no block read yet in this epoch
    offset: int = 0
    stream_state: dict | None = None  # datasets' state at the start of the current block
    stream_ended: bool = False
    exhausted_once: bool = False
    finished: bool = False  # all_exhausted_without_replacement: nothing left
    deferred: list = field(default_factory=list)
    _opened: tuple | None = None  # (epoch, dataset as opened for that epoch, never given a state)
    _dataset: object = None
    _blocks: Iterator | None = None
    _rows: list | None = None
    _state_after: dict | None = None
    _snapshot: dict | None = None

    def _open(self) -> None:
        """The source with this epoch's shard order, as a fresh object (a dataset that was given a state replays from
        it on every later iteration)."""
        if self._opened is None or self._opened[0] != self.epoch:
            seed = [self.seed, self.index, self.epoch]  # no process index: all processes split the same file order
            self._opened = (self.epoch, open_source(self.spec, self.process_index, self.process_count,
                                                    shard_order_seed=seed))
        self._dataset = self._opened[1].with_format("arrow")  # a new IterableDataset object over the same files

    def _read_block(self) -> None:
        """Read the next Arrow block and put its rows in this block's seeded order."""
        if self._blocks is None:
            if self._dataset is None:
                self._open()
            if self.stream_state is not None:
                self._dataset.load_state_dict(self.stream_state)
            self._blocks = iter(self._dataset.iter(batch_size=self.block_size))
            self._state_after = self.stream_state  # None: the start of the epoch
        table = next_block(self.spec, self._blocks)
        if table is None:
            self.stream_ended, self._rows = True, []
            return
        # datasets' state is live only while iterating: read it after each block, it is where the next one starts
        self.stream_state, self._state_after = self._state_after, self._dataset.state_dict()
        self.block += 1
        columns = [table.column(c).to_pylist() for c in ("anchor", "positive")]
        columns.append(table.column("negative").to_pylist() if self.carry_negative else [None] * table.num_rows)
        if self.carry_negative and table.num_rows and not any(columns[2]):
            # a schema with `negative` but no value in a whole block: an old publish with an all-null column
            raise UserError(f"data source {self.spec.name!r} ({self.spec.path}): its `negative` column is empty in "
                            f"{table.num_rows:,} rows; republish it with `se1b data publish` (pairs get no negative "
                            "column) or drop the column")
        order = np.random.default_rng([self.seed, self.index, self.process_index, self.epoch, self.block])
        anchors, positives, negatives = columns
        self._rows = [(anchors[j], positives[j], negatives[j]) for j in order.permutation(table.num_rows).tolist()]

    def restore(self, state: dict) -> None:
        for key in ("epoch", "block", "offset", "stream_ended", "exhausted_once", "finished"):
            setattr(self, key, state[key])
        self.stream_state = state["stream_state"]
        self.deferred = [tuple(row) for row in state["deferred"]]
        self._dataset = self._blocks = self._rows = self._snapshot = None
        if self.block >= 0 and not self.stream_ended:  # re-read the current block; we resume at `offset` inside it
            offset, self.block = self.offset, self.block - 1
            self._open()
            self._read_block()
            self.offset = offset

    def new_epoch(self) -> None:
        self.epoch += 1
        self.block, self.offset, self.stream_state, self.stream_ended = -1, 0, None, False
        self._dataset = self._blocks = self._rows = self._snapshot = None

    def snapshot(self) -> dict:
        if self._snapshot is None:
            self._snapshot = {
                "name": self.spec.name, "epoch": self.epoch, "block": self.block, "offset": self.offset,
                "stream_state": copy.deepcopy(self.stream_state), "stream_ended": self.stream_ended,
                "exhausted_once": self.exhausted_once, "finished": self.finished,
                "deferred": [list(row) for row in self.deferred],
            }
        return self._snapshot

    def take(self, n: int, seen: set, stats: dict, max_deferred: int) -> list[tuple]:
        """Up to n rows none of whose texts is in `seen` (which grows); fewer only at the end of the epoch."""
        self._snapshot = None
        rows, retry, self.deferred = [], self.deferred, []

        def offer(row: tuple) -> None:
            anchor, positive, negative = row
            if not anchor or not positive:
                stats["skipped_empty"] += 1
            elif self.carry_negative and not negative:
                stats["skipped_no_negative"] += 1
            elif anchor in seen or positive in seen or (negative is not None and negative in seen):
                if len(self.deferred) < max_deferred:
                    self.deferred.append(row)
                    stats["deferred_duplicates"] += 1
                else:
                    stats["dropped_duplicates"] += 1
            else:
                seen.add(anchor)
                seen.add(positive)
                if negative is not None:
                    seen.add(negative)
                rows.append(row)

        for i, row in enumerate(retry):
            if len(rows) == n:
                self.deferred = retry[i:] + self.deferred
                return rows
            offer(row)
        while len(rows) < n and not self.stream_ended:
            if self._rows is None or self.offset == len(self._rows):
                self._read_block()
                self.offset = 0
                continue
            block_rows, offset = self._rows, self.offset
            while len(rows) < n and offset < len(block_rows):
                offer(block_rows[offset])
                offset += 1
            self.offset = offset
        return rows


class PairPipeline:
    """Iterate deduplicated (and, with a tokenizer, tokenised) batches of pairs from weighted streaming sources.

    Example:
        >>> pipeline = PairPipeline("data.yaml", global_batch_size=1024, tokenizer="path/to/model", seed=0)
        >>> batch = next(pipeline)
        >>> state = pipeline.state_dict()          # JSON-serialisable; save it with the checkpoint
        >>> pipeline.load_state_dict(state)        # later, in a new process: the same batches follow
        >>> pipeline.pairs_per_source              # {"gooaq": 615, ...} pairs handed out so far

    Opening checks every source (exists, config and split known, anchor/positive columns present) and raises
    UserError before any training starts.
    """

    def __init__(self, config: DataConfig | str | Path | dict | list, *, global_batch_size: int,
                 tokenizer: object = None, max_seq_length: int = 128, buckets: tuple[int, ...] | None = None,
                 seed: int = 0, process_index: int = 0, process_count: int = 1, root: str | Path | None = None,
                 num_workers: int | None = None, prefetch: int = 4, prefixes: dict[str, str] | None = None):
        self.config = config if isinstance(config, DataConfig) else load_data_config(config, root=root)
        if global_batch_size < 1 or global_batch_size % process_count:
            raise UserError(f"global batch size {global_batch_size} must be a positive multiple of the "
                            f"{process_count} processes")
        if not 0 <= process_index < process_count:
            raise UserError(f"process index {process_index} outside 0..{process_count - 1}")
        self.batch_size = global_batch_size // process_count
        self.global_batch_size = global_batch_size
        self.seed, self.process_index, self.process_count = seed, process_index, process_count
        self.prefetch = max(1, prefetch)
        self.num_workers = num_workers or max(1, (os.cpu_count() or 2) - 1)
        self.tokenize = None
        self.tokenizer, self.max_seq_length = tokenizer, max_seq_length  # for the card's token statistics
        if tokenizer is not None:
            from training.data.tokenize import BucketTokenizer

            self.tokenize = BucketTokenizer(tokenizer, max_seq_length, buckets)
        # side ("anchor", "positive", "negative") -> text put in front of that side's texts at tokenisation (prompts);
        # deduplication and the state see the raw texts.
        self.prefixes = prefixes or {}
        self._streams = []
        for i, spec in enumerate(self.config.sources):
            # Process 0 of 1 on every process: each draws the global batch as a single process would (module notes).
            stream = _SourceStream(spec, i, seed, 0, 1, self.config.shuffle_window, False)
            stream._open()  # checks the source now, before any training starts
            self._streams.append(stream)
        self.has_negative = {s.spec.name: source_has_negative(s._opened[1]) for s in self._streams}
        # a batch has a negative for every row or for none, the same on every process: single_source batches carry
        # their source's negatives, mixed batches only when every source has them
        carry = self.config.batch_composition == "single_source" or all(self.has_negative.values())
        for stream in self._streams:
            stream.carry_negative = carry and self.has_negative[stream.spec.name]
        self._step = 0
        self._finished = False
        self._pairs = {s.spec.name: 0 for s in self._streams}
        self._stats = dict.fromkeys(_STATS, 0)
        self._state = self._snapshot()
        self._rewind = False  # the producer is ahead of (or elsewhere than) self._state: restore before producing
        self._thread: threading.Thread | None = None

    # ---- state -------------------------------------------------------------------------------------------------
    def _fingerprint(self) -> dict:
        c = self.config
        return {"sources": [[s.name, s.config, s.split, s.weight] for s in c.sources],  # paths may move on resume
                "batch_composition": c.batch_composition, "steps_per_source": c.steps_per_source,
                "stopping_strategy": c.stopping_strategy, "shuffle_window": c.shuffle_window,
                "swap_sides": c.swap_sides, "drop_last": c.drop_last, "batch_size": self.batch_size,
                "seed": self.seed, "process_index": self.process_index, "process_count": self.process_count,
                # several processes draw global batches since 2026-11-29: a state of per-process reading is refused
                **({"draw": "global"} if self.process_count > 1 else {})}

    def _snapshot(self) -> dict:
        return {"version": STATE_VERSION, "step": self._step, "finished": self._finished,
                "fingerprint": self._fingerprint(), "pairs_per_source": dict(self._pairs),
                "stats": dict(self._stats), "sources": [s.snapshot() for s in self._streams]}

    def state_dict(self) -> dict:
        """The state after the last batch handed out (JSON-serialisable); batches prefetched beyond it are replayed
        after `load_state_dict`."""
        return copy.deepcopy(self._state)

    def load_state_dict(self, state: dict) -> None:
        """Resume exactly where `state` was taken. The config, batch size, seed and process layout must match."""
        if state.get("version") != STATE_VERSION:
            raise UserError(f"data pipeline state version {state.get('version')} is not {STATE_VERSION}")
        expected = json.loads(json.dumps(self._fingerprint()))
        if state["fingerprint"] != expected:
            changed = sorted(k for k in expected if state["fingerprint"].get(k) != expected[k])
            raise UserError(f"data pipeline state was saved with different settings: {changed}")
        self.close()
        self._state, self._rewind = copy.deepcopy(state), True

    def _restore(self, state: dict) -> None:
        """Put the producer back to `state` (it runs ahead of the consumer, or a state was loaded)."""
        self._step, self._finished = state["step"], state["finished"]
        self._pairs, self._stats = dict(state["pairs_per_source"]), dict(state["stats"])
        for stream, source_state in zip(self._streams, state["sources"], strict=True):
            stream.restore(source_state)
        self._rewind = False

    @property
    def pairs_per_source(self) -> dict[str, int]:
        """Pairs of the global batches handed out so far per source (as of the last batch returned; the same on every
        process): for logs and the model card."""
        return dict(self._state["pairs_per_source"])

    @property
    def stats(self) -> dict[str, int]:
        """Rows deferred or dropped as in-batch duplicates, skipped as empty, dropped at the end, negatives ignored."""
        return dict(self._state["stats"])

    def card_sources(self) -> list[dict]:
        """Rows for the model card's data table: every configured source with the pairs it contributed, the licence,
        citation, languages and size its own dataset card states, and its columns, first rows and token lengths."""
        from model_cards.source_facts import dataset_facts

        counts = self.pairs_per_source
        total = max(sum(counts.values()), 1)
        return [{"name": s.name, "dataset": s.path, "config": s.config, "split": s.split, "weight": s.weight,
                 "pairs_seen": counts.get(s.name, 0), "share": counts.get(s.name, 0) / total}
                | dataset_facts(s.path, s.config, s.split) | source_summary(s, self.tokenizer, self.max_seq_length)
                for s in self.config.sources]

    # ---- producing text batches (one thread, deterministic) ----------------------------------------------------
    def _active(self) -> list[int]:
        return [i for i, s in enumerate(self._streams) if not s.finished]

    def _probabilities(self, active: list[int]) -> np.ndarray:
        p = self.config.probabilities[active]
        return p / p.sum()

    def _fill(self, i: int, n: int, seen: set) -> tuple[list, bool]:
        """n rows from source i, restarting or finishing it at its end as the stopping strategy says.
        Returns the rows and whether the whole stream must stop after this batch."""
        stream, strategy = self._streams[i], self.config.stopping_strategy
        rows, restarted = [], False
        while len(rows) < n:
            got = stream.take(n - len(rows), seen, self._stats, self.global_batch_size)
            rows += got
            if len(rows) == n:
                break
            if restarted and not got:  # a whole epoch added nothing: restarting again would loop for ever
                raise UserError(f"data source {stream.spec.name!r} gave no usable pair in a whole epoch: is it empty, "
                                f"or has it fewer distinct texts than a global batch of {self.global_batch_size}?")
            stream.exhausted_once = True
            if strategy == "first_exhausted":
                return rows, True
            if strategy == "all_exhausted" and all(s.exhausted_once for s in self._streams):
                return rows, True
            if strategy == "all_exhausted_without_replacement":
                if not stream.deferred:
                    stream.finished = True
                break
            stream.new_epoch()
            restarted = True
        return rows, False

    def _next_text_batch(self) -> dict | None:
        if self._finished:
            return None
        step, n, seen = self._step, self.global_batch_size, set()
        names = [s.spec.name for s in self._streams]
        stop = False
        active = self._active()
        if self.config.batch_composition == "single_source":
            # the same draw on every process: a global batch comes from one source
            group_rng = np.random.default_rng([self.seed, 1, step // self.config.steps_per_source])
            i = int(active[group_rng.choice(len(active), p=self._probabilities(active))])
            rows, stop = self._fill(i, n, seen)
            row_sources = [i] * len(rows)
        else:
            rng = np.random.default_rng([self.seed, 2, 0, step])  # 0: the draw of process 0 of 1, on every process
            rows, row_sources = [], []
            while len(rows) < n and active and not stop:
                counts = np.bincount(rng.choice(len(active), size=n - len(rows), p=self._probabilities(active)),
                                     minlength=len(active))
                for i, count in zip(active, counts.tolist(), strict=True):
                    if count and not stop:
                        got, stop = self._fill(i, count, seen)
                        rows += got
                        row_sources += [i] * len(got)
                short_active = self._active()
                if short_active == active and len(rows) < n:  # only clashing deferred rows left: a short batch
                    break
                active = short_active
        if stop or not self._active():
            self._finished = True
            for s in self._streams:
                self._stats["dropped_at_end"] += len(s.deferred)
        if not rows or (self._finished and self.config.drop_last and len(rows) < n):
            self._stats["dropped_at_end"] += len(rows)
            return None
        self._step += 1
        for i in row_sources:
            self._pairs[names[i]] += 1
        batch = self._assemble(rows, row_sources, step)
        if self.process_count == 1:
            return batch
        # This process's slice of the global batch (near-equal parts, so a short last batch loses no row).
        part = np.array_split(np.arange(len(rows)), self.process_count)[self.process_index]
        start, stop_row = (int(part[0]), int(part[-1]) + 1) if len(part) else (0, 0)
        return {key: value[start:stop_row] if isinstance(value, list) else value for key, value in batch.items()}

    def _assemble(self, rows: list[tuple], row_sources: list[int], step: int) -> dict:
        anchors, positives, negatives = (list(column) for column in zip(*rows, strict=True))
        if self.config.swap_sides:
            swap = np.random.default_rng([self.seed, 3, 0, step]).random(len(rows)) < 0.5  # the global batch's draw
            for j in np.flatnonzero(swap).tolist():
                if negatives[j] is None:  # a triplet's negative belongs to its anchor: keep triplets as they are
                    anchors[j], positives[j] = positives[j], anchors[j]
        batch = {"anchor": anchors, "positive": positives}
        if negatives[0] is not None:  # then every row has one (see carry_negative)
            batch["negative"] = negatives
        streams = [self._streams[i] for i in row_sources]
        ignored = sum(self.has_negative[s.spec.name] and not s.carry_negative for s in streams)
        self._stats["negatives_ignored"] += ignored
        if self.config.batch_composition == "single_source":
            batch["source"] = streams[0].spec.name
        else:
            batch["sources"] = [s.spec.name for s in streams]
        return batch

    def _tokenized(self, batch: dict) -> dict:
        out = {k: v for k, v in batch.items() if k in ("source", "sources")}
        for side in ("anchor", "positive", "negative"):
            if side in batch:
                prefix = self.prefixes.get(side, "")
                out[side] = self.tokenize([prefix + text for text in batch[side]] if prefix else batch[side])
        return out

    # ---- background producer, thread pool, prefetch -----------------------------------------------------------
    def _produce(self, out: queue.Queue, stop: threading.Event, pool) -> None:
        def put(item: tuple) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            while not stop.is_set():
                batch = self._next_text_batch()
                if batch is None:
                    put(("end", None, None))
                    return
                work = pool.submit(self._tokenized, batch) if pool is not None else batch
                if not put(("batch", work, self._snapshot())):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            put(("error", error, None))

    def _start(self) -> None:
        if self._rewind:
            self._restore(self._state)
        # batches being tokenised (one per worker) plus `prefetch` ready ones
        self._queue = queue.Queue(maxsize=self.prefetch + (self.num_workers if self.tokenize else 0))
        self._stop = threading.Event()
        self._pool = (concurrent.futures.ThreadPoolExecutor(self.num_workers, thread_name_prefix="tokenize")
                      if self.tokenize is not None else None)
        self._thread = threading.Thread(target=self._produce, args=(self._queue, self._stop, self._pool),
                                        name="pair-pipeline", daemon=True)
        self._thread.start()

    def __iter__(self) -> PairPipeline:
        return self

    def __next__(self) -> dict:
        if self._thread is None:
            self._start()
        kind, work, state = self._queue.get()
        if kind == "error":
            self.close()
            raise work
        if kind == "end":
            self._queue.put((kind, work, state))  # stay exhausted
            raise StopIteration
        batch = work.result() if isinstance(work, concurrent.futures.Future) else work
        self._state = state
        return batch

    def close(self) -> None:
        """Stop the background threads (prefetched batches are discarded; `state_dict()` is unaffected)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._thread = None
        self._rewind = True  # the producer ran ahead of the last batch handed out

    def __del__(self) -> None:
        if getattr(self, "_thread", None) is not None:
            self._stop.set()
