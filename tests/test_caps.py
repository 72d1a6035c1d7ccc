"""The server's caps on one network (cnnviz.model.LIMITS): every preset fits, anything over a cap is refused with a
message naming it, wherever the config comes from (the page, a link, a checkpoint, the command line), and no
weight is allocated to find out: the caps are read from the network built on the meta device."""
import dataclasses

import pytest
import torch

import cnnviz.export as export
from apptest_kit import page_state, run_page
from cnnviz.model import (LIMITS, NETWORK_PRESETS, CapError, ConvBlock, ModelConfig, check_batch,
                          estimate_activation_bytes, evaluation_batch, summarize)
from cnnviz.pages.train import BATCH_SIZES, TrainPageState
from cnnviz.training.cli import main
from cnnviz.training.config import TrainConfig, validate_run

# The issue's link: four 256-channel 9x9 blocks that keep the 28x28 size, then four FC layers of 4096: 888M parameters.
HUGE_BLOCKS = "_".join(["256.9.4.1.gelu.1.none.1"] * 4)
HUGE_LINK = {"net": "four_conv", "b": HUGE_BLOCKS, "fc": "4096,4096,4096,4096"}
HUGE = ModelConfig(blocks=(ConvBlock(256, 9, 4, 1, "gelu", True, "none", 1),) * 4, hidden=(4096,) * 4)


@pytest.mark.parametrize("name", list(NETWORK_PRESETS))
def test_every_preset_fits_the_caps_at_the_largest_batch(name):
    validate_run(NETWORK_PRESETS[name], TrainConfig(batch_size=BATCH_SIZES[-1]))


def test_activation_memory_by_hand():
    # classic: conv1 32x28x28, pool1 32x14x14, conv2 64x14x14, pool2 64x7x7, flatten 3136, fc1 64, fc2 10
    elements = 25088 + 6272 + 12544 + 3136 + 3136 + 64 + 10
    assert estimate_activation_bytes(NETWORK_PRESETS["classic"], 1) == 2 * 4 * elements == 402_000
    assert estimate_activation_bytes(NETWORK_PRESETS["classic"], 64) == 64 * 402_000


@pytest.mark.parametrize(("cfg", "match"), [
    (ModelConfig(blocks=(ConvBlock(257),)), r"block 1: channels can be at most 256 \(the server's cap\), got channels=257"),
    (ModelConfig(blocks=(ConvBlock(8, 11, 5),)), r"kernel_size can be at most 9 .*got kernel_size=11"),
    (ModelConfig(hidden=(64, 4097)), r"hidden FC layer 2 can be at most 4096 wide .*got 4097"),
    (ModelConfig(input_size=10**9), r"input_size can be at most 64 .*got input_size=1000000000"),
    (HUGE, r"888,421,642 parameters, over the server's cap of 20,000,000"),
    # 256x784x9 + 2x(256x784x256x9) + 10x200704 = 928,657,408 multiply-accumulates
    (ModelConfig(blocks=(ConvBlock(256, 3, 1, pool="none"),) * 3, hidden=()),
     r"needs 929 million multiply-accumulates per image, over the server's cap of 300 million"),
])
def test_a_config_over_a_cap_is_refused_naming_it(cfg, match):
    with pytest.raises(CapError, match=match):
        cfg.validate()
    with pytest.raises(CapError, match=match):
        summarize(cfg)


def test_checking_the_caps_allocates_no_weight(monkeypatch):
    built = []

    def record(real):
        def init(self, *args, **kwargs):
            real(self, *args, **kwargs)
            built.append(self.weight.device.type)
        return init

    monkeypatch.setattr(torch.nn.Linear, "__init__", record(torch.nn.Linear.__init__))
    monkeypatch.setattr(torch.nn.Conv2d, "__init__", record(torch.nn.Conv2d.__init__))
    fresh = dataclasses.replace(HUGE, num_classes=11)  # one no other test checks: tables are cached per config
    with pytest.raises(CapError, match="parameters"):
        fresh.validate()
    assert built == ["meta"] * 9  # HUGE's 4 convs and 5 linear layers, every weight on the meta device
    assert summarize(NETWORK_PRESETS["four_conv"]).total_params == 2_327_818


def test_activation_memory_depends_on_the_batch():
    cfg = NETWORK_PRESETS["four_conv"]
    check_batch(cfg, 512)
    # 53,706 outputs per image (summarize), twice, 4 bytes each, 4096 images: 1,678 MB
    with pytest.raises(CapError, match=r"batches of 4096 needs about 1,678 MB .* cap of 1,024 MB"):
        check_batch(cfg, 4096)
    with pytest.raises(CapError, match="batches of 4096"):
        validate_run(cfg, TrainConfig(batch_size=4096))


def test_evaluation_batches_keep_within_the_cap():
    assert evaluation_batch(NETWORK_PRESETS["four_conv"]) == 1000  # 215 KB per image: the usual batch
    wide = ModelConfig(blocks=(ConvBlock(128, 3, 1, batch_norm=True, pool="none"),) * 2, hidden=(16,))
    validate_run(wide, TrainConfig(batch_size=128))
    # 501,786 outputs per image, once each without a backward: 2,007,144 bytes, so 534 images in 1 GiB
    assert evaluation_batch(wide) == 534


def test_the_exported_code_never_allocates_weights(monkeypatch):
    """A network just inside the caps (19M parameters, 76 MB of float32) is described without a byte of weights."""
    cfg = ModelConfig(blocks=(ConvBlock(16), ConvBlock(32)), hidden=(4096, 2900))
    params = summarize(cfg).total_params
    assert 18_000_000 < params <= LIMITS.max_params
    built = []
    real_build = export.build_model
    monkeypatch.setattr(export, "build_model", lambda *args, **kwargs: built.append(real_build(*args, **kwargs)) or built[-1])
    code = export.pytorch_code(cfg, TrainConfig())
    assert f"{params:,} trainable parameters" in code and "nn.Linear(in_features=1568, out_features=4096" in code
    assert [p.device.type for p in built[0].parameters()] == ["meta"] * 10  # 5 layers, weight and bias


def test_a_link_over_a_cap_shows_the_preset_and_says_so():
    state, ignored = TrainPageState.from_query(HUGE_LINK)
    assert ignored == ["b", "fc"]
    assert state.model_config == NETWORK_PRESETS["four_conv"]


def test_a_link_over_the_memory_cap_at_its_rounded_batch_lists_every_key():
    wide = "_".join(["128.3.1.1.relu.1.none.1"] * 2)  # fits a batch of 256, not 512
    state, ignored = TrainPageState.from_query({"b": wide, "fc": "16", "bs": "500"})
    assert ignored == ["bs", "b", "fc"] and state.batch_size == 512
    assert state.model_config == NETWORK_PRESETS["default"]


def test_the_issues_link_is_answered_with_the_cap(monkeypatch):
    real_build = export.build_model

    def on_meta_only(*args, **kwargs):
        assert torch.get_default_device().type == "meta", "the page built real weights"
        return real_build(*args, **kwargs)

    monkeypatch.setattr(export, "build_model", on_meta_only)
    app = run_page("train", query=HUGE_LINK)
    assert any("could not be used" in w.value and "b, fc" in w.value for w in app.warning)
    assert any("too big for this server" in e.value and "888,421,642 parameters, over the server's cap of 20,000,000"
               in e.value for e in app.error)
    assert page_state(app, "train").model_config == NETWORK_PRESETS["four_conv"]
    assert not app.button(key="train_start").disabled  # the preset in its place can train


def test_the_page_refuses_a_batch_over_the_memory_cap():
    wide = "_".join(["128.3.1.1.relu.1.none.1"] * 2)  # two 128-channel blocks at full size: 4 MB per image
    app = run_page("train", query={"b": wide, "fc": "16", "bs": "16"})
    assert not app.error and not app.button(key="train_start").disabled
    app.select_slider(key="train_batch").set_value(512).run()
    assert "cannot be built" in app.error[0].value and "batches of 512" in app.error[0].value
    assert app.button(key="train_start").disabled


def test_the_command_line_refuses_a_batch_over_the_cap(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--preset", "four_conv", "--batch-size", "100000"])
    assert exited.value.code == 2
    assert "batches of 100000 needs about" in capsys.readouterr().err
