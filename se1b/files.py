"""Folder writes that never leave a half-written target: stage in a temporary sibling, then swap it into place."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from se1b.errors import UserError


def apply_usual_modes(folder: Path) -> None:
    """Give `folder` and everything in it the modes a plain mkdir/open would (0755/0644 under the usual umask):
    `tempfile.mkdtemp` makes private (0700) folders."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def staging_sibling(target: Path) -> Path:
    """A fresh temporary folder next to `target` (same file system, so the final rename is atomic), after removing
    the staging and backup folders a killed earlier run left next to it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in [*target.parent.glob(f".{target.name}.partial-*"), target.with_name(f".{target.name}.old")]:
            shutil.rmtree(stale, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as error:
        raise UserError(f"{target}: cannot write there ({error.strerror or error})") from error


def swap_into_place(staging: Path, target: Path) -> None:
    """Rename the finished `staging` folder to `target`, replacing an existing target only once the new one is in
    place (via a backup sibling)."""
    apply_usual_modes(staging)
    if target.exists():
        backup = target.with_name(f".{target.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        target.rename(backup)
        staging.rename(target)
        shutil.rmtree(backup)
    else:
        staging.rename(target)


def check_writable(path: Path, *, folder: bool = False) -> None:
    """Before slow work: refuse an output file (or, with `folder`, an output folder staged next to it) whose parent
    folder cannot be created or written."""
    if path.is_dir() and not folder:
        raise UserError(f"{path} is a folder; give a file name inside it")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot write there ({ancestor} is not a writable folder)")


def check_output_folder(path: Path, flag: str = "--out") -> None:
    """Before anything is written: refuse an output folder that is a symbolic link (swapping a new folder into its
    place would move the link aside, not write where it points) or an existing file."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{flag} {path} is a symbolic link (to {os.readlink(path)}); give the folder it points to, "
                        "or a new folder")
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder; give a new or existing folder")


def write_output(path: Path, write: Callable[[Path], None], *, size: int | None = None) -> None:
    """Create the folder of `path`, call `write` on a temporary sibling (same suffix) and rename it to `path`: a
    failed write (disk full, read-only, interrupted) leaves the previous file as it was and no partial file behind.
    An OS error is one line (with `size`, the bytes the file needs, it says how much is needed and free)."""
    partial = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.partial-", suffix=path.suffix, dir=path.parent)
        os.close(handle)
        partial = Path(name)
        write(partial)
        partial.chmod(0o666 & ~_umask())
        os.replace(partial, path)
    except OSError as error:
        note = space_note(path, size) if size or is_disk_full(error) else ""
        raise UserError(f"{path}: cannot write ({error.strerror or error}){note}") from error
    finally:
        if partial is not None and partial.exists():
            partial.unlink()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# How a full disk (or a file size limit) shows in errors of the libraries that write for us: OSError errno, Rust's
# io::Error (safetensors) and tensorstore (orbax) messages.
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_TEXTS = ("No space left on device", "StorageFull", "Disk quota exceeded", "File too large")


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (or an error it was raised from) says the disk is full or a file size limit was hit."""
    while error is not None:
        if getattr(error, "errno", None) in _DISK_FULL_ERRNOS or any(text in str(error) for text in _DISK_FULL_TEXTS):
            return True
        error = error.__cause__ or error.__context__
    return False


def human_size(size: float) -> str:
    """Bytes in decimal units (1 KB = 1,000 bytes), as the Hub shows file sizes: "512.1 KB", "4.0 MB"."""
    for unit in ("bytes", "KB", "MB"):
        if size < 1000:
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} GB"


def free_space(path: Path) -> int:
    """Free bytes on the file system of `path` (its nearest existing ancestor)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def space_note(path: Path, needed: int | None) -> str:
    """"; about N MB needed, M MB free": what a disk-full error adds (just the free space when `needed` is None)."""
    free = f"{human_size(free_space(path))} free"
    return f"; about {human_size(needed)} needed, {free}" if needed else f"; {free}"


def disk_full_error(folder: Path, needed: int | None, what: str) -> UserError:
    """The one line for a write of `what` into `folder` that ran out of space (the caller removed its partial
    output, so the old state is intact)."""
    return UserError(f"{folder}: disk full while writing {what}{space_note(folder, needed)}; the partial output was "
                     "removed and what was there before is unchanged")
