"""Faults (issue 25, points 11-14): a really full disk during encode, publish, export and a checkpoint save; Ctrl-C
and SIGTERM during training; an --out that is a symlink or a file. Each ends with one line, no traceback, the old
state intact and no partial output left."""

from __future__ import annotations

import os
import subprocess
import sys
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
