"""Runs shared by every replica through Redis (``CNNVIZ_REDIS_URL``), trained by workers on an RQ queue.

With shared mode on, a run lives in Redis, not in the memory of the web process that started it, so any replica
serves any run: its owner's link, its watch link, the inspector on its weights. Training happens in worker processes
(``python -m cnnviz.training.worker``, cnnviz.training.queue) on any machine that can reach Redis.

What Redis holds for a run, under an internal key that neither link carries (``RunKeys``):
    hash      the configuration, the owner's session token, both ids, the state, its message and error (JSON), the
              newest record, the worker's threads, when a page last looked, and the runs it is compared with
    stream    every step and evaluation record, as JSON, so a late viewer replays the run from its start
    strings   the weights and the final evaluation, as ``torch.save`` bytes loaded with ``weights_only=True``
    hash      the controls a page sets (pause, stop, stop now, a request for fresh weights), read by the worker
    string    the worker's heartbeat, which expires HEARTBEAT_TTL_SECONDS after the worker's last beat
Nothing a browser sent is stored as a pickle; RQ's own job records use its JSON serializer.

A finished run's keys expire KEEP_SECONDS after a page last looked at it. A page that finds a training run's
heartbeat gone marks it failed (``RemoteJob.snapshot``): a worker that was killed, ran out of memory or lost its
machine is noticed within the heartbeat's lifetime plus one poll.
"""
from __future__ import annotations

import heapq
import json
import os
import secrets
import statistics
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import wraps
from typing import Callable, Sequence

import torch
from torch import nn

from cnnviz.data import Mnist, load_mnist
from cnnviz.errors import UserError
from cnnviz.model import ModelConfig, build_model
from cnnviz.training import wire
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import FINISHED, JobSnapshot, QueueLine
from cnnviz.training.limiter import JobLimiter
from cnnviz.training.loop import EvalResult, Metrics
from cnnviz.training.registry import MAX_PREVIOUS, Run, RunRegistry, default_idle_seconds
from cnnviz.training.worker import with_weights

URL_ENV = "CNNVIZ_REDIS_URL"  # e.g. redis://:password@10.0.0.5:6379/0; unset = the embedded, one-process mode
QUEUE_NAME = "cnnviz-train"
PREFIX = "cnnviz:"
HEARTBEAT_SECONDS = 2.0  # a worker beats this often for the run it trains
# A beat lasts this long: three missed beats. A page notices a dead worker within it, one poll (1 s) and the rerun
# that shows the message, well inside the 15 s a page may take to say so.
HEARTBEAT_TTL_SECONDS = 6.0
ACTIVE_TTL_SECONDS = 24 * 3600  # a run that never ends (its worker and every page gone) still leaves Redis
JOB_TIMEOUT_SECONDS = 6 * 3600  # RQ's limit on one run: longer than any run the model caps allow on a CPU
SNAPSHOT_SECONDS = 0.25  # a page's run reads one snapshot within this long (a page draws a run several times)
SEEN_EVERY_SECONDS = 1.0  # a replica writes "a page looked" at most this often per run
WEIGHTS_REFRESH_SECONDS = 2.0  # a live model is asked for fresh weights at most this often, as in the embedded mode
TYPICAL_RUN_SECONDS = 60.0  # the queue's estimate for a run before any run has finished
TYPICAL_START_SECONDS = 3.0  # and for a run's training process to take its first step, before any has
DURATIONS_KEPT = 20  # the queue estimates from the median of the newest finished runs' lengths
JOBS_KEPT = 256  # runs a replica keeps read (records decoded once), newest looked-at first
REDIS_ERRORS: tuple[type[BaseException], ...] = ()  # filled on import of redis (below): only shared mode needs it


def keep_seconds() -> int:
    """CNNVIZ_RUN_KEEP_SECONDS (else an hour): how long a finished run stays in Redis after a page last looked."""
    return max(60, int(os.environ.get("CNNVIZ_RUN_KEEP_SECONDS", "3600")))


def queue_cap() -> int:
    """CNNVIZ_QUEUE_CAP (else 60): runs that may wait for a worker at once; one more is refused with a message."""
    return max(1, int(os.environ.get("CNNVIZ_QUEUE_CAP", "60")))


def weights_cap_bytes() -> int:
    """CNNVIZ_REDIS_WEIGHTS_MB (else 32) in bytes: a run's weights larger than this are not kept in Redis."""
    return max(1, int(os.environ.get("CNNVIZ_REDIS_WEIGHTS_MB", "32"))) << 20


def redis_url() -> str:
    """The shared store's address, or "" for the embedded mode."""
    return os.environ.get(URL_ENV, "").strip()


class TrainingUnavailable(UserError):
    """Redis cannot be reached: training is down; the pages that need no run keep working."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("error.train.unavailable", detail=detail[:200])


def connect(url: str):
    """A Redis client for ``url`` with short timeouts: a store that is down must not hang a page."""
    import redis

    global REDIS_ERRORS
    REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"{URL_ENV} must be a redis://, rediss:// or unix:// address, got {url!r}")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One quick retry, not redis-py's default of three with backoff: a page waits on every call.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30,
                                retry=Retry(NoBackoff(), 1))


def available(method):
    """Turn a lost connection to Redis into TrainingUnavailable, which pages show as a message."""
    @wraps(method)
    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except REDIS_ERRORS as error:
            raise TrainingUnavailable(str(error)) from error
    return guarded


@dataclass(frozen=True)
class RunKeys:
    """The Redis keys of one run, named by its internal key (never by a control or watch id)."""

    key: str

    @property
    def run(self) -> str:
        return f"{PREFIX}run:{self.key}"

    @property
    def records(self) -> str:
        return f"{self.run}:records"

    @property
    def weights(self) -> str:
        return f"{self.run}:weights"

    @property
    def final(self) -> str:
        return f"{self.run}:final"

    @property
    def control(self) -> str:
        return f"{self.run}:control"

    @property
    def beat(self) -> str:
        return f"{self.run}:beat"

    def all(self) -> list[str]:
        return [self.run, self.records, self.weights, self.final, self.control]


def control_key(control_id: str) -> str:
    return f"{PREFIX}control:{control_id}"


def watch_key(watch_id: str) -> str:
    return f"{PREFIX}watch:{watch_id}"


def owner_key(owner: str) -> str:
    return f"{PREFIX}owner:{owner}"


ACTIVE = f"{PREFIX}active"  # the internal keys of the runs that are queued or training
DURATIONS = f"{PREFIX}durations"  # the newest finished runs' lengths in seconds, for the queue's estimate
STARTS = f"{PREFIX}starts"  # the newest runs' seconds from a worker's taking them to their first step

# Fail a run only if it still trains and its heartbeat is gone: a worker's own last word always wins.
_FAIL_IF_SILENT = """
local state = redis.call('HGET', KEYS[1], 'state')
if (state == 'running' or state == 'paused' or state == 'evaluating') and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[1], 'message', ARGV[2], 'ended', ARGV[3])
  redis.call('SREM', KEYS[3], ARGV[4])
  return 1
end
return 0
"""

# "A page looked now", on Redis's clock.
_TOUCH = """
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'seen', now[1] .. '.' .. string.format('%06d', now[2]))
return 1
"""

# Stop a run that still waits in the queue; a worker that has taken it meanwhile stops it itself.
_STOP_IF_QUEUED = """
if redis.call('HGET', KEYS[1], 'state') == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'stopped', 'ended', ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def _text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else value


def queue_wait(place: int, workers: int, running_left: Sequence[float], typical: float,
               start: float = 0.0) -> float | None:
    """Seconds until the run at ``place`` in line (1 = next) takes its first step: ``workers`` each take the next
    run as they come free; the runs they train now need ``running_left`` seconds more, each run ahead takes
    ``typical``, and a run's training process takes ``start`` to begin. None without a worker (nothing will start
    it)."""
    if place < 1:
        raise ValueError(f"place must be at least 1, got place={place!r}")
    if workers <= 0:
        return None
    free = sorted(max(0.0, left) for left in running_left)[:workers]
    free += [0.0] * (workers - len(free))
    heapq.heapify(free)
    for _ in range(place - 1):
        heapq.heappush(free, heapq.heappop(free) + typical)
    return free[0] + start


class Store:
    """One connection to the shared store and RQ's queue on it: what both the web replicas and the workers use."""

    def __init__(self, url: str):
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.url = url
        self.redis = connect(url)
        self.queue = Queue(QUEUE_NAME, connection=self.redis, serializer=JSONSerializer)

    def keys_for(self, id_key: str) -> RunKeys | None:
        key = self.redis.get(id_key)
        return RunKeys(_text(key)) if key else None

    def fields(self, keys: RunKeys) -> dict[str, str]:
        return {_text(name): _text(value) for name, value in self.redis.hgetall(keys.run).items()}

    def now(self) -> float:
        """Redis's own clock: replicas and workers on different machines compare times on it, never on their own."""
        seconds, microseconds = self.redis.time()
        return seconds + microseconds / 1e6

    def touch(self, keys: RunKeys) -> None:
        """A page looked at the run now (Redis's clock): its worker keeps training it."""
        self.redis.eval(_TOUCH, 1, keys.run)

    def fail_if_silent(self, keys: RunKeys) -> bool:
        """Mark a training run failed when its worker's heartbeat is gone; True if it did."""
        error = UserError("error.worker.lost", seconds=f"{HEARTBEAT_TTL_SECONDS:.0f}")
        return bool(self.redis.eval(_FAIL_IF_SILENT, 3, keys.run, keys.beat, ACTIVE, wire.error_to_json(error),
                                    str(error), str(time.time()), keys.key))

    def stop_if_queued(self, keys: RunKeys) -> bool:
        stopped = bool(self.redis.eval(_STOP_IF_QUEUED, 2, keys.run, ACTIVE, str(time.time()), keys.key))
        if stopped:
            self.queue.remove(f"cnnviz-{keys.key}")
            self.release(keys, self.fields(keys).get("owner", ""))
        return stopped

    def release(self, keys: RunKeys, owner: str) -> None:
        """An ended run: it no longer counts as its owner's, and its keys expire ``keep_seconds`` from now."""
        if owner and self.redis.get(owner_key(owner)) == keys.key.encode():
            self.redis.delete(owner_key(owner))
        self.redis.srem(ACTIVE, keys.key)
        self.expire_finished(keys, self.fields(keys))

    def expire_finished(self, keys: RunKeys, fields: dict[str, str]) -> None:
        """A finished run's keys, its ids' included, expire ``keep_seconds`` from now (again at every look)."""
        pipe = self.redis.pipeline()
        for name in keys.all() + [control_key(fields.get("control", "")), watch_key(fields.get("watch", ""))]:
            pipe.expire(name, keep_seconds())
        pipe.execute()

    def workers(self) -> int:
        from rq import Worker

        return Worker.count(connection=self.redis, queue=self.queue)

    def place_in_line(self, keys: RunKeys) -> int:
        position = self.queue.get_job_position(f"cnnviz-{keys.key}")
        return position + 1 if position is not None else 1

    def typical_seconds(self) -> float:
        lengths = [float(value) for value in self.redis.lrange(DURATIONS, 0, DURATIONS_KEPT - 1)]
        return statistics.median(lengths) if lengths else TYPICAL_RUN_SECONDS

    def typical_start(self) -> float:
        starts = [float(value) for value in self.redis.lrange(STARTS, 0, DURATIONS_KEPT - 1)]
        return statistics.median(starts) if starts else TYPICAL_START_SECONDS

    def running_left(self) -> list[float]:
        """Seconds each training run still needs, from its newest record's estimate (else a typical run's)."""
        typical, left = self.typical_seconds(), []
        read = self.redis.pipeline(transaction=False)  # one round trip, however many runs train
        for key in self.redis.smembers(ACTIVE):
            read.hmget(RunKeys(_text(key)).run, "state", "latest")
        for state, latest in read.execute():
            if _text(state) not in ("running", "paused", "evaluating"):
                continue
            record = wire.metrics_from_json(latest) if latest else None
            left.append(record.eta_seconds if record is not None and record.eta_seconds is not None else typical)
        return left


class RemoteJob:
    """A run that trains on a worker, as a page reads and controls it: the surface of ``TrainingJob`` the pages use,
    read from Redis. Records are decoded once per replica: a snapshot reads only the records added since the last."""

    def __init__(self, store: Store, keys: RunKeys, fields: dict[str, str]):
        self._store, self.keys = store, keys
        self.model_cfg = ModelConfig.from_dict(json.loads(fields["model"]))
        self.train_cfg = TrainConfig.from_dict(json.loads(fields["train"]))
        self.label = fields.get("label", "")
        self._lock = threading.Lock()
        self._last_id = b"-"
        self._steps: list[Metrics] = []
        self._evals: list[Metrics] = []
        self._snapshot: JobSnapshot | None = None
        self._read_at = -1e9
        self._fields = fields
        self._base_model: nn.Module | None = None
        self._model: nn.Module | None = None
        self._model_version = -1
        self._final: EvalResult | None = None
        self._weights_asked = -1e9

    @available
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            if self._snapshot is not None and (self._snapshot.state in FINISHED and self._final_read()
                                               or time.monotonic() - self._read_at < SNAPSHOT_SECONDS):
                return self._snapshot
            self._snapshot = self._read()
            self._read_at = time.monotonic()
            return self._snapshot

    def _final_read(self) -> bool:
        return self._final is not None or self._fields.get("final") != "1"

    def _read(self) -> JobSnapshot:
        store, keys = self._store, self.keys
        fields = store.fields(keys)
        if fields.get("state") in ("running", "paused", "evaluating") and not store.redis.exists(keys.beat):
            if store.fail_if_silent(keys):
                store.release(keys, fields.get("owner", ""))
            fields = store.fields(keys)
        start = self._last_id if self._last_id == b"-" else b"(" + self._last_id
        for entry_id, entry in store.redis.xrange(keys.records, min=start, max="+"):
            record = wire.metrics_from_json(entry[b"m"])
            (self._steps if record.kind == "step" else self._evals).append(record)
            self._last_id = entry_id
        self._fields = fields or self._fields
        state = self._fields.get("state", "failed")
        if self._fields.get("final") == "1" and self._final is None:
            data = store.redis.get(keys.final)
            self._final = wire.evaluation_from_bytes(data) if data else None
        line = None
        if state == "queued":
            place, workers = store.place_in_line(keys), store.workers()
            line = QueueLine(place, workers, queue_wait(place, workers, store.running_left(), store.typical_seconds(),
                                                        store.typical_start()))
        latest = self._fields.get("latest")
        return JobSnapshot(
            state=state, queue_position=line.place if line else 0, steps=tuple(self._steps), evals=tuple(self._evals),
            latest=wire.metrics_from_json(latest) if latest else None, message=self._fields.get("message", ""),
            label=self.label, error=wire.error_from_json(self._fields.get("error", "")), final=self._final,
            # Never sent (a run stopped in the queue): its weights are its seed's, which every replica rebuilds.
            weights_expired=(self._too_big or state in FINISHED and self._weights_version > 0
                             and not store.redis.exists(keys.weights)),
            queue=line)

    @property
    def state(self) -> str:
        return self.snapshot().state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def alive(self) -> bool:
        return not self.finished

    @property
    def finishing(self) -> bool:
        snap = self.snapshot()
        return snap.state not in FINISHED and (snap.state == "evaluating" or self._control("stop") == "1")

    @property
    def weights_expired(self) -> bool:
        return self.snapshot().weights_expired

    @property
    def threads(self) -> int:
        return int(self._fields.get("threads") or 0)

    @property
    def thread_budget(self) -> int:
        return int(self._fields.get("budget") or 0)

    worker_pid = None  # the worker runs on another machine, maybe

    @property
    def data(self) -> Mnist:
        return load_mnist()  # the bundled set, the one every worker trains on

    @available
    def _control(self, name: str) -> str:
        return _text(self._store.redis.hget(self.keys.control, name), "0")

    @available
    def _set_control(self, **values: str) -> None:
        self._store.redis.hset(self.keys.control, mapping=values)
        self._read_at = -1e9  # the next look reads what the worker made of it

    def pause(self) -> None:
        self._set_control(running="0")

    def resume(self) -> None:
        self._set_control(running="1")

    def finish(self) -> None:
        self._set_control(stop="1", running="1")
        self._stop_if_queued()

    def stop(self, timeout: float = 10.0) -> None:
        """End the run now, its final evaluation included, and wait (at most ``timeout`` s) until the worker says so."""
        self._set_control(stop="1", cancel="1", running="1")
        self._stop_if_queued()
        self._poll_until(lambda: self.finished, timeout)

    def _poll_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Read the run afresh until ``done()`` or ``timeout`` seconds; whether it got there."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
            self._read_at = -1e9  # past the snapshot's cache: the next look reads Redis
        return True

    @available
    def _stop_if_queued(self) -> None:
        self._store.stop_if_queued(self.keys)

    @property
    @available
    def model(self) -> nn.Module | None:
        """The newest weights in Redis on this run's network; a training run's worker is asked for fresher ones (at
        most every WEIGHTS_REFRESH_SECONDS). None once a finished run's weights expired."""
        snap = self.snapshot()
        if snap.state not in FINISHED and time.monotonic() - self._weights_asked >= WEIGHTS_REFRESH_SECONDS:
            self._weights_asked = time.monotonic()
            self._store.redis.hset(self.keys.control, "want", str(time.time()))
        if self._too_big:
            return None
        version = self._weights_version
        if version != self._model_version:
            data = self._store.redis.get(self.keys.weights)
            with self._lock:
                if self._base_model is None:
                    self._base_model = build_model(self.model_cfg, seed=self.train_cfg.seed)
                if data:
                    self._model, self._model_version = with_weights(self._base_model, data), version
                elif version == 0:
                    self._model, self._model_version = self._base_model, 0  # the seed's weights, as the worker's
                else:
                    self._model = None  # expired
        return None if snap.weights_expired else self._model

    def state_dict(self, timeout: float = 5.0) -> dict[str, torch.Tensor]:
        """The run's newest weights as CPU tensors; a training run's worker is asked and waited for (``timeout``)."""
        if not self.finished and not self._too_big:
            before = self._weights_version
            self._set_control(want=str(time.time()))

            def newer() -> bool:
                self.snapshot()  # reads the run's fields, the weights' version among them
                return self._weights_version > before

            self._poll_until(newer, timeout)
        model = self.model
        return {name: value.detach().clone() for name, value in model.state_dict().items()} if model else {}

    def wait(self, timeout: float = 60.0) -> bool:
        return self._poll_until(lambda: self.finished, timeout)

    @property
    def _weights_version(self) -> int:
        """How many times the worker has put weights in Redis (0: never; the seed's are the run's)."""
        return int(self._fields.get("weights") or 0)

    @property
    def _too_big(self) -> bool:
        """The worker could not keep the weights in Redis (over CNNVIZ_REDIS_WEIGHTS_MB)."""
        return self._fields.get("weights_too_big") == "1"


class RedisRegistry(RunRegistry):
    """Every run of every replica, in Redis; runs train on RQ workers (cnnviz.training.queue).

    A worker stops a run nobody looked at for ``idle_seconds`` (a page marks it looked at whenever it reads it), so
    no replica needs a reaper; finished runs expire on their own (``keep_seconds``).
    """

    trains_here = False  # the workers train: a replica prepares no spare training process

    def __init__(self, url: str | None = None, idle_seconds: float | None = None):
        self.store = Store(url or redis_url())
        self.idle_seconds = default_idle_seconds() if idle_seconds is None else idle_seconds
        self._jobs: OrderedDict[str, RemoteJob] = OrderedDict()
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._pinged_at, self._down = -1e9, None
        self.local_worker = None  # the worker process started beside this replica (CNNVIZ_WITH_WORKER=1), if any

    @available
    def start(self, model_cfg: ModelConfig, train_cfg: TrainConfig, *, limiter: JobLimiter | None = None,
              data_loader: Callable[[], Mnist] | None = None, label: str, owner: str,
              replacing: Run | None = None) -> Run:
        """Queue a run for ``owner``; ``limiter`` and ``data_loader`` belong to the embedded mode (workers load the
        bundled MNIST themselves).

        Raises:
            UserError: ``owner`` has another run queued or training; or the queue is full.
        """
        from cnnviz.training.config import validate_run

        validate_run(model_cfg, train_cfg)
        active = self.active_for(owner)
        replaced_key = replacing.job.keys.key if replacing is not None else None
        if active is not None and active.job.keys.key != replaced_key:
            raise UserError("error.train.one_run")
        waiting = self.store.queue.count
        if waiting >= queue_cap():
            raise UserError("error.train.queue_full", waiting=waiting, workers=self.store.workers())
        previous: list[str] = []
        if replacing is not None:
            replacing.job.stop(timeout=5)
            previous = [replaced_key] + json.loads(self.store.fields(replacing.job.keys).get("previous", "[]"))
        keys = RunKeys(secrets.token_urlsafe(12))
        control, watch = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        now = str(time.time())
        pipe = self.store.redis.pipeline()
        pipe.hset(keys.run, mapping={
            "control": control, "watch": watch, "owner": owner, "label": label, "state": "queued",
            "model": json.dumps(model_cfg.to_dict()), "train": json.dumps(train_cfg.to_dict()),
            "created": now, "seen": str(self.store.now()), "idle": str(self.idle_seconds), "weights": "0",
            "previous": json.dumps(previous[:MAX_PREVIOUS])})
        pipe.hset(keys.control, mapping={"running": "1", "stop": "0", "cancel": "0"})
        pipe.set(control_key(control), keys.key)
        pipe.set(watch_key(watch), keys.key)
        for name in keys.all() + [control_key(control), watch_key(watch)]:
            pipe.expire(name, ACTIVE_TTL_SECONDS)
        if owner:
            pipe.set(owner_key(owner), keys.key, ex=ACTIVE_TTL_SECONDS)
        pipe.sadd(ACTIVE, keys.key)
        pipe.execute()
        self.store.queue.enqueue("cnnviz.training.queue.train_run", keys.key, job_id=f"cnnviz-{keys.key}",
                                 job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0, failure_ttl=keep_seconds())
        return self._run(keys, control)

    @available
    def active_for(self, owner: str) -> Run | None:
        keys = self.store.keys_for(owner_key(owner)) if owner else None
        if keys is None:
            return None
        fields = self.store.fields(keys)
        run = self._run(keys, fields.get("control", "")) if fields else None
        return run if run is not None and not run.job.finished else None

    @available
    def get(self, run_id: str) -> Run | None:
        keys = self.store.keys_for(control_key(run_id))
        return self._run(keys, run_id) if keys is not None else None

    @available
    def watch(self, watch_id: str) -> Run | None:
        keys = self.store.keys_for(watch_key(watch_id))
        if keys is None:
            return None
        return self._run(keys, self.store.fields(keys).get("control", ""))

    def reap(self) -> list[str]:
        """Workers stop idle runs themselves, and Redis expires finished ones: nothing for a replica to do."""
        return []

    def unavailable(self) -> UserError | None:
        """TrainingUnavailable while Redis does not answer (asked at most once a second), else None."""
        now = time.monotonic()
        if now - self._pinged_at >= 1.0:
            self._pinged_at = now
            try:
                self.store.redis.ping()
                self._down = None
            except REDIS_ERRORS as error:
                self._down = TrainingUnavailable(str(error))
        return self._down

    def _job(self, keys: RunKeys) -> RemoteJob | None:
        with self._lock:
            job = self._jobs.get(keys.key)
            if job is not None:
                self._jobs.move_to_end(keys.key)
                return job
        fields = self.store.fields(keys)
        if not fields:
            return None
        job = RemoteJob(self.store, keys, fields)
        with self._lock:
            job = self._jobs.setdefault(keys.key, job)
            while len(self._jobs) > JOBS_KEPT:
                self._jobs.popitem(last=False)
        return job

    def _run(self, keys: RunKeys, control_id: str) -> Run | None:
        job = self._job(keys)
        if job is None:
            return None
        self._mark_seen(keys, job)
        fields = job._fields
        previous = []
        for key in json.loads(fields.get("previous", "[]")):
            earlier = self._job(RunKeys(key))
            if earlier is not None:
                previous.append(replace(earlier.snapshot(), final=None))
        return Run(control_id, job, fields.get("watch", ""), tuple(previous),
                   float(fields.get("seen") or 0), fields.get("owner", ""))

    def _mark_seen(self, keys: RunKeys, job: RemoteJob) -> None:
        now = time.monotonic()
        if now - self._seen.get(keys.key, -1e9) < SEEN_EVERY_SECONDS:
            return
        self._seen[keys.key] = now
        if len(self._seen) > 4 * JOBS_KEPT:
            self._seen.clear()
        if job.finished:
            self.store.expire_finished(keys, job._fields)
        else:
            self.store.touch(keys)
