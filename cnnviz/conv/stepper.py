"""Every window position of a convolution or pooling, with the numbers that make each output value.

The Step-by-step page draws these. Window positions come from ``cnnviz.conv.geometry``; each total is summed
here from its own products, and the tests check that the totals equal ``cnnviz.conv.ops``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, Geometry, Layer, Pads, Pooling
from cnnviz.conv.numfmt import fmt


@dataclass(frozen=True)
class Step:
    """One output value and how it was made."""

    out_row: int  # position in the output
    out_col: int
    cells: tuple[tuple[int, int], ...]  # (row, col) in the padded input of each tap, kernel row-major
    inputs: tuple[float, ...]  # the padded input's value under each tap
    weights: tuple[float, ...] | None  # the kernel value at each tap (already flipped if flip); None for pooling
    is_padding: tuple[bool, ...]  # whether each tap lies in the padding
    total: float  # the output value, from the products above (bias included)


@dataclass(frozen=True)
class Walkthrough:
    """All steps of one operation, plus what the page needs to draw them."""

    kind: str  # conv, max or avg
    padded: np.ndarray  # the input after padding (pooling: the input itself)
    pad_mask: np.ndarray  # True where ``padded`` is padding
    rows: Axis  # how the window slides down the input
    cols: Axis  # how the window slides across it
    kernel: np.ndarray | None  # the kernel as applied (flipped if flip); None for pooling
    output: np.ndarray  # every step's total, laid out as the output
    steps: list[Step]
    bias: float = 0.0

    @property
    def pads(self) -> Pads:
        return ((self.rows.pad_before, self.rows.pad_after), (self.cols.pad_before, self.cols.pad_after))


def conv_walkthrough(image: np.ndarray, kernel: np.ndarray, geometry: Geometry, bias: float = 0.0) -> Walkthrough:
    """Steps of ``ops.conv2d(image, kernel, bias=bias, **geometry.conv_kwargs())`` on a 2-D image.

    Each total is computed here from its products, independently of ``ops``; the tests compare the two.

    Raises:
        ValueError: whatever ``ops.conv2d`` refuses, with its message.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"the step-by-step view takes a 2-D input and kernel, got {image.shape} and {kernel.shape}")
    ops.conv2d(image, kernel, bias=bias, **geometry.conv_kwargs())  # validates everything, with ops' messages
    layer = geometry.layer(kernel.shape, image.shape)
    padded = ops.pad(image, layer.padding, geometry.padding_mode)
    applied = kernel[::-1, ::-1] if geometry.flip else kernel
    weights = tuple(float(w) for w in applied.ravel())
    return _walk("conv", image.shape, padded, layer, lambda inputs: math.fsum(
        x * w for x, w in zip(inputs, weights)) + bias, weights, applied.copy(), bias)


def pool_walkthrough(x: np.ndarray, pooling: Pooling) -> Walkthrough:
    """Steps of ``ops.pool2d(x, pooling.kind, pooling.size, pooling.stride)`` on a 2-D input."""
    x = np.asarray(x, dtype=np.float64)
    if pooling.kind == "none":
        raise ValueError("choose max or avg pooling to step through it")
    if x.ndim != 2:
        raise ValueError(f"the step-by-step view takes a 2-D input, got shape {x.shape}")
    ops.pool2d(x, pooling.kind, pooling.size, pooling.stride)  # validates, with ops' messages
    reduce = max if pooling.kind == "max" else (lambda inputs: math.fsum(inputs) / len(inputs))
    return _walk(pooling.kind, x.shape, x.copy(), pooling.layer(), reduce, None, None)


def _walk(kind: str, shape: tuple[int, int], padded: np.ndarray, layer: Layer, total, weights, kernel,
          bias: float = 0.0) -> Walkthrough:
    rows, cols = layer.axes(shape)
    steps = []
    output = np.empty((rows.out_size, cols.out_size))
    for i in range(rows.out_size):
        for j in range(cols.out_size):
            taps = [(r, c) for r in rows.window(i).taps for c in cols.window(j).taps]  # input coordinates
            cells = tuple((r + rows.pad_before, c + cols.pad_before) for r, c in taps)  # padded coordinates
            inputs = tuple(float(padded[r, c]) for r, c in cells)
            output[i, j] = total(inputs)
            steps.append(Step(i, j, cells, inputs, weights,
                              tuple(not (0 <= r < shape[0] and 0 <= c < shape[1]) for r, c in taps), float(output[i, j])))
    mask = np.ones(padded.shape, dtype=bool)
    mask[rows.pad_before:rows.pad_before + shape[0], cols.pad_before:cols.pad_before + shape[1]] = False
    return Walkthrough(kind, padded, mask, rows, cols, kernel, output, steps, bias)


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
