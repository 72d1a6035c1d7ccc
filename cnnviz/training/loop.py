"""The training loop: a generator that yields metrics and never draws, and the evaluations it runs."""
from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.data import Mnist
from cnnviz.errors import UserError
from cnnviz.model import ModelConfig, build_model, evaluation_batch
from cnnviz.training.config import TrainConfig, pick_device, validate_run
from cnnviz.training.cuda_graphs import step_forward

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
# The first steps carry warm-up and the page's load: an average over them overstates the time left several times.
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


def ema(values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """Exponential moving average, bias-corrected so the first values are not pulled towards 0."""
    out, average = [], 0.0
    for index, value in enumerate(values, start=1):
        average = (1 - alpha) * average + alpha * value
        out.append(average / (1 - (1 - alpha) ** index))
    return out


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
    # Channels-last memory puts the convolutions on oneDNN's fast kernels (bench/train_overhead.py measures the gain).
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
    forward = step_forward(model, images[: train_cfg.batch_size], labels[: train_cfg.batch_size], train_cfg)
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
# GPU, queueing work, as long as it never asks for a number: reading two numbers each step makes every step wait for
# the GPU. 32 steps of a small net are shorter than the Train page's refresh. On the CPU each operation finishes
# before the next begins, so every step is read at once.
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

