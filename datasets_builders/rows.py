"""Raw files -> cleaned rows, every record counted: what each read task of a build runs (tasks.py).

The per-record path (`iter_rows`) reads each record with the source's reader, turns it into text tuples, checks the
arity, normalises whitespace, rejects empty texts and (optionally) exact duplicates, and counts everything into a
`BuildStats`. A pair whose two texts are equal after normalisation (case, Unicode form, whitespace) teaches nothing:
it is never written, counted as `same_text`.

`file_tables` gives the same rows as tables: a source read with the default JSON-lines reader and record converter
takes the fast path, blocks of lines parsed by pyarrow and cleaned over Arrow (json_table.py, clean.py), with the
same rows, counts and error lines as the per-record path.

Error policy: `on_error="raise"` (default) stops at the first bad record with a `UserError` naming the file and the
line; `on_error="skip"` goes on and counts the record under its reason. Records a reader marks `Filtered` (a
source's documented filters, e.g. a miner's minimum score) are counted by reason and never raise.

No `datasets` here or below: a Ray worker imports this module to run a read task, and `datasets` alone would add
~0.3 s to each fresh worker's start-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from datasets_builders.clean import Row, clean_table, clean_texts
from datasets_builders.compressed import BrokenInput, numbered_lines, read_line_blocks
from datasets_builders.json_table import BlockTexts, fast_pieces
from datasets_builders.readers import (
    Bounded,
    Filtered,
    RecordError,
    json_line_records,
    read_json_lines,
    record_texts,
    where,
)
from datasets_builders.source import Source
from datasets_builders.stats import BuildStats
from se1b.errors import UserError

ON_ERROR = ("raise", "skip")
BATCH_ROWS = 10_000
_TEXTS = pa.schema([("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string())])


def iter_rows(
    source: Source, paths: Sequence[str | Path], stats: BuildStats, on_error: str = "raise"
) -> Iterator[Row]:
    """Yield cleaned `(anchor, positive, negative or None)` rows of the raw files, counting into `stats`."""
    seen: set[bytes] | None = set() if stats.dedupe else None
    for row in _cleaned_rows(source, counted_records(source, paths, stats, on_error), stats, on_error):
        if seen is not None and _seen_before(row, seen):
            stats.duplicates_removed += 1
            continue
        stats.pairs_written += 1
        yield row


def _cleaned_rows(
    source: Source, records: Iterable[tuple[str, object, object]], stats: BuildStats, on_error: str
) -> Iterator[Row]:
    """The cleaned rows of counted records (see `counted_records`), counting rows kept, pairs generated and
    same_text, and the records that fail cleaning (by the error policy)."""
    for path, location, record in records:
        try:
            rows, same_text = clean_texts(source, source.to_texts(record))
        except RecordError as error:
            fail(stats, on_error, where(path, location), error)
            continue
        stats.rows_kept += 1
        stats.pairs_generated += same_text + len(rows)
        stats.same_text += same_text
        yield from rows


def fail(stats: BuildStats, on_error: str, place: str, error: RecordError) -> None:
    """Apply the error policy to one bad record: stop with its file and place, or count it and go on."""
    if on_error == "raise":
        raise UserError(f"{place}: {error.reason}: {error.detail} (use --on-error skip to skip and count)")
    stats.reject(error.reason, place, error.detail)


def check_on_error(on_error: str) -> None:
    """The error policy is one of ON_ERROR (a UserError naming the choices otherwise)."""
    if on_error not in ON_ERROR:
        raise UserError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")


def counted_records(
    source: Source, paths: Sequence[str | Path], stats: BuildStats, on_error: str
) -> Iterator[tuple[str, object, object]]:
    """(file, location, record) of the records that are neither filtered nor bad, counting every record read,
    filtered and rejected (or raising for a bad one, by the error policy) and the pairs bounds did not form."""
    check_on_error(on_error)
    yield from _counted(_records(source, paths, stats), stats, on_error)


def _counted(
    records: Iterable[tuple[str, object, object]], stats: BuildStats, on_error: str
) -> Iterator[tuple[str, object, object]]:
    """The records of a reader that are neither filtered nor bad, counting them all (see `counted_records`)."""
    for path, location, record in records:
        if isinstance(record, Bounded):
            stats.not_formed[record.reason] = stats.not_formed.get(record.reason, 0) + record.count
            continue
        stats.rows_read += 1
        if isinstance(record, Filtered):
            stats.filtered[record.reason] = stats.filtered.get(record.reason, 0) + 1
        elif isinstance(record, RecordError):
            fail(stats, on_error, where(path, location), record)
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


def fast_path(source: Source) -> bool:
    """Whether the source reads its files with the default JSON-lines reader and record converter."""
    return source.reader is read_json_lines and source.to_texts is record_texts


def file_tables(
    source: Source, files: list[str], stats: BuildStats, on_error: str, span: tuple[int, int, int] | None = None
) -> Iterator[pa.Table]:
    """The cleaned rows of some raw files (or of the range `span` of whole lines of one plain file, fast path
    only) as tables of (anchor, positive, negative), counting into `stats`: through the JSON-lines fast path
    (`_json_line_tables`) when the source reads its files with the default reader and record converter, else
    through `iter_rows`."""
    if fast_path(source):
        for path in files:
            stats.files.append(path)
            yield from _json_line_tables(source, path, stats, on_error, span)
        return
    chunk: list[Row] = []
    for row in iter_rows(source, files, stats, on_error):
        chunk.append(row)
        if len(chunk) >= BATCH_ROWS:
            yield _texts_table(chunk)
            chunk = []
    yield _texts_table(chunk)


def _json_line_tables(
    source: Source, path: str, stats: BuildStats, on_error: str, span: tuple[int, int, int] | None = None
) -> Iterator[pa.Table]:
    """`iter_rows` of one file of the default JSON-lines reader (or of the byte range `span` of its whole lines), a
    block of lines at a time: a block (or, around a few odd lines, a piece of one: `fast_pieces`) in one of the 2021
    record forms is read at once (`block_texts`: sliced or parsed by pyarrow) and cleaned over Arrow (`clean_table`),
    both exact; any other piece goes through the per-record path line by line.
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
        fail(stats, on_error, where(path, broken.location), RecordError(broken.reason, broken.message))


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
        fail(stats, on_error, where(path, first + line), bad[line])
    good = ~np.isin(texts.line, list(bad)) if bad else np.ones(len(texts.line), dtype=bool)
    keep = good & ~cleaned.same
    stats.rows_read += texts.lines
    stats.rows_kept += texts.lines - len(bad)
    stats.pairs_generated += int(good.sum())
    stats.same_text += int((good & cleaned.same).sum())
    stats.pairs_written += int(keep.sum())
    return cleaned.table if keep.all() else cleaned.table.filter(pa.array(keep))  # most blocks drop nothing


def _texts_table(rows: list[Row]) -> pa.Table:
    return table_of(rows, _TEXTS) if rows else _TEXTS.empty_table()


def table_of(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """A table of `schema` from row tuples in its column order (none: an empty table)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)], schema)
