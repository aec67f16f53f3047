"""What every miner shares: mining events, the error policy with counted drops, and reading input files.

A miner is a generator of events `(file, location, item)`: `item` is a pair {"anchor", "positive", "negative"}
or a `Drop` saying why a record gave no pair. Generators never decide what an error means: `MiningStats.pairs_of`
applies the error policy for the Python API, and `sources.py` hands the same events to the builder, whose policy
and counts then apply. That keeps one parser per format and no hidden drops.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from se1b.errors import UserError

READ_SIZE = 1 << 20
ZSTD_MAX_WINDOW = 2**31  # the Pushshift Reddit dumps are compressed with --long=31
ON_ERROR_CHOICES = ("raise", "skip")


@dataclass(frozen=True)
class Drop:
    """Why one record gave no pair. `error=False`: a recipe filter (a low score, a deleted comment), always counted
    and never fatal. `error=True`: bad input (malformed XML or JSON, a missing attribute), subject to on_error."""

    reason: str
    message: str = ""
    error: bool = False


Event = tuple[Path, str, "dict | Drop"]  # (file, location in it, pair or Drop)


class MiningStats:
    """Pairs produced and records dropped by reason, with the error policy.

    on_error="raise" (default): bad input raises a one-line UserError naming the file and location.
    on_error="skip": bad input is counted under its reason like a filter. Nothing is dropped without a count.
    """

    def __init__(self, on_error: str = "raise") -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise UserError(f"on_error must be one of {ON_ERROR_CHOICES}, not {on_error!r}")
        self.on_error = on_error
        self.dropped: Counter[str] = Counter()
        self.pairs = 0

    @property
    def records(self) -> int:
        """Records accounted for: pairs + drops (a pair may account for more than one raw record, e.g. a question
        and its answer; each miner's docstring says what its records are)."""
        return self.pairs + sum(self.dropped.values())

    def pairs_of(self, events: Iterator[Event]) -> Iterator[dict]:
        """The pairs of a miner's events, counting drops and applying the error policy."""
        for file, location, item in events:
            if not isinstance(item, Drop):
                self.pairs += 1
                yield item
            elif item.error and self.on_error == "raise":
                raise UserError(
                    f"{file}:{location}: {item.reason}: {item.message} (use --on-error skip to count and skip)"
                )
            else:
                self.dropped[item.reason] += 1

    def summary(self) -> dict:
        """A JSON-serialisable summary: pairs produced and drops by reason."""
        return {"pairs": self.pairs, "dropped": dict(sorted(self.dropped.items()))}


def pair(anchor: str, positive: str, negative: str | None = None) -> dict:
    """One row of the common schema."""
    return {"anchor": anchor, "positive": positive, "negative": negative}


def input_files(path: str | Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    """The files to read: `path` itself if it is a file, else the files under it matching `patterns` (recursive),
    in sorted order so that every run reads them in the same order."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path}: no such file or folder")
    files = sorted({f for pattern in patterns for f in path.rglob(pattern) if f.is_file()})
    if not files:
        raise UserError(f"{path}: no {what} files found (looked for {', '.join(patterns)})")
    return files


class BrokenInput(Exception):
    """A file that cannot be read further (truncated or corrupt compression); `location` says where it broke."""

    def __init__(self, reason: str, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.reason, self.location, self.message = reason, location, message


def _zstd_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed blocks of a .zst file, frame after frame.

    zstandard's stream_reader stops quietly at the end of a truncated file, so this drives decompressobj itself:
    a file that ends inside a frame is reported (with the compressed byte offset) instead of losing its tail.
    """
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    frame = decompressor.decompressobj()
    offset = fed = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_SIZE):
            while chunk:
                try:
                    yield frame.decompress(chunk)
                except zstandard.ZstdError as error:
                    raise BrokenInput("corrupt_file", f"byte {offset}", f"corrupt zstd data ({error})") from None
                fed += len(chunk)
                if frame.eof:  # the next frame starts in what this one did not use
                    chunk = frame.unused_data
                    offset += fed - len(chunk)
                    frame, fed = decompressor.decompressobj(), 0
                else:
                    chunk = b""
    if fed:
        raise BrokenInput("truncated_file", f"byte {offset + fed}", "truncated zstd file (ends inside a frame)")


def _plain_blocks(path: Path) -> Iterator[bytes]:
    """Blocks of a plain or gzip-compressed file; a truncated or corrupt gzip stream is reported."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        try:
            while chunk := fh.read(READ_SIZE):
                yield chunk
        except EOFError as error:
            raise BrokenInput("truncated_file", f"byte {fh.tell()}", f"truncated gzip file ({error})") from None
        except (OSError, zlib.error) as error:
            raise BrokenInput("corrupt_file", f"byte {fh.tell()}", f"corrupt gzip data ({error})") from None


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a plain, .gz or .zst text file, read in blocks (constant memory). A broken stream
    raises BrokenInput after the complete lines before the break; the partial line at the break is not yielded."""
    blocks = _zstd_blocks(path) if path.suffix == ".zst" else _plain_blocks(path)
    number = 0
    tail = b""
    for block in blocks:
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        for line in lines:
            number += 1
            yield number, line
    if tail.strip():
        yield number + 1, tail


def json_records(path: Path) -> Iterator[Event]:
    """Events (file, "line N", record dict or Drop) of a JSON-lines file: invalid JSON, non-UTF-8 bytes and
    non-object lines become error Drops; a broken compressed stream ends the file with one error Drop at its
    offset. Blank lines hold no record and are passed over."""
    try:
        for number, line in read_lines(path):
            if not line.strip():
                continue
            location = f"line {number}"
            try:
                record = json.loads(line)
            except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
                yield path, location, Drop("invalid_json", f"invalid JSON ({error})", error=True)
                continue
            if isinstance(record, dict):
                yield path, location, record
            else:
                yield path, location, Drop("invalid_json", f"a JSON {type(record).__name__}, not an object", True)
    except BrokenInput as broken:
        yield path, broken.location, Drop(broken.reason, broken.message, error=True)


def missing_field(record: dict, fields: dict[str, type]) -> Drop | None:
    """An error Drop for the first field of `fields` (name -> expected type) that is absent or mistyped."""
    for name, expected in fields.items():
        value = record.get(name)
        if value is None:
            return Drop("missing_field", f"missing field {name!r}", error=True)
        if not isinstance(value, expected) or isinstance(value, bool):
            return Drop(
                "wrong_type", f"field {name!r} should be {expected.__name__}, got {type(value).__name__}", True
            )
    return None
