"""The miners whose pairs span files, as Python generators of pairs, run by the builder on Ray Data.

Reddit's pairs need every comment of the input joined to its parent (an exact hash join across months), Stack
Exchange's answers grouped with their questions and duplicate links joined to both questions, Wikipedia's every
article grouped with the others of its categories across dump parts, NLI triplets every hypothesis grouped by premise
across files: that is a build, not a stream. Each function here runs that build (`build_source`, a local Ray instance
unless one is running) and yields its pairs in output order, counting into a `MiningStats` like the streaming miners.
The texts are the build's: whitespace collapsed, pairs whose two sides are the same text left out (`same_text`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets_builders.build import build_source
from datasets_builders.miners import nli, reddit, stackexchange, wikipedia
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
    yield from _mined("reddit_comments", files, stats, options)


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
    yield from _mined(f"stackexchange_dump_{kind}", sites, stats, options)


def mine_wikipedia(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Yield {"anchor": an article's intro, "positive": the intro of another article of a shared category,
    "negative": None} pairs from pages-articles dumps (a file, or a folder of dump parts; `options`: the keyword
    arguments of `wikipedia.wikipedia_events` and `wikipedia.link_categories`); pages read == stats.records.

    >>> pairs = list(mine_wikipedia("dumps/enwiki/", seed=1))  # doctest: +SKIP
    """
    files = input_files(path, wikipedia.FILE_PATTERNS, "Wikipedia pages-articles (.xml.bz2)")
    if Path(path).is_dir():  # a Sites.xml or README.xml downloaded beside the dump is not one
        files = [file for file in files if wikipedia.is_dump_file(file)]
    yield from _mined("wikipedia_category_intros", files, stats, options)


def mine_nli(
    path: str | Path, kind: str = "triplets", *, stats: MiningStats | None = None, **options
) -> Iterator[dict]:
    """Yield AllNLI-style triplets {"anchor": premise, "positive": entailment, "negative": contradiction} or pairs
    (negative None) from SNLI/MultiNLI jsonl files (a file or a folder); lines read == stats.records.

    >>> triplets = list(mine_nli("snli_1.0/", "triplets"))  # doctest: +SKIP
    """
    if kind not in nli.KINDS:
        raise UserError(f"unknown NLI kind {kind!r}; choose one of {', '.join(nli.KINDS)}")
    files = input_files(path, ("*.jsonl", "*.jsonl.gz"), "SNLI/MultiNLI (.jsonl)")
    yield from _mined(f"nli_{kind}", files, stats, options)


def _mined(name: str, files: list[Path], stats: MiningStats | None, options: dict) -> Iterator[dict]:
    stats = stats if stats is not None else MiningStats()
    source = get_source(name)
    if options:
        source = source.configure(**options)
    build = build_source(source, files, on_error=stats.on_error, progress=False)
    stats.kept += build.stats.rows_kept
    stats.pairs += build.stats.pairs_written
    stats.dropped.update(build.stats.filtered)
    stats.dropped.update(build.stats.rejected)
    stats.bounded.update(build.stats.not_formed)
    negatives = "negative" in build.dataset.column_names
    for batch in build.dataset.iter(batch_size=10_000):
        for anchor, positive, negative in zip(
            batch["anchor"], batch["positive"], batch["negative"] if negatives else [None] * len(batch["anchor"]),
            strict=True,
        ):
            yield {"anchor": anchor, "positive": positive, "negative": negative}
