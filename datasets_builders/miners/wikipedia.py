"""Mine pairs of Wikipedia intro sections from articles of the same category.

Input: a pages-articles dump (`enwiki-YYYYMMDD-pages-articles.xml.bz2`, multistream or not, or the .xml): the
MediaWiki export format (namespace http://www.mediawiki.org/xml/export-0.10/, any export version is accepted) with
<page><title/><ns/><redirect/>?<revision><text/></revision></page>. `path` is one file or a folder (*.xml.bz2,
*.xml, sorted). Read with iterparse, clearing each page, so memory does not grow with the dump.

Text: the intro is the wikitext before the first `== Heading ==`, turned into plain text (text.wiki_to_text:
templates, tables, references, media and category links, bold/italics and HTML removed, links replaced by their
labels), cut to at most `max_chars`=2,000 characters at a word boundary; intros under `min_chars`=50 are dropped.
Only articles count: namespace 0, no redirect, no disambiguation page.

Categories: an article's explicit `[[Category:...]]` links, minus broad or maintenance ones matched by
`skip_categories` (births/deaths years, "Living people", stubs, "Articles ...", "Pages ...", ...): those group
unrelated articles. Each article joins ONE of its remaining categories, picked by a seeded hash of its title
(deterministic, independent of order), so each article is the anchor of at most one pair and big categories do not
multiply it.

Sampling: each category keeps a reservoir of at most `reservoir_size`=2 earlier intros (Algorithm R, a
`random.Random(seed)`), so every earlier article of the category had the same chance to be kept. An arriving
article is paired with a reservoir member drawn from the same generator, then offered to the reservoir. The first
article of a category has no partner ("first_in_category"). Memory is bounded: at most `max_categories`=50,000
categories are open, the least recently used evicted (an evicted category starts afresh: its next article is again
"first_in_category"), i.e. at most max_categories x reservoir_size x max_chars characters of intros.
Every page read is the anchor of one pair or one Drop (redirect, not_an_article, disambiguation, intro_too_short,
no_category, first_in_category). A missing <title>, <ns> or <text>, malformed XML and a truncated or corrupt bz2
stream are bad input, reported with file and page number (or line and column).
"""

from __future__ import annotations

import bz2
import hashlib
import random
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from .common import Drop, Event, MiningStats, input_files, pair
from .text import wiki_categories, wiki_intro, wiki_to_text

MIN_CHARS = 50
MAX_CHARS = 2000
RESERVOIR_SIZE = 2
MAX_CATEGORIES = 50_000
SKIP_CATEGORIES = (
    r"^(\d+s?( BC)? (births|deaths)|Living people|Possibly living people|Year of (birth|death) (missing|unknown).*"
    r"|(All |Articles |Pages |Wikipedia |CS1 |Webarchive |Use |Short description|Commons category|Good articles"
    r"|Featured articles|Redirects ).*|.*[Ss]tubs?)$"
)
_DISAMBIGUATION = re.compile(r"\{\{\s*(disambiguation|disambig|dab|set index|hndis|geodis)\b", re.I)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def iter_pages(path: Path) -> Iterator[tuple[str, dict[str, str | None] | Drop]]:
    """(location, {"title", "ns", "redirect", "text"}) of each <page> of a dump, in constant memory; malformed XML
    or a broken bz2 stream ends the file with one error Drop."""
    number = 0
    root = None
    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rb") as fh:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if root is None:
                    root = elem
                if event != "end" or _local(elem.tag) != "page":
                    continue
                number += 1
                page: dict[str, str | None] = {"title": None, "ns": None, "redirect": None, "text": None}
                for child in elem.iter():
                    name = _local(child.tag)
                    if name in ("title", "ns", "text"):
                        page[name] = child.text or ""
                    elif name == "redirect":
                        page["redirect"] = child.get("title", "")
                yield f"page {number} ({page['title'] or 'no title'})", page
                elem.clear()
                root.clear()  # finished pages stay attached to the root otherwise
    except ET.ParseError as error:
        line, column = error.position
        yield f"{line}:{column}", Drop("malformed_xml", f"malformed XML ({error})", error=True)
    except EOFError as error:
        yield f"after page {number}", Drop("truncated_file", f"truncated bz2 file ({error})", error=True)
    except OSError as error:
        yield f"after page {number}", Drop("corrupt_file", f"corrupt bz2 data ({error})", error=True)


def _pick(categories: list[str], title: str, seed: int) -> str:
    digest = hashlib.blake2b(f"{seed}\0{title}".encode(), digest_size=8).digest()
    return categories[int.from_bytes(digest, "big") % len(categories)]


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
    return None


def wikipedia_events(
    files: list[Path],
    *,
    seed: int = 0,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    reservoir_size: int = RESERVOIR_SIZE,
    max_categories: int = MAX_CATEGORIES,
    skip_categories: str = SKIP_CATEGORIES,
) -> Iterator[Event]:
    """Events of pages-articles dumps read in order with shared category reservoirs: one pair or Drop per page."""
    rng = random.Random(seed)
    skip = re.compile(skip_categories)
    reservoirs: OrderedDict[str, tuple[list[str], list[int]]] = OrderedDict()  # category -> (intros, [seen])
    for file in files:
        for location, page in iter_pages(file):
            drop = page if isinstance(page, Drop) else _article_drop(page)
            if drop:
                yield file, location, drop
                continue
            intro = _cut(wiki_to_text(wiki_intro(page["text"])), max_chars)
            if len(intro) < min_chars:
                yield file, location, Drop("intro_too_short")
                continue
            categories = [name for name in wiki_categories(page["text"]) if not skip.match(name)]
            if not categories:
                yield file, location, Drop("no_category")
                continue
            category = _pick(categories, page["title"], seed)
            if category in reservoirs:
                reservoirs.move_to_end(category)
                intros, seen = reservoirs[category]
            else:
                intros, seen = reservoirs[category] = ([], [0])
                if len(reservoirs) > max_categories:
                    reservoirs.popitem(last=False)
            if intros:
                yield file, location, pair(intro, intros[rng.randrange(len(intros))])
            else:
                yield file, location, Drop("first_in_category")
            seen[0] += 1
            if len(intros) < reservoir_size:
                intros.append(intro)
            elif (slot := rng.randrange(seen[0])) < reservoir_size:
                intros[slot] = intro


def mine_wikipedia(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Stream {"anchor": an article's intro, "positive": the intro of an earlier article of the same category,
    "negative": None} pairs from pages-articles dumps (`options`: the keyword arguments of `wikipedia_events`);
    pages read == stats.records."""
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, ("*.xml.bz2", "*.xml"), "Wikipedia pages-articles (.xml.bz2)")
    yield from stats.pairs_of(wikipedia_events(files, **options))
