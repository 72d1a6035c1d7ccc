"""Turn a drawn or uploaded digit into what an MNIST network expects, the way MNIST itself was made.

LeCun et al. size-normalised each NIST digit to fit a 20x20 box (keeping its aspect ratio, with
anti-aliasing), then placed it in a 28x28 field so that its centre of mass sits at the centre.
A network trained on MNIST has only ever seen digits like that: a digit drawn large in a corner
of the canvas, or dark ink on white paper, is out of distribution until it goes through the same
recipe. ``prepare_digit`` applies it; ``normalise`` is the one place a single 28x28 digit gets
the training set's mean and standard deviation; ``decode_data_url`` reads what the page's drawing
canvas sends (a PNG data URL) back into pixels.
"""
from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnnviz.data import MEAN, STD

SIZE = 28  # MNIST's field
BOX = 20  # the longer side of every MNIST digit
CENTRE = SIZE // 2  # where MNIST's centres of mass sit, in pixel-index coordinates (measured: 13.99, 14.00)
INK_THRESHOLD = 0.1  # after contrast stretching, fainter pixels are paper grain or JPEG noise, not ink
MIN_CONTRAST = 0.1  # an image whose ink is this close to its background is blank
INK_MODES = ("auto", "light", "dark")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" mode
PNG_DATA_URL = "data:image/png;base64,"  # what canvas.toDataURL("image/png") starts with; nothing else is read
# A 224x224 canvas's PNG is 3-15 kB in base64 (270 kB were it pure RGBA noise): 1 MB leaves room for larger
# canvases and still refuses a flood before any decoding.
MAX_DATA_URL_CHARS = 1_000_000
MAX_DRAWING_SIDE = 1024  # px: refused from the PNG header, before a small file can unpack into a huge bitmap


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class PreparedDigit:
    """A digit ready for the network, and what to show the student."""

    pixels28: np.ndarray  # (28, 28) float32 in [0, 1], ink bright: what to show the student
    tensor: torch.Tensor  # (1, 1, 28, 28) float32, normalised with data.MEAN and data.STD: what the network sees
    empty: bool  # True when there is no ink (a blank canvas): show a hint, not a prediction
    # The ink's box in the input as (top, left, bottom, right), bottom and right exclusive; None when empty.
    bbox: tuple[int, int, int, int] | None


def normalise(pixels28: np.ndarray) -> torch.Tensor:
    """Pixels in [0, 1] (or uint8 0-255), ink bright, as the network's (1, 1, H, W) input.

    Raises:
        ValueError: ``pixels28`` is not a 2-D array.
    """
    pixels = np.asarray(pixels28)
    if pixels.ndim != 2:
        raise ValueError(f"normalise needs a 2-D (H, W) array, got shape={pixels.shape}")
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    x = torch.tensor(pixels, dtype=torch.float32) / scale  # a copy: the caller's array stays untouched
    return ((x - MEAN) / STD)[None, None]  # (1, 1, H, W)


def decode_data_url(text: object, *, max_chars: int = MAX_DATA_URL_CHARS,
                    max_side: int = MAX_DRAWING_SIDE) -> np.ndarray | None:
    """The pixels of a canvas drawing sent as ``data:image/png;base64,...``, or None for anything else.

    The text comes from the browser, so a malformed value is expected, not exceptional: another media type, text
    over ``max_chars``, bad base64, bytes that are not a PNG, a PNG over ``max_side`` on a side, or a damaged one
    all give None.

    Returns:
        uint8 (H, W) for a grayscale PNG, otherwise (H, W, 4) RGBA: both are what ``prepare_digit`` takes.

    Raises:
        ValueError: ``max_chars`` or ``max_side`` is not a positive int.
    """
    for name, limit in (("max_chars", max_chars), ("max_side", max_side)):
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"{name} must be a positive int, got {name}={limit!r}")
    if not isinstance(text, str) or not text.startswith(PNG_DATA_URL) or len(text) > max_chars:
        return None
    try:
        data = base64.b64decode(text[len(PNG_DATA_URL):], validate=True)
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        if max(image.size) > max_side:  # read from the header: nothing is unpacked yet
            return None
        image.load()
        if image.mode != "L":
            image = image.convert("RGBA")  # RGB, palette, gray with alpha: one layout for the caller
    except (binascii.Error, OSError, SyntaxError, ValueError, EOFError):
        return None  # UnidentifiedImageError is an OSError; an unsupported conversion a ValueError
    return np.array(image)  # (H, W) or (H, W, 4) uint8, owned and writable


def prepare_digit(pixels: np.ndarray, *, ink: str = "auto") -> PreparedDigit:
    """Crop, scale, and centre a digit exactly as MNIST's digits were.

    Args:
        pixels: (H, W), (H, W, 3) or (H, W, 4); uint8 0-255 or float in [0, 1]. With an alpha channel
            that varies (a canvas drawing on a transparent background), alpha is the ink.
        ink: "light" (bright ink on a dark background, like MNIST), "dark" (dark ink on paper: inverted),
            or "auto" (dark if the border is brighter than the image as a whole).

    Returns:
        The prepared digit; ``empty`` is True, and the pixels all zero, when there is no ink.

    Raises:
        ValueError: a bad shape, dtype, value range, or ``ink``.
    """
    _check(pixels, ink)
    ink_map = _ink_map(pixels, ink)  # (H, W) float32 in [0, 1], ink bright, background 0
    rows, cols = np.nonzero(ink_map)
    if rows.size == 0:
        blank = np.zeros((SIZE, SIZE), np.float32)
        return PreparedDigit(blank, normalise(blank), empty=True, bbox=None)
    top, left, bottom, right = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
    digit = _fit_box(ink_map[top:bottom, left:right])
    field = _centre_of_mass_paste(digit)
    return PreparedDigit(field, normalise(field), empty=False, bbox=(int(top), int(left), int(bottom), int(right)))


def _check(pixels: np.ndarray, ink: str) -> None:
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"prepare_digit needs a numpy array, got {type(pixels).__name__}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))) or 0 in pixels.shape:
        raise ValueError(f"a digit image must be (H, W), (H, W, 3) or (H, W, 4), got shape={pixels.shape}")
    if pixels.dtype != np.uint8 and not np.issubdtype(pixels.dtype, np.floating):
        raise ValueError(f"a digit image must be uint8 0-255 or float in [0, 1], got dtype={pixels.dtype}")
    if pixels.dtype != np.uint8 and not (np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 1):
        raise ValueError(f"float pixels must lie in [0, 1], got min={float(pixels.min())} max={float(pixels.max())}")
    if ink not in INK_MODES:
        raise ValueError(f"ink must be one of {INK_MODES}, got ink={ink!r}")


def _ink_map(pixels: np.ndarray, ink: str) -> np.ndarray:
    """Ink strength per pixel: bright ink, zero background, the strongest ink stretched to 1."""
    values = pixels.astype(np.float32) / (255.0 if pixels.dtype == np.uint8 else 1.0)  # a copy, never the input
    if values.ndim == 3 and values.shape[2] == 4 and np.ptp(values[..., 3]) > MIN_CONTRAST:
        gray = values[..., 3]  # (H, W): strokes on a transparent canvas, whatever their colour
    else:
        gray = values[..., :3] @ _LUMA if values.ndim == 3 else values  # (H, W)
        if ink == "dark" or (ink == "auto" and _light_background(gray)):
            gray = 1.0 - gray
    # Paper is never pure white nor a pencil stroke pure black: MNIST's ink spans 0 to 1, so stretch ours to match.
    background = float(np.median(_border(gray)))
    contrast = float(gray.max()) - background
    if contrast < MIN_CONTRAST:
        return np.zeros_like(gray)
    stretched = np.clip((gray - background) / contrast, 0.0, 1.0)
    stretched[stretched < INK_THRESHOLD] = 0.0
    return stretched


def _border(gray: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels, (2H + 2W - 4,) or fewer for tiny images."""
    if min(gray.shape) <= 2:
        return gray.ravel()
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def _light_background(gray: np.ndarray) -> bool:
    """Whether the border (the background) is brighter than the image overall: dark ink on paper.

    The border's median, not its mean, stands for the background: a stroke that runs off the edge
    must not turn a black canvas into "paper".
    """
    border, mean = float(np.median(_border(gray))), float(gray.mean())
    if np.isclose(border, mean, atol=1e-3):
        return mean > 0.5  # no contrast at all: a blank sheet is light, a blank canvas dark
    return border > mean


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX pixels, keeping the aspect ratio, with area-averaging anti-aliasing."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (width, height)
    # BOX averages each output pixel's footprint: MNIST's anti-aliasing, and no ringing to clip.
    resized = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize(size, Image.Resampling.BOX)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _centre_of_mass_paste(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in the 28x28 field with its centre of mass at CENTRE, by whole pixels, inside the frame."""
    height, width = digit.shape
    total = float(digit.sum())
    rows, cols = np.arange(height), np.arange(width)
    com_row = float(digit.sum(axis=1) @ rows) / total if total > 0 else (height - 1) / 2
    com_col = float(digit.sum(axis=0) @ cols) / total if total > 0 else (width - 1) / 2
    # Rounding the offset is MNIST's own recipe: its centres of mass scatter by +-0.5 px around 14.
    top = int(np.clip(round(CENTRE - com_row), 0, SIZE - height))
    left = int(np.clip(round(CENTRE - com_col), 0, SIZE - width))
    field = np.zeros((SIZE, SIZE), np.float32)
    field[top:top + height, left:left + width] = digit
    return field
