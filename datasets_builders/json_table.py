"""The fast path of the default JSON-lines reader: a block of `{"anchor": ..., "positive": ...[, "negative": ...]}`
lines (the common schema itself) parsed at once by pyarrow.json instead of line by line.

Only when the result is certain to equal the per-record path's (`parse_json` + `record_texts`) for every line of
the block; any other block (another record form, a bad line, anything pyarrow might read differently) gets the
per-record path, which knows every form and names every bad line.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

_SCHEMA = pa.schema([(name, pa.string()) for name in ("anchor", "positive", "negative")])
# A key twice (duplicate_key) or a value that is not a string or null (wrong_type) makes pyarrow fail the block;
# another key (record_texts would look at it: "texts", "set", ...) becomes a fourth column. ("infer" parses in half
# the time of "error", which checks every key of every line against the schema.)
_PARSE = pa_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="infer")
_NEWLINE, _OPEN, _CLOSE, _SPACE, _BACKSLASH = ord("\n"), ord("{"), ord("}"), ord(" "), ord("\\")
_SURROGATE_FIRST = np.frombuffer(b"dD", np.uint8)
_SURROGATE_SECOND = np.frombuffer(b"89abcdefABCDEF", np.uint8)


def _has_surrogate_escape(data: np.ndarray) -> bool:
    """Whether the bytes hold `\\u` + d/D + 8-f (an escaped UTF-16 surrogate: a lone one is invalid_text, which the
    per-record path decides). Over numpy from the few backslashes: a bytes search for `\\u` took a tenth of a
    block's whole parse."""
    at = np.flatnonzero(data[:-3] == _BACKSLASH)
    if not len(at):
        return False
    at = at[data[at + 1] == ord("u")]
    return bool((np.isin(data[at + 2], _SURROGATE_FIRST) & np.isin(data[at + 3], _SURROGATE_SECOND)).any())


def anchor_positive_table(block: bytes) -> pa.Table | None:
    """The (anchor, positive, negative) strings of a block of whole JSON lines, one row per line (negative null
    where a line has none), or None when the block needs the per-record path.

    Exact because: every line is one object from `{` to `}` (so no blank line, no leading or trailing text, and
    pyarrow's row count equals the line count, checked: two objects on one line would show), holds no control
    character (json.loads rejects one inside a string) and no surrogate escape, is valid UTF-8, with string anchor
    and positive (a null or missing one is left to the per-record path) and no other key; on such a line json.loads
    and pyarrow decode the same strings, and record_texts gives (anchor, positive[, negative])."""
    body = pa.py_buffer(block)  # zero-copy views from here: a block is megabytes
    if block.endswith(b"\n"):
        body = body.slice(0, len(block) - 1)
    data = np.frombuffer(body, np.uint8)
    if not len(data):
        return None
    ends = np.flatnonzero(data == _NEWLINE)
    lines = len(ends) + 1
    if not (data[0] == _OPEN and data[-1] == _CLOSE and (data[ends - 1] == _CLOSE).all()
            and (data[ends + 1] == _OPEN).all() and np.count_nonzero(data < _SPACE) == len(ends)):
        return None
    if _has_surrogate_escape(data):
        return None
    if not block.isascii():  # ASCII is valid UTF-8: the full decode only for the others
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)  # one core; no line straddles
    try:
        table = pa_json.read_json(pa.BufferReader(body), read_options=options, parse_options=_PARSE)
    except pa.ArrowInvalid:
        return None
    if table.num_columns != 3 or table.num_rows != lines or table["anchor"].null_count or table["positive"].null_count:
        return None
    return table
