"""How to train: the training config, its checks, the presets' recipes and the device choices."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from cnnviz.errors import UserError
from cnnviz.model import ModelConfig, check_batch

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "onecycle", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")

@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, batches, and the seed."""

    optimizer: str = "adamw"  # sgd (with momentum 0.9), adam, adamw or rmsprop (with Keras' constants)
    lr: float = 0.01  # peak learning rate (OneCycle warms up to it, then anneals)
    schedule: str = "onecycle"  # constant, onecycle or cosine
    batch_size: int = 128  # images per step
    epochs: int = 1  # passes over the training set: one takes the default net past 99% (bench/train_speed.py)
    subset: int = 0  # 0 = all 60000 training images; N = the first N, for quick demos
    seed: int = 0  # same seed and config give the same curve on CPU
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    eval_every: int = 100  # steps between quick evaluations on a fixed test slice; 0 = off
    eval_slice: int = 1000  # test images in that quick evaluation
    weight_decay: float = 0.0001  # L2 pull towards zero (decoupled for AdamW)
    cuda_graphs: bool = True  # on CUDA, replay each step's forward and backward as CUDA graphs (the same operations)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        cfg = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        cfg.validate()
        return cfg

    def total_steps(self, train_size: int) -> int:
        """Optimizer steps in the whole run on a training set of ``train_size`` images (``subset`` of them, if set)."""
        images = min(self.subset, train_size) if self.subset else train_size
        return math.ceil(images / self.batch_size) * self.epochs

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError("error.one_of", name="optimizer", options=OPTIMIZERS, value=self.optimizer)
        if self.schedule not in SCHEDULES:
            raise UserError("error.one_of", name="schedule", options=SCHEDULES, value=self.schedule)
        if self.device not in DEVICES:
            raise UserError("error.one_of", name="device", options=DEVICES, value=self.device)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UserError("error.train.lr", lr=self.lr)
        for name, low in (("batch_size", 1), ("epochs", 1), ("subset", 0), ("eval_every", 0), ("eval_slice", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UserError("error.int_at_least", name=name, minimum=low, value=value)
        if self.weight_decay < 0:
            raise UserError("error.train.weight_decay", weight_decay=self.weight_decay)
        if not isinstance(self.cuda_graphs, bool):
            raise UserError("error.one_of", name="cuda_graphs", options=(True, False), value=self.cuda_graphs)


def validate_run(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Raise UserError naming the first bad value of either config, or the cap (``cnnviz.model.LIMITS``) a run of
    them would exceed: the activation memory depends on both, the network and its batch size."""
    model_cfg.validate()
    train_cfg.validate()
    check_batch(model_cfg, train_cfg.batch_size)


# The tutorials' own training for the presets that come from one: what the Train page and ``--recipe`` start from.
# Momentum is fixed at 0.9 for SGD and weight decay stays at the default: TrainConfig has no other knob for them.
PRESET_RECIPES: dict[str, TrainConfig] = {
    # SGD lr 0.001, momentum 0.9, batch 64, 5 epochs: the tutorial reports 98.08%.
    "classic": TrainConfig(optimizer="sgd", lr=0.001, schedule="constant", batch_size=64, epochs=5),
    # compile(optimizer="rmsprop") at Keras' default lr 0.001, then fit(epochs=5, batch_size=64).
    "keras": TrainConfig(optimizer="rmsprop", lr=0.001, schedule="constant", batch_size=64, epochs=5),
    # SGD for 20 epochs (the tutorial reports 99.3%); the learning rate and batch are ours: lr 0.01, batch 64.
    "four_conv": TrainConfig(optimizer="sgd", lr=0.01, schedule="constant", batch_size=64, epochs=20),
}


def preset_recipe(name: str) -> TrainConfig:
    """The training a network preset comes with: its tutorial's, or the app's defaults for the app's own nets."""
    return PRESET_RECIPES.get(name, TrainConfig())


def available_devices() -> list[str]:
    """The device choices this machine can honour: auto and cpu always, cuda and mps only when present."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)

