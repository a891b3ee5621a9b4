"""A bounded, thread-safe mapping that forgets the least recently used entry first.

The point store keeps what every session of a server has looked at; without a bound,
one visitor trying mixes could grow it without end. :class:`LRU` holds at most
``maxsize`` entries; reading an entry (:meth:`LRU.get`) makes it the most recent, and
inserting into a full mapping drops the least recent one (``on_evict(key)`` is called
for it, so related maps can drop theirs too).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

__all__ = ["LRU"]


class LRU:
    """At most ``maxsize`` entries, least recently used evicted first; safe to share
    between threads (one lock per mapping)."""

    def __init__(self, maxsize: int, on_evict: Callable[[Hashable], None] | None = None):
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._on_evict = on_evict
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __getitem__(self, key: Hashable) -> Any:
        marker = object()
        got = self.get(key, marker)
        if got is marker:
            raise KeyError(key)
        return got

    def __setitem__(self, key: Hashable, value: Any) -> None:
        evicted = []
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                evicted.append(self._data.popitem(last=False)[0])
        if self._on_evict is not None:
            for k in evicted:  # outside the lock: the callback may touch other maps
                self._on_evict(k)

    def setdefault(self, key: Hashable, value: Any) -> Any:
        marker = object()
        got = self.get(key, marker)
        if got is marker:
            self[key] = value
            return value
        return got

    def pop(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __iter__(self) -> Iterator:
        with self._lock:
            return iter(list(self._data))
