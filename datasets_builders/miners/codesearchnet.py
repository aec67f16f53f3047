"""Mine (docstring, code) pairs from CodeSearchNet's jsonl.gz files.

Input: the CodeSearchNet release (`{language}.zip` -> `{language}/final/jsonl/{train,valid,test}/
{language}_{split}_{n}.jsonl.gz`), one JSON object per line with fields repo, path, func_name, original_string,
language, code, code_tokens, docstring, docstring_tokens, url, partition. `path` is one file or a folder (searched
recursively for *.jsonl.gz, sorted).

Pairs: (docstring text, code), both whitespace-stripped at the ends only (code keeps its layout). CodeSearchNet keeps
each docstring as written in the source, so the text is cleaned first (`docstring_text`): comment markers (Go `//`,
Java/JavaScript/PHP `/** ... */` and the `*` starting each line, Ruby `#`) and Javadoc/JSDoc HTML (`<p>`,
`<img src=...>`, `<code>`; entities decoded) and inline tags (`{@code x}`, `{@link Y}` -> their text) are removed.
`code` is the function as CodeSearchNet gives it (it still contains the docstring, as in the 2021 data). Records of
other languages than `languages` (default: all six) are counted as "other_language". Empty docstrings (before or
after cleaning) or code, and docstrings shorter than `min_docstring_tokens`=3 tokens (CodeSearchNet's own
docstring_tokens), are counted drops.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from se1b.errors import UserError

from .common import Drop, Event, MiningStats, input_files, json_records, missing_field, pair

LANGUAGES = ("go", "java", "javascript", "php", "python", "ruby")
MIN_DOCSTRING_TOKENS = 3
FIELDS = {"language": str, "code": str, "docstring": str, "docstring_tokens": list}
_COMMENT_MARKERS = {  # what starts a comment line in each language's docstrings, as CodeSearchNet keeps them
    "go": re.compile(r"^\s*(?://+ ?|/\*+|\*+/\s*$|\* ?)"),
    "java": re.compile(r"^\s*(?:/\*+|\*+/\s*$|\* ?)"),
    "javascript": re.compile(r"^\s*(?:/\*+|\*+/\s*$|\* ?|//+ ?)"),
    "php": re.compile(r"^\s*(?:/\*+|\*+/\s*$|\* ?|//+ ?)"),
    "ruby": re.compile(r"^\s*#+ ?"),
}
_COMMENT_END = re.compile(r"\s*\*+/\s*$")
_DOC_HTML = re.compile(
    r"</?(?:p|a|b|i|u|s|em|strong|code|pre|tt|kbd|var|samp|cite|br|hr|ul|ol|li|dl|dt|dd|img|table|thead|tbody|tr|"
    r"td|th|caption|h[1-6]|blockquote|div|span|sup|sub|small|big|font|center)\b[^<>]*>",
    re.I,
)
_INLINE_TAG = re.compile(r"\{@(?:code|link|linkplain|literal|value)\s+([^{}]*)\}")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


def codesearchnet_events(
    files: list[Path], *, languages: tuple[str, ...] = LANGUAGES, min_docstring_tokens: int = MIN_DOCSTRING_TOKENS
) -> Iterator[Event]:
    """Events of CodeSearchNet jsonl(.gz) files: each line is one pair or one Drop."""
    unknown = set(languages) - set(LANGUAGES)
    if unknown:
        raise UserError(f"unknown CodeSearchNet language(s) {sorted(unknown)}; choose from {', '.join(LANGUAGES)}")
    for file in files:
        for _, location, record in json_records(file):
            if isinstance(record, Drop):
                yield file, location, record
            elif problem := missing_field(record, FIELDS):
                yield file, location, problem
            elif record["language"] not in languages:
                yield file, location, Drop("other_language")
            elif not record["docstring"].strip():
                yield file, location, Drop("empty_docstring")
            elif not record["code"].strip():
                yield file, location, Drop("empty_code")
            elif len(record["docstring_tokens"]) < min_docstring_tokens:
                yield file, location, Drop("docstring_too_short")
            elif not (text := docstring_text(record["docstring"], record["language"])):
                yield file, location, Drop("empty_docstring")
            else:
                yield file, location, pair(text, record["code"].strip())


def docstring_text(docstring: str, language: str) -> str:
    """The text of a docstring as CodeSearchNet keeps it: comment markers, Javadoc/JSDoc HTML and inline tags
    removed, entities decoded, each line stripped (Python docstrings are text already: only stripped).

    >>> docstring_text("/**\n * Returns the <b>first</b> {@code Item}.\n * <p>Never null.\n */", "java")
    'Returns the first Item.\nNever null.'
    """
    marker = _COMMENT_MARKERS.get(language)
    if marker is None:
        return docstring.strip()
    lines = [_COMMENT_END.sub("", marker.sub("", line)).strip() for line in docstring.split("\n")]
    text = "\n".join(lines)
    previous = None
    while previous != text:  # innermost first: {@link {@code X}}
        previous, text = text, _INLINE_TAG.sub(r"\1", text)
    text = html.unescape(_DOC_HTML.sub(lambda m: "\n" if m.group().lower().startswith(("<p", "<br")) else "", text))
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n", text).strip()


def mine_codesearchnet(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Stream {"anchor": docstring, "positive": code, "negative": None} pairs from CodeSearchNet jsonl.gz files
    (`options`: the keyword arguments of `codesearchnet_events`); lines read == stats.records."""
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, ("*.jsonl.gz", "*.jsonl"), "CodeSearchNet (.jsonl.gz)")
    yield from stats.pairs_of(codesearchnet_events(files, **options))
