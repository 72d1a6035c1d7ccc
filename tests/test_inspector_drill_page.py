"""Look inside's network view through AppTest: the overview, a click on a map, a click on a unit, the dense and
softmax arithmetic, links and Chinese. A click is set as the clickable picture's state, which is what the browser
sends (the real clicks are in tests/browser/test_inspector_drill_browser.py)."""
import re

import pytest

from apptest_kit import page_state, run_page
from cnnviz.figures import overview
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.pages.drill import overview_columns
from cnnviz.pages.inspector import INPUT_SHAPE, describe

PAGE = "inspector"
LINK = {"src": "mnist", "i": "0", "v": "network"}


def state(app):
    return page_state(app, PAGE)


def click(app, key: str, x: float, y: float, width: float, height: float, when: int):
    app.session_state[key] = {"click": {"x": x, "y": y, "width": width, "height": height, "unix_time": when}}
    return app.run()


def texts(app) -> str:
    return " ".join([m.value for m in app.markdown] + [c.value for c in app.caption])


def code(app) -> str:
    return "\n".join(block.value for block in app.code)


@pytest.fixture(scope="module")
def layout():
    """The overview of the untrained default network, which a fresh session inspects."""
    return overview.overview_layout(overview_columns(describe(build_model(NETWORK_PRESETS["default"], seed=0)),
                                                     INPUT_SHAPE))


def test_a_map_then_a_unit_is_taken_apart(layout):
    app = run_page(PAGE, query=LINK)
    assert "Every layer for this digit" in texts(app) and state(app).drill == ""
    labels = [c.label for c in layout.columns]
    assert labels == ["input", "conv1", "pool1", "act1", "conv2", "pool2", "act2", "fc1", "fc2", "softmax"]
    height, width = layout.size
    top, left, bottom, right = layout.boxes(labels.index("conv2"))[2]
    click(app, "insp_drill_click", (left + right) / 2, (top + bottom) / 2, width, height, 1)  # conv2's map 2
    assert not app.exception
    assert (state(app).drill, state(app).drill_map, state(app).drill_unit) == ("conv2", 2, None)
    assert "**conv2**, map 2: computed from the 16 maps of **act1**" in texts(app)
    assert app.number_input(key="insp_drill_map_conv2").value == 2
    assert code(app) == ""  # no unit yet
    click(app, "insp_drill_unit_click", 25, 75, 200, 200, 2)  # conv2 is 10 x 10: row 3, col 1
    assert state(app).drill_unit == (3, 1)
    assert "Unit (3, 1) of **conv2**, map 2" in texts(app)
    story, channels = (block.value.splitlines() for block in app.code)
    assert story[0].startswith("sum of the 16 partial sums:") and story[1].startswith("plus bias:")
    # The default network pools first: conv2's unit goes through pool2's window, then BatchNorm and ReLU.
    assert [line.split(" ")[0] for line in story[2:]] == ["pool2", "bn2", "act2"]
    assert story[2].startswith("pool2 max pooling 2 × 2: max(") and story[2].endswith(", the winner in [ ]")
    winner = re.search(r"\[(\S+)\]", story[2]).group(1)  # the largest of the four, bracketed
    assert story[2].count("[") == 2 and f") = {winner}, the winner" in story[2]
    assert [line.split(":")[0] for line in channels] == [f"ch {c}" for c in range(16)]  # in an expander
    assert [e.label for e in app.expander if "term by term" in e.label] == ["The 16 partial sums, term by term"]
    assert "The unit sees a 10 × 10 window of the digit (orange)." in texts(app)  # 5x5, pooled by 2, then 3x3
    # Another map of the same layer from its number: the unit goes, the layer stays.
    app.number_input(key="insp_drill_map_conv2").set_value(5).run()
    assert (state(app).drill, state(app).drill_map, state(app).drill_unit) == ("conv2", 5, None)
    app.button(key="insp_drill_back").click().run()
    assert (state(app).drill, state(app).drill_unit) == ("", None)


def test_a_pooled_unit_is_followed_back_to_the_conv_unit_that_won(layout):
    app = run_page(PAGE, query={**LINK, "dl": "act2", "dm": "3", "du": "1,2"})
    assert "It starts as **conv2**'s unit" in texts(app) and "won the pooling window" in texts(app)
    assert re.search(r"^pool2 max pooling 2 × 2: max\(", code(app), re.M)


def test_the_softmax_is_written_out(layout):
    app = run_page(PAGE, query={**LINK, "dl": "softmax"})
    says = next(m.value for m in app.markdown if m.value.startswith("The network says"))
    confidence = re.search(r"\(([\d.]+%) sure\)", says).group(1)
    assert f"Where “**{confidence}** sure" in texts(app)
    exps, probabilities = (block.value.splitlines() for block in app.code)
    assert len(exps) == 11 and exps[-1].startswith("sum of the ten: ")
    assert len(probabilities) == 10 and confidence in "".join(probabilities)
    total = exps[-1].removeprefix("sum of the ten: ")
    assert all(f" / {total} = " in line for line in probabilities)


def test_a_dense_unit_is_written_out():
    app = run_page(PAGE, query={**LINK, "dl": "fc1", "dm": "5"})
    lines = code(app).splitlines()
    assert lines[0].startswith("the 8 largest products: ") and lines[1].startswith("the other 792 products add up to")
    assert lines[3].startswith("plus bias:") and lines[4].startswith("act3 ReLU: max(0, ")
    assert "**fc1**, unit 5" in texts(app)


def test_a_link_opens_its_unit_and_a_bad_one_the_overview():
    app = run_page(PAGE, query={**LINK, "dl": "conv1", "dm": "4", "du": "0,0"})
    assert (state(app).drill, state(app).drill_map, state(app).drill_unit) == ("conv1", 4, (0, 0))
    assert "computed from map 0 of **input**" not in texts(app)
    # The input's corner is background, which normalisation makes (0 − 0.1307) / 0.3081 = −0.424.
    assert app.code[1].value.startswith("ch 0: (-0.424)×")
    bad = run_page(PAGE, query={**LINK, "dl": "conv9", "du": "0,0"})
    assert (state(bad).drill, state(bad).drill_unit) == ("", None)


def test_the_network_view_in_chinese():
    app = run_page(PAGE, query={**LINK, "dl": "softmax", "lang": "zh"})
    assert "从何而来" in texts(app) and "十个之和" in code(app)
    unit = run_page(PAGE, query={**LINK, "dl": "act1", "du": "2,2", "lang": "zh"})
    assert "通道 0：" in code(app := unit) and "加偏置" in code(app)


def test_an_empty_canvas_asks_for_a_digit():
    app = run_page(PAGE, query={"v": "network"})
    assert "Give the network a digit first." in [i.value for i in app.info]
