"""Training throughput inside the app against a bare PyTorch loop on the same model, each in its own process.

Target: training throughput inside the app is at least 0.9x that of a bare PyTorch loop
on the same model; this script prints that ratio ("app / bare") from one invocation.

  bare: what a user would write in a plain script, run the way they would run it: the main thread of a process with
        the default environment (OMP_WAIT_POLICY unset, so libgomp's default, spinning wait policy). Same model as
        the app's (build_model of the default preset with TrainConfig().seed), same optimizer, schedule, batch size,
        shuffle and in-memory MNIST tensors (cnnviz.data.load_mnist), and the same training step as
        cnnviz.train.iter_training: the model in channels_last memory format and each batch made
        channels_last-contiguous before the forward pass. What iter_training adds around that step for the page
        (loss.item(), the batch accuracy, the Metrics records, the quick evaluations' disturbance) is not done:
        that is the app's overhead, which this ratio measures.
  app:  a process with the environment the Streamlit server has (app.py sets nothing: OMP_WAIT_POLICY unset). The
        same config runs as a TrainingJob in thread mode (CNNVIZ_TRAIN_IN=thread: a thread of the server, as before
        runs moved to worker processes; TrainConfig() defaults, quick evaluations included) while the main thread,
        standing in for Streamlit's script thread, imitates the Train page's live fragment once a second:
        job.snapshot(), the metric EMAs, train_figures.curves_from + training_figure serialised as st.plotly_chart
        does (plotly.tools.return_figure_from_figure_or_data, plotly.io.to_json), and filters_png of conv1's weights.
        Streamlit's own work (protobuf, websocket, its event loop) is not imitated: bench/train_in_app.py measures
        the real app in Chromium.

Environments: libgomp reads OMP_WAIT_POLICY once, when torch loads, so it is a property of the process; each side
therefore runs in a child process (`python bench/train_overhead.py --child bare|app ...`) started with its own
environment, printing one JSON line. By default both sides have the environment the app really has (unset). Earlier
app.py set OMP_WAIT_POLICY=PASSIVE for the server, on the grounds that idle, spinning OpenMP threads could steal the
worker thread's cores; this script showed that it cost ~17% instead, so it was dropped. --env app-passive (bare unset,
app PASSIVE) and --env passive (both PASSIVE) keep that comparison reproducible. --kernel-lab-first thread|main makes the app
process run Kernel Lab convolutions before the job starts, as a server would after students used that page: in a
thread that ends, as Streamlit's script runs are, or in the main thread. A thread that used torch keeps a libgomp pool
of spinning threads until it ends; while more such threads exist than cores, libgomp cuts every pool's spinning short
(GOMP's throttled spin count), and the job's many small parallel regions then wait on sleeping threads.

Both time the same steps: from the end of step --warmup to the end of step --steps. The bare loop is timed by the
wall clock; for the app the step records are time-stamped as the job receives them and the gaps in which the job
evaluates (the step -> eval/epoch record intervals) are left out, as the app's own samples/s leaves them out. The runs
alternate bare, app, bare, app (--rounds); the ratio is of the medians. Both use torch's default thread count unless
--threads is given. Each run line ends with the cores other processes kept busy meanwhile (Linux /proc/stat): on 2 cores
anything above ~0.1 spoils that run, and such load has hurt the bare side (spinning OpenMP threads) far more
than the app.

    python bench/train_overhead.py                   # the full default run (1 epoch, 469 steps), 2 rounds
    python bench/train_overhead.py --env passive     # both sides with OMP_WAIT_POLICY=PASSIVE (diagnosis)
    python bench/train_overhead.py --bare-in-thread  # the bare loop in a worker thread, like the job (diagnosis)
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


def bare_run(steps: int, warmup: int) -> dict:
    """Samples/s of a plain PyTorch loop, with iter_training's step, over steps warmup+1..steps."""
    import torch
    import torch.nn.functional as F

    from cnnviz.data import load_mnist
    from cnnviz.model import DEFAULT_PRESET, build_model, preset
    from cnnviz.train import TrainConfig, _optimizer, _scheduler

    train_cfg = TrainConfig()
    data = load_mnist()
    torch.manual_seed(train_cfg.seed)
    model = build_model(preset(DEFAULT_PRESET), seed=train_cfg.seed)
    model.to(memory_format=torch.channels_last).train()
    images, labels = data.train_images, data.train_labels
    n = len(images)
    steps_per_epoch = math.ceil(n / train_cfg.batch_size)
    optimizer = _optimizer(model, train_cfg, torch.device("cpu"))
    scheduler = _scheduler(optimizer, train_cfg, steps_per_epoch * train_cfg.epochs)
    shuffle = torch.Generator().manual_seed(train_cfg.seed)
    step, started, samples = 0, None, 0
    while step < steps:
        order = torch.randperm(n, generator=shuffle)
        for start in range(0, n, train_cfg.batch_size):
            index = order[start:start + train_cfg.batch_size]
            x, y = images[index], labels[index]
            x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if step == warmup:
                started = time.perf_counter()
            elif step > warmup:
                samples += len(y)
            if step == steps:
                break
    return {"samples_per_second": samples / (time.perf_counter() - started), "torch_threads": torch.get_num_threads()}


def app_run(steps: int, warmup: int) -> dict:
    """Samples/s of a TrainingJob while the main thread redraws the live fragment's figures once a second."""
    import plotly.io
    import plotly.tools
    import torch

    from cnnviz import train_figures
    from cnnviz.data import load_mnist
    from cnnviz.jobs import JobLimiter, TrainingJob, config_label
    from cnnviz.model import DEFAULT_PRESET, first_conv_weight, preset
    from cnnviz.train import TrainConfig

    model_cfg, train_cfg = preset(DEFAULT_PRESET), TrainConfig()

    class TimedJob(TrainingJob):
        """A TrainingJob that time-stamps each record as the worker receives it, and stops after ``steps``."""

        def _records(self):
            self.stamps, self.worker_threads = [], torch.get_num_threads()
            for record in super()._records():
                self.stamps.append((time.perf_counter(), record.kind, record.step))
                if record.kind == "step" and record.step >= steps:
                    self._stop.set()  # iter_training ends before its next step, like the Stop button
                yield record

    job = TimedJob(model_cfg, train_cfg, load_mnist, JobLimiter(2), label=config_label(model_cfg, train_cfg),
                   mode="thread")  # the job's own thread is what this script studies; bench/train_in_app.py compares modes
    job.start()
    ticks, page_seconds, chart_bytes = 0, 0.0, 0
    next_tick = time.perf_counter() + 1.0
    while job.alive:
        time.sleep(max(0.0, next_tick - time.perf_counter()))
        next_tick += 1.0
        began = time.perf_counter()
        # What cnnviz/ui/train.py's _live draws, minus the Streamlit calls themselves.
        snap = job.snapshot()
        tests = [m for m in snap.evals if m.test_accuracy is not None]
        if snap.steps:
            metrics = (f"{train_figures.ema([m.loss for m in snap.steps])[-1]:.4f}",
                       f"{train_figures.ema([m.accuracy for m in snap.steps])[-1]:.2%}",
                       f"{tests[-1].test_accuracy:.2%}" if tests else "-", f"{snap.steps[-1].lr:.2g}")
            current = train_figures.curves_from(snap.label, snap.steps, snap.evals)
            figure = train_figures.training_figure(current, [])
            spec = plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True),
                                     validate=False)
            chart_bytes = len(spec)
        if job.model is not None:
            train_figures.filters_png(first_conv_weight(job.model).numpy())
        page_seconds += time.perf_counter() - began
        ticks += 1
    job.wait()
    if job.state == "failed":
        raise SystemExit(f"the training job failed: {job.snapshot().message}")
    n = len(job.data.train_images)
    steps_per_epoch = math.ceil(n / train_cfg.batch_size)
    seconds, samples, previous = 0.0, 0, None
    for stamp, kind, step in job.stamps:
        if kind == "step" and warmup < step <= steps:
            # Only intervals that end in a step record: those that end in an eval or epoch record are evaluations.
            seconds += stamp - previous
            samples += min(train_cfg.batch_size, n - ((step - 1) % steps_per_epoch) * train_cfg.batch_size)
        previous = stamp
    evaluations = sum(1 for s in job.stamps if s[1] in ("eval", "epoch") and warmup < s[2] < steps)
    return {"samples_per_second": samples / seconds, "ticks": ticks, "page_ms": 1000 * page_seconds / max(ticks, 1),
            "chart_kb": chart_bytes / 1000, "reported": job.snapshot().steps[-1].samples_per_second,
            "evaluations": evaluations, "torch_threads": job.worker_threads}


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

    from cnnviz import ops

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
    from cnnviz.train import TrainConfig

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
                        help="run the bare loop in a fresh Python thread, like the job (separates the cost of training "
                             "off the main thread from the job's and the page's own costs)")
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
              f"worker thread uses {result['torch_threads']} torch threads; process {wall:.0f} s{others(result)})", flush=True)
    ratio = statistics.median(app) / statistics.median(bare)
    print(f"median bare {statistics.median(bare):.0f} samples/s, median app {statistics.median(app):.0f} samples/s "
          f"over {args.rounds} round(s)")
    print(f"app / bare = {ratio:.2f}  target >= 0.9" + ("" if args.env == "default" else
                                                         f"  (diagnostic: --env {args.env}, not the app's setting)"))


if __name__ == "__main__":
    main()
