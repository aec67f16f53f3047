"""Miners: raw fixtures in each upstream format (written here) -> the expected pairs, counted drops, clear errors,
and the builder round trip (build -> publish -> load_dataset, regular and streaming)."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import datasets
import pytest
import zstandard

from datasets_builders import build_source, get_source, mine_nli, mine_reddit, mine_stackexchange, mine_wikipedia
from datasets_builders.miners import (
    MiningStats,
    mine_codesearchnet,
    stackexchange,
)
from datasets_builders.miners.text import html_to_text, wiki_categories, wiki_intro, wiki_to_text
from datasets_builders.publishing import publish
from se1b.cli import main as se1b
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

# --- StackExchange ----------------------------------------------------------------------------------------------


def se_row(**attrs: object) -> str:
    return "  <row " + " ".join(f"{key}={quoteattr(str(value))}" for key, value in attrs.items()) + " />"


def write_se_file(path: Path, root: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + f"<{root}>\n" + "\n".join(rows) + f"\n</{root}>\n")
    return path


def question(post_id: int, title: str, body: str, score: int = 5, accepted: int | None = None) -> str:
    extra = {"AcceptedAnswerId": accepted} if accepted else {}
    return se_row(
        Id=post_id, PostTypeId=1, **extra, CreationDate="2015-03-01T10:00:00.000", Score=score, ViewCount=120,
        Body=body, OwnerUserId=7, LastActivityDate="2015-03-02T10:00:00.000", Title=title,
        Tags="<bash><ls>", AnswerCount=2, CommentCount=0, ContentLicense="CC BY-SA 3.0",
    )  # fmt: skip


def answer(post_id: int, parent: int, body: str, score: int = 3) -> str:
    return se_row(
        Id=post_id, PostTypeId=2, ParentId=parent, CreationDate="2015-03-01T11:00:00.000", Score=score,
        Body=body, OwnerUserId=8, CommentCount=0, ContentLicense="CC BY-SA 3.0",
    )  # fmt: skip


SE_POSTS = [
    question(
        1, "How do I list hidden files?", "<p>Which flag of <code>ls</code> shows &amp; lists dot files?</p>", 12, 3
    ),
    answer(2, 1, "<p>Use <code>ls -a</code>, it shows everything.</p>", score=30),  # best-scored, not accepted
    answer(3, 1, "<p>The accepted answer: <b>ls -A</b> skips . and ..</p>", score=4),
    question(4, "Show dotfiles with ls", "<p>How can ls print the files that start with a dot?</p>", 2),
    answer(5, 4, "<p>Too low</p>", score=0),  # below min answer score
    answer(6, 4, "<p>Pass -a to ls to include dot files.</p>", score=2),
    answer(7, 4, "<p>Also -a, but with fewer votes here.</p>", score=1),
    question(8, "Downvoted question title", "<p>This question has a negative score.</p>", -3),
    answer(9, 8, "<p>An answer to a downvoted question.</p>", score=5),
    answer(10, 99, "<p>An answer whose question was deleted.</p>", score=5),
    se_row(Id=11, PostTypeId=4, CreationDate="2015-03-01T10:00:00.000", Score=0, Body="<p>Tag wiki excerpt</p>"),
    question(12, "Unanswered question here", "<p>Nobody answered this question yet.</p>", 1),
]
SE_LINKS = [
    se_row(Id=1, CreationDate="2016-01-01T00:00:00.000", PostId=4, RelatedPostId=1, LinkTypeId=3),
    se_row(Id=2, CreationDate="2016-01-01T00:00:00.000", PostId=12, RelatedPostId=4, LinkTypeId=1),  # linked only
    se_row(Id=3, CreationDate="2016-01-01T00:00:00.000", PostId=8, RelatedPostId=1, LinkTypeId=3),  # q 8 filtered
]
Q1 = ("How do I list hidden files?", "Which flag of ls shows & lists dot files?")
Q4 = ("Show dotfiles with ls", "How can ls print the files that start with a dot?")
Q12 = ("Unanswered question here", "Nobody answered this question yet.")
A3, A6 = "The accepted answer: ls -A skips . and ..", "Pass -a to ls to include dot files."


def se_expected(kind: str) -> list[tuple]:
    return {
        "title_body": [(Q1[0], Q1[1]), (Q4[0], Q4[1]), (Q12[0], Q12[1])],
        "title_answer": [(Q1[0], A3), (Q4[0], A6)],
        "titlebody_answer": [(f"{Q1[0]} {Q1[1]}", A3), (f"{Q4[0]} {Q4[1]}", A6)],
        "duplicate_title_title": [(Q4[0], Q1[0])],
        "duplicate_body_body": [(Q4[1], Q1[1])],
        "duplicate_titlebody_titlebody": [(f"{Q4[0]} {Q4[1]}", f"{Q1[0]} {Q1[1]}")],
    }[kind]


@pytest.fixture
def se_site(tmp_path: Path) -> Path:
    site = tmp_path / "unix.stackexchange.com"
    write_se_file(site / "Posts.xml", "posts", SE_POSTS)
    write_se_file(site / "PostLinks.xml", "postlinks", SE_LINKS)
    return site


def pairs_of(rows: list[dict]) -> list[tuple]:
    return [(r["anchor"], r["positive"]) if r["negative"] is None else tuple(r.values()) for r in rows]


@pytest.mark.parametrize("kind", stackexchange.KINDS)
def test_stackexchange_kinds_give_the_expected_pairs(se_site, kind):
    stats = MiningStats()
    assert pairs_of(list(mine_stackexchange(se_site, kind, stats=stats))) == se_expected(kind)
    if kind == "title_body":  # every post is a pair or one counted drop
        assert stats.records == len(SE_POSTS)
        assert stats.dropped == {"answer_not_used_by_kind": 7, "question_low_score": 1, "other_post_type": 1}
    elif kind.endswith("answer"):  # a pair uses a question and its answer
        assert stats.records + stats.pairs == len(SE_POSTS)
        assert stats.dropped == {
            "question_low_score": 1, "question_without_answer": 1, "answer_low_score": 1, "other_post_type": 1,
            "answer_without_question": 2, "answer_not_best": 2,
        }  # fmt: skip
    else:  # the records are the links
        assert stats.records == len(SE_LINKS)
        assert stats.dropped == {"link_not_duplicate": 1, "link_question_missing": 1}


def test_stackexchange_filters_are_configurable(se_site):
    pairs = pairs_of(list(mine_stackexchange(se_site, "title_answer", min_question_score=-10, min_answer_score=0)))
    assert ("Downvoted question title", "An answer to a downvoted question.") in pairs


def test_stackexchange_folder_of_sites_mines_every_site(se_site):
    other = se_site.parent / "askubuntu.com"
    write_se_file(other / "Posts.xml", "posts", [question(1, "Ubuntu title here", "<p>An Ubuntu question body.</p>")])
    pairs = pairs_of(list(mine_stackexchange(se_site.parent, "title_body")))
    assert pairs == [("Ubuntu title here", "An Ubuntu question body.")] + se_expected("title_body")


def test_stackexchange_missing_attribute_names_file_row_and_post(tmp_path):
    bad = question(21, "A title that is fine", "<p>body</p>").replace(' Title="A title that is fine"', "")
    posts = write_se_file(tmp_path / "Posts.xml", "posts", [SE_POSTS[0], bad, SE_POSTS[3]])
    with pytest.raises(UserError, match=r"Posts\.xml:row 2 \(Id=21\): bad_row: missing attribute 'Title'"):
        list(mine_stackexchange(posts, "title_body"))
    stats = MiningStats(on_error="skip")
    assert pairs_of(list(mine_stackexchange(posts, "title_body", stats=stats))) == [Q1, Q4]
    assert stats.dropped == {"bad_row": 1}


def test_stackexchange_malformed_xml_names_line_and_column(tmp_path):
    posts = tmp_path / "Posts.xml"
    write_se_file(posts, "posts", [SE_POSTS[0], SE_POSTS[3], '  <row Id="30" PostTypeId="1" Title="unclosed'])
    with pytest.raises(UserError, match=r"Posts\.xml:line 6, column 0: malformed_xml: .*file stops here, after row 2"):
        list(mine_stackexchange(posts, "title_body"))
    stats = MiningStats(on_error="skip")
    assert pairs_of(list(mine_stackexchange(posts, "title_body", stats=stats))) == [Q1, Q4]
    assert stats.dropped == {"malformed_xml": 1}


def test_stackexchange_missing_archive_and_missing_postlinks_are_user_errors(tmp_path, se_site):
    with pytest.raises(UserError, match="unix.stackexchange.com.7z: no such file or folder"):
        list(mine_stackexchange(tmp_path / "unix.stackexchange.com.7z"))
    (se_site / "PostLinks.xml").unlink()
    with pytest.raises(UserError, match="Posts.xml: PostLinks.xml not found"):
        list(mine_stackexchange(se_site, "duplicate_title_title"))


# --- Reddit -----------------------------------------------------------------------------------------------------


def comment(comment_id: str, parent: str, body: str, score: int = 3, author: str = "someone") -> dict:
    return {
        "author": author, "author_flair_css_class": None, "author_flair_text": None, "body": body,
        "controversiality": 0, "created_utc": 1420070400, "distinguished": None, "edited": False, "gilded": 0,
        "id": comment_id, "link_id": "t3_2qyhmp", "parent_id": parent, "retrieved_on": 1425124228, "score": score,
        "stickied": False, "subreddit": "AskReddit", "subreddit_id": "t5_2qh1i", "ups": score,
    }  # fmt: skip


def write_zst_lines(path: Path, lines: list[bytes]) -> Path:
    """Like the Pushshift dumps: one zstd frame with a long (2**28) window and no content size in the header."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=28, enable_ldm=True)
    with open(path, "wb") as fh, zstandard.ZstdCompressor(compression_params=params).stream_writer(fh) as writer:
        writer.write(b"".join(line + b"\n" for line in lines))
    return path


def write_comments(path: Path, comments: list[dict]) -> Path:
    return write_zst_lines(path, [json.dumps(c).encode() for c in comments])


REDDIT = [
    comment("c1", "t3_2qyhmp", "What is the best way to learn to cook?"),
    comment("c2", "t1_c1", "Start with eggs &amp; rice, then move on to stews."),
    comment("c3", "t1_c1", "[deleted]", author="[deleted]"),
    comment("c4", "t1_c3", "Replying to a deleted comment here."),
    comment("c5", "t1_c2", "Your comment was removed because of rule 4.", author="AutoModerator"),
    comment("c6", "t1_c2", "Thanks, stews sound like a great next step.", score=-2),
    comment("c7", "t1_c2", "ok"),
    comment("c8", "t1_c2", "Eggs really are the best place to start cooking."),
    comment("c9", "t1_zz", "Replying to a comment from last month."),
    comment("ca", "t1_c1", "I learned from my grandmother's recipes.", author="helpful_bot"),
]


def test_reddit_pairs_by_parent_linkage_with_counted_filters(tmp_path):
    dump = write_comments(tmp_path / "RC_2015-01.zst", REDDIT)
    stats = MiningStats()
    assert pairs_of(list(mine_reddit(dump, stats=stats))) == [
        ("What is the best way to learn to cook?", "Start with eggs & rice, then move on to stews."),
        ("Start with eggs & rice, then move on to stews.", "Eggs really are the best place to start cooking."),
    ]
    assert stats.records == len(REDDIT)
    assert stats.dropped == {
        "parent_is_submission": 1, "deleted_or_removed": 1, "parent_filtered": 1, "bot_author": 2,
        "low_score": 1, "too_short": 1, "parent_not_in_input": 1,
    }  # fmt: skip


def test_reddit_filters_are_configurable(tmp_path):
    dump = write_comments(tmp_path / "RC_2015-01.zst", REDDIT)
    relaxed = pairs_of(list(mine_reddit(dump, drop_bot_like_authors=False, min_score=-5, min_chars=2)))
    assert ("What is the best way to learn to cook?", "I learned from my grandmother's recipes.") in relaxed
    assert ("Start with eggs & rice, then move on to stews.", "Thanks, stews sound like a great next step.") in relaxed
    assert ("Start with eggs & rice, then move on to stews.", "ok") in relaxed
    assert len(relaxed) == 5


def test_reddit_dumps_need_the_long_window(tmp_path):
    dump = write_comments(tmp_path / "RC_2015-01.zst", REDDIT[:2])
    with pytest.raises(zstandard.ZstdError):  # the reason for max_window_size=2**31
        zstandard.ZstdDecompressor(max_window_size=2**27).decompressobj().decompress(dump.read_bytes())
    assert len(list(mine_reddit(dump))) == 1


def test_reddit_join_is_exact_however_far_back_the_parent_is(tmp_path):
    comments = [comment("c1", "t3_x", "The very first comment of the thread.")]
    comments += [comment(f"d{i}", "t3_x", f"Unrelated top-level comment number {i}.") for i in range(3000)]
    comments += [comment("e1", "t1_c1", "A late reply to the very first comment.")]
    comments.insert(0, comment("e0", "t1_e1", "A reply that comes before its parent in the dump."))
    dump = write_comments(tmp_path / "RC_2015-01.zst", comments)
    stats = MiningStats()
    assert pairs_of(list(mine_reddit(dump, stats=stats))) == [
        ("A late reply to the very first comment.", "A reply that comes before its parent in the dump."),
        ("The very first comment of the thread.", "A late reply to the very first comment."),
    ]  # in input order of the replies
    assert stats.dropped == {"parent_is_submission": 3001} and stats.records == len(comments)


def test_reddit_parents_are_found_across_monthly_files(tmp_path):
    write_comments(tmp_path / "RC_2015-01.zst", REDDIT[:1])
    write_comments(tmp_path / "RC_2015-02.zst", REDDIT[1:2])
    assert len(list(mine_reddit(tmp_path))) == 1


def test_reddit_invalid_json_and_missing_field_name_file_and_line(tmp_path):
    lines = [json.dumps(REDDIT[0]).encode(), b'{"id": "c2", "body": "broken', json.dumps(REDDIT[1]).encode()]
    lines.append(json.dumps({k: v for k, v in REDDIT[1].items() if k != "parent_id"}).encode())
    dump = write_zst_lines(tmp_path / "RC_2015-01.zst", lines)
    with pytest.raises(UserError, match=r"RC_2015-01\.zst:line 2: invalid_json"):
        list(mine_reddit(dump))
    stats = MiningStats(on_error="skip")
    assert len(list(mine_reddit(dump, stats=stats))) == 1
    assert stats.dropped == {"parent_is_submission": 1, "invalid_json": 1, "missing_field": 1}


def test_reddit_truncated_zstd_is_reported_not_silently_cut(tmp_path):
    many = [comment(f"k{i}", "t3_x", f"Comment number {i} with some text to compress.") for i in range(3000)]
    dump = write_comments(tmp_path / "RC_2015-01.zst", many)
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    with pytest.raises(UserError, match=r"RC_2015-01\.zst:line \d+: truncated_file: .*byte"):
        list(mine_reddit(dump))
    stats = MiningStats(on_error="skip")
    list(mine_reddit(dump, stats=stats))
    assert stats.dropped["truncated_file"] == 1
    assert 0 < stats.dropped["parent_is_submission"] < 3000


# --- CodeSearchNet ----------------------------------------------------------------------------------------------


def csn_record(language: str, name: str, docstring: str, code: str) -> dict:
    return {
        "repo": "octo/example", "path": f"src/{name}.{language[:2]}", "func_name": name,
        "original_string": code, "language": language, "code": code, "code_tokens": code.split(),
        "docstring": docstring, "docstring_tokens": docstring.split(),
        "url": f"https://github.com/octo/example/blob/abc/src/{name}#L1-L3", "partition": "train",
    }  # fmt: skip


def write_jsonl_gz(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(record) + "\n" for record in records)
    return path


PY_CODE = 'def add(a, b):\n    """Add two numbers together."""\n    return a + b'
CSN = [
    csn_record("python", "add", "Add two numbers together.", PY_CODE),
    csn_record("python", "nodoc", "", "def nodoc():\n    pass"),
    csn_record("python", "short", "Short doc", "def short():\n    pass"),
    csn_record("java", "max", "Return the larger of two ints.", "int max(int a, int b) {\n  return a > b ? a : b;\n}"),
]


def test_codesearchnet_docstring_code_pairs_per_language(tmp_path):
    write_jsonl_gz(tmp_path / "python/final/jsonl/train/python_train_0.jsonl.gz", CSN[:3])
    write_jsonl_gz(tmp_path / "java/final/jsonl/train/java_train_0.jsonl.gz", CSN[3:])
    stats = MiningStats()
    assert pairs_of(list(mine_codesearchnet(tmp_path, languages=("python",), stats=stats))) == [
        ("Add two numbers together.", PY_CODE)
    ]
    assert stats.dropped == {"empty_docstring": 1, "docstring_too_short": 1, "other_language": 1}
    assert len(list(mine_codesearchnet(tmp_path))) == 2


def test_codesearchnet_missing_field_and_truncated_gzip(tmp_path):
    broken = {k: v for k, v in CSN[0].items() if k != "docstring"}
    path = write_jsonl_gz(tmp_path / "python_train_0.jsonl.gz", [CSN[0], broken])
    with pytest.raises(UserError, match=r"python_train_0\.jsonl\.gz:line 2: missing_field: missing field 'docstring'"):
        list(mine_codesearchnet(path))
    path = write_jsonl_gz(tmp_path / "python_train_1.jsonl.gz", [CSN[0]] * 2000)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(UserError, match=r"python_train_1\.jsonl\.gz:line \d+: truncated_file"):
        list(mine_codesearchnet(path))


# --- NLI --------------------------------------------------------------------------------------------------------


def nli_line(premise: str, hypothesis: str, label: str, pair_id: str) -> dict:
    return {
        "annotator_labels": [label], "captionID": pair_id[:-1], "gold_label": label, "pairID": pair_id,
        "sentence1": premise, "sentence1_binary_parse": "( x )", "sentence1_parse": "(ROOT x)",
        "sentence2": hypothesis, "sentence2_binary_parse": "( y )", "sentence2_parse": "(ROOT y)",
    }  # fmt: skip


P1, P2, P3 = "A man plays a guitar on stage.", "Two dogs run in a field.", "A child reads a book."
SNLI = [
    nli_line(P1, "A man is performing music.", "entailment", "1e"),
    nli_line(P1, "A man sits in silence.", "contradiction", "1c"),
    nli_line(P1, "The man is famous.", "neutral", "1n"),
    nli_line(P2, "Animals are outside.", "entailment", "2e"),
    nli_line(P2, "Dogs are running.", "entailment", "2f"),
    nli_line(P3, "A child is asleep.", "contradiction", "3c"),
    nli_line(P2, "The dogs are sleeping indoors.", "contradiction", "2c"),  # not next to its premise's other lines
    nli_line(P3, "Someone holds a book.", "-", "3x"),
]


def test_nli_triplets_and_pairs(tmp_path):
    path = tmp_path / "snli_1.0_train.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in SNLI))
    stats = MiningStats()
    assert pairs_of(list(mine_nli(path, "triplets", stats=stats))) == [
        (P1, "A man is performing music.", "A man sits in silence."),
        (P2, "Animals are outside.", "The dogs are sleeping indoors."),
        (P2, "Dogs are running.", "The dogs are sleeping indoors."),
    ]
    assert stats.records == len(SNLI)
    assert stats.dropped == {
        "neutral": 1, "no_gold_label": 1, "no_entailment": 1, "contradiction_used_as_negative": 2,
    }  # fmt: skip
    assert pairs_of(list(mine_nli(path, "pairs"))) == [
        (P1, "A man is performing music."), (P2, "Animals are outside."), (P2, "Dogs are running.")
    ]  # fmt: skip


def test_nli_unknown_label_is_bad_input(tmp_path):
    path = tmp_path / "multinli_1.0_train.jsonl"
    path.write_text(json.dumps(SNLI[0]) + "\n" + json.dumps(nli_line(P1, "x", "entails", "9e")) + "\n")
    with pytest.raises(UserError, match=r"multinli_1\.0_train\.jsonl:line 2: unknown_label"):
        list(mine_nli(path))


# --- Wikipedia --------------------------------------------------------------------------------------------------

MW = "http://www.mediawiki.org/xml/export-0.10/"


def wiki_page(page_id: int, title: str, text: str, ns: int = 0, redirect: str | None = None) -> str:
    from xml.sax.saxutils import escape

    redirect_tag = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n{redirect_tag}"
        f"    <revision>\n      <id>{page_id}00</id>\n      <parentid>{page_id}0</parentid>\n"
        "      <timestamp>2021-05-01T00:00:00Z</timestamp>\n"
        "      <contributor>\n        <username>Editor</username>\n        <id>42</id>\n      </contributor>\n"
        "      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(text.encode())}" xml:space="preserve">{escape(text)}</text>\n'
        "      <sha1>abc</sha1>\n    </revision>\n  </page>\n"
    )


def write_wiki_dump(path: Path, pages: list[str], pages_per_stream: int = 100) -> Path:
    """A pages-articles-multistream dump: the header, then bz2 streams of up to 100 pages each, then the footer."""
    header = (
        f'<mediawiki xmlns="{MW}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="0.10" '
        'xml:lang="en">\n  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n'
        '    <namespaces>\n      <namespace key="0" case="first-letter" />\n    </namespaces>\n  </siteinfo>\n'
    )
    chunks = [header] + ["".join(pages[i : i + pages_per_stream]) for i in range(0, len(pages), pages_per_stream)]
    path.write_bytes(b"".join(bz2.compress(chunk.encode()) for chunk in [*chunks, "</mediawiki>\n"]))
    return path


def article(name: str, intro: str, categories: list[str]) -> str:
    cats = "\n".join(f"[[Category:{c}]]" for c in categories)
    return (
        "{{Short description|Something}}\n{{Infobox thing\n| name = {{nowrap|" + name + "}}\n}}\n"
        + intro + "<ref>{{cite web|url=http://x.org|title=Source}}</ref>\n\n== History ==\nLater text.\n" + cats
    )  # fmt: skip


ADA = "'''Ada Lovelace''' was an English [[mathematician]] known for work on the [[Analytical Engine|engine]]."
GAUSS = "'''Carl Friedrich Gauss''' was a German [[mathematician]] and [[physicist]] who worked in many fields."
BACH = "'''Johann Sebastian Bach''' was a German [[composer]] of the Baroque period, known for instrumental works."
HANDEL = "'''George Frideric Handel''' was a German-British Baroque [[composer]] well known for his operas."
WIKI = [
    wiki_page(1, "Ada Lovelace", article("Ada", ADA, ["1815 births", "Mathematicians", "Living people"])),
    wiki_page(2, "Johann Sebastian Bach", article("Bach", BACH, ["Baroque composers"])),
    wiki_page(3, "Lovelace", "#REDIRECT [[Ada Lovelace]]", redirect="Ada Lovelace"),
    wiki_page(4, "Talk:Ada Lovelace", "Discussion about the article.", ns=1),
    wiki_page(5, "Carl Friedrich Gauss", article("Gauss", GAUSS, ["Mathematicians", "1777 births"])),
    wiki_page(
        6, "Mercury (disambiguation)", "'''Mercury''' may refer to:\n* [[Mercury (planet)]]\n{{disambiguation}}"
    ),
    wiki_page(7, "Stub thing", "Too short.\n[[Category:Things]]"),
    wiki_page(8, "Lonely article", article("Lonely", "A long enough intro of an article with no category.", [])),
    wiki_page(9, "George Frideric Handel", article("Handel", HANDEL, ["Baroque composers", "English stubs"])),
]
ADA_TEXT = "Ada Lovelace was an English mathematician known for work on the engine."
GAUSS_TEXT = "Carl Friedrich Gauss was a German mathematician and physicist who worked in many fields."
BACH_TEXT = "Johann Sebastian Bach was a German composer of the Baroque period, known for instrumental works."
HANDEL_TEXT = "George Frideric Handel was a German-British Baroque composer well known for his operas."


def test_wikipedia_same_category_intro_pairs(tmp_path):
    dump = write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles.xml.bz2", WIKI)
    stats = MiningStats()
    # seed 0 orders Gauss before Ada and Handel before Bach: each later article is paired with the one before it
    assert pairs_of(list(mine_wikipedia(dump, stats=stats))) == [(ADA_TEXT, GAUSS_TEXT), (BACH_TEXT, HANDEL_TEXT)]
    assert stats.records == len(WIKI)
    assert stats.dropped == {
        "no_shared_category": 2, "redirect": 1, "not_an_article": 1, "disambiguation": 1, "intro_too_short": 1,
        "no_category": 1,
    }  # fmt: skip


def test_wikipedia_pairing_is_seeded_and_chains_each_category(tmp_path):
    pages = [
        wiki_page(
            i,
            f"Composer {i}",
            article("c", f"Composer number {i} wrote a great many pieces of Baroque music.", ["Baroque composers"]),
        )
        for i in range(30)
    ]
    dump = write_wiki_dump(tmp_path / "dump.xml.bz2", pages)
    first = pairs_of(list(mine_wikipedia(dump, seed=1)))
    assert len(first) == 29 and first != pairs_of(list(mine_wikipedia(dump, seed=2)))
    # one chain through the seeded order: every article but the first anchors once, every one but the last is a
    # partner once, never itself
    anchors, partners = [anchor for anchor, _ in first], [partner for _, partner in first]
    assert len(set(anchors)) == len(set(partners)) == 29 and len(set(anchors) | set(partners)) == 30
    assert all(anchor != partner for anchor, partner in first)


def test_wikipedia_bounds_of_memory_are_gone(tmp_path):
    source = get_source("wikipedia_category_intros")
    for removed in ("max_categories", "reservoir_size"):  # the group-by holds every category: no LRU, no reservoir
        with pytest.raises(UserError, match=f"--{removed.replace('_', '-')} does not apply to wikipedia_category"):
            source.configure(**{removed: 4})
    with pytest.raises(UserError, match="--max-open-premises does not apply to nli_triplets"):
        get_source("nli_triplets").configure(max_open_premises=1)


def test_wikipedia_truncated_bz2_and_malformed_xml(tmp_path):
    dump = write_wiki_dump(tmp_path / "dump.xml.bz2", WIKI * 40, pages_per_stream=9)
    dump.write_bytes(dump.read_bytes()[:-100])
    with pytest.raises(UserError, match=r"dump\.xml\.bz2:line \d+: truncated_file: .*after page \d+"):
        list(mine_wikipedia(dump))
    stats = MiningStats(on_error="skip")
    assert len(list(mine_wikipedia(dump, stats=stats))) > 0 and stats.dropped["truncated_file"] == 1
    broken = tmp_path / "broken.xml"
    broken.write_text(f'<mediawiki xmlns="{MW}">\n  <page>\n    <title>A & B</title>\n  </page>\n</mediawiki>\n')
    with pytest.raises(UserError, match=r"broken\.xml:line 3, column \d+: malformed_xml"):
        list(mine_wikipedia(broken))


# --- text -------------------------------------------------------------------------------------------------------


def test_html_to_text():
    html = "<p>Try <code>a &lt; b</code> &amp; see:</p><pre><code>x = 1\n</code></pre><script>bad()</script><ul><li>one</li><li>two</li></ul>"  # noqa: E501
    assert html_to_text(html) == "Try a < b & see:\nx = 1\none\ntwo"


def test_wiki_markup_to_text():
    text = (
        "{{Infobox|a={{nested|b}}}}'''Bold''' and ''italic'' [[Link]] and [[Target|label]].<ref name=x/>"
        "<ref>{{cite|x}}</ref> [[File:A.jpg|thumb|A [[caption]] link]] [https://x.org site] &nbsp;(<!-- c -->)\n"
        '{| class="wikitable"\n| cell\n|}\n* item <span>inside</span>'
    )
    assert wiki_to_text(text) == "Bold and italic Link and label. site\nitem inside"
    assert wiki_intro("Intro.\n== Section ==\nBody") == "Intro.\n"
    assert wiki_categories("[[Category:A b|key]] [[category: C_d]] [[Category:A b]]") == ["A b", "C d"]


# --- builder round trip -----------------------------------------------------------------------------------------


def raw_inputs(root: Path) -> dict[str, tuple[Path, list[tuple]]]:
    """For each miner source: a raw input in its upstream format and the rows the build must hold."""
    site = root / "unix.stackexchange.com"
    write_se_file(site / "Posts.xml", "posts", SE_POSTS)
    write_se_file(site / "PostLinks.xml", "postlinks", SE_LINKS)
    (root / "nli").mkdir()
    (root / "nli" / "snli_1.0_train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in SNLI))
    csn = write_jsonl_gz(root / "csn" / "python_train_0.jsonl.gz", CSN)
    wiki = write_wiki_dump(root / "enwiki-pages-articles.xml.bz2", WIKI)
    # the builder collapses whitespace; code keeps its layout
    se = {k: [tuple(" ".join(t.split()) for t in p) for p in se_expected(k)] for k in ["title_body", "title_answer"]}
    return {
        "stackexchange_dump_title_body": (site, se["title_body"]),
        "stackexchange_dump_title_answer": (site, se["title_answer"]),
        "stackexchange_dump_duplicate_title_title": (site, se_expected("duplicate_title_title")),
        "reddit_comments": (
            write_comments(root / "RC_2015-01.zst", REDDIT),
            [
                ("What is the best way to learn to cook?", "Start with eggs & rice, then move on to stews."),
                ("Start with eggs & rice, then move on to stews.", "Eggs really are the best place to start cooking."),
            ],
        ),
        "codesearchnet_python": (csn, [("Add two numbers together.", PY_CODE)]),
        "nli_triplets": (root / "nli", [tuple(p) for p in pairs_of(list(mine_nli(root / "nli")))]),
        "wikipedia_category_intros": (wiki, [(ADA_TEXT, GAUSS_TEXT), (BACH_TEXT, HANDEL_TEXT)]),
    }


def as_rows(pairs: list[tuple]) -> list[dict]:
    """Rows as published: pair configs have no negative column, triplet configs have one."""
    return [dict(zip(("anchor", "positive", "negative"), p, strict=False)) for p in pairs]


def test_miner_sources_build_publish_and_load_in_both_modes(tmp_path):
    inputs = raw_inputs(tmp_path / "raw")
    builds = [build_source(name, [path], progress=False) for name, (path, _) in inputs.items()]
    hub = publish(builds, tmp_path / "hub", progress=False)
    for name, (_, expected) in inputs.items():
        assert datasets.load_dataset(str(hub), name, split="train").to_list() == as_rows(expected), name
        assert list(datasets.load_dataset(str(hub), name, split="train", streaming=True)) == as_rows(expected), name
    card = (hub / "README.md").read_text()
    assert "answer_not_best" in card and "parent_is_submission" in card  # miner filters are counted in the card


def test_builder_applies_its_error_policy_to_miner_errors(tmp_path, capsys):
    lines = [json.dumps(REDDIT[0]).encode(), b"{not json", json.dumps(REDDIT[1]).encode()]
    dump = write_zst_lines(tmp_path / "RC_2015-01.zst", lines)
    out = tmp_path / "build"
    assert se1b(["data", "build", "reddit_comments", "--raw", str(dump), "--out", str(out)]) == 2
    assert "RC_2015-01.zst:line 2: invalid_json" in capsys.readouterr().err
    args = ["data", "build", "reddit_comments", "--raw", str(dump), "--out", str(out), "--on-error", "skip"]
    assert se1b(args) == 0
    build = build_source("reddit_comments", [dump], on_error="skip", progress=False)
    assert build.stats.rejected == {"invalid_json": 1}
    assert build.stats.filtered == {"parent_is_submission": 1}  # a filter: counted by reason, never fatal
    assert build.stats.rows_read == 3 and build.stats.rows_kept == 1 and build.dataset.num_rows == 1


def test_builder_counts_miner_filters_by_reason_under_the_default_policy(tmp_path):
    build = build_source("reddit_comments", [write_comments(tmp_path / "RC_2015-01.zst", REDDIT)], progress=False)
    stats = MiningStats()
    list(mine_reddit(tmp_path / "RC_2015-01.zst", stats=stats))
    assert build.stats.filtered == dict(stats.dropped) and build.stats.rejected == {}
    assert build.stats.rows_read == len(REDDIT) == build.stats.rows_kept + build.stats.rows_filtered
