"""The Ray tasks of a build (build.py runs them on Ray Data): each reads a span of raw files into cleaned rows and
their counts (the rows written into the build folder as a part file where the task sees that folder, else sent on),
or for a linked source the records a join needs, and after the join counts and cleans its outcomes.

Imported by every Ray worker that runs one: it and its imports stay free of `datasets` (rows.py says why).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datasets_builders import engine
from datasets_builders.arrow_stream import part_file
from datasets_builders.clean import clean_table
from datasets_builders.readers import Filtered, location_text, where
from datasets_builders.rows import BATCH_ROWS, counted_records, fail, file_tables, table_of
from datasets_builders.source import Source
from datasets_builders.stats import BuildStats

# The rows of every stage carry their place (file index in natural order, position in the file) for the final sort;
# each task adds one row whose `counts` column holds its counts (JSON; null in every data row), which travels with the
# data to the driver and is set aside there, so a build is one pass of Ray Data (two for a linked source).
COUNTS = "counts"
_PLACE = [("file", pa.int32()), ("seq", pa.int64())]
ROWS = pa.schema([*_PLACE, ("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string()),
                   (COUNTS, pa.string())])  # fmt: skip
_PAIR_BITS = 8  # a linked record gives at most 256 pairs (Link's `pair`), numbered in its position's low bits


# (file index, None: the whole file, or (start, end, number of its first line): a byte range of whole lines)
Span = tuple[int, "tuple[int, int, int] | None"]


def read_rows(
    batch: pa.Table,
    source: Source,
    paths: list[str],
    on_error: str,
    spans: list[Span],
    parts: str | None = None,
    schema: pa.Schema | None = None,
) -> Iterator[pa.Table]:
    """Ray task: the cleaned rows of one span (a raw file or a range of its lines), then its counts. The rows'
    `file` is the span's index: spans are in file order.

    With `parts` (a folder of the build) that this worker sees, the rows are not sent but written there as the
    span's part, an Arrow stream file of `schema` (`_part_name`), and the counts say so: the build's rows then
    skip the object store and the driver (1M pairs: ~0.1 of ~1.1 CPU-s, BENCHMARKS.md). On a node that does not
    see the folder (a cluster without a shared disk for --out) the rows travel as before. While the part is
    written, a row of progress goes out every second or so, for the driver's progress bar."""
    engine.keep_freed_blocks()
    folder = Path(parts) if parts is not None and os.path.isdir(parts) else None
    for index in batch.column("file").to_pylist():
        stats = BuildStats(source=source.name, on_error=on_error)
        file, span = spans[index]
        tables = file_tables(source, [paths[file]], stats, on_error, span)
        part = None
        if folder is not None:
            rows = yield from _written_part(tables, folder / _part_name(index), schema)
            part = {"name": _part_name(index), "rows": rows}
        else:
            seq = 0
            for rows in tables:
                count = rows.num_rows
                place = [pa.array(np.full(count, index, np.int32)),
                         pa.array(np.arange(seq, seq + count, dtype=np.int64))]
                yield pa.table([*place, *rows.columns, pa.nulls(count, pa.string())], ROWS)
                seq += count
        yield table_of([_counts_row(ROWS, (0, index, 0), stats, part)], ROWS)


def _part_name(span: int) -> str:
    return f"part-{span:05d}.arrow"


def _written_part(tables: Iterator[pa.Table], path: Path, schema: pa.Schema) -> Iterator[pa.Table]:
    """Write the tables as the part file `path`, yielding a progress row (rows written since the last one) every
    second or so; returns the rows written."""
    shown, last = 0, time.monotonic()
    with part_file(path, schema) as writer:
        for table in tables:
            writer.write(table.select(schema.names).cast(schema))  # a pair source's part has no negative column
            if time.monotonic() - last >= 1.0 and writer.written > shown:
                yield table_of([(-1, -1, None, None, None, json.dumps({"progress": writer.written - shown}))], ROWS)
                shown, last = writer.written, time.monotonic()
    return writer.written


def _counts_row(schema: pa.Schema, order: tuple[int, int, int], stats: BuildStats, part: dict | None = None) -> tuple:
    """The row that carries a task's counts (and the part file it wrote, if any); `order` (stage, file, position)
    sorts the parts' error samples."""
    stats.files = []
    counts = {"order": order, "stats": stats.to_dict()} | ({"part": part} if part else {})
    return (order[1], -1, *[None] * (len(schema) - 3), json.dumps(counts))


def only_counts(table: pa.Table) -> pa.Table:
    """The counts rows of a linked source's records, in the schema of the rows."""
    counted = table.filter(pc.is_valid(table[COUNTS]))
    nulls = pa.nulls(counted.num_rows, pa.string())
    return pa.table([counted["file"], counted["seq"], nulls, nulls, nulls, counted[COUNTS]], ROWS)


def holds_data(table: pa.Table) -> bool:
    return table[COUNTS].null_count > 0


def only_data(table: pa.Table) -> pa.Table:
    return table.filter(pc.is_null(table[COUNTS])).drop_columns([COUNTS])


def _records_schema(source: Source) -> pa.Schema:
    fields = [("location", pa.string()), *((name, pa.string()) for name in source.link.fields)]
    return pa.schema([*_PLACE, *fields, (COUNTS, pa.string())])


def read_records(batch: pa.Table, source: Source, paths: list[str], on_error: str) -> Iterator[pa.Table]:
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
        yield table_of([_counts_row(schema, (0, index, 0), stats)], schema)


def _record_tables(source: Source, path: str, stats: BuildStats, on_error: str) -> Iterator[pa.Table]:
    """Tables (location and the link's fields) of the records of one file that are neither filtered nor bad,
    counting the records filtered or rejected (the others are counted by their outcomes after the link): from the
    link's `read_tables` when it has one, else the reader's records in tables of 10,000."""
    columns = ["location", *source.link.fields]
    if source.link.read_tables is None:
        schema = pa.schema([_records_schema(source).field(name) for name in columns])
        chunk: list[dict] = []
        for _, location, record in counted_records(source, [path], stats, on_error):
            stats.rows_read -= 1  # counted by its outcome after the link instead (see `Link`)
            chunk.append({"location": location_text(location), **{name: record.get(name) for name in columns[1:]}})
            if len(chunk) >= BATCH_ROWS:
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
            fail(stats, on_error, where(path, location), record)


def finish_linked(table: pa.Table, source: Source, paths: list[str], on_error: str) -> Iterator[pa.Table]:
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
        fail(stats, on_error, where(paths[paired["file"][index].as_py()], paired["location"][index].as_py()), error)
    good = np.ones(paired.num_rows, dtype=bool)
    good[list(cleaned.errors)] = False
    stats.rows_kept = int((good & paired_first).sum())
    stats.pairs_generated = int(good.sum())
    stats.same_text = int((cleaned.same & good).sum())
    keep = pa.array(good & ~cleaned.same)
    stats.pairs_written = stats.pairs_generated - stats.same_text
    position = pc.add(pc.shift_left(pc.cast(paired["seq"], pa.int64()), _PAIR_BITS), pair.filter(is_paired))
    schema = pa.schema(list(ROWS)[:5])  # a join may hand over large_string columns: cast to the rows' types
    columns = [paired["file"].filter(keep), position.filter(keep), *cleaned.table.filter(keep).columns]
    rows = pa.table(columns, names=schema.names).cast(schema)
    first = (table["file"][0].as_py(), table["seq"][0].as_py()) if table.num_rows else (0, 0)
    counts = table_of([_counts_row(ROWS, (1, *first), stats)], ROWS)
    yield pa.concat_tables([rows.append_column(COUNTS, pa.nulls(rows.num_rows, pa.string())), counts])


def with_digest(table: pa.Table) -> pa.Table:
    """The digest of each row's texts (a counts row gets one of its own: it is never a duplicate) and its rank."""
    rows = zip(*(table[name].to_pylist() for name in ("anchor", "positive", "negative", COUNTS)), strict=True)
    digests = [
        hashlib.blake2b((counts or "\0".join(t or "" for t in texts)).encode(), digest_size=12).digest()
        for *texts, counts in rows
    ]
    rank = pc.add(pc.shift_left(pc.cast(table["file"], pa.int64()), 40), table["seq"])
    return table.append_column("digest", pa.array(digests, pa.binary())).append_column("rank", rank)
