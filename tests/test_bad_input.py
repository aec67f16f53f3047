"""Bad input and failed writes of issue 14 give one line and exit 2, and leave nothing half-written: data builds
swap in on success only; corrupt Parquet shards, non-UTF-8 or degenerate STS files, unwritable outputs, a zero
batch size and YAML syntax errors are named precisely."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from se1b.cli import main as se1b
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


def _squad_raw(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def _last_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_a_failed_build_keeps_the_good_build_and_leaves_no_folder(tmp_path, capsys):
    from datasets_builders import load_build

    good = _squad_raw(tmp_path / "good.jsonl.gz", [b'["q1", "a1"]', b'["q2", "a2"]'])
    bad = _squad_raw(tmp_path / "bad.jsonl.gz", [b'["q1", "a1"]', b"[1, 2"])
    out = tmp_path / "build"
    assert se1b(["data", "build", "squad", "--raw", str(good), "--out", str(out)]) == 0
    (tmp_path / ".build.partial-killed").mkdir()  # left by a killed run
    assert se1b(["data", "build", "squad", "--raw", str(bad), "--out", str(out)]) == 2
    assert "bad.jsonl.gz:line 2: invalid_json" in _last_error(capsys)
    assert load_build(out).dataset["anchor"] == ["q1", "q2"]  # the good build is intact
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial folders
    assert se1b(["data", "build", "squad", "--raw", str(bad), "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask
    assert ((out / "pairs.arrow").stat().st_mode & 0o777) == 0o666 & ~umask
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert se1b(["data", "build", "squad", "--raw", str(good), "--out", str(tmp_path / "mine")]) == 2
    assert "is not a build folder" in _last_error(capsys)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_cpu_count_below_one_is_one_line_before_anything_is_read(tmp_path, capsys):
    for command in ("build", "publish"):
        item = ["squad"] if command == "build" else [str(tmp_path / "no-build")]
        assert se1b(["data", command, *item, "--raw", str(tmp_path), "--out", str(tmp_path / "out"),
                     "--num-cpus", "0"]) == 2
        assert _last_error(capsys).endswith("--num-cpus must be at least 1")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_broken_parquet_shard_is_one_line(tmp_path, damage):
    from test_train import write_fixture_data

    from training.data.pipeline import PairPipeline
    from training.model.tiny import minilm_folder

    paths = write_fixture_data(tmp_path)
    shard = tmp_path / "pairs" / "data" / "train-00000.parquet"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:4] + b"\0" * 2000 + data[2004:])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    with pytest.raises(UserError, match=r"data source 'topics' .*: .*(train-00000\.parquet|a data file) cannot be "
                                        r"read .*corrupt or truncated"):
        pipeline = PairPipeline(str(paths["data"]), global_batch_size=16, tokenizer=tokenizer, max_seq_length=16,
                                seed=0)
        next(iter(pipeline))


def test_a_truncated_shard_prints_our_line_only(tmp_path, tiny_model):
    # datasets logs "Failed to read schema ..." at ERROR before raising: its own handler and the root logger's
    # printed it twice above our line. stderr now holds exactly the one line (a model folder: no progress bars).
    import json
    import subprocess
    import sys

    from test_train import write_fixture_data

    paths = write_fixture_data(tmp_path)
    shard = tmp_path / "pairs" / "data" / "train-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:1000])
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"model": str(tiny_model), "data": str(paths["data"]), "batch_size": 16,
                                  "steps": 2, "max_seq_length": 16, "output_dir": str(tmp_path / "run")}))
    result = subprocess.run([sys.executable, "-m", "se1b.cli", "train", str(config)], capture_output=True,
                            text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"se1b train: error: data source 'topics' ({tmp_path / 'pairs'}): {shard} cannot be read (Parquet magic "
        "bytes not found in footer. Either the file is corrupted or this is not a parquet file.); the shard is "
        "corrupt or truncated: rebuild or re-download it"]


def test_held_library_logs_are_dropped_on_error_and_replayed_otherwise(caplog):
    import datasets  # noqa: F401  (its logging set-up: a handler of its own on the "datasets" logger)

    from se1b import errors

    library = logging.getLogger("datasets")
    before = (list(library.handlers), library.propagate)
    logger = logging.getLogger("datasets.some.module")
    with pytest.raises(UserError), errors.library_logs_held("datasets"):
        logger.error("Failed to read file 'x.parquet'")
        raise UserError("x.parquet cannot be read")
    assert caplog.records == []
    with errors.library_logs_held("datasets"):
        logger.warning("a warning that no error repeats")
        logger.error("an error that no error repeats")
        assert caplog.records == []  # held until the block ends
    assert [r.getMessage() for r in caplog.records] == ["a warning that no error repeats",
                                                        "an error that no error repeats"]
    assert (library.handlers, library.propagate) == before and not errors._holders  # the logger is restored


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from training.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def test_encode_checks_its_arguments_and_names_the_file_it_writes(tmp_path, tiny_model, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat\na dog\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", "x.npy", "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1, got 0" in _last_error(capsys)
    assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", str(tmp_path)]) == 2
    assert "is a folder; give a file such as" in _last_error(capsys)
    assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", str(blocker / "e.npy")]) == 2
    assert "cannot write there" in _last_error(capsys)
    assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", str(tmp_path / "emb")]) == 0
    assert f"to {tmp_path / 'emb.npy'}" in capsys.readouterr().out
    assert np.load(tmp_path / "emb.npy").shape == (2, 32)


def test_eval_refuses_unreadable_or_degenerate_sts_files_and_unwritable_output(tmp_path, tiny_model, capsys):
    header = "sentence1\tsentence2\tscore\n"
    files = {
        "latin1.tsv": (header + "caf\xe9 noir\tblack coffee\t4.0\na\tb\t1.0\n").encode("latin-1"),
        "binary.tsv": b"\x00\x01\x02\xff\xfe" * 50,
        "nan.tsv": (header + "a cat\ta dog\tnan\na car\ta bus\t3.0\n").encode(),
        "constant.tsv": (header + "a cat\ta dog\t2.0\na car\ta bus\t2.0\n").encode(),
    }
    messages = {"latin1.tsv": "not UTF-8 text", "binary.tsv": "not UTF-8 text",
                "nan.tsv": "line 2: score 'nan' is not a finite number",
                "constant.tsv": "all 2 gold scores are 2.0: a correlation with a constant is undefined"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        assert se1b(["eval", str(tiny_model), "--sts", str(tmp_path / name)]) == 2, name
        assert messages[name] in _last_error(capsys), name
    good = tmp_path / "good.tsv"
    good.write_text(header + "a cat\ta dog\t4.0\na car\ta bus\t3.0\nrain\tsnow\t1.0\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert se1b(["eval", str(tiny_model), "--sts", str(good), "--output", str(blocker / "r.json")]) == 2
    assert "cannot write there" in _last_error(capsys)
    assert se1b(["eval", str(tiny_model), "--sts", str(good), "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in _last_error(capsys)


def test_convert_into_an_unwritable_place_is_one_line(tmp_path, tiny_model, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert se1b(["convert", str(tiny_model), str(blocker / "out")]) == 2
    assert "cannot write there" in _last_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folders_are_one_line(tmp_path, tiny_model, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat\n")
    locked.chmod(0o555)
    try:
        assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", str(locked / "e.npy")]) == 2
        assert "cannot write there" in _last_error(capsys)
        assert se1b(["convert", str(tiny_model), str(locked / "out")]) == 2
        assert "cannot write there" in _last_error(capsys)
    finally:
        locked.chmod(0o755)


def test_yaml_syntax_errors_keep_line_and_column(tmp_path):
    from training.data.pipeline import load_data_config
    from training.loop.config import load_config

    bad = tmp_path / "run.yaml"
    bad.write_text("model: tiny-bert\ndata: [a, b\nsteps: 3\n")
    with pytest.raises(UserError, match=r"run\.yaml:3:6: not valid YAML/JSON: expected ',' or '\]'"):
        load_config(bad)
    data = tmp_path / "data.yaml"
    data.write_text("sources:\n  - name: a\n    weight: [1\n")
    with pytest.raises(UserError, match=r"data\.yaml:\d+:\d+: not valid YAML/JSON"):
        load_data_config(data)


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback():
    """`se1b data list | head -1`: the reader goes before the listing is written; se1b stops quietly."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "se1b.cli", "data", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # a reader that has gone: every write to the pipe fails
    stderr = process.stderr.read().decode()
    assert process.wait() == 141
    assert stderr == ""
