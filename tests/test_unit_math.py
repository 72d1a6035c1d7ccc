"""One unit taken apart (cnnviz.analysis.unit_math): every number against the forward pass's own activations, for
random units of every layer of every preset, and a network small enough to check by hand."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.analysis.unit_math import (ActivationStage, BatchNormStage, PoolStage, dense_layers, dense_unit,
                                       explain_unit, softmax_math, trace)
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model

UNITS_PER_LAYER = 6


def close(ours: float, theirs: float, scale: float) -> bool:
    """Equal to float32 rounding: the forward pass sums in float32, so its error grows with the terms' magnitude."""
    return abs(ours - theirs) <= 2e-6 * scale + 1e-6


def with_statistics(model: nn.Module, seed: int) -> nn.Module:
    """Random BatchNorm statistics and affine weights, so BatchNorm is not the identity an untrained net has."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.1)
                module.weight.copy_(torch.randn(size, generator=generator))
                module.bias.copy_(torch.randn(size, generator=generator))
    return model


# Beyond the presets (all ReLU and max pooling): every other activation, average pooling, pooling first with
# BatchNorm, a strided 5x5 conv and a block without hidden layers after it.
OTHERS = {
    "gelu_tanh": ModelConfig(blocks=(ConvBlock(4, activation="gelu", pool="avg", batch_norm=True),
                                     ConvBlock(6, kernel_size=5, padding=2, stride=2, activation="tanh",
                                               pool_first=True, pool_size=3)), hidden=(16,)),
    "leaky_avg_first": ModelConfig(blocks=(ConvBlock(3, activation="leaky_relu", pool="avg", pool_first=True,
                                                     batch_norm=True),), hidden=()),
}


@pytest.fixture(scope="module", params=sorted(NETWORK_PRESETS) + sorted(OTHERS))
def traced(request):
    cfg = NETWORK_PRESETS.get(request.param) or OTHERS[request.param]
    model = with_statistics(build_model(cfg, seed=1), seed=2)
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    return model, x, trace(model, x)


def check_stage(stage, record, channel: int) -> None:
    row, col = stage.position
    assert record.layer == stage.layer
    assert close(stage.value, float(record.output[channel, row, col]), abs(stage.value) + 1)
    if isinstance(stage, PoolStage):
        size = stage.window.shape[0]
        assert np.array_equal(stage.window, record.input[channel, stage.top:stage.top + size,
                                                         stage.left:stage.left + size])
    else:
        assert close(stage.input, float(record.input[channel, row, col]), abs(stage.input) + 1)


@pytest.mark.parametrize("kinds", [("conv",), ("bn", "act", "pool")])
def test_every_number_of_a_unit_is_the_forward_pass_s_own(traced, kinds):
    model, x, run = traced
    rng = np.random.default_rng(4)
    checked = 0
    for position, record in enumerate(run.records):
        if record.kind not in kinds or record.output.ndim != 3:
            continue
        channels, height, width = record.output.shape
        for _ in range(UNITS_PER_LAYER):
            channel, row, col = (int(rng.integers(n)) for n in (channels, height, width))
            math = explain_unit(run, record.layer, channel, row, col)
            conv = run.record(math.layer)
            # The windows are the conv's real input, read at the taps the geometry names (0 on padding).
            for term in math.terms:
                for i in range(term.window.shape[0]):
                    for j in range(term.window.shape[1]):
                        r = math.origin[0] + i * math.dilation[0]
                        c = math.origin[1] + j * math.dilation[1]
                        inside = 0 <= r < conv.input.shape[1] and 0 <= c < conv.input.shape[2]
                        assert term.padding[i, j] == (not inside)
                        assert term.window[i, j] == (conv.input[term.channel, r, c] if inside else 0)
                assert np.array_equal(term.weights, conv.module.weight[channel, term.channel].detach().numpy())
            scale = sum(float(np.abs(t.products).sum()) for t in math.terms) + abs(math.bias)
            assert close(math.value, float(conv.output[(channel, *math.position)]), scale)
            assert math.value == math.total + math.bias
            for stage in math.stages:
                check_stage(stage, run.record(stage.layer), channel)
            # The unit asked for is on the path: the conv's own, or the stage of the clicked layer.
            if record.kind == "conv":
                assert math.position == (row, col)
            elif math.dropped_by is None or record.layer in [s.layer for s in math.stages]:
                (asked,) = [s for s in math.stages if s.layer == record.layer]
                assert asked.position == (row, col)
            checked += 1
    assert checked > 0


def test_every_dense_unit_and_the_softmax_are_the_forward_pass_s_own(traced):
    model, x, run = traced
    rng = np.random.default_rng(5)
    layers = dense_layers(run)
    assert layers
    for layer in layers:
        record = run.record(layer)
        for unit in rng.choice(record.output.shape[0], size=min(8, record.output.shape[0]), replace=False):
            math = dense_unit(run, layer, int(unit))
            assert np.array_equal(math.inputs, record.input.reshape(-1))
            scale = float(np.abs(math.products).sum()) + abs(math.bias)
            assert close(math.value, float(record.output[unit]), scale)
            if math.activation is not None:
                after = run.records[run.index(layer) + 1]
                assert after.layer == math.activation.layer
                assert close(math.activation.value, float(after.output[unit]), abs(math.value) + 1)
    with torch.no_grad():
        logits = model.eval()(x)[0]
    assert np.array_equal(run.logits, logits.numpy())
    soft = softmax_math(run.logits)
    assert np.allclose(soft.probabilities, torch.softmax(logits.double(), 0).numpy(), rtol=0, atol=1e-12)
    assert soft.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    assert soft.top == int(logits.argmax())


# --- by hand -------------------------------------------------------------------------------------------------

# A 3x3 two-channel input, one 2x2 conv with padding 1 (3 -> 4), ReLU, 2x2 max pooling (4 -> 2).
HAND = ModelConfig(blocks=(ConvBlock(1, kernel_size=2, padding=1, pool="max", pool_size=2),), hidden=(),
                   in_channels=2, input_size=3, num_classes=2)


@pytest.fixture(scope="module")
def hand():
    model = build_model(HAND, seed=0)
    conv = model.features[0]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1., 2.], [3., 4.]], [[-1., 0.], [0., 1.]]]]))  # (1, 2, 2, 2)
        conv.bias.fill_(-6.0)
    x = torch.stack([torch.arange(1., 10.).reshape(3, 3), torch.ones(3, 3)])[None]  # (1, 2, 3, 3)
    return trace(model, x)


def test_a_corner_unit_by_hand(hand):
    math = explain_unit(hand, "conv1", 0, 0, 0)
    # The window starts one row and one column up and left, on padding: only the input's (0, 0) is inside.
    assert math.origin == (-1, -1) and math.source == "input"
    first, second = math.terms
    assert first.window.tolist() == [[0, 0], [0, 1]] and first.padding.tolist() == [[True, True], [True, False]]
    assert first.partial == 4.0  # 1 × 4
    assert second.window.tolist() == [[0, 0], [0, 1]] and second.partial == 1.0  # 1 × 1
    assert (math.total, math.bias, math.value) == (5.0, -6.0, -1.0)
    relu, pool = math.stages
    assert isinstance(relu, ActivationStage) and (relu.function, relu.input, relu.value) == ("relu", -1.0, 0.0)
    # conv1's top-left 2x2 after ReLU: (5 − 6, 12 − 6, 19 − 6, 37 − 6) -> 0, 6, 13, 31; the max is the last.
    assert isinstance(pool, PoolStage) and pool.window.tolist() == [[0, 6], [13, 31]]
    assert (pool.source, pool.winner, pool.value, pool.position) == ((0, 0), (1, 1), 31.0, (0, 0))
    assert math.final == 31.0 and math.clicked == "conv1"


def test_a_pooled_unit_takes_apart_its_winner(hand):
    math = explain_unit(hand, "pool1", 0, 0, 0)
    assert math.position == (1, 1) and math.clicked == "pool1"  # the winner of the window
    assert [term.partial for term in math.terms] == [37.0, 0.0]  # 1·1 + 2·2 + 4·3 + 5·4, and 1·(−1) + 1·1
    assert math.value == 31.0 and math.final == 31.0


def test_batch_norm_by_hand():
    cfg = ModelConfig(blocks=(ConvBlock(1, kernel_size=1, padding=0, batch_norm=True, pool="none"),), hidden=(),
                      input_size=2, num_classes=2)
    model = build_model(cfg, seed=0)
    conv, bn = model.features[0], model.features[1]
    with torch.no_grad():
        conv.weight.fill_(2.0)
        conv.bias.fill_(1.0)
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(4.0 - bn.eps)  # √(var + eps) = 2
        bn.weight.fill_(10.0)
        bn.bias.fill_(0.5)
    math = explain_unit(trace(model, torch.full((1, 1, 2, 2), 4.0)), "act1", 0, 1, 1)
    norm, relu = math.stages
    assert math.value == 9.0  # 4 × 2 + 1
    assert isinstance(norm, BatchNormStage) and norm.value == pytest.approx(30.5)  # (9 − 3) / 2 × 10 + 0.5
    assert relu.value == pytest.approx(30.5)


def test_a_dense_unit_by_hand(hand):
    fc = hand.record("fc1").module
    saved = fc.weight.detach().clone(), fc.bias.detach().clone()
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1., -1., 2., 0.5], [0., 0., 0., 0.]]))
        fc.bias.copy_(torch.tensor([0.25, 0.0]))
    try:
        math = dense_unit(hand, "fc1", 0)
    finally:
        with torch.no_grad():
            fc.weight.copy_(saved[0])
            fc.bias.copy_(saved[1])
    assert math.source == "flatten1" and math.inputs.tolist() == [31.0, 41.0, 61.0, 71.0]  # pool1, flattened
    assert math.products.tolist() == [31.0, -41.0, 122.0, 35.5]
    assert (math.total, math.value) == (147.5, 147.75)
    assert math.activation is None and math.final == 147.75  # the classifier has no ReLU after it
    assert math.largest(2).tolist() == [2, 1]  # 122 and −41


def test_softmax_by_hand():
    soft = softmax_math(np.log([1.0, 3.0]))
    assert soft.shift == 0.0
    assert soft.exponentials.tolist() == pytest.approx([1.0, 3.0])
    assert soft.total == pytest.approx(4.0) and soft.probabilities.tolist() == pytest.approx([0.25, 0.75])
    big = softmax_math(np.array([100.0, 101.0]))  # e^101 reads badly: shifted by the largest, same ratios
    assert big.shift == 101.0 and big.exponentials[1] == 1.0
    assert big.probabilities.tolist() == pytest.approx(torch.softmax(torch.tensor([100.0, 101.0]), 0).tolist())


# --- refusals and no side effects ----------------------------------------------------------------------------

@pytest.mark.parametrize("layer, channel, row, col, message", [
    ("conv9", 0, 0, 0, "no layer 'conv9'"), ("conv1", 1, 0, 0, "channel must be an int in \\[0, 0\\]"),
    ("conv1", 0, 4, 0, "row must be"), ("pool1", 0, 0, -1, "col must be"), ("fc1", 0, 0, 0, "has no maps"),
])
def test_bad_units_are_refused(hand, layer, channel, row, col, message):
    with pytest.raises(ValueError, match=message):
        explain_unit(hand, layer, channel, row, col)


def test_bad_dense_units_and_logits_are_refused(hand):
    with pytest.raises(ValueError, match="conv1 is not a Linear layer"):
        dense_unit(hand, "conv1", 0)
    with pytest.raises(ValueError, match="unit must be an int in \\[0, 1\\]"):
        dense_unit(hand, "fc1", 2)
    with pytest.raises(ValueError, match="two finite logits"):
        softmax_math(np.array([1.0, np.nan]))


def test_a_trace_leaves_the_model_as_it_was():
    model = build_model(NETWORK_PRESETS["tiny"], seed=0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace(model, torch.zeros(1, 1, 28, 28))
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_module_example_runs():
    import doctest

    from cnnviz.analysis import unit_math
    assert doctest.testmod(unit_math).failed == 0
