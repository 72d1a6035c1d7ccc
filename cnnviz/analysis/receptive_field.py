"""Receptive fields of a stack of conv and pooling layers: what each output unit sees of the input.

Per axis, with a dilated kernel counted by its span d(k - 1) + 1 (Araujo et al., Distill 2019):

    jump   j_l = j_{l-1} · s_l                       (input positions between neighbouring units; j_0 = 1)
    size   r_l = r_{l-1} + (span_l - 1) · j_{l-1}    (input positions one unit sees; r_0 = 1)
    start  a_l = a_{l-1} - p_l · j_{l-1}             (first input position of unit 0; a_0 = 0; p = padding before)

Unit ``i`` of layer ``l`` sees input positions ``a_l + i·j_l`` up to (not including) ``a_l + i·j_l + r_l``;
negative or beyond the input means padding. Output sizes come from ``geometry.Axis``, never from a second
formula here. The field is the theoretical one: pixels that a floor drops at the bottom or right edge can
lie inside a unit's box without reaching it, and padding that copies pixels (reflect, replicate, circular)
is still reported as padding.

    >>> rows = analyze([{"kernel": 3, "padding": 1}, {"kernel": 2, "stride": 2, "kind": "max"}], input_size=28)
    >>> rows[-1].size, rows[-1].jump, rows[-1].start, rows[-1].out_size
    ((4, 4), (2, 2), (-1, -1), (14, 14))
    >>> input_box(rows, 1, 0, 0)
    Box(top=-1, left=-1, bottom=3, right=3)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnviz.conv.geometry import Layer, as_pair, is_int, nearest_centre, resolve_padding
from cnnviz.errors import UserError

SPEC_DEFAULTS = {"kernel": 1, "stride": 1, "padding": 0, "dilation": 1, "kind": "conv", "name": None}  # a dict layer
# Modules that leave every spatial position where it was: elementwise activations, normalisation, dropout.
KEEPS_GEOMETRY = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus, nn.Softsign, nn.LogSigmoid,
    nn.Threshold, nn.Softmax2d, nn.BatchNorm2d, nn.SyncBatchNorm, nn.InstanceNorm2d, nn.GroupNorm,
    nn.LocalResponseNorm, nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)
ENDS_SPATIAL = (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)  # the spatial part stops here


def next_jump(jump: int, stride: int) -> int:
    """Jump (effective stride) after a layer.

    Args:
        jump: input positions between neighbouring units of the layer's input.
        stride: the layer's stride.

    Returns:
        Input positions between neighbouring units of the layer's output.
    """
    return jump * stride


def next_size(size: int, span: int, jump: int) -> int:
    """Receptive field size after a layer.

    Args:
        size: input positions one unit of the layer's input sees.
        span: input units one window covers, d(k - 1) + 1.
        jump: jump of the layer's input.

    Returns:
        Input positions one unit of the layer's output sees.
    """
    return size + (span - 1) * jump


def next_start(start: int, pad_before: int, jump: int) -> int:
    """Input coordinate where unit 0's field begins after a layer.

    Args:
        start: where unit 0 of the layer's input begins its field.
        pad_before: the layer's padding before the input (top or left).
        jump: jump of the layer's input.

    Returns:
        Where unit 0 of the layer's output begins its field; negative when it reaches into padding.
    """
    return start - pad_before * jump


@dataclass(frozen=True)
class RFRow:
    """One layer's receptive field, every per-axis value a (rows, cols) pair."""

    index: int  # position in the list analyze was given
    name: str  # the dict's "name", the module's qualified name, or kind + index ("conv0")
    kind: str  # conv, max or avg
    layer: Layer  # the layer's geometry, padding resolved
    size: tuple[int, int]  # input positions one unit sees
    jump: tuple[int, int]  # input positions between neighbouring units
    start: tuple[int, int]  # input coordinate where unit 0's field begins; negative = padding
    out_size: tuple[int, int] | None = None  # the layer's output; None when analyze got no input size


@dataclass(frozen=True)
class Box:
    """A half-open rectangle in input coordinates; it may stick out of the image into the padding."""

    top: int  # first row
    left: int  # first column
    bottom: int  # one past the last row
    right: int  # one past the last column

    def clip(self, height: int, width: int) -> Box:
        """The part inside a ``height`` x ``width`` image (empty, zero area, when none is)."""
        height, width = as_pair((height, width), "image size", minimum=1)
        top, left = min(max(self.top, 0), height), min(max(self.left, 0), width)
        return Box(top, left, max(min(self.bottom, height), top), max(min(self.right, width), left))

    @property
    def area(self) -> int:
        """Rows times columns."""
        return (self.bottom - self.top) * (self.right - self.left)

    def in_padding(self, height: int, width: int) -> bool:
        """Whether any of the box lies outside a ``height`` x ``width`` image."""
        return self.clip(height, width) != self

    def padding_fraction(self, height: int, width: int) -> float:
        """Share of the box's area outside a ``height`` x ``width`` image."""
        return 1 - self.clip(height, width).area / self.area


def _layer_of(spec: Any, index: int, input_hw: tuple[int, int] | None) -> tuple[str, Layer]:
    """A dict or Layer as (name, Layer); string padding resolved against ``input_hw``."""
    if isinstance(spec, Layer):
        return f"{spec.kind}{index}", spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"layer {index} must be a dict or a geometry.Layer, got {spec!r}")
    label = f"layer {index}" + (f" ({spec['name']})" if "name" in spec else "")
    unknown = [key for key in spec if key not in SPEC_DEFAULTS]
    if unknown:
        raise ValueError(f"{label} has unknown keys {unknown!r}; allowed: {sorted(SPEC_DEFAULTS)}")
    fields = {**SPEC_DEFAULTS, **spec}  # a new dict: the caller's is left alone
    try:
        if fields["name"] is not None and not isinstance(fields["name"], str):
            raise ValueError(f"name must be a string, got name={fields['name']!r}")
        padding = fields["padding"]
        if isinstance(padding, str):
            if padding == "same" and input_hw is None:
                raise ValueError("padding='same' depends on the input: give analyze an input_size")
            padding = resolve_padding(padding, as_pair(fields["kernel"], "kernel", minimum=1), stride=fields["stride"],
                                      dilation=fields["dilation"], input_hw=input_hw or (1, 1))
        layer = Layer(fields["kernel"], fields["stride"], padding, fields["dilation"], fields["kind"])
    except ValueError as error:
        if "name" in spec:
            raise UserError("error.rf.named_layer", index=index, name=spec["name"], reason=error) from None
        raise UserError("error.rf.layer", index=index, reason=error) from None
    return fields["name"] or f"{layer.kind}{index}", layer


def analyze(layers: Sequence[Mapping[str, Any] | Layer], input_size: int | Sequence[int] | None = None) -> list[RFRow]:
    """Receptive field size, jump and start after each layer, and its output size when the input is known.

    Args:
        layers: dicts with keys kernel, stride, padding, dilation (defaults 1, 1, 0, 1; each an int or a
            (rows, cols) pair, padding also ((top, bottom), (left, right)), "valid" or "same"), optional
            "name" and "kind" (conv, max, avg); or ``geometry.Layer`` objects. Left unchanged.
        input_size: None, an int (square) or (H, W).

    Returns:
        One RFRow per layer, in order.

    Raises:
        ValueError: a bad layer (naming its index and the value) or input size, or a layer whose window
            does not fit the map it receives.
    """
    hw = None if input_size is None else as_pair(input_size, "input_size", minimum=1)
    size, jump, start = (1, 1), (1, 1), (0, 0)
    rows = []
    for index, spec in enumerate(layers):
        name, layer = _layer_of(spec, index, hw)
        axes = layer.axes(hw or (1, 1))  # span, stride and padding do not depend on the input size
        size = tuple(next_size(r, axis.span, j) for r, axis, j in zip(size, axes, jump))
        start = tuple(next_start(a, axis.pad_before, j) for a, axis, j in zip(start, axes, jump))
        jump = tuple(next_jump(j, axis.stride) for j, axis in zip(jump, axes))
        if hw is not None:
            try:
                hw = layer.out_hw(hw)
            except ValueError as error:
                span = next(axis.span for axis in axes if not axis.fits)
                raise UserError("error.rf.vanishes", index=index, name=name, h=hw[0], w=hw[1], span=span,
                                reason=error) from None
        rows.append(RFRow(index, name, layer.kind, layer, size, jump, start, hw))
    return rows


def analyze_model(module: nn.Module, input_size: int | Sequence[int]) -> list[RFRow]:
    """``analyze`` for a torch model of Conv2d, MaxPool2d and AvgPool2d layers, rows named by module.

    Leaves are walked in registration order, which is forward order for ``nn.Sequential``-style models.
    Activations, normalisation and dropout are skipped; the first Flatten, Linear or adaptive pooling ends
    the walk. Channels and weights play no part, so the model may live on the meta device.

    Args:
        module: the model.
        input_size: an int (square) or (H, W); needed to resolve padding="same".

    Returns:
        One RFRow per conv or pooling layer.

    Raises:
        ValueError: a module that may change the geometry in an unknown way, or pooling with ceil_mode=True.
    """
    specs = []
    for qualified, leaf in module.named_modules():
        if next(leaf.children(), None) is not None or isinstance(leaf, KEEPS_GEOMETRY):
            continue
        name = qualified or type(leaf).__name__
        if isinstance(leaf, ENDS_SPATIAL):
            break
        if isinstance(leaf, (nn.MaxPool2d, nn.AvgPool2d)) and leaf.ceil_mode:
            raise ValueError(f"{name} ({type(leaf).__name__}) uses ceil_mode=True, which is unsupported: "
                             "the receptive field assumes floor")
        if isinstance(leaf, nn.Conv2d):
            specs.append({"kind": "conv", "kernel": leaf.kernel_size, "stride": leaf.stride,
                          "padding": leaf.padding, "dilation": leaf.dilation, "name": name})
        elif isinstance(leaf, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "max" if isinstance(leaf, nn.MaxPool2d) else "avg"
            specs.append({"kind": kind, "kernel": leaf.kernel_size, "stride": leaf.stride, "padding": leaf.padding,
                          "dilation": getattr(leaf, "dilation", 1), "name": name})
        else:
            raise ValueError(f"{name} ({type(leaf).__name__}) is not a Conv2d, MaxPool2d or AvgPool2d and may change "
                             "the geometry: its receptive field is unknown")
    return analyze(specs, input_size)


def _unit(rows: Sequence[RFRow], layer_index: int, row: Any, col: Any) -> tuple[RFRow, tuple[int, int]]:
    """The row at ``layer_index`` and the checked (row, col) of one of its units."""
    if not is_int(layer_index) or not 0 <= layer_index < len(rows):
        raise ValueError(f"layer_index must be from 0 to {len(rows) - 1}, got layer_index={layer_index!r}")
    info = rows[layer_index]
    for name, value, limit in zip(("row", "col"), (row, col), info.out_size or (None, None)):
        if not is_int(value) or value < 0 or (limit is not None and value >= limit):
            valid = f"from 0 to {limit - 1}" if limit is not None else "an int of at least 0"
            raise ValueError(f"{name} must be {valid} for layer {layer_index} ({info.name}), got {name}={value!r}")
    return info, (int(row), int(col))


def input_box(rows: Sequence[RFRow], layer_index: int, row: int, col: int) -> Box:
    """The input region output unit (row, col) of ``rows[layer_index]`` sees, padding included.

    Raises:
        ValueError: a layer index or unit outside the analysed layers or the layer's output.
    """
    info, unit = _unit(rows, layer_index, row, col)
    top, left = (a + i * j for a, i, j in zip(info.start, unit, info.jump))
    return Box(top, left, top + info.size[0], left + info.size[1])


def centre(rows: Sequence[RFRow], layer_index: int, row: int, col: int) -> tuple[float, float]:
    """Input coordinates (cy, cx) of the centre of unit (row, col)'s field: start + unit·jump + (size - 1)/2."""
    info, unit = _unit(rows, layer_index, row, col)
    return tuple(a + i * j + (r - 1) / 2 for a, i, j, r in zip(info.start, unit, info.jump, info.size))


def unit_at(rows: Sequence[RFRow], layer_index: int, y: float, x: float) -> tuple[int, int]:
    """The unit of ``rows[layer_index]`` whose field is centred nearest input pixel (y, x); inverse of ``centre``.

    A pixel halfway between two centres goes to the later unit; beyond the output it goes to the edge unit.

    Raises:
        ValueError: a bad layer index or non-numeric coordinates.
    """
    info, _ = _unit(rows, layer_index, 0, 0)
    for name, value in (("y", y), ("x", x)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {name}={value!r}")
    limits = info.out_size or (math.inf, math.inf)
    return tuple(nearest_centre(p, a + (r - 1) / 2, j, n)
                 for p, a, r, j, n in zip((y, x), info.start, info.size, info.jump, limits))
