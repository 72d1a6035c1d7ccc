"""The parameter-count formulas the pages teach, each a closed form a student can check by hand.

A network's own counts come from ``cnnviz.analysis.layer_table``, which reads them off the module; these are the
formulas the lessons write next to them, and the tests hold each one to a torch module's real parameter count.

    >>> conv_filter_params(3, (5, 5))  # the tutorial's 5×5×3 filter: 75 weights and a bias
    76
    >>> conv_layer_params(3, 10, (5, 5))  # ten of them
    760
    >>> conv_stack_weights(1, [(3, 3)] * 3), conv_stack_weights(1, [(7, 7)])  # 27C² against 49C², at C = 1
    (27, 49)
    >>> dense_layer_params(32 * 32 * 3, 28 * 28 * 10)  # a fully connected layer between the same two shapes
    24092320
"""
from __future__ import annotations

from typing import Iterable, Sequence


def conv_filter_weights(in_channels: int, kernel_hw: Sequence[int]) -> int:
    """Weights of one conv filter: C_in·kh·kw, one per input channel and kernel tap."""
    return in_channels * kernel_hw[0] * kernel_hw[1]


def conv_filter_params(in_channels: int, kernel_hw: Sequence[int]) -> int:
    """Learnable parameters of one conv filter: its C_in·kh·kw weights and a bias."""
    return conv_filter_weights(in_channels, kernel_hw) + 1


def conv_layer_params(in_channels: int, out_channels: int, kernel_hw: Sequence[int]) -> int:
    """Learnable parameters of a conv layer of ``out_channels`` such filters: C_out·(C_in·kh·kw + 1)."""
    return out_channels * conv_filter_params(in_channels, kernel_hw)


def filter_bank_params(filters: Iterable[tuple[int, int, int]]) -> int:
    """Learnable parameters of a conv layer whose filters may differ in size: the sum over its (C_in, kh, kw)
    filters of C_in·kh·kw + 1."""
    return sum(conv_filter_params(channels, (kh, kw)) for channels, kh, kw in filters)


def conv_stack_weights(channels: int, kernels_hw: Iterable[Sequence[int]]) -> int:
    """Weights, biases left out as VGG's argument counts them, of a stack of convs with ``channels`` in and out:
    the sum of kh·kw·C². Three 3×3 give 27C², one 7×7 49C²."""
    return sum(conv_filter_weights(channels, kernel_hw) * channels for kernel_hw in kernels_hw)


def dense_layer_params(inputs: int, outputs: int) -> int:
    """Learnable parameters of a fully connected layer: a weight for every input-output pair, and a bias per
    output."""
    return inputs * outputs + outputs
