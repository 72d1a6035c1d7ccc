"""A training step's forward and backward, replayed as CUDA graphs on CUDA."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.training.config import TrainConfig

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


def step_forward(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig):
    """``(images, labels) -> (loss, accuracy)`` for the training steps. On CUDA (with ``cfg.cuda_graphs``) a full batch
    replays a CUDA graph of it, and its backward replays another.

    A small net's CUDA step is bound by the CPU launching some fifty kernels one by one, not by the GPU running them
    (bench/train_cuda.py). A graph launches the forward's kernels at once, and the backward's. The operations are the
    same, though cuDNN may choose other algorithms while capturing, so losses agree with eager ones only to a
    tolerance (tests/test_train_cuda.py). A batch of another size (the last of an epoch) runs eagerly, and the model is
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

