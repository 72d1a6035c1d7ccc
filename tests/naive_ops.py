"""An independent reference: convolution and pooling as plain Python loops (no torch, no cnnviz.conv.ops)."""
import math

import numpy as np


def naive_pad(image, top, bottom, left, right, mode):
    h, w = image.shape[:2]
    out = np.zeros((h + top + bottom, w + left + right) + image.shape[2:])
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            r, c = i - top, j - left
            if mode == "zeros":
                if 0 <= r < h and 0 <= c < w:
                    out[i, j] = image[r, c]
                continue
            if mode == "replicate":
                r, c = min(max(r, 0), h - 1), min(max(c, 0), w - 1)
            elif mode == "circular":
                r, c = r % h, c % w
            elif mode == "reflect":
                r = -r if r < 0 else (2 * (h - 1) - r if r >= h else r)
                c = -c if c < 0 else (2 * (w - 1) - c if c >= w else c)
            out[i, j] = image[r, c]
    return out


def naive_same_pads(n, k, s, d):
    out = math.ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def naive_conv2d(image, kernel, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), mode="zeros", bias=0.0, flip=False):
    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    if flip:
        kernel = kernel[..., ::-1, ::-1]
    padded = naive_pad(image, pads[0][0], pads[0][1], pads[1][0], pads[1][1], mode)
    kh, kw = kernel.shape[-2:]
    out_h = (padded.shape[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (padded.shape[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    channels = 1 if image.ndim == 2 else image.shape[2]
    per_channel = kernel.ndim == 2
    shape = (out_h, out_w) if (image.ndim == 2 or not per_channel) else (out_h, out_w, channels)
    out = np.zeros(shape)
    for i in range(out_h):
        for j in range(out_w):
            for c in range(channels):
                total = 0.0
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]
                        pixel = padded[r, q] if image.ndim == 2 else padded[r, q, c]
                        weight = kernel[a, b] if per_channel else kernel[c, a, b]
                        total += pixel * weight
                if image.ndim == 2:
                    out[i, j] = total + bias
                elif per_channel:
                    out[i, j, c] = total + bias
                else:
                    out[i, j] += total
            if image.ndim == 3 and not per_channel:
                out[i, j] += bias
    return out


def naive_pool2d(x, kind, size, stride, padding):
    x = np.asarray(x, dtype=float)
    fill = -math.inf if kind == "max" else 0.0
    h, w = x.shape[:2]
    padded = np.full((h + 2 * padding[0], w + 2 * padding[1]) + x.shape[2:], fill)
    padded[padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    out_h = (padded.shape[0] - size[0]) // stride[0] + 1
    out_w = (padded.shape[1] - size[1]) // stride[1] + 1
    out = np.zeros((out_h, out_w) + x.shape[2:])
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * stride[0]:i * stride[0] + size[0], j * stride[1]:j * stride[1] + size[1]]
            if kind == "max":
                out[i, j] = window.max(axis=(0, 1))
            else:
                out[i, j] = window.sum(axis=(0, 1)) / (size[0] * size[1])
    return out
