"""The Kernel Lab's state (everything its URL holds) and its computation (everything the page draws).

    >>> state, ignored = KernelLabState.from_query({"k": "sobel_x", "s": "2,2", "zz": "1"})
    >>> state.preset, state.stride, ignored
    ('sobel_x', (2, 2), [])
    >>> KernelLabState.from_query(state.to_query())[0] == state
    True
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnviz.analysis import formulas
from cnnviz.cache import LruCache
from cnnviz.conv import kernels, ops, pipeline
from cnnviz.conv import upsample as upsampling  # not `upsample`: the state has a field of that name
from cnnviz.conv.geometry import POOL_KINDS, Geometry, Pooling
from cnnviz.conv.images import downscale
from cnnviz.conv.samples import sample_keys
from cnnviz.errors import Text, UserError
from cnnviz.figures.maps import DISPLAY_MODES, auto_display
from cnnviz.pages import separable
from cnnviz.urlstate import (BoolCodec, Choice, Field, FloatCodec, FloatsCodec, IntCodec, MatrixCodec, NamesCodec,
                             PageState, PairCodec, UnitCodec, as_matrix, geometry_fields)

SOURCES = ("sample", "upload", "camera")  # where the image comes from; only a sample can travel in a link
WORKING_SIZES = (64, 128, 256, 512, 768, 1024)  # choices for the working image's longer side, px
# A link may name any size between these instead, e.g. a lesson's 32×32 image (16 is the pipeline's smallest).
EXACT_SIZES = (16, WORKING_SIZES[-1])
# The hover arithmetic's pictures a unit can be pinned on, and what is pinned: a unit of that stage, or an input
# pixel (the reverse view: every unit of the stage whose window holds it).
HOVER_STAGES = ("conv", "partial0", "partial1", "partial2", "activation", "pool")
HOVER_KINDS = ("out", "in")
DISPLAYS = ("auto",) + DISPLAY_MODES  # auto picks per map: gray for images, signed for maps with both signs
DEFAULT_BANK = ("sobel_x", "sobel_y", "laplacian8", "gaussian")  # the filter bank a student sees first
BANK_SIDE = 256  # filter-bank maps are computed on a copy of the image at most this big
LUMA = kernels.grayscale_weights()


@dataclass(frozen=True)
class KernelLabState(PageState):
    """Everything a Kernel Lab view is made of, except the pixels of an uploaded image."""

    source: str = "sample"  # sample, upload or camera; a link cannot carry an upload
    sample: str = "camera"  # the bundled image shown when source is "sample"
    working_size: int = 512  # longer side of the working image, px: one of WORKING_SIZES, or exact from a link
    colour: str = "gray"  # gray: one 2-D kernel on the luma; rgb: one 3×k×k filter summed over the channels
    preset: str = "laplacian8"  # the kernel preset the grid started from
    params: tuple[float, ...] = ()  # a parametric preset's slider values, in its ParamSpec order; () = defaults
    kernel: Any = None  # edited weights as nested tuples ((kh, kw) gray, (3, kh, kw) rgb); None = the preset's
    padding: str = "same"  # valid, same or custom
    pad: tuple[int, int] = (1, 1)  # rows, cols added on each side when padding is custom
    padding_mode: str = "zeros"  # what fills the padding
    stride: tuple[int, int] = (1, 1)  # rows, cols the kernel moves per output unit
    dilation: tuple[int, int] = (1, 1)  # rows, cols between kernel taps
    flip: bool = False  # True = true convolution; False = cross-correlation, as nn.Conv2d
    bias: float = 0.0  # added to every output value
    activation: str = "none"  # none, relu, leaky_relu or abs
    slope: float = 0.1  # leaky ReLU's slope below 0
    pool: str = "none"  # none, max or avg
    pool_size: tuple[int, int] = (2, 2)  # rows, cols of the pooling window
    pool_stride: tuple[int, int] = (2, 2)  # rows, cols between pooling windows
    display: str = "auto"  # auto, or one scale for every map
    details: bool = False  # histograms, hover values and downloads under each map
    zoom: tuple[int, int] = (50, 50)  # centre of the hover window on big maps, % down and across
    bank: tuple[str, ...] = DEFAULT_BANK  # presets of the filter bank
    bank_open: bool = False  # the bank's maps are shown; closed, they are not computed (a geometry change stays fast)
    hover_stage: str = "conv"  # the picture the hover arithmetic's pinned place is on
    hover_kind: str = "out"  # out: a unit of that stage is pinned; in: an input pixel
    hover_unit: tuple[int, int] | None = None  # the pinned (row, col); None = the window follows the pointer
    upsample: bool = False  # the upsampling stage is shown; off, it is not computed
    up_kernel: int = 3  # its transposed convolution's kernel: 3 overlaps unevenly at stride 2, 4 evenly
    up_weights: str = "learned"  # learned-looking (what a trained decoder has) or bilinear
    up_resize: str = "nearest"  # the resize of the resize-then-convolve alternative
    pointwise: Any = None  # RGB's 1×1 step after the depthwise maps, (C_out, 3) nested tuples; None = the sum, SUM
    separable_width: int = 64  # output channels of the layer whose standard and separable counts the page compares

    FIELDS = (
        Field("source", "src", Choice(SOURCES)),
        Field("sample", "img", Choice(tuple(sample_keys()))),
        Field("working_size", "ws", IntCodec(*EXACT_SIZES)),
        Field("colour", "c", Choice(pipeline.COLOURS)),
        Field("preset", "k", Choice(tuple(kernels.KERNEL_PRESETS))),
        Field("params", "kp", FloatsCodec(-1000, 1000, most=8)),
        Field("kernel", "kv", MatrixCodec(kernels.MAX_SIDE)),
        *geometry_fields(max_pad=32, max_stride=8, max_dilation=8),
        Field("bias", "b", FloatCodec(-10_000, 10_000)),
        Field("activation", "a", Choice(pipeline.MAP_ACTIVATIONS)),
        Field("slope", "ls", FloatCodec(0.01, 0.5)),
        Field("pool", "pool", Choice(POOL_KINDS)),
        Field("pool_size", "ps", PairCodec(1, 8)),
        Field("pool_stride", "pst", PairCodec(1, 8)),
        Field("display", "v", Choice(DISPLAYS)),
        Field("details", "det", BoolCodec()),
        Field("zoom", "z", PairCodec(0, 100)),
        Field("bank", "bank", NamesCodec(tuple(kernels.KERNEL_PRESETS))),
        Field("bank_open", "bo", BoolCodec()),
        Field("hover_stage", "hs", Choice(HOVER_STAGES)),
        Field("hover_kind", "hk", Choice(HOVER_KINDS)),
        Field("hover_unit", "hu", UnitCodec(4095)),
        Field("upsample", "up", BoolCodec()),
        Field("up_kernel", "uk", IntCodec(*upsampling.KERNEL_SIZES)),
        Field("up_weights", "uw", Choice(upsampling.WEIGHTS)),
        Field("up_resize", "ur", Choice(upsampling.RESIZES)),
        Field("pointwise", "sepw", MatrixCodec(separable.MAX_POINTWISE, max_depth=1)),
        Field("separable_width", "sepc", IntCodec(1, separable.SEPARABLE_WIDTHS[-1])),
    )


    def working_sizes(self) -> tuple[int, ...]:
        """The working sizes to offer: the usual ones, and this state's own if a link asked for another."""
        return tuple(sorted({*WORKING_SIZES, self.working_size}))

    def repaired(self) -> tuple[KernelLabState, list[str]]:
        """The nearest consistent state, and what had to change (values a hand-edited link can get wrong)."""
        state, notes = self, []
        specs = kernels.KERNEL_PRESETS[state.preset].params
        if state.params and (len(state.params) != len(specs) or any(
                not spec.min <= value <= spec.max for spec, value in zip(specs, state.params))):
            state, notes = replace(state, params=()), notes + ["kp"]
        unique = tuple(dict.fromkeys(state.bank))
        if unique != state.bank:  # each bank kernel has one picture: a name given twice is kept once
            repeated = dict.fromkeys(name for index, name in enumerate(state.bank) if name in state.bank[:index])
            state, notes = replace(state, bank=unique), notes + [f"bank={','.join(repeated)}"]
        if state.pointwise is not None and np.shape(state.pointwise)[1:] != (separable.CHANNELS,):
            state, notes = replace(state, pointwise=None), notes + ["sepw"]
        elif state.pointwise == separable.SUM:
            state = replace(state, pointwise=None)  # the sum written out: the same view as no weights at all
        if state.separable_width not in separable.SEPARABLE_WIDTHS:
            state, notes = replace(state, separable_width=KernelLabState.separable_width), notes + ["sepc"]
        if state.kernel is not None:
            depth = len(state.kernel) if isinstance(state.kernel[0][0], tuple) else 0
            if depth not in (0, 3):
                state, notes = replace(state, kernel=None), notes + ["kv"]
            elif (depth == 3) != (state.colour == "rgb"):
                state = replace(state, kernel=as_matrix(convert_kernel(np.array(state.kernel), state.colour)))
        return state, notes

    # --- derived settings ----------------------------------------------------------------------------

    @property
    def preset_params(self) -> dict[str, float]:
        specs = kernels.KERNEL_PRESETS[self.preset].params
        values = self.params or tuple(spec.default for spec in specs)
        return {spec.name: value for spec, value in zip(specs, values)}

    def kernel_array(self) -> np.ndarray:
        """(kh, kw) in gray, (3, kh, kw) in RGB: the edited weights, or the preset's."""
        if self.kernel is not None:
            return np.array(self.kernel, dtype=np.float64)
        return preset_kernel(self.preset, self.preset_params, self.colour)

    def pointwise_array(self) -> np.ndarray:
        """(C_out, 3): the RGB 1×1 step's weights, the sum's (1, 1, 1) unless edited."""
        return np.array(separable.SUM if self.pointwise is None else self.pointwise, dtype=np.float64)

    def with_pointwise(self, weights: np.ndarray) -> KernelLabState:
        """This state with the 1×1 step's weights; the sum is stored as None (short links)."""
        weights = np.asarray(weights, dtype=np.float64)
        same = weights.shape == (1, separable.CHANNELS) and np.array_equal(weights, separable.SUM)
        return replace(self, pointwise=None if same else as_matrix(weights))

    @property
    def edited(self) -> bool:
        return self.kernel is not None

    @property
    def geometry(self) -> Geometry:
        return Geometry.chosen(self.padding, self.pad, self.padding_mode, self.stride, self.dilation, self.flip)

    @property
    def pooling(self) -> Pooling:
        return Pooling(self.pool, self.pool_size, self.pool_stride)

    @property
    def lab_config(self) -> pipeline.LabConfig:
        return pipeline.LabConfig(colour=self.colour, working_size=self.working_size, geometry=self.geometry,
                                  activation=self.activation, leaky_slope=self.slope, pooling=self.pooling,
                                  bias=self.bias)

    @property
    def upsample_config(self) -> upsampling.UpsampleConfig:
        return upsampling.UpsampleConfig(self.up_kernel, self.up_weights, self.up_resize)

    def with_kernel(self, kernel: np.ndarray) -> KernelLabState:
        """This state with edited weights; weights equal to the preset's are stored as the preset (short links)."""
        kernel = np.asarray(kernel, dtype=np.float64)
        preset = preset_kernel(self.preset, self.preset_params, self.colour)
        same = kernel.shape == preset.shape and np.array_equal(kernel, preset)
        return replace(self, kernel=None if same else as_matrix(kernel))

    def with_hover_pin(self, pin: Any) -> KernelLabState:
        """This state with the place the browser's hover arithmetic pinned: ``{"stage", "kind", "r", "c"}``, or None
        when nothing is pinned. Anything else the browser sends leaves the state as it is."""
        if pin is None:
            return replace(self, hover_stage="conv", hover_kind="out", hover_unit=None)
        try:
            stage, kind = Choice(HOVER_STAGES).check(pin["stage"]), Choice(HOVER_KINDS).check(pin["kind"])
            unit = UnitCodec(4095).check((pin["r"], pin["c"]))
        except (KeyError, TypeError, ValueError):
            return self
        return replace(self, hover_stage=stage, hover_kind=kind, hover_unit=unit)

    @property
    def hover_pin(self) -> dict[str, Any] | None:
        """The pinned place as the browser's hover arithmetic takes it, or None."""
        if self.hover_unit is None:
            return None
        return {"stage": self.hover_stage, "kind": self.hover_kind, "r": self.hover_unit[0], "c": self.hover_unit[1]}

    def without_view(self) -> KernelLabState:
        """The state the outputs depend on: what is pinned in the hover arithmetic changes no picture."""
        return self.with_hover_pin(None)

    def with_colour(self, colour: str) -> tuple[KernelLabState, str]:
        """This state in another colour mode, keeping the kernel; and the catalog key of a note saying how."""
        if colour == self.colour:
            return self, ""
        if self.kernel is None:
            return replace(self, colour=colour), ""
        converted = convert_kernel(self.kernel_array(), colour)
        return replace(self, colour=colour).with_kernel(converted), f"kl.kernel_to_{colour}"


def preset_kernel(preset: str, params: dict[str, float], colour: str) -> np.ndarray:
    """A preset's weights: (kh, kw) in gray; in RGB, one slice per channel weighted by the luma weights, so an RGB
    image gives exactly the gray image's output."""
    base = kernels.make_kernel(preset, **params)
    return base if colour == "gray" else kernels.rgb_kernel(base, LUMA)


def convert_kernel(kernel: np.ndarray, colour: str) -> np.ndarray:
    """A kernel carried across a colour switch without changing what it does to a gray image.

    To RGB: the 2-D kernel split over the channels by the luma weights (they sum to 1). To gray: the three slices
    added up, the one kernel that responds to a gray image (R = G = B) exactly as the RGB filter does.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if colour == "rgb":
        return kernel if kernel.ndim == 3 else kernels.rgb_kernel(kernel, LUMA)  # (3, kh, kw)
    return kernel if kernel.ndim == 2 else kernel.sum(axis=0)  # (kh, kw)


# --- computation --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BankMap:
    """One filter-bank kernel's map, or why it cannot be computed."""

    preset: str  # the kernel preset
    values: np.ndarray | None  # the activated map; None when the kernel does not fit
    error: ValueError | None = None  # why it does not fit, saying what to change (the UI translates it)


@dataclass(frozen=True)
class ParamCount:
    """Learnable parameters of the filter shown, and of a conv layer made of the filter bank."""

    channels: int  # input channels the filter spans: 1 gray, 3 RGB
    kernel_hw: tuple[int, int]  # (kh, kw)
    weights: int  # channels·kh·kw weights of one filter
    per_filter: int  # channels·kh·kw weights + 1 bias
    bank_filters: tuple[tuple[int, int, int], ...]  # (channels, kh, kw) of each bank kernel
    bank_total: int  # sum over the bank of channels·kh·kw + 1
    layers: tuple[tuple[int, int], ...]  # (filters, parameters) of conv layers of LAYER_WIDTHS such filters


@dataclass(frozen=True)
class KernelLabResult:
    stages: pipeline.PipelineResult  # input, convolution, activation, pooling, with shapes and formulas
    kernel: np.ndarray  # the weights applied
    displays: dict[str, str]  # stage -> the display scale its picture uses (auto resolved per map)
    ranges: dict[str, tuple[float, float, float]]  # stage -> (min, max, mean) of its values
    keys: dict[str, str]  # stage -> a key naming everything its picture depends on
    bank: tuple[BankMap, ...]  # one map per filter-bank kernel
    params: ParamCount


def compute(state: KernelLabState, image: np.ndarray, image_key: str, *, cache: LruCache | None = None,
            bank_cache: LruCache | None = None) -> KernelLabResult:
    """Everything the Kernel Lab draws for ``state`` on ``image`` ([0, 1] pixels, named by ``image_key``).

    ``cache`` keeps convolutions across calls, so a bias, activation or pooling change reuses the convolution;
    ``bank_cache`` keeps the filter bank's small ones (a few hundred kB each, where a big image's are megabytes).

    Raises:
        ValueError: the settings cannot work (from ``cnnviz.conv.ops``), or weights so large that a map overflows to
            infinity, saying what to change.
    """
    kernel = state.kernel_array()
    cfg = state.lab_config
    conv_key = _digest(image_key, state.colour, kernel.shape, kernel.tobytes(), repr(state.geometry))

    def convolve() -> pipeline.Convolved:
        return pipeline.convolve(image, kernel, cfg)

    convolved = cache.get(("conv", conv_key), convolve) if cache is not None else convolve()
    stages = pipeline.finish(convolved, cfg)
    maps = {"input": stages.image, "conv": stages.conv, "activation": stages.activated}
    if stages.pooled is not None:
        maps["pool"] = stages.pooled
    if stages.partials is not None:
        maps.update({f"partial{c}": stages.partials[c] for c in range(3)})
    after_conv = _digest(conv_key, state.bias)
    after_act = _digest(after_conv, state.activation, state.slope)
    depends = {"input": _digest(image_key, state.colour, repr(stages.dropped_rows), repr(stages.dropped_cols)),
               "conv": after_conv, "activation": after_act, "pool": _digest(after_act, repr(state.pooling))}
    depends.update({f"partial{c}": _digest(conv_key, c) for c in range(3)})

    def value_range(values: np.ndarray) -> tuple[float, float, float]:
        # The mean in float64: float32 sums of large finite values overflow where the values themselves do not.
        return float(values.min()), float(values.max()), float(values.mean(dtype=np.float64))

    # A map's range changes only with what it depends on: a bias change rescans two maps, not six million values.
    ranges = {}
    for name, values in maps.items():
        if name == "activation" and values is stages.conv:
            ranges[name] = ranges["conv"]  # no activation: the same map
        elif bank_cache is not None:
            ranges[name] = bank_cache.get(("range", depends[name]), lambda v=values: value_range(v))
        else:
            ranges[name] = value_range(values)
    for name in ("conv", "activation", "pool"):  # a partial map overflows only where the sum does too
        if name in ranges and not all(math.isfinite(value) for value in ranges[name][:2]):
            raise UserError("error.lab.overflow", stage=Text(f"kl.stage.{name}"))
    displays = {name: "clip" if name == "input" else (auto_display(ranges[name]) if state.display == "auto"
                                                      else state.display) for name in maps}
    keys = {name: f"{name}|{depends[name]}|{displays[name]}" for name in maps}
    bank = _bank(state, image, image_key, bank_cache) if state.bank_open else ()
    channels = 1 if state.colour == "gray" else 3
    filters = tuple((channels, *kernels.make_kernel(p).shape) for p in state.bank)
    kernel_hw = kernel.shape[-2:]
    params = ParamCount(channels, kernel_hw, formulas.conv_filter_weights(channels, kernel_hw),
                        formulas.conv_filter_params(channels, kernel_hw), filters, formulas.filter_bank_params(filters),
                        tuple((width, formulas.conv_layer_params(channels, width, kernel_hw))
                              for width in LAYER_WIDTHS))
    return KernelLabResult(stages, kernel, displays, ranges, keys, bank, params)


# Layer widths the tutorials use: LeNet's 6 and 16 filters, CS231n's ten 5×5×3 filters (760 parameters), 32 and 64.
LAYER_WIDTHS = (6, 10, 16, 32, 64)


def _bank(state: KernelLabState, image: np.ndarray, image_key: str, cache: LruCache | None) -> tuple[BankMap, ...]:
    """Each bank kernel's map on a small copy of the image. The convolutions (without bias) are cached, so a bias,
    activation or display change redoes none of them."""
    def cached(key: tuple, make):
        return cache.get(key, make) if cache is not None else make()

    def small() -> np.ndarray:
        small_image = downscale(image, BANK_SIDE) if max(image.shape[:2]) > BANK_SIDE else image
        return pipeline.to_working_image(small_image, state.colour)

    thumbnail = cached(("small", image_key, state.colour), small)
    cfg, conv_kwargs = state.lab_config, state.geometry.conv_kwargs()
    maps = []
    for preset in state.bank:
        kernel = preset_kernel(preset, {}, state.colour)
        try:
            raw = cached(("bank", image_key, state.colour, repr(state.geometry), preset),
                         lambda: ops.conv2d(thumbnail, kernel, **conv_kwargs))
            maps.append(BankMap(preset, pipeline.after_conv(raw, cfg)[1]))
        except ValueError as error:
            maps.append(BankMap(preset, None, error))
    return tuple(maps)


def _digest(*parts: Any) -> str:
    """A short stable name for everything in ``parts`` (bytes hashed, the rest by repr)."""
    digest = hashlib.blake2b(digest_size=10)
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()
