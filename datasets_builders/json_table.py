"""The fast path of the default JSON-lines reader: a block of lines parsed at once by pyarrow.json instead of line
by line, for every form of the 2021 files: list lines (`["a", "b"]`, `["a", "b", "c"]`), `{"texts": [...]}`,
`{"set": [...]}` (every pair of a set), `{"query": ..., "pos": [...][, "neg": [...]]}`, PolyAI's Reddit objects
(`{"context": ..., "response": ...}`) and the common schema itself (`{"anchor": ..., "positive": ...[, "negative":
...]}`), any of the objects with extra keys of plain values (`"subreddit": "askscience"`, `"id": 7`), which the
per-record path ignores too. Lines of plain strings (no escape: most lines of English text) are not parsed at all:
their texts are the bytes between their quotes, sliced out of the block (`_scanned_texts`).

Only when the result is certain to equal the per-record path's (`parse_json` + `record_texts`) for every line of
the block; any other block (another record form, a bad line, anything pyarrow might read differently) gets the
per-record path, which knows every form and names every bad line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# The PolyAI Reddit form's keys. Keys other than anchor/positive/negative are inferred, so a key is a column only
# when a line of the block has it: record_texts tells an explicit null from an absent key, and so can _texts_of.
_CONTEXT = ("context", "response")
_NEWLINE, _RETURN, _SPACE = ord("\n"), ord("\r"), ord(" ")
_CLOSING = {ord("{"): ord("}"), ord("["): ord("]")}
_MIN_SPLIT_LINES = 256
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
# A line of plain strings: an object of string keys and string values or a list of strings, without an escape:
# json.loads reads its texts as the bytes between its quotes. Spaces are the only whitespace left (the lines hold
# no control character, "\r" aside).
_PLAIN_OBJECT = re.compile(rb'\{ *"[^"\\]*" *: *"[^"\\]*"(?: *, *"[^"\\]*" *: *"[^"\\]*")* *\} *\r?')
_PLAIN_LIST = re.compile(rb'\[ *"[^"\\]*"(?: *, *"[^"\\]*")* *\] *\r?')


@dataclass
class BlockTexts:
    """The text tuples of a block's lines: `table` (anchor, positive, negative; negative null in a pair), one row per
    tuple in record_texts' order, `line` the line of the block (from 0) each row comes from, `lines` the block's."""

    table: pa.Table
    line: np.ndarray
    lines: int


def fast_pieces(block: bytes) -> list[tuple[int, bytes, BlockTexts | None]]:
    """The block of whole lines as consecutive pieces, `(number of lines before the piece, piece, its text tuples or
    None: per record)`: the whole block when `block_texts` reads it; else its halves, each split again the same way,
    so that a few odd lines (a blank line, a lone surrogate, a null text) send only the lines around them line by
    line, not the megabytes of the block. A piece of fewer than 2 x _MIN_SPLIT_LINES lines is not split, nor any
    once pyarrow has parsed 4 blocks' worth of bytes in vain (a block of odd lines everywhere)."""
    return _pieces(block, 0, block_texts(block), [4 * len(block)])


def _pieces(block: bytes, before: int, texts: BlockTexts | None, budget: list[int]) -> list:
    if texts is not None:
        return [(before, block, texts)]
    budget[0] -= len(block)
    cut = block.find(b"\n", len(block) // 2) + 1
    head_lines = block.count(b"\n", 0, cut)
    if budget[0] <= 0 or not cut or head_lines < _MIN_SPLIT_LINES or block.count(b"\n", cut) < _MIN_SPLIT_LINES:
        return [(before, block, None)]
    head, tail = block[:cut], block[cut:]
    return (_pieces(head, before, block_texts(head), budget)
            + _pieces(tail, before + head_lines, block_texts(tail), budget))


def block_texts(block: bytes) -> BlockTexts | None:
    """The text tuples of a block of whole JSON lines, or None when the block needs the per-record path. Lines of
    plain strings are sliced out of the block (`_scanned_texts`), the rest is parsed by pyarrow (`_parsed_texts`).

    Exact because: every line is one list from `[` to `]` or one object from `{` to `}` (so no blank line, no
    leading or trailing text, and pyarrow's row count equals the line count, checked: two values on one line would
    show), holds no control character (json.loads rejects one inside a string) and is valid UTF-8 (on such lines
    json.loads and pyarrow decode the same strings, and accept the same numbers and literals; an escaped surrogate
    pair, every emoji of an ensure_ascii file, is one character to both, and pyarrow fails a block with a lone
    surrogate escape, which json.loads decodes and the per-record path rejects as invalid_text; the table pyarrow
    builds is structurally valid, which it is not after one of its inference bugs);
    every line has the form of the block's first line and gives its texts the way record_texts reads them
    (`_texts_of`), and an object's other keys hold no list or object (whose depth json.loads might refuse)."""
    body = pa.py_buffer(block)  # zero-copy views from here: a block is megabytes
    if block.endswith(b"\n"):
        body = body.slice(0, len(block) - 1)
    data = np.frombuffer(body, np.uint8)
    ends = _line_ends(data)
    if ends is None:
        return None
    if not block.isascii():  # ASCII is valid UTF-8: the full decode only for the others
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    first = block[: ends[0] if len(ends) else len(data)]
    if len(data) < 2**31 and (_PLAIN_LIST if first[0] == ord("[") else _PLAIN_OBJECT).fullmatch(first):
        return _scanned_texts(block, data, ends, first)
    return _parsed_texts(block, body, len(ends) + 1)


def _parsed_texts(block: bytes, body: pa.Buffer, lines: int) -> BlockTexts | None:
    """`block_texts` by pyarrow's parser, for a block (`body`: without its last newline) of `lines` lines that
    passed its checks."""
    lists = block[0] == ord("[")
    if lists:  # two copies of the block: the replace, and the prefix (a line without "\n" gets a third)
        wrapped = _WRAP_START + block.replace(b"\n", _WRAP_NEXT)
        body = (pa.py_buffer(wrapped).slice(0, len(wrapped) - len(_WRAP_START)) if block.endswith(b"\n")
                else pa.py_buffer(wrapped + _WRAP_END))
    options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)  # one core; no line straddles
    try:
        table = pa_json.read_json(pa.BufferReader(body), read_options=options,
                                  parse_options=_LISTS if lists else _OBJECTS)
        # An inferred list whose first value opens with null comes out with offsets past its values (pyarrow 25-26,
        # apache/arrow#51305): the cheap structural check (no pass over the data) catches it; the block goes line
        # by line.
        table.validate()
    except pa.ArrowInvalid:
        return None
    return _texts_of(table) if table.num_rows == lines else None


def _texts_of(table: pa.Table) -> BlockTexts | None:
    """What record_texts reads from the parsed lines, in its order of forms: "texts", "set", query + pos (+ neg),
    context + response, anchor + positive (+ negative); None when a line's form differs from the block's first
    form's, a key of the form is null or of another type, or a key that is not read holds a list or an object."""
    names = set(table.column_names)
    if "texts" in names:
        form = ("texts",)
    elif "set" in names:
        form = ("set",)
    elif {"query", "pos"} <= names:
        form = ("query", "pos", "neg") if "neg" in names else ("query", "pos")
    else:
        form = _CONTEXT if set(_CONTEXT) <= names else _TEXTS
    if any(pa.types.is_nested(field.type) for field in table.schema if field.name not in form):
        return None
    if form == ("texts",):
        return _from_lists(table["texts"])
    if form == ("set",):
        return _set_pairs(table["set"])
    if form[0] == "query":
        return _query_rows(table["query"], table["pos"], table["neg"] if "neg" in form else None)
    if not all(_strings(table[name]) for name in form[:2]):
        return None
    negative = table["negative"] if form == _TEXTS else pa.nulls(table.num_rows, pa.string())
    return _one_per_line(pa.table([table[form[0]], table[form[1]], negative], names=list(_TEXTS)))


def _strings(column: pa.ChunkedArray) -> bool:
    """A string in every line (a null or missing text: the per-record path names it)."""
    return column.type == pa.string() and not column.null_count


def _one_per_line(table: pa.Table) -> BlockTexts:
    return BlockTexts(table, np.arange(table.num_rows), table.num_rows)


def _lists(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray] | None:
    """The strings of a column of lists of strings, and where each list starts in them and its length; None if a
    list is missing or null or holds a null."""
    if column.type != _LIST or column.null_count:
        return None
    column = column.combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    if column.values.slice(offsets[0], offsets[-1] - offsets[0]).null_count:
        return None
    return column.values, offsets[:-1], np.diff(offsets)


def _from_lists(texts: pa.ChunkedArray) -> BlockTexts | None:
    """(anchor, positive, negative) of lists of 2 or 3 strings; None if a list has another length (the per-record
    path names those lines)."""
    if (lists := _lists(texts)) is None:
        return None
    values, starts, lengths = lists
    triplets = lengths == 3
    if not ((lengths == 2) | triplets).all():
        return None
    negative = pa.nulls(len(starts), pa.string())
    if triplets.any():
        third = values.take(np.where(triplets, starts + 2, starts))
        negative = third if triplets.all() else pc.if_else(pa.array(triplets), third, negative)
    return _one_per_line(pa.table([values.take(starts), values.take(starts + 1), negative], names=list(_TEXTS)))


def _set_pairs(sets: pa.ChunkedArray) -> BlockTexts | None:
    """Every pair (ti, tj), i < j, of each set, in itertools.combinations' order; None if a set has fewer than 2."""
    if (lists := _lists(sets)) is None:
        return None
    values, starts, lengths = lists
    if (lengths < 2).any():
        return None
    pairs = lengths * (lengths - 1) // 2
    line = np.repeat(np.arange(len(lengths)), pairs)
    nth = np.arange(len(line)) - np.repeat(np.cumsum(pairs) - pairs, pairs)  # the pair's place in its set's pairs
    first, second = np.empty(len(line), np.int64), np.empty(len(line), np.int64)
    line_lengths = lengths[line]
    for length in np.unique(lengths):
        i, j = np.triu_indices(length, 1)  # row by row: the order of itertools.combinations
        rows = line_lengths == length
        first[rows], second[rows] = i[nth[rows]], j[nth[rows]]
    starts = starts[line]
    table = pa.table([values.take(starts + first), values.take(starts + second), pa.nulls(len(line), pa.string())],
                     names=list(_TEXTS))
    return BlockTexts(table, line, len(lengths))


def _query_rows(query: pa.ChunkedArray, pos: pa.ChunkedArray, neg: pa.ChunkedArray | None) -> BlockTexts | None:
    """(query, pi) per positive, or (query, pi, n_(i mod len(neg))) with negatives; None if a list is empty."""
    positives, negatives = _lists(pos), None if neg is None else _lists(neg)
    if not _strings(query) or positives is None or (neg is not None and negatives is None):
        return None
    values, starts, lengths = positives
    if not lengths.all():
        return None
    line = np.repeat(np.arange(len(lengths)), lengths)
    nth = np.arange(len(line)) - np.repeat(starts - starts[0], lengths)  # the positive's place in its line's
    negative = pa.nulls(len(line), pa.string())
    if negatives is not None:
        neg_values, neg_starts, neg_lengths = negatives
        if not neg_lengths.all():
            return None
        negative = neg_values.take(neg_starts[line] + nth % neg_lengths[line])
    table = pa.table([query.combine_chunks().take(line), values.take(starts[line] + nth), negative],
                     names=list(_TEXTS))
    return BlockTexts(table, line, len(lengths))


def _line_ends(data: np.ndarray) -> np.ndarray | None:
    """Where the lines end (their "\n"s), if every line opens with the first line's `[` or `{`, closes with its
    match, then "\r" in every line or in none (Windows line ends: whitespace to both parsers), and holds no other
    control character; else None. One pass finds every control character; the rest looks at those few places."""
    if len(data) < 2 or (closing := _CLOSING.get(int(data[0]))) is None:
        return None
    controls = np.flatnonzero(data < _SPACE)
    crlf = int(data[-1] == _RETURN)  # the last line's "\r"; its "\n" was cut off with the block's
    if crlf:  # "\r\n" after every line, the last line's "\r" at the very end
        returns, ends = controls[0::2], controls[1::2]
        if (len(controls) % 2 == 0 or returns[-1] != len(data) - 1 or (data[returns] != _RETURN).any()
                or (ends != returns[:-1] + 1).any()):
            return None
    else:
        ends = controls
    if data[-1 - crlf] != closing or (data[ends] != _NEWLINE).any():
        return None
    whole = (data[ends - 1 - crlf] == closing).all() and (data[ends + 1] == data[0]).all()
    return ends if whole else None


def _scanned_texts(block: bytes, data: np.ndarray, ends: np.ndarray, first: bytes) -> BlockTexts | None:
    """`block_texts` of a block whose `first` line is plain (`_PLAIN_OBJECT` of distinct keys, `_PLAIN_LIST` of 2 or 3
    texts). Every line with the first line's bytes outside its values (keys, brackets, spaces, colons, commas; its
    number of quotes) is plain too, and its values are sliced out of the block by their quotes' places:
    pyarrow's parser costs twice the CPU of these few passes over the bytes, for the same strings. The other lines
    (an escape, another key, a number) are parsed by pyarrow, together; None if that fails."""
    starts = np.concatenate(([0], ends + 1))
    stops = np.append(ends, len(data))
    quotes = np.flatnonzero(data == _QUOTE)
    per_line = first.count(b'"')
    lists = first[0] == ord("[")
    per_value = 2 if lists else 4  # a list's value has 2 quotes, an object's key and value 4
    if lists:  # another length: the per-record path names the lines (wrong_arity)
        names = list(_TEXTS[: per_line // 2]) if per_line // 2 in (2, 3) else None
    else:
        names = [first[a + 1: b].decode() for a, b in zip(quotes[:per_line:4], quotes[1:per_line:4], strict=True)]
    if not names or len(set(names)) < len(names):  # json.loads keeps a repeated key's last value; pyarrow fails
        return None
    lines = len(starts)
    bounds = np.searchsorted(quotes, stops)  # quotes before each line's end
    counts = np.diff(bounds, prepend=0)
    plain = counts == per_line
    if b"\\" in block:
        plain[np.searchsorted(stops, np.flatnonzero(data == _BACKSLASH))] = False
    # The block cut into consecutive strings at each plain line's start, its values' quotes and its end: per line,
    # the bytes before its first value, the value, the bytes up to the next value, ..., the bytes after its last
    # value, and what lies between this line's end and the next plain line (no copy of the block).
    first_quote = bounds[plain] - per_line
    cuts = np.empty((len(first_quote), 2 * len(names) + 2), np.int64)
    cuts[:, 0], cuts[:, -1] = starts[plain], stops[plain]
    value_quotes = first_quote[:, None] + np.arange(per_value - 2, per_line, per_value)
    cuts[:, 1:-1:2] = quotes[value_quotes] + 1  # a value's first byte
    cuts[:, 2:-1:2] = quotes[value_quotes + 1]  # its closing quote
    pieces = pa.StringArray.from_buffers(cuts.size + 1, pa.py_buffer(np.concatenate(([0], cuts.ravel(), [len(data)]))
                                                                     .astype(np.int32)), pa.py_buffer(block))
    line_pieces = np.arange(len(cuts)) * cuts.shape[1] + 1  # a line's first piece
    # Between its values a line holds the first line's bytes (its quotes among them).
    same = np.ones(len(cuts), bool)
    for at in range(0, cuts.shape[1] - 1, 2):
        between = block[cuts[0, at]: cuts[0, at + 1]].decode()
        same &= pc.equal(pieces.take(line_pieces + at), between).to_numpy(zero_copy_only=False)
    if not same.all():
        plain[np.flatnonzero(plain)[~same]] = False
        line_pieces = line_pieces[same]
    columns = {name: pieces.take(line_pieces + 2 * i + 1) for i, name in enumerate(names)}
    for name in _TEXTS:  # as pyarrow's schema gives them (`_OBJECTS`): absent, a null
        columns.setdefault(name, pa.nulls(len(line_pieces), pa.string()))
    texts = _one_per_line(pa.table(columns)) if lists else _texts_of(pa.table(columns))
    if texts is None or plain.all():
        return texts
    others = np.flatnonzero(~plain)
    rest = b"\n".join(block[starts[i]: stops[i]] for i in others)
    parsed = _parsed_texts(rest, pa.py_buffer(rest), len(others))
    if parsed is None:
        return None
    line = np.concatenate((np.flatnonzero(plain)[texts.line], others[parsed.line]))
    order = np.argsort(line, kind="stable")  # each line's tuples stay in their order
    return BlockTexts(pa.concat_tables([texts.table, parsed.table]).take(order), line[order], lines)
