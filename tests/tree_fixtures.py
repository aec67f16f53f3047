"""What the safety tests compare: every entry of a folder tree with its content hash, and the one error line a refused
command must print."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_digest(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Relative path -> what it is, for everything under `root` (links are not followed): a file's sha256, a link's
    target, or "folder"; `skip` and what lies under it are left out."""
    found: dict[str, str] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def error_line(err: str, command: str) -> str:
    """The one `se1b COMMAND: error:` line of a refused command's stderr (asserting there is exactly one and no
    traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"se1b {command}: error: "), err
    return lines[0]
