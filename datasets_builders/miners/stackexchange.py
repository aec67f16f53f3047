"""Mine StackExchange pairs from a site's data dump (Posts.xml, PostLinks.xml).

Input: the archive.org dump ships one 7z archive per site (e.g. `unix.stackexchange.com.7z`, holding Posts.xml,
PostLinks.xml, Users.xml, ...). Extract it first (`7z x unix.stackexchange.com.7z -ounix.stackexchange.com`): reading
7z needs a library outside this project's dependencies. `path` is then a Posts.xml file, one extracted site folder,
or a folder of site folders (all sites mined together, in sorted order).

Kinds (one dataset config each, named like the 2021 files):

- `title_body`: (question title, question body)
- `titlebody_answer`: (title + " " + body, the answer) and `title_answer`: (title, the answer), where the answer is
  the accepted answer when it passes the filters, else the highest-scored answer that does (ties: the oldest).
- `duplicate_title_title`, `duplicate_body_body`, `duplicate_titlebody_titlebody`: two questions joined by a
  PostLinks row with LinkTypeId=3 (duplicate), as (text of PostId, text of RelatedPostId).

Filters (defaults, all configurable): a question needs Score >= 0, an answer Score >= 1 (`min_question_score`,
`min_answer_score`); every text, after HTML is stripped, needs 10 to 8,000 characters (`min_chars`, `max_chars`).
Bodies are HTML: tags are dropped, block tags become line breaks, entities are decoded (text.html_to_text).

Memory: `title_body` streams Posts.xml once. The answer and duplicate kinds need a question when its answer or link
is read, and the best answer is only known once every answer is seen. Holding all questions in a dict would grow
with the site (stackoverflow.com has ~24M questions), so cleaned questions and answers go into an on-disk SQLite
index (stdlib sqlite3, a temporary file under `index_dir`, deleted afterwards) and the pairs come out of one SQL
query ordered by question Id. RSS stays flat (SQLite's page cache is bounded); the cost is disk about the size of
the cleaned text and roughly one extra pass worth of time.

Records and drops: in `title_body` every post is a pair or one Drop (answers: "answer_not_used_by_kind"); in the
answer kinds a pair uses two posts (question and answer) and every other post is one Drop ("answer_not_best",
"question_without_answer", "answer_without_question" for answers whose question was deleted from the dump or
filtered, the score and length filters); in the duplicate kinds the records are the PostLinks rows (a pair, or
"link_not_duplicate", "link_question_missing" when a question is deleted or filtered).

Bad input: malformed XML is reported with file, line and column; a row missing a needed attribute (Id,
PostTypeId, Score, Title, Body, ParentId; PostId, RelatedPostId, LinkTypeId) or with a non-integer number with
file, row number and post Id. Under on_error="skip" such rows are counted; a syntax error ends that file (counted
once), since XML parsing cannot resume after it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from se1b.errors import UserError

from .common import Drop, Event, MiningStats, pair
from .text import html_to_text, normalize_whitespace

KINDS = (
    "title_body",
    "titlebody_answer",
    "title_answer",
    "duplicate_title_title",
    "duplicate_body_body",
    "duplicate_titlebody_titlebody",
)
QUESTION, ANSWER = "1", "2"
DUPLICATE_LINK = "3"
MIN_QUESTION_SCORE = 0
MIN_ANSWER_SCORE = 1
MIN_CHARS = 10
MAX_CHARS = 8000


def site_files(path: str | Path) -> list[Path]:
    """The Posts.xml of each site under `path` (a Posts.xml, a site folder or a folder of sites), sorted."""
    path = Path(path)
    if path.suffix == ".7z":
        raise UserError(f"{path}: extract the 7z archive first (7z x {path.name}); see the module docstring")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path}: no such file or folder")
    posts = sorted(path.rglob("Posts.xml"))
    if not posts:
        raise UserError(f"{path}: no Posts.xml found (extract each site's 7z archive into a folder first)")
    return posts


def dump_rows(path: Path) -> Iterator[tuple[str, dict[str, str] | Drop]]:
    """(location, attributes) of each <row .../> of a dump file, streamed with iterparse in constant memory; a
    syntax error ends the file with one error Drop at its line and column."""
    number = 0
    root = None
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if root is None:
                root = elem
            if event == "end" and elem.tag == "row":
                number += 1
                yield f"row {number} (Id={elem.get('Id', '?')})", dict(elem.attrib)
                elem.clear()
                root.clear()  # drop the finished rows from the tree, else it keeps one empty element per row
    except ET.ParseError as error:
        line, column = error.position
        yield f"{line}:{column}", Drop("malformed_xml", f"malformed XML ({error})", error=True)


def _attribute(attrs: dict[str, str], name: str, integer: bool = False) -> str | int:
    value = attrs.get(name)
    if value is None:
        raise KeyError(f"missing attribute {name!r}")
    if not integer:
        return value
    try:
        return int(value)
    except ValueError:
        raise KeyError(f"attribute {name}={value!r} is not an integer") from None


def _length_drop(text: str, what: str, min_chars: int, max_chars: int) -> Drop | None:
    if len(text) < min_chars:
        return Drop(f"{what}_too_short")
    if len(text) > max_chars:
        return Drop(f"{what}_too_long")
    return None


def _posts(
    posts_path: Path,
    *,
    want_answers: bool,
    min_question_score: int,
    min_answer_score: int,
    min_chars: int,
    max_chars: int,
) -> Iterator[tuple[str, Drop | tuple]]:
    """(location, item) per post: a Drop, ("q", id, title, body, accepted id) for a kept question, or
    ("a", id, parent id, score, body) for a kept answer (only when want_answers)."""
    for location, attrs in dump_rows(posts_path):
        if isinstance(attrs, Drop):
            yield location, attrs
            continue
        post_type = attrs.get("PostTypeId")
        try:
            if post_type == QUESTION:
                post_id, score = _attribute(attrs, "Id", True), _attribute(attrs, "Score", True)
                title = normalize_whitespace(_attribute(attrs, "Title"))
                body = html_to_text(_attribute(attrs, "Body"))
                accepted = attrs.get("AcceptedAnswerId", "")
                accepted = int(accepted) if accepted.isdigit() else None
            elif post_type == ANSWER and want_answers:
                post_id, parent = _attribute(attrs, "Id", True), _attribute(attrs, "ParentId", True)
                score, body = _attribute(attrs, "Score", True), html_to_text(_attribute(attrs, "Body"))
        except KeyError as error:
            yield location, Drop("bad_row", error.args[0], error=True)
            continue
        if post_type == QUESTION:
            drop = Drop("question_low_score") if score < min_question_score else None
            drop = drop or _length_drop(title, "question_title", min_chars, max_chars)
            drop = drop or _length_drop(body, "question_body", min_chars, max_chars)
            yield location, drop or ("q", post_id, title, body, accepted)
        elif post_type == ANSWER and want_answers:
            drop = Drop("answer_low_score") if score < min_answer_score else None
            drop = drop or _length_drop(body, "answer", min_chars, max_chars)
            yield location, drop or ("a", post_id, parent, score, body)
        elif post_type == ANSWER:
            yield location, Drop("answer_not_used_by_kind")
        elif post_type is None:
            yield location, Drop("bad_row", "missing attribute 'PostTypeId'", error=True)
        else:
            yield location, Drop("other_post_type")


def _index_posts(db: sqlite3.Connection, posts_path: Path, report_filters: bool, options: dict) -> Iterator[Event]:
    """Fill the on-disk index with kept posts, passing on the Drops (filter Drops only when report_filters)."""
    db.execute("CREATE TABLE questions (id INTEGER PRIMARY KEY, title TEXT, body TEXT, accepted INTEGER)")
    db.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, parent INTEGER, score INTEGER, body TEXT)")
    for location, item in _posts(posts_path, want_answers=report_filters, **options):
        if isinstance(item, Drop):
            if item.error or report_filters:
                yield posts_path, location, item
            continue
        table = "questions" if item[0] == "q" else "answers"
        try:
            db.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", item[1:])
        except sqlite3.IntegrityError:
            yield posts_path, location, Drop("duplicate_post_id", f"post Id {item[1]} appears twice", error=True)
    db.execute("CREATE INDEX answers_by_parent ON answers (parent, score)")
    db.commit()


def _answer_pairs(db: sqlite3.Connection, posts_path: Path, kind: str) -> Iterator[Event]:
    best = """
        SELECT id, title, body, coalesce(
            (SELECT a.body FROM answers a WHERE a.id = q.accepted AND a.parent = q.id),
            (SELECT a.body FROM answers a WHERE a.parent = q.id ORDER BY a.score DESC, a.id ASC LIMIT 1))
        FROM questions q ORDER BY id"""
    answered = 0
    for question_id, title, body, answer in db.execute(best):
        location = f"question Id={question_id}"
        if answer is None:
            yield posts_path, location, Drop("question_without_answer")
            continue
        answered += 1
        yield posts_path, location, pair(title if kind == "title_answer" else f"{title} {body}", answer)
    orphans = "SELECT id FROM answers WHERE parent NOT IN (SELECT id FROM questions) ORDER BY id"
    for (answer_id,) in db.execute(orphans):
        yield posts_path, f"answer Id={answer_id}", Drop("answer_without_question")
    (with_question,) = db.execute("SELECT count(*) FROM answers WHERE parent IN (SELECT id FROM questions)").fetchone()
    for _ in range(with_question - answered):
        yield posts_path, "answers", Drop("answer_not_best")


def _duplicate_pairs(db: sqlite3.Connection, links_path: Path, kind: str) -> Iterator[Event]:
    lookup = "SELECT title, body FROM questions WHERE id = ?"
    for location, attrs in dump_rows(links_path):
        if isinstance(attrs, Drop):
            yield links_path, location, attrs
            continue
        try:
            link_type = _attribute(attrs, "LinkTypeId")
            first, second = _attribute(attrs, "PostId", True), _attribute(attrs, "RelatedPostId", True)
        except KeyError as error:
            yield links_path, location, Drop("bad_row", error.args[0], error=True)
            continue
        if link_type != DUPLICATE_LINK:
            yield links_path, location, Drop("link_not_duplicate")
            continue
        a, b = db.execute(lookup, (first,)).fetchone(), db.execute(lookup, (second,)).fetchone()
        if a is None or b is None:
            yield links_path, location, Drop("link_question_missing")
        elif kind == "duplicate_title_title":
            yield links_path, location, pair(a[0], b[0])
        elif kind == "duplicate_body_body":
            yield links_path, location, pair(a[1], b[1])
        else:
            yield links_path, location, pair(f"{a[0]} {a[1]}", f"{b[0]} {b[1]}")


def stackexchange_events(
    posts_path: Path,
    kind: str = "title_body",
    *,
    min_question_score: int = MIN_QUESTION_SCORE,
    min_answer_score: int = MIN_ANSWER_SCORE,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
    index_dir: str | Path | None = None,
) -> Iterator[Event]:
    """Events of one site (its Posts.xml, and the PostLinks.xml beside it for the duplicate kinds)."""
    if kind not in KINDS:
        raise UserError(f"unknown StackExchange kind {kind!r}; choose one of {', '.join(KINDS)}")
    options = {
        "min_question_score": min_question_score,
        "min_answer_score": min_answer_score,
        "min_chars": min_chars,
        "max_chars": max_chars,
    }
    if kind == "title_body":
        for location, item in _posts(posts_path, want_answers=False, **options):
            yield posts_path, location, item if isinstance(item, Drop) else pair(item[2], item[3])
        return
    links_path = posts_path.with_name("PostLinks.xml")
    duplicates = kind.startswith("duplicate")
    if duplicates and not links_path.is_file():
        raise UserError(f"{links_path}: not found; the duplicate kinds read PostLinks.xml next to {posts_path.name}")
    with tempfile.TemporaryDirectory(prefix="se1b-stackexchange-", dir=index_dir) as tmp:
        db = sqlite3.connect(Path(tmp) / "index.sqlite")
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            yield from _index_posts(db, posts_path, not duplicates, options)
            if duplicates:
                yield from _duplicate_pairs(db, links_path, kind)
            else:
                yield from _answer_pairs(db, posts_path, kind)
        finally:
            db.close()


def mine_stackexchange(
    path: str | Path, kind: str = "title_body", *, stats: MiningStats | None = None, **options
) -> Iterator[dict]:
    """Stream {"anchor", "positive", "negative": None} pairs of one kind from StackExchange dumps (`options`: the
    keyword arguments of `stackexchange_events`); see the module docstring for what the records are.

    >>> pairs = list(mine_stackexchange("dumps/unix.stackexchange.com", "title_answer"))  # doctest: +SKIP
    """
    stats = stats if stats is not None else MiningStats()
    for posts_path in site_files(path):
        yield from stats.pairs_of(stackexchange_events(posts_path, kind, **options))
