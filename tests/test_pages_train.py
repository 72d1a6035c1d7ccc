"""The Train page's state: conv blocks in links, old links included, and the default it starts from."""
import pytest

from cnnviz.model import NETWORK_PRESETS, ConvBlock
from cnnviz.pages.train import BlocksCodec, TrainPageState
from cnnviz.training.config import TrainConfig


def test_blocks_round_trip_with_and_without_pooling_first():
    blocks = (ConvBlock(16, 5, 0, batch_norm=True, pool_first=True), ConvBlock(32, 3, 1, 2, "gelu", False, "avg", 3))
    text = BlocksCodec().format(blocks)
    assert text == "16.5.0.1.relu.1.max.2.first_32.3.1.2.gelu.0.avg.3"
    assert BlocksCodec().parse(text) == blocks


def test_a_link_from_before_pooling_first_keeps_its_meaning():
    assert BlocksCodec().parse("32.3.1.1.relu.0.max.2") == (ConvBlock(32),)


@pytest.mark.parametrize("text", ["32.3.1.1.relu.0.max.2.last", "32.3.1.1.relu.0.max.2.first.x", "32.3.1.1.relu.0.max"])
def test_malformed_blocks_are_refused(text):
    with pytest.raises(ValueError, match="is not a conv block"):
        BlocksCodec().parse(text)


def test_the_page_starts_from_the_default_recipe():
    state = TrainPageState()
    assert state.model_config == NETWORK_PRESETS["default"]
    assert state.train_config == TrainConfig(eval_every=100)  # the CLI's defaults, plus the page's quick evaluations
    assert TrainPageState.from_query(state.to_query()) == (state, [])
