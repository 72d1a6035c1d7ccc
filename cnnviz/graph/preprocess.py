"""From a picture to what a network takes: resize, centre crop, channels, mean and std, as the page sets them.

The steps are torchvision's usual ``Resize(shorter side)``, ``CenterCrop(size)``, ``Normalize(mean, std)``, written
here because torchvision cannot be installed beside this torch. A network trained on MNIST saw white digits on black:
``invert`` turns a photo of ink on paper into that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnnviz.errors import UserError

NORMS = {  # mean and std per channel on [0, 1] pixels, by name: the page's one-click choices
    "none": ((0.0,), (1.0,)),
    "mnist": ((0.1307,), (0.3081,)),  # cnnviz.data's, which the demo models were trained with
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # torchvision's ImageNet models
}
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L"): a colour picture for a one-channel network


@dataclass(frozen=True)
class Preprocess:
    """How a picture becomes the network's input."""

    crop: bool = True  # keep the shape: resize the shorter side, then cut the middle; False stretches to fit
    resize: int = 0  # the shorter side before the crop, in pixels; 0: just enough to cover the input (no margin)
    norm: str = "none"  # a key of NORMS
    invert: bool = False  # 1 - pixel first: dark ink on paper becomes MNIST's white on black

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got norm={self.norm!r}")
        if not isinstance(self.resize, int) or isinstance(self.resize, bool) or not 0 <= self.resize <= 4096:
            raise ValueError(f"resize must be a whole number of pixels from 0 to 4096, got resize={self.resize!r}")


def _check_shape(input_shape: tuple[int, int, int]) -> None:
    if len(input_shape) != 3 or not all(isinstance(n, int) and n >= 1 for n in input_shape):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got input_shape={input_shape!r}")


def _norm(pre: Preprocess, channels: int) -> tuple[np.ndarray, np.ndarray]:
    mean, std = (np.asarray(v, dtype=np.float32) for v in NORMS[pre.norm])
    if len(mean) not in (1, channels):  # a student's setting, not a bug: said in their language
        raise UserError("error.prep.norm_channels", norm=pre.norm, has=len(mean), takes=channels)
    return np.resize(mean, channels), np.resize(std, channels)


def _resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One channel resized to (height, width), bilinear with antialiasing (torchvision's default for pictures)."""
    height, width = size
    if channel.shape == (height, width):
        return channel
    picture = Image.fromarray(channel.astype(np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _fitted(pixels: np.ndarray, pre: Preprocess, height: int, width: int) -> np.ndarray:
    """(C, H, W) channels resized and cropped to the input's height and width."""
    channels = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    if not pre.crop:
        return np.stack([_resize(c, (height, width)) for c in channels])
    rows, cols = channels.shape[1:]
    # Enough to cover the input, or the asked shorter side if that is more (a crop can only cut, never pad).
    scale = max(height / rows, width / cols, pre.resize / min(rows, cols))
    size = (max(height, round(rows * scale)), max(width, round(cols * scale)))
    resized = np.stack([_resize(c, size) for c in channels])
    top, left = round((size[0] - height) / 2), round((size[1] - width) / 2)  # torchvision's CenterCrop
    return resized[:, top:top + height, left:left + width]


def fit(pixels: np.ndarray, pre: Preprocess, input_shape: tuple[int, int, int]) -> np.ndarray:
    """``pixels`` (float in [0, 1], (H, W) or (H, W, 3)) inverted, in the network's channels, resized and cropped to
    its input: (C, H, W) in [0, 1], the picture as the network sees it before the normalisation (what a page shows).
    """
    _check_shape(input_shape)
    if not isinstance(pixels, np.ndarray) or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"pixels must be (H, W) or (H, W, 3), got shape "
                         f"{getattr(pixels, 'shape', type(pixels).__name__)}")
    channels, height, width = input_shape
    pixels = pixels.astype(np.float32)
    if pre.invert:
        pixels = 1.0 - pixels
    if pixels.ndim == 3 and channels == 1:
        pixels = pixels @ np.asarray(LUMA, dtype=np.float32)
    fitted = _fitted(pixels, pre, height, width)
    if fitted.shape[0] != channels:  # a gray picture for a colour network: the same values in every channel
        fitted = np.repeat(fitted[:1], channels, axis=0)
    return np.clip(fitted, 0.0, 1.0)  # bilinear resizing stays in range; the clip guards float rounding


def seen(pixels: np.ndarray, pre: Preprocess, input_shape: tuple[int, int, int]) -> np.ndarray:
    """``fit`` as a page draws it: (H, W, 3) for three channels, and any other number as their mean, (H, W) gray."""
    fitted = fit(pixels, pre, input_shape)
    return np.moveaxis(fitted, 0, -1) if fitted.shape[0] == 3 else fitted.mean(axis=0)


def prepare(pixels: np.ndarray, pre: Preprocess, input_shape: tuple[int, int, int]) -> torch.Tensor:
    """``pixels`` (float in [0, 1], (H, W) or (H, W, 3)) as the network's input, (1, C, H, W) float32: ``fit``,
    then the normalisation."""
    fitted = fit(pixels, pre, input_shape)
    mean, std = _norm(pre, input_shape[0])
    normalised = (fitted - mean[:, None, None]) / std[:, None, None]
    return torch.from_numpy(np.ascontiguousarray(normalised, dtype=np.float32))[None]


def black(pre: Preprocess, channels: int) -> torch.Tensor:
    """An empty picture as the network sees it after ``pre``, (1, C, 1, 1): integrated gradients' "no ink". Empty is
    0 before the normalisation either way: black, or a white page once inverted."""
    mean, std = _norm(pre, channels)
    return torch.from_numpy((0.0 - mean) / std).reshape(1, channels, 1, 1)
