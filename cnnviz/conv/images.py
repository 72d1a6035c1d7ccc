"""Turn uploaded bytes into a float image in [0, 1], or a message a student can act on.

Every Pillow mode is normalised to grayscale (H, W) or colour (H, W, 3) float32. Oversized
images are refused from their header before any pixel is decoded (decompression bombs, and
images whose pixels would need too many bytes), large ones are reduced as they decode so a
page stays responsive, and at most ``MAX_DECODES`` decode at once.
"""
from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz.errors import UserError

# Refuse anything declaring more pixels than this before decoding: 20000x20000 is a bomb,
# a 50-megapixel camera photo is not.
MAX_PIXELS = 64_000_000
# Refuse anything whose decoded pixels would need more bytes than this, counted the way Pillow stores them (a JPEG at
# the reduced scale its draft mode decodes to): a 7999x7999 RGBA PNG of zeros is 249 KB on disk and 244 MB decoded.
# 128 MB is a 33-megapixel RGB PNG; with two decodes at once, the server's share stays near 300 MB.
MAX_DECODE_BYTES = 128 << 20
MAX_DECODES = 2  # decodes running at once per server; the others wait for a slot
DECODE_WAIT_SECONDS = 20.0  # how long an upload waits for a slot before it is told to try again
_DECODE_SLOTS = threading.BoundedSemaphore(MAX_DECODES)
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class ImageError(UserError):
    """An upload that cannot be used, with a message that says what to do instead (a ValueError)."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and what happened on the way."""

    pixels: np.ndarray  # float32 in [0, 1], (H, W) or (H, W, 3)
    original_size: tuple[int, int]  # (width, height) before any downscaling
    downscaled: bool  # True when the longer side was reduced to max_side
    format: str  # Pillow's format name, e.g. "PNG"
    frames: int  # frames or pages in the file; only the first is used


def load_image(data: bytes, *, max_side: int = 1024) -> np.ndarray:
    """Decode ``data`` into float32 pixels in [0, 1], (H, W) or (H, W, 3).

    Args:
        data: the file's bytes (PNG, JPEG, WebP, BMP, GIF or TIFF).
        max_side: the longer side is downscaled to this many pixels if larger.

    Returns:
        The pixels. Use ``load_image_info`` to learn whether they were downscaled.

    Raises:
        ImageError: the bytes are empty, not an image, truncated, or declare too many pixels.
        TypeError: ``data`` is not bytes.
        ValueError: ``max_side`` is below 1.
    """
    return load_image_info(data, max_side=max_side).pixels


def load_image_info(data: bytes, *, max_side: int = 1024) -> LoadedImage:
    """Like ``load_image``, but also report the original size, format, frames and downscaling."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load_image needs the file's bytes, got {type(data).__name__}")
    if not isinstance(max_side, int) or isinstance(max_side, bool) or max_side < 1:
        raise ValueError(f"max_side must be a positive int, got max_side={max_side!r}")
    if len(data) == 0:
        raise ImageError("error.image.empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError("error.image.too_many_pixels", width=width, height=height,
                                 megapixels=MAX_PIXELS // 1_000_000)
            if image.format not in FORMATS:
                raise ImageError("error.image.unsupported_format", format=image.format)
            frames = getattr(image, "n_frames", 1)
            image.seek(0)
            if image.format == "JPEG":
                # Let the JPEG decoder skip detail we would throw away when downscaling.
                image.draft("RGB" if image.mode in ("RGB", "YCbCr", "CMYK") else image.mode, (max_side, max_side))
            needed = decode_bytes(image)
            if needed > MAX_DECODE_BYTES:
                raise ImageError("error.image.too_many_bytes", width=width, height=height, mode=image.mode,
                                 megabytes=needed / 2**20, maximum=MAX_DECODE_BYTES / 2**20)
            fmt = image.format
            with _decode_slot():
                return _decode(image, max_side, (width, height), fmt, frames)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError("error.image.bomb") from error
    except UnidentifiedImageError as error:
        raise ImageError("error.image.unidentified") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError("error.image.damaged", error=str(error)) from error


def decode_bytes(image: Image.Image) -> int:
    """Bytes Pillow will hold for ``image``'s decoded pixels: one, two or four per pixel for a single band (by its
    depth), four for any image of several bands (Pillow keeps RGB as RGBX)."""
    if len(image.getbands()) > 1:
        per_pixel = 4
    else:
        per_pixel = {"I": 4, "F": 4}.get(image.mode, 2 if image.mode.startswith("I;16") else 1)
    return image.width * image.height * per_pixel


@contextmanager
def _decode_slot() -> Iterator[None]:
    """Hold one of the server's ``MAX_DECODES`` decode slots; an upload that waits more than
    ``DECODE_WAIT_SECONDS`` for one is refused with a "busy, try again" message."""
    if not _DECODE_SLOTS.acquire(timeout=DECODE_WAIT_SECONDS):
        raise ImageError("error.image.busy")
    try:
        yield
    finally:
        _DECODE_SLOTS.release()


def _decode(image: Image.Image, max_side: int, original_size: tuple[int, int], fmt: str, frames: int) -> LoadedImage:
    """Decode ``image``, shrink it in its own mode, then make the float pixels: the float array of a large image
    never exists at full size."""
    image.load()
    image = ImageOps.exif_transpose(_shrink(image, max_side))
    pixels = _to_float(image)
    longest = max(pixels.shape[:2])
    downscaled = longest > max_side or max(original_size) > max_side
    if longest > max_side:
        pixels = downscale(pixels, max_side)
    return LoadedImage(pixels, original_size, downscaled, fmt, frames)


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` reduced by a whole factor (box averages), its longer side still at least ``max_side``: the float
    conversion and the Lanczos resize then see under 4 x max_side² pixels. Pillow cannot reduce palette, 1-bit and
    16-bit images; those are sampled, as Pillow's own resize samples palette images."""
    factor = max(image.size) // max_side
    if factor < 2:
        return image
    if image.mode in ("1", "P") or image.mode.startswith("I;16"):
        return image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.NEAREST)
    return image.reduce(factor)


def _to_float(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info) or (
        mode in ("RGB", "L") and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        composited = Image.alpha_composite(white, rgba)
        gray = mode in ("LA",) or (mode == "L")
        return _scale_uint8(np.asarray(composited.convert("L" if gray else "RGB")))
    if mode == "1":
        return np.asarray(image, dtype=np.float32)  # booleans: 0 or 1
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return (np.asarray(image, dtype=np.float32) / 65535.0).clip(0.0, 1.0)
    if mode in ("I", "F"):
        return _scale_range(np.asarray(image, dtype=np.float64), 65535.0 if mode == "I" else 1.0)
    if mode in _GRAY_MODES or mode == "L":
        return _scale_uint8(np.asarray(image.convert("L")))
    return _scale_uint8(np.asarray(image.convert("RGB")))


def _scale_uint8(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) / 255.0


def _scale_range(array: np.ndarray, nominal_max: float) -> np.ndarray:
    # 32-bit and float images have no fixed range: keep values already in [0, nominal_max],
    # otherwise stretch what is there; NaN and infinity become 0.
    array = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(array.min()), float(array.max())
    if low >= 0.0 and high <= nominal_max:
        return (array / nominal_max).astype(np.float32)
    if high == low:
        return np.zeros_like(array, dtype=np.float32)
    return ((array - low) / (high - low)).astype(np.float32)


def downscale(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """[0, 1] pixels resized (Lanczos) so the longer side is ``max_side``."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    channels = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(pixels.shape[2])]
    resized = [
        np.asarray(Image.fromarray(channel.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
        for channel in channels
    ]
    out = resized[0] if pixels.ndim == 2 else np.stack(resized, axis=-1)  # (h, w) or (h, w, 3)
    return out.clip(0.0, 1.0).astype(np.float32)
