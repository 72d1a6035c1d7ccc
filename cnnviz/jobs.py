"""Training in a background thread: a job object the UI polls, a process-wide cap on running jobs, and the
registry that finds a run again after a browser refresh.

The worker thread only iterates ``iter_training`` and appends metrics under a lock; it never
touches the UI. The page reads ``snapshot()``, an immutable copy, as often as it likes.
"""
from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from torch import nn

from cnnviz.data import Mnist
from cnnviz.model import ModelConfig, build_model
from cnnviz.train import Metrics, TrainConfig, iter_training

STATES = ("queued", "running", "paused", "stopped", "done", "diverged", "failed")
FINISHED = ("stopped", "done", "diverged", "failed")


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


def default_nice() -> int:
    """CNNVIZ_TRAIN_NICE, else 10: how far below the pages a training thread's CPU priority is (Linux nice steps).

    A server's cores are shared by the runs and by every student's page; the pages are what a person waits for, so a
    run gets the CPU the pages leave (it still trains at full speed when nobody clicks). 0 keeps training level.
    """
    return max(0, min(19, int(os.environ.get("CNNVIZ_TRAIN_NICE", "10"))))


def lower_thread_priority(steps: int) -> None:
    """Make the calling thread ``steps`` nicer; threads it starts later (torch's OpenMP team) inherit that.

    A no-op where threads cannot have their own priority (not Linux) or where it is refused.
    """
    if steps <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()  # Linux: PRIO_PROCESS with a thread id sets that thread only
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))
    except OSError:
        pass


def default_limit() -> int:
    """CNNVIZ_MAX_JOBS, else 2: two concurrent runs already share this machine's 2 cores."""
    return max(1, int(os.environ.get("CNNVIZ_MAX_JOBS", "2")))


@dataclass(frozen=True)
class JobSnapshot:
    """What the page draws: a consistent copy, safe to read while the job runs."""

    state: str  # one of STATES
    queue_position: int  # 1-based while queued, else 0
    steps: tuple[Metrics, ...]  # every "step" record
    evals: tuple[Metrics, ...]  # "eval" and "epoch" records (test metrics)
    latest: Metrics | None  # the newest record of any kind
    message: str  # why it diverged or failed, in English
    label: str  # a short description of the config, for legends
    error: Exception | None = None  # what ended it when it diverged or failed (the UI translates a UserError)


@dataclass
class TrainingJob:
    """One training run in its own thread."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    data_loader: Callable[[], Mnist]  # called in the worker, so loading never blocks the page
    limiter: JobLimiter
    label: str = ""
    nice: int = field(default_factory=default_nice)  # the worker thread's priority below the pages (Linux nice steps)
    thread_id: int = 0  # the worker's native thread id, once it runs
    model: nn.Module | None = None  # the live model, for inspection during and after training
    data: Mnist | None = None  # set once the worker has loaded it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _running: threading.Event = field(default_factory=threading.Event, repr=False)  # cleared = paused
    _thread: threading.Thread | None = field(default=None, repr=False)
    _state: str = "queued"
    _steps: list[Metrics] = field(default_factory=list, repr=False)
    _evals: list[Metrics] = field(default_factory=list, repr=False)
    _latest: Metrics | None = None
    _message: str = ""
    _error: Exception | None = None

    _tickets = iter(range(1, 1 << 62))

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this job was already started; create a new TrainingJob for a new run")
        self._ticket = next(TrainingJob._tickets)
        self.model = build_model(self.model_cfg, seed=self.train_cfg.seed)
        self._running.set()
        self._thread = threading.Thread(target=self._work, name=f"cnnviz-train-{self._ticket}", daemon=True)
        self._thread.start()

    def _set_state(self, state: str, message: str = "", error: Exception | None = None) -> None:
        with self._lock:
            self._state = state
            self._message = message or self._message
            self._error = error or self._error

    def _work(self) -> None:
        self.thread_id = threading.get_native_id()
        lower_thread_priority(self.nice)
        if not self.limiter.acquire(self._ticket, self._stop):
            self._set_state("stopped")
            return
        try:
            self._set_state("running" if self._running.is_set() else "paused")
            self.data = self.data_loader()
            for record in self._records():
                with self._lock:
                    self._latest = record
                    if record.kind == "step":
                        self._steps.append(record)
                    elif record.kind in ("eval", "epoch", "done"):
                        self._evals.append(record)
                    if record.kind == "diverged":
                        self._state, self._message, self._error = "diverged", record.message, record.error
                    elif record.kind == "done":
                        self._state = "done"
                if not self._running.is_set():
                    self._set_state("paused")
                    while not self._running.wait(timeout=0.2):
                        if self._stop.is_set():
                            break
                    if not self._stop.is_set():
                        self._set_state("running")
            if self._stop.is_set() and self.state not in ("done", "diverged"):
                self._set_state("stopped")
        except Exception as error:  # the page shows it; the thread must not die silently
            self._set_state("failed", f"{type(error).__name__}: {error}", error)
        finally:
            self.limiter.release(self._ticket)

    def _records(self) -> Iterator[Metrics]:
        return iter_training(self.model_cfg, self.train_cfg, self.data, stop=self._stop, model=self.model)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to stop after its current step, and wait for it."""
        self._stop.set()
        self._running.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            state = self._state
            if state == "running" and not self._running.is_set():
                state = "paused"
            return JobSnapshot(
                state=state,
                queue_position=self.limiter.position(self._ticket) if state == "queued" and self._thread else 0,
                steps=tuple(self._steps), evals=tuple(self._evals), latest=self._latest,
                message=self._message, label=self.label, error=self._error,
            )

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the worker ends (for tests and the CLI); True if it did."""
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.alive


def config_label(model_cfg: ModelConfig, train_cfg: TrainConfig, *, epochs: str = "{epochs} ep",
                 images: str = ", {images} imgs") -> str:
    """A short legend entry: conv widths, optimizer, lr, epochs; ``epochs`` and ``images`` word the counts (the
    UI passes them translated). ``images`` brings its own separator: Chinese joins clauses with a full-width comma."""
    convs = "-".join(str(b.channels) + ("bn" if b.batch_norm else "") for b in model_cfg.blocks)
    subset = images.format(images=train_cfg.subset) if train_cfg.subset else ""
    return (f"conv {convs} · fc {model_cfg.hidden} · {train_cfg.optimizer} lr {train_cfg.lr:g} · "
            f"{epochs.format(epochs=train_cfg.epochs)}{subset}")


def default_idle_seconds(otherwise: float = 180.0) -> float:
    """CNNVIZ_RUN_IDLE_SECONDS, else ``otherwise``: how long a run nobody watches keeps training (a refresh takes
    seconds). The app passes its ``server.disconnectedSessionTTL``: a run lives as long as its closed tab's session."""
    return max(1.0, float(os.environ.get("CNNVIZ_RUN_IDLE_SECONDS", otherwise)))


@dataclass
class Run:
    """A training run in the registry: its job, the runs it is compared with, and when a page last looked."""

    id: str  # unguessable: whoever has it can watch and control the run
    job: TrainingJob
    watch_id: str = ""  # unguessable too, and separate: whoever has it can only watch (a lecturer's room)
    previous: tuple[JobSnapshot, ...] = ()  # earlier runs of the same page, newest first, for comparison
    last_seen: float = 0.0  # registry clock time of the last look
    evaluation: Any = None  # (step, EvalResult) of the last full-test-set evaluation, kept with the run


class RunRegistry:
    """Every run of the server by id, so a refresh (a new browser session) finds its run again.

    A run that no page has looked at for ``idle_seconds`` is stopped, which frees its training slot; finished runs
    are kept, newest ``keep`` of them, so their results survive a refresh too. Ids are unguessable: a browser
    without the id cannot see or control the run.
    """

    def __init__(self, idle_seconds: float | None = None, keep: int = 32, clock: Callable[[], float] = time.monotonic):
        self.idle_seconds = default_idle_seconds() if idle_seconds is None else idle_seconds
        self.keep = keep
        self._clock = clock
        self._runs: dict[str, Run] = {}
        self._watched: dict[str, str] = {}  # watch id -> run id
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def add(self, job: TrainingJob, previous: Sequence[JobSnapshot] = ()) -> Run:
        run = Run(secrets.token_urlsafe(12), job, secrets.token_urlsafe(12), tuple(previous), self._clock())
        with self._lock:
            self._runs[run.id] = run
            self._watched[run.watch_id] = run.id
        self._start_reaper()
        return run

    def get(self, run_id: str) -> Run | None:
        """The run, marked as watched now; None for an unknown or forgotten id."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                run.last_seen = self._clock()
            return run

    def watch(self, watch_id: str) -> Run | None:
        """The run behind a read-only watch link, marked as watched (a watching room keeps it alive)."""
        with self._lock:
            run_id = self._watched.get(watch_id)
        return self.get(run_id) if run_id else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def reap(self) -> list[str]:
        """Stop runs nobody watched for ``idle_seconds``; forget the oldest finished ones beyond ``keep``.

        Returns:
            The ids of the runs it stopped.
        """
        now = self._clock()
        with self._lock:
            idle = [run for run in self._runs.values()
                    if not run.job.finished and now - run.last_seen > self.idle_seconds]
            finished = sorted((run for run in self._runs.values() if run.job.finished), key=lambda r: r.last_seen)
            for run in finished[:max(0, len(finished) - self.keep)]:
                del self._runs[run.id]
                del self._watched[run.watch_id]
        for run in idle:
            run.job.stop(timeout=5)
        return [run.id for run in idle]

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap_forever, name="cnnviz-run-reaper", daemon=True)
        self._reaper.start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(min(10.0, self.idle_seconds / 4))
            self.reap()
