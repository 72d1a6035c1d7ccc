"""The 1-D signals page's state (signal, kernel, stride, dilation, padding, causal, the chosen outputs) and its
computation: the output, the window one output reads with its arithmetic, and WaveNet's dilated causal stack.

    >>> view = compute(SignalsState(source="typed", typed=(1, 2, 3, 4, 5), kernel="average", size=3, index=1))
    >>> view.output.round(12).tolist(), view.axis.text
    ([2.0, 3.0, 4.0], '⌊(5 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 3')
    >>> view.explanation
    '2×1/3 + 3×1/3 + 4×1/3 = 3'
    >>> stack = wavenet_stack(23)
    >>> stack.field, stack.formula, (stack.box.left, stack.box.right)
    (16, '1 + (2 − 1)·(1 + 2 + 4 + 8) = 16', (8, 24))
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box
from cnnviz.conv.geometry import Axis, Window
from cnnviz.conv.numfmt import cell_text, fmt, parse_number
from cnnviz.conv.signal import as_signal, conv1d, signal_axis
from cnnviz.errors import UserError
from cnnviz.urlstate import BoolCodec, Choice, Field, FloatsCodec, IntCodec, PageState

SOURCES = ("sines", "step", "spikes", "typed")  # a bundled sample, or a list the student typed
KERNELS = ("average", "derivative", "gaussian", "custom")  # what slides along the signal
SAMPLE_LENGTH = 32  # the bundled samples' length: every output fits on a projector's chart
SAMPLE_SEED = 0  # the noise on the sum of sines: the same numbers on every machine
MAX_SIGNAL = 64  # the longest typed signal
MAX_KERNEL = 9  # the longest kernel
MAX_STRIDE, MAX_DILATION, MAX_PAD = 8, 8, 8  # what the controls and a link allow
VALUE_LIMIT = 1000.0  # typed values and weights lie in ±this

STACK_DILATIONS = (1, 2, 4, 8)  # WaveNet's dilated causal stack: each layer doubles the dilation
STACK_KERNEL = 2  # taps of every layer in the stack
STACK_LENGTH = 24  # inputs drawn under the stack: the last output's field of 16 leaves some unreached


def sample_signal(name: str, length: int = SAMPLE_LENGTH) -> np.ndarray:
    """A bundled signal: "sines" (two sines and noise, to two decimals so the arithmetic stays readable), "step"
    (0 then 1 from the middle) or "spikes" (a 1 every 8 positions).

    Raises:
        ValueError: an unknown name.
    """
    t = np.arange(length)
    if name == "sines":
        noise = np.random.default_rng(SAMPLE_SEED).normal(0, 0.15, length)
        return np.round(np.sin(2 * np.pi * t / 16) + 0.5 * np.sin(2 * np.pi * t / 5) + noise, 2)
    if name == "step":
        return (t >= length // 2).astype(np.float64)
    if name == "spikes":
        return (t % 8 == 3).astype(np.float64)
    raise UserError("error.one_of", name="sample", options=", ".join(SOURCES[:-1]), value=name)


def kernel_values(kind: str, size: int, custom: tuple[float, ...] = ()) -> np.ndarray:
    """The kernel ``kind`` names: a moving average of ``size`` taps, the derivative [-1, 1], a Gaussian of ``size``
    taps (binomial weights: [1, 2, 1]/4, [1, 4, 6, 4, 1]/16, exact sums a student can check), or ``custom``."""
    if kind == "average":
        return np.full(size, 1 / size)
    if kind == "derivative":
        return np.array([-1.0, 1.0])  # read left to right: the later value minus the earlier one
    if kind == "gaussian":
        weights = np.array([math.comb(size - 1, j) for j in range(size)], dtype=np.float64)
        return weights / weights.sum()
    if kind == "custom":
        return np.array(custom, dtype=np.float64)
    raise UserError("error.one_of", name="kernel", options=", ".join(KERNELS), value=kind)


def parse_values(text: str, name: str, most: int) -> tuple[float, ...]:
    """Numbers typed as "1, 2, 3" or "1 2 3" (fractions such as 1/3 too), checked for the page.

    Raises:
        ValueError: naming the entry that is not a number, or an empty or too long list.
    """
    items = [item for item in re.split(r"[\s,;]+", str(text).strip().strip("[]")) if item]
    if not items:
        raise UserError("error.signal.typed_empty", name=name)
    if len(items) > most:
        raise UserError("error.signal.typed_long", name=name, most=most, count=len(items))
    values = []
    for position, item in enumerate(items, start=1):
        try:
            value = parse_number(item)
        except ValueError as error:
            raise UserError("error.signal.typed_item", name=name, position=position, reason=error) from None
        if abs(value) > VALUE_LIMIT:
            raise UserError("error.signal.typed_range", name=name, position=position, value=item, limit=VALUE_LIMIT)
        values.append(value)
    return tuple(values)


def values_text(values: tuple[float, ...]) -> str:
    """A list of numbers as the page's text box shows it: "1, 2, 1/3"."""
    return ", ".join(cell_text(v) for v in values)


@dataclass(frozen=True)
class SignalsState(PageState):
    """Everything the 1-D signals page shows."""

    source: str = "sines"  # sines, step, spikes (bundled, SAMPLE_LENGTH long) or typed
    typed: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)  # the typed signal, used when source is "typed"
    kernel: str = "average"  # average, derivative, gaussian or custom
    size: int = 5  # taps of the moving average and the Gaussian
    custom: tuple[float, ...] = (-1.0, 0.0, 1.0)  # the typed kernel, used when kernel is "custom"
    stride: int = 1  # positions the window moves per output
    dilation: int = 1  # spacing between kernel taps
    padding: int = 0  # zeros on each side (ordinary convolution only)
    causal: bool = False  # True: dilation·(k − 1) zeros on the left only, output t sees inputs up to t
    index: int = 0  # the output whose window and arithmetic are written out
    stack_output: int = STACK_LENGTH - 1  # the stack's output whose connections are drawn

    FIELDS = (
        Field("source", "src", Choice(SOURCES)),
        Field("typed", "x", FloatsCodec(-VALUE_LIMIT, VALUE_LIMIT, most=MAX_SIGNAL)),
        Field("kernel", "k", Choice(KERNELS)),
        Field("size", "n", IntCodec(1, MAX_KERNEL)),
        Field("custom", "w", FloatsCodec(-VALUE_LIMIT, VALUE_LIMIT, most=MAX_KERNEL)),
        Field("stride", "s", IntCodec(1, MAX_STRIDE)),
        Field("dilation", "d", IntCodec(1, MAX_DILATION)),
        Field("padding", "p", IntCodec(0, MAX_PAD)),
        Field("causal", "c", BoolCodec()),
        Field("index", "at", IntCodec(0, MAX_SIGNAL + 2 * MAX_PAD)),
        Field("stack_output", "so", IntCodec(0, STACK_LENGTH - 1)),
    )

    def signal_array(self) -> np.ndarray:
        return as_signal(self.typed, "signal") if self.source == "typed" else sample_signal(self.source)

    def kernel_array(self) -> np.ndarray:
        return as_signal(kernel_values(self.kernel, self.size, self.custom), "kernel")


@dataclass(frozen=True)
class Stack:
    """WaveNet's dilated causal stack over ``length`` inputs, and what one of its outputs reads."""

    dilations: tuple[int, ...]  # one per layer, bottom up
    kernel: int  # taps per layer
    length: int  # positions in every row: causal padding keeps each layer as long as the input
    output: int  # the top-row position whose connections are drawn
    field: int  # its receptive field, from cnnviz.analysis.receptive_field
    box: Box  # the input positions it sees (left may be negative: causal padding)
    reached: tuple[frozenset[int], ...]  # per row, bottom (the input) up, the positions that reach the output
    edges: tuple[tuple[int, int, int], ...]  # (row, position, position in the row above) of every drawn connection

    @property
    def formula(self) -> str:
        """1 + (k − 1)·(d₁ + d₂ + …), filled in."""
        return f"1 + ({self.kernel} − 1)·({' + '.join(map(str, self.dilations))}) = {self.field}"


def stack_layers(dilations: tuple[int, ...] = STACK_DILATIONS, kernel: int = STACK_KERNEL) -> list[dict[str, Any]]:
    """The stack as receptive_field layers: a 1-D layer is one row high, its causal padding all on the left."""
    return [{"kernel": (1, kernel), "dilation": (1, d), "padding": ((0, 0), (d * (kernel - 1), 0)), "name": f"d={d}"}
            for d in dilations]


def wavenet_stack(output: int, dilations: tuple[int, ...] = STACK_DILATIONS, kernel: int = STACK_KERNEL,
                  length: int = STACK_LENGTH) -> Stack:
    """The stack's receptive field (the columns axis of ``receptive_field.analyze``) and the connections that reach
    top-row position ``output``, found by walking each layer's taps down from it."""
    rows = receptive_field.analyze(stack_layers(dilations, kernel), input_size=(1, length))
    output = min(max(0, output), length - 1)
    box = receptive_field.input_box(rows, len(rows) - 1, 0, output)
    reached, edges = [frozenset({output})], []
    for row in range(len(dilations), 0, -1):  # from the top row down to the input
        d = dilations[row - 1]
        below = set()
        for position in reached[0]:
            for tap in range(kernel):
                source = position - d * (kernel - 1 - tap)
                if source >= 0:  # negative: the causal padding's zeros, which carry nothing
                    below.add(source)
                    edges.append((row - 1, source, position))
        reached.insert(0, frozenset(below))
    return Stack(tuple(dilations), kernel, length, output, rows[-1].size[1], box, tuple(reached), tuple(sorted(edges)))


@dataclass(frozen=True)
class Term:
    """One tap of the chosen output's window."""

    position: int  # input position; negative or past the end means padding
    value: float  # the input there (0 in the padding)
    weight: float  # the kernel weight at this tap
    padding: bool  # whether the tap lies in the padding


@dataclass(frozen=True)
class SignalsView:
    signal: np.ndarray  # (N,) the input
    kernel: np.ndarray  # (k,) the weights
    axis: Axis  # how the window slides: output length and formula
    output: np.ndarray  # (N',) conv1d's output
    index: int  # the chosen output, within the output

    def at(self, index: int) -> SignalsView:
        """The same view with output ``index`` chosen, clamped to the output."""
        return replace(self, index=min(max(0, index), len(self.output) - 1))

    @property
    def window(self) -> Window:
        """Where the chosen output reads."""
        return self.axis.window(self.index)

    @property
    def terms(self) -> tuple[Term, ...]:
        """The chosen output's taps, in kernel order."""
        n = len(self.signal)
        return tuple(Term(p, float(self.signal[p]) if 0 <= p < n else 0.0, float(weight), not 0 <= p < n)
                     for p, weight in zip(self.window.taps, self.kernel))

    @property
    def total(self) -> float:
        """The sum of the chosen output's products, summed here (the tests hold it to conv1d's value)."""
        return math.fsum(t.value * t.weight for t in self.terms)

    @property
    def explanation(self) -> str:
        """The chosen output's arithmetic: "2×1/3 + 3×1/3 + 4×1/3 = 3"."""
        terms = " + ".join(f"{_signed(t.value)}×{_signed(t.weight, cell_text)}" for t in self.terms)
        return f"{terms} = {fmt(self.total)}"

    @property
    def positions(self) -> str:
        """Which inputs it reads: "y[1] = w[0]·x[1] + w[1]·x[2] + w[2]·x[3]"."""
        return f"y[{self.index}] = " + " + ".join(f"w[{j}]·x[{t.position}]" for j, t in enumerate(self.terms))


def _signed(value: float, text=fmt) -> str:
    return f"({text(value)})" if value < 0 else text(value)


def compute(state: SignalsState) -> SignalsView:
    """The output and the chosen output's window (its ``index`` clamped to the output); the stack is
    ``wavenet_stack(state.stack_output)``, apart, since it does not depend on the signal's settings.

    Raises:
        ValueError: the settings cannot work, saying what to change.
    """
    x, w = state.signal_array(), state.kernel_array()
    padding = 0 if state.causal else state.padding  # causal padding replaces the ordinary one
    geometry = dict(stride=state.stride, padding=padding, dilation=state.dilation, causal=state.causal)
    output = conv1d(x, w, **geometry)
    return SignalsView(x, w, signal_axis(len(x), len(w), **geometry), output, 0).at(state.index)
