"""Faults (issue 25, points 11-14): a really full disk during encode, publish, export and a checkpoint save; Ctrl-C
and SIGTERM during training; an --out that is a symlink or a file. Each ends with one line, no traceback, the old
state intact and no partial output left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_fixtures import small_disk, tree_digest

from se1b.cli import main as se1b


def se1b_process(*args: str, preexec_fn=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "se1b.cli", *args], env=env, capture_output=True, text=True,
                          preexec_fn=preexec_fn)


def assert_one_error_line(process: subprocess.CompletedProcess, command: str, *expected: str) -> str:
    assert process.returncode == 2, process.stderr[-3000:]
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    lines = [line for line in process.stderr.splitlines() if line.startswith(f"se1b {command}: error:")]
    assert len(lines) == 1, process.stderr[-3000:]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from training.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def test_encode_on_a_full_disk_keeps_the_previous_embeddings(tmp_path, tiny_model):
    """Point 11: the output is written to a temporary sibling and renamed, so a full disk leaves the old file."""
    texts = tmp_path / "texts.txt"
    texts.write_text("a short text\nanother one\n")
    with small_disk(tmp_path, 1 << 20) as disk:
        output = disk.folder / "emb.npy"
        assert se1b(["encode", str(tiny_model), "--input", str(texts), "--output", str(output)]) == 0
        texts.write_text("".join(f"text number {i}\n" for i in range(4000)))  # 4000 x 32 float32 = 512 KB
        disk.fill(leave=64 * 1024)
        before = tree_digest(disk.folder)
        process = se1b_process("encode", str(tiny_model), "--input", str(texts), "--output", str(output),
                               preexec_fn=disk.preexec_fn)
        assert_one_error_line(process, "encode", str(output), "about 512.1 KB needed")
        assert tree_digest(disk.folder) == before  # the old emb.npy as it was, no partial file


@pytest.fixture(scope="module")
def train_fixture(tmp_path_factory) -> dict[str, Path]:
    from test_train import write_fixture_data

    return {**write_fixture_data(tmp_path_factory.mktemp("fixture")), "model": "tiny-bert"}


def _wait_for_step(process: subprocess.Popen, metrics: Path, step: int) -> None:
    """Poll metrics.jsonl until it logs `step` (the run is in its loop); fail if the run ends first."""
    while not (metrics.exists() and any(f'"step": {step},' in line for line in metrics.read_text().splitlines())):
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)


def test_a_signal_during_training_saves_a_checkpoint_and_exits_130(tmp_path, train_fixture, capsys):
    """Point 12: a real SIGINT/SIGTERM to a training process: the step in flight and the checkpoint save finish,
    exit 130 with one line naming the step `--resume` continues from; no traceback, no crash; the resume works.
    One run per signal, both started at once (their start-ups overlap)."""
    from test_train import _config

    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    runs = {}
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        name = signal.Signals(signal_number).name
        config = _config(tmp_path, train_fixture, name, steps=100_000, checkpoint_every=1000)
        process = subprocess.Popen([sys.executable, "-m", "se1b.cli", "train", str(config)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        runs[signal_number] = (config, tmp_path / name, process)
    for signal_number, (_, run, process) in runs.items():
        _wait_for_step(process, run / "metrics.jsonl", 2)
        process.send_signal(signal_number)
    for signal_number, (config, run, process) in runs.items():
        _, stderr = process.communicate()
        assert process.returncode == 130, stderr[-3000:]
        assert "Traceback" not in stderr and "Fatal Python error" not in stderr, stderr[-3000:]
        lines = [line for line in stderr.splitlines() if line.startswith("se1b train:")]
        assert len(lines) == 1, stderr[-3000:]
        saved = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
        assert len(saved) == 1 and saved[0] >= 2, saved
        name = signal.Signals(signal_number).name
        assert lines[0] == (f"se1b train: stopped by {name} at step {saved[0]}; checkpoint {saved[0]} is saved in "
                            f"{run / 'checkpoints'}: `se1b train CONFIG --resume` continues from step {saved[0]}")
        assert not [p for p in (run / "checkpoints").iterdir() if "tmp" in p.name]  # no half-written save
        if signal_number == signal.SIGINT:  # the resume in this process: its exit code and output are the point
            capsys.readouterr()
            assert se1b(["train", str(config), "--resume", "--set", f"steps={saved[0] + 1}"]) == 0
            assert f"resumed from step {saved[0]}" in capsys.readouterr().out


def _squad_raw(raw: Path, pairs: int, seed: int) -> Path:
    """A squad raw file of `pairs` pairs of random hex text (incompressible: Parquet is as large as the Arrow data)."""
    import gzip
    import random

    rng = random.Random(seed)
    with gzip.open(raw, "wt") as handle:
        for _ in range(pairs):
            handle.write(f'["{rng.randbytes(40).hex()}", "{rng.randbytes(40).hex()}"]\n')
    return raw


def _squad_build(folder: Path, pairs: int, seed: int) -> Path:
    from datasets_builders.build import build_source

    build_source("squad", [_squad_raw(folder.with_suffix(".jsonl.gz"), pairs, seed)], out_dir=folder, progress=False)
    return folder


def test_a_build_on_a_full_disk_is_one_line_and_keeps_the_earlier_build(tmp_path):
    """The read task writes its rows into the build folder (a Ray worker): a full disk there is still one line, the
    staging folder goes and the earlier build stays as it was."""
    small = _squad_raw(tmp_path / "small.jsonl.gz", 10, seed=0)
    large = _squad_raw(tmp_path / "large.jsonl.gz", 5000, seed=1)
    with small_disk(tmp_path, 4 << 20) as disk:
        out = disk.folder / "build"
        assert se1b_process("data", "build", "squad", "--raw", str(small), "--out", str(out)).returncode == 0
        disk.fill(leave=64 * 1024)
        before = tree_digest(disk.folder)
        process = se1b_process("data", "build", "squad", "--raw", str(large), "--out", str(out), "--num-cpus", "1",
                               preexec_fn=disk.preexec_fn)
        line = assert_one_error_line(process, "data", f"{disk.folder}: disk full while writing the build of squad")
        assert "partial output was removed" in line
        assert tree_digest(disk.folder) == before


def test_publish_on_a_full_disk_removes_its_partial_shards_and_keeps_the_old_config(tmp_path):
    """Point 13 (publish): one line naming the folder and the space needed; no `.partial` left; the old config,
    report and card as they were."""
    small, large = _squad_build(tmp_path / "small", 10, seed=0), _squad_build(tmp_path / "large", 5000, seed=1)
    with small_disk(tmp_path, 4 << 20) as disk:
        repo = disk.folder / "repo"
        assert se1b(["data", "publish", str(small), "--out", str(repo)]) == 0
        disk.fill(leave=64 * 1024)
        before = tree_digest(disk.folder)
        process = se1b_process("data", "publish", str(large), "--out", str(repo), preexec_fn=disk.preexec_fn)
        line = assert_one_error_line(process, "data", f"{repo / 'data'}: disk full while writing config squad",
                                     "needed")
        assert "partial output was removed" in line
        assert tree_digest(disk.folder) == before


def test_export_on_a_full_disk_is_one_line_and_keeps_the_old_model(tmp_path, tiny_model):
    """Point 13 (export): `se1b convert` writes through the same export as `se1b export` and the end of training;
    safetensors' own error type on a full disk becomes one line, the staging folder goes, the old folder stays."""
    with small_disk(tmp_path, 16 << 20) as disk:
        out = disk.folder / "model"
        assert se1b(["convert", str(tiny_model), str(out)]) == 0
        disk.fill(leave=512 * 1024)  # the model's weights take ~4 MB
        before = tree_digest(disk.folder)
        process = se1b_process("convert", str(tiny_model), str(out), "--overwrite", preexec_fn=disk.preexec_fn)
        assert_one_error_line(process, "convert", f"{disk.folder}: disk full while writing the model model",
                              "about 4.0 MB needed")
        assert tree_digest(disk.folder) == before


def test_a_checkpoint_save_on_a_full_disk_is_one_line(tmp_path, train_fixture):
    """Point 13 (checkpoint): no storm of orbax tracebacks; one line naming the checkpoints folder and the space
    needed; no half-written checkpoint left."""
    from test_train import _config

    with small_disk(tmp_path, 10 << 20) as disk:
        # The run's base model and tokenizer take ~5 MB; a checkpoint (weights + two AdamW moments) ~12 MB.
        disk.fill(leave=8 << 20)
        config = _config(tmp_path, train_fixture, "disk/run", steps=4, checkpoint_every=2)
        process = se1b_process("train", str(config), preexec_fn=disk.preexec_fn)
        checkpoints = disk.folder / "run" / "checkpoints"
        assert_one_error_line(process, "train", f"{checkpoints}: disk full while writing checkpoint 2", "needed")
        assert "RESOURCE_EXHAUSTED" not in process.stderr
        assert list(checkpoints.iterdir()) == []


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_an_out_that_is_a_symlink_or_a_file_is_refused_before_anything_is_written(tmp_path, tiny_model, kind,
                                                                                   capsys):
    """Point 14: every command with an output folder refuses a symbolic link (swapping in a new folder would move
    the link) or a regular file, with one line, before writing anything."""
    small = _squad_build(tmp_path / "small", 5, seed=0)
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("the user's own file")
    out = tmp_path / "out"
    if kind == "symlink":
        out.symlink_to(user, target_is_directory=True)
    else:
        out.write_text("a file, not a folder")
    before = tree_digest(tmp_path)
    commands = [
        ["data", "build", "squad", "--raw", str(tmp_path / "small.jsonl.gz"), "--out", str(out)],
        ["data", "publish", str(small), "--out", str(out)],
        ["convert", str(tiny_model), str(out), "--overwrite"],
        ["export", str(tmp_path / "no-run"), "--out", str(out)],
        ["quickstart", "--out", str(out), "--overwrite"],
        ["data", "mine-negatives", str(tmp_path / "repo"), "--config", "squad", "--model", str(tiny_model), "--out",
         str(out)],
    ]
    expected = "is a symbolic link" if kind == "symlink" else "is a file, not a folder"
    for command in commands:
        assert se1b(command) == 2, command
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and expected in err, (command, err)
        assert tree_digest(tmp_path) == before, command
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    from datasets_builders.publishing import publish
    from se1b.errors import UserError

    with pytest.raises(UserError, match=expected):
        publish(small, out)
