"""Shared mode: runs in a real Redis, trained by real workers started by the documented command.

Two ``RedisRegistry`` objects on one Redis stand for two web replicas: whatever one starts, the other serves.
"""
from __future__ import annotations

import io
import pickle
import time

import numpy as np
import pytest
import torch

from cnnviz.errors import Text, UserError
from cnnviz.model import NETWORK_PRESETS
from cnnviz.training import wire
from cnnviz.training.config import TrainConfig
from cnnviz.training.loop import EvalResult, Metrics
from cnnviz.training.shared import (HEARTBEAT_TTL_SECONDS, RedisRegistry, TrainingUnavailable, queue_wait,
                                    watch_key)
from cnnviz.training.status import ordinal, queue_text
from scripts.serve_app import free_port
from scripts.shared_mode import kill_worker, redis_server, start_worker, workers
from service_kit import require_redis, wait_until

TINY = NETWORK_PRESETS["tiny"]
SHORT = TrainConfig(subset=512, batch_size=32, epochs=1, eval_every=0)  # 16 steps
LONG = TrainConfig(subset=20000, batch_size=32, epochs=50, eval_every=0)  # outlasts any test: the tests stop it
PAGE_POLL_SECONDS = 1.0  # the status route's poll (cnnviz.ui.live_status.POLL_MS)


@pytest.fixture(scope="module")
def redis_url():
    require_redis()
    with redis_server() as url:
        yield url


@pytest.fixture(scope="module")
def worker(redis_url):
    with workers(redis_url, 1) as processes:
        yield processes[0]


@pytest.fixture
def no_worker_url():
    """A Redis of its own that no worker serves: every run stays queued."""
    require_redis()
    with redis_server() as url:
        yield url


# The wire: what crosses Redis comes back exactly.

def test_records_and_their_errors_cross_the_wire_exactly():
    error = UserError("error.train.diverged", loss="nan", step=12, lr=0.5, lower=0.05)
    record = Metrics("diverged", step=12, total_steps=100, epoch=0.12, loss=float("nan"), lr=0.5, elapsed=1.5,
                     message=str(error), error=error)
    back = wire.metrics_from_json(wire.metrics_to_json(record))
    assert back.error.key == "error.train.diverged" and back.error.values == error.values
    assert back.error.message("zh") == error.message("zh")
    assert np.isnan(back.loss) and (back.step, back.total_steps, back.epoch, back.lr) == (12, 100, 0.12, 0.5)
    step = Metrics("step", step=3, total_steps=9, epoch=0.5, loss=0.25, accuracy=0.75, lr=0.01,
                   samples_per_second=1234.5, elapsed=2.0, eta_seconds=4.0)
    assert wire.metrics_from_json(wire.metrics_to_json(step)) == step


def test_nested_translatable_values_keep_their_keys():
    inner = UserError("error.worker.out_of_memory")
    outer = UserError("error.model.block", index=2, reason=inner)
    back = wire.error_from_json(wire.error_to_json(outer))
    assert back.values["reason"].key == "error.worker.out_of_memory"
    assert back.message("zh") == outer.message("zh") and str(back) == str(outer)
    hint = UserError("error.model.block", index=1, reason=Text("error.train.one_run"))
    assert wire.error_from_json(wire.error_to_json(hint)).values["reason"] == Text("error.train.one_run")
    assert wire.error_from_json(wire.error_to_json(None)) is None


def test_an_evaluation_crosses_as_weights_only_bytes():
    result = EvalResult(0.125, 0.875, np.array([3, 1, 4], dtype=np.int64),
                        np.eye(3, 10, dtype=np.float32))
    data = wire.evaluation_bytes(result)
    torch.load(io.BytesIO(data), weights_only=True)  # nothing but tensors: the safe loader takes it
    back = wire.evaluation_from_bytes(data)
    assert (back.loss, back.accuracy) == (0.125, 0.875)
    assert np.array_equal(back.predictions, result.predictions) and back.predictions.dtype == np.int64
    assert np.array_equal(back.probabilities, result.probabilities)


# The queue's estimate and its words.

@pytest.mark.parametrize("place, workers, running, expected", [
    (1, 1, [], 0.0),  # an idle worker takes the next run at once
    (1, 1, [20.0], 20.0),  # when the run it trains ends
    (2, 1, [20.0], 80.0),  # and after the one run ahead (60 s, typical)
    (3, 2, [10.0, 30.0], 70.0),  # 10 -> 70 (the 1st), 30 -> 90 (the 2nd); the 3rd starts when the first frees, at 70
    (2, 3, [5.0], 0.0),  # two idle workers: the 2nd in line starts at once too
])
def test_queue_wait_hand_computed(place, workers, running, expected):
    assert queue_wait(place, workers, running, typical=60.0) == expected


def test_queue_wait_without_a_worker_is_unknown_and_a_place_starts_at_one():
    assert queue_wait(3, 0, [], 60.0) is None
    with pytest.raises(ValueError, match="place must be at least 1, got place=0"):
        queue_wait(0, 1, [], 60.0)


def test_ordinals_and_the_queue_line_in_both_languages():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th"]
    from cnnviz.training.job import QueueLine

    line = QueueLine(place=3, workers=2, wait_seconds=19.6)
    assert queue_text(line, "en").startswith("3rd in line, about 20 s")
    assert queue_text(line, "zh").startswith("排在第 3 位，大约 20 秒")
    nobody = queue_text(QueueLine(place=1, workers=0, wait_seconds=None), "en")
    assert "no training worker is running" in nobody and "python -m cnnviz.training.worker" in nobody


# A store that is down.

def test_a_store_that_is_down_says_training_is_unavailable():
    registry = RedisRegistry(f"redis://127.0.0.1:{free_port()}/0", idle_seconds=60)
    down = registry.unavailable()
    assert isinstance(down, TrainingUnavailable)
    assert down.message("en").startswith("The training service is unavailable right now")
    assert "训练服务暂时不可用" in down.message("zh")
    with pytest.raises(TrainingUnavailable):
        registry.get("some-control-id")
    with pytest.raises(TrainingUnavailable):
        registry.start(TINY, SHORT, label="x", owner="a")


def test_a_bad_address_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match="CNNVIZ_REDIS_URL must be a redis://, rediss:// or unix:// address, got "
                                         "'http://10.0.0.5'"):
        RedisRegistry("http://10.0.0.5", idle_seconds=60)


# The queue with no worker: places, limits, stopping a waiting run.

def test_queued_runs_know_their_place_and_that_no_worker_will_start_them(no_worker_url):
    replica_a, replica_b = RedisRegistry(no_worker_url, 60), RedisRegistry(no_worker_url, 60)
    first = replica_a.start(TINY, SHORT, label="first", owner="a")
    second = replica_a.start(TINY, SHORT, label="second", owner="b")
    snap = replica_b.get(second.id).job.snapshot()
    assert snap.state == "queued" and snap.queue_position == 2
    assert (snap.queue.place, snap.queue.workers, snap.queue.wait_seconds) == (2, 0, None)
    replica_b.get(first.id).job.stop(timeout=5)  # from the other replica
    assert replica_b.get(first.id).job.snapshot().state == "stopped"
    wait_until(lambda: replica_a.get(first.id).job.snapshot().state == "stopped", 5, "replica A to see the stop")
    wait_until(lambda: replica_a.get(second.id).job.snapshot().queue.place == 1, 5, "the next run to move up")


def test_one_run_per_browser_session_across_replicas(no_worker_url):
    replica_a, replica_b = RedisRegistry(no_worker_url, 60), RedisRegistry(no_worker_url, 60)
    first = replica_a.start(TINY, SHORT, label="first", owner="session-1")
    with pytest.raises(UserError, match="already has a run queued or training"):
        replica_b.start(TINY, SHORT, label="again", owner="session-1")
    assert replica_b.active_for("session-1").id == first.id
    replacement = replica_b.start(TINY, SHORT, label="replacement", owner="session-1",
                                  replacing=replica_b.get(first.id))  # Start again on its own page: allowed
    wait_until(lambda: replica_a.get(first.id).job.snapshot().state == "stopped", 5, "the replaced run to stop")
    assert replica_a.active_for("session-1").id == replacement.id


def test_a_full_queue_refuses_with_a_message_that_says_what_to_do(no_worker_url, monkeypatch):
    monkeypatch.setenv("CNNVIZ_QUEUE_CAP", "2")
    registry = RedisRegistry(no_worker_url, 60)
    registry.start(TINY, SHORT, label="1", owner="a")
    registry.start(TINY, SHORT, label="2", owner="b")
    with pytest.raises(UserError) as refused:
        registry.start(TINY, SHORT, label="3", owner="c")
    assert refused.value.key == "error.train.queue_full"
    assert "2 runs are already waiting for 0 worker(s)" in str(refused.value)
    assert "press Start again in a minute" in str(refused.value)


def test_a_watch_id_never_controls_and_a_control_id_is_not_a_watch_link(no_worker_url):
    registry = RedisRegistry(no_worker_url, 60)
    run = registry.start(TINY, SHORT, label="x", owner="a")
    assert run.id != run.watch_id
    assert registry.get(run.watch_id) is None
    assert registry.watch(run.id) is None
    assert registry.watch(run.watch_id).watch_id == run.watch_id


def test_weights_planted_as_a_pickle_are_refused_not_run(no_worker_url, tmp_path):
    registry = RedisRegistry(no_worker_url, 60)
    run = registry.start(TINY, SHORT, label="x", owner="a")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    keys = run.job.keys
    registry.store.redis.set(keys.weights, pickle.dumps(Payload()))
    registry.store.redis.hset(keys.run, "weights", "1")
    with pytest.raises(pickle.UnpicklingError):
        registry.get(run.id).job.model
    assert not marker.exists()


# Runs on a real worker.

@pytest.mark.slow  # a worker process trains
def test_a_run_started_on_one_replica_is_served_whole_by_another(redis_url, worker):
    replica_a, replica_b = RedisRegistry(redis_url, 60), RedisRegistry(redis_url, 60)
    run = replica_a.start(TINY, SHORT, label="tiny", owner="lecturer")
    watched = replica_b.watch(run.watch_id)
    wait_until(lambda: watched.job.snapshot().state == "done", 120, "the run to finish")
    on_b = replica_b.get(run.id).job.snapshot()
    on_a = replica_a.get(run.id).job.snapshot()
    assert [m.step for m in on_b.steps] == list(range(1, 17)) == [m.step for m in on_a.steps]
    assert on_b.evals[-1].kind == "done" and on_b.latest.kind == "done"
    assert on_b.final is not None and on_b.final.accuracy == on_a.final.accuracy == on_b.evals[-1].test_accuracy
    assert on_b.final.predictions.shape == (10_000,)
    model_a, model_b = replica_a.get(run.id).job.model, replica_b.watch(run.watch_id).job.model
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), name
    assert replica_a.active_for("lecturer") is None  # ended: the session may start another
    ttl = replica_a.store.redis.ttl(watch_key(run.watch_id))
    assert 0 < ttl <= 3600  # a finished run's links expire with it
    assert_no_pickles(replica_a.store.redis)


def _values(redis, key: bytes) -> list[bytes]:
    kind = redis.type(key)
    if kind == b"string":
        return [redis.get(key)]
    if kind == b"hash":
        return list(redis.hgetall(key).values())
    if kind == b"stream":
        return [value for _, entry in redis.xrange(key) for value in entry.values()]
    if kind == b"list":
        return redis.lrange(key, 0, -1)
    if kind in (b"set", b"zset"):
        return list(redis.smembers(key)) if kind == b"set" else [m for m, _ in redis.zrange(key, 0, -1, withscores=True)]
    return []


def assert_no_pickles(redis) -> None:
    """Nothing in Redis is a pickle, not even RQ's own job records (zlib-compressed, as RQ stores them)."""
    import zlib

    seen = 0
    for key in redis.scan_iter():
        for value in _values(redis, key):
            if value is None:
                continue
            try:
                value = zlib.decompress(value)
            except zlib.error:
                pass
            assert not value.startswith(b"\x80"), f"{key!r} holds a pickle"
            seen += 1
    assert seen > 10  # the run's keys and RQ's were read


@pytest.mark.slow
def test_pause_resume_and_stop_from_the_other_replica(redis_url, worker):
    replica_a, replica_b = RedisRegistry(redis_url, 60), RedisRegistry(redis_url, 60)
    run = replica_a.start(TINY, LONG, label="long", owner="owner")
    try:
        on_b = replica_b.get(run.id).job
        wait_until(lambda: len(on_b.snapshot().steps) >= 5, 120, "steps on the other replica")
        on_b.pause()
        on_a = replica_a.get(run.id).job
        wait_until(lambda: on_a.snapshot().state == "paused", 10, "the pause to reach the worker")
        held = len(wait_until(lambda: on_a.snapshot().steps, 5))
        time.sleep(1.0)  # a paused run takes no step, however long we look
        assert len(on_a.snapshot().steps) == held
        on_a.resume()
        wait_until(lambda: len(on_b.snapshot().steps) > held, 10, "training to go on")
        on_b.finish()  # Stop: training ends and the run evaluates its last weights
        wait_until(lambda: on_a.snapshot().state == "stopped", 30, "the stop to reach replica A")
        assert on_a.snapshot().final is not None
    finally:
        replica_a.get(run.id).job.stop(timeout=10)


@pytest.mark.slow
def test_a_run_nobody_looks_at_is_stopped_by_its_worker(redis_url, worker):
    registry = RedisRegistry(redis_url, idle_seconds=2)
    run = registry.start(TINY, LONG, label="forgotten", owner="gone")
    keys = run.job.keys
    # Read the store directly: a registry's look would keep the run alive.
    wait_until(lambda: registry.store.fields(keys).get("state") == "stopped", 60, "the idle run to stop")


@pytest.mark.slow
def test_a_killed_worker_fails_its_run_within_15_s_and_keeps_its_curves():
    require_redis()
    with redis_server() as url:
        replica_a, replica_b = RedisRegistry(url, 60), RedisRegistry(url, 60)
        process = start_worker(url)
        try:
            run = replica_a.start(TINY, LONG, label="doomed", owner="x")
            wait_until(lambda: len(replica_b.get(run.id).job.snapshot().steps) >= 5, 120, "steps")
            kill_worker(process)
            killed = time.monotonic()
            # A page polls once a second: it must say so within 15 s of the kill.
            snap = wait_until(lambda: (s := replica_b.get(run.id).job.snapshot()).state == "failed" and s,
                              15 - PAGE_POLL_SECONDS, "the run to be marked failed")
            assert time.monotonic() - killed <= HEARTBEAT_TTL_SECONDS + 1
            assert snap.error.key == "error.worker.lost"
            assert "stopped answering" in snap.error.message("en") and "press Start" in snap.error.message("en")
            assert len(snap.steps) >= 5  # the curves so far are kept
            assert replica_a.get(run.id).job.snapshot().state == "failed"
            assert replica_a.active_for("x") is None  # Start reruns it
            assert not replica_a.store.redis.sismember("cnnviz:active", run.job.keys.key)
        finally:
            if process.poll() is None:
                kill_worker(process)


@pytest.mark.slow
def test_with_worker_a_replica_starts_one_worker_beside_itself(monkeypatch):
    require_redis()
    from rq import Worker

    from cnnviz.training.registry import registry_from_env

    with redis_server() as url:
        monkeypatch.setenv("CNNVIZ_REDIS_URL", url)
        monkeypatch.setenv("CNNVIZ_WITH_WORKER", "1")
        registry = registry_from_env(idle_seconds=60)
        try:
            assert isinstance(registry, RedisRegistry) and not registry.trains_here
            wait_until(lambda: Worker.count(connection=registry.store.redis, queue=registry.store.queue) == 1, 60,
                       "the worker to register")
            run = registry.start(TINY, SHORT, label="one machine", owner="a")
            wait_until(lambda: registry.get(run.id).job.snapshot().state == "done", 120, "the run to finish")
        finally:
            registry.local_worker.kill()  # in this test's process group: only it
            registry.local_worker.wait(timeout=10)


def test_without_the_variable_the_registry_is_the_embedded_one(monkeypatch):
    from cnnviz.training.registry import InProcessRegistry, registry_from_env

    monkeypatch.delenv("CNNVIZ_REDIS_URL", raising=False)
    registry = registry_from_env(idle_seconds=60)
    assert isinstance(registry, InProcessRegistry) and registry.trains_here


def test_the_queue_line_in_the_status_card_shows_the_worker_command_as_code():
    from cnnviz.training.job import JobSnapshot, QueueLine
    from cnnviz.ui.status_card import status_html

    snap = JobSnapshot("queued", 1, (), (), None, "", "x", queue=QueueLine(place=1, workers=0, wait_seconds=None))
    html = status_html(snap, "en", accent="red")
    assert "<code>python -m cnnviz.training.worker</code> starts one." in html and "`" not in html
    assert '<p class="train-queue">1st in line, but no training worker is running' in html


@pytest.mark.slow
def test_weights_over_the_cap_are_not_kept_and_the_page_is_told(monkeypatch):
    require_redis()
    from dataclasses import replace

    wide = replace(TINY, hidden=(1024,))  # over 1 MB of weights: a flatten of hundreds times 1,024
    monkeypatch.setenv("CNNVIZ_REDIS_WEIGHTS_MB", "1")  # the worker's cap, read in its own process
    with redis_server() as url, workers(url, 1):
        registry = RedisRegistry(url, 60)
        run = registry.start(wide, SHORT, label="wide", owner="wide")
        wait_until(lambda: registry.get(run.id).job.snapshot().state == "done", 120, "the run to finish")
        job = RedisRegistry(url, 60).get(run.id).job  # a replica that has not read the run yet
        assert not registry.store.redis.exists(run.job.keys.weights)
        assert job.model is None and job.snapshot().weights_expired  # never the seed's weights as the run's
        assert job.snapshot().final is not None  # its results are kept


def test_queue_wait_adds_the_time_a_run_takes_to_start():
    assert queue_wait(1, 1, [], 60.0, start=2.5) == 2.5
    assert queue_wait(2, 1, [20.0], 60.0, start=2.5) == 82.5


def test_the_worker_command_caps_a_runs_threads(monkeypatch):
    from cnnviz.training.limiter import usable_cores

    monkeypatch.delenv("CNNVIZ_TRAIN_THREADS", raising=False)
    everything = usable_cores()
    monkeypatch.setenv("CNNVIZ_TRAIN_THREADS", "1")
    assert usable_cores() == 1
    monkeypatch.setenv("CNNVIZ_TRAIN_THREADS", str(everything + 5))
    assert usable_cores() == everything  # never more than the process may run on


@pytest.mark.slow
def test_a_run_that_waited_unwatched_in_the_queue_is_not_stopped_as_idle_when_taken():
    require_redis()
    with redis_server() as url:
        registry = RedisRegistry(url, idle_seconds=2)
        run = registry.start(TINY, LONG, label="waited", owner="patient")
        time.sleep(3)  # setup, not an assertion: the run waits in the queue longer than its idle time, unwatched
        with workers(url, 1):
            # Read the store directly until the worker has taken it (a registry's look would mark it watched).
            wait_until(lambda: registry.store.fields(run.job.keys)["state"] != "queued", 120, "the worker to take it")

            # The page looks again as soon as the run trains (a poll a second): it must get past its first steps.
            def looked_at():  # as the page's poll does: each look marks the run as watched
                return registry.get(run.id).job.snapshot()

            wait_until(lambda: len((snap := looked_at()).steps) >= 5 or snap.state in ("stopped", "failed"),
                       120, "steps or an end")
            job = registry.get(run.id).job
            assert job.snapshot().state == "running", job.snapshot()
            starts = registry.store.redis.lrange("cnnviz:starts", 0, -1)
            assert len(starts) == 1 and 0 < float(starts[0]) < 120
            job.stop(timeout=10)


def test_a_run_stopped_before_its_first_step_keeps_its_seed_weights(no_worker_url):
    # No worker: the run is stopped while queued. Its page must not say its weights expired.
    registry = RedisRegistry(no_worker_url, 60)
    run = registry.start(TINY, SHORT, label="x", owner="a")
    run.job.stop(timeout=5)
    job = RedisRegistry(no_worker_url, 60).get(run.id).job
    assert job.snapshot().state == "stopped"
    assert job.model is not None and not job.snapshot().weights_expired
