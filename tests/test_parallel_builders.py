"""Parallel-sentence sources: TSV (plain, gzip, header, WikiMatrix score column) and Moses files -> build -> publish
-> load_dataset (both modes); bad input stops with the file and line, or is skipped and counted by reason."""

from __future__ import annotations

import datasets
import pytest
from parallel_fixtures import EN_DE, write_moses, write_tsv

from datasets_builders import build_source, get_source, list_sources, publish
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

EXPECTED = [{"anchor": en, "positive": de} for en, de in EN_DE]  # a pair config: no negative column


def _round_trip(tmp_path, raw_paths) -> tuple[list[dict], list[dict]]:
    build = build_source("parallel_en_de", raw_paths, progress=False)
    hub = publish(build, tmp_path / "hub", progress=False)
    loaded = datasets.load_dataset(str(hub), "parallel_en_de", split="train").to_list()
    streamed = list(datasets.load_dataset(str(hub), "parallel_en_de", split="train", streaming=True))
    return loaded, streamed


def test_language_pair_configs_are_registered_with_their_languages():
    names = {source.name for source in list_sources()}
    assert {"parallel_en_de", "parallel_en_fr", "parallel_en_zh"} <= names
    source = get_source("parallel_en_de")
    assert source.language == ("en", "de")
    assert "anchor = the en sentence" in source.description and "positive = its de translation" in source.description


@pytest.mark.parametrize("compress", [False, True])
def test_tsv_round_trips_through_publish_and_load_dataset(tmp_path, compress):
    raw = write_tsv(tmp_path / "ted2020-en-de.tsv", compress=compress, header=True)
    build = build_source("parallel_en_de", [raw], progress=False)
    assert build.stats.filtered == {"header": 1} and build.stats.pairs_written == len(EN_DE)
    loaded, streamed = _round_trip(tmp_path, [raw])
    assert loaded == streamed == EXPECTED
    card = (tmp_path / "hub" / "README.md").read_text()
    assert "parallel_en_de" in card and "- de" in card


def test_moses_files_round_trip_from_the_folder_or_the_source_file(tmp_path):
    english, _ = write_moses(tmp_path / "opus")
    for raw in (tmp_path / "opus", english):  # the folder holds both files; the .de is read with its partner
        loaded, streamed = _round_trip(tmp_path / raw.name, [raw])
        assert loaded == streamed == EXPECTED


def test_wikimatrix_score_column_is_dropped(tmp_path):
    raw = tmp_path / "wikimatrix.tsv"
    raw.write_text("".join(f"1.0{i}\t{en}\t{de}\n" for i, (en, de) in enumerate(EN_DE[:5])), encoding="utf-8")
    build = build_source("parallel_en_de", [raw], progress=False)
    assert build.dataset.to_list() == EXPECTED[:5]


def test_moses_line_count_mismatch_names_both_files(tmp_path):
    english, german = write_moses(tmp_path / "opus")
    german.write_text("".join(de + "\n" for _, de in EN_DE[:-2]), encoding="utf-8")
    with pytest.raises(UserError, match=rf"corpus\.de-en\.en:line {len(EN_DE) - 1}: line_count_mismatch: "
                                        rf"{len(EN_DE)} lines but its de partner corpus\.de-en\.de has "
                                        rf"{len(EN_DE) - 2}"):
        build_source("parallel_en_de", [english], progress=False)
    german.unlink()
    with pytest.raises(UserError, match=r"corpus\.de-en\.en: missing_partner: no de file corpus\.de-en\.de"):
        build_source("parallel_en_de", [english], progress=False)


def test_tsv_bad_lines_stop_with_file_and_line_or_are_counted(tmp_path):
    raw = tmp_path / "bad.tsv"
    lines = [f"{en}\t{de}" for en, de in EN_DE[:4]]
    lines[1] = "no tab on this line"
    lines.insert(3, "An English sentence.\t   ")  # empty German side
    lines.append("a\tb\tc")  # three columns, the first no score
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.tsv:line 2: missing_tab: no tab: expected en<TAB>de"):
        build_source("parallel_en_de", [raw], progress=False)
    build = build_source("parallel_en_de", [raw], on_error="skip", progress=False)
    assert build.stats.rejected == {"missing_tab": 1, "empty_side": 1, "wrong_columns": 1}
    assert build.stats.rows_read == 6 and build.stats.pairs_written == 3
    assert any("bad.tsv:line 4: empty_side: the de side is empty" in s for s in build.stats.error_samples)
    assert build.dataset.to_list() == [EXPECTED[0], EXPECTED[2], EXPECTED[3]]
