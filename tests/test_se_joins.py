"""Stack Exchange on Ray Data: answers grouped with their questions and duplicate links joined to both questions,
exactly, per site; the same rows and counts whatever the number of partitions or the order of the inputs (and the
same as the SQLite join they replace); every record counted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_miners import answer, question, se_row, write_se_file
from test_raw_dumps import write_7z

from datasets_builders import build_source, engine, mine_stackexchange
from datasets_builders.miners import MiningStats
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


def link(link_id: int, first: int, second: int, link_type: int = 3) -> str:
    return se_row(Id=link_id, CreationDate="2016-01-01T00:00:00.000", PostId=first, RelatedPostId=second,
                  LinkTypeId=link_type)  # fmt: skip


UNIX_POSTS = [
    answer(21, 20, "<p>Use find with -mtime to pick them.</p>", score=5),  # answers before their question
    answer(22, 20, "<p>Try ls -lt piped to head.</p>", score=7),
    question(20, "Newest files in a folder", "<p>How do I see the newest files?</p>", 3, accepted=21),
    question(10, "Count the lines of a file", "<p>Which tool counts\nthe lines?</p>", 4, accepted=12),  # Id order
    answer(11, 10, "<p>wc -l counts the lines.</p>", score=9),
    answer(12, 10, "<p>The accepted one, voted down.</p>", score=0),  # accepted but filtered: the best-scored wins
    answer(13, 10, "<p>Also wc -l, same score, later.</p>", score=9),  # a tie with 11: the lower Id wins
    question(30, "Accepted Id of another question", "<p>Its AcceptedAnswerId is an answer of 20.</p>", 1, 22),
    answer(31, 30, "<p>The only answer of thirty.</p>", score=2),
    question(40, "A question nobody answered", "<p>Line one</p>\n<pre><code>a\n  b\n</code></pre>", 0),
    answer(41, 99, "<p>An answer whose question was deleted.</p>", score=4),
    question(50, "Downvoted question title", "<p>This question has a negative score.</p>", -2),
    answer(51, 50, "<p>An answer to the downvoted question.</p>", score=3),
    answer(52, 20, "<p>ok</p>", score=3),  # too short
    question(60, "Hi", "<p>A title that is too short to keep.</p>", 2),
    se_row(Id=65, PostTypeId=5, CreationDate="2015-03-01T10:00:00.000", Score=0, Body="<p>Tag wiki body</p>"),
    answer(61, 70, "<p>Answered long before the question row.</p>", score=1),
    question(70, "Asked after its answer in the file", "<p>The answer row comes first.</p>", 2, accepted=61),
]
UNIX_LINKS = [
    link(1, 70, 10), link(2, 20, 10, link_type=1), link(3, 40, 99), link(4, 50, 20), link(5, 30, 20), link(6, 10, 70),
]
UBUNTU_POSTS = [  # the same Ids as the unix site: pairs never cross sites
    answer(21, 10, "<p>Open it with the software centre.</p>", score=3),
    question(10, "Install a deb file on Ubuntu", "<p>How do I install a .deb package?</p>", 6),
    question(20, "Upgrade Ubuntu to the next release", "<p>Which command upgrades the release?</p>", 2),
    answer(11, 20, "<p>Run do-release-upgrade in a terminal.</p>", score=4),
    answer(12, 20, "<p>The update manager offers it too.</p>", score=4),
]
UBUNTU_LINKS = [link(1, 20, 10), link(2, 10, 30)]  # question 30 is a unix question, not an Ubuntu one
BROKEN_POSTS = [
    question(1, "A question before the break", "<p>This one is read before the broken row.</p>", 3),
    answer(2, 1, "<p>And its answer, read too.</p>", score=2),
    answer(2, 1, "<p>The same answer Id given twice.</p>", score=2),
    '  <row Id="4" PostTypeId="1" Title="an unclosed quote',
    question(5, "A question lost after the break", "<p>Never read: the parser stops before it.</p>", 3),
    question(6, "Another question lost after it", "<p>Never read either: it comes after the break.</p>", 3),
]
BROKEN_LINKS = [link(1, 6, 1), link(2, 1, 8)]  # 6 is lost, 8 was never there


def write_realistic(root: Path) -> Path:
    """A folder of three sites: unix (extracted), askubuntu (a .7z, the same post Ids) and one whose Posts.xml breaks
    (a duplicate Id, then malformed XML and a question lost after it)."""
    unix = root / "unix.stackexchange.com"
    write_se_file(unix / "Posts.xml", "posts", UNIX_POSTS)
    write_se_file(unix / "PostLinks.xml", "postlinks", UNIX_LINKS)
    xml = root.parent / "askubuntu_xml"
    tables = {"Posts.xml": write_se_file(xml / "Posts.xml", "posts", UBUNTU_POSTS),
              "PostLinks.xml": write_se_file(xml / "PostLinks.xml", "postlinks", UBUNTU_LINKS)}  # fmt: skip
    write_7z(root / "askubuntu.com.7z", tables)
    broken = root / "zbroken.stackexchange.com"
    write_se_file(broken / "Posts.xml", "posts", BROKEN_POSTS)
    write_se_file(broken / "PostLinks.xml", "postlinks", BROKEN_LINKS)
    return root


def title(posts: list[str], post_id: int) -> str:
    return next(row for row in posts if f'Id="{post_id}" PostTypeId="1"' in row).split('Title="')[1].split('"')[0]


T = {f"u{i}": title(UNIX_POSTS, i) for i in (10, 20, 30, 70)} | {f"b{i}": title(UBUNTU_POSTS, i) for i in (10, 20)}
EXPECTED = {
    "title_answer": [  # askubuntu, unix, zbroken (natural order of the files), each in question Id order
        (T["b10"], "Open it with the software centre."),
        (T["b20"], "Run do-release-upgrade in a terminal."),  # a tie at 4: the lower Id
        (T["u10"], "wc -l counts the lines."),  # accepted answer filtered; tie at 9: the lower Id
        (T["u20"], "Use find with -mtime to pick them."),  # the accepted one, not the best-scored
        (T["u30"], "The only answer of thirty."),  # its AcceptedAnswerId names another question's answer
        (T["u70"], "Answered long before the question row."),
        ("A question before the break", "And its answer, read too."),
    ],
    "duplicate_title_title": [  # in PostLinks order
        (T["b20"], T["b10"]), (T["u70"], T["u10"]), (T["u30"], T["u20"]), (T["u10"], T["u70"]),
    ],
}
FILTERED = {
    "title_answer": {
        "question_low_score": 1, "question_title_too_short": 1, "answer_low_score": 1, "answer_too_short": 1,
        "other_post_type": 1, "question_without_answer": 1, "answer_not_best": 3, "answer_without_question": 2,
    },
    "duplicate_title_title": {"link_not_duplicate": 1, "link_question_missing": 4, "link_question_lost": 1},
}
REJECTED = {
    "title_answer": {"duplicate_post_id": 1, "malformed_xml": 1, "lost_after_malformed_xml": 2},
    "duplicate_title_title": {"malformed_xml": 1, "lost_after_malformed_xml": 2},
}
# records: in the answer kinds each post, a question and its chosen answer being one (unix 18 posts - 4 pairs,
# askubuntu 5 - 2, zbroken 3 read - 1 + the malformed row + 2 lost); in the duplicate kinds each link (6 + 2 + 2) and
# the bad rows of Posts.xml (3)
READ = {"title_answer": 14 + 3 + 5, "duplicate_title_title": 6 + 2 + 2 + 3}


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Path:
    return write_realistic(tmp_path_factory.mktemp("se") / "dumps")


@pytest.mark.parametrize("kind", ["title_answer", "duplicate_title_title"])
@pytest.mark.parametrize("layout", ["folder", "files reversed, 3 partitions"])
def test_answers_and_duplicates_are_joined_exactly_within_each_site(sites, kind, layout, monkeypatch):
    """The same rows in the same order, and the same counts, from the folder (default partitions) and from the
    sites' files listed in reverse with 3 group-by buckets / join partitions."""
    raw = [sites]
    if layout != "folder":
        raw = [sites / "zbroken.stackexchange.com" / "Posts.xml", sites / "askubuntu.com.7z",
               sites / "unix.stackexchange.com" / "Posts.xml"]  # fmt: skip
        monkeypatch.setattr(engine, "shuffle_partitions", lambda dataset: 3)
    build = build_source(f"stackexchange_dump_{kind}", raw, on_error="skip", progress=False)
    assert [(row["anchor"], row["positive"]) for row in build.dataset] == EXPECTED[kind]
    stats = build.stats
    assert (stats.filtered, stats.rejected) == (FILTERED[kind], REJECTED[kind])
    assert stats.rows_read == READ[kind] == stats.rows_kept + stats.rows_filtered + stats.rows_rejected
    assert stats.rows_kept == stats.pairs_written == len(EXPECTED[kind])


def test_mine_stackexchange_runs_the_build_and_names_file_and_row_of_bad_input(sites):
    stats = MiningStats(on_error="skip")
    pairs = list(mine_stackexchange(sites, "title_answer", stats=stats))
    assert [(p["anchor"], p["positive"]) for p in pairs] == EXPECTED["title_answer"]
    assert stats.records == READ["title_answer"] and stats.pairs == len(EXPECTED["title_answer"])
    broken = sites / "zbroken.stackexchange.com" / "Posts.xml"
    place = re.escape(str(broken))
    with pytest.raises(UserError, match=rf"^{place}:row 3 \(Id=2\): duplicate_post_id: post Id 2 appears twice \("):
        list(mine_stackexchange(broken, "title_answer"))
    with pytest.raises(UserError, match=rf"^{place}:line 7, column 2: malformed_xml: .*after row 3: 2 rows after"):
        list(mine_stackexchange(broken, "duplicate_body_body"))


def write_site_with_links(folder: Path, questions: int) -> Path:
    """A site as extracted from its .7z: Posts.xml (questions with long bodies, one answer each) and PostLinks.xml,
    which gives the answer kinds no record."""
    body = "<p>" + "a question body of some length " * 30 + "</p>"
    posts = []
    for number in range(1, questions + 1):
        posts += [question(2 * number, f"Question number {number} about widgets", body, 3, accepted=2 * number + 1),
                  answer(2 * number + 1, 2 * number, "<p>" + "an answer of some length " * 30 + "</p>", score=2)]
    write_se_file(folder / "Posts.xml", "posts", posts)
    write_se_file(folder / "PostLinks.xml", "postlinks", [link(1, 2, 4)])
    return folder


def test_a_file_that_gives_the_answer_kinds_no_record_does_not_break_their_group_by(tmp_path):
    """PostLinks.xml beside Posts.xml (an extracted site folder, or the per-table .7z of stackoverflow.com) is read
    for the answer kinds too and gives them no record: its block of counts alone once came out of the link's first
    map without columns, and the group-by failed to concatenate it with the posts' (real sites of a few hundred
    posts; not with a handful). Only PostLinks.xml: no pair, no failure."""
    site = write_site_with_links(tmp_path / "widgets.stackexchange.com", questions=120)
    for kind in ("title_answer", "titlebody_answer"):
        build = build_source(f"stackexchange_dump_{kind}", [site], progress=False)
        assert build.stats.pairs_written == build.stats.rows_kept == build.stats.rows_read == 120
        assert [row["anchor"][:18] for row in build.dataset][:2] == ["Question number 1 ", "Question number 2 "]
    (site / "Posts.xml").unlink()
    build = build_source("stackexchange_dump_title_answer", [site], progress=False)
    assert (build.stats.rows_read, build.stats.pairs_written) == (0, 0)
