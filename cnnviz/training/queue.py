"""The worker's side of shared mode: the RQ job that trains one shared run, and the worker command.

    python -m cnnviz.training.worker            # reads CNNVIZ_REDIS_URL, like the web replicas

A worker takes one run at a time from the queue (``cnnviz.training.shared.QUEUE_NAME``). It trains it exactly as
the embedded mode does, with a ``TrainingJob`` and its own training process, and mirrors the job into Redis every
MIRROR_SECONDS: new records, state, the weights when a page asked, the final evaluation. It reads the pages'
controls from Redis the other way, beats the run's heartbeat, and stops a run no page has looked at for the run's
idle time. RQ's SimpleWorker runs the job in the worker process itself: the training process is the job's child, so
killing the worker ends the run with it, and the pages see the heartbeat stop.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import subprocess
import sys
import threading
import time

from cnnviz.data import load_mnist
from cnnviz.model import ModelConfig
from cnnviz.training import shared, wire
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import TrainingJob
from cnnviz.training.limiter import THREADS_ENV, JobLimiter
from cnnviz.training.spare import prepare_worker
from cnnviz.training.shared import (DURATIONS, DURATIONS_KEPT, STARTS, HEARTBEAT_SECONDS, HEARTBEAT_TTL_SECONDS, URL_ENV,
                                    RunKeys, Store, redis_url, weights_cap_bytes)
from cnnviz.training.worker import weights_bytes

MIRROR_SECONDS = 0.2  # how often a worker copies its run into Redis and reads the pages' controls
WITH_WORKER_ENV = "CNNVIZ_WITH_WORKER"  # "1": a web replica in shared mode starts a worker beside it (one machine)
PARENT_POLL_SECONDS = 1.0  # how often a worker started by a replica looks whether that replica is still there


def train_run(key: str) -> str:
    """RQ's job: train the shared run ``key`` to its end, mirrored into Redis; returns the state it ended in.

    A run stopped while it waited in the queue is not trained.
    """
    store = Store(redis_url())
    keys = RunKeys(key)
    fields = store.fields(keys)
    if fields.get("state") != "queued":
        return fields.get("state", "gone")
    job = TrainingJob(ModelConfig.from_dict(json.loads(fields["model"])),
                      TrainConfig.from_dict(json.loads(fields["train"])), load_mnist, JobLimiter(1),
                      label=fields.get("label", ""))
    Mirror(store, keys, job, idle_seconds=float(fields.get("idle") or 180)).run()
    job.wait(timeout=10)  # its thread lets go of the run's worker slot before the next spare may start
    prepare_worker()  # the next run's training process, torch imported, while the queue is read
    return job.state


class Mirror:
    """Copies one job into Redis and the pages' controls into the job, until it ends."""

    def __init__(self, store: Store, keys: RunKeys, job: TrainingJob, idle_seconds: float):
        self.store, self.keys, self.job, self.idle_seconds = store, keys, job, idle_seconds
        self._steps_sent = self._evals_sent = 0
        self._weights_sent, self._weights_published = 0, 0
        self._final_sent = False
        self._want_seen = 0.0
        self._beat_at = -1e9
        self._paused = self._finish_asked = self._cancelled = False
        self._start_noted = False
        self._taken = 0.0

    def run(self) -> None:
        started = time.time()
        self._taken = self.store.now()  # a run waits in the queue unwatched: its idle time counts from here
        pipe = self.store.redis.pipeline()
        pipe.hset(self.keys.run, mapping={"state": "running", "started": str(started)})
        pipe.set(self.keys.beat, "1", px=int(HEARTBEAT_TTL_SECONDS * 1000))
        pipe.execute()
        self._beat_at = time.monotonic()
        self.job.start()
        try:
            lost_since = None
            while not self.job.finished:
                try:
                    self._tick()
                    self._note_start()
                    lost_since = None
                except shared.REDIS_ERRORS:
                    # A blip in the store: training goes on, and the records catch up on the next tick. For longer
                    # than a heartbeat, the pages have already said the run failed: it ends.
                    lost_since = lost_since or time.monotonic()
                    if time.monotonic() - lost_since > HEARTBEAT_TTL_SECONDS:
                        raise
                time.sleep(MIRROR_SECONDS)
            self._tick(last=True)
        finally:
            if not self.job.finished:  # the worker is being shut down: the run ends with it
                self.job.stop(timeout=5)
            self._release(time.time() - started)

    def _tick(self, last: bool = False) -> None:
        redis, keys, job = self.store.redis, self.keys, self.job
        if not last:
            read = redis.pipeline(transaction=False)
            read.hgetall(keys.control)
            read.hget(keys.run, "seen")
            read.time()
            control, seen, (seconds, microseconds) = read.execute()
            self._obey({name.decode(): value.decode() for name, value in control.items()}, float(seen or 0),
                       seconds + microseconds / 1e6)
        # The worker's own word, read before the records: a pause shows in Redis once the worker has paused, after
        # every step it took before (the job's snapshot says "paused" at the click, a step or two early).
        confirmed = job.state
        if confirmed == "queued":  # the job's own limiter has not let it in yet: for the pages it left the queue
            confirmed = "running"
        snap = job.snapshot()
        pipe = redis.pipeline()
        for record in snap.steps[self._steps_sent:] + snap.evals[self._evals_sent:]:
            pipe.xadd(keys.records, {"m": wire.metrics_to_json(record)})
        self._steps_sent, self._evals_sent = len(snap.steps), len(snap.evals)
        version = job.weights_version
        # A run stopped before its worker sent any weights ends with its seed's, as the embedded mode's does: its
        # page then shows those, not "the weights have expired".
        if version != self._weights_sent or (last and not self._weights_published):
            self._weights_sent = version
            model = job.model
            data = weights_bytes(model) if model is not None else b""
            if 0 < len(data) <= weights_cap_bytes():
                self._weights_published += 1
                pipe.set(keys.weights, data)
                pipe.hset(keys.run, "weights", str(self._weights_published))
            elif data:  # pages must not show the seed's weights as the run's: they say the weights are not kept
                pipe.hset(keys.run, "weights_too_big", "1")
        if snap.final is not None and not self._final_sent:
            self._final_sent = True
            pipe.set(keys.final, wire.evaluation_bytes(snap.final))
            pipe.hset(keys.run, "final", "1")
        state = "stopped" if self._cancelled and confirmed == "evaluating" else confirmed
        fields = {"state": state, "message": snap.message, "error": wire.error_to_json(snap.error),
                  "threads": str(job.threads), "budget": str(job.thread_budget)}
        if snap.latest is not None:
            fields["latest"] = wire.metrics_to_json(snap.latest)
        if last:
            fields["ended"] = str(time.time())
        pipe.hset(keys.run, mapping=fields)
        if not last and time.monotonic() - self._beat_at >= HEARTBEAT_SECONDS:
            self._beat_at = time.monotonic()
            pipe.set(keys.beat, "1", px=int(HEARTBEAT_TTL_SECONDS * 1000))
        pipe.execute()

    def _obey(self, control: dict[str, str], seen: float, now: float) -> None:
        """Apply what the pages asked: stop now, stop, pause or resume, fresh weights; stop a run no page has looked
        at for its idle time since the worker took it (``seen`` and ``now`` on Redis's clock)."""
        job = self.job
        idle = now - max(seen, self._taken) > self.idle_seconds
        if (control.get("cancel") == "1" or idle) and not self._cancelled:
            self._cancelled = True
            job.stop(timeout=0)
        elif control.get("stop") == "1" and not self._finish_asked:
            self._finish_asked = True
            job.finish()
        running = control.get("running", "1") == "1"
        if not running and not self._paused:
            self._paused = True
            job.pause()
        elif running and self._paused:
            self._paused = False
            job.resume()
        want = float(control.get("want") or 0)
        if want > self._want_seen:
            self._want_seen = want
            _ = job.model  # asks the training process for its weights; they are published when they arrive

    def _note_start(self) -> None:
        """How long this run took from the worker's taking it to its first step: the queue's estimate adds it."""
        if not self._start_noted and self.job.snapshot().steps:
            self._start_noted = True
            pipe = self.store.redis.pipeline()
            pipe.lpush(STARTS, f"{self.store.now() - self._taken:.2f}")
            pipe.ltrim(STARTS, 0, DURATIONS_KEPT - 1)
            pipe.execute()

    def _release(self, seconds: float) -> None:
        fields = self.store.fields(self.keys)
        pipe = self.store.redis.pipeline()
        pipe.delete(self.keys.beat)
        if self.job.state == "done":  # only whole runs tell the queue how long a run takes
            pipe.lpush(DURATIONS, f"{seconds:.1f}")
            pipe.ltrim(DURATIONS, 0, DURATIONS_KEPT - 1)
        pipe.execute()
        self.store.release(self.keys, fields.get("owner", ""))


def start_local_worker() -> subprocess.Popen:
    """A worker beside this web process (CNNVIZ_WITH_WORKER=1, a one-machine setup), ended with it."""
    process = subprocess.Popen([sys.executable, "-m", "cnnviz.training.worker", "--exit-with-parent"],
                               env={**os.environ, URL_ENV: redis_url()})
    atexit.register(process.terminate)
    return process


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)  # the replica that started us is gone: so is the run we train (its pages see the heartbeat stop)


def main(argv: list[str] | None = None) -> int:
    """The worker command: take runs from the shared queue, one at a time, until stopped."""
    parser = argparse.ArgumentParser(prog="python -m cnnviz.training.worker",
                                     description="Train cnnviz's shared runs, taken from the queue in Redis.")
    parser.add_argument("--redis-url", default=redis_url(), help=f"the shared store (default: ${URL_ENV})")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty (for tests and cron)")
    parser.add_argument("--threads", type=int, default=0,
                        help="the most cores a run may use (default: all this process may run on); two workers on "
                             "one machine each get half")
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads must be 0 (all cores) or more, got {args.threads}")
    if args.threads:
        os.environ[THREADS_ENV] = str(args.threads)  # read by the runs' thread budget (limiter.usable_cores)
    if not args.redis_url:
        parser.error(f"no Redis to take runs from: set {URL_ENV} (e.g. redis://:password@10.0.0.5:6379/0) "
                     "or pass --redis-url")
    os.environ[URL_ENV] = args.redis_url  # the jobs read it
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    store = Store(args.redis_url)
    try:
        store.redis.ping()
    except RedisConnectionError as error:
        print(f"cannot reach Redis at {args.redis_url.split('@')[-1]}: {error}. Is redis-server running there, "
              f"and does {URL_ENV} carry its password?", file=sys.stderr)
        return 2
    load_mnist()  # before the first run: its training process then starts at once
    prepare_worker()
    if args.exit_with_parent:
        threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    worker = SimpleWorker([store.queue], connection=store.redis, serializer=JSONSerializer)
    worker.work(burst=args.burst, logging_level="WARNING")
    return 0
