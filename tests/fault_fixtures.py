"""A really full disk for fault tests: a small tmpfs mounted for the test where the machine allows it (root), else
a per-file size limit (RLIMIT_FSIZE) on the child process under test, which makes its large writes fail the same
way (EFBIG instead of ENOSPC). Never a skip: one of the two always applies."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SmallDisk:
    """`folder` lies on a file system of `size` bytes (`mounted`), or, when no tmpfs could be mounted, child
    processes started with `preexec_fn` may write no file larger than `fill`'s `leave` bytes."""

    folder: Path
    mounted: bool
    file_limit: int | None = None

    def fill(self, leave: int) -> None:
        """Leave about `leave` bytes free: a filler file takes the rest (tmpfs), or files over `leave` bytes fail
        (the fallback's size limit)."""
        if not self.mounted:
            self.file_limit = leave
            return
        stats = os.statvfs(self.folder)
        filler = max(stats.f_bavail * stats.f_frsize - leave, 0)
        with (self.folder / ".filler").open("wb") as handle:
            chunk = b"\0" * 65536
            while filler > 0:
                filler -= handle.write(chunk[: min(filler, len(chunk))])

    @property
    def preexec_fn(self) -> Callable[[], None] | None:
        if self.file_limit is None:
            return None
        limit = self.file_limit

        def limit_file_size() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return limit_file_size


@contextmanager
def small_disk(root: Path, size: int) -> Iterator[SmallDisk]:
    """A tmpfs of `size` bytes mounted at root/disk for the duration (unmounted after), or the RLIMIT_FSIZE
    fallback where mounting is not allowed."""
    folder = root / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield SmallDisk(folder, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def tree_digest(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too, symlinks as their target text) -> its content: compare before
    and after to show nothing changed."""
    return {str(path.relative_to(folder)): (os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_symlink() or path.is_file()}
