"""Receptive fields through a graph's branches: one ATen operator at a time, per axis (Araujo et al., Distill 2019).

A field is the single-path recurrence of ``cnnviz.analysis.receptive_field`` (``next_size``, ``next_start``,
``next_jump``, over the window of ``geometry.Layer``), carried node by node. Where paths meet (``add``, ``cat``,
any elementwise operator of two maps) the field is the union over the paths, as the paper's multi-path section
does: the earliest start and the latest end. That is one rectangle per unit only when the paths' jumps agree;
when they differ the field is unknown. The paths are *misaligned* when their fields' centres differ: a unit then
mixes evidence centred on different input pixels, as a shortcut without padding does.

Upsampling and transposed convolutions are outside the framework: how many input units a unit sees depends on
where it sits (the checkerboard), so no single size, jump and start describes a layer, and the fields after one are
unknown as three numbers. Each unit's own field is still exact: ``Reach`` says how a row reads the maps before it,
unit by unit, and ``analysis.walked_box`` walks a unit back to the input along it. The fields after an operator
this module does not know are unknown either way. A map without spatial axes (after
``flatten`` or a linear layer) has no field at all, which is a different thing from an unknown one.

    >>> from cnnviz.conv.geometry import Layer
    >>> Field.of_input().through(Layer(3, 2, 1), (8, 8))
    Field(size=(3, 3), jump=(2, 2), start=(-1, -1))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from cnnviz.analysis.receptive_field import next_jump, next_size, next_start
from cnnviz.conv.geometry import Layer, resolve_padding
from cnnviz.errors import Text

# Operators that leave every spatial position where it was, whatever their arguments.
POINTWISE = frozenset({
    "relu", "relu6", "sigmoid", "tanh", "leaky_relu", "hardtanh", "gelu", "silu", "elu", "selu", "celu", "mish",
    "hardswish", "hardsigmoid", "softplus", "prelu", "clamp", "clamp_min", "clamp_max", "batch_norm", "dropout",
    "feature_dropout", "alpha_dropout", "clone", "contiguous", "alias", "detach", "_to_copy", "to", "abs", "neg",
    "exp", "log", "sqrt", "rsqrt", "square", "pow",
})
MERGES = frozenset({"add", "sub", "rsub", "mul", "div", "maximum", "minimum"})  # elementwise over several inputs
CHANNEL_OPS = frozenset({"softmax", "log_softmax", "split", "split_with_sizes", "chunk", "unbind",
                         "select"})  # pointwise when they act along the channel axis only
UPSAMPLES = frozenset({"upsample_nearest2d", "upsample_bilinear2d", "upsample_bicubic2d", "_upsample_nearest_exact2d",
                       "conv_transpose2d", "pixel_shuffle"})
SHAPE_OPS = frozenset({"view", "reshape", "_unsafe_view", "flatten", "squeeze", "unsqueeze", "permute"})
KNOWN = POINTWISE | MERGES | CHANNEL_OPS | UPSAMPLES | SHAPE_OPS | {
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax", "slice",
    "narrow", "constant_pad_nd", "pad", "cat", "linear", "mm", "matmul",
}


@dataclass(frozen=True)
class Field:
    """What unit 0 of a map sees of the input, per (rows, cols) axis; unit i's field is shifted by i·jump."""

    size: tuple[int, int]  # input positions one unit sees
    jump: tuple[int, int]  # input positions between neighbouring units
    start: tuple[int, int]  # input coordinate where unit 0's field begins; negative = padding

    @classmethod
    def of_input(cls) -> Field:
        """The input image itself: each pixel sees itself."""
        return cls((1, 1), (1, 1), (0, 0))

    def through(self, layer: Layer, input_hw: Sequence[int]) -> Field:
        """The field after a conv or pooling window ``layer`` on an ``input_hw`` map."""
        axes = layer.axes(input_hw)
        return Field(tuple(next_size(r, axis.span, j) for r, axis, j in zip(self.size, axes, self.jump)),
                     tuple(next_jump(j, axis.stride) for j, axis in zip(self.jump, axes)),
                     tuple(next_start(a, axis.pad_before, j) for a, axis, j in zip(self.start, axes, self.jump)))

    def crop(self, axis: int, first: int, step: int) -> Field:
        """The field after keeping every ``step``-th unit from ``first`` on along ``axis`` (0 rows, 1 cols);
        a negative ``first`` pads (``constant_pad_nd``), the way padding before a window does."""
        start, jump = list(self.start), list(self.jump)
        start[axis] = next_start(start[axis], -first, jump[axis])
        jump[axis] = next_jump(jump[axis], step)
        return Field(self.size, tuple(jump), tuple(start))

    def centre(self) -> tuple[float, float]:
        """Input coordinates of unit 0's field centre: start + (size - 1) / 2."""
        return tuple(a + (r - 1) / 2 for a, r in zip(self.start, self.size))


@dataclass(frozen=True)
class Step:
    """What one operator does to the field: the field after it, and what a table row says about it."""

    field: Field | None  # None: no field (not a spatial map) or an unknown one (``note`` says why)
    misaligned: bool = False  # paths met whose fields' centres differ
    window: Layer | None = None  # the conv or pooling window, for rows that slide one
    note: Text | None = None  # why the field is unknown, in the reader's language


def union(fields: Sequence[Field]) -> Step:
    """The field where paths meet: the earliest start to the latest end on each axis.

    Args:
        fields: each path's field, every one known.

    Returns:
        The union; unknown when the jumps differ (unit i's paths then drift apart as i grows). ``misaligned`` when
        the centres differ.
    """
    if len({field.jump for field in fields}) > 1:
        return Step(None, True, note=Text("gtable.note.jumps_differ", jumps=sorted({f.jump for f in fields})))
    start = tuple(min(f.start[axis] for f in fields) for axis in (0, 1))
    end = tuple(max(f.start[axis] + f.size[axis] for f in fields) for axis in (0, 1))
    merged = Field(tuple(e - a for a, e in zip(start, end)), fields[0].jump, start)
    return Step(merged, misaligned=len({field.centre() for field in fields}) > 1)


def _pair(value: Any, default: Sequence[int]) -> tuple[int, int]:
    """An ATen int list ([k] or [kh, kw]; [] for "as the kernel") as a (rows, cols) pair."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return tuple(default)
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[-1]))


def _spatial_dim(dim: int, rank: int) -> int | None:
    """0 for rows, 1 for cols, None for the batch or channel axis of a ``rank``-D tensor."""
    dim = dim % rank
    return dim - 2 if rank == 4 and dim >= 2 else None


def step(op: str, args: dict[str, Any], parents: Sequence[tuple[Field | None, tuple[int, ...] | None]],
         out_shape: tuple[int, ...] | None, name: str) -> Step:
    """The field after one operator.

    Args:
        op: the short operator name (``analysis.short_op``).
        args: its arguments by schema name, defaults filled in (``torch.fx`` ``normalize_function``), each tensor
            argument replaced by its shape (with the batch).
        parents: (field, shape with the batch) of each data input in argument order; a field None when unknown or
            when that input has none.
        out_shape: the operator's output shape with the batch; None when it is not a tensor.
        name: the row's name, for the notes.

    Returns:
        The Step; its field is None without a note when the output has no spatial axes.
    """
    if out_shape is None or len(out_shape) != 4:
        return Step(None)
    maps = [(field, shape) for field, shape in parents if shape is not None and len(shape) == 4]
    if not maps:
        return Step(None, note=Text("gtable.note.no_map", op=op, name=name))
    if op not in KNOWN:
        return Step(None, note=Text("gtable.note.unknown_op", op=op, name=name))
    if op in UPSAMPLES:
        return Step(None, note=Text("gtable.note.upsampling", op=op, name=name))
    unknown = [shape for field, shape in maps if field is None]
    if unknown:
        return Step(None)  # the row that lost the field says why
    field, shape = maps[0]
    in_hw, out_hw = tuple(shape[2:]), tuple(out_shape[2:])
    if op in MERGES or op == "cat":
        if op == "cat" and _spatial_dim(args.get("dim", 0), 4) is not None:
            return Step(None, note=Text("gtable.note.spatial_cat"))
        if any(tuple(s[2:]) != out_hw for _, s in maps):
            return Step(None, note=Text("gtable.note.broadcast", op=op))
        return union([f for f, _ in maps]) if len(maps) > 1 else Step(field)
    if op in ("conv2d", "max_pool2d", "avg_pool2d"):
        kernel = _pair(args["weight"][2:] if op == "conv2d" else args["kernel_size"], (1, 1))
        stride = _pair(args.get("stride"), kernel)
        padding = args.get("padding", 0)
        if isinstance(padding, str):
            pads = resolve_padding(padding, kernel, stride=stride, dilation=_pair(args.get("dilation"), (1, 1)),
                                   input_hw=in_hw)
        else:
            rows, cols = _pair(padding, (0, 0))
            pads = ((rows, rows), (cols, cols))
        kind = {"conv2d": "conv", "max_pool2d": "max", "avg_pool2d": "avg"}[op]
        window = Layer(kernel, stride, pads, _pair(args.get("dilation"), (1, 1)), kind)
        return Step(field.through(window, in_hw), window=window)
    if op in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax"):
        if op in ("mean", "amax") and {d % 4 for d in args.get("dim") or ()} != {2, 3}:
            return Step(None, note=Text("gtable.note.unsupported", op=op, name=name))
        if any(n % o for n, o in zip(in_hw, out_hw)):
            # Windows of uneven sizes: no single size and jump describe the layer.
            return Step(None, note=Text("gtable.note.uneven_pool", h=in_hw[0], w=in_hw[1], oh=out_hw[0], ow=out_hw[1]))
        kernel = tuple(n // o for n, o in zip(in_hw, out_hw))  # divisible: an ordinary pool with stride = window
        window = Layer(kernel, kernel, kind="max" if "max" in op else "avg")
        return Step(field.through(window, in_hw), window=window)
    if op in ("slice", "narrow"):
        axis = _spatial_dim(args["dim"], 4)
        if axis is None:
            return Step(field)
        first = args.get("start") or 0
        first = max(first + in_hw[axis], 0) if first < 0 else first
        return Step(field.crop(axis, min(first, in_hw[axis]), args.get("step", 1)))
    if op in ("constant_pad_nd", "pad"):  # copied pixels (reflect) count as padding too, as on the RF page
        pad = list(args["pad"]) + [0] * 4  # (left, right, top, bottom, ...): the last axis first
        return Step(field.crop(1, -pad[0], 1).crop(0, -pad[2], 1))
    if op in CHANNEL_OPS:
        if _spatial_dim(args.get("dim", 0), 4) is not None:
            return Step(None, note=Text("gtable.note.unsupported", op=op, name=name))
        return Step(field)
    if op in SHAPE_OPS:
        # Only a reshape that keeps every axis keeps the field: a square map's rows and columns swapped by
        # ``permute`` have the same shape, but not the same fields.
        keeps_axes = op != "permute" or [d % 4 for d in args["dims"]] == [0, 1, 2, 3]
        if keeps_axes and out_hw == in_hw and out_shape[:2] == tuple(shape[:2]):
            return Step(field)
        return Step(None, note=Text("gtable.note.unsupported", op=op, name=name))
    return Step(field)  # POINTWISE


# --- one unit's field, walked back: exact for every operator cnnviz knows -----------------------------------

# How the resampling kinds of Reach read their input (PyTorch's interpolation, per axis, ``r`` = input/output).
RESAMPLING = frozenset({"adaptive", "nearest", "nearest_exact", "linear", "linear_corners", "cubic", "cubic_corners",
                        "transposed", "shuffle"})


@dataclass(frozen=True)
class Reach:
    """Which units of a map a row reads, for a range of the row's own units, per axis: exact unit by unit, also
    where no single size, jump and start describe the row (after an upsampling or a transposed convolution).

    A unit's field is then found by walking back from it to the input (``analysis.unit_box``): a window's span,
    the input units an interpolation blends, the inputs a transposed convolution scatters from, the union where
    paths meet.
    """

    kind: str  # "same", "all" (a vector: every unit read), "window", "crop", or one of RESAMPLING
    axes: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # per axis (rows, cols), the numbers ``kind`` reads

    def back(self, axis: int, lo: int, hi: int, in_size: int, out_size: int) -> tuple[int, int] | None:
        """The parent's units that units ``lo``..``hi`` (inclusive) of this row read along ``axis``, where the
        parent's map has ``in_size`` units and this row's ``out_size``; None when they read none of it.

        Units outside the map (a later window's padding) extend a window or a crop the way padding does; a
        resampling row has no such units, so the range is cut to its map first."""
        numbers = self.axes[axis]
        if self.kind == "same":
            return (0, 0) if in_size == 1 and out_size != 1 else (lo, hi)  # a broadcast (an SE block's scale)
        if self.kind == "all":
            return 0, in_size - 1
        if self.kind == "window":
            stride, before, span = numbers
            return lo * stride - before, hi * stride - before + span - 1
        if self.kind == "crop":
            first, step_ = numbers
            return first + lo * step_, first + hi * step_
        lo, hi = max(lo, 0), min(hi, out_size - 1)
        if lo > hi:
            return None
        if self.kind == "transposed":  # input i writes output i·s − p + t·d for each tap t
            stride, before, kernel, dilation = numbers
            # The taps repeat every stride outputs, so the range's first and last inputs are read by its first and
            # last stride units; a unit no tap lands on (a stride above the kernel's span) reads none.
            edges = set(range(lo, min(lo + stride, hi + 1))) | set(range(max(hi - stride + 1, lo), hi + 1))
            read = [(o + before - t * dilation) // stride for o in edges for t in range(kernel)
                    if (o + before - t * dilation) % stride == 0
                    and 0 <= (o + before - t * dilation) // stride < in_size]
            return (min(read), max(read)) if read else None
        if self.kind == "shuffle":
            return lo // numbers[0], hi // numbers[0]
        if self.kind == "adaptive":  # PyTorch's windows: floor(o·in/out) to ceil((o+1)·in/out)
            return lo * in_size // out_size, -((-(hi + 1) * in_size) // out_size) - 1
        ratio = numbers[0] if numbers else in_size / out_size
        if self.kind == "nearest":
            first, last = math.floor(lo * ratio), math.floor(hi * ratio)
        elif self.kind == "nearest_exact":
            first, last = math.floor((lo + 0.5) * ratio), math.floor((hi + 0.5) * ratio)
        else:  # an interpolation: a unit reads the taps around its source position that weigh more than 0
            corners = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
            # At an exact source position the taps beside it weigh 0, so the extreme taps of the range are found on
            # its first two and last two units.
            first = min(self._taps(o, ratio, corners)[0] for o in (lo, min(lo + 1, hi)))
            last = max(self._taps(o, ratio, corners)[1] for o in (max(hi - 1, lo), hi))
        return max(first, 0), min(last, in_size - 1)

    def _taps(self, unit: int, ratio: float, corners: float) -> tuple[int, int]:
        """The first and last input unit that output ``unit`` of an interpolation reads with a weight above 0."""
        if self.kind.endswith("corners"):
            source = unit * corners  # corners aligned: output o sits at o·(in − 1)/(out − 1)
        else:  # half-pixel centres; linear clamps below 0, cubic reads the clamped border instead
            source = (unit + 0.5) * ratio - 0.5
            source = max(source, 0.0) if self.kind == "linear" else source
        base, between = math.floor(source), source != math.floor(source)
        if self.kind.startswith("linear"):
            return base, base + between
        return base - between, base + 2 * between


def _scale_ratios(args: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per axis, the input/output ratio an interpolation uses when it was given scale factors (1/scale); () to
    compute it from the sizes."""
    factors = args.get("scale_factors") or [args.get("scales_h"), args.get("scales_w")]
    return tuple(((1.0 / float(f),) if f else ()) for f in list(factors)[-2:]) if factors else ((), ())


def reach(op: str, args: dict[str, Any], out_shape: tuple[int, ...] | None) -> Reach | None:
    """How ``op`` reads its maps unit by unit (``Reach``); "all" for an output without places (a vector, which
    reads everything it is computed from); None for an operator whose reading cnnviz does not know. ``args`` as for
    ``step``."""
    if out_shape is None or op not in KNOWN:
        return None
    if len(out_shape) != 4:
        return Reach("all")
    if op in POINTWISE or op in MERGES or op == "cat":
        return None if op == "cat" and _spatial_dim(args.get("dim", 0), 4) is not None else Reach("same")
    if op in CHANNEL_OPS:
        return None if _spatial_dim(args.get("dim", 0), 4) is not None else Reach("same")
    if op in SHAPE_OPS:
        keeps = op != "permute" or [d % 4 for d in args["dims"]] == [0, 1, 2, 3]
        shape = args.get("input") or args.get("self")
        if keeps and shape is not None and tuple(shape) == tuple(out_shape):
            return Reach("same")
        return Reach("all") if tuple(out_shape[2:]) == (1, 1) else None  # a vector made a 1x1 map: one place
    if op in ("conv2d", "max_pool2d", "avg_pool2d", "conv_transpose2d"):
        kernel = _pair(args["weight"][2:] if "conv" in op else args["kernel_size"], (1, 1))
        stride = _pair(args.get("stride"), (1, 1) if "conv" in op else kernel)
        dilation = _pair(args.get("dilation"), (1, 1))
        padding = args.get("padding", 0)
        in_hw = tuple((args.get("input") or args.get("self"))[2:])
        if isinstance(padding, str):
            befores = tuple(before for before, _ in resolve_padding(padding, kernel, stride=stride, dilation=dilation,
                                                                    input_hw=in_hw))
        else:
            befores = _pair(padding, (0, 0))
        if op == "conv_transpose2d":
            return Reach("transposed", tuple(zip(stride, befores, kernel, dilation)))
        return Reach("window", tuple((s, b, (k - 1) * d + 1) for s, b, k, d in zip(stride, befores, kernel, dilation)))
    if op in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax"):
        if op in ("mean", "amax") and {d % 4 for d in args.get("dim") or ()} != {2, 3}:
            return None
        return Reach("adaptive")
    if op in ("slice", "narrow"):
        axis = _spatial_dim(args["dim"], 4)
        if axis is None:
            return Reach("same")
        size = (args.get("input") or args.get("self"))[2 + axis]
        first = args.get("start") or 0
        first = max(first + size, 0) if first < 0 else min(first, size)
        axes = [(0, 1), (0, 1)]
        axes[axis] = (first, args.get("step", 1))
        return Reach("crop", tuple(axes))
    if op in ("constant_pad_nd", "pad"):
        pad = list(args["pad"]) + [0] * 4  # (left, right, top, bottom): the last axis first
        return Reach("crop", ((-pad[2], 1), (-pad[0], 1)))
    if op == "pixel_shuffle":
        factor = args["upscale_factor"]
        return Reach("shuffle", ((factor,), (factor,)))
    corners = bool(args.get("align_corners"))
    kind = {"upsample_nearest2d": "nearest", "_upsample_nearest_exact2d": "nearest_exact",
            "upsample_bilinear2d": "linear_corners" if corners else "linear",
            "upsample_bicubic2d": "cubic_corners" if corners else "cubic"}.get(op)
    if kind is None:
        return None
    return Reach(kind, ((), ()) if corners else _scale_ratios(args))
