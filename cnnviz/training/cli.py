"""The command line: train a preset on MNIST, print its progress, save its checkpoint.

    python -m cnnviz.train --json            # the app's default config
    python -m cnnviz.train --preset classic --epochs 2 --save classic.pt
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from cnnviz.data import load_mnist
from cnnviz.errors import UserError
from cnnviz.model import DEFAULT_PRESET, NETWORK_PRESETS, build_model, preset
from cnnviz.training.checkpoints import save_checkpoint
from cnnviz.training.config import DEVICES, OPTIMIZERS, SCHEDULES, TrainConfig, preset_recipe, validate_run
from cnnviz.training.loop import iter_training

def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train from the command line; with --json the last stdout line is a JSON summary."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m cnnviz.train", description="Train a cnnviz CNN on MNIST.")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(NETWORK_PRESETS), help="model preset")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--optimizer", default=defaults.optimizer, choices=OPTIMIZERS)
    parser.add_argument("--schedule", default=defaults.schedule, choices=SCHEDULES)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--subset", type=int, default=defaults.subset, help="train on the first N images (0 = all)")
    parser.add_argument("--device", default=defaults.device, choices=DEVICES)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for torch")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="on CUDA, launch every kernel of a step one by one (the same arithmetic, slower)")
    parser.add_argument("--save", type=Path, help="write the checkpoint (.pt) and its config (.json) here")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    parser.add_argument("--dry-run", action="store_true", help="2 steps on 256 images: checks the pipeline in seconds")
    parser.add_argument("--recipe", action="store_true",
                        help="train as the preset's tutorial does (optimizer, lr, schedule, batch, epochs); flags "
                             "given explicitly still win")
    args = parser.parse_args(argv)
    if args.recipe:
        recipe = preset_recipe(args.preset)
        parser.set_defaults(**{name: getattr(recipe, name)
                               for name in ("optimizer", "lr", "schedule", "batch_size", "epochs")})
        args = parser.parse_args(argv)

    torch.set_num_threads(max(1, args.threads))
    model_cfg = preset(args.preset)
    train_cfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, batch_size=args.batch_size,
                            epochs=args.epochs, subset=args.subset, seed=args.seed, device=args.device, eval_every=0,
                            cuda_graphs=args.cuda_graphs)
    if args.dry_run:
        train_cfg = replace(train_cfg, subset=256, batch_size=128, epochs=1)
    try:
        validate_run(model_cfg, train_cfg)
    except UserError as error:
        parser.error(str(error))
    data = load_mnist()
    model = build_model(model_cfg, seed=train_cfg.seed)
    log = sys.stderr if args.json else sys.stdout
    last = None
    for record in iter_training(model_cfg, train_cfg, data, model=model):
        last = record
        if record.kind == "epoch":
            print(f"epoch {record.epoch:.0f}/{train_cfg.epochs}: test accuracy {record.test_accuracy:.2%}, "
                  f"test loss {record.test_loss:.4f}, {record.elapsed:.1f} s, {record.samples_per_second:.0f} samples/s",
                  file=log, flush=True)
        elif record.kind == "diverged":
            print(record.message, file=sys.stderr)
    summary = {
        "preset": args.preset,
        "status": last.kind if last else "empty",
        "test_accuracy": last.test_accuracy if last else None,
        "test_loss": last.test_loss if last else None,
        "seconds": round(last.elapsed, 3) if last else 0.0,
        "samples_per_second": round(last.samples_per_second or 0.0, 1) if last else 0.0,
        "epochs": train_cfg.epochs,
        "steps": last.step if last else 0,
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict(),
    }
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_bytes(save_checkpoint(model, model_cfg, train_cfg, metrics=summary))
        args.save.with_suffix(".json").write_text(json.dumps(
            {"model_config": model_cfg.to_dict(), "train_config": train_cfg.to_dict(), "metrics": summary}, indent=2))
        print(f"saved {args.save} and {args.save.with_suffix('.json')}", file=log)
    if args.json:
        print(json.dumps(summary))
    if last is not None and last.kind == "diverged":
        raise SystemExit(1)
    return summary


if __name__ == "__main__":
    main()
