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

Pairing, within every shared category: each category keeps a reservoir of at most `reservoir_size`=4 earlier
intros (Algorithm R with a `random.Random(seed)`, so every earlier article of the category had the same chance to
be kept). An arriving article is offered one partner drawn from the reservoir of each of its categories, the
smallest (most specific) categories first; a partner met through two categories gives one pair. Two bounds keep a
huge category or a much-categorised article from dominating, both counted in `MiningStats.bounded` (the builder's
"not formed by bounds"): an article anchors at most `pairs_per_article`=3 pairs ("over_pairs_per_article"), and a
category forms at most `pairs_per_category`=200 pairs ("over_pairs_per_category"). So a category of n articles
gives min(n - 1, 200) pairs, and an article appears as an anchor at most 3 times.

Memory is bounded: at most `max_categories`=50,000 categories are open, the least recently used evicted (counted
as "category_evicted": the category starts afresh, its earlier articles can no longer be partners), i.e. at most
max_categories x reservoir_size intros of at most max_chars characters (one intro is shared by its reservoirs).

Records: every page read is one kept record (one to `pairs_per_article` pairs, the article as anchor, an earlier
article of a shared category as positive) or one Drop: redirect, not_an_article, disambiguation, calendar_page,
intro_too_short, navigation_intro, no_category, no_shared_category (no earlier article in any of its categories: the
first of each), or all_pairs_over_bounds. A missing <title>, <ns> or <text>, malformed XML, invalid UTF-8 and a
truncated or corrupt compressed stream are bad input, reported with file and page number (or line).
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from se1b.errors import UserError

from .common import (
    Bounded,
    BrokenInput,
    DecodedFile,
    Drop,
    Event,
    MiningStats,
    decoded_blocks,
    head_text,
    input_files,
    pair,
)
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
RESERVOIR_SIZE = 4
PAIRS_PER_ARTICLE = 3
PAIRS_PER_CATEGORY = 200
MAX_CATEGORIES = 50_000
SKIP_CATEGORIES = (
    r"^(\d+s?( BC)? (births|deaths)|Living people|Possibly living people|Year of (birth|death) (missing|unknown).*"
    r"|(All |Articles |Pages |Wikipedia |CS1 |Webarchive |Use |Short description|Commons category|Good articles"
    r"|Featured articles|Redirects ).*|.*[Ss]tubs?)$"
)
FILE_PATTERNS = ("*.xml", "*.xml.*", "*.xml-p*")
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


class _Category:
    __slots__ = ("members", "pairs", "seen")

    def __init__(self) -> None:
        self.members: list[tuple[str, str]] = []  # (title, intro) reservoir
        self.pairs = 0
        self.seen = 0


def wikipedia_events(
    files: list[Path],
    *,
    seed: int = 0,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    reservoir_size: int = RESERVOIR_SIZE,
    pairs_per_article: int = PAIRS_PER_ARTICLE,
    pairs_per_category: int = PAIRS_PER_CATEGORY,
    max_categories: int = MAX_CATEGORIES,
    skip_categories: str = SKIP_CATEGORIES,
) -> Iterator[Event]:
    """Events of pages-articles dumps read in order with shared category reservoirs: one record per page (its
    pairs, or a Drop), plus Bounded counts of the pairs the bounds did not form."""
    rng = random.Random(seed)
    skip = re.compile(skip_categories)
    categories: OrderedDict[str, _Category] = OrderedDict()
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
            if len(intro) < min_chars:
                yield file, location, Drop("intro_too_short")
                continue
            if is_navigation(lead, intro):
                yield file, location, Drop("navigation_intro")
                continue
            own = [name for name in wiki_categories(page["text"], names["14"]) if not skip.match(name)]
            if not own:
                yield file, location, Drop("no_category")
                continue
            title = page["title"]
            pairs: list[dict] = []
            partners: set[str] = set()
            over_article = over_category = 0
            for name in sorted(own, key=lambda n: categories[n].seen if n in categories else 0):
                category = categories.get(name)
                if category is None or not category.members:
                    continue
                partner, partner_intro = category.members[rng.randrange(len(category.members))]
                if partner in partners:
                    continue
                if category.pairs >= pairs_per_category:
                    over_category += 1
                elif len(pairs) >= pairs_per_article:
                    over_article += 1
                else:
                    pairs.append(pair(intro, partner_intro))
                    partners.add(partner)
                    category.pairs += 1
            if over_article:
                yield file, location, Bounded("over_pairs_per_article", over_article)
            if over_category:
                yield file, location, Bounded("over_pairs_per_category", over_category)
            if pairs:
                yield file, location, pairs
            elif over_article or over_category:
                yield file, location, Drop("all_pairs_over_bounds")
            else:
                yield file, location, Drop("no_shared_category")
            for name in own:  # offer the article to each of its categories' reservoirs
                category = categories.get(name)
                if category is None:
                    category = categories[name] = _Category()
                    if len(categories) > max_categories:
                        categories.popitem(last=False)
                        yield file, location, Bounded("category_evicted")
                else:
                    categories.move_to_end(name)
                category.seen += 1
                if len(category.members) < reservoir_size:
                    category.members.append((title, intro))
                elif (slot := rng.randrange(category.seen)) < reservoir_size:
                    category.members[slot] = (title, intro)


def mine_wikipedia(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Stream {"anchor": an article's intro, "positive": the intro of an earlier article of a shared category,
    "negative": None} pairs from pages-articles dumps (`options`: the keyword arguments of `wikipedia_events`);
    pages read == stats.records."""
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, FILE_PATTERNS, "Wikipedia pages-articles (.xml.bz2)")
    if Path(path).is_dir():  # a Sites.xml or README.xml downloaded beside the dump is not one
        files = [file for file in files if is_dump_file(file)]
    yield from stats.pairs_of(wikipedia_events(files, **options))
