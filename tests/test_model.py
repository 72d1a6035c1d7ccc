"""Model configs: shapes from summarize() equal a real forward pass; parameter counts are exact."""
import dataclasses
import json

import pytest
import torch

from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model, first_conv_weight, preset, summarize

CONFIGS = [
    *NETWORK_PRESETS.values(),
    ModelConfig(blocks=[ConvBlock(4, 5, 0, 1, "tanh", False, "avg", 2)], hidden=()),
    ModelConfig(blocks=[ConvBlock(8, 3, 1, 2, "gelu", True, "none")] * 3 + [ConvBlock(6, 1, 0, 1, "leaky_relu", False, "max", 3)],
                hidden=(16,), dropout=0.3),
    ModelConfig(blocks=[ConvBlock(4, 3, 0, pool="none")], hidden=(12, 7, 5), dropout=0.1),
    ModelConfig(blocks=[ConvBlock(6, 5, 0, batch_norm=True, pool_first=True), ConvBlock(4, pool="avg", pool_first=True)]),
]


def test_classic_parameter_count_by_hand():
    rows = {r.layer: r for r in summarize(NETWORK_PRESETS["classic"]).rows}
    # conv1 32*(1*9+1), conv2 64*(32*9+1), fc1 64*(3136+1), fc2 10*(64+1)
    assert [rows[n].params for n in ("conv1", "conv2", "fc1", "fc2")] == [320, 18496, 200768, 650]
    assert sum(r.params for r in rows.values()) == 220234
    assert rows["flatten1"].output_shape == (3136,)
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
    expected = [r.output_shape for r in summarize(cfg).rows if r.kind in ("conv", "bn", "pool")]
    assert shapes == expected
    assert summarize(cfg).total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cfg", CONFIGS)
def test_config_round_trips_through_json(cfg):
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_presets_cannot_be_changed_by_accident():
    import dataclasses

    cfg = preset("classic")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.blocks[0].channels = 3
    changed = dataclasses.replace(cfg, hidden=(8,))
    assert changed.hidden == (8,) and NETWORK_PRESETS["classic"].hidden == (64,)


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
        (ModelConfig(blocks=[ConvBlock(pool_first="yes")]), "block 1: pool_first must be True or False, got 'yes'"),
        (ModelConfig(hidden=-1), "hidden FC layer 1 needs a width of at least 1 .*, got -1"),
        (ModelConfig(hidden=(1024, 0)), "hidden FC layer 2 needs a width of at least 1 .*, got 0"),
        (ModelConfig(hidden=(64, 2.5)), "layer 2 .*, got 2.5"),
        (ModelConfig(hidden=(True,)), "layer 1 .*, got True"),
        (ModelConfig(hidden="1024,128"), r"hidden must be a list of FC layer widths .*, got '1024,128'"),
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
    rows = [(r.layer, r.output_shape) for r in summarize(cfg).rows]
    assert rows[:3] == [("conv1", (6, 24, 24)), ("pool1", (6, 12, 12)), ("bn1", (6, 12, 12))]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_max_pooling_and_a_rising_activation_commute(activation):
    # Without BatchNorm, pooling first computes exactly what pooling last does, on a quarter of the numbers.
    last = ModelConfig(blocks=[ConvBlock(4, activation=activation), ConvBlock(6, activation=activation)], hidden=8)
    first = ModelConfig(blocks=[dataclasses.replace(b, pool_first=True) for b in last.blocks], hidden=8)
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(build_model(first, seed=1)(x), build_model(last, seed=1)(x))


def _rows(name):
    return {row.layer: row for row in summarize(NETWORK_PRESETS[name]).rows if row.kind != "act"}


def test_keras_guide_net_has_the_guides_93322_parameters():
    rows = _rows("keras")
    # conv 32*(1*9+1), conv 64*(32*9+1), conv 64*(64*9+1); 3x3x64 = 576 features; dense 64*(576+1), dense 10*(64+1)
    assert [rows[n].params for n in ("conv1", "conv2", "conv3", "fc1", "fc2")] == [320, 18496, 36928, 36928, 650]
    assert sum(r.params for r in rows.values()) == 93_322  # the Keras guide's model.summary(): "Total params: 93,322"
    # "valid" 3x3 convolutions take 2 off each side's length; 2x2 pooling halves it, rounding down.
    assert [(name, row.output_shape) for name, row in rows.items()] == [
        ("conv1", (32, 26, 26)), ("pool1", (32, 13, 13)), ("conv2", (64, 11, 11)), ("pool2", (64, 5, 5)),
        ("conv3", (64, 3, 3)), ("flatten1", (576,)), ("fc1", (64,)), ("fc2", (10,))]


def test_four_conv_net_parameters_by_hand():
    rows = _rows("four_conv")
    convs = [16 * (1 * 9 + 1), 32 * (16 * 9 + 1), 64 * (32 * 9 + 1), 128 * (64 * 9 + 1)]
    assert convs == [160, 4640, 18496, 73856]
    fcs = [1024 * (128 * 4 * 4 + 1), 128 * (1024 + 1), 10 * (128 + 1)]
    assert fcs == [2098176, 131200, 1290]
    assert [rows[f"conv{i}"].params for i in range(1, 5)] == convs
    assert [rows[f"fc{i}"].params for i in range(1, 4)] == fcs
    assert sum(r.params for r in rows.values()) == sum(convs) + sum(fcs) == 2_327_818
    assert [(name, row.output_shape) for name, row in rows.items()] == [
        ("conv1", (16, 26, 26)), ("conv2", (32, 24, 24)), ("pool1", (32, 12, 12)), ("conv3", (64, 10, 10)),
        ("conv4", (128, 8, 8)), ("pool2", (128, 4, 4)), ("flatten1", (2048,)), ("fc1", (1024,)), ("fc2", (128,)),
        ("fc3", (10,))]
    assert rows["fc1"].macs == 2048 * 1024


@pytest.mark.parametrize("name", sorted(NETWORK_PRESETS))
def test_every_preset_counts_what_torch_counts_layer_by_layer(name):
    cfg = NETWORK_PRESETS[name]
    model = build_model(cfg)
    linears = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [*cfg.hidden, 10]
    fc_rows = [r for r in summarize(cfg).rows if r.kind == "fc"]
    assert [r.params for r in fc_rows] == [sum(p.numel() for p in m.parameters()) for m in linears]
    x = torch.zeros(3, 1, 28, 28)
    for linear, row in zip(linears, fc_rows):  # each FC layer's output shape, from a real forward pass
        x_shape = []
        hook = linear.register_forward_hook(lambda _m, _i, out, seen=x_shape: seen.append(tuple(out.shape)))
        try:
            model(x)
        finally:
            hook.remove()
        assert x_shape == [(3, *row.output_shape)]


def test_several_hidden_layers_each_get_a_relu_and_dropout_comes_last():
    model = build_model(ModelConfig(blocks=(ConvBlock(4),), hidden=(32, 16), dropout=0.5))
    kinds = [type(m).__name__ for m in model.classifier]
    assert kinds == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Dropout", "Linear"]


@pytest.mark.parametrize(("old", "widths"), [(64, (64,)), (0, ()), (1024, (1024,))])
def test_old_configs_with_one_hidden_int_still_load(old, widths):
    data = ModelConfig(blocks=(ConvBlock(8),)).to_dict()
    data["hidden"] = old  # a config saved before hidden became a list
    cfg = ModelConfig.from_dict(data)
    assert cfg.hidden == widths and cfg == ModelConfig(blocks=(ConvBlock(8),), hidden=list(widths))
    assert ModelConfig(hidden=old) == ModelConfig(hidden=widths)
    assert cfg.to_dict()["hidden"] == list(widths)  # and it is saved in the new form


@pytest.mark.parametrize("old", [64, 0])
def test_old_checkpoints_with_one_hidden_int_still_load(old):
    import io

    from cnnviz.training.checkpoints import load_checkpoint, save_checkpoint

    cfg = ModelConfig(blocks=(ConvBlock(4),), hidden=old)
    model = build_model(cfg, seed=1)
    payload = torch.load(io.BytesIO(save_checkpoint(model, cfg)), weights_only=True)
    payload["model_config"]["hidden"] = old  # exactly what a checkpoint from before the change holds
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded, loaded_cfg, _ = load_checkpoint(buffer.getvalue())
    assert loaded_cfg.hidden == ((old,) if old else ())
    for name, tensor in model.state_dict().items():  # the same layer names as before: the weights load as they are
        assert torch.equal(loaded.state_dict()[name], tensor), name
    # The old names: Flatten is classifier.0, so the output layer is classifier.3 after Linear + ReLU, else .1.
    assert ("classifier.3.weight" in model.state_dict()) == bool(old)
