"""The Train page's state (the network, how to train it, and which run the page follows) and its computation
(the network's summary, and a run's evaluation panels: confusion matrix, per-digit accuracy and mistakes gallery).

A link names a preset and only what differs from it, so ``?net=classic`` is the classic network:

    >>> TrainPageState.from_query({"net": "classic", "ep": "2"})[0].model_config.blocks[0].channels
    32
    >>> TrainPageState().with_preset("classic").to_query()
    {'net': 'classic'}

Choosing a preset on the page brings its tutorial's training too, which a link names as changes to the defaults:

    >>> TrainPageState().with_recipe("keras").to_query()
    {'net': 'keras', 'opt': 'rmsprop', 'lr': '0.001', 'sch': 'constant', 'bs': '64', 'ep': '5'}
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz.analysis.layer_table import LayerRow, LayerTable
from cnnviz.errors import UserError
from cnnviz.model import (DEFAULT_PRESET, LAYER_ACTIVATIONS, NETWORK_PRESETS, POOL_KINDS, CapError, ConvBlock,
                          ModelConfig, check_batch, summarize)
from cnnviz.training.config import DEVICES, OPTIMIZERS, SCHEDULES, TrainConfig, preset_recipe, validate_run
from cnnviz.training.loop import EvalResult, confusion_matrix
from cnnviz.urlstate import Choice, Codec, Field, FloatCodec, IntCodec, PageState

BATCH_SIZES = (16, 32, 64, 128, 256, 512)  # the batch-size slider's stops
SUBSETS = (0, 1000, 2000, 5000, 10000, 30000)  # training images: 0 = all 60,000
MAX_BLOCKS = 4  # conv blocks the page offers
MAX_HIDDEN_LAYERS = 4  # hidden FC layers the page offers
MAX_HIDDEN_WIDTH = 4096  # widest hidden FC layer the page offers (the four-conv net's first is 1024)
_DEFAULTS = TrainConfig()


@dataclass(frozen=True)
class BlocksCodec(Codec):
    """Conv blocks as "16.3.1.1.relu.1.max.2_32...": channels.kernel.padding.stride.activation.bn.pool.pool_size,
    then ".first" for a block that pools before BatchNorm and the activation (left out otherwise, so links made
    before that option existed still mean what they meant)."""

    def format(self, value: tuple[ConvBlock, ...]) -> str:
        return "_".join(f"{b.channels}.{b.kernel_size}.{b.padding}.{b.stride}.{b.activation}.{int(b.batch_norm)}."
                        f"{b.pool}.{b.pool_size}" + (".first" if b.pool_first else "") for b in value)

    def parse(self, text: str) -> tuple[ConvBlock, ...]:
        blocks = []
        for part in text.split("_"):
            fields = part.split(".")
            pool_first = len(fields) == 9 and fields[8] == "first"
            if len(fields) != 8 + pool_first or fields[4] not in LAYER_ACTIVATIONS or fields[6] not in POOL_KINDS \
                    or fields[5] not in "01":
                raise ValueError(f"{part!r} is not a conv block")
            channels, kernel, padding, stride, pool_size = (int(fields[i]) for i in (0, 1, 2, 3, 7))
            for name, value, low, high in (("channels", channels, 1, 256), ("kernel", kernel, 1, 9),
                                           ("padding", padding, 0, 4), ("stride", stride, 1, 4),
                                           ("pool size", pool_size, 1, 4)):
                if not low <= value <= high:
                    raise ValueError(f"{name} {value} is outside {low}..{high}")
            blocks.append(ConvBlock(channels, kernel, padding, stride, fields[4], fields[5] == "1", fields[6], pool_size,
                                    pool_first))
        if not 1 <= len(blocks) <= MAX_BLOCKS:
            raise ValueError(f"{len(blocks)} blocks; the page builds 1 to {MAX_BLOCKS}")
        return tuple(blocks)

    def check(self, value: Any) -> tuple[ConvBlock, ...]:
        if isinstance(value, (list, tuple)) and all(isinstance(b, dict) for b in value):
            value = ModelConfig.from_dict({"blocks": list(value)}).blocks
        return self.parse(self.format(value))

    def plain(self, value: tuple[ConvBlock, ...]) -> list[dict]:
        return ModelConfig(blocks=value).to_dict()["blocks"]


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden FC widths from text such as "1024, 128" (commas or spaces); "" or "0" means none.

    Raises:
        ValueError: a part that is not a whole number in 1..MAX_HIDDEN_WIDTH, or more than MAX_HIDDEN_LAYERS parts.
    """
    parts = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    if parts == ["0"]:
        return ()  # links made when the page had one hidden layer wrote fc=0 for none
    widths = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= MAX_HIDDEN_WIDTH:
            raise ValueError(f"{part!r} is not a width in 1..{MAX_HIDDEN_WIDTH}")
        widths.append(int(part))
    if len(widths) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"{len(widths)} hidden layers; the page builds 0 to {MAX_HIDDEN_LAYERS}")
    return tuple(widths)


def format_hidden(widths: tuple[int, ...], separator: str = ", ") -> str:
    """The text ``parse_hidden`` reads back: "1024, 128", or "0" for none."""
    return separator.join(map(str, widths)) or "0"


class HiddenCodec(Codec):
    """Hidden FC widths as "1024,128"; "0" is none. An old link's single width ("fc=64") reads as one layer."""

    def format(self, value: tuple[int, ...]) -> str:
        return format_hidden(value, ",")

    def parse(self, text: str) -> tuple[int, ...]:
        return parse_hidden(text)

    def check(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
            raise ValueError(f"{value!r} is not a list of widths")
        widths = ModelConfig(hidden=value).hidden  # an old state's int, as the model config reads it
        if not all(isinstance(width, int) and not isinstance(width, bool) for width in widths):
            raise ValueError(f"{value!r} is not a list of widths")
        return self.parse(self.format(widths))

    def plain(self, value: tuple[int, ...]) -> list[int]:
        return list(value)


class TokenCodec(Codec):
    """A run id: letters, digits, - and _, as ``secrets.token_urlsafe`` makes them."""

    def parse(self, text: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{0,64}", text):
            raise ValueError("not a run id")
        return text


@dataclass(frozen=True)
class TrainPageState(PageState):
    """The network and training settings of the Train page, and the run it shows."""

    preset: str = DEFAULT_PRESET  # the network the settings started from
    blocks: tuple[ConvBlock, ...] = NETWORK_PRESETS[DEFAULT_PRESET].blocks  # conv blocks, in order
    hidden: tuple[int, ...] = NETWORK_PRESETS[DEFAULT_PRESET].hidden  # hidden FC widths, in order; () = none
    dropout: float = NETWORK_PRESETS[DEFAULT_PRESET].dropout  # dropout before the classifier
    optimizer: str = _DEFAULTS.optimizer  # sgd, adam or adamw
    lr: float = _DEFAULTS.lr  # peak learning rate
    schedule: str = _DEFAULTS.schedule  # constant, onecycle or cosine
    batch_size: int = _DEFAULTS.batch_size  # images per step
    epochs: int = _DEFAULTS.epochs  # passes over the training images
    subset: int = _DEFAULTS.subset  # training images; 0 = all
    seed: int = _DEFAULTS.seed  # same seed, same curve
    device: str = _DEFAULTS.device  # auto, cpu, cuda or mps
    run: str = ""  # the id of the run this page follows ("" = none); whoever has it can control it: never in links
    watch: str = ""  # a read-only watch id: the page shows that run live and offers no control over it

    ANCHORS = ("preset",)  # the other network fields are written only where they differ from the preset's
    FIELDS = (
        Field("preset", "net", Choice(tuple(NETWORK_PRESETS))),
        Field("blocks", "b", BlocksCodec()),
        Field("hidden", "fc", HiddenCodec()),
        Field("dropout", "do", FloatCodec(0.0, 0.8)),
        Field("optimizer", "opt", Choice(OPTIMIZERS)),
        Field("lr", "lr", FloatCodec(1e-5, 10.0)),
        Field("schedule", "sch", Choice(SCHEDULES)),
        Field("batch_size", "bs", IntCodec(BATCH_SIZES[0], BATCH_SIZES[-1])),
        Field("epochs", "ep", IntCodec(1, 50)),
        Field("subset", "n", IntCodec(0, 60_000)),
        Field("seed", "seed", IntCodec(0, 10_000)),
        Field("device", "dev", Choice(DEVICES)),
        Field("run", "run", TokenCodec()),
        Field("watch", "watch", TokenCodec()),
    )

    def to_query(self) -> dict[str, str]:
        """The link: every setting but ``run``. The run's id gives Pause and Stop, and an address pasted into a class
        chat must not hand them to everyone: the tab that follows the run keeps it (cnnviz.ui.tab_memory). A link
        that still names one is read, and the page's address drops it."""
        return {key: value for key, value in super().to_query().items() if key != "run"}

    def query_defaults(self) -> TrainPageState:
        """The state this one's link is written against: its preset's network with the default training."""
        return TrainPageState().with_preset(self.preset)

    def with_preset(self, name: str) -> TrainPageState:
        """The preset's network; the training settings stay as they are."""
        cfg = NETWORK_PRESETS[name]
        return replace(self, preset=name, blocks=cfg.blocks, hidden=cfg.hidden, dropout=cfg.dropout)

    def with_recipe(self, name: str) -> TrainPageState:
        """The preset's network and its tutorial's training (``cnnviz.training.config.PRESET_RECIPES``): what choosing a
        preset on the page does. The images, seed and device stay: they are the user's, not the tutorial's."""
        recipe = preset_recipe(name)
        return replace(self.with_preset(name), optimizer=recipe.optimizer, lr=recipe.lr, schedule=recipe.schedule,
                       batch_size=recipe.batch_size, epochs=recipe.epochs)

    def over_cap(self) -> CapError | None:
        """Why a run of this network and batch would exceed the server's caps (``cnnviz.model.LIMITS``), or None.
        Other invalid networks (one that shrinks the digit to nothing) are left for the page to explain."""
        try:
            validate_run(self.model_config, self.train_config)
        except CapError as error:
            return error
        except UserError:
            pass
        return None

    def rounded(self) -> tuple[TrainPageState, list[str]]:
        """The batch size and subset moved to the nearest stops of their sliders, and the keys that moved."""
        notes = []
        state = self
        if state.batch_size not in BATCH_SIZES:
            state, notes = replace(state, batch_size=min(BATCH_SIZES, key=lambda b: abs(b - self.batch_size))), ["bs"]
        if state.subset not in SUBSETS:
            state, notes = replace(state, subset=min(SUBSETS, key=lambda n: abs(n - self.subset))), notes + ["n"]
        return state, notes

    def repaired(self) -> tuple[TrainPageState, list[str]]:
        state, notes = self.rounded()
        if state.over_cap() is not None:  # a link's network over a cap is never built: the preset's layers instead
            preset = NETWORK_PRESETS[state.preset]
            notes += [key for key, name in (("b", "blocks"), ("fc", "hidden"))
                      if getattr(state, name) != getattr(preset, name)]
            state = replace(state, blocks=preset.blocks, hidden=preset.hidden)
        return state, notes

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(blocks=self.blocks, hidden=self.hidden, dropout=self.dropout)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(optimizer=self.optimizer, lr=self.lr, schedule=self.schedule, batch_size=self.batch_size,
                           epochs=self.epochs, subset=self.subset, seed=self.seed, device=self.device,
                           eval_every=50 if self.subset and self.subset < 10_000 else 100)


def link_over_cap(params: dict[str, str]) -> CapError | None:
    """Why the network a link describes is over a cap, or None: ``TrainPageState.from_query`` shows the preset's
    network in its place and lists the keys it ignored, and the page says which cap with this."""
    values = {}
    for spec in TrainPageState.FIELDS:
        if spec.key in params:
            try:
                values[spec.name] = spec.codec.parse(params[spec.key])
            except (ValueError, TypeError, IndexError):
                continue  # listed as ignored by from_query already
    return replace(TrainPageState(**values).query_defaults(), **values).rounded()[0].over_cap()


# --- computation -------------------------------------------------------------------------------------------

# The rows the summary lists, as the tutorials' summaries do: an activation changes no shape and has no parameters.
SUMMARY_KINDS = ("conv", "bn", "pool", "flatten", "fc")
GALLERY_SHOWN = 24  # mistakes pictured under a run's results, most confident first


@dataclass(frozen=True)
class NetworkSummary:
    """The network of a state, as the page lists it."""

    table: LayerTable  # every layer, totals included (``cnnviz.model.summarize``)
    rows: tuple[LayerRow, ...]  # the rows listed: SUMMARY_KINDS, without the activations that change no shape

    @property
    def names(self) -> tuple[str, ...]:
        """Each listed row's name. A conv, BatchNorm or pooling row is numbered by its block, as the page's
        controls are ("pool4" is block 4's pooling, wherever blocks 1 and 3 pool); the one flatten is "flatten"."""
        names, block = [], 0
        for row in self.rows:
            block += row.kind == "conv"  # each block starts with its conv
            names.append(f"{row.kind}{block}" if row.kind in ("conv", "bn", "pool")
                         else "flatten" if row.kind == "flatten" else row.layer)
        return tuple(names)


def summary(state: TrainPageState) -> NetworkSummary:
    """The summary of the state's network, checked against the server's caps for its batch size.

    Raises:
        ValueError: the network cannot be built here (``ModelConfig.validate``, ``check_batch``), saying why.
    """
    table = summarize(state.model_config)
    check_batch(state.model_config, state.batch_size)
    return NetworkSummary(table, tuple(row for row in table.rows if row.kind in SUMMARY_KINDS))


def misclassified(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of the digits whose top class is not their label, the most confident mistakes first.

    Ties keep test-set order, so the list is the same on every machine.

    Args:
        probabilities: (N, classes) softmax outputs.
        labels: (N,) true classes.
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (len(probabilities),):
        raise ValueError(f"need (N, classes) probabilities and (N,) labels, "
                         f"got {probabilities.shape} and {labels.shape}")
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    confidence = probabilities[wrong].max(axis=1)
    return wrong[np.argsort(-confidence, kind="stable")]


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Evaluation:
    """What the page draws of one evaluation on the test digits."""

    accuracy: float  # fraction correct, [0, 1]
    loss: float  # mean cross-entropy
    wrong: int  # misclassified test digits
    matrix: np.ndarray  # (10, 10) int64 counts[true, predicted]: the confusion matrix and per-digit accuracy
    gallery: np.ndarray  # indices of the GALLERY_SHOWN most confident mistakes, in order


def evaluation(result: EvalResult, labels: np.ndarray) -> Evaluation:
    """The panels of ``result`` on test digits whose true classes are ``labels`` (N,).

    Raises:
        ValueError: ``labels`` does not match the result's predictions.
    """
    labels = np.asarray(labels)
    matrix = confusion_matrix(labels, result.predictions)
    wrong = misclassified(result.probabilities, labels)
    return Evaluation(result.accuracy, result.loss, len(wrong), matrix, wrong[:GALLERY_SHOWN])
