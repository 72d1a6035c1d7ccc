"""1-D signals page through AppTest: every control, the arithmetic it writes out, the stack, and its link."""
import pytest

from apptest_kit import page_state, run_page


@pytest.fixture
def at():
    return run_page("signals", timeout=60)


def sum_text(app) -> str:
    return app.code[0].value


def markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def captions(app) -> str:
    return "\n".join(c.value for c in app.caption)


def test_default_is_a_moving_average_of_the_noisy_sines(at):
    assert sum_text(at) == ("y[0] = w[0]·x[0] + w[1]·x[1] + w[2]·x[2] + w[3]·x[3] + w[4]·x[4]\n"
                            "     = 0.02×0.2 + 0.84×0.2 + 1.1×0.2 + 0.65×0.2 + 0.44×0.2 = 0.61")
    assert "N′ = ⌊(32 + 0 + 0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28" in markdown(at)
    assert "Receptive field: **16** inputs, positions 8 to 23 (`1 + (2 − 1)·(1 + 2 + 4 + 8) = 16`)" in markdown(at)
    assert at.slider(key="sig_index").max == 27 and dict(at.query_params) == {}
    assert not at.error and not at.warning


def test_causal_padding_and_the_index(at):
    at.toggle(key="sig_causal").set_value(True).run()
    assert at.number_input(key="sig_padding").disabled
    assert "N′ = ⌊(32 + 4 + 0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 32" in markdown(at)
    at.slider(key="sig_index").set_value(9).run()
    assert sum_text(at).startswith("y[9] = w[0]·x[5] + w[1]·x[6] + w[2]·x[7] + w[3]·x[8] + w[4]·x[9]")
    assert "Causal: y[9] reads inputs 5 to 9, none after position 9." in captions(at)
    assert at.query_params["c"] == "1" and at.query_params["at"] == "9"
    assert page_state(at, "signals").index == 9


def test_typed_signal_and_derivative(at):
    at.selectbox(key="sig_source").set_value("typed").run()
    at.text_input(key="sig_typed").input("1, 2, 4, 7").run()
    at.selectbox(key="sig_kernel").set_value("derivative").run()
    at.toggle(key="sig_causal").set_value(True).run()
    assert sum_text(at).endswith("= 0×(-1) + 1×1 = 1")
    assert "1 of these taps lie in the padding and read 0." in captions(at)
    at.slider(key="sig_index").set_value(3).run()
    assert sum_text(at).endswith("= 4×(-1) + 7×1 = 3")
    assert at.query_params["x"] == "1,2,4,7" and at.query_params["k"] == "derivative"


def test_a_bad_typed_list_is_refused_and_the_signal_kept(at):
    at.selectbox(key="sig_source").set_value("typed").run()
    at.text_input(key="sig_typed").input("1, 2, x").run()
    assert "The signal was not changed: Signal values, number 3: 'x' is not a number" in at.warning[0].value
    assert page_state(at, "signals").typed == (1, 2, 3, 4, 5)
    assert not at.exception


def test_custom_kernel_stride_and_dilation(at):
    at.selectbox(key="sig_source").set_value("typed").run()
    at.selectbox(key="sig_kernel").set_value("custom").run()
    at.text_input(key="sig_custom").input("1, 1").run()
    at.number_input(key="sig_dilation").set_value(2).run()
    at.number_input(key="sig_stride").set_value(2).run()
    # Taps 2 apart, windows 2 apart over 1..5: (1+3, 3+5).
    assert "N′ = ⌊(5 + 0 + 0 − 2·(2 − 1) − 1) / 2⌋ + 1 = 2" in markdown(at)
    at.slider(key="sig_index").set_value(1).run()
    assert sum_text(at) == "y[1] = w[0]·x[2] + w[1]·x[4]\n     = 3×1 + 5×1 = 8"


def test_settings_that_cannot_work_say_so():
    app = run_page("signals", query={"src": "typed", "x": "1,2", "n": "5"})
    assert "These settings cannot work: the window spans 5" in app.error[0].value
    assert "Receptive field: **16**" in markdown(app)  # the stack still stands


def test_a_link_opens_its_view_and_the_stack_output():
    app = run_page("signals", query={"src": "step", "k": "gaussian", "n": "3", "at": "15", "so": "5"})
    assert sum_text(app).endswith("= 0×0.25 + 1×0.5 + 1×0.25 = 0.75")  # the step at 16, blurred
    assert "positions -10 to 5" in markdown(app)
    assert "before position 0" in captions(app)
    app.slider(key="sig_stack_output").set_value(20).run()
    assert "positions 5 to 20" in markdown(app) and app.query_params["so"] == "20"


def test_chinese():
    app = run_page("signals", query={"lang": "zh", "c": "1"})
    assert app.title[0].value == "一维信号"
    assert "感受野：**16** 个输入" in markdown(app) and "因果：y[0] 读取位置 -4 到 0 的输入" in captions(app)
