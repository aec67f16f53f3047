"""Issue 25, points 1, 2, 6 and 9: `se1b data publish` and `se1b data mine-negatives` never delete or write outside
the folder the user named, never replace a folder they did not write, and never let one build silently replace
another. Each refusal is one line, and the tree around the named folder is byte-for-byte what it was."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest
from pair_fixtures import write_hub_folder
from tree_fixtures import error_line, tree_digest

from se1b import cli


def _build(tmp_path: Path, folder: str, pairs: list[list[str]], source: str = "altlex") -> Path:
    raw = tmp_path / f"{folder}.jsonl.gz"
    with gzip.open(raw, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(pair) + "\n" for pair in pairs)
    out = tmp_path / "builds" / folder
    assert cli.main(["data", "build", source, "--raw", str(raw), "--out", str(out)]) == 0
    raw.unlink()
    return out


@pytest.mark.parametrize("name", ["../../../victim", "a/b", "..", ".hidden"])
def test_publish_refuses_a_build_whose_source_name_is_not_a_safe_config_name(tmp_path, monkeypatch, capsys, name):
    """Point 1: build.json's source name becomes data/<name>/ and build_reports/<name>.json."""
    monkeypatch.chdir(tmp_path)
    build = _build(tmp_path, "a", [["q one", "a one"], ["q two", "a two"]])
    saved = json.loads((build / "build.json").read_text())
    saved["source"]["name"] = name
    (build / "build.json").write_text(json.dumps(saved))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("the user's own file\n")
    capsys.readouterr()
    before = tree_digest(tmp_path)

    assert cli.main(["data", "publish", str(build), "--out", "a/repo"]) == 2

    line = error_line(capsys.readouterr().err, "data")
    assert f"build.json: source name {name!r}" in line and "not a safe name" in line
    assert tree_digest(tmp_path) == before  # nothing deleted or written, not even a/repo


@pytest.mark.parametrize("flag, value", [("--name", "../../../victim2"), ("--name", "x/../../y"),
                                         ("--config", "../../topics")])
def test_mine_negatives_refuses_a_name_that_is_not_a_safe_config_name(tmp_path, minilm_path, capsys, flag, value):
    """Point 2: the same from a command-line flag, refused before the model is loaded or anything written."""
    repo = write_hub_folder(tmp_path / "pairs", {"topics": [{"anchor": [f"question {i}" for i in range(8)],
                                                             "positive": [f"answer {i}" for i in range(8)]}]})
    victim = tmp_path / "x" / "victim2"
    victim.mkdir(parents=True)
    (victim / "notes.txt").write_text("the user's own file\n")
    before = tree_digest(tmp_path)
    args = {"--config": "topics", "--name": "topics-negatives"} | {flag: value}
    code = cli.main(["data", "mine-negatives", str(repo), "--model", str(minilm_path), "--out",
                     str(tmp_path / "x" / "a" / "repo"), "--cache-dir", str(tmp_path / "cache"),
                     "--range-max", "3", *[item for pair in args.items() for item in pair]])
    assert code == 2
    line = error_line(capsys.readouterr().err, "data")
    assert f"{flag} {value!r}" in line and "not a safe name" in line
    assert tree_digest(tmp_path) == before


def test_publish_refuses_a_folder_it_did_not_write_and_adds_configs_to_its_own(tmp_path, capsys):
    """Point 6: only a folder publish wrote (its build_reports/) may be written into."""
    build = _build(tmp_path, "a", [["q one", "a one"]])
    user = tmp_path / "user-repo"
    (user / "data" / "altlex").mkdir(parents=True)
    (user / "README.md").write_text("# my own dataset\n")
    (user / "data" / "altlex" / "mine.csv").write_text("a,b\n")
    capsys.readouterr()
    before = tree_digest(tmp_path)

    assert cli.main(["data", "publish", str(build), "--out", str(user)]) == 2
    line = error_line(capsys.readouterr().err, "data")
    assert f"--out {user}" in line and "did not write" in line
    assert tree_digest(tmp_path) == before

    # Our own repo folder: a second config is added beside the first, which stays as it was.
    ours = tmp_path / "ours"
    assert cli.main(["data", "publish", str(build), "--out", str(ours)]) == 0
    first = tree_digest(ours / "data" / "altlex")
    gooaq = _build(tmp_path, "g", [["gq", "ga"]], source="gooaq")
    assert cli.main(["data", "publish", str(gooaq), "--out", str(ours)]) == 0
    assert tree_digest(ours / "data" / "altlex") == first
    assert datasets.load_dataset(str(ours), "gooaq", split="train").to_list() == [{"anchor": "gq", "positive": "ga"}]

    # A data/<config> folder in our repo that no publish wrote (no report for it, files of the user's) is refused.
    (ours / "data" / "simplewiki").mkdir()
    (ours / "data" / "simplewiki" / "mine.csv").write_text("a,b\n")
    simplewiki = _build(tmp_path, "s", [["s1", "s2"]], source="simplewiki")
    capsys.readouterr()
    before = tree_digest(tmp_path)
    assert cli.main(["data", "publish", str(simplewiki), "--out", str(ours)]) == 2
    assert "data/simplewiki" in error_line(capsys.readouterr().err, "data")
    assert tree_digest(tmp_path) == before


def test_publish_refuses_two_builds_of_the_same_source(tmp_path, capsys):
    """Point 9: two builds of one source would be the same config: the second silently replaced the first."""
    first = _build(tmp_path, "a", [["q one", "a one"], ["q two", "a two"]])
    second = _build(tmp_path, "b", [["q three", "a three"]])
    capsys.readouterr()
    before = tree_digest(tmp_path)

    assert cli.main(["data", "publish", str(first), str(second), "--out", str(tmp_path / "repo")]) == 2

    line = error_line(capsys.readouterr().err, "data")
    assert "altlex" in line and str(first) in line and str(second) in line
    assert tree_digest(tmp_path) == before
