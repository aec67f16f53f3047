"""The fast path of the default JSON-lines reader: a block of lines parsed at once by pyarrow.json instead of line
by line, for the forms most of the billion pairs come in: the 2021 list lines (`["a", "b"]`, `["a", "b", "c"]`),
`{"texts": [...]}` objects, PolyAI's Reddit objects (`{"context": ..., "response": ...}`) and the common schema
itself (`{"anchor": ..., "positive": ...[, "negative": ...]}`), any of the objects with extra keys of plain values
(`"subreddit": "askscience"`, `"id": 7`), which the per-record path ignores too.

Only when the result is certain to equal the per-record path's (`parse_json` + `record_texts`) for every line of
the block; any other block (another record form, a bad line, anything pyarrow might read differently) gets the
per-record path, which knows every form and names every bad line.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

_TEXTS = ("anchor", "positive", "negative")
_LIST = pa.list_(pa.string())
# A key twice (duplicate_key, also in a nested object and after unescaping) or a value of another type than the
# schema's makes pyarrow fail the block; any other key becomes a column of its own ("infer" parses in half the time
# of "error", which checks every key of every line against the schema).
_OBJECTS = pa_json.ParseOptions(explicit_schema=pa.schema([(name, pa.string()) for name in _TEXTS]),
                                unexpected_field_behavior="infer")
# List lines are parsed wrapped as {"texts": line}: a line that is not one JSON list (`["a"], "b": ["c"]`) gives a
# second key, which fails the block.
_LISTS = pa_json.ParseOptions(explicit_schema=pa.schema([("texts", _LIST)]), unexpected_field_behavior="error")
_WRAP_START, _WRAP_NEXT, _WRAP_END = b'{"texts":', b'}\n{"texts":', b"}"
# The keys of the forms record_texts reads before context + response that are not read here (a set's pairs, a
# query's positives), and the PolyAI Reddit form's keys (a column only where a line has the key: null is not absent)
_OTHER_FORMS = frozenset({"set", "query", "pos"})
_CONTEXT = ("context", "response")
_NEWLINE, _SPACE, _BACKSLASH = ord("\n"), ord(" "), ord("\\")
_CLOSING = {ord("{"): ord("}"), ord("["): ord("]")}
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


def block_texts(block: bytes) -> pa.Table | None:
    """The (anchor, positive, negative) strings of a block of whole JSON lines, one row per line (negative null
    where a line has two texts), or None when the block needs the per-record path.

    Exact because: every line is one list from `[` to `]` or one object from `{` to `}` (so no blank line, no
    leading or trailing text, and pyarrow's row count equals the line count, checked: two values on one line would
    show), holds no control character (json.loads rejects one inside a string) and no surrogate escape, and is valid
    UTF-8 (on such lines json.loads and pyarrow decode the same strings, and accept the same numbers and literals);
    each line gives 2 or 3 texts the way record_texts reads them (`_texts_of`), and an object's other keys hold no
    list or object (whose depth json.loads might refuse)."""
    body = pa.py_buffer(block)  # zero-copy views from here: a block is megabytes
    if block.endswith(b"\n"):
        body = body.slice(0, len(block) - 1)
    data = np.frombuffer(body, np.uint8)
    ends = _line_ends(data)
    if ends is None or _has_surrogate_escape(data):
        return None
    if not block.isascii():  # ASCII is valid UTF-8: the full decode only for the others
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    lists = data[0] == ord("[")
    if lists:  # two copies of the block: the replace, and the prefix (a line without "\n" gets a third)
        wrapped = _WRAP_START + block.replace(b"\n", _WRAP_NEXT)
        body = (pa.py_buffer(wrapped).slice(0, len(wrapped) - len(_WRAP_START)) if block.endswith(b"\n")
                else pa.py_buffer(wrapped + _WRAP_END))
    options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)  # one core; no line straddles
    try:
        table = pa_json.read_json(pa.BufferReader(body), read_options=options,
                                  parse_options=_LISTS if lists else _OBJECTS)
    except pa.ArrowInvalid:
        return None
    return _texts_of(table) if table.num_rows == len(ends) + 1 else None


def _texts_of(table: pa.Table) -> pa.Table | None:
    """What record_texts reads from each parsed line, if it is one of the forms read here in every line: "texts"
    (read first), then context + response, then anchor + positive (+ negative); None for any other form or when a
    key that is not read holds a list or an object."""
    names = set(table.column_names)
    if names & _OTHER_FORMS:
        return None
    form = ("texts",) if "texts" in names else _CONTEXT if set(_CONTEXT) <= names else _TEXTS
    if any(pa.types.is_nested(field.type) for field in table.schema if field.name not in form):
        return None
    if form == ("texts",):
        return _from_lists(table["texts"])
    if any(table[name].type != pa.string() or table[name].null_count for name in form[:2]):
        return None  # a null or missing anchor or positive, or context or response: the per-record path names it
    negative = table["negative"] if form == _TEXTS else pa.nulls(table.num_rows, pa.string())
    return pa.table([table[form[0]], table[form[1]], negative], names=list(_TEXTS))


def _line_ends(data: np.ndarray) -> np.ndarray | None:
    """Where the lines end (their "\n"s), if every line opens with the first line's `[` or `{`, closes with its
    match and holds no control character; else None."""
    closing = _CLOSING.get(int(data[0])) if len(data) else None
    if closing is None or data[-1] != closing:
        return None
    ends = np.flatnonzero(data == _NEWLINE)
    whole = ((data[ends - 1] == closing).all() and (data[ends + 1] == data[0]).all()
             and np.count_nonzero(data < _SPACE) == len(ends))
    return ends if whole else None


def _from_lists(texts: pa.ChunkedArray) -> pa.Table | None:
    """(anchor, positive, negative) of lists of 2 or 3 strings; None if a list is missing, null, holds a null or
    has another length (the per-record path names those lines)."""
    if texts.type != _LIST or texts.null_count:
        return None
    texts = texts.combine_chunks()
    values = texts.values
    offsets = texts.offsets.to_numpy()
    lengths = np.diff(offsets)
    triplets = lengths == 3
    if not ((lengths == 2) | triplets).all() or values.slice(offsets[0], offsets[-1] - offsets[0]).null_count:
        return None
    starts = offsets[:-1]
    negative = pa.nulls(len(texts), pa.string())
    if triplets.any():
        third = values.take(np.where(triplets, starts + 2, starts))
        negative = third if triplets.all() else pc.if_else(pa.array(triplets), third, negative)
    return pa.table([values.take(starts), values.take(starts + 1), negative], names=list(_TEXTS))
