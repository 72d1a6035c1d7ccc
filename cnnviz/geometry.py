"""How a kernel slides over an image: the settings every convolution page shares.

These are plain dataclasses so a page's state can round-trip through a dict (URL state,
saved lessons) and be passed straight to ``cnnviz.ops``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_PRESETS = ("valid", "same")
POOL_KINDS = ("none", "max", "avg")


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be an int or a (rows, cols) pair of ints, got {name}={value!r}")


@dataclass(frozen=True)
class Geometry:
    """Padding, stride, dilation and flip of one convolution."""

    padding: str | tuple[int, int] = "valid"  # "valid", "same", or (rows, cols) added on each side
    padding_mode: str = "zeros"  # what fills the padding: zeros, reflect, replicate or circular
    stride: tuple[int, int] = (1, 1)  # (rows, cols) the window moves per output unit
    dilation: tuple[int, int] = (1, 1)  # (rows, cols) spacing between kernel taps; 1 = dense
    flip: bool = False  # True = true convolution (kernel rotated 180°); False = cross-correlation, as nn.Conv2d

    def __post_init__(self) -> None:
        if isinstance(self.padding, str):
            if self.padding not in PADDING_PRESETS:
                raise ValueError(f"padding must be 'valid', 'same' or (rows, cols), got padding={self.padding!r}")
        else:
            object.__setattr__(self, "padding", _pair(self.padding, "padding"))
            if min(self.padding) < 0:
                raise ValueError(f"padding cannot be negative, got padding={self.padding}")
        object.__setattr__(self, "stride", _pair(self.stride, "stride"))
        object.__setattr__(self, "dilation", _pair(self.dilation, "dilation"))
        if min(self.stride) < 1:
            raise ValueError(f"stride must be at least 1, got stride={self.stride}")
        if min(self.dilation) < 1:
            raise ValueError(f"dilation must be at least 1, got dilation={self.dilation}")
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got padding_mode={self.padding_mode!r}")

    def conv_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``cnnviz.ops.conv2d``."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "padding_mode": self.padding_mode,
            "flip": self.flip,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("padding", "stride", "dilation"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return data

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
            raise ValueError(f"pooling kind must be one of {POOL_KINDS}, got kind={self.kind!r}")
        object.__setattr__(self, "size", _pair(self.size, "pool size"))
        object.__setattr__(self, "stride", _pair(self.stride, "pool stride"))
        if min(self.size) < 1 or min(self.stride) < 1:
            raise ValueError(f"pool size and stride must be at least 1, got size={self.size}, stride={self.stride}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": list(self.size), "stride": list(self.stride)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pooling:
        return cls(
            kind=data.get("kind", "none"),
            size=tuple(data.get("size", (2, 2))),
            stride=tuple(data.get("stride", (2, 2))),
        )
