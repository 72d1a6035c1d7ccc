"""Headless training speed: test accuracy and training seconds of the app's default config, and of "classic".

Target: the app's default config (TrainConfig() defaults, the "default" model preset)
reaches >= 99.0% MNIST test accuracy within 30 s of training on a 2-core CPU.

Each run is a fresh `python -m cnnviz.train --json` process, so the figures are the ones the CLI reports:
test accuracy on the full 10,000-image test set after the last epoch, training seconds (evaluations excluded,
as iter_training measures them) and samples/s. The CLI trains through cnnviz.train.iter_training, the app's own
loop, so this measures the app's training step as it is now (channels_last model and batches included), on
--threads torch threads (the CLI's default: os.cpu_count()), in the main thread of a process with the shell's
environment (bench/train_overhead.py compares this loop with the app's background job). The wall
time of the whole process (start-up, data loading, the per-epoch test evaluations) is printed alongside for
reference, with the test accuracy and training seconds after each epoch. The seed fixes both the initial weights
(build_model(seed=...)) and the shuffle order, so runs of one seed start identically; --seeds N shows the spread
over seeds.

    python bench/train_speed.py             # default config (seed 0), then "classic" for 2 epochs
    python bench/train_speed.py --seeds 3   # default config with seeds 0, 1, 2
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from common import ROOT, machine

GOAL_ACCURACY = 0.99  # fraction of the test set
GOAL_SECONDS = 30.0  # training seconds


EPOCH_LINE = re.compile(r"epoch (\d+)/\d+: test accuracy ([\d.]+)%.*?, ([\d.]+) s, ")


def run_cli(*options: str, threads: int | None) -> tuple[dict, float]:
    """One `python -m cnnviz.train --json` run: its JSON summary (plus the per-epoch log lines the CLI writes to
    stderr, as "epochs": [(epoch, test accuracy %, training seconds so far)]) and the wall seconds of the process."""
    command = [sys.executable, "-m", "cnnviz.train", "--json", *options]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["epochs_log"] = [(int(e), float(a), float(t)) for e, a, t in EPOCH_LINE.findall(done.stderr)]
    return summary, wall


def line(name: str, summary: dict, wall: float) -> str:
    accuracy = summary["test_accuracy"]
    shown = f"{100 * accuracy:6.2f}%" if accuracy is not None else "   n/a "
    return (f"{name:22s} {summary['status']:8s} test accuracy {shown}  training {summary['seconds']:6.1f} s  "
            f"{summary['samples_per_second']:7.0f} samples/s  {summary['steps']:5d} steps  "
            f"[process wall {wall:5.1f} s; after each epoch: "
            f"{', '.join(f'{a:.2f}% at {t:.1f} s' for _, a, t in summary['epochs_log'])}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="repeat the default run with seeds 0..N-1")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the CLI (default: the CLI's own default, os.cpu_count())")
    parser.add_argument("--no-classic", action="store_true", help="skip the classic preset run")
    args = parser.parse_args()
    print(f"Training speed benchmark · {machine()} (this process; the CLI sets its own --threads) · "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY') or 'unset'} (inherited by the CLI)")

    defaults = []
    for seed in range(args.seeds):
        summary, wall = run_cli("--seed", str(seed), threads=args.threads)
        defaults.append(summary)
        print(line(f"default seed {seed}", summary, wall), flush=True)
    if not args.no_classic:
        summary, wall = run_cli("--preset", "classic", "--epochs", "2", threads=args.threads)
        print(line("classic 2 epochs", summary, wall), flush=True)

    accuracy = min(s["test_accuracy"] if s["test_accuracy"] is not None else 0.0 for s in defaults)
    seconds = max(s["seconds"] for s in defaults)
    met = all(s["status"] == "done" for s in defaults) and accuracy >= GOAL_ACCURACY and seconds <= GOAL_SECONDS
    which = "default" if len(defaults) == 1 else f"default (worst of {len(defaults)} seeds)"
    if len(defaults) > 1:
        print(f"default over {len(defaults)} seeds: accuracy median {100 * statistics.median(s['test_accuracy'] for s in defaults):.2f}%"
              f", training seconds median {statistics.median(s['seconds'] for s in defaults):.1f} s")
    print(f"{which}: {100 * accuracy:.2f}% in {seconds:.1f} s -> goal (>={100 * GOAL_ACCURACY:.1f}% within "
          f"{GOAL_SECONDS:.0f} s) {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
