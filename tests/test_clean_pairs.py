"""Pairs a model should learn from, on text the project writes in each upstream form: no pair whose two sides are the
same text; Wikipedia year and day pages and navigation or list intros are not articles to pair; namespace aliases
(Vietnamese Hình:), magic words and bracketed link labels leave no markup; CodeSearchNet docstrings lose their Go,
Java and JSDoc comment markers and Javadoc HTML."""

from __future__ import annotations

import pytest
from test_miners import MW, csn_record, pairs_of, wiki_page, write_jsonl_gz, write_wiki_dump

from datasets_builders import build_source, mine_wikipedia
from datasets_builders.miners import MiningStats
from datasets_builders.miners.codesearchnet import docstring_text
from datasets_builders.miners.text import media_prefix, namespace_names, strip_navigation_lines, wiki_to_text
from datasets_builders.miners.wikipedia import is_calendar_page

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


def test_pairs_whose_sides_are_equal_after_normalisation_are_never_written(tmp_path):
    raw = write_jsonl_gz(
        tmp_path / "pairs.jsonl.gz",
        [["The cat sat.", "the  CAT sat."], ["Ａ fox", "A FOX"], ["a", "b"], {"set": ["x", "X", "y"]}],
    )
    build = build_source("squad", [raw], progress=False)
    assert pairs_of([{**row, "negative": None} for row in build.dataset]) == [("a", "b"), ("x", "y"), ("X", "y")]
    stats = build.stats
    assert (stats.rows_read, stats.rows_kept, stats.pairs_generated, stats.same_text, stats.pairs_written) == (
        4, 4, 6, 3, 3,
    )  # fmt: skip
    assert "3 same_text (both sides equal)" in stats.summary()


def article(who: str, category: str) -> str:
    return f"'''{who}''' {TOWN}\n[[Category:{category}]]"


TOWN = "is a town on the river whose long history this introduction describes."


def year_page(year: int) -> str:
    return (
        f"{{{{Year nav|{year}}}}}\n[[{year - 1}]] | '''{year}''' | [[{year + 1}]]\n----\n"
        f"The year {year} of the Gregorian calendar, with the events, births and deaths listed below.\n"
        "== Events ==\n* [[1 January]] – a treaty is signed.\n* [[2 May]] – a bridge opens.\n"
        f"== Births ==\n* [[3 June]] – a poet is born.\n[[Category:{year // 10 * 10}s]]"
    )


DAY_PAGE = (
    "{{Months}}\n[[24 March]] | '''25 March''' | [[26 March]]\n----\n'''25 March''' is the 84th day of the year "
    "in the Gregorian calendar.\n== Events ==\n* 1821 – a revolution begins.\n* 1957 – a treaty is signed.\n"
    "* 1979 – a ship is launched.\n* 1990 – an election is held.\n* 2001 – a museum opens.\n"
    "* 2010 – a park opens.\n[[Category:Days of March]]"
)
LINK_INTRO = "[[Reformation]] [[Age of Discovery]] [[Hanseatic League]] [[Dutch Revolt]] [[Zaporozhian Sich]]"


def test_year_and_day_pages_and_navigation_intros_are_counted_not_paired(tmp_path):
    pages = [
        wiki_page(1, "1600", year_page(1600)),
        wiki_page(2, "1601", year_page(1601)),
        wiki_page(3, "25 March", DAY_PAGE),
        wiki_page(4, "Months", " | ".join(map(str, range(1, 21))) + "\n[[Category:1600s]]"),
        wiki_page(5, "Early modern period", LINK_INTRO + "\n== Overview ==\nx\n[[Category:1600s]]"),
        wiki_page(6, "Rivers", "* [[Danube]], a long river of Europe\n* [[Rhine]], a river of the Alps\n"
                  "* [[Elbe]], a river of Bohemia\n[[Category:Rivers]]"),
        wiki_page(7, "Apollo 11", article("Apollo 11", "Towns")),  # a number in the title, prose: an article
        wiki_page(8, "Ulm", article("Ulm", "Towns")),
    ]  # fmt: skip
    dump = write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles.xml.bz2", pages)
    stats = MiningStats()
    pairs = pairs_of(list(mine_wikipedia(dump, stats=stats)))
    assert pairs == [(f"Apollo 11 {TOWN}", f"Ulm {TOWN}")]  # seed 0 orders Ulm first
    assert stats.dropped == {"calendar_page": 3, "navigation_intro": 3, "no_shared_category": 1}
    assert is_calendar_page("1944年", "* a\n* b") and is_calendar_page("25 Μαρτίου", "x\n* a\n* b")
    assert not is_calendar_page("1944年", "Prose about the year.\n== Events ==\n* a")


def test_a_navigation_strip_before_the_prose_is_removed_and_the_prose_kept(tmp_path):
    strip = "[[Spring]] | '''Easter''' | [[Summer]]\n----\n"
    prose = "'''Easter''' is a festival celebrated in spring by many churches around the world."
    pages = [
        wiki_page(1, "Easter", f"{strip}{prose}\n[[Category:Feasts]]"),
        wiki_page(2, "Lent", article("Lent", "Feasts")),
    ]
    pairs = pairs_of(list(mine_wikipedia(write_wiki_dump(tmp_path / "dump.xml.bz2", pages))))
    assert pairs == [(f"Lent {TOWN}", prose.replace("'''", ""))]
    assert strip_navigation_lines("[[Reformation]]{{•}} [[Hansa]] {{•}} [[Sich]]\nProse.") == "Prose."
    assert strip_navigation_lines("'''Ada''' [[Lovelace]]\nProse.") == "'''Ada''' [[Lovelace]]\nProse."  # no separator


SITEINFO_VI = (
    "<siteinfo>\n<sitename>Wikipedia</sitename>\n<dbname>viwiki</dbname>\n<namespaces>\n"
    '<namespace key="0" case="first-letter" />\n<namespace key="6" case="first-letter">Tập tin</namespace>\n'
    '<namespace key="14" case="first-letter">Thể loại</namespace>\n</namespaces>\n'
    '<namespacealiases>\n<ns id="6">Ảnh</ns>\n</namespacealiases>\n</siteinfo>\n'
)


def test_local_namespace_aliases_magic_words_and_bracketed_labels_leave_no_markup(tmp_path):
    hue = (
        "__NOTOC__\n[[Hình:Hue.jpg|nhỏ|phải|Kinh thành [[Huế]] năm 1932]]'''Huế''' là một thành phố ở miền Trung "
        "[[Việt Nam|Việt Nam [a]]], từng là kinh đô của triều Nguyễn.__KHÔNGMỤCLỤC__\n== Lịch sử ==\nx\n"
        "[[Thể loại:Thành phố Việt Nam]]"
    )
    hoi_an = (
        "[[Ảnh:Hoi An.jpg|nhỏ|Phố cổ]][[Tập tin:Lantern.jpg|nhỏ|Đèn lồng]]'''Hội An''' là một thành phố thuộc tỉnh "
        "Quảng Nam, nổi tiếng với phố cổ ven sông Thu Bồn.__TOC__\n[[Thể loại:Thành phố Việt Nam]]"
    )
    dump = tmp_path / "viwiki-20230501-pages-articles.xml"
    header = f'<mediawiki xmlns="{MW}" version="0.10" xml:lang="vi">\n'
    pages = [wiki_page(1, "Huế", hue), wiki_page(2, "Hội An", hoi_an)]
    dump.write_text(header + SITEINFO_VI + "".join(pages) + "</mediawiki>\n", encoding="utf-8")
    assert pairs_of(list(mine_wikipedia(dump))) == [
        (
            "Hội An là một thành phố thuộc tỉnh Quảng Nam, nổi tiếng với phố cổ ven sông Thu Bồn.",
            "Huế là một thành phố ở miền Trung Việt Nam [a], từng là kinh đô của triều Nguyễn.",
        )
    ]
    assert "Hình" in namespace_names({}, "vi")["6"] and "Hình" not in namespace_names({}, "en")["6"]
    assert wiki_to_text("[[Bild:Ulm.jpg|mini|Ulm]]Ulm ist alt.", media_prefix(namespace_names({}, "de"))) == (
        "Ulm ist alt."
    )
    assert (
        wiki_to_text("A __FORCETOC__ method __init__ and [[A|see [[B]] [c]]].") == "A method __init__ and see B [c]."
    )
    # seen in a real enwiki dump: Ayn Rand's lead lost her birth date and read as born in 1982
    lead = ("'''Ayn Rand''' (born Alisa; {{OldStyleDate|February 2|1905|January 20}} – "
            "{{death date and age|mf=yes|1982|03|06|1905|02|02}}) was a writer.")
    assert wiki_to_text(lead) == "Ayn Rand (born Alisa; February 2 1905 – March 6, 1982) was a writer."
    dates = "Born {{Birth date|df=yes|1885|4|3}}, or {{birth date and age|1947|04|01|df=y}}."
    assert wiki_to_text(dates) == "Born 3 April 1885, or 1 April 1947."
    assert wiki_to_text("A (born {{birth date|circa|1900}}) was.") == "A (born) was."  # not a date: removed as before
    # seen in a real enwiki dump: "The American Revolutionary War (1775{{ndash}}1783)" lost its dash
    assert wiki_to_text("The war (1775{{ndash}}1783) ended{{snd}}at last{{Mdash}}in Paris.") == (
        "The war (1775\u20131783) ended \u2013 at last\u2014in Paris."
    )


@pytest.mark.parametrize(
    ("language", "docstring", "text"),
    [
        ("go", "// Add returns the sum of a and b.\n// It never overflows.", "Add returns the sum of a and b.\n"
         "It never overflows."),
        ("go", "/* Add returns the sum of a and b. */", "Add returns the sum of a and b."),
        ("java", "/**\n * Returns the <b>larger</b> of two {@code int} values.\n *\n * <p>Ties return {@link #a}.\n"
         " * <img src=\"doc-files/max.png\" alt=\"max\">\n * @param a the first &amp; only\n */",
         "Returns the larger of two int values.\nTies return #a.\n@param a the first & only"),
        ("java", "* Returns a {@code List<String>} of names.", "Returns a List<String> of names."),
        ("javascript", "/**\n * Formats a date.\n * @param {Date} date\n */", "Formats a date.\n@param {Date} date"),
        ("python", "Add two numbers.\n\n    * one\n    * two", "Add two numbers.\n\n    * one\n    * two"),
    ],
)  # fmt: skip
def test_codesearchnet_docstrings_lose_comment_markers_and_javadoc_html(language, docstring, text):
    assert docstring_text(docstring, language) == text


def test_codesearchnet_build_writes_the_docstring_text(tmp_path):
    go_code = "func Add(a, b int) int {\n\treturn a + b\n}"
    java_code = "int max(int a, int b) {\n  return a > b ? a : b;\n}"
    records = [
        csn_record("go", "Add", "// Add returns the sum of a and b.", go_code),
        csn_record("go", "Empty", "// \n//\n// ", "func Empty() {}"),  # only markers: nothing to learn from
    ]
    write_jsonl_gz(tmp_path / "go" / "go_train_0.jsonl.gz", records)
    write_jsonl_gz(
        tmp_path / "java" / "java_train_0.jsonl.gz",
        [csn_record("java", "max", "/**\n * Returns the <em>larger</em> of two ints.\n */", java_code)],
    )
    go = build_source("codesearchnet_go", [tmp_path / "go"], progress=False)
    assert [(row["anchor"], row["positive"]) for row in go.dataset] == [("Add returns the sum of a and b.", go_code)]
    assert go.stats.filtered == {"empty_docstring": 1}
    java = build_source("codesearchnet_java", [tmp_path / "java"], progress=False)
    assert java.dataset[0]["anchor"] == "Returns the larger of two ints."
