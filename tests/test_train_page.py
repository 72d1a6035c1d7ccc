"""Train page through AppTest: the config drives the summary, Start/Stop drive a real background job, and a link
(which never names the run) and the tab's memory find their run again."""
import html
import json
import re
import time
from dataclasses import replace

import pytest

from streamlit.testing.v1 import AppTest

from apptest_kit import UI, page_state, run_page
from cnnviz import data
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.training.checkpoints import save_checkpoint


@pytest.fixture
def at():
    app = run_page("train")
    yield app
    stop = app.button(key="train_stop")
    if not stop.disabled:  # never leave a worker thread training after a test
        stop.click().run()


def wait_for(app, predicate, timeout=90.0):
    """Rerun the page (as the browser's once-a-second tick would) until ``predicate(app)`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate(app):
        assert time.monotonic() < deadline, [m.value for m in app.markdown]
        time.sleep(0.5)
        app.run()
    assert not app.exception, app.exception


def status_markup(app) -> list[str]:
    """The HTML of the run's status: the live status component's while the run trains (the HTML it was drawn with;
    AppTest runs no JavaScript to poll for newer), and the page's own HTML elements."""
    live = [json.loads(element.proto.json)["html"] for element in app.get("bidi_component")
            if element.key == "train_live_status"]
    return live + [element.proto.body for element in app.get("html")]


def progress_text(app) -> str:
    """The line above the run's progress bar (cnnviz.ui.progress), or "" when the page shows no bar."""
    for markup in status_markup(app):
        found = re.search(r'class="cnnviz-progress".*?<p>(.*?)</p>', markup, re.S)
        if found:
            return html.unescape(found.group(1))
    return ""


def finished(app) -> bool:
    return any("misclassified" in m.value for m in app.markdown) and \
        app.session_state["_transient_train_drawn_state"] == "done"


def quick_run(app):
    app.select_slider(key="train_subset").set_value(1000).run()
    app.number_input(key="train_epochs").set_value(1).run()
    app.button(key="train_start").click().run()


def summary(app) -> str:
    return next(m.value for m in app.markdown if "trainable parameters" in m.value)


def test_default_summary(at):
    assert summary(at).startswith("**108,970** trainable parameters")
    assert at.info and "Press Start" in at.info[0].value


def test_classic_preset_has_the_textbook_parameter_count(at):
    at.selectbox(key="train_preset").set_value("classic").run()
    assert summary(at).startswith("**220,234** trainable parameters")
    assert at.number_input(key="train_b0_channels").value == 32


def test_block_controls_change_the_summary(at):
    at.number_input(key="train_b0_channels").set_value(8).run()
    assert summary(at).startswith("**106,442**")  # 8 x 26 + 16 + 32 x (8 x 9 + 1) + 64 + 128 x 801 + 10 x 129
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
    at.text_input(key="train_hidden").input("0").run()
    at.slider(key="train_dropout").set_value(0.2).run()
    assert not at.exception


def test_pooling_first_is_a_block_control(at):
    assert at.checkbox(key="train_b0_pool_first").value  # the default pools first
    at.checkbox(key="train_b0_pool_first").uncheck().run()
    assert not page_state(at, "train").blocks[0].pool_first
    assert at.query_params["b"].startswith("16.5.0.1.relu.1.max.2_32.")  # ".first" only where a block pools first
    rows = [r for r in at.dataframe[0].value.iloc[:, 0]]
    assert rows[:3] == ["conv1", "bn1", "pool1"] and rows[3:6] == ["conv2", "pool2", "bn2"]
    at.selectbox(key="train_b1_pool").set_value("none").run()
    assert at.checkbox(key="train_b1_pool_first").disabled and not page_state(at, "train").blocks[1].pool_first


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


@pytest.mark.slow
def test_start_pause_stop(at):
    # All 60,000 images for 5 epochs: long enough (a minute or more here) that the run is still training when the
    # test reaches Stop, however fast the worker is; Stop ends it at once.
    at.select_slider(key="train_subset").set_value(0).run()
    at.number_input(key="train_epochs").set_value(5).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    # From Start, before the worker's first step: the live chart is on the page already (empty), so the curves the
    # status polls fill it in place, where a page without it had to be run again in full as training began.
    (chart,) = [element for element in at.get("bidi_component") if element.key == "train_live_curves"]
    assert json.loads(json.loads(chart.proto.json))["x_max"] == 2345  # the whole run's steps: 5 x 469
    deadline = time.monotonic() + 60
    while "step" not in progress_text(at):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        at.run()
    assert progress_text(at).startswith("Training · step ")

    def chart_data() -> dict:
        (chart,) = [element for element in at.get("bidi_component") if element.key == "train_live_curves"]
        return json.loads(json.loads(chart.proto.json))  # JSON text, sent as a JSON string

    # While it trains: the live chart gets the run's curves, its x axis spanning the whole run (5 x 469 steps). The
    # chart drawn before the first step is shared for up to a second (train_live.shared): wait for a newer one.
    while not chart_data()["panels"][0]["lines"][1]["x"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
        at.run()
    data = chart_data()
    assert [panel["title"] for panel in data["panels"]] == ["loss", "accuracy", "learning rate"]
    assert data["x_max"] == 2345 and data["legend"][0]["label"].endswith("(this run)")
    assert not at.get("plotly_chart")  # the plotly figure waits for the end
    numbers = next(markup for markup in status_markup(at) if "train-numbers" in markup)
    assert re.search(r"Train loss</span><b>\d\.\d{4}</b>", numbers), numbers
    at.button(key="train_stop").click().run()
    assert not at.exception
    # Training ends at once; the run then classifies the test set itself, and the page shows its result.
    wait_for(at, lambda app: app.session_state["_transient_train_drawn_state"] == "stopped")
    assert at.button(key="train_stop").disabled  # nothing left to stop
    assert any("misclassified" in m.value for m in at.markdown)


@pytest.mark.slow
def test_run_to_completion_shows_results(at):
    quick_run(at)
    # The job can finish between the live panel's snapshot and the results' in one run: then the next run
    # (the fragment's tick in a browser) shows the finished state. Wait for both.
    wait_for(at, finished)
    assert [c for c in at.get("plotly_chart") if c.proto.id.endswith("train_curves")]  # the full figure, at the end
    assert not [e for e in at.get("bidi_component") if e.key == "train_live_curves"]
    labels = [d.label for d in at.get("download_button")]
    assert {"Download checkpoint (.pt)", "Download metrics (.csv)", "Download config (.json)"} <= set(labels)


@pytest.mark.slow
def test_a_loaded_checkpoint_beside_a_finished_run_does_not_crash(at):
    # Both show a confusion matrix: their element keys must differ (this raised StreamlitDuplicateElementKey).
    quick_run(at)
    wait_for(at, finished)
    data = save_checkpoint(build_model(NETWORK_PRESETS["tiny"], seed=0), NETWORK_PRESETS["tiny"])
    at.file_uploader(key="train_ckpt").upload("tiny.pt", data, "application/octet-stream").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 5  # curves, and both runs' confusion matrices and per-digit bars
    assert any("Checkpoint tiny.pt loaded" in s.value for s in at.success)


def refreshed(query: dict[str, str], kept: str) -> AppTest:
    """A refresh: a new session on the same address, to which the tab's memory (cnnviz.ui.tab_memory, JavaScript
    that AppTest cannot run) has sent back the run it kept."""
    app = AppTest.from_file(str(UI / "train.py"), default_timeout=120)
    for key, value in query.items():
        app.query_params[key] = value
    app.session_state["_transient_train_tab_run_sent"] = kept  # what the component's callback stores
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.mark.slow
def test_the_address_never_names_the_run_and_a_refresh_finds_it_through_the_tab(at):
    at.selectbox(key="train_preset").set_value("tiny").run()
    quick_run(at)
    run_id = page_state(at, "train").run
    assert run_id and "run" not in at.query_params  # a pasted address bar gives nobody Pause and Stop
    assert at.query_params["net"] == "tiny"
    again = refreshed(dict(at.query_params), run_id)
    assert page_state(again, "train").run == run_id and "run" not in again.query_params
    assert not again.button(key="train_stop").disabled or finished(again)  # the owner's controls are back
    assert again.selectbox(key="train_preset").value == "tiny" and again.select_slider(key="train_subset").value == 1000
    wait_for(again, finished)
    old_link = run_page("train", query={"net": "tiny", "run": run_id})  # a link from before: followed, then dropped
    assert page_state(old_link, "train").run == run_id and "run" not in old_link.query_params
    stranger = refreshed({}, "not-a-real-run-id")
    assert "gone" in stranger.warning[0].value and page_state(stranger, "train").run == ""


def test_only_devices_that_exist_are_offered(at):
    import torch

    options = at.selectbox(key="train_device").options
    assert options[:2] == ["automatic", "CPU"]
    assert ("GPU (CUDA)" in options) == torch.cuda.is_available()
    app = run_page("train", query={"dev": "cuda"}) if not torch.cuda.is_available() else at
    assert app.selectbox(key="train_device").value in ("auto", "cuda")


def test_the_preset_promises_no_seconds(at):
    labels = [at.selectbox(key="train_preset").format_func(p) for p in NETWORK_PRESETS]
    assert not any(" s)" in label or "second" in label for label in labels)


def test_a_link_reproduces_the_configuration():
    app = run_page("train", query={"net": "classic", "ep": "2", "lr": "0.05", "opt": "sgd", "bs": "64"})
    assert app.number_input(key="train_b0_channels").value == 32
    assert (app.number_input(key="train_epochs").value, app.number_input(key="train_lr").value) == (2, 0.05)
    assert app.selectbox(key="train_optimizer").value == "sgd" and app.select_slider(key="train_batch").value == 64
    assert next(m.value for m in app.markdown if "trainable" in m.value).startswith("**220,234**")
    app.number_input(key="train_b1_channels").set_value(48).run()
    assert app.query_params["b"].startswith("32.3.1.1.relu.0.max.2_48.")


def test_garbage_checkpoint_is_refused_clearly(at):
    at.file_uploader(key="train_ckpt").upload("model.pt", b"definitely not torch", "application/octet-stream").run()
    assert not at.exception
    assert "not a cnnviz checkpoint" in at.error[0].value


def test_the_network_exports_as_pytorch_code(at):
    at.selectbox(key="train_preset").set_value("classic").run()
    code = next(c.value for c in at.code if "class Net" in c.value)
    namespace = {"__name__": "exported"}
    exec(compile(code, "cnnviz_net.py", "exec"), namespace)
    assert sum(p.numel() for p in namespace["Net"]().parameters()) == 220_234  # the summary's count
    assert any(d.label == "Download the .py file" for d in at.get("download_button"))


@pytest.mark.slow
def test_a_watch_link_shows_the_run_read_only(at):
    at.selectbox(key="train_preset").set_value("tiny").run()
    quick_run(at)
    owner_run = page_state(at, "train").run
    watch_id = session_registry_watch_id(owner_run)
    viewer = run_page("train", query={"watch": watch_id})
    assert any("You are watching" in i.value for i in viewer.info)
    assert not [b for b in viewer.button if b.key in ("train_start", "train_pause", "train_stop")]  # no controls
    assert not [n for n in viewer.number_input if n.key.startswith("train_")]  # nor settings to change
    assert page_state(viewer, "train").run == "" and viewer.query_params["watch"] == watch_id
    wait_for(viewer, lambda app: any("misclassified" in m.value for m in app.markdown))
    assert not viewer.get("download_button")


def session_registry_watch_id(run_id: str) -> str:
    from cnnviz.ui import runs

    return runs.registry().get(run_id).watch_id


@pytest.mark.slow
def test_a_killed_worker_is_reported_on_the_page_and_the_next_run_works(at):
    import os
    import signal

    from cnnviz.ui import runs

    at.selectbox(key="train_preset").set_value("tiny").run()
    at.button(key="train_start").click().run()
    job = runs.registry().get(page_state(at, "train").run).job
    wait_for(at, lambda app: job.worker_pid is not None and job.snapshot().steps)
    os.kill(job.worker_pid, signal.SIGKILL)  # what the out-of-memory killer does
    wait_for(at, lambda app: any("stopped from outside (SIGKILL)" in e.value for e in app.error))
    assert "press Start" in " ".join(e.value for e in at.error)
    quick_run(at)  # the server lives on: a new run trains to the end
    wait_for(at, finished)


@pytest.mark.slow
def test_a_run_beyond_the_servers_cap_waits_with_a_message(at):
    import threading

    from cnnviz.ui import runs

    limiter = runs.limiter()
    deadline = time.monotonic() + 60
    while limiter.running:  # runs of earlier tests end within their Stop
        assert time.monotonic() < deadline
        time.sleep(0.1)
    others = [-1 - index for index in range(limiter.limit)]  # other sessions' runs hold every slot
    for ticket in others:
        assert limiter.acquire(ticket, threading.Event())
    try:
        quick_run(at)
        wait_for(at, lambda app: any("number 1 in the queue" in i.value for i in app.info))
        assert page_state(at, "train").run and not progress_text(at)  # waiting, not training
    finally:
        for ticket in others:
            limiter.release(ticket)
    wait_for(at, finished)  # a slot came free: the queued run started by itself


def test_drawing_the_page_loads_mnist_for_the_first_start(tmp_path, monkeypatch):
    """The first Start on a fresh server need not wait for MNIST (2.2 s of the server's CPU): the page loads it in the
    background while the student sets up the run."""
    from test_data import fake_mnist

    fake_mnist(tmp_path)
    monkeypatch.setenv(data.ENV_DIR, str(tmp_path))
    assert not data.is_loaded()
    app = run_page("train")
    assert not app.exception
    deadline = time.monotonic() + 30
    while not data.is_loaded():
        assert time.monotonic() < deadline, "the page did not load MNIST"
        time.sleep(0.05)


@pytest.mark.slow
def test_the_page_shows_the_runs_own_result_and_never_classifies_the_test_set(at, monkeypatch):
    import cnnviz.training.loop
    from cnnviz.ui import runs

    def refuse(*args, **kwargs):
        raise AssertionError("the server classified the test set: the run's own final evaluation is the result")

    monkeypatch.setattr(cnnviz.training.loop, "evaluate", refuse)
    quick_run(at)
    wait_for(at, finished)
    final = runs.registry().get(page_state(at, "train").run).job.snapshot().final
    wrong = int((final.predictions != data.load_mnist().test_labels.numpy()).sum())
    assert f"Test accuracy **{final.accuracy:.2%}** (loss {final.loss:.4f}): **{wrong}** of 10,000" in " ".join(
        m.value for m in at.markdown)
    numbers = next(markup for markup in status_markup(at) if "train-numbers" in markup)
    assert f"Test accuracy</span><b>{final.accuracy:.2%}</b>" in numbers  # the live figure that closes the run


@pytest.mark.slow
def test_a_run_whose_weights_expired_says_so(at):
    from cnnviz.ui import runs

    quick_run(at)
    wait_for(at, finished)
    runs.registry().get(page_state(at, "train").run).job.drop_weights()
    at.run()
    assert not at.exception
    assert any("weights have expired" in i.value for i in at.info)  # where the filters were
    assert any("weights have expired" in c.value for c in at.caption)  # where the checkpoint's download was
    assert "Download checkpoint (.pt)" not in [d.label for d in at.get("download_button")]
    assert any("misclassified" in m.value for m in at.markdown)  # its results stay


@pytest.mark.slow
def test_one_browser_session_has_one_queued_or_training_run(at):
    at.number_input(key="train_epochs").set_value(20).run()
    at.button(key="train_start").click().run()
    first = page_state(at, "train").run
    # The page stops following the run while the session keeps it (the address bar never names it, so drop it
    # from the page's published state): its Start must not begin a second run beside it.
    at.session_state["_page_state_train"] = replace(page_state(at, "train"), run="")
    at.run()
    assert page_state(at, "train").run == ""
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("already has a run queued or training" in e.value for e in at.error)
    assert page_state(at, "train").run == ""  # nothing new started
    at.session_state["_page_state_train"] = replace(page_state(at, "train"), run=first)  # followed again, the
    # first run can be stopped and replaced as always
    at.run()
    at.button(key="train_start").click().run()
    assert page_state(at, "train").run not in ("", first)
