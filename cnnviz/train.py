"""Training: a generator that yields metrics and never draws, plus checkpoints and the CLI.

    python -m cnnviz.train --json            # the app's default config
    python -m cnnviz.train --preset classic --epochs 2 --save classic.pt
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import threading
import time
import zipfile
from bisect import bisect_left
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.data import Mnist, load_mnist
from cnnviz.errors import Join, Text, UserError
from cnnviz.model import (DEFAULT_PRESET, LIMITS, NETWORK_PRESETS, ModelConfig, build_model, check_batch,
                          evaluation_batch, preset)

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "onecycle", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
CHECKPOINT_FORMAT = "cnnviz-checkpoint-v1"
CHECKPOINT_KEYS = ("format", "state_dict", "model_config", "train_config", "metrics")  # what save_checkpoint writes


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, batches, and the seed."""

    optimizer: str = "adamw"  # sgd (with momentum 0.9), adam, adamw or rmsprop (with Keras' constants)
    lr: float = 0.01  # peak learning rate (OneCycle warms up to it, then anneals)
    schedule: str = "onecycle"  # constant, onecycle or cosine
    batch_size: int = 128  # images per step
    epochs: int = 1  # passes over the training set: the default net reaches about 99.1% in 1 (bench/train_speed.py)
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


@dataclass(frozen=True)
class Metrics:
    """One record from the training loop."""

    kind: str  # "step", "eval" (test slice), "epoch" (full test set), "done" or "diverged"
    step: int  # optimizer steps so far
    total_steps: int  # steps the whole run will take
    epoch: float  # fractional epochs so far
    loss: float | None = None  # training loss of this step's batch
    accuracy: float | None = None  # training accuracy of this step's batch
    lr: float | None = None  # learning rate used for this step
    samples_per_second: float | None = None  # training throughput so far (evaluations excluded)
    elapsed: float = 0.0  # training seconds so far (evaluations excluded)
    eta_seconds: float | None = None  # estimated training seconds left
    test_loss: float | None = None  # on the test slice ("eval") or full test set ("epoch")
    test_accuracy: float | None = None  # likewise, in [0, 1]
    message: str = ""  # why a run diverged, in English
    error: UserError | None = None  # the same, for the UI to show in the reader's language
    # On the "done" record only: the full test-set result behind its test numbers (predictions and probabilities), the
    # run's one final evaluation (``final_evaluation``). The job keeps it apart from the records it stores.
    evaluation: EvalResult | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "evaluation"}


ETA_SETTLE_STEPS = 30  # no ETA before this many steps (or the whole run, if shorter): too few to time
# The first steps carry warm-up and the page's load: an average over them read 213 s for a run that took 61 s.
# An ETA shows only once the projected length of the run agrees within this fraction with the one projected
# at half the steps so far.
ETA_TOLERANCE = 0.2


def _projected_length(steps: Sequence[Metrics], index: int) -> float | None:
    """Training seconds the whole run will take, as seen at ``steps[index]``: the time spent, plus the steps left at
    the pace of the second half of the steps so far (the first half holds the warm-up). None with no such pace yet."""
    now = steps[index]
    since = steps[bisect_left(steps, now.step / 2, hi=index, key=lambda m: m.step)]
    if since.step >= now.step:
        return None
    per_step = (now.elapsed - since.elapsed) / (now.step - since.step)
    return now.elapsed + per_step * (now.total_steps - now.step)


def settled_eta(steps: Sequence[Metrics], *, tolerance: float = ETA_TOLERANCE,
                after_steps: int = ETA_SETTLE_STEPS) -> float | None:
    """Training seconds left after the last of ``steps`` (a run's "step" records, in order), or None until that
    estimate is stable: at least ``after_steps`` steps ran, and the run's projected length agrees within
    ``tolerance`` with the one projected at half the steps so far."""
    if not steps:
        return None
    latest = steps[-1]
    if latest.step >= latest.total_steps:
        return 0.0
    if latest.step < min(after_steps, latest.total_steps):
        return None
    length = _projected_length(steps, len(steps) - 1)
    earlier = _projected_length(steps, bisect_left(steps, latest.step / 2, key=lambda m: m.step))
    if length is None or earlier is None or abs(length - earlier) > tolerance * length:
        return None
    return length - latest.elapsed


@dataclass(frozen=True)
class EvalResult:
    loss: float  # mean cross-entropy
    accuracy: float  # fraction correct, [0, 1]
    predictions: np.ndarray  # (N,) predicted class
    probabilities: np.ndarray  # (N, classes) softmax


class CheckpointError(UserError):
    """A file that is not a usable cnnviz checkpoint; the message says why (a ValueError)."""


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


def _optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # On CUDA one fused kernel updates every parameter: the multi-tensor default launches a dozen kernels per step, and
    # launching them, not running them, is what a small net's step waits on there.
    fused = {"fused": True} if device.type == "cuda" else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, **fused)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
    if cfg.optimizer == "rmsprop":
        # Keras' RMSprop (rho 0.9, epsilon 1e-7), not torch's defaults (0.99, 1e-8): the Keras guide's recipe uses it.
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.9, eps=1e-7, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return None


def on_device(device: torch.device, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors on ``device``, each moved once (on the CPU they are returned as they are, not copied).

    Training puts the whole data set beside the model this way: on a GPU a batch is then an index into device memory,
    not a copy from host memory each step, so the GPU is never left waiting for its input.
    """
    return tuple(tensor.to(device) for tensor in tensors)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> EvalResult:
    """Loss, accuracy, predictions and probabilities of ``model`` on a labelled set."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, probabilities = 0.0, []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)  # (B, 1, 28, 28)
        y = labels[start:start + batch_size].to(device)  # (B,)
        logits = model(x)  # (B, classes)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        probabilities.append(logits.softmax(dim=1).cpu())
    model.train(was_training)
    probs = torch.cat(probabilities).cpu().numpy()  # (N, classes); each batch was already moved
    predictions = probs.argmax(axis=1)
    accuracy = float((predictions == labels.cpu().numpy()).mean())
    return EvalResult(total_loss / len(images), accuracy, predictions, probs)


def final_evaluation(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                     batch_size: int = 1000) -> EvalResult:
    """A run's one result: its final weights on the whole test set, as whoever loads its checkpoint will see them.

    Training keeps the model channels-last for speed; a checkpoint loads in PyTorch's default layout, and the two
    layouts round differently: a borderline digit could then read one way on the page and the other in the download.
    The model is put back in the default layout first (in place: training is over).
    """
    model.to(memory_format=torch.contiguous_format)
    return evaluate(model, images, labels, batch_size=batch_size)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Counts[true, predicted], int64 (num_classes, num_classes)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must have the same shape")
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def iter_training(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data: Mnist,
    *,
    stop: threading.Event | None = None,
    model: nn.Module | None = None,
) -> Iterator[Metrics]:
    """Train, yielding a ``Metrics`` record per step, per quick evaluation, per epoch, and at the end.

    Evaluation time is excluded from ``elapsed`` and ``samples_per_second``: they measure training.
    A NaN or infinite loss ends the run with a "diverged" record. Setting ``stop`` ends it after the
    current step. Pass ``model`` (built from ``model_cfg``) to keep a reference for live inspection.
    The last epoch's evaluation is the run's ``final_evaluation``; the "done" record carries it whole.
    """
    validate_run(model_cfg, train_cfg)
    torch.manual_seed(train_cfg.seed)
    device = pick_device(train_cfg.device)
    if model is None:
        model = build_model(model_cfg, seed=train_cfg.seed)
    # Channels-last memory puts the convolutions on oneDNN's fast kernels: about 1.3x the images/s on a 2-core CPU.
    model.to(device, memory_format=torch.channels_last).train()
    images, labels = data.train_images, data.train_labels
    if train_cfg.subset:
        images, labels = images[: train_cfg.subset], labels[: train_cfg.subset]
    images, labels, test_images, test_labels = on_device(device, images, labels, data.test_images, data.test_labels)
    n = len(images)
    steps_per_epoch = math.ceil(n / train_cfg.batch_size)
    total_steps = train_cfg.total_steps(len(data.train_images))
    optimizer = _optimizer(model, train_cfg, device)
    scheduler = _scheduler(optimizer, train_cfg, total_steps)
    shuffle = torch.Generator().manual_seed(train_cfg.seed)
    slice_images, slice_labels = test_images[: train_cfg.eval_slice], test_labels[: train_cfg.eval_slice]
    eval_batch = evaluation_batch(model_cfg)

    began = time.perf_counter()
    forward = _step_forward(model, images[: train_cfg.batch_size], labels[: train_cfg.batch_size], train_cfg)
    setup = time.perf_counter() - began  # capturing CUDA graphs is training time too: the first step pays it
    sync_every = SYNC_EVERY.get(device.type, 1)
    step, seen, elapsed, pending, read_at = 0, 0, setup, [], 0.0  # read_at: elapsed when steps were last read
    for epoch in range(train_cfg.epochs):
        order = torch.randperm(n, generator=shuffle).to(device)  # drawn on the CPU: the same order on every device
        for start in range(0, n, train_cfg.batch_size):
            if stop is not None and stop.is_set():
                yield from _step_records(pending, _read(pending), read_at, elapsed, steps_per_epoch, total_steps)
                return
            began = time.perf_counter()
            index = order[start:start + train_cfg.batch_size]
            x, y = images[index], labels[index]  # (B, 1, 28, 28), (B,): a gather on the model's device, no copy
            x = x.contiguous(memory_format=torch.channels_last)
            lr = optimizer.param_groups[0]["lr"]
            loss, accuracy = forward(x, y)  # scalars: the batch's mean cross-entropy, the fraction it got right
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            seen += len(y)
            # Loss and accuracy stay on the device until a batch of steps is read at once: on CUDA reading them
            # every step would make the CPU wait for the GPU each time (SYNC_EVERY).
            # A new tensor, not the outputs themselves: a CUDA graph's outputs are overwritten by its next replay.
            pending.append(_Pending(step, seen, lr, torch.stack((loss.detach(), accuracy))))
            elapsed += time.perf_counter() - began
            ends_epoch = step % steps_per_epoch == 0
            evaluates = bool(train_cfg.eval_every) and step % train_cfg.eval_every == 0 and not ends_epoch
            if len(pending) < sync_every and not evaluates and not ends_epoch:
                continue
            began = time.perf_counter()
            values = _read(pending)
            elapsed += time.perf_counter() - began
            for record in _step_records(pending, values, read_at, elapsed, steps_per_epoch, total_steps):
                yield record
                if record.kind == "diverged":
                    return
            read_at = elapsed
            if evaluates:
                result = evaluate(model, slice_images, slice_labels, batch_size=eval_batch)
                model.train()
                yield Metrics("eval", step=step, total_steps=total_steps, epoch=step / steps_per_epoch,
                              elapsed=elapsed, samples_per_second=seen / elapsed,
                              eta_seconds=_eta(step, total_steps, elapsed), test_loss=result.loss,
                              test_accuracy=result.accuracy)
        last_epoch = epoch == train_cfg.epochs - 1
        result = (final_evaluation if last_epoch else evaluate)(model, test_images, test_labels, batch_size=eval_batch)
        yield Metrics("epoch", step=step, total_steps=total_steps, epoch=float(epoch + 1), elapsed=elapsed,
                      samples_per_second=seen / elapsed if elapsed else None,
                      eta_seconds=_eta(step, total_steps, elapsed), test_loss=result.loss,
                      test_accuracy=result.accuracy)
    yield Metrics("done", step=step, total_steps=total_steps, epoch=float(train_cfg.epochs), elapsed=elapsed,
                  samples_per_second=seen / elapsed if elapsed else None, eta_seconds=0.0,
                  test_loss=result.loss, test_accuracy=result.accuracy, evaluation=result)


# Steps whose loss and accuracy are read from the device at once, per device type. On CUDA the CPU runs ahead of the
# GPU, queueing work, as long as it never asks for a number: reading two numbers each step made the default's step
# wait on the GPU, 2.43 ms against 2.14 on an H200 (a one-off profile, 2026-11-26). 32 steps are 30-70 ms of training
# there, shorter than the Train page's refresh. On the CPU each operation finishes before the next begins, so every
# step is read at once.
SYNC_EVERY = {"cuda": 32, "mps": 32}


@dataclass(frozen=True)
class _Pending:
    """A step whose loss and accuracy are still tensors on the device."""

    step: int  # optimizer steps so far, this one included
    seen: int  # training images so far, this step's included
    lr: float  # the learning rate this step used
    numbers: torch.Tensor  # (2,) the batch's loss and its accuracy (a fraction), on the model's device


def _eta(step: int, total_steps: int, elapsed: float) -> float:
    return (total_steps - step) * elapsed / step


def _read(pending: list[_Pending]) -> list[float]:
    """The pending steps' numbers as floats (loss, accuracy, loss, ...): one wait for the device, for all of them."""
    return torch.cat([p.numbers for p in pending]).tolist() if pending else []


def _step_records(pending: list[_Pending], values: list[float], since: float, elapsed: float, steps_per_epoch: int,
                  total_steps: int) -> Iterator[Metrics]:
    """The "step" records of ``pending`` (emptied), with their ``_read`` values.

    Their training time was measured together, from ``since`` to ``elapsed``, so it is spread evenly over the steps.
    A non-finite loss ends the records with a "diverged" one.
    """
    batch, pending[:] = list(pending), []
    for i, item in enumerate(batch):
        loss_value, accuracy = values[2 * i], values[2 * i + 1]
        at = since + (elapsed - since) * (i + 1) / len(batch)
        common = dict(step=item.step, total_steps=total_steps, epoch=item.step / steps_per_epoch)
        if not math.isfinite(loss_value):
            error = UserError("error.train.diverged", loss=loss_value, step=item.step, lr=item.lr, lower=item.lr / 10)
            yield Metrics("diverged", **common, loss=loss_value, lr=item.lr, elapsed=at, message=str(error),
                          error=error)
            return
        yield Metrics("step", **common, loss=loss_value, accuracy=accuracy, lr=item.lr,
                      samples_per_second=item.seen / at if at > 0 else None, elapsed=at,
                      eta_seconds=_eta(item.step, total_steps, at))


class _LossAndAccuracy(nn.Module):
    """A training step's forward: the model's loss on a batch and the fraction it got right, one module to capture."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(images)  # (B, classes)
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()


def _capture_example(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch for ``make_graphed_callables`` to capture on, in memory of its own. The graph keeps its example as its
    static input and copies every later batch into it: an example that is a view of the data set (``images[:128]``,
    even after ``.contiguous(channels_last)``, a no-op for one channel) had each batch written over the data set's
    first images and labels, and the run trained on other data than the eager one from its second step."""
    return images.clone(memory_format=torch.channels_last), labels.clone()


def _step_forward(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig):
    """``(images, labels) -> (loss, accuracy)`` for the training steps. On CUDA (with ``cfg.cuda_graphs``) a full batch
    replays a CUDA graph of it, and its backward replays another.

    A small net's CUDA step is bound by the CPU launching some fifty kernels one by one, not by the GPU running them:
    the default net's step took 2.4 ms of CPU time on an H200, of which the GPU was busy 0.4 ms. A graph launches the
    forward's kernels at once, and the backward's. The operations are the same, though cuDNN may choose other
    algorithms while capturing: with SGD the losses of 24 steps agreed with eager ones to 1.4e-4 on an H200
    (tests/test_train_cuda.py). A batch of another size (the last of an epoch) runs eagerly, and the model itself is
    left as it was, for evaluation and inspection.
    """
    step = _LossAndAccuracy(model)
    if images.device.type != "cuda" or not cfg.cuda_graphs or len(images) < cfg.batch_size:
        return step
    # Capturing runs a few warm-up steps on the example; BatchNorm would count them in its running statistics.
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    # A second wrapper to capture: make_graphed_callables replaces the forward of the module it is given, and ``step``
    # must stay eager for batches of another size.
    graphed = torch.cuda.make_graphed_callables(_LossAndAccuracy(model), _capture_example(images, labels))
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            buffer.copy_(buffers[name])
    return lambda x, y: graphed(x, y) if len(x) == len(images) else step(x, y)


# --- checkpoints ------------------------------------------------------------------------------

def save_checkpoint(model: nn.Module, model_cfg: ModelConfig, train_cfg: TrainConfig | None = None, *,
                    metrics: dict[str, Any] | None = None) -> bytes:
    """The state_dict plus both configs and final metrics, as the bytes of a ``.pt`` file."""
    buffer = io.BytesIO()
    torch.save({
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict() if train_cfg else None,
        "metrics": metrics or {},
    }, buffer)
    return buffer.getvalue()


def load_checkpoint(data: bytes) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Rebuild a model from ``save_checkpoint`` bytes, safely (weights only, on the CPU).

    Nothing is unpacked before the archive's uncompressed sizes pass the caps (``cnnviz.model.LIMITS``), and
    nothing is built before the config does.

    Returns:
        (model in eval mode, its ModelConfig, the whole checkpoint dict without the state_dict).

    Raises:
        CheckpointError: not a torch file, not a cnnviz checkpoint, over a cap, or weights that do not fit the config.
    """
    _check_archive(data)
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:  # torch raises many types for foreign bytes
        raise CheckpointError("error.checkpoint.not_torch", kind=type(error).__name__) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("error.checkpoint.no_marker")
    unknown = sorted(str(key)[:40] for key in payload if key not in CHECKPOINT_KEYS)
    info = {k: v for k, v in payload.items() if k != "state_dict"}
    if unknown or not _plain_settings(info):
        raise CheckpointError("error.checkpoint.unknown_keys", names=", ".join(unknown[:4]) or "metrics")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError("error.checkpoint.bad_config", reason=error if isinstance(error, UserError) else str(error)) from None
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError("error.checkpoint.no_weights")
    with torch.device("meta"):  # the expected names and shapes, before any weight is allocated
        expected = build_model(cfg).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(str(k)[:40] for k in set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state)
                   if not isinstance(state[k], torch.Tensor) or tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = [Text(f"error.checkpoint.{kind}", names=", ".join(names[:4]))
                 for kind, names in (("missing", missing), ("unexpected", unexpected), ("wrong_shape", wrong)) if names]
        raise CheckpointError("error.checkpoint.weights_mismatch", parts=Join(parts))
    model = build_model(cfg)
    model.load_state_dict(state)
    model.eval()
    return model, cfg, info


def _check_archive(data: bytes) -> None:
    """Refuse bytes that are not a zip archive (what ``torch.save`` writes), or whose entries would unpack to more
    than the caps: the sizes come from the archive's directory, before anything is decompressed."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise CheckpointError("error.checkpoint.not_torch", kind=type(error).__name__) from None
    total = sum(entry.file_size for entry in entries)
    if total > LIMITS.max_checkpoint_bytes:
        raise CheckpointError("error.checkpoint.too_large", megabytes=total / 2**20,
                              maximum=LIMITS.max_checkpoint_bytes / 2**20)
    pickled = sum(entry.file_size for entry in entries if entry.filename.endswith(".pkl"))
    if pickled > LIMITS.max_checkpoint_pickle_bytes:
        raise CheckpointError("error.checkpoint.settings_too_large", kilobytes=pickled / 2**10,
                              maximum=LIMITS.max_checkpoint_pickle_bytes / 2**10)


def _plain_settings(value: Any, most_depth: int = 32) -> bool:
    """Whether a checkpoint's settings are plain values, nested at most ``most_depth`` deep, with no tensor (only its
    state_dict may hold any). A loop, not recursion: a 1 MB pickle can nest lists a hundred thousand deep."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, torch.Tensor) or depth > most_depth:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return True


# --- command line ----------------------------------------------------------------------------

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
