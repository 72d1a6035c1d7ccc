"""The receptive-field explorer's state (stack or model, layer, unit, input) and its computation (boxes, table,
fields).

A link names a preset and only what differs from it, so a lecturer's "VGG-16, pool5, unit (3, 3)" is short:

    >>> state, ignored = ReceptiveFieldState.from_query({"preset": "vgg16", "unit": "3,3"})
    >>> len(state.layers), state.layer, state.unit, state.sample
    (18, 17, (3, 3), 'camera')
    >>> view = compute(state, (224, 224))
    >>> view.rows[view.layer].size, view.box
    ((212, 212), Box(top=6, left=6, bottom=218, right=218))
    >>> StackCodec().format(STACK_PRESETS["mnist"].layers)
    'c3p1_m2s2_c3p1_m2s2'

The "yours" preset puts a model of the Your network page in the stack's place: a graph, whose rows and branches
``graph_fields`` reads from its layer table, and whose link names the model and a row.

    >>> ReceptiveFieldState().with_model("inception", "onnx").to_query()
    {'preset': 'yours', 'net': 'inception', 'fmt': 'onnx'}
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
from torch import nn

from cnnviz.analysis import formulas
from cnnviz.analysis.digits import normalise
from cnnviz.analysis.effective_rf import EffectiveField, build_stack, image_tensor, inspectable_copy, measure
from cnnviz.analysis.receptive_field import Box, RFRow, analyze, analyze_model, centre, input_box, unit_at
from cnnviz.conv.geometry import LAYER_KINDS, Layer
from cnnviz.conv.samples import sample_keys
from cnnviz.graph.analysis import GraphTable
from cnnviz.graph.effective import unit_field
from cnnviz.model import ModelConfig, block_layers
from cnnviz.pages.your_network import DEMOS, FORMATS, UPLOAD, NameCodec
from cnnviz.urlstate import BoolCodec, Choice, Codec, Field, IntCodec, PageState, UnitCodec

SOURCES = ("sample", "upload", "camera")  # where the image comes from; only a sample can travel in a link
# The working image's longer side. At most 256: the effective field needs a forward and a backward pass through
# the whole stack, and at 256 px even VGG-16 takes a few tens of milliseconds on a CPU.
WORKING_SIZES = (64, 128, 224, 256)
MAX_LAYERS = 24  # the longest stack a link or the editor holds (VGG-16 has 18 layers)
LIMITS = {"kernel": (1, 15), "stride": (1, 8), "padding": (0, 15), "dilation": (1, 8)}  # per layer, inclusive
ERF_MAX_CHANNELS = 16  # channels of the random-weight network: more barely change the picture, only the time
KIND_LETTERS = {"conv": "c", "max": "m", "avg": "a"}  # a layer's kind in a link
# Earlier boxes drawn inside a model's chosen one, at most: a ResNet-50 unit has some fifty distinct fields on its
# paths, and more than eight boxes (and legend entries) hide the picture rather than explain it.
MAX_NESTED = 8


def conv(kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Layer:
    return Layer(kernel, stride, padding, dilation, "conv")


def pool(kernel: int, stride: int, padding: int = 0, kind: str = "max") -> Layer:
    return Layer(kernel, stride, padding, 1, kind)


def numbered_names(layers: Sequence[Layer]) -> tuple[str, ...]:
    """AlexNet's names: conv1, conv2, ... in order, and a pool named after the conv before it (pool5 after conv5).

    A second pool with no conv between takes a suffix (pool2, pool2_2): every name in a stack is its own.
    """
    names: list[str] = []
    convs, pools = 0, {}  # pools: how often each pool name was given
    for layer in layers:
        if layer.kind == "conv":
            convs += 1
            names.append(f"conv{convs}")
        else:
            name = f"pool{convs}"
            pools[name] = pools.get(name, 0) + 1
            names.append(name if pools[name] == 1 else f"{name}_{pools[name]}")
    return tuple(names)


def block_names(layers: Sequence[Layer]) -> tuple[str, ...]:
    """VGG's names: conv<block>_<i>, each block closed by pool<block> (conv1_1, conv1_2, pool1, ..., pool5)."""
    names: list[str] = []
    block, convs = 1, 0
    for layer in layers:
        if layer.kind == "conv":
            convs += 1
            names.append(f"conv{block}_{convs}")
        else:
            names.append(f"pool{block}")
            block, convs = block + 1, 0
    return tuple(names)


@dataclass(frozen=True)
class StackPreset:
    """A stack a lecturer opens in one click, and the input it is best seen on."""

    layers: tuple[Layer, ...]  # the stack, first layer first
    sample: str  # the bundled image it opens with
    working_size: int = 224  # longer side of that image, px (the MNIST digit stays 28)
    names: Callable[[Sequence[Layer]], tuple[str, ...]] = numbered_names  # how its papers name the layers


def _vgg16() -> tuple[Layer, ...]:
    layers: list[Layer] = []
    for convs in (2, 2, 3, 3, 3):  # 3x3 convs before each of the five 2x2 max pools
        layers += [conv(3, padding=1)] * convs + [pool(2, 2)]
    return tuple(layers)


STACK_PRESETS: dict[str, StackPreset] = {
    # The classic tutorial MNIST net: conv3 p1, maxpool2, conv3 p1, maxpool2.
    "mnist": StackPreset((conv(3, padding=1), pool(2, 2), conv(3, padding=1), pool(2, 2)), "mnist_digit"),
    # Three 3x3 convs see as far as one 7x7 (VGG's argument), with fewer weights and more ReLUs.
    "three_3x3": StackPreset((conv(3, padding=1),) * 3, "mnist_digit"),
    "one_7x7": StackPreset((conv(7, padding=3),), "mnist_digit"),
    # Dilations 1, 2, 4: the field grows exponentially with depth at the cost of a 3x3 kernel each.
    "dilated": StackPreset((conv(3, 1, 1, 1), conv(3, 1, 2, 2), conv(3, 1, 4, 4)), "mnist_digit"),
    # torchvision's AlexNet features.
    "alexnet": StackPreset((conv(11, 4, 2), pool(3, 2), conv(5, padding=2), pool(3, 2), conv(3, padding=1),
                            conv(3, padding=1), conv(3, padding=1), pool(3, 2)), "camera"),
    "vgg16": StackPreset(_vgg16(), "camera", names=block_names),
    "resnet18_stem": StackPreset((conv(7, 2, 3), pool(3, 2, 1)), "camera"),
}
SESSION = "session"  # the preset name of the network trained (or loaded) in this session
YOURS = "yours"  # the preset name of a model the Your network page opens: a demo, or this session's upload
PRESET_NAMES = tuple(STACK_PRESETS) + (SESSION, YOURS)
DEFAULT_PRESET = "mnist"
# The tutorial's numbers for the last layer of a preset, shown beside the app's own.
TUTORIAL_CLAIMS: dict[str, tuple[tuple[str, int], ...]] = {
    "three_3x3": (("size", 7),),
    "mnist": (("size", 10), ("jump", 4), ("start", -3)),
}

_TOKEN = re.compile(r"([cma])(\d{1,2})(?:s(\d{1,2}))?(?:p(\d{1,2}))?(?:d(\d{1,2}))?")


def _square(layer: Layer) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, dilation) of a layer that is the same along both axes and padded evenly."""
    (top, bottom), (left, right) = layer.padding
    values = (layer.kernel, layer.stride, layer.dilation)
    if any(a != b for a, b in values) or len({top, bottom, left, right}) != 1:
        raise ValueError(f"the stack holds square, evenly padded layers only, got {layer}")
    return layer.kernel[0], layer.stride[0], top, layer.dilation[0]


def check_layer(kind: str, kernel: int, stride: int, padding: int, dilation: int) -> Layer:
    """A stack layer, its numbers checked against ``LIMITS``.

    Raises:
        ValueError: naming the bad value.
    """
    if kind not in LAYER_KINDS:
        raise ValueError(f"kind must be one of {LAYER_KINDS}, got kind={kind!r}")
    for name, value in (("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation)):
        low, high = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an int from {low} to {high}, got {name}={value!r}")
    return Layer(kernel, stride, padding, dilation, kind)


@dataclass(frozen=True)
class StackCodec(Codec):
    """A layer stack as "c3p1_m2s2_c3p1_m2s2": kind (c conv, m max, a avg) and kernel, then stride, padding and
    dilation where they differ from 1, 0 and 1 ("c3s1p1d1" is read too)."""

    def format(self, value: Sequence[Layer]) -> str:
        tokens = []
        for layer in value:
            kernel, stride, padding, dilation = _square(layer)
            tokens.append(f"{KIND_LETTERS[layer.kind]}{kernel}" + (f"s{stride}" if stride != 1 else "")
                          + (f"p{padding}" if padding else "") + (f"d{dilation}" if dilation != 1 else ""))
        return "_".join(tokens)

    def parse(self, text: str) -> tuple[Layer, ...]:
        layers = []
        for token in text.split("_"):
            match = _TOKEN.fullmatch(token)
            if not match:
                raise ValueError(f"{token!r} is not a layer such as c3p1 or m2s2")
            letter, kernel, stride, padding, dilation = match.groups()
            kind = next(k for k, v in KIND_LETTERS.items() if v == letter)
            layers.append(check_layer(kind, int(kernel), int(stride or 1), int(padding or 0), int(dilation or 1)))
        if not 1 <= len(layers) <= MAX_LAYERS:
            raise ValueError(f"{len(layers)} layers; a stack holds 1 to {MAX_LAYERS}")
        return tuple(layers)

    def check(self, value: Any) -> tuple[Layer, ...]:
        if isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value):
            value = [check_layer(v.get("kind"), v.get("kernel"), v.get("stride"), v.get("padding"), v.get("dilation"))
                     for v in value]
        return self.parse(self.format(value))

    def plain(self, value: Sequence[Layer]) -> list[dict]:
        return [dict(zip(("kernel", "stride", "padding", "dilation"), _square(layer)), kind=layer.kind)
                for layer in value]


@dataclass(frozen=True)
class ReceptiveFieldState(PageState):
    """Everything the receptive-field explorer shows, except the pixels of an uploaded image."""

    preset: str = DEFAULT_PRESET  # the stack the layers started from: a preset, or "session" (the trained net)
    layers: tuple[Layer, ...] = STACK_PRESETS[DEFAULT_PRESET].layers  # the stack, first layer first
    layer: int = len(STACK_PRESETS[DEFAULT_PRESET].layers) - 1  # the chosen layer, 0 = first
    unit: tuple[int, int] | None = None  # the chosen unit (row, col) of that layer; None = its centre unit
    source: str = "sample"  # sample, upload or camera; a link cannot carry an upload
    sample: str = STACK_PRESETS[DEFAULT_PRESET].sample  # the bundled image shown when source is "sample"
    working_size: int = STACK_PRESETS[DEFAULT_PRESET].working_size  # longer side of the working image, px
    channels: int = 64  # C, the channels of every conv, for the parameter counts
    seed: int = 0  # the random weights' seed
    nested: bool = True  # also draw the boxes of the same place in every earlier layer
    # With the "yours" preset the network is a model's graph, not the stack (which then stays the default):
    network: str = "resnet"  # a demo of the Your network page, or "upload" (this session's, never in a link)
    fmt: str = "pt2"  # the demo's file: a torch.export program or an ONNX graph
    node: str = ""  # the chosen row of the model's layer table; "": the page's pick (GraphFields.index)

    ANCHORS = ("preset",)  # the rest is written only where it differs from what the preset opens with
    FIELDS = (
        Field("preset", "preset", Choice(PRESET_NAMES)),
        Field("layers", "stack", StackCodec()),
        Field("layer", "layer", IntCodec(0, MAX_LAYERS - 1)),
        Field("unit", "unit", UnitCodec(4095)),
        Field("source", "src", Choice(SOURCES)),
        Field("sample", "img", Choice(tuple(sample_keys()))),
        Field("working_size", "ws", IntCodec(1, 4096)),
        Field("channels", "ch", IntCodec(1, 4096)),
        Field("seed", "seed", IntCodec(0, 9999)),
        Field("nested", "nest", BoolCodec()),
        Field("network", "net", Choice(DEMOS + (UPLOAD,))),
        Field("fmt", "fmt", Choice(FORMATS)),
        Field("node", "node", NameCodec()),
    )

    def query_defaults(self) -> ReceptiveFieldState:
        """The state this one's link is written against: its preset's stack, input and last layer."""
        return ReceptiveFieldState().with_preset(self.preset) if self.preset in STACK_PRESETS else \
            replace(ReceptiveFieldState(), preset=self.preset)

    def with_preset(self, name: str) -> ReceptiveFieldState:
        """The preset's stack on its input, its last layer's centre unit chosen. The source stays: an upload
        stays the picture."""
        preset, start = STACK_PRESETS[name], ReceptiveFieldState()
        return replace(self, preset=name, layers=preset.layers, layer=len(preset.layers) - 1, unit=None,
                       sample=preset.sample, working_size=preset.working_size, network=start.network,
                       fmt=start.fmt, node=start.node)

    def with_model(self, network: str, fmt: str) -> ReceptiveFieldState:
        """A model the Your network page opens (a demo as ``fmt``, or ``UPLOAD``), its deepest field chosen; the
        stack goes back to the default, so a link carries only the model. The source stays: an upload stays the
        picture; a sample becomes the MNIST digit the demos were trained for.

        Raises:
            ValueError: a network that is neither a demo nor ``UPLOAD``, or a format that is not a demo's.
        """
        if network not in DEMOS + (UPLOAD,) or fmt not in FORMATS:
            raise ValueError(f"network must be one of {', '.join(DEMOS + (UPLOAD,))} and fmt one of "
                             f"{', '.join(FORMATS)}, got network={network!r}, fmt={fmt!r}")
        start = ReceptiveFieldState()
        return replace(self, preset=YOURS, network=network, fmt=fmt, node="", unit=None, layers=start.layers,
                       layer=start.layer, sample=start.sample)

    @property
    def graph(self) -> bool:
        """Whether the network is a model's graph (the "yours" preset) rather than the editable stack."""
        return self.preset == YOURS

    def with_layers(self, layers: Sequence[Layer], layer: int | None = None) -> ReceptiveFieldState:
        """An edited stack (the preset name stays, as where it started); the chosen layer kept inside it."""
        layers = tuple(layers)
        chosen = self.layer if layer is None else layer
        return replace(self, layers=layers, layer=min(max(chosen, 0), len(layers) - 1))


    def repaired(self) -> tuple[ReceptiveFieldState, list[str]]:
        """The nearest consistent state, and the query keys that had to change."""
        state, notes = self, []
        if not 0 <= state.layer < len(state.layers):
            state, notes = replace(state, layer=len(state.layers) - 1), ["layer"]
        if state.working_size not in WORKING_SIZES:
            nearest = min(WORKING_SIZES, key=lambda size: abs(size - state.working_size))
            state, notes = replace(state, working_size=nearest), notes + ["ws"]
        return state, notes

    def named_layers(self) -> list[dict[str, Any]]:
        """The stack for ``analyze``, each layer under the name its preset's papers use (VGG's conv1_1 ... pool5,
        AlexNet's conv1 ... pool5); an edited stack keeps its preset's way of naming."""
        preset = STACK_PRESETS.get(self.preset)
        names = (preset.names if preset is not None else numbered_names)(self.layers)
        return [{"kind": layer.kind, "kernel": layer.kernel, "stride": layer.stride, "padding": layer.padding,
                 "dilation": layer.dilation, "name": name} for layer, name in zip(self.layers, names)]

    @property
    def edited(self) -> bool:
        """Whether the stack differs from its preset's (a session stack counts as never edited)."""
        return self.preset in STACK_PRESETS and self.layers != STACK_PRESETS[self.preset].layers


def session_layers(config: ModelConfig) -> tuple[Layer, ...]:
    """The conv and pooling layers of a trained network's config, in order."""
    return tuple(layer for block in config.blocks for _, layer in block_layers(block))


def with_session(state: ReceptiveFieldState, config: ModelConfig) -> ReceptiveFieldState:
    """The session's trained network on the MNIST digit it was trained for, its last layer chosen."""
    layers = session_layers(config)
    return replace(state, preset=SESSION, layers=layers, layer=len(layers) - 1, unit=None, source="sample",
                   sample="mnist_digit")


# --- editing the stack (the page's buttons) ---------------------------------------------------------------

def move_layer(state: ReceptiveFieldState, delta: int) -> ReceptiveFieldState:
    """The chosen layer moved ``delta`` places (kept inside the stack); it stays chosen."""
    layers = list(state.layers)
    target = min(max(state.layer + delta, 0), len(layers) - 1)
    layers.insert(target, layers.pop(state.layer))
    return replace(state.with_layers(layers, target), unit=None)


def remove_layer(state: ReceptiveFieldState) -> ReceptiveFieldState:
    """The chosen layer removed (never the last one left); the one before it chosen."""
    if len(state.layers) == 1:
        return state
    layers = state.layers[:state.layer] + state.layers[state.layer + 1:]
    return replace(state.with_layers(layers, state.layer - 1), unit=None)


def add_layer(state: ReceptiveFieldState, kind: str) -> ReceptiveFieldState:
    """A conv3 p1 (keeps the size) or a 2x2 stride-2 pool inserted after the chosen layer, and chosen."""
    if len(state.layers) >= MAX_LAYERS:
        return state
    new = conv(3, padding=1) if kind == "conv" else pool(2, 2, kind=kind)
    layers = state.layers[:state.layer + 1] + (new,) + state.layers[state.layer + 1:]
    return replace(state.with_layers(layers, state.layer + 1), unit=None)


# --- what the page draws ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NestedBox:
    """The field of one unit of an earlier layer, at the same place as the chosen unit."""

    layer: int  # its layer
    unit: tuple[int, int]  # its (row, col)
    box: Box  # its field, padding included


@dataclass(frozen=True)
class RFView:
    """The analysed stack on the input, and the chosen unit's field."""

    rows: tuple[RFRow, ...]  # receptive_field.analyze of the stack on the input
    input_hw: tuple[int, int]  # the input's (rows, cols)
    layer: int  # the chosen layer
    unit: tuple[int, int]  # the chosen unit, inside the layer's output
    box: Box  # its field, padding included
    nested: tuple[NestedBox, ...]  # the unit nearest the same centre in each layer up to the chosen one

    @property
    def padding_fraction(self) -> float:
        """Share of the chosen box that is padding."""
        return self.box.padding_fraction(*self.input_hw)


def compute(state: ReceptiveFieldState, input_hw: Sequence[int]) -> RFView:
    """The stack analysed on an input of ``input_hw`` and the chosen unit's field, with the same place in every
    earlier layer. A unit outside the layer's output (the image shrank) is moved to the nearest one.

    Raises:
        ValueError: a layer that gets a map smaller than its window, naming it (from ``analyze``).
    """
    hw = (int(input_hw[0]), int(input_hw[1]))
    return view_at(tuple(analyze(state.named_layers(), hw)), hw, state.layer, state.unit)


def view_at(rows: tuple[RFRow, ...], input_hw: tuple[int, int], layer: int, unit: tuple[int, int] | None,
            earlier: Sequence[int] | None = None) -> RFView:
    """The view of analysed ``rows`` with ``layer``'s ``unit`` chosen, both moved inside the stack as ``compute``
    does: a unit picked on a run's view gets its own view without analysing the stack again.

    ``earlier``: the rows whose boxes nest inside the chosen one's (a graph's rows on its paths from the input);
    None for a stack, where every row before it does.
    """
    layer = min(max(layer, 0), len(rows) - 1)
    out = rows[layer].out_size
    wanted = unit if unit is not None else (out[0] // 2, out[1] // 2)
    unit = (min(wanted[0], out[0] - 1), min(wanted[1], out[1] - 1))
    y, x = centre(rows, layer, *unit)
    nested = []
    for index in [*(range(layer) if earlier is None else earlier), layer]:
        place = unit_at(rows, index, y, x)
        nested.append(NestedBox(index, place, input_box(rows, index, *place)))
    return RFView(rows, input_hw, layer, unit, input_box(rows, layer, *unit), tuple(nested))


def unit_in_layer(view: RFView, layer: int) -> tuple[int, int]:
    """The unit of ``layer`` centred nearest the chosen unit: where the view goes when the layer changes."""
    return unit_at(view.rows, layer, *centre(view.rows, view.layer, *view.unit))


# --- a model's graph (the "yours" preset) ------------------------------------------------------------------

@dataclass(frozen=True)
class GraphFields:
    """The rows of a model's layer table that have a field on the input, as this page's rows, and for each the
    earlier rows whose boxes nest in its own."""

    rows: tuple[RFRow, ...]  # rows with maps and a known field, in the graph's order; ``kind`` is the operator
    nodes: tuple[str, ...]  # each row's torch.fx node, for the effective field's probe
    # Per row: the rows on its paths from the input (every branch), one per distinct field, the earliest; none with
    # the row's own field (a ReLU after a conv adds no box).
    earlier: tuple[tuple[int, ...], ...]
    # Per row: the rows on its paths, itself included, where paths meet whose fields' centres differ (Araujo et al.).
    misaligned: tuple[tuple[int, ...], ...]

    def index(self, name: str) -> int:
        """The row called ``name``; for "" or a name the model lacks (a link made for another), the page's pick: the
        deepest row with more than one unit (a global pool's single unit sees the whole picture, and shows nothing
        of how the field grows)."""
        names = [row.name for row in self.rows]
        if name in names:
            return names.index(name)
        spread = [row.index for row in self.rows if row.out_size[0] * row.out_size[1] > 1]
        return spread[-1] if spread else len(self.rows) - 1


def graph_fields(table: GraphTable) -> GraphFields:
    """The rows of ``table`` (``cnnviz.graph.analysis.graph_table``) with a known field on a (C, H, W) map, and the
    rows on each one's paths from the input. Rows whose field is unknown (after an upsampling or an operator cnnviz
    does not know) and rows without maps (after flatten) are left out; their paths still count."""
    rows: list[RFRow] = []
    nodes: list[str] = []
    earlier: list[tuple[int, ...]] = []
    misaligned: list[tuple[int, ...]] = []
    # What each table row's paths from the input hold, merged from its inputs': the earliest field row of every
    # distinct field, and the misaligned merges. Both stay as small as the number of distinct fields and merges, so a
    # 5,000-node graph is read in one pass.
    firsts: dict[str, dict[tuple, int]] = {}
    merges: dict[str, frozenset[int]] = {}
    for row in table.rows:
        first: dict[tuple, int] = {}
        merged: frozenset[int] = frozenset()
        for parent in row.inputs:
            for field, position in firsts.get(parent, {}).items():
                first[field] = min(position, first.get(field, position))
            merged |= merges.get(parent, frozenset())
        if row.rf_size is not None and len(row.output_shape) == 3:
            position, own = len(rows), (row.rf_size, row.jump, row.start)
            rows.append(RFRow(position, row.name, row.op, row.window or Layer(1), row.rf_size, row.jump, row.start,
                              row.output_shape[1:]))
            nodes.append(row.node)
            earlier.append(tuple(sorted(i for field, i in first.items() if field != own)))
            merged |= {position} if row.misaligned else frozenset()
            misaligned.append(tuple(sorted(merged)))
            first.setdefault(own, position)  # for the rows after it: it, unless an earlier row had its field
        firsts[row.name], merges[row.name] = first, merged
    return GraphFields(tuple(rows), tuple(nodes), tuple(earlier), tuple(misaligned))


def graph_view(fields: GraphFields, input_hw: Sequence[int], node: str, unit: tuple[int, int] | None) -> RFView:
    """The chosen row's unit (its centre unit for None) and its field on the model's input, with the boxes of the
    same place on every path to it, as ``compute`` gives for a stack.

    Raises:
        ValueError: a model with no row that has a field on the input (a network without maps).
    """
    if not fields.rows:
        raise ValueError("the model has no layer with a field on the input: no convolution or pooling maps")
    hw = (int(input_hw[0]), int(input_hw[1]))
    layer = fields.index(node)
    earlier = fields.earlier[layer]
    if len(earlier) > MAX_NESTED:  # a deep network: the first, the last and others evenly between
        earlier = tuple(earlier[round(i * (len(earlier) - 1) / (MAX_NESTED - 1))] for i in range(MAX_NESTED))
    return view_at(fields.rows, hw, layer, unit, earlier)


def choose(state: ReceptiveFieldState, view: RFView, layer: int, unit: tuple[int, int]) -> ReceptiveFieldState:
    """``state`` with ``view``'s row ``layer`` and its ``unit`` chosen: by position in a stack, by name in a graph
    (a link to a model names its layers)."""
    if state.graph:
        return replace(state, node=view.rows[layer].name, unit=unit)
    return replace(state, layer=layer, unit=unit)


def misaligned_rows(fields: GraphFields, view: RFView) -> tuple[str, ...]:
    """The rows on the chosen unit's paths (itself included) where paths meet misaligned: its field is a union of
    fields centred on different pixels."""
    return tuple(fields.rows[index].name for index in fields.misaligned[view.layer])


def model_fields(gm: Any, random: Any, fields: GraphFields, view: RFView, x: Any
                 ) -> tuple[EffectiveField, EffectiveField]:
    """The chosen unit's effective field on the prepared image ``x`` (1, C, H, W): on ``random``, the model with its
    kernels drawn at random (``cnnviz.graph.effective.random_kernels``, made once per model and seed, not per
    unit), and on the model ``gm`` itself."""
    node, unit = fields.nodes[view.layer], view.unit
    return unit_field(random, node, x, *unit, view.box), unit_field(gm, node, x, *unit, view.box)


# --- the table and the tutorial's numbers ---------------------------------------------------------------

def analyzed_prefix(layers: Sequence[Mapping[str, Any] | Layer], input_hw: Sequence[int]) -> tuple[RFRow, ...]:
    """The rows of the longest leading part of the stack that runs on the input: the whole stack when it all
    runs, and the layers before the one that gets too small a map otherwise (the table still shows those)."""
    for count in range(len(layers), 0, -1):
        try:
            return tuple(analyze(layers[:count], input_hw))
        except ValueError:
            continue
    return ()


def layer_params(rows: Sequence[RFRow], channels: int, in_channels: int) -> tuple[int, ...]:
    """Parameters of each layer when every conv has ``channels`` outputs and the first conv takes the image's
    ``in_channels``; pooling has none."""
    params, width = [], in_channels
    for row in rows:
        if row.kind == "conv":
            params.append(formulas.conv_layer_params(width, channels, row.layer.kernel))
            width = channels
        else:
            params.append(0)
    return tuple(params)


@dataclass(frozen=True)
class Comparison:
    """Three 3x3 convs against one 7x7 with C channels in and out: the same field, fewer weights, more ReLUs."""

    channels: int  # C
    small_weights: int  # 3 · 3·3·C² = 27C²
    large_weights: int  # 7·7·C² = 49C²
    small_field: int  # what the three 3x3 see, from analyze: 7
    large_field: int  # what the 7x7 sees: 7


def compare_stacks(channels: int) -> Comparison:
    """VGG's argument with numbers (weights only, no biases, as the tutorial counts them)."""
    small = analyze(STACK_PRESETS["three_3x3"].layers)
    large = analyze(STACK_PRESETS["one_7x7"].layers)
    weights = [formulas.conv_stack_weights(channels, [row.layer.kernel for row in rows if row.kind == "conv"])
               for rows in (small, large)]
    return Comparison(channels, weights[0], weights[1], small[-1].size[0], large[-1].size[0])


@dataclass(frozen=True)
class Claim:
    """One of the tutorial's numbers for a preset's last layer, and the app's."""

    name: str  # size, jump or start
    tutorial: int  # what the tutorial says
    app: int  # what analyze says

    @property
    def holds(self) -> bool:
        return self.tutorial == self.app


def claims(state: ReceptiveFieldState, view: RFView) -> tuple[Claim, ...]:
    """The tutorial's numbers for the state's preset, when its stack is the preset's, beside the app's."""
    if state.edited or state.preset not in TUTORIAL_CLAIMS:
        return ()
    last = view.rows[-1]
    return tuple(Claim(name, value, getattr(last, name)[0]) for name, value in TUTORIAL_CLAIMS[state.preset])


# --- effective fields ---------------------------------------------------------------------------------------

def random_field(layers: Sequence[Layer], unit: tuple[int, int], box: Box, image: np.ndarray, *, channels: int,
                 seed: int) -> EffectiveField:
    """The effective field of ``unit`` of the last of ``layers`` on ``image``, with seeded random weights.

    Args:
        layers: the stack up to and including the chosen layer.
        channels: C of the stack; the network uses at most ``ERF_MAX_CHANNELS`` of them.
    """
    in_channels = 1 if image.ndim == 2 else image.shape[2]
    model, outputs = build_stack(list(layers), channels=min(channels, ERF_MAX_CHANNELS), in_channels=in_channels,
                                 seed=seed)
    return measure(model, outputs[-1], image_tensor(image), *unit, box)


def trained_field(model: nn.Module, pixels: np.ndarray, view: RFView) -> EffectiveField:
    """The effective field of the view's unit in a trained MNIST network, on a digit (H, W) in [0, 1].

    The model is copied first: every session that shows the run shares it, and the hooks and mode switches of
    the measurement must not reach them.

    Raises:
        ValueError: the network's conv and pooling layers are not the view's stack.
    """
    clone = inspectable_copy(model)
    rows = analyze_model(clone, pixels.shape)
    if [row.layer for row in rows] != [row.layer for row in view.rows]:
        raise ValueError("the trained network's layers are not the stack shown")
    target = dict(clone.named_modules())[rows[view.layer].name]
    return measure(clone, target, normalise(pixels), *view.unit, view.box)

