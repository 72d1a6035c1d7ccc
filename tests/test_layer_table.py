"""The one layer table: rows read from the module by hooks, totals summed once, the same on the meta device."""
import pytest
import torch
from torch import nn

from cnnviz.analysis.layer_table import (LayerRow, LayerTable, count_text, field_text, layer_table, millions_text,
                                         shape_text)
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model, summarize

CONFIGS = {
    **NETWORK_PRESETS,
    "tanh_avg": ModelConfig(blocks=[ConvBlock(4, 5, 0, 1, "tanh", False, "avg", 2)], hidden=()),
    "strided": ModelConfig(blocks=[ConvBlock(8, 3, 1, 2, "gelu", True, "none")] * 3
                           + [ConvBlock(6, 1, 0, 1, "leaky_relu", False, "max", 3)], hidden=(16,), dropout=0.3),
}

# Hand-computed (params, MACs): a conv has C_out·(C_in·k² + 1) parameters and C_out·H·W·C_in·k² MACs, a linear
# layer out·(in + 1) and out·in, BatchNorm 2·C and no MACs.
BY_HAND = {
    # conv1 32·(9+1), 32·28·28·9; conv2 64·(32·9+1), 64·14·14·288; fc1 64·(3136+1), 64·3136; fc2 10·65, 640
    "classic": (320 + 18_496 + 200_768 + 650, 225_792 + 3_612_672 + 200_704 + 640),
    # conv1 16·(25+1), 16·24·24·25; bn1 32; conv2 32·(144+1), 32·10·10·144; bn2 64; fc1 128·801; fc2 10·129
    "default": (416 + 32 + 4_640 + 64 + 102_528 + 1_290, 230_400 + 460_800 + 102_400 + 1_280),
    # conv1 8·10, 8·784·9; conv2 16·(72+1), 16·196·72; fc1 32·(784+1), 32·784; fc2 10·33, 320
    "tiny": (80 + 1_168 + 25_120 + 330, 56_448 + 225_792 + 25_088 + 320),
    # convs 32·10, 64·289, 64·577 at 26², 11², 3²; fc 64·577, 64·576; fc 10·65, 640
    "keras": (320 + 18_496 + 36_928 + 36_928 + 650, 194_688 + 2_230_272 + 331_776 + 36_864 + 640),
    # convs 16·10, 32·145, 64·289, 128·577 at 26², 24², 10², 8²; fcs 1024·2049, 128·1025, 10·129
    "four_conv": (160 + 4_640 + 18_496 + 73_856 + 2_098_176 + 131_200 + 1_290,
                  97_344 + 2_654_208 + 1_843_200 + 4_718_592 + 2_097_152 + 131_072 + 1_280),
}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_every_preset_by_hand(name):
    table = summarize(NETWORK_PRESETS[name])
    assert (table.total_params, table.total_macs) == BY_HAND[name]
    assert table.total_params == sum(row.params for row in table.rows)
    assert table.total_macs == sum(row.macs for row in table.rows)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_row_counts_what_torch_counts(name):
    model = build_model(CONFIGS[name], seed=0)
    modules = dict(model.named_modules())
    table = layer_table(model, (1, 28, 28))
    assert [row.name for row in table.rows] == [n for n, m in model.named_modules() if not list(m.children())]
    for row in table.rows:
        assert row.params == sum(p.numel() for p in modules[row.name].parameters()), row.name
        assert row.type_name == type(modules[row.name]).__name__
    assert table.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_meta_network_gives_the_real_networks_table(name):
    cfg = CONFIGS[name]
    assert summarize(cfg) == layer_table(build_model(cfg, seed=0), (1, 28, 28))


def test_the_meta_table_holds_no_weights_and_the_real_model_is_left_as_it_was():
    model = build_model(NETWORK_PRESETS["default"], seed=0)
    model.train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    layer_table(model, (1, 28, 28))
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    for name, tensor in model.state_dict().items():  # BatchNorm's running statistics too: it ran in eval mode
        assert torch.equal(tensor, before[name]), name


def test_a_layer_table_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    table = layer_table(net, (3, 8, 8))
    assert table == LayerTable((
        LayerRow("0", "conv1", "conv", "Conv2d", (4, 8, 8), 4 * (27 + 1), 4 * 8 * 8 * 27, (3, 3)),
        LayerRow("1", "act1", "act", "ReLU", (4, 8, 8), 0, 0, None),
        LayerRow("2", "pool1", "pool", "MaxPool2d", (4, 4, 4), 0, 0, (4, 4)),
        LayerRow("3", "flatten1", "flatten", "Flatten", (64,), 0, 0, None),
        LayerRow("4", "fc1", "fc", "Linear", (5,), 5 * 65, 5 * 64, None),
    ), 112 + 325, 6912 + 320)


@pytest.mark.parametrize("shape", [(28, 28), (1, 0, 28), [1, 28, 28], (1, 28.0, 28), (True, 28, 28)])
def test_the_input_shape_is_checked(shape):
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\) of positive ints, got input_shape="):
        layer_table(nn.Conv2d(1, 1, 3), shape)


def test_only_modules_have_a_table():
    with pytest.raises(ValueError, match="model must be a torch nn.Module, got str"):
        layer_table("conv", (1, 28, 28))


def test_formatting_is_separate_from_the_rows():
    assert shape_text((32, 28, 28)) == "32 × 28 × 28" and shape_text((10,)) == "10"
    assert field_text((5, 7)) == "5 × 7" and field_text(None) == ""
    assert count_text(2_327_818) == "2,327,818"
    assert millions_text(11_542_848) == "11.54" and millions_text(794_880) == "0.79"


def test_the_meta_network_draws_no_random_numbers():
    # Net checks its caps on the meta network before it builds itself: that must not move the seeded weights.
    cfg = ModelConfig(blocks=[ConvBlock(5, 3, 1, pool="avg")], hidden=(9,))  # a config no other test has summarised
    torch.manual_seed(4)
    first = build_model(cfg)  # validate builds the meta network here, for the first time
    torch.manual_seed(4)
    again = build_model(cfg)  # and here reads it from its cache
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
