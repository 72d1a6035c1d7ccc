"""Effective receptive fields: the torch stack matches analyze, gradients by hand, support = box, mass fractions."""
import doctest
import math

import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.analysis import effective_rf
from cnnviz.analysis.effective_rf import (build_stack, image_tensor, inspectable_copy, mass_fraction, mass_region,
                                          measure, unit_gradient)
from cnnviz.analysis.receptive_field import Box, analyze, input_box
from cnnviz.conv.geometry import Layer

CONV3 = Layer(3, padding=1)
AVG2 = Layer(2, 2, kind="avg")
MAX2 = Layer(2, 2, kind="max")


def test_module_docstring_example_runs():
    assert doctest.testmod(effective_rf).failed == 0


@pytest.mark.parametrize("layers", [
    [CONV3, MAX2, CONV3, MAX2],
    [Layer(7, 2, 3), Layer(3, 2, 1, kind="max")],  # ResNet stem: torch's own pool padding
    [Layer(3, 1, 4, kind="max"), Layer(3, 1, 3, kind="avg")],  # more padding than torch pools allow: ZeroPad2d
    [Layer(3, dilation=2, kind="avg"), Layer(3, padding=((1, 0), (2, 0)))],  # dilated average; uneven padding
    [Layer((3, 1), (1, 2), padding=(1, 0), dilation=(2, 1))],  # rectangular
])
def test_the_torch_stack_has_the_shapes_analyze_predicts(layers):
    model, outputs = build_stack(layers, channels=3)
    x = torch.rand(1, 1, 19, 23)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[-2:]))) for m in outputs]
    model(x)
    for hook in hooks:
        hook.remove()
    assert shapes == [row.out_size for row in analyze(layers, (19, 23))]


def test_convs_get_relus_and_pools_keep_channels():
    model, outputs = build_stack([Layer(2, 2, kind="max"), CONV3, AVG2], channels=5, in_channels=3)
    assert [type(m).__name__ for m in model] == ["MaxPool2d", "Conv2d", "ReLU", "AvgPool2d"]
    assert (model[1].in_channels, model[1].out_channels) == (3, 5)
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 5, 2, 2)
    assert outputs == (model[0], model[1], model[3])
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_weights_depend_on_the_seed_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = build_stack([CONV3, CONV3], channels=4, seed=7)[0]
    assert torch.rand(1) == before  # the global random state was not used
    again = build_stack([CONV3, CONV3], channels=4, seed=7)[0]
    other = build_stack([CONV3, CONV3], channels=4, seed=8)[0]
    assert torch.equal(first[0].weight, again[0].weight) and torch.equal(first[2].weight, again[2].weight)
    assert not torch.equal(first[0].weight, other[0].weight)
    assert torch.count_nonzero(first[0].bias) == 4  # random biases: a blank patch still switches ReLUs on


def test_a_blank_patch_still_passes_a_gradient():
    # An MNIST digit's background is exactly 0: only the biases decide which ReLUs are on there.
    layers = [CONV3, MAX2, CONV3, MAX2]
    model, outputs = build_stack(layers, channels=16, seed=0)
    box = input_box(analyze(layers, 28), 3, 6, 6)
    field = measure(model, outputs[-1], torch.zeros(1, 1, 28, 28), 6, 6, box)
    assert not field.dead and 0 < field.fraction < 1


def test_one_conv_gradient_is_its_weights_in_the_window():
    # d unit / d x at the window is the kernel itself: |w| laid over rows 1-3, cols 2-4 for unit (1, 2).
    model, (conv,) = build_stack([Layer(3)], channels=1)
    conv.weight.data = torch.arange(-4.0, 5.0).reshape(1, 1, 3, 3)
    grad = unit_gradient(model, conv, torch.rand(1, 1, 6, 7), 1, 2)
    expected = np.zeros((6, 7))
    expected[1:4, 2:5] = np.abs(np.arange(-4.0, 5.0).reshape(3, 3))
    np.testing.assert_array_equal(grad, expected)


def test_gradient_sums_magnitudes_over_input_channels():
    model, (conv,) = build_stack([Layer(1)], channels=1, in_channels=3)
    conv.weight.data = torch.tensor([2.0, -3.0, 0.5]).reshape(1, 3, 1, 1)
    grad = unit_gradient(model, conv, torch.rand(1, 3, 4, 4), 2, 1)
    assert grad[2, 1] == 5.5 and np.count_nonzero(grad) == 1


@pytest.mark.parametrize("unit", [(0, 0), (5, 6), (15, 15), (0, 15)])
def test_with_positive_weights_the_gradient_fills_the_clipped_box_exactly(unit):
    # Every weight positive and the input positive: every ReLU is on and every window tap counts, so the support is
    # the theoretical field, cut where it leaves the image. Edge units reach into the padding.
    layers = [CONV3, AVG2, Layer(3, padding=2, dilation=2), Layer(3, 1, 1, kind="avg"), CONV3]
    model, outputs = build_stack(layers, channels=2)
    for module in model:
        if isinstance(module, nn.Conv2d):
            module.weight.data.uniform_(0.1, 1.0)
            module.bias.data.zero_()
    rows = analyze(layers, 32)
    grad = unit_gradient(model, outputs[-1], torch.rand(1, 1, 32, 32) + 0.5, *unit)
    box = input_box(rows, len(layers) - 1, *unit).clip(32, 32)
    support = np.zeros((32, 32), dtype=bool)
    support[box.top:box.bottom, box.left:box.right] = True
    np.testing.assert_array_equal(grad > 0, support)
    assert input_box(rows, len(layers) - 1, *unit).in_padding(32, 32) == (unit != (5, 6))


def test_a_max_pool_passes_the_gradient_to_part_of_the_box_only():
    layers = [CONV3, MAX2, CONV3]
    model, outputs = build_stack(layers, channels=2)
    for module in model:
        if isinstance(module, nn.Conv2d):
            module.weight.data.uniform_(0.1, 1.0)
            module.bias.data.zero_()
    grad = unit_gradient(model, outputs[-1], torch.rand(1, 1, 16, 16) + 0.5, 3, 3)
    box = input_box(analyze(layers, 16), 2, 3, 3)
    inside = np.zeros((16, 16), dtype=bool)
    inside[box.top:box.bottom, box.left:box.right] = True
    assert not (grad > 0)[~inside].any()
    assert 0 < np.count_nonzero(grad) < box.area  # one pixel of each 2x2 window wins


def test_gradient_leaves_model_and_input_alone_and_removes_its_hook():
    model, outputs = build_stack([CONV3, MAX2, CONV3], channels=3)
    weights = [p.clone() for p in model.parameters()]
    x = torch.rand(1, 1, 10, 10)
    copy = x.clone()
    unit_gradient(model, outputs[1], x, 2, 2)
    assert torch.equal(x, copy) and x.grad is None and not x.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    assert not any(module._forward_hooks for module in model.modules())


def test_the_forward_pass_stops_at_the_unit_layer():
    calls = []
    model, outputs = build_stack([CONV3, CONV3], channels=1)
    model[2].register_forward_hook(lambda *args: calls.append("second conv"))
    unit_gradient(model, outputs[0], torch.rand(1, 1, 5, 5), 0, 0)
    assert calls == []


def test_gradient_errors_name_the_problem():
    model, outputs = build_stack([CONV3], channels=1)
    with pytest.raises(ValueError, match="never ran Linear"):
        unit_gradient(model, nn.Linear(1, 1), torch.rand(1, 1, 5, 5), 0, 0)
    with pytest.raises(ValueError, match="5x5 map, got row=5"):
        unit_gradient(model, outputs[0], torch.rand(1, 1, 5, 5), 5, 0)
    assert not outputs[0]._forward_hooks


def test_mass_region_by_hand():
    grad = np.array([[4.0, 3.0], [2.0, 1.0]])
    np.testing.assert_array_equal(mass_region(grad, 0.9), [[True, True], [True, False]])  # 4 + 3 + 2 = 9 of 10
    np.testing.assert_array_equal(mass_region(grad, 0.5), [[True, True], [False, False]])  # 4 < 5 <= 7
    np.testing.assert_array_equal(mass_region(-grad, 0.4), [[True, False], [False, False]])  # magnitudes
    np.testing.assert_array_equal(mass_region(np.ones((1, 4)), 0.5), [[True, True, False, False]])  # ties: in order
    assert not mass_region(np.zeros((3, 3))).any()


def test_a_uniform_gradient_over_the_box_gives_exactly_the_mass():
    grad = np.zeros((20, 20))
    grad[3:13, 5:15] = 0.1  # 100 pixels: a float sum of 90 of them is not exactly 0.9 of the total
    assert mass_fraction(grad, Box(3, 5, 13, 15)) == 0.9
    assert mass_fraction(grad, Box(3, 5, 13, 15), mass=0.5) == 0.5
    # A box reaching into the padding is measured by its pixels inside the image.
    edge = np.zeros((10, 10))
    edge[:5, :4] = 1.0
    assert mass_fraction(edge, Box(-3, -6, 5, 4)) == 18 / 20


def test_mass_errors():
    with pytest.raises(ValueError, match="mass must be in"):
        mass_region(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match="finite 2-D"):
        mass_region(np.ones(4))
    with pytest.raises(ValueError, match="no pixel inside"):
        mass_fraction(np.ones((4, 4)), Box(-5, -5, -1, -1))


def test_random_weights_concentrate_the_gradient_in_part_of_the_box():
    layers = [CONV3, MAX2, CONV3, MAX2]
    model, outputs = build_stack(layers, channels=16, seed=0)
    box = input_box(analyze(layers, 28), 3, 3, 3)
    image = np.random.default_rng(0).random((28, 28))
    field = measure(model, outputs[-1], image_tensor(image), 3, 3, box)
    assert 0 < field.fraction < 1 and not field.dead
    assert field.region.sum() == round(field.fraction * box.area)
    rebuilt, rebuilt_outputs = build_stack(layers, channels=16, seed=0)
    again = measure(rebuilt, rebuilt_outputs[-1], image_tensor(image), 3, 3, box)
    np.testing.assert_array_equal(field.grad, again.grad)  # the same seed, the same field


def test_a_unit_behind_dead_relus_gets_no_gradient():
    model, outputs = build_stack([CONV3, CONV3], channels=1)
    model[0].weight.data.fill_(-1.0)  # a positive image makes every first-layer output negative: ReLU off
    model[0].bias.data.zero_()
    field = measure(model, outputs[1], torch.rand(1, 1, 6, 6) + 0.1, 2, 2, Box(0, 0, 5, 5))
    assert field.dead and math.isnan(field.fraction) and not field.region.any()


def test_inspectable_copy_is_a_frozen_cpu_copy():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    clone = inspectable_copy(model)
    assert model.training and not clone.training
    assert all(p.requires_grad for p in model.parameters()) and not any(p.requires_grad for p in clone.parameters())
    assert clone[0].weight.data_ptr() != model[0].weight.data_ptr()


def test_image_tensor_layouts():
    assert image_tensor(np.zeros((4, 5))).shape == (1, 1, 4, 5)
    rgb = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    assert torch.equal(image_tensor(rgb)[0, 2], torch.from_numpy(rgb[..., 2]))
    with pytest.raises(ValueError, match="shape"):
        image_tensor(np.zeros(3))


def test_build_stack_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        build_stack([], channels=1)
    with pytest.raises(ValueError, match="non-empty list"):
        build_stack([{"kernel": 3}], channels=1)
    with pytest.raises(ValueError, match="channels=0"):
        build_stack([CONV3], channels=0)
    with pytest.raises(ValueError, match="seed=-1"):
        build_stack([CONV3], channels=1, seed=-1)
