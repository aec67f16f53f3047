"""Cleaning a record's texts: whitespace normalisation, empty or invisible texts, pairs whose two sides are the same.

`clean_texts` is the exact, per-record definition; `clean_table` does the same over an Arrow table of rows
(anchor, positive, negative) with pyarrow.compute, and hands to `clean_texts` only the rows whose outcome it cannot
decide exactly (non-ASCII text, an empty text, a wrong arity), so both give the same rows, counts and errors.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datasets_builders.readers import RecordError, TextTuple
from datasets_builders.source import Source

Row = tuple[str, str, "str | None"]  # (anchor, positive, negative); negative is None in a pair source

# Exactly the characters for which str.isspace() is True (what str.split() and str.strip() cut on) but the ASCII
# space, as RE2 class items (tests/test_clean_fast.py checks the set on every code point).
_OTHER_SPACES = r"\t\n\x0b\x0c\r\x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_SPACE = f"[ {_OTHER_SPACES}]"
# Texts that 'collapse' changes: another whitespace than the space, two spaces, a space at either end.
_NOT_COLLAPSED = f"[{_OTHER_SPACES}]|  |^ | $"
_NOT_STRIPPED = f"^{_SPACE}|{_SPACE}$"
_TEXTS = ("anchor", "positive", "negative")


def normalize(text: str, whitespace: str) -> str:
    """'collapse': every run of whitespace (newlines included) becomes one space; 'strip': only the ends go."""
    if whitespace == "strip":
        return text.strip()
    # Fast path for text that is already clean: isprintable() is False for every whitespace but the ASCII space.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())  # str.split() splits on every Unicode whitespace run


def same_text(first: str, second: str) -> bool:
    """Whether two texts are the same once case, Unicode compatibility forms and whitespace are normalised."""
    if first == second:
        return True
    return _comparable(first) == _comparable(second)


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def invisible(text: str) -> bool:
    """Empty, or only whitespace and format characters (zero-width space/joiners, word joiner, BOM, soft hyphen:
    Unicode category Cf), which show nothing. Printable text (most text) is never invisible: a fast first test."""
    return not text or (not text.isprintable()
                        and all(char.isspace() or unicodedata.category(char) == "Cf" for char in text))


def clean_texts(source: Source, tuples: list[TextTuple]) -> tuple[list[Row], int]:
    """A record's text tuples as normalised rows, and how many were left out because anchor and positive are the
    same text; a wrong arity or an empty text makes the whole record bad (RecordError)."""
    rows = []
    same = 0
    for texts in tuples:
        if len(texts) not in source.arity:
            expected = " or ".join(map(str, source.arity))
            raise RecordError("wrong_arity", f"{len(texts)} texts, {source.name} expects {expected}")
        cleaned = [normalize(text, source.whitespace) for text in texts]
        blank = next((i for i, text in enumerate(cleaned) if invisible(text)), None)
        if blank is not None:
            raise RecordError("empty_text", f"text {blank + 1} is empty after whitespace normalisation" if not
                              cleaned[blank] else f"text {blank + 1} holds only invisible (zero-width) characters")
        if same_text(cleaned[0], cleaned[1]):
            same += 1
            continue
        rows.append((cleaned[0], cleaned[1], cleaned[2] if len(cleaned) == 3 else None))
    return rows, same


@dataclass
class CleanedTable:
    """`clean_table`'s result, one entry per input row: the normalised texts (`table`: anchor, positive, negative),
    whether the row was left out as same_text, and the RecordError of each bad row by its index."""

    table: pa.Table
    same: np.ndarray
    errors: dict[int, RecordError]


def clean_table(source: Source, table: pa.Table) -> CleanedTable:
    """`clean_texts` over a table of rows of one text tuple each (anchor, positive, negative; negative null in a
    pair), vectorised. Exact: whitespace runs are replaced with the very character set Python splits on; for a row
    whose texts are all ASCII, NFKC is the identity and casefold() is ascii lower-casing (so same_text is a
    lower-cased comparison), and no character is a format (Cf) character (so invisible means empty). The other rows
    (non-ASCII text, an empty text, a wrong arity) get `clean_texts` itself."""
    columns = [table[name].combine_chunks() for name in _TEXTS]
    printable = [_printable(column) for column in columns]
    cleaned = [_normalized(column, source.whitespace, mask) for column, mask in zip(columns, printable, strict=True)]
    simple = np.asarray(pc.is_valid(columns[2]).to_numpy(zero_copy_only=False), dtype=bool) == (source.arity == (3,))
    for column, mask in zip(cleaned, printable, strict=True):
        ascii_ = mask.copy()  # printable ASCII stays so when its whitespace is normalised: only the others are read
        others = np.flatnonzero(~mask)
        ascii_[others] = np.asarray(pc.string_is_ascii(column.take(others)).to_numpy(zero_copy_only=False), dtype=bool)
        empty = pc.fill_null(pc.equal(pc.binary_length(column), 0), False)  # a null negative: the arity decides
        simple &= ascii_ & ~np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
    # 'strip' leaves inner runs: same_text compares texts collapsed ('collapse' of a stripped text is collapsed)
    first, second = (_normalized(column, "collapse", mask) if source.whitespace == "strip" else column
                     for column, mask in zip(cleaned[:2], printable[:2], strict=True))
    # ASCII lower-casing keeps the length: only rows whose two texts are as long can be the same (few rows)
    equal_length = pc.fill_null(pc.equal(pc.binary_length(first), pc.binary_length(second)), False)
    candidates = np.flatnonzero(simple & np.asarray(equal_length.to_numpy(zero_copy_only=False), dtype=bool))
    same = np.zeros(table.num_rows, dtype=bool)
    lowered = [pc.ascii_lower(column.take(candidates)) for column in (first, second)]
    same[candidates] = np.asarray(pc.fill_null(pc.equal(*lowered), False).to_numpy(zero_copy_only=False), dtype=bool)
    errors: dict[int, RecordError] = {}
    others = np.flatnonzero(~simple)
    texts_of_others = zip(*(column.take(others).to_pylist() for column in columns), strict=True)
    for index, texts in zip(others, texts_of_others, strict=True):
        try:
            same[index] = clean_texts(source, [tuple(text for text in texts if text is not None)])[1] == 1
        except RecordError as error:
            errors[int(index)] = error
    return CleanedTable(pa.table(cleaned, names=list(_TEXTS)), same, errors)


def _printable(column: pa.Array) -> np.ndarray:
    """Which texts hold printable ASCII only (a null or an empty text: True). When every byte of the column's texts
    is printable ASCII (0x20-0x7E), all of them: one min and one max over the bytes in numpy, without the
    temporary arrays of a comparison, cost a third of the per-text pass in C++ that the other columns get."""
    data = _text_bytes(column)[1]
    if not len(data) or (data.min() >= 0x20 and data.max() <= 0x7E):
        return np.ones(len(column), dtype=bool)
    return np.asarray(pc.fill_null(pc.ascii_is_printable(column), True).to_numpy(zero_copy_only=False), dtype=bool)


def _text_bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets of the texts of a (large_)string array counted from its first text's first byte, and the bytes
    of its texts: views of the column's buffers, whatever its slice."""
    offsets = np.frombuffer(column.buffers()[1], np.int64 if pa.types.is_large_string(column.type) else np.int32)
    offsets = offsets[column.offset : column.offset + len(column) + 1].astype(np.int64)
    if offsets[-1] == offsets[0]:  # only empty or null texts (a column of nulls may have no data buffer)
        return offsets - offsets[0], np.empty(0, np.uint8)
    data = np.frombuffer(column.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _normalized(column: pa.Array, whitespace: str, printable: np.ndarray) -> pa.Array:
    """`normalize` of every text: 'strip' cuts the whitespace runs at both ends, 'collapse' makes every run one space
    and drops the one left at either end. Only the texts that change go through the (slower) regex replacement.
    `printable`: `_printable` of the texts (or of texts they were normalised from)."""
    pattern = _NOT_STRIPPED if whitespace == "strip" else _NOT_COLLAPSED
    rows = np.flatnonzero(_may_change(column, whitespace, printable))  # the regex decides on these few rows only
    matched = pc.fill_null(pc.match_substring_regex(column.take(rows), pattern), False)
    rows = rows[np.asarray(matched.to_numpy(zero_copy_only=False), dtype=bool)]
    if not len(rows):
        return column
    changes = np.zeros(len(column), dtype=bool)
    changes[rows] = True
    texts = column.take(rows)
    if whitespace == "strip":
        texts = pc.replace_substring_regex(texts, f"^{_SPACE}+|{_SPACE}+$", "")
    else:
        texts = pc.utf8_trim(pc.replace_substring_regex(texts, f"{_SPACE}+", " "), " ")
    return pc.replace_with_mask(column, pa.array(changes), texts)


def _may_change(column: pa.Array, whitespace: str, printable: np.ndarray) -> np.ndarray:
    """Which texts `normalize` might change, from their UTF-8 bytes at once (no per-text regex call): every
    whitespace character but the ASCII space is a byte below 0x20 or starts with a byte of 0x80 or more, so a text
    of printable ASCII only, without two spaces in a row and without a space at either end is collapsed already;
    one without whitespace at either end is stripped already. A superset: the regex decides on these rows.
    `printable`: `_printable` of the texts (or of texts they were normalised from: those stay printable)."""
    offsets, data = _text_bytes(column)
    if not len(data):  # only empty or null texts: nothing changes
        return np.zeros(len(column), dtype=bool)
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts  # empty and null texts change nothing
    first = np.where(filled, data[np.minimum(starts, len(data) - 1)], 0x21).astype(np.uint8)
    last = np.where(filled, data[np.maximum(ends - 1, 0)], 0x21).astype(np.uint8)
    if whitespace == "strip":  # a byte <= 0x20 or >= 0x80 (a non-ASCII character) at either end
        return (np.subtract(first, 0x21, dtype=np.uint8) >= 0x5F) | (np.subtract(last, 0x21, dtype=np.uint8) >= 0x5F)
    marked = ~printable | (first == 0x20) | (last == 0x20)
    # Two spaces in a row: the bytes read as 16-bit words at both alignments, a word of two spaces found; each such
    # place marks the text it starts in (one that straddles two texts starts in one ending with a space: marked).
    pairs = [np.flatnonzero(data[shift : shift + (len(data) - shift) // 2 * 2].view(np.uint16) == 0x2020) * 2 + shift
             for shift in (0, 1)]
    marked[np.searchsorted(offsets, np.concatenate(pairs), side="right") - 1] = True
    return marked
