"""Reading raw pair files: JSON lines, plain or compressed, and every record form the 2021 files use.

A reader turns a file into `(line number, record)` items in constant memory; a record converter turns one record
into text tuples of 2 (pair) or 3 (triplet) texts. Problems with one record are *yielded or raised* as
`RecordError` carrying a short machine reason (counted in build statistics) and a human detail, so the builder can
either stop with the file and line or skip and count.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from datasets_builders.compressed import BrokenInput, head_text, read_lines

TextTuple = tuple[str, ...]


class RecordError(Exception):
    """One bad record (or, when raised by a reader, a file that cannot be read further).

    `reason` is a short key used for counting (e.g. "invalid_json", "wrong_arity"); `detail` explains it.
    `line` is set by readers that raise, so the error names where the file broke.
    """

    def __init__(self, reason: str, detail: str, line: int | str | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.line = line


class Filtered:
    """A record that a source's documented filters drop (a low score, a deleted post): a reader yields
    `(location, Filtered("low_score"))` and the builder counts it under that reason. Never an error, whatever the
    error policy; it is not bad input, just data the recipe does not want."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


class Bounded:
    """Pairs a source's memory or size bounds did not form (a miner's cap on pairs per category, a category evicted
    from its index): `count` of them, counted by reason in the build statistics. Not a record: it does not change
    rows read, kept, filtered or rejected."""

    __slots__ = ("count", "reason")

    def __init__(self, reason: str, count: int = 1):
        self.reason = reason
        self.count = count


def location_text(location: int | str | None) -> str:
    """How every builder message names a place in a file: a line number as "line N"; record labels ("row 3 (Id=7)",
    "page 2 (Ada)", "line 4, column 2") as they are; None or 0 (the whole file) as nothing."""
    if location is None or location == 0 or location == "":
        return ""
    return f"line {location}" if isinstance(location, int) else str(location)


def where(path: str | Path, location: int | str | None) -> str:
    """`file:location` (or just `file` for the whole file), the prefix of every error message."""
    text = location_text(location)
    return f"{path}:{text}" if text else str(path)


COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_JSON_START = re.compile(r'\s*(\{|\[\s*["\[{\]])')  # an object, or a list of texts / lists: not an INI [section]


def plain_name(path: Path) -> str:
    """A file's name without its compression suffix, lower case: `Corpus.de-en.DE.gz` -> "corpus.de-en.de"."""
    name = path.name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def keep_where(is_input: Callable[[Path], bool], folder: Path, files: list[Path]) -> list[Path]:
    """The files of `folder` that `is_input` accepts, in order (a `Source.select_inputs` through functools.partial)."""
    return [file for file in files if is_input(file)]


def is_json_lines(path: Path) -> bool:
    """Whether a file found in a folder is a JSON-lines input: named so (.jsonl, .json, plain or compressed), or
    starting with a JSON object or list. A LICENSE, README.md or .pkl downloaded beside the data is not."""
    return plain_name(path).endswith(_JSON_SUFFIXES) or bool(_JSON_START.match(head_text(path, 256)))


def select_json_lines(folder: Path, files: list[Path]) -> list[Path]:
    """The default `Source.select_inputs`: the JSON-lines files of a folder."""
    return keep_where(is_json_lines, folder, files)


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return record


# One decoder for every line: a hook passed to json.loads per call would build a decoder each time.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): only then can a parsed string hold a lone surrogate, which
# is not a character and cannot be written as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json(text: str) -> Any:
    """One JSON value of a raw record; a value that is not text data raises `RecordError`: "invalid_json",
    "duplicate_key" (an object naming a key twice: which value was meant?), "too_deeply_nested" (deeper than
    Python's recursion limit), "invalid_text" (a string holding a lone surrogate)."""
    try:
        record = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise RecordError("invalid_json", f"{error.msg} at column {error.colno}") from None
    except _DuplicateKey as error:
        raise RecordError("duplicate_key", f"an object has the key {str(error.args[0])[:80]!r} twice") from None
    except RecursionError:
        raise RecordError("too_deeply_nested", "lists or objects nested too deeply to read") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(record):
        raise RecordError("invalid_text", "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)")
    return record


def _has_lone_surrogate(value: Any) -> bool:
    pending = [value]  # iterative: a parsed value may be nested close to the recursion limit
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def read_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield `(line number, parsed JSON value)` for each line of a JSON-lines file (plain or gzip, bz2, xz, zstd).

    A line that is not UTF-8, blank, not JSON or not text data (see `parse_json`) is yielded as a `RecordError`
    value (the file goes on); a stream that breaks (truncated or corrupt compression) raises `RecordError` at the
    first line it could not read whole, after every complete line before it.
    """
    try:
        yield from json_line_records(read_lines(Path(path)))
    except BrokenInput as broken:
        raise RecordError(broken.reason, broken.message, broken.location) from None


def json_line_records(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, Any]]:
    """`(line number, parsed JSON value or RecordError)` of numbered raw lines (see `read_json_lines`)."""
    for line_no, raw in lines:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield line_no, RecordError("not_utf8", f"invalid UTF-8 byte at column {error.start + 1}")
            continue
        if not text.strip():
            yield line_no, RecordError("blank_line", "empty line")
            continue
        try:
            record = parse_json(text)
        except RecordError as error:
            record = error
        yield line_no, record


def _texts(values: Any, field: str) -> list[str]:
    if not isinstance(values, list):
        raise RecordError("wrong_type", f"'{field}' must be a list of texts, got {type(values).__name__}")
    for value in values:
        if not isinstance(value, str):
            raise RecordError("wrong_type", f"'{field}' holds a {type(value).__name__}, expected text")
    return values


def _text(record: dict, field: str) -> str:
    value = record[field]
    if not isinstance(value, str):
        raise RecordError("wrong_type", f"'{field}' must be text, got {type(value).__name__}")
    return value


def record_texts(record: Any) -> list[TextTuple]:
    """Turn one raw record into text tuples, whatever form of the 2021 data it has:

    - `["a", "b"]` or `["a", "b", "c"]`: one pair or triplet (the 2021 files; also `{"texts": [...]}`);
    - `{"set": [t1, t2, ..., tn]}`: paraphrases of one thing (WikiAnswers, COCO, Flickr30k): every unordered
      combination `(ti, tj)` with i < j, in order, so n texts give n(n-1)/2 pairs (5 captions -> 10 pairs, which
      is how the 2021 COCO/Flickr files got ~10 pairs per image);
    - `{"query": q, "pos": [p1, ...]}`: one pair `(q, pi)` per positive;
    - `{"query": q, "pos": [...], "neg": [n1, ...]}`: one triplet `(q, pi, n_(i mod len(neg)))` per positive;
    - `{"context": c, "response": r}` (Reddit, PolyAI conversational format): the pair `(c, r)`;
    - `{"anchor": a, "positive": p, "negative": n?}`: the common schema itself.
    """
    if isinstance(record, list):
        return [tuple(_texts(record, "line"))]
    if not isinstance(record, dict):
        raise RecordError("wrong_type", f"expected a JSON list or object, got {type(record).__name__}")
    if "texts" in record:
        return [tuple(_texts(record["texts"], "texts"))]
    if "set" in record:
        texts = _texts(record["set"], "set")
        if len(texts) < 2:
            raise RecordError("wrong_arity", f"a set needs at least 2 texts, got {len(texts)}")
        return list(itertools.combinations(texts, 2))
    if "query" in record and "pos" in record:
        query = _text(record, "query")
        positives = _texts(record["pos"], "pos")
        if not positives:
            raise RecordError("wrong_arity", "'pos' is empty")
        if "neg" not in record:
            return [(query, positive) for positive in positives]
        negatives = _texts(record["neg"], "neg")
        if not negatives:
            raise RecordError("wrong_arity", "'neg' is empty")
        return [(query, positive, negatives[i % len(negatives)]) for i, positive in enumerate(positives)]
    if "context" in record and "response" in record:
        return [(_text(record, "context"), _text(record, "response"))]
    if "anchor" in record and "positive" in record:
        if record.get("negative") is None:
            return [(_text(record, "anchor"), _text(record, "positive"))]
        return [(_text(record, "anchor"), _text(record, "positive"), _text(record, "negative"))]
    keys = ", ".join(sorted(map(str, record))) or "none"
    raise RecordError(
        "unknown_format",
        f"object keys [{keys}]; expected texts, set, query+pos(+neg), context+response or anchor+positive",
    )
