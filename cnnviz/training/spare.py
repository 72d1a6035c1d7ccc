"""The spare worker: a training process started before its run, so that Start does not wait for torch to import.

Importing this module also patches multiprocessing once (``_without_main``), so that spawned training workers do
not run the app's script again before they train.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import threading
from dataclasses import dataclass
from typing import Any, Callable

from cnnviz.data import preload
from cnnviz.training import worker

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: forking a process that runs threads is unsafe
WORKER_NAME = "cnnviz-train-"  # the name prefix of worker processes (and of the threads that follow them)


def _without_main(prepare: Callable[[str], dict]) -> Callable[[str], dict]:
    """multiprocessing's preparation data for a spawned child, minus the parent's __main__ for our workers.

    A spawned child normally runs the parent's __main__ again (as __mp_main__) so that pickled functions defined there
    resolve. Under Streamlit, __main__ is the app script itself (its script runner installs it as __main__), so every
    worker would run the whole app, widgets and all, before training. The worker's entry point lives in
    cnnviz.training.worker, importable by name, so our workers skip __main__; other processes are left as they were.
    """
    def preparation_data(name: str) -> dict:
        data = prepare(name)
        if name.startswith(WORKER_NAME):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.without_main = True
    return preparation_data


if not getattr(multiprocessing.spawn.get_preparation_data, "without_main", False):  # once, even if reloaded
    multiprocessing.spawn.get_preparation_data = _without_main(multiprocessing.spawn.get_preparation_data)


@dataclass
class Spare:
    """A worker process started before its run (``prepare_worker``): torch imported, waiting on its inbox."""

    process: Any
    control: worker.Control  # its flags, made with it: a spawned process gets them only when it starts
    inbox: Any  # the server's sending end: the run's configs and data go here, once
    receiver: Any  # the server's reading end of the worker's pipe

    def discard(self) -> None:
        """Let it go unused: it reads the end of its inbox and exits."""
        self.inbox.close()
        self.receiver.close()
        # Its flags stay referenced until it has exited: dropping them unlinks their named semaphores, and a spare
        # still starting up opens them by name (FileNotFoundError in SemLock._rebuild, in the spare's log).
        _LEAVING[:] = [spare for spare in _LEAVING if spare.process.is_alive()] + [self]


_LEAVING: list[Spare] = []  # discarded spares that may still be starting: their flags must outlive them


class _SparePool:
    """At most one spare worker, and the count of jobs that keeps a new one from starting beside them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spare: Spare | None = None  # waiting for a run
        self.live_jobs = 0  # jobs started and not ended

    def prepare(self) -> None:
        with self._lock:
            if self.live_jobs or (self.spare is not None and self.spare.process.is_alive()):
                return
            self._discard()
            control = worker.Control.create(SPAWN, threads=1)
            inbox_end, inbox = SPAWN.Pipe(duplex=False)
            receiver, sender = SPAWN.Pipe(duplex=False)
            process = SPAWN.Process(target=worker.serve_one_run, name=f"{WORKER_NAME}spare", daemon=True,
                                     args=(control, inbox_end, sender))
            process.start()
            inbox_end.close()
            sender.close()  # the spare holds the only sending end: when it dies, reading ends at once
            self.spare = Spare(process, control, inbox, receiver)

    def discard(self) -> None:
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        if self.spare is not None:
            self.spare.discard()
            self.spare = None

    def begin_job(self) -> Spare | None:
        """Count a job as live and give it the waiting spare, if it is alive."""
        with self._lock:
            spare, self.spare = self.spare, None
            self.live_jobs += 1
        if spare is not None and not spare.process.is_alive():
            spare.discard()
            return None
        return spare

    def end_job(self) -> None:
        with self._lock:
            self.live_jobs -= 1


_SPARES = _SparePool()


def prepare_worker() -> None:
    """Start a spare worker process when none is waiting and no run of this server trains, so that the next Start
    hands it its run instead of waiting for a new interpreter to import torch (while the page shows "Loading").
    Never while a run trains: importing torch beside it would slow it down."""
    _SPARES.prepare()


def prepare_for_start() -> None:
    """Get the next Start ready when a page that trains is drawn: a spare worker (``prepare_worker``), and MNIST
    loading in the background if it is not loaded yet (``cnnviz.data.preload``); otherwise both would stand between
    a first Start and its first step."""
    prepare_worker()
    preload()


def discard_spare() -> None:
    """Let the waiting spare worker go, if any (it exits): for a server short of memory, and for tests that need the
    next run to start a worker of its own."""
    _SPARES.discard()


def begin_job() -> Spare | None:
    """Count a job as live (no spare starts beside it) and hand it the waiting spare, if one is alive."""
    return _SPARES.begin_job()


def end_job() -> None:
    """The job that ``begin_job`` counted has ended: a spare may start again."""
    _SPARES.end_job()
