"""The teaching formulas: each equals the parameter count of the torch module it describes."""
import pytest
from torch import nn

from cnnviz.analysis import formulas


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("c_in", "c_out", "kernel"),
                         [(3, 10, (5, 5)), (1, 32, (3, 3)), (16, 8, (1, 7)), (64, 64, (7, 7))])
def test_a_conv_layer_has_what_torch_counts(c_in, c_out, kernel):
    assert formulas.conv_layer_params(c_in, c_out, kernel) == count(nn.Conv2d(c_in, c_out, kernel))
    assert formulas.conv_filter_params(c_in, kernel) == count(nn.Conv2d(c_in, 1, kernel))
    assert formulas.conv_filter_weights(c_in, kernel) == count(nn.Conv2d(c_in, 1, kernel, bias=False))


def test_the_tutorials_5x5x3_filter():
    assert formulas.conv_filter_weights(3, (5, 5)) == 75
    assert formulas.conv_filter_params(3, (5, 5)) == 5 * 5 * 3 + 1 == 76
    assert formulas.conv_layer_params(3, 10, (5, 5)) == 760


def test_a_bank_of_different_filters_is_the_sum_of_one_filter_layers():
    bank = [(3, 3, 3), (3, 5, 5), (3, 7, 7), (3, 1, 3)]
    assert formulas.filter_bank_params(bank) == sum(count(nn.Conv2d(c, 1, (kh, kw))) for c, kh, kw in bank)
    assert formulas.filter_bank_params(bank) == 28 + 76 + 148 + 10
    assert formulas.filter_bank_params([]) == 0


@pytest.mark.parametrize("channels", [1, 3, 64])
def test_three_3x3_against_one_7x7(channels):
    three = nn.Sequential(*(nn.Conv2d(channels, channels, 3, bias=False) for _ in range(3)))
    one = nn.Conv2d(channels, channels, 7, bias=False)
    assert formulas.conv_stack_weights(channels, [(3, 3)] * 3) == count(three) == 27 * channels**2
    assert formulas.conv_stack_weights(channels, [(7, 7)]) == count(one) == 49 * channels**2


def test_the_dense_layer_the_lesson_compares_with():
    assert formulas.dense_layer_params(32 * 32 * 3, 28 * 28 * 10) == 24_092_320
    assert formulas.dense_layer_params(3136, 64) == count(nn.Linear(3136, 64)) == 200_768


# --- grouped and depthwise-separable layers ---------------------------------------------------------------------

from fractions import Fraction  # noqa: E402

from cnnviz.analysis.layer_table import macs  # noqa: E402


def test_mobilenets_3_to_64_example_by_hand():
    costs = formulas.separable_costs(3, 64, (3, 3))
    assert costs.standard.params == 3 * 3 * 3 * 64 == 1728
    assert costs.depthwise.params == 3 * 3 * 3 == 27
    assert costs.pointwise.params == 3 * 64 == 192
    assert costs.separable.params == 27 + 192 == 219
    assert costs.standard.params_formula == "3×3×3×64 = 1,728"
    assert costs.separable.params_formula == "3×3×3 + 3×64 = 219"


def test_the_saving_is_mobilenets_published_ratio():
    # Howard et al. 2017, eq. 5: (D_K·D_K·M·D_F·D_F + M·N·D_F·D_F) / (D_K·D_K·M·N·D_F·D_F) = 1/N + 1/D_K².
    for c_in, c_out, k, side in [(3, 64, 3, 32), (32, 64, 3, 112), (512, 512, 3, 14), (16, 24, 5, 7)]:
        costs = formulas.separable_costs(c_in, c_out, (k, k), output_hw=(side, side))
        published = Fraction(1, c_out) + Fraction(1, k * k)
        assert Fraction(costs.separable.params, costs.standard.params) == published
        assert Fraction(costs.separable.mult_adds, costs.standard.mult_adds) == published


def test_multiply_adds_written_out_by_hand():
    costs = formulas.separable_costs(3, 64, (3, 3), output_hw=(32, 30))
    assert costs.standard.mult_adds == 3 * 3 * 3 * 64 * 32 * 30 == 1_658_880
    assert costs.standard.mult_adds_formula == "3×3×3×64 × 32×30 = 1,658,880"
    assert costs.separable.mult_adds == (27 + 192) * 32 * 30 == 210_240
    assert costs.separable.mult_adds_formula == "(3×3×3 + 3×64) × 32×30 = 210,240"


def test_biases_add_parameters_not_multiply_adds():
    costs = formulas.separable_costs(3, 64, (3, 3), bias=True)
    assert costs.standard.params_formula == "3×3×3×64 + 64 = 1,792"
    assert costs.separable.params_formula == "3×3×3 + 3 + 3×64 + 64 = 286"
    assert costs.separable.mult_adds == 219


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "groups"),
                         [(3, 64, (3, 3), 1), (64, 64, (3, 3), 4), (64, 64, (3, 3), 64), (32, 64, (5, 3), 32),
                          (12, 18, (1, 1), 6), (8, 8, (7, 7), 2)])
@pytest.mark.parametrize("bias", [False, True])
def test_a_grouped_layer_has_what_torch_counts(c_in, c_out, kernel, groups, bias):
    layer = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=bias)
    cost = formulas.conv_cost(c_in, c_out, kernel, groups=groups, bias=bias, output_hw=(9, 11))
    assert cost.params == count(layer)
    assert cost.mult_adds == macs(layer, (c_out, 9, 11))


@pytest.mark.parametrize("bias", [False, True])
def test_the_separable_pair_has_what_torch_counts(bias):
    depthwise = nn.Conv2d(32, 32, 3, groups=32, bias=bias)
    pointwise = nn.Conv2d(32, 64, 1, bias=bias)
    costs = formulas.separable_costs(32, 64, (3, 3), bias=bias, output_hw=(56, 56))
    assert costs.depthwise.params == count(depthwise) and costs.pointwise.params == count(pointwise)
    assert costs.separable.params == count(depthwise) + count(pointwise)
    assert costs.separable.mult_adds == macs(depthwise, (32, 56, 56)) + macs(pointwise, (64, 56, 56))
    assert costs.standard.params == count(nn.Conv2d(32, 64, 3, bias=bias))


def test_grouped_formulas_read_as_written():
    assert formulas.conv_cost(64, 64, (3, 3), groups=4).params_formula == "3×3×(64/4)×64 = 9,216"
    assert formulas.conv_cost(64, 64, (3, 3), groups=64).params_formula == "3×3×64 = 576"
    assert formulas.conv_cost(64, 64, (3, 3), groups=64).kind == "depthwise"
    assert formulas.conv_cost(64, 64, (3, 3), groups=4).kind == "grouped"
    assert formulas.conv_cost(3, 64, (3, 3)).kind == "standard"
    assert formulas.group_choices(64, 64) == (1, 2, 4, 8, 16, 32, 64)
    assert formulas.group_choices(3, 64) == (1,)
    assert formulas.group_choices(12, 18) == (1, 2, 3, 6)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"c_in": 0}, "c_in=0"), ({"c_out": -1}, "c_out=-1"), ({"kernel_hw": (3, 0)}, r"kernel_hw\[1\]=0"),
    ({"output_hw": (2.5, 1)}, r"output_hw\[0\]=2.5"), ({"groups": 5}, r"groups=5: choose from 1, 2, 4, 8, 16, 32, 64"),
    ({"groups": 0}, "groups=0"),
])
def test_bad_layer_arguments_name_the_value(kwargs, match):
    arguments = {"c_in": 64, "c_out": 64, "kernel_hw": (3, 3), **kwargs}
    with pytest.raises(ValueError, match=match):
        formulas.conv_cost(arguments.pop("c_in"), arguments.pop("c_out"), arguments.pop("kernel_hw"), **arguments)
