"""Model configs: shapes from summarize() equal a real forward pass; parameter counts are exact."""
import dataclasses
import json

import pytest
import torch

from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model, first_conv_weight, preset, summarize

CONFIGS = [
    NETWORK_PRESETS["classic"], NETWORK_PRESETS["default"], NETWORK_PRESETS["tiny"],
    ModelConfig(blocks=[ConvBlock(4, 5, 0, 1, "tanh", False, "avg", 2)], hidden=0),
    ModelConfig(blocks=[ConvBlock(8, 3, 1, 2, "gelu", True, "none")] * 3 + [ConvBlock(6, 1, 0, 1, "leaky_relu", False, "max", 3)],
                hidden=16, dropout=0.3),
    ModelConfig(blocks=[ConvBlock(6, 5, 0, batch_norm=True, pool_first=True), ConvBlock(4, pool="avg", pool_first=True)]),
]


def test_classic_parameter_count_by_hand():
    rows = {r.name: r for r in summarize(NETWORK_PRESETS["classic"])}
    # conv1 32*(1*9+1), conv2 64*(32*9+1), fc1 64*(3136+1), fc2 10*(64+1)
    assert [rows[n].params for n in ("conv1", "conv2", "fc1", "fc2")] == [320, 18496, 200768, 650]
    assert sum(r.params for r in rows.values()) == 220234
    assert rows["flatten"].output_shape == (3136,)
    assert rows["conv1"].macs == 32 * 28 * 28 * 9


@pytest.mark.parametrize("cfg", CONFIGS)
def test_summary_matches_forward_pass(cfg):
    model = build_model(cfg)
    x = torch.zeros(2, 1, 28, 28)
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
             for m in model.features if not isinstance(m, (torch.nn.ReLU, torch.nn.Tanh, torch.nn.GELU, torch.nn.LeakyReLU))]
    try:
        assert model(x).shape == (2, 10)
    finally:
        for hook in hooks:
            hook.remove()
    expected = [r.output_shape for r in summarize(cfg) if r.name[:2] in ("co", "bn", "po")]
    assert shapes == expected
    assert sum(r.params for r in summarize(cfg)) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cfg", CONFIGS)
def test_config_round_trips_through_json(cfg):
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_presets_cannot_be_changed_by_accident():
    import dataclasses

    cfg = preset("classic")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.blocks[0].channels = 3
    changed = dataclasses.replace(cfg, hidden=8)
    assert changed.hidden == 8 and NETWORK_PRESETS["classic"].hidden == 64


def test_first_conv_weight():
    weight = first_conv_weight(build_model(NETWORK_PRESETS["classic"]))
    assert weight.shape == (32, 1, 3, 3) and not weight.requires_grad


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (ModelConfig(blocks=[]), "1 to 4 conv blocks, got 0"),
        (ModelConfig(blocks=[ConvBlock()] * 5), "got 5"),
        (ModelConfig(blocks=[ConvBlock(activation="swish")]), "block 1: activation"),
        (ModelConfig(blocks=[ConvBlock(channels=0)]), "block 1: channels must be an int of at least 1, got channels=0"),
        (ModelConfig(blocks=[ConvBlock(kernel_size=3, padding=0, pool="max")] * 4), "block 4 shrinks the 1x1 input to nothing"),
        (ModelConfig(dropout=1.0), "dropout=1.0"),
        (ModelConfig(hidden=-1), "hidden=-1"),
        (ModelConfig(blocks=[ConvBlock(pool_first="yes")]), "block 1: pool_first must be True or False, got 'yes'"),
    ],
)
def test_invalid_configs_name_the_problem(cfg, match):
    with pytest.raises(ValueError, match=match):
        cfg.validate()


def test_unknown_preset():
    with pytest.raises(ValueError, match="'huge'"):
        preset("huge")


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    cfg = preset("tiny")
    state = torch.random.get_rng_state()
    first, second, other = build_model(cfg, seed=5), build_model(cfg, seed=5), build_model(cfg, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    assert not torch.equal(first_conv_weight(first), first_conv_weight(other))


def test_pooling_first_orders_the_block_and_shrinks_what_batchnorm_sees():
    cfg = ModelConfig(blocks=[ConvBlock(6, 5, 0, batch_norm=True, pool_first=True)], hidden=0)
    kinds = [type(m).__name__ for m in build_model(cfg).features]
    assert kinds == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    rows = [(r.name, r.output_shape) for r in summarize(cfg)]
    assert rows[:3] == [("conv1", (6, 24, 24)), ("pool1", (6, 12, 12)), ("bn1", (6, 12, 12))]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_max_pooling_and_a_rising_activation_commute(activation):
    # Without BatchNorm, pooling first computes exactly what pooling last does, on a quarter of the numbers.
    last = ModelConfig(blocks=[ConvBlock(4, activation=activation), ConvBlock(6, activation=activation)], hidden=8)
    first = ModelConfig(blocks=[dataclasses.replace(b, pool_first=True) for b in last.blocks], hidden=8)
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(build_model(first, seed=1)(x), build_model(last, seed=1)(x))
