"""Building a source: raw files -> cleaned rows of its schema (pairs or triplets, see schema.py), on Ray Data,
written to an Arrow file in constant memory.

Each raw file is read in its own Ray task by the source's reader (`iter_rows` on that file; a large uncompressed
JSON-lines file by one task per range of whole lines, so workers share it); a source with a `Link`
joins its records across all files through Ray's hash shuffle (Reddit: each reply to its parent); `--dedupe` is a
global exact dedupe through the same shuffle; the rows are sorted by (file in natural order, position) and streamed
to the driver, which writes them. Each task's counts travel with its rows as one extra row and are summed on the
driver, so the counts below hold whatever the number of workers or machines (engine.py owns Ray).

The loop (`iter_rows`) reads each record, turns it into text tuples, checks the arity, normalises whitespace,
rejects empty texts and (optionally) exact duplicates, and counts everything:

    rows read = rows kept + rows filtered + rows rejected     (a row is one raw record, e.g. one JSON line)
    pairs generated = pairs written + duplicates removed + same_text   (a set record gives several pairs)

A pair whose two texts are equal after normalisation (case, Unicode form, whitespace) teaches nothing: it is never
written, counted as `same_text`. Files found in a folder given as raw input that are not inputs of the source (a
LICENSE, README or Sites.xml beside the data) are skipped and listed once (`not_inputs`).

Error policy: `on_error="raise"` (default) stops at the first bad record with a `UserError` naming the file and the
line; `on_error="skip"` goes on and counts the record under its reason. Records a reader marks `Filtered` (a
source's documented filters, e.g. a miner's minimum score) are counted by reason and never raise.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from datasets_builders import engine
from datasets_builders.clean import Row, clean_table, clean_texts
from datasets_builders.compressed import (
    BrokenInput,
    compression_of,
    count_lines,
    line_boundary,
    numbered_lines,
    read_line_blocks,
)
from datasets_builders.json_table import BlockTexts, fast_pieces
from datasets_builders.readers import (
    Bounded,
    Filtered,
    RecordError,
    json_line_records,
    location_text,
    read_json_lines,
    record_texts,
    where,
)
from datasets_builders.registry import get_source
from datasets_builders.schema import features_for, kind_of
from datasets_builders.source import Source
from se1b.errors import UserError, library_logs_held
from se1b.files import staging_sibling, swap_into_place
from se1b.safety import check_name

ON_ERROR = ("raise", "skip")
ARROW_FILE = "pairs.arrow"
STATS_FILE = "build.json"
_BATCH_ROWS = 10_000
_RANGE_BYTES = 32 * 2**20  # an uncompressed JSON-lines file is read by one task per 32 MiB of whole lines
_MAX_ERROR_SAMPLES = 5
_LISTED_NOT_INPUTS = 10

@dataclass
class BuildStats:
    """What a build read, kept and dropped, and why. Saved next to the data and shown in the card."""

    source: str
    files: list[str] = field(default_factory=list)
    on_error: str = "raise"
    dedupe: bool = False
    rows_read: int = 0
    rows_kept: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    pairs_generated: int = 0
    duplicates_removed: int = 0
    pairs_written: int = 0
    error_samples: list[str] = field(default_factory=list)
    not_formed: dict[str, int] = field(default_factory=dict)  # pairs a source's bounds did not form, by reason
    same_text: int = 0  # pairs whose two texts are equal after normalisation: never written
    not_inputs: list[str] = field(default_factory=list)  # files in raw folders the source does not read

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rows_filtered(self) -> int:
        return sum(self.filtered.values())

    def reject(self, reason: str, where: str, detail: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if len(self.error_samples) < _MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{where}: {reason}: {detail}")

    def add(self, part: BuildStats) -> None:
        """Add the counts of a build of some of the files (a parallel worker's) to these."""
        self.files += part.files
        self.not_inputs += part.not_inputs
        for name in ("rows_read", "rows_kept", "pairs_generated", "duplicates_removed", "pairs_written", "same_text"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for mine, theirs in (
            (self.filtered, part.filtered), (self.rejected, part.rejected), (self.not_formed, part.not_formed)
        ):
            for reason, count in theirs.items():
                mine[reason] = mine.get(reason, 0) + count
        self.error_samples = (self.error_samples + part.error_samples)[:_MAX_ERROR_SAMPLES]

    def to_dict(self) -> dict:
        return asdict(self) | {"rows_rejected": self.rows_rejected, "rows_filtered": self.rows_filtered}

    @classmethod
    def from_dict(cls, data: dict) -> BuildStats:
        return cls(**{key: value for key, value in data.items() if key not in ("rows_rejected", "rows_filtered")})

    def summary(self) -> str:
        """One line for command output."""

        def reasons(counts: dict[str, int]) -> str:
            return ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items())) or "none"

        filtered = f", filtered {self.rows_filtered:,} ({reasons(self.filtered)})" if self.filtered else ""
        bounds = f"; not formed by the source's bounds: {reasons(self.not_formed)}" if self.not_formed else ""
        same = f", {self.same_text:,} same_text (both sides equal)" if self.same_text else ""
        skipped = ""
        if self.not_inputs:
            count = len(self.not_inputs)
            listed = ", ".join(self.not_inputs[:_LISTED_NOT_INPUTS])
            listed += f" and {count - _LISTED_NOT_INPUTS:,} more" if count > _LISTED_NOT_INPUTS else ""
            files = "1 file that is not an input" if count == 1 else f"{count:,} files that are not inputs"
            skipped = f"; skipped {files}: {listed}"
        return (
            f"{self.source}: read {self.rows_read:,} rows, kept {self.rows_kept:,}{filtered}, rejected "
            f"{self.rows_rejected:,} ({reasons(self.rejected)}); {self.pairs_written:,} pairs written, "
            f"{self.duplicates_removed:,} duplicates removed{same}{bounds}{skipped}"
        )

    def warning(self) -> str | None:
        """Why a build that read rows wrote no pair (None otherwise): the drop reasons, most frequent first, with
        what the main one means."""
        if self.pairs_written or not self.rows_read:
            return None
        drops = sorted({**self.filtered, **self.rejected}.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{reason} {count:,}" for reason, count in drops[:5]) or "none"
        hint = _EMPTY_BUILD_HINTS.get(drops[0][0], "") if drops else ""
        return f"warning: {self.source}: 0 pairs written from {self.rows_read:,} rows read ({listed}){hint}"


# What the main drop reason of a build that wrote nothing means, for its warning.
_EMPTY_BUILD_HINTS = {
    "no_shared_category": ": no two articles share a category (a dump head this small rarely holds two articles of "
    "one category; mine more of the dump, e.g. a whole pages-articles part)",
    "no_category": ": no article has a category link the miner keeps (see --skip-categories)",
    "parent_not_in_input": ": no reply's parent comment is in the input (give consecutive months together)",
    "parent_is_submission": ": every comment replies to a submission, not to a comment",
    "question_without_answer": ": no question has an answer that passes the filters",
    "link_question_missing": ": no duplicate link joins two questions of the input",
}


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


def iter_rows(
    source: Source, paths: Sequence[str | Path], stats: BuildStats, on_error: str = "raise"
) -> Iterator[Row]:
    """Yield cleaned `(anchor, positive, negative or None)` rows of the raw files, counting into `stats`."""
    seen: set[bytes] | None = set() if stats.dedupe else None
    for row in _cleaned_rows(source, _counted_records(source, paths, stats, on_error), stats, on_error):
        if seen is not None and _seen_before(row, seen):
            stats.duplicates_removed += 1
            continue
        stats.pairs_written += 1
        yield row


def _cleaned_rows(
    source: Source, records: Iterable[tuple[str, object, object]], stats: BuildStats, on_error: str
) -> Iterator[Row]:
    """The cleaned rows of counted records (see `_counted_records`), counting rows kept, pairs generated and
    same_text, and the records that fail cleaning (by the error policy)."""
    for path, location, record in records:
        try:
            rows, same_text = clean_texts(source, source.to_texts(record))
        except RecordError as error:
            _fail(stats, on_error, where(path, location), error)
            continue
        stats.rows_kept += 1
        stats.pairs_generated += same_text + len(rows)
        stats.same_text += same_text
        yield from rows


def _fail(stats: BuildStats, on_error: str, place: str, error: RecordError) -> None:
    """Apply the error policy to one bad record: stop with its file and place, or count it and go on."""
    if on_error == "raise":
        raise UserError(f"{place}: {error.reason}: {error.detail} (use --on-error skip to skip and count)")
    stats.reject(error.reason, place, error.detail)


def _counted_records(
    source: Source, paths: Sequence[str | Path], stats: BuildStats, on_error: str
) -> Iterator[tuple[str, object, object]]:
    """(file, location, record) of the records that are neither filtered nor bad, counting every record read,
    filtered and rejected (or raising for a bad one, by the error policy) and the pairs bounds did not form."""
    if on_error not in ON_ERROR:
        raise UserError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    yield from _counted(_records(source, paths, stats), stats, on_error)


def _counted(
    records: Iterable[tuple[str, object, object]], stats: BuildStats, on_error: str
) -> Iterator[tuple[str, object, object]]:
    """The records of a reader that are neither filtered nor bad, counting them all (see `_counted_records`)."""
    for path, location, record in records:
        if isinstance(record, Bounded):
            stats.not_formed[record.reason] = stats.not_formed.get(record.reason, 0) + record.count
            continue
        stats.rows_read += 1
        if isinstance(record, Filtered):
            stats.filtered[record.reason] = stats.filtered.get(record.reason, 0) + 1
        elif isinstance(record, RecordError):
            _fail(stats, on_error, where(path, location), record)
        else:
            yield path, location, record


def _records(source: Source, paths: Sequence[str | Path], stats: BuildStats) -> Iterator[tuple[str, object, object]]:
    """(file, location, record) of every raw file, by the source's `reader`, file by file; a RecordError a reader
    raises ends that file and is its last record."""
    for path in paths:
        stats.files.append(str(path))
        try:
            for location, record in source.reader(str(path)):
                yield str(path), location, record
        except RecordError as error:  # raised by the reader: the rest of this file cannot be read; next file
            yield str(path), error.line, error


def _seen_before(row: Row, seen: set[bytes]) -> bool:
    """Exact-duplicate check on a 12-byte digest of the row (memory grows with the unique pairs kept)."""
    key = hashlib.blake2b("\0".join(text or "" for text in row).encode(), digest_size=12).digest()
    if key in seen:
        return True
    seen.add(key)
    return False


def write_arrow(
    rows: Iterable[Row], path: Path, features: datasets.Features, on_batch: Callable[[int], object] | None = None
) -> None:
    """Write rows to an Arrow stream file of `features` (pairs: the rows' negatives, all None, are left out) in
    batches of 10,000 (constant memory); an empty input still gets one (empty) batch, so the file opens as a
    dataset of 0 rows."""
    schema = features.arrow_schema
    width = len(features)
    batch: list[Row] = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:

        def flush() -> None:
            columns = [list(column) for column in zip(*batch, strict=True)][:width] if batch else [[]] * width
            writer.write_batch(pa.record_batch(columns, schema=schema))
            if on_batch is not None:
                on_batch(len(batch))
            batch.clear()

        batches = 0
        for row in rows:
            batch.append(row)
            if len(batch) >= _BATCH_ROWS:
                flush()
                batches += 1
        if batch or not batches:
            flush()


def write_arrow_batches(
    rows, path: Path, features: datasets.Features, on_batch: Callable[[int], object] | None = None
) -> tuple[int, list[tuple[tuple, BuildStats]]]:
    """Write a Ray dataset of rows (in its order) to an Arrow stream file of `features` (a pair source's negatives,
    all null, left out) in record batches of exactly 10,000 rows (the last one shorter), each copied into buffers of
    its own, so the file's bytes depend on the rows alone, not on how Ray split them into blocks (a batch that is a
    whole block would otherwise carry that block's spare buffer capacity into the file); an empty input still gets
    one empty batch, so the file opens as a dataset of 0 rows. The rows that carry the tasks' counts are set aside:
    returns (rows written, [(order, counts)])."""
    schema = features.arrow_schema
    written, parts, pending = 0, [], []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:

        def flush(final: bool) -> int:
            """Write the pending rows in batches of 10,000 (and the rest, if final); keep what is left over."""
            table = pa.concat_tables(pending)  # zero-copy: the blocks stay chunks
            pending.clear()
            done = 0
            while table.num_rows - done >= _BATCH_ROWS or (final and done < table.num_rows):
                piece = table.slice(done, _BATCH_ROWS)
                writer.write_batch(pa.record_batch([pa.concat_arrays(c.chunks) for c in piece.columns], schema=schema))
                done += piece.num_rows
                if on_batch is not None:
                    on_batch(piece.num_rows)
            if done < table.num_rows:
                pending.append(table.slice(done))
            return done

        for batch in rows.iter_batches(batch_size=None, batch_format="pyarrow"):  # whole blocks: no re-batching
            counted = pc.is_valid(batch[_COUNTS])
            for text in batch[_COUNTS].filter(counted).to_pylist():
                part = json.loads(text)
                parts.append((tuple(part["order"]), BuildStats.from_dict(part["stats"])))
            data = batch.select(schema.names).cast(schema)
            start = 0  # the data rows between the counts rows (few: one per task), as zero-copy slices
            for end in [*np.flatnonzero(counted.to_numpy(zero_copy_only=False)), data.num_rows]:
                if end > start:
                    pending.append(data.slice(start, end - start))
                start = end + 1
            if sum(table.num_rows for table in pending) >= _BATCH_ROWS:
                written += flush(final=False)
        written += flush(final=True) if pending else 0
        if not written:
            writer.write_batch(pa.record_batch([pa.array([], f.type) for f in schema], schema=schema))
    return written, parts


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
                    listed = ", ".join(str(p.relative_to(raw)) for p in found[:_LISTED_NOT_INPUTS]) or "nothing"
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
    if on_error not in ON_ERROR:
        raise UserError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
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
        with engine.session(address, num_cpus), engine.task_errors():
            rows = _rows_on_ray(source, paths, on_error, dedupe)
            written, parts = write_arrow_batches(rows, folder / ARROW_FILE, features, on_batch=bar.update)
        for _, part in sorted(parts, key=lambda part: part[0]):  # error samples in file order
            stats.add(part)
        stats.duplicates_removed = stats.pairs_generated - stats.same_text - written
        stats.pairs_written = written
        (folder / STATS_FILE).write_text(json.dumps({"source": source.facts(), "stats": stats.to_dict()}, indent=2))
        if target is not None:
            swap_into_place(folder, target)
            folder = target
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
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


# The rows of every stage carry their place (file index in natural order, position in the file) for the final sort;
# each task adds one row whose `counts` column holds its counts (JSON; null in every data row), which travels with the
# data to the driver and is set aside there, so a build is one pass of Ray Data (two for a linked source).
_COUNTS = "counts"
_PLACE = [("file", pa.int32()), ("seq", pa.int64())]
_ROWS = pa.schema([*_PLACE, ("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string()),
                   (_COUNTS, pa.string())])  # fmt: skip
_ARROW = {"batch_format": "pyarrow", "zero_copy_batch": True}
_TEXTS = pa.schema([("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string())])
_PAIR_BITS = 8  # a linked record gives at most 256 pairs (Link's `pair`), numbered in its position's low bits


def _rows_on_ray(source: Source, paths: list[str], on_error: str, dedupe: bool):
    """The Ray Data pipeline, lazily: read tasks (one per file or range of lines, see `_read_spans`), the
    source's link (join or group-by) with its outcomes counted, the optional global dedupe, the sort."""
    options = {"source": source, "paths": paths, "on_error": on_error}
    if source.link is None:
        spans = _read_spans(source, paths)
        rows = _one_task_each(len(spans), _read_rows, options | {"spans": spans})
        if not dedupe:  # rows come out of each task in file order: keeping the tasks' order is the sort
            rows.context.execution_options.preserve_order = True
            return rows
    else:  # read once, used by several branches of the link
        records = _one_task_each(len(paths), _read_records, options).materialize()
        rows = records.map_batches(_only_counts, **_ARROW)
        data = _link_input(records)
        if data is not None:  # else no file gave the link a record: only counts
            outcomes = source.link.run(data).map_batches(_finish_linked, fn_kwargs=options, **_ARROW)
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


# (file index, None: the whole file, or (start, end, number of its first line): a byte range of whole lines)
_Span = tuple[int, "tuple[int, int, int] | None"]


def _read_spans(source: Source, paths: list[str]) -> list[_Span]:
    """What each read task of an unlinked source reads, in file order: a whole file, or for the JSON-lines fast
    path a range of whole lines of an uncompressed file (one per `_RANGE_BYTES`), so several workers share one big
    file; gzip and the other compressions cannot be split. The ranges' lines are counted here, in one pass over the
    file, so each task knows the number of its first line."""
    spans: list[_Span] = []
    for index, path in enumerate(paths):
        size = Path(path).stat().st_size
        if not _fast_path(source) or size <= _RANGE_BYTES or compression_of(Path(path)) != "plain":
            spans.append((index, None))
            continue
        cuts = sorted({line_boundary(Path(path), offset) for offset in range(0, size, _RANGE_BYTES)} | {size})
        first = 1
        for start, end in pairwise(cuts):
            spans.append((index, (start, end, first)))
            first += count_lines(Path(path), start, end)
    return spans


def _read_rows(
    batch: pa.Table, source: Source, paths: list[str], on_error: str, spans: list[_Span]
) -> Iterator[pa.Table]:
    """Ray task: the cleaned rows of one span (a raw file or a range of its lines), then its counts. The rows'
    `file` is the span's index: spans are in file order."""
    engine.keep_freed_blocks()
    for index in batch.column("file").to_pylist():
        stats = BuildStats(source=source.name, on_error=on_error)
        file, span = spans[index]
        seq = 0
        for rows in _file_tables(source, [paths[file]], stats, on_error, span):
            count = rows.num_rows
            place = [pa.array(np.full(count, index, np.int32)), pa.array(np.arange(seq, seq + count, dtype=np.int64))]
            yield pa.table([*place, *rows.columns, pa.nulls(count, pa.string())], _ROWS)
            seq += count
        yield _table([_counts_row(_ROWS, (0, index, 0), stats)], _ROWS)


def _fast_path(source: Source) -> bool:
    """Whether the source reads its files with the default JSON-lines reader and record converter."""
    return source.reader is read_json_lines and source.to_texts is record_texts


def _file_tables(
    source: Source, files: list[str], stats: BuildStats, on_error: str, span: tuple[int, int, int] | None = None
) -> Iterator[pa.Table]:
    """The cleaned rows of some raw files (or of the range `span` of whole lines of one plain file, fast path
    only) as tables of (anchor, positive, negative), counting into `stats`: through the JSON-lines fast path
    (`_json_line_tables`) when the source reads its files with the default reader and record converter, else
    through `iter_rows`."""
    if _fast_path(source):
        for path in files:
            stats.files.append(path)
            yield from _json_line_tables(source, path, stats, on_error, span)
        return
    chunk: list[Row] = []
    for row in iter_rows(source, files, stats, on_error):
        chunk.append(row)
        if len(chunk) >= _BATCH_ROWS:
            yield _texts_table(chunk)
            chunk = []
    yield _texts_table(chunk)


def _json_line_tables(
    source: Source, path: str, stats: BuildStats, on_error: str, span: tuple[int, int, int] | None = None
) -> Iterator[pa.Table]:
    """`iter_rows` of one file of the default JSON-lines reader (or of the byte range `span` of its whole lines), a
    block of lines at a time: a block (or, around a few odd lines, a piece of one: `fast_pieces`) in one of the 2021
    record forms is parsed by pyarrow and cleaned over Arrow (`clean_table`), both exact; any other piece goes
    through the per-record path line by line.
    Same rows, counts and errors, in order; a range's line numbers are the file's (`span` holds its first)."""
    before = span[2] - 1 if span else 0  # lines of the file before the range
    blocks = read_line_blocks(Path(path), span[:2] if span else None)
    newlines = None  # the previous block's, sent back to the reader, which need not count them again
    try:
        while (item := _next_block(blocks, newlines)) is not None:
            block_first, block = item
            pieces = fast_pieces(block)
            last_before, last, last_texts = pieces[-1]  # the parser counted the lines of the pieces it read
            newlines = last_before + (last.count(b"\n") if last_texts is None
                                      else last_texts.lines - (not last.endswith(b"\n")))
            for lines_before, piece, texts in pieces:
                first = before + block_first + lines_before
                if texts is None:
                    numbered = json_line_records(numbered_lines(first, piece))
                    records = ((path, line, record) for line, record in numbered)
                    rows = list(_cleaned_rows(source, _counted(records, stats, on_error), stats, on_error))
                    stats.pairs_written += len(rows)
                    yield _texts_table(rows)
                    continue
                yield _cleaned_block(source, texts, stats, on_error, path, first)
    except BrokenInput as broken:  # what read_json_lines raises: the rest of the file cannot be read
        stats.rows_read += 1  # counted as one bad record, as `_records` does
        _fail(stats, on_error, where(path, broken.location), RecordError(broken.reason, broken.message))


def _next_block(blocks: Generator[tuple[int, bytes], int | None, None], newlines: int | None):
    """The next (first line, block) of `read_line_blocks`, given the previous block's number of newlines (None:
    the reader counts them); None at the end."""
    try:
        return blocks.send(newlines)
    except StopIteration:
        return None


def _cleaned_block(
    source: Source, texts: BlockTexts, stats: BuildStats, on_error: str, path: str, first: int
) -> pa.Table:
    """`clean_table` of a block's text tuples (its first line is line `first` of the file), counted as the
    per-record path counts its lines: a line's first bad tuple rejects the whole line, as clean_texts does."""
    cleaned = clean_table(source, texts.table)
    bad: dict[int, RecordError] = {}
    for row in sorted(cleaned.errors):
        bad.setdefault(int(texts.line[row]), cleaned.errors[row])
    for line in bad:  # in line order: the first one raises, as line by line
        _fail(stats, on_error, where(path, first + line), bad[line])
    good = ~np.isin(texts.line, list(bad)) if bad else np.ones(len(texts.line), dtype=bool)
    keep = good & ~cleaned.same
    stats.rows_read += texts.lines
    stats.rows_kept += texts.lines - len(bad)
    stats.pairs_generated += int(good.sum())
    stats.same_text += int((good & cleaned.same).sum())
    stats.pairs_written += int(keep.sum())
    return cleaned.table if keep.all() else cleaned.table.filter(pa.array(keep))  # most blocks drop nothing


def _texts_table(rows: list[Row]) -> pa.Table:
    return _table(rows, _TEXTS) if rows else _TEXTS.empty_table()


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)], schema)


def _counts_row(schema: pa.Schema, order: tuple[int, int, int], stats: BuildStats) -> tuple:
    """The row that carries a task's counts; `order` (stage, file, position) sorts the parts' error samples."""
    stats.files = []
    counts = json.dumps({"order": order, "stats": stats.to_dict()})
    return (order[1], -1, *[None] * (len(schema) - 3), counts)


def _only_counts(table: pa.Table) -> pa.Table:
    """The counts rows of a linked source's records, in the schema of the rows."""
    counted = table.filter(pc.is_valid(table[_COUNTS]))
    nulls = pa.nulls(counted.num_rows, pa.string())
    return pa.table([counted["file"], counted["seq"], nulls, nulls, nulls, counted[_COUNTS]], _ROWS)


def _link_input(records):
    """The data rows of the (materialized) records, from the blocks that hold any. Ray Data 2.60 passes a block
    without rows to the next map without calling it, and in a fused chain of maps the block loses its columns; a
    shuffle after such a map (a link's group-by) then fails to concatenate it with its siblings. A file that gives
    the link no record (a Stack Exchange site's PostLinks.xml for the answer kinds) makes one: the blocks that hold
    counts alone are left out here (one small task per block looks; no block is copied). None when no block is left."""
    import ray
    import ray.data

    blocks = records.to_arrow_refs()
    holds_data = ray.get([ray.remote(_holds_data).remote(block) for block in blocks])
    kept = [block for block, keep in zip(blocks, holds_data, strict=True) if keep]
    return ray.data.from_arrow_refs(kept).map_batches(_only_data, **_ARROW) if kept else None


def _holds_data(table: pa.Table) -> bool:
    return table[_COUNTS].null_count > 0


def _only_data(table: pa.Table) -> pa.Table:
    return table.filter(pc.is_null(table[_COUNTS])).drop_columns([_COUNTS])


def _records_schema(source: Source) -> pa.Schema:
    fields = [("location", pa.string()), *((name, pa.string()) for name in source.link.fields)]
    return pa.schema([*_PLACE, *fields, (_COUNTS, pa.string())])


def _read_records(batch: pa.Table, source: Source, paths: list[str], on_error: str) -> Iterator[pa.Table]:
    """Ray task of a linked source: the records of one raw file as rows of the link's fields, then its counts
    (records filtered or rejected by the reader; the records the link gets are counted by their outcomes)."""
    engine.keep_freed_blocks()
    schema = _records_schema(source)
    for index in batch.column("file").to_pylist():
        stats = BuildStats(source=source.name, on_error=on_error)
        seq = 0
        for table in _record_tables(source, paths[index], stats, on_error):
            rows = table.num_rows
            place = [pa.array(np.full(rows, index, np.int32)), pa.array(np.arange(seq, seq + rows, dtype=np.int64))]
            yield pa.table([*place, *table.columns, pa.nulls(rows, pa.string())], schema)
            seq += table.num_rows
        yield _table([_counts_row(schema, (0, index, 0), stats)], schema)


def _record_tables(source: Source, path: str, stats: BuildStats, on_error: str) -> Iterator[pa.Table]:
    """Tables (location and the link's fields) of the records of one file that are neither filtered nor bad,
    counting the records filtered or rejected (the others are counted by their outcomes after the link): from the
    link's `read_tables` when it has one, else the reader's records in tables of 10,000."""
    columns = ["location", *source.link.fields]
    if source.link.read_tables is None:
        schema = pa.schema([_records_schema(source).field(name) for name in columns])
        chunk: list[dict] = []
        for _, location, record in _counted_records(source, [path], stats, on_error):
            stats.rows_read -= 1  # counted by its outcome after the link instead (see `Link`)
            chunk.append({"location": location_text(location), **{name: record.get(name) for name in columns[1:]}})
            if len(chunk) >= _BATCH_ROWS:
                yield pa.Table.from_pylist(chunk, schema)
                chunk = []
        if chunk:
            yield pa.Table.from_pylist(chunk, schema)
        return
    for item in source.link.read_tables(path):
        if isinstance(item, pa.Table):  # its records are counted by their outcomes after the link (see `Link`)
            yield item.select(columns)
            continue
        location, record = item
        stats.rows_read += 1
        if isinstance(record, Filtered):
            stats.filtered[record.reason] = stats.filtered.get(record.reason, 0) + 1
        else:
            _fail(stats, on_error, where(path, location), record)


def _finish_linked(table: pa.Table, source: Source, paths: list[str], on_error: str) -> Iterator[pa.Table]:
    """Ray task over a link's outcome rows: count each record by its outcome (see `Link`), the filtered ones by reason
    and the pairs bounds did not form, clean the pairs over Arrow (`clean_table`, exact; errors name the file and
    place of the record), and pass the rows on with their place (a record's pair number in the low bits of its
    position), then the counts."""
    stats = BuildStats(source=source.name, on_error=on_error)
    pair = table["pair"] if "pair" in table.column_names else pa.nulls(table.num_rows, pa.int32())
    pair = pc.cast(pc.fill_null(pair, 0), pa.int64())  # a record that gives several pairs counts once, on pair 0
    first_of_record = np.asarray(pc.equal(pair, 0).to_numpy(zero_copy_only=False), dtype=bool)
    stats.rows_read = int(first_of_record.sum())
    if "not_formed" in table.column_names:
        for text in table["not_formed"].drop_null().to_pylist():
            for reason, count in json.loads(text).items():
                stats.not_formed[reason] = stats.not_formed.get(reason, 0) + count
    reasons = table["filtered"].drop_null().value_counts()
    stats.filtered = {item["values"].as_py(): item["counts"].as_py() for item in reasons}
    is_paired = pc.is_null(table["filtered"])
    paired = table.filter(is_paired)
    paired_first = first_of_record[np.asarray(is_paired.to_numpy(zero_copy_only=False), dtype=bool)]
    cleaned = clean_table(source, paired.select(["anchor", "positive", "negative"]))
    for index, error in sorted(cleaned.errors.items()):  # in table order: the first one raises, as it would alone
        _fail(stats, on_error, where(paths[paired["file"][index].as_py()], paired["location"][index].as_py()), error)
    good = np.ones(paired.num_rows, dtype=bool)
    good[list(cleaned.errors)] = False
    stats.rows_kept = int((good & paired_first).sum())
    stats.pairs_generated = int(good.sum())
    stats.same_text = int((cleaned.same & good).sum())
    keep = pa.array(good & ~cleaned.same)
    stats.pairs_written = stats.pairs_generated - stats.same_text
    position = pc.add(pc.shift_left(pc.cast(paired["seq"], pa.int64()), _PAIR_BITS), pair.filter(is_paired))
    schema = pa.schema(list(_ROWS)[:5])  # a join may hand over large_string columns: cast to the rows' types
    columns = [paired["file"].filter(keep), position.filter(keep), *cleaned.table.filter(keep).columns]
    rows = pa.table(columns, names=schema.names).cast(schema)
    first = (table["file"][0].as_py(), table["seq"][0].as_py()) if table.num_rows else (0, 0)
    counts = _table([_counts_row(_ROWS, (1, *first), stats)], _ROWS)
    yield pa.concat_tables([rows.append_column(_COUNTS, pa.nulls(rows.num_rows, pa.string())), counts])


def _dedupe(rows):
    """Global exact dedupe through Ray's hash shuffle: each row gets a 12-byte digest of its texts and its rank
    (file, position); a group-by finds the first rank of every digest, and an inner join on (digest, rank) keeps that
    row alone."""
    from ray.data.aggregate import Min

    keyed = rows.map_batches(_with_digest, **_ARROW).materialize()
    partitions = engine.shuffle_partitions(keyed)
    first = keyed.groupby("digest", num_partitions=partitions).aggregate(Min("rank", alias_name="first"))
    kept = keyed.join(first, "inner", partitions, on=("digest", "rank"), right_on=("digest", "first"))
    return kept.drop_columns(["digest", "rank"])


def _with_digest(table: pa.Table) -> pa.Table:
    """The digest of each row's texts (a counts row gets one of its own: it is never a duplicate) and its rank."""
    rows = zip(*(table[name].to_pylist() for name in ("anchor", "positive", "negative", _COUNTS)), strict=True)
    digests = [
        hashlib.blake2b((counts or "\0".join(t or "" for t in texts)).encode(), digest_size=12).digest()
        for *texts, counts in rows
    ]
    rank = pc.add(pc.shift_left(pc.cast(table["file"], pa.int64()), 40), table["seq"])
    return table.append_column("digest", pa.array(digests, pa.binary())).append_column("rank", rank)


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
