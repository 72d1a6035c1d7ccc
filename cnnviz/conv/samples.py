"""Bundled sample images for the convolution pages: photos, drawn patterns and an MNIST digit."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnviz.conv.images import downscale, load_image

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "samples"


@dataclass(frozen=True)
class Sample:
    key: str  # stable identifier, used in URLs and tests
    kind: str  # photo, procedural or digit

    @property
    def label_key(self) -> str:
        return f"samples.{self.key}"


SAMPLES: tuple[Sample, ...] = (
    Sample("camera", "photo"),
    Sample("astronaut", "photo"),
    Sample("coffee", "photo"),
    Sample("chelsea", "photo"),
    Sample("checkerboard", "procedural"),
    Sample("shapes", "procedural"),
    Sample("gradient", "procedural"),
    Sample("mnist_digit", "digit"),
)


def sample_keys() -> list[str]:
    return [sample.key for sample in SAMPLES]


def _checkerboard(size: int = 256, squares: int = 8) -> np.ndarray:
    index = np.arange(size) * squares // size
    return ((index[:, None] + index[None, :]) % 2).astype(np.float32)  # (size, size)


def _shapes(size: int = 256) -> np.ndarray:
    image = Image.new("L", (size, size), 30)
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.rectangle([20 * s, 20 * s, 110 * s, 110 * s], fill=220)
    draw.ellipse([140 * s, 24 * s, 236 * s, 120 * s], fill=160)
    draw.polygon([(30 * s, 230 * s), (80 * s, 140 * s), (130 * s, 230 * s)], fill=255)
    draw.line([(150 * s, 150 * s), (240 * s, 240 * s)], fill=255, width=max(1, round(6 * s)))
    font = ImageFont.load_default(size=round(36 * s))
    draw.text((150 * s, 170 * s), "CNN", fill=255, font=font)
    return np.asarray(image, dtype=np.float32) / 255.0


def _gradient(size: int = 256) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    radial = 1 - np.clip(np.hypot(x - 0.5, y - 0.5) / 0.5, 0, 1)
    return np.stack([x, radial, 1 - x], axis=-1).astype(np.float32)  # (size, size, 3)


def _mnist_digit() -> np.ndarray:
    from cnnviz.data import load_mnist  # imported here: only this sample needs the MNIST files

    return load_mnist().test_pixels[0].astype(np.float32) / 255.0  # a 7, the first test digit


def load_sample(key: str, *, size: int | None = None) -> np.ndarray:
    """The sample ``key`` as float32 in [0, 1], (H, W) or (H, W, 3).

    Args:
        key: one of ``sample_keys()``.
        size: if given, the longer side is scaled to at most this many pixels.
    """
    if key not in sample_keys():
        raise ValueError(f"unknown sample {key!r}: choose one of {', '.join(sample_keys())}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int, got size={size!r}")
    kind = next(s.kind for s in SAMPLES if s.key == key)
    if kind == "photo":
        return load_image((ASSETS / f"{key}.png").read_bytes(), max_side=size or 4096)
    pixels = {"checkerboard": _checkerboard, "shapes": _shapes, "gradient": _gradient, "mnist_digit": _mnist_digit}[key]()
    if size is not None and max(pixels.shape[:2]) > size:
        pixels = downscale(pixels, size)
    return pixels
