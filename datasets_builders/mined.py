"""The miners that join records as Python generators of pairs, run by the builder on Ray Data.

Reddit's pairs need every comment of the input joined to its parent (an exact hash join across months), and Stack
Exchange's need answers grouped with their questions and duplicate links joined to both questions: builds, not
streams. `mine_reddit` and `mine_stackexchange` run that build (`build_source`, a local Ray instance unless one is
running) and yield its pairs in output order, counting into a `MiningStats` like the streaming miners. The texts
are the build's: whitespace collapsed, pairs whose two sides are the same text left out (`same_text`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets_builders.build import build_source
from datasets_builders.miners import reddit, stackexchange
from datasets_builders.miners.common import MiningStats, input_files
from datasets_builders.registry import get_source
from se1b.errors import UserError


def mine_reddit(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Yield {"anchor": parent comment, "positive": reply, "negative": None} pairs from Reddit comment dumps (a file
    or a folder of them; `options`: the keyword arguments of `reddit.reddit_comments`). Each comment read is the
    reply of one pair or counted once under a drop reason, so comments read == stats.records.

    >>> pairs = list(mine_reddit("dumps/RC_2015-01.zst", stats=MiningStats(on_error="skip")))  # doctest: +SKIP
    """
    files = input_files(path, reddit.FILE_PATTERNS, "Reddit comment dump (RC_*.zst, .xz, .bz2)")
    yield from _built_pairs("reddit_comments", files, stats, options)


def mine_stackexchange(
    path: str | Path, kind: str = "title_body", *, stats: MiningStats | None = None, **options
) -> Iterator[dict]:
    """Yield {"anchor", "positive", "negative": None} pairs of one kind from Stack Exchange dumps (a site's .7z, a
    Posts.xml, a site folder or a folder of sites; `options`: the keyword arguments of
    `stackexchange.stackexchange_events`); see miners/stackexchange.py for what the kinds and the records are.

    >>> pairs = list(mine_stackexchange("dumps/unix.stackexchange.com", "title_answer"))  # doctest: +SKIP
    """
    if kind not in stackexchange.KINDS:
        raise UserError(f"unknown StackExchange kind {kind!r}; choose one of {', '.join(stackexchange.KINDS)}")
    sites = [site.posts.path for site in stackexchange.site_files(path)]
    yield from _built_pairs(f"stackexchange_dump_{kind}", sites, stats, options)


def _built_pairs(name: str, files: list[Path], stats: MiningStats | None, options: dict) -> Iterator[dict]:
    stats = stats if stats is not None else MiningStats()
    source = get_source(name)
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
