"""The miners as builder sources: `se1b data build|publish NAME --raw PATH` and `build_source(NAME, [PATH])`.

The builder calls a source's reader once per raw file (a folder given with --raw is expanded to its files), so here
each file is mined on its own: a Reddit parent index, an NLI premise window and the Wikipedia category reservoirs
do not span files (use the `mine_*` functions on a folder to share them). Miner filters use their documented
defaults; to change them, build a Source with `miner_reader(events, **options)`.

Error Drops become `RecordError`s, so the builder's on_error policy and counts apply to them; filter Drops (a low
score, a deleted comment) become `Filtered` records, counted by reason in the build statistics and the card, never
fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from datasets_builders.catalog import CATALOG, STACKEXCHANGE_CITATION
from datasets_builders.readers import Filtered, RecordError
from datasets_builders.source import Source, register_source

from . import codesearchnet, nli, reddit, stackexchange, wikipedia
from .common import Drop, Event

STACKEXCHANGE_DUMP_FILES = {
    "Posts.xml",
    "PostLinks.xml",
    "PostHistory.xml",
    "Comments.xml",
    "Users.xml",
    "Votes.xml",
    "Badges.xml",
    "Tags.xml",
}


def miner_reader(events: Callable[..., Iterator[Event]], **options: Any) -> Callable[[str], Iterator[tuple]]:
    """A builder `Reader` for one raw file from a miner's `*_events(files, **options)` function."""

    def reader(path: str) -> Iterator[tuple[str, Any]]:
        for _, location, item in events([Path(path)], **options):
            if not isinstance(item, Drop):
                yield location, item
            elif item.error:
                yield location, RecordError(item.reason, item.message)
            else:
                yield location, Filtered(item.reason)

    return reader


def _stackexchange_reader(kind: str, **options: Any) -> Callable[[str], Iterator[tuple]]:
    def reader(path: str) -> Iterator[tuple[str, Any]]:
        name = Path(path).name
        if name not in STACKEXCHANGE_DUMP_FILES:
            raise RecordError("not_a_dump_file", f"{name} is not a file of a StackExchange site dump", line=0)
        if name != "Posts.xml":  # PostLinks.xml is read with the Posts.xml beside it; other dump files are unused
            return
        yield from miner_reader(lambda files, **o: stackexchange.stackexchange_events(files[0], kind, **o), **options)(
            path
        )

    return reader


def pair_texts(item: dict) -> list[tuple[str, ...]]:
    """Builder `ToTexts`: a mined pair as a text tuple."""
    if item["negative"] is None:
        return [(item["anchor"], item["positive"])]
    return [(item["anchor"], item["positive"], item["negative"])]


_catalog = {source.name: source for source in CATALOG}
SOURCES = [
    *(
        Source(
            name=f"stackexchange_dump_{kind}",
            pretty_name=f"StackExchange {kind.replace('_', ' ')} (mined from the data dump)",
            description={
                "title_body": "(question title, question body) of StackExchange questions.",
                "titlebody_answer": "(question title + body, its accepted or best-scored answer).",
                "title_answer": "(question title, its accepted or best-scored answer).",
                "duplicate_title_title": "(title, title) of questions linked as duplicates.",
                "duplicate_body_body": "(body, body) of questions linked as duplicates.",
                "duplicate_titlebody_titlebody": "(title + body, title + body) of questions linked as duplicates.",
            }[kind],
            license="cc-by-sa-4.0",
            citation=STACKEXCHANGE_CITATION,
            homepage="https://archive.org/details/stackexchange",
            raw_format="StackExchange site dump: Posts.xml + PostLinks.xml (XML rows), extracted from the 7z archive",
            tags=("stackexchange", "mined"),
            reader=_stackexchange_reader(kind),
            to_texts=pair_texts,
            notes="Bodies are HTML stripped to text. Filters: question score >= 0, answer score >= 1, texts of 10 to "
            "8,000 characters. The answer is the accepted one when it passes the filters, else the best-scored.",
        )
        for kind in stackexchange.KINDS
    ),
    Source(
        name="reddit_comments",
        pretty_name="Reddit (comment, reply) pairs mined from monthly comment dumps",
        description="(parent comment, reply) pairs from Reddit comment threads.",
        license="other",
        citation=_catalog["reddit"].citation,
        homepage="https://github.com/PolyAI-LDN/conversational-datasets/tree/master/reddit",
        raw_format="Reddit comment dumps: RC_YYYY-MM.zst, Pushshift comment JSON lines, long-window zstd",
        tags=("conversational", "mined"),
        reader=miner_reader(reddit.reddit_events),
        to_texts=pair_texts,
        notes="Filters: [deleted]/[removed] bodies, bot authors, score < 1, under 9 or over 1,024 characters. "
        "The parent index is an LRU of 1,000,000 comments per file; replies whose parent was evicted are lost.",
    ),
    *(
        Source(
            name=f"codesearchnet_{language}",
            pretty_name=f"CodeSearchNet {language} (docstring, code)",
            description=f"(function documentation, function code) pairs of {language} functions.",
            license="other",
            citation=_catalog["codesearchnet"].citation,
            homepage="https://github.com/github/CodeSearchNet",
            raw_format="CodeSearchNet: {language}_{split}_{n}.jsonl.gz, one function per line (code, docstring, ...)",
            whitespace="strip",
            language=("en", "code"),
            tags=("code", "mined"),
            reader=miner_reader(codesearchnet.codesearchnet_events, languages=(language,)),
            to_texts=pair_texts,
            notes="Docstrings under 3 tokens are dropped. Each function is under the licence of its repository.",
        )
        for language in codesearchnet.LANGUAGES
    ),
    *(
        Source(
            name=f"nli_{kind}",
            pretty_name=f"SNLI + MultiNLI {kind} (mined from the jsonl releases)",
            description="(premise, entailed hypothesis, contradicting hypothesis) triplets."
            if kind == "triplets"
            else "(premise, entailed hypothesis) pairs.",
            license="cc-by-sa-4.0",
            citation=_catalog["allnli"].citation,
            homepage="https://nlp.stanford.edu/projects/snli/",
            raw_format="SNLI / MultiNLI: jsonl with sentence1, sentence2, gold_label",
            arity=(3,) if kind == "triplets" else (2,),
            tags=("nli", "mined"),
            reader=miner_reader(partial(nli.nli_events, kind=kind)),
            to_texts=pair_texts,
            notes=_catalog["allnli"].notes,
        )
        for kind in nli.KINDS
    ),
    Source(
        name="python_stdlib_docstring_code",
        pretty_name="Python standard library (docstring, code)",
        description="(docstring summary, function code without its docstring) pairs of the documented functions "
        "and methods of the Python standard library.",
        license="other",
        license_name="psf-2.0",
        license_link="https://docs.python.org/3/license.html",
        citation="""@misc{python_stdlib,
  title = {The Python Standard Library},
  author = {{Python Software Foundation}},
  howpublished = {\\url{https://docs.python.org/3/library/}}
}""",
        homepage="https://docs.python.org/3/library/",
        raw_format="CodeSearchNet-format jsonl.gz written by `datasets_builders.miners.pysource` from the local "
        "standard library's *.py files",
        whitespace="strip",
        language=("en", "code"),
        tags=("code", "mined"),
        reader=miner_reader(codesearchnet.codesearchnet_events, languages=("python",)),
        to_texts=pair_texts,
        notes="Mined from the Python installation that runs the build (`se1b quickstart` does it), not downloaded. "
        "Anchor: the docstring's first paragraph; positive: the function without its docstring. Docstrings under "
        "3 tokens are dropped; test folders are skipped.",
    ),
    Source(
        name="wikipedia_category_intros",
        pretty_name="Wikipedia intros of articles in the same category",
        description="(intro of an article, intro of another article of one of its categories).",
        license="cc-by-sa-4.0",
        citation="""@misc{wikipedia_dumps,
  title = {Wikimedia Downloads},
  author = {{Wikimedia Foundation}},
  howpublished = {\\url{https://dumps.wikimedia.org}}
}""",
        homepage="https://dumps.wikimedia.org",
        raw_format="Wikipedia dump: pages-articles .xml.bz2 (MediaWiki export XML)",
        tags=("wikipedia", "mined"),
        reader=miner_reader(wikipedia.wikipedia_events),
        to_texts=pair_texts,
        notes="Each article joins one of its explicit categories (seeded hash of the title, broad and maintenance "
        "categories skipped) and is paired with an intro drawn from a reservoir of 2 earlier intros of that "
        "category; at most 50,000 categories are open at once (least recently used evicted).",
    ),
]

for _source in SOURCES:
    register_source(_source)
