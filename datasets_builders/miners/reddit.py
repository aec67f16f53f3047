"""Mine Reddit (context, response) pairs from the monthly comment dumps.

Input: Pushshift-format monthly comment files: newline-delimited JSON comments (fields used: id, parent_id, body,
author, score), as distributed: `RC_2005-12.bz2` ... `RC_2017-11.bz2`, then `.xz` (2017-12 to 2018-10), then `.zst`
(zstandard with a long window, read with max_window_size=2**31); `.gz` and decompressed files are read too. The
compression is recognised by the file's content. `path` is one file or a folder of them (RC_* and *.zst, *.bz2,
*.xz, *.gz, *.json, *.jsonl, *.ndjson), read in natural (= chronological) order. A damaged file keeps every complete
line before the damage and is reported at the first line it could not read, with the compressed byte offset.

Pairs: a comment whose `parent_id` is "t1_<id>" (a comment; "t3_" is the submission, not in comment dumps) gives
(parent body, comment body) when both pass the filters. Bodies are HTML-unescaped (dumps hold `&gt;`, `&amp;`)
and whitespace-normalised.

Filters (like the 2021 Reddit data, from the PolyAI conversational-datasets pipeline; all configurable): a body of
"[deleted]" or "[removed]" is dropped; length between `min_chars`=9 and `max_chars`=1024 characters; score
>= `min_score`=1; authors in `bot_authors` (AutoModerator by default) or, with `drop_bot_like_authors`, whose name
ends in "bot", are dropped.

Reading: the builder reads each file through `comment_tables`, which parses blocks of lines with Arrow's JSON reader
and applies the filters with Arrow compute (only bodies with entities, non-ASCII characters or odd whitespace are
cleaned in Python); a block Arrow cannot take as it is is read line by line like `reddit_comments`, with the same
records, errors and places.

Linking: every comment of the given files is a record of one Ray Data dataset, and each reply is joined to its parent
by id through Ray's hash shuffle (`link_replies`): a reply finds its parent wherever it is in the input, months
earlier or in a later file, and nothing is lost to a memory bound; the shuffle spills to disk when it outgrows
memory. Give consecutive months together (`se1b data build reddit_comments --raw RC_2015-01.zst RC_2015-02.zst`):
a parent outside the given files is "parent_not_in_input". Comment ids are unique in the Pushshift dumps; a
comment given twice (the same file passed twice) would give its replies one pair per copy.
Decoding holds up to one zstd window of history per file being read (2 GiB for the Pushshift files compressed
with --long=31): a fixed cost of the format, reached after the first window of data and not growing after it.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from datasets_builders import engine

from .common import BrokenInput, Drop, Event, decoded_blocks, json_line, json_records, missing_field
from .text import normalize_whitespace

MIN_CHARS = 9
MAX_CHARS = 1024
MIN_SCORE = 1
BOT_AUTHORS = ("AutoModerator",)
DELETED_BODIES = ("[deleted]", "[removed]")
FILE_PATTERNS = ("RC_*", "*.zst", "*.bz2", "*.xz", "*.gz", "*.json", "*.jsonl", "*.ndjson")
FIELDS = {"id": str, "parent_id": str, "body": str, "score": int}
RECORD_FIELDS = ("id", "parent", "body", "filtered")
COMMENTS = pa.schema([(name, pa.string()) for name in ("location", *RECORD_FIELDS)])
BLOCK_BYTES = 8 * 2**20  # decoded bytes parsed by Arrow at once

# The fields read by Arrow; a comment's other fields are ignored, as the per-line path ignores them.
_ARROW_FIELDS = pa.schema([("id", pa.string()), ("parent_id", pa.string()), ("body", pa.string()),
                           ("author", pa.string()), ("score", pa.int64())])  # fmt: skip
_PARSE = pa_json.ParseOptions(explicit_schema=_ARROW_FIELDS, unexpected_field_behavior="ignore")
# A body that html.unescape + normalize_whitespace may change: anything but printable ASCII (a newline, a tab, any
# non-ASCII space), an entity, a double space, a space at either end. Only those go through Python.
_MAY_CHANGE = r"[^\x20-\x7e]|&|  |^ | $"


@dataclass(frozen=True)
class Filters:
    """The 2021 filters of one comment (see the module docstring)."""

    min_chars: int = MIN_CHARS
    max_chars: int = MAX_CHARS
    min_score: int = MIN_SCORE
    bot_authors: tuple[str, ...] = BOT_AUTHORS
    drop_bot_like_authors: bool = True

    @functools.cached_property
    def bots(self) -> set[str]:
        return {name.lower() for name in self.bot_authors}

    def is_bot(self, author: str) -> bool:
        name = author.lower()
        return name in self.bots or (self.drop_bot_like_authors and name.endswith("bot"))

    def drop(self, body: str, author: str, score: int) -> str | None:
        """A comment's own filter reason (its cleaned body), or None."""
        if body in DELETED_BODIES:
            return "deleted_or_removed"
        if self.is_bot(author):
            return "bot_author"
        if score < self.min_score:
            return "low_score"
        if len(body) < self.min_chars:
            return "too_short"
        if len(body) > self.max_chars:
            return "too_long"
        return None


def clean_body(body: str) -> str:
    """A body as the pairs hold it: HTML entities unescaped (dumps hold `&gt;`, `&amp;`), whitespace normalised."""
    return normalize_whitespace(html.unescape(body))


def reddit_comments(
    files: list[Path],
    *,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    min_score: int = MIN_SCORE,
    bot_authors: tuple[str, ...] = BOT_AUTHORS,
    drop_bot_like_authors: bool = True,
) -> Iterator[Event]:
    """Events of Reddit comment dumps, file by file: each comment (line) as a record {"id", "parent" (the id of the
    parent comment it replies to, when it passes the filters), "body" (cleaned; None when the comment itself is
    filtered out), "filtered" (its own filter reason, or "parent_is_submission"; None for a reply to link)}, or an
    error Drop. Every comment stays a record, filtered or not, so a reply to a filtered comment is known as such.
    `comment_tables` gives the same records as Arrow tables, faster."""
    rules = Filters(min_chars, max_chars, min_score, tuple(bot_authors), drop_bot_like_authors)
    for file in files:
        for _, location, record in json_records(file):
            yield file, location, record if isinstance(record, Drop) else _comment(record, rules)


def _comment(record: dict, rules: Filters) -> dict | Drop:
    """The record of one parsed comment (see `reddit_comments`), or the error Drop of a missing or mistyped field."""
    if problem := missing_field(record, FIELDS):
        return problem
    body = clean_body(record["body"])
    comment = {"id": record["id"], "parent": None, "body": body, "filtered": None}
    if drop := rules.drop(body, str(record.get("author") or ""), record["score"]):
        comment.update(body=None, filtered=drop)
    else:
        kind, _, parent_id = record["parent_id"].partition("_")
        if kind == "t1":
            comment["parent"] = parent_id
        else:
            comment["filtered"] = "parent_is_submission"
    return comment


def comment_tables(file: Path, **filters: object) -> Iterator[pa.Table | Event]:
    """The records of `reddit_comments` for one file as Arrow tables of `COMMENTS` (location "line N" and the
    record's fields), with the error Drops between them as events, in file order: blocks of ~8 MiB of decoded lines
    are parsed by Arrow's JSON reader (the used fields only) and filtered with Arrow compute; only bodies that
    cleaning may change go through Python. A block Arrow cannot take as it is (a line that is not one JSON object,
    a missing or mistyped field, invalid UTF-8, a lone surrogate) is read line by line like `reddit_comments`, so
    records, errors and their places are the same (but for a key given twice in a field the miner does not use:
    Arrow ignores that field; the per-line path rejects the record as "duplicate_key"). A broken compressed stream
    ends the file with one error Drop after every complete line before it, as in `reddit_comments`. `filters`: the
    keyword arguments of `reddit_comments`."""
    rules = Filters(**filters)
    lines_before, pending, size = 0, [], 0  # decoded blocks not parsed yet (joined once: no quadratic copies)
    try:
        for block in decoded_blocks(file):
            pending.append(block)
            size += len(block)
            if size >= BLOCK_BYTES:
                data = b"".join(pending)
                cut = data.rfind(b"\n") + 1
                yield from _block_records(file, data[:cut], lines_before, rules)
                lines_before += data.count(b"\n", 0, cut)
                pending, size = [data[cut:]], len(data) - cut
    except BrokenInput as broken:  # every complete line before the break is read; the partial one is not
        data = b"".join(pending)
        cut = data.rfind(b"\n") + 1
        yield from _block_records(file, data[:cut], lines_before, rules)
        lines_before += data.count(b"\n", 0, cut)
        yield file, f"line {lines_before + 1}", Drop(broken.reason, broken.message, error=True)
        return
    data = b"".join(pending)
    if data:
        yield from _block_records(file, data if data.endswith(b"\n") else data + b"\n", lines_before, rules)


def _block_records(file: Path, data: bytes, lines_before: int, rules: Filters) -> Iterator[pa.Table | Event]:
    """The records of whole lines `data` (ending with a newline), numbered after `lines_before`."""
    if not data:
        return
    table = _arrow_block(data)
    if table is not None:
        yield _comments_table(table, lines_before, rules)
        return
    rows = []
    for number, line in enumerate(data.split(b"\n")[:-1], lines_before + 1):
        if (record := json_line(line)) is None:
            continue
        item = record if isinstance(record, Drop) else _comment(record, rules)
        if isinstance(item, Drop):
            if rows:
                yield pa.Table.from_pylist(rows, COMMENTS)
                rows = []
            yield file, f"line {number}", item
        else:
            rows.append({"location": f"line {number}", **item})
    if rows:
        yield pa.Table.from_pylist(rows, COMMENTS)


def _arrow_block(data: bytes) -> pa.Table | None:
    """The used fields of every line of `data` parsed by Arrow, or None when the block must be read line by line:
    a line that is not one JSON object (blank, one with spaces or a CR around it, two objects), a parse or type
    error, a required field missing or null."""
    buffer = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buffer == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    if np.any(ends <= starts) or np.any(buffer[starts] != ord("{")) or np.any(buffer[ends - 1] != ord("}")):
        return None
    options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    try:
        table = pa_json.read_json(pa.py_buffer(data), read_options=options, parse_options=_PARSE)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    required = ("id", "parent_id", "body", "score")
    if table.num_rows != len(ends) or any(table[name].null_count for name in required):
        return None
    return table


def _comments_table(table: pa.Table, lines_before: int, rules: Filters) -> pa.Table:
    """`_comment` over an Arrow block of comments (every line a comment), vectorised."""
    table = table.combine_chunks()
    body, author, score, parent_id = (table[name].chunk(0) for name in ("body", "author", "score", "parent_id"))
    changes = pc.match_substring_regex(body, _MAY_CHANGE)
    if changes.true_count:
        cleaned = [clean_body(text) for text in body.filter(changes).to_pylist()]
        body = pc.replace_with_mask(body, changes, pa.array(cleaned, pa.string()))
    author = pc.fill_null(author, "")
    name = pc.ascii_lower(author)
    bot = pc.is_in(name, pa.array(sorted(rules.bots), pa.string()))
    if rules.drop_bot_like_authors:
        bot = pc.or_(bot, pc.ends_with(name, "bot"))
    not_ascii = pc.invert(pc.string_is_ascii(author))
    if not_ascii.true_count:  # str.lower() and ASCII lowering differ there
        python = [rules.is_bot(text) for text in author.filter(not_ascii).to_pylist()]
        bot = pc.replace_with_mask(bot, not_ascii, pa.array(python, pa.bool_()))
    length = pc.utf8_length(body)
    checks = [  # in the order of Filters.drop: the first that holds is the reason
        (pc.is_in(body, pa.array(DELETED_BODIES)), "deleted_or_removed"),
        (bot, "bot_author"),
        (pc.less(score, rules.min_score), "low_score"),
        (pc.less(length, rules.min_chars), "too_short"),
        (pc.greater(length, rules.max_chars), "too_long"),
    ]
    none = pa.scalar(None, pa.string())
    own = pa.nulls(table.num_rows, pa.string())
    for holds, reason in reversed(checks):
        own = pc.if_else(holds, reason, own)
    to_comment = pc.or_(pc.equal(parent_id, "t1"), pc.starts_with(parent_id, "t1_"))  # "t1_<id>": kind "t1"
    kept = pc.is_null(own)
    filtered = pc.if_else(kept, pc.if_else(to_comment, none, "parent_is_submission"), own)
    parent = pc.if_else(pc.and_(kept, to_comment), pc.utf8_slice_codeunits(parent_id, 3), none)
    numbers = pa.array(np.arange(lines_before + 1, lines_before + 1 + table.num_rows)).cast(pa.string())
    location = pc.binary_join_element_wise("line ", numbers, "")
    columns = [location, table["id"].chunk(0), parent, pc.if_else(kept, body, none), filtered]
    return pa.table(columns, schema=COMMENTS)


def link_replies(comments):
    """The outcome of every comment record (see `Link`): replies joined to their parents by id on Ray Data (a
    left outer hash join: a reply without a match is "parent_not_in_input", one whose parent was filtered out is
    "parent_filtered", the others give the pair (parent body, reply body)); the rest keep their own reason."""
    parents = comments.map_batches(_parents, batch_format="pyarrow")
    replies = comments.map_batches(_replies, batch_format="pyarrow")
    partitions = engine.shuffle_partitions(comments)
    joined = replies.join(parents, join_type="left_outer", num_partitions=partitions, on=("parent",))
    decided = comments.map_batches(_already_decided, batch_format="pyarrow")
    return decided.union(joined.map_batches(_reply_outcomes, batch_format="pyarrow"))


_OUTCOME = pa.schema([
    ("file", pa.int32()), ("seq", pa.int64()), ("location", pa.string()), ("filtered", pa.string()),
    ("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string()),
])  # fmt: skip


def _parents(table: pa.Table) -> pa.Table:
    return pa.table({
        "parent": table["id"], "parent_body": table["body"], "found": pa.array([True] * table.num_rows, pa.bool_())
    })  # fmt: skip


def _replies(table: pa.Table) -> pa.Table:
    return table.filter(pc.is_valid(table["parent"])).select(["file", "seq", "location", "parent", "body"])


def _already_decided(table: pa.Table) -> pa.Table:
    decided = table.filter(pc.is_valid(table["filtered"]))
    nulls = pa.nulls(decided.num_rows, pa.string())
    columns = [decided["file"], decided["seq"], decided["location"], decided["filtered"], nulls, nulls, nulls]
    return pa.table(columns, schema=_OUTCOME)


def _reply_outcomes(table: pa.Table) -> pa.Table:
    found = pc.fill_null(table["found"], False)
    no_reason = pa.scalar(None, pa.string())
    filtered = pc.if_else(
        found, pc.if_else(pc.is_valid(table["parent_body"]), no_reason, "parent_filtered"), "parent_not_in_input"
    )
    paired = pc.is_null(filtered)
    nulls = pa.nulls(table.num_rows, pa.string())
    anchor = pc.if_else(paired, table["parent_body"], nulls)
    positive = pc.if_else(paired, table["body"], nulls)
    columns = [table["file"], table["seq"], table["location"], filtered, anchor, positive, nulls]
    return pa.table(columns, schema=_OUTCOME)
