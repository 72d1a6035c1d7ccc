"""Your network: any model opened (a demo, or an upload) and read as a graph, with its maps, fields and attributions.

The state names the model (a demo travels in a link; an upload stays in the session), the picture and how it is
prepared, the layer, channel and unit shown, and the attribution asked for. ``describe`` reads the model once (its
layer table); ``compute`` runs one picture through it.

    >>> view = open_demo("resnet", "pt2")
    >>> facts = describe(view)
    >>> state = YourNetworkState(model="resnet", layer="block1.add", unit=(3, 4))
    >>> result = compute(facts, digit_pixels(0), state)
    >>> result.row.name, result.row.rf_size, result.maps.shape, result.box
    ('block1.add', (12, 12), (16, 14, 14), Box(top=1, left=3, bottom=13, right=15))
    >>> int(result.predicted), result.attribution.method
    (7, 'grad_cam')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cnnviz.analysis.attribution import Attribution
from cnnviz.analysis.inspection import page_channels, page_count, to_numpy
from cnnviz.analysis.receptive_field import Box
from cnnviz.conv.samples import load_sample, sample_keys
from cnnviz.data import load_mnist
from cnnviz.errors import UserError
from cnnviz.graph.analysis import GraphRow, GraphTable, feature_maps, unit_box
from cnnviz.graph.attribution import METHODS, attribute, conv_nodes
from cnnviz.graph.open import ModelView, open_model
from cnnviz.graph.preprocess import NORMS, Preprocess, black, prepare, seen
from cnnviz.urlstate import BoolCodec, Choice, Codec, Field, IntCodec, PageState, UnitCodec

MODELS_DIR = Path(__file__).resolve().parents[2] / "assets" / "models"
DEMOS = ("default", "resnet", "inception")  # built by scripts/build_models.py: a chain, residual blocks, a concat
FORMATS = ("pt2", "onnx")  # each demo ships in both: the same network through either reader
UPLOAD = "upload"  # the model the student opened in this session: never in a link
IMAGE_SOURCES = ("digit", "sample", UPLOAD)  # an MNIST test digit, a bundled picture, or the student's own
TEST_DIGITS = 10_000  # MNIST's test set
MAPS_PER_PAGE = 16  # channels in the grid at once: 4 x 4 tiles fit beside the enlarged map on a projector
MAX_UNIT = 4095  # the largest row or column a link may name
MAX_LABELS = 10_000  # lines read from a labels file
LABEL_LENGTH = 60  # characters kept of each label


class NameCodec(Codec):
    """A layer's name as the layer table writes it ("layer1.0.conv1", "layer1.add"); "" for the page's own pick."""

    PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{0,120}")

    def parse(self, text: str) -> str:
        if not self.PATTERN.fullmatch(text):
            raise ValueError(f"{text[:40]!r} is not a layer name")
        return text


@dataclass(frozen=True)
class YourNetworkState(PageState):
    """Everything the Your network page shows."""

    model: str = "resnet"  # a demo (DEMOS) or UPLOAD: the residual net shows branches from the first visit
    fmt: str = "pt2"  # the demo's file: a torch.export program or an ONNX graph
    source: str = "digit"  # where the picture comes from (IMAGE_SOURCES)
    digit: int = 0  # the MNIST test digit shown, by index
    sample: str = "camera"  # the bundled picture, when source is "sample"
    crop: bool = True  # keep the picture's shape and cut the middle; False stretches it to the input
    resize: int = 0  # the shorter side before the crop, px; 0: just enough to cover the input
    norm: str = "mnist"  # mean and std (NORMS): the demos were trained on MNIST's
    invert: bool = False  # dark ink on a light page becomes MNIST's white on black
    layer: str = ""  # the row whose maps are shown; "": the first convolution
    channel: int = 0  # the map shown large
    page: int = 0  # the page of the channel grid
    unit: tuple[int, int] | None = None  # the unit whose field is drawn on the picture
    method: str = "grad_cam"  # the attribution (cnnviz.graph.attribution.METHODS)
    target: int = -1  # the class explained; -1: the predicted one
    cam_layer: str = ""  # Grad-CAM's layer; "": the last convolution

    FIELDS = (
        Field("model", "m", Choice(DEMOS + (UPLOAD,))),
        Field("fmt", "fmt", Choice(FORMATS)),
        Field("source", "src", Choice(IMAGE_SOURCES)),
        Field("digit", "dg", IntCodec(0, TEST_DIGITS - 1)),
        Field("sample", "smp", Choice(tuple(sample_keys()))),
        Field("crop", "crop", BoolCodec()),
        Field("resize", "rs", IntCodec(0, 4096)),
        Field("norm", "nm", Choice(tuple(NORMS))),
        Field("invert", "inv", BoolCodec()),
        Field("layer", "ly", NameCodec()),
        Field("channel", "ch", IntCodec(0, 65535)),
        Field("page", "pg", IntCodec(0, 65535)),
        Field("unit", "u", UnitCodec(MAX_UNIT)),
        Field("method", "am", Choice(METHODS)),
        Field("target", "t", IntCodec(-1, 99_999)),
        Field("cam_layer", "cl", NameCodec()),
    )

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess(crop=self.crop, resize=self.resize, norm=self.norm, invert=self.invert)


# --- the model -------------------------------------------------------------------------------------------

def demo_file(name: str, fmt: str) -> Path:
    if name not in DEMOS or fmt not in FORMATS:
        raise ValueError(f"a demo is one of {', '.join(DEMOS)} as {' or '.join(FORMATS)}, got {name!r} as {fmt!r}")
    return MODELS_DIR / f"{name}.{fmt}"


@lru_cache(maxsize=len(DEMOS) * len(FORMATS))
def open_demo(name: str, fmt: str) -> ModelView:
    """A demo model, opened through the same reader as an upload (shared: every session reads the same files)."""
    path = demo_file(name, fmt)
    return open_model(path.read_bytes(), path.name)


def demo_labels() -> tuple[str, ...]:
    return parse_labels((MODELS_DIR / "labels.txt").read_bytes())


def parse_labels(data: bytes) -> tuple[str, ...]:
    """Class names from a labels file: one a line, UTF-8, blank lines kept as their number's place.

    Raises:
        UserError: a file that is not UTF-8 text.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError("error.yours.labels_encoding") from None
    lines = text.splitlines()[:MAX_LABELS]
    return tuple(line.strip()[:LABEL_LENGTH] for line in lines)


def label_of(labels: tuple[str, ...], index: int) -> str:
    """The class's name from the labels, else its number."""
    return labels[index] if index < len(labels) and labels[index] else str(index)


@dataclass(frozen=True, eq=False)
class NetworkFacts:
    """What the page reads from a model once: its table, and the rows with maps to show."""

    view: ModelView
    table: GraphTable
    map_rows: tuple[str, ...]  # rows whose output is (C, H, W) maps, in the graph's order
    cam_rows: tuple[tuple[str, str], ...]  # (row name, node name) of each convolution, for Grad-CAM
    classes: int  # the output's last dimension: the classes an attribution can explain; 0 for a partial graph
    output_row: str  # the row whose value the network returns (its logits); "" if no row shows it
    partial: UserError | None = None  # why only the graph up to an unsupported operator is shown (no prediction)


def describe(view: ModelView, partial: UserError | None = None) -> NetworkFacts:
    """The model's layer table, and which rows have maps; ``partial``: the reason ``view`` is only the part of a model
    before an operator cnnviz cannot read (its output is no prediction)."""
    table = view.layer_table()
    map_rows = tuple(row.name for row in table.rows if len(row.output_shape) == 3)
    by_node = {row.node: row.name for row in table.rows}
    cams = tuple((by_node[node], node) for node in conv_nodes(view.graph_module) if node in by_node)
    output = next(node for node in view.graph_module.graph.nodes if node.op == "output").args[0]
    output = output[0] if isinstance(output, (tuple, list)) else output
    classes = 0 if partial is not None else int(output.meta["val"].shape[-1])
    return NetworkFacts(view, table, map_rows, cams, classes, by_node.get(output.name, ""), partial)


# --- the picture -----------------------------------------------------------------------------------------

def digit_pixels(index: int) -> np.ndarray:
    """MNIST test digit ``index``, (28, 28) in [0, 1]."""
    pixels = load_mnist().test_pixels
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(pixels):
        raise ValueError(f"index must be an int from 0 to {len(pixels) - 1}, got index={index!r}")
    return pixels[index].astype(np.float32) / 255.0


def sample_pixels(key: str, input_shape: tuple[int, int, int]) -> np.ndarray:
    """A bundled picture, loaded at about the size the network takes (the crop cuts the rest)."""
    return load_sample(key, size=max(64, 2 * max(input_shape[1:])))


# --- one picture through the model ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # eq=False: arrays
class Forward:
    """One picture through the model, prepared as set: the heavy part, done once per picture and layer."""

    x: torch.Tensor  # the network's input, (1, C, H, W)
    shown: np.ndarray  # the picture as the network sees it before normalising, (H, W) or (H, W, 3) in [0, 1]
    probabilities: np.ndarray  # (classes,) softmax of the output; empty for a partial graph
    predicted: int  # -1 for a partial graph
    layer: str  # the row whose maps were kept ("" when the model has none)
    maps: np.ndarray | None  # that row's output, (C, H, W)


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class Explanation:
    """An attribution for one class, or why there is none."""

    attribution: Attribution | None  # None when it could not be computed (the note says why)
    note: str  # the reason's catalog key, when there is none
    target: int  # the class asked for; -1: the predicted one
    cam_layer: str  # Grad-CAM's layer as used; "": the last convolution


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class YourNetworkResult:
    state: YourNetworkState  # the state as shown: the layer, channel and unit the page picked, if the link left them
    shown: np.ndarray  # the picture as the network sees it before normalising, (H, W) or (H, W, 3) in [0, 1]
    probabilities: np.ndarray  # (classes,) softmax of the output
    predicted: int
    row: GraphRow | None  # the row whose maps are shown; None: the model has no maps (a dense network)
    maps: np.ndarray | None  # that row's output, (C, H, W)
    channels: range  # the channels on the grid's page
    pages: int  # pages of the grid
    box: Box | None  # the unit's field on the picture
    attribution: Attribution | None  # None when it could not be computed (the note says why)
    attribution_note: str = ""  # the reason, a UserError's message key, when there is none


def _chosen(names: tuple[str, ...], wanted: str, fallback: str) -> str:
    return wanted if wanted in names else fallback


def shown_layer(facts: NetworkFacts, wanted: str) -> str:
    """``wanted`` if the model has maps of that name, else the page's pick: the first convolution ("" without maps)."""
    fallback = facts.cam_rows[0][0] if facts.cam_rows else (facts.map_rows[0] if facts.map_rows else "")
    return _chosen(facts.map_rows, wanted, fallback)


def _probabilities(output: torch.Tensor) -> np.ndarray:
    logits = output.detach().reshape(-1).to(torch.float64)
    return to_numpy(torch.softmax(logits, dim=0))


def forward(facts: NetworkFacts, pixels: np.ndarray, preprocess: Preprocess, layer: str) -> Forward:
    """``pixels`` (float in [0, 1], (H, W) or (H, W, 3)) prepared and run through the model once, keeping the
    prediction and the maps of ``layer`` (as ``shown_layer`` resolves it).

    Raises:
        UserError: the picture cannot be prepared as set (a normalisation for another number of channels).
    """
    view = facts.view
    x = prepare(pixels, preprocess, view.input_shape)
    shown = seen(pixels, preprocess, view.input_shape)
    outputs = feature_maps(view.graph_module, x)  # every row's output, the logits' row among them
    if not facts.classes:  # a partial graph predicts nothing
        probabilities = np.zeros(0)
    else:  # the logits' row, already computed; a graph that returns something no row shows is run once more
        probabilities = _probabilities(outputs[facts.output_row] if facts.output_row else view.graph_module(x))
    predicted = int(np.argmax(probabilities)) if facts.classes else -1
    layer = shown_layer(facts, layer)
    return Forward(x, shown, probabilities, predicted, layer, to_numpy(outputs[layer][0]) if layer else None)


def explain(facts: NetworkFacts, looked: Forward, preprocess: Preprocess, method: str, target: int,
            cam_layer: str) -> Explanation:
    """``method``'s attribution for class ``target`` (-1: the predicted one) at Grad-CAM's ``cam_layer`` ("": the
    last convolution); a class or layer the model lacks falls back to those defaults."""
    target = target if 0 <= target < len(looked.probabilities) else -1
    cam_layer = _chosen(tuple(name for name, _ in facts.cam_rows), cam_layer, "")
    if not facts.classes:  # a partial graph: no class to explain
        return Explanation(None, "yours.attribution_partial", target, cam_layer)
    try:
        node = dict(facts.cam_rows).get(cam_layer) if cam_layer else None
        attribution = attribute(facts.view.graph_module, looked.x, looked.predicted if target < 0 else target,
                                method, node=node, baseline=black(preprocess, facts.view.input_shape[0]))
    except ValueError:  # a graph Grad-CAM cannot read (no convolution): say so beside the picture
        return Explanation(None, "yours.attribution_none", target, cam_layer)
    return Explanation(attribution, "", target, cam_layer)


def assemble(facts: NetworkFacts, looked: Forward, why: Explanation, state: YourNetworkState) -> YourNetworkResult:
    """The page's view from a forward pass and an explanation: the channel, grid page and unit ``state`` asks for,
    each falling back to the page's own pick when the maps lack it, and the unit's field."""
    layer, maps = looked.layer, looked.maps
    row = facts.table.row(layer) if layer else None
    channels, pages, channel, page, unit, box = range(0), 0, 0, 0, None, None
    if maps is not None:
        channel = state.channel if state.channel < len(maps) else 0
        pages = page_count(len(maps), MAPS_PER_PAGE)
        page = min(state.page, pages - 1) if state.page < pages else channel // MAPS_PER_PAGE
        channels = page_channels(len(maps), page, MAPS_PER_PAGE)
        if state.unit is not None and state.unit[0] < maps.shape[1] and state.unit[1] < maps.shape[2]:
            unit = state.unit
        if unit is not None and (row.rf_size is not None or row.varies):
            try:
                box = unit_box(facts.table, layer, *unit)  # after an upsampling: walked back, unit by unit
            except UserError:
                box = None  # a transposed convolution's hole: the unit reads no input pixel
    shown_state = replace(state, layer=layer if state.layer else "", channel=channel, page=page, unit=unit,
                          target=why.target, cam_layer=why.cam_layer)
    return YourNetworkResult(shown_state, looked.shown, looked.probabilities, looked.predicted, row, maps, channels,
                             pages, box, why.attribution, why.note)


def compute(facts: NetworkFacts, pixels: np.ndarray, state: YourNetworkState) -> YourNetworkResult:
    """Run ``pixels`` (float in [0, 1], (H, W) or (H, W, 3)) through the model as ``state`` asks: ``forward``,
    ``explain`` and ``assemble`` in one (the page caches the first two apart, so a click on a unit redoes neither).

    A layer, channel or unit the model does not have (a link made for another model) falls back to the page's own
    pick, and the returned state says which was shown.

    Raises:
        UserError: the picture cannot be prepared as set (a normalisation for another number of channels).
    """
    looked = forward(facts, pixels, state.preprocess, state.layer)
    why = explain(facts, looked, state.preprocess, state.method, state.target, state.cam_layer)
    return assemble(facts, looked, why, state)
