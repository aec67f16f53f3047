"""What a pair source is: its catalog facts and how its raw files become text tuples.

Every source, the 2021 catalog and any miner alike, is a `Source`; registry.py knows them all by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from datasets_builders.readers import TextTuple, read_json_lines, record_texts, select_json_lines

Reader = Callable[[str], Iterator[tuple[Any, Any]]]
"""`reader(path)` yields `(location, record)`; location is a line number or any short label ("post 17");
a record that is a `RecordError` instance is a bad record (skippable); a raised `RecordError` ends the file."""

ToTexts = Callable[[Any], list[TextTuple]]
"""`to_texts(record)` returns text tuples of 2 or 3 texts, or raises `RecordError` for a bad record."""

InputSelector = Callable[[Path, list[Path]], list[Path]]
"""`select_inputs(folder, files)`: of the files found in a folder given as raw input, those the source reads, in
order; the others (a LICENSE, README or Sites.xml downloaded with the data) are skipped and listed once in the build
summary. May raise `UserError` when the folder holds nothing for this build (a parallel folder without the
requested language pair)."""


@dataclass(frozen=True)
class Link:
    """How a source links records of all its raw files (Reddit: each reply with its parent comment, wherever it is
    in the input), run on Ray Data by the builder: the reader yields each record as a dict of `fields` (str or
    None); `run(records)` takes the Ray dataset of them (columns file, seq, location and the fields) and returns
    one row per record it accounts for: file, seq (its place in the output order within the file), location,
    `filtered` (why it gave no pair, or null) and anchor, positive, negative (the texts; null when filtered, negative
    null in a pair). Each returned row counts as one record read; a record that is only looked up (a question a
    duplicate link names) or that joins another record's pair (an answer with its question) returns none. Two
    optional columns serve a record that gives several pairs (Wikipedia): `pair` (int32) numbers its rows 0, 1, ...
    (one per pair; the record is counted once, on row 0; its texts must be ones the builder's cleaning accepts,
    which its reader checks), and `not_formed` (string, on one row of the record): JSON {reason: count} of the pairs
    the source's bounds did not form around it. `read_tables(path)`, optional, reads a file faster than the reader:
    Arrow tables of records (columns location and the fields) and, between them, (location, Filtered or
    RecordError) for the records it drops, in file order, the same records as the reader's."""

    fields: tuple[str, ...]
    run: Callable[[Any], Any]
    read_tables: Callable[[str], Iterator[Any]] | None = None


@dataclass(frozen=True)
class Source:
    """A sentence-pair source: catalog facts for `data list` and the card, and how to read its raw files.

    Args:
        name: config name, `[a-z0-9_]+` (the Hub config and the `data/<name>/` folder).
        pretty_name: a human title.
        description: one or two sentences: what the anchor and the positive (and the negative) are.
        license: a Hub licence id (`cc-by-sa-4.0`, `apache-2.0`, `other`, `unknown`...).
        license_name, license_link: for `license="other"`, a short id of the real licence (`psf-2.0`) and a URL
            of its text, which the card's metadata then carries (the Hub's fields for licences not in its list).
        citation: BibTeX of the upstream data.
        homepage: the upstream page.
        raw_format: how the raw files look, in words (shown by `data list` and in the card).
        urls: downloadable raw files `reader` understands; the default input of `build_source`.
            Empty when no ready file exists (then pass local files, e.g. made by a miner).
        files_2021: `(file, pairs, weight)` of this source in the 2021 all-MiniLM-L6-v2 data_config.json.
        arity: texts per example: (2,) for a pair source (published as anchor, positive) or (3,) for a triplet
            source (anchor, positive, negative); see `datasets_builders.schema`.
        whitespace: "collapse" (every run of whitespace becomes one space) or "strip" (only the ends; code).
        language: language codes for the card.
        tags: extra card tags.
        reader: `Reader` for one raw file (default: JSON lines, plain or compressed).
        to_texts: `ToTexts` for one record (default: every JSON form of the 2021 data, see `record_texts`).
        notes: anything a user should know (where raw files come from when `urls` is empty, count differences).
        select_inputs: `InputSelector` for the files found in a folder (default: JSON-lines files, by name or
            content); a file named explicitly is always read, and is an error when it is not an input.
        link: optional `Link`: records of all the files joined or grouped on Ray Data (exact, any size).
        configure: optional; `configure(**options)` returns this source with other filter settings (a miner's
            `--min-score` ...); a `UserError` for an option the source does not take.
    """

    name: str
    pretty_name: str
    description: str
    license: str
    citation: str
    homepage: str
    raw_format: str = "JSON lines (.jsonl.gz): a list of texts per line"
    urls: tuple[str, ...] = ()
    files_2021: tuple[tuple[str, int, int], ...] = ()
    arity: tuple[int, ...] = (2,)
    whitespace: str = "collapse"
    language: tuple[str, ...] = ("en",)
    tags: tuple[str, ...] = ()
    reader: Reader = read_json_lines
    to_texts: ToTexts = record_texts
    notes: str = ""
    select_inputs: InputSelector = select_json_lines
    link: Link | None = None
    configure: Callable[..., Source] | None = None
    license_name: str = ""
    license_link: str = ""

    @property
    def pairs_2021(self) -> int:
        """Pairs of this source in the 2021 training mix (0 if it was not part of it)."""
        return sum(lines for _, lines, _ in self.files_2021)

    @property
    def weight_2021(self) -> int:
        """Sum of the 2021 integer sampling weights of this source's files."""
        return sum(weight for _, _, weight in self.files_2021)

    def facts(self) -> dict[str, Any]:
        """The JSON-serialisable catalog facts (saved with each build, so cards need no registry)."""
        return {
            "name": self.name,
            "pretty_name": self.pretty_name,
            "description": self.description,
            "license": self.license,
            "license_name": self.license_name,
            "license_link": self.license_link,
            "citation": self.citation,
            "homepage": self.homepage,
            "raw_format": self.raw_format,
            "urls": list(self.urls),
            "pairs_2021": self.pairs_2021,
            "weight_2021": self.weight_2021,
            "files_2021": len(self.files_2021),
            "arity": list(self.arity),
            "whitespace": self.whitespace,
            "language": list(self.language),
            "tags": list(self.tags),
            "notes": self.notes,
        }


def files_2021(name: str) -> tuple[tuple[str, int, int], ...]:
    """`(file, pairs, weight)` rows of one catalog source from the packaged copy of the 2021 data_config.json."""
    return tuple(tuple(row) for row in _data_config_2021()[name])


@cache
def _data_config_2021() -> dict[str, list]:
    return json.loads((Path(__file__).parent / "data_config_2021.json").read_text())
