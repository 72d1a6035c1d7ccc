"""One unit's value taken apart: from the network's real activations for one digit to the sum that made it.

``trace`` runs one forward pass and keeps every leaf module's input and output (``Trace``). From a trace:

- ``explain_unit`` takes any unit of a conv, BatchNorm, activation or pooling map apart: each input channel's window
  (padding read as 0) times its kernel slice, each channel's partial sum, their total, plus bias, then the block's
  BatchNorm, activation and pooling in the model's own order, each with its input and output (``UnitMath``);
- ``dense_unit`` does the same for a unit of a Linear layer: its inputs times its weights, plus bias, then its
  activation (``DenseMath``);
- ``softmax_math`` writes out where the probabilities come from: the ten logits, their exponentials, their sum.

Every number is recomputed here in float64 from the layer's input and parameters, never copied from its output, so
tests can hold each one against the forward pass's own activations (tests/test_unit_math.py).

    >>> import torch
    >>> from cnnviz.model import ConvBlock, ModelConfig, build_model
    >>> net = build_model(ModelConfig(blocks=(ConvBlock(2, pool="none"),), hidden=()), seed=0)
    >>> math = explain_unit(trace(net, torch.ones(1, 1, 28, 28)), "act1", 0, 0, 0)
    >>> [stage.layer for stage in math.stages], len(math.terms), int(math.terms[0].padding.sum())
    (['act1'], 1, 5)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from torch import nn

from cnnviz.analysis import inspection

SOFTMAX_SHIFT_ABOVE = 30.0  # logits above this are shifted by the largest one before exp: e^30 is already 1e13


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Record:
    """One leaf module's run for one image."""

    name: str  # qualified module name, "features.0"
    layer: str  # display label, as inspection.layer_labels numbers them: "conv1"
    kind: str  # as inspection.layer_kind names them: "conv", "bn", "act", "pool", "flatten", "fc", ...
    module: nn.Module
    input: np.ndarray  # float32, the first image's: (C, H, W) in the spatial part, (N,) in the classifier
    output: np.ndarray  # float32, same layout


@dataclass(frozen=True, eq=False)
class Trace:
    """One digit through one model: every leaf that ran, in order, and the logits."""

    image: np.ndarray  # (C, H, W) float32, the normalised input
    records: tuple[Record, ...]
    logits: np.ndarray  # (classes,) float32

    def index(self, layer: str) -> int:
        """The position in ``records`` of the layer labelled ``layer``.

        Raises:
            ValueError: no layer has that label.
        """
        for position, record in enumerate(self.records):
            if record.layer == layer:
                return position
        raise ValueError(f"the model has no layer {layer!r}: choose one of {[r.layer for r in self.records]}")

    def record(self, layer: str) -> Record:
        return self.records[self.index(layer)]


def trace(model: nn.Module, x: torch.Tensor) -> Trace:
    """Run ``model`` once on one image ``x`` (1, C, H, W), in eval mode, keeping every leaf's input and output.

    The hooks live only for this pass, and each module gets its own mode back.
    """
    inspection.check_image(model, x)
    labels = inspection.layer_labels(model)
    records: list[Record] = []
    handles = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
                records.append(Record(name, labels[name], inspection.layer_kind(module), module,
                                      inspection.to_numpy(inputs[0][0]), inspection.to_numpy(output[0])))
        return record

    try:
        for name, module in inspection.leaves(model):
            handles.append(module.register_forward_hook(hook(name)))
        with inspection.eval_mode(model), torch.no_grad():
            logits = model(x.to(inspection.model_device(model)))  # (1, classes)
    finally:
        for handle in handles:
            handle.remove()
    return Trace(inspection.to_numpy(x[0]), tuple(records), inspection.to_numpy(logits[0]))


# --- a conv unit -------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ChannelTerm:
    """One input channel's share of a conv unit: its window times its kernel slice."""

    channel: int  # the input channel
    window: np.ndarray  # (kh, kw) the input values under the kernel; 0 where the window lies on padding
    padding: np.ndarray  # (kh, kw) bool: True where the window lies outside the input
    weights: np.ndarray  # (kh, kw) the kernel slice for this input channel
    partial: float  # sum(window * weights)

    @property
    def products(self) -> np.ndarray:
        return self.window.astype(np.float64) * self.weights  # (kh, kw)


@dataclass(frozen=True, eq=False)
class BatchNormStage:
    """BatchNorm in eval mode: (x − mean) / √(var + eps) × weight + bias, with the running statistics."""

    layer: str
    position: tuple[int, int]  # the unit of this layer's map
    input: float
    mean: float
    var: float
    eps: float
    weight: float
    bias: float
    value: float


@dataclass(frozen=True, eq=False)
class ActivationStage:
    """An activation function of one value."""

    layer: str
    position: tuple[int, int]
    function: str  # "relu", "leaky_relu", "tanh", "gelu", "sigmoid" or the module's class name
    slope: float  # leaky ReLU's negative slope; 0 for the others
    input: float
    value: float


@dataclass(frozen=True, eq=False)
class PoolStage:
    """A pooling window over the previous layer's real values, the unit among them, and the winner for max."""

    layer: str
    position: tuple[int, int]  # the pooled unit
    kind: str  # "max" or "avg"
    window: np.ndarray  # (k, k) the pooling input's values in the window
    top: int  # the window's first row in the pooling input
    left: int  # ... and first column
    source: tuple[int, int]  # where the unit followed so far sits in the window
    winner: tuple[int, int] | None  # (row, col) in the window of the largest value (first on a tie); None for avg
    value: float


Stage = Union[BatchNormStage, ActivationStage, PoolStage]


@dataclass(frozen=True, eq=False)
class UnitMath:
    """A conv unit's value taken apart, and what the rest of its block does with it."""

    layer: str  # the conv layer, "conv2"
    source: str  # the layer whose maps feed it ("act1"), or "input"
    channel: int  # the output channel (the map)
    position: tuple[int, int]  # the conv unit (row, col)
    origin: tuple[int, int]  # (row, col) of the window's first tap in the conv's input: negative on padding
    step: tuple[int, int]  # the conv's stride
    dilation: tuple[int, int]
    terms: tuple[ChannelTerm, ...]  # one per input channel
    total: float  # the sum of the partials
    bias: float  # 0 for a conv without bias
    value: float  # total + bias: the conv's output at ``position``
    stages: tuple[Stage, ...]  # BatchNorm, activation and pooling after the conv, in the model's order
    clicked: str  # the layer whose unit was asked for: the conv or one of the stages
    dropped_by: str | None = None  # a pooling layer whose windows miss this unit (floor drops the last row)

    @property
    def final(self) -> float:
        """The value at the end of the block: the last stage's, or the conv's when it has none."""
        return self.stages[-1].value if self.stages else self.value


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _conv_unit_terms(record: Record, channel: int, row: int, col: int):
    conv: nn.Conv2d = record.module
    if conv.groups != 1 or isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        raise ValueError(f"{record.layer} must be a plain Conv2d (groups=1, numeric zero padding) to be taken apart, "
                         f"got groups={conv.groups}, padding={conv.padding!r}, padding_mode={conv.padding_mode!r}")
    x = record.input  # (Cin, H, W)
    _, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(v) for v in (conv.kernel_size, conv.stride, conv.padding,
                                                                   conv.dilation))
    top, left = row * sh - ph, col * sw - pw
    rows, cols = top + dh * np.arange(kh), left + dw * np.arange(kw)  # the taps, in input coordinates
    inside = ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :]  # (kh, kw)
    taken = x[:, np.clip(rows, 0, height - 1)][:, :, np.clip(cols, 0, width - 1)]  # (Cin, kh, kw)
    windows = np.where(inside, taken, np.float32(0))  # zero padding
    weights = inspection.to_numpy(conv.weight[channel])  # (Cin, kh, kw)
    terms = tuple(ChannelTerm(c, windows[c], ~inside, weights[c],
                              float((windows[c].astype(np.float64) * weights[c]).sum())) for c in range(len(x)))
    bias = 0.0 if conv.bias is None else conv.bias[channel].item()
    return terms, bias, (int(top), int(left)), (sh, sw), (dh, dw)


def _activation(module: nn.Module, value: float) -> tuple[str, float, float]:
    """(function name, negative slope, f(value)) computed by the formula the module applies."""
    if isinstance(module, nn.ReLU):
        return "relu", 0.0, max(value, 0.0)
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        return "leaky_relu", slope, value if value >= 0 else slope * value
    if isinstance(module, nn.Tanh):
        return "tanh", 0.0, math.tanh(value)
    if isinstance(module, nn.Sigmoid):
        return "sigmoid", 0.0, 1 / (1 + math.exp(-value))
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return "gelu", 0.0, 0.5 * value * (1 + math.erf(value / math.sqrt(2)))
    with torch.no_grad():  # any other activation: the module itself, on one float64 number
        return type(module).__name__, 0.0, module(torch.tensor([value], dtype=torch.float64))[0].item()


def _pool_geometry(record: Record) -> tuple[str, int, int]:
    pool = record.module
    if not isinstance(pool, (nn.MaxPool2d, nn.AvgPool2d)) or pool.ceil_mode or _pair(pool.padding) != (0, 0) \
            or (isinstance(pool, nn.MaxPool2d) and _pair(pool.dilation) != (1, 1)):
        raise ValueError(f"{record.layer} must be a MaxPool2d or AvgPool2d without padding, dilation or ceil_mode "
                         f"to be taken apart, got {pool!r}")
    size, stride = _pair(pool.kernel_size), _pair(pool.stride)
    if size[0] != size[1] or stride[0] != stride[1]:
        raise ValueError(f"{record.layer} must pool square windows to be taken apart, got {pool!r}")
    return ("max" if isinstance(pool, nn.MaxPool2d) else "avg"), size[0], stride[0]


def _pool_stage(record: Record, channel: int, pooled: tuple[int, int], source: tuple[int, int] | None
                ) -> PoolStage:
    """The window of pooled unit ``pooled``; ``source`` is the unit followed into it (None: its winner)."""
    kind, size, stride = _pool_geometry(record)
    top, left = pooled[0] * stride, pooled[1] * stride
    window = record.input[channel, top:top + size, left:left + size]  # (k, k)
    winner = tuple(int(i) for i in np.unravel_index(np.argmax(window), window.shape)) if kind == "max" else None
    value = float(window.max()) if kind == "max" else float(window.astype(np.float64).mean())
    if source is None:
        source = winner if winner is not None else (0, 0)
    else:
        source = (source[0] - top, source[1] - left)
    return PoolStage(record.layer, pooled, kind, window.copy(), top, left, source, winner, value)


def _pooled_unit(record: Record, position: tuple[int, int]) -> tuple[int, int] | None:
    """The pooled unit whose window holds ``position``, or None when floor leaves it out of every window."""
    _, size, stride = _pool_geometry(record)
    _, height, width = record.output.shape
    pooled = (position[0] // stride, position[1] // stride)
    inside = all(p < n and q < p * stride + size for p, n, q in zip(pooled, (height, width), position))
    return pooled if inside else None


def _is_block_stage(record: Record) -> bool:
    return record.kind in ("bn", "act", "pool", "dropout") and record.output.ndim == 3


def explain_unit(trace: Trace, layer: str, channel: int, row: int, col: int) -> UnitMath:
    """Unit (row, col) of map ``channel`` of ``layer`` (a conv, BatchNorm, activation or pooling layer) taken apart.

    For a layer after the conv, the conv unit taken apart is the one that feeds it: the same position through
    BatchNorm and the activation, and through a pooling window its winner (max) or its first unit (avg). The stages
    then run forward from that conv unit to the end of the block.

    Raises:
        ValueError: an unknown layer, a layer with no conv before it in its block, a channel or unit outside its
            map, or a layer this arithmetic does not cover (grouped conv, padded pooling).
    """
    end = trace.index(layer)
    record = trace.records[end]
    if record.output.ndim != 3:
        raise ValueError(f"{layer} has no maps to take a unit of: its output has shape {record.output.shape}")
    channels, height, width = record.output.shape
    for name, value, limit in (("channel", channel, channels), ("row", row, height), ("col", col, width)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < limit:
            raise ValueError(f"{name} must be an int in [0, {limit - 1}] for {layer}'s "
                             f"{channels} × {height} × {width} maps, got {name}={value!r}")
    start = end
    while trace.records[start].kind != "conv":
        if start == 0 or not _is_block_stage(trace.records[start - 1]) and trace.records[start - 1].kind != "conv":
            raise ValueError(f"{layer} has no conv before it in its block to take apart")
        start -= 1
    position = (int(row), int(col))
    for record in reversed(trace.records[start + 1:end + 1]):  # back to the conv unit that feeds the asked one
        if record.kind == "pool":
            stage = _pool_stage(record, channel, position, None)
            position = (stage.top + stage.source[0], stage.left + stage.source[1])
    conv = trace.records[start]
    terms, bias, origin, step, dilation = _conv_unit_terms(conv, channel, *position)
    total = math.fsum(term.partial for term in terms)
    value = total + bias
    stages, dropped_by = _forward_stages(trace, start, channel, position, value)
    source = "input" if start == 0 else trace.records[start - 1].layer
    return UnitMath(conv.layer, source, channel, position, origin, step, dilation, terms, total, bias, value,
                    tuple(stages), layer, dropped_by)


def _forward_stages(trace: Trace, start: int, channel: int, position: tuple[int, int], value: float
                    ) -> tuple[list[Stage], str | None]:
    stages: list[Stage] = []
    for record in trace.records[start + 1:]:
        if not _is_block_stage(record):
            break
        if record.kind == "bn":
            bn: nn.BatchNorm2d = record.module
            mean, var = bn.running_mean[channel].item(), bn.running_var[channel].item()
            weight = 1.0 if bn.weight is None else bn.weight[channel].item()
            shift = 0.0 if bn.bias is None else bn.bias[channel].item()
            out = (value - mean) / math.sqrt(var + bn.eps) * weight + shift
            stages.append(BatchNormStage(record.layer, position, value, mean, var, float(bn.eps), weight, shift, out))
            value = out
        elif record.kind == "act":
            function, slope, out = _activation(record.module, value)
            stages.append(ActivationStage(record.layer, position, function, slope, value, out))
            value = out
        elif record.kind == "pool":
            pooled = _pooled_unit(record, position)
            if pooled is None:
                return stages, record.layer
            stage = _pool_stage(record, channel, pooled, position)
            stages.append(stage)
            position, value = pooled, stage.value
    return stages, None


# --- a dense unit and the softmax ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DenseMath:
    """A unit of a Linear layer: its inputs times its weights, plus bias, then its activation if one follows."""

    layer: str  # "fc1"
    source: str  # the layer feeding it: "flatten1", "act3"
    unit: int
    inputs: np.ndarray  # (N,) float32, the layer's real input
    weights: np.ndarray  # (N,) float32, this unit's row of the weight matrix
    total: float  # sum(inputs * weights)
    bias: float
    value: float  # total + bias: the layer's output for this unit
    activation: ActivationStage | None  # the activation after the layer, if any

    @property
    def products(self) -> np.ndarray:
        return self.inputs.astype(np.float64) * self.weights  # (N,)

    def largest(self, count: int) -> np.ndarray:
        """Indices of the ``count`` products of largest magnitude, largest first."""
        return np.argsort(-np.abs(self.products), kind="stable")[:count]

    @property
    def final(self) -> float:
        return self.activation.value if self.activation is not None else self.value


def dense_layers(trace: Trace) -> list[str]:
    """Labels of the Linear layers, in order: the last one's outputs are the logits."""
    return [record.layer for record in trace.records if record.kind == "fc"]


def dense_unit(trace: Trace, layer: str, unit: int) -> DenseMath:
    """Unit ``unit`` of the Linear layer ``layer`` taken apart.

    Raises:
        ValueError: an unknown or non-Linear layer, or a unit outside it.
    """
    position = trace.index(layer)
    record = trace.records[position]
    if record.kind != "fc":
        raise ValueError(f"{layer} is not a Linear layer; choose one of {dense_layers(trace)}")
    linear: nn.Linear = record.module
    if not isinstance(unit, (int, np.integer)) or isinstance(unit, bool) or not 0 <= unit < linear.out_features:
        raise ValueError(f"unit must be an int in [0, {linear.out_features - 1}] for {layer}, got unit={unit!r}")
    inputs = record.input.reshape(-1)  # (N,)
    weights = inspection.to_numpy(linear.weight[unit])  # (N,)
    total = math.fsum((inputs.astype(np.float64) * weights).tolist())
    bias = 0.0 if linear.bias is None else linear.bias[unit].item()
    value = total + bias
    activation = None
    following = trace.records[position + 1] if position + 1 < len(trace.records) else None
    if following is not None and following.kind == "act":
        function, slope, out = _activation(following.module, value)
        activation = ActivationStage(following.layer, (0, unit), function, slope, value, out)
    source = "input" if position == 0 else trace.records[position - 1].layer
    return DenseMath(layer, source, int(unit), inputs.copy(), weights, total, bias, value, activation)


@dataclass(frozen=True, eq=False)
class SoftmaxMath:
    """Where the probabilities come from: p_k = e^(z_k − shift) / Σ_j e^(z_j − shift)."""

    logits: np.ndarray  # (classes,) float64
    shift: float  # 0, or the largest logit when one is too big to exponentiate legibly; the ratios are the same
    exponentials: np.ndarray  # (classes,) e^(z − shift)
    total: float  # their sum
    probabilities: np.ndarray  # (classes,) exponentials / total

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))


def softmax_math(logits: np.ndarray) -> SoftmaxMath:
    """The softmax of ``logits`` (classes,) written out step by step.

    Raises:
        ValueError: not a 1-D array of finite numbers with at least two classes.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or len(logits) < 2 or not np.isfinite(logits).all():
        raise ValueError(f"softmax needs at least two finite logits in a 1-D array, got {logits!r:.200}")
    shift = float(logits.max()) if logits.max() > SOFTMAX_SHIFT_ABOVE else 0.0
    exponentials = np.exp(logits - shift)
    total = math.fsum(exponentials.tolist())
    return SoftmaxMath(logits, shift, exponentials, total, exponentials / total)
