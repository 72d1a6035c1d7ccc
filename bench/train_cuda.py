"""Training on a CUDA GPU as ratios: the default's training time with this code against its other modes, in one run.

Issue 10 asks that on CUDA the default not be held back by its input: that an H200 do far better than the 44,000
images/s it did. Both sides are fresh `python -m cnnviz.train --json --device cuda --seed S` processes on the same GPU,
in alternating order, seed by seed:
- this code as it runs by default: CUDA graphs, a fused optimizer, numbers read from the GPU every 32 steps;
- this code with --no-cuda-graphs (every kernel launched one by one);
- with --baseline DIR, the same command in another checkout (the code before any of this, say).

Each line shows the training seconds (evaluations excluded, as the app counts them), the images/s, the test accuracy
and the whole process's wall time (CUDA's start-up included). The summary gives min / median / max over the seeds, and
each side's training time divided by this code's, seed by seed. With --warm it also times steps 64-448 of an epoch
in this process, once CUDA has started, with and without CUDA graphs: the cost of a step itself. CUDA is not the
target machine (the CPU is): this runs only where a GPU is lent, and CI never runs it.

    python bench/train_cuda.py --seeds 3
    python bench/train_cuda.py --seeds 3 --baseline ../cnnviz-before --warm
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import ROOT, json_child, machine, spread


def train_once(root: Path, seed: int, epochs: int, extra: list[str]) -> dict:
    """One fresh training process in ``root``: its JSON summary plus its wall time."""
    command = [sys.executable, "-m", "cnnviz.train", "--json", "--device", "cuda", "--seed", str(seed),
               "--epochs", str(epochs), *extra]
    began = time.perf_counter()
    summary = json_child(command, cwd=root)
    return {**summary, "wall": time.perf_counter() - began}


def warm_steps(device: str, rounds: int) -> None:
    """Milliseconds per step over steps 64-448 of the default's epoch, in this process (CUDA already started), with
    and without CUDA graphs, alternating. Both ends are multiples of the 32 steps read at once, so they are exact."""
    from cnnviz.data import load_mnist
    from cnnviz.model import preset
    from cnnviz.training.config import TrainConfig
    from cnnviz.training.loop import iter_training

    data, model_cfg = load_mnist(), preset("default")
    per_step: dict[str, list[float]] = {"this code": [], "no CUDA graphs": []}
    for _ in range(rounds + 1):  # the first round starts CUDA and cuDNN: not counted
        for name, graphs in (("this code", True), ("no CUDA graphs", False)):
            train_cfg = TrainConfig(eval_every=0, device=device, cuda_graphs=graphs)
            steps = {r.step: r for r in iter_training(model_cfg, train_cfg, data) if r.kind == "step"}
            per_step[name].append(1000 * (steps[448].elapsed - steps[64].elapsed) / (448 - 64))
    for name, values in per_step.items():
        print(f"warm, steps 64-448, {name:>15}: {spread(values[1:], '.3f')} ms/step")
    print(f"{'':>15}  no CUDA graphs / this code: "
          f"{spread(a / b for a, b in zip(per_step['no CUDA graphs'][1:], per_step['this code'][1:]))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, each side once per seed")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (the default trains 1)")
    parser.add_argument("--baseline", type=Path, help="another checkout to time beside this one")
    parser.add_argument("--warm", type=int, default=0, metavar="ROUNDS",
                        help="also time a step itself, in this process, ROUNDS times each way")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: a check of the script itself
    args = parser.parse_args()

    import torch

    if args.device == "cpu":
        warm_steps("cpu", max(1, args.warm))
        return
    if not torch.cuda.is_available():
        raise SystemExit("No CUDA GPU here: this benchmark times training on one (CI and the CPU target never run it).")
    print(f"# {machine()} · {torch.cuda.get_device_name(0)}", flush=True)
    sides = {"this code": (ROOT, []), "no CUDA graphs": (ROOT, ["--no-cuda-graphs"])}
    if args.baseline:
        sides["baseline"] = (args.baseline.resolve(), [])
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for seed in range(args.seeds):
        names = list(sides) if seed % 2 == 0 else list(reversed(sides))  # alternate who goes first
        for name in names:
            root, extra = sides[name]
            result = train_once(root, seed, args.epochs, extra)
            results[name].append(result)
            print(f"seed {seed} {name:>15}: {result['seconds']:6.3f} s training, {result['samples_per_second']:9,.0f} "
                  f"images/s, {result['test_accuracy']:.2%} test accuracy, {result['wall']:5.1f} s wall", flush=True)
    print("\nmin / median / max over the seeds")
    ours = results["this code"]
    for name, runs in results.items():
        print(f"{name:>15}: accuracy {spread((r['test_accuracy'] * 100 for r in runs), '.2f')} %, "
              f"training {spread((r['seconds'] for r in runs), '.3f')} s, "
              f"images/s {spread((r['samples_per_second'] for r in runs), ',.0f')}, "
              f"wall {spread((r['wall'] for r in runs), '.1f')} s")
        if name != "this code":
            print(f"{'':>15}  its training time / this code's: "
                  f"{spread(theirs['seconds'] / mine['seconds'] for theirs, mine in zip(runs, ours))}")
    if args.warm:
        print()
        warm_steps("cuda", args.warm)


if __name__ == "__main__":
    main()
