"""How a window slides over its input: the one home of output sizes, padding rules and window positions.

``Axis`` answers every question about one axis with exact integers: the output length, the input
positions the floor drops, where output unit ``i``'s window lies (and how much of it is padding), and the
output-size formula written out with the user's numbers. ``Layer`` is one conv or pooling layer in the
same vocabulary (kernel, stride, padding, dilation) along both axes. ``Geometry`` and ``Pooling`` are the
settings a page edits; they turn into ``Layer`` once the kernel and the input size are known.

    >>> Axis(size=5, kernel=3, stride=2, pad_before=1, pad_after=1).out_size
    3
    >>> Axis(size=5, kernel=3, stride=2, pad_before=1, pad_after=1).window(0)
    Window(start=-1, stop=2, dilation=1)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

from cnnviz.errors import UserError

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # what fills the padding
PADDING_PRESETS = ("valid", "same")  # named paddings; anything else is an explicit amount
PADDING_KINDS = PADDING_PRESETS + ("custom",)  # what a page offers: custom = an amount the user sets
POOL_KINDS = ("none", "max", "avg")  # pooling choices of a page; "none" = no pooling stage
LAYER_KINDS = ("conv", "max", "avg")  # what a Layer slides: a kernel, or a max/average pooling window

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools (``True`` is no stride)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_ints(**values: Any) -> None:
    """Raise ValueError naming the first of ``values`` that is not an int of at least 1 (bools are not ints here)."""
    for name, value in values.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {name}={value!r}")


def as_pair(value: Any, name: str, *, minimum: int | None = None) -> tuple[int, int]:
    """An int or a (rows, cols) pair of ints as a pair, checked against ``minimum``.

    Raises:
        ValueError: naming ``name`` and the bad value.
    """
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise UserError("error.geometry.pair", name=name, value=value)
    if minimum is not None and min(pair) < minimum:
        raise UserError("error.at_least", name=name, minimum=minimum, value=value)
    return pair


@dataclass(frozen=True)
class Window:
    """Where one output unit's window lies along an axis, in input coordinates (0 = first real input position)."""

    start: int  # first tap; negative when the window begins in the padding before the input
    stop: int  # one past the last tap; beyond the input length when it ends in the padding after
    dilation: int = 1  # spacing between taps

    @property
    def taps(self) -> range:
        """The input coordinate of every tap, padding included."""
        return range(self.start, self.stop, self.dilation)

    def padding_before(self) -> int:
        """How many positions of the window's span lie in the padding before the input."""
        return max(0, -self.start)

    def padding_after(self, size: int) -> int:
        """How many positions of the window's span lie in the padding after an input of length ``size``."""
        return max(0, self.stop - size)


@dataclass(frozen=True)
class Axis:
    """A window of ``kernel`` taps sliding along one axis of length ``size``."""

    size: int  # input length n
    kernel: int  # taps in the window k (kernel or pooling window length)
    stride: int = 1  # positions the window moves per output unit s
    pad_before: int = 0  # padding before the input (top or left)
    pad_after: int = 0  # padding after the input (bottom or right)
    dilation: int = 1  # spacing between taps d; 1 = dense

    def __post_init__(self) -> None:
        for name, minimum in (("size", 1), ("kernel", 1), ("stride", 1), ("dilation", 1), ("pad_before", 0),
                              ("pad_after", 0)):
            value = getattr(self, name)
            if not is_int(value) or value < minimum:
                raise UserError("error.int_at_least", name=name, minimum=minimum, value=value)
            object.__setattr__(self, name, int(value))

    @property
    def span(self) -> int:
        """Input positions one window covers, gaps between dilated taps included: d(k - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        """Length of the padded input."""
        return self.size + self.pad_before + self.pad_after

    @property
    def fits(self) -> bool:
        """Whether at least one window fits in the padded input."""
        return self.span <= self.padded

    @property
    def out_size(self) -> int:
        """floor((n + before + after - d(k - 1) - 1) / s) + 1, the length torch produces.

        Raises:
            ValueError: the window is longer than the padded input, with what to change.
        """
        if not self.fits:
            raise UserError("error.geometry.window_spans", span=self.span, kernel=self.kernel, dilation=self.dilation,
                            padded=self.padded, size=self.size, before=self.pad_before, after=self.pad_after)
        return (self.padded - self.span) // self.stride + 1

    @property
    def dropped(self) -> int:
        """Trailing input positions that no window reaches: the floor in the formula drops them."""
        last_reached = (self.out_size - 1) * self.stride + self.span - self.pad_before  # one past, input coordinates
        return min(self.size, max(0, self.size - last_reached))

    @property
    def dropped_range(self) -> range:
        """The input positions no window reaches."""
        return range(self.size - self.dropped, self.size)

    def window(self, index: int) -> Window:
        """Where output unit ``index`` looks.

        Raises:
            ValueError: ``index`` is not an output position.
        """
        if not is_int(index) or not 0 <= index < self.out_size:
            raise UserError("error.geometry.output_index", last=self.out_size - 1, index=index)
        start = index * self.stride - self.pad_before
        return Window(start, start + self.span, self.dilation)

    def transposed(self) -> TransposedAxis:
        """The transposed convolution that carries a gradient on this axis's output back to its input (the backward
        pass): the same kernel, stride, padding and dilation, and the output_padding that gives back the positions
        the floor dropped, so its output length is ``size`` again.

            >>> Axis(size=6, kernel=3, stride=2, pad_before=1, pad_after=1).transposed().output_padding
            1

        Raises:
            ValueError: the padding differs before and after (a transposed convolution crops both ends alike).
        """
        if self.pad_before != self.pad_after:
            raise UserError("error.geometry.transposed_pads", before=self.pad_before, after=self.pad_after)
        dropped_by_floor = self.padded - self.span - (self.out_size - 1) * self.stride
        return TransposedAxis(self.out_size, self.kernel, self.stride, self.pad_before, self.dilation, dropped_by_floor)

    @property
    def text(self) -> str:
        """The output-size formula with these numbers: "⌊(5 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3"."""
        return (f"⌊({self.size} + {self.pad_before} + {self.pad_after} − {self.dilation}·({self.kernel} − 1) − 1) "
                f"/ {self.stride}⌋ + 1 = {self.out_size}")


@dataclass(frozen=True)
class TransposedAxis:
    """A transposed convolution along one axis: each of ``size`` input cells writes ``kernel`` taps into the output.

    It is the adjoint of the convolution ``Axis(out_size, kernel, stride, padding, padding, dilation)``, whose
    output length is ``size`` again (``forward``, for output_padding below the stride): the two share one vocabulary, and a transposed convolution is
    how that convolution's input gradient is computed.

        >>> TransposedAxis(size=2, kernel=3, stride=2).out_size
        5
        >>> TransposedAxis(size=2, kernel=3, stride=2).targets(1)
        Window(start=2, stop=5, dilation=1)
    """

    size: int  # input length n
    kernel: int  # taps k
    stride: int = 1  # output positions between the windows of neighbouring input cells s
    padding: int = 0  # output positions cropped from each end p (the forward convolution's padding)
    dilation: int = 1  # spacing between taps d
    output_padding: int = 0  # positions added at the end, to pick one of the sizes a strided forward maps from

    def __post_init__(self) -> None:
        for name, minimum in (("size", 1), ("kernel", 1), ("stride", 1), ("dilation", 1), ("padding", 0),
                              ("output_padding", 0)):
            value = getattr(self, name)
            if not is_int(value) or value < minimum:
                raise UserError("error.int_at_least", name=name, minimum=minimum, value=value)
            object.__setattr__(self, name, int(value))
        if self.output_padding >= max(self.stride, self.dilation):
            # torch's rule: more would add positions no input cell can reach.
            raise UserError("error.geometry.output_padding", output_padding=self.output_padding, stride=self.stride,
                            dilation=self.dilation)
        if self.full_size + self.output_padding - 2 * self.padding < 1:
            raise UserError("error.geometry.transposed_crop", padding=self.padding, full=self.full_size)

    @property
    def span(self) -> int:
        """Output positions one input cell's taps cover: d(k - 1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def full_size(self) -> int:
        """Length before cropping: (n - 1)s + d(k - 1) + 1."""
        return (self.size - 1) * self.stride + self.span

    @property
    def out_size(self) -> int:
        """(n - 1)s - 2p + d(k - 1) + output_padding + 1, the length torch's ``conv_transpose2d`` produces."""
        return self.full_size - 2 * self.padding + self.output_padding

    def targets(self, index: int) -> Window:
        """The output positions input cell ``index`` writes to (those outside 0 .. out_size - 1 are cropped).

        Raises:
            ValueError: ``index`` is not an input position.
        """
        if not is_int(index) or not 0 <= index < self.size:
            raise UserError("error.geometry.input_index", last=self.size - 1, index=index)
        start = index * self.stride - self.padding
        return Window(start, start + self.span, self.dilation)

    def overlaps(self) -> list[int]:
        """How many taps land on each output position: uneven counts are the checkerboard of a strided upsampling."""
        counts = [0] * self.out_size
        for index in range(self.size):
            for position in self.targets(index).taps:
                if 0 <= position < self.out_size:
                    counts[position] += 1
        return counts

    def forward(self) -> Axis:
        """The convolution this transposes: on the output length, with the same kernel, stride, padding and
        dilation; its output length is ``size`` whenever output_padding is smaller than the stride."""
        return Axis(self.out_size, self.kernel, self.stride, self.padding, self.padding, self.dilation)

    @property
    def zero_inserted(self) -> Axis | None:
        """The same result as an ordinary stride-1 convolution with the kernel flipped: ``stride - 1`` zeros between
        input cells, then d(k - 1) - p zeros before and that plus output_padding after. None when the padding is
        larger than d(k - 1), which would crop the input itself."""
        border = self.dilation * (self.kernel - 1) - self.padding
        if border < 0:
            return None
        return Axis((self.size - 1) * self.stride + 1, self.kernel, 1, border, border + self.output_padding,
                    self.dilation)

    @property
    def text(self) -> str:
        """The output-size formula with these numbers: "(2 − 1)·2 − 2·0 + 1·(3 − 1) + 0 + 1 = 5"."""
        return (f"({self.size} − 1)·{self.stride} − 2·{self.padding} + {self.dilation}·({self.kernel} − 1) + "
                f"{self.output_padding} + 1 = {self.out_size}")


def transposed_axes(x_hw: Sequence[int], kernel_hw: Sequence[int], *, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, dilation: Any = 1) -> tuple[TransposedAxis, TransposedAxis]:
    """The (rows, cols) axes of a transposed convolution of an ``x_hw`` input with a ``kernel_hw`` kernel, each
    argument an int or a (rows, cols) pair.

    Raises:
        ValueError: naming the bad value.
    """
    strides = as_pair(stride, "stride", minimum=1)
    pads = as_pair(padding, "padding", minimum=0)
    extra = as_pair(output_padding, "output_padding", minimum=0)
    dilations = as_pair(dilation, "dilation", minimum=1)
    return tuple(TransposedAxis(n, k, s, p, d, e)
                 for n, k, s, p, d, e in zip(x_hw, kernel_hw, strides, pads, dilations, extra))


def nearest_centre(position: float, first_centre: float, step: float, count: float = math.inf) -> int:
    """Which of evenly spaced centres (``first_centre``, ``first_centre + step``, ...) lies nearest ``position``.

    Halfway between two goes to the later one (never Python's round-half-to-even); positions beyond either end go
    to the end's index, the last being ``count - 1``.
    """
    index = math.floor((position - first_centre) / step + 0.5)
    return int(min(max(index, 0), count - 1))


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that gives ceil(size / stride) outputs: TensorFlow's "same".

    An odd total puts the extra position after; with stride 1 this is exactly torch's ``padding="same"``.
    """
    out = -(-size // stride)  # ceil without floats
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding: Any, kernel_hw: Sequence[int], *, stride: Any = 1, dilation: Any = 1,
                    input_hw: Sequence[int]) -> Pads:
    """A padding argument as explicit ((top, bottom), (left, right)) amounts.

    Args:
        padding: an int, (rows, cols), "valid" (none) or "same" (see ``same_padding``).
        kernel_hw: (kernel rows, kernel cols).
        stride: int or (rows, cols).
        dilation: int or (rows, cols).
        input_hw: (input rows, input cols).

    Raises:
        ValueError: naming the bad value.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise UserError("error.geometry.padding_arg", padding=padding)
        strides = as_pair(stride, "stride", minimum=1)
        dilations = as_pair(dilation, "dilation", minimum=1)
        rows, cols = (same_padding(n, k, s, d) for n, k, s, d in zip(input_hw, kernel_hw, strides, dilations))
        return (rows, cols)
    rows, cols = as_pair(padding, "padding", minimum=0)
    return ((rows, rows), (cols, cols))


@dataclass(frozen=True)
class Layer:
    """One conv or pooling layer's window along both axes: the vocabulary every page shares."""

    kernel: tuple[int, int]  # (rows, cols) taps of the kernel or pooling window
    stride: tuple[int, int] = (1, 1)  # (rows, cols) the window moves per output unit
    padding: Pads = ((0, 0), (0, 0))  # ((top, bottom), (left, right)) added around the input
    dilation: tuple[int, int] = (1, 1)  # (rows, cols) spacing between taps
    kind: str = "conv"  # conv, max or avg

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", as_pair(self.kernel, "kernel", minimum=1))
        object.__setattr__(self, "stride", as_pair(self.stride, "stride", minimum=1))
        object.__setattr__(self, "dilation", as_pair(self.dilation, "dilation", minimum=1))
        padding = self.padding
        if is_int(padding) or (isinstance(padding, (tuple, list)) and len(padding) == 2 and all(map(is_int, padding))):
            rows, cols = as_pair(padding, "padding", minimum=0)
            padding = ((rows, rows), (cols, cols))
        elif not (isinstance(padding, (tuple, list)) and len(padding) == 2):
            raise UserError("error.geometry.layer_padding", padding=padding)
        pads = (as_pair(padding[0], "padding rows", minimum=0), as_pair(padding[1], "padding cols", minimum=0))
        object.__setattr__(self, "padding", pads)
        if self.kind not in LAYER_KINDS:
            raise UserError("error.geometry.layer_kind", options=LAYER_KINDS, kind=self.kind)

    def axes(self, input_hw: Sequence[int]) -> tuple[Axis, Axis]:
        """The (rows, cols) axes of this layer on an input of ``input_hw``."""
        return tuple(Axis(n, k, s, before, after, d) for n, k, s, (before, after), d
                     in zip(input_hw, self.kernel, self.stride, self.padding, self.dilation))

    def out_hw(self, input_hw: Sequence[int]) -> tuple[int, int]:
        """(rows, cols) of the output. Raises ValueError when the window does not fit."""
        rows, cols = self.axes(input_hw)
        return rows.out_size, cols.out_size


@dataclass(frozen=True)
class Geometry:
    """Padding, stride, dilation and flip of one convolution, as a page edits them."""

    padding: str | tuple[int, int] = "valid"  # "valid", "same", or (rows, cols) added on each side
    padding_mode: str = "zeros"  # what fills the padding: zeros, reflect, replicate or circular
    stride: tuple[int, int] = (1, 1)  # (rows, cols) the window moves per output unit
    dilation: tuple[int, int] = (1, 1)  # (rows, cols) spacing between kernel taps; 1 = dense
    flip: bool = False  # True = true convolution (kernel rotated 180°); False = cross-correlation, as nn.Conv2d

    def __post_init__(self) -> None:
        if isinstance(self.padding, str):
            if self.padding not in PADDING_PRESETS:
                raise UserError("error.geometry.padding_preset", padding=self.padding)
        else:
            object.__setattr__(self, "padding", as_pair(self.padding, "padding", minimum=0))
        object.__setattr__(self, "stride", as_pair(self.stride, "stride", minimum=1))
        object.__setattr__(self, "dilation", as_pair(self.dilation, "dilation", minimum=1))
        if self.padding_mode not in PADDING_MODES:
            raise UserError("error.one_of", name="padding_mode", options=PADDING_MODES, value=self.padding_mode)

    @classmethod
    def chosen(cls, padding: str, pad: Sequence[int], padding_mode: str, stride: Sequence[int],
               dilation: Sequence[int], flip: bool) -> Geometry:
        """The geometry a page's controls describe: ``padding`` is "valid", "same" or "custom" (then ``pad``)."""
        return cls(padding=tuple(pad) if padding == "custom" else padding, padding_mode=padding_mode,
                   stride=tuple(stride), dilation=tuple(dilation), flip=flip)

    def conv_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``cnnviz.conv.ops.conv2d``."""
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                "padding_mode": self.padding_mode, "flip": self.flip}

    def layer(self, kernel_hw: Sequence[int], input_hw: Sequence[int]) -> Layer:
        """This convolution as a ``Layer``, its padding resolved for a ``kernel_hw`` kernel on ``input_hw``."""
        pads = resolve_padding(self.padding, kernel_hw, stride=self.stride, dilation=self.dilation, input_hw=input_hw)
        return Layer(tuple(kernel_hw), self.stride, pads, self.dilation)

    def to_dict(self) -> dict[str, Any]:
        return {"padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "padding_mode": self.padding_mode, "stride": list(self.stride), "dilation": list(self.dilation),
                "flip": self.flip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Geometry:
        fields = {k: data[k] for k in ("padding", "padding_mode", "stride", "dilation", "flip") if k in data}
        for name in ("padding", "stride", "dilation"):
            if isinstance(fields.get(name), list):
                fields[name] = tuple(fields[name])
        return cls(**fields)


@dataclass(frozen=True)
class Pooling:
    """The pooling stage after the activation."""

    kind: str = "none"  # none, max or avg
    size: tuple[int, int] = (2, 2)  # (rows, cols) of each pooling window
    stride: tuple[int, int] = (2, 2)  # (rows, cols) between windows; equal to size = no overlap

    def __post_init__(self) -> None:
        if self.kind not in POOL_KINDS:
            raise UserError("error.geometry.pool_kind", options=POOL_KINDS, kind=self.kind)
        object.__setattr__(self, "size", as_pair(self.size, "pool size"))
        object.__setattr__(self, "stride", as_pair(self.stride, "pool stride"))
        if min(self.size) < 1 or min(self.stride) < 1:
            raise UserError("error.geometry.pool_size_stride", size=self.size, stride=self.stride)

    def layer(self) -> Layer:
        """This pooling as a ``Layer`` (no padding). Raises ValueError for kind "none"."""
        if self.kind == "none":
            raise UserError("error.geometry.pool_none")
        return Layer(self.size, self.stride, kind=self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": list(self.size), "stride": list(self.stride)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pooling:
        return cls(kind=data.get("kind", "none"), size=tuple(data.get("size", (2, 2))),
                   stride=tuple(data.get("stride", (2, 2))))

