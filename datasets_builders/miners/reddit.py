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

import html
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from datasets_builders import engine

from .common import Drop, Event, json_records, missing_field
from .text import normalize_whitespace

MIN_CHARS = 9
MAX_CHARS = 1024
MIN_SCORE = 1
BOT_AUTHORS = ("AutoModerator",)
DELETED_BODIES = ("[deleted]", "[removed]")
FILE_PATTERNS = ("RC_*", "*.zst", "*.bz2", "*.xz", "*.gz", "*.json", "*.jsonl", "*.ndjson")
FIELDS = {"id": str, "parent_id": str, "body": str, "score": int}
RECORD_FIELDS = ("id", "parent", "body", "filtered")


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
    error Drop. Every comment stays a record, filtered or not, so a reply to a filtered comment is known as such."""
    bots = {name.lower() for name in bot_authors}

    def own_drop(record: dict, author: str) -> str | None:
        body = record["body"]
        if body in DELETED_BODIES:
            return "deleted_or_removed"
        if author.lower() in bots or (drop_bot_like_authors and author.lower().endswith("bot")):
            return "bot_author"
        if record["score"] < min_score:
            return "low_score"
        if len(body) < min_chars:
            return "too_short"
        if len(body) > max_chars:
            return "too_long"
        return None

    for file in files:
        for _, location, record in json_records(file):
            if isinstance(record, Drop):
                yield file, location, record
                continue
            if problem := missing_field(record, FIELDS):
                yield file, location, problem
                continue
            body = normalize_whitespace(html.unescape(record["body"]))
            record["body"] = body
            comment = {"id": record["id"], "parent": None, "body": body, "filtered": None}
            if drop := own_drop(record, str(record.get("author") or "")):
                comment.update(body=None, filtered=drop)
            else:
                kind, _, parent_id = record["parent_id"].partition("_")
                if kind == "t1":
                    comment["parent"] = parent_id
                else:
                    comment["filtered"] = "parent_is_submission"
            yield file, location, comment


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
