"""One error type for problems the user can fix (bad files, bad config): the CLI prints it on one line."""


class UserError(Exception):
    """A clear, one-line, user-facing error; `se1b` prints it and exits with status 2."""


class Interrupted(Exception):
    """A run stopped by SIGINT/SIGTERM after leaving its state clean; `se1b` prints the message (what was saved,
    how to continue) on one line and exits with status 130."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """A library's error as one short line: its type and the first line of its message, cut at `limit`
    characters (library messages run to paragraphs: a pickle refused by torch, a state-dict report)."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def yaml_error(path: object, error: Exception) -> UserError:
    """A PyYAML error as one line that keeps the line and column of the problem (1-based, as editors count)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return UserError(f"{where}: not valid YAML/JSON: {problem}")
