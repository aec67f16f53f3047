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
        assert se1b_process("encode", str(tiny_model), "--input", str(texts), "--output", str(output)).returncode == 0
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


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_training_saves_a_checkpoint_and_exits_130(tmp_path, train_fixture, signal_number):
    """Point 12: a real SIGINT/SIGTERM to a training process: the step in flight and the checkpoint save finish,
    exit 130 with one line naming the step `--resume` continues from; no traceback, no crash; the resume works."""
    from test_train import _config

    config = _config(tmp_path, train_fixture, "run", steps=100_000, checkpoint_every=1000)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen([sys.executable, "-m", "se1b.cli", "train", str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "run"
    _wait_for_step(process, run / "metrics.jsonl", 2)
    process.send_signal(signal_number)
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
    if signal_number == signal.SIGINT:
        resumed = se1b_process("train", str(config), "--resume", "--set", f"steps={saved[0] + 1}")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert f"resumed from step {saved[0]}" in resumed.stdout
