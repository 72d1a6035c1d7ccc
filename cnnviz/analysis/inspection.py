"""What a network does with one digit: activations, filters and prediction, for any nn.Module.

The layer table is ``cnnviz.analysis.layer_table``.

These functions read a model and leave it as it was. Forward hooks live only inside a ``with``
block (``ActivationRecorder`` removes them in ``__exit__``, as pytorch-grad-cam does). The model
runs in eval mode, and then each module gets its own mode back. Every tensor leaves torch
through ``to_numpy``, so a model on a GPU works too.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn


ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
                    nn.Tanh, nn.Sigmoid, nn.Hardswish)
POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)
SPATIAL_TYPES = (nn.Conv2d, nn.BatchNorm2d, *ACTIVATION_TYPES, *POOL_TYPES)
_KINDS = ((nn.Conv2d, "conv"), (nn.BatchNorm2d, "bn"), (ACTIVATION_TYPES, "act"), (POOL_TYPES, "pool"),
          (nn.Linear, "fc"), (nn.Flatten, "flatten"), (nn.Dropout, "dropout"))


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Activation:
    """One layer's output for one image."""

    name: str  # qualified module name, e.g. "features.0"
    kind: str  # "conv", "bn", "act", "pool" or "other"
    values: np.ndarray  # (C, H, W) float32, the first image of the batch
    layer: str  # display label, numbered per kind in model order: "conv1", "bn1", "act1", "pool1"


@dataclass(frozen=True, eq=False)
class Prediction:
    """What the network says about one image."""

    logits: np.ndarray  # (classes,) float32, the raw scores
    probabilities: np.ndarray  # (classes,) float32, softmax of the logits
    top: int  # the predicted class

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.top])


@dataclass(frozen=True, eq=False)
class FilterBank:
    """One Conv2d's learned kernels."""

    name: str  # qualified module name
    layer: str  # display label: "conv1", "conv2", ...
    weights: np.ndarray  # (out, in / groups, kh, kw) float32 copy
    bias: np.ndarray | None  # (out,) float32 copy; None for a conv without bias


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float32 numpy copy: detached, and moved to the CPU first, since a CUDA tensor has no numpy view.

    The copy matters: an in-place ReLU or an optimizer step would otherwise rewrite the array.
    """
    return np.array(tensor.detach().cpu().float().numpy(), dtype=np.float32, copy=True)


def layer_kind(module: nn.Module) -> str:
    """The module's kind: "conv", "bn", "act", "pool", "fc", "flatten", "dropout" or "other"."""
    return next((kind for types, kind in _KINDS if isinstance(module, types)), "other")


def leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The modules without children, with their qualified names, in registration order."""
    return ((name, m) for name, m in model.named_modules() if next(m.children(), None) is None)


def layer_labels(model: nn.Module) -> dict[str, str]:
    """Display labels of the leaf modules by qualified name, numbered per kind in model order: conv1, act1, ..."""
    counts: dict[str, int] = {}
    labels = {}
    for name, module in leaves(model):
        kind = layer_kind(module)
        counts[kind] = counts.get(kind, 0) + 1
        labels[name] = f"{kind}{counts[kind]}"
    return labels


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (running BatchNorm statistics, no dropout), then restore each module's own mode."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live; the CPU for a model without any."""
    tensor = next(model.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def check_model(model: nn.Module) -> None:
    """Raise ValueError unless ``model`` is an nn.Module."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")


def check_image(model: nn.Module, x: torch.Tensor) -> None:
    """Raise ValueError unless ``model`` is a module and ``x`` one image as a (1, C, H, W) float tensor."""
    check_model(model)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected one image as a (1, C, H, W) float tensor, got {shape}")


class ActivationRecorder:
    """Record the 4-D output of every leaf module of ``layer_types`` during the ``with`` block.

        with ActivationRecorder(model) as rec:
            logits = model(x)
        rec.activations  # in the order the modules ran; each forward pass appends its own

    Layers whose output is not 4-D (the classifier's ReLU) are skipped. The hooks are removed in
    ``__exit__``, also when the block raises.
    """

    def __init__(self, model: nn.Module, layer_types: tuple[type, ...] = SPATIAL_TYPES):
        check_model(model)
        if not (isinstance(layer_types, tuple) and layer_types and all(isinstance(t, type) for t in layer_types)):
            raise ValueError(f"layer_types must be a non-empty tuple of module classes, got {layer_types!r}")
        self.model = model
        self.layer_types = layer_types
        self.activations: list[Activation] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> ActivationRecorder:
        labels = layer_labels(self.model)
        try:
            for name, module in leaves(self.model):
                if isinstance(module, self.layer_types):
                    self._handles.append(module.register_forward_hook(self._hook(name, module, labels[name])))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str, module: nn.Module, label: str):
        kind = layer_kind(module)

        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                self.activations.append(Activation(name, kind, to_numpy(output[0]), label))  # (C, H, W)
        return record


def capture_activations(model: nn.Module, x: torch.Tensor) -> list[Activation]:
    """Every conv, BatchNorm, activation and pooling output of ``model`` for one image ``x`` (1, C, H, W)."""
    check_image(model, x)
    with eval_mode(model), torch.no_grad(), ActivationRecorder(model) as recorder:
        model(x.to(model_device(model)))
    return recorder.activations


def predict(model: nn.Module, tensor: torch.Tensor) -> Prediction:
    """Logits, softmax probabilities and the top class for one normalised image (1, C, H, W)."""
    check_image(model, tensor)
    with eval_mode(model), torch.no_grad():
        logits = model(tensor.to(model_device(model)))  # (1, classes)
    if logits.dim() != 2 or logits.shape[0] != 1:
        raise ValueError(f"the model must return (1, classes) logits, got shape={tuple(logits.shape)}")
    probabilities = to_numpy(logits[0].double().softmax(dim=0))  # float64 so the ten sum to 1 within float32
    return Prediction(to_numpy(logits[0]), probabilities, int(probabilities.argmax()))


def conv_filters(model: nn.Module) -> list[FilterBank]:
    """Every Conv2d's weights (out, in / groups, kh, kw) and bias, in model order."""
    check_model(model)
    labels = layer_labels(model)
    return [
        FilterBank(name, labels[name], to_numpy(m.weight), None if m.bias is None else to_numpy(m.bias))
        for name, m in leaves(model) if isinstance(m, nn.Conv2d)
    ]


def page_count(n_channels: int, per_page: int) -> int:
    """How many pages of ``per_page`` channels it takes to show ``n_channels``."""
    _check_count("n_channels", n_channels)
    _check_count("per_page", per_page)
    return math.ceil(n_channels / per_page)


def page_channels(n_channels: int, page: int, per_page: int) -> range:
    """The channel indices on ``page`` (counted from 0); the last page may be shorter."""
    pages = page_count(n_channels, per_page)
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < pages:
        raise ValueError(f"page must be an int in [0, {pages - 1}] for {n_channels} channels "
                         f"at {per_page} per page, got page={page!r}")
    return range(page * per_page, min(n_channels, (page + 1) * per_page))


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int of at least 1, got {name}={value!r}")
