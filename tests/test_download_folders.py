"""Folders as users download them, written here in each upstream layout with what comes beside the data: a site
folder with a LICENSE, an archive.org download folder with Sites.xml, an OPUS Moses folder with its .ids/.xml
alignment files, README and LICENSE, a Multi30k folder of three languages, a LASER Tatoeba folder with its README,
CodeSearchNet's .pkl files beside the jsonl. What is not an input is skipped and listed once; a file named
explicitly, or a folder with no input, is an error naming it."""

from __future__ import annotations

import gzip
import pickle

import pytest
from parallel_fixtures import EN_DE, write_moses
from test_miners import (
    SE_LINKS,
    SE_POSTS,
    csn_record,
    se_expected,
    se_row,
    write_jsonl_gz,
    write_se_file,
    write_wiki_dump,
)
from test_raw_dumps import SHARED, write_7z

from datasets_builders import build_source, mine_wikipedia
from se1b.cli import main as se1b
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


def rows(build) -> list[tuple[str, str]]:
    return [(row["anchor"], row["positive"]) for row in build.dataset]


def write_site(folder):
    write_se_file(folder / "Posts.xml", "posts", SE_POSTS)
    write_se_file(folder / "PostLinks.xml", "postlinks", SE_LINKS)
    return folder


def test_extracted_site_folder_with_a_license_file(tmp_path, capsys):
    site = write_site(tmp_path / "unix.stackexchange.com")
    (site / "LICENSE").write_text("Creative Commons Attribution-ShareAlike 4.0 International\n")
    build = build_source("stackexchange_dump_title_body", [site], progress=False)
    assert rows(build) == se_expected("title_body")
    assert build.stats.not_inputs == ["LICENSE"] and not build.stats.rejected
    args = ["data", "build", "stackexchange_dump_title_body", "--raw", str(site), "--out", str(tmp_path / "b")]
    assert se1b(args) == 0
    assert "skipped 1 file that is not an input: LICENSE" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"LICENSE: not_a_dump: LICENSE is not a file of a Stack Exchange site dump"):
        build_source("stackexchange_dump_title_body", [site / "LICENSE"], progress=False)


def test_archive_org_download_folder_with_sites_xml(tmp_path):
    xml = write_site(tmp_path / "xml")
    download = tmp_path / "stackexchange"
    tables = {"Posts.xml": xml / "Posts.xml", "PostLinks.xml": xml / "PostLinks.xml"}
    write_7z(download / "unix.stackexchange.com.7z", tables)
    write_7z(download / "stackoverflow.com-Posts.7z", {"Posts.xml": xml / "Posts.xml"})
    write_7z(download / "stackoverflow.com-PostLinks.7z", {"PostLinks.xml": xml / "PostLinks.xml"})
    write_se_file(
        download / "Sites.xml", "sites", [se_row(Id=1, TinyName="unix", Url="https://unix.stackexchange.com")]
    )
    (download / "stackexchange_files.xml").write_text('<files><file name="Sites.xml" source="original"/></files>\n')
    build = build_source("stackexchange_dump_duplicate_title_title", [download], progress=False)
    assert rows(build) == se_expected("duplicate_title_title") * 2  # stackoverflow.com's tables, then unix's archive
    assert build.stats.not_inputs == ["Sites.xml", "stackexchange_files.xml"] and not build.stats.rejected
    assert "skipped 2 files that are not inputs: Sites.xml, stackexchange_files.xml" in build.stats.summary()
    with pytest.raises(UserError, match=r"Sites\.xml: not_a_dump"):
        build_source("stackexchange_dump_duplicate_title_title", [download / "Sites.xml"], progress=False)


def test_a_folder_with_no_input_is_an_error_naming_it(tmp_path):
    (tmp_path / "LICENSE").write_text("MIT License\n")
    (tmp_path / "README.md").write_text("# Pairs\n")
    with pytest.raises(UserError, match=r"no input for squad in this folder \(expected .*; found LICENSE, README\.md"):
        build_source("squad", [tmp_path], progress=False)
    with pytest.raises(UserError, match=r"no input for stackexchange_dump_title_body in this folder .*found LICENSE"):
        build_source("stackexchange_dump_title_body", [tmp_path], progress=False)


def test_jsonl_folder_reads_json_by_name_or_content_and_lists_the_rest(tmp_path):
    (tmp_path / "pairs.jsonl").write_text('["a question", "an answer"]\n')
    (tmp_path / "more_pairs").write_text('{"query": "q", "pos": ["p"]}\n')  # no suffix: JSON by content
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n")  # an INI section is not a JSON list
    (tmp_path / "README.md").write_text("# Pairs\n")
    build = build_source("squad", [tmp_path], progress=False)
    assert rows(build) == [("q", "p"), ("a question", "an answer")]
    assert build.stats.not_inputs == ["README.md", "setup.cfg"]


def test_codesearchnet_zip_folder_with_its_pickles(tmp_path):
    go = tmp_path / "go"
    code = "func Add(a, b int) int {\n\treturn a + b\n}"
    record = csn_record("go", "Add", "// Add returns the sum of a and b.", code)
    write_jsonl_gz(go / "final" / "jsonl" / "train" / "go_train_0.jsonl.gz", [record])
    (go / "go_dedupe_definitions_v2.pkl").write_bytes(pickle.dumps([{"func_name": "Add"}]))
    (go / "go_licenses.pkl").write_bytes(pickle.dumps({"example/repo": "MIT"}))
    build = build_source("codesearchnet_go", [go], progress=False)
    assert rows(build) == [("Add returns the sum of a and b.", record["code"])]
    assert build.stats.not_inputs == ["go_dedupe_definitions_v2.pkl", "go_licenses.pkl"]


def test_opus_moses_folder_with_ids_xml_readme_and_license(tmp_path):
    folder = tmp_path / "de-en"
    write_moses(folder, name="Tatoeba.de-en")
    (folder / "Tatoeba.de-en.ids").write_text("".join(f"de/{i}.xml.gz\ten/{i}.xml.gz\t1\t1\n" for i in range(5)))
    (folder / "Tatoeba.de-en.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<cesAlign version="1.0"/>\n')
    (folder / "README").write_text("This corpus is part of OPUS.\n")
    (folder / "LICENSE").write_text("CC BY 2.0 FR\n")
    build = build_source("parallel_en_de", [folder], progress=False)
    assert rows(build) == EN_DE
    assert build.stats.not_inputs == ["LICENSE", "README", "Tatoeba.de-en.ids", "Tatoeba.de-en.xml"]
    assert (build.stats.rows_read, build.stats.rejected, build.stats.filtered) == (len(EN_DE), {}, {})
    with pytest.raises(UserError, match=r"Tatoeba\.de-en\.ids:line 1: wrong_columns: 4 tab-separated fields"):
        build_source("parallel_en_de", [folder / "Tatoeba.de-en.ids"], progress=False)


MULTI30K = {
    "en": ["A man rides a bicycle down a hill.", "Two dogs play in the snow.", "A girl eats an apple."],
    "de": ["Ein Mann fährt mit dem Fahrrad einen Hügel hinunter.", "Zwei Hunde spielen im Schnee.",
           "Ein Mädchen isst einen Apfel."],
    "fr": ["Un homme descend une colline à vélo.", "Deux chiens jouent dans la neige.", "Une fille mange une pomme."],
}  # fmt: skip


def test_multi30k_folder_of_three_languages(tmp_path):
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for language, lines in MULTI30K.items():
        (folder / f"val.{language}.gz").write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode()))
    (folder / "val.txt").write_text("1000092795.jpg\n10002456.jpg\n1000268201.jpg\n")  # the image list
    build = build_source("parallel_en_de", [folder], progress=False)  # on_error="raise": nothing is bad input
    assert rows(build) == list(zip(MULTI30K["en"], MULTI30K["de"], strict=True))
    assert build.stats.filtered == {"other_language_pair": 1} and not build.stats.rejected  # val.fr.gz
    assert build.stats.not_inputs == ["val.txt"]
    french = build_source("parallel_en_fr", [folder], progress=False)
    assert rows(french) == list(zip(MULTI30K["en"], MULTI30K["fr"], strict=True))
    with pytest.raises(UserError, match=r"^no en/ja files in .*multi30k \(it holds de, en, fr files\)$"):
        build_source("parallel_en_ja", [folder], progress=False)


def test_laser_tatoeba_folder_with_its_readme_and_codes_outside_the_table(tmp_path):
    folder = tmp_path / "tatoeba" / "v1"
    write_moses(folder, name="tatoeba.deu-eng")
    for name in ("tatoeba.deu-eng.en", "tatoeba.deu-eng.de"):
        (folder / name).rename(folder / name.replace(".en", ".eng").replace(".de", ".deu"))
    write_moses(folder, EN_DE[:2], name="tatoeba.ang-eng")  # Old English: a code the ISO table does not hold
    for name in ("tatoeba.ang-eng.en", "tatoeba.ang-eng.de"):
        (folder / name).rename(folder / name.replace(".en", ".eng").replace(".de", ".ang"))
    (folder / "README.md").write_text("# Tatoeba test sets\n")
    build = build_source("parallel_en_de", [tmp_path / "tatoeba"], progress=False)
    assert rows(build) == EN_DE
    assert build.stats.filtered == {"other_language_pair": 2} and not build.stats.rejected
    assert build.stats.not_inputs == ["v1/README.md"]


def test_wikipedia_download_folder_with_checksums_and_status(tmp_path):
    write_wiki_dump(tmp_path / "enwiki-20210501-pages-articles.xml.bz2", SHARED)
    (tmp_path / "enwiki-20210501-md5sums.txt").write_text("0123abcd  enwiki-20210501-pages-articles.xml.bz2\n")
    (tmp_path / "dumpstatus.json").write_text('{"jobs": {}}\n')
    write_se_file(tmp_path / "Sites.xml", "sites", [se_row(Id=1, TinyName="unix")])
    build = build_source("wikipedia_category_intros", [tmp_path], progress=False)
    assert build.stats.pairs_written == 4
    assert build.stats.not_inputs == ["Sites.xml", "dumpstatus.json", "enwiki-20210501-md5sums.txt"]
    assert len(list(mine_wikipedia(tmp_path))) == 4  # the Python API skips Sites.xml too


def test_a_long_list_of_files_that_are_not_inputs_is_cut_in_the_summary(tmp_path):
    (tmp_path / "pairs.jsonl").write_text('["a question", "an answer"]\n')
    for number in range(12):
        (tmp_path / f"notes{number:02d}.txt").write_text("a note\n")
    stats = build_source("squad", [tmp_path], progress=False).stats
    assert len(stats.not_inputs) == 12
    assert "skipped 12 files that are not inputs: notes00.txt, " in stats.summary()
    assert stats.summary().endswith("notes09.txt and 2 more")
