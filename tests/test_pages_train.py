"""The Train page's state (conv blocks in links, old links included, and the default it starts from) and its
computation (the network's summary, a run's evaluation panels, the mistakes in order)."""
import numpy as np
import pytest

from cnnviz.errors import UserError
from cnnviz.model import NETWORK_PRESETS, CapError, ConvBlock
from cnnviz.pages.train import GALLERY_SHOWN, BlocksCodec, TrainPageState, evaluation, misclassified, summary
from cnnviz.training.config import TrainConfig
from cnnviz.training.loop import EvalResult


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


# --- computation -------------------------------------------------------------------------------------------

def test_misclassified_lists_the_most_confident_mistakes_first():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    labels = np.array([0, 0, 1, 1, 1])
    # Wrong: 1 (says 1 at 0.8), 2 (says 0 at 0.6), 4 (says 0 at 0.55).
    assert misclassified(probabilities, labels).tolist() == [1, 2, 4]
    assert misclassified(probabilities[:1], labels[:1]).tolist() == []
    with pytest.raises(ValueError, match="labels"):
        misclassified(probabilities, labels[:3])


def test_equal_confidences_keep_test_set_order():
    probabilities = np.array([[0.2, 0.8], [0.8, 0.2], [0.2, 0.8], [0.8, 0.2], [0.95, 0.05]] * 40)
    labels = np.array([0, 1, 0, 1, 1] * 40)
    # Every mistake but the 0.95 ones is at 0.8: a sort that is not stable may shuffle them.
    wrong = misclassified(probabilities, labels)
    assert wrong[:40].tolist() == list(range(4, 200, 5))
    assert wrong[40:].tolist() == [i for i in range(200) if i % 5 < 4]


def test_the_summary_lists_the_tutorials_rows_named_by_block():
    network = summary(TrainPageState().with_preset("four_conv"))
    assert network.names == ("conv1", "conv2", "pool2", "conv3", "conv4", "pool4", "flatten", "fc1", "fc2", "fc3")
    assert [row.params for row in network.rows] == [160, 4640, 0, 18496, 73856, 0, 0, 2098176, 131200, 1290]
    assert (network.table.total_params, network.table.total_macs) == (2_327_818, 11_542_848)
    default = summary(TrainPageState())  # pooling first: the pool comes before BatchNorm
    assert default.names == ("conv1", "pool1", "bn1", "conv2", "pool2", "bn2", "flatten", "fc1", "fc2")
    assert [row.output_shape for row in default.rows][:3] == [(16, 24, 24), (16, 12, 12), (16, 12, 12)]


def test_the_summary_refuses_a_network_or_batch_the_server_cannot_train():
    with pytest.raises(UserError, match="block 3"):
        summary(TrainPageState(blocks=(ConvBlock(8, 9, 0),) * 3))  # 28 -> 20 -> 10 -> 2 -> 1 -> no room for a 9x9
    with pytest.raises(CapError, match="batches of 512"):
        wide = (ConvBlock(128, batch_norm=True, pool="none"),) * 2  # 501,786 outputs per image: 1,960 MB at 512
        summary(TrainPageState(blocks=wide, hidden=(16,), batch_size=512))


def test_evaluation_panels_by_hand():
    probabilities = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.45, 0.55]])
    labels = np.array([0, 0, 1, 1])
    result = EvalResult(loss=0.5, accuracy=0.5, predictions=probabilities.argmax(axis=1), probabilities=probabilities)
    panels = evaluation(result, labels)
    assert (panels.accuracy, panels.loss, panels.wrong) == (0.5, 0.5, 2)
    assert panels.matrix[:2, :2].tolist() == [[1, 1], [1, 1]] and panels.matrix.sum() == 4  # counts[true, predicted]
    assert panels.gallery.tolist() == [2, 1]  # the 0.9 mistake first
    many = np.tile([[0.9, 0.1]], (GALLERY_SHOWN + 5, 1))
    assert len(evaluation(EvalResult(1.0, 0.0, many.argmax(axis=1), many), np.ones(len(many), int)).gallery) == \
        GALLERY_SHOWN
