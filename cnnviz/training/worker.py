"""The training worker: one run of ``iter_training`` in its own process, reporting to the server over a pipe.

Run as a module (``python -m cnnviz.training.worker``) it is the shared mode's worker command instead, which takes
runs from the queue in Redis (cnnviz.training.queue) and trains each through this same process.

A run trains in a spawned process so that nothing in the server (Streamlit's script runs holding the GIL, garbage
collection, other sessions' torch work) can starve it. ``cnnviz.training.job.TrainingJob`` starts ``train_in_worker`` (or
hands its run to a spare started ahead, ``serve_one_run``) and reads what it sends; this module is the worker's side
and the wire format both sides share.

Worker -> server, one ``(kind, payload)`` message at a time over a one-way pipe:
    ("threads", n)                 the torch threads the worker now uses
    ("records", [Metrics, ...])    every record iter_training yields, in order, a batch at a time: step records wait
                                   up to SEND_EVERY_SECONDS; any other record goes at once, after those before it
    ("state", "paused"|"running")  the worker paused between steps, or went on
    ("state", "evaluating")        training is over (its last step ran, or Stop ended it): the final evaluation runs
    ("weights", bytes)             the model's state_dict (CPU tensors, torch.save): when asked, and at the end,
                                   before the record that finishes the run
    ("evaluation", EvalResult)     the run's one final evaluation (cnnviz.training.loop.final_evaluation), before the "done"
                                   record, or after the last weights of a run that Stop ended
    ("error", UserError)           an exception ended the run; the page shows its message
    ("end", None)                  the run ended by itself or was stopped, and said all it had to say
Server -> worker: the flags of a ``Control``, read between steps.
"""
from __future__ import annotations

import copy
import io
import math
import os
import resource
import signal
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from cnnviz.data import Mnist
from cnnviz.errors import UserError
from cnnviz.model import ModelConfig, build_model
from cnnviz.training.config import TrainConfig, pick_device
from cnnviz.training.loop import final_evaluation, iter_training

PAUSE_POLL_SECONDS = 0.1  # how often a paused worker looks for stop, weight requests and a vanished server
SPARE_POLL_SECONDS = 1.0  # how often an idle spare worker looks for a vanished server (a run wakes it at once)
# Step records go to the server in batches. One message a step woke the server's reader thread as often, and each
# wake-up took a core from one of the worker's torch threads while the others waited for it. Pages read a run at
# most once a second.
SEND_EVERY_SECONDS = 0.25
MEMORY_ENV = "CNNVIZ_WORKER_MEMORY_MB"  # a worker's address-space cap in MB; 0 = none
# The base leaves a normal CPU run (the presets at the largest batch) room to spare in address space (VmPeak), and
# glibc reserves a 64 MB heap arena per thread, so the cap grows with the cores.
MEMORY_BASE_MB, MEMORY_PER_CORE_MB = 4096, 64


@dataclass(frozen=True)
class Control:
    """What the server tells a running worker; it reads these between steps. Pass it to the process when starting it."""

    stop: Any  # multiprocessing Event: end after the current step
    running: Any  # multiprocessing Event: cleared = pause after the current step
    want_weights: Any  # multiprocessing Event: send the weights after the current step (the worker clears it)
    threads: Any  # multiprocessing Value("i"): torch threads the worker should use

    @classmethod
    def create(cls, context, threads: int) -> Control:
        running = context.Event()
        running.set()
        return cls(context.Event(), running, context.Event(), context.Value("i", threads, lock=False))


def weights_bytes(model: nn.Module) -> bytes:
    """The state_dict as torch.save bytes, every tensor on the CPU (a CUDA model's weights cannot cross otherwise)."""
    buffer = io.BytesIO()
    torch.save({name: value.detach().cpu() for name, value in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def with_weights(model: nn.Module, data: bytes) -> nn.Module:
    """A copy of ``model`` holding the weights in ``data``; ``model`` itself is left as it was, so a page that is
    reading it never sees half of the old weights and half of the new."""
    fresh = copy.deepcopy(model)
    fresh.load_state_dict(torch.load(io.BytesIO(data), weights_only=True, map_location="cpu"))
    return fresh


def memory_limit_mb(cores: int) -> int:
    """MB of address space a worker may use: CNNVIZ_WORKER_MEMORY_MB, else MEMORY_BASE_MB + MEMORY_PER_CORE_MB a
    core; 0 means no cap."""
    text = os.environ.get(MEMORY_ENV, "")
    if not text:
        return MEMORY_BASE_MB + MEMORY_PER_CORE_MB * max(1, cores)
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{MEMORY_ENV} must be a whole number of MB (0 = no cap), got {text!r}")
    return int(text)


def cap_memory(megabytes: int, device: str) -> int:
    """Cap this process's address space at ``megabytes`` (RLIMIT_AS), so that a network too big for the server
    ends its own run with MemoryError instead of taking the machine's memory. Only for CPU runs: CUDA maps far more
    address space than it uses. Returns the cap set, in MB (0: none)."""
    if megabytes <= 0 or pick_device(device).type != "cpu":
        return 0
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = megabytes << 20
    if hard != resource.RLIM_INFINITY and hard < wanted:
        wanted = hard
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    return wanted >> 20


def failure(error: BaseException, memory_cap_mb: int = 0) -> UserError:
    """What the page says about an exception that ended a run: a UserError as it is, out of memory in plain words
    (naming the worker's cap when one was set), anything else by its type and text (never a traceback)."""
    if isinstance(error, UserError):
        return error
    text = str(error)
    if isinstance(error, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text:
        if memory_cap_mb:
            return UserError("error.worker.memory_cap", limit=f"{memory_cap_mb:,}")
        return UserError("error.worker.out_of_memory")
    return UserError("error.worker.crashed", kind=type(error).__name__, detail=text[:300])


def exit_failure(exitcode: int | None) -> UserError:
    """What the page says when a worker ended without a word: killed (most often for memory), crashed, or exited."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        key = "error.worker.killed" if exitcode == -signal.SIGKILL else "error.worker.signal"
        return UserError(key, signal=name)
    return UserError("error.worker.exited", code=exitcode)


def serve_one_run(control: Control, inbox, conn) -> None:
    """A spare worker's life (``cnnviz.training.spare.prepare_worker``): started before any run, it imports torch with this
    module, then waits for one run's ``(model_cfg, train_cfg, data)`` on ``inbox`` and trains it as
    ``train_in_worker`` does. It ends without training when the server closes ``inbox`` or goes away."""
    parent = os.getppid()
    try:
        while not inbox.poll(SPARE_POLL_SECONDS):
            if os.getppid() != parent:
                return
        model_cfg, train_cfg, data = inbox.recv()
    except (EOFError, OSError):
        return  # the server gave up on this spare
    finally:
        inbox.close()
    train_in_worker(model_cfg, train_cfg, data, control, conn)


def train_in_worker(model_cfg: ModelConfig, train_cfg: TrainConfig, data: Mnist, control: Control, conn) -> None:
    """The worker process's whole life: train, report every record, obey ``control``; tell the server how it ended.

    Args:
        model_cfg, train_cfg: the run.
        data: MNIST; its tensors arrive through shared memory, not copied.
        control: the server's flags.
        conn: the sending end of the pipe to the server.
    """
    parent = os.getppid()
    records = _Records(conn)
    memory_cap_mb = 0
    try:
        memory_cap_mb = cap_memory(memory_limit_mb(os.cpu_count() or 1), train_cfg.device)
        chooser = ThreadChooser(max(1, control.threads.value))
        threads = _use_threads(0, chooser.threads, conn)
        model = build_model(model_cfg, seed=train_cfg.seed)
        final_weights_sent, last_step = False, None
        for record in iter_training(model_cfg, train_cfg, data, stop=control.stop, model=model):
            if record.kind in ("done", "diverged"):
                records.flush()
                conn.send(("weights", weights_bytes(model)))  # first, so a finished job already has its last weights
                final_weights_sent = True
                if record.evaluation is not None:  # before the record that ends the run: the page shows both at once
                    conn.send(("evaluation", record.evaluation))
                    record = replace(record, evaluation=None)
            records.add(record)
            if record.kind == "step":
                if last_step is not None:
                    chooser.observe(record.elapsed - last_step.elapsed)  # training time only: no evaluations
                last_step = record
            _send_weights_if_asked(control, conn, model)
            if os.getppid() != parent:  # a server killed outright cannot stop us: do not train on for nobody
                raise SystemExit("the server that started this run has gone")
            chooser.allow(max(1, control.threads.value))
            threads = _use_threads(threads, chooser.threads, conn)
            if not control.running.is_set():
                records.flush()  # a paused page shows the last step that ran
            _hold_while_paused(control, conn, model, parent)
            if record.kind == "step" and record.step == record.total_steps:
                records.flush()
                conn.send(("state", "evaluating"))  # the final evaluation comes next: a Stop now cancels it
        records.flush()
        if not final_weights_sent:  # Stop ended training: its last weights, then its one evaluation
            conn.send(("weights", weights_bytes(model)))
            if last_step is not None:
                conn.send(("state", "evaluating"))
                conn.send(("evaluation", final_evaluation(model, data.test_images, data.test_labels)))
        conn.send(("end", None))
    except BaseException as error:  # the server must hear why, whatever it was
        try:
            records.flush()
            conn.send(("error", failure(error, memory_cap_mb)))
        except OSError:
            pass  # the server is gone: there is nobody left to tell
    finally:
        conn.close()


class _Records:
    """The records on their way to the server, sent in batches (SEND_EVERY_SECONDS)."""

    def __init__(self, conn):
        self._conn, self._pending, self._sent_at = conn, [], time.monotonic()

    def add(self, record) -> None:
        self._pending.append(record)
        if record.kind != "step" or time.monotonic() - self._sent_at >= SEND_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._conn.send(("records", self._pending))
            self._pending = []
        self._sent_at = time.monotonic()


class ThreadChooser:
    """Chooses, step by step, between every thread the server allows (``budget``) and a single one.

    On a quiet machine more threads train faster. When other programs keep the cores busy (the browser drawing
    the page, someone else's work), threads that must meet after every operation wait for each other: on a small
    machine a step can then take many times longer with every thread than with one. So the worker times its own
    steps in windows. It tries a single thread once early on, and again whenever a window with every thread runs
    clearly slower than the best so far; on one thread it tries every thread again now and then. A try lasts a few
    steps and the faster choice is kept; each try that changes nothing doubles the wait before the
    next, so a quiet machine pays about one try per run.
    """

    WINDOW = 20  # steps per timing window
    FIRST_STAY = 30  # steps after a try before the next may start
    LONGEST_STAY = 480  # the longest that wait grows
    TRY_STEPS = 8  # steps timed with the other choice
    SETTLE_STEPS = 2  # steps left untimed after a switch, while the new thread team and its kernels warm up
    MARGIN = 0.1  # the other choice must be this much faster per step to be kept
    SLOWDOWN = 1.3  # a window with every thread this much slower than the best one suggests the cores are busy

    def __init__(self, budget: int):
        self._start_from(budget)

    def allow(self, budget: int) -> None:
        """The server's budget changed (a run started or ended): start again from it."""
        if budget != self.budget:
            self._start_from(budget)

    def observe(self, seconds: float) -> None:
        """One training step took ``seconds`` with ``self.threads``; afterwards ``self.threads`` is for the next."""
        if self.budget == 1:
            return
        if self._settle:
            self._settle -= 1
            return
        self._times.append(seconds)
        self._since_try += 1
        if self._trying:
            if len(self._times) == self.TRY_STEPS:
                self._judge(statistics.median(self._times))
            return
        if len(self._times) < self.WINDOW:
            return
        median, self._times = statistics.median(self._times), []
        if self.threads == self.budget:
            self._best = min(self._best, median)
            worth_a_try = not self._tried or median > self.SLOWDOWN * self._best
        else:
            worth_a_try = True  # one thread is the fallback: the cores may have come free since
        if worth_a_try and self._since_try >= self.stay:
            self._baseline, self.threads = median, self._other()
            self._begin(trying=True)

    def _judge(self, trial: float) -> None:
        if trial < (1 - self.MARGIN) * self._baseline:
            self.stay = self.FIRST_STAY  # keep the new choice, and look again soon: the machine is changing
            if self.threads == self.budget:
                self._best = min(self._best, trial)
        else:
            self.stay = min(2 * self.stay, self.LONGEST_STAY)
            self.threads = self._other()  # back to the choice that was faster
        self._tried, self._since_try = True, 0
        self._begin(trying=False)

    def _start_from(self, budget: int) -> None:
        self.budget = self.threads = budget
        self.stay = self.FIRST_STAY
        self._best, self._baseline, self._tried, self._since_try = math.inf, 0.0, False, 0
        self._begin(trying=False)

    def _begin(self, trying: bool) -> None:
        self._trying, self._settle, self._times = trying, self.SETTLE_STEPS, []

    def _other(self) -> int:
        return 1 if self.threads == self.budget else self.budget


def _use_threads(current: int, wanted: int, conn) -> int:
    if wanted != current:
        torch.set_num_threads(wanted)  # takes effect from the next parallel region: safe between steps
        conn.send(("threads", wanted))
    return wanted


def _send_weights_if_asked(control: Control, conn, model: nn.Module) -> None:
    if control.want_weights.is_set():
        control.want_weights.clear()
        conn.send(("weights", weights_bytes(model)))


def _hold_while_paused(control: Control, conn, model: nn.Module, parent: int) -> None:
    if control.running.is_set():
        return
    conn.send(("state", "paused"))
    while not control.running.wait(PAUSE_POLL_SECONDS):
        if control.stop.is_set():
            return
        _send_weights_if_asked(control, conn, model)  # a paused model can still be inspected
        if os.getppid() != parent:
            raise SystemExit("the server that started this run has gone")
    if not control.stop.is_set():
        conn.send(("state", "running"))


if __name__ == "__main__":  # python -m cnnviz.training.worker: a shared-mode worker (cnnviz.training.queue)
    from cnnviz.training.queue import main

    raise SystemExit(main())
