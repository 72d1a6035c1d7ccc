"""inspection and attribution: activations, filters, prediction, layer table, paging, and Captum's three views."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.analysis.attribution import BLACK, Attribution, grad_cam, integrated_gradients, saliency
from cnnviz.analysis.digits import prepare_digit
from cnnviz.analysis.inspection import (ActivationRecorder, capture_activations, conv_filters, eval_mode, page_channels,
                                        page_count, predict, to_numpy)
from cnnviz.analysis.layer_table import layer_table
from cnnviz.data import load_mnist
from cnnviz.model import ConvBlock, ModelConfig, build_model, preset, summarize

ATTRIBUTIONS = [saliency, grad_cam, integrated_gradients]
# The hand-checked shapes, counts and receptive fields below are this network's (the app's default until issue 10).
BN_NET = ModelConfig(blocks=(ConvBlock(16, batch_norm=True), ConvBlock(32, batch_norm=True)), hidden=64)


class DeviceTensor(torch.Tensor):
    """Acts like a CUDA tensor: it has no numpy view until .cpu() is called."""

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() first.")

    def cpu(self, *args, **kwargs):
        return self.as_subclass(torch.Tensor)


class OnDevice(nn.Module):
    """Passes its input on as a DeviceTensor, so every later output is one too."""

    def forward(self, x):
        return x.as_subclass(DeviceTensor)


@pytest.fixture
def model():
    return build_model(BN_NET, seed=0).train()


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def trained(mnist):
    # 60 Adam steps of 64 images: about 90% accurate, enough for attributions to mean something.
    net = build_model(BN_NET, seed=0)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        index = torch.randint(0, len(mnist.train_labels), (64,), generator=generator)
        loss = F.cross_entropy(net(mnist.train_images[index]), mnist.train_labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return net.train()


@pytest.fixture(scope="module")
def seven(mnist):
    assert mnist.test_labels[0] == 7
    return mnist.test_images[:1].clone()  # (1, 1, 28, 28)


def no_hooks(net):
    return all(not m._forward_hooks for m in net.modules())


# --- activations -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["default", "classic", "tiny"])
def test_activation_shapes_match_the_model_summary(name):
    cfg = preset(name)
    activations = capture_activations(build_model(cfg, seed=0), torch.zeros(1, 1, 28, 28))
    captured = {a.layer: a.values.shape for a in activations if a.kind != "act"}
    expected = {row.layer: row.output_shape for row in summarize(cfg).rows
                if len(row.output_shape) == 3 and row.kind != "act"}
    assert captured == expected
    assert all(a.values.dtype == np.float32 for a in activations)


def test_activations_are_named_in_model_order(model):
    activations = capture_activations(model, torch.zeros(1, 1, 28, 28))
    assert [(a.name, a.kind, a.layer) for a in activations] == [
        ("features.0", "conv", "conv1"), ("features.1", "bn", "bn1"), ("features.2", "act", "act1"),
        ("features.3", "pool", "pool1"), ("features.4", "conv", "conv2"), ("features.5", "bn", "bn2"),
        ("features.6", "act", "act2"), ("features.7", "pool", "pool2"),
    ]


def test_activations_equal_the_layers_outputs(model, seven):
    activations = capture_activations(model, seven)
    with torch.no_grad(), eval_mode(model):
        conv1 = model.features[0](seven)
        pool2 = model.features(seven)
    np.testing.assert_array_equal(activations[0].values, conv1[0].numpy())
    np.testing.assert_array_equal(activations[-1].values, pool2[0].numpy())


def test_hooks_are_removed_after_the_block(model):
    with ActivationRecorder(model) as recorder:
        assert not no_hooks(model)
        model(torch.zeros(2, 1, 28, 28))
        model(torch.zeros(2, 1, 28, 28))
    assert no_hooks(model)
    assert len(recorder.activations) == 16  # each forward pass appends its 8
    assert recorder.activations[0].values.shape == (16, 28, 28)  # the first image of the batch


def test_hooks_are_removed_when_the_block_raises(model):
    with pytest.raises(RuntimeError, match="boom"):
        with ActivationRecorder(model):
            model(torch.zeros(1, 1, 28, 28))
            raise RuntimeError("boom")
    assert no_hooks(model)
    capture_activations(model, torch.zeros(1, 1, 28, 28))
    assert no_hooks(model)


def test_an_inplace_relu_does_not_rewrite_the_recorded_conv():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
    with torch.no_grad():
        net[0].bias.fill_(-5.0)
    conv, relu = capture_activations(net, torch.zeros(1, 1, 5, 5))
    assert conv.values.min() == -5.0 and relu.values.max() == 0.0


def test_tensors_are_moved_to_the_cpu_before_numpy():
    net = nn.Sequential(OnDevice(), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 10))
    x = torch.ones(1, 1, 5, 5)
    with pytest.raises(TypeError):
        net(x).detach().numpy()  # the fake really refuses, so the checks below mean something
    assert [a.values.shape for a in capture_activations(net, x)] == [(2, 3, 3), (2, 3, 3)]
    assert predict(net, x).probabilities.shape == (10,)
    np.testing.assert_array_equal(to_numpy(torch.arange(3.0).as_subclass(DeviceTensor)), [0.0, 1.0, 2.0])
    conv = nn.Conv2d(1, 2, 3)
    conv.weight = nn.Parameter(conv.weight.detach().as_subclass(DeviceTensor))
    assert conv_filters(conv)[0].weights.shape == (2, 1, 3, 3)


def test_capture_checks_its_input(model):
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        capture_activations(model, torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match=r"got \[<class"):
        ActivationRecorder(model, layer_types=[nn.Conv2d])


# --- prediction --------------------------------------------------------------------------------

def test_predict_runs_in_eval_mode_and_changes_nothing(model, seven):
    model.classifier.eval()  # mixed modes must come back exactly as they were
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before = seven.clone()
    prediction = predict(model, seven)
    assert model.training and model.features.training and not model.classifier.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)  # BatchNorm's running stats untouched
    torch.testing.assert_close(seven, before, rtol=0, atol=0)
    with torch.no_grad(), eval_mode(model):
        logits = model(seven)[0]
    np.testing.assert_allclose(prediction.logits, logits.numpy(), rtol=1e-6)
    np.testing.assert_allclose(prediction.probabilities, logits.softmax(0).numpy(), rtol=1e-5)
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert prediction.top == int(logits.argmax()) and prediction.confidence == prediction.probabilities.max()


def test_eval_mode_restores_modes_when_the_block_raises(model):
    model.features[1].eval()
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            assert not any(m.training for m in model.modules())
            raise RuntimeError("boom")
    assert [m.training for m in model.features] == [True, False, True, True, True, True, True, True]


def test_predict_checks_its_input(model):
    for bad, needle in [(torch.zeros(1, 28, 28), r"\(1, 28, 28\)"), (torch.zeros(2, 1, 28, 28), r"\(2, 1, 28, 28\)"),
                        (np.zeros((1, 1, 28, 28)), "ndarray")]:
        with pytest.raises(ValueError, match=needle):
            predict(model, bad)
    with pytest.raises(ValueError, match="str"):
        predict("net", torch.zeros(1, 1, 28, 28))


def test_a_prepared_drawing_is_read_correctly(trained, mnist):
    big = np.kron(mnist.test_pixels[0], np.ones((10, 10), np.uint8))  # (280, 280), a 7
    assert predict(trained, prepare_digit(big).tensor).top == 7


# --- filters and layer table -----------------------------------------------------------------

def test_conv_filters_are_copies_of_every_conv(model):
    banks = conv_filters(model)
    assert [(b.name, b.layer, b.weights.shape, b.bias.shape) for b in banks] == [
        ("features.0", "conv1", (16, 1, 3, 3), (16,)), ("features.4", "conv2", (32, 16, 3, 3), (32,))]
    np.testing.assert_array_equal(banks[1].weights, model.features[4].weight.detach().numpy())
    banks[0].weights[:] = 0
    assert model.features[0].weight.abs().sum() > 0
    assert conv_filters(nn.Conv2d(1, 1, 3, bias=False))[0].bias is None


def test_layer_table_matches_the_summary_and_counts_every_parameter(model):
    table = layer_table(model, (1, 28, 28))
    rows = table.rows
    assert sum(r.params for r in rows) == table.total_params == sum(p.numel() for p in model.parameters()) == 105962
    ours = {r.layer: (r.output_shape, r.params, r.macs) for r in rows}
    for row in summarize(BN_NET).rows:
        assert ours[row.layer] == (row.output_shape, row.params, row.macs)
    # Hand-checked: 3x3 conv -> 3; 2x2 pool at jump 1 -> 4; 3x3 conv at jump 2 -> 8; pool at jump 2 -> 10.
    assert {r.layer: r.receptive_field for r in rows if r.receptive_field} == {
        "conv1": (3, 3), "pool1": (4, 4), "conv2": (8, 8), "pool2": (10, 10)}
    assert model.training and no_hooks(model)


@pytest.mark.parametrize(("name", "fields"), [
    # Hand-checked: 3x3 valid convs add 2 x jump; 2x2 pools add 1 x jump and double it.
    ("keras", {"conv1": 3, "pool1": 4, "conv2": 8, "pool2": 10, "conv3": 18}),
    ("four_conv", {"conv1": 3, "conv2": 5, "pool1": 6, "conv3": 10, "conv4": 14, "pool2": 16}),
])
def test_layer_table_of_the_tutorial_nets_with_several_hidden_layers(name, fields):
    cfg = preset(name)
    model = build_model(cfg)
    rows = layer_table(model, (1, 28, 28)).rows
    assert sum(r.params for r in rows) == summarize(cfg).total_params
    fc = [(r.output_shape, r.params, r.macs) for r in rows if r.kind == "fc"]
    assert fc == [(r.output_shape, r.params, r.macs) for r in summarize(cfg).rows if r.kind == "fc"]
    assert len(fc) == len(cfg.hidden) + 1
    # Each hidden layer has its ReLU, whose output is (width,): the classifier's activations are in the table too.
    acts = [r.output_shape for r in rows if r.kind == "act"][len(cfg.blocks):]
    assert acts == [(width,) for width in cfg.hidden]
    assert {r.layer: r.receptive_field[0] for r in rows if r.receptive_field} == fields


def test_layer_table_strides_dilations_groups_and_rectangles():
    net = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, groups=2), nn.Conv2d(8, 8, (1, 3), dilation=2), nn.AvgPool2d(2))
    rows = layer_table(net, (4, 21, 21)).rows
    assert [r.output_shape for r in rows] == [(8, 10, 10), (8, 10, 6), (8, 5, 3)]
    assert [r.macs for r in rows] == [8 * 10 * 10 * 4 * 9 // 2, 8 * 10 * 6 * 8 * 3, 0]
    # Rows: 3, then a 1-tall kernel adds nothing, then the pool adds 1 * jump 2 -> 5.
    # Cols: 3, then the dilated kernel spans 5, adding 4 * jump 2 -> 11, then the pool adds 2 -> 13.
    assert [r.receptive_field for r in rows] == [(3, 3), (3, 11), (5, 13)]


def test_layer_table_checks_the_shape(model):
    with pytest.raises(ValueError, match=r"input_shape=\(28, 28\)"):
        layer_table(model, (28, 28))


# --- paging ------------------------------------------------------------------------------------

def test_page_channels():
    assert page_count(32, 12) == 3 and page_count(12, 12) == 1
    assert page_channels(32, 0, 12) == range(0, 12)
    assert page_channels(32, 2, 12) == range(24, 32)
    assert page_channels(5, 0, 12) == range(0, 5)


@pytest.mark.parametrize("args,needle", [
    ((32, 3, 12), "page=3"), ((32, -1, 12), "page=-1"), ((32, True, 12), "page=True"),
    ((0, 0, 12), "n_channels=0"), ((32, 0, 0), "per_page=0"),
])
def test_page_channels_rejects(args, needle):
    with pytest.raises(ValueError, match=needle):
        page_channels(*args)


# --- attribution -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ATTRIBUTIONS)
def test_attributions_are_finite_maps_at_the_input_size(method, model, seven):
    result = method(model, seven, 7)
    assert isinstance(result, Attribution) and result.method == method.__name__ and result.target == 7
    assert result.values.shape == (28, 28) and result.values.dtype == np.float32
    assert np.isfinite(result.values).all()


@pytest.mark.parametrize("method", ATTRIBUTIONS)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_attributions_change_nothing(method, model, seven, requires_grad):
    x = seven.clone().requires_grad_(requires_grad)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    method(model, x, 3)
    assert x.requires_grad == requires_grad and x.grad is None
    torch.testing.assert_close(x.detach(), seven, rtol=0, atol=0)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert no_hooks(model)


def test_saliency_is_the_absolute_input_gradient(trained, seven):
    x = seven.clone().requires_grad_(True)
    with eval_mode(trained):
        (gradient,) = torch.autograd.grad(trained(x)[0, 7], x)
    np.testing.assert_allclose(saliency(trained, seven, 7).values, gradient[0, 0].abs().numpy(), rtol=1e-6)


def test_grad_cam_matches_a_hand_written_one(trained, seven):
    conv = trained.features[4]
    with eval_mode(trained):
        maps = []
        handle = conv.register_forward_hook(lambda m, i, o: maps.append(o))
        try:
            score = trained(seven)[0, 7]
        finally:
            handle.remove()
        (gradient,) = torch.autograd.grad(score, maps[0])  # (1, 32, 14, 14)
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # (1, 32, 1, 1)
    cam = F.relu((weights * maps[0]).sum(dim=1, keepdim=True))  # (1, 1, 14, 14)
    expected = F.interpolate(cam, (28, 28), mode="bilinear")[0, 0].detach().numpy()
    np.testing.assert_allclose(grad_cam(trained, seven, 7).values, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_cam(trained, seven, 7, layer="features.4").values, expected, rtol=1e-5, atol=1e-7)
    assert grad_cam(trained, seven, 7, layer="features.0").values.shape == (28, 28)


def test_integrated_gradients_start_from_black(trained, seven):
    black = torch.full((1, 1, 28, 28), BLACK)
    np.testing.assert_array_equal(integrated_gradients(trained, black, 7).values, np.zeros((28, 28), np.float32))
    # Completeness: the attributions add up to the change in the score from black to the digit.
    with torch.no_grad(), eval_mode(trained):
        change = float(trained(seven)[0, 7] - trained(black)[0, 7])
    assert integrated_gradients(trained, seven, 7).values.sum() == pytest.approx(change, rel=0.02)


def test_a_trained_network_looks_at_the_ink(trained, seven, mnist):
    ink = mnist.test_pixels[0] > 128
    background = mnist.test_pixels[0] == 0
    cam = grad_cam(trained, seven, 7).values
    assert cam.max() > 1.5 * cam.mean() > 0
    sal = saliency(trained, seven, 7).values
    assert sal[ink].mean() > sal[background].mean()


def test_normalised_scales_by_the_99th_percentile():
    values = np.arange(-50, 50, dtype=np.float32).reshape(10, 10)  # |values| 0..50; 99th percentile 49.01
    overlay = Attribution("integrated_gradients", 0, values).normalised()
    assert overlay.dtype == np.float32 and overlay.min() == 0.0 and overlay.max() == 1.0
    assert overlay[5, 0] == 0.0 and overlay[9, 9] == pytest.approx(49 / 49.01)
    hot = np.zeros((10, 10), np.float32)
    hot[3, 4] = -2.0  # one pixel: the percentile is 0, so the max sets the scale
    assert Attribution("saliency", 0, hot).normalised()[3, 4] == 1.0
    assert not Attribution("saliency", 0, np.zeros((4, 4), np.float32)).normalised().any()


@pytest.mark.parametrize("call,needle", [
    (lambda m, x: saliency(m, x, 10), "target=10"),
    (lambda m, x: saliency(m, x, -1), "target=-1"),
    (lambda m, x: grad_cam(m, x, "7"), "target='7'"),
    (lambda m, x: grad_cam(m, x, 7, layer="features.1"), "layer='features.1'"),
    (lambda m, x: grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), x, 7), "has none"),
    (lambda m, x: integrated_gradients(m, x, 7, steps=0), "steps=0"),
    (lambda m, x: integrated_gradients(m, x[0], 7), r"\(1, 28, 28\)"),
])
def test_attribution_errors_name_the_bad_value(call, needle, model, seven):
    with pytest.raises(ValueError, match=needle):
        call(model, seven)
