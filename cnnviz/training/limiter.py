"""How many runs train at once, and how many threads each gets: a first-come queue and the cores' budget."""
from __future__ import annotations

import os
import threading
from collections import deque


class JobLimiter:
    """At most ``limit`` jobs train at once in this process; the rest wait in first-come order."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"the job limit must be at least 1, got limit={limit}")
        self.limit = limit
        self._condition = threading.Condition()
        self._running: set[int] = set()
        self._waiting: deque[int] = deque()

    def acquire(self, ticket: int, cancelled: threading.Event) -> bool:
        """Block until ``ticket`` may run (True) or is cancelled while waiting (False)."""
        with self._condition:
            self._waiting.append(ticket)
            while not cancelled.is_set() and (self._waiting[0] != ticket or len(self._running) >= self.limit):
                self._condition.wait(timeout=0.2)
            self._waiting.remove(ticket)
            if cancelled.is_set():
                self._condition.notify_all()
                return False
            self._running.add(ticket)
            return True

    def release(self, ticket: int) -> None:
        with self._condition:
            self._running.discard(ticket)
            self._condition.notify_all()

    def position(self, ticket: int) -> int:
        """1-based place in the queue, or 0 when not waiting."""
        with self._condition:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else 0

    @property
    def running(self) -> int:
        with self._condition:
            return len(self._running)


THREADS_ENV = "CNNVIZ_TRAIN_THREADS"  # the most cores this process's runs may use together (the worker's --threads)


def usable_cores() -> int:
    """The cores this process's runs may use: those it may run on (a container or taskset may allow fewer than the
    machine has), or fewer if CNNVIZ_TRAIN_THREADS says so (two shared-mode workers on one machine share it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cap = os.environ.get(THREADS_ENV, "")
    return max(1, min(cores, int(cap))) if cap.isdigit() and int(cap) > 0 else cores


def worker_threads(cpu_count: int, running: int) -> int:
    """Torch threads for each of ``running`` concurrent runs on ``cpu_count`` cores.

    A run alone uses every core, as the CLI does; concurrent runs share them equally (at least one thread each), so
    they never ask for more threads than there are cores: oversubscribed OpenMP threads wait on each other.
    """
    return max(1, cpu_count // max(1, running))


def default_limit() -> int:
    """CNNVIZ_MAX_JOBS, else 2: two concurrent runs already share a 2-core machine's cores."""
    return max(1, int(os.environ.get("CNNVIZ_MAX_JOBS", "2")))
