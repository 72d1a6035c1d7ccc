"""The inspector's state and computation, without Streamlit: links, the model copies, layers, scales and results."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.analysis import inspection, receptive_field
from cnnviz.analysis.digits import prepare_digit
from cnnviz.analysis.receptive_field import Box
from cnnviz.data import load_mnist
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model
from cnnviz.pages.inspector import (MAPS_PER_PAGE, PREDICTED, InspectorState, ModelCopies, compute, describe,
                                    forward, frozen_copy, map_layers, map_peaks, mnist_digit,
                                    quick_train_state, resolve, rf_rows_by_layer)

DEFAULT_LAYERS = ["conv1", "act1", "pool1", "conv2", "act2", "pool2"]


# Two padded 3x3 blocks with BatchNorm: their receptive fields reach into the padding, which the values below check.
PADDED = ModelConfig(blocks=(ConvBlock(16, batch_norm=True), ConvBlock(32, batch_norm=True)), hidden=64)


@pytest.fixture(scope="module")
def net():
    return build_model(PADDED, seed=0).eval()


@pytest.fixture(scope="module")
def facts(net):
    return describe(net)


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def seven(mnist):
    return mnist_digit(mnist.test_pixels, 0)  # test digit 0 is a 7


# --- state -------------------------------------------------------------------------------------------------

def test_defaults_make_an_empty_link():
    assert InspectorState().to_query() == {}


def test_query_round_trip():
    state = InspectorState(source="gallery", index=1234, ink="dark", view="attribution", layer="pool2", page=1,
                           channel=20, scaling="layer", unit=(3, 4), method="integrated_gradients", target=7,
                           filters="conv2", filter_page=1)
    query = state.to_query()
    assert query == {"src": "gallery", "i": "1234", "ink": "dark", "v": "attribution", "l": "pool2", "pg": "1",
                     "ch": "20", "sc": "layer", "u": "3,4", "m": "integrated_gradients", "cls": "7", "fl": "conv2",
                     "fpg": "1"}
    assert InspectorState.from_query(query) == (state, [])


def test_dict_round_trip():
    state = InspectorState(unit=(0, 13), target=PREDICTED, layer="act2")
    data = state.to_dict()
    assert data["unit"] == [0, 13]
    assert InspectorState.from_dict(data) == (state, [])
    assert InspectorState.from_dict(InspectorState().to_dict()) == (InspectorState(), [])


def test_a_link_with_bad_values_falls_back_and_says_which():
    state, ignored = InspectorState.from_query({"src": "camera", "i": "10000", "l": "Conv 1", "u": "1,2,3",
                                                "cls": "10", "m": "lime", "ch": "-1", "v": "maps"})
    assert state == InspectorState()
    assert sorted(ignored) == ["ch=-1", "cls=10", "i=10000", "l=Conv 1", "m=lime", "src=camera", "u=1,2,3"]


def test_an_empty_unit_in_a_link_means_none():
    assert InspectorState.from_query({"u": ""}) == (InspectorState(unit=None), [])


# --- the model copies ----------------------------------------------------------------------------------------

def test_a_copy_is_frozen_and_independent():
    model = build_model(NETWORK_PRESETS["tiny"], seed=0).train()
    copy = frozen_copy(model)
    assert not copy.training and all(not m.training for m in copy.modules())
    assert model.training  # the original keeps its mode: a training thread may be using it
    weight = next(copy.parameters()).detach().clone()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert torch.equal(next(copy.parameters()), weight)


def test_copies_are_kept_by_key():
    model = build_model(NETWORK_PRESETS["tiny"], seed=0)
    copies = ModelCopies(max_entries=2)
    first = copies.get("run:a:5", model)
    assert copies.get("run:a:5", model) is first
    second = copies.get("run:a:6", model)
    assert second is not first and len(copies) == 2
    copies.get("checkpoint:x", model)
    assert len(copies) == 2 and copies.get("run:a:5", model) is not first  # the oldest was dropped, then remade


@pytest.mark.parametrize("key, model, message", [("", nn.Linear(1, 1), "key"), ("k", object(), "nn.Module")])
def test_copies_refuse_bad_arguments(key, model, message):
    with pytest.raises(ValueError, match=message):
        ModelCopies().get(key, model)


# --- the digit ---------------------------------------------------------------------------------------------

def test_an_mnist_digit_is_what_the_training_data_gave_the_network(mnist, seven):
    assert torch.allclose(seven.tensor, mnist.test_images[0:1], atol=1e-6)
    assert np.array_equal(seven.pixels28, mnist.test_pixels[0] / np.float32(255))
    assert not seven.empty
    rows, cols = np.nonzero(mnist.test_pixels[0])
    assert seven.bbox == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)


@pytest.mark.parametrize("index", [-1, 10_000, True, 2.0])
def test_an_mnist_index_outside_the_test_set_is_refused(mnist, index):
    with pytest.raises(ValueError, match="index must be"):
        mnist_digit(mnist.test_pixels, index)


# --- layers ------------------------------------------------------------------------------------------------

def test_the_maps_shown_are_every_conv_activation_and_pool_before_the_classifier(net):
    # BatchNorm is left out (its maps look like the conv's), and so is the classifier's ReLU (not spatial).
    assert map_layers(net) == DEFAULT_LAYERS
    labels = inspection.layer_labels(net)
    assert "act3" in labels.values() and "bn1" in labels.values()
    assert map_layers(build_model(NETWORK_PRESETS["tiny"], seed=0)) == DEFAULT_LAYERS


def test_an_activation_has_the_receptive_field_of_the_conv_before_it(net):
    rows = receptive_field.analyze_model(net, 28)
    by_layer = rf_rows_by_layer(net, rows)
    assert {k: by_layer[k] for k in DEFAULT_LAYERS + ["bn1", "bn2"]} == {
        "conv1": 0, "bn1": 0, "act1": 0, "pool1": 1, "conv2": 2, "bn2": 2, "act2": 2, "pool2": 3}
    assert [rows[i].size for i in range(4)] == [(3, 3), (4, 4), (8, 8), (10, 10)]


def test_describe_knows_the_shapes_filters_and_table(facts):
    assert facts.layers == tuple(DEFAULT_LAYERS)
    assert facts.shapes == {"conv1": (16, 28, 28), "act1": (16, 28, 28), "pool1": (16, 14, 14),
                            "conv2": (32, 14, 14), "act2": (32, 14, 14), "pool2": (32, 7, 7)}
    assert facts.convs == ("conv1", "conv2") and facts.filter_counts == {"conv1": 16, "conv2": 32}
    assert facts.table.total_params == sum(row.params for row in facts.table.rows) == 105_962  # the Train page's count


def test_a_model_without_convs_cannot_be_inspected():
    with pytest.raises(ValueError, match="Conv2d"):
        describe(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))


# --- scales ------------------------------------------------------------------------------------------------

def test_peaks_per_map_and_per_layer():
    values = np.array([[[0.0, 2.0]], [[1.0, 0.5]], [[0.0, 0.0]]], dtype=np.float32)  # (3, 1, 2)
    signed, peaks = map_peaks(values, "map")
    assert not signed and peaks.tolist() == [2.0, 1.0, 0.0]
    signed, peaks = map_peaks(values, "layer")
    assert peaks.tolist() == [2.0, 2.0, 2.0]
    signed, peaks = map_peaks(-values, "map")
    assert signed and peaks.tolist() == [2.0, 1.0, 0.0]  # magnitudes: a conv's negative peak counts too


@pytest.mark.parametrize("values, scaling, message", [(np.zeros((2, 2)), "map", "C, H, W"),
                                                      (np.zeros((1, 2, 2)), "global", "scaling")])
def test_peaks_refuse_bad_arguments(values, scaling, message):
    with pytest.raises(ValueError, match=message):
        map_peaks(values, scaling)


# --- resolving a state for a model ---------------------------------------------------------------------------

def test_resolve_keeps_a_state_inside_the_model(facts):
    assert resolve(InspectorState(layer="conv9"), facts).layer == "conv1"
    state = resolve(InspectorState(layer="conv2", channel=40, page=1), facts)
    assert (state.channel, state.page) == (31, 1)  # the last map of 32
    state = resolve(InspectorState(layer="conv2", channel=20, page=1), facts)
    assert (state.channel, state.page) == (20, 1)
    state = resolve(InspectorState(layer="conv2", channel=20, page=0), facts)
    assert (state.channel, state.page) == (0, 0)  # the page wins: the large map is always one of the page's
    assert resolve(InspectorState(layer="pool2", unit=(6, 6)), facts).unit == (6, 6)
    assert resolve(InspectorState(layer="pool2", unit=(7, 0)), facts).unit is None
    assert resolve(InspectorState(filters="conv7", filter_page=9), facts).filters == "conv1"
    assert resolve(InspectorState(filters="conv2", filter_page=9), facts).filter_page == 1
    assert resolve(InspectorState(page=5), facts).page == 0


# --- compute -----------------------------------------------------------------------------------------------

def test_forward_has_a_map_for_every_shown_layer(net, seven):
    ran = forward(net, seven.tensor)
    assert list(ran.maps) == DEFAULT_LAYERS
    assert ran.maps["pool2"].values.shape == (32, 7, 7)
    assert np.array_equal(ran.prediction.probabilities, inspection.predict(net, seven.tensor).probabilities)


def test_compute_draws_the_chosen_unit_s_receptive_field(net, facts, seven):
    result = compute(InspectorState(layer="pool2", unit=(3, 4), channel=17, page=1), net, seven, facts=facts)
    assert result.box == Box(9, 13, 19, 23)  # start -3 + unit 3 x jump 4 = 9; size 10
    assert result.rf_index == 3 and result.channels == range(16, 32) and result.pages == 2
    assert result.maps.layer == "pool2" and result.peaks.shape == (32,)
    assert not result.signed  # max pooling after a ReLU
    assert result.attribution is None  # only the attribution view pays for one
    conv = compute(InspectorState(layer="conv1"), net, seven, facts=facts)
    assert conv.signed and conv.box is None


def test_an_empty_digit_gets_no_prediction(net, facts):
    blank = prepare_digit(np.zeros((28, 28), np.float32))
    result = compute(InspectorState(view="attribution"), net, blank, facts=facts)
    assert result.forward is None and result.maps is None and result.target is None
    assert result.attribution is None and result.channels == range(0, MAPS_PER_PAGE)


def test_the_attribution_explains_the_predicted_class_unless_told(net, facts, seven):
    predicted = compute(InspectorState(view="attribution", method="saliency"), net, seven, facts=facts)
    top = predicted.forward.prediction.top
    assert predicted.target == top and predicted.attribution.target == top
    assert predicted.attribution.values.shape == (28, 28)
    chosen = compute(InspectorState(view="attribution", method="grad_cam", target=(top + 1) % 10), net, seven,
                     facts=facts)
    assert chosen.attribution.target == (top + 1) % 10 and chosen.attribution.method == "grad_cam"


def test_the_quick_model_is_the_default_network_on_a_small_subset():
    state = quick_train_state()
    assert (state.preset, state.subset, state.epochs, state.run) == ("default", 2000, 1, "")
    assert state.train_config.subset == 2000 and state.train_config.epochs == 1
