"""Training throughput inside the app against the bare training loop on the same model, each in its own process.

Target: training throughput inside the app is at least 0.9x that of the bare loop; this script prints that ratio
("app / bare") from one invocation.

  bare: the training loop itself (cnnviz.training.loop.iter_training), run the way `python -m cnnviz.train` runs it:
        the main thread of a process with the default environment (OMP_WAIT_POLICY unset, so libgomp's default,
        spinning wait policy), nothing beside it. Default preset, TrainConfig() defaults, in-memory MNIST tensors
        (cnnviz.data.load_mnist).
  app:  a process with the environment the Streamlit server has (app.py sets nothing: OMP_WAIT_POLICY unset). The
        same config runs as a TrainingJob (cnnviz.training.job: the loop in a worker process, its records read by a
        thread of this one), while the main thread, standing in for the server answering the Train page's status
        polls, builds what the page and the status route draw once a second: job.snapshot(), the progress line and
        live numbers, the live chart's data and the filters picture (cnnviz.training.status). Streamlit's own work
        (protobuf, websocket, its event loop) is not imitated: bench/train_in_app.py measures the real app in
        Chromium.

Both sides run the same loop, so the ratio measures what running it as the app does costs it: the worker process,
its pipe, the server's reading and drawing beside it. Both are timed by the loop's own clock: the records' training
seconds (``Metrics.elapsed``, evaluations excluded) from the end of step --warmup to the end of step --steps.

Environments: libgomp reads OMP_WAIT_POLICY once, when torch loads, so it is a property of the process; each side
therefore runs in a child process (`python bench/train_overhead.py --child bare|app ...`) started with its own
environment, printing one JSON line. By default both sides have the environment the app really has (unset). --env
app-passive (bare unset, app PASSIVE) and --env passive (both PASSIVE) keep the comparison with a PASSIVE wait policy
reproducible. --kernel-lab-first thread|main makes the app process run Kernel Lab convolutions before the job
starts, as a server would after students used that page: in a thread that ends, as Streamlit's script runs are, or
in the main thread. A thread that used torch keeps a libgomp pool of spinning threads until it ends; while more such
threads exist than cores, libgomp cuts every pool's spinning short (GOMP's throttled spin count).

The runs alternate bare, app, bare, app (--rounds); the ratio is of the medians. The bare loop uses torch's default
thread count unless --threads is given; the app's worker chooses its own (cnnviz.training.worker.ThreadChooser).
Each run line ends with the cores other processes kept busy meanwhile (Linux /proc/stat): on a small machine any
such load can spoil a run.

    python bench/train_overhead.py                   # the full default run (1 epoch, 469 steps), 2 rounds
    python bench/train_overhead.py --env passive     # both sides with OMP_WAIT_POLICY=PASSIVE (diagnosis)
    python bench/train_overhead.py --bare-in-thread  # the bare loop in a thread of its own (diagnosis)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

from common import busy_cpu_seconds, json_child, machine

ENVS = {  # OMP_WAIT_POLICY of each side, per --env; None = unset
    "default": {"bare": None, "app": None},  # what a user's script and the app server really have
    "app-passive": {"bare": None, "app": "PASSIVE"},  # what app.py used to set (diagnosis)
    "passive": {"bare": "PASSIVE", "app": "PASSIVE"},  # diagnosis
}


def throughput(steps: list, warmup: int, last: int) -> float:
    """Images per training second from the end of step ``warmup`` to the end of step ``last``, by the loop's own
    records (``Metrics.elapsed`` leaves evaluations out). Each record's step count and the images it trained on
    come from its ``samples_per_second`` and ``elapsed``: images so far = speed x time."""
    by_step = {record.step: record for record in steps}
    start, end = by_step[warmup], by_step[last]
    images = end.samples_per_second * end.elapsed - start.samples_per_second * start.elapsed
    return images / (end.elapsed - start.elapsed)


def bare_run(steps: int, warmup: int) -> dict:
    """Images/s of the training loop alone, in this thread, over steps warmup+1..steps."""
    import torch

    from cnnviz.data import load_mnist
    from cnnviz.model import DEFAULT_PRESET, preset
    from cnnviz.training.config import TrainConfig
    from cnnviz.training.loop import iter_training

    stop, records = threading.Event(), []
    for record in iter_training(preset(DEFAULT_PRESET), TrainConfig(), load_mnist(), stop=stop):
        if record.kind == "step":
            records.append(record)
            if record.step >= steps:
                stop.set()  # the loop ends before its next step, as Stop does
    return {"samples_per_second": throughput(records, warmup, steps), "torch_threads": torch.get_num_threads()}


def app_run(steps: int, warmup: int) -> dict:
    """Images/s of a TrainingJob while the main thread builds the live status, chart and filters once a second."""
    from cnnviz.data import load_mnist
    from cnnviz.model import DEFAULT_PRESET, preset
    from cnnviz.pages import train_live
    from cnnviz.training import status
    from cnnviz.training.config import TrainConfig
    from cnnviz.training.job import TrainingJob
    from cnnviz.training.limiter import JobLimiter
    from cnnviz.training.registry import Run

    model_cfg, train_cfg = preset(DEFAULT_PRESET), TrainConfig()
    job = TrainingJob(model_cfg, train_cfg, load_mnist, JobLimiter(2), label=status.config_label(model_cfg, train_cfg))
    run = Run("bench", job)
    job.start()
    ticks, page_seconds, chart_bytes, threads = 0, 0.0, 0, 0
    next_tick = time.perf_counter() + 1.0
    while job.alive:
        time.sleep(max(0.0, next_tick - time.perf_counter()))
        next_tick += 1.0
        began = time.perf_counter()
        # What the status route answers and the Train page draws while a run trains, minus Streamlit itself.
        snap = job.snapshot()
        if snap.latest is not None:
            status.progress_text(snap, "en")
            status.live_numbers(snap)
        if snap.steps:
            chart_bytes = len(train_live.live_chart_json(run, snap, "en"))
        if job.model is not None:
            train_live.filters_png(job.model)
        page_seconds += time.perf_counter() - began
        ticks += 1
        threads = max(threads, job.threads)
        if snap.steps and snap.steps[-1].step >= steps:
            job.stop()  # the steps timed are in: no need for the rest of the run or its final evaluation
    if job.state == "failed":
        raise SystemExit(f"the training job failed: {job.snapshot().message}")
    snap = job.snapshot()
    evaluations = sum(1 for m in snap.evals if m.kind in ("eval", "epoch") and warmup < m.step < steps)
    return {"samples_per_second": throughput(list(snap.steps), warmup, steps), "ticks": ticks,
            "page_ms": 1000 * page_seconds / max(ticks, 1), "chart_kb": chart_bytes / 1000,
            "reported": snap.steps[-1].samples_per_second, "evaluations": evaluations, "torch_threads": threads}


def kernel_lab_work(changes: int = 20, *, thread: bool = True) -> None:
    """What the Kernel Lab computes for a few control changes: 1024x1024 RGB, 7x7 filters.

    Streamlit runs each script run in a thread that ends with the run, and libgomp frees a thread's OpenMP pool when
    the thread ends; ``thread=False`` runs the work in the main thread instead, whose pool lives on.
    """
    if thread:
        worker = threading.Thread(target=kernel_lab_work, args=(changes,), kwargs={"thread": False})
        worker.start()
        worker.join()
        return
    import numpy as np

    from cnnviz.conv import ops

    image = np.random.default_rng(0).random((1024, 1024, 3), dtype=np.float32)
    kernel = np.random.default_rng(1).normal(size=(3, 7, 7))
    for stride in range(1, changes + 1):
        ops.conv2d(image, kernel, padding="same", stride=1 + stride % 3, depthwise=True)


def child(args: argparse.Namespace) -> None:
    """One side, in this process as its parent set it up; the last stdout line is its JSON result."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child == "app":
        if args.kernel_lab_first:
            kernel_lab_work(thread=args.kernel_lab_first == "thread")
        result = app_run(args.steps, args.warmup)
    elif args.bare_in_thread:
        out = []
        worker = threading.Thread(target=lambda: out.append(bare_run(args.steps, args.warmup)))
        worker.start()
        worker.join()
        result = out[0]
    else:
        result = bare_run(args.steps, args.warmup)
    result["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    print(json.dumps(result), flush=True)


def spawn(side: str, policy: str | None, args: argparse.Namespace) -> tuple[dict, float]:
    """Run one side in a fresh process whose OMP_WAIT_POLICY is ``policy`` (None = unset); its result and wall s."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side,
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.bare_in_thread:
        command.append("--bare-in-thread")
    if args.kernel_lab_first:
        command += ["--kernel-lab-first", args.kernel_lab_first]
    busy, children = busy_cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = json_child(command, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if busy is not None:
        # The machine's busy CPU time during the run minus the child's own: what everything else took, in cores.
        result["others_cores"] = max(0.0, busy_cpu_seconds() - busy - own) / wall
    return result, wall


def others(result: dict) -> str:
    return f"; other processes {result['others_cores']:.2f} cores" if "others_cores" in result else ""


def main() -> None:
    from cnnviz.training.config import TrainConfig

    train_cfg = TrainConfig()
    full = math.ceil(60000 / train_cfg.batch_size) * train_cfg.epochs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=full, help=f"training steps per run (at most {full})")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing at the start")
    parser.add_argument("--rounds", type=int, default=2, help="bare/app pairs, alternating")
    parser.add_argument("--env", choices=sorted(ENVS), default="default",
                        help="OMP_WAIT_POLICY per side: default = both unset (as the app and a user's script run); "
                             "app-passive = app PASSIVE; passive = both PASSIVE")
    parser.add_argument("--bare-in-thread", action="store_true",
                        help="run the bare loop in a fresh Python thread (separates the cost of training off the main "
                             "thread from the job's and the page's own costs)")
    parser.add_argument("--kernel-lab-first", choices=("thread", "main"),
                        help="before the job, the app process runs Kernel Lab convolutions: in a thread that then ends, "
                             "as Streamlit's script runs do, or in the main thread, whose OpenMP pool lives on")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both sides (default 0: torch's default, as in the app)")
    parser.add_argument("--child", choices=("bare", "app"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 < args.warmup < args.steps <= full:
        parser.error(f"need 0 < --warmup < --steps <= {full}")
    if args.child:
        child(args)
        return

    policies = ENVS[args.env]
    shown = {side: f"OMP_WAIT_POLICY={p}" if p else "OMP_WAIT_POLICY unset" for side, p in policies.items()}
    print(f"Training overhead benchmark · {machine()} (parent process; each run is a fresh child process)")
    print(f"default preset, TrainConfig() defaults (batch {train_cfg.batch_size}, {train_cfg.optimizer}, "
          f"{train_cfg.schedule}, seed {train_cfg.seed}), channels_last, steps {args.warmup + 1}..{args.steps} timed; "
          f"--env {args.env}: bare {shown['bare']}, app {shown['app']}"
          + ("" if not args.kernel_lab_first else "; Kernel Lab convolutions first, in "
             + ("a thread that then ends" if args.kernel_lab_first == "thread" else "the main thread")))
    if os.environ.get("OMP_WAIT_POLICY"):
        print(f"note: this shell has OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; the children do not inherit it")
    bare, app = [], []
    where = "in a thread" if args.bare_in_thread else "main thread"
    for round_ in range(1, args.rounds + 1):
        result, wall = spawn("bare", policies["bare"], args)
        bare.append(result["samples_per_second"])
        print(f"round {round_} bare loop ({where}, {shown['bare']}): {result['samples_per_second']:7.0f} samples/s  "
              f"({result['torch_threads']} torch threads; process {wall:.0f} s{others(result)})", flush=True)
        result, wall = spawn("app", policies["app"], args)
        app.append(result["samples_per_second"])
        print(f"round {round_} TrainingJob + page ({shown['app']}): {result['samples_per_second']:7.0f} samples/s  "
              f"(job reports {result['reported']:.0f}; {result['evaluations']} evaluations left out; "
              f"{result['ticks']} page ticks, {result['page_ms']:.0f} ms each, chart {result['chart_kb']:.0f} kB; "
              f"worker uses up to {result['torch_threads']} torch threads; process {wall:.0f} s{others(result)})",
              flush=True)
    ratio = statistics.median(app) / statistics.median(bare)
    print(f"median bare {statistics.median(bare):.0f} samples/s, median app {statistics.median(app):.0f} samples/s "
          f"over {args.rounds} round(s)")
    print(f"app / bare = {ratio:.2f}  target >= 0.9" + ("" if args.env == "default" else
                                                         f"  (diagnostic: --env {args.env}, not the app's setting)"))


if __name__ == "__main__":
    main()
