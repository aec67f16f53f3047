"""Mine StackExchange pairs from a site's data dump (Posts.xml, PostLinks.xml).

Input: the archive.org dump ships one 7z archive per site (e.g. `unix.stackexchange.com.7z`, holding Posts.xml,
PostLinks.xml, Users.xml, ...) and stackoverflow.com as one archive per table (`stackoverflow.com-Posts.7z`,
`stackoverflow.com-PostLinks.7z`, ...). `path` is a site archive, a Posts.xml, an extracted site folder, or a folder
of any of these (all sites mined together, in natural order). Archives are read directly, streaming: the XML is
decompressed block by block into the parser (py7zr in a background thread, through a bounded queue), never
extracted to disk nor held whole in memory. An archive beside its extracted files (`site.7z` next to `site/`, or
inside the site folder) is ignored: the extracted XML is read. Other dump tables (Users, Votes, ...) are not read.

Kinds (one dataset config each, named like the 2021 files):

- `title_body`: (question title, question body)
- `titlebody_answer`: (title + " " + body, the answer) and `title_answer`: (title, the answer), where the answer is
  the accepted answer when it passes the filters, else the highest-scored answer that does (ties: the oldest).
- `duplicate_title_title`, `duplicate_body_body`, `duplicate_titlebody_titlebody`: two questions joined by a
  PostLinks row with LinkTypeId=3 (duplicate), as (text of PostId, text of RelatedPostId).

Filters (defaults, all configurable): a question needs Score >= 0, an answer Score >= 1 (`min_question_score`,
`min_answer_score`); every text, after HTML is stripped, needs 10 to 8,000 characters (`min_chars`, `max_chars`).
Bodies are HTML: tags are dropped, block tags become line breaks, entities are decoded (text.html_to_text). The
notice Stack Exchange puts at the top of a question closed as a duplicate ("Possible Duplicate: <title of the other
question>", later "This question already has answers here: <title>") is removed first: it is not the asker's
text, and in the duplicate kinds it would put the positive's title into the anchor.

Pairing (on Ray Data, exact): `title_body` is one post per pair, streamed. The answer and duplicate kinds need a
question when its answer or link is read, and the best answer is only known once every answer is seen: the reader
yields each kept question, answer and duplicate link as a record (`stackexchange_events`), one Ray task per site,
and the builder pairs them through Ray's shuffle, which spills to disk (stackoverflow.com has ~24M questions):
answers grouped with their question by (site, question Id) (`link_answers`), each duplicate link joined to both
its questions (`link_duplicates`). A site never meets another (post Ids are per site). Pairs come out in question
Id order (answers) or PostLinks order (duplicates), whatever the number of workers or the order of the files. The
reader keeps one bitmap of the post Ids it has read per table (stackoverflow.com's: 10 MB) to report an Id given
twice. `datasets_builders.mine_stackexchange(path, kind)` runs that build and yields its pairs.

Records and drops: in `title_body` every post is a pair or one Drop (answers: "answer_not_used_by_kind"); in the
answer kinds a pair uses two posts (question and answer: one record) and every other post is one Drop
("answer_not_best", "question_without_answer", "answer_without_question" for answers whose question was deleted
from the dump or filtered, the score and length filters); in the duplicate kinds the records are the PostLinks rows
(a pair, or "link_not_duplicate", "link_question_missing" when a question is deleted or filtered).

Bad input: malformed XML is reported with file, line and column; a row missing a needed attribute (Id,
PostTypeId, Score, Title, Body, ParentId; PostId, RelatedPostId, LinkTypeId) or with a non-integer number with
file, row number and post Id; invalid UTF-8 as "not_utf8" at its line. A file whose root element is not <posts>
(<postlinks>) is not a dump file: an error naming it. Under on_error="skip" bad rows are counted; a syntax error
ends that file, since XML parsing cannot resume after it: the error says at which line the file stopped, and every
row after it is counted as "lost_after_malformed_xml" (found by a scan of the rest of the file for `<row`); links
to a question lost that way are "link_question_lost", not "link_question_missing".
"""

from __future__ import annotations

import queue
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datasets_builders import engine
from se1b.errors import UserError

from .common import (
    BrokenInput,
    DecodedFile,
    Drop,
    Event,
    compression_of,
    decoded_blocks,
    natural_key,
    pair,
)
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


DUMP_TABLES = ("Posts", "PostLinks", "PostHistory", "Comments", "Users", "Votes", "Badges", "Tags")
_QUEUED_BLOCKS = 8  # decompressed blocks in flight between the 7z thread and the parser: the memory bound


@dataclass(frozen=True)
class DumpFile:
    """One XML table of a site dump: an extracted file (`member` None) or a member of a .7z archive."""

    path: Path
    member: str | None = None

    def __str__(self) -> str:
        return str(self.path) if self.member is None else f"{self.path}/{self.member}"

    def blocks(self) -> Iterator[bytes]:
        return decoded_blocks(self.path) if self.member is None else _archive_blocks(self.path, self.member)


@dataclass(frozen=True)
class Site:
    """A site to mine: its Posts table and, when the dump has one, its PostLinks table."""

    posts: DumpFile
    links: DumpFile | None


def _archive_blocks(archive: Path, member: str) -> Iterator[bytes]:
    """The decompressed bytes of one member of a .7z archive, streamed: py7zr decompresses in a background thread
    into a writer that hands each block through a bounded queue, so memory holds a few blocks, not the file.

    py7zr is the pure-Python 7z reader (LZMA/LZMA2, BCJ, PPMd, ...) on PyPI: the Stack Exchange dumps are .7z
    only, and reading them in place saves a user the `7z x` step and the disk for the extracted XML (stackoverflow's
    Posts.xml is ~100 GB)."""
    import py7zr
    import py7zr.io

    blocks: queue.Queue = queue.Queue(maxsize=_QUEUED_BLOCKS)
    stop = threading.Event()

    class Stopped(Exception):
        pass

    class Writer(py7zr.io.Py7zIO):
        def write(self, data: bytes | bytearray) -> int:
            while not stop.is_set():
                try:
                    blocks.put(bytes(data), timeout=0.1)
                    return len(data)
                except queue.Full:
                    continue
            raise Stopped

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return 0

    class Factory(py7zr.io.WriterFactory):
        def create(self, filename: str) -> py7zr.io.Py7zIO:
            return Writer()

    def extract() -> None:
        try:
            with py7zr.SevenZipFile(archive) as seven:
                seven.extract(targets=[member], factory=Factory())
            outcome: object = None
        except Stopped:
            return
        except Exception as error:  # a damaged archive: py7zr's own exception types vary by codec
            outcome = error
        while not stop.is_set():
            try:
                blocks.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=extract, name=f"7z {archive.name}", daemon=True)
    thread.start()
    try:
        while (block := blocks.get()) is not None:
            if isinstance(block, Exception):
                raise BrokenInput("corrupt_file", "", f"cannot read {member} from the 7z archive ({block})")
            yield block
    finally:
        stop.set()
        thread.join()


def _archive_members(archive: Path) -> list[str]:
    import py7zr

    try:
        with py7zr.SevenZipFile(archive) as seven:
            return seven.getnames()
    except Exception as error:  # not a 7z file, or a damaged header
        raise UserError(f"{archive}: corrupt_file: cannot open the 7z archive ({error})") from None


def _table_of(name: str) -> tuple[str, str] | None:
    """("stackoverflow.com", "Posts") for `stackoverflow.com-Posts.7z`, the per-table archives of the big sites."""
    stem = name.removesuffix(".7z")
    site, _, table = stem.rpartition("-")
    return (site, table) if site and table in DUMP_TABLES else None


def extracted_beside(archive: Path) -> bool:
    """Whether the files of `archive` are there extracted too: `site/Posts.xml` beside `site.7z`, or Posts.xml in
    the archive's own folder."""
    site = _table_of(archive.name)[0] if _table_of(archive.name) else archive.name.removesuffix(".7z")
    return (archive.parent / site / "Posts.xml").is_file() or (archive.parent / "Posts.xml").is_file()


def archive_site(archive: Path) -> Site | None:
    """The site of a .7z archive; None for a table archive that is not Posts (read with its site's Posts)."""
    table = _table_of(archive.name)
    if table:
        site, name = table
        if name != "Posts":
            return None
        links = archive.with_name(f"{site}-PostLinks.7z")
        return Site(DumpFile(archive, "Posts.xml"), DumpFile(links, "PostLinks.xml") if links.is_file() else None)
    members = _archive_members(archive)
    posts = next((m for m in members if Path(m).name == "Posts.xml"), None)
    if posts is None:
        raise UserError(
            f"{archive}: not_a_dump: no Posts.xml in this 7z archive (a Stack Exchange site archive holds Posts.xml, "
            "PostLinks.xml, Users.xml, ...)"
        )
    links = next((m for m in members if Path(m).name == "PostLinks.xml"), None)
    return Site(DumpFile(archive, posts), DumpFile(archive, links) if links else None)


def xml_site(posts: Path) -> Site:
    links = posts.with_name("PostLinks.xml")
    return Site(DumpFile(posts), DumpFile(links) if links.is_file() else None)


def site_files(path: str | Path) -> list[Site]:
    """The sites under `path` (a site archive, a Posts.xml, a site folder or a folder of sites), in natural order;
    archives beside their extracted files are left out."""
    path = Path(path)
    if path.is_file():
        if compression_of(path) == "7z":
            site = archive_site(path)
            if site is None:
                raise UserError(f"{path}: not_a_dump: read with its site's -Posts.7z archive, not on its own")
            return [site]
        return [xml_site(path)]
    if not path.is_dir():
        raise UserError(f"{path}: no such file or folder")
    sites = [xml_site(posts) for posts in path.rglob("Posts.xml")]
    for archive in path.rglob("*.7z"):
        if not extracted_beside(archive) and (site := archive_site(archive)) is not None:
            sites.append(site)
    if not sites:
        raise UserError(f"{path}: no Stack Exchange site found (looked for *.7z site archives and Posts.xml)")
    return sorted(sites, key=lambda site: natural_key(site.posts.path))


_ROW = re.compile(rb"<row\b[^>]*?\bId=\"(\d+)\"[^>]*?>")


def _rows_after(file: DumpFile, line: int, column: int, lost_questions=None) -> int:
    """Rows from where XML parsing stopped (line, column) to the end of a dump table (one row per line), found by a
    plain scan for `<row`; the Ids of lost questions go into `lost_questions`."""
    rows = 0
    current = 1  # the line the next data starts on
    tail = b""
    try:
        for block in file.blocks():
            data = tail + block
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
            start = 0
            while current < line and (newline := data.find(b"\n", start)) >= 0:
                start, current = newline + 1, current + 1
            if current < line:
                continue
            if current == line:  # the stop is on this line: rows from its column on were not read
                start, current = start + column, current + 1
            for match in _ROW.finditer(data, start):
                rows += 1
                if lost_questions is not None and b'PostTypeId="1"' in match.group(0):
                    lost_questions.add(int(match.group(1)))
    except BrokenInput:
        pass  # a damaged stream is reported where the parser met it
    return rows


def dump_rows(
    file: DumpFile, root_tag: str, lost_questions: set[int] | None = None
) -> Iterator[tuple[str, dict[str, str] | Drop]]:
    """(location, attributes) of each <row .../> of a dump table, streamed with iterparse in constant memory. A
    syntax error ends the file with one error Drop saying where it stopped, then one "lost_after_malformed_xml"
    Drop per row after it; invalid UTF-8 or a broken stream end it with one error Drop."""
    number = 0
    root = None
    try:
        for event, elem in ET.iterparse(DecodedFile(file.blocks()), events=("start", "end")):
            if root is None:
                root = elem
                if elem.tag != root_tag:
                    raise UserError(
                        f"{file}: not_a_dump: the root element is <{elem.tag}>, expected <{root_tag}> (the "
                        f"{root_tag.capitalize()} table of a Stack Exchange site dump)"
                    )
            if event == "end" and elem.tag == "row":
                number += 1
                yield f"row {number} (Id={elem.get('Id', '?')})", dict(elem.attrib)
                elem.clear()
                root.clear()  # drop the finished rows from the tree, else it keeps one empty element per row
    except ET.ParseError as error:
        if root is None:
            expected = f"expected the {root_tag} table of a Stack Exchange site dump"
            raise UserError(f"{file}: not_a_dump: not XML ({error}): {expected}") from None
        line, column = error.position
        lost = _rows_after(file, line, column, lost_questions)
        message = f"malformed XML ({error}); the file stops here, after row {number}: {lost:,} rows after it are lost"
        yield f"line {line}, column {column}", Drop("malformed_xml", message, error=True)
        for _ in range(lost):
            yield f"after line {line}", Drop("lost_after_malformed_xml", f"a row after line {line}", error=True)
    except BrokenInput as broken:
        yield broken.location, Drop(broken.reason, f"{broken.message}, after row {number}", error=True)


# The notice Stack Exchange puts above the body of a question closed as a duplicate, in its successive forms.
_NOTICE = r"(?:Possible Duplicates?:|This question already has (?:an )?answers? here|Exact Duplicates?:)"
_NOTICE_BLOCK = re.compile(
    r"^\s*<blockquote>(?:(?!</blockquote>).){0,300}?" + _NOTICE + r".*?</blockquote>", re.S
)
_NOTICE_PARAGRAPH = re.compile(r"^\s*<p>\s*(?:<strong>)?\s*" + _NOTICE + r".*?</p>", re.S)


def strip_duplicate_notice(body: str) -> str:
    """A question body (HTML) without the duplicate notice at its top, if it has one."""
    return _NOTICE_PARAGRAPH.sub("", _NOTICE_BLOCK.sub("", body, count=1), count=1)


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
    posts: DumpFile,
    *,
    want_answers: bool,
    lost_questions=None,
    min_question_score: int,
    min_answer_score: int,
    min_chars: int,
    max_chars: int,
) -> Iterator[tuple[str, Drop | tuple]]:
    """(location, item) per post: a Drop, ("q", id, title, body, accepted id) for a kept question, or
    ("a", id, parent id, score, body) for a kept answer (only when want_answers)."""
    for location, attrs in dump_rows(posts, "posts", lost_questions):
        if isinstance(attrs, Drop):
            yield location, attrs
            continue
        post_type = attrs.get("PostTypeId")
        try:
            if post_type == QUESTION:
                post_id, score = _attribute(attrs, "Id", True), _attribute(attrs, "Score", True)
                title = normalize_whitespace(_attribute(attrs, "Title"))
                body = html_to_text(strip_duplicate_notice(_attribute(attrs, "Body")))
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


RECORD_FIELDS = ("table", "id", "parent", "accepted", "score", "title", "body", "related")
_BITMAP_IDS = 2**28  # Ids below this are marked in a bitmap (32 MB at most); the rare Id above it in a set


class _PostIds:
    """A set of post Ids of one table of one file: a bitmap grown to the largest Id seen (Stack Exchange Ids are
    dense database keys; stackoverflow.com's ~80 million take 10 MB), a set for the rare Id beyond 2**28."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.large: set[int] = set()

    def add(self, post_id: int) -> bool:
        """Add an Id; False when it was already there."""
        if not 0 <= post_id < _BITMAP_IDS:
            new = post_id not in self.large
            self.large.add(post_id)
            return new
        byte, mask = post_id >> 3, 1 << (post_id & 7)
        if byte >= len(self.bits):
            self.bits.extend(bytes(min(max(byte + 1, 2 * len(self.bits)), _BITMAP_IDS >> 3) - len(self.bits)))
        if self.bits[byte] & mask:
            return False
        self.bits[byte] |= mask
        return True

    def __iter__(self) -> Iterator[int]:
        """The Ids, ascending."""
        for byte, bits in enumerate(self.bits):
            if bits:
                yield from ((byte << 3) + bit for bit in range(8) if bits >> bit & 1)
        yield from sorted(self.large)


def _record(table: str, post_id: int, **values: object) -> dict[str, str | None]:
    """One record of a linked kind: the `RECORD_FIELDS` as text (null when unset)."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(table=table, id=str(post_id))
    record.update({name: None if value is None else str(value) for name, value in values.items()})
    return record


def _link_records(links: DumpFile) -> Iterator[Event]:
    """A record per duplicate link of PostLinks.xml (id: PostId, related: RelatedPostId); Drops for the others."""
    for location, attrs in dump_rows(links, "postlinks"):
        if isinstance(attrs, Drop):
            yield links, location, attrs
            continue
        try:
            link_type = _attribute(attrs, "LinkTypeId")
            first, second = _attribute(attrs, "PostId", True), _attribute(attrs, "RelatedPostId", True)
        except KeyError as error:
            yield links, location, Drop("bad_row", error.args[0], error=True)
            continue
        if link_type != DUPLICATE_LINK:
            yield links, location, Drop("link_not_duplicate")
        else:
            yield links, location, _record("link", first, related=second)


def stackexchange_events(
    site: Site | Path,
    kind: str = "title_body",
    *,
    min_question_score: int = MIN_QUESTION_SCORE,
    min_answer_score: int = MIN_ANSWER_SCORE,
    min_chars: int = MIN_CHARS,
    max_chars: int = MAX_CHARS,
) -> Iterator[Event]:
    """Events of one site (`site_files`' Site, or a Posts.xml path), in file order. `title_body`: a pair or a Drop
    per post. The answer kinds: a record (`RECORD_FIELDS`) per kept question and answer, a Drop per other post. The
    duplicate kinds: a record per kept question (a lookup, not counted), per question lost after a syntax error
    ("lost", a lookup) and per duplicate link of PostLinks.xml, and the error Drops of Posts.xml and the Drops of
    PostLinks.xml. `link_answers` and `link_duplicates` pair the records on Ray Data."""
    site = site if isinstance(site, Site) else xml_site(Path(site))
    posts_path = site.posts
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
    duplicates = kind.startswith("duplicate")
    if duplicates and site.links is None:
        raise UserError(f"{posts_path}: PostLinks.xml not found: the duplicate kinds read the site's PostLinks table")
    questions, answers = _PostIds(), _PostIds()
    lost = _PostIds() if duplicates else None
    for location, item in _posts(posts_path, want_answers=not duplicates, lost_questions=lost, **options):
        if isinstance(item, Drop):
            if item.error or not duplicates:  # in the duplicate kinds the records are the links, not the posts
                yield posts_path, location, item
        elif not (questions if item[0] == "q" else answers).add(item[1]):
            yield posts_path, location, Drop("duplicate_post_id", f"post Id {item[1]} appears twice", error=True)
        elif item[0] == "q":
            _, post_id, title, body, accepted = item
            yield posts_path, location, _record("question", post_id, accepted=accepted, title=title, body=body)
        else:
            _, post_id, parent, score, body = item
            yield posts_path, location, _record("answer", post_id, parent=parent, score=score, body=body)
    if duplicates:
        for post_id in lost:
            if questions.add(post_id):  # a question read before the break is not lost
                yield posts_path, f"lost question Id={post_id}", _record("lost", post_id)
        yield from _link_records(site.links)


# --- the pairing on Ray Data: vectorised over Arrow tables ------------------------------------------------------

_OUTCOME = pa.schema([
    ("file", pa.int32()), ("seq", pa.int64()), ("location", pa.string()), ("filtered", pa.string()),
    ("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string()),
])  # fmt: skip


def link_answers(records, kind: str):
    """The outcome of the answer kinds' records (see `Link`): every question with its answers, grouped on Ray Data by
    (file, question Id) (a file is one site: Ids never meet across sites). A question gives the pair (title or title
    + body, answer) with the accepted answer when it passed the filters, else the best-scored (ties: the lowest Id),
    or "question_without_answer"; the other answers are "answer_not_best", or "answer_without_question" when their
    question is not among the kept ones; the chosen answer is part of its question's pair (no row of its own). A
    pair's place is (file, question Id): pairs come out in question Id order, whatever the order of the file.

    The group-by key is a bucket of question Ids (one per 64 MiB of input, `engine.shuffle_partitions`): each group
    is a whole bucket, paired in one vectorised call, and the outcome does not depend on how many buckets there are.
    """
    buckets = engine.shuffle_partitions(records)
    keyed = records.map_batches(_with_question, fn_kwargs={"buckets": buckets}, batch_format="pyarrow")
    return keyed.groupby("bucket", num_partitions=buckets).map_groups(
        _answer_outcomes, fn_kwargs={"kind": kind}, batch_format="pyarrow"
    )


def _with_question(table: pa.Table, buckets: int) -> pa.Table:
    """The question Id of each record (its own Id for a question, its parent's for an answer) and its bucket."""
    is_answer = pc.equal(table["table"], "answer")
    question = pc.cast(pc.if_else(is_answer, table["parent"], table["id"]), pa.int64())
    bucket = pa.array(question.to_numpy() % buckets) if table.num_rows else pa.array([], pa.int64())
    return table.append_column("question", question).append_column("bucket", bucket)


def _first_of_runs(table: pa.Table, keys: list[str]) -> np.ndarray:
    """True at the first row of each run of equal `keys` in a sorted table."""
    first = np.ones(table.num_rows, dtype=bool)
    if table.num_rows > 1:
        changed = np.zeros(table.num_rows - 1, dtype=bool)
        for key in keys:
            values = table[key].to_numpy()
            changed |= values[1:] != values[:-1]
        first[1:] = changed
    return first


def _outcomes(table: pa.Table, seq, filtered, anchor=None, positive=None) -> pa.Table:
    nulls = pa.nulls(table.num_rows, pa.string())
    filtered = pa.array([filtered] * table.num_rows, pa.string()) if isinstance(filtered, str) else filtered
    columns = [table["file"], seq, table["location"], filtered, nulls if anchor is None else anchor]
    return pa.table([*columns, nulls if positive is None else positive, nulls], schema=_OUTCOME)


def _answer_outcomes(group: pa.Table, kind: str) -> pa.Table:
    is_question = pc.equal(group["table"], "question")
    questions, answers = group.filter(is_question), group.filter(pc.invert(is_question))
    asked = pa.table({
        "file": questions["file"], "question": questions["question"],
        "accepted": pc.cast(questions["accepted"], pa.int64()),
        "asked": pa.array([True] * questions.num_rows, pa.bool_()),
    })  # fmt: skip
    answers = answers.select(["file", "seq", "location", "question", "id", "score", "body"])
    answers = answers.join(asked, keys=["file", "question"], join_type="left outer")
    has_question = pc.fill_null(answers["asked"], False)
    orphans, answers = answers.filter(pc.invert(has_question)), answers.filter(has_question)
    answer_id = pc.cast(answers["id"], pa.int64())
    accepted = pc.cast(pc.fill_null(pc.equal(answer_id, answers["accepted"]), False), pa.int8())
    score = pc.cast(answers["score"], pa.int64())
    ranked = answers.append_column("is_accepted", accepted).append_column("rank_score", score)
    ranked = ranked.append_column("answer_id", answer_id).sort_by([
        ("file", "ascending"), ("question", "ascending"), ("is_accepted", "descending"), ("rank_score", "descending"),
        ("answer_id", "ascending"),
    ])  # fmt: skip
    first = pa.array(_first_of_runs(ranked, ["file", "question"]))
    chosen = ranked.filter(first).select(["file", "question", "body"]).rename_columns(["file", "question", "answer"])
    not_best = ranked.filter(pc.invert(first))
    paired = questions.join(chosen, keys=["file", "question"], join_type="left outer")
    answered = pc.is_valid(paired["answer"])
    title = paired["title"]
    anchor = title if kind == "title_answer" else pc.binary_join_element_wise(title, paired["body"], " ")
    nulls = pa.nulls(paired.num_rows, pa.string())
    no_reason = pa.scalar(None, pa.string())
    return pa.concat_tables([
        _outcomes(paired, paired["question"], pc.if_else(answered, no_reason, "question_without_answer"),
                  pc.if_else(answered, anchor, nulls), paired["answer"]),
        _outcomes(not_best, not_best["seq"], "answer_not_best"),
        _outcomes(orphans, orphans["seq"], "answer_without_question"),
    ])  # fmt: skip


def link_duplicates(records, kind: str):
    """The outcome of the duplicate kinds' records (see `Link`): each duplicate link joined on Ray Data to its two
    questions by (file, Id) (a file is one site), two left outer hash joins. A link gives the pair of the kind's texts
    of (PostId, RelatedPostId), or "link_question_lost" when a question it names was lost after a syntax error, else
    "link_question_missing" when one is not a kept question (deleted from the dump, or filtered). Questions are
    lookups, not records: no row of their own."""
    partitions = engine.shuffle_partitions(records)
    links = records.map_batches(_link_rows, batch_format="pyarrow")
    for side in ("first", "second"):
        questions = records.map_batches(_question_side, fn_kwargs={"side": side}, batch_format="pyarrow")
        links = links.join(questions, join_type="left_outer", num_partitions=partitions, on=("file", side))
    return links.map_batches(_duplicate_outcomes, fn_kwargs={"kind": kind}, batch_format="pyarrow")


def _link_rows(table: pa.Table) -> pa.Table:
    links = table.filter(pc.equal(table["table"], "link"))
    first, second = pc.cast(links["id"], pa.int64()), pc.cast(links["related"], pa.int64())
    return links.select(["file", "seq", "location"]).append_column("first", first).append_column("second", second)


def _question_side(table: pa.Table, side: str) -> pa.Table:
    """The questions (and lost question Ids) as the `side` of a link: file, Id, state ("question" or "lost"), texts."""
    rows = table.filter(pc.is_in(table["table"], pa.array(["question", "lost"])))
    return pa.table({
        "file": rows["file"], side: pc.cast(rows["id"], pa.int64()), f"{side}_state": rows["table"],
        f"{side}_title": rows["title"], f"{side}_body": rows["body"],
    })  # fmt: skip


def _duplicate_outcomes(table: pa.Table, kind: str) -> pa.Table:
    def lost(side: str) -> pa.ChunkedArray:
        return pc.equal(pc.fill_null(table[f"{side}_state"], ""), "lost")

    def text(side: str) -> pa.ChunkedArray:
        title, body = (pc.cast(table[f"{side}_{name}"], pa.string()) for name in ("title", "body"))  # join: large
        if kind == "duplicate_title_title":
            return title
        return body if kind == "duplicate_body_body" else pc.binary_join_element_wise(title, body, " ")

    missing = pc.or_(pc.is_null(table["first_state"]), pc.is_null(table["second_state"]))
    no_reason = pa.scalar(None, pa.string())
    filtered = pc.if_else(
        pc.or_(lost("first"), lost("second")), "link_question_lost",
        pc.if_else(missing, "link_question_missing", no_reason),
    )  # fmt: skip
    paired = pc.is_null(filtered)
    nulls = pa.nulls(table.num_rows, pa.string())
    anchor, positive = pc.if_else(paired, text("first"), nulls), pc.if_else(paired, text("second"), nulls)
    return _outcomes(table, table["seq"], filtered, anchor, positive)
