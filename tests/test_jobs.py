"""Background training jobs: progress, pause/resume, stop, the process-wide limit, failures, priority."""
import os
import sys
import threading
import time

import pytest

from cnnviz.data import load_mnist
from cnnviz.jobs import JobLimiter, RunRegistry, TrainingJob, config_label, default_nice
from cnnviz.model import NETWORK_PRESETS
from cnnviz.train import TrainConfig

TINY = NETWORK_PRESETS["tiny"]


def make_job(limiter, nice: int = 0, **overrides) -> TrainingJob:
    values = dict(subset=2000, batch_size=32, epochs=1, eval_every=20, eval_slice=100)
    values.update(overrides)
    cfg = TrainConfig(**values)
    return TrainingJob(TINY, cfg, load_mnist, limiter, label=config_label(TINY, cfg), nice=nice)


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_job_runs_to_done():
    job = make_job(JobLimiter(2), subset=256)
    job.start()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.state == "done"
    assert len(snap.steps) == 8 and snap.steps[-1].step == 8
    assert snap.evals[-1].kind == "done" and snap.evals[-1].test_accuracy is not None
    assert snap.label.startswith("conv 8-16")


def test_pause_holds_progress_and_resume_continues():
    job = make_job(JobLimiter(2))
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 3)
    job.pause()
    wait_until(lambda: job.snapshot().state == "paused")
    held = len(job.snapshot().steps)
    time.sleep(0.5)
    assert len(job.snapshot().steps) <= held + 1
    job.resume()
    wait_until(lambda: len(job.snapshot().steps) > held + 3)
    job.stop()
    assert job.snapshot().state == "stopped" and not job.alive


def test_stop_is_prompt():
    job = make_job(JobLimiter(2), subset=20000)
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 2)
    started = time.monotonic()
    job.stop()
    assert time.monotonic() - started < 5
    assert not job.alive and job.snapshot().state == "stopped"


def test_limiter_queues_the_third_job():
    limiter = JobLimiter(2)
    jobs = [make_job(limiter, subset=20000) for _ in range(3)]
    for job in jobs:
        job.start()
    wait_until(lambda: all(len(j.snapshot().steps) >= 1 for j in jobs[:2]))
    third = jobs[2].snapshot()
    assert third.state == "queued" and third.queue_position == 1 and not third.steps
    jobs[0].stop()
    wait_until(lambda: len(jobs[2].snapshot().steps) >= 1)
    assert limiter.running == 2
    for job in jobs[1:]:
        job.stop()
    assert limiter.running == 0


def test_stopping_a_queued_job():
    limiter = JobLimiter(1)
    first, second = make_job(limiter, subset=20000), make_job(limiter)
    first.start()
    second.start()
    wait_until(lambda: len(first.snapshot().steps) >= 1)
    second.stop()
    assert second.snapshot().state == "stopped" and not second.alive
    first.stop()


def test_failure_is_reported():
    def broken_loader():
        raise OSError("disk on fire")

    job = TrainingJob(TINY, TrainConfig(subset=64), broken_loader, JobLimiter(1))
    job.start()
    assert job.wait(10)
    snap = job.snapshot()
    assert snap.state == "failed" and "disk on fire" in snap.message
    assert isinstance(snap.error, OSError)  # the page shows snap.message: only a UserError is translated


def test_divergence_state():
    job = make_job(JobLimiter(1), optimizer="sgd", schedule="constant", lr=1e6, subset=256)
    job.start()
    assert job.wait(30)
    assert job.snapshot().state == "diverged" and "Lower the learning rate" in job.snapshot().message
    assert job.snapshot().error.key == "error.train.diverged"


def test_snapshot_is_a_copy():
    job = make_job(JobLimiter(1), subset=128)
    job.start()
    assert job.wait(30)
    snap = job.snapshot()
    assert isinstance(snap.steps, tuple)
    with pytest.raises(AttributeError):
        snap.state = "running"
    assert job.snapshot() == snap


def test_limiter_validation_and_double_start():
    with pytest.raises(ValueError, match="limit=0"):
        JobLimiter(0)
    job = make_job(JobLimiter(1), subset=64)
    job.start()
    with pytest.raises(RuntimeError, match="already started"):
        job.start()
    assert job.wait(30) and job.snapshot().state == "done"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_registry_finds_runs_by_unguessable_id_and_stops_the_unwatched():
    clock = FakeClock()
    registry = RunRegistry(idle_seconds=60, clock=clock)
    watched, forgotten = make_job(JobLimiter(2), subset=20000), make_job(JobLimiter(2), subset=20000)
    watched.start()
    forgotten.start()
    first, second = registry.add(watched), registry.add(forgotten)
    assert len(first.id) >= 16 and first.id != second.id  # 12 random bytes: no one guesses another's run
    assert registry.get("not-an-id") is None
    clock.now += 45
    assert registry.get(first.id) is first  # a page looked at it: watched now
    clock.now += 30  # the second run has not been looked at for 75 s
    assert registry.reap() == [second.id]
    assert forgotten.snapshot().state == "stopped" and not forgotten.alive  # its slot is free again
    assert watched.snapshot().state in ("running", "queued") and registry.get(second.id) is second  # results stay
    watched.stop()


def test_registry_keeps_only_the_newest_finished_runs():
    clock = FakeClock()
    registry = RunRegistry(idle_seconds=60, keep=2, clock=clock)
    runs = []
    for index in range(3):
        job = make_job(JobLimiter(1), subset=64)
        job.start()
        assert job.wait(30)
        clock.now += 1
        runs.append(registry.add(job))
    registry.reap()
    assert registry.get(runs[0].id) is None and registry.get(runs[2].id) is runs[2] and len(registry) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
@pytest.mark.parametrize("nice", [0, 3])
def test_training_runs_below_the_pages(nice):
    # The worker thread (and the torch threads it starts) run `nice` steps below the thread that started the job,
    # so a student's page change gets the CPU before a training step does.
    job = make_job(JobLimiter(2), subset=20000, nice=nice)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 1)
    assert os.getpriority(os.PRIO_PROCESS, job.thread_id) == min(19, own + nice)
    job.stop()


@pytest.mark.parametrize(("value", "nice"), [(None, 10), ("4", 4), ("0", 0), ("25", 19), ("-5", 0)])
def test_training_priority_comes_from_the_environment(monkeypatch, value, nice):
    if value is None:
        monkeypatch.delenv("CNNVIZ_TRAIN_NICE", raising=False)
    else:
        monkeypatch.setenv("CNNVIZ_TRAIN_NICE", value)
    assert default_nice() == nice
