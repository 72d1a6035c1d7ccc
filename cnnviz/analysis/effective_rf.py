"""Effective receptive fields (Luo et al., NeurIPS 2016): which pixels of a unit's field actually drive it.

The theoretical field (``receptive_field.input_box``) is every input pixel a unit can see. The gradient of the
unit with respect to the input says how much each of them moves it: in practice the mass gathers near the
centre, in a region much smaller than the box, because a central pixel reaches the unit along many more paths
than a pixel at the edge. This module builds a stack of layers as a torch model, takes that gradient for one
unit, and measures the smallest part of the box that holds most (by default 90%) of its mass.

    >>> from cnnviz.conv.geometry import Layer
    >>> model, outputs = build_stack([Layer(3, padding=1), Layer(2, 2, kind="max")], channels=4)
    >>> [type(m).__name__ for m in model], [type(m).__name__ for m in outputs]
    (['Conv2d', 'ReLU', 'MaxPool2d'], ['Conv2d', 'MaxPool2d'])
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.analysis.receptive_field import Box
from cnnviz.conv.geometry import Layer, is_int

MASS = 0.9  # the share of the gradient's mass the effective field is said to hold


class _Reached(Exception):
    """Raised by the forward hook: the unit's layer has run, the rest of the model need not."""


def _pool_pads_fit(layer: Layer) -> bool:
    """Whether torch's own pooling can pad as ``layer`` does: the same amount on both sides of an axis, at most
    half the window (torch refuses more)."""
    spans = [d * (k - 1) + 1 if layer.kind == "max" else k for k, d in zip(layer.kernel, layer.dilation)]
    return all(before == after and 2 * before <= span for (before, after), span in zip(layer.padding, spans))


def _module(layer: Layer, channels_in: int, channels_out: int) -> list[nn.Module]:
    """``layer`` as torch modules: an explicit zero pad where the module cannot pad that way itself."""
    (top, bottom), (left, right) = layer.padding
    symmetric = top == bottom and left == right
    if layer.kind == "conv":
        native = symmetric
        module = nn.Conv2d(channels_in, channels_out, layer.kernel, layer.stride, (top, left) if native else 0,
                           layer.dilation)
    elif layer.kind == "max":
        native = _pool_pads_fit(layer)
        module = nn.MaxPool2d(layer.kernel, layer.stride, (top, left) if native else 0, layer.dilation)
    elif layer.dilation == (1, 1):
        native = _pool_pads_fit(layer)
        module = nn.AvgPool2d(layer.kernel, layer.stride, (top, left) if native else 0)
    else:
        # AvgPool2d has no dilation: a depthwise convolution of equal weights is the same average.
        native = symmetric
        module = nn.Conv2d(channels_in, channels_in, layer.kernel, layer.stride, (top, left) if native else 0,
                           layer.dilation, groups=channels_in, bias=False)
        module.weight.data.fill_(1 / (layer.kernel[0] * layer.kernel[1]))
        module.weight.requires_grad_(False)
    if native or (top, bottom, left, right) == (0, 0, 0, 0):
        return [module]
    # Zeros, not -inf, before a max pool: its inputs are images or ReLU outputs, never negative, so the maximum
    # is the same, and a window wholly in the padding gives 0 instead of poisoning the next layer.
    return [nn.ZeroPad2d((left, right, top, bottom)), module]


def build_stack(layers: Sequence[Layer], *, channels: int, in_channels: int = 1, seed: int = 0
                ) -> tuple[nn.Sequential, tuple[nn.Module, ...]]:
    """A torch model of ``layers``: each conv has ``channels`` outputs and a ReLU after it; pooling keeps channels.

    Weights and biases are PyTorch's defaults, what a fresh ``nn.Conv2d`` starts with, drawn from ``seed`` alone:
    the same seed gives the same network, and torch's global random state is left as it was. The random biases
    matter: on a blank (all-zero) patch, such as an MNIST digit's background, zero biases would leave every ReLU at
    0 and no gradient would flow. The model is in eval mode and its parameters do not require gradients (only the
    input's gradient is wanted).

    Args:
        layers: the stack, as ``geometry.Layer`` (``RFRow.layer`` of ``receptive_field.analyze``).
        channels: output channels of every conv.
        in_channels: channels of the image (1 gray, 3 RGB).
        seed: the weights' seed.

    Returns:
        (the model, the module whose output is each layer's output, one per layer: a conv's output is taken before
        its ReLU, so the chosen unit itself is never cut off).

    Raises:
        ValueError: an empty stack, something other than a Layer, or a bad count or seed.
    """
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise ValueError(f"layers must be a non-empty list of geometry.Layer, got {layers!r:.200}")
    for name, value, low in (("channels", channels, 1), ("in_channels", in_channels, 1), ("seed", seed, 0)):
        if not is_int(value) or value < low:
            raise ValueError(f"{name} must be an int of at least {low}, got {name}={value!r}")
    modules: list[nn.Module] = []
    outputs: list[nn.Module] = []
    width = in_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for layer in layers:
            out = channels if layer.kind == "conv" else width
            parts = _module(layer, width, out)
            modules += parts
            outputs.append(parts[-1])
            if layer.kind == "conv":
                modules.append(nn.ReLU())
            width = out
    model = nn.Sequential(*modules).eval()
    model.requires_grad_(False)
    return model, tuple(outputs)


def image_tensor(pixels: np.ndarray) -> torch.Tensor:
    """Pixels (H, W) or (H, W, C) as a (1, C, H, W) float32 tensor (a copy)."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]  # (H, W, 1)
    if array.ndim != 3:
        raise ValueError(f"an image must be (H, W) or (H, W, C), got shape={array.shape}")
    return torch.from_numpy(np.array(array.transpose(2, 0, 1), order="C"))[None]  # (1, C, H, W), always a copy


def inspectable_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of a (possibly live, training) model in eval mode, safe to hook and differentiate."""
    clone = copy.deepcopy(model).cpu().eval()
    clone.requires_grad_(False)
    return clone


def unit_gradient(model: nn.Module, output: nn.Module, x: torch.Tensor, row: int, col: int) -> np.ndarray:
    """How strongly each input pixel drives unit (row, col) of ``output``: Σ over input channels of |∂y/∂x|.

    ``y`` is the sum over channels of ``output``'s map at (row, col): the unit is a place, and all its features
    together are what it passes on. The forward pass stops at ``output``; the hook is removed afterwards and
    neither the model nor ``x`` is changed.

    Args:
        model: the network; it must run ``output`` on the way from ``x``.
        output: one of its modules.
        x: (1, C, H, W) input.
        row, col: the unit, in ``output``'s map.

    Returns:
        (H, W) float64, non-negative.

    Raises:
        ValueError: ``output`` never runs, or (row, col) is outside its map.
    """
    captured: dict[str, torch.Tensor] = {}

    def hook(module, inputs, result):
        captured["y"] = result
        raise _Reached

    device = next(model.parameters(), torch.empty(0)).device
    x = x.detach().to(device, torch.float32).requires_grad_(True)
    handle = output.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if "y" not in captured:
        raise ValueError(f"the model never ran {type(output).__name__}: pass one of its own modules")
    y = captured["y"]  # (1, C_out, h, w)
    h, w = y.shape[-2:]
    if not (is_int(row) and is_int(col) and 0 <= row < h and 0 <= col < w):
        raise ValueError(f"unit (row, col) must lie in the {h}x{w} map, got row={row!r}, col={col!r}")
    (grad,) = torch.autograd.grad(y[0, :, row, col].sum(), x)  # (1, C, H, W); parameters' .grad untouched
    return grad[0].abs().sum(dim=0).double().cpu().numpy()  # (H, W)


def mass_region(grad: np.ndarray, mass: float = MASS) -> np.ndarray:
    """The smallest set of pixels holding at least ``mass`` of Σ|grad|, as a boolean mask (empty if all zero).

    Pixels are taken largest first; among equal values, in row-major order, so the answer is reproducible.

    Raises:
        ValueError: ``mass`` outside (0, 1] or a gradient that is not a finite 2-D array.
    """
    magnitude = np.abs(np.asarray(grad, dtype=np.float64))
    if magnitude.ndim != 2 or not np.isfinite(magnitude).all():
        raise ValueError(f"grad must be a finite 2-D array, got shape={magnitude.shape}")
    if not (isinstance(mass, (int, float)) and 0 < mass <= 1):
        raise ValueError(f"mass must be in (0, 1], got mass={mass!r}")
    mask = np.zeros(magnitude.shape, dtype=bool)
    total = magnitude.sum()
    if total == 0:
        return mask
    order = np.argsort(-magnitude, axis=None, kind="stable")
    held = np.cumsum(magnitude.flat[order])
    # A relative tolerance: 90 equal pixels of 100 hold 0.9 of the mass, even when the float sum says 0.8999...
    count = int(np.searchsorted(held, mass * total * (1 - 1e-9))) + 1
    mask.flat[order[:min(count, order.size)]] = True
    return mask


def mass_fraction(grad: np.ndarray, box: Box, mass: float = MASS) -> float:
    """Pixels of ``mass_region`` over the pixels of ``box`` inside the image: how much of the theoretical field
    does the work. A uniform gradient over the whole box gives ``mass`` itself; Luo et al. find far less.

    Raises:
        ValueError: as ``mass_region``, or a box with no pixel inside the image.
    """
    region = mass_region(grad, mass)
    inside = box.clip(*region.shape).area
    if inside == 0:
        raise ValueError(f"{box} has no pixel inside the {region.shape[0]}x{region.shape[1]} image")
    return float(region.sum()) / inside


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare as one value
class EffectiveField:
    """One unit's effective receptive field."""

    grad: np.ndarray  # (H, W) Σ|∂unit/∂input| over input channels
    region: np.ndarray  # (H, W) bool: the fewest pixels holding ``mass`` of the gradient
    box: Box  # the unit's theoretical field, padding included
    mass: float  # the share of the gradient the region holds
    fraction: float  # region pixels / box pixels inside the image; nan when no gradient reaches the unit

    @property
    def dead(self) -> bool:
        """No gradient at all: every path from the input to the unit passes a ReLU that is off."""
        return math.isnan(self.fraction)


def measure(model: nn.Module, output: nn.Module, x: torch.Tensor, row: int, col: int, box: Box, *,
            mass: float = MASS) -> EffectiveField:
    """``unit_gradient`` and its ``mass_region`` against the theoretical ``box``."""
    grad = unit_gradient(model, output, x, row, col)
    region = mass_region(grad, mass)
    fraction = mass_fraction(grad, box, mass) if region.any() else math.nan
    return EffectiveField(grad, region, box, mass, fraction)
