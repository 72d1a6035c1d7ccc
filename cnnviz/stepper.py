"""Every window position of a convolution or pooling, with the numbers that make each output value.

The Step-by-step page draws these; tests check that the totals, assembled, equal ``cnnviz.ops``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz import ops
from cnnviz.geometry import Geometry, Pooling


@dataclass(frozen=True)
class Step:
    """One output value and how it was made."""

    out_row: int  # position in the output
    out_col: int
    cells: tuple[tuple[int, int], ...]  # (row, col) in the padded input of each tap, kernel row-major
    inputs: tuple[float, ...]  # the padded input's value under each tap
    weights: tuple[float, ...] | None  # the kernel value at each tap (already flipped if flip); None for pooling
    is_padding: tuple[bool, ...]  # whether each tap lies in the padding
    total: float  # the output value (bias included)


@dataclass(frozen=True)
class Walkthrough:
    """All steps of one operation, plus what the page needs to draw them."""

    kind: str  # conv, max or avg
    padded: np.ndarray  # the input after padding (pooling: the input itself)
    pad_mask: np.ndarray  # True where ``padded`` is padding
    pads: ops.Pads  # ((top, bottom), (left, right))
    kernel: np.ndarray | None  # the kernel as applied (flipped if flip); None for pooling
    output: np.ndarray  # the full output, equal to cnnviz.ops
    steps: list[Step]
    bias: float = 0.0


def conv_walkthrough(image: np.ndarray, kernel: np.ndarray, geometry: Geometry, bias: float = 0.0) -> Walkthrough:
    """Steps of ``ops.conv2d(image, kernel, bias=bias, **geometry.conv_kwargs())`` on a 2-D image.

    Raises:
        ValueError: whatever ``ops.conv2d`` refuses, with its message.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"the step-by-step view takes a 2-D input and kernel, got {image.shape} and {kernel.shape}")
    output = ops.conv2d(image, kernel, bias=bias, **geometry.conv_kwargs())  # validates everything first
    pads = ops.resolve_padding(geometry.padding, kernel.shape, stride=geometry.stride, dilation=geometry.dilation,
                               input_hw=image.shape)
    padded = ops.pad(image, pads, geometry.padding_mode)
    applied = kernel[::-1, ::-1] if geometry.flip else kernel
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            cells = tuple((i * sh + a * dh, j * sw + b * dw) for a in range(kernel.shape[0]) for b in range(kernel.shape[1]))
            steps.append(Step(
                out_row=i, out_col=j, cells=cells,
                inputs=tuple(float(padded[r, c]) for r, c in cells),
                weights=tuple(float(w) for w in applied.ravel()),
                is_padding=tuple(_in_padding(r, c, pads, image.shape) for r, c in cells),
                total=float(output[i, j]),
            ))
    return Walkthrough("conv", padded, _pad_mask(padded.shape, pads), pads, applied.copy(), output, steps, bias)


def pool_walkthrough(x: np.ndarray, pooling: Pooling) -> Walkthrough:
    """Steps of ``ops.pool2d(x, pooling.kind, pooling.size, pooling.stride)`` on a 2-D input."""
    x = np.asarray(x, dtype=np.float64)
    if pooling.kind == "none":
        raise ValueError("choose max or avg pooling to step through it")
    if x.ndim != 2:
        raise ValueError(f"the step-by-step view takes a 2-D input, got shape {x.shape}")
    output = ops.pool2d(x, pooling.kind, pooling.size, pooling.stride)
    (kh, kw), (sh, sw) = pooling.size, pooling.stride
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            cells = tuple((i * sh + a, j * sw + b) for a in range(kh) for b in range(kw))
            steps.append(Step(i, j, cells, tuple(float(x[r, c]) for r, c in cells), None,
                              (False,) * len(cells), float(output[i, j])))
    return Walkthrough(pooling.kind, x.copy(), np.zeros(x.shape, bool), ((0, 0), (0, 0)), None, output, steps)


def _in_padding(row: int, col: int, pads: ops.Pads, shape: tuple[int, int]) -> bool:
    (top, _), (left, _) = pads
    return not (top <= row < top + shape[0] and left <= col < left + shape[1])


def _pad_mask(padded_shape: tuple[int, int], pads: ops.Pads) -> np.ndarray:
    (top, bottom), (left, right) = pads
    mask = np.ones(padded_shape, dtype=bool)
    mask[top:padded_shape[0] - bottom, left:padded_shape[1] - right] = False
    return mask


def assemble(walkthrough: Walkthrough) -> np.ndarray:
    """The output rebuilt from the steps' totals alone (a check that the steps tell the whole story)."""
    out = np.full(walkthrough.output.shape, np.nan)
    for step in walkthrough.steps:
        out[step.out_row, step.out_col] = step.total
    return out


def fmt(value: float) -> str:
    """A number as a student would write it: 5, -0.5, 0.333 (no float noise, at most 3 decimals)."""
    rounded = round(float(value), 3)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.3f}".rstrip("0")


def _signed(value: float) -> str:
    return f"({fmt(value)})" if value < 0 else fmt(value)


def explain(walkthrough: Walkthrough, step: Step) -> str:
    """The arithmetic of one step, written out: "1×(-1) + 2×(-1) + … = 5"."""
    if walkthrough.kind == "conv":
        terms = " + ".join(f"{_signed(x)}×{_signed(w)}" for x, w in zip(step.inputs, step.weights))
        bias = f" + {_signed(walkthrough.bias)}" if walkthrough.bias else ""
        return f"{terms}{bias} = {fmt(step.total)}"
    values = ", ".join(fmt(x) for x in step.inputs)
    if walkthrough.kind == "max":
        return f"max({values}) = {fmt(step.total)}"
    return f"({' + '.join(_signed(x) for x in step.inputs)}) / {len(step.inputs)} = {fmt(step.total)}"
