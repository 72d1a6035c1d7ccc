"""The Backward-pass page's state (input, kernel, geometry, the output gradient and the views) and its computation.

The input gradient is ``conv_transpose2d`` of the output gradient (``cnnviz.conv.ops.conv2d_grads`` computes it so),
built on the page one output-gradient cell at a time; the kernel gradient is written out tap by tap; torch autograd
computes both again, in float64, to stand beside them.

    >>> result = compute(BackwardState())
    >>> float(result.grads.input[2, 2]), float(result.autograd.input[2, 2]), result.agrees
    (45.0, 45.0, (True, True))
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, TransposedAxis
from cnnviz.conv.numfmt import fmt
from cnnviz.pages import step
from cnnviz.urlstate import Choice, Field, IntCodec, MatrixCodec, PageState, PairCodec, as_matrix

GRADIENTS = ("ones", "onehot", "random")  # what flows back into the output: all ones, one unit, or seeded noise
MAX_INPUT = 8  # the input grid goes up to 8×8: every stamp stays checkable by hand
MAX_KERNEL = 5  # the kernel goes up to 5×5
MAX_PAD = 4  # padding per side, rows and cols
MAX_STRIDE = 4
MAX_DILATION = 4
MAX_OUT = MAX_INPUT + 2 * MAX_PAD  # the longest output side any setting gives (kernel 1, stride 1)
MAX_SEED = 999_999
# Random output gradients are whole numbers from -RANDOM_LEVEL to RANDOM_LEVEL, so each stamp (gradient × weight)
# and each sum stays something a student can check in their head.
RANDOM_LEVEL = 3
# The kernel 1…9: every stamp of it is recognisable where it lands, and its overlaps add to distinct numbers.
NINE = ((1, 2, 3), (4, 5, 6), (7, 8, 9))


def _floats(rows) -> Any:
    return as_matrix(np.array(rows, dtype=np.float64))


@dataclass(frozen=True)
class BackwardState(PageState):
    """Everything the Backward-pass page shows."""

    input: Any = _floats(step.FIVE)  # the input x, rows of numbers (the Step page's 5×5)
    kernel: Any = _floats(NINE)  # the kernel w, rows of numbers
    pad: tuple[int, int] = (0, 0)  # rows, cols of zeros added on each side
    stride: tuple[int, int] = (1, 1)  # rows, cols the window moves per output value
    dilation: tuple[int, int] = (1, 1)  # rows, cols between kernel taps
    gradient: str = "ones"  # the output gradient ∂L/∂y: ones, onehot or random
    unit: tuple[int, int] = (0, 0)  # the output unit (row, col) a one-hot gradient picks
    seed: int = 0  # the seed of a random output gradient
    stamp: int = 0  # which output-gradient cell is stamping, row-major from 0: the input gradient is built up to it
    tap: tuple[int, int] = (0, 0)  # the kernel tap (row, col) whose gradient is written out

    FIELDS = (
        Field("input", "x", MatrixCodec(MAX_INPUT, max_depth=0)),
        Field("kernel", "w", MatrixCodec(MAX_KERNEL, max_depth=0)),
        Field("pad", "pa", PairCodec(0, MAX_PAD)),
        Field("stride", "s", PairCodec(1, MAX_STRIDE)),
        Field("dilation", "d", PairCodec(1, MAX_DILATION)),
        Field("gradient", "g", Choice(GRADIENTS)),
        Field("unit", "u", PairCodec(0, MAX_OUT - 1)),
        Field("seed", "seed", IntCodec(0, MAX_SEED)),
        Field("stamp", "at", IntCodec(0, MAX_OUT * MAX_OUT - 1)),
        Field("tap", "tap", PairCodec(0, MAX_KERNEL - 1)),
    )

    def input_array(self) -> np.ndarray:
        return np.array(self.input, dtype=np.float64)

    def kernel_array(self) -> np.ndarray:
        return np.array(self.kernel, dtype=np.float64)

    def axes(self) -> tuple[Axis, Axis]:
        """The forward convolution's (rows, cols) axes."""
        x, kernel = self.input_array(), self.kernel_array()
        return tuple(Axis(n, k, s, p, p, d) for n, k, s, p, d in
                     zip(x.shape, kernel.shape, self.stride, self.pad, self.dilation))

    def geometry(self) -> dict:
        """Keyword arguments for ``ops.conv2d`` and ``ops.conv2d_grads``."""
        return {"stride": self.stride, "padding": self.pad, "dilation": self.dilation}


def resized(state: BackwardState, input_hw: tuple[int, int], kernel_hw: tuple[int, int]) -> BackwardState:
    """The state with its input and kernel resized as the Step page resizes them, and the build back at its start."""
    grids = step.resized(step.StepState(input=state.input, kernel=state.kernel), input_hw, kernel_hw)
    return replace(state, input=grids.input, kernel=grids.kernel, stamp=0)


def output_gradient(state: BackwardState, shape: tuple[int, int]) -> np.ndarray:
    """The chosen ∂L/∂y of the forward output's ``shape``: all ones, one-hot on ``state.unit`` (clamped to the
    output), or whole numbers from -RANDOM_LEVEL to RANDOM_LEVEL drawn with ``state.seed``."""
    if state.gradient == "ones":
        return np.ones(shape)
    if state.gradient == "onehot":
        grad = np.zeros(shape)
        grad[clamp_unit(state.unit, shape)] = 1.0
        return grad
    rng = np.random.default_rng(state.seed)
    return rng.integers(-RANDOM_LEVEL, RANDOM_LEVEL + 1, size=shape).astype(np.float64)


def factor(value: float) -> str:
    """A number as a factor in a written-out product: a negative one in brackets, 2×(−3) rather than 2×-3."""
    return fmt(value) if value >= 0 else f"({fmt(value)})"


def clamp_unit(unit: tuple[int, int], shape: tuple[int, ...]) -> tuple[int, int]:
    """``unit`` moved inside a grid of ``shape``: a smaller output keeps the nearest unit rather than failing."""
    return min(max(0, unit[0]), shape[0] - 1), min(max(0, unit[1]), shape[1] - 1)


def autograd_grads(x: np.ndarray, kernel: np.ndarray, grad_out: np.ndarray, *, stride, padding,
                   dilation) -> ops.ConvGrads:
    """torch autograd's gradients of ``sum(conv2d(x, kernel) * grad_out)``, in float64: the reference the page
    shows beside cnnviz's own."""
    tx = torch.tensor(x, dtype=torch.float64)[None, None].requires_grad_()  # (1, 1, H, W)
    tk = torch.tensor(kernel, dtype=torch.float64)[None, None].requires_grad_()  # (1, 1, kh, kw)
    y = F.conv2d(tx, tk, stride=stride, padding=padding, dilation=dilation)
    y.backward(torch.tensor(grad_out, dtype=torch.float64)[None, None])
    return ops.ConvGrads(tx.grad[0, 0].detach().cpu().numpy(), tk.grad[0, 0].detach().cpu().numpy())


@dataclass(frozen=True)
class Stamp:
    """One output-gradient cell stamping gradient × kernel into the input gradient."""

    position: int  # row-major index of the output-gradient cell, from 0
    unit: tuple[int, int]  # its (row, col)
    gradient: float  # ∂L/∂y there
    cells: tuple[tuple[tuple[int, int], tuple[int, int]], ...]  # ((input row, col), (kernel row, col)) it lands on
    cropped: int  # taps that fall on the padding, which is no input: their share is dropped
    partial: np.ndarray  # the input gradient after this stamp and every one before it


@dataclass(frozen=True)
class TapSum:
    """The kernel gradient at one tap: the input values that tap read, times the output gradient, summed."""

    tap: tuple[int, int]  # (row, col) in the kernel
    cells: tuple[tuple[int, int], ...]  # the padded-input (row, col) it read for each output unit, row-major
    terms: tuple[tuple[float, float], ...]  # (input value, output gradient) for each output unit
    total: float  # ∂L/∂w at this tap, from cnnviz.conv.ops

    @property
    def text(self) -> str:
        """The sum written out: "1×1 + 2×1 + … = 45"."""
        return " + ".join(f"{factor(x)}×{factor(g)}" for x, g in self.terms) + f" = {fmt(self.total)}"


@dataclass(frozen=True)
class BackwardResult:
    state: BackwardState  # what was computed
    x: np.ndarray  # (H, W) input
    kernel: np.ndarray  # (kh, kw)
    padded: np.ndarray  # the input with its zero padding, as the forward reads it
    output: np.ndarray  # (H', W') the forward output y
    grad_out: np.ndarray  # (H', W') the chosen ∂L/∂y
    grads: ops.ConvGrads  # cnnviz's ∂L/∂x (as conv_transpose2d of ∂L/∂y) and ∂L/∂w
    autograd: ops.ConvGrads  # torch autograd's, float64
    bound: ops.ConvGrads  # how far two float64 sums of these terms can differ by rounding, per cell
    rows: TransposedAxis  # the transposed convolution ∂L/∂y → ∂L/∂x along the rows
    cols: TransposedAxis  # and along the columns

    @property
    def count(self) -> int:
        """How many output-gradient cells stamp."""
        return self.grad_out.size

    @property
    def agrees(self) -> tuple[bool, bool]:
        """Whether autograd's input and kernel gradients equal cnnviz's to float64 rounding."""
        return tuple(bool(np.all(np.abs(ours - theirs) <= bound)) for ours, theirs, bound
                     in zip(self.grads, self.autograd, self.bound))

    @property
    def differences(self) -> tuple[float, float]:
        """The largest |cnnviz − autograd| of the input and of the kernel gradient."""
        return tuple(float(np.max(np.abs(ours - theirs))) for ours, theirs in zip(self.grads, self.autograd))

    def stamp(self, position: int) -> Stamp:
        """The build at ``position`` (clamped to the output gradient): the input gradient is the transposed
        convolution of ∂L/∂y with every later cell zeroed."""
        position = min(max(0, position), self.count - 1)
        so_far = np.zeros_like(self.grad_out)
        so_far.flat[:position + 1] = self.grad_out.flat[:position + 1]  # row-major, like the stamps
        partial = ops.conv_transpose2d(so_far, self.kernel, stride=(self.rows.stride, self.cols.stride),
                                       padding=(self.rows.padding, self.cols.padding),
                                       output_padding=(self.rows.output_padding, self.cols.output_padding),
                                       dilation=(self.rows.dilation, self.cols.dilation))
        i, j = divmod(position, self.grad_out.shape[1])
        cells, cropped = [], 0
        for a, r in enumerate(self.rows.targets(i).taps):
            for b, c in enumerate(self.cols.targets(j).taps):
                if 0 <= r < self.x.shape[0] and 0 <= c < self.x.shape[1]:
                    cells.append(((r, c), (a, b)))
                else:
                    cropped += 1
        return Stamp(position, (i, j), float(self.grad_out[i, j]), tuple(cells), cropped, partial)

    def tap(self, tap: tuple[int, int]) -> TapSum:
        """The kernel gradient at ``tap`` (clamped to the kernel), written out term by term."""
        a, b = clamp_unit(tap, self.kernel.shape)
        forward_rows, forward_cols = self.rows.forward(), self.cols.forward()
        cells, terms = [], []
        for i in range(self.grad_out.shape[0]):
            for j in range(self.grad_out.shape[1]):
                # The window's taps in input coordinates; the padded grid starts `padding` before the input.
                r = forward_rows.window(i).taps[a] + self.rows.padding
                c = forward_cols.window(j).taps[b] + self.cols.padding
                cells.append((r, c))
                terms.append((float(self.padded[r, c]), float(self.grad_out[i, j])))
        return TapSum((a, b), tuple(cells), tuple(terms), float(self.grads.kernel[a, b]))


def compute(state: BackwardState) -> BackwardResult:
    """The forward pass, the chosen output gradient, both gradients by cnnviz and by torch autograd.

    Raises:
        ValueError: the settings cannot work, saying what to change.
    """
    x, kernel = state.input_array(), state.kernel_array()
    rows, cols = (axis.transposed() for axis in state.axes())
    output = ops.conv2d(x, kernel, **state.geometry())
    grad_out = output_gradient(state, output.shape)
    grads = ops.conv2d_grads(x, kernel, grad_out, **state.geometry())
    autograd = autograd_grads(x, kernel, grad_out, **state.geometry())
    # Two float64 sums of the same n products, in any order, differ by at most about n·ε·Σ|product|: the sums of
    # |product| are the same backward pass on absolute values.
    magnitudes = ops.conv2d_grads(np.abs(x), np.abs(kernel), np.abs(grad_out), **state.geometry())
    terms = max(grad_out.size, kernel.size) + 1
    bound = ops.ConvGrads(*(terms * np.finfo(np.float64).eps * m for m in magnitudes))
    padded = np.pad(x, ((rows.padding, rows.padding), (cols.padding, cols.padding)))
    return BackwardResult(state, x, kernel, padded, output, grad_out, grads, autograd, bound, rows, cols)
