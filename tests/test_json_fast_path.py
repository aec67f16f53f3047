"""The JSON-lines fast path of a build task (blocks parsed by pyarrow, cleaned over Arrow) gives exactly what the
per-record path (`iter_rows`) gives: the same rows in the same order, the same counts and error samples, the same
one-line error naming file and line, on files that mix clean blocks (of each form the fast path reads: the 2021 list
lines, "texts" objects, the common schema, with or without extra keys) with every kind of bad or unusual line."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from test_clean_fast import TRICKY

from datasets_builders import Source, build, compressed, json_table, rows
from datasets_builders.json_table import block_texts
from datasets_builders.rows import iter_rows
from datasets_builders.stats import BuildStats
from se1b.errors import UserError

ODD_LINES = [
    b"", b"   ", b'["a list", "line"]', b'{"set": ["x", "y", "z"]}', b'{"texts": ["t1", "t2"]}', b"not json",
    b'{"anchor": "a", "anchor": "b", "positive": "c"}', b'{"anchor": "\\ud800", "positive": "c"}',
    b'{"anchor": "\\ud83d\\ude00 smile", "positive": "c"}', b'{"anchor": "tab\tinside", "positive": "c"}',
    b'{"anchor": "crlf", "positive": "c"}\r', b'{"anchor": "trailing", "positive": "c"}  ', b"{}",
    b'{"anchor": null, "positive": "c"}', b'{"anchor": 5, "positive": "c"}',
    b'{"anchor": "a", "positive": "c", "extra": 1}',
    b'{"anchor": "a", "positive": "b"}{"anchor": "c", "positive": "d"}',
    b'{"anchor": "bad \xff utf8", "positive": "c"}', b'\xef\xbb\xbf{"anchor": "bom", "positive": "c"}',
    b'{"positive": "no anchor"}', b'{"anchor": "a", "positive": "b", "negative": null}',
    # lines of the other forms the fast path reads, each wrong in its own way (or right, in a block of other lines)
    b'["one"]', b'["a", "b", "c", "d"]', b'["a", null]', b'["a", 1]', b'[["a"], "b"]', b'["a"], "x": ["b"]',
    b'["a"]} {"texts": ["b"]', b"[]", b'["a", "b",]', b'["a", "b"]\r', b'["a", "b"] ', b'["", "empty"]',
    b'{"texts": null}', b'{"texts": ["a", "b"], "anchor": 5}', b'{"texts": "ab"}', b"{\"texts\": []}",
    b'{"texts": ["a", "b"], "meta": [1]}', b'{"anchor": "a", "positive": "b", "meta": {"k": 1}}',
    b'{"anchor": "a", "positive": "b", "set": null}', b'{"anchor": "a", "positive": "b", "query": "q"}',
    b'{"anchor": "a", "positive": "b", "split": "x", "split": "y"}', b'{"anch\\u006fr": "a", "positive": "b"}',
    b'{"anchor": "a", "anch\\u006fr": "b", "positive": "c"}', b'{"anchor": "a", "positive": "b", "n": 1e999}',
    b'{"anchor": "a", "positive": "b", "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"anchor": "a", "positive": "b", "n": NaN, "big": 123456789012345678901234567890}',
    b'{"context": null, "response": "r", "anchor": "a", "positive": "b"}', b'{"context": "c", "anchor": "a", '
    b'"positive": "b"}', b'{"context": "c", "response": 5}', b'{"context": "c", "response": "r", "query": "q"}',
    b'{"context": "c", "response": "r", "texts": ["a", "b"]}', b'{"context": "c", "response": "r", "negative": "n"}',
    b'{"context": "c", "response": "r", "context/0": {"k": 1}}', b'{"query": "q", "pos": ["p"]}',
    b'{"set": ["a", "b"]}', b'{"response": "r", "anchor": "a", "positive": "b"}',
    b'{"set": ["one"]}', b'{"set": []}', b'{"set": null}', b'{"set": ["a", null]}', b'{"set": "ab"}',
    b'{"set": ["a", "b"], "texts": ["c", "d"]}', b'{"set": ["a", "b", "a ", "B", "", "c"]}',
    b'{"set": ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12"]}',
    b'{"query": "q", "pos": []}', b'{"query": "q", "pos": ["p"], "neg": []}', b'{"query": "q", "pos": ["p"], '
    b'"neg": null}', b'{"query": null, "pos": ["p"]}', b'{"query": "q"}', b'{"pos": ["p"]}', b'{"query": "q", '
    b'"pos": "p"}', b'{"query": "q", "pos": ["p1", "", "p3"]}', b'{"query": "q", "pos": ["p1", "p2", "p3"], "neg": '
    b'["n1", "n2"]}', b'{"query": "q", "pos": ["p"], "set": ["a", "b"]}',
    # lines a slicer of plain lines must not slice like the block's plain lines (other bytes between the values)
    b'{"anchor":"tight","positive":"p"}', b'{ "anchor" : "loose" , "positive" : "p" }',
    b'{"positive": "swapped", "anchor": "a"}', b'{"anchor": "an \\"escaped\\" quote", "positive": "p"}',
    b'{"anchor": "a", "positive": "p", "Negative": "n"}', b'{"anchor": "}, {", "positive": "\\", \\""}',
]
FORMS = ("objects", "lists", "texts", "extras", "context", "set", "query", "query_neg")


def clean_lines(seed: int, form: str = "objects") -> list[bytes]:
    """Lines of tricky text (some with a negative: wrong arity in a pair source), in one of the forms the fast path
    reads: common-schema objects, 2021 list lines, "texts" objects, common-schema objects with extra keys, PolyAI's
    context + response objects, sets of paraphrases, queries with positives (and negatives)."""
    lines = []
    for i, anchor in enumerate(TRICKY):
        texts = [anchor, TRICKY[(i * 7 + seed) % len(TRICKY)]] + (["neg"] if (i + seed) % 11 == 0 else [])
        objects = dict(zip(("anchor", "positive", "negative"), texts, strict=False))
        record = {"lists": texts, "texts": {"texts": texts}}.get(form, objects)
        if form == "extras":
            record |= {"split": "train", "id": i, "score": i / 7, "ok": i % 2 == 0, "image": None}
        if form == "context":  # PolyAI's Reddit lines (a third text: the negative key, which this form ignores)
            record = {"context": texts[0], "response": texts[1], "context/0": "earlier", "subreddit": "python",
                      "thread_id": f"t{i}"} | ({"negative": texts[2]} if len(texts) == 3 else {})
        if form == "set":  # 2 to 5 paraphrases: 1 to 10 pairs
            record = {"set": [TRICKY[(i + k * seed) % len(TRICKY)] for k in range(2 + (i + seed) % 4)]}
        if form.startswith("query"):  # 1 to 3 positives, each with a negative (taken in turn) in query_neg
            record = {"query": texts[0], "pos": [TRICKY[(i * k + seed) % len(TRICKY)] for k in range(1, 2 + i % 3)]}
            if form == "query_neg":
                record["neg"] = [texts[1], "another negative"][: 1 + i % 2]
        lines.append(json.dumps(record, ensure_ascii=(i + seed) % 2 == 0).encode())
    return lines


def write(path: Path, lines: list[bytes], end: bytes = b"\n") -> Path:
    data = b"\n".join(lines) + end
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def mixed_lines(form: str = "objects") -> list[bytes]:
    lines = []
    for seed, odd in enumerate(ODD_LINES):
        lines += clean_lines(seed, form) * 3 + [odd]
    return lines + clean_lines(99, form)


def pair_source(arity=(2,), whitespace="collapse") -> Source:
    return Source(name="fast", pretty_name="f", description="f", license="other", citation="c", homepage="h",
                  arity=arity, whitespace=whitespace)


def both_paths(source: Source, path: Path, on_error: str):
    slow, fast = BuildStats(source="fast"), BuildStats(source="fast")
    slow_rows = list(iter_rows(source, [str(path)], slow, on_error))
    tables = rows.file_tables(source, [str(path)], fast, on_error)
    fast_rows = [tuple(row.values()) for table in tables for row in table.to_pylist()]
    return (slow_rows, slow.to_dict()), (fast_rows, fast.to_dict())


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of ~2 KiB, so that a small file has many: clean blocks take the fast path, the others don't."""
    monkeypatch.setattr(compressed, "READ_SIZE", 2048)
    results = []
    parse = json_table.block_texts
    monkeypatch.setattr(json_table, "block_texts", lambda block: results.append(parse(block)) or results[-1])
    return results


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize(("arity", "whitespace"), [((2,), "collapse"), ((3,), "collapse"), ((2,), "strip")])
def test_fast_path_equals_the_per_record_path_when_skipping(tmp_path, small_blocks, form, suffix, arity, whitespace):
    path = write(tmp_path / f"mixed{suffix}", mixed_lines(form), end=b"")  # the last line has no newline
    slow, fast = both_paths(pair_source(arity, whitespace), path, "skip")
    assert fast == slow
    gives = {"context": 2, "set": 2, "query": 2, "query_neg": 3}.get(form)  # forms of one arity only
    nothing_fits = gives is not None and gives not in arity  # every clean line: wrong_arity
    assert slow[1]["rejected"] and (nothing_fits or slow[1]["same_text"] and slow[0])
    fast_blocks = sum(table is not None for table in small_blocks)
    assert 0 < fast_blocks < len(small_blocks)  # both paths were taken
    assert suffix == ".jsonl.gz" or fast_blocks > len(small_blocks) / 3  # (a .gz gives a few large blocks)


@pytest.mark.parametrize("form", FORMS)
def test_windows_line_ends_take_the_fast_path_with_the_same_rows(tmp_path, small_blocks, form):
    lines = [line + b"\r" for line in clean_lines(5, form) * 4]
    source = pair_source((3,) if form == "query_neg" else (2,))
    slow, fast = both_paths(source, write(tmp_path / "crlf.jsonl", lines), "skip")
    assert fast == slow and slow[0]
    assert all(table is not None for table in small_blocks)
    lines[7] = lines[7].removesuffix(b"\r")  # one line without: its block goes line by line, the same rows
    small_blocks.clear()
    slow, fast = both_paths(source, write(tmp_path / "mixed_ends.jsonl", lines, end=b""), "skip")
    assert fast == slow and 0 < sum(table is not None for table in small_blocks) < len(small_blocks)


@pytest.mark.parametrize("form", ["objects", "lists", "set"])
def test_a_few_odd_lines_send_only_the_lines_around_them_line_by_line(tmp_path, monkeypatch, form):
    """Blocks of ~2,000 lines with two or three odd lines each (a blank line, a lone surrogate, a null text, ...):
    the pieces around them still take the fast path, and the result is still exactly the per-record path's."""
    monkeypatch.setattr(compressed, "READ_SIZE", 64 * 1024)
    monkeypatch.setattr(json_table, "_MIN_SPLIT_LINES", 8)
    lines = []
    for seed, odd in enumerate(ODD_LINES[:12]):
        lines += clean_lines(seed, form) * 20 + [odd]
    path = write(tmp_path / "sporadic.jsonl", lines)
    pieces = []

    def recorded(block):
        pieces.extend(split := json_table.fast_pieces(block))
        return split

    monkeypatch.setattr(rows, "fast_pieces", recorded)
    slow, fast = both_paths(pair_source(), path, "skip")
    assert fast == slow and slow[1]["rejected"]
    per_record = sum(piece.count(b"\n") for _, piece, texts in pieces if texts is None)
    assert per_record < len(lines) / 10  # without the splitting: every line (each block holds an odd one)


def raised_by_both_paths(source, path) -> list[str]:
    """The error line the per-record path and the fast path each raise on `path` (--on-error raise)."""
    messages = []
    for run in (lambda: list(iter_rows(source, [str(path)], BuildStats(source="fast"), "raise")),
                lambda: list(rows.file_tables(source, [str(path)], BuildStats(source="fast"), "raise"))):
        with pytest.raises(UserError) as caught:
            run()
        messages.append(str(caught.value))
    return messages


def test_fast_path_raises_the_same_line_as_the_per_record_path(tmp_path, small_blocks):
    lines = [json.dumps({"anchor": f"question {i}", "positive": f"answer {i}"}).encode() for i in range(300)]
    lines[150] = json.dumps({"anchor": "\u200b\u200d", "positive": "only invisible"}).encode()
    path = write(tmp_path / "one_bad.jsonl", lines)
    # every line is a pair where triplets are expected: a wrong arity; the first one (line 1) raises
    messages = raised_by_both_paths(pair_source((3,)), path)
    assert messages[0] == messages[1] and ":line 1: wrong_arity" in messages[0]
    messages = raised_by_both_paths(pair_source((2,)), path)  # the first bad line is line 151
    assert messages[0] == messages[1] and ":line 151: empty_text: text 1 holds only invisible" in messages[0]


def test_line_numbers_hold_after_blocks_read_line_by_line_and_blocks_parsed(tmp_path, small_blocks):
    """Each block's first line number comes from the lines of the blocks before it, which the fast path hands back
    to the reader (the parser's rows, or a per-record piece's newlines): odd lines in some blocks (those go line
    by line), then a bad line many blocks later, named at the same line by both paths."""
    lines = [json.dumps({"anchor": f"question {i}", "positive": f"answer {i}"}).encode() for i in range(600)]
    for odd in range(40, 400, 70):  # trailing spaces: a valid line, but not one the parser may read
        lines[odd] += b"  "
    lines[550] = b'{"anchor": "cut off'
    messages = raised_by_both_paths(pair_source(), write(tmp_path / "late_bad.jsonl", lines))
    assert messages[0] == messages[1] and ":line 551: " in messages[0]
    assert None in small_blocks and sum(texts is not None for texts in small_blocks) > 5  # both kinds of block


def test_a_truncated_gzip_is_counted_alike(tmp_path, small_blocks):
    data = gzip.compress(b"\n".join(clean_lines(3) * 40) + b"\n")
    path = tmp_path / "truncated.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    slow, fast = both_paths(pair_source(), path, "skip")
    assert fast == slow and slow[1]["rejected"]["truncated_file"] == 1


def ranged(source: Source, path: Path, on_error: str):
    """The rows and counts of `path` read as the build splits it: one span after another (`_read_spans`)."""
    spans = build._read_spans(source, [str(path)])
    read, total = [], BuildStats(source="fast")
    for _, span in spans:
        stats = BuildStats(source="fast")
        read += [tuple(row.values()) for table in rows.file_tables(source, [str(path)], stats, on_error, span)
                 for row in table.to_pylist()]
        total.add(stats)
    return spans, read, total.to_dict() | {"files": [str(path)]}


@pytest.mark.parametrize("range_bytes", [1000, 4096, 10**9])
def test_ranges_of_an_uncompressed_file_give_what_the_whole_file_gives(tmp_path, small_blocks, monkeypatch,
                                                                        range_bytes):
    monkeypatch.setattr(build, "_RANGE_BYTES", range_bytes)
    path = write(tmp_path / "mixed.jsonl", mixed_lines(), end=b"")  # the last line has no newline
    source = pair_source()
    slow, _ = both_paths(source, path, "skip")
    spans, rows, counts = ranged(source, path, "skip")
    assert (rows, counts) == slow and slow[1]["rejected"]
    assert (len(spans) > 3) if range_bytes < 10**9 else spans == [(0, None)]
    starts = [span[0] for _, span in spans] if spans[0][1] else [0]
    data = path.read_bytes()
    assert all(start == 0 or data[start - 1 : start] == b"\n" for start in starts)  # every range: whole lines


def test_compressed_files_are_one_span_each(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_RANGE_BYTES", 100)
    path = write(tmp_path / "big.jsonl.gz", clean_lines(1) * 20)
    assert build._read_spans(pair_source(), [str(path)]) == [(0, None)]


def test_a_bad_line_in_a_later_range_names_its_line_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_RANGE_BYTES", 2000)
    lines = [json.dumps({"anchor": f"question {i}", "positive": f"answer {i}"}).encode() for i in range(300)]
    lines[250] = b'{"anchor": "a", "positive": 5}'
    path = write(tmp_path / "late_bad.jsonl", lines)
    spans = build._read_spans(pair_source(), [str(path)])
    assert len(spans) > 3
    messages = []
    for _, span in spans:
        try:
            list(rows.file_tables(pair_source(), [str(path)], BuildStats(source="fast"), "raise", span))
        except UserError as error:
            messages.append(str(error))
    assert messages == [f"{path}:line 251: wrong_type: 'positive' must be text, got int "
                        "(use --on-error skip to skip and count)"]


@pytest.mark.parametrize("text", [b"\\ud800", b"\\udc00", b"a\\udfffb", b"\\udc00\\ud800", b"\\ud800\\u0041",
                                  b"\\ud800x", b"\\\\ud83d\\ude00", b"\\ud83d\\\\ude00"])
def test_a_block_with_a_lone_surrogate_escape_goes_to_the_per_record_path(text):
    """json.loads decodes a lone surrogate escape (the per-record path rejects the line as invalid_text); pyarrow
    fails the block: the fast path relies on that (a pyarrow that decoded them would fail here)."""
    good = b'{"anchor": "a", "positive": "b"}'
    line = b'{"anchor": "' + text + b'", "positive": "b"}'
    assert any(0xD800 <= ord(char) <= 0xDFFF for char in json.loads(line)["anchor"])
    assert block_texts(b"\n".join([good, line, good]) + b"\n") is None
    assert block_texts(b"\n".join([good, good]) + b"\n") is not None


def test_escaped_surrogate_pairs_decode_as_json_loads_decodes_them():
    """ensure_ascii JSON (Python's default, the 2021 files') writes every emoji as a surrogate pair escape."""
    texts = ["smile \U0001f600", "\U0001f44d\U0001f3fd thumbs", "\U0010ffff edge", "\\ud83d literal backslash"]
    lines = [json.dumps({"anchor": text, "positive": "b"}).encode() for text in texts]
    assert all(line.isascii() for line in lines) and b"\\ud83d\\ude00" in lines[0]
    table = block_texts(b"\n".join(lines) + b"\n").table
    assert table["anchor"].to_pylist() == texts


@pytest.mark.parametrize(("form", "first"), [
    ("set", b'{"set": [null, "a", "b"]}'), ("set", b'{"set": [null, null, "a"]}'),
    ("texts", b'{"texts": [null, "x"]}'), ("query", b'{"query": "q", "pos": [null, "p"]}'),
    ("query_neg", b'{"query": "q", "pos": ["p"], "neg": [null, "n"]}'),
])
def test_a_list_that_opens_with_null_in_a_blocks_first_line_is_read_line_by_line(tmp_path, form, first):
    """pyarrow's JSON type inference drops a list's leading nulls from its values but not from its offsets (apache/
    arrow#51305; pyarrow 26.0.1 here): the block's table is invalid and reading it raised ArrowIndexError out of the
    build. Such a block goes line by line: the line is rejected as the per-record path rejects it, the rest kept."""
    source = pair_source((3,) if form == "query_neg" else (2,))
    slow, fast = both_paths(source, write(tmp_path / "leading_null.jsonl", [first, *clean_lines(3, form)]), "skip")
    assert fast == slow and slow[0] and slow[1]["rejected"]["wrong_type"] == 1  # that line alone


# Values that look like JSON structure (a careless slicer would cut at them), non-ASCII, empty, spaces.
STRUCTURAL = ["}, {anchor: x", "], [", "a: b, c", "{} ' '", "{[]}", "", " ", "café ☕", "日本語 テキスト",
              "emoji \U0001f600", "x" * 300, "null", "5", "'single'"]


def plain_line(rng, keys=("anchor", "positive"), separator=", ", colon=": ") -> bytes:
    pairs = [f'"{key}"{colon}"{rng.choice(STRUCTURAL)} {rng.randrange(10**6)}"' for key in keys]  # no escape
    return ("{" + separator.join(pairs) + "}").encode()


@pytest.fixture
def parsed_lines(monkeypatch) -> list[int]:
    """The number of lines of each block pyarrow's parser gets."""
    counts = []
    parse = json_table._parsed_texts
    monkeypatch.setattr(json_table, "_parsed_texts",
                        lambda block, body, count: counts.append(count) or parse(block, body, count))
    return counts


@pytest.mark.parametrize("crlf", [False, True])
def test_lines_of_plain_strings_are_sliced_out_as_json_loads_reads_them(parsed_lines, crlf):
    """A block whose first line is an object of plain strings (no escape): every line of the same bytes outside its
    values is sliced out of the block, whatever its values hold (quotes excepted: those are escaped); any other line
    (an escape, other spacing, other keys or key order, a number, a null) goes to pyarrow's parser, alone; the
    tuples are json.loads' in line order."""
    rng = random.Random(7)
    others = [b'{"anchor": "an \\"escaped\\" quote", "positive": "p"}', b'{"anchor":"tight","positive":"p"}',
              b'{ "anchor" : "loose" , "positive" : "p" }', b'{"positive": "swapped", "anchor": "a"}',
              b'{"anchor": "a", "positive": "p", "id": 7}', b'{"anchor": "a", "positive": "p", "negative": null}',
              b'{"anchor": "a", "positive": "p", "negative": "n"}', b'{"anchor": "\\u00e9t\\u00e9", "positive": "p"}',
              b'{"anchor": "a",  "positive": "p"}', b'{"anchox": "a", "positive": "p"}']
    lines = [plain_line(rng) for _ in range(300)]
    for i, other in enumerate(others):
        lines.insert(1 + 29 * i, other)
    if crlf:
        lines = [line + b"\r" for line in lines]
    texts = block_texts(b"\n".join(lines) + b"\n")
    assert parsed_lines == [len(others)]  # the odd lines alone, in one parse
    loaded = [json.loads(line) for line in lines]
    expected = [(o.get("anchor"), o["positive"], o.get("negative")) for o in loaded if "anchox" not in o]
    assert texts is None  # a line without an anchor: the per-record path names it (as pyarrow's path decides)
    del lines[1 + 29 * (len(others) - 1)]
    parsed_lines.clear()
    texts = block_texts(b"\n".join(lines) + b"\n")
    assert parsed_lines == [len(others) - 1]
    assert list(zip(*texts.table.to_pydict().values(), strict=True)) == expected
    assert texts.line.tolist() == list(range(len(lines))) and texts.lines == len(lines)


@pytest.mark.parametrize("first", [b'{"anchor": "a", "positive": "p", "n": 1}',
                                   b'{"anchor": "a\\u0062", "positive": "p"}',
                                   b'{"anchor": "a", "positive": "p", "ok": true}'])
def test_a_first_line_that_is_not_plain_leaves_the_block_to_pyarrow(parsed_lines, first):
    """A number, an escape, a literal: the first line sets the bytes the other lines are compared with, so only a
    plain one may; a key given twice goes line by line (json.loads keeps its last value)."""
    rng = random.Random(3)
    lines = [plain_line(rng) for _ in range(20)]
    texts = block_texts(b"\n".join([first, *lines]) + b"\n")
    assert parsed_lines == [21]
    assert texts.table["positive"].to_pylist()[1:] == [json.loads(line)["positive"] for line in lines]
    repeated = b'{"anchor": "a", "positive": "p", "anchor": "again"}'
    assert block_texts(b"\n".join([repeated, *lines]) + b"\n") is None and parsed_lines == [21]


def test_plain_lines_with_extra_keys_and_a_negative_keep_their_columns():
    rng = random.Random(5)
    lines = [plain_line(rng, ("split", "anchor", "positive", "negative", "dialogue_id")) for _ in range(50)]
    texts = block_texts(b"\n".join(lines))  # no last newline
    loaded = [json.loads(line) for line in lines]
    assert texts.table.to_pylist() == [{k: o[k] for k in ("anchor", "positive", "negative")} for o in loaded]


@pytest.mark.parametrize("crlf", [False, True])
def test_list_lines_of_plain_strings_are_sliced_out_as_json_loads_reads_them(parsed_lines, crlf):
    """The 2021 list lines: `["anchor", "positive"]` of plain strings sliced out, a triplet, an escape or other
    spacing parsed; a first line of another length than 2 or 3 goes line by line (wrong_arity)."""
    rng = random.Random(11)
    others = [b'["an \\"escaped\\" quote", "p"]', b'["tight","p"]', b'[ "loose" , "p" ]', b'["a", "b", "third"]',
              b'["\\u00e9t\\u00e9", "p"]', b'["a",  "p"]']
    lines = [("[" + ", ".join(f'"{rng.choice(STRUCTURAL)} {rng.randrange(10**6)}"' for _ in range(2)) + "]").encode()
             for _ in range(200)]
    for i, other in enumerate(others):
        lines.insert(1 + 31 * i, other)
    if crlf:
        lines = [line + b"\r" for line in lines]
    texts = block_texts(b"\n".join(lines) + b"\n")
    assert parsed_lines == [len(others)]
    expected = [(*loaded, *[None] * (3 - len(loaded))) for loaded in map(json.loads, lines)]
    assert list(zip(*texts.table.to_pydict().values(), strict=True)) == expected
    assert texts.line.tolist() == list(range(len(lines)))
    assert block_texts(b'["a", "b", "c", "d"]\n' + b"\n".join(lines)) is None and parsed_lines == [len(others)]


@pytest.mark.parametrize(("keys", "reads"), [(("question", "positive"), False), (("anchor", "answer"), False),
                                             (("context", "response"), True), (("context", "positive"), False)])
def test_plain_lines_without_a_text_key_go_line_by_line(keys, reads):
    """No anchor or no positive (and not PolyAI's context + response): the per-record path names the lines."""
    rng = random.Random(9)
    lines = [plain_line(rng, keys) for _ in range(30)]
    texts = block_texts(b"\n".join(lines))
    assert (texts is not None) == reads
    assert not reads or texts.table["anchor"].to_pylist() == [json.loads(line)["context"] for line in lines]
