"""The miners as builder sources: `se1b data build|publish NAME --raw PATH...` and `build_source(NAME, [PATH])`.

Every source reads each raw file in its own Ray task. Those whose pairs span files link their records on Ray Data
(`Source.link`, exact joins and group-bys through the engine's shuffle): Reddit joins replies to parents
(`--raw RC_2015-01.zst RC_2015-02.zst` links a February reply to its January parent), Wikipedia groups articles by
category (the parts of a split dump pair articles across parts), NLI triplets group hypotheses by premise. Stack
Exchange and CodeSearchNet read file by file (a site's tables are found from its Posts.xml or its archive).

Miner filters have their documented defaults; `se1b data build` exposes them as options (miners/options.py), and
`source.configure(min_score=2, ...)` returns the source with other settings (its card notes say which).

Error Drops become `RecordError`s, so the builder's on_error policy and counts apply to them; filter Drops (a low
score, a deleted comment) become `Filtered` records, counted by reason in the build statistics and the card, never
fatal. Pairs a miner's bounds did not form (Wikipedia's) are counted by its link (`not_formed`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datasets_builders.catalog import CATALOG, STACKEXCHANGE_CITATION
from datasets_builders.readers import Filtered, RecordError, keep_where
from datasets_builders.source import Link, Source
from se1b.errors import UserError

from . import codesearchnet, nli, reddit, stackexchange, wikipedia
from .common import Drop, Event, compression_of

STACKEXCHANGE_DUMP_FILES = {f"{table}.xml" for table in stackexchange.DUMP_TABLES}


def is_stackexchange_input(path: Path) -> bool:
    """A file of a Stack Exchange dump found in a folder: a .7z archive (by content) or an extracted table (Posts.xml,
    PostLinks.xml, ...). The archive.org item's Sites.xml, a LICENSE or readme beside a site are not."""
    return path.name in STACKEXCHANGE_DUMP_FILES or compression_of(path) == "7z"


def _as_record(item: Any) -> Any:
    """A miner event item as the builder's record: pairs as they are, Drops as RecordError or Filtered."""
    if not isinstance(item, Drop):
        return item
    return RecordError(item.reason, item.message) if item.error else Filtered(item.reason)


def miner_reader(events: Callable[..., Iterator[Event]], **options: Any) -> Callable[[str], Iterator[tuple]]:
    """A builder `Reader` for one raw file from a miner's `*_events(files, **options)` function."""

    def reader(path: str) -> Iterator[tuple[str, Any]]:
        for _, location, item in events([Path(path)], **options):
            yield location, _as_record(item)

    return reader


def miner_tables(tables: Callable[..., Iterator[Any]], **options: Any) -> Callable[[str], Iterator]:
    """A `Link.read_tables` from a miner's `*_tables(file, **options)`: its Arrow tables as they are, its events as
    (location, RecordError)."""

    def read_tables(path: str) -> Iterator[Any]:
        for item in tables(Path(path), **options):
            yield item if not isinstance(item, tuple) else (item[1], _as_record(item[2]))

    return read_tables


def _stackexchange_reader(kind: str, **options: Any) -> Callable[[str], Iterator[tuple]]:
    def reader(path: str) -> Iterator[tuple[str, Any]]:
        file = Path(path)
        if compression_of(file) == "7z":
            if stackexchange.extracted_beside(file):
                return  # the extracted XML beside it is read instead
            site = stackexchange.archive_site(file)
            if site is None:  # another table of a per-table archive (stackoverflow.com-Users.7z)
                return
        elif file.name == "Posts.xml":
            site = stackexchange.xml_site(file)
        elif file.name in STACKEXCHANGE_DUMP_FILES:
            return  # PostLinks.xml is read with the Posts.xml beside it; other tables are unused
        else:
            raise RecordError(
                "not_a_dump",
                f"{file.name} is not a file of a Stack Exchange site dump (a site's .7z archive, or its extracted "
                "Posts.xml, PostLinks.xml, ...)",
            )
        for _, location, item in stackexchange.stackexchange_events(site, kind, **options):
            yield location, _as_record(item)

    return reader


def pair_texts(item: dict | list[dict]) -> list[tuple[str, ...]]:
    """Builder `ToTexts`: a mined pair (or the several pairs of one record) as text tuples."""
    rows = item if isinstance(item, list) else [item]
    return [tuple(one[key] for key in ("anchor", "positive", "negative") if one[key] is not None) for one in rows]


def _options_note(options: dict[str, Any]) -> str:
    if not options:
        return ""
    return " Built with " + ", ".join(f"{key}={value!r}" for key, value in sorted(options.items())) + "."


def _configurable(make: Callable[..., Source], *functions: Callable, fixed: tuple[str, ...] = ()) -> Source:
    """`make(**options)` with its `configure`: the options are the keyword parameters of the miner's functions (its
    events, and its link's; less `fixed`, which the source itself sets); an unknown one is a UserError listing the
    known."""
    accepted = [
        name for function in functions for name, p in inspect.signature(function).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in fixed
    ]  # fmt: skip

    def configure(**options: Any) -> Source:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
            takes = ", ".join("--" + name.replace("_", "-") for name in accepted)
            raise UserError(f"{flags} does not apply to {source.name} (its options: {takes})")
        configured = make(**options)
        return dataclasses.replace(configured, configure=configure)

    source = dataclasses.replace(make(), configure=configure)
    return source


def _stackexchange_source(kind: str, **options: Any) -> Source:
    return Source(
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
        raw_format="StackExchange site dump: the site's .7z archive (read in place) or its extracted Posts.xml + "
        "PostLinks.xml (XML rows)",
        tags=("stackexchange", "mined"),
        reader=_stackexchange_reader(kind, **options),
        select_inputs=functools.partial(keep_where, is_stackexchange_input),
        link=_stackexchange_link(kind),
        to_texts=pair_texts,
        notes="Bodies are HTML stripped to text, without the duplicate notice. Filters: question score >= 0, answer "
        "score >= 1, texts of 10 to 8,000 characters. The answer is the accepted one when it passes the filters, "
        "else the best-scored (ties: the oldest). Answers are joined to their questions and duplicate links to both "
        "questions on Ray Data (exact, within each site)." + _options_note(options),
    )


def _stackexchange_link(kind: str) -> Link | None:
    """The answer and duplicate kinds pair records on Ray Data; `title_body` is one post per pair (no link)."""
    if kind == "title_body":
        return None
    run = stackexchange.link_duplicates if kind.startswith("duplicate") else stackexchange.link_answers
    return Link(stackexchange.RECORD_FIELDS, functools.partial(run, kind=kind))


def _reddit_source(**options: Any) -> Source:
    return Source(
        name="reddit_comments",
        pretty_name="Reddit (comment, reply) pairs mined from monthly comment dumps",
        description="(parent comment, reply) pairs from Reddit comment threads.",
        license="other",
        citation=_catalog["reddit"].citation,
        homepage="https://github.com/PolyAI-LDN/conversational-datasets/tree/master/reddit",
        raw_format="Reddit comment dumps: RC_YYYY-MM .bz2 / .xz / .zst (Pushshift comment JSON lines)",
        tags=("conversational", "mined"),
        reader=miner_reader(reddit.reddit_comments, **options),
        link=Link(reddit.RECORD_FIELDS, reddit.link_replies, miner_tables(reddit.comment_tables, **options)),
        to_texts=pair_texts,
        notes="Filters: [deleted]/[removed] bodies, bot authors, score < 1, under 9 or over 1,024 characters. "
        "Each reply is joined to its parent comment wherever it is in the files of the build (an exact hash join on "
        "Ray Data; give consecutive months together)." + _options_note(options),
    )


def _codesearchnet_source(language: str, **options: Any) -> Source:
    return Source(
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
        reader=miner_reader(codesearchnet.codesearchnet_events, languages=(language,), **options),
        to_texts=pair_texts,
        notes="Docstrings under 3 tokens are dropped; comment markers (//, /** * */, #) and Javadoc HTML are removed "
        "from the docstring text. Each function is under the licence of its repository."
        + _options_note(options),
    )


def _nli_source(kind: str, **options: Any) -> Source:
    triplets = kind == "triplets"
    return Source(
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
        reader=miner_reader(nli.nli_events, kind=kind, **options),
        link=Link(nli.RECORD_FIELDS, nli.link_hypotheses) if triplets else None,
        to_texts=pair_texts,
        notes=_catalog["allnli"].notes
        + (" The hypotheses of each premise are grouped across all the files of the build." if triplets else "")
        + _options_note(options),
    )


def _wikipedia_source(**options: Any) -> Source:
    linking = {name: options.pop(name) for name in _WIKIPEDIA_LINK_OPTIONS if name in options}
    return Source(
        name="wikipedia_category_intros",
        pretty_name="Wikipedia intros of articles in the same category",
        description="(intro of an article, intro of an earlier article sharing one of its categories).",
        license="cc-by-sa-4.0",
        citation="""@misc{wikipedia_dumps,
  title = {Wikimedia Downloads},
  author = {{Wikimedia Foundation}},
  howpublished = {\\url{https://dumps.wikimedia.org}}
}""",
        homepage="https://dumps.wikimedia.org",
        raw_format="Wikipedia dump: pages-articles .xml.bz2, whole or split parts (MediaWiki export XML)",
        tags=("wikipedia", "mined"),
        reader=miner_reader(wikipedia.wikipedia_events, **options),
        select_inputs=functools.partial(keep_where, wikipedia.is_dump_file),
        link=Link(wikipedia.RECORD_FIELDS, functools.partial(wikipedia.link_categories, **linking)),
        to_texts=pair_texts,
        notes="Articles are paired within every shared category (broad and maintenance categories skipped), across "
        "all the dump parts of the build: in a seeded random order of the articles (a hash of seed and title), "
        "each article's partner in a category is the article before it; at most 3 pairs per article (its smallest "
        "categories first) and 200 per category (what these bounds leave out is counted)."
        + _options_note(options | linking),
    )


_WIKIPEDIA_LINK_OPTIONS = ("seed", "pairs_per_article", "pairs_per_category")


def _python_stdlib_source(**options: Any) -> Source:
    return Source(
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
        reader=miner_reader(codesearchnet.codesearchnet_events, languages=("python",), **options),
        to_texts=pair_texts,
        notes="Mined from the Python installation that runs the build (`se1b quickstart` does it), not downloaded. "
        "Anchor: the docstring's first paragraph; positive: the function without its docstring. Docstrings under "
        "3 tokens are dropped; test folders are skipped.",
    )


_catalog = {source.name: source for source in CATALOG}
SOURCES = [
    *(
        _configurable(lambda kind=kind, **o: _stackexchange_source(kind, **o), stackexchange.stackexchange_events)
        for kind in stackexchange.KINDS
    ),
    _configurable(_reddit_source, reddit.reddit_comments),
    *(
        _configurable(
            lambda language=language, **o: _codesearchnet_source(language, **o),
            codesearchnet.codesearchnet_events,
            fixed=("languages",),
        )
        for language in codesearchnet.LANGUAGES
    ),
    *(_configurable(lambda kind=kind, **o: _nli_source(kind, **o), nli.nli_events) for kind in nli.KINDS),
    _configurable(_wikipedia_source, wikipedia.wikipedia_events, wikipedia.link_categories),
    _configurable(_python_stdlib_source, codesearchnet.codesearchnet_events, fixed=("languages",)),
]

