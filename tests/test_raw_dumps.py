"""The dumps people actually download, as the project writes them in each upstream format with each real quirk:
split Wikipedia dump names, localised namespaces in <siteinfo>, articles sharing several categories, Pushshift
.bz2/.xz files, a mid-file corrupt zstd frame, months built together, Stack Exchange .7z archives (made here with
py7zr) beside or instead of the extracted XML, the duplicate-question notice, a broken tag mid-file, Tatoeba/LASER
3-letter Moses names and folders of several language pairs. Each gives the expected pairs and counts
(read = kept + filtered + rejected, per reason) or one clear line naming the file."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import py7zr
import pytest
import zstandard
from parallel_fixtures import EN_DE
from test_miners import (
    MW,
    REDDIT,
    SE_LINKS,
    SE_POSTS,
    comment,
    pairs_of,
    question,
    se_expected,
    se_row,
    wiki_page,
    write_comments,
    write_se_file,
    write_wiki_dump,
    write_zst_lines,
)

from datasets_builders import build_source, mine_reddit, mine_stackexchange, mine_wikipedia, publish
from datasets_builders.miners import MiningStats
from datasets_builders.miners.options import FIXED, MINERS, OPTIONS
from datasets_builders.miners.stackexchange import strip_duplicate_notice
from datasets_builders.miners.text import media_prefix, namespace_names, wiki_to_text
from se1b.cli import main as se1b
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

# --- Wikipedia --------------------------------------------------------------------------------------------------


def intro_article(who: str, categories: list[str], category_word: str = "Category") -> str:
    links = "\n".join(f"[[{category_word}:{name}]]" for name in categories)
    return f"'''{who}''' was an artist whose long career is described in this introduction.\n== Life ==\nx\n{links}"


def text_of(who: str) -> str:
    return f"{who} was an artist whose long career is described in this introduction."


# A shares Poets with B and D, Painters with C; C shares Sculptors with D. With one category per article (the old
# hash pick), most of these pairs were lost.
SHARED = [
    wiki_page(1, "A", intro_article("A", ["Poets", "Painters"])),
    wiki_page(2, "B", intro_article("B", ["Poets"])),
    wiki_page(3, "C", intro_article("C", ["Painters", "Sculptors"])),
    wiki_page(4, "D", intro_article("D", ["Sculptors", "Poets"])),
]


def test_wikipedia_pairs_within_every_shared_category(tmp_path):
    dump = write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles.xml.bz2", SHARED)
    stats = MiningStats()
    pairs = pairs_of(list(mine_wikipedia(dump, stats=stats)))
    # seed 0 orders them D, C, B, A: Poets chains D-B-A, Painters C-A, Sculptors D-C; A takes its smaller one first
    assert pairs == [
        (text_of("A"), text_of("C")), (text_of("A"), text_of("B")), (text_of("B"), text_of("D")),
        (text_of("C"), text_of("D")),
    ]  # fmt: skip
    assert stats.kept == 3 and stats.records == len(SHARED)
    assert stats.dropped == {"no_shared_category": 1} and not stats.bounded


def test_wikipedia_bounds_per_article_and_per_category_are_counted(tmp_path):
    dump = write_wiki_dump(tmp_path / "dump.xml.bz2", SHARED)
    stats = MiningStats()
    assert len(list(mine_wikipedia(dump, stats=stats, pairs_per_article=1))) == 3
    assert stats.bounded == {"over_pairs_per_article": 1} and stats.records == len(SHARED)
    stats = MiningStats()
    assert len(list(mine_wikipedia(dump, stats=stats, pairs_per_category=1))) == 3  # Poets forms only B-D
    assert stats.bounded == {"over_pairs_per_category": 1}
    source = build_source("wikipedia_category_intros", progress=False, raw_paths=[dump]).source
    build = build_source(source.configure(pairs_per_article=1), [dump], progress=False)
    assert build.stats.not_formed == {"over_pairs_per_article": 1} and build.stats.pairs_written == 3
    card = (publish(build, tmp_path / "hub", progress=False) / "README.md").read_text()
    assert "| over_pairs_per_article | 1 |" in card and "pairs_per_article=1" in card


def test_wikipedia_split_dump_parts_are_found_in_order_and_pair_across_parts(tmp_path):
    write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles1.xml-p1p30302.bz2", SHARED[:1])
    write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles10.xml-p900p1000.bz2", SHARED[3:])
    write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles2.xml-p30303p88444.bz2", SHARED[1:3])
    (tmp_path / "enwiki-20210501-pages-articles-multistream-index1.txt-p1p30302.bz2").write_bytes(bz2.compress(b"x"))
    assert len(list(mine_wikipedia(tmp_path))) == 4  # parts 1, 2, 10 in that order; the index file is no dump
    build = build_source("wikipedia_category_intros", [tmp_path], progress=False)
    assert build.stats.pairs_written == 4 and build.stats.rows_read == 4 == build.stats.rows_kept + 1


SITEINFO_JA = (
    '<siteinfo>\n<sitename>Wikipedia</sitename>\n<namespaces>\n<namespace key="-2" case="first-letter">メディア'
    '</namespace>\n<namespace key="0" case="first-letter" />\n<namespace key="6" case="first-letter">ファイル'
    '</namespace>\n<namespace key="14" case="first-letter">カテゴリ</namespace>\n</namespaces>\n</siteinfo>\n'
)


def test_wikipedia_namespaces_come_from_the_dumps_siteinfo(tmp_path):
    text = (
        "[[ファイル:Basho.jpg|サムネイル|右|[[芭蕉]]の肖像]]'''松尾芭蕉'''（{{lang-ja|}}）は、江戸時代前期の俳諧師で"
        "ある。日本の文学に大きな影響を与えた人物として知られている。\n== 生涯 ==\nx\n[[カテゴリ:日本の俳人]]"
    )
    other = (
        "'''与謝蕪村'''は、江戸時代中期の俳人であり画家である。多くの俳句と絵画を残したことで知られている。"
        "\n[[カテゴリ:日本の俳人]]"
    )
    pages = [wiki_page(1, "松尾芭蕉", text), wiki_page(2, "与謝蕪村", other)]
    dump = tmp_path / "jawiki-20210501-pages-articles.xml"
    header = f'<mediawiki xmlns="{MW}" version="0.10" xml:lang="ja">\n'
    dump.write_text(header + SITEINFO_JA + "".join(pages) + "</mediawiki>")
    pairs = pairs_of(list(mine_wikipedia(dump, min_chars=20)))
    assert pairs == [
        (
            "与謝蕪村は、江戸時代中期の俳人であり画家である。多くの俳句と絵画を残したことで知られている。",
            "松尾芭蕉は、江戸時代前期の俳諧師である。日本の文学に大きな影響を与えた人物として知られている。",
        )
    ]


def test_wiki_debris_of_removed_templates_is_cleaned():
    achilles = "'''Achilles''' ({{IPAc-en|ə|ˈ|k|ɪ|l|iː|z}};, {{lang|grc|Ἀχιλλεύς}}, {{IPA|x}}) was a hero."
    assert wiki_to_text(achilles) == "Achilles (Ἀχιλλεύς) was a hero."
    assert wiki_to_text("'''Achilles''' ({{IPAc-en|x}};, Akhilleus, {{IPA|y}}) or Achilleus") == (
        "Achilles (Akhilleus) or Achilleus"
    )
    assert wiki_to_text("Population. At {{as of|2020|lc=y}}, Alabama has 5 million people.") == (
        "Population. Alabama has 5 million people."
    )
    assert wiki_to_text("'''東京'''（{{lang-en|}}）は日本の首都。") == "東京は日本の首都。"
    german = media_prefix(namespace_names({"6": "Datei", "14": "Kategorie"}))
    assert wiki_to_text("[[Datei:Haus.jpg|mini|Ein [[Haus]]]]Das Haus ist alt.[[Kategorie:Bau]]", german) == (
        "Das Haus ist alt."
    )


def test_a_file_without_pages_is_an_error_naming_it(tmp_path):
    posts = write_se_file(tmp_path / "Posts.xml", "posts", SE_POSTS)
    with pytest.raises(UserError, match=r"Posts\.xml: not_a_dump: the root element is <posts>, expected <mediawiki>"):
        list(mine_wikipedia(posts))
    assert se1b(["data", "build", "wikipedia_category_intros", "--raw", str(posts), "--out", str(tmp_path / "b")]) == 2
    text = tmp_path / "README.xml"
    text.write_text("Downloaded from dumps.wikimedia.org\n")
    with pytest.raises(UserError, match=r"README\.xml: not_a_dump: not XML \(syntax error: line 1, column 0\)"):
        list(mine_wikipedia(text))
    empty = tmp_path / "enwiki-pages-articles.xml"
    empty.write_text(f'<mediawiki xmlns="{MW}">\n{SITEINFO_JA}</mediawiki>\n')
    with pytest.raises(UserError, match=r"pages-articles\.xml: not_a_dump: no <page> element"):
        list(mine_wikipedia(empty))


def test_zero_pairs_from_a_non_empty_input_prints_why(tmp_path, capsys):
    pages = [wiki_page(1, "A", intro_article("A", ["Poets"])), wiki_page(2, "C", intro_article("C", ["Painters"]))]
    dump = write_wiki_dump(tmp_path / "enwiki-pages-articles.xml.bz2", pages)
    args = ["data", "build", "wikipedia_category_intros", "--raw", str(dump), "--out", str(tmp_path / "b")]
    assert se1b(args) == 0
    err = capsys.readouterr().err
    assert "warning: wikipedia_category_intros: 0 pairs written from 2 rows read (no_shared_category 2)" in err
    assert "no two articles share a category" in err


def test_corrupt_bz2_and_invalid_utf8_are_named_as_such_not_as_malformed_xml(tmp_path):
    dump = write_wiki_dump(tmp_path / "dump.xml.bz2", SHARED * 30, pages_per_stream=4)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 40] = b"\x55" * 40
    dump.write_bytes(bytes(data))
    stats = MiningStats(on_error="skip")
    assert len(list(mine_wikipedia(dump, stats=stats))) > 0
    assert stats.dropped["corrupt_file"] == 1 and "malformed_xml" not in stats.dropped
    with pytest.raises(UserError, match=r"dump\.xml\.bz2:line \d+: corrupt_file: corrupt bz2 data"):
        list(mine_wikipedia(dump))
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes(f'<mediawiki xmlns="{MW}">\n'.encode() + wiki_page(1, "Café", "caf\xe9 text").encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.xml:line 3: not_utf8: invalid UTF-8 \(byte 0xe9\)"):
        list(mine_wikipedia(latin1))


# --- Reddit -----------------------------------------------------------------------------------------------------

REDDIT_PAIRS = [
    ("What is the best way to learn to cook?", "Start with eggs & rice, then move on to stews."),
    ("Start with eggs & rice, then move on to stews.", "Eggs really are the best place to start cooking."),
]
COMPRESSORS = {
    "RC_2015-01.bz2": bz2.compress,
    "RC_2018-01.xz": lzma.compress,
    "RC_2015-01.gz": gzip.compress,
    "RC_2015-01": lambda data: data,
    "RC_2015-01.json": lambda data: data,
}


def write_reddit_dump(path: Path, tag: str = "") -> Path:
    """REDDIT in the compression `path`'s name asks for; `tag` prefixes every comment id (and the replies' parent
    ids), so dumps built together each link only their own replies."""
    lines = []
    for record in REDDIT:
        kind, _, parent = record["parent_id"].partition("_")
        parent_id = f"t1_{tag}{parent}" if kind == "t1" else record["parent_id"]
        lines.append(json.dumps({**record, "id": tag + record["id"], "parent_id": parent_id}).encode() + b"\n")
    path.write_bytes(COMPRESSORS[path.name](b"".join(lines)))
    return path


def test_reddit_reads_every_pushshift_compression(tmp_path):
    # A dump in each compression, read together (each file is its own Ray read task, so each decompressor runs): one
    # build for them all instead of three per compression, as each build is a Ray join. The ids differ per dump, so
    # a dump's replies link only to its own comments: the totals hold only if every dump gave its 2 pairs of its rows.
    raws = [write_reddit_dump(tmp_path / name, tag=f"f{index}") for index, name in enumerate(sorted(COMPRESSORS))]
    stats = MiningStats()
    assert pairs_of(list(mine_reddit(tmp_path, stats=stats))) == REDDIT_PAIRS * len(COMPRESSORS)  # found in a folder
    assert stats.records == len(REDDIT) * len(COMPRESSORS)
    build = build_source("reddit_comments", raws, progress=False)
    assert build.stats.pairs_written == 2 * len(COMPRESSORS)
    assert build.stats.rows_read == len(REDDIT) * len(COMPRESSORS) == 2 * len(COMPRESSORS) + build.stats.rows_filtered


def test_reddit_corrupt_zstd_frame_mid_file_keeps_the_lines_before_it_and_reports_its_offset(tmp_path):
    lines = [json.dumps(comment(f"k{i}", "t3_x", f"Comment {i} says {i * 7}.")).encode() for i in range(3000)]
    compressor = zstandard.ZstdCompressor(write_checksum=True)  # like the zstd command line
    frames = [compressor.compress(b"\n".join(lines[i : i + 1000]) + b"\n") for i in (0, 1000, 2000)]
    damaged = frames[0] + b"\x00\x00\x00\x00" + frames[1][4:] + frames[2]  # the second frame's magic is gone
    dump = tmp_path / "RC_2015-01.zst"
    dump.write_bytes(damaged)
    where = rf"RC_2015-01\.zst:line 1001: corrupt_file: corrupt zstd data at compressed byte {len(frames[0]):,} "
    with pytest.raises(UserError, match=where):
        list(mine_reddit(dump))
    stats = MiningStats(on_error="skip")
    list(mine_reddit(dump, stats=stats))
    assert stats.dropped == {"parent_is_submission": 1000, "corrupt_file": 1}  # the whole first frame is kept


def test_reddit_damage_inside_the_one_long_frame_is_located_not_at_byte_0(tmp_path):
    many = [comment(f"k{i}", "t3_x", f"Comment {i} says {i * 7919 % 1000}.") for i in range(6000)]
    data = write_comments(tmp_path / "RC_2015-01.zst", many).read_bytes()  # one long-window frame, like Pushshift's
    cut = len(data) // 2
    (tmp_path / "RC_2015-01.zst").write_bytes(data[:cut] + data[cut + 5000 :])  # 5,000 bytes lost mid-file
    where = r"RC_2015-01\.zst:line \d+: corrupt_file: corrupt zstd data at compressed"
    with pytest.raises(UserError, match=where) as error:
        list(mine_reddit(tmp_path / "RC_2015-01.zst"))
    offset = int(str(error.value).split("compressed byte ")[1].split()[0].replace(",", ""))
    assert cut <= offset < len(data)
    stats = MiningStats(on_error="skip")
    list(mine_reddit(tmp_path / "RC_2015-01.zst", stats=stats))
    assert stats.dropped["corrupt_file"] == 1 and stats.dropped["parent_is_submission"] > 1000  # the lines before it


def test_reddit_months_built_together_link_replies_across_the_boundary(tmp_path, capsys):
    january = write_comments(tmp_path / "RC_2015-01.zst", REDDIT[:1])
    february = write_comments(tmp_path / "RC_2015-02.zst", REDDIT[1:2])
    out = tmp_path / "build"
    assert se1b(["data", "build", "reddit_comments", "--raw", str(february), str(january), "--out", str(out)]) == 0
    assert "read 2 rows, kept 1, filtered 1 (parent_is_submission 1)" in capsys.readouterr().out
    one_by_one = build_source("reddit_comments", [february], progress=False)
    assert one_by_one.stats.filtered == {"parent_not_in_input": 1}
    build = build_source("reddit_comments", [february, january], progress=False)  # one join over both
    assert build.dataset.to_list() == [dict(zip(("anchor", "positive"), REDDIT_PAIRS[0], strict=True))]


def test_reddit_join_across_files_finds_a_parent_months_back(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_comments(raw / "RC_2015-01.zst", [comment("c1", "t3_x", "The very first comment of the thread.")])
    filler = [comment(f"d{i}", "t3_x", f"Unrelated top-level comment number {i}.") for i in range(2000)]
    write_comments(raw / "RC_2015-02.zst", filler)
    write_comments(raw / "RC_2015-03.zst", [*filler[:5], comment("e1", "t1_c1", "A late reply to the first one.")])
    args = ["data", "build", "reddit_comments", "--raw", str(raw), "--out", str(tmp_path / "b")]
    with pytest.raises(SystemExit):  # the bounded index is gone: the join is exact
        se1b([*args, "--max-parents", "3"])
    assert "unrecognized arguments: --max-parents" in capsys.readouterr().err
    assert se1b(args) == 0
    out = capsys.readouterr().out
    assert "read 2,007 rows, kept 1, filtered 2,006 (parent_is_submission 2,006)" in out and "1 pairs written" in out


def test_miner_filters_are_build_options_with_their_defaults_in_help(tmp_path, capsys):
    dump = write_comments(tmp_path / "RC_2015-01.zst", REDDIT)
    args = ["data", "build", "reddit_comments", "--raw", str(dump), "--out", str(tmp_path / "b")]
    assert se1b([*args, "--min-score", "-5", "--min-chars", "2", "--drop-bot-like-authors", "no"]) == 0
    assert "5 pairs written" in capsys.readouterr().out
    assert se1b([*args, "--bot-authors", "AutoModerator,someone"]) == 0
    assert "0 pairs written" in capsys.readouterr().out
    card_notes = json.loads((tmp_path / "b" / "build.json").read_text())["source"]["notes"]
    assert "bot_authors=('AutoModerator', 'someone')" in card_notes
    wiki = ["data", "build", "wikipedia_category_intros", "--raw", str(dump), "--out", str(tmp_path / "w")]
    assert se1b([*wiki, "--min-score", "2"]) == 2
    assert "--min-score does not apply to wikipedia_category_intros (its options: " in capsys.readouterr().err
    assert se1b(["data", "build", "squad", "--raw", str(dump), "--out", "x", "--min-chars", "2"]) == 2
    assert "squad is not a mined source" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        se1b(["data", "build", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--min-chars N shortest text kept, in characters (default: reddit_comments 9; stackexchange_dump_* 10;" in (
        help_text
    )
    assert "--min-score N lowest Reddit comment score kept (default: reddit_comments 1)" in help_text


def test_every_miner_option_is_a_build_option():
    import inspect

    for functions in MINERS.values():
        for function in functions:
            keywords = {n for n, p in inspect.signature(function).parameters.items() if p.kind is p.KEYWORD_ONLY}
            assert keywords - FIXED <= set(OPTIONS), function.__name__


def test_invalid_utf8_has_one_reason_in_json_sources(tmp_path):
    dump = write_zst_lines(tmp_path / "RC_2015-01.zst", [json.dumps(REDDIT[0]).encode(), b'{"body": "caf\xe9"}'])
    with pytest.raises(UserError, match=r"RC_2015-01\.zst:line 2: not_utf8: "):
        list(mine_reddit(dump))


# --- Stack Exchange ---------------------------------------------------------------------------------------------


def write_7z(path: Path, files: dict[str, Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        for name, source in files.items():
            archive.write(source, name)
    return path


@pytest.fixture
def se_archive(tmp_path: Path) -> Path:
    """unix.stackexchange.com.7z as archive.org ships it (Posts.xml, PostLinks.xml, Users.xml at the root)."""
    xml = tmp_path / "xml"
    write_se_file(xml / "Posts.xml", "posts", SE_POSTS)
    write_se_file(xml / "PostLinks.xml", "postlinks", SE_LINKS)
    write_se_file(xml / "Users.xml", "users", [se_row(Id=7, DisplayName="someone")])
    files = {name: xml / name for name in ("Posts.xml", "PostLinks.xml", "Users.xml")}
    return write_7z(tmp_path / "dumps" / "unix.stackexchange.com.7z", files)


@pytest.mark.parametrize("kind", ["title_body", "title_answer", "duplicate_title_title"])
def test_stackexchange_reads_the_7z_archive_directly(se_archive, kind):
    stats = MiningStats()
    assert pairs_of(list(mine_stackexchange(se_archive, kind, stats=stats))) == se_expected(kind)
    build = build_source(f"stackexchange_dump_{kind}", [se_archive], progress=False)
    assert build.stats.pairs_written == len(se_expected(kind)) and build.stats.rows_read == stats.records


def test_stackexchange_archive_beside_its_extracted_files_is_ignored(se_archive):
    site = se_archive.with_suffix("")  # dumps/unix.stackexchange.com/ beside dumps/unix.stackexchange.com.7z
    write_se_file(site / "Posts.xml", "posts", SE_POSTS)
    write_se_file(site / "PostLinks.xml", "postlinks", SE_LINKS)
    assert pairs_of(list(mine_stackexchange(se_archive.parent, "title_body"))) == se_expected("title_body")
    build = build_source("stackexchange_dump_title_body", [se_archive.parent], progress=False)
    assert build.stats.pairs_written == len(se_expected("title_body"))  # once, not twice, and no error
    (site / "unix.stackexchange.com.7z").write_bytes(se_archive.read_bytes())  # the archive inside the site folder
    assert build_source("stackexchange_dump_title_body", [site], progress=False).stats.pairs_written == 3


def test_stackexchange_per_table_archives_of_the_big_sites(tmp_path):
    xml = tmp_path / "xml"
    posts = write_se_file(xml / "Posts.xml", "posts", SE_POSTS)
    links = write_se_file(xml / "PostLinks.xml", "postlinks", SE_LINKS)
    write_7z(tmp_path / "so" / "stackoverflow.com-Posts.7z", {"Posts.xml": posts})
    write_7z(tmp_path / "so" / "stackoverflow.com-PostLinks.7z", {"PostLinks.xml": links})
    write_7z(tmp_path / "so" / "stackoverflow.com-Users.7z", {"Users.xml": links})
    expected = se_expected("duplicate_title_title")
    assert pairs_of(list(mine_stackexchange(tmp_path / "so", "duplicate_title_title"))) == expected
    build = build_source("stackexchange_dump_duplicate_title_title", [tmp_path / "so"], progress=False)
    assert build.stats.pairs_written == 1


def test_an_archive_without_posts_is_a_clear_error(tmp_path):
    other = write_7z(tmp_path / "notes.7z", {"notes.txt": write_se_file(tmp_path / "n.xml", "notes", [])})
    with pytest.raises(UserError, match=r"notes\.7z: not_a_dump: no Posts\.xml in this 7z archive"):
        list(mine_stackexchange(other))
    with pytest.raises(UserError, match=r"readme\.txt: not_a_dump: readme\.txt is not a file of a Stack Exchange"):
        (tmp_path / "readme.txt").write_text("hello")
        build_source("stackexchange_dump_title_body", [tmp_path / "readme.txt"], progress=False)


OLD_NOTICE = (
    '<blockquote>\n  <p><strong>Possible Duplicate:</strong><br>\n  <a href="https://unix.stackexchange.com/q/1">'
    "How do I list hidden files?</a>  </p>\n</blockquote>\n\n<p>How can ls print the files that start with a dot?</p>"
)
NEW_NOTICE = (
    '<blockquote>\n<div>\n<strong>This question already has answers here</strong>:\n<div>\n<a href="/q/1">How do I '
    'list hidden files?</a>\n<span class="question-originals-answer-count">(2 answers)</span>\n</div>\n<div>Closed '
    "3 years ago.</div>\n</div>\n</blockquote>\n<p>How can ls print the files that start with a dot?</p>"
)


@pytest.mark.parametrize("body", [OLD_NOTICE, NEW_NOTICE])
def test_duplicate_notice_is_stripped_so_the_anchor_holds_no_positive_title(tmp_path, body):
    posts = [SE_POSTS[0], question(4, "Show dotfiles with ls", body, 2)]
    site = tmp_path / "site"
    write_se_file(site / "Posts.xml", "posts", posts)
    write_se_file(site / "PostLinks.xml", "postlinks", SE_LINKS[:1])
    assert pairs_of(list(mine_stackexchange(site, "duplicate_body_body"))) == se_expected("duplicate_body_body")
    assert strip_duplicate_notice("<p>Possible duplicates are rare here.</p>") == (
        "<p>Possible duplicates are rare here.</p>"
    )  # only the notice at the top is one


def test_rows_after_a_broken_tag_are_counted_as_lost_and_the_stop_is_located(tmp_path):
    body = "<p>A body long enough to pass.</p>"
    later = [question(100 + i, f"A later question number {i}", body) for i in range(20)]
    broken = '  <row Id="50" PostTypeId="1" Title="unclosed quote'
    site = tmp_path / "site"
    write_se_file(site / "Posts.xml", "posts", [SE_POSTS[0], SE_POSTS[3], broken, *later])
    links = [
        se_row(Id=1, PostId=4, RelatedPostId=1, LinkTypeId=3),
        se_row(Id=2, PostId=105, RelatedPostId=1, LinkTypeId=3),  # a question lost after the broken tag
    ]
    write_se_file(site / "PostLinks.xml", "postlinks", links)
    with pytest.raises(UserError, match=r"Posts\.xml:line 6, column 2: malformed_xml: .*the file stops here, after "
                       r"row 2: 20 rows after it are lost"):
        list(mine_stackexchange(site, "title_body"))
    stats = MiningStats(on_error="skip")
    assert len(list(mine_stackexchange(site, "title_body", stats=stats))) == 2
    assert stats.dropped == {"malformed_xml": 1, "lost_after_malformed_xml": 20}
    stats = MiningStats(on_error="skip")
    assert pairs_of(list(mine_stackexchange(site, "duplicate_title_title", stats=stats))) == [
        ("Show dotfiles with ls", "How do I list hidden files?")
    ]
    assert stats.dropped == {"malformed_xml": 1, "lost_after_malformed_xml": 20, "link_question_lost": 1}
    build = build_source("stackexchange_dump_title_body", [site], on_error="skip", progress=False)
    assert build.stats.rejected == {"malformed_xml": 1, "lost_after_malformed_xml": 20}
    assert build.stats.rows_read == 23 == build.stats.rows_kept + build.stats.rows_rejected


# --- Moses (Tatoeba / LASER) ------------------------------------------------------------------------------------


def write_tatoeba(folder: Path, pair: str, first: list[str], second: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    a, b = pair.split("-")
    (folder / f"tatoeba.{pair}.{a}").write_text("".join(line + "\n" for line in first), encoding="utf-8")
    (folder / f"tatoeba.{pair}.{b}").write_text("".join(line + "\n" for line in second), encoding="utf-8")


def test_moses_three_letter_codes_and_a_folder_of_several_pairs(tmp_path):
    laser = tmp_path / "laser"
    write_tatoeba(laser, "deu-eng", [de for _, de in EN_DE[:5]], [en for en, _ in EN_DE[:5]])
    write_tatoeba(laser, "fra-eng", ["Le chat dort."] * 3, ["The cat sleeps."] * 3)
    build = build_source("parallel_en_de", [laser], progress=False)
    assert build.dataset.to_list() == [{"anchor": en, "positive": de} for en, de in EN_DE[:5]]
    assert build.stats.filtered == {"other_language_pair": 2}
    assert build.stats.rows_read == 7 == build.stats.rows_kept + build.stats.rows_filtered
    only = build_source("parallel_en_de", [laser / "tatoeba.deu-eng.eng"], progress=False)
    assert only.stats.pairs_written == 5


def test_moses_missing_partner_is_a_file_level_error(tmp_path):
    write_tatoeba(tmp_path, "deu-eng", ["Hallo."], ["Hello."])
    (tmp_path / "tatoeba.deu-eng.deu").unlink()
    with pytest.raises(UserError, match=r"tatoeba\.deu-eng\.eng: missing_partner: no de file tatoeba\.deu-eng\.deu"):
        build_source("parallel_en_de", [tmp_path / "tatoeba.deu-eng.eng"], progress=False)
