"""1-D convolution of a signal (audio, a time series), ordinary or causal: ``conv1d`` and the axis it slides along.

A 1-D convolution is one axis of the 2-D one, so its geometry is ``geometry.Axis`` (output length, windows, the
formula written out), never a second copy of the maths. Causal padding puts all of it before the signal,
dilation·(k − 1) positions, so output t reads inputs up to t and none after: WaveNet's building block.
``cnnviz.conv.ops`` re-exports ``conv1d``.

    >>> conv1d([1, 2, 3, 4, 5], [1/3, 1/3, 1/3]).round(12)  # a moving average
    array([2., 3., 4.])
    >>> conv1d([1, 2, 4, 7], [-1, 1], causal=True)  # output t = x[t] - x[t-1], x[-1] = 0
    array([1., 1., 2., 3.])
    >>> signal_axis(16, 2, dilation=8, causal=True).text
    '⌊(16 + 8 + 0 − 8·(2 − 1) − 1) / 1⌋ + 1 = 16'
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.conv.geometry import Axis, is_int
from cnnviz.errors import UserError

__all__ = ["conv1d", "signal_axis", "as_signal"]


def as_signal(values: Any, name: str = "signal") -> np.ndarray:
    """``values`` as a float64 (N,) array, checked: one axis, not empty, finite real numbers.

    Raises:
        ValueError: naming ``name`` and what is wrong with it.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise UserError("error.signal.ndim", name=name, shape=array.shape)
    if array.size == 0:
        raise UserError("error.signal.empty", name=name)
    if (not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating)
            or not np.isfinite(array).all()):
        raise UserError("error.signal.nonfinite", name=name)
    return array.astype(np.float64)  # always a copy: nothing here may write into the caller's list


def signal_axis(n: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1,
                causal: bool = False) -> Axis:
    """The axis a ``kernel``-tap window slides along over a signal of length ``n``.

    Args:
        n: signal length N.
        kernel: taps k.
        stride: positions the window moves per output.
        padding: zeros added on each side (ordinary convolution); must stay 0 when ``causal``.
        dilation: spacing between taps d.
        causal: True puts d·(k − 1) zeros before the signal and none after, so output t sees inputs up to t.

    Returns:
        The ``Axis``; its ``out_size`` raises ValueError when the window is longer than the padded signal.

    Raises:
        ValueError: an argument out of range, naming it and its value.
    """
    for name, value, minimum in (("n", n, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1),
                                 ("padding", padding, 0)):
        if not is_int(value) or value < minimum:
            raise UserError("error.int_at_least", name=name, minimum=minimum, value=value)
    if not isinstance(causal, (bool, np.bool_)):
        raise UserError("error.signal.causal_flag", causal=causal)
    if causal and padding:
        raise UserError("error.signal.causal_padding", padding=padding, dilation=dilation, kernel=kernel,
                        pad=dilation * (kernel - 1))
    before, after = (dilation * (kernel - 1), 0) if causal else (padding, padding)
    return Axis(n, kernel, stride, before, after, dilation)


def conv1d(signal: Any, kernel: Any, *, stride: int = 1, padding: int = 0, dilation: int = 1,
           causal: bool = False) -> np.ndarray:
    """Slide ``kernel`` along ``signal``: cross-correlation, as ``torch.nn.functional.conv1d``.

    Output t is sum over j of kernel[j] · padded[t·stride + j·dilation], where padded is the signal with its zeros.

    Args:
        signal: (N,) numbers.
        kernel: (k,) numbers.
        stride: int, at least 1.
        padding: int, at least 0, zeros added on each side; leave 0 with ``causal``.
        dilation: int, at least 1.
        causal: True pads dilation·(k − 1) zeros on the left only, so output t depends on inputs 0..t alone
            (with stride 1 the output is as long as the signal).

    Returns:
        (N',) float64, N' = ``signal_axis(...).out_size``. The inputs are left unchanged.

    Raises:
        ValueError: naming the bad value and what to change.
    """
    x = as_signal(signal, "signal")
    w = as_signal(kernel, "kernel")
    axis = signal_axis(len(x), len(w), stride=stride, padding=padding, dilation=dilation, causal=causal)
    axis.out_size  # raises, with what to change, when the window does not fit
    padded = np.pad(x, (axis.pad_before, axis.pad_after))  # (N + before + after,)
    y = F.conv1d(torch.from_numpy(padded)[None, None], torch.from_numpy(w)[None, None], stride=axis.stride,
                 dilation=axis.dilation)  # (1, 1, N')
    return y[0, 0].cpu().numpy().copy()  # (N',)
