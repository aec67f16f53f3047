"""Never delete, write or publish what is not ours: names that become paths, targets that must lie inside the folder
the user named, folders too broad to own, and secrets in files we upload and in messages we print."""

from __future__ import annotations

import os
import re
import sys
from fnmatch import fnmatchcase
from pathlib import Path

from se1b.errors import UserError

# A name that becomes one path component (a config, a source, a split): the Hub's file-name characters, no leading
# dot (hidden files, our staging folders, "." and ".."), no "..".
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def check_name(name: object, what: str) -> str:
    """`name` if it is safe as one path component, else a UserError naming `what` (e.g. "--name")."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise UserError(f"{what} {shown} is not a safe name: use letters, digits, '_', '-' and '.' (not first, "
                        "no '..'), at most 200 characters")
    return name


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path` lies strictly inside `root`, once '..' and symbolic links are resolved."""
    real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return real != real_root and real.is_relative_to(real_root)


def assert_inside(path: Path, root: Path) -> Path:
    """`path`, after checking that it lies inside `root`: called before every rmtree or rename of a path built from
    a name, so that a name that slipped past `check_name` can never reach outside the folder the user named."""
    if not is_inside(path, root):
        raise UserError(f"refusing to write or delete {path}: it is not inside {root}")
    return path


def check_not_broad(folder: Path, what: str) -> None:
    """Refuse the file system root, the home folder or a folder above it as a folder a command owns and replaces."""
    real = Path(os.path.realpath(folder))
    home = Path(os.path.realpath(Path.home()))
    if real == Path(real.anchor):
        raise UserError(f"{what} {folder} is the file system root; choose a folder of its own")
    if real == home or home.is_relative_to(real):
        raise UserError(f"{what} {folder} is your home folder or above it; choose a folder of its own")


# ---------------------------------------------------------------------------------------------------------------
# Secrets.

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Hugging Face user tokens are "hf_" + 34 letters; organisation API tokens "api_org_" + letters.
_HUB_TOKEN = r"(?<![A-Za-z0-9])(hf|api_org)_[A-Za-z0-9]{30,}"
_TOKEN_TEXT = re.compile(_HUB_TOKEN)
_TOKEN_BYTES = re.compile(_HUB_TOKEN.encode())
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_AUTHORIZATION = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}")
# Files that hold credentials by their name (matched case-insensitively on the file name).
CREDENTIAL_FILE_NAMES = (
    ".env", ".env.*", "*.env", ".git-credentials", ".netrc", "_netrc", ".pypirc", ".npmrc", "credentials",
    "credentials.json", "token", "stored_tokens", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "*.pem", "*.key",
)
CONTENT_SCAN_BYTES = 32 * 2**20  # files up to this size are searched for tokens (weights and shards are larger)


def known_tokens() -> list[str]:
    """The Hub tokens of this environment (its variables, and huggingface_hub's login when it is loaded), longest
    first."""
    tokens = {os.environ.get(name, "").strip() for name in TOKEN_VARIABLES}
    hub = sys.modules.get("huggingface_hub")
    if hub is not None:
        try:
            tokens.add(hub.get_token() or "")
        except Exception:  # an unreadable token file: nothing to redact from it
            pass
    return sorted((token for token in tokens if len(token) >= 8), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` without the known tokens, Hub tokens, passwords in URLs and Authorization values."""
    for token in known_tokens():
        text = text.replace(token, "***")
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _AUTHORIZATION.sub(r"\1 ***", text)
    return _TOKEN_TEXT.sub(r"\1_***", text)


def credential_reason(path: Path, tokens: list[str]) -> str | None:
    """Why the file `path` looks like a credential (its name, or a token in its content), or None."""
    name = path.name.lower()
    if any(fnmatchcase(name, pattern) for pattern in CREDENTIAL_FILE_NAMES):
        return "a credentials file"
    if path.stat().st_size > CONTENT_SCAN_BYTES:
        return None
    data = path.read_bytes()
    if any(token.encode() in data for token in tokens):
        return "holds your Hugging Face token"
    if _TOKEN_BYTES.search(data):
        return "holds a Hugging Face token"
    return None
