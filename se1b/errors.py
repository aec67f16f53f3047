"""One error type for problems the user can fix (bad files, bad config): the CLI prints it on one line."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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


class _Holder(logging.Handler):
    """Keeps the records of a held logger, with how many blocks hold it and what to restore."""

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.saved = (logger.handlers, logger.propagate)
        self.holds = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_holders: dict[str, _Holder] = {}
_holders_lock = threading.Lock()


@contextmanager
def library_logs_held(*names: str) -> Iterator[None]:
    """Hold the log records of the named libraries' loggers (and their children) while a block that turns their
    exceptions into our one-line `UserError` runs. Libraries log the failure they are about to raise (datasets:
    "Failed to read schema from ..." at ERROR, which its own handler and the root logger's both print), so the user
    would read the same error three times. A block that raises drops its thread's records: our line says it once.
    A block that ends normally replays them in order, so nothing a library reported is lost. Safe across threads
    (the data pipeline reads in a producer thread): records are claimed by the thread that logged them."""
    me = threading.get_ident()
    with _holders_lock:
        for name in names:
            logger = logging.getLogger(name)
            if name not in _holders:
                _holders[name] = _Holder(logger)
                logger.handlers, logger.propagate = [_holders[name]], False
            _holders[name].holds += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        replay = []
        with _holders_lock:
            for name in names:
                holder = _holders[name]
                mine = [record for record in holder.records if record.thread == me]
                holder.records = [record for record in holder.records if record.thread != me]
                replay += [] if failed else mine
                holder.holds -= 1
                if holder.holds == 0:  # the last block out restores the logger and hands on what others left
                    logger = logging.getLogger(name)
                    logger.handlers, logger.propagate = holder.saved
                    replay += holder.records
                    del _holders[name]
        for record in replay:
            logging.getLogger(record.name).handle(record)
