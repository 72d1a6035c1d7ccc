"""The receptive-field page's state and computation without Streamlit: links, stacks, boxes, tables, fields."""
import doctest
from dataclasses import replace
from urllib.parse import urlencode

import numpy as np
import pytest

from cnnviz.analysis import clicks
from cnnviz.analysis.receptive_field import Box
from cnnviz.conv.geometry import Layer
from cnnviz.figures.receptive_fields import frame_for, unit_centres
from cnnviz.model import NETWORK_PRESETS as MODEL_PRESETS
from cnnviz.model import ConvBlock, ModelConfig, build_model
from cnnviz.pages import receptive_field as page
from cnnviz.pages.receptive_field import (STACK_PRESETS, SESSION, NestedBox, ReceptiveFieldState, StackCodec, add_layer,
                                          analyzed_prefix, block_names, check_layer, claims, compare_stacks, compute,
                                          conv, layer_params, move_layer, numbered_names, pool, random_field,
                                          remove_layer, session_layers, trained_field, unit_in_layer,
                                          with_session)
from cnnviz.urlstate import check_fields

CONV3, POOL2 = Layer(3, padding=1), Layer(2, 2, kind="max")


def test_module_docstring_example_runs():
    assert doctest.testmod(page).failed == 0


def test_fields_name_every_attribute_once():
    check_fields(ReceptiveFieldState)


def test_defaults_make_a_bare_link():
    assert ReceptiveFieldState().to_query() == {}


@pytest.mark.parametrize("name", list(STACK_PRESETS))
def test_a_preset_link_names_the_preset_alone_and_reads_back(name):
    state = ReceptiveFieldState().with_preset(name)
    assert state.to_query() == ({} if name == "mnist" else {"preset": name})
    assert ReceptiveFieldState.from_query(state.to_query()) == (state, [])
    assert ReceptiveFieldState.from_dict(state.to_dict()) == (state, [])


def test_a_lecturers_link_to_vgg16_pool5_unit_3_3():
    state, ignored = ReceptiveFieldState.from_query({"preset": "vgg16", "layer": "17", "unit": "3,3"})
    assert ignored == [] and (state.layer, state.unit, state.sample, state.working_size) == (17, (3, 3), "camera", 224)
    assert state.to_query() == {"preset": "vgg16", "unit": "3,3"}  # layer 17 is the preset's own choice


def test_the_longest_stack_written_out_stays_a_short_link():
    # VGG-16 typed into the editor by hand from the MNIST preset: every layer goes into the link.
    state = ReceptiveFieldState().with_layers(STACK_PRESETS["vgg16"].layers, 17)
    state = replace(state, unit=(3, 3), source="upload", sample="astronaut", working_size=256, channels=512,
                    seed=42, nested=False)
    query = state.to_query()
    assert query["stack"] == "_".join(["c3p1"] * 2 + ["m2s2"] + ["c3p1"] * 2 + ["m2s2"] + (["c3p1"] * 3 + ["m2s2"]) * 3)
    link = "https://cnnviz.example.org/receptive-field?" + urlencode({**query, "lang": "en"})
    assert len(link) < 2000 and len(link) < 300
    assert ReceptiveFieldState.from_query(query) == (state, [])


def test_edited_stacks_and_session_stacks_round_trip():
    edited = add_layer(ReceptiveFieldState().with_preset("resnet18_stem"), "avg")
    assert edited.preset == "resnet18_stem" and edited.edited
    assert edited.to_query() == {"preset": "resnet18_stem", "stack": "c7s2p3_m3s2p1_a2s2", "layer": "2"}
    assert ReceptiveFieldState.from_query(edited.to_query()) == (edited, [])
    trained = with_session(ReceptiveFieldState().with_preset("vgg16"), MODEL_PRESETS["tiny"])
    assert trained.to_query() == {"preset": "session"} and not trained.edited  # the tiny net is the MNIST stack
    assert ReceptiveFieldState.from_dict(trained.to_dict()) == (trained, [])


def test_a_link_with_bad_values_falls_back_and_lists_them():
    state, ignored = ReceptiveFieldState.from_query({"preset": "lenet", "stack": "c3p1_x9", "unit": "a,b", "ch": "0",
                                                     "img": "moon", "nest": "2", "zz": "1"})
    assert state == ReceptiveFieldState()
    assert sorted(ignored) == sorted(["preset=lenet", "stack=c3p1_x9", "unit=a,b", "ch=0", "img=moon", "nest=2"])


def test_repairs_a_layer_past_the_stack_and_an_odd_working_size():
    state, ignored = ReceptiveFieldState.from_query({"stack": "c3_c3", "layer": "9", "ws": "100"})
    assert (state.layer, state.working_size) == (1, 128) and ignored == ["layer", "ws"]


def test_stack_codec_short_and_long_forms():
    codec = StackCodec()
    assert codec.format(STACK_PRESETS["dilated"].layers) == "c3p1_c3p2d2_c3p4d4"
    assert codec.format(STACK_PRESETS["alexnet"].layers) == "c11s4p2_m3s2_c5p2_m3s2_c3p1_c3p1_c3p1_m3s2"
    assert codec.parse("c3s1p1d1_m2s2p0d1_a3") == (CONV3, POOL2, Layer(3, kind="avg"))
    assert codec.plain((Layer(2, 2, kind="avg"),)) == [{"kernel": 2, "stride": 2, "padding": 0, "dilation": 1,
                                                        "kind": "avg"}]
    for bad, match in (("c3p1_", "not a layer"), ("c16", "kernel must be"), ("m2s9", "stride must be"),
                       ("_".join(["c3"] * 25), "1 to 24"), ("x3", "not a layer")):
        with pytest.raises(ValueError, match=match):
            codec.parse(bad)
    with pytest.raises(ValueError, match="square"):
        codec.format((Layer((3, 1)),))
    with pytest.raises(ValueError, match="square"):
        codec.format((Layer(3, padding=((1, 0), (1, 0))),))


def test_check_layer_errors():
    assert check_layer("avg", 2, 2, 0, 1) == Layer(2, 2, kind="avg")
    with pytest.raises(ValueError, match="kind must be"):
        check_layer("pool", 2, 2, 0, 1)
    with pytest.raises(ValueError, match="dilation=0"):
        check_layer("conv", 3, 1, 0, 0)


def test_mnist_view_by_hand():
    view = compute(ReceptiveFieldState(), (28, 28))
    assert view.layer == 3 and view.unit == (3, 3)  # the centre of the 7x7 output
    assert view.box == Box(9, 9, 19, 19)  # -3 + 3·4 = 9, size 10
    # The centre (13.5, 13.5) in every earlier layer: conv1 unit 14 sees 13..15; pool1 unit 7 sees 13..16;
    # conv2 unit 7 sees 11..18.
    assert view.nested == (NestedBox(0, (14, 14), Box(13, 13, 16, 16)), NestedBox(1, (7, 7), Box(13, 13, 17, 17)),
                           NestedBox(2, (7, 7), Box(11, 11, 19, 19)), NestedBox(3, (3, 3), Box(9, 9, 19, 19)))
    assert view.padding_fraction == 0.0
    dots = unit_centres(view.rows, view.layer, frame_for(view.rows, view.input_hw))
    assert dots.shape == (49, 2) and tuple(dots[0]) == (1.5, 1.5)  # centre of unit (0, 0)


def test_vgg16_corner_unit_is_mostly_padding():
    view = compute(replace(ReceptiveFieldState().with_preset("vgg16"), unit=(0, 0)), (224, 224))
    assert view.box == Box(-90, -90, 122, 122)
    assert view.padding_fraction == pytest.approx(1 - 122 ** 2 / 212 ** 2)  # 0.669
    frame = frame_for(view.rows, view.input_hw)
    assert frame.margin == 90 and unit_centres(view.rows, view.layer, frame).shape == (49, 2)
    assert compute(ReceptiveFieldState().with_preset("vgg16"), (224, 224)).nested[0].layer == 0


def test_a_unit_outside_a_smaller_output_moves_to_the_edge_and_dense_layers_get_no_dots():
    view = compute(replace(ReceptiveFieldState(), unit=(20, 5)), (28, 28))
    assert view.unit == (6, 5)
    dense = compute(replace(ReceptiveFieldState().with_preset("vgg16"), layer=0), (224, 224))
    assert unit_centres(dense.rows, dense.layer, frame_for(dense.rows, dense.input_hw)) is None  # 1 px apart


def test_a_stack_that_shrinks_the_input_to_nothing_names_the_layer():
    state = ReceptiveFieldState().with_preset("vgg16")
    with pytest.raises(ValueError, match=r"layer 17 \(pool5\) gets a 1x1 map"):
        compute(state, (28, 28))
    assert len(analyzed_prefix(state.layers, (28, 28))) == 17
    assert len(analyzed_prefix(state.layers, (224, 224))) == 18
    assert analyzed_prefix((Layer(5),), (3, 3)) == ()


def test_a_click_and_a_layer_change_keep_the_place():
    view = compute(ReceptiveFieldState(), (28, 28))
    # Unit (0, 0)'s centre (1.5, 1.5) sits at picture px (1.5 + 3 + 0.5)·16 = 80; shown at half size, 40.
    def unit_at_click(click):  # the picture has 3 input px of padding around the 28x28 digit
        return clicks.unit_at_click(click, view.input_hw, margin=3, rows=view.rows, layer=view.layer)
    assert unit_at_click({"x": 40, "y": 40, "width": 272, "height": 272, "unix_time": 1}) == (0, 0)
    assert unit_at_click({"x": 543, "y": 0, "width": 544, "height": 544}) == (0, 6)
    # Input column 15.5, halfway between the centres of units 3 (13.5) and 4 (17.5), is px (15.5 + 3.5)·16 = 304.
    assert unit_at_click({"x": 304, "y": 10, "width": 544, "height": 544}) == (0, 4)
    assert unit_at_click({"x": 303, "y": 10, "width": 544, "height": 544}) == (0, 3)
    with pytest.raises(ValueError, match="needs x, y"):
        unit_at_click({"x1": 3})
    assert unit_in_layer(view, 0) == (14, 14) and unit_in_layer(view, 2) == (7, 7)


def test_parameters_per_layer_by_hand():
    rows = compute(ReceptiveFieldState(), (28, 28)).rows
    assert layer_params(rows, 64, 1) == (640, 0, 36_928, 0)  # 1·64·9 + 64; 64·64·9 + 64
    assert layer_params(rows, 64, 3) == (1_792, 0, 36_928, 0)
    stem = compute(ReceptiveFieldState().with_preset("resnet18_stem"), (64, 64)).rows
    assert layer_params(stem, 64, 3) == (9_472, 0)  # torchvision's conv1 without bias has 9,408: + 64 biases


def test_three_3x3_against_one_7x7():
    comparison = compare_stacks(64)
    assert (comparison.small_weights, comparison.large_weights) == (110_592, 200_704)  # 27·64², 49·64²
    assert (comparison.small_field, comparison.large_field) == (7, 7)
    assert (compare_stacks(1).small_weights, compare_stacks(1).large_weights) == (27, 49)


def test_the_tutorials_numbers_hold_for_their_presets_only():
    state = ReceptiveFieldState()
    assert [(c.name, c.tutorial, c.app, c.holds) for c in claims(state, compute(state, (28, 28)))] == [
        ("size", 10, 10, True), ("jump", 4, 4, True), ("start", -3, -3, True)]
    three = ReceptiveFieldState().with_preset("three_3x3")
    assert [(c.tutorial, c.app) for c in claims(three, compute(three, (28, 28)))] == [(7, 7)]
    edited = add_layer(three, "conv")
    assert claims(edited, compute(edited, (28, 28))) == ()
    vgg = ReceptiveFieldState().with_preset("vgg16")
    assert claims(vgg, compute(vgg, (224, 224))) == ()


def test_moving_removing_and_adding_layers_keep_the_choice_on_the_moved_layer():
    state = replace(ReceptiveFieldState(), layer=1, unit=(2, 2))
    down = move_layer(state, 1)
    assert down.layers == (CONV3, CONV3, POOL2, POOL2) and down.layer == 2 and down.unit is None
    assert move_layer(replace(state, layer=0), -1).layers == state.layers  # already first
    removed = remove_layer(state)
    assert removed.layers == (CONV3, CONV3, POOL2) and removed.layer == 0
    assert remove_layer(replace(state, layers=(CONV3,), layer=0)).layers == (CONV3,)  # never empty
    added = add_layer(state, "max")
    assert added.layers == (CONV3, POOL2, POOL2, CONV3, POOL2) and added.layer == 2
    assert add_layer(state.with_layers((CONV3,) * 24), "conv").layers == (CONV3,) * 24


def test_the_session_network_is_its_conv_and_pool_layers():
    padded = ModelConfig(blocks=(ConvBlock(16, batch_norm=True), ConvBlock(32, batch_norm=True)), hidden=64)
    assert session_layers(padded) == STACK_PRESETS["mnist"].layers  # BatchNorm has no window
    # The default pools first: the same windows, in the order their maps shrink.
    assert session_layers(MODEL_PRESETS["default"]) == (page.conv(5), page.pool(2, 2), page.conv(3), page.pool(2, 2))
    config = ModelConfig(blocks=(replace(MODEL_PRESETS["tiny"].blocks[0], kernel_size=5, padding=2, pool="none"),))
    assert session_layers(config) == (Layer(5, padding=2),)
    state = with_session(replace(ReceptiveFieldState(), source="upload"), config)
    assert (state.preset, state.layer, state.source, state.sample) == (SESSION, 0, "sample", "mnist_digit")


@pytest.mark.parametrize(("name", "sizes", "outputs"), [
    # "valid" 3x3 convs: each adds 2 x jump to the field and takes 2 off the side; 2x2 pools add jump, halve the side.
    ("keras", [3, 4, 8, 10, 18], [26, 13, 11, 5, 3]),
    ("four_conv", [3, 5, 6, 10, 14, 16], [26, 24, 12, 10, 8, 4]),
])
def test_the_tutorial_nets_without_padding_on_the_page(name, sizes, outputs):
    state = with_session(ReceptiveFieldState(), MODEL_PRESETS[name])
    view = compute(state, (28, 28))  # the last layer's centre unit, on the 28x28 digit
    assert [row.size[0] for row in view.rows] == sizes and [row.out_size[0] for row in view.rows] == outputs
    assert (view.box.bottom - view.box.top, view.box.right - view.box.left) == (sizes[-1], sizes[-1])


def test_random_field_is_reproducible_and_smaller_than_the_box():
    state = ReceptiveFieldState()
    view = compute(state, (28, 28))
    image = np.random.default_rng(1).random((28, 28))
    field = random_field(state.layers, view.unit, view.box, image, channels=64, seed=3)
    again = random_field(state.layers, view.unit, view.box, image, channels=64, seed=3)
    np.testing.assert_array_equal(field.grad, again.grad)
    assert 0 < field.fraction < 1 and field.box == view.box
    rgb = random_field(state.layers, view.unit, view.box, np.stack([image] * 3, axis=-1), channels=2, seed=3)
    assert rgb.grad.shape == (28, 28)


def test_trained_field_uses_the_networks_own_layers_and_leaves_it_alone():
    model = build_model(MODEL_PRESETS["tiny"], seed=0).train()
    state = with_session(ReceptiveFieldState(), MODEL_PRESETS["tiny"])
    view = compute(state, (28, 28))
    digit = np.zeros((28, 28))
    digit[6:22, 12:16] = 1.0  # a "1"
    field = trained_field(model, digit, view)
    assert field.grad.shape == (28, 28) and field.box == view.box == Box(9, 9, 19, 19)
    assert not (field.grad > 0)[np.ones((28, 28), bool) & ~_inside(view.box)].any()
    assert model.training and not any(m._forward_hooks for m in model.modules())
    other = compute(ReceptiveFieldState().with_preset("three_3x3"), (28, 28))
    with pytest.raises(ValueError, match="not the stack shown"):
        trained_field(model, digit, other)


def _inside(box: Box) -> np.ndarray:
    mask = np.zeros((28, 28), dtype=bool)
    clipped = box.clip(28, 28)
    mask[clipped.top:clipped.bottom, clipped.left:clipped.right] = True
    return mask


def test_layers_carry_the_names_their_papers_use():
    vgg = ReceptiveFieldState().with_preset("vgg16")
    assert [row.name for row in compute(vgg, (224, 224)).rows] == [
        "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "conv3_3", "pool3",
        "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5"]
    alexnet = ReceptiveFieldState().with_preset("alexnet")
    assert [row.name for row in compute(alexnet, (224, 224)).rows] == [
        "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"]
    assert [row.name for row in compute(ReceptiveFieldState(), (28, 28)).rows] == ["conv1", "pool1", "conv2", "pool2"]
    # An edited VGG keeps VGG's way of naming; a pool after a pool gets a name of its own.
    assert block_names(vgg.layers[:3] + (conv(3),)) == ("conv1_1", "conv1_2", "pool1", "conv2_1")
    assert numbered_names((pool(2, 2), conv(3), pool(2, 2), pool(2, 2))) == ("pool0", "conv1", "pool1", "pool1_2")


def test_a_lecturers_vgg_link_still_opens_pool5():
    state, ignored = ReceptiveFieldState.from_query({"preset": "vgg16", "unit": "3,3"})
    view = compute(state, (224, 224))
    assert ignored == [] and view.rows[view.layer].name == "pool5" and view.unit == (3, 3)
    assert view.box == Box(6, 6, 218, 218)
