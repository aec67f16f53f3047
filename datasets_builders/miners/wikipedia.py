"""Mine pairs of Wikipedia intro sections from articles of the same category.

Input: a pages-articles dump in the MediaWiki export format (<mediawiki><siteinfo/><page>...</page></mediawiki>, any
export version), plain or compressed (bz2 multistream or not, gz, xz, zst; recognised by content): the whole
`enwiki-YYYYMMDD-pages-articles.xml.bz2` or the split parts `enwiki-YYYYMMDD-pages-articles1.xml-p1p41242.bz2`,
`...-pages-articles2.xml-p41243p151573.bz2`, ... `path` is one file or a folder (searched recursively for *.xml,
*.xml.*, *.xml-p*, in natural order: part 2 before part 10). Read with iterparse, clearing each page, so memory does
not grow with the dump. A file that is not a MediaWiki dump (another root element, or no <page> at all) is an
error naming the file and what was expected.

Text: the intro is the wikitext before the first `== Heading ==`, turned into plain text (text.wiki_to_text), cut
to at most `max_chars`=2,000 characters at a word boundary; intros under `min_chars`=50 are dropped. File, media and
category links are recognised by the English names, the local names the dump declares in <siteinfo><namespaces>
(Datei:, Fichier:, ファイル:, Kategorie:, ...) or <namespacealiases>, and the old local file namespace names articles
still use although the dump does not list them (text.LOCAL_FILE_ALIASES for the dump's xml:lang: Hình: on the
Vietnamese wiki, Bild: on the German one). Magic words (__NOTOC__, __TOC__, local ones) are removed. Navigation lines
(a `----` rule, a strip of links between | or • separators) are cut from the intro, and an intro that is still
navigation or list text rather than prose is dropped as "navigation_intro", by a measured rule
(text.is_navigation): half its lines list items, or 40 % of its characters digits and separators, or 80 % link
labels. Only articles count: namespace 0, no redirect, no disambiguation page, no calendar page ("calendar_page": a
year, day or century page such as "1944", "25 Μαρτίου", "1944年": a title that is a number, or a number and at most
12 letters over a page that is half list items); those would pair one near-identical intro with the next.

Categories: an article's explicit category links, minus broad or maintenance ones matched by `skip_categories`
(births/deaths years, "Living people", stubs, "Articles ...", "Pages ...", ...): those group unrelated articles.

Pairing, within every shared category, on Ray Data (`link_categories`, the source's `Link`; each dump file is read
by its own task): every article has a place in one seeded order of all articles, the blake2b hash of `seed`=0 and
its title (a seeded shuffle: the same whatever the number of workers, the file order or the arrival order). In each
category the articles are taken in that order and each is offered one partner: the article before it. In a random
order that is a uniformly drawn other article of the category, what the reservoir of 4 earlier intros of the single-
process miner approximated in arrival order; an article is then a partner at most once per category, and as the
order is global two articles never pair both ways. An article takes its offers from its smallest (most specific)
categories first (ties by name), a partner met through two categories once. Two bounds keep a huge category or a
much-categorised article from dominating, both counted (the builder's "not formed by bounds"): a category offers a
partner to its first `pairs_per_category`=200 articles after the first ("over_pairs_per_category": a seeded sample
of 201 of its articles, not the oldest), and an article anchors at most `pairs_per_article`=3 pairs
("over_pairs_per_article"). So a category of n articles gives at most min(n - 1, 200) pairs, and an article appears
as an anchor at most 3 times. The group-bys and joins spill to disk: no category or article is left out for memory
(no LRU, no evictions).

Records: every page read is one kept record (one to `pairs_per_article` pairs, the article as anchor, the article
before it in a shared category as positive) or one Drop: redirect, not_an_article, disambiguation, calendar_page,
intro_too_short, navigation_intro, no_category, no_shared_category (no article before it in any of its categories: the
first of each), or all_pairs_over_bounds. A missing <title>, <ns> or <text>, malformed XML, invalid UTF-8 and a
truncated or corrupt compressed stream are bad input, reported with file and page number (or line).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from datasets_builders import engine
from se1b.errors import UserError

from .common import OUTCOME, BrokenInput, DecodedFile, Drop, Event, decoded_blocks, head_text
from .text import (
    is_navigation,
    media_prefix,
    namespace_names,
    strip_navigation_lines,
    wiki_categories,
    wiki_intro,
    wiki_to_text,
)

MIN_CHARS = 50
MAX_CHARS = 2000
PAIRS_PER_ARTICLE = 3
PAIRS_PER_CATEGORY = 200
SKIP_CATEGORIES = (
    r"^(\d+s?( BC)? (births|deaths)|Living people|Possibly living people|Year of (birth|death) (missing|unknown).*"
    r"|(All |Articles |Pages |Wikipedia |CS1 |Webarchive |Use |Short description|Commons category|Good articles"
    r"|Featured articles|Redirects ).*|.*[Ss]tubs?)$"
)
FILE_PATTERNS = ("*.xml", "*.xml.*", "*.xml-p*")
RECORD_FIELDS = ("title", "intro", "categories")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# A calendar page's title: a number and at most a short word or two ("1944", "1600s", "25 Μαρτίου", "1 січня",
# "20ός αιώνας", "1944年"); with a body that is mostly a list it is a date/year page, not an article.
_CALENDAR_TITLE_LETTERS = 12
_LIST_LINE = re.compile(r"^[*#]", re.M)
_DISAMBIGUATION = re.compile(r"\{\{\s*(disambiguation|disambig|dab|set index|hndis|geodis)\b", re.I)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def is_dump_file(path: Path) -> bool:
    """A Wikipedia dump found in a folder: a pages-articles file by name (so that a damaged one is read and reported)
    or any file starting as a MediaWiki export. The multistream index, checksums, dumpstatus.json or a Sites.xml
    beside it are not."""
    if "multistream-index" in path.name:
        return False
    return "-pages-" in path.name or "<mediawiki" in head_text(path, 2048)


def iter_pages(path: Path, siteinfo: dict | None = None) -> Iterator[tuple[str, dict | Drop]]:
    """(location, {"title", "ns", "redirect", "text"}) of each <page> of a dump, in constant memory. Before the
    first page, `siteinfo` receives the dump's "language" (the root's xml:lang), "namespaces" (<siteinfo>
    <namespaces>: key -> local name) and "aliases" ((key, name) of <namespacealiases>, when the export has them).
    Malformed XML, invalid UTF-8 or a broken compressed stream end the file with one error Drop; a file that is not
    a MediaWiki dump raises UserError."""
    number = 0
    root = None
    info = siteinfo if siteinfo is not None else {}
    info.update(language=None, namespaces={}, aliases=[])
    in_aliases = False
    try:
        for event, elem in ET.iterparse(DecodedFile(decoded_blocks(path)), events=("start", "end")):
            if root is None:
                root = elem
                if _local(elem.tag) != "mediawiki":
                    raise UserError(
                        f"{path}: not_a_dump: the root element is <{_local(elem.tag)}>, expected <mediawiki> with "
                        "<page> elements (a Wikipedia pages-articles dump)"
                    )
                info["language"] = elem.get(_XML_LANG)
            name = _local(elem.tag)
            if name == "namespacealiases":
                in_aliases = event == "start"
            if event != "end":
                continue
            if name == "namespace":
                info["namespaces"][elem.get("key", "")] = (elem.text or "").strip()
            elif in_aliases and name in ("ns", "namespacealias", "alias"):
                info["aliases"].append((elem.get("id", elem.get("key", "")), (elem.text or "").strip()))
            if name != "page":
                continue
            number += 1
            page: dict[str, str | None] = {"title": None, "ns": None, "redirect": None, "text": None}
            for child in elem.iter():
                field = _local(child.tag)
                if field in ("title", "ns", "text"):
                    page[field] = child.text or ""
                elif field == "redirect":
                    page["redirect"] = child.get("title", "")
            yield f"page {number} ({page['title'] or 'no title'})", page
            elem.clear()
            root.clear()  # finished pages stay attached to the root otherwise
    except ET.ParseError as error:
        if root is None:
            expected = "expected a Wikipedia pages-articles dump"
            raise UserError(f"{path}: not_a_dump: not XML ({error}): {expected}") from None
        line, column = error.position
        yield f"line {line}, column {column}", Drop("malformed_xml", f"malformed XML ({error})", error=True)
    except BrokenInput as broken:
        yield broken.location, Drop(broken.reason, f"{broken.message}, after page {number}", error=True)
    if number == 0 and root is not None:
        raise UserError(f"{path}: not_a_dump: no <page> element: not a Wikipedia pages-articles dump")


def is_calendar_page(title: str, wikitext: str) -> bool:
    """A year, decade, century or day page ("1944", "1600s", "25 Μαρτίου", "1944年"): a title that is a number, or a
    number and at most 12 other letters with a page whose non-empty lines are at least half list items (events,
    births, deaths)."""
    if title.strip().isdigit():
        return True
    letters = sum(char.isalpha() for char in title)
    if not any(char.isdigit() for char in title) or letters > _CALENDAR_TITLE_LETTERS:
        return False
    lines = [line for line in wikitext.splitlines() if line.strip()]
    return bool(lines) and len(_LIST_LINE.findall(wikitext)) >= len(lines) / 2


def _article_drop(page: dict[str, str | None]) -> Drop | None:
    missing = [name for name in ("title", "ns", "text") if page[name] is None]
    if missing:
        return Drop("missing_element", f"missing <{missing[0]}>", error=True)
    if page["ns"].strip() != "0":
        return Drop("not_an_article")
    if page["redirect"] is not None:
        return Drop("redirect")
    if page["title"].endswith("(disambiguation)") or _DISAMBIGUATION.search(page["text"]):
        return Drop("disambiguation")
    if is_calendar_page(page["title"], page["text"]):
        return Drop("calendar_page")
    return None


def wikipedia_events(
    files: list[Path],
    *,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    skip_categories: str = SKIP_CATEGORIES,
) -> Iterator[Event]:
    """Events of pages-articles dumps, file by file: each page as a record {"title", "intro", "categories" (its kept
    categories, one per line)} or a Drop. The pairing is `link_categories`, over the records of every file."""
    skip = re.compile(skip_categories)
    for file in files:
        if "multistream-index" in file.name:  # the offsets file downloaded beside a multistream dump: no pages
            continue
        siteinfo: dict = {}
        names = media = None
        for location, page in iter_pages(file, siteinfo):
            if names is None:  # <siteinfo> precedes the first page
                names = namespace_names(siteinfo["namespaces"], siteinfo["language"], siteinfo["aliases"])
                media = media_prefix(names)
            drop = page if isinstance(page, Drop) else _article_drop(page)
            if drop:
                yield file, location, drop
                continue
            lead = strip_navigation_lines(wiki_intro(page["text"]))
            intro = _cut(wiki_to_text(lead, media), max_chars)
            if len(intro) < min_chars or _invisible(intro):
                yield file, location, Drop("intro_too_short")
                continue
            if is_navigation(lead, intro):
                yield file, location, Drop("navigation_intro")
                continue
            own = [name for name in wiki_categories(page["text"], names["14"]) if not skip.match(name)]
            if not own:
                yield file, location, Drop("no_category")
                continue
            yield file, location, {"title": page["title"], "intro": intro, "categories": "\n".join(own)}


def _invisible(text: str) -> bool:
    """Only whitespace and format characters (zero-width, soft hyphen): no text for a pair (the builder would reject
    it; every pair of an article must be formable, so the article is dropped here)."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in text)


def link_categories(
    articles,
    *,
    seed: int = 0,
    pairs_per_article: int = PAIRS_PER_ARTICLE,
    pairs_per_category: int = PAIRS_PER_CATEGORY,
):
    """The outcome of every article record (see `Link`), on Ray Data: its pairs (one row each, numbered by `pair`)
    or why it has none, with the pairs its bounds left out (`not_formed`). Four shuffles: the (category, article)
    rows grouped by category (each article offered its predecessor in the seeded order), the offers grouped by
    article (its partners chosen, smallest categories first), then the intros of anchors and partners joined in."""
    if not 1 <= pairs_per_article <= 256 or pairs_per_category < 1:  # the builder numbers at most 256 pairs a record
        raise UserError("--pairs-per-article must be 1 to 256 and --pairs-per-category at least 1")
    partitions = engine.shuffle_partitions(articles)
    members = articles.map_batches(_members, fn_kwargs={"seed": seed}, batch_format="pyarrow")
    offers = members.groupby("category", num_partitions=partitions).map_groups(
        _offers, fn_kwargs={"pairs_per_category": pairs_per_category}, batch_format="pyarrow"
    )
    choices = offers.groupby(["file", "seq"], num_partitions=partitions).map_groups(
        _choices, fn_kwargs={"pairs_per_article": pairs_per_article}, batch_format="pyarrow"
    )
    anchors = articles.select_columns(["file", "seq", "location", "intro"]).rename_columns({"intro": "anchor"})
    partners = articles.select_columns(["file", "seq", "intro"]).rename_columns(
        {"file": "partner_file", "seq": "partner_seq", "intro": "positive"}
    )
    placed = choices.join(anchors, "inner", partitions, on=("file", "seq"))
    paired = placed.join(partners, "left_outer", partitions, on=("partner_file", "partner_seq"))
    return paired.map_batches(_outcomes, batch_format="pyarrow")


def _rank(seed: int, title: str) -> int:
    """An article's place in the seeded order: a signed 64-bit blake2b of the seed and its title."""
    digest = hashlib.blake2b(f"{seed}\0{title}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _members(table: pa.Table, seed: int) -> pa.Table:
    """One (category, article) row per kept category of each article, with the article's rank."""
    categories = pc.split_pattern(table["categories"], "\n")
    owner = pc.list_parent_indices(categories)
    rank = pa.array([_rank(seed, title) for title in table["title"].to_pylist()], pa.int64())
    return pa.table({
        "category": pc.list_flatten(categories), "file": table["file"].take(owner), "seq": table["seq"].take(owner),
        "rank": rank.take(owner),
    })  # fmt: skip


_OFFERS = pa.schema([
    ("file", pa.int32()), ("seq", pa.int64()), ("category", pa.string()), ("size", pa.int64()),
    ("partner_file", pa.int32()), ("partner_seq", pa.int64()), ("over_category", pa.bool_()),
])  # fmt: skip


def _offers(members: pa.Table, pairs_per_category: int) -> pa.Table:
    """One category: its articles in the seeded order (rank; then file and position for equal titles), each offered
    the one before it as partner; the offers after the first `pairs_per_category` are over the category's bound."""
    ordered = members.sort_by([("rank", "ascending"), ("file", "ascending"), ("seq", "ascending")])
    size = ordered.num_rows
    before = {
        name: pa.concat_arrays([pa.nulls(1, ordered.schema.field(name).type), *ordered[name][:-1].chunks])
        for name in ("file", "seq")
    }
    return pa.table([
        ordered["file"], ordered["seq"], ordered["category"], pa.array([size] * size, pa.int64()), before["file"],
        before["seq"], pa.array([place > pairs_per_category for place in range(size)], pa.bool_()),
    ], schema=_OFFERS)  # fmt: skip


_CHOICES = pa.schema([
    ("file", pa.int32()), ("seq", pa.int64()), ("pair", pa.int32()), ("partner_file", pa.int32()),
    ("partner_seq", pa.int64()), ("filtered", pa.string()), ("not_formed", pa.string()),
])  # fmt: skip


def _choices(offers: pa.Table, pairs_per_article: int) -> pa.Table:
    """One article: its offers from its smallest categories first (ties by name), a partner met through two
    categories taken once, at most `pairs_per_article`; one row per pair, or one row saying why none."""
    pairs: list[tuple[int, int]] = []
    over = {"over_pairs_per_category": 0, "over_pairs_per_article": 0}
    for offer in sorted(offers.to_pylist(), key=lambda offer: (offer["size"], offer["category"])):
        partner = (offer["partner_file"], offer["partner_seq"])
        if offer["partner_file"] is None or partner in pairs:
            continue
        if offer["over_category"]:
            over["over_pairs_per_category"] += 1
        elif len(pairs) >= pairs_per_article:
            over["over_pairs_per_article"] += 1
        else:
            pairs.append(partner)
    not_formed = json.dumps({reason: count for reason, count in over.items() if count}) if any(over.values()) else None
    file, seq = offers["file"][0].as_py(), offers["seq"][0].as_py()
    if not pairs:
        reason = "all_pairs_over_bounds" if not_formed else "no_shared_category"
        return pa.table([[file], [seq], [0], [None], [None], [reason], [not_formed]], schema=_CHOICES)
    rows = [(file, seq, number, *partner, None, not_formed if number == 0 else None) for number, partner in
            enumerate(pairs)]  # fmt: skip
    return pa.table([list(column) for column in zip(*rows, strict=True)], schema=_CHOICES)


_OUTCOMES = OUTCOME.append(pa.field("pair", pa.int32())).append(pa.field("not_formed", pa.string()))


def _outcomes(table: pa.Table) -> pa.Table:
    paired = pc.is_null(table["filtered"])
    nulls = pa.nulls(table.num_rows, pa.string())
    columns = [
        table["file"], table["seq"], table["location"], table["filtered"], pc.if_else(paired, table["anchor"], nulls),
        pc.if_else(paired, table["positive"], nulls), nulls, table["pair"], table["not_formed"],
    ]  # fmt: skip
    return pa.table(columns, schema=_OUTCOMES)
