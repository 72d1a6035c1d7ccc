"""Torch work on long-lived threads, for code called from short-lived ones.

Streamlit runs every script run on a new thread, and torch's OpenMP workers belong to the thread that starts a
parallel region: every new thread pays for a new team of workers, and a large convolution from a fresh thread is
slower and far less steady than from a long-lived one (``bench/torch_threads.py`` times both). Pages hand their
torch work to ``run``, whose threads live as long as the server.

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


def warm_up() -> None:
    """Start every worker and its torch threads now, so the first student's first change does not pay for them."""
    import torch  # here, not at the top: the module itself needs no torch
    import torch.nn.functional as F

    started = threading.Barrier(WORKERS)

    def first_convolution() -> None:
        try:
            started.wait(timeout=5)  # each worker holds one call until all have one: every worker starts
        except threading.BrokenBarrierError:
            pass  # workers busy with real work: they are warm already
        image = torch.zeros(1, 2, 32, 32).contiguous(memory_format=torch.channels_last)
        F.conv2d(image, torch.zeros(2, 1, 3, 3), groups=2)

    for call in [_POOL.submit(first_convolution) for _ in range(WORKERS)]:
        call.result()


def run(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)`` on one of the long-lived threads: its result, or its exception raised here.

    A call made from one of those threads runs at once, so work that nests calls cannot wait on itself.
    """
    if threading.current_thread().name.startswith(_PREFIX):
        return function(*args, **kwargs)
    return _POOL.submit(function, *args, **kwargs).result()
