"""Turning markup into plain text: HTML (StackExchange bodies) and wiki markup (Wikipedia articles).

Both are deliberately small and dependency-free: html.parser from the standard library for HTML, and a few
well-ordered regular expressions plus a brace matcher for wiki markup. They aim at clean training text, not at
rendering pages faithfully.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "hr"}
_SKIPPED_TAGS = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces into one space and runs of blank lines into one newline, then strip."""
    return _NEWLINES.sub("\n", _SPACES.sub(" ", text)).strip()


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped (block tags become line breaks), entities decoded.

    >>> html_to_text("<p>Use <code>a &lt; b</code></p><p>Thanks!</p>")
    'Use a < b\\nThanks!'
    """
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return normalize_whitespace("".join(collector.parts))


# --- wiki markup -------------------------------------------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_REF = re.compile(r"<ref\b[^>/]*/>|<ref\b[^>]*>.*?</ref\s*>", re.S | re.I)
_DROPPED_ELEMENTS = re.compile(r"<(gallery|math|score|timeline|syntaxhighlight|code)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_MEDIA_PREFIX = re.compile(r"\[\[\s*(?:File|Image|Media|Category)\s*:", re.I)
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\]]*\]\]")
_LINK = re.compile(r"\[\[([^\[\]|]*)(?:\|([^\[\]]*))?\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BOLD_ITALIC = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+[^=\n].*?=+\s*$", re.M)
_LIST_MARKERS = re.compile(r"^[*#:;]+\s*", re.M)
_CATEGORY = re.compile(r"\[\[\s*Category\s*:\s*([^\]|]+)(?:\|[^\]]*)?\]\]", re.I)
_EMPTY_PARENS = re.compile(r"\(\s*[,;]?\s*\)")


def _remove_nested(text: str, opening: str, closing: str) -> str:
    """Remove every balanced `opening ... closing` span, nested ones included, in one left-to-right scan.

    An unclosed opening drops the rest of the text: wiki templates left open swallow what follows when rendered.
    """
    out: list[str] = []
    depth = 0
    kept_from = 0
    for token in re.finditer(re.escape(opening) + "|" + re.escape(closing), text):
        if token.group() == opening:
            if depth == 0:
                out.append(text[kept_from : token.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                kept_from = token.end()
    if depth == 0:
        out.append(text[kept_from:])
    return "".join(out)


def _remove_media_links(text: str) -> str:
    """Drop [[File:...]], [[Image:...]] and [[Category:...]] links, whose captions may hold nested [[links]]."""
    while match := _MEDIA_PREFIX.search(text):
        depth = 0
        i = match.start()
        while i < len(text):
            if text.startswith("[[", i):
                depth += 1
                i += 2
            elif text.startswith("]]", i):
                depth -= 1
                i += 2
                if depth == 0:
                    break
            else:
                i += 1
        text = text[: match.start()] + text[i:]
    return text


def wiki_categories(wikitext: str) -> list[str]:
    """The explicit [[Category:Name|sort key]] links of an article, in order, names with spaces normalised."""
    names = (" ".join(name.replace("_", " ").split()) for name in _CATEGORY.findall(wikitext))
    return list(dict.fromkeys(name for name in names if name))


def wiki_intro(wikitext: str) -> str:
    """The wikitext of the lead section: everything before the first `== Heading ==` line."""
    match = _HEADING.search(wikitext)
    return wikitext[: match.start()] if match else wikitext


def wiki_to_text(wikitext: str) -> str:
    """Plain text from wiki markup: templates {{...}}, tables {|...|}, references, comments, media and category
    links removed; [[target|label]] becomes label, [[target]] becomes target, [url label] becomes label; bold and
    italic quotes and HTML tags removed, entities decoded.

    >>> wiki_to_text("'''Ada''' {{lang|x}}was a [[mathematician|math person]].<ref>A book</ref>")
    'Ada was a math person.'
    """
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = _DROPPED_ELEMENTS.sub("", text)
    text = _remove_nested(text, "{{", "}}")
    text = _remove_nested(text, "{|", "|}")
    text = _remove_media_links(text)
    text = _INTERWIKI.sub("", text)
    text = _LINK.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(1), text)
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    text = _BOLD_ITALIC.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _LIST_MARKERS.sub("", text)
    text = _EMPTY_PARENS.sub("", text)
    text = re.sub(r" +([,.;:])", r"\1", _SPACES.sub(" ", text))
    return normalize_whitespace(text)
