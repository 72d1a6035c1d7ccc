"""The Kernel Lab's depthwise-separable view (RGB): the per-channel partial maps are the depthwise step, a 1×1
convolution mixes them, and the parameter counts say what the split saves.

A 3-D filter on an RGB image is a depthwise convolution (each channel with its own 2-D kernel, nn.Conv2d with
groups=3) followed by a sum: a pointwise 1×1 convolution whose weights are all 1. Other pointwise weights, and more
output channels, make the depthwise-separable layer of MobileNet.

    >>> pointwise_maps([np.ones((2, 2), np.float32)] * 3, SUM, bias=0.0)[0].tolist()
    [[3.0, 3.0], [3.0, 3.0]]
    >>> counts = separable_counts((3, 3), (2, 2), 64)
    >>> counts.costs.standard.params, counts.costs.separable.params
    (1728, 219)
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
class SeparableCounts:
    """A 3 -> width layer with the user's kernel, standard against separable, and a width -> width one in groups."""

    width: int  # output channels of the compared layer
    output_hw: tuple[int, int]  # (H', W') of the page's convolution, where the multiply-adds are counted
    costs: formulas.SeparableCosts  # 3 -> width: standard against depthwise + pointwise
    groups: tuple[tuple[int, formulas.ConvCost], ...]  # (groups, cost) of a width -> width layer, every groups value


def resized(weights: np.ndarray, rows: int) -> np.ndarray:
    """The first ``rows`` rows of ``weights``, grown with ``MORE_ROWS``' rows where it has fewer: (rows, 3)."""
    defaults = np.array(SUM + MORE_ROWS)
    return np.concatenate([weights[:rows], defaults[len(weights):rows]])  # (rows, 3)


def pointwise_maps(partials: Sequence[np.ndarray], weights: np.ndarray, bias: float) -> tuple[np.ndarray, ...]:
    """The 1×1 step on the depthwise ``partials`` (the Kernel Lab's RGB partial maps): one (H', W') map per row of
    ``weights`` (C_out, 3), plus the page's ``bias`` as the convolution stage adds it."""
    return tuple(pipeline.pointwise(list(partials), np.asarray(weights, dtype=np.float64), bias))


def separable_counts(kernel_hw: Sequence[int], output_hw: Sequence[int], width: int) -> SeparableCounts:
    """Parameters and multiply-adds of a 3 -> ``width`` layer with a ``kernel_hw`` kernel whose output is
    ``output_hw``, standard against depthwise-separable, and of a ``width`` -> ``width`` layer in every groups
    value it can take."""
    kernel_hw = tuple(int(side) for side in kernel_hw)
    output_hw = tuple(int(side) for side in output_hw)
    costs = formulas.separable_costs(CHANNELS, width, kernel_hw, output_hw=output_hw)
    groups = tuple((g, formulas.conv_cost(width, width, kernel_hw, groups=g, output_hw=output_hw))
                   for g in formulas.group_choices(width, width))
    return SeparableCounts(width, output_hw, costs, groups)
