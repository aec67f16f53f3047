"""The one place that owns Ray: starting or joining an instance, and turning task failures into our one-line errors.

Every build runs on Ray Data. By default `session()` starts a local Ray instance for the build (no dashboard, its own
auth token, workers that import what the driver imports and keep pyarrow's freed memory) and stops it afterwards;
`address` ("auto", "ray://host:10001", "host:6379") or RAY_ADDRESS joins an existing cluster instead, whose nodes must
have this package installed. When Ray is already initialised (a test session, a notebook), that instance is used as it
is.

A `UserError` raised inside a Ray task (bad input: file and line) reaches the caller as the same one-line
`UserError`, never as a Ray traceback; a cluster that wants an auth token the driver lacks is one line saying what
to set. Read tasks call `keep_freed_blocks` to tune their worker process's heap.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from se1b.errors import UserError

ADDRESS_ENV = "RAY_ADDRESS"
# Ray kills a worker process idle for 1 s once more workers exist than CPUs, and Ray Data's shuffles (join, group-by,
# sort) briefly need more: the next execution of the same build then starts fresh workers, which import Ray Data and
# this package again (~0.6-1.5 s each). Kept for a minute they are reused: a small Reddit build on a warm local
# instance went from 10-13 s to 0.6-0.9 s (BENCHMARKS.md). A cluster's nodes take it as RAY_<name> at `ray start`.
IDLE_WORKER_KEPT_MS = 60_000
CONNECT_TIMEOUT_S = 10  # reaching a cluster's port; Ray's own wait for a GCS that does not answer is bounded below
_AUTH_HINT = (
    "the Ray cluster at {address} requires token authentication: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the "
    "cluster's token (on its head node: ~/.ray/auth_token), or start the cluster with RAY_AUTH_MODE=disabled"
)


def _quiet_ray_data() -> None:
    """No progress bars or per-operator logs from Ray Data: the build prints its own summary line."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.log_internal_stack_trace = False
    context.raise_original_map_exception = True
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # a failed task is reported by us, in one line


@contextlib.contextmanager
def session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for the duration of a build: the running instance if Ray is already initialised, else the cluster at
    `address` (or RAY_ADDRESS), else a local instance of `num_cpus` CPUs (default: all) stopped on exit."""
    import ray

    if num_cpus is not None and num_cpus < 1:
        raise UserError("--num-cpus must be at least 1")
    if ray.is_initialized():
        _quiet_ray_data()
        yield
        return
    address = address or os.environ.get(ADDRESS_ENV) or None
    if address is not None and num_cpus is not None:
        raise UserError("--num-cpus applies to the local Ray instance; a cluster's CPUs are set by `ray start`")
    start(address, num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


def start(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start a local Ray instance (address None) or connect to a cluster, with workers that import what this
    process imports (its sys.path), quietly."""
    import ray

    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address is None:
        # "local": always a new instance of our own, never a cluster some `ray start` left on this machine (which
        # ray.init() would otherwise join). Ray 2.60 sets up its token itself: nothing to configure.
        options["address"] = "local"
        options["num_cpus"] = num_cpus
        options["_system_config"] = {"idle_worker_killing_time_threshold_ms": IDLE_WORKER_KEPT_MS}
    else:
        check_reachable(address)
        options["address"] = address
        if address.startswith("ray://"):  # a Ray Client server runs the job in a cluster-side process
            options.pop("log_to_driver")
    try:
        with _one_gcs_attempt(), _local_workers_environment(local=address is None):
            ray.init(**options)
    except Exception as error:  # connection refused, no cluster at "auto", a missing token: one line each
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "auth" in message.lower() or "token" in message.lower():
            raise UserError(_AUTH_HINT.format(address=address)) from None
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise UserError(f"cannot start or reach {where}: {message}") from None
    _quiet_ray_data()


def check_reachable(address: str) -> None:
    """A `host:port` or `ray://host:port` address whose port does not accept a connection within CONNECT_TIMEOUT_S
    is one line now (ray.init would retry for minutes, logging from C++). "auto" is left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error)).lower()
        raise UserError(
            f"cannot reach the Ray cluster at {address}: {reason} (is `ray start --head` running there, "
            "and the port open?)"
        ) from None


# pyarrow's allocator (mimalloc) hands memory that has been free for 1 s back to the kernel. A read task keeps
# allocating and freeing blocks of megabytes, so it got them back as fresh pages the kernel zeroes again: per
# 1M-pair build + publish ~135 transparent huge page faults, ~17,000 page faults and ~300 MB of zeroed pages more
# than when they are kept 10 s (16 and ~3,600); CPU-s within this box's noise warm (1.76 -> 1.73 median), but a
# fresh page costs far more on a fresh VM (BENCHMARKS.md). A worker idle for 10 s returns them.
ARROW_HEAP_KEPT_MS = 10_000
_PURGE_DELAY = "MIMALLOC_PURGE_DELAY"  # mimalloc reads it when the process starts: pyarrow has no call to set it


@contextlib.contextmanager
def _local_workers_environment(local: bool) -> Iterator[None]:
    """The environment ray.init spawns a local instance with (its raylet, and so every worker it starts, inherits it):
    PYTHONPATH = this process's sys.path, and pyarrow's freed memory kept ARROW_HEAP_KEPT_MS (unless the variable is
    set already). Not through a runtime_env's env_vars, which would do the same: Ray keeps one worker pool per
    runtime env, so the worker it prestarts at ray.init would go unused and a build pay one more worker's start-up
    (~1.2-1.5 CPU-s and ~1 s of a 1M-pair build, BENCHMARKS.md). A cluster's nodes have the package installed and
    take MIMALLOC_PURGE_DELAY at `ray start`."""
    if not local:
        yield
        return
    settings = {"PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    if _PURGE_DELAY not in os.environ:
        settings[_PURGE_DELAY] = str(ARROW_HEAP_KEPT_MS)
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _one_gcs_attempt() -> Iterator[None]:
    """ray.init tries to reach a cluster's GCS 20 times (about 30 s each) before it gives up: one attempt here, so a
    port that accepts connections but is no Ray cluster fails in bounded time. Only for the call: a local instance
    started later in this process must keep Ray's default wait for its own GCS."""
    name = "RAY_gcs_server_port_wait_time_s"  # read by ray._private.node at each connection
    before = os.environ.get(name)
    os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEPT_HEAP_BYTES = 64 * 2**20


@functools.cache
def keep_freed_blocks() -> None:
    """Let this process's C heap (glibc malloc) keep freed blocks of up to 32 MiB, and up to 64 MiB of free memory,
    instead of handing them back to the kernel. A read task allocates and frees a few blocks of megabytes per
    decoded piece of a file (the inflated text, the line masks, the parser's input); by default glibc maps the
    large ones fresh and returns them on free, so every page of every block is faulted in again: ~100,000 page
    faults and ~0.25 CPU-s of kernel time per 1M pairs, ~1,000 and 0.03 with this (BENCHMARKS.md). The heap stays
    at its peak, a few blocks. Once per process (a Ray worker runs many tasks); nothing off glibc (no mallopt)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's upper limit on 64-bit
    mallopt(_M_TRIM_THRESHOLD, KEPT_HEAP_BYTES)


PARTITION_BYTES = 64 * 2**20


def shuffle_partitions(dataset) -> int:
    """How many partitions a join or group-by of a materialized `dataset` gets: one per 64 MiB of input, which bounds
    the memory of each shuffle task whatever the input size (a tiny input: one partition, one aggregator)."""
    return max(1, -(-dataset.size_bytes() // PARTITION_BYTES))


def user_error_of(error: BaseException) -> UserError | None:
    """The `UserError` a Ray task raised, found in the chain of wrappers Ray puts around it (None if not one)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        cause = getattr(error, "cause", None)  # a RayTaskError (also an instance of its cause's class) wraps it
        if isinstance(cause, BaseException):
            error = cause
        elif isinstance(error, UserError):  # Ray Data appends lines about retries to the message: not ours
            return UserError(str(error).splitlines()[0])
        else:
            error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Re-raise a `UserError` from inside a Ray task as the same one-line `UserError` (no Ray traceback)."""
    try:
        yield
    except Exception as error:
        found = user_error_of(error)
        if found is None:
            raise
        raise found from None
