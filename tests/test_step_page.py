"""Step-by-step page through AppTest: every control, the sums it shows, and its link."""
import pytest

from apptest_kit import edit_grid, grid_key, page_state, run_page


@pytest.fixture
def at():
    return run_page("step_by_step", timeout=60)


def sum_text(app) -> str:
    return app.code[0].value


def formula(app) -> str:
    return next(m.value for m in app.markdown if "H′" in m.value)


def position(app):
    return app.select_slider(key="step_pos")


def test_default_is_the_five_by_five_example(at):
    assert sum_text(at).endswith("= 5")
    assert "⌊(5 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 5" in formula(at)
    assert position(at).options == [f"({r}, {c})" for r in range(5) for c in range(5)]  # 0-based, as Output[r, c]
    assert any("Output[0, 0]" in m.value for m in at.markdown)


def test_next_prev_and_slider(at):
    at.button(key="step_next").click().run()
    assert sum_text(at).endswith("= 9")
    at.button(key="step_next").click().run()
    assert sum_text(at).endswith("= 16") and at.query_params["at"] == "2"
    at.button(key="step_prev").click().run()
    assert sum_text(at).endswith("= 9")
    position(at).set_value(10).run()  # row 2, col 0
    assert sum_text(at).endswith("= 20")
    position(at).set_value(24).run()
    assert sum_text(at).endswith("= -4")
    assert at.success  # the grid is complete
    assert "cnnviz.conv.ops" not in at.success[0].value  # no developer language


def test_play_button_toggles(at):
    at.button(key="step_play").click().run()
    assert at.session_state["_transient_step_playing"] is True
    assert at.button(key="step_play").label == "Pause"
    at.button(key="step_play").click().run()
    assert at.session_state["_transient_step_playing"] is False


def test_play_at_the_last_position_starts_over():
    app = run_page("step_by_step", timeout=60, query={"at": "24"})
    assert sum_text(app).endswith("= -4")
    app.button(key="step_play").click().run()
    assert position(app).value == 0 and sum_text(app).endswith("= 5")
    assert app.button(key="step_play").label == "Pause"


def test_examples(at):
    at.button(key="step_example_three").click().run()
    assert sum_text(at) == "1×1 + 2×0 + 3×0 + 4×0 + 5×1 + 6×0 + 7×0 + 8×0 + 9×1 = 15"
    assert "⌊(3 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 1" in formula(at)
    at.button(key="step_example_three_padded").click().run()
    assert sum_text(at).endswith("= 6")
    position(at).set_value(4).run()
    assert sum_text(at).endswith("= 15")


def test_pooling_examples_say_what_they_compute(at):
    at.button(key="step_example_pool_max").click().run()
    assert sum_text(at) == "max(1, 2, 5, 6) = 6"
    title = next(m.value for m in at.markdown if "Output[0, 0]" in m.value)
    assert "largest" in title and "weight" not in title
    assert not [n for n in at.number_input if n.key.startswith("step_k_")]  # no kernel to edit in pooling mode
    assert len(at.dataframe) == 1
    position(at).set_value(3).run()
    assert sum_text(at) == "max(11, 12, 15, 16) = 16"
    at.button(key="step_example_pool_avg").click().run()
    assert sum_text(at) == "(1 + 2 + 5 + 6) / 4 = 3.5"
    assert "mean" in next(m.value for m in at.markdown if "Output[0, 0]" in m.value)


def test_editing_the_input_changes_the_sum(at):
    edit_grid(at, grid_key(at, "step", "input"), {0: {0: "10"}})
    assert sum_text(at).endswith("= 77")  # 5 + (10 - 1) x 8


def test_editing_the_kernel_changes_the_sum(at):
    edit_grid(at, grid_key(at, "step", "kernel"), {1: {1: "1"}})
    assert sum_text(at).endswith("= -2")  # 5 - 1 x 8 + 1 x 1


def test_sizes(at):
    at.number_input(key="step_in_rows").set_value(6).run()
    assert page_state(at, "step").input_array().shape == (6, 5)
    at.number_input(key="step_k_cols").set_value(2).run()
    assert page_state(at, "step").kernel_array().shape == (3, 2)


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


def test_a_link_opens_the_same_step_in_a_fresh_session(at):
    at.button(key="step_example_three_padded").click().run()
    at.number_input(key="step_bias").set_value(2.0).run()
    position(at).set_value(4).run()
    assert sum_text(at).endswith("= 17")
    app = run_page("step_by_step", query=dict(at.query_params))
    assert sum_text(app) == sum_text(at)
    assert position(app).value == 4 and app.number_input(key="step_bias").value == 2.0  # (1, 1)
