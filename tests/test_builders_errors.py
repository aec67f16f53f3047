"""Bad raw input: by default a one-line error naming file and line; with --on-error skip, counted by reason, in the
command output and the card, and nothing lost: rows read = rows kept + rows rejected."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest
import yaml

from datasets_builders import Filtered, RecordError, Source, build_source, register_source
from datasets_builders.registry import _REGISTRY
from se1b.cli import main as se1b
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

GOOD = [["q1", "a1"], ["q2", "a2"], ["q3", "a3"]]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def good(record: object) -> bytes:
    return json.dumps(record).encode()


# (reason, the bad line) — each placed as line 3 of a file whose other lines are good squad pairs.
BAD_LINES = {
    "invalid_json": b'["q", "a"',
    "not_utf8": b'["caf\xe9", "a"]',
    "wrong_arity": good(["only one text"]),
    "empty_text": good(["   ", "an answer"]),
    "wrong_type": good(["q", 7]),
    "unknown_format": good({"question": "q", "answer": "a"}),
    "blank_line": b"   ",
}


@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_bad_line_raises_with_file_and_line_by_default(tmp_path, reason):
    raw = write_lines(tmp_path / "bad.jsonl.gz", [good(GOOD[0]), good(GOOD[1]), BAD_LINES[reason], good(GOOD[2])])
    with pytest.raises(UserError, match=rf"bad\.jsonl\.gz:line 3: {reason}: "):
        build_source("squad", [raw], progress=False)


@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_bad_line_is_skipped_and_counted(tmp_path, reason):
    raw = write_lines(tmp_path / "bad.jsonl.gz", [good(GOOD[0]), good(GOOD[1]), BAD_LINES[reason], good(GOOD[2])])
    build = build_source("squad", [raw], on_error="skip", progress=False)
    stats = build.stats
    assert stats.rejected == {reason: 1}
    assert stats.rows_read == 4 == stats.rows_kept + stats.rows_rejected
    assert build.dataset["anchor"] == ["q1", "q2", "q3"]
    assert stats.error_samples[0].startswith(f"{raw}:line 3: {reason}: ")


def test_triplet_source_rejects_pairs_as_wrong_arity(tmp_path):
    raw = write_lines(tmp_path / "nli.jsonl.gz", [good(["a", "p", "n"]), good(["a", "p"])])
    with pytest.raises(UserError, match=r"nli\.jsonl\.gz:line 2: wrong_arity: 2 texts, allnli expects 3"):
        build_source("allnli", [raw], progress=False)


def truncated_gzip(path: Path, rows: int) -> Path:
    data = gzip.compress(b"".join(good([f"question {i}", f"answer {i}"]) + b"\n" for i in range(rows)))
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_gzip_raises_with_the_line_where_it_broke(tmp_path):
    raw = truncated_gzip(tmp_path / "cut.jsonl.gz", 5000)
    with pytest.raises(UserError, match=r"cut\.jsonl\.gz:line \d+: truncated_file: "):
        build_source("squad", [raw], progress=False)


def test_truncated_gzip_skip_keeps_what_was_readable_and_goes_on_to_the_next_file(tmp_path):
    cut = truncated_gzip(tmp_path / "cut.jsonl.gz", 5000)
    after = write_lines(tmp_path / "after.jsonl.gz", [good(["after q", "after a"])])
    build = build_source("squad", [cut, after], on_error="skip", progress=False)
    stats = build.stats
    assert stats.rejected == {"truncated_file": 1}
    assert stats.rows_read == stats.rows_kept + stats.rows_rejected
    kept = build.dataset["anchor"]  # files in natural order, whatever order they are given in
    assert 0 < len(kept) - 1 < 5000 and kept[0] == "after q"
    assert kept[1:] == [f"question {i}" for i in range(len(kept) - 1)]  # a clean prefix, nothing garbled


def test_cli_skip_reports_counts_in_output_and_card(tmp_path, capsys):
    lines = [good(GOOD[0]), b"{not json", good(["", "x"]), b'["\xff\xfe", "x"]', good(["a", "b", "c", "d"])]
    raw = write_lines(tmp_path / "mixed.jsonl.gz", lines + [good(GOOD[1])])
    hub = tmp_path / "hub"
    assert se1b(["data", "publish", "squad", "--raw", str(raw), "--out", str(hub), "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    assert "read 6 rows, kept 2, rejected 4 (empty_text 1, invalid_json 1, not_utf8 1, wrong_arity 1)" in out
    card = (hub / "README.md").read_text()
    for reason in ("empty_text", "invalid_json", "not_utf8", "wrong_arity"):
        assert f"| {reason} | 1 |" in card
    assert "`mixed.jsonl.gz:line 2: invalid_json: " in card and str(tmp_path) not in card  # no local paths published
    # read, kept, filtered, rejected, generated, duplicates, same text, written
    assert "| 6 | 2 | 0 | 4 | 2 | 0 | 0 | 2 |" in card
    assert datasets.load_dataset(str(hub), "squad", split="train")["anchor"] == ["q1", "q2"]


def test_cli_default_policy_exits_2_naming_file_and_line(tmp_path, capsys):
    raw = write_lines(tmp_path / "broken.jsonl.gz", [good(GOOD[0]), b"[1, 2"])
    assert se1b(["data", "build", "squad", "--raw", str(raw), "--out", str(tmp_path / "b")]) == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: the progress bar
    assert last_line.startswith("se1b data: error: ") and f"{raw}:line 2: invalid_json" in last_line
    assert not (tmp_path / "b" / "pairs.arrow").exists()  # no half-written build left behind


def test_missing_raw_file_and_unknown_source_are_user_errors(tmp_path, capsys):
    assert se1b(["data", "build", "squad", "--raw", str(tmp_path / "nope.jsonl.gz"), "--out", str(tmp_path)]) == 2
    assert "raw file not found" in capsys.readouterr().err
    assert se1b(["data", "build", "no_such_source", "--raw", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "unknown source 'no_such_source'; known sources: allnli" in capsys.readouterr().err


def test_cli_list_build_then_publish_build_folders(tmp_path, capsys):
    assert se1b(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "1,170,060,424 pairs in the 2021 mix" in listing
    assert any(line.split()[:4] == ["squad", "87,599", "22", "cc-by-sa-4.0"] for line in listing.splitlines())
    raw_squad = write_lines(tmp_path / "squad.jsonl.gz", [good(r) for r in GOOD])
    raw_nli = write_lines(tmp_path / "nli.jsonl.gz", [good(["p", "e", "c"])])
    assert se1b(["data", "build", "squad", "--raw", str(raw_squad), "--out", str(tmp_path / "b1")]) == 0
    assert se1b(["data", "build", "allnli", "--raw", str(raw_nli), "--out", str(tmp_path / "b2")]) == 0
    hub = tmp_path / "hub"
    assert se1b(["data", "publish", str(tmp_path / "b1"), str(tmp_path / "b2"), "--out", str(hub)]) == 0
    assert "published squad, allnli" in capsys.readouterr().out
    nli = list(datasets.load_dataset(str(hub), "allnli", split="train", streaming=True))
    assert nli == [{"anchor": "p", "positive": "e", "negative": "c"}]
    assert datasets.load_dataset(str(hub), "squad", split="train")["positive"] == ["a1", "a2", "a3"]


def test_compression_is_recognised_by_content_not_name(tmp_path):
    """The download manager caches files under hash names without extension: gzip, bz2, xz and zstd are sniffed."""
    import bz2
    import lzma

    import zstandard

    lines = b"".join(good(r) + b"\n" for r in GOOD)
    (tmp_path / "gz_no_extension").write_bytes(gzip.compress(lines))
    (tmp_path / "bz2_no_extension").write_bytes(bz2.compress(lines))
    (tmp_path / "xz_no_extension").write_bytes(lzma.compress(lines))
    (tmp_path / "zst_no_extension").write_bytes(zstandard.ZstdCompressor().compress(lines))
    (tmp_path / "plain.txt").write_bytes(lines)
    for name in ("gz_no_extension", "bz2_no_extension", "xz_no_extension", "zst_no_extension", "plain.txt"):
        assert build_source("squad", [tmp_path / name], progress=False).dataset["anchor"] == ["q1", "q2", "q3"]
    (tmp_path / "data.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    with pytest.raises(UserError, match=r"data\.jsonl\.zst:line 1: (corrupt|truncated)_file: .*zstd"):
        build_source("squad", [tmp_path / "data.jsonl.zst"], progress=False)


def test_default_input_goes_through_the_download_manager(tmp_path):
    """Without raw paths a source's `urls` are fetched by datasets' DownloadManager (here a local path, offline)."""
    raw = write_lines(tmp_path / "hosted.jsonl.gz", [good(r) for r in GOOD])
    source = Source(
        name="hosted_test",
        pretty_name="t",
        description="d",
        license="mit",
        citation="@misc{x}",
        homepage="https://example.org",
        urls=(str(raw),),
    )
    assert build_source(source, progress=False).dataset["anchor"] == ["q1", "q2", "q3"]
    no_url = Source(
        name="no_url",
        pretty_name="t",
        description="d",
        license="mit",
        citation="@misc{x}",
        homepage="https://example.org",
        notes="mine it first",
    )
    with pytest.raises(UserError, match="no downloadable raw file; pass local files with --raw"):
        build_source(no_url, progress=False)


def test_a_registered_source_with_its_own_reader_gets_build_publish_and_card(tmp_path):
    """What a miner does: a reader for its own raw format and a record converter; the rest comes for free."""

    def read_tsv(path):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.startswith("#"):  # the source's own documented filter: counted, never an error
                    yield number, Filtered("comment_line")
                    continue
                fields = line.rstrip("\n").split("\t")
                yield number, (fields if len(fields) == 2 else RecordError("bad_columns", f"{len(fields)} columns"))

    source = Source(
        name="tsv_test",
        pretty_name="TSV test",
        description="pairs from a TSV",
        license="cc0-1.0",
        citation="@misc{tsv}",
        homepage="https://example.org",
        raw_format="TSV: question<TAB>answer",
        reader=read_tsv,
        to_texts=lambda fields: [tuple(fields)],
        tags=("test",),
    )
    register_source(source)
    try:
        raw = tmp_path / "pairs.tsv"
        raw.write_text("# a comment\nhow are you\tfine thanks\nbroken line\nwhat time\tnoon\n")
        with pytest.raises(UserError, match=r"pairs\.tsv:line 3: bad_columns: 1 columns"):
            build_source("tsv_test", [raw], progress=False)
        stats = build_source("tsv_test", [raw], on_error="skip", progress=False).stats
        assert (stats.filtered, stats.rejected, stats.rows_kept) == ({"comment_line": 1}, {"bad_columns": 1}, 2)
        assert stats.rows_read == 4 == stats.rows_kept + stats.rows_filtered + stats.rows_rejected
        hub = tmp_path / "hub"
        assert se1b(["data", "publish", "tsv_test", "--raw", str(raw), "--out", str(hub), "--on-error", "skip"]) == 0
        assert list(datasets.load_dataset(str(hub), "tsv_test", split="train", streaming=True)) == [
            {"anchor": "how are you", "positive": "fine thanks"},
            {"anchor": "what time", "positive": "noon"},
        ]
        card = (hub / "README.md").read_text()
        assert "| comment_line | 1 |" in card and "| bad_columns | 1 |" in card
        meta = yaml.safe_load(card.split("---\n")[1])
        assert meta["license"] == "cc0-1.0" and "test" in meta["tags"]
        with pytest.raises(ValueError, match="already registered"):
            register_source(source)
    finally:
        _REGISTRY.pop("tsv_test", None)


def test_build_gives_the_same_rows_and_counts_whatever_the_order_of_the_files(tmp_path):
    files = [
        write_lines(tmp_path / "a.jsonl.gz", [good(["a1", "x"]), b"{bad", good(["dup", "twin"])]),
        write_lines(tmp_path / "b.jsonl.gz", [good(["b1", "y"]), good(["dup", "twin"]), good(["", "z"])]),
        write_lines(tmp_path / "c.jsonl.gz", [good({"set": ["c1", "c2", "c3"]})]),
    ]
    given = build_source("squad", files, on_error="skip", dedupe=True, progress=False)
    reversed_ = build_source("squad", files[::-1], on_error="skip", dedupe=True, progress=False)
    assert reversed_.dataset.to_list() == given.dataset.to_list()
    assert given.dataset["anchor"] == ["a1", "dup", "b1", "c1", "c1", "c2"]  # the first "dup" in file order stays
    assert reversed_.stats.to_dict() == given.stats.to_dict()
    stats = given.stats
    assert (stats.rows_read, stats.rows_kept, stats.rejected) == (7, 5, {"invalid_json": 1, "empty_text": 1})
    assert (stats.pairs_generated, stats.duplicates_removed, stats.pairs_written) == (7, 1, 6)
    assert [sample.split(":")[0] for sample in stats.error_samples] == [str(files[0]), str(files[1])]
    with pytest.raises(UserError, match=r"a\.jsonl\.gz:line 2: invalid_json"):
        build_source("squad", files, progress=False)
