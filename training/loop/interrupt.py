"""Ctrl-C (SIGINT) and SIGTERM during training: remembered by a handler and acted on between steps, so the loop
never stops inside a step or an orbax save. The loop then saves a checkpoint at the step it reached, waits for the
asynchronous saves, closes everything and raises `Interrupted` (exit status 130, one line naming the step
`--resume` continues from)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptRequest:
    """Within `with InterruptRequest() as interrupt:`, SIGINT and SIGTERM set `interrupt.signal_name` instead of
    raising; a repeated signal only says that the stop is under way (SIGKILL still stops at once)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> InterruptRequest:
        if threading.current_thread() is threading.main_thread():  # Python delivers signals to the main thread only
            self._previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(number).name
            print(f"\n{self.signal_name}: stopping after this step; saving a checkpoint first", file=sys.stderr)
        else:
            print(f"\n{signal.Signals(number).name}: already stopping (saving the checkpoint)", file=sys.stderr)
