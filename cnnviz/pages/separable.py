"""The Kernel Lab's depthwise-separable view (RGB): the per-channel partial maps are the depthwise step, a 1×1
convolution mixes them, and the parameter counts say what the split saves.

A 3-D filter on an RGB image is a depthwise convolution (each channel with its own 2-D kernel, nn.Conv2d with
groups=3) followed by a sum: a pointwise 1×1 convolution whose weights are all 1. Other pointwise weights, and more
output channels, make the depthwise-separable layer of MobileNet.

    >>> view = separable_view([np.ones((2, 2), np.float32)] * 3, SUM, bias=0.0, kernel_hw=(3, 3), width=64)
    >>> view.maps[0].tolist(), view.costs.standard.params, view.costs.separable.params
    ([[3.0, 3.0], [3.0, 3.0]], 1728, 219)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnnviz.analysis import formulas
from cnnviz.conv import pipeline

SUM = ((1.0, 1.0, 1.0),)  # the pointwise step the convolution stage already is: one output, the partials' sum
# Rows a student adds after the sum, colour-opponent mixes: red − green, green − blue, red − blue.
MORE_ROWS = ((1.0, -1.0, 0.0), (0.0, 1.0, -1.0), (1.0, 0.0, -1.0))
MAX_POINTWISE = 1 + len(MORE_ROWS)  # output channels of the 1×1 step the page draws
# Output channels of the layer whose counts are compared: MobileNet's first separable layers have 32 to 256.
SEPARABLE_WIDTHS = (8, 16, 32, 64, 128, 256)
CHANNELS = 3  # the RGB image's channels: the depthwise step's filters, the pointwise step's inputs


@dataclass(frozen=True)
class SeparableView:
    """What the page draws under the depthwise maps."""

    maps: tuple[np.ndarray, ...]  # the 1×1 step's outputs, (H', W') each
    weights: np.ndarray  # (C_out, 3) the 1×1 step's weights
    width: int  # output channels of the layer whose counts are compared
    costs: formulas.SeparableCosts  # 3 -> width channels with the user's kernel, on this output size
    groups: tuple[tuple[int, formulas.ConvCost], ...]  # (groups, cost) of a width -> width layer, every groups value


def resized(weights: np.ndarray, rows: int) -> np.ndarray:
    """The first ``rows`` rows of ``weights``, grown with ``MORE_ROWS``' rows where it has fewer: (rows, 3)."""
    defaults = np.array(SUM + MORE_ROWS)
    return np.concatenate([weights[:rows], defaults[len(weights):rows]])  # (rows, 3)


def separable_view(partials: Sequence[np.ndarray], weights: np.ndarray, *, bias: float,
                   kernel_hw: Sequence[int], width: int) -> SeparableView:
    """The pointwise step's maps on the depthwise ``partials`` and the counts for a 3 -> ``width`` layer.

    Args:
        partials: the three depthwise maps (the Kernel Lab's RGB partial maps), (H', W') each.
        weights: (C_out, 3), the 1×1 step's weights.
        bias: the page's bias, added to every output as to the convolution stage.
        kernel_hw: the user's (kh, kw).
        width: output channels of the layer whose counts are compared.
    """
    weights = np.asarray(weights, dtype=np.float64)
    maps = pipeline.pointwise(list(partials), weights, bias)
    kernel_hw = tuple(int(side) for side in kernel_hw)
    output_hw = tuple(int(side) for side in partials[0].shape[:2])
    costs = formulas.separable_costs(CHANNELS, width, kernel_hw, output_hw=output_hw)
    groups = tuple((g, formulas.conv_cost(width, width, kernel_hw, groups=g, output_hw=output_hw))
                   for g in formulas.group_choices(width, width))
    return SeparableView(tuple(maps), weights, width, costs, groups)
