"""Joining a Ray cluster that is not there: one line and a failed exit at once, not minutes of Ray's retries."""

from __future__ import annotations

import platform
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


def test_local_workers_import_from_the_drivers_sys_path_and_the_environment_is_left_as_it_was(ray_session):
    """`pair_fixtures` lives in tests/, which only pytest put on sys.path (no package, not installed): a Ray worker
    of the local instance imports it."""
    import ray

    @ray.remote
    def fixture_module_path() -> str:
        import pair_fixtures

        return pair_fixtures.__file__

    import pair_fixtures

    assert ray.get(fixture_module_path.remote()) == pair_fixtures.__file__


@pytest.mark.parametrize("before", [None, "/somewhere/else"])
def test_pythonpath_is_set_for_the_local_spawn_alone(monkeypatch, before):
    import os

    if before is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", before)
    with engine._workers_see_this_sys_path(local=True):
        assert os.environ["PYTHONPATH"].split(os.pathsep) == [path for path in sys.path if path]
    assert os.environ.get("PYTHONPATH") == before
    with engine._workers_see_this_sys_path(local=False):  # a cluster's workers are not spawned by this process
        assert os.environ.get("PYTHONPATH") == before


_CHURN = """
import resource, sys
from datasets_builders import engine
if sys.argv[1] == "kept":
    engine.keep_freed_blocks()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):  # what a read task does per decoded block: a few blocks of MB live at once, then freed
    blocks = [bytearray(3_000_000) for _ in range(4)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_read_workers_keep_freed_blocks_instead_of_faulting_them_in_again():
    """By default glibc returns each freed block of megabytes to the kernel, and the next one faults all its pages
    in again; keep_freed_blocks (called by every read task) reuses them."""
    faults = {mode: int(subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "kept")}
    assert faults["default"] > 100_000  # 400 blocks of ~730 pages each
    assert faults["kept"] < faults["default"] / 20
