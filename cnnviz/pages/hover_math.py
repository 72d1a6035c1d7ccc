"""What the Kernel Lab's hover arithmetic needs in the browser: the input's exact values and every setting that turns
them into a stage's value at one position. The browser redoes one window's arithmetic per pointer move from these
alone, so it never asks the server while the pointer moves.

    >>> blob = input_blob(np.array([[0.0, 255.0], [12.0, 3.0]], np.float32))
    >>> blob[:4], blob[HEADER_BYTES:]
    (b'CNVZ', b'\\x00\\xff\\x0c\\x03')
"""
from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

from cnnviz.conv.geometry import Axis, Geometry, Layer, Pooling

MAGIC = b"CNVZ"
# MAGIC, dtype (1: uint8, 4: float32), rows, cols, channels, then a 16-byte digest of the values. The digest sits in
# the first bytes on purpose: Streamlit names a large media file by its length, head, middle and tail only, so two
# photos that differ elsewhere would share an address, and the browser would do its arithmetic on the wrong one.
_HEADER = struct.Struct("<4sBxxxIII16s")
HEADER_BYTES = _HEADER.size  # 36


def input_blob(image: np.ndarray) -> bytes:
    """The pipeline's input (0-255 scale, (H, W) or (H, W, 3), float32) as bytes the browser reads back exactly: one
    byte a value where every value is a whole number from 0 to 255 (8-bit pictures), else little-endian float32.

    Raises:
        ValueError: ``image`` is not a 2-D or 3-D float32 array.
    """
    array = np.asarray(image)
    if array.dtype != np.float32 or array.ndim not in (2, 3):
        raise ValueError(f"the input must be a float32 (H, W) or (H, W, C) array, got dtype={array.dtype} "
                         f"shape={array.shape}")
    rows, cols = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    as_bytes = array.astype(np.uint8)
    exact = array.min() >= 0 and array.max() <= 255 and np.array_equal(as_bytes, array)
    values = as_bytes.tobytes() if exact else array.astype("<f4").tobytes()
    digest = hashlib.blake2b(values, digest_size=16).digest()
    return _HEADER.pack(MAGIC, 1 if exact else 4, rows, cols, channels, digest) + values


def read_blob(blob: bytes) -> np.ndarray:
    """``input_blob``'s array back (float32), as the browser reads it."""
    magic, size, rows, cols, channels, _ = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ValueError(f"not an input blob: starts {blob[:4]!r}")
    dtype = np.uint8 if size == 1 else np.dtype("<f4")
    values = np.frombuffer(blob, dtype, offset=HEADER_BYTES).astype(np.float32)
    return values.reshape((rows, cols) if channels == 1 else (rows, cols, channels))


def _axis(axis: Axis) -> dict[str, int]:
    return {"size": axis.size, "kernel": axis.kernel, "stride": axis.stride, "before": axis.pad_before,
            "after": axis.pad_after, "dilation": axis.dilation, "out": axis.out_size}


def settings(kernel: np.ndarray, input_hw: tuple[int, int], *, geometry: Geometry, bias: float, activation: str,
             slope: float, pooling: Pooling) -> dict[str, Any]:
    """Every setting the browser's arithmetic needs, as JSON-ready values, each exactly what ``cnnviz.conv.ops``
    computes with: the kernel as applied (flipped for a true convolution) in float32, the bias and the leaky slope
    in float32, the padding resolved to amounts per side.

    Args:
        kernel: (kh, kw) in gray, (3, kh, kw) in RGB, as the page holds it.
        input_hw: (rows, cols) of the working image.
        geometry: the page's ``Geometry``.
        bias, activation, slope: the stages after the convolution.
        pooling: the page's ``Pooling``.
    """
    weights = np.asarray(kernel, dtype=np.float64).astype(np.float32)
    if geometry.flip:
        weights = weights[..., ::-1, ::-1]
    slices = weights if weights.ndim == 3 else weights[None]  # (C, kh, kw)
    rows, cols = geometry.layer(weights.shape[-2:], input_hw).axes(input_hw)
    sent: dict[str, Any] = {
        "kernel": [[float(v) for v in s.ravel()] for s in slices], "kh": int(weights.shape[-2]),
        "kw": int(weights.shape[-1]), "flip": bool(geometry.flip), "mode": geometry.padding_mode,
        "rows": _axis(rows), "cols": _axis(cols), "bias": float(np.float32(bias)), "activation": activation,
        "slope": float(np.float32(slope)), "pool": None}
    if pooling.kind != "none":
        pool_rows, pool_cols = Layer(pooling.size, pooling.stride).axes((rows.out_size, cols.out_size))
        sent["pool"] = {"kind": pooling.kind, "rows": _axis(pool_rows), "cols": _axis(pool_cols)}
    return sent
