"""Training speed as a ratio: the cnnviz default against the tutorial script, both timed on this machine in one run.

Goal (issue 10): `python -m cnnviz.train` with its defaults reaches >= 99.0% test accuracy in <= 0.12 T
(moonshot 0.08 T), worst of 3 seeds, where T is the time the tutorial's script takes to train on this machine.

T, the reference: the tutorial's SimpleCNN (conv 32 3x3 padding 1, ReLU, max-pool 2, conv 64 3x3 padding 1, ReLU,
max-pool 2, flatten 64x7x7, FC 64, ReLU, FC 10: 220,234 parameters, cnnviz's "classic" preset), SGD lr 0.001
momentum 0.9, batch 64, plain float32 NCHW tensors indexed in a shuffled order, torch's default threads. The tutorial
trains 5 epochs of 60,000 images and reports 98.08% test accuracy. Training it takes minutes, so a fresh process
times --steps steps (after --warmup) and T = seconds per step x 5 x 938 steps.
The default: a fresh `python -m cnnviz.train --json --seed S` process, whose training seconds (evaluations excluded,
as the app counts them) are divided by T. The anchor (--anchor): tuomaso/train_mnist_fast's recipe (whole data set as
one tensor, unshuffled, batch 256, conv 5x5 24 -> max-pool -> ReLU, conv 3x3 32 -> max-pool -> ReLU, FC 256, Adam lr
0.01 betas 0.7/0.9, OneCycle without momentum cycling, 1 epoch; it reports 99.04% mean), timed the same way.

The machine is shared and noisy: the sides alternate (T, default[, anchor], T, default, ..., T) and each run of the
default is divided by the mean of the T measured just before and just after it. Every line shows the cores other
processes kept busy meanwhile; a seed whose measurements saw more than --max-others is measured again (up to
--retries times) and its least disturbed attempt counts. Ratios are reported as min / median / max over the seeds.

    python bench/train_speed.py             # seed 0
    python bench/train_speed.py --seeds 3   # seeds 0, 1, 2: the goal is judged on the worst
    python bench/train_speed.py --seeds 3 --anchor
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from common import OthersLoad, json_child, machine, spread

GOAL_ACCURACY = 0.99  # fraction of the test set, worst seed
GOAL_RATIO = 0.12  # training seconds / T, worst seed
MOONSHOT_RATIO = 0.08
TUTORIAL_ACCURACY = 0.9808  # what the tutorial reports for its script after 5 epochs
TUTORIAL_EPOCHS, TUTORIAL_BATCH = 5, 64
TUTORIAL_STEPS = TUTORIAL_EPOCHS * math.ceil(60000 / TUTORIAL_BATCH)  # 4690


def tutorial_seconds_per_step(steps: int, warmup: int, seed: int) -> float:
    """The tutorial's training step, timed over ``steps`` steps after ``warmup``."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from cnnviz.data import load_mnist

    torch.manual_seed(seed)
    data = load_mnist()
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    order = torch.randperm(len(data.train_images))
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        index = order[(step * TUTORIAL_BATCH) % 59968:][:TUTORIAL_BATCH]
        loss = F.cross_entropy(model(data.train_images[index]), data.train_labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps


def anchor_run(seed: int) -> dict:
    """tuomaso/train_mnist_fast's final recipe, one epoch: training seconds and test accuracy."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from cnnviz.data import load_mnist
    from cnnviz.training.loop import evaluate

    torch.manual_seed(seed)
    data = load_mnist()
    model = nn.Sequential(
        nn.Conv2d(1, 24, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 256), nn.ReLU(), nn.Linear(256, 10),
    )
    batch = 256
    steps = math.ceil(len(data.train_images) / batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps, cycle_momentum=False)
    started = time.perf_counter()
    for step in range(steps):
        x = data.train_images[step * batch:(step + 1) * batch]
        y = data.train_labels[step * batch:(step + 1) * batch]
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "test_accuracy": evaluate(model, data.test_images, data.test_labels).accuracy}


def child(command: list[str]) -> tuple[dict, float | None]:
    """Run a fresh process, return its last stdout line as JSON and the cores others kept busy meanwhile."""
    with OthersLoad() as load:
        summary = json_child(command)
    return summary, load.cores


def measure_t(args, seed: int) -> tuple[float, float | None]:
    result, others = child([sys.executable, __file__, "--child", "tutorial", "--seed", str(seed),
                            "--steps", str(args.steps), "--warmup", str(args.warmup)])
    return result["seconds_per_step"] * TUTORIAL_STEPS, others


def measure_default(seed: int) -> tuple[dict, float | None]:
    return child([sys.executable, "-m", "cnnviz.train", "--json", "--seed", str(seed)])


def measure_anchor(seed: int) -> tuple[dict, float | None]:
    return child([sys.executable, __file__, "--child", "anchor", "--seed", str(seed)])


def load_note(others: float | None) -> str:
    return "" if others is None else f"  [other processes {others:.2f} cores]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 of the default (and the anchor)")
    parser.add_argument("--steps", type=int, default=300, help="tutorial steps timed per measurement of T")
    parser.add_argument("--warmup", type=int, default=20, help="tutorial steps before the timing starts")
    parser.add_argument("--anchor", action="store_true", help="also time tuomaso/train_mnist_fast's recipe")
    parser.add_argument("--max-others", type=float, default=0.3,
                        help="remeasure a pair when other processes kept more cores than this busy")
    parser.add_argument("--retries", type=int, default=2, help="remeasurements allowed per pair")
    parser.add_argument("--child", choices=("tutorial", "anchor"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "tutorial":
        print(json.dumps({"seconds_per_step": tutorial_seconds_per_step(args.steps, args.warmup, args.seed)}))
        return
    if args.child == "anchor":
        print(json.dumps(anchor_run(args.seed)))
        return

    print(f"Training speed benchmark · {machine()}")
    print(f"T = tutorial SimpleCNN (padding 1, 220,234 parameters), SGD lr 0.001 momentum 0.9, batch 64, float32 NCHW, "
          f"shuffled: {args.steps} steps timed, scaled to {TUTORIAL_STEPS} steps (5 epochs); the tutorial reports "
          f"{TUTORIAL_ACCURACY:.2%}")
    t_before, others_before = measure_t(args, 0)
    print(f"T {t_before:6.1f} s{load_note(others_before)}", flush=True)
    rows = []  # per seed, its least disturbed attempt: (summary, anchor, T beside it, others' cores)
    for seed in range(args.seeds):
        attempts = []
        for attempt in range(args.retries + 1):
            summary, others_default = measure_default(seed)
            anchor, others_anchor = measure_anchor(seed) if args.anchor else (None, None)
            t_after, others_after = measure_t(args, seed + 1)
            t = (t_before + t_after) / 2
            loads = [x for x in (others_before, others_default, others_anchor, others_after) if x is not None]
            load = max(loads) if loads else 0.0
            accuracy = summary["test_accuracy"] or 0.0
            print(f"seed {seed}: default {summary['status']} {accuracy:.2%} in {summary['seconds']:5.1f} s "
                  f"({summary['samples_per_second']:.0f} images/s) = {summary['seconds'] / t:.3f} T"
                  f"{load_note(others_default)}", flush=True)
            if anchor is not None:
                print(f"        anchor {anchor['test_accuracy']:.2%} in {anchor['seconds']:5.1f} s = "
                      f"{anchor['seconds'] / t:.3f} T{load_note(others_anchor)}", flush=True)
            again = load > args.max_others and attempt < args.retries
            print(f"T {t_after:6.1f} s{load_note(others_after)}"
                  + ("  -> disturbed by other processes, measuring again" if again else ""), flush=True)
            attempts.append((summary, anchor, t, load))
            t_before, others_before = t_after, others_after
            if not again:
                break
        rows.append(min(attempts, key=lambda row: row[3]))

    accuracies = [s["test_accuracy"] or 0.0 for s, _, _, _ in rows]
    ratios = [s["seconds"] / t for s, _, t, _ in rows]
    print(f"\nper seed, its least disturbed attempt (other processes at most "
          f"{spread((load for _, _, _, load in rows), '.2f')} cores):")
    print(f"T: {spread((t for _, _, t, _ in rows), '.1f')} s (min / median / max)")
    print(f"default: accuracy {spread((100 * a for a in accuracies), '.2f')} %, training seconds "
          f"{spread((s['seconds'] for s, _, _, _ in rows), '.1f')}, ratio to T {spread(ratios)}")
    if args.anchor:
        print(f"anchor:  accuracy {spread((100 * a['test_accuracy'] for _, a, _, _ in rows), '.2f')} %, "
              f"training seconds {spread((a['seconds'] for _, a, _, _ in rows), '.1f')}, "
              f"ratio to T {spread(a['seconds'] / t for _, a, t, _ in rows)}")
    met = all(s["status"] == "done" for s, _, _, _ in rows) and min(accuracies) >= GOAL_ACCURACY
    print(f"worst seed: {100 * min(accuracies):.2f}%, {max(ratios):.3f} T -> goal (>= {GOAL_ACCURACY:.1%} within "
          f"{GOAL_RATIO} T) {'met' if met and max(ratios) <= GOAL_RATIO else 'NOT met'}; moonshot ({MOONSHOT_RATIO} T) "
          f"{'met' if met and max(ratios) <= MOONSHOT_RATIO else 'not met'}")


if __name__ == "__main__":
    main()
