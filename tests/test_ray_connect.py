"""Joining a Ray cluster that is not there: one line and a failed exit at once, not minutes of Ray's retries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from datasets_builders import engine
from se1b.errors import UserError


def test_an_unreachable_cluster_is_one_line_and_a_failed_exit(tmp_path):
    raw = tmp_path / "RC_2015-01.json"
    raw.write_text('{"id": "a", "parent_id": "t3_x", "body": "a comment", "author": "u", "score": 2}\n')
    command = [sys.executable, "-m", "se1b.cli", "data", "build", "reddit_comments", "--raw", str(raw)]
    command += ["--address", "127.0.0.1:1", "--out", str(tmp_path / "out")]  # port 1: nothing listens there
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "se1b data: error: cannot reach the Ray cluster at 127.0.0.1:1: connection refused (is `ray start --head` "
        "running there, and the port open?)"
    ]
    assert not (tmp_path / "out").exists()


def test_a_ray_client_address_is_checked_too():
    with pytest.raises(UserError, match=r"^cannot reach the Ray cluster at ray://127\.0\.0\.1:1: connection refused"):
        engine.check_reachable("ray://127.0.0.1:1")
    engine.check_reachable("auto")  # Ray finds that one itself
