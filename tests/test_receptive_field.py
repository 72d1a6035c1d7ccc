"""Receptive fields: hand-checked networks, published figures, torch shapes and gradients, round trips, errors."""
import copy
import doctest
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from cnnviz.analysis import receptive_field
from cnnviz.analysis.receptive_field import Box, analyze, analyze_model, centre, input_box, unit_at
from cnnviz.conv.geometry import Layer

CONV3 = {"kernel": 3, "padding": 1}
POOL2 = {"kernel": 2, "stride": 2, "kind": "max"}
MNIST = [CONV3, POOL2, CONV3, POOL2]  # conv3 p1, maxpool2, conv3 p1, maxpool2
VGG16_BLOCKS = (2, 2, 3, 3, 3)  # 3x3 convs before each of the five 2x2 max pools
# torchvision's AlexNet features: conv11 s4 p2, pool3 s2, conv5 p2, pool3 s2, conv3 p1 x3, pool3 s2
ALEXNET = [{"kernel": 11, "stride": 4, "padding": 2}, {"kernel": 3, "stride": 2, "kind": "max"},
           {"kernel": 5, "padding": 2}, {"kernel": 3, "stride": 2, "kind": "max"},
           CONV3, CONV3, CONV3, {"kernel": 3, "stride": 2, "kind": "max"}]


def vgg16_dicts() -> list[dict]:
    layers = []
    for convs in VGG16_BLOCKS:
        layers += [CONV3] * convs + [POOL2]
    return layers


def vgg16_model() -> nn.Module:
    """torchvision's VGG-16 layout with one channel: geometry never depends on channels."""
    features = []
    for convs in VGG16_BLOCKS:
        for _ in range(convs):
            features += [nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(inplace=True)]
        features.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(*features), avgpool=nn.AdaptiveAvgPool2d(7), flatten=nn.Flatten(),
        classifier=nn.Sequential(nn.Linear(49, 2), nn.ReLU(), nn.Dropout(), nn.Linear(2, 2)),
    ))


def table(rows):
    """(size, jump, start) of each row, rows axis only, for square networks."""
    assert all(len(set(pair)) == 1 for row in rows for pair in (row.size, row.jump, row.start))
    return [(row.size[0], row.jump[0], row.start[0]) for row in rows]


def test_module_docstring_example_runs():
    assert doctest.testmod(receptive_field).failed == 0


def test_three_stacked_3x3_convs_see_7():
    assert table(analyze([{"kernel": 3}] * 3)) == [(3, 1, 0), (5, 1, 0), (7, 1, 0)]


def test_mnist_net_every_row_by_hand():
    rows = analyze(MNIST, input_size=28)
    # conv1: 1 + 2·1 = 3, start 0 - 1·1 = -1; pool1: 3 + 1·1 = 4, jump 2; conv2: 4 + 2·2 = 8, start -1 - 1·2 = -3;
    # pool2: 8 + 1·2 = 10, jump 4.
    assert table(rows) == [(3, 1, -1), (4, 2, -1), (8, 2, -3), (10, 4, -3)]
    assert [row.out_size for row in rows] == [(28, 28), (14, 14), (14, 14), (7, 7)]
    assert [(row.index, row.name, row.kind) for row in rows] == [(0, "conv0", "conv"), (1, "max1", "max"),
                                                                 (2, "conv2", "conv"), (3, "max3", "max")]
    assert rows[1].layer == Layer(2, 2, kind="max")


def test_without_input_size_the_field_is_the_same_and_out_size_is_none():
    rows = analyze(MNIST)
    assert table(rows) == table(analyze(MNIST, input_size=28))
    assert [row.out_size for row in rows] == [None] * 4


def test_dilations_1_2_4_reach_15():
    # 1 + 2·1 + 2·2 + 2·4: the span of a 3x3 kernel dilated by d is 2d + 1.
    assert table(analyze([{"kernel": 3, "dilation": d} for d in (1, 2, 4)]))[-1] == (15, 1, 0)


def test_rectangular_kernels_and_asymmetric_padding_per_axis():
    rows = analyze([{"kernel": (3, 1), "stride": (1, 2)}, Layer((1, 5), padding=((1, 0), (0, 2)))], input_size=10)
    assert [(row.size, row.jump, row.start, row.out_size) for row in rows] == [
        ((3, 1), (1, 2), (0, 0), (8, 5)),
        ((3, 9), (1, 2), (-1, 0), (9, 3)),  # cols 1 + 4·2 = 9; start uses the padding before: top 1, left 0
    ]
    assert rows[1].name == "conv1"


def test_vgg16_pool5_matches_the_published_figure():
    # Araujo et al. / google-research/receptive_field table: vgg_16/pool5 RF 212, stride 32, padding 90.
    rows = analyze(vgg16_dicts(), input_size=224)
    assert table(rows)[-1] == (212, 32, -90)
    assert [table(rows)[i] for i in (2, 5, 9, 13)] == [(6, 2, -2), (16, 4, -6), (44, 8, -18), (100, 16, -42)]
    assert rows[-1].out_size == (7, 7)


def test_vgg16_as_a_torch_model_gives_the_same_rows():
    rows = analyze_model(vgg16_model(), 224)
    assert table(rows) == table(analyze(vgg16_dicts(), input_size=224))
    assert [row.out_size for row in rows] == [row.out_size for row in analyze(vgg16_dicts(), 224)]
    assert len(rows) == 18  # ReLUs skipped, the walk stops at the adaptive pool
    assert (rows[0].name, rows[2].name, rows[-1].name) == ("features.0", "features.4", "features.30")


def test_vgg16_on_the_meta_device():
    assert table(analyze_model(vgg16_model().to("meta"), 224))[-1] == (212, 32, -90)


def test_alexnet_features():
    # By hand: conv1 11/4/-2; pool1 11+2·4=19/8/-2; conv2 19+4·8=51/8/-2-2·8=-18; pool2 51+2·8=67/16/-18;
    # conv3-5 67+3·(2·16)=163/16/-18-3·16=-66; pool5 163+2·16=195/32/-66.
    # The published table (TF-slim alexnet_v2, conv1 unpadded) gives 195 / 32 / padding 64: torchvision's conv1
    # padding of 2 moves the start by a further 2·1.
    rows = analyze(ALEXNET, input_size=224)
    assert table(rows) == [(11, 4, -2), (19, 8, -2), (51, 8, -18), (67, 16, -18), (99, 16, -34), (131, 16, -50),
                           (163, 16, -66), (195, 32, -66)]
    assert [row.out_size[0] for row in rows] == [55, 27, 27, 13, 13, 13, 13, 6]


@st.composite
def stacks(draw):
    """A few random conv/max/avg layers as (dict, torch module) pairs, and an input size."""
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "max", "avg"]))
        kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (1, 1) if kind == "avg" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        most = (2, 2) if kind == "conv" else (kernel[0] // 2, kernel[1] // 2)  # torch: pool padding <= kernel / 2
        padding = (draw(st.integers(0, most[0])), draw(st.integers(0, most[1])))
        module = {"conv": lambda: nn.Conv2d(1, 1, kernel, stride, padding, dilation, bias=False),
                  "max": lambda: nn.MaxPool2d(kernel, stride, padding, dilation),
                  "avg": lambda: nn.AvgPool2d(kernel, stride, padding)}[kind]()
        layers.append(({"kind": kind, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation},
                       module))
    return layers, (draw(st.integers(1, 12)), draw(st.integers(1, 12)))


@given(stacks())
def test_out_size_matches_torch(stack):
    layers, input_hw = stack
    x = torch.zeros(1, 1, *input_hw)
    shapes = []
    with torch.no_grad():
        for _, module in layers:
            try:
                x = module(x)
            except RuntimeError:  # the map vanished: analyze must refuse as well
                break
            shapes.append(tuple(x.shape[2:]))
    specs = [spec for spec, _ in layers]
    if len(shapes) < len(layers):
        with pytest.raises(ValueError, match=f"layer {len(shapes)} "):
            analyze(specs, input_hw)
        return
    assert [row.out_size for row in analyze(specs, input_hw)] == shapes
    model_rows = analyze_model(nn.Sequential(*(module for _, module in layers)), input_hw)
    assert [(r.size, r.jump, r.start, r.out_size) for r in model_rows] == [
        (r.size, r.jump, r.start, r.out_size) for r in analyze(specs, input_hw)]


def gradient_support(model: nn.Module, input_hw, unit) -> np.ndarray:
    """Input pixels whose gradient is nonzero for one output unit, positive weights everywhere."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.ones_(module.weight)
    x = torch.ones(1, 1, *input_hw, requires_grad=True)  # (1, 1, H, W)
    model(x)[0, 0, unit[0], unit[1]].backward()
    return (x.grad[0, 0] != 0).numpy()


def box_mask(box: Box, input_hw) -> np.ndarray:
    clipped = box.clip(*input_hw)
    mask = np.zeros(input_hw, dtype=bool)
    mask[clipped.top:clipped.bottom, clipped.left:clipped.right] = True
    return mask


@pytest.mark.parametrize("unit", [(0, 0), (3, 3), (1, 2), (2, 0)])
def test_field_is_the_gradient_support_of_a_strided_padded_stack(unit):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, 2, 1, bias=False), nn.Conv2d(1, 1, 3, 1, 2, bias=False),
                          nn.Conv2d(1, 1, 2, 2, bias=False), nn.Conv2d(1, 1, 3, 1, 1, bias=False))
    rows = analyze_model(model, 11)
    assert table(rows)[-1] == (17, 4, -9)  # 3/2/-1, 3+2·2=7/2/-1-2·2=-5, 7+1·2=9/4/-5, 9+2·4=17/4/-5-1·4=-9
    expected = box_mask(input_box(rows, 3, *unit), (11, 11))
    np.testing.assert_array_equal(gradient_support(model, (11, 11), unit), expected)


@pytest.mark.parametrize("unit", [(0, 0), (2, 1), (5, 5)])
def test_field_is_the_gradient_support_with_avg_pools(unit):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.AvgPool2d(2), nn.ReLU(),
                          nn.Conv2d(1, 1, 3, stride=1, padding=1, bias=False), nn.AvgPool2d(3, 1, 1))
    rows = analyze_model(model, (12, 12))
    expected = box_mask(input_box(rows, 3, *unit), (12, 12))
    np.testing.assert_array_equal(gradient_support(model, (12, 12), unit), expected)


def test_dilations_1_2_4_leave_no_holes():
    model = nn.Sequential(*(nn.Conv2d(1, 1, 3, dilation=d, bias=False) for d in (1, 2, 4)))
    rows = analyze_model(model, 17)
    expected = box_mask(input_box(rows, 2, 1, 1), (17, 17))  # 1 + 2 + 4 + 8 = 15 wide, all of it reached
    np.testing.assert_array_equal(gradient_support(model, (17, 17), (1, 1)), expected)


def test_dilated_field_has_holes_inside_its_box():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, bias=False), nn.Conv2d(1, 1, 3, dilation=2, bias=False))
    rows = analyze_model(model, 11)
    support = gradient_support(model, (11, 11), (1, 1))
    mask = box_mask(input_box(rows, 1, 1, 1), (11, 11))
    assert input_box(rows, 1, 1, 1) == Box(1, 1, 10, 10)  # 1 + 4 + 4 = 9 wide, unit 1 starts at 1
    ys, xs = np.nonzero(support)
    assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == (1, 1, 10, 10)  # the bounding box is the field
    assert not support[~mask].any() and support.sum() == 25 < mask.sum()  # taps on even offsets only: 5 x 5


def test_pixels_dropped_by_a_floor_lie_in_the_box_but_not_the_support():
    # conv k2 s2 on 5 pixels drops pixel 4; the next conv's padded unit 2 would see it, but it is padding.
    model = nn.Sequential(nn.Conv2d(1, 1, 2, 2, bias=False), nn.Conv2d(1, 1, 3, padding=1, bias=False))
    rows = analyze_model(model, 5)
    assert input_box(rows, 1, 1, 1) == Box(0, 0, 6, 6)
    support = gradient_support(model, (5, 5), (1, 1))
    assert support[:4, :4].all() and not support[4].any() and not support[:, 4].any()


def test_input_box_reaches_into_padding():
    rows = analyze(MNIST, input_size=28)
    box = input_box(rows, 3, 0, 0)
    assert box == Box(top=-3, left=-3, bottom=7, right=7)
    assert box.in_padding(28, 28) and box.clip(28, 28) == Box(0, 0, 7, 7)
    assert box.padding_fraction(28, 28) == pytest.approx(1 - 49 / 100)
    assert input_box(rows, 3, 6, 2) == Box(21, 5, 31, 15)  # -3 + 6·4 = 21, -3 + 2·4 = 5
    assert input_box(rows, 3, 6, 2).clip(28, 28) == Box(21, 5, 28, 15)
    assert input_box(rows, 3, 2, 2).in_padding(28, 28) is False
    assert input_box(rows, 3, 2, 2).padding_fraction(28, 28) == 0


def test_box_entirely_in_padding_clips_to_nothing():
    assert Box(-5, 2, -1, 4).clip(8, 8).area == 0
    assert Box(-5, 2, -1, 4).padding_fraction(8, 8) == 1


def test_centre_and_unit_at_by_hand():
    rows = analyze(MNIST, input_size=28)
    assert centre(rows, 3, 0, 0) == (1.5, 1.5)  # -3 + (10 - 1) / 2
    assert centre(analyze(vgg16_dicts(), 224), 17, 0, 1) == (15.5, 47.5)  # -90 + 211 / 2, then + 32
    assert unit_at(rows, 3, 14, 14) == (3, 3)  # centres 13.5 and 17.5: 14 is nearer 13.5
    assert unit_at(rows, 3, 11.5, 15.5) == (3, 4)  # halfway (between 9.5 and 13.5) goes to the later unit
    assert unit_at(rows, 3, -100, 1000) == (0, 6)  # beyond the output: the edge unit


@pytest.mark.parametrize(("layers", "input_size"), [(MNIST, 28), (ALEXNET, 224), (vgg16_dicts(), 64)])
def test_round_trip_unit_to_centre_to_unit(layers, input_size):
    rows = analyze(layers, input_size)
    for index, row in enumerate(rows):
        for unit in {(0, 0), (row.out_size[0] - 1, row.out_size[1] - 1), (row.out_size[0] // 2, 0)}:
            assert unit_at(rows, index, *centre(rows, index, *unit)) == unit


def test_round_trip_without_input_size():
    rows = analyze([{"kernel": 5, "stride": 3, "padding": 2, "dilation": 2}, POOL2])
    for unit in [(0, 0), (7, 40), (123, 4)]:
        assert unit_at(rows, 1, *centre(rows, 1, *unit)) == unit
    assert input_box(rows, 1, 123, 4) == Box(-2 + 123 * 6, -2 + 4 * 6, -2 + 123 * 6 + 12, -2 + 4 * 6 + 12)


def test_the_vanishing_layer_is_named():
    layers = [{"kernel": 3}, POOL2, {"kernel": 3}, {"kernel": 3, "kind": "max", "name": "pool2"}]  # 10 -> 8 -> 4 -> 2
    with pytest.raises(ValueError, match=re.escape("layer 3 (pool2) gets a 2x2 map but its window spans 3: ")):
        analyze(layers, input_size=10)
    assert len(analyze(layers)) == 4  # without an input size nothing vanishes


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"kernal": 3}, "layer 1 has unknown keys ['kernal']"),
        ({"stride": 1.5}, "layer 1: stride must be an int or a (rows, cols) pair of ints, got stride=1.5"),
        ({"kernel": 0}, "layer 1: kernel must be at least 1, got kernel=0"),
        ({"padding": -1, "name": "c"}, "layer 1 (c): padding must be at least 0, got padding=-1"),
        ({"padding": ((1, -1), (0, 0))}, "got padding rows=(1, -1)"),
        ({"kind": "median"}, "layer 1: layer kind must be one of ('conv', 'max', 'avg'), got kind='median'"),
        ({"name": 7}, "name=7"),
        ({"padding": "same"}, "padding='same' depends on the input"),
        ({"padding": "full"}, "padding='full'"),
        ("conv", "layer 1 must be a dict or a geometry.Layer, got 'conv'"),
    ],
)
def test_bad_layers_name_the_value_and_the_index(layer, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        analyze([CONV3, layer])


def test_same_padding_resolves_against_the_running_size():
    rows = analyze([POOL2, {"kernel": 4, "padding": "same"}, {"kernel": 3, "stride": 2, "padding": "same"}], 9)
    assert [row.layer.padding for row in rows[1:]] == [((1, 2), (1, 2)), ((0, 1), (0, 1))]
    assert [row.out_size for row in rows] == [(4, 4), (4, 4), (2, 2)]
    assert analyze_model(nn.Conv2d(1, 1, 4, padding="same"), 9)[0].out_size == (9, 9)


@pytest.mark.parametrize("input_size", [0, (3, 0), 2.5, "28"])
def test_bad_input_size(input_size):
    with pytest.raises(ValueError, match="input_size="):
        analyze(MNIST, input_size)


def test_bad_units_and_layer_indices():
    rows = analyze(MNIST, input_size=28)
    with pytest.raises(ValueError, match=re.escape("row must be from 0 to 6 for layer 3 (max3), got row=7")):
        input_box(rows, 3, 7, 0)
    with pytest.raises(ValueError, match=re.escape("col must be from 0 to 13 for layer 2 (conv2), got col=-1")):
        centre(rows, 2, 0, -1)
    with pytest.raises(ValueError, match=re.escape("layer_index must be from 0 to 3, got layer_index=4")):
        input_box(rows, 4, 0, 0)
    with pytest.raises(ValueError, match="y='3'"):
        unit_at(rows, 0, "3", 0)
    with pytest.raises(ValueError, match=re.escape("image size must be at least 1, got image size=(0, 5)")):
        Box(0, 0, 1, 1).clip(0, 5)


def test_ceil_mode_is_unsupported():
    with pytest.raises(ValueError, match=re.escape("pool (MaxPool2d) uses ceil_mode=True, which is unsupported")):
        analyze_model(nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 1, 3), pool=nn.MaxPool2d(2, ceil_mode=True))), 9)
    with pytest.raises(ValueError, match="ceil_mode=True"):
        analyze_model(nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)), 9)


def test_unknown_modules_are_refused():
    with pytest.raises(ValueError, match=re.escape("1 (Upsample) is not a Conv2d, MaxPool2d or AvgPool2d")):
        analyze_model(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2)), 9)
    with pytest.raises(ValueError, match=re.escape("Conv1d (Conv1d)")):
        analyze_model(nn.Conv1d(1, 1, 3), 9)


def test_the_walk_stops_where_the_spatial_part_ends():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1), nn.GELU(), nn.Dropout2d(), nn.Flatten(),
                          nn.Upsample(), nn.Linear(4, 2))
    assert [row.name for row in analyze_model(model, 4)] == ["0"]


def test_analyze_leaves_its_input_unchanged():
    layers = [{"kernel": [3, 3], "padding": [[1, 1], [0, 0]], "name": "c"}, {"kernel": 2, "padding": "same"}, POOL2]
    before = copy.deepcopy(layers)
    analyze(layers, input_size=(8, 9))
    assert layers == before
