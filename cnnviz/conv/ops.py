"""Convolution and pooling on numpy arrays: the engine behind every page.

The functions take (H, W) or (H, W, C) numpy arrays, compute with torch, and return new
numpy arrays; inputs are never modified. A float32 image (what ``cnnviz.conv.images.load_image``
returns) is computed in float32 on torch's fast channels-last kernels, ample for 8-bit pixels;
every other input is computed in float64, so integer worked examples come out exact. Bad
arguments raise ``ValueError`` with the offending values and what to change, never a torch
traceback.

    >>> import numpy as np
    >>> from cnnviz.conv.ops import conv2d, output_size
    >>> conv2d(np.arange(1, 10).reshape(3, 3), np.eye(3))
    array([[15.]])
    >>> output_size(28, 3, stride=2, padding=1)
    14
    >>> conv2d(np.ones((4, 4, 2)), np.ones((4, 1, 3, 3)), groups=2)[..., 0]  # 4 filters, each over 2/2 = 1 channel
    array([[9., 9.],
           [9., 9.]])
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.conv.geometry import (PADDING_MODES, POOL_KINDS, Axis, Layer, Pads, as_pair, resolve_padding,
                                  transposed_axes)
from cnnviz.conv.signal import conv1d  # 1-D and causal convolution live in a module of their own
from cnnviz.errors import UserError

Pair = Union[int, Sequence[int]]
PaddingArg = Union[int, Sequence[int], str]

__all__ = ["conv2d", "pool2d", "pad", "output_size", "resolve_padding", "PADDING_MODES", "conv_transpose2d",
           "conv2d_grads", "ConvGrads", "conv1d"]


def _as_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise UserError("error.ops.image_ndim", name=name, shape=array.shape)
    if array.size == 0:
        raise UserError("error.ops.image_empty", name=name, shape=array.shape)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise UserError("error.ops.image_dtype", name=name, dtype=array.dtype)
    if not np.isfinite(array).all():
        raise UserError("error.ops.image_nonfinite", name=name)
    return array if array.dtype == np.float32 else array.astype(np.float64, copy=False)


def _to_nchw(image: np.ndarray) -> torch.Tensor:
    # No copy: the tensor shares the array's memory, and nothing here writes into an input (copying a large photo
    # would be a noticeable part of every geometry change).
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:
        array = array.copy()  # a shared, read-only picture (the pages' image cache): torch wants memory it may write
    tensor = torch.from_numpy(array)
    if image.ndim == 2:
        return tensor[None, None]  # (1, 1, H, W)
    # Channels-last strides, batch stride included: torch only takes its fast kernels when every stride fits.
    return tensor[None].permute(0, 3, 1, 2)  # (1, C, H, W)


def _from_nchw(tensor: torch.Tensor, like_ndim: int) -> np.ndarray:
    if like_ndim == 2:
        return tensor[0, 0].numpy().copy()  # (H', W')
    return tensor[0].permute(1, 2, 0).numpy().copy()  # (H', W', C)


def output_size(n: int, kernel: int, stride: int = 1, padding: int | Sequence[int] = 0, dilation: int = 1) -> int:
    """Length of a convolution or pooling output along one axis (``cnnviz.conv.geometry.Axis.out_size``).

    Args:
        n: input length.
        kernel: kernel length.
        stride: step between windows.
        padding: added on each side (int), or a (before, after) pair.
        dilation: spacing between kernel taps.

    Returns:
        floor((n + before + after - dilation*(kernel-1) - 1) / stride) + 1, the length torch produces.

    Raises:
        ValueError: an argument is out of range, or the window does not fit in the padded input.
    """
    for name, value, minimum in (("n", n, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise UserError("error.int_at_least", name=name, minimum=minimum, value=value)
    before, after = as_pair(padding, "padding", minimum=0)
    return Axis(n, kernel, stride, before, after, dilation).out_size


def pad(image: np.ndarray, pads: Pads, mode: str = "zeros") -> np.ndarray:
    """Pad an (H, W) or (H, W, C) image exactly as ``conv2d`` does before sliding the kernel.

    Args:
        image: the array to pad.
        pads: ((top, bottom), (left, right)).
        mode: zeros, reflect, replicate or circular.

    Returns:
        The padded array (float32 for a float32 image, else float64).
    """
    array = _as_image(image)
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) < 0:
        raise UserError("error.ops.negative_padding", pads=pads)
    _check_mode(mode, array.shape[:2], pads)
    padded = _padded(array, pads, mode)
    return padded.copy() if padded is image else padded  # always a new array: the caller may write into it


def _check_mode(mode: str, input_hw: tuple[int, int], pads: Pads) -> None:
    if mode not in PADDING_MODES:
        raise UserError("error.one_of", name="padding_mode", options=", ".join(PADDING_MODES), value=mode)
    (top, bottom), (left, right) = pads
    h, w = input_hw
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise UserError("error.ops.reflect_too_big", pads=pads, h=h, w=w)
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise UserError("error.ops.circular_too_big", pads=pads, h=h, w=w)


_NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # same semantics


def _padded(array: np.ndarray, pads: Pads, mode: str) -> np.ndarray:
    """(H, W[, C]) padded in numpy: on a large RGB image several times faster than F.pad on channels-last memory,
    with identical values (numpy's reflect/edge/wrap are torch's reflect/replicate/circular)."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return array
    widths = ((top, bottom), (left, right)) + (((0, 0),) if array.ndim == 3 else ())
    return np.pad(array, widths, mode=_NUMPY_MODES[mode])  # (H+top+bottom, W+left+right[, C])


def conv2d(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: Pair = 1,
    padding: PaddingArg = 0,
    dilation: Pair = 1,
    padding_mode: str = "zeros",
    bias: float = 0.0,
    flip: bool = False,
    depthwise: bool = False,
    groups: int = 1,
) -> np.ndarray:
    """Slide ``kernel`` over ``image``: cross-correlation by default, as ``nn.Conv2d``.

    Args:
        image: (H, W) or (H, W, C) array.
        kernel: (kh, kw), applied to each channel separately (output keeps the channels), or
            (C, kh, kw), one filter summed over channels like one output channel of ``nn.Conv2d``
            (output is (H', W')), or (C_out, C/groups, kh, kw), ``nn.Conv2d``'s own weight (output is
            (H', W', C_out)).
        stride: int or (rows, cols), at least 1.
        padding: int, (rows, cols), "valid" or "same" (see ``resolve_padding``).
        dilation: int or (rows, cols), at least 1.
        padding_mode: zeros, reflect, replicate or circular.
        bias: added to every output value.
        flip: True rotates the kernel 180 degrees first, giving true mathematical convolution.
        depthwise: with a (C, kh, kw) kernel, convolve channel c with slice c and keep the channels
            apart instead of summing them (nn.Conv2d with groups=C): the per-channel partial maps.
            With a 4-D kernel it is groups=C: (C·m, 1, kh, kw), m filters per channel.
        groups: split the C channels into this many groups, and the kernel's C_out filters with them: filter o
            sees only the C/groups channels of group o // (C_out/groups), as ``nn.Conv2d(groups=...)``. A 4-D
            kernel takes any divisor of C and C_out; a 3-D kernel takes 1 (summed) or C (``depthwise``), and a
            2-D one 1 or C (both per channel).

    Returns:
        (H', W'), or (H', W', C) for a 2-D kernel, or a depthwise 3-D kernel, on a (H, W, C) image;
        (H', W', C_out) for a 4-D kernel; float32 for a float32 image, else float64.

    Raises:
        ValueError: naming the bad value and what to change.
    """
    array = _as_image(image)
    weights = np.asarray(kernel)
    if weights.ndim not in (2, 3, 4):
        raise UserError("error.ops.kernel_ndim", shape=weights.shape)
    if weights.size == 0:
        raise UserError("error.ops.kernel_empty", shape=weights.shape)
    if not np.issubdtype(weights.dtype, np.number) or not np.isfinite(weights).all():
        raise UserError("error.ops.kernel_nonfinite")
    if not math.isfinite(float(bias)):
        raise UserError("error.ops.bias_nonfinite", bias=bias)
    channels = 1 if array.ndim == 2 else array.shape[2]
    if weights.ndim == 3 and weights.shape[0] != channels:
        raise UserError("error.ops.kernel_channels", kernel=weights.shape[0], image=channels)
    groups = _check_groups(groups, depthwise, weights.shape, channels)
    if weights.ndim == 3 and groups == channels > 1:
        depthwise = True  # a (C, kh, kw) kernel in C groups: one slice per channel, kept apart
    strides = as_pair(stride, "stride", minimum=1)
    dilations = as_pair(dilation, "dilation", minimum=1)
    kernel_hw = weights.shape[-2:]
    pads = resolve_padding(padding, kernel_hw, stride=strides, dilation=dilations, input_hw=array.shape[:2])
    _check_mode(padding_mode, array.shape[:2], pads)
    layer = Layer(kernel_hw, strides, pads, dilations)
    for axis, name in zip(layer.axes(array.shape[:2]), ("rows", "cols")):
        if not axis.fits:
            raise UserError(f"error.ops.kernel_spans_{name}", kh=kernel_hw[0], kw=kernel_hw[1], dh=dilations[0],
                            dw=dilations[1], span=axis.span, padded=axis.padded)

    weights = weights.astype(array.dtype)
    if flip:
        weights = weights[..., ::-1, ::-1].copy()  # torch cannot view negative strides
    x = _to_nchw(_padded(array, pads, padding_mode))  # (1, C, Hp, Wp)
    w = torch.from_numpy(np.ascontiguousarray(weights))
    if weights.ndim == 4:
        return _grouped(x, w, strides, dilations, groups, float(bias))
    summed = weights.ndim == 3 and not depthwise
    if weights.ndim == 2:
        w = w[None, None].expand(channels, 1, *kernel_hw)  # (C, 1, kh, kw): one depthwise filter per channel
    else:
        w = w[:, None]  # (C, 1, kh, kw): slice c for channel c
    if x.dtype == torch.float32 and summed:
        # One filter over all channels as one oneDNN convolution on channels-last memory: as fast as the depthwise
        # one, where a depthwise convolution followed by a sum over channels took twice as long.
        y = F.conv2d(x.contiguous(memory_format=torch.channels_last), w.permute(1, 0, 2, 3), stride=strides,
                     dilation=dilations)  # (1, 1, H', W')
    elif x.dtype == torch.float32:
        y = _depthwise_float32(x, w, strides, dilations)  # (1, C, H', W')
    elif summed:
        y = F.conv2d(x, w.permute(1, 0, 2, 3), stride=strides, dilation=dilations)  # (1, 1, H', W')
    else:
        y = F.conv2d(x, w, stride=strides, dilation=dilations, groups=channels)  # (1, C, H', W')
    y = y + float(bias)
    if summed:
        return y[0, 0].numpy().copy()  # (H', W')
    return _from_nchw(y, array.ndim)


def _check_groups(groups: int, depthwise: bool, kernel_shape: tuple[int, ...], channels: int) -> int:
    """The number of groups a kernel of ``kernel_shape`` on ``channels`` channels means, or a UserError saying what
    to change."""
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise UserError("error.int_at_least", name="groups", minimum=1, value=groups)
    if depthwise and groups not in (1, channels):
        raise UserError("error.ops.depthwise_groups", groups=groups, channels=channels)
    if len(kernel_shape) < 4:
        if groups not in (1, channels):
            raise UserError("error.ops.groups_kernel_ndim", groups=groups, channels=channels, shape=kernel_shape)
        return groups
    groups = channels if depthwise else int(groups)
    if channels % groups:
        divisors = ", ".join(str(d) for d in range(1, channels + 1) if channels % d == 0)
        raise UserError("error.ops.groups_channels", groups=groups, channels=channels, divisors=divisors)
    out_channels, depth = kernel_shape[:2]
    if out_channels % groups:
        raise UserError("error.ops.groups_out_channels", groups=groups, out=out_channels)
    if depth != channels // groups:
        raise UserError("error.ops.groups_kernel_depth", groups=groups, channels=channels,
                        per_group=channels // groups, shape=kernel_shape)
    return groups


def _grouped(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], dilation: tuple[int, int],
             groups: int, bias: float) -> np.ndarray:
    """(1, C, Hp, Wp) convolved with nn.Conv2d's (C_out, C/groups, kh, kw) weight, as (H', W', C_out)."""
    if x.dtype == torch.float32:
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fast path, as for the other kernels
    y = F.conv2d(x, weight, stride=stride, dilation=dilation, groups=groups) + bias  # (1, C_out, H', W')
    return y[0].permute(1, 2, 0).numpy().copy()  # (H', W', C_out)


def _depthwise_float32(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                       dilation: tuple[int, int]) -> torch.Tensor:
    """Per-channel convolution of (1, C, Hp, Wp) with (C, 1, kh, kw), on oneDNN's fast path.

    That path needs channels-last memory and at least two channels: on a large RGB image it is several
    times faster than the NCHW layout, and a lone channel is faster computed twice than once. The numbers
    are identical either way.
    """
    channels = x.shape[1]
    if channels == 1:
        x, weight = x.expand(1, 2, -1, -1), weight.expand(2, -1, -1, -1)
    x = x.contiguous(memory_format=torch.channels_last)
    factors = _rank_one(weight[:, 0].numpy()) if min(weight.shape[-2:]) >= SEPARABLE_MIN_SIDE else None
    if factors is not None:
        # Down the columns (with the row stride), then along the rows: kh + kw taps per output instead of kh·kw.
        columns, rows = (torch.from_numpy(f) for f in factors)
        y = F.conv2d(x, columns[:, None, :, None], stride=(stride[0], 1), dilation=(dilation[0], 1), groups=x.shape[1])
        y = F.conv2d(y, rows[:, None, None, :], stride=(1, stride[1]), dilation=(1, dilation[1]), groups=x.shape[1])
    else:
        y = F.conv2d(x, weight, stride=stride, dilation=dilation, groups=x.shape[1])  # (1, max(C, 2), H', W')
    return y[:, :channels]


# A separable kernel (a Gaussian, a box blur, Sobel's) is the outer product of a column and a row, and two 1-D passes
# give the same map. From 7x7 up (dilated or not) two passes are faster on a photo; a 3x3 or 5x5 kernel gains
# nothing.
SEPARABLE_MIN_SIDE = 7


def _rank_one(slices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(C, kh) columns and (C, kw) rows whose outer products are the (C, kh, kw) ``slices``, or None when a slice is
    not one column times one row to float32 precision (the maps then differ only by float32 rounding)."""
    columns, rows = np.zeros(slices.shape[:2], np.float32), np.zeros((slices.shape[0], slices.shape[2]), np.float32)
    for c, kernel in enumerate(slices.astype(np.float64)):
        i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
        peak = kernel[i, j]
        if peak == 0:
            continue  # an all-zero slice: zero column, zero row
        column, row = kernel[:, j] / peak, kernel[i, :]
        if np.abs(np.outer(column, row) - kernel).max() > 1e-6 * abs(peak):
            return None
        columns[c], rows[c] = column, row
    return columns, rows


def pool2d(
    x: np.ndarray,
    kind: str = "max",
    size: Pair = 2,
    stride: Pair | None = None,
    padding: Pair = 0,
) -> np.ndarray:
    """Max or average pooling per channel, with torch's semantics.

    Args:
        x: (H, W) or (H, W, C) array.
        kind: "max" or "avg".
        size: window, int or (rows, cols).
        stride: int or (rows, cols); None means equal to size (no overlap).
        padding: int or (rows, cols), at most half the window. Max pooling pads with -inf
            (padding never wins); average pooling counts the padded zeros, as torch does by default.

    Returns:
        (H', W') or (H', W', C); float32 for a float32 input, else float64.
    """
    array = _as_image(x, "x")
    if kind not in POOL_KINDS[1:]:  # max or avg: a page's "none" never reaches pool2d
        raise UserError("error.ops.pool_kind", kind=kind)
    sizes = as_pair(size, "size", minimum=1)
    strides = sizes if stride is None else as_pair(stride, "stride", minimum=1)
    pads = as_pair(padding, "padding", minimum=0)
    if pads[0] > sizes[0] // 2 or pads[1] > sizes[1] // 2:
        raise UserError("error.ops.pool_padding", pads=pads, sizes=sizes)
    for axis in (0, 1):
        output_size(array.shape[axis], sizes[axis], strides[axis], pads[axis])
    t = _to_nchw(array)  # (1, C, H, W)
    if kind == "max":
        y = F.max_pool2d(t, sizes, strides, pads)
    else:
        y = F.avg_pool2d(t, sizes, strides, pads, count_include_pad=True)
    return _from_nchw(y, array.ndim)


def _kernel_2d(kernel: np.ndarray, dtype: np.dtype, name: str = "kernel") -> np.ndarray:
    weights = np.asarray(kernel)
    if weights.ndim != 2 or weights.size == 0:
        raise UserError("error.ops.kernel_2d", name=name, shape=weights.shape)
    if not np.issubdtype(weights.dtype, np.number) or not np.isfinite(weights).all():
        raise UserError("error.ops.kernel_nonfinite")
    return weights.astype(dtype)


def conv_transpose2d(
    x: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: Pair = 1,
    padding: Pair = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> np.ndarray:
    """Transposed convolution (the "deconvolution" of decoders and GANs), as ``F.conv_transpose2d``.

    Each input cell scatters its value times the kernel into the output, at ``stride`` steps, and overlapping
    contributions add up; then ``padding`` positions are cropped from each end and ``output_padding`` added at the
    end (``cnnviz.conv.geometry.TransposedAxis`` holds the sizes). Computed here as that scatter, one kernel tap at a
    time, so what the page shows is what runs.

        >>> conv_transpose2d(np.array([[1, 2]]), np.ones((1, 3)), stride=2)
        array([[1., 1., 3., 2., 2.]])

    Args:
        x: (H, W) input.
        kernel: (kh, kw).
        stride, padding, output_padding, dilation: int or (rows, cols); output_padding must be smaller than the
            stride or the dilation on its axis.

    Returns:
        (H', W') with H' = (H - 1)·s - 2p + d(kh - 1) + output_padding + 1; float32 for a float32 input, else float64.

    Raises:
        ValueError: naming the bad value and what to change.
    """
    array = _as_image(x, "x")
    if array.ndim != 2:
        raise UserError("error.ops.image_ndim", name="x", shape=array.shape)
    weights = _kernel_2d(kernel, array.dtype)
    rows, cols = transposed_axes(array.shape, weights.shape, stride=stride, padding=padding,
                                 output_padding=output_padding, dilation=dilation)
    full = np.zeros((rows.full_size + rows.output_padding, cols.full_size + cols.output_padding), array.dtype)
    last_row, last_col = (array.shape[0] - 1) * rows.stride + 1, (array.shape[1] - 1) * cols.stride + 1
    for a in range(weights.shape[0]):
        for b in range(weights.shape[1]):
            top, left = a * rows.dilation, b * cols.dilation
            full[top:top + last_row:rows.stride, left:left + last_col:cols.stride] += array * weights[a, b]
    return full[rows.padding:rows.padding + rows.out_size, cols.padding:cols.padding + cols.out_size].copy()


class ConvGrads(NamedTuple):
    """The gradients of ``sum(conv2d(x, kernel) * grad_out)``."""

    input: np.ndarray  # d/dx: the transposed convolution of grad_out with the kernel, x's shape
    kernel: np.ndarray  # d/dkernel: the input correlated with grad_out spread out by the stride, the kernel's shape


def conv2d_grads(x: np.ndarray, kernel: np.ndarray, grad_out: np.ndarray, *, stride: Pair = 1, padding: Pair = 0,
                 dilation: Pair = 1) -> ConvGrads:
    """The backward pass of ``conv2d(x, kernel, stride=, padding=, dilation=)`` (zero padding, cross-correlation).

    The input gradient is computed *as* ``conv_transpose2d(grad_out, kernel)`` with the forward's stride, padding
    and dilation, and the output_padding that gives back x's size (the rows or columns the forward's floor
    dropped get gradient 0); the kernel gradient as, for each tap, the sum of grad_out times the input positions
    that tap read.

        >>> conv2d_grads(np.array([[1., 2., 3.]]), np.array([[1., -1.]]), np.array([[1., 1.]])).input
        array([[ 1.,  0., -1.]])

    Args:
        x: (H, W) input of the forward convolution.
        kernel: (kh, kw).
        grad_out: the loss's gradient with respect to the convolution's output, of its (H', W') shape.
        stride, padding, dilation: int or (rows, cols), as the forward convolution's.

    Returns:
        ConvGrads(input, kernel), float64 (float32 when x and grad_out are float32).

    Raises:
        ValueError: naming the bad value and what to change, e.g. a grad_out of the wrong shape.
    """
    array = _as_image(x, "x")
    gradient = _as_image(grad_out, "grad_out")
    if array.ndim != 2:
        raise UserError("error.ops.image_ndim", name="x", shape=array.shape)
    dtype = np.result_type(array.dtype, gradient.dtype)
    array, gradient = array.astype(dtype, copy=False), gradient.astype(dtype, copy=False)
    weights = _kernel_2d(kernel, dtype)
    strides = as_pair(stride, "stride", minimum=1)
    pads = as_pair(padding, "padding", minimum=0)
    dilations = as_pair(dilation, "dilation", minimum=1)
    forward = tuple(Axis(n, k, s, p, p, d)
                    for n, k, s, p, d in zip(array.shape, weights.shape, strides, pads, dilations))
    expected = tuple(axis.out_size for axis in forward)
    if gradient.shape != expected:
        raise UserError("error.ops.grad_shape", expected=expected, shape=gradient.shape)
    # The forward's floor dropped trailing positions; output_padding gives them back (with gradient 0).
    extra = tuple(axis.transposed().output_padding for axis in forward)
    input_grad = conv_transpose2d(gradient, weights, stride=strides, padding=pads, output_padding=extra,
                                  dilation=dilations)
    padded = np.pad(array, ((pads[0], pads[0]), (pads[1], pads[1])))
    kernel_grad = np.zeros_like(weights)
    rows, cols = expected
    for a in range(weights.shape[0]):
        for b in range(weights.shape[1]):
            top, left = a * dilations[0], b * dilations[1]
            read = padded[top:top + (rows - 1) * strides[0] + 1:strides[0],
                          left:left + (cols - 1) * strides[1] + 1:strides[1]]  # what tap (a, b) read, (H', W')
            kernel_grad[a, b] = np.sum(read * gradient)
    return ConvGrads(input_grad, kernel_grad)
