"""The Step-by-step page's state (input, kernel, operation, geometry, position) and its computation.

    >>> compute(EXAMPLES["three"]).frame(0).explanation
    '1×1 + 2×0 + 3×0 + 4×0 + 5×1 + 6×0 + 7×0 + 8×0 + 9×1 = 15'
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz import urlstate
from cnnviz.conv import stepper
from cnnviz.conv.geometry import Geometry, Pooling
from cnnviz.conv.kernels import make_kernel, resize_kernel
from cnnviz.urlstate import (Choice, Field, FloatCodec, IntCodec, MatrixCodec, PageState, PairCodec, as_matrix,
                             geometry_fields)

OPERATIONS = ("conv", "max", "avg")  # what slides over the input
MAX_INPUT = 10  # the input grid goes up to 10×10, small enough to check by hand
MAX_KERNEL = 5  # the kernel or pooling window goes up to 5×5

FIVE = ((1, 2, 3, 0, 1), (0, 1, 2, 3, 1), (3, 0, 1, 2, 0), (1, 2, 3, 0, 1), (0, 1, 2, 3, 0))
THREE = ((1, 2, 3), (4, 5, 6), (7, 8, 9))
SIXTEEN = tuple(tuple(range(r * 4 + 1, r * 4 + 5)) for r in range(4))


def _floats(rows) -> urlstate.Matrix:
    return as_matrix(np.array(rows, dtype=np.float64))


@dataclass(frozen=True)
class StepState(PageState):
    """Everything the Step-by-step page shows."""

    input: Any = _floats(FIVE)  # the input grid, rows of numbers
    kernel: Any = _floats(make_kernel("laplacian8"))  # the kernel, rows of numbers (convolution only)
    op: str = "conv"  # conv, max or avg
    padding: str = "custom"  # valid, same or custom
    pad: tuple[int, int] = (1, 1)  # rows, cols added on each side when padding is custom
    padding_mode: str = "zeros"  # what fills the padding
    stride: tuple[int, int] = (1, 1)  # rows, cols the window moves per output value
    dilation: tuple[int, int] = (1, 1)  # rows, cols between kernel taps
    flip: bool = False  # True = true convolution (kernel rotated 180°)
    bias: float = 0.0  # added to every output value
    pool_size: tuple[int, int] = (2, 2)  # rows, cols of the pooling window
    pool_stride: tuple[int, int] = (2, 2)  # rows, cols between pooling windows
    position: int = 0  # which output value is shown, row-major from 0

    FIELDS = (
        Field("input", "x", MatrixCodec(MAX_INPUT, max_depth=0)),
        Field("kernel", "w", MatrixCodec(MAX_KERNEL, max_depth=0)),
        Field("op", "op", Choice(OPERATIONS)),
        *geometry_fields(max_pad=4, max_stride=5, max_dilation=4),
        Field("bias", "b", FloatCodec(-1000, 1000)),
        Field("pool_size", "ps", PairCodec(1, MAX_KERNEL)),
        Field("pool_stride", "pst", PairCodec(1, MAX_KERNEL)),
        Field("position", "at", IntCodec(0, MAX_INPUT * MAX_INPUT * 4)),
    )

    @property
    def geometry(self) -> Geometry:
        return Geometry.chosen(self.padding, self.pad, self.padding_mode, self.stride, self.dilation, self.flip)

    @property
    def pooling(self) -> Pooling:
        return Pooling("max" if self.op == "conv" else self.op, self.pool_size, self.pool_stride)

    def input_array(self) -> np.ndarray:
        return np.array(self.input, dtype=np.float64)

    def kernel_array(self) -> np.ndarray:
        return np.array(self.kernel, dtype=np.float64)


EXAMPLES: dict[str, StepState] = {
    # The tutorials' worked examples, each a state the page can open.
    "five": StepState(),
    "three": StepState(input=_floats(THREE), kernel=_floats(np.eye(3)), padding="valid"),
    "three_padded": StepState(input=_floats(THREE), kernel=_floats(np.eye(3)), padding="custom", pad=(1, 1)),
    "pool_max": StepState(input=_floats(SIXTEEN), op="max"),
    "pool_avg": StepState(input=_floats(SIXTEEN), op="avg"),
}


@dataclass(frozen=True)
class Frame:
    """One output position, as the page shows it."""

    position: int  # row-major index of the output value, from 0
    step: stepper.Step  # the window and the numbers under it
    explanation: str  # the arithmetic written out
    shown: np.ndarray  # the output filled in up to and including this position (NaN after)


@dataclass(frozen=True)
class StepResult:
    walk: stepper.Walkthrough  # every window position and its arithmetic

    @property
    def count(self) -> int:
        return len(self.walk.steps)

    def frame(self, position: int) -> Frame:
        """The view at ``position``, clamped to the output."""
        position = min(max(0, position), self.count - 1)
        step = self.walk.steps[position]
        shown = np.full(self.walk.output.shape, np.nan)
        shown.flat[:position + 1] = self.walk.output.flat[:position + 1]  # steps are row-major, like .flat
        return Frame(position, step, stepper.explain(self.walk, step), shown)


def compute(state: StepState) -> StepResult:
    """Every window position for ``state`` (its ``position`` picks a frame, it does not change the walk).

    Raises:
        ValueError: the settings cannot work, saying what to change.
    """
    values = state.input_array()
    if state.op == "conv":
        return StepResult(stepper.conv_walkthrough(values, state.kernel_array(), state.geometry, state.bias))
    return StepResult(stepper.pool_walkthrough(values, state.pooling))


def resized(state: StepState, input_hw: tuple[int, int], kernel_hw: tuple[int, int]) -> StepState:
    """The state with its input grown (with zeros) or cropped at the bottom right, its kernel resized about its
    centre (as the Kernel Lab does), and the position reset."""
    def fit(values: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        out = np.zeros(hw)
        rows, cols = min(hw[0], values.shape[0]), min(hw[1], values.shape[1])
        out[:rows, :cols] = values[:rows, :cols]
        return out

    return replace(state, input=as_matrix(fit(state.input_array(), input_hw)),
                   kernel=as_matrix(resize_kernel(state.kernel_array(), *kernel_hw)), position=0)
