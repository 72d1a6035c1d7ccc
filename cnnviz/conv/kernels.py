"""The named kernel library and kernel generators (Gaussian, LoG, Gabor, motion blur).

Every preset carries catalog keys for its name and for one line on what it does and why.
``make_kernel`` returns a fresh writable array, so editing a kernel never changes the library.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.errors import UserError

MAX_SIDE = 15  # the editable grid goes from 1x1 to 15x15


@dataclass(frozen=True)
class ParamSpec:
    """A slider for a parametric kernel."""

    name: str  # keyword argument of the generator
    label_key: str  # catalog key of the slider label
    min: float  # slider minimum
    max: float  # slider maximum
    step: float  # slider step
    default: float  # initial value


@dataclass(frozen=True)
class KernelPreset:
    key: str  # stable identifier, used in URLs and tests
    category: str  # identity, blur, sharpen, edge, emboss, texture
    values: np.ndarray | None  # the fixed kernel, read-only; None for parametric presets
    params: tuple[ParamSpec, ...] = ()  # sliders of a parametric preset

    @property
    def name_key(self) -> str:
        return f"kernels.{self.key}.name"

    @property
    def why_key(self) -> str:
        return f"kernels.{self.key}.why"


def _frozen(rows) -> np.ndarray:
    array = np.array(rows, dtype=np.float64)
    array.setflags(write=False)
    return array


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {name}={value!r}")


def _check_size(size: int, name: str = "size") -> None:
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= MAX_SIDE:
        raise ValueError(f"{name} must be an int from 1 to {MAX_SIDE}, got {name}={size!r}")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    half = (size - 1) / 2
    coords = np.arange(size) - half
    return np.meshgrid(coords, coords, indexing="ij")  # (rows, cols): y down, x right


def _auto_size(sigma: float) -> int:
    return min(MAX_SIDE, 2 * math.ceil(3 * sigma) + 1)


def gaussian_kernel(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """A Gaussian blur normalised to sum 1; size defaults to 2*ceil(3 sigma)+1 (at most 15)."""
    _check_positive(sigma=sigma)
    size = _auto_size(sigma) if size is None else size
    _check_size(size)
    y, x = _grid(size)
    kernel = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def log_kernel(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """The negative Laplacian of Gaussian ("Mexican hat"), shifted to sum exactly 0 so flat regions give 0.

    Sign: positive centre, the convention of every Laplacian preset here, so a bright blob on dark is a maximum.
    """
    _check_positive(sigma=sigma)
    size = _auto_size(sigma) if size is None else size
    _check_size(size)
    y, x = _grid(size)
    r2 = (x**2 + y**2) / (2 * sigma**2)
    kernel = (1 / (math.pi * sigma**4)) * (1 - r2) * np.exp(-r2)
    return kernel - kernel.mean()


def gabor_kernel(theta: float = 0.0, sigma: float = 2.0, lambd: float = 6.0, gamma: float = 0.5,
                 psi: float = 0.0, size: int | None = None) -> np.ndarray:
    """The real part of a Gabor filter, OpenCV's getGaborKernel convention.

    g(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / lambd + psi),
    x' = x cos(theta) + y sin(theta), y' = -x sin(theta) + y cos(theta). theta in degrees; x right, y down.
    It responds to stripes of wavelength lambd running perpendicular to the direction theta.
    """
    _check_positive(sigma=sigma, lambd=lambd, gamma=gamma)
    size = _auto_size(sigma) if size is None else size
    _check_size(size)
    y, x = _grid(size)
    t = math.radians(theta)
    xr = x * math.cos(t) + y * math.sin(t)
    yr = -x * math.sin(t) + y * math.cos(t)
    return np.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2)) * np.cos(2 * math.pi * xr / lambd + psi)


def box_kernel(rows: int = 3, cols: int | None = None) -> np.ndarray:
    """The mean of a rows x cols window."""
    cols = rows if cols is None else cols
    _check_size(rows, "rows")
    _check_size(cols, "cols")
    return np.full((rows, cols), 1.0 / (rows * cols))


def motion_blur_kernel(length: int = 7, angle: float = 45.0) -> np.ndarray:
    """Averages along a line of ``length`` pixels at ``angle`` degrees (0 = horizontal, counter-clockwise)."""
    _check_size(length, "length")
    kernel = np.zeros((length, length))
    centre = (length - 1) / 2
    t = math.radians(angle)
    # Reach the corners on diagonals: the line's half-length is measured along its longer axis.
    extent = centre / max(abs(math.cos(t)), abs(math.sin(t)))
    for s in np.linspace(-extent, extent, 4 * length):
        row, col = round(centre - s * math.sin(t)), round(centre + s * math.cos(t))
        kernel[row, col] = 1.0
    return kernel / kernel.sum()


def _sigma(default: float) -> ParamSpec:
    return ParamSpec("sigma", "kernels.param.sigma", 0.3, 4.0, 0.1, default)


_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
_PREWITT_X = [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
_SCHARR_X = [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
_OUTLINE5 = np.where(np.arange(25).reshape(5, 5) == 12, 24, -1)  # 5x5 centre minus its 24 neighbours
# The 5x5 binomial (Pascal's row 1 4 6 4 1): a Gaussian with fixed integer weights, and OpenCV's 5x5 Sobel
# (that smoothing times the difference -1 -2 0 2 1), so a bank of six 5x5 kernels can be a conv layer.
_BINOMIAL5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
_SOBEL5_X = np.outer([1, 4, 6, 4, 1], [-1, -2, 0, 2, 1])
_UNSHARP = -np.array([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, -476, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256

KERNEL_PRESETS: dict[str, KernelPreset] = {p.key: p for p in (
    KernelPreset("identity", "identity", _frozen([[0, 0, 0], [0, 1, 0], [0, 0, 0]])),
    KernelPreset("pointwise", "identity", _frozen([[1]])),
    KernelPreset("diagonal", "identity", _frozen(np.eye(3))),
    KernelPreset("box3", "blur", _frozen(box_kernel(3))),
    KernelPreset("box5", "blur", _frozen(box_kernel(5))),
    KernelPreset("gaussian", "blur", None, (_sigma(1.0),)),
    KernelPreset("gaussian5", "blur", _frozen(_BINOMIAL5)),
    KernelPreset("motion_blur", "blur", None, (
        ParamSpec("length", "kernels.param.length", 3, 15, 1, 7),
        ParamSpec("angle", "kernels.param.angle", 0, 180, 5, 45),
    )),
    KernelPreset("sharpen", "sharpen", _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
    KernelPreset("unsharp", "sharpen", _frozen(_UNSHARP)),
    # Both Laplacians use the positive-centre convention (the negative Laplacian), as the tutorials' edge kernel.
    KernelPreset("laplacian4", "edge", _frozen([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])),
    KernelPreset("laplacian8", "edge", _frozen([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])),
    KernelPreset("sobel_x", "edge", _frozen(_SOBEL_X)),
    KernelPreset("sobel_y", "edge", _frozen(np.transpose(_SOBEL_X))),
    KernelPreset("sobel5_x", "edge", _frozen(_SOBEL5_X)),
    KernelPreset("sobel5_y", "edge", _frozen(np.transpose(_SOBEL5_X))),
    KernelPreset("prewitt_x", "edge", _frozen(_PREWITT_X)),
    KernelPreset("prewitt_y", "edge", _frozen(np.transpose(_PREWITT_X))),
    KernelPreset("scharr_x", "edge", _frozen(_SCHARR_X)),
    KernelPreset("scharr_y", "edge", _frozen(np.transpose(_SCHARR_X))),
    KernelPreset("roberts_a", "edge", _frozen([[1, 0], [0, -1]])),
    KernelPreset("roberts_b", "edge", _frozen([[0, 1], [-1, 0]])),
    KernelPreset("outline", "edge", _frozen(_OUTLINE5)),
    KernelPreset("emboss", "emboss", _frozen([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])),
    KernelPreset("log", "edge", None, (_sigma(1.0),)),
    KernelPreset("gabor", "texture", None, (
        ParamSpec("theta", "kernels.param.theta", 0, 180, 5, 0),
        ParamSpec("sigma", "kernels.param.sigma", 0.5, 4.0, 0.1, 2.0),
        ParamSpec("lambd", "kernels.param.lambd", 2.0, 15.0, 0.5, 6.0),
        ParamSpec("gamma", "kernels.param.gamma", 0.1, 1.0, 0.05, 0.5),
        ParamSpec("psi", "kernels.param.psi", 0.0, 6.28, 0.05, 0.0),
    )),
)}

_GENERATORS = {
    "gaussian": gaussian_kernel,
    "log": log_kernel,
    "gabor": gabor_kernel,
    "motion_blur": lambda length=7, angle=45.0: motion_blur_kernel(int(length), angle),
}


def make_kernel(key: str, **params: float) -> np.ndarray:
    """A fresh, writable kernel for preset ``key``; parametric presets take their slider values."""
    if key not in KERNEL_PRESETS:
        raise ValueError(f"unknown kernel preset {key!r}: choose one of {', '.join(KERNEL_PRESETS)}")
    preset = KERNEL_PRESETS[key]
    if preset.values is not None:
        return preset.values.copy()
    allowed = {p.name for p in preset.params}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"preset {key!r} takes {sorted(allowed)}, got unknown {sorted(unknown)}")
    values = {p.name: p.default for p in preset.params} | params
    return _GENERATORS[key](**values)


# --- the editable grid --------------------------------------------------------------------------

def resize_kernel(kernel: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Crop or zero-pad ``kernel`` to rows x cols, keeping its centre where it was."""
    _check_size(rows, "rows")
    _check_size(cols, "cols")
    kernel = np.asarray(kernel, dtype=np.float64)
    out = np.zeros((rows, cols))
    kh, kw = kernel.shape
    # Align centres: index (k-1)//2 of the old grid lands on index (n-1)//2 of the new one.
    dr, dc = (rows - 1) // 2 - (kh - 1) // 2, (cols - 1) // 2 - (kw - 1) // 2
    for r in range(kh):
        for c in range(kw):
            if 0 <= r + dr < rows and 0 <= c + dc < cols:
                out[r + dr, c + dc] = kernel[r, c]
    return out


def normalize_sum(kernel: np.ndarray) -> np.ndarray:
    """Scale ``kernel`` to sum 1, so it keeps the image's overall brightness."""
    kernel = np.asarray(kernel, dtype=np.float64)
    total = kernel.sum()
    if abs(total) < 1e-12:
        raise UserError("error.kernel.sums_to_zero")
    return kernel / total


def random_kernel(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Uniform values in [-1, 1], rounded to 2 decimals so they are easy to read and reproduce."""
    _check_size(rows, "rows")
    _check_size(cols, "cols")
    return np.round(np.random.default_rng(seed).uniform(-1, 1, size=(rows, cols)), 2)


def grayscale_weights() -> tuple[float, float, float]:
    """ITU-R BT.601 luma weights: how much red, green and blue each contribute to brightness."""
    return (0.299, 0.587, 0.114)


def rgb_kernel(kernel: np.ndarray, weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """A (3, kh, kw) filter: ``kernel`` scaled by one weight per channel."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"rgb_kernel needs a 2-D kernel, got shape {kernel.shape}")
    return np.stack([w * kernel for w in weights])  # (3, kh, kw)
