"""Train page through AppTest: the config drives the summary, Start/Stop drive a real background job."""
import time

import pytest

from apptest_kit import run_page


@pytest.fixture
def at():
    app = run_page("train")
    yield app
    stop = app.button(key="train_stop")
    if not stop.disabled:  # never leave a worker thread training after a test
        stop.click().run()


def summary(app) -> str:
    return next(m.value for m in app.markdown if "trainable parameters" in m.value)


def test_default_summary(at):
    assert summary(at).startswith("**105,962** trainable parameters")
    assert at.info and "Press Start" in at.info[0].value


def test_classic_preset_has_the_textbook_parameter_count(at):
    at.selectbox(key="train_preset").set_value("classic").run()
    assert summary(at).startswith("**220,234** trainable parameters")
    assert at.number_input(key="train_b0_channels").value == 32


def test_block_controls_change_the_summary(at):
    at.number_input(key="train_b0_channels").set_value(8).run()
    assert summary(at).startswith("**")  # recomputed
    first = summary(at)
    at.number_input(key="train_b1_kernel_size").set_value(5).run()
    assert summary(at) != first
    at.number_input(key="train_blocks").set_value(3).run()
    assert at.number_input(key="train_b2_channels").value == 64
    for key, value in (("train_b0_activation", "gelu"), ("train_b0_pool", "avg"), ("train_b1_stride", 2),
                       ("train_b0_padding", 0), ("train_b0_pool_size", 3)):
        widget = at.selectbox(key=key) if key.endswith(("activation", "pool")) else at.number_input(key=key)
        widget.set_value(value).run()
        assert not at.exception
    at.checkbox(key="train_b1_batch_norm").uncheck().run()
    at.number_input(key="train_hidden").set_value(0).run()
    at.slider(key="train_dropout").set_value(0.2).run()
    assert not at.exception


def test_invalid_config_disables_start(at):
    at.number_input(key="train_blocks").set_value(4).run()
    for index in range(4):
        at.number_input(key=f"train_b{index}_padding").set_value(0).run()
        at.selectbox(key=f"train_b{index}_pool").set_value("max").run()
    assert "cannot be built" in at.error[0].value
    assert at.button(key="train_start").disabled


def test_training_controls(at):
    for key, value in (("train_optimizer", "sgd"), ("train_schedule", "cosine"), ("train_device", "cpu")):
        at.selectbox(key=key).set_value(value).run()
    at.number_input(key="train_lr").set_value(0.05).run()
    at.number_input(key="train_epochs").set_value(1).run()
    at.number_input(key="train_seed").set_value(7).run()
    at.select_slider(key="train_batch").set_value(64).run()
    at.select_slider(key="train_subset").set_value(1000).run()
    assert not at.exception


def test_start_pause_stop(at):
    at.select_slider(key="train_subset").set_value(1000).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    deadline = time.monotonic() + 60
    while "step" not in " ".join(p.text or "" for p in at.get("progress")):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        at.run()
    assert any("Training" in (p.text or "") or "Done" in (p.text or "") for p in at.get("progress"))
    at.button(key="train_stop").click().run()
    assert not at.exception
    assert at.button(key="train_stop").disabled  # nothing left to stop


def test_run_to_completion_shows_results(at):
    at.select_slider(key="train_subset").set_value(1000).run()
    at.number_input(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    deadline = time.monotonic() + 90
    # The job can finish between the live panel's snapshot and the results' in one run: then the next run
    # (the fragment's tick in a browser) shows the finished state. Wait for both.
    while not (any("misclassified" in m.value for m in at.markdown) and at.session_state["train_drawn_state"] == "done"):
        assert time.monotonic() < deadline, [m.value for m in at.markdown]
        time.sleep(0.5)
        at.run()
    assert not at.exception


def test_garbage_checkpoint_is_refused_clearly(at):
    at.file_uploader(key="train_ckpt").upload("model.pt", b"definitely not torch", "application/octet-stream").run()
    assert not at.exception
    assert "not a cnnviz checkpoint" in at.error[0].value
