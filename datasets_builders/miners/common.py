"""What every miner shares: mining events, the error policy with counted drops, and reading input files.

A miner is a generator of events `(file, location, item)`: `item` is a pair {"anchor", "positive", "negative"},
a record that the source's `Link` pairs with records of other files (Reddit, Wikipedia, NLI triplets), or a `Drop`
saying why a record gave no pair. Generators never decide what an error means: `MiningStats.pairs_of`
applies the error policy for the Python API, and `sources.py` hands the same events to the builder, whose policy
and counts then apply. That keeps one parser per format and no hidden drops.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from datasets_builders.compressed import (  # noqa: F401 (re-exported for the miners)
    BrokenInput,
    DecodedFile,
    compression_of,
    decoded_blocks,
    head_text,
    read_lines,
)
from datasets_builders.readers import RecordError, parse_json
from se1b.errors import UserError

ON_ERROR_CHOICES = ("raise", "skip")


@dataclass(frozen=True)
class Drop:
    """Why one record gave no pair. `error=False`: a recipe filter (a low score, a deleted comment), always counted
    and never fatal. `error=True`: bad input (malformed XML or JSON, a missing attribute), subject to on_error."""

    reason: str
    message: str = ""
    error: bool = False


Event = tuple[Path, str, "dict | list[dict] | Drop"]  # (file, location, pair(s), a record to link, or Drop)

# The outcome rows of a miner's `Link` (datasets_builders.source.Link): the record's place, why it gave no pair
# (or null) and the texts of its pair.
OUTCOME = pa.schema([
    ("file", pa.int32()), ("seq", pa.int64()), ("location", pa.string()), ("filtered", pa.string()),
    ("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string()),
])  # fmt: skip


class MiningStats:
    """Records kept and dropped by reason, pairs produced, pairs the bounds did not form, and the error policy.

    on_error="raise" (default): bad input raises a one-line UserError naming the file and location.
    on_error="skip": bad input is counted under its reason like a filter. Nothing is dropped without a count.
    """

    def __init__(self, on_error: str = "raise") -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise UserError(f"on_error must be one of {ON_ERROR_CHOICES}, not {on_error!r}")
        self.on_error = on_error
        self.dropped: Counter[str] = Counter()
        self.bounded: Counter[str] = Counter()
        self.kept = 0
        self.pairs = 0

    @property
    def records(self) -> int:
        """Records accounted for: kept (gave one pair or more) + dropped. A pair may use more than one raw record
        (a question and its answer); each miner's docstring says what its records are."""
        return self.kept + sum(self.dropped.values())

    def pairs_of(self, events: Iterator[Event]) -> Iterator[dict]:
        """The pairs of a miner's events, counting drops and applying the error policy."""
        for file, location, item in events:
            if not isinstance(item, Drop):
                self.kept += 1
                for one in item if isinstance(item, list) else [item]:
                    self.pairs += 1
                    yield one
            elif item.error and self.on_error == "raise":
                raise UserError(
                    f"{file}:{location}: {item.reason}: {item.message} (use --on-error skip to count and skip)"
                )
            else:
                self.dropped[item.reason] += 1

    def summary(self) -> dict:
        """JSON-serialisable: records kept, pairs produced, drops by reason, pairs the bounds did not form."""
        return {
            "kept": self.kept,
            "pairs": self.pairs,
            "dropped": dict(sorted(self.dropped.items())),
            "not_formed_by_bounds": dict(sorted(self.bounded.items())),
        }


def pair(anchor: str, positive: str, negative: str | None = None) -> dict:
    """One row of the common schema."""
    return {"anchor": anchor, "positive": positive, "negative": negative}


def natural_key(path: Path) -> list:
    """Sort key that orders numbers by value: pages-articles2.xml-p... before pages-articles10.xml-p..."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def input_files(path: str | Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    """The files to read: `path` itself if it is a file, else the files under it matching `patterns` (recursive),
    in natural order (numbers by value: split dumps and monthly files in sequence) so every run reads them alike."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path}: no such file or folder")
    files = sorted({f for pattern in patterns for f in path.rglob(pattern) if f.is_file()}, key=natural_key)
    if not files:
        raise UserError(f"{path}: no {what} files found (looked for {', '.join(patterns)})")
    return files


def json_records(path: Path) -> Iterator[Event]:
    """Events (file, "line N", record dict or Drop) of a JSON-lines file: invalid JSON, non-UTF-8 bytes and
    non-object lines become error Drops; a broken compressed stream ends the file with one error Drop at its
    offset. Blank lines hold no record and are passed over."""
    try:
        for number, line in read_lines(path):
            if (record := json_line(line)) is not None:
                yield path, f"line {number}", record
    except BrokenInput as broken:
        yield path, broken.location, Drop(broken.reason, broken.message, error=True)


def json_line(line: bytes) -> dict | Drop | None:
    """The JSON object of one line, an error Drop (invalid JSON or UTF-8, not an object), or None for a blank line."""
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:  # the same reason as in every other reader
        return Drop("not_utf8", f"invalid UTF-8 byte at column {error.start + 1}", True)
    try:
        record = parse_json(text)
    except RecordError as error:  # invalid JSON, a duplicate key, too deep, a lone surrogate
        return Drop(error.reason, error.detail, error=True)
    if isinstance(record, dict):
        return record
    return Drop("invalid_json", f"a JSON {type(record).__name__}, not an object", True)


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
