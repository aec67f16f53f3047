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

Memory: a parent must be looked up when its reply arrives, and a month holds tens of millions of comments. The
parent index is an LRU of the `max_parents` most recently seen or used comments (default 1,000,000: about
0.4 GB at 2015 comment sizes). Replies usually come within hours, so most parents are still there; a reply whose
parent was evicted loses its pair. The index spans all the files of one call, so give consecutive months together
(`mine_reddit(folder)`, or `se1b data build reddit_comments --raw RC_2015-01.zst RC_2015-02.zst`): a reply early in
February finds its parent from late January. Those losses are counted as "parent_evicted": Reddit ids are base-36
counters that grow with time, so a missing parent whose id lies between the first id read and the newest evicted id was
read and evicted (an estimate: a comment missing from the dump itself would be counted there too). A missing
parent outside that range is "parent_not_in_input" (e.g. in the previous month's file). An on-disk index would lose
nothing but costs a disk write and lookup per comment; raise `max_parents` to trade memory for fewer losses.
Decoding itself holds up to one zstd window of history (2 GiB for the Pushshift files compressed with --long=31):
a fixed cost of the format, reached after the first window of data and not growing after it.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from .common import Drop, Event, MiningStats, input_files, json_records, missing_field, pair
from .text import normalize_whitespace

MIN_CHARS = 9
MAX_CHARS = 1024
MIN_SCORE = 1
BOT_AUTHORS = ("AutoModerator",)
MAX_PARENTS = 1_000_000
DELETED_BODIES = ("[deleted]", "[removed]")
FILE_PATTERNS = ("RC_*", "*.zst", "*.bz2", "*.xz", "*.gz", "*.json", "*.jsonl", "*.ndjson")
FIELDS = {"id": str, "parent_id": str, "body": str, "score": int}


def _base36(comment_id: str) -> int | None:
    try:
        return int(comment_id, 36)
    except ValueError:
        return None


def reddit_events(
    files: list[Path],
    *,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    min_score: int = MIN_SCORE,
    bot_authors: tuple[str, ...] = BOT_AUTHORS,
    drop_bot_like_authors: bool = True,
    max_parents: int = MAX_PARENTS,
) -> Iterator[Event]:
    """Events of Reddit comment dumps read in order with one shared parent index: each comment (line) is the
    response of one pair or one Drop."""
    bots = {name.lower() for name in bot_authors}
    parents: OrderedDict[str, str | None] = OrderedDict()  # id -> cleaned body, or None when filtered out
    first_id: int | None = None
    newest_evicted = -1

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
            record["body"] = normalize_whitespace(html.unescape(record["body"]))
            comment_id = record["id"]
            number = _base36(comment_id)
            if first_id is None and number is not None:
                first_id = number
            rejected = own_drop(record, str(record.get("author") or ""))
            drop = rejected
            if drop is None:
                kind, _, parent_id = record["parent_id"].partition("_")
                if kind != "t1":
                    drop = "parent_is_submission"
                elif parent_id in parents:
                    parents.move_to_end(parent_id)  # an active thread stays in the index
                    context = parents[parent_id]
                    if context is None:
                        drop = "parent_filtered"
                    else:
                        yield file, location, pair(context, record["body"])
                else:
                    parent_number = _base36(parent_id)
                    seen_and_evicted = parent_number is not None and first_id is not None
                    seen_and_evicted = seen_and_evicted and first_id <= parent_number <= newest_evicted
                    drop = "parent_evicted" if seen_and_evicted else "parent_not_in_input"
            if drop:
                yield file, location, Drop(drop)
            parents[comment_id] = None if rejected else record["body"]
            if len(parents) > max_parents:
                evicted, _ = parents.popitem(last=False)
                newest_evicted = max(newest_evicted, _base36(evicted) or -1)


def mine_reddit(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Stream {"anchor": parent comment, "positive": reply, "negative": None} pairs from Reddit comment dumps
    (`options`: the keyword arguments of `reddit_events`). Each comment read is the reply of one pair or counted
    once under a drop reason, so comments read == stats.records.

    >>> pairs = list(mine_reddit("dumps/RC_2015-01.zst", stats=MiningStats(on_error="skip")))  # doctest: +SKIP
    """
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, FILE_PATTERNS, "Reddit comment dump (RC_*.zst, .xz, .bz2)")
    yield from stats.pairs_of(reddit_events(files, **options))
