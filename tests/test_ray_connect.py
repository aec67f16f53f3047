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


def test_local_workers_import_from_the_drivers_sys_path_and_keep_pyarrows_freed_memory(ray_session):
    """`pair_fixtures` lives in tests/, which only pytest put on sys.path (no package, not installed): a Ray worker
    of the local instance imports it; its pyarrow keeps freed memory ARROW_HEAP_KEPT_MS (unless the variable was set
    when the instance started)."""
    import os

    import ray

    @ray.remote
    def worker_view() -> tuple[str, str | None]:
        import pair_fixtures

        return pair_fixtures.__file__, os.environ.get("MIMALLOC_PURGE_DELAY")

    import pair_fixtures

    kept = os.environ.get("MIMALLOC_PURGE_DELAY", str(engine.ARROW_HEAP_KEPT_MS))
    assert ray.get(worker_view.remote()) == (pair_fixtures.__file__, kept)


@pytest.mark.parametrize("before", [None, "/somewhere/else"])
def test_the_environment_is_set_for_the_local_spawn_alone(monkeypatch, before):
    import os

    if before is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
        monkeypatch.delenv("MIMALLOC_PURGE_DELAY", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", before)
        monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "500")  # the user's own choice wins
    with engine._local_workers_environment(local=True):
        assert os.environ["PYTHONPATH"].split(os.pathsep) == [path for path in sys.path if path]
        assert os.environ["MIMALLOC_PURGE_DELAY"] == ("500" if before else str(engine.ARROW_HEAP_KEPT_MS))
    assert os.environ.get("PYTHONPATH") == before
    assert os.environ.get("MIMALLOC_PURGE_DELAY") == ("500" if before else None)
    with engine._local_workers_environment(local=False):  # a cluster's workers are not spawned by this process
        assert os.environ.get("PYTHONPATH") == before
        assert os.environ.get("MIMALLOC_PURGE_DELAY") == ("500" if before else None)


_ARROW_CHURN = """
import resource
import numpy as np, pyarrow as pa
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):  # a read task's pattern: a few blocks of MB from pyarrow's pool live at once, then freed
    blocks = [pa.allocate_buffer(3_000_000) for _ in range(4)]
    for block in blocks:
        np.frombuffer(block, np.uint8)[::4096] = 1
    del blocks
print(pa.default_memory_pool().backend_name, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


def test_pyarrows_allocator_keeps_freed_memory_for_the_time_the_local_instance_sets():
    """pyarrow's default pool is mimalloc, which reads MIMALLOC_PURGE_DELAY: handed back at once (0), every block
    faults its pages in again; kept ARROW_HEAP_KEPT_MS, they are reused. Should pyarrow stop reading the variable, this
    fails and the setting in engine is dead."""
    import os

    def faults(delay: int) -> tuple[str, int]:
        env = {name: value for name, value in os.environ.items() if name != "ARROW_DEFAULT_MEMORY_POOL"}
        env["MIMALLOC_PURGE_DELAY"] = str(delay)
        command = [sys.executable, "-c", _ARROW_CHURN]
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        backend, count = done.stdout.split()
        return backend, int(count)

    (backend, purged), (_, kept) = faults(0), faults(engine.ARROW_HEAP_KEPT_MS)
    assert backend == "mimalloc"
    assert purged > 50_000  # 400 blocks of ~730 pages each
    assert kept < purged / 20


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
