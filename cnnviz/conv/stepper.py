"""Every window position of a convolution or pooling, with the numbers that make each output value; every input
cell's stamp of a transposed convolution.

The Step-by-step page draws these. Window positions come from ``cnnviz.conv.geometry``; each total is summed
here from its own products, and the tests check that the totals equal ``cnnviz.conv.ops``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, Geometry, Layer, Pads, Pooling, TransposedAxis, transposed_axes
from cnnviz.conv.numfmt import fmt
from cnnviz.errors import UserError


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
    inserted: np.ndarray | None = None  # True where a zero sits between input cells (a transposed convolution's view)

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


# --- transposed convolution -----------------------------------------------------------------------------
# A transposed convolution is stepped by INPUT cell: each one stamps its value times the kernel onto the output and
# overlapping stamps add up. Where each stamp lands comes from ``TransposedAxis.targets``; the sums are made here from
# their own products, and the tests compare them with ``ops.conv_transpose2d``.

@dataclass(frozen=True)
class Stamp:
    """One input cell of a transposed convolution and the products it adds to the output."""

    in_row: int  # position in the input
    in_col: int
    value: float  # x[in_row, in_col]
    rows: range  # output rows its taps land on, inside the output (the padding crops the rest)
    cols: range  # output cols likewise
    targets: tuple[tuple[int, int], ...]  # output (row, col) of each tap that lands inside the output, kernel row-major
    weights: tuple[float, ...]  # the kernel weight of each of those taps
    cropped: int  # taps that land outside the output: the padding crops them


@dataclass(frozen=True)
class Scatter:
    """Every stamp of one transposed convolution, and what the page needs to draw them."""

    input: np.ndarray  # x, (H, W)
    kernel: np.ndarray  # (kh, kw), as applied: a transposed convolution does not flip it
    rows: TransposedAxis  # the output's rows: sizes, each input row's targets, the overlap counts
    cols: TransposedAxis  # the output's cols
    stamps: list[Stamp]  # one per input cell, row-major
    terms: dict[tuple[int, int], tuple[tuple[int, float, float], ...]]  # output cell -> (stamp, x, w) of each product

    @property
    def output(self) -> np.ndarray:
        """The whole output: every stamp added."""
        return self.partial(len(self.stamps) - 1)

    def partial(self, last: int) -> np.ndarray:
        """The output after stamps 0 .. ``last``: cells no stamp has reached yet are still 0."""
        out = np.zeros((self.rows.out_size, self.cols.out_size))
        for cell, products in self.terms.items():
            out[cell] = math.fsum(x * w for stamp, x, w in products if stamp <= last)
        return out

    def overlaps(self) -> np.ndarray:
        """How many kernel taps land on each output cell: uneven counts are the checkerboard."""
        return np.outer(self.rows.overlaps(), self.cols.overlaps())


def transposed_walkthrough(x: np.ndarray, kernel: np.ndarray, *, stride=1, padding=0, output_padding=0,
                           dilation=1) -> Scatter:
    """Stamps of ``ops.conv_transpose2d(x, kernel, stride=, padding=, output_padding=, dilation=)``.

    Raises:
        ValueError: whatever ``ops.conv_transpose2d`` refuses, with its message.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    ops.conv_transpose2d(x, kernel, stride=stride, padding=padding, output_padding=output_padding,
                         dilation=dilation)  # validates everything, with ops' messages
    rows, cols = transposed_axes(x.shape, kernel.shape, stride=stride, padding=padding,
                                 output_padding=output_padding, dilation=dilation)
    stamps, terms = [], {}
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            index, value = len(stamps), float(x[i, j])
            row_taps, col_taps = rows.targets(i).taps, cols.targets(j).taps
            inside_rows = [r for r in row_taps if 0 <= r < rows.out_size]
            inside_cols = [c for c in col_taps if 0 <= c < cols.out_size]
            targets, weights = [], []
            for a, r in enumerate(row_taps):
                for b, c in enumerate(col_taps):
                    if r in inside_rows and c in inside_cols:
                        targets.append((r, c))
                        weights.append(float(kernel[a, b]))
                        terms.setdefault((r, c), []).append((index, value, float(kernel[a, b])))
            stamps.append(Stamp(i, j, value, _as_range(inside_rows, rows.dilation),
                                _as_range(inside_cols, cols.dilation), tuple(targets), tuple(weights),
                                kernel.size - len(targets)))
    return Scatter(x.copy(), kernel.copy(), rows, cols, stamps, {cell: tuple(p) for cell, p in terms.items()})


def _as_range(taps: list[int], step: int) -> range:
    return range(taps[0], taps[-1] + 1, step) if taps else range(0)


def explain_cell(scatter: Scatter, cell: tuple[int, int], last: int) -> str:
    """The sum at one output cell after stamps 0 .. ``last``: "out[2,2] = 1×1 + 2×1 + 3×1 + 4×1 = 10"."""
    products = [(x, w) for stamp, x, w in scatter.terms.get(cell, ()) if stamp <= last]
    if not products:
        return f"out[{cell[0]},{cell[1]}] = 0"
    terms = " + ".join(f"{_signed(x)}×{_signed(w)}" for x, w in products)
    return f"out[{cell[0]},{cell[1]}] = {terms} = {fmt(math.fsum(x * w for x, w in products))}"


def zero_inserted_walkthrough(x: np.ndarray, kernel: np.ndarray, *, stride=1, padding=0, output_padding=0,
                              dilation=1) -> Walkthrough:
    """The same transposed convolution as an ordinary stride-1 convolution: ``stride - 1`` zeros inserted between
    the input cells, the border ``TransposedAxis.zero_inserted`` gives, and the kernel rotated 180°. Its output equals
    ``transposed_walkthrough(...).output``; its ``inserted`` marks the inserted zeros.

    Raises:
        ValueError: whatever ``ops.conv_transpose2d`` refuses, or a padding larger than d(k - 1), which would crop
            the input itself (no zero-inserted convolution has that).
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    ops.conv_transpose2d(x, kernel, stride=stride, padding=padding, output_padding=output_padding,
                         dilation=dilation)  # validates everything, with ops' messages
    transposed = transposed_axes(x.shape, kernel.shape, stride=stride, padding=padding,
                                 output_padding=output_padding, dilation=dilation)
    axes = [axis.zero_inserted for axis in transposed]
    for axis in transposed:
        if axis.zero_inserted is None:
            raise UserError("error.step.zero_inserted_crop", padding=axis.padding, reach=axis.span - 1)
    rows, cols = axes
    spread = np.zeros((rows.size, cols.size))  # x with stride - 1 zeros between its cells
    spread[::transposed[0].stride, ::transposed[1].stride] = x
    inserted = np.ones(spread.shape, dtype=bool)
    inserted[::transposed[0].stride, ::transposed[1].stride] = False
    layer = Layer(kernel.shape, 1, ((rows.pad_before, rows.pad_after), (cols.pad_before, cols.pad_after)),
                  (rows.dilation, cols.dilation))
    padded = np.pad(spread, layer.padding)
    applied = kernel[::-1, ::-1]
    weights = tuple(float(w) for w in applied.ravel())
    walk = _walk("conv", spread.shape, padded, layer, lambda inputs: math.fsum(x * w for x, w in zip(inputs, weights)),
                 weights, applied.copy())
    return replace(walk, inserted=np.pad(inserted, layer.padding))
