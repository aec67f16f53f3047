"""The vectorised cleaning (clean_table) gives exactly what the per-record definition (clean_texts) gives: the same
normalised texts, the same same_text decisions and the same errors, on text chosen to break a careless version
(every Unicode whitespace, zero-width characters, compatibility forms, case folding beyond ASCII)."""

from __future__ import annotations

import random
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datasets_builders import Source
from datasets_builders.clean import _SPACE, _may_change, _printable, clean_table, clean_texts, normalize
from datasets_builders.readers import RecordError

TRICKY = [
    "plain text", "  lead and trail  ", "tab\tand\nnewline\r\n", "\x1c\x1d\x1e\x1f file separators",
    "nbsp\xa0here", "ideographic\u3000space", "em\u2003space and\u2028line sep", "\x85next line", "", "   ",
    "\u200b", "\u200b \u200d\ufeff", "soft\xadhyphen", "\xad", "zero\u200bwidth", "Ａ fox", "A FOX", "a fox",
    "Straße", "STRASSE", "strasse", "ǅ digraph", "ǆ DIGRAPH", "ﬁne", "fine", "Ω ohm", "ω ohm", "x", "X", "\x00",
    "\x7f", "café", "cafe\u0301", "İstanbul", "i̇stanbul", "mixed \u00a0 \t runs", "ab", "AB ", " ab",
    "emoji \U0001f600 outside the BMP", "a  b", "ab  c", "abc   d", "x y  ",
]


def source(arity=(2,), whitespace="collapse") -> Source:
    return Source(name="tricky", pretty_name="t", description="t", license="other", citation="c", homepage="h",
                  arity=arity, whitespace=whitespace)


def per_record(src: Source, rows: list[tuple]) -> tuple[list, list, dict]:
    """What the per-record path gives for each row: normalised texts of kept rows, same flags, errors."""
    kept, same, errors = [], [], {}
    for index, texts in enumerate(rows):
        try:
            cleaned, dropped = clean_texts(src, [tuple(text for text in texts if text is not None)])
        except RecordError as error:
            errors[index] = (error.reason, error.detail)
            same.append(False)
            continue
        same.append(dropped == 1)
        kept += cleaned
    return kept, same, errors


def assert_clean_table_equals_per_record(src: Source, rows: list[tuple]) -> None:
    """clean_table over the rows gives the per-record path's same_text flags, errors and kept rows; the rows
    exercise every outcome."""
    table = pa.table({name: pa.array([row[i] for row in rows], pa.string())
                      for i, name in enumerate(("anchor", "positive", "negative"))})
    result = clean_table(src, table)
    kept, same, errors = per_record(src, rows)
    assert result.same.tolist() == same
    assert {index: (error.reason, error.detail) for index, error in result.errors.items()} == errors
    rows_out = result.table.to_pylist()
    assert [tuple(row.values()) for i, row in enumerate(rows_out) if not same[i] and i not in errors] == kept
    assert errors and any(same) and kept


@pytest.mark.parametrize("whitespace", ["collapse", "strip"])
@pytest.mark.parametrize("arity", [(2,), (3,)])
def test_clean_table_equals_the_per_record_path_on_tricky_text(arity, whitespace):
    rows = [(a, p, n) for a in TRICKY for p in TRICKY[::3] for n in ("neg\u2002", None)]
    assert_clean_table_equals_per_record(source(arity, whitespace), rows)


def test_the_whitespace_class_is_exactly_what_python_splits_on():
    characters = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]
    matched = pc.match_substring_regex(pa.array(characters), f"^{_SPACE}$").to_pylist()
    assert [c for c, hit in zip(characters, matched, strict=True) if hit] == [c for c in characters if c.isspace()]


@pytest.mark.parametrize("whitespace", ["collapse", "strip"])
def test_every_text_normalize_changes_is_marked(whitespace):
    """_may_change is the filter in front of the regex: a text it leaves out is never normalised, so it must mark
    every text that normalize changes, wherever in the column's bytes the text starts (odd and even offsets: the
    double-space search reads the bytes two at a time)."""
    rng = random.Random(0)
    texts = ["".join(rng.choice("ab  \t\xa0") for _ in range(rng.randrange(0, 9))) for _ in range(5000)]
    column = pa.array(texts, pa.string())
    for offset in (0, 1, 2, 3):  # a slice: the column's texts start inside its buffer
        part = column.slice(offset)
        marked = _may_change(part, whitespace, _printable(part))
        changed = [text != normalize(text, whitespace) for text in texts[offset:]]
        assert not [text for text, mark, change in zip(texts[offset:], marked, changed, strict=True)
                    if change and not mark]
        assert sum(changed) > 1000 and sum(marked) < len(marked)  # both outcomes, many times


@pytest.mark.parametrize("whitespace", ["collapse", "strip"])
def test_clean_table_equals_the_per_record_path_when_every_byte_is_printable_ascii(whitespace):
    """Columns of printable ASCII only take the one-pass check (`_printable`): runs of spaces, spaces at the ends,
    case-only differences, empty and blank texts must still come out as the per-record path gives them."""
    printable = [text for text in TRICKY if text.isascii() and text.isprintable()]
    assert {"a  b", " ab", "AB ", "", "   ", "A FOX"} <= set(printable)
    rows = [(a, p, None) for a in printable for p in printable]
    assert_clean_table_equals_per_record(source((2,), whitespace), rows)


def test_printable_marks_exactly_the_printable_ascii_texts_of_any_slice():
    rng = random.Random(1)
    for alphabet in ("ab  ~", "ab \x7f", "ab\x1f", "ab \t\xe9"):  # every byte printable (the one-pass check), then not
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6))) for _ in range(2000)]
        texts[::97] = [None] * len(texts[::97])
        column = pa.array(texts, pa.string())
        for offset, length in ((0, 2000), (3, 500), (1, 0), (1999, 1)):
            part = column.slice(offset, length)
            expected = [text is None or (text.isascii() and text.isprintable()) for text in texts[offset:][:length]]
            assert _printable(part).tolist() == expected
    assert _printable(pa.nulls(4, pa.string())).tolist() == [True] * 4
