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
    >>> costs = separable_costs(3, 64, (3, 3))  # MobileNet's saving, 3 -> 64 channels with 3×3 kernels
    >>> costs.standard.params_formula, costs.separable.params_formula
    ('3×3×3×64 = 1,728', '3×3×3 + 3×64 = 219')
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from cnnviz.errors import UserError


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


# --- grouped and depthwise-separable conv layers --------------------------------------------------------------

@dataclass(frozen=True)
class ConvCost:
    """One conv layer's learnable parameters and multiply-adds, each with its sum written out."""

    kind: str  # standard, grouped, depthwise, pointwise or separable (depthwise then pointwise)
    params: int  # weights, and biases when the layer has them
    mult_adds: int  # multiply-accumulates for one image: every output value takes one per weight it reads
    params_formula: str  # the count as a student writes it: "3×3×3×64 = 1,728"
    mult_adds_formula: str  # the same per output position, times the output size: "3×3×3×64 × 32×32 = 1,769,472"


@dataclass(frozen=True)
class SeparableCosts:
    """A standard conv layer against the depthwise-separable pair that replaces it (MobileNet, Howard et al. 2017)."""

    standard: ConvCost  # kh×kw×C_in×C_out
    depthwise: ConvCost  # kh×kw×C_in: one kh×kw filter per input channel
    pointwise: ConvCost  # C_in×C_out: a 1×1 conv mixing the channels
    separable: ConvCost  # depthwise + pointwise

    @property
    def ratio(self) -> float:
        """Separable over standard weights; without biases it is MobileNet's 1/C_out + 1/(kh·kw)."""
        return self.separable.params / self.standard.params


def _check_layer(c_in: int, c_out: int, kernel_hw: Sequence[int], output_hw: Sequence[int]) -> None:
    for name, value in (("c_in", c_in), ("c_out", c_out), ("kernel_hw[0]", kernel_hw[0]),
                        ("kernel_hw[1]", kernel_hw[1]), ("output_hw[0]", output_hw[0]),
                        ("output_hw[1]", output_hw[1])):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError("error.int_at_least", name=name, minimum=1, value=value)


def _written(terms: Sequence[str], biases: Sequence[int]) -> str:
    """Products and biases joined by " + ": ["3×3×3", "3×64"] and [3, 64] read "3×3×3 + 3 + 3×64 + 64"."""
    parts = []
    for term, bias in zip(terms, biases):
        parts += [term] + ([str(bias)] if bias else [])
    return " + ".join(parts)


def _cost(kind: str, terms: Sequence[str], weights: Sequence[int], biases: Sequence[int],
          output_hw: Sequence[int]) -> ConvCost:
    params = sum(weights) + sum(biases)
    per_position = sum(weights)
    height, width = output_hw
    macs = per_position * height * width
    products = " + ".join(terms)
    per_position_text = f"({products})" if len(terms) > 1 else products
    return ConvCost(kind, params, macs, f"{_written(terms, biases)} = {params:,}",
                    f"{per_position_text} × {height}×{width} = {macs:,}")


def group_choices(c_in: int, c_out: int) -> tuple[int, ...]:
    """Every groups value a C_in -> C_out conv layer can take: the common divisors of C_in and C_out."""
    common = math.gcd(c_in, c_out)
    return tuple(g for g in range(1, common + 1) if common % g == 0)


def conv_cost(c_in: int, c_out: int, kernel_hw: Sequence[int], *, groups: int = 1, bias: bool = False,
              output_hw: Sequence[int] = (1, 1)) -> ConvCost:
    """Parameters and multiply-adds of ``nn.Conv2d(c_in, c_out, kernel_hw, groups=groups, bias=bias)`` whose output
    is ``output_hw``: kh×kw×(C_in/groups)×C_out weights, as many multiply-adds per output position.

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel_hw: (kh, kw).
        groups: a common divisor of c_in and c_out; 1 is a standard conv, c_in = c_out a depthwise one.
        bias: whether each output channel has a bias (it adds a parameter, not a multiply-add).
        output_hw: (H', W') of the output.

    Raises:
        ValueError: naming the argument that is not a positive int, or a groups value that does not divide both.
    """
    _check_layer(c_in, c_out, kernel_hw, output_hw)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or c_in % groups or c_out % groups:
        raise UserError("error.formulas.groups", groups=groups, c_in=c_in, c_out=c_out,
                        choices=", ".join(map(str, group_choices(c_in, c_out))))
    kh, kw = kernel_hw
    depth = str(c_in) if groups == 1 else f"({c_in}/{groups})"
    kind = "standard" if groups == 1 else "depthwise" if groups == c_in == c_out else "grouped"
    term = f"{kh}×{kw}×{c_in}" if kind == "depthwise" else f"{kh}×{kw}×{depth}×{c_out}"
    return _cost(kind, [term], [kh * kw * (c_in // groups) * c_out], [c_out if bias else 0], output_hw)


def separable_costs(c_in: int, c_out: int, kernel_hw: Sequence[int], *, bias: bool = False,
                    output_hw: Sequence[int] = (1, 1)) -> SeparableCosts:
    """A standard kh×kw conv from C_in to C_out channels against a depthwise kh×kw conv (one filter per input channel)
    followed by a pointwise 1×1 conv from C_in to C_out: kh·kw·C_in·C_out weights against kh·kw·C_in + C_in·C_out.

    Args and Raises: as ``conv_cost``. Both layers keep ``output_hw``: the depthwise one sets it, the 1×1 keeps it.
    """
    _check_layer(c_in, c_out, kernel_hw, output_hw)
    kh, kw = kernel_hw
    depthwise_term, pointwise_term = f"{kh}×{kw}×{c_in}", f"{c_in}×{c_out}"
    weights = (kh * kw * c_in, c_in * c_out)
    biases = (c_in, c_out) if bias else (0, 0)
    return SeparableCosts(
        standard=conv_cost(c_in, c_out, kernel_hw, bias=bias, output_hw=output_hw),
        depthwise=_cost("depthwise", [depthwise_term], weights[:1], biases[:1], output_hw),
        pointwise=_cost("pointwise", [pointwise_term], weights[1:], biases[1:], output_hw),
        separable=_cost("separable", [depthwise_term, pointwise_term], weights, biases, output_hw),
    )
