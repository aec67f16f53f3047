"""Turning markup into plain text: HTML (StackExchange bodies) and wiki markup (Wikipedia articles).

Both are deliberately small and dependency-free: html.parser from the standard library for HTML, and a few
well-ordered regular expressions plus a brace matcher for wiki markup. They aim at clean training text, not at
rendering pages faithfully.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
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
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\]]*\]\]")
# [[target]], [[target|label]]; a label may hold single brackets: [[Ngôn ngữ|ngôn ngữ [a]]]
_LINK = re.compile(r"\[\[([^\[\]|]*)(?:\|((?:[^\[\]]|\[[^\[\]]*\])*))?\]\]")
# Behaviour switches (__NOTOC__, __TOC__, __FORCETOC__, local ones like __БЕЗЗМІСТУ__): upper case or caseless words
# between double underscores, so that a Python name like __init__ in the text stays.
_MAGIC_WORD = re.compile(r"__([^\W_]+(?:_[^\W_]+)*)__")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BOLD_ITALIC = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+[^=\n].*?=+\s*$", re.M)
_LIST_MARKERS = re.compile(r"^[*#:;]+\s*", re.M)
# Inline templates whose text is part of the sentence: {{lang|grc|Ἀχιλλεύς}}, {{lang-de|Haus}}, {{nowrap|12 km}},
# {{convert|12|km|mi}} -> "12 km", and the dates of a lead's first sentence: {{birth date|1905|2|2}} -> "February 2,
# 1905", {{OldStyleDate|February 2|1905|January 20}} -> "February 2 1905" (removed, a real lead "Ayn Rand (born ...;
# {{...}} – March 6, 1982)" read as born in 1982). Every other template is removed, leaving a mark (_GAP) for the
# debris cleaner.
_TEXT_TEMPLATE = re.compile(
    r"\{\{\s*(lang|lang-[\w-]+|nowrap|nobr|large|small|transl|nihongo|convert|cvt|oldstyledate"
    r"|(?:birth|death)[ _]date(?:[ _]and[ _]age)?)\s*\|([^{}]*)\}\}",
    re.I,
)
_MONTHS = "January February March April May June July August September October November December".split()
# Templates that stand for a character: "(1775{{ndash}}1783)" is "(1775–1783)", not "(17751783)".
_SYMBOL_TEMPLATES = {"ndash": "\u2013", "en dash": "\u2013", "mdash": "\u2014", "em dash": "\u2014",
                     "snd": " \u2013 ", "spnd": " \u2013 ", "spaced ndash": " \u2013 ", "nbsp": " "}  # fmt: skip
_SYMBOL_TEMPLATE = re.compile(r"\{\{\s*(" + "|".join(_SYMBOL_TEMPLATES) + r")\s*\}\}", re.I)
_PARAM_SEPARATOR = re.compile(r"\|(?![^\[\]]*\]\])")  # a | that is not inside a [[link|label]]
_GAP = "\x00"
_PARENS = re.compile(r"\s*([(\uff08])([^()\uff08\uff09]*)([)\uff09])")
# "(born X; {{date}} – 1982)"
_GAP_BEFORE_DASH = re.compile(r"\s*[,;]?\s*" + _GAP + r"+[\s\u00a0]*(?=[\u2013\u2014-])")
_SEPARATORS = " \t,;:\u3001\uff0c\uff1b\u2013\u2014-" + _GAP
# "At {{convert|...}}, Alabama has": a sentence-opening preposition whose object was a removed template.
_DANGLING = re.compile(
    r"(^|[.!?]\s+)(?:At|In|On|Of|As of|From|By|With|About|Around|Since|Until)\s*" + _GAP + r"+\s*,\s*(\w)"
)

ENGLISH_NAMESPACES = {"-2": ("Media",), "6": ("File", "Image"), "14": ("Category",)}
# Old local names of the file namespace that articles still use but that a dump's <namespaces> does not list (it
# gives the current name only: Tập tin, Datei, Файл); from MediaWiki's per-language namespace aliases.
LOCAL_FILE_ALIASES = {
    "ar": ("صورة",), "cs": ("Obrázek",), "de": ("Bild",), "el": ("Εικόνα",), "es": ("Imagen",), "fa": ("تصویر",),
    "fi": ("Kuva",), "he": ("תמונה",), "hu": ("Kép",), "it": ("Immagine",), "ja": ("画像",), "ko": ("그림",),
    "nl": ("Afbeelding",), "pl": ("Grafika",), "pt": ("Imagem",), "ru": ("Изображение",), "sv": ("Bild",),
    "tr": ("Resim",), "uk": ("Зображення",), "vi": ("Hình",), "zh": ("图像", "圖像", "文件", "檔案"),
}


def namespace_names(
    namespaces: dict[str, str] | None = None, language: str | None = None, aliases: Sequence[tuple[str, str]] = ()
) -> dict[str, tuple[str, ...]]:
    """Names of the media (-2), file (6) and category (14) namespaces: the English canonical names (valid on every
    wiki), the local ones a dump declares in <siteinfo><namespaces> (Datei, Fichier, ファイル, Kategorie, ...), the
    aliases it declares (`aliases`: (key, name), as an API siteinfo's <namespacealiases> lists them) and the
    well-known old file namespace names of its `language` (LOCAL_FILE_ALIASES: Hình on the Vietnamese wiki)."""
    names = {key: list(values) for key, values in ENGLISH_NAMESPACES.items()}
    known = [*(namespaces or {}).items(), *aliases, *(("6", name) for name in LOCAL_FILE_ALIASES.get(language, ()))]
    for key, name in known:
        if key in names and name and name not in names[key]:
            names[key].append(name)
    return {key: tuple(values) for key, values in names.items()}


def _alternatives(names) -> str:
    return "|".join(re.escape(name).replace(r"\ ", "[ _]") for name in sorted(names, key=len, reverse=True))


def _remove_nested(text: str, opening: str, closing: str, mark: str = "") -> str:
    """Remove every balanced `opening ... closing` span, nested ones included, in one left-to-right scan, leaving
    `mark` in its place.

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
                out.append(mark)
    if depth == 0:
        out.append(text[kept_from:])
    return "".join(out)


def _remove_media_links(text: str, prefix: re.Pattern) -> str:
    """Drop [[File:...]], [[Datei:...]], [[Category:...]] (any name `prefix` matches) links, whose captions may hold
    nested [[links]]."""
    while match := prefix.search(text):
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


def _text_template(match: re.Match) -> str:
    name, params = match.group(1).lower(), [p.strip() for p in _PARAM_SEPARATOR.split(match.group(2))]
    positional = [p for p in params if "=" not in p]
    if name in ("convert", "cvt"):
        return " ".join(positional[:2])
    if name in ("lang", "transl"):  # {{lang|grc|Ἀχιλλεύς}}, {{transl|ar|al-Jazā'ir}}: the code comes first
        return positional[-1] if len(positional) >= 2 else ""
    if name == "oldstyledate":  # rendered "February 2 [O.S. January 20] 1905": the new-style date and the year
        return " ".join(positional[:2])
    if "date" in name:  # {{birth date|1905|2|2|df=y}}, {{death date and age|1982|3|6|1905|2|2}}: the first date
        day_first = any(p.replace(" ", "").lower() in ("df=y", "df=yes") for p in params)
        return _date_text(positional[:3], day_first)
    return positional[0] if positional else ""


def _date_text(parts: list[str], day_first: bool) -> str:
    """"February 2, 1905" (or "2 February 1905") from ["1905", "2", "2"]; the removal mark when not such a date."""
    if len(parts) != 3 or not all(part.isdigit() for part in parts) or not 1 <= int(parts[1]) <= 12:
        return _GAP
    year, month, day = int(parts[0]), _MONTHS[int(parts[1]) - 1], int(parts[2])
    return f"{day} {month} {year}" if day_first else f"{month} {day}, {year}"


def _clean_parens(match: re.Match) -> str:
    """Brackets emptied by removed templates go, and so do separators left at their edges: "(;, Akhilleus, )" ->
    "(Akhilleus)", "（）" -> ""."""
    inner = _GAP_BEFORE_DASH.sub(" ", match.group(2)).replace(_GAP, "").strip(_SEPARATORS)
    return f" {match.group(1)}{inner}{match.group(3)}" if inner.strip() else ""


def wiki_categories(wikitext: str, names: tuple[str, ...] = ("Category",)) -> list[str]:
    """The explicit [[Category:Name|sort key]] links of an article (any of the category namespace `names`), in
    order, names with spaces normalised."""
    pattern = re.compile(r"\[\[\s*(?:" + _alternatives(names) + r")\s*:\s*([^\]|]+)(?:\|[^\]]*)?\]\]", re.I)
    found = (" ".join(name.replace("_", " ").split()) for name in pattern.findall(wikitext))
    return list(dict.fromkeys(name for name in found if name))


def wiki_intro(wikitext: str) -> str:
    """The wikitext of the lead section: everything before the first `== Heading ==` line."""
    match = _HEADING.search(wikitext)
    return wikitext[: match.start()] if match else wikitext


# --- navigation and list text: what a reader skims past, not prose to learn from ---

_RULE_LINE = re.compile(r"^\s*-{4,}\s*$")
_NAV_ITEM = re.compile(r"\[\[[^\[\]]*\]\]|'{3}[^'\n]*'{3}")  # a link, or the page's own title in bold
_NAV_SEPARATORS = "|•·/–—→←"
_SEPARATOR_TEMPLATE = re.compile(r"\{\{\s*(?:•|·|!|dot|middot|bull|bullet)\s*\}\}", re.I)  # {{•}}: a separator
_NAV_FILLER = re.compile(r"</?[a-zA-Z][^>]*>|'{2,}|&nbsp;|[\s\d" + _NAV_SEPARATORS + r"-]")
_LIST_ITEM = re.compile(r"^\s*[*#]")
_PLAIN_LINK = re.compile(r"\[\[([^\[\]|:]*)(?:\|([^\[\]]*))?\]\]")  # an article link (not File:, Category:)
LIST_LINE_SHARE = 0.5  # an intro with at least this share of list-item lines is a list, not prose
NUMBER_SHARE = 0.4  # ... or with at least this share of digits and separators among its non-space characters
LINK_SHARE = 0.8  # ... or with at least this share of its non-space characters in link labels
_NUMBERS_AND_SEPARATORS = set("0123456789|•·/–—-:;,()")


def _is_navigation_line(line: str) -> bool:
    """A horizontal rule, or a strip of links separated by | • · – ("[[24 March]] | '''25 March''' | [[26 March]]",
    "[[Reformation]]{{•}} [[Hansa]]") with nothing else on the line."""
    if _RULE_LINE.match(line):
        return True
    line = _SEPARATOR_TEMPLATE.sub("•", line)
    items = _NAV_ITEM.findall(line)
    rest = _NAV_FILLER.sub("", _NAV_ITEM.sub("", line))
    return len(items) >= 2 and not rest and any(separator in line for separator in _NAV_SEPARATORS)


def strip_navigation_lines(wikitext: str) -> str:
    """Wikitext without its navigation lines (horizontal rules, strips of links to neighbouring pages)."""
    return "\n".join(line for line in wikitext.split("\n") if not _is_navigation_line(line))


def _visible_length(text: str) -> int:
    return sum(not char.isspace() for char in text)


def is_navigation(wikitext: str, text: str) -> bool:
    """Whether an intro is list or navigation text rather than prose, by a measured rule, on its wikitext without
    templates and its plain `text`: at least LIST_LINE_SHARE of the non-empty lines are list items, or digits and
    separators make up at least NUMBER_SHARE of the non-space characters ("1 | 2 | 3 | ..."), or link labels at
    least LINK_SHARE ("[[Reformation]] [[Hansa]] [[Zaporozhian Sich]]")."""
    wikitext = _remove_nested(wikitext, "{{", "}}")
    lines = [line for line in wikitext.split("\n") if line.strip()]
    if lines and sum(bool(_LIST_ITEM.match(line)) for line in lines) >= LIST_LINE_SHARE * len(lines):
        return True
    visible = _visible_length(text)
    numbers = sum(char in _NUMBERS_AND_SEPARATORS for char in text)
    linked = sum(_visible_length(m.group(2) or m.group(1)) for m in _PLAIN_LINK.finditer(wikitext))
    return bool(visible) and (numbers >= NUMBER_SHARE * visible or linked >= LINK_SHARE * visible)


def media_prefix(names: dict[str, tuple[str, ...]] | None = None) -> re.Pattern:
    """The start of a media, file or category link for `namespace_names(...)` (English names when None)."""
    every = {name for values in (names or namespace_names()).values() for name in values}
    return re.compile(r"\[\[\s*(?:" + _alternatives(every) + r")\s*:", re.I)


_ENGLISH_MEDIA = media_prefix()


def wiki_to_text(wikitext: str, media: re.Pattern | None = None) -> str:
    """Plain text from wiki markup: templates {{...}}, tables {|...|}, references, comments, media and category
    links (`media`: a `media_prefix`, for a wiki's local namespace names) removed; [[target|label]] becomes label,
    [[target]] becomes target, [url label] becomes label; bold and italic quotes and HTML tags removed, entities
    decoded. Inline text templates ({{lang}}, {{convert}}, {{nowrap}}) keep their text, {{ndash}} and its kin become
    their character, and what removed templates leave behind is cleaned: empty brackets "()" "（）", separators at
    a bracket's edges, "At , Alabama".

    >>> wiki_to_text("'''Ada''' {{lang|x}}was a [[mathematician|math person]].<ref>A book</ref>")
    'Ada was a math person.'
    """
    text = _COMMENT.sub("", wikitext).replace(_GAP, "")
    text = _REF.sub("", text)
    text = _DROPPED_ELEMENTS.sub("", text)
    text = _SYMBOL_TEMPLATE.sub(lambda m: _SYMBOL_TEMPLATES[m.group(1).lower()], text)
    previous = None
    while previous != text:  # innermost first: {{lang|de|{{nowrap|x}}}}
        previous, text = text, _TEXT_TEMPLATE.sub(_text_template, text)
    text = _remove_nested(text, "{{", "}}", _GAP)
    text = _remove_nested(text, "{|", "|}")
    text = _remove_media_links(text, media or _ENGLISH_MEDIA)
    text = _INTERWIKI.sub("", text)
    text = _MAGIC_WORD.sub(lambda m: "" if m.group(1) == m.group(1).upper() else m.group(), text)
    previous = None
    while previous != text:  # innermost first: a label holding a link
        previous, text = text, _LINK.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(1), text)
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    text = _BOLD_ITALIC.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _LIST_MARKERS.sub("", text)
    text = _PARENS.sub(_clean_parens, text)
    text = _DANGLING.sub(lambda m: m.group(1) + m.group(2).upper(), text)
    text = _SPACES.sub(" ", text.replace(_GAP, ""))
    text = re.sub(r" +([,.;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," left between removed pieces
    return normalize_whitespace(text)
