"""What the Space accepts from its users: size limits, text boxes split into lines, and uploaded corpora.

Every function here raises `ValueError` with a one-line message for input outside the limits; the app turns it
into a `gr.Error` so the user sees the message instead of a stack trace. Nothing is dropped silently: a corpus
file's skipped records are counted by reason and shown next to the results.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Limits keep one request small enough for a shared CPU Space (all-MiniLM-L6-v2 encodes ~400 sentences/s there).
MAX_TEXTS = 32  # texts compared in the similarity and QA tabs
MAX_TEXT_CHARS = 1000  # characters per typed text
MAX_MODELS = 3  # models compared side by side
MAX_CORPUS_TEXTS = 2000  # texts in an uploaded corpus
MAX_CORPUS_TEXT_CHARS = 2000  # characters per corpus text
MAX_UPLOAD_BYTES = 2_000_000  # size of an uploaded corpus file
CORPUS_SUFFIXES = (".txt", ".csv", ".jsonl")

DEFAULT_CORPUS_FILE = Path(__file__).with_name("default_corpus.txt")


def check_text(text: str, what: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Strip `text` and check it is non-empty and within `max_chars`; `what` names it in the message."""
    text = (text or "").strip()
    if not text:
        raise ValueError(f"{what} is empty: type some text")
    if len(text) > max_chars:
        raise ValueError(f"{what} has {len(text):,} characters; the limit is {max_chars:,}")
    return text


def split_lines(text: str, what: str, max_texts: int = MAX_TEXTS) -> list[str]:
    """One text per non-blank line of a text box, each checked against the length limit."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{what}: give at least one text, one per line")
    if len(lines) > max_texts:
        raise ValueError(f"{what}: {len(lines)} texts given; the limit is {max_texts}")
    return [check_text(line, f"{what}, line {number}") for number, line in enumerate(lines, start=1)]


def check_models(labels: str | list[str] | None) -> list[str]:
    """The chosen model label(s) as a list, at least one and at most MAX_MODELS."""
    labels = [labels] if isinstance(labels, str) else list(labels or [])
    if not labels:
        raise ValueError("choose at least one model")
    if len(labels) > MAX_MODELS:
        raise ValueError(f"{len(labels)} models chosen; compare at most {MAX_MODELS} at once")
    return labels


@dataclass
class Corpus:
    """Texts to search or cluster, where they came from, and how many records were skipped and why."""

    texts: list[str]
    source: str
    skipped: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        """One line for the user: size, origin and skipped records by reason."""
        line = f"{len(self.texts):,} texts from {self.source}"
        if self.skipped:
            line += "; skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return line


def default_corpus() -> Corpus:
    """The project's own small corpus (short sentences on a handful of topics), one text per line."""
    return read_corpus(DEFAULT_CORPUS_FILE, source="the default corpus")


def read_corpus(path: str | Path, column: str = "text", source: str | None = None) -> Corpus:
    """Read an uploaded corpus: .txt (one text per line), .csv or .jsonl (texts in `column`).

    Blank texts are skipped and counted; malformed lines, texts over the length limit and corpora over the size
    limit raise ValueError naming the file and line.
    """
    path = Path(path)
    name = source or path.name
    suffix = path.suffix.lower()
    if suffix not in CORPUS_SUFFIXES:
        raise ValueError(f"{name}: unsupported file type {suffix or '(none)'}; upload {', '.join(CORPUS_SUFFIXES)}")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(f"{name}: {size:,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    column = (column or "text").strip()
    if suffix == ".txt":
        records = _txt_records(content)
    elif suffix == ".csv":
        records = _csv_records(content, column, name)
    else:
        records = _jsonl_records(content, column, name)

    corpus = Corpus(texts=[], source=name)
    for line_number, text in records:
        if text is None:
            corpus.skipped[f"without a '{column}' field"] += 1
            continue
        text = text.strip()
        if not text:
            corpus.skipped["blank"] += 1
            continue
        if len(text) > MAX_CORPUS_TEXT_CHARS:
            limit = MAX_CORPUS_TEXT_CHARS
            raise ValueError(f"{name}, line {line_number}: text has {len(text):,} characters; the limit is {limit:,}")
        corpus.texts.append(text)
        if len(corpus.texts) > MAX_CORPUS_TEXTS:
            raise ValueError(f"{name}: more than {MAX_CORPUS_TEXTS:,} texts; the limit is {MAX_CORPUS_TEXTS:,}")
    if not corpus.texts:
        raise ValueError(f"{name}: no texts found ({corpus.describe()})")
    return corpus


def _txt_records(content: str) -> list[tuple[int, str]]:
    return list(enumerate(content.splitlines(), start=1))


def _csv_records(content: str, column: str, name: str) -> list[tuple[int, str | None]]:
    reader = csv.DictReader(io.StringIO(content))
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise ValueError(f"{name}: no column '{column}'; the columns are {reader.fieldnames or []}")
    # DictReader's line_num is the physical line just read (the header is line 1).
    return [(reader.line_num, row[column]) for row in reader]


def _jsonl_records(content: str, column: str, name: str) -> list[tuple[int, str | None]]:
    records = []
    for line_number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            records.append((line_number, ""))
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{name}, line {line_number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{name}, line {line_number}: expected a JSON object, got {type(row).__name__}")
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}, line {line_number}: field '{column}' is {type(value).__name__}, not text")
        records.append((line_number, value))
    return records
