"""The Reddit reader's Arrow path (`comment_tables`: blocks parsed by Arrow, filters by Arrow compute) gives the
records, errors, places and counts of the per-line path (`reddit_comments`), on comments chosen to be awkward."""

from __future__ import annotations

import dataclasses
import json

import pyarrow as pa
import pytest
import zstandard
from test_miners import comment, write_zst_lines

from datasets_builders import build_source, get_source
from datasets_builders.miners import reddit
from se1b.errors import UserError


def tricky_comments() -> list[bytes]:
    """Pairs that need HTML unescaping, Unicode whitespace, case-blind same texts, zero-width bodies; filtered
    comments of every reason; a null author, a parent id "t1" with no id."""
    comments = [
        comment("p1", "t3_x", "&gt; a quoted line &amp;amp; an entity"),
        comment("r1", "t1_p1", "caf&eacute; answers, with &lt;tags&gt;"),
        comment("p2", "t3_x", "\u00a0 starts with a no-break space\u3000and an ideographic one "),
        comment("r2", "t1_p2", "tabs\tand\nnew lines\n\n\nand  double  spaces"),
        comment("r3", "t1_p2", "trailing em space\u2003"),
        comment("r4", "t1_p2", "\x1c a file separator around \x1f"),
        comment("p3", "t3_x", "Same Words In Both"),
        comment("r5", "t1_p3", "same words in both"),  # same text: counted, never written
        comment("r6", "t1_p3", "na\u00efve caf\u00e9 reply, not ASCII"),
        comment("r7", "t1_p3", "\u200b" * 12),  # only zero-width spaces: empty_text for the builder
        comment("r8", "t1_p3", "[deleted]"),
        comment("r9", "t1_p3", "[removed]"),
        comment("ra", "t1_p3", "a bot answering here", author="AutoModerator"),
        comment("rb", "t1_p3", "a bot-like name answering", author="HelperBot"),
        comment("rc", "t1_p3", "a non-ASCII bot-like name", author="\u015eomeBOT"),
        comment("rd", "t1_p3", "an upper case dotted I name", author="\u0130bot"),
        comment("re", "t1_p3", "low score reply to it", score=0),
        comment("rf", "t1_p3", "short"),
        comment("rg", "t1_p3", "x" * 1025),
        comment("rh", "t1", "a parent id of kind t1 and no id"),
        comment("ri", "t1_", "a parent id with an empty id"),
        comment("rj", "t1_p3", "  " * 10),
        comment("rk", "t1_r6", "a reply to the non-ASCII reply"),
        comment("rl", "t1_p3", "emoji \U0001f600 written as an escape"),
        {**comment("rm", "t1_p3", "an author that is null"), "author": None},
    ]
    lines = [json.dumps(c).encode() for c in comments]
    no_author = comment("rn", "t1_p3", "an author that is missing")
    del no_author["author"]
    return [*lines, json.dumps(no_author).encode()]


def bad_lines() -> list[bytes]:
    """Pushshift type quirks (a score missing, null or text, a numeric id), lines that are no comment at all, and a
    good comment whose line ends with a CR (which Arrow's block check sends to the per-line path)."""
    no_score = comment("ro", "t1_p3", "a score that is missing")
    del no_score["score"]
    lines = [json.dumps(comment("ru", "t1_p1", "a CR at the end of the line")).encode() + b"\r"]
    lines += [json.dumps(no_score).encode()]
    lines += [json.dumps({**comment("rp", "t1_p3", "a score that is null"), "score": None}).encode()]
    lines += [json.dumps({**comment("rq", "t1_p3", "a score that is text"), "score": "5"}).encode()]
    lines += [json.dumps({**comment("rr", "t1_p3", "an id that is a number"), "id": 7}).encode()]
    lines += [b'{"id": "rs", "body": "a lone surrogate \\ud800 here", "parent_id": "t1_p3", "score": 2}']
    lines += [b'{"broken json', b"", b"   ", b'["a", "list"]', b'{"id": "rt", "body": "\xff\xfe bytes"}']
    return lines


def tricky_lines() -> list[bytes]:
    return tricky_comments() + bad_lines()


@pytest.mark.parametrize("block_bytes", [1, 700, 1 << 20])
def test_arrow_blocks_give_the_records_and_errors_of_the_per_line_path(tmp_path, monkeypatch, block_bytes):
    monkeypatch.setattr(reddit, "BLOCK_BYTES", block_bytes)  # blocks of one line, of a few, of the whole file
    plain = [json.dumps(comment(f"k{i}", "t1_p1", f"Plain reply number {i}.")).encode() for i in range(50)]
    dump = write_zst_lines(tmp_path / "RC_2015-01.zst", plain + tricky_lines() + plain)
    expected = []
    for _, location, item in reddit.reddit_comments([dump], min_score=1, bot_authors=("AutoModerator", "Helper")):
        expected.append((location, item) if not isinstance(item, dict) else {"location": location, **item})
    found = []
    for item in reddit.comment_tables(dump, min_score=1, bot_authors=("AutoModerator", "Helper")):
        found += item.to_pylist() if isinstance(item, pa.Table) else [item[1:]]
    assert found == expected
    assert sum(1 for item in found if isinstance(item, tuple)) == 8  # each bad line is an error, in its place


def test_the_tricky_comments_take_the_arrow_path(tmp_path, monkeypatch):
    parsed = []
    arrow_block = reddit._arrow_block
    monkeypatch.setattr(reddit, "_arrow_block", lambda data: parsed.append(arrow_block(data)) or parsed[-1])
    dump = write_zst_lines(tmp_path / "RC_2015-01.zst", tricky_comments())
    found = [row for table in reddit.comment_tables(dump) for row in table.to_pylist()]
    assert len(parsed) == 1 and parsed[0] is not None  # one block, read by Arrow
    assert found == [{"location": location, **item} for _, location, item in reddit.reddit_comments([dump])]


def test_a_broken_stream_ends_the_file_at_the_same_line_with_the_same_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(reddit, "BLOCK_BYTES", 5000)
    lines = [json.dumps(comment(f"k{i}", "t3_x", f"Comment {i} says {i * 7}.")).encode() for i in range(3000)]
    compressor = zstandard.ZstdCompressor(write_checksum=True)
    frames = [compressor.compress(b"\n".join(lines[i : i + 1000]) + b"\n") for i in (0, 1000, 2000)]
    dump = tmp_path / "RC_2015-01.zst"
    dump.write_bytes(frames[0] + frames[1][: len(frames[1]) // 2])  # ends inside the second frame
    expected = [item if isinstance(item, reddit.Drop) else item["id"] for _, _, item in reddit.reddit_comments([dump])]
    found = []
    for item in reddit.comment_tables(dump):
        found += item["id"].to_pylist() if isinstance(item, pa.Table) else [item[2]]
    assert found == expected and isinstance(found[-1], reddit.Drop) and len(found) > 1000


def per_line(source):
    """The same source read by its per-line reader only (no Arrow tables)."""
    return dataclasses.replace(source, link=dataclasses.replace(source.link, read_tables=None))


@pytest.mark.usefixtures("ray_session")
def test_a_build_of_tricky_comments_is_the_same_on_both_paths(tmp_path):
    first = write_zst_lines(tmp_path / "RC_2015-01.zst", tricky_lines())
    reply = comment("z1", "t1_r6", "Back to January.")
    second = write_zst_lines(tmp_path / "RC_2015-02.zst", [json.dumps(reply).encode()])
    source = get_source("reddit_comments")
    fast = build_source(source, [first, second], on_error="skip", out_dir=tmp_path / "fast", progress=False)
    slow = build_source(per_line(source), [first, second], on_error="skip", out_dir=tmp_path / "slow", progress=False)
    assert (tmp_path / "fast" / "pairs.arrow").read_bytes() == (tmp_path / "slow" / "pairs.arrow").read_bytes()
    assert fast.stats.to_dict() == slow.stats.to_dict()
    stats = fast.stats
    assert stats.rows_read == stats.rows_kept + stats.rows_filtered + stats.rows_rejected
    assert (stats.same_text, stats.rejected["empty_text"], stats.filtered["bot_author"]) == (1, 1, 4)
    assert fast.dataset.to_list()[:2] == [
        {"anchor": "> a quoted line &amp; an entity", "positive": "caf\u00e9 answers, with <tags>"},
        {"anchor": "starts with a no-break space and an ideographic one",
         "positive": "tabs and new lines and double spaces"},
    ]
    for build in (source, per_line(source)):
        with pytest.raises(UserError) as raised:
            build_source(build, [first, second], progress=False)
        assert str(raised.value).startswith(f"{first}:line 28: missing_field: missing field 'score'")
