"""The Network inspector's state (everything its URL holds) and its computation (what the page draws for one digit).

The page looks inside one model at a time: its prediction for a digit, the maps of every conv, activation and
pooling layer, the receptive field of a chosen unit, attributions, filters and a layer table. Nothing here trains
or draws; ``ModelCopies`` keeps the frozen copies the page reads, so the model a run shares with every session
showing it is never touched.

    >>> state, ignored = InspectorState.from_query({"src": "mnist", "i": "7", "l": "act2", "zz": "1"})
    >>> state.source, state.index, state.layer, ignored
    ('mnist', 7, 'act2', [])
    >>> InspectorState.from_query(state.to_query())[0] == state
    True
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cnnviz import torch_threads
from cnnviz.analysis import inspection, receptive_field, unit_math
from cnnviz.analysis.attribution import Attribution, grad_cam, integrated_gradients, saliency
from cnnviz.analysis.digits import INK_MODES, PreparedDigit, normalise
from cnnviz.analysis.inspection import Activation, Prediction
from cnnviz.analysis.layer_table import LayerTable, layer_table
from cnnviz.analysis.receptive_field import Box, RFRow
from cnnviz.analysis.unit_math import Trace
from cnnviz.cache import LruCache
from cnnviz.data import load_mnist
from cnnviz.model import DEFAULT_PRESET, NETWORK_PRESETS, build_model
from cnnviz.pages.drill import DrillResult, compute_drill, overview_columns, resolve_drill
from cnnviz.pages.train import TrainPageState, misclassified
from cnnviz.training import loop
from cnnviz.urlstate import Choice, Codec, Field, IntCodec, PageState, UnitCodec

SOURCES = ("draw", "mnist", "upload", "gallery")  # where the digit comes from; a drawing cannot travel in a link
VIEWS = ("maps", "network", "filters", "attribution", "summary")  # what the right-hand side shows
# attribution methods, as cnnviz.analysis.attribution names them
METHODS = ("saliency", "grad_cam", "integrated_gradients")
SCALINGS = ("map", "layer")  # one colour scale per map, or one for the whole layer
MAP_KINDS = ("conv", "act", "pool")  # layers whose maps the page shows (BatchNorm maps look like the conv's)
MAPS_PER_PAGE = 16  # feature maps per page of a wide layer: a 4x4 grid
FILTERS_PER_PAGE = 16  # rows (output filters) per page of a deep filter grid
TEST_DIGITS = 10_000  # MNIST test set size: the range of a digit index
INPUT_SHAPE = (1, 28, 28)  # (C, H, W) of one MNIST digit
PREDICTED = -1  # ``target`` value meaning "the predicted class"
QUICK_SUBSET = 2000  # training images of the quick model: about ten seconds on two cores
QUICK_EPOCHS = 1  # one pass is enough for strokes and loops to show in the maps
UNTRAINED_SEED = 0  # the untrained network shown before any model exists
UNTRAINED_KEY = f"untrained:{DEFAULT_PRESET}:{UNTRAINED_SEED}"  # its key among the model copies

Model = nn.Module  # the network the page inspects, named so the drawing floor needs no torch import


class LabelCodec(Codec):
    """A layer label as ``inspection.layer_labels`` makes them: "conv1", "act2", "pool1"."""

    def parse(self, text: str) -> str:
        if not re.fullmatch(r"[a-z]{2,8}[0-9]{1,3}", text):
            raise ValueError(f"{text!r} is not a layer label like conv1")
        return text


class DrillCodec(Codec):
    """Where the drill-down stands: "" (the overview), a layer label ("conv2", "fc1") or "softmax"."""

    def parse(self, text: str) -> str:
        if text in ("", "softmax"):
            return text
        return LabelCodec().parse(text)


@dataclass(frozen=True)
class InspectorState(PageState):
    """Everything an inspector view is made of, except the model and the pixels of a drawing or an upload."""

    source: str = "draw"  # draw, mnist, upload or gallery (a misclassified test digit)
    index: int = 0  # the MNIST test digit shown when the source is mnist or gallery
    ink: str = "auto"  # an upload's ink: auto, light (on dark) or dark (on paper)
    view: str = "maps"  # maps, filters, attribution or summary
    layer: str = "conv1"  # the layer whose maps are shown, by its label
    page: int = 0  # page of MAPS_PER_PAGE maps of that layer, from 0
    channel: int = 0  # the map shown large (and whose units can be clicked)
    scaling: str = "map"  # map: each map its own colour scale; layer: one scale for the whole layer
    unit: tuple[int, int] | None = None  # (row, col) of the unit whose receptive field is drawn; None = none
    method: str = "grad_cam"  # saliency, grad_cam or integrated_gradients
    target: int = PREDICTED  # the class explained; -1 = the predicted one
    filters: str = "conv1"  # the conv layer whose filters are shown
    filter_page: int = 0  # page of FILTERS_PER_PAGE output filters of a deep conv
    drill: str = ""  # the network view's layer: "" the overview, a layer label, or "softmax"
    drill_map: int = 0  # the map of that layer shown large; for a dense layer, its unit
    drill_unit: tuple[int, int] | None = None  # (row, col) of the map's unit taken apart; None = none

    FIELDS = (
        Field("source", "src", Choice(SOURCES)),
        Field("index", "i", IntCodec(0, TEST_DIGITS - 1)),
        Field("ink", "ink", Choice(INK_MODES)),
        Field("view", "v", Choice(VIEWS)),
        Field("layer", "l", LabelCodec()),
        Field("page", "pg", IntCodec(0, 255)),
        Field("channel", "ch", IntCodec(0, 4095)),
        Field("scaling", "sc", Choice(SCALINGS)),
        Field("unit", "u", UnitCodec(1023)),
        Field("method", "m", Choice(METHODS)),
        Field("target", "cls", IntCodec(PREDICTED, 9)),
        Field("filters", "fl", LabelCodec()),
        Field("filter_page", "fpg", IntCodec(0, 255)),
        Field("drill", "dl", DrillCodec()),
        Field("drill_map", "dm", IntCodec(0, 4095)),
        Field("drill_unit", "du", UnitCodec(1023)),
    )



# --- the model the page reads ----------------------------------------------------------------------------

def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` on the CPU in eval mode: hooks and mode switches on it never reach the original,
    which other pages and sessions showing the same run may be reading at the same time. One image at a time runs
    faster on the CPU than on a busy GPU."""
    inspection.check_model(model)
    clone = copy.deepcopy(model).cpu().eval()
    return clone.to(memory_format=torch.contiguous_format)  # training leaves channels-last weights


class ModelCopies:
    """Frozen copies of the models the page inspects, by a key that changes whenever the weights do (a run's id
    and step, a checkpoint's upload id): the same key gives the same copy, so per-model work can be cached by it."""

    def __init__(self, max_entries: int = 4):
        self._cache = LruCache(max_entries)

    def get(self, key: str, model: nn.Module) -> nn.Module:
        """The copy of ``model`` for ``key``, made on first use.

        Raises:
            ValueError: ``key`` is empty, or ``model`` is not an nn.Module.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"a model copy needs a non-empty key naming its weights, got key={key!r}")
        inspection.check_model(model)
        return self._cache.get(key, lambda: frozen_copy(model))

    def __len__(self) -> int:
        return len(self._cache)


def untrained_model() -> nn.Module:
    """The default network with the random weights of UNTRAINED_SEED: what the page shows before any model exists."""
    return build_model(NETWORK_PRESETS[DEFAULT_PRESET], seed=UNTRAINED_SEED)


# --- the digit ---------------------------------------------------------------------------------------------

def mnist_digit(pixels: np.ndarray, index: int) -> PreparedDigit:
    """Test digit ``index`` of ``pixels`` (N, 28, 28) uint8 as the network sees it: MNIST digits are already
    cropped, scaled and centred, so they are only normalised, exactly as the training data were.

    Raises:
        ValueError: an index outside the test set.
    """
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(pixels):
        raise ValueError(f"index must be an int from 0 to {len(pixels) - 1}, got index={index!r}")
    field = pixels[index].astype(np.float32) / 255.0  # (28, 28) in [0, 1], a copy
    rows, cols = np.nonzero(field)
    bbox = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1) if rows.size else None
    return PreparedDigit(field, normalise(field), empty=rows.size == 0, bbox=bbox)


# --- layers ------------------------------------------------------------------------------------------------

def map_layers(model: nn.Module) -> list[str]:
    """Labels of the layers whose maps the page shows, in model order: every conv, activation and pooling layer
    that keeps a spatial output (the classifier's ReLU does not, and is left out)."""
    inspection.check_model(model)
    labels = inspection.layer_labels(model)
    modules = dict(model.named_modules())
    spatial = _spatial_names(model)
    return [labels[name] for name in labels
            if inspection.layer_kind(modules[name]) in MAP_KINDS and name in spatial]


def conv_layers(model: nn.Module) -> list[str]:
    """Labels of the model's Conv2d layers, in order."""
    return [bank.layer for bank in inspection.conv_filters(model)]


def _spatial_names(model: nn.Module) -> set[str]:
    """Qualified names of the leaves before the first Flatten, Linear or adaptive pooling: the spatial part."""
    names = set()
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue
        if isinstance(module, receptive_field.ENDS_SPATIAL):
            break
        names.add(name)
    return names


def rf_rows_by_layer(model: nn.Module, rows: Sequence[RFRow]) -> dict[str, int]:
    """For each layer label, the index in ``rows`` (from ``receptive_field.analyze_model``) of the conv or pooling
    layer that sets its receptive field: its own row, or for an activation or BatchNorm the last one before it."""
    labels = inspection.layer_labels(model)
    row_of_name = {row.name: index for index, row in enumerate(rows)}
    result, current = {}, None
    for name, label in labels.items():
        current = row_of_name.get(name, current)
        if current is not None:
            result[label] = current
    return result


# --- computation -------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Forward:
    """One digit through one model: the prediction and the map of every shown layer."""

    prediction: Prediction
    maps: dict[str, Activation]  # by layer label, in model order


def forward(model: nn.Module, tensor: torch.Tensor) -> Forward:
    """The prediction and the maps of ``map_layers(model)`` for one normalised digit (1, 1, 28, 28), from one
    forward pass (a stroke's whole cost: on a busy two-core server each pass can wait for a core)."""
    inspection.check_image(model, tensor)
    shown = set(map_layers(model))
    with inspection.eval_mode(model), torch.no_grad(), inspection.ActivationRecorder(model) as recorder:
        logits = model(tensor.to(inspection.model_device(model)))  # (1, classes)
    probabilities = inspection.to_numpy(logits[0].double().softmax(dim=0))  # float64: the ten sum to 1, as predict
    prediction = Prediction(inspection.to_numpy(logits[0]), probabilities, int(probabilities.argmax()))
    return Forward(prediction, {a.layer: a for a in recorder.activations if a.layer in shown})


def forward_digit(model: nn.Module, digit: PreparedDigit) -> Forward:
    """``forward`` for a prepared digit, on torch's long-lived threads (``cnnviz.torch_threads``)."""
    return torch_threads.run(forward, model, digit.tensor)


def compute_on_torch_threads(state: InspectorState, model: nn.Module, digit: PreparedDigit, *,
                             facts: ModelFacts | None = None, ran: Forward | None = None,
                             traced: Trace | None = None) -> InspectorResult:
    """``compute`` on torch's long-lived threads: the attribution and network views run torch."""
    return torch_threads.run(compute, state, model, digit, facts=facts, ran=ran, traced=traced)


def trace_digit(model: nn.Module, digit: PreparedDigit) -> Trace:
    """``unit_math.trace`` of a prepared digit, on torch's long-lived threads: the network view's forward pass."""
    return torch_threads.run(unit_math.trace, model, digit.tensor)


def map_peaks(values: np.ndarray, scaling: str) -> tuple[bool, np.ndarray]:
    """Whether a layer's maps need a signed colour scale, and the magnitude where each map's scale saturates.

    Args:
        values: (C, H, W) one layer's maps.
        scaling: "map" (each map up to its own largest magnitude) or "layer" (all up to the layer's largest).

    Returns:
        (signed, peaks): signed when any value is negative (a conv's output; after a ReLU there are none);
        peaks (C,) float32, 0 for an all-zero map.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got scaling={scaling!r}")
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3:
        raise ValueError(f"map_peaks needs (C, H, W) maps, got shape={values.shape}")
    magnitude = np.abs(values).reshape(len(values), -1).max(axis=1)  # (C,)
    peaks = np.full_like(magnitude, magnitude.max()) if scaling == "layer" else magnitude
    return bool((values < 0).any()), peaks


@dataclass(frozen=True)
class ModelFacts:
    """What the page needs to know about a model whatever the digit: cache it with the model's copy."""

    layers: tuple[str, ...]  # labels of the layers whose maps can be shown, in model order
    shapes: dict[str, tuple[int, ...]]  # (C, H, W) of each of them
    convs: tuple[str, ...]  # labels of the Conv2d layers, whose filters can be shown
    rf_rows: tuple[RFRow, ...]  # receptive fields of the conv and pooling layers
    rf_index: dict[str, int]  # the row of rf_rows that sets each layer's receptive field
    table: LayerTable  # the model summary

    @property
    def filter_counts(self) -> dict[str, int]:
        """Output filters of each conv layer."""
        return {row.layer: row.output_shape[0] for row in self.table.rows if row.layer in self.convs}


def describe(model: nn.Module) -> ModelFacts:
    """The layers, shapes, receptive fields and summary of ``model`` (one forward pass on zeros).

    Raises:
        ValueError: a model without conv layers, or one whose geometry the receptive field cannot follow.
    """
    layers = map_layers(model)
    convs = conv_layers(model)
    if not layers or not convs:
        raise ValueError(f"the inspector needs a model with Conv2d layers; {type(model).__name__} has none")
    rows = tuple(receptive_field.analyze_model(model, INPUT_SHAPE[1:]))
    table = layer_table(model, INPUT_SHAPE)
    shapes = {row.layer: row.output_shape for row in table.rows if row.layer in layers}
    return ModelFacts(tuple(layers), shapes, tuple(convs), rows, rf_rows_by_layer(model, rows), table)


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class InspectorResult:
    """Everything the page draws for one digit, besides the model-only views (filters, layer table)."""

    state: InspectorState  # the state with layer, page, channel, unit and filters made valid for this model
    digit: PreparedDigit  # what the network sees
    forward: Forward | None  # None for an empty digit: a hint, not a prediction
    pages: int  # pages of the chosen layer's maps
    channels: range  # the chosen layer's channels on the chosen page
    signed: bool  # the chosen layer's maps need a signed colour scale
    peaks: np.ndarray  # (C,) where each map's colour scale saturates; empty for an empty digit
    rf_index: int | None  # the row of the model's rf_rows for the chosen layer; None when it has none
    box: Box | None  # the chosen unit's receptive field in input pixels; None without a unit
    attribution: Attribution | None  # for the attribution view
    drill: DrillResult | None = None  # for the network view

    @property
    def maps(self) -> Activation | None:
        """The chosen layer's maps; None for an empty digit."""
        return None if self.forward is None else self.forward.maps[self.state.layer]

    @property
    def target(self) -> int | None:
        """The class explained: the chosen one, else the predicted one; None for an empty digit."""
        if self.forward is None:
            return None
        return self.forward.prediction.top if self.state.target == PREDICTED else self.state.target


def resolve(state: InspectorState, facts: ModelFacts) -> InspectorState:
    """``state`` made valid for the model: an unknown layer becomes the first, and the page, channel and unit are
    kept inside the layer (a link made for a wider network, or a model that changed under a link)."""
    layer = state.layer if state.layer in facts.shapes else facts.layers[0]
    channels, height, width = facts.shapes[layer]
    pages = inspection.page_count(channels, MAPS_PER_PAGE)
    channel = min(state.channel, channels - 1)
    page = min(state.page, pages - 1)
    if channel not in inspection.page_channels(channels, page, MAPS_PER_PAGE):
        channel = page * MAPS_PER_PAGE  # the enlarged map is always one of the page's
    unit = state.unit if state.unit is not None and state.unit[0] < height and state.unit[1] < width else None
    filters = state.filters if state.filters in facts.convs else facts.convs[0]
    filter_pages = inspection.page_count(facts.filter_counts[filters], FILTERS_PER_PAGE)
    state = resolve_drill(state, overview_columns(facts, INPUT_SHAPE))
    return replace(state, layer=layer, page=page, channel=channel, unit=unit, filters=filters,
                   filter_page=min(state.filter_page, filter_pages - 1))


def compute(state: InspectorState, model: nn.Module, digit: PreparedDigit, *, facts: ModelFacts | None = None,
            ran: Forward | None = None, traced: Trace | None = None) -> InspectorResult:
    """What the page draws for ``digit`` through ``model`` (a frozen copy: see ``ModelCopies``).

    ``facts`` is ``describe(model)``, ``ran`` is ``forward(model, digit.tensor)`` and ``traced`` is
    ``unit_math.trace(model, digit.tensor)`` (for the network view) when the caller has them cached.

    Raises:
        ValueError: from ``describe``.
    """
    facts = facts if facts is not None else describe(model)
    state = resolve(state, facts)
    channel_count = facts.shapes[state.layer][0]
    channels = inspection.page_channels(channel_count, state.page, MAPS_PER_PAGE)
    pages = inspection.page_count(channel_count, MAPS_PER_PAGE)
    index = facts.rf_index.get(state.layer)
    if digit.empty:
        return InspectorResult(state, digit, None, pages, channels, False, np.zeros(0, np.float32), index, None, None)
    ran = ran if ran is not None else forward(model, digit.tensor)
    signed, peaks = map_peaks(ran.maps[state.layer].values, state.scaling)
    box = None if state.unit is None or index is None else receptive_field.input_box(facts.rf_rows, index, *state.unit)
    result = InspectorResult(state, digit, ran, pages, channels, signed, peaks, index, box, None)
    if state.view == "attribution":
        result = replace(result, attribution=attribute(model, digit.tensor, state.method, result.target))
    if state.view == "network":
        traced = traced if traced is not None else unit_math.trace(model, digit.tensor)
        result = replace(result, drill=compute_drill(state, facts, traced))
    return result


def attribute(model: nn.Module, tensor: torch.Tensor, method: str, target: int) -> Attribution:
    """``method``'s attribution of ``target`` for one digit."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    explain = {"saliency": saliency, "grad_cam": grad_cam, "integrated_gradients": integrated_gradients}[method]
    return explain(model, tensor, target)


# --- the gallery -------------------------------------------------------------------------------------------

def mnist_test_labels() -> np.ndarray:
    """(10000,) int64: the class of every MNIST test digit."""
    return load_mnist().test_labels.cpu().numpy()


def mistakes_on_test_set(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """``model`` on the whole MNIST test set: (indices of the digits it gets wrong, most confident first; every
    digit's probabilities (10000, 10)). A finished run has these in its result already; this is for the others."""
    data = load_mnist()
    result = loop.evaluate(model, data.test_images, data.test_labels)
    return misclassified(result.probabilities, data.test_labels.cpu().numpy()), result.probabilities


# --- the quick model ---------------------------------------------------------------------------------------

def quick_train_state() -> TrainPageState:
    """The Train page's settings for the quick model: the default network on QUICK_SUBSET images for QUICK_EPOCHS,
    so the Train page shows exactly the run the inspector started."""
    return TrainPageState(subset=QUICK_SUBSET, epochs=QUICK_EPOCHS)
