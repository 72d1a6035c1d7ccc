"""The Your network page's state and computation (cnnviz.pages.your_network) on the shipped demo models."""
import doctest

import numpy as np
import pytest

import cnnviz.pages.your_network as page
from cnnviz.analysis.receptive_field import Box
from cnnviz.errors import UserError
from cnnviz.pages.your_network import (DEMOS, FORMATS, YourNetworkState, compute, describe, digit_pixels, label_of,
                                       open_demo, parse_labels, sample_pixels)


def test_the_docstring_example_runs():
    assert doctest.testmod(page).failed == 0


def test_the_state_round_trips_through_a_link_and_a_dict():
    state = YourNetworkState(model="inception", fmt="onnx", source="sample", sample="camera", crop=False, resize=64,
                             norm="imagenet", invert=True, layer="mixed.cat", channel=5, page=1, unit=(2, 3),
                             method="integrated_gradients", target=4, cam_layer="stem.0")
    assert YourNetworkState.from_query(state.to_query()) == (state, [])
    assert YourNetworkState.from_dict(state.to_dict()) == (state, [])
    assert YourNetworkState().to_query() == {}  # the residual demo on digit 0: a link with nothing in it


def test_a_link_with_a_bad_value_keeps_the_rest():
    state, ignored = YourNetworkState.from_query({"m": "inception", "ly": "<script>", "u": "1,2", "m2": "x"})
    assert (state.model, state.layer, state.unit) == ("inception", "", (1, 2))
    assert ignored == ["ly=<script>"]


@pytest.mark.parametrize("name", DEMOS)
def test_every_demo_opens_in_both_formats_and_reads_the_same_digit_alike(name):
    results = []
    for fmt in FORMATS:
        facts = describe(open_demo(name, fmt))
        assert facts.classes == 10 and facts.view.input_shape == (1, 28, 28) and facts.cam_rows
        results.append(compute(facts, digit_pixels(0), YourNetworkState(model=name, fmt=fmt)))
    pt2, onnx = results
    assert pt2.predicted == onnx.predicted == 7  # MNIST's first test digit is a 7
    np.testing.assert_allclose(pt2.probabilities, onnx.probabilities, atol=1e-4)


def test_a_unit_of_a_residual_block_sees_the_union_of_both_paths():
    # stem: 3x3 conv pad 1 (field 3, jump 1, start -1), 2x2 max pool (4, 2, -1); block1's two 3x3 convs pad 1
    # (8, 2, -3) then (12, 2, -5); the identity shortcut's (4, 2, -1) lies inside: the add's field is 12 from -5.
    # Unit (3, 4): rows -5 + 3·2 = 1 to 13, columns -5 + 4·2 = 3 to 15.
    facts = describe(open_demo("resnet", "pt2"))
    result = compute(facts, digit_pixels(0), YourNetworkState(layer="block1.add", unit=(3, 4)))
    assert (result.row.rf_size, result.row.jump, result.row.start) == ((12, 12), (2, 2), (-5, -5))
    assert result.box == Box(top=1, left=3, bottom=13, right=15)


def test_what_a_link_names_that_the_model_lacks_falls_back_to_the_pages_pick():
    facts = describe(open_demo("inception", "pt2"))
    result = compute(facts, digit_pixels(1), YourNetworkState(model="inception", layer="block1.add", channel=999,
                                                              page=50, unit=(4000, 1), cam_layer="nowhere",
                                                              target=123))
    shown = result.state
    assert result.row.name == facts.cam_rows[0][0] and shown.channel == 0 and shown.page == 0
    assert shown.unit is None and result.box is None and shown.cam_layer == "" and shown.target == -1
    assert result.channels == range(0, min(16, result.maps.shape[0]))


@pytest.mark.parametrize("name", DEMOS)
def test_grad_cam_on_a_trained_demo_is_not_uniform(name):
    facts = describe(open_demo(name, "pt2"))
    result = compute(facts, digit_pixels(0), YourNetworkState(model=name, method="grad_cam"))
    heat = result.attribution.normalised()
    assert heat.std() > 0.1  # a map with places, not a wash
    assert 0.01 < (heat > 0.5).mean() < 0.5  # hot somewhere, and not everywhere


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_the_other_attributions_are_at_the_inputs_size(method):
    facts = describe(open_demo("inception", "onnx"))
    result = compute(facts, digit_pixels(2), YourNetworkState(model="inception", fmt="onnx", method=method, target=3))
    assert result.attribution.values.shape == (28, 28) and result.attribution.target == 3


def test_a_colour_photo_is_prepared_for_a_gray_network_and_a_wrong_normalisation_is_explained():
    facts = describe(open_demo("resnet", "pt2"))
    photo = sample_pixels("astronaut", facts.view.input_shape)
    assert photo.ndim == 3
    result = compute(facts, photo, YourNetworkState(source="sample", sample="astronaut", norm="none"))
    assert result.shown.shape == (28, 28) and 0 <= result.shown.min() and result.shown.max() <= 1
    with pytest.raises(UserError, match="is for 3 channels, and this network takes 1"):
        compute(facts, photo, YourNetworkState(source="sample", sample="astronaut", norm="imagenet"))


def test_labels_are_read_one_a_line_and_fall_back_to_numbers():
    labels = parse_labels("\ufeffzero\n\n two \n".encode())
    assert labels == ("zero", "", "two")
    assert [label_of(labels, i) for i in range(4)] == ["zero", "1", "two", "3"]
    with pytest.raises(UserError, match="not UTF-8"):
        parse_labels(b"\xff\xfe\x00bad")


def test_onnx_rows_are_named_after_their_nodes_as_torch_rows_after_their_modules():
    names = [row.name for row in describe(open_demo("resnet", "onnx")).table.rows]
    assert names[:3] == ["stem.0.0.Conv", "stem.1.Relu", "stem.2.MaxPool"] and "block1.Add" in names
    assert [row.name for row in describe(open_demo("resnet", "pt2")).table.rows][:2] == ["stem.0.0", "stem.0.1"]


def decoder_bytes() -> bytes:
    """A small encoder-decoder on MNIST's shape, as a .pt2: conv s2 (28 -> 14), nearest upsampling x2, a transposed
    conv with a stride above its kernel (holes), a 3x3 conv, global pool, linear."""
    import io

    import torch
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(1, 4, 3, 2, 1)
            self.up = nn.Upsample(scale_factor=2)
            self.scatter = nn.ConvTranspose2d(4, 4, 1, stride=2)
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

        def forward(self, x):
            return self.head(self.conv(self.scatter(self.up(self.down(x)))))

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(Decoder().eval(), (torch.zeros(1, 1, 28, 28),)), buffer)
    return buffer.getvalue()


def _decoder():
    from cnnviz.graph.open import open_model

    return describe(open_model(decoder_bytes(), "decoder.pt2"))


def test_a_unit_after_an_upsampling_gets_its_own_field_and_a_hole_says_so():
    facts = _decoder()
    rows = {row.name: row for row in facts.table.rows}
    assert rows["up"].varies and rows["up"].rf_size is None and rows["down"].rf_size == (3, 3)
    # up's unit (5, 9) reads down's (2, 4), which sees input rows 3..5 and columns 7..9
    result = compute(facts, digit_pixels(0), YourNetworkState(model="upload", layer="up", unit=(5, 9)))
    assert result.box == Box(3, 7, 6, 10)
    # scatter's unit (4, 6): even units read up's (2, 3), i.e. down's (1, 1): rows and columns 1..3
    assert compute(facts, digit_pixels(0), YourNetworkState(model="upload", layer="scatter", unit=(4, 6))).box == \
        Box(1, 1, 4, 4)
    hole = compute(facts, digit_pixels(0), YourNetworkState(model="upload", layer="scatter", unit=(3, 6)))
    assert hole.box is None and hole.state.unit == (3, 6)  # an odd row: no input pixel, and the page says so
    # conv (3x3 after the scatter) at (3, 6) reads scatter's rows 2..4 and columns 5..7: two even rows (2, 4) and
    # one even column (6), so up's (1..2, 3), down's (0..1, 1): input rows -1..3, columns 1..3
    assert compute(facts, digit_pixels(0), YourNetworkState(model="upload", layer="conv", unit=(3, 6))).box == \
        Box(-1, 1, 4, 4)
