"""The Kernel Lab's computation: image -> convolution -> activation -> pooling, with shapes explained.

Pixel values are on the 0-255 scale here, so outputs read like the numbers in tutorials and
"clip to [0, 255]" means what it says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, Geometry, Pooling
from cnnviz.conv.kernels import grayscale_weights

COLOURS = ("gray", "rgb")
MAP_ACTIVATIONS = ("none", "relu", "leaky_relu", "abs")  # what the Kernel Lab may apply to a map


@dataclass(frozen=True)
class LabConfig:
    """Everything on the Kernel Lab except the image and the kernel values."""

    colour: str = "gray"  # gray: one 2-D kernel; rgb: one 3xkxk filter summed over channels
    working_size: int = 512  # longer side of the working image, in pixels
    geometry: Geometry = field(default_factory=lambda: Geometry(padding="same"))  # padding, stride, dilation, flip
    activation: str = "none"  # none, relu, leaky_relu or abs
    leaky_slope: float = 0.1  # slope of leaky ReLU for negative inputs
    pooling: Pooling = field(default_factory=Pooling)  # none, max or avg after the activation
    bias: float = 0.0  # added to every convolution output

    def __post_init__(self) -> None:
        if self.colour not in COLOURS:
            raise ValueError(f"colour must be 'gray' or 'rgb', got colour={self.colour!r}")
        if self.activation not in MAP_ACTIVATIONS:
            raise ValueError(f"activation must be one of {MAP_ACTIVATIONS}, got activation={self.activation!r}")
        if not isinstance(self.working_size, int) or not 16 <= self.working_size <= 2048:
            raise ValueError(f"working_size must be an int from 16 to 2048, got working_size={self.working_size!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "colour": self.colour, "working_size": self.working_size, "geometry": self.geometry.to_dict(),
            "activation": self.activation, "leaky_slope": self.leaky_slope, "pooling": self.pooling.to_dict(),
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabConfig:
        return cls(
            colour=data.get("colour", "gray"), working_size=data.get("working_size", 512),
            geometry=Geometry.from_dict(data.get("geometry", {"padding": "same"})),
            activation=data.get("activation", "none"), leaky_slope=data.get("leaky_slope", 0.1),
            pooling=Pooling.from_dict(data.get("pooling", {})), bias=data.get("bias", 0.0),
        )


@dataclass(frozen=True)
class StageShape:
    stage: str  # input, conv, activation, pool
    shape: tuple[int, ...]  # (H, W) or (H, W, C)
    rows: Axis | None = None  # how H was computed from the previous stage
    cols: Axis | None = None  # how W was computed


@dataclass
class PipelineResult:
    image: np.ndarray  # the input on the 0-255 scale, (H, W) or (H, W, 3)
    conv: np.ndarray  # (H', W'): the convolution plus bias
    partials: list[np.ndarray] | None  # RGB only: each channel's contribution, (H', W') each
    activated: np.ndarray  # after the activation
    pooled: np.ndarray | None  # after pooling, or None without pooling
    shapes: list[StageShape]
    dropped_rows: range  # input rows no kernel window reaches
    dropped_cols: range  # input columns no kernel window reaches


def to_working_image(image: np.ndarray, colour: str) -> np.ndarray:
    """[0, 1] pixels -> the pipeline's 0-255 input: (H, W) for gray, (H, W, 3) for rgb.

    float32 throughout: 8-bit pixels need no more, and ``cnnviz.conv.ops`` has its fast path in float32.
    """
    pixels = np.asarray(image, dtype=np.float32) * np.float32(255.0)
    if colour == "gray":
        if pixels.ndim == 3:
            pixels = pixels[..., :3] @ np.array(grayscale_weights(), dtype=np.float32)  # (H, W)
        return pixels
    return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)  # (H, W, 3)


def activate(x: np.ndarray, kind: str, slope: float = 0.1) -> np.ndarray:
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, slope * x)
    if kind == "abs":
        return np.abs(x)
    return x  # "none": the same array; stages are read-only


@dataclass(frozen=True)
class Convolved:
    """The convolution stage before bias: everything that depends on the image, kernel and geometry only."""

    image: np.ndarray  # the input on the 0-255 scale
    raw: np.ndarray  # (H', W') the filter's output without bias
    partials: list[np.ndarray] | None  # RGB only: each channel's contribution
    rows: Axis  # how the kernel slides down the image
    cols: Axis  # and across it


def convolve(image: np.ndarray, kernel: np.ndarray, cfg: LabConfig) -> Convolved:
    """The expensive half of ``run_pipeline``: only colour and geometry of ``cfg`` matter here.

    Raises:
        ValueError: from ``cnnviz.conv.ops``, saying what to change when the settings are impossible.
    """
    x = to_working_image(image, cfg.colour)
    kernel = np.asarray(kernel, dtype=np.float64)
    expected_ndim = 2 if cfg.colour == "gray" else 3
    if kernel.ndim != expected_ndim:
        raise ValueError(f"{cfg.colour} mode needs a {expected_ndim}-D kernel, got shape {kernel.shape}")
    geometry = cfg.geometry
    partials = None
    if cfg.colour == "rgb":
        # One 3-D filter is the sum of three 2-D convolutions: compute those once and add them up.
        stacked = ops.conv2d(x, kernel, depthwise=True, **geometry.conv_kwargs())  # (H', W', 3)
        partials = [stacked[..., c] for c in range(3)]
        raw = partials[0] + partials[1] + partials[2]  # (H', W'); 20x faster than stacked.sum(axis=2)
    else:
        raw = ops.conv2d(x, kernel, **geometry.conv_kwargs())
    rows, cols = geometry.layer(kernel.shape[-2:], x.shape[:2]).axes(x.shape[:2])
    return Convolved(x, raw, partials, rows, cols)


def finish(convolved: Convolved, cfg: LabConfig) -> PipelineResult:
    """The cheap half: bias, activation and pooling on top of ``convolve``'s result."""
    x, rows, cols = convolved.image, convolved.rows, convolved.cols
    conv, activated = after_conv(convolved.raw, cfg)
    shapes = [StageShape("input", x.shape), StageShape("conv", conv.shape, rows, cols),
              StageShape("activation", activated.shape)]
    pooled = None
    if cfg.pooling.kind != "none":
        pool = cfg.pooling
        pooled = ops.pool2d(activated, pool.kind, pool.size, pool.stride)
        shapes.append(StageShape("pool", pooled.shape, *pool.layer().axes(activated.shape[:2])))
    return PipelineResult(
        image=x, conv=conv, partials=convolved.partials, activated=activated, pooled=pooled, shapes=shapes,
        dropped_rows=rows.dropped_range, dropped_cols=cols.dropped_range,
    )


def run_pipeline(image: np.ndarray, kernel: np.ndarray, cfg: LabConfig) -> PipelineResult:
    """Run every stage on ``image`` ([0, 1] pixels).

    Args:
        image: (H, W) or (H, W, 3) in [0, 1].
        kernel: (kh, kw) in gray mode; (3, kh, kw) in rgb mode.
        cfg: the lab's settings.

    Raises:
        ValueError: from ``cnnviz.conv.ops``, saying what to change when the settings are impossible.
    """
    return finish(convolve(image, kernel, cfg), cfg)


def after_conv(raw: np.ndarray, cfg: LabConfig) -> tuple[np.ndarray, np.ndarray]:
    """(the convolution plus bias, then activated) from a map convolved without bias."""
    conv = raw + np.float32(cfg.bias) if cfg.bias else raw
    return conv, activate(conv, cfg.activation, cfg.leaky_slope)


def pointwise(partials: list[np.ndarray], weights: np.ndarray, bias: float = 0.0) -> list[np.ndarray]:
    """The 1×1 convolution after the RGB depthwise step: output o is Σ_c weights[o, c]·partials[c] + bias at every
    position, one nn.Conv2d(3, C_out, 1) over the stacked partial maps.

    The terms are added in channel order, in the maps' dtype, so the weights (1, 1, 1) give exactly the sum map the
    convolution stage shows (``convolve`` adds the partials in that order).

    Args:
        partials: the C depthwise maps, (H', W') each.
        weights: (C_out, C).
        bias: added to every output, as the convolution stage adds it.

    Returns:
        C_out maps, (H', W') each.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(partials):
        raise ValueError(f"pointwise weights must be (C_out, {len(partials)}), got shape {weights.shape}")
    dtype = partials[0].dtype
    outputs = []
    for row in weights:
        total = dtype.type(row[0]) * partials[0]
        for weight, partial in zip(row[1:], partials[1:]):
            total = total + dtype.type(weight) * partial
        outputs.append(total + dtype.type(bias) if bias else total)
    return outputs


def run_bank(image: np.ndarray, kernels: list[np.ndarray], cfg: LabConfig) -> list[np.ndarray]:
    """One activated feature map per kernel: a conv layer with len(kernels) output channels."""
    x = to_working_image(image, cfg.colour)
    return [after_conv(ops.conv2d(x, kernel, **cfg.geometry.conv_kwargs()), cfg)[1] for kernel in kernels]
