"""How fast a run in a worker process answers the page: Pause, Resume, Stop, a replacing run, the idle reaper and a
killed worker, in seconds, against the goals of issues 10 and 13 (answer within 1 s; end within 2 s).

Each control is timed from the call to the change the page would show next:
  pause    pause()  -> the worker holds between two steps (job.state == "paused")
  resume   resume() -> the worker's next step arrives
  stop     stop()   -> the job's thread and its worker process have ended
  replace  a new run of the same page: the old one stopped (ui.runs.start_run does exactly this) and ended
  reaper   InProcessRegistry.reap() with two unwatched runs -> both ended
  killed   SIGKILL to the worker (what the out-of-memory killer does) -> the job reports "failed"

    python bench/train_controls.py --repeats 5
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from common import machine, spread

from cnnviz.data import load_mnist
from cnnviz.model import NETWORK_PRESETS
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import TrainingJob
from cnnviz.training.limiter import JobLimiter
from cnnviz.training.registry import InProcessRegistry

GOALS = {"pause": 1.0, "resume": 1.0, "stop": 1.0, "replace": 2.0, "reaper": 2.0, "killed": 2.0}  # seconds


def until(predicate, timeout: float = 60.0) -> float:
    """Seconds until ``predicate()`` holds, polled every millisecond."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"no answer within {timeout} s")
        time.sleep(0.001)
    return time.perf_counter() - started


def training(limiter: JobLimiter) -> TrainingJob:
    """The default network on the full training set, a few steps in."""
    job = TrainingJob(NETWORK_PRESETS["default"], TrainConfig(), load_mnist, limiter)
    job.start()
    until(lambda: len(job.snapshot().steps) >= 3)
    return job


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def one_round() -> dict[str, float]:
    limiter = JobLimiter(2)
    times = {}
    job = training(limiter)
    job.pause()
    times["pause"] = until(lambda: job.state == "paused")
    held = len(job.snapshot().steps)
    job.resume()
    times["resume"] = until(lambda: len(job.snapshot().steps) > held)
    times["stop"] = timed(job.stop)
    old, new = training(limiter), None

    def replace() -> None:
        nonlocal new
        old.stop(timeout=5)
        new = TrainingJob(NETWORK_PRESETS["default"], TrainConfig(), load_mnist, limiter)
        new.start()

    times["replace"] = timed(replace) + until(lambda: not old.alive)
    new.stop()
    registry = InProcessRegistry(idle_seconds=1.0, clock=lambda: clock)
    clock = 0.0
    for _ in range(2):
        registry.add(training(limiter))
    clock = 10.0
    times["reaper"] = timed(registry.reap)
    job = training(limiter)
    os.kill(job.worker_pid, signal.SIGKILL)
    times["killed"] = until(lambda: job.state == "failed")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"Answers of a run in a worker process · {machine()}")
    rounds = [one_round() for _ in range(args.repeats)]
    for name, goal in GOALS.items():
        values = [row[name] for row in rounds]
        print(f"  {name:8s} {spread(values)} s (min / median / max of {len(values)})   goal <= {goal} s: "
              f"{'met' if max(values) <= goal else 'NOT met'} (worst); mean {statistics.mean(values):.3f} s")


if __name__ == "__main__":
    main()
