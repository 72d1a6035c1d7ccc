"""Torch work on long-lived threads, for code called from short-lived ones.

Streamlit runs every script run on a new thread, and torch's OpenMP workers belong to the thread that starts a
parallel region: every new thread pays for a new team of workers. On a 2-core machine a 1024-px RGB convolution took
13-64 ms when each call came from a fresh thread, and 9-13 ms from one long-lived thread (``bench/torch_threads.py``
prints both). Pages hand their torch work to ``run``, whose threads live as long as the server.

    >>> from cnnviz import torch_threads
    >>> torch_threads.run(sum, [1, 2, 3])
    6
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = 2  # two sessions' computations at once; each has torch's own threads, so more would only oversubscribe
_PREFIX = "cnnviz-torch"
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=_PREFIX)


def run(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)`` on one of the long-lived threads: its result, or its exception raised here.

    A call made from one of those threads runs at once, so work that nests calls cannot wait on itself.
    """
    if threading.current_thread().name.startswith(_PREFIX):
        return function(*args, **kwargs)
    return _POOL.submit(function, *args, **kwargs).result()
