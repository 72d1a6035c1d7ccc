"""The Kernel Lab's upsampling stage: a ×2 transposed convolution beside resize-then-convolve, and the checkerboard.

A transposed convolution with stride 2 stamps the kernel into the output every 2 pixels. With kernel 3 the stamps
overlap unevenly (1, 2, 1, 2 taps per output position, ``TransposedAxis.overlaps``), so on a flat region each output
pixel is the flat value times the sum of a different set of taps: unless the weights balance those sums exactly,
neighbouring pixels differ, a checkerboard (Odena et al., "Deconvolution and Checkerboard Artifacts", Distill 2016).
With kernel 4 every position gets 2 taps per axis. Resizing first and then convolving has no stamps at all.

    >>> flat_gains(bilinear_kernel(4)).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    >>> transposed_axis(3, 3).overlaps()
    [1, 2, 1, 2, 1, 1]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.conv import ops
from cnnviz.conv.geometry import TransposedAxis, is_int
from cnnviz.conv.images import downscale
from cnnviz.conv.pipeline import to_working_image
from cnnviz.errors import UserError

STRIDE = 2  # the stage doubles each side, as a decoder's or a GAN generator's upsampling layer does
KERNEL_SIZES = (3, 4)  # 3: uneven overlap (the checkerboard); 4: even overlap, the size bilinear upsampling uses
WEIGHTS = ("learned", "bilinear")  # a smooth random kernel, as training leaves one; or exact bilinear interpolation
RESIZES = ("nearest", "bilinear")  # how the alternative makes the image twice as big before its 3×3 convolution
# The stage works on a copy of the image at most this big, so a 1024-px photo upsampled is 512 px a side: every
# output pixel is then drawn 1:1 (the page shows maps at most 512 px), where a shrunk picture would average the
# one-pixel checkerboard away, and the two upsampled RGB maps hold 6 MB, not 100.
MAX_INPUT_SIDE = 256
LEARNED_SEED = 35  # the learned-looking kernels are fixed: a link shows everyone the same picture
CROP_SIDE = 16  # input pixels a side of the zoomed flat region; 32 output pixels, each drawn 7 screen pixels wide


def zoom_side(hw: tuple[int, ...], side: int = CROP_SIDE) -> int:
    """The zoom's side in input pixels: ``side``, or less on an image too small to leave it a pixel from each border."""
    return max(1, min(side, hw[0] - 2, hw[1] - 2))


def bilinear_kernel(size: int, stride: int = STRIDE) -> np.ndarray:
    """The (size, size) kernel with which a stride-``stride`` transposed convolution interpolates bilinearly.

    The outer product of a triangle with its peak at the kernel's centre, falling by 1/stride a tap (FCN's
    ``get_upsampling_filter``): for size 4 and stride 2, [1/4, 3/4, 3/4, 1/4]; for size 3, [1/2, 1, 1/2].

    Raises:
        ValueError: ``size`` or ``stride`` is not a positive int.
    """
    for name, value in (("size", size), ("stride", stride)):
        if not is_int(value) or value < 1:
            raise UserError("error.int_at_least", name=name, minimum=1, value=value)
    centre = (size - 1) / 2
    triangle = 1 - np.abs(np.arange(size) - centre) / stride  # (size,)
    return np.outer(triangle, triangle)


def learned_kernel(size: int, seed: int = LEARNED_SEED) -> np.ndarray:
    """A kernel that looks trained: a smooth blob with uneven weights, summing to stride² = 4 (a flat region keeps
    its mean brightness, as any upsampling kernel worth training does). The seed is fixed, so every link shows the
    same kernel; at size 3 its flat-region gains differ by a factor of 1.98, at size 4 by 1.03.

    Raises:
        ValueError: ``size`` is not one of KERNEL_SIZES.
    """
    if size not in KERNEL_SIZES:
        raise UserError("error.one_of", name="size", options=", ".join(map(str, KERNEL_SIZES)), value=size)
    rng = np.random.default_rng(seed + size)
    centre = (size - 1) / 2
    rows, cols = np.indices((size, size))
    blob = np.exp(-((rows - centre) ** 2 + (cols - centre) ** 2) / (2 * 0.7 ** 2))
    weights = blob * (1 + rng.normal(0, 0.1, (size, size)))  # uneven, as trained weights are; still smooth
    return weights * (STRIDE ** 2 / weights.sum())


def stage_kernel(weights: str, size: int) -> np.ndarray:
    """The transposed convolution's kernel: ``weights`` (one of WEIGHTS) at ``size`` (one of KERNEL_SIZES)."""
    if weights not in WEIGHTS:
        raise UserError("error.one_of", name="weights", options=", ".join(WEIGHTS), value=weights)
    if size not in KERNEL_SIZES:
        raise UserError("error.one_of", name="size", options=", ".join(map(str, KERNEL_SIZES)), value=size)
    return bilinear_kernel(size) if weights == "bilinear" else learned_kernel(size)


def smoothing_kernel(weights: str) -> np.ndarray:
    """The alternative's 3×3 convolution after the resize: the same kind of weights, summing to 1."""
    kernel = stage_kernel(weights, 3)
    return kernel / kernel.sum()


def transposed_axis(size: int, kernel: int) -> TransposedAxis:
    """One axis of the stage: padding 1 and, for kernel 3, output_padding 1, so n inputs give exactly 2n outputs
    (what ``nn.ConvTranspose2d`` decoders use), aligned with the resize's 2n."""
    return TransposedAxis(size, kernel, STRIDE, padding=1, output_padding=1 if kernel % 2 else 0)


def flat_gains(kernel: np.ndarray, stride: int = STRIDE) -> np.ndarray:
    """(stride, stride): what a flat region of value 1 becomes at each output phase (row % stride, col % stride)
    away from the borders, the sum of the taps that land there. Equal gains: no checkerboard.

    Tap (a, b) lands on phase (a mod s, b mod s) of the unpadded output; padding 1 shifts the phase by one.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    gains = np.zeros((stride, stride))
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            gains[(a - 1) % stride, (b - 1) % stride] += kernel[a, b]
    return gains


def resize2x(image: np.ndarray, mode: str) -> np.ndarray:
    """(H, W) or (H, W, C) twice as big each side: nearest repeats each pixel into 2×2; bilinear interpolates as
    ``nn.Upsample(scale_factor=2, mode="bilinear")`` (align_corners=False, the edges held)."""
    if mode not in RESIZES:
        raise UserError("error.one_of", name="mode", options=", ".join(RESIZES), value=mode)
    if mode == "nearest":
        return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    array = np.asarray(image, dtype=np.float32)
    planes = array[None, None] if array.ndim == 2 else np.moveaxis(array, 2, 0)[None]  # (1, C, H, W)
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(planes)), scale_factor=2, mode="bilinear",
                            align_corners=False)[0].cpu().numpy()  # (C, 2H, 2W)
    return resized[0] if array.ndim == 2 else np.moveaxis(resized, 0, 2)  # (2H, 2W) or (2H, 2W, C)


def upsample_transposed(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) through the stage's transposed convolution, each channel on its own (as a
    depthwise ``nn.ConvTranspose2d``): (2H, 2W) or (2H, 2W, C)."""
    size = kernel.shape[0]
    geometry = {"stride": STRIDE, "padding": 1, "output_padding": size % 2}
    if image.ndim == 2:
        return ops.conv_transpose2d(image, kernel, **geometry)
    return np.stack([ops.conv_transpose2d(image[..., c], kernel, **geometry) for c in range(image.shape[2])], axis=2)


def upsample_resized(image: np.ndarray, mode: str, kernel: np.ndarray) -> np.ndarray:
    """Resize ×2, then an ordinary 3×3 convolution (the edges replicated, so no dark frame): (2H, 2W[, C])."""
    return ops.conv2d(resize2x(image, mode), kernel, padding="same", padding_mode="replicate")


def flattest_window(image: np.ndarray, side: int = CROP_SIDE) -> tuple[int, int]:
    """(top, left) of the ``side``-px square of ``image`` (0-255, (H, W) or (H, W, 3)) that varies least, mid-gray
    ones first: black stays black under any kernel, and bright gray clips at 255 where the kernel brightens it, both
    hiding the checkerboard. A pixel from every border, where the stamps thin out anyway."""
    gray = (image if image.ndim == 2 else image.mean(axis=2)).astype(np.float64)  # (H, W)
    side = zoom_side(gray.shape, side)
    if min(gray.shape) - side < 2:
        return 0, 0

    def window_sums(values: np.ndarray) -> np.ndarray:
        table = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table, (H + 1, W + 1)
        return table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]

    count = side * side
    mean = window_sums(gray) / count  # (H - side + 1, W - side + 1), window (i, j) at top-left (i, j)
    spread = np.maximum(window_sums(gray ** 2) / count - mean ** 2, 0.0)
    score = np.full(mean.shape, np.inf)
    score[1:-1, 1:-1] = spread[1:-1, 1:-1]  # windows that keep a pixel from every border
    score += np.maximum.reduce([40 - mean, mean - 170, np.zeros_like(mean)]) ** 2  # gray levels² outside 40-170
    top, left = np.unravel_index(int(np.argmin(score)), score.shape)
    return int(top), int(left)


@dataclass(frozen=True)
class UpsampleConfig:
    """The stage's settings (the Kernel Lab's URL holds them)."""

    kernel_size: int = 3  # 3 shows the checkerboard; 4 is the size that overlaps evenly at stride 2
    weights: str = "learned"  # learned-looking (what a decoder has) or bilinear
    resize: str = "nearest"  # the alternative's resize before its 3×3 convolution

    def __post_init__(self) -> None:
        stage_kernel(self.weights, self.kernel_size)  # raises, naming the bad value
        if self.resize not in RESIZES:
            raise UserError("error.one_of", name="resize", options=", ".join(RESIZES), value=self.resize)


@dataclass(frozen=True)
class Upsampled:
    """Everything the upsampling stage draws."""

    image: np.ndarray  # the input on the 0-255 scale, at most MAX_INPUT_SIDE a side, (h, w) or (h, w, 3)
    kernel: np.ndarray  # (k, k) the transposed convolution's weights
    smoothing: np.ndarray  # (3, 3) the alternative's convolution after the resize
    transposed: np.ndarray  # (2h, 2w[, 3]) the transposed convolution's output
    resized: np.ndarray  # (2h, 2w[, 3]) resize ×2 then the 3×3 convolution
    rows: TransposedAxis  # the transposed convolution down the image: sizes, formula, overlap counts
    cols: TransposedAxis  # and across it
    gains: np.ndarray  # (2, 2) what a flat region of value 1 becomes at each output phase
    window: tuple[int, int]  # (top, left) of the flattest CROP_SIDE square of the input; ×2 in the outputs

    @property
    def ratio(self) -> float:
        """Brightest over darkest output phase on a flat region: 1 means no checkerboard."""
        return float(self.gains.max() / self.gains.min())

    def crop(self, values: np.ndarray) -> np.ndarray:
        """The flat region's square of an upsampled map (2·CROP_SIDE a side)."""
        top, left = self.window
        side = 2 * zoom_side(self.image.shape)
        return values[2 * top:2 * top + side, 2 * left:2 * left + side]


def upsample(image: np.ndarray, colour: str, cfg: UpsampleConfig) -> Upsampled:
    """The stage on ``image`` ([0, 1] pixels, the Kernel Lab's working image) in ``colour`` (gray or rgb).

    The photo, not the convolution's output, is upsampled: a photo's flat regions are mid-gray, so the pattern shows
    there, where an edge map's flat regions are 0 and every kernel leaves 0 as 0, hiding it.
    """
    small = downscale(image, MAX_INPUT_SIDE) if max(image.shape[:2]) > MAX_INPUT_SIDE else image
    x = to_working_image(small, colour)  # (h, w) or (h, w, 3), 0-255, float32
    kernel = stage_kernel(cfg.weights, cfg.kernel_size)
    smoothing = smoothing_kernel(cfg.weights)
    rows, cols = (transposed_axis(n, cfg.kernel_size) for n in x.shape[:2])
    return Upsampled(x, kernel, smoothing, upsample_transposed(x, kernel), upsample_resized(x, cfg.resize, smoothing),
                     rows, cols, flat_gains(kernel), flattest_window(x))
