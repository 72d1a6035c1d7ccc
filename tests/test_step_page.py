"""Step-by-step page through AppTest: every control, and the sums it shows."""
import pytest

from apptest_kit import run_page


@pytest.fixture
def at():
    return run_page("step_by_step", timeout=60)


def sum_text(app) -> str:
    return app.code[0].value


def formula(app) -> str:
    return next(m.value for m in app.markdown if "H′" in m.value)


def test_default_is_the_five_by_five_example(at):
    assert sum_text(at).endswith("= 5")
    assert "⌊(5 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 5" in formula(at)
    assert at.slider(key="step_pos").max == 25


def test_next_prev_and_slider(at):
    at.button(key="step_next").click().run()
    assert sum_text(at).endswith("= 9")
    at.button(key="step_next").click().run()
    assert sum_text(at).endswith("= 16")
    at.button(key="step_prev").click().run()
    assert sum_text(at).endswith("= 9")
    at.slider(key="step_pos").set_value(11).run()  # row 2, col 0
    assert sum_text(at).endswith("= 20")
    at.slider(key="step_pos").set_value(25).run()
    assert sum_text(at).endswith("= -4")
    assert at.success  # the grid is complete


def test_play_button_toggles(at):
    at.button(key="step_play").click().run()
    assert at.session_state["step_playing"] is True
    at.button(key="step_play").click().run()
    assert at.session_state["step_playing"] is False


def test_examples(at):
    at.button(key="step_example_three").click().run()
    assert sum_text(at) == "1×1 + 2×0 + 3×0 + 4×0 + 5×1 + 6×0 + 7×0 + 8×0 + 9×1 = 15"
    assert "⌊(3 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 1" in formula(at)
    at.button(key="step_example_three_padded").click().run()
    assert sum_text(at).endswith("= 6")
    at.slider(key="step_pos").set_value(5).run()
    assert sum_text(at).endswith("= 15")


def test_editing_the_input_changes_the_sum(at):
    version = at.session_state["step_state"]["version"]
    at.session_state[f"step_input_{version}"] = {"edited_rows": {0: {"0": 10}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert sum_text(at).endswith("= 77")  # 5 + (10 - 1) x 8


def test_editing_the_kernel_changes_the_sum(at):
    version = at.session_state["step_state"]["version"]
    at.session_state[f"step_kernel_{version}"] = {"edited_rows": {1: {"1": 1}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert sum_text(at).endswith("= -2")  # 5 - 1 x 8 + 1 x 1


def test_sizes(at):
    at.number_input(key="step_in_rows").set_value(6).run()
    assert at.session_state["step_state"]["input"].shape == (6, 5)
    at.number_input(key="step_k_cols").set_value(2).run()
    assert at.session_state["step_state"]["kernel"].shape == (3, 2)
    assert not at.exception


def test_geometry_controls(at):
    at.number_input(key="step_stride_h").set_value(2).run()
    assert "/ 2⌋ + 1 = 3" in formula(at)
    at.number_input(key="step_dilation_w").set_value(2).run()
    assert "⌊(5 + 1 + 1 − 2·(3 − 1) − 1) / 1⌋ + 1 = 3" in formula(at)
    at.segmented_control(key="step_padding").set_value("valid").run()
    assert "⌊(5 + 0 + 0 − 1·(3 − 1) − 1) / 2⌋ + 1 = 2" in formula(at)
    at.segmented_control(key="step_padding").set_value("same").run()
    at.segmented_control(key="step_padding").set_value("custom").run()
    at.number_input(key="step_pad_h").set_value(2).run()
    at.selectbox(key="step_mode").set_value("replicate").run()
    assert not at.exception
    at.number_input(key="step_bias").set_value(1.0).run()
    assert "+ 1 = " in sum_text(at)


def test_flip(at):
    at.button(key="step_example_three_padded").click().run()
    at.toggle(key="step_flip").set_value(True).run()
    assert "rotated 180°" in " ".join(c.value for c in at.caption)
    assert not at.exception


def test_pooling(at):
    at.segmented_control(key="step_op").set_value("max").run()
    assert sum_text(at) == "max(1, 2, 0, 1) = 2"
    at.segmented_control(key="step_op").set_value("avg").run()
    assert sum_text(at) == "(1 + 2 + 0 + 1) / 4 = 1"
    at.number_input(key="step_pool_size_h").set_value(3).run()
    at.number_input(key="step_pool_stride_h").set_value(1).run()
    assert "⌊(5 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 3" in formula(at)


def test_impossible_settings(at):
    at.segmented_control(key="step_padding").set_value("valid").run()
    at.number_input(key="step_dilation_h").set_value(3).run()
    assert not at.exception
    assert "cannot work" in at.error[0].value
