"""Look inside's network view without Streamlit: its state in the URL, the overview's columns and clicks, and what
``compute`` gives it (numbers held against the page's own forward pass)."""
import numpy as np
import pytest

from cnnviz.analysis import receptive_field
from cnnviz.analysis.digits import prepare_digit
from cnnviz.data import load_mnist
from cnnviz.figures import overview
from cnnviz.figures.overview import Column
from cnnviz.model import ConvBlock, ModelConfig, build_model
from cnnviz.pages.drill import overview_columns, resolve_drill
from cnnviz.pages.inspector import INPUT_SHAPE, InspectorState, compute, describe, mnist_digit, resolve

# Two padded 3x3 blocks with BatchNorm, as tests/test_pages_inspector.py uses: 28 -> 14 -> 7, then 64 and 10.
PADDED = ModelConfig(blocks=(ConvBlock(16, batch_norm=True), ConvBlock(32, batch_norm=True)), hidden=64)
COLUMNS = ["input", "conv1", "act1", "pool1", "conv2", "act2", "pool2", "fc1", "fc2", "softmax"]


@pytest.fixture(scope="module")
def net():
    return build_model(PADDED, seed=0).eval()


@pytest.fixture(scope="module")
def facts(net):
    return describe(net)


@pytest.fixture(scope="module")
def seven():
    return mnist_digit(load_mnist().test_pixels, 0)


# --- the URL -------------------------------------------------------------------------------------------------

def test_the_drill_down_round_trips_through_the_url():
    state = InspectorState(view="network", drill="conv2", drill_map=5, drill_unit=(3, 4))
    query = state.to_query()
    assert query == {"v": "network", "dl": "conv2", "dm": "5", "du": "3,4"}
    assert InspectorState.from_query(query) == (state, [])
    assert InspectorState.from_dict(state.to_dict()) == (state, [])
    softmax = InspectorState(view="network", drill="softmax")
    assert softmax.to_query() == {"v": "network", "dl": "softmax"}
    assert InspectorState.from_query(softmax.to_query()) == (softmax, [])
    assert InspectorState(view="network").to_query() == {"v": "network"}  # the overview names nothing else


def test_a_drill_link_with_bad_values_falls_back_and_says_which():
    state, ignored = InspectorState.from_query({"v": "network", "dl": "Conv 2", "dm": "-1", "du": "1,2,3"})
    assert state == InspectorState(view="network")
    assert sorted(ignored) == ["dl=Conv 2", "dm=-1", "du=1,2,3"]


# --- the overview's columns and clicks ------------------------------------------------------------------------

def test_the_overview_has_every_layer_from_input_to_softmax(facts):
    columns = overview_columns(facts, INPUT_SHAPE)
    assert [c.label for c in columns] == COLUMNS
    assert [c.shape for c in columns] == [(1, 28, 28), (16, 28, 28), (16, 28, 28), (16, 14, 14), (32, 14, 14),
                                          (32, 14, 14), (32, 7, 7), (64,), (10,), (10,)]
    assert [c.kind for c in columns] == ["input", "conv", "act", "pool", "conv", "act", "pool", "fc", "fc", "softmax"]


def test_a_click_on_the_overview_finds_the_map_drawn_there(facts):
    layout = overview.overview_layout(overview_columns(facts, INPUT_SHAPE))
    height, width = layout.size
    for index, column in enumerate(layout.columns):
        for item, (top, left, bottom, right) in enumerate(layout.boxes(index)):
            x, y = (left + right) / 2, (top + bottom) / 2
            # Shown at half size, as a narrow column of the page would: only the ratio counts.
            assert layout.hit(x / 2, y / 2, width / 2, height / 2) == (index, item), (column.label, item)
    assert len(layout.boxes(1)) == overview.TILES_SHOWN and len(layout.boxes(7)) == 64  # 8 of 16 maps; every unit
    assert layout.hit(width - overview.MARGIN - 1, 5, width, height) == (len(COLUMNS) - 1, 0)  # its nearest bar
    assert layout.hit(width - 1, 5, width, height) is None  # the margin right of every column
    assert layout.hit(5, 5, 0, height) is None


def test_the_overview_refuses_unknown_columns():
    with pytest.raises(ValueError, match="kind='lstm'"):
        overview.overview_layout([Column("x", "lstm", (1,))])
    with pytest.raises(ValueError, match="at least one column"):
        overview.overview_layout([])


def test_resolve_keeps_the_drill_down_inside_the_model(facts):
    assert resolve(InspectorState(drill="conv9", drill_map=3, drill_unit=(1, 1)), facts).drill == ""
    state = resolve(InspectorState(drill="conv2", drill_map=40, drill_unit=(13, 13)), facts)
    assert (state.drill, state.drill_map, state.drill_unit) == ("conv2", 31, (13, 13))
    assert resolve(InspectorState(drill="pool2", drill_unit=(7, 0)), facts).drill_unit is None
    assert resolve(InspectorState(drill="fc1", drill_map=99, drill_unit=(0, 0)), facts).drill_map == 63
    assert resolve(InspectorState(drill="fc1", drill_unit=(0, 0)), facts).drill_unit is None
    assert resolve(InspectorState(drill="softmax", drill_map=4), facts).drill_map == 0
    assert resolve(InspectorState(drill="input"), facts).drill == ""  # the input has nothing to take apart
    assert resolve_drill(InspectorState(drill="act1"), overview_columns(facts, INPUT_SHAPE)).drill == "act1"


# --- compute -------------------------------------------------------------------------------------------------

def test_the_network_view_s_numbers_are_the_forward_pass_s(net, facts, seven):
    state = InspectorState(view="network", drill="pool2", drill_map=17, drill_unit=(3, 4))
    result = compute(state, net, seven, facts=facts)
    drill = result.drill
    assert [c.label for c in drill.columns] == COLUMNS
    for column, values in zip(drill.columns[1:7], drill.values[1:7]):
        assert np.array_equal(values, result.forward.maps[column.label].values)  # the maps view's own
    assert np.array_equal(drill.values[-1], result.forward.prediction.probabilities)
    math = drill.unit_math
    assert math.layer == "conv2" and math.clicked == "pool2" and len(math.terms) == 16
    pooled = math.stages[-1]
    assert pooled.layer == "pool2" and pooled.position == (3, 4)
    assert pooled.value == pytest.approx(float(result.forward.maps["pool2"].values[17, 3, 4]), abs=1e-5)
    assert drill.box == receptive_field.Box(9, 13, 19, 23)  # pool2's field, as the maps view draws it
    assert drill.sources.shape == (1, 14, 14) and drill.source_label == "act2"  # one map in, one map out
    assert np.array_equal(drill.softmax.probabilities.astype(np.float32), drill.values[-1])


def test_a_conv_layer_is_computed_from_every_input_map(net, facts, seven):
    result = compute(InspectorState(view="network", drill="conv2", drill_map=0), net, seven, facts=facts)
    assert result.drill.sources.shape == (16, 14, 14) and result.drill.source_label == "pool1"
    assert result.drill.unit_math is None and result.drill.box is None  # no unit chosen yet
    first = compute(InspectorState(view="network", drill="conv1", drill_unit=(0, 0)), net, seven, facts=facts)
    assert first.drill.source_label == "input" and first.drill.sources.shape == (1, 28, 28)
    assert first.drill.box == receptive_field.Box(-1, -1, 2, 2)  # 3x3 with padding 1: a corner sees padding


def test_a_dense_unit_and_the_softmax(net, facts, seven):
    dense = compute(InspectorState(view="network", drill="fc1", drill_map=7), net, seven, facts=facts).drill
    assert dense.dense_math.layer == "fc1" and dense.dense_math.unit == 7 and dense.unit_math is None
    assert dense.dense_math.value == pytest.approx(float(dense.values[7][7]), abs=1e-5)
    assert dense.dense_math.activation.layer == "act3"
    soft = compute(InspectorState(view="network", drill="softmax"), net, seven, facts=facts).drill
    assert soft.column.kind == "softmax" and soft.dense_math is None and soft.sources is None


def test_other_views_and_an_empty_digit_pay_for_no_drill_down(net, facts, seven):
    assert compute(InspectorState(view="maps", drill="conv1"), net, seven, facts=facts).drill is None
    blank = prepare_digit(np.zeros((28, 28), np.float32))
    assert compute(InspectorState(view="network"), net, blank, facts=facts).drill is None


def test_the_unit_s_window_on_the_maps_it_reads(net, facts, seven):
    def window(layer, unit):
        state = InspectorState(view="network", drill=layer, drill_unit=unit)
        return compute(state, net, seven, facts=facts).drill.window

    assert window("conv1", (0, 0)) == receptive_field.Box(-1, -1, 2, 2)  # 3x3, padding 1: it starts on padding
    assert window("conv2", (5, 6)) == receptive_field.Box(4, 5, 7, 8)
    assert window("pool1", (2, 3)) == receptive_field.Box(4, 6, 6, 8)  # a 2x2 window of act1
    assert window("act1", (2, 3)) == receptive_field.Box(2, 3, 3, 4)  # the unit itself, in bn1
    assert compute(InspectorState(view="network", drill="conv2"), net, seven, facts=facts).drill.window is None


def test_the_window_is_framed_on_every_input_map():
    from cnnviz.figures import network
    from cnnviz.figures.network import HIGHLIGHT

    maps = np.zeros((2, 4, 4), np.float32)
    layout = network.grid_layout((4, 4), range(2), tile_side=40)  # 10 px a cell
    plain = network.maps_grid(maps, layout, np.ones(2, np.float32), False, None)
    framed = overview.frame_window(plain, layout, (4, 4), receptive_field.Box(-1, 1, 2, 3))  # clipped: rows 0-1
    for position in range(2):
        top, left = layout.origin(position)
        assert tuple(framed[top, left + 10]) == HIGHLIGHT  # the frame's top-left corner: row 0, col 1
        assert tuple(framed[top + 19, left + 29]) == HIGHLIGHT  # its bottom-right: row 1, col 2
        assert tuple(framed[top + 25, left + 15]) == (0, 0, 0)  # outside it, the map is untouched
    top, left = layout.origin(0)
    assert tuple(plain[top, left + 10]) != HIGHLIGHT  # the grid it was given is left as it was


def test_the_overview_frames_the_chosen_map_and_colours_the_likeliest_class(facts):
    from cnnviz.figures.network import HIGHLIGHT

    layout = overview.overview_layout(overview_columns(facts, INPUT_SHAPE))
    values = [np.zeros(c.shape, np.float32) for c in layout.columns]
    values[-1] = np.eye(10, dtype=np.float32)[7]  # certain it is a 7
    picture = overview.overview_picture(layout, values, selected=(4, 2))
    assert picture.shape == (*layout.size, 3)
    top, left, bottom, right = layout.boxes(4)[2]
    assert tuple(picture[top - 2, left]) == HIGHLIGHT  # conv2's map 2 is framed
    top, left, bottom, right = layout.boxes(9)[7]
    assert tuple(picture[(top + bottom) // 2, right - 2]) == HIGHLIGHT  # the 7's bar runs the whole width
    top, left, bottom, right = layout.boxes(9)[3]
    assert tuple(picture[(top + bottom) // 2, left + 2]) != HIGHLIGHT  # the 3's bar is empty


def test_a_term_picture_is_the_window_then_the_kernel():
    window = np.array([[0, 1], [2, 3]], np.float32)
    padding = np.array([[True, False], [False, False]])
    picture = overview.term_picture(window, padding, -np.ones((2, 2), np.float32), cell=1)
    assert picture.shape == (2, 5, 3)  # two columns, a gap, two columns
    assert tuple(picture[0, 0]) == overview.PADDING_RGB and tuple(picture[1, 1]) == (255, 255, 255)
    assert tuple(picture[0, 2]) == (255, 255, 255) and picture[0, 3, 2] > picture[0, 3, 0]  # the gap; blue weights
