"""A thread-safe least-recently-used cache bounded both by entry count and by an estimate of the bytes it holds.

Every cache of the Space goes through this class, so a long-running server's memory stays bounded whatever its
visitors send. (cachetools' LRUCache bounds one size measure only; both bounds matter here: many small entries
cost Python overhead, few large ones cost bytes.)
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


def estimate_bytes(value: Any) -> int:
    """Approximate memory held by `value`: numpy buffers, strings, and containers of them (recursively)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str | bytes):
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(estimate_bytes(k) + estimate_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + sum(estimate_bytes(item) for item in value)
    if hasattr(value, "__dict__"):  # a dataclass such as a BiasReport
        return estimate_bytes(vars(value))
    return sys.getsizeof(value)


class BoundedCache:
    """key -> value, evicting the least recently used entries beyond `max_entries` or `max_bytes`.

    A value larger than `max_bytes` on its own is returned to the caller but not kept.
    """

    def __init__(self, max_entries: int, max_bytes: int, size: Callable[[Any], int] = estimate_bytes) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """The estimated bytes held now."""
        return self._bytes

    def get(self, key: Hashable) -> Any | None:
        """The cached value (marked as recently used), or None."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: Hashable, value: Any) -> Any:
        """Store `value` under `key`, evict beyond the bounds, and return `value`."""
        nbytes = self._size(value)
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            if nbytes <= self.max_bytes:
                self._entries[key] = (value, nbytes)
                self._bytes += nbytes
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1][1]
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value, or `compute()` stored and returned. Two threads missing at once both compute (the
        results are equal); holding the lock while computing would serialise unrelated requests."""
        value = self.get(key)
        return value if value is not None else self.put(key, compute())
