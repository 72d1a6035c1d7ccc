"""One training run in the background: a job object the server polls, training in a worker process of its own.

Each run trains in a worker process (cnnviz.training.worker), so the server's work (Streamlit's reruns, the GIL,
garbage collection, other sessions' torch work) cannot starve it. A small thread per job in the server reads the
worker's messages and records them under a lock; it never touches the UI. A page reads ``snapshot()``, an
immutable copy, as often as it likes.
"""
from __future__ import annotations

import math
import pickle
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import nn

from cnnviz.data import Mnist
from cnnviz.model import ModelConfig, build_model
from cnnviz.training import spare as spares
from cnnviz.training import worker
from cnnviz.training.config import TrainConfig
from cnnviz.training.limiter import JobLimiter, usable_cores, worker_threads
from cnnviz.training.loop import EvalResult, Metrics
from cnnviz.training.spare import SPAWN, WORKER_NAME, Spare

WEIGHTS_REFRESH_SECONDS = 2.0  # a live model is refreshed from the worker at most this often
FOLLOW_POLL_SECONDS = 0.1  # how often the job's thread re-checks Stop and the thread budget while the worker is quiet
STOP_GRACE_SECONDS = 0.5  # after Stop, a worker gets this long to finish its step and send its weights
GOODBYE_GRACE_SECONDS = 0.05  # after its last message, a worker gets this long to exit by itself before it is killed
STATES = ("queued", "running", "paused", "evaluating", "stopped", "done", "diverged", "failed")
FINISHED = ("stopped", "done", "diverged", "failed")


@dataclass(frozen=True)
class QueueLine:
    """Where a shared run waits: its place in the queue, the workers serving it, and the estimated wait."""

    place: int  # 1 = the next run a worker takes
    workers: int  # workers serving the queue; 0 = nothing will start it
    wait_seconds: float | None  # until a worker takes it (cnnviz.training.shared.queue_wait); None without a worker


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
    # The run's one result, computed once by the run itself on its final weights (cnnviz.training.loop.final_evaluation):
    # every page and viewer shows this. None until it has ended, and for a run that diverged or was cancelled.
    final: EvalResult | None = None
    weights_expired: bool = False  # the registry dropped this finished run's weights (InProcessRegistry.keep_bytes)
    queue: QueueLine | None = None  # shared mode (cnnviz.training.shared) only, while the run waits for a worker


@dataclass
class TrainingJob:
    """One training run, in a worker process of its own, followed by a thread of this process."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    data_loader: Callable[[], Mnist]  # called in the job's own thread, so loading never blocks the page
    limiter: JobLimiter
    label: str = ""
    data: Mnist | None = None  # set once the job has loaded it; the page draws the test digits from it
    _model: nn.Module | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)  # end training (finish or stop)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # and the final evaluation too
    _running: threading.Event = field(default_factory=threading.Event, repr=False)  # cleared = paused
    _thread: threading.Thread | None = field(default=None, repr=False)
    _control: worker.Control | None = field(default=None, repr=False)  # the worker process's flags
    _process: Any = field(default=None, repr=False)  # the worker process, once started
    _spare: Spare | None = field(default=None, repr=False)  # a worker started ahead, until it gets the run
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
        self._ticket = next(TrainingJob._tickets)
        # The worker builds the same weights from the same seed: until it sends newer ones, this copy is exact.
        self._model = build_model(self.model_cfg, seed=self.train_cfg.seed)
        self._running.set()
        self._spare = spares.begin_job()
        self._control = self._spare.control if self._spare else worker.Control.create(SPAWN, threads=1)
        self._thread = threading.Thread(target=self._work, name=f"{WORKER_NAME}{self._ticket}", daemon=True)
        self._thread.start()

    @property
    def model(self) -> nn.Module | None:
        """The model, for inspection during and after training; read it, never train it.

        It is this process's copy of the worker's model: looking at it asks the worker for its latest weights (at
        most every WEIGHTS_REFRESH_SECONDS, so a page redrawn every second costs the run little), which replace it
        a moment later. The last weights arrive before the job reports it finished.
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
        """Torch threads the worker process trains with now (0 before it starts): 1 or all
        of ``thread_budget``, whichever its steps show to be faster (cnnviz.training.worker.ThreadChooser)."""
        with self._lock:
            return self._threads

    @property
    def thread_budget(self) -> int:
        """The threads this run may use now: the cores shared among the runs training at once."""
        return self._control.threads.value if self._control is not None else 0

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id once it has started (None before)."""
        return self._process.pid if self._process is not None else None

    def _set_state(self, state: str, message: str = "", error: Exception | None = None) -> None:
        with self._lock:
            self._state = state
            self._message = message or self._message
            self._error = error or self._error

    def _apply(self, record: Metrics) -> None:
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
            if self._spare is not None:  # stopped before it trained: the spare it took is not needed
                self._spare.discard()
                self._spare = None
            spares.end_job()

    def _work_when_allowed(self) -> None:
        if not self.limiter.acquire(self._ticket, self._stop):
            self._set_state("stopped")
            return
        try:
            self._set_state("running" if self._running.is_set() else "paused")
            self.data = self.data_loader()
            if not self._stop.is_set():
                self._train_in_worker()
            if self._stop.is_set() and self.state not in ("done", "diverged", "failed"):
                self._set_state("stopped")
        except Exception as error:  # the page shows it; the thread must not die silently
            self._set_state("failed", str(failure := worker.failure(error)), failure)
        finally:
            self.limiter.release(self._ticket)

    def _train_in_worker(self) -> None:
        """Start the worker (or hand the run to the spare) and apply what it sends until it ends; a silent end is a failure."""
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
            receiver, sender = SPAWN.Pipe(duplex=False)
            process = SPAWN.Process(target=worker.train_in_worker, name=f"{WORKER_NAME}{self._ticket}", daemon=True,
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
        seconds: past it, the last weights it sent); a finished run already sent its last ones.
        """
        if self._control is not None and self.alive and not self.finished:
            with self._weights_arrived:
                sent = self._weights_sent
                self._control.want_weights.set()
                self._weights_arrived.wait_for(lambda: self._weights_sent > sent or not self.alive, timeout)
        model = self._model
        return {name: value.detach().clone() for name, value in model.state_dict().items()} if model else {}

    @property
    def weights_version(self) -> int:
        """How many times the worker has sent its weights: a change means ``model`` holds newer ones."""
        with self._weights_arrived:
            return self._weights_sent

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
        """Let a finished run's model go (InProcessRegistry.keep_bytes); its curves and final evaluation stay."""
        if not self.finished:
            raise RuntimeError(f"only a finished run's weights can be dropped, this one is {self.state}")
        with self._lock:
            self._model, self._weights_expired = None, True

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the job ends (for tests and the CLI); True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

