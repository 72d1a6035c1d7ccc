"""Training in the background: a job object the UI polls, a process-wide cap on running jobs, and the registry
that finds a run again after a browser refresh.

Each run trains in a worker process of its own (cnnviz/worker.py), so the server's work (Streamlit's reruns, the GIL,
garbage collection, other sessions' torch work) cannot starve it. A small thread per job in the server reads the
worker's messages and records them under a lock; it never touches the UI. The page reads ``snapshot()``, an
immutable copy, as often as it likes. CNNVIZ_TRAIN_IN=thread trains in that thread instead, the old way.
"""
from __future__ import annotations

import math
import multiprocessing
import multiprocessing.spawn
import os
import pickle
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from cnnviz import worker
from cnnviz.data import Mnist
from cnnviz.model import ModelConfig, build_model
from cnnviz.train import EvalResult, Metrics, TrainConfig, final_evaluation, iter_training

TRAIN_MODES = ("process", "thread")  # a worker process per run, or a thread of the server (the old way)
WEIGHTS_REFRESH_SECONDS = 2.0  # a live model is refreshed from the worker at most this often
FOLLOW_POLL_SECONDS = 0.1  # how often the job's thread re-checks Stop and the thread budget while the worker is quiet
STOP_GRACE_SECONDS = 0.5  # after Stop, a worker gets this long to finish its step and send its weights
GOODBYE_GRACE_SECONDS = 0.05  # after its last message, a worker gets this long to exit by itself before it is killed
_SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: forking a process that runs threads is unsafe
WORKER_NAME = "cnnviz-train-"  # the name prefix of worker processes (and of the threads that follow them)
STATES = ("queued", "running", "paused", "evaluating", "stopped", "done", "diverged", "failed")
FINISHED = ("stopped", "done", "diverged", "failed")


def _without_main(prepare: Callable[[str], dict]) -> Callable[[str], dict]:
    """multiprocessing's preparation data for a spawned child, minus the parent's __main__ for our workers.

    A spawned child normally runs the parent's __main__ again (as __mp_main__) so that pickled functions defined there
    resolve. Under Streamlit, __main__ is the app script itself (its script runner installs it as __main__), so every
    worker would run the whole app, widgets and all, before training. The worker's entry point lives in
    cnnviz.worker, importable by name, so our workers skip __main__; other processes are left as they were.
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
class _Spare:
    """A worker process started before its run (``prepare_worker``): torch imported, waiting on its inbox."""

    process: Any
    control: worker.Control  # its flags, made with it: a spawned process gets them only when it starts
    inbox: Any  # the server's sending end: the run's configs and data go here, once
    receiver: Any  # the server's reading end of the worker's pipe

    def discard(self) -> None:
        """Let it go unused: it reads the end of its inbox and exits."""
        self.inbox.close()
        self.receiver.close()


class _SparePool:
    """At most one spare worker, and the count of process-mode jobs that keeps a new one from starting beside them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spare: _Spare | None = None  # waiting for a run
        self.live_jobs = 0  # process-mode jobs started and not ended

    def prepare(self) -> None:
        with self._lock:
            if self.live_jobs or (self.spare is not None and self.spare.process.is_alive()):
                return
            self._discard()
            control = worker.Control.create(_SPAWN, threads=1)
            inbox_end, inbox = _SPAWN.Pipe(duplex=False)
            receiver, sender = _SPAWN.Pipe(duplex=False)
            process = _SPAWN.Process(target=worker.serve_one_run, name=f"{WORKER_NAME}spare", daemon=True,
                                     args=(control, inbox_end, sender))
            process.start()
            inbox_end.close()
            sender.close()  # the spare holds the only sending end: when it dies, reading ends at once
            self.spare = _Spare(process, control, inbox, receiver)

    def discard(self) -> None:
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        if self.spare is not None:
            self.spare.discard()
            self.spare = None

    def begin_job(self) -> _Spare | None:
        """Count a process-mode job as live and give it the waiting spare, if it is alive."""
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
    hands it its run instead of waiting for a new interpreter to import torch (~2 s on one core of a 2-core laptop,
    while the page showed "Loading"). Never while a run trains: importing torch beside it would slow it down."""
    if default_mode() == "process":
        _SPARES.prepare()


def discard_spare() -> None:
    """Let the waiting spare worker go, if any (it exits): for a server short of memory, and for tests that need the
    next run to start a worker of its own."""
    _SPARES.discard()


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


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(cpu_count: int, running: int) -> int:
    """Torch threads for each of ``running`` concurrent runs on ``cpu_count`` cores.

    A run alone uses every core, as the CLI does; concurrent runs share them equally (at least one thread each), so
    they never ask for more threads than there are cores: oversubscribed OpenMP threads wait on each other.
    """
    return max(1, cpu_count // max(1, running))


def default_mode() -> str:
    """CNNVIZ_TRAIN_IN, else "process": where runs train. "thread" is the old way, kept for comparison."""
    mode = os.environ.get("CNNVIZ_TRAIN_IN", "process")
    if mode not in TRAIN_MODES:
        raise ValueError(f"CNNVIZ_TRAIN_IN must be one of {TRAIN_MODES}, got {mode!r}")
    return mode


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
    # The run's one result, computed once by the run itself on its final weights (cnnviz.train.final_evaluation):
    # every page and viewer shows this. None until it has ended, and for a run that diverged or was cancelled.
    final: EvalResult | None = None
    weights_expired: bool = False  # the registry dropped this finished run's weights (RunRegistry.keep_bytes)


@dataclass
class TrainingJob:
    """One training run, in a worker process of its own (or, in thread mode, a thread of this one)."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    data_loader: Callable[[], Mnist]  # called in the job's own thread, so loading never blocks the page
    limiter: JobLimiter
    label: str = ""
    data: Mnist | None = None  # set once the job has loaded it; the page draws the test digits from it
    mode: str = field(default_factory=default_mode)  # "process" or "thread": where the training loop runs
    _model: nn.Module | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)  # end training (finish or stop)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # and the final evaluation too
    _running: threading.Event = field(default_factory=threading.Event, repr=False)  # cleared = paused
    _thread: threading.Thread | None = field(default=None, repr=False)
    _control: worker.Control | None = field(default=None, repr=False)  # the worker process's flags
    _process: Any = field(default=None, repr=False)  # the worker process, once started
    _spare: _Spare | None = field(default=None, repr=False)  # a worker started ahead, until it gets the run
    _weights_asked: float = field(default=-math.inf, repr=False)  # monotonic time of the last request for weights
    _threads: int = 0  # torch threads the worker process uses now
    _weights_sent: int = 0  # how many times the worker has sent its weights
    _weights_arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _state: str = "queued"
    _steps: list[Metrics] = field(default_factory=list, repr=False)
    _evals: list[Metrics] = field(default_factory=list, repr=False)
    _latest: Metrics | None = None
    _message: str = ""
    _error: Exception | None = None
    _final: EvalResult | None = field(default=None, repr=False)
    _weights_expired: bool = False

    _tickets = iter(range(1, 1 << 62))

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this job was already started; create a new TrainingJob for a new run")
        if self.mode not in TRAIN_MODES:
            raise ValueError(f"mode must be one of {TRAIN_MODES}, got mode={self.mode!r}")
        self._ticket = next(TrainingJob._tickets)
        # The worker builds the same weights from the same seed: until it sends newer ones, this copy is exact.
        self._model = build_model(self.model_cfg, seed=self.train_cfg.seed)
        self._running.set()
        if self.mode == "process":
            self._spare = _SPARES.begin_job()
            self._control = self._spare.control if self._spare else worker.Control.create(_SPAWN, threads=1)
        self._thread = threading.Thread(target=self._work, name=f"{WORKER_NAME}{self._ticket}", daemon=True)
        self._thread.start()

    @property
    def model(self) -> nn.Module | None:
        """The model, for inspection during and after training; read it, never train it.

        In process mode it is this process's copy of the worker's model: looking at it asks the worker for its
        latest weights (at most every WEIGHTS_REFRESH_SECONDS, so a page redrawn every second costs the run
        little), which replace it a moment later. The last weights arrive before the job reports it finished.
        """
        control = self._control
        if control is not None and not self.finished and self._thread is not None:
            now = time.monotonic()
            if now - self._weights_asked >= WEIGHTS_REFRESH_SECONDS:
                self._weights_asked = now
                control.want_weights.set()
        return self._model

    @property
    def threads(self) -> int:
        """Torch threads the worker process trains with now (0 before it starts, and in thread mode): 1 or all
        of ``thread_budget``, whichever its steps show to be faster (cnnviz.worker.ThreadChooser)."""
        with self._lock:
            return self._threads

    @property
    def thread_budget(self) -> int:
        """The threads this run may use now: the cores shared among the runs training at once (0 in thread mode)."""
        return self._control.threads.value if self._control is not None else 0

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id once it has started (None before, and in thread mode)."""
        return self._process.pid if self._process is not None else None

    def _set_state(self, state: str, message: str = "", error: Exception | None = None) -> None:
        with self._lock:
            self._state = state
            self._message = message or self._message
            self._error = error or self._error

    def _apply(self, record: Metrics) -> None:
        if record.evaluation is not None:  # thread mode: the "done" record carries the final evaluation itself
            self._keep_final(record.evaluation)
            record = replace(record, evaluation=None)
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

    def _keep_final(self, result: EvalResult) -> None:
        with self._lock:
            self._final = result

    def _work(self) -> None:
        try:
            self._work_when_allowed()
        finally:
            if self.mode == "process":
                if self._spare is not None:  # stopped before it trained: the spare it took is not needed
                    self._spare.discard()
                    self._spare = None
                _SPARES.end_job()

    def _work_when_allowed(self) -> None:
        if not self.limiter.acquire(self._ticket, self._stop):
            self._set_state("stopped")
            return
        try:
            self._set_state("running" if self._running.is_set() else "paused")
            self.data = self.data_loader()
            if self.mode == "thread":
                self._train_here()
            elif not self._stop.is_set():
                self._train_in_worker()
            if self._stop.is_set() and self.state not in ("done", "diverged", "failed"):
                self._set_state("stopped")
        except Exception as error:  # the page shows it; the thread must not die silently
            self._set_state("failed", str(failure := worker.failure(error)), failure)
        finally:
            self.limiter.release(self._ticket)

    def _train_here(self) -> None:
        """Thread mode: the training loop runs in this thread, beside the server's own work."""
        for record in self._records():
            if record.kind == "step" and record.step == record.total_steps:
                self._set_state("evaluating")
            self._apply(record)
            if not self._running.is_set():
                self._set_state("paused")
                while not self._running.wait(timeout=0.2):
                    if self._stop.is_set():
                        break
                if not self._stop.is_set():
                    self._set_state("running")
        if self.state in ("running", "paused") and self._steps and not self._cancel.is_set():
            self._set_state("evaluating")  # Stop ended training: the run's one evaluation, as a worker does it
            self._keep_final(final_evaluation(self._model, self.data.test_images, self.data.test_labels))

    def _records(self) -> Iterator[Metrics]:
        return iter_training(self.model_cfg, self.train_cfg, self.data, stop=self._stop, model=self._model)

    def _train_in_worker(self) -> None:
        """Process mode: start the worker and apply what it sends until it ends; a silent end is a failure."""
        self._control.threads.value = self._thread_budget()
        # The tensors travel as shared-memory handles; the display pixels stay here, so that the few bytes sent fit
        # the pipe and start() returns at once instead of waiting for the new interpreter to read megabytes.
        data = replace(self.data, test_pixels=self.data.test_pixels[:0])
        spare, self._spare = self._spare, None
        if spare is not None:  # started ahead, torch imported: it trains as soon as it reads the run
            process, receiver = spare.process, spare.receiver
            try:
                spare.inbox.send((self.model_cfg, self.train_cfg, data))
            except OSError:
                pass  # it died meanwhile: reading its pipe ends at once, and the run says how it ended
            spare.inbox.close()
        else:
            receiver, sender = _SPAWN.Pipe(duplex=False)
            process = _SPAWN.Process(target=worker.train_in_worker, name=f"{WORKER_NAME}{self._ticket}", daemon=True,
                                     args=(self.model_cfg, self.train_cfg, data, self._control, sender))
            process.start()
            sender.close()  # the worker holds the only sending end now: when it dies, reading ends at once
        self._process = process
        said_goodbye = False
        try:
            said_goodbye = self._follow(receiver, process)
            if self._stop.is_set() and self.state not in ("done", "diverged", "failed"):
                self._set_state("stopped")  # before the worker's interpreter has wound down: Stop answers now
        finally:
            receiver.close()
            # After its goodbye a worker has nothing left to send, and the teardown of its interpreter (torch's
            # included) takes longer than a Stop may: it is not waited for.
            process.join(timeout=GOODBYE_GRACE_SECONDS if said_goodbye else STOP_GRACE_SECONDS)
            if process.is_alive():
                process.kill()  # it has said all it had to say, or Stop gave up on it
                process.join()
        if not said_goodbye and not self._stop.is_set():
            self._set_state("failed", str(failure := worker.exit_failure(process.exitcode)), failure)

    def _follow(self, receiver, process) -> bool:
        """Apply the worker's messages; True once it said it ended (or why it failed), False if it died silently.

        A worker that has not ended STOP_GRACE_SECONDS after ``stop`` (still starting, in a very long step, or in
        its final evaluation) is terminated: the run keeps the last weights it sent. After ``finish`` it is left to
        evaluate.
        """
        stop_asked = None
        while True:
            self._control.threads.value = self._thread_budget()
            if self._cancel.is_set():
                stop_asked = stop_asked or time.monotonic()
                if time.monotonic() - stop_asked > STOP_GRACE_SECONDS and process.is_alive():
                    process.terminate()
            try:
                if not receiver.poll(FOLLOW_POLL_SECONDS):
                    continue
                kind, payload = receiver.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                return False  # the pipe closed (or broke mid-message): the worker died
            if kind == "records":
                for record in payload:
                    self._apply(record)
            elif kind == "weights":
                fresh = worker.with_weights(self._model, payload)
                with self._weights_arrived:
                    self._model, self._weights_sent = fresh, self._weights_sent + 1
                    self._weights_arrived.notify_all()
            elif kind == "evaluation":
                self._keep_final(payload)
            elif kind == "threads":
                with self._lock:
                    self._threads = payload
            elif kind == "state":
                if not self.finished:
                    self._set_state(payload)
            elif kind == "error":
                self._set_state("failed", str(payload), payload)
                return True
            elif kind == "end":
                return True

    def _thread_budget(self) -> int:
        return worker_threads(usable_cores(), self.limiter.running)

    def pause(self) -> None:
        self._running.clear()
        if self._control is not None:
            self._control.running.clear()

    def resume(self) -> None:
        self._running.set()
        if self._control is not None:
            self._control.running.set()

    def finish(self) -> None:
        """End training after the current step and keep the run's result: the worker evaluates its final weights
        (state "evaluating"), then the run is "stopped". Returns at once; ``stop`` cancels that evaluation too."""
        self._stop.set()
        self._running.set()
        if self._control is not None:
            self._control.stop.set()
            self._control.running.set()

    @property
    def finishing(self) -> bool:
        """Training is over or ending and the final evaluation is (about to be) under way: Stop now cancels it."""
        return not self.finished and (self._stop.is_set() or self.state == "evaluating")

    def stop(self, timeout: float = 10.0) -> None:
        """End the run now, its final evaluation included (a worker that has not ended STOP_GRACE_SECONDS later is
        terminated), and wait for it."""
        self._cancel.set()
        self.finish()
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
                message=self._message, label=self.label, error=self._error, final=self._final,
                weights_expired=self._weights_expired,
            )

    def state_dict(self, timeout: float = 5.0) -> dict[str, torch.Tensor]:
        """The run's newest weights, as a state_dict of CPU tensors that nothing else holds.

        A worker that is training or paused is asked for its weights and they are waited for (at most ``timeout``
        seconds: past it, the last weights it sent); a finished run already sent its last ones. In thread mode the
        live model is copied: a step may be under way, so these weights can lag it by that step.
        """
        if self._control is not None and self.alive and not self.finished:
            with self._weights_arrived:
                sent = self._weights_sent
                self._control.want_weights.set()
                self._weights_arrived.wait_for(lambda: self._weights_sent > sent or not self.alive, timeout)
        model = self._model
        return {name: value.detach().clone() for name, value in model.state_dict().items()} if model else {}

    @property
    def weights_nbytes(self) -> int:
        """Bytes this run keeps in the server: its model's weights and buffers, and its final evaluation."""
        model, final = self._model, self._final
        weights = sum(t.numel() * t.element_size() for t in model.state_dict().values()) if model is not None else 0
        return weights + (final.predictions.nbytes + final.probabilities.nbytes if final is not None else 0)

    @property
    def weights_expired(self) -> bool:
        with self._lock:
            return self._weights_expired

    def drop_weights(self) -> None:
        """Let a finished run's model go (RunRegistry.keep_bytes); its curves and final evaluation stay."""
        if not self.finished:
            raise RuntimeError(f"only a finished run's weights can be dropped, this one is {self.state}")
        with self._lock:
            self._model, self._weights_expired = None, True

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the job ends (for tests and the CLI); True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive


def config_label(model_cfg: ModelConfig, train_cfg: TrainConfig, *, epochs: str = "{epochs} ep",
                 images: str = ", {images} imgs", no_hidden: str = "none") -> str:
    """A short legend entry: conv widths, optimizer, lr, epochs; ``epochs``, ``images`` and ``no_hidden`` word the
    counts and an empty fc (the UI passes them translated). ``images`` brings its own separator: Chinese joins
    clauses with a full-width comma."""
    convs = "-".join(str(b.channels) + ("bn" if b.batch_norm else "") for b in model_cfg.blocks)
    subset = images.format(images=train_cfg.subset) if train_cfg.subset else ""
    hidden = "-".join(map(str, model_cfg.hidden)) or no_hidden
    return (f"conv {convs} · fc {hidden} · {train_cfg.optimizer} lr {train_cfg.lr:g} · "
            f"{epochs.format(epochs=train_cfg.epochs)}{subset}")


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
    job: TrainingJob
    watch_id: str = ""  # unguessable too, and separate: whoever has it can only watch (a lecturer's room)
    previous: tuple[JobSnapshot, ...] = ()  # earlier runs of the same page, newest first, for comparison
    last_seen: float = 0.0  # registry clock time of the last look
    owner: str = ""  # the browser session that started it: one queued or training run each (RunRegistry.active_for)


class RunRegistry:
    """Every run of the server by id, so a refresh (a new browser session) finds its run again.

    A run that no page has looked at for ``idle_seconds`` is stopped, which frees its training slot; finished runs
    are kept, newest ``keep`` of them, so their results survive a refresh too. Their weights are kept only within
    ``keep_bytes`` all together, newest first: older runs keep their curves and results, and their pages say the
    weights have expired. The newest finished run always keeps its own (the model caps bound them). Ids are
    unguessable: a browser without the id cannot see or control the run.
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

    def add(self, job: TrainingJob, previous: Sequence[JobSnapshot] = (), owner: str = "") -> Run:
        run = Run(secrets.token_urlsafe(12), job, secrets.token_urlsafe(12), tuple(previous), self._clock(), owner)
        with self._lock:
            self._runs[run.id] = run
            self._watched[run.watch_id] = run.id
        self._trim()
        self._start_reaper()
        return run

    def active_for(self, owner: str) -> Run | None:
        """The run ``owner`` started that is still queued, training or evaluating, if any (at most one should be)."""
        with self._lock:
            return next((run for run in self._runs.values() if owner and run.owner == owner and not run.job.finished),
                        None)

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
