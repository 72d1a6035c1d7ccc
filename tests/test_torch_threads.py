"""``cnnviz.torch_threads``: torch work from short-lived threads runs on a few long-lived ones."""
from __future__ import annotations

import threading

import pytest

from cnnviz import torch_threads
from tests.apptest_kit import run_page


def from_fresh_threads(function, count: int) -> list:
    results = []
    for _ in range(count):
        thread = threading.Thread(target=lambda: results.append(torch_threads.run(function)))
        thread.start()
        thread.join()
    return results


def test_calls_from_many_threads_run_on_a_few_long_lived_ones():
    names = from_fresh_threads(lambda: threading.current_thread().name, 6)
    assert len(names) == 6 and len(set(names)) <= torch_threads.WORKERS
    assert all(name.startswith("cnnviz-torch") for name in names)


def test_results_and_errors_come_back_to_the_caller():
    assert torch_threads.run(divmod, 17, 5) == (3, 2)
    with pytest.raises(ZeroDivisionError):
        torch_threads.run(divmod, 1, 0)


def test_a_nested_call_runs_at_once():
    # Every worker busy with a call that nests another: waiting for a free worker would never end.
    def outer():
        return torch_threads.run(lambda: threading.current_thread().name)

    names = from_fresh_threads(outer, 2)
    assert all(name.startswith("cnnviz-torch") for name in names)


def test_the_kernel_lab_computes_on_a_long_lived_thread(monkeypatch):
    from cnnviz.pages import kernel_lab

    seen = []
    real = kernel_lab.compute

    def compute(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(kernel_lab, "compute", compute)
    run_page("kernel_lab", query={"k": "emboss", "b": "0.123"})  # a state no other test computes: not cached
    assert seen and all(name.startswith("cnnviz-torch") for name in seen)


def test_warm_up_starts_every_worker():
    torch_threads.warm_up()
    workers = {thread.name for thread in threading.enumerate() if thread.name.startswith("cnnviz-torch")}
    assert len(workers) == torch_threads.WORKERS
