"""The Arrow stream files of a build: its rows in record batches of exactly 10,000 rows (the last one shorter), each
copied into buffers of its own, so a file's bytes depend on its rows alone, not on the tables they arrived in (Ray's
blocks, a read task's tables, the parts of several tasks; a batch that is a whole block would otherwise carry that
block's spare buffer capacity into the file).

Written by the driver (build.py) and by the read tasks (tasks.py): free of `datasets`, as every module a Ray worker
imports (rows.py says why).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from datasets_builders.rows import BATCH_ROWS


class BatchWriter:
    """Rows appended as tables of any chunking, written in batches of BATCH_ROWS; `close()` writes the rest (an
    empty file gets one empty batch, so it opens as a dataset of 0 rows) and returns the rows written."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema, self.written = schema, 0
        self._pending: list[pa.Table] = []
        self._held = 0
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._held += table.num_rows
        if self._held >= BATCH_ROWS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables(self._pending)  # zero-copy: the tables stay chunks
        done = 0
        while table.num_rows - done >= BATCH_ROWS or (final and done < table.num_rows):
            piece = table.slice(done, BATCH_ROWS)
            self._writer.write_batch(
                pa.record_batch([pa.concat_arrays(column.chunks) for column in piece.columns], schema=self.schema)
            )
            done += piece.num_rows
        self.written += done
        self._pending = [table.slice(done)] if done < table.num_rows else []
        self._held = table.num_rows - done

    def close(self) -> int:
        if self._held:
            self._flush(final=True)
        if not self.written:
            self._writer.write_batch(pa.record_batch([pa.array([], f.type) for f in self.schema], schema=self.schema))
        self._writer.close()
        self._sink.close()
        return self.written

    def abort(self) -> None:
        """Close the file without finishing it (the caller removes it)."""
        self._sink.close()


@contextmanager
def part_file(path: Path, schema: pa.Schema) -> Iterator[BatchWriter]:
    """A `BatchWriter` of a read task's part of the build (see tasks.read_rows), written under a name of this
    process and renamed to `path` when complete: a task that Ray retries after its worker was killed mid-write
    rewrites it whole, and a reader of an earlier complete copy keeps its pages."""
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    writer = BatchWriter(partial, schema)
    try:
        yield writer
        writer.close()
    except BaseException:
        writer.abort()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)


def read_stream(path: Path) -> pa.Table:
    """An Arrow stream file as a table, memory-mapped (its batches are views of the page cache)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all()
