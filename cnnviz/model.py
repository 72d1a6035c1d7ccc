"""A configurable MNIST CNN: config dataclasses, the nn.Module, and its layer table (``summarize``)."""
from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from cnnviz.analysis.layer_table import LayerTable, layer_table
from cnnviz.conv.geometry import POOL_KINDS, Layer
from cnnviz.errors import Text, UserError

LAYER_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "gelu")  # what a conv block may apply after its convolution


@dataclass(frozen=True)
class ModelLimits:
    """What one network may cost the server: every config (page, link, checkpoint, command line) is checked
    against these before anything is built. They are MNIST-sized: the largest preset, the four-conv net, is far
    inside each one, and a network over one is refused with a message that names it."""

    max_channels: int = 256  # output channels of a conv block: the Train page's widest; the presets use at most 128
    max_kernel_size: int = 9  # conv kernel side: the page's largest; a 28x28 digit gains nothing from wider
    max_hidden_width: int = 4096  # hidden FC width: the page's widest; the four-conv net's first is 1024
    max_input_size: int = 64  # input side: MNIST digits are 28, this leaves room for padded or upscaled ones
    # Trainable parameters: 20M float32 weights are 80 MB, about 320 MB with gradients and Adam's two moments. The
    # four-conv net has 2.3M; the link that built 888M of them took the server from 0.9 to 4.1 GB.
    max_params: int = 20_000_000
    max_macs: int = 300_000_000  # multiply-accumulates for one image: the four-conv net needs 11M
    # Every layer's float32 output for one batch, kept for the backward pass (estimate_activation_bytes). The
    # four-conv net's batch of 512 needs about 210 MB.
    max_activation_bytes: int = 1 << 30
    # Uncompressed bytes of a checkpoint's archive: max_params float32 weights, plus room for BatchNorm's buffers and
    # the archive's own records. A deflated archive of zeros unpacks at 1000:1, so its size on disk says nothing.
    max_checkpoint_bytes: int = 4 * 20_000_000 + (8 << 20)
    # Uncompressed bytes of a checkpoint's pickle (its configs, metrics and the weights' names): a real one's is a few
    # KB, and unpickled Python objects take many times their pickled size.
    max_checkpoint_pickle_bytes: int = 1 << 20


LIMITS = ModelLimits()


class CapError(UserError):
    """A config over one of the server's caps (``LIMITS``): well formed, but too big to build here (a ValueError)."""


@dataclass(frozen=True)
class ConvBlock:
    """One convolution, its activation, and optional BatchNorm and pooling.

    The order is conv -> BatchNorm -> activation -> pool, or with ``pool_first`` conv -> pool -> BatchNorm ->
    activation. Max pooling and a rising activation (ReLU, leaky ReLU, tanh) commute, so without BatchNorm both
    orders compute the same; pooling first just does the activation's work on a quarter of the numbers. With
    BatchNorm the statistics come from the pooled maps: a slightly different network, as accurate on MNIST and faster.
    """

    channels: int = 32  # output channels: how many features this layer learns
    kernel_size: int = 3  # square kernel side
    padding: int = 1  # zeros added on each side; 1 keeps a 3x3 conv's size
    stride: int = 1  # step of the kernel
    activation: str = "relu"  # relu, leaky_relu, tanh or gelu
    batch_norm: bool = False  # BatchNorm after the conv: trains faster at higher learning rates
    pool: str = "max"  # none, max or avg
    pool_size: int = 2  # pooling window and stride
    pool_first: bool = False  # pool straight after the conv: BatchNorm and the activation see pool_size² x fewer numbers


@dataclass(frozen=True)
class ModelConfig:
    """The whole network: conv blocks, then hidden FC layers (each with a ReLU), then the classifier."""

    blocks: tuple[ConvBlock, ...] = (ConvBlock(32), ConvBlock(64))  # 1 to 4 blocks
    hidden: tuple[int, ...] = (64,)  # widths of the hidden fully connected layers, in order; () = none
    dropout: float = 0.0  # dropout before the classifier, in [0, 1)
    in_channels: int = 1  # MNIST is grayscale
    input_size: int = 28  # MNIST digits are 28x28
    num_classes: int = 10  # the digits 0-9

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "hidden", hidden_widths(self.hidden))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocks"] = [dict(block) for block in data["blocks"]]  # JSON and checkpoints want lists
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
            raise UserError("error.model.no_blocks", data=data)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "blocks"}
        block_fields = ConvBlock.__dataclass_fields__
        blocks = tuple(ConvBlock(**{k: v for k, v in b.items() if k in block_fields}) for b in data["blocks"])
        cfg = cls(blocks=blocks, **known)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ValueError naming the first bad value, including layers that shrink the image to nothing, or
        CapError naming the cap (``LIMITS``) the network is over. The caps are read from the network built on the
        meta device (``summarize``): shapes and counts, with no weights allocated."""
        if not 1 <= len(self.blocks) <= 4:
            raise UserError("error.model.block_count", count=len(self.blocks))
        if not isinstance(self.hidden, tuple):
            raise UserError("error.model.hidden_list", value=self.hidden)
        for index, width in enumerate(self.hidden, start=1):
            if not isinstance(width, int) or isinstance(width, bool) or width < 1:
                raise UserError("error.model.hidden", index=index, value=width)
            if width > LIMITS.max_hidden_width:
                raise CapError("error.model.hidden_cap", index=index, value=width, maximum=LIMITS.max_hidden_width)
        for name, value, low in (("in_channels", self.in_channels, 1),
                                 ("input_size", self.input_size, 1), ("num_classes", self.num_classes, 2)):
            if not isinstance(value, int) or value < low:
                raise UserError("error.int_at_least", name=name, minimum=low, value=value)
        if self.input_size > LIMITS.max_input_size:
            raise CapError("error.int_at_most", name="input_size", maximum=LIMITS.max_input_size,
                           value=self.input_size)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise UserError("error.model.dropout", dropout=self.dropout)
        for index, block in enumerate(self.blocks, start=1):
            for name, low in (("channels", 1), ("kernel_size", 1), ("padding", 0), ("stride", 1), ("pool_size", 1)):
                value = getattr(block, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise UserError("error.model.block", index=index,
                                    reason=Text("error.int_at_least", name=name, minimum=low, value=value))
            for name, high in (("channels", LIMITS.max_channels), ("kernel_size", LIMITS.max_kernel_size)):
                if getattr(block, name) > high:
                    raise CapError("error.model.block", index=index,
                                   reason=Text("error.int_at_most", name=name, maximum=high, value=getattr(block, name)))
            if block.activation not in LAYER_ACTIVATIONS:
                raise UserError("error.model.block", index=index, reason=Text("error.model.activation", options=LAYER_ACTIVATIONS,
                                                                              value=block.activation))
            if block.pool not in POOL_KINDS:
                raise UserError("error.model.block", index=index,
                                reason=Text("error.model.pool", options=POOL_KINDS, value=block.pool))
            if not isinstance(block.pool_first, bool):
                raise UserError("error.model.block", index=index,
                                reason=Text("error.model.pool_first", value=block.pool_first))
        feature_shapes(self)  # a stack that shrinks the image to nothing, named before anything is built
        table = _meta_table(self)  # shapes and counts only: not a byte of weights, however large the config
        if table.total_params > LIMITS.max_params:
            raise CapError("error.model.params_cap", params=table.total_params, maximum=LIMITS.max_params)
        if table.total_macs > LIMITS.max_macs:
            raise CapError("error.model.macs_cap", macs=table.total_macs / 1e6, maximum=LIMITS.max_macs / 1e6)


def hidden_widths(hidden: Any) -> Any:
    """``hidden`` as a tuple of widths. Configs and links made before several hidden layers existed hold one int,
    with 0 for none: ``64`` becomes ``(64,)`` and ``0`` becomes ``()``. Anything else is left for ``validate``."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        return (hidden,) if hidden else ()
    return tuple(hidden) if isinstance(hidden, list) else hidden


def block_layers(block: ConvBlock) -> list[tuple[str, Layer]]:
    """The layers of ``block`` that move a window, as ("conv", layer) and ("pool", layer)."""
    layers = [("conv", Layer(block.kernel_size, block.stride, block.padding))]
    if block.pool != "none":
        layers.append(("pool", Layer(block.pool_size, block.pool_size, kind=block.pool)))
    return layers


def _spatial_after(block: ConvBlock, size: int, index: int) -> tuple[int, int]:
    sizes = []
    for _, layer in block_layers(block):
        try:
            size = layer.out_hw((size, size))[0]
        except ValueError as error:
            raise UserError("error.model.shrinks", index=index, size=size, reason=error) from None
        sizes.append(size)
    return sizes[0], sizes[-1]


def feature_shapes(cfg: ModelConfig) -> list[tuple[int, int, int]]:
    """(C, H, W) after each block."""
    size, shapes = cfg.input_size, []
    for index, block in enumerate(cfg.blocks, start=1):
        _, size = _spatial_after(block, size, index)
        shapes.append((block.channels, size, size))
    return shapes


def summarize(cfg: ModelConfig) -> LayerTable:
    """The layer table of ``cfg``'s network (``cnnviz.analysis.layer_table``), read from it built on the meta device.

    Raises:
        ValueError: from ``ModelConfig.validate``.
    """
    cfg.validate()
    return _meta_table(cfg)


@functools.lru_cache(maxsize=64)
def _meta_table(cfg: ModelConfig) -> LayerTable:
    """``summarize`` for a config whose fields and geometry are checked; ``validate`` reads its caps from it."""
    with torch.device("meta"):
        skeleton = nn.Sequential(OrderedDict(zip(("features", "classifier"), _layers(cfg))))  # Net's module names
    return layer_table(skeleton, (cfg.in_channels, cfg.input_size, cfg.input_size))


# Kinds of row whose output autograd keeps for the backward: an activation's output is the size of its layer's,
# which is counted already, and dropout's is the size of the layer before it.
_KEPT_KINDS = ("conv", "bn", "pool", "flatten", "fc")


def estimate_activation_bytes(cfg: ModelConfig, batch_size: int) -> int:
    """Bytes of float32 layer outputs that training on batches of ``batch_size`` keeps for the backward pass.

    Each layer's output counts twice: autograd keeps it (or the activation's, of the same size) for the backward,
    which then makes a gradient of the same size. An estimate, read from the layer table of the meta network.
    """
    elements = sum(math.prod(row.output_shape) for row in summarize(cfg).rows if row.kind in _KEPT_KINDS)
    return 2 * 4 * batch_size * elements


def check_batch(cfg: ModelConfig, batch_size: int) -> None:
    """Raise CapError when training ``cfg`` on batches of ``batch_size`` would need more than the cap's memory."""
    needed = estimate_activation_bytes(cfg, batch_size)
    if needed > LIMITS.max_activation_bytes:
        raise CapError("error.model.memory_cap", batch=batch_size, megabytes=needed / 2**20,
                       maximum=LIMITS.max_activation_bytes / 2**20)


def evaluation_batch(cfg: ModelConfig, most: int = 1000) -> int:
    """The largest batch, up to ``most``, whose forward pass without gradients keeps within the activation cap.

    Training checks its own batch (``check_batch``); an evaluation of 10,000 test digits picks its batch here, so a
    network allowed at a batch of 16 is not then run on 1000 images at once."""
    per_image = estimate_activation_bytes(cfg, 1) // 2  # no backward: each output once
    return max(1, min(most, LIMITS.max_activation_bytes // per_image))


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[name]()


def _layers(cfg: ModelConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """The network's two halves, (features, classifier), for a config whose fields and geometry are checked."""
    layers: list[nn.Module] = []
    channels = cfg.in_channels
    for block in cfg.blocks:
        pool = {"max": [nn.MaxPool2d(block.pool_size)], "avg": [nn.AvgPool2d(block.pool_size)]}.get(block.pool, [])
        layers.append(nn.Conv2d(channels, block.channels, block.kernel_size, block.stride, block.padding))
        if block.pool_first:
            layers += pool
        if block.batch_norm:
            layers.append(nn.BatchNorm2d(block.channels))
        layers.append(_activation(block.activation))
        if not block.pool_first:
            layers += pool
        channels = block.channels
    c, h, w = feature_shapes(cfg)[-1]
    head: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for hidden in cfg.hidden:
        head += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    if cfg.dropout:
        head.append(nn.Dropout(cfg.dropout))
    head.append(nn.Linear(width, cfg.num_classes))
    return nn.Sequential(*layers), nn.Sequential(*head)


class Net(nn.Module):
    """features (conv blocks) -> flatten -> classifier (FC layers)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.features, self.classifier = _layers(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (N, num_classes) logits


def build_model(cfg: ModelConfig, *, seed: int | None = None) -> Net:
    """The network for ``cfg`` with torch's default initialisation.

    With ``seed`` the initial weights depend only on it, and torch's global random state is left as it was.
    """
    if seed is None:
        return Net(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Net(cfg)


def first_conv_weight(model: nn.Module) -> torch.Tensor:
    """conv1's weights (out, in, kh, kw), detached and on the CPU, for drawing the filters as they learn.

    ``.cpu()`` first: a model trained on a GPU has CUDA weights, and ``.numpy()`` refuses those.
    """
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return conv.weight.detach().cpu().clone()


NETWORK_PRESETS: dict[str, ModelConfig] = {
    # The classic tutorial CNN: conv 32, pool, conv 64, pool, FC 64, FC 10.
    "classic": ModelConfig(blocks=(ConvBlock(32), ConvBlock(64)), hidden=64),
    # The app's default, built for speed on a CPU: two narrow blocks without padding (28 -> 24 -> 12 -> 10 -> 5, as in
    # LeNet), BatchNorm for a high learning rate, and pooling first so BatchNorm and ReLU work on pooled maps. It
    # reaches 99% test accuracy in one epoch (bench/train_speed.py), in well under a tenth of the tutorial CNN's time.
    "default": ModelConfig(blocks=(ConvBlock(16, 5, 0, batch_norm=True, pool_first=True),
                                   ConvBlock(32, 3, 0, batch_norm=True, pool_first=True)), hidden=128),
    # A tiny net for 10-second demos.
    "tiny": ModelConfig(blocks=(ConvBlock(8), ConvBlock(16)), hidden=32),

    # The Keras guide's MNIST convnet: three 3x3 "valid" convs (28 -> 26 -> 13 -> 11 -> 5 -> 3), the last without
    # pooling, then dense 64 and dense 10: 93,322 parameters, as its model.summary() prints.
    "keras": ModelConfig(blocks=(ConvBlock(32, padding=0), ConvBlock(64, padding=0),
                                 ConvBlock(64, padding=0, pool="none")), hidden=(64,)),
    # The four-conv tutorial net: conv 16, conv 32, pool, conv 64, conv 128, pool, all 3x3 "valid"
    # (28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4), then FC 1024, 128 and 10: 2,327,818 parameters, 90% in the first FC.
    "four_conv": ModelConfig(blocks=(ConvBlock(16, padding=0, pool="none"), ConvBlock(32, padding=0),
                                     ConvBlock(64, padding=0, pool="none"), ConvBlock(128, padding=0)),
                             hidden=(1024, 128)),
}
TUTORIAL_PRESETS = ("classic", "keras", "four_conv")  # the networks of the tutorials the lessons follow
DEFAULT_PRESET = "default"


def preset(name: str) -> ModelConfig:
    """A preset config (frozen: change it with ``dataclasses.replace``)."""
    if name not in NETWORK_PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(NETWORK_PRESETS)}")
    return NETWORK_PRESETS[name]
