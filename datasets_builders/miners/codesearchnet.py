"""Mine (docstring, code) pairs from CodeSearchNet's jsonl.gz files.

Input: the CodeSearchNet release (`{language}.zip` -> `{language}/final/jsonl/{train,valid,test}/
{language}_{split}_{n}.jsonl.gz`), one JSON object per line with fields repo, path, func_name, original_string,
language, code, code_tokens, docstring, docstring_tokens, url, partition. `path` is one file or a folder (searched
recursively for *.jsonl.gz, sorted).

Pairs: (docstring, code), both whitespace-stripped at the ends only (code keeps its layout). `code` is the function
as CodeSearchNet gives it (it still contains the docstring, as in the 2021 data). Records of other languages than
`languages` (default: all six) are counted as "other_language". Empty docstrings or code, and docstrings shorter
than `min_docstring_tokens`=3 tokens (CodeSearchNet's own docstring_tokens), are counted drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from se1b.errors import UserError

from .common import Drop, Event, MiningStats, input_files, json_records, missing_field, pair

LANGUAGES = ("go", "java", "javascript", "php", "python", "ruby")
MIN_DOCSTRING_TOKENS = 3
FIELDS = {"language": str, "code": str, "docstring": str, "docstring_tokens": list}


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
            else:
                yield file, location, pair(record["docstring"].strip(), record["code"].strip())


def mine_codesearchnet(path: str | Path, *, stats: MiningStats | None = None, **options) -> Iterator[dict]:
    """Stream {"anchor": docstring, "positive": code, "negative": None} pairs from CodeSearchNet jsonl.gz files
    (`options`: the keyword arguments of `codesearchnet_events`); lines read == stats.records."""
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, ("*.jsonl.gz", "*.jsonl"), "CodeSearchNet (.jsonl.gz)")
    yield from stats.pairs_of(codesearchnet_events(files, **options))
