"""`mine_reddit(path)`: the Reddit miner as a Python generator of pairs, run by the builder on Ray Data.

Reddit's pairs need every comment of the input joined to its parent (an exact hash join across months), which is a
build, not a stream; this runs that build (`build_source("reddit_comments", ...)`, a local Ray instance unless one
is running) and yields its pairs in input order, counting into a `MiningStats` like the streaming miners.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets_builders.build import build_source
from datasets_builders.miners import reddit
from datasets_builders.miners.common import MiningStats, input_files
from datasets_builders.registry import get_source


def mine_reddit(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Yield {"anchor": parent comment, "positive": reply, "negative": None} pairs from Reddit comment dumps (a file
    or a folder of them; `options`: the keyword arguments of `reddit.reddit_comments`). Each comment read is the
    reply of one pair or counted once under a drop reason, so comments read == stats.records.

    >>> pairs = list(mine_reddit("dumps/RC_2015-01.zst", stats=MiningStats(on_error="skip")))  # doctest: +SKIP
    """
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, reddit.FILE_PATTERNS, "Reddit comment dump (RC_*.zst, .xz, .bz2)")
    source = get_source("reddit_comments")
    if options:
        source = source.configure(**options)
    build = build_source(source, files, on_error=stats.on_error, progress=False)
    stats.kept += build.stats.rows_kept
    stats.pairs += build.stats.pairs_written
    stats.dropped.update(build.stats.filtered)
    stats.dropped.update(build.stats.rejected)
    for batch in build.dataset.iter(batch_size=10_000):
        for anchor, positive in zip(batch["anchor"], batch["positive"], strict=True):
            yield {"anchor": anchor, "positive": positive, "negative": None}
