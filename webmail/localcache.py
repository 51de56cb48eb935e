"""Small in-process caches in front of the shared cache, for values that are large to read.

A web process that just read a 400 KB folder order or a 1 MB sanitized body from Redis is
likely to need it again within seconds (the message page and its body document, the next page
of the same folder). ``BoundedLRU`` keeps the most recently used values up to a byte budget;
what it holds must be valid by construction (immutable content under its key) or checked by the
caller, as the shared cache's entries are. ``clear_all`` empties every one (tests, benchmarks).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

_ALL: weakref.WeakSet[BoundedLRU[object]] = weakref.WeakSet()


class BoundedLRU(Generic[V]):
    """key -> value, at most ``limit`` bytes as the caller sizes them; least recently used
    dropped first; a value larger than the budget is not kept. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        _ALL.add(self)  # type: ignore[arg-type]

    def get(self, key: str) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: str, value: V, size: int) -> None:
        with self._lock:
            self._drop(key)
            if size > self.limit:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.limit:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size(self) -> int:
        return self._bytes

    def _drop(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]


def clear_all() -> None:
    for lru in list(_ALL):
        lru.clear()
