"""CodeSearchNet-format records from Python source files: what `se1b quickstart` mines from the local standard library.

Every machine with Python has its standard library, real code with real documentation, so the quickstart needs no
shipped or synthetic data: `codesearchnet_records(folder)` parses each `*.py` file under `folder` with `ast` (never
imports it) and yields one CodeSearchNet-style record per documented function or method (fields repo, path,
func_name, original_string, language, code, code_tokens, docstring, docstring_tokens, url, partition), which
`codesearchnet.py`'s miner, and the builder source `python_stdlib_docstring_code`, then turn into (docstring, code)
pairs with their usual filters and counts.

Two choices differ from the CodeSearchNet release, so that a pair is a retrieval task, not a string match:
- `docstring` is the first paragraph of the docstring (its summary), cleaned with `inspect.cleandoc`;
- `code` is the function without its docstring (CodeSearchNet's `code` still holds it; `original_string` here does).

Files under test folders (`test`, `tests`, `idle_test`), `site-packages` and `__pycache__` are skipped; a file that
does not parse or is not UTF-8 is counted in `skipped` and passed over.
"""

from __future__ import annotations

import ast
import inspect
import sysconfig
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

SKIPPED_FOLDERS = frozenset({"test", "tests", "idle_test", "site-packages", "__pycache__"})
STDLIB_REPO = "python/cpython"


def stdlib_folder() -> Path:
    """The standard library of the running Python (`sysconfig`'s "stdlib" path)."""
    return Path(sysconfig.get_paths()["stdlib"])


def python_files(folder: Path) -> list[Path]:
    """The `*.py` files under `folder`, test and package folders left out, in sorted order."""
    return sorted(
        path for path in folder.rglob("*.py")
        if not SKIPPED_FOLDERS.intersection(path.relative_to(folder).parts[:-1])
    )


def held_out(relative_path: str, percent: int) -> bool:
    """Whether a file belongs to the held-out part: a stable hash of its path, so whole modules are held out."""
    return zlib.crc32(relative_path.encode()) % 100 < percent


def codesearchnet_records(
    folder: str | Path, *, repo: str = STDLIB_REPO, skipped: Counter | None = None
) -> Iterator[dict]:
    """CodeSearchNet-format records of the documented functions under `folder`, file by file in sorted order.
    `partition` is "test" for files `held_out(path, 10)` puts aside, else "train"; `skipped` counts unreadable
    files by reason."""
    folder = Path(folder)
    skipped = skipped if skipped is not None else Counter()
    for path in python_files(folder):
        relative = path.relative_to(folder).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=relative)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            skipped["unparsable_file"] += 1
            continue
        lines = source.splitlines()
        partition = "test" if held_out(relative, 10) else "train"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                record = _record(node, lines, relative, repo, partition)
                if record is not None:
                    yield record


def _record(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], path: str, repo: str,
            partition: str) -> dict | None:
    docstring = ast.get_docstring(node, clean=False)
    if docstring is None or not node.body:
        return None
    summary = " ".join(inspect.cleandoc(docstring).split("\n\n")[0].split())
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    if len(node.body) == 1:  # a function that is only its docstring: no code to retrieve
        return None
    doc = node.body[0]
    original = lines[start:node.end_lineno]
    body = lines[start:doc.lineno - 1] + lines[doc.end_lineno:node.end_lineno]  # without the docstring lines
    indent = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    code = "\n".join(line[indent:] for line in body).strip("\n")
    return {
        "repo": repo,
        "path": path,
        "func_name": node.name,
        "original_string": "\n".join(line[indent:] for line in original),
        "language": "python",
        "code": code,
        "code_tokens": code.split(),
        "docstring": summary,
        "docstring_tokens": summary.split(),
        "url": f"{path}#L{node.lineno}",
        "partition": partition,
    }
