"""Folder writes that never leave a half-written target: stage in a temporary sibling, then swap it into place."""

from __future__ import annotations

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


def write_output(path: Path, write: Callable[[Path], None]) -> None:
    """Create the folder of `path` and call `write(path)`; an OS error (read-only, disk full) is one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror or error})") from error
