"""A corpus of hostile and odd uploads, generated on demand (nothing is written into the checkout).

Each entry is (name, bytes, what must happen): "image" (decodes, possibly downscaled) or "refused" (an ImageError a
student can act on). Shared by the loader's tests and the Kernel Lab's upload tests.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(pixels: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(side: int = 30000) -> bytes:
    """A tiny PNG whose header declares side x side pixels."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        _chunk(b"IEND", b"")


def gif_bomb(side: int = 30000) -> bytes:
    """A GIF whose logical screen and frame are side x side, holding a few bytes of data."""
    data = encode(np.zeros((2, 2), np.uint8), "GIF")
    screen = struct.pack("<HH", side, side)
    frame_at = data.index(b"\x2c")  # image descriptor: 0x2C, left, top, width, height
    return data[:6] + screen + data[10:frame_at + 5] + screen + data[frame_at + 9:]


def tiff_bomb(side: int = 30000) -> bytes:
    """A little-endian TIFF whose only page claims side x side 8-bit gray pixels, with 16 bytes of data."""
    entries = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0), (277, 3, 1),
               (278, 4, side), (279, 4, 16)]  # width, length, bits, no compression, gray, strip, 1 sample, rows, bytes
    ifd_size = 2 + 12 * len(entries) + 4
    data_at = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        ifd += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def _photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / max(width, 1), y / max(height, 1), rng.random((height, width))], axis=-1)
    return (rgb * 255).astype(np.uint8)


def _exif_rotated() -> bytes:
    image = Image.fromarray(_photo(40, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    return encode(image, "JPEG", exif=exif.tobytes())


def _animated() -> bytes:
    frames = [Image.fromarray(np.full((16, 16), value, np.uint8)) for value in (0, 128, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def corpus() -> list[tuple[str, bytes, str]]:
    """Every case, each small enough to build in milliseconds."""
    png = encode(_photo(64, 48), "PNG")
    gray16 = Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16))
    floats = np.linspace(-1, 2, 48 * 64, dtype=np.float32).reshape(48, 64)
    floats[0, :5] = np.nan
    palette = Image.fromarray(_photo(32, 32)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    alpha = Image.fromarray(np.dstack([_photo(32, 32), np.linspace(0, 255, 32 * 32).reshape(32, 32).astype(np.uint8)]))
    return [
        ("bomb.png", png_bomb(), "refused"),
        ("bomb.gif", gif_bomb(), "refused"),
        ("bomb.tiff", tiff_bomb(), "refused"),
        ("empty.png", b"", "refused"),
        ("truncated.png", png[: len(png) // 2], "refused"),
        ("truncated.jpg", encode(_photo(64, 48), "JPEG")[:300], "refused"),
        ("notes.png", b"these are lecture notes, not a picture", "refused"),
        ("png_named.jpg", png, "image"),  # wrong extension: the bytes decide
        ("row.png", encode(_photo(300, 1), "PNG"), "image"),  # 1 x N
        ("column.png", encode(_photo(1, 300), "PNG"), "image"),  # N x 1
        ("one_pixel.png", encode(_photo(1, 1), "PNG"), "image"),
        ("phone_photo.jpg", encode(_photo(3000, 2000), "JPEG", quality=70), "image"),  # huge but legal
        ("gray16.tiff", encode(gray16, "TIFF"), "image"),
        ("float_nan.tiff", encode(Image.fromarray(floats, mode="F"), "TIFF"), "image"),
        ("cmyk.jpg", encode(Image.fromarray(_photo(32, 32)).convert("CMYK"), "JPEG"), "image"),
        ("palette.png", encode(palette, "PNG"), "image"),
        ("alpha.png", encode(alpha, "PNG"), "image"),
        ("exif_rotated.jpg", _exif_rotated(), "image"),
        ("animated.gif", _animated(), "image"),
    ]
