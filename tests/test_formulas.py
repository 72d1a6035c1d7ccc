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
