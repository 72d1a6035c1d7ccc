"""The Step-by-step page's state (input, kernel, operation, geometry, position) and its computation.

    >>> compute(EXAMPLES["three"]).frame(0).explanation
    '1×1 + 2×0 + 3×0 + 4×0 + 5×1 + 6×0 + 7×0 + 8×0 + 9×1 = 15'
    >>> compute(EXAMPLES["transposed_two"]).frame(3).sums[0]
    'out[2,2] = 1×1 + 2×1 + 3×1 + 4×1 = 10'
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz import urlstate
from cnnviz.conv import stepper
from cnnviz.conv.geometry import Geometry, Pooling
from cnnviz.conv.kernels import make_kernel, resize_kernel
from cnnviz.errors import UserError
from cnnviz.urlstate import (BoolCodec, Choice, Field, FloatCodec, IntCodec, MatrixCodec, PageState, PairCodec,
                             as_matrix, geometry_fields)

OPERATIONS = ("conv", "max", "avg", "transposed")  # what slides over (or, transposed, is stamped from) the input
KERNEL_OPERATIONS = ("conv", "transposed")  # the operations with a kernel to edit
MAX_INPUT = 10  # the input grid goes up to 10×10, small enough to check by hand
MAX_KERNEL = 5  # the kernel or pooling window goes up to 5×5
MAX_OUTPUT = 24  # a transposed convolution's output grid goes up to 24×24: larger no longer fits a projector

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
    output_padding: tuple[int, int] = (0, 0)  # rows, cols a transposed convolution adds at the end of its output
    zero_view: bool = False  # transposed: show it as an ordinary convolution over the zero-inserted input
    position: int = 0  # which output value (transposed: which input cell) is shown, row-major from 0

    FIELDS = (
        Field("input", "x", MatrixCodec(MAX_INPUT, max_depth=0)),
        Field("kernel", "w", MatrixCodec(MAX_KERNEL, max_depth=0)),
        Field("op", "op", Choice(OPERATIONS)),
        *geometry_fields(max_pad=4, max_stride=5, max_dilation=4),
        Field("bias", "b", FloatCodec(-1000, 1000)),
        Field("pool_size", "ps", PairCodec(1, MAX_KERNEL)),
        Field("pool_stride", "pst", PairCodec(1, MAX_KERNEL)),
        Field("position", "at", IntCodec(0, MAX_OUTPUT * MAX_OUTPUT)),
        Field("output_padding", "opad", PairCodec(0, 4)),
        Field("zero_view", "zi", BoolCodec()),
    )

    @property
    def geometry(self) -> Geometry:
        return Geometry.chosen(self.padding, self.pad, self.padding_mode, self.stride, self.dilation, self.flip)

    @property
    def pooling(self) -> Pooling:
        return Pooling("max" if self.op == "conv" else self.op, self.pool_size, self.pool_stride)

    def transposed_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``cnnviz.conv.ops.conv_transpose2d``: ``pad`` is the padding it crops."""
        return {"stride": self.stride, "padding": self.pad, "output_padding": self.output_padding,
                "dilation": self.dilation}

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
    # Transposed convolution: a 2×2 input upsampled to 5×5, where the four stamps meet in the centre (10 = 1+2+3+4);
    # then a 3×3 of ones, whose output is the overlap count itself: 1, 1, 2, 1, 2, 1, 1 along each axis.
    "transposed_two": StepState(input=_floats(((1, 2), (3, 4))), kernel=_floats(np.ones((3, 3))), op="transposed",
                                pad=(0, 0), stride=(2, 2)),
    "transposed_three": StepState(input=_floats(np.ones((3, 3))), kernel=_floats(np.ones((3, 3))), op="transposed",
                                  pad=(0, 0), stride=(2, 2)),
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
    scatter: stepper.Scatter | None = None  # the transposed convolution that ``walk`` shows zero-inserted, if any

    @property
    def count(self) -> int:
        return len(self.walk.steps)

    @property
    def output(self) -> np.ndarray:
        return self.walk.output

    def frame(self, position: int) -> Frame:
        """The view at ``position``, clamped to the output."""
        position = min(max(0, position), self.count - 1)
        step = self.walk.steps[position]
        shown = np.full(self.walk.output.shape, np.nan)
        shown.flat[:position + 1] = self.walk.output.flat[:position + 1]  # steps are row-major, like .flat
        return Frame(position, step, stepper.explain(self.walk, step), shown)


@dataclass(frozen=True)
class TransposedFrame:
    """One input cell of a transposed convolution, as the page shows it."""

    position: int  # row-major index of the input cell, from 0
    stamp: stepper.Stamp  # where its value times the kernel lands
    sums: tuple[str, ...]  # the written-out sum so far at each cell it writes where stamps overlap, row-major
    alone: int  # the cells it writes that no earlier stamp reached: each holds its one product
    shown: np.ndarray  # the output after this stamp (0 where no stamp has landed yet)
    reached: np.ndarray  # True where some stamp up to this one has landed


@dataclass(frozen=True)
class TransposedResult:
    scatter: stepper.Scatter  # every input cell's stamp

    @property
    def count(self) -> int:
        return len(self.scatter.stamps)

    @property
    def output(self) -> np.ndarray:
        return self.scatter.output

    def frame(self, position: int) -> TransposedFrame:
        """The view after input cell ``position`` (clamped to the input) has stamped."""
        position = min(max(0, position), self.count - 1)
        stamp = self.scatter.stamps[position]
        reached = np.zeros(self.output.shape, dtype=bool)
        for earlier in self.scatter.stamps[:position + 1]:
            for cell in earlier.targets:
                reached[cell] = True
        # Only the overlaps need their sum written out: a cell this stamp reaches first holds its one product.
        overlapping = [cell for cell in sorted(set(stamp.targets))
                       if sum(1 for index, _, _ in self.scatter.terms[cell] if index <= position) > 1]
        sums = tuple(stepper.explain_cell(self.scatter, cell, position) for cell in overlapping)
        return TransposedFrame(position, stamp, sums, len(set(stamp.targets)) - len(overlapping),
                               self.scatter.partial(position), reached)


def compute(state: StepState) -> StepResult | TransposedResult:
    """Every window position (transposed: every input cell) for ``state``; its ``position`` picks a frame, it does
    not change the walk.

    Raises:
        ValueError: the settings cannot work, saying what to change.
    """
    values = state.input_array()
    if state.op == "transposed":
        scatter = stepper.transposed_walkthrough(values, state.kernel_array(), **state.transposed_kwargs())
        if max(scatter.output.shape) > MAX_OUTPUT:
            raise UserError("error.step.output_too_big", rows=scatter.output.shape[0], cols=scatter.output.shape[1],
                            most=MAX_OUTPUT)
        if state.zero_view:
            zero = stepper.zero_inserted_walkthrough(values, state.kernel_array(), **state.transposed_kwargs())
            return StepResult(zero, scatter)
        return TransposedResult(scatter)
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
