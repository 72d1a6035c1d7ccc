"""The run registry: every run of the server by id, so that a refresh (a new browser session) finds its run again.

``RunRegistry`` names what pages and the status route ask of it; ``InProcessRegistry`` keeps the runs in this
process's memory and stops the runs nobody watches from a reaper thread. The registry several servers share is
``cnnviz.training.shared.RedisRegistry``; ``registry_from_env`` picks one.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from cnnviz.data import Mnist
from cnnviz.errors import UserError
from cnnviz.model import ModelConfig
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import JobSnapshot, TrainingJob
from cnnviz.training.limiter import JobLimiter

MAX_PREVIOUS = 3  # earlier runs kept on a run's charts for comparison


def default_keep_bytes() -> int:
    """CNNVIZ_KEEP_WEIGHTS_MB (else 256) in bytes: the weights finished runs may keep in the server, all together."""
    return max(0, int(os.environ.get("CNNVIZ_KEEP_WEIGHTS_MB", "256"))) << 20


def default_idle_seconds(otherwise: float = 180.0) -> float:
    """CNNVIZ_RUN_IDLE_SECONDS, else ``otherwise``: how long a run nobody watches keeps training (a refresh takes
    seconds). The app passes its ``server.disconnectedSessionTTL``: a run lives as long as its closed tab's session."""
    return max(1.0, float(os.environ.get("CNNVIZ_RUN_IDLE_SECONDS", otherwise)))


@dataclass
class Run:
    """A training run in the registry: its job, the runs it is compared with, and when a page last looked."""

    id: str  # unguessable: whoever has it can watch and control the run
    job: TrainingJob  # or, in shared mode, a cnnviz.training.shared.RemoteJob: the same surface, read from Redis
    watch_id: str = ""  # unguessable too, and separate: whoever has it can only watch (a lecturer's room)
    previous: tuple[JobSnapshot, ...] = ()  # earlier runs of the same page, newest first, for comparison
    last_seen: float = 0.0  # registry clock time of the last look
    owner: str = ""  # the browser session that started it: one queued or training run each (RunRegistry.start)


class RunRegistry(ABC):
    """Every run by id, and what pages ask of the runs: start one, find one by its control or its watch id.

    Ids are unguessable: a browser without the id cannot see or control the run.
    """

    idle_seconds: float  # a run no page has looked at for this long is stopped
    trains_here: bool = True  # runs train in this process's workers (False: on shared-mode workers elsewhere)

    @abstractmethod
    def active_for(self, owner: str) -> Run | None:
        """The run ``owner`` started that is still queued, training or evaluating, if any (at most one should be)."""

    @abstractmethod
    def get(self, run_id: str) -> Run | None:
        """The run, marked as watched now; None for an unknown or forgotten id."""

    @abstractmethod
    def watch(self, watch_id: str) -> Run | None:
        """The run behind a read-only watch link, marked as watched (a watching room keeps it alive)."""

    @abstractmethod
    def reap(self) -> list[str]:
        """Stop runs nobody watched for ``idle_seconds``, forget old finished ones; the ids of the runs stopped."""

    def unavailable(self) -> UserError | None:
        """Why runs cannot be reached now (a shared store that is down), else None."""
        return None

    @abstractmethod
    def start(self, model_cfg: ModelConfig, train_cfg: TrainConfig, *, limiter: JobLimiter,
              data_loader: Callable[[], Mnist], label: str, owner: str, replacing: Run | None = None) -> Run:
        """Start a run for ``owner`` (a browser session); the run it replaces is stopped and kept on the new run's
        charts for comparison, with the runs it was compared with (at most MAX_PREVIOUS).

        Raises:
            UserError: ``owner`` has another run queued or training (one each, so that one browser cannot fill the
                queue); the run it replaces does not count.
        """


def registry_from_env(idle_seconds: float | None = None) -> RunRegistry:
    """The server's registry: shared through Redis when CNNVIZ_REDIS_URL is set (cnnviz.training.shared), with a
    worker beside this process if CNNVIZ_WITH_WORKER=1; else this process's own, which trains runs itself."""
    url = os.environ.get("CNNVIZ_REDIS_URL", "").strip()
    if not url:
        return InProcessRegistry(idle_seconds=idle_seconds)
    from cnnviz.training import queue, shared  # only shared mode needs redis and rq

    registry = shared.RedisRegistry(url, idle_seconds=idle_seconds)
    if os.environ.get(queue.WITH_WORKER_ENV, "") == "1":
        registry.local_worker = queue.start_local_worker()
    return registry


class InProcessRegistry(RunRegistry):
    """The runs of this server, in its memory.

    A run that no page has looked at for ``idle_seconds`` is stopped, which frees its training slot; finished runs
    are kept, newest ``keep`` of them, so their results survive a refresh too. Their weights are kept only within
    ``keep_bytes`` all together, newest first: older runs keep their curves and results, and their pages say the
    weights have expired. The newest finished run always keeps its own (the model caps bound them).
    """

    def __init__(self, idle_seconds: float | None = None, keep: int = 32, clock: Callable[[], float] = time.monotonic,
                 keep_bytes: int | None = None):
        self.idle_seconds = default_idle_seconds() if idle_seconds is None else idle_seconds
        self.keep = keep
        self.keep_bytes = default_keep_bytes() if keep_bytes is None else keep_bytes
        self._clock = clock
        self._runs: dict[str, Run] = {}
        self._watched: dict[str, str] = {}  # watch id -> run id
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def start(self, model_cfg: ModelConfig, train_cfg: TrainConfig, *, limiter: JobLimiter,
              data_loader: Callable[[], Mnist], label: str, owner: str, replacing: Run | None = None) -> Run:
        active = self.active_for(owner)
        if active is not None and active is not replacing:
            raise UserError("error.train.one_run")
        previous: tuple[JobSnapshot, ...] = ()
        if replacing is not None:
            replacing.job.stop(timeout=5)
            # Its curves, for comparison: its results belong to its own page (and are the bulk of its memory).
            snapshot = replace(replacing.job.snapshot(), final=None)
            previous = ((snapshot,) if snapshot.steps else ()) + replacing.previous
        job = TrainingJob(model_cfg, train_cfg, data_loader, limiter, label=label)
        job.start()
        return self.add(job, previous[:MAX_PREVIOUS], owner=owner)

    def add(self, job: TrainingJob, previous: Sequence[JobSnapshot] = (), owner: str = "") -> Run:
        """Keep a started job as a new run, with fresh unguessable ids."""
        run = Run(secrets.token_urlsafe(12), job, secrets.token_urlsafe(12), tuple(previous), self._clock(), owner)
        with self._lock:
            self._runs[run.id] = run
            self._watched[run.watch_id] = run.id
        self._trim()
        self._start_reaper()
        return run

    def active_for(self, owner: str) -> Run | None:
        with self._lock:
            return next((run for run in self._runs.values() if owner and run.owner == owner and not run.job.finished),
                        None)

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                run.last_seen = self._clock()
            return run

    def watch(self, watch_id: str) -> Run | None:
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
        self._trim()
        for run in idle:
            run.job.stop(timeout=0)  # all of them at once: each ends within its own grace, not after the others
        for run in idle:
            run.job.stop(timeout=5)
        return [run.id for run in idle]

    def _trim(self) -> None:
        """Forget the oldest finished runs beyond ``keep``; drop the weights of those beyond ``keep_bytes``."""
        with self._lock:
            finished = sorted((run for run in self._runs.values() if run.job.finished), key=lambda r: r.last_seen)
            for run in finished[:max(0, len(finished) - self.keep)]:
                del self._runs[run.id]
                del self._watched[run.watch_id]
            finished = finished[max(0, len(finished) - self.keep):]
        kept = 0
        for index, run in enumerate(reversed(finished)):  # newest first
            if run.job.weights_expired:
                continue
            size = run.job.weights_nbytes
            if index and kept + size > self.keep_bytes:
                run.job.drop_weights()
            else:
                kept += size

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
