"""A small bounded, thread-safe cache by key, for results shared by every session of the server.

Pages pass one in explicitly (``compute(state, ..., cache=...)``), so a cache key always names everything the
value depends on and nothing hides in module globals.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class LruCache:
    """The ``max_entries`` most recently used values; makes missing ones on request, several at a time if asked."""

    def __init__(self, max_entries: int, workers: int = 1):
        if max_entries < 1 or workers < 1:
            raise ValueError(f"max_entries and workers must be at least 1, got {max_entries=}, {workers=}")
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        # PIL's resize and zlib release the GIL, so on two cores pictures encode in parallel in a pool of threads.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnviz-cache") if workers > 1 else None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value for ``key``, calling ``make`` only when it is not cached."""
        return self.get_many([(key, make)])[0]

    def get_many(self, requests: Sequence[tuple[Hashable, Callable[[], Any]]]) -> list[Any]:
        """The value for each (key, make) pair, making the missing ones in parallel when the cache has workers."""
        with self._lock:
            found = {key: self._entries[key] for key, _ in requests if key in self._entries}
            for key in found:
                self._entries.move_to_end(key)
        missing = {key: make for key, make in requests if key not in found}
        if self._pool is not None and len(missing) > 1:
            made = dict(zip(missing, self._pool.map(lambda make: make(), missing.values())))
        else:
            made = {key: make() for key, make in missing.items()}
        with self._lock:
            for key, value in made.items():
                self._entries[key] = value
                self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return [found[key] if key in found else made[key] for key, _ in requests]
