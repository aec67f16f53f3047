"""Building a source: raw files -> cleaned rows of its schema (pairs or triplets, see schema.py), on Ray Data,
written to an Arrow file in constant memory.

Each raw file is read in its own Ray task (tasks.py: the source's reader through rows.py, which holds the cleaning,
the counting and the error policy; a large uncompressed JSON-lines file by one task per range of whole lines, so
workers share it); a source with a `Link` joins its records across all files through Ray's hash shuffle (Reddit:
each reply to its parent); `--dedupe` is a global exact dedupe through the same shuffle; the rows are sorted by
(file in natural order, position) and streamed to the driver, which writes them. Without a link or dedupe the order
is the tasks' own, and each read task writes its rows into the build folder itself (a part file, renamed or copied
into place by the driver: `write_arrow_batches`), unless its node does not see that folder. Each task's counts
(stats.py) travel with its rows as one extra row and are summed on the driver, so they hold whatever the number of
workers or machines (engine.py owns Ray). Files found in a folder given as raw input that are not inputs of the
source (a LICENSE, README or Sites.xml beside the data) are skipped and listed once (`not_inputs`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from datasets_builders import engine
from datasets_builders.arrow_stream import BatchWriter, read_stream
from datasets_builders.clean import Row
from datasets_builders.compressed import compression_of, count_lines, line_boundary
from datasets_builders.registry import get_source
from datasets_builders.rows import BATCH_ROWS, check_on_error, fast_path
from datasets_builders.schema import features_for, kind_of
from datasets_builders.source import Source
from datasets_builders.stats import LISTED_NOT_INPUTS, BuildStats
from datasets_builders.tasks import (
    COUNTS,
    Span,
    finish_linked,
    holds_data,
    only_counts,
    only_data,
    read_records,
    read_rows,
    with_digest,
)
from se1b.errors import UserError, library_logs_held
from se1b.files import disk_full_error, is_disk_full, staging_sibling, swap_into_place
from se1b.safety import check_name

ARROW_FILE = "pairs.arrow"
STATS_FILE = "build.json"
_RANGE_BYTES = 32 * 2**20  # an uncompressed JSON-lines file is read by one task per 32 MiB of whole lines


@dataclass
class Build:
    """A built source: its `Source`, the rows as a memory-mapped `datasets.Dataset`, the statistics, the folder
    holding them, and the catalog facts (`Source.facts()`) that publishing and the card use."""

    source: Source
    dataset: datasets.Dataset
    stats: BuildStats
    path: Path
    facts: dict

    @property
    def kind(self) -> str:
        """"pairs" (anchor, positive) or "triplets" (anchor, positive, negative): the schema of the data."""
        return kind_of(self.facts["arity"])


def write_arrow(rows: Iterable[Row], path: Path, features: datasets.Features) -> None:
    """Write rows to an Arrow stream file of `features` (pairs: the rows' negatives, all None, are left out) in the
    batches of `arrow_stream`, 10,000 rows at a time (constant memory)."""
    schema = features.arrow_schema
    writer = BatchWriter(path, schema)
    chunk: list[Row] = []

    def flush() -> None:
        writer.write(pa.table([list(column) for column in zip(*chunk, strict=True)][: len(schema)], schema=schema))
        chunk.clear()

    try:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= BATCH_ROWS:
                flush()
        if chunk:
            flush()
        writer.close()
    except BaseException:
        writer.abort()
        raise


def write_arrow_batches(
    rows, path: Path, features: datasets.Features, parts: Path | None = None,
    on_rows: Callable[[int], object] | None = None,
) -> tuple[int, list[tuple[tuple, BuildStats]]]:
    """Write a Ray dataset of rows (in its order) to the Arrow stream file `path` of `features` (a pair source's
    negatives, all null, left out) in the batches of `arrow_stream` (exactly 10,000 rows: the file's bytes depend on
    the rows alone). The rows that carry the tasks' counts are set aside; a read task that wrote its rows to a part
    file in `parts` itself (tasks.read_rows) sends only its counts, and the part takes its place in the order: a
    build of one part alone is that file, renamed (its batches are already these), else the parts are copied in.
    `on_rows` hears of the rows as they come (a part's as its task writes them). Returns (rows written,
    [(order, counts)])."""
    schema = features.arrow_schema
    counted_parts, held, writer = [], [], None
    heard = 0  # rows of the current task's part reported by its progress rows

    def opened() -> BatchWriter:
        """The writer of `path`, the parts held so far copied in: once rows came through Ray, or parts are several."""
        nonlocal writer
        if writer is None:
            writer = BatchWriter(path, schema)
            for name in held:
                writer.write(read_stream(parts / name))
        return writer

    def tell(rows: int) -> None:
        if on_rows is not None and rows:
            on_rows(rows)

    try:
        for batch in rows.iter_batches(batch_size=None, batch_format="pyarrow"):  # whole blocks: no re-batching
            counted = pc.is_valid(batch[COUNTS])
            data = batch.select(schema.names).cast(schema)
            start = 0  # the data rows between the counts rows (few: one per task), as zero-copy slices
            for end in [*np.flatnonzero(counted.to_numpy(zero_copy_only=False)), data.num_rows]:
                if end > start:
                    opened().write(data.slice(start, end - start))
                    tell(end - start)
                start = end + 1
            for text in batch[COUNTS].filter(counted).to_pylist():  # a task's counts follow its rows
                counts = json.loads(text)
                if "progress" in counts:
                    heard += counts["progress"]
                    tell(counts["progress"])
                    continue
                counted_parts.append((tuple(counts["order"]), BuildStats.from_dict(counts["stats"])))
                if "part" in counts:
                    part = _part_path(parts, counts["part"]["name"])
                    tell(counts["part"]["rows"] - heard)
                    held.append(part.name)
                    if writer is not None:
                        writer.write(read_stream(part))
                heard = 0
        if writer is None and len(held) == 1:
            (parts / held[0]).replace(path)
            return read_stream(path).num_rows, counted_parts
        return opened().close(), counted_parts
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _part_path(parts: Path | None, name: str) -> Path:
    """Where the part a task reports is: in the driver's folder, unless the task's node has a disk of its own at
    the folder's path (it saw a folder there, but not this one)."""
    path = None if parts is None else parts / name
    if path is None or not path.is_file():
        raise UserError(
            f"{parts}: a Ray worker wrote part of the build into a folder of this path on its own machine; give "
            "--out a folder on a disk that every node shares at the same path, as the raw files"
        )
    return path


@dataclass
class RawInputs:
    """The raw files a build reads, and the files found in its folders that are not inputs of the source."""

    paths: list[str]
    not_inputs: list[str] = field(default_factory=list)  # relative to the folder given, in order


def list_raw_inputs(source: Source, raw_paths: Sequence[str | Path] | None) -> RawInputs:
    """Local raw files as given (each must exist and is read, whatever its name), the input files found in folders
    (`source.select_inputs`; the others are listed in `not_inputs`), else the source's canonical URLs fetched through
    the `datasets` download manager (cached, resumable, honours HF_DATASETS_OFFLINE). A folder with no input at
    all is an error naming the folder and what was expected."""
    if raw_paths:
        inputs = RawInputs([])
        for raw in map(Path, raw_paths):
            if raw.is_dir():
                found = [p for p in sorted(raw.rglob("*")) if p.is_file()]
                chosen = source.select_inputs(raw, found)
                if not chosen:
                    listed = ", ".join(str(p.relative_to(raw)) for p in found[:LISTED_NOT_INPUTS]) or "nothing"
                    raise UserError(
                        f"{raw}: no input for {source.name} in this folder (expected {source.raw_format}; "
                        f"found {listed})"
                    )
                inputs.paths.extend(map(str, chosen))
                kept = set(chosen)
                inputs.not_inputs.extend(str(p.relative_to(raw)) for p in found if p not in kept)
            elif raw.is_file():
                inputs.paths.append(str(raw))
            else:
                raise UserError(f"raw file not found: {raw}")
        return inputs
    if not source.urls:
        raise UserError(
            f"source {source.name} has no downloadable raw file; pass local files with --raw ({source.notes})"
        )
    with library_logs_held("datasets"):  # its error lines would repeat the UserError's
        try:
            return RawInputs(list(datasets.DownloadManager(dataset_name=source.name).download(list(source.urls))))
        except Exception as error:  # offline, 404, ...: say which source and how to work around it
            raise UserError(f"cannot download {source.name} ({error}); pass local files with --raw") from error


def build_source(
    source: str | Source,
    raw_paths: Sequence[str | Path] | None = None,
    *,
    on_error: str = "raise",
    dedupe: bool = False,
    out_dir: str | Path | None = None,
    progress: bool = True,
    address: str | None = None,
    num_cpus: int | None = None,
) -> Build:
    """Build one source into an Arrow file of the common schema, on Ray Data (see `engine.session`).

    Each raw file is read by one Ray task (its reader holds the format and names file and line in errors); a source
    that links records (Reddit replies to their parents) joins them through Ray's hash shuffle; `dedupe` is a
    global exact dedupe by hash shuffle; the rows are sorted by (file, position) before they are written, files in
    natural order, so the output is the same whatever the number of workers or the order the files are given in.

    Args:
        source: a registered source name or a `Source`.
        raw_paths: local raw files or folders; None downloads the source's `urls`.
        on_error: "raise" (stop at the first bad record, naming file and line) or "skip" (count it and go on).
        dedupe: drop exact duplicate rows (after normalisation; the first in file order stays), counted as
            `duplicates_removed`.
        out_dir: where the build is kept (`pairs.arrow` + `build.json`); default a temporary folder removed when
            the returned `Build` is garbage-collected.
        progress: show a tqdm progress bar while the rows are written.
        address: a Ray cluster to run on ("auto", "ray://host:10001", "host:6379"); default RAY_ADDRESS, else a
            local instance started for this build (or the instance already running in this process).
        num_cpus: CPUs of the local instance (default: all of the machine's).

    Example:
        >>> build = build_source("squad", ["squad_pairs.jsonl.gz"])      # doctest: +SKIP
        >>> build.stats.pairs_written, build.dataset[0]["anchor"]         # doctest: +SKIP
    """
    source = get_source(source) if isinstance(source, str) else source
    check_name(source.name, "source name")
    check_on_error(on_error)
    inputs = list_raw_inputs(source, raw_paths)
    paths = sorted(inputs.paths, key=natural_key)
    temporary = out_dir is None
    target = None if temporary else Path(out_dir)
    if target is not None and target.exists() and any(target.iterdir()) and not (target / STATS_FILE).is_file():
        raise UserError(f"{target} exists and is not a build folder; choose a new or empty --out")
    # A named --out is built in a temporary sibling and swapped in on success: a failed or killed build never
    # touches an earlier good build, and never leaves an empty folder.
    folder = Path(tempfile.mkdtemp(prefix=f"se1b-build-{source.name}-")) if temporary else staging_sibling(target)
    stats = BuildStats(source=source.name, files=paths, on_error=on_error, dedupe=dedupe, not_inputs=inputs.not_inputs)
    features = features_for(kind_of(source.arity))
    bar = tqdm(desc=f"build {source.name}", unit=" pairs", disable=not progress, mininterval=1.0)
    try:
        parts = (folder / "parts").absolute()  # where read tasks write their rows (tasks.read_rows); removed
        parts.mkdir()
        with engine.session(address, num_cpus), engine.task_errors():
            rows = _rows_on_ray(source, paths, on_error, dedupe, parts, features.arrow_schema)
            written, counted = write_arrow_batches(rows, folder / ARROW_FILE, features, parts, on_rows=bar.update)
        shutil.rmtree(parts)
        for _, part in sorted(counted, key=lambda part: part[0]):  # error samples in file order
            stats.add(part)
        stats.duplicates_removed = stats.pairs_generated - stats.same_text - written
        stats.pairs_written = written
        (folder / STATS_FILE).write_text(json.dumps({"source": source.facts(), "stats": stats.to_dict()}, indent=2))
        if target is not None:
            swap_into_place(folder, target)
            folder = target
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, Exception) and is_disk_full(error):  # in a read task too: its message says so
            raise disk_full_error(folder.parent, None, f"the build of {source.name}") from None
        raise
    finally:
        bar.close()
    build = Build(source, datasets.Dataset.from_file(str(folder / ARROW_FILE)), stats, folder, source.facts())
    if temporary:
        weakref.finalize(build, shutil.rmtree, folder, True)
    return build


def natural_key(path: str | Path) -> list:
    """Sort key that orders numbers by value: RC_2015-2 before RC_2015-10, pages-articles2 before -articles10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


_ARROW = {"batch_format": "pyarrow", "zero_copy_batch": True}


def _rows_on_ray(source: Source, paths: list[str], on_error: str, dedupe: bool, parts: Path, schema: pa.Schema):
    """The Ray Data pipeline, lazily: read tasks (one per file or range of lines, see `_read_spans`), the
    source's link (join or group-by) with its outcomes counted, the optional global dedupe, the sort. Without a
    link or dedupe, a read task writes its rows as a part file of `schema` in `parts` where it sees that folder."""
    options = {"source": source, "paths": paths, "on_error": on_error}
    if source.link is None:
        spans = _read_spans(source, paths)
        options |= {"spans": spans}
        if not dedupe:  # rows come out of each task in file order: keeping the tasks' order is the sort
            rows = _one_task_each(len(spans), read_rows, options | {"parts": str(parts), "schema": schema})
            rows.context.execution_options.preserve_order = True
            return rows
        rows = _one_task_each(len(spans), read_rows, options)
    else:  # read once, used by several branches of the link
        records = _one_task_each(len(paths), read_records, options).materialize()
        rows = records.map_batches(only_counts, **_ARROW)
        data = _link_input(records)
        if data is not None:  # else no file gave the link a record: only counts
            outcomes = source.link.run(data).map_batches(finish_linked, fn_kwargs=options, **_ARROW)
            rows = outcomes.union(rows)
    if dedupe:
        rows = _dedupe(rows)
    return rows.sort(["file", "seq"])


def _one_task_each(count: int, function: Callable, options: dict):
    """`function(batch, **options)` as one Ray task for each of `count` items (files or spans), the item's index
    in the batch's `file` column."""
    import ray.data

    items = ray.data.from_items([{"file": index} for index in range(count)], override_num_blocks=count)
    return items.map_batches(function, batch_size=1, fn_kwargs=options, **_ARROW)


def _read_spans(source: Source, paths: list[str]) -> list[Span]:
    """What each read task of an unlinked source reads, in file order: a whole file, or for the JSON-lines fast
    path a range of whole lines of an uncompressed file (one per `_RANGE_BYTES`), so several workers share one big
    file; gzip and the other compressions cannot be split. The ranges' lines are counted here, in one pass over the
    file, so each task knows the number of its first line."""
    spans: list[Span] = []
    for index, path in enumerate(paths):
        size = Path(path).stat().st_size
        if not fast_path(source) or size <= _RANGE_BYTES or compression_of(Path(path)) != "plain":
            spans.append((index, None))
            continue
        cuts = sorted({line_boundary(Path(path), offset) for offset in range(0, size, _RANGE_BYTES)} | {size})
        first = 1
        for start, end in pairwise(cuts):
            spans.append((index, (start, end, first)))
            first += count_lines(Path(path), start, end)
    return spans


def _link_input(records):
    """The data rows of the (materialized) records, from the blocks that hold any. Ray Data 2.60 passes a block
    without rows to the next map without calling it, and in a fused chain of maps the block loses its columns; a
    shuffle after such a map (a link's group-by) then fails to concatenate it with its siblings. A file that gives
    the link no record (a Stack Exchange site's PostLinks.xml for the answer kinds) makes one: the blocks that hold
    counts alone are left out here (one small task per block looks; no block is copied). None when no block is left."""
    import ray
    import ray.data

    blocks = records.to_arrow_refs()
    with_data = ray.get([ray.remote(holds_data).remote(block) for block in blocks])
    kept = [block for block, keep in zip(blocks, with_data, strict=True) if keep]
    return ray.data.from_arrow_refs(kept).map_batches(only_data, **_ARROW) if kept else None


def _dedupe(rows):
    """Global exact dedupe through Ray's hash shuffle: each row gets a 12-byte digest of its texts and its rank
    (file, position); a group-by finds the first rank of every digest, and an inner join on (digest, rank) keeps that
    row alone."""
    from ray.data.aggregate import Min

    keyed = rows.map_batches(with_digest, **_ARROW).materialize()
    partitions = engine.shuffle_partitions(keyed)
    first = keyed.groupby("digest", num_partitions=partitions).aggregate(Min("rank", alias_name="first"))
    kept = keyed.join(first, "inner", partitions, on=("digest", "rank"), right_on=("digest", "first"))
    return kept.drop_columns(["digest", "rank"])


def load_build(folder: str | Path) -> Build:
    """Reopen a build written by `build_source(..., out_dir=folder)` (or `se1b data build`)."""
    folder = Path(folder)
    if not (folder / STATS_FILE).is_file() or not (folder / ARROW_FILE).is_file():
        raise UserError(f"{folder} is not a build folder (no {STATS_FILE} and {ARROW_FILE}); run `se1b data build`")
    saved = json.loads((folder / STATS_FILE).read_text())
    facts = saved["source"]
    check_name(facts["name"], f"{folder / STATS_FILE}: source name")  # it becomes data/<name>/ when published
    try:
        source = get_source(facts["name"])
    except UserError:  # a source registered elsewhere: its saved facts are enough to publish and card it
        source = Source(
            **{key: facts[key] for key in ("name", "pretty_name", "description", "license", "citation", "homepage")},
            raw_format=facts["raw_format"],
            arity=tuple(facts["arity"]),
            notes=facts["notes"],
        )
    stats = BuildStats.from_dict(saved["stats"])
    return Build(source, datasets.Dataset.from_file(str(folder / ARROW_FILE)), stats, folder, facts)
