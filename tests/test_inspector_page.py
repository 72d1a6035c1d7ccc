"""The Look inside page through AppTest: every source and control, the clicks' Python side, the model states (none,
a loaded checkpoint, a quick run) and links opening their view in a fresh session.

AppTest sees the canvas and the clickable pictures as unknown elements: a stroke or a click is set as the
component's value, which is what the browser sends (the real ones are in tests/browser/test_inspector_browser.py).
"""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from apptest_kit import page_state, run_page, undeclared_transients
from cnnviz.analysis.inspection import page_channels
from cnnviz.figures import network
from cnnviz.i18n import t
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.pages.inspector import MAPS_PER_PAGE
from cnnviz.training.checkpoints import save_checkpoint

PAGE = "inspector"


def state(app):
    return page_state(app, PAGE)


def texts(app) -> str:
    return " ".join([m.value for m in app.markdown] + [c.value for c in app.caption] + [i.value for i in app.info])


def says(app) -> str:
    return next((m.value for m in app.markdown if m.value.startswith("The network says")), "")


def stroke_png(across: bool = False) -> bytes:
    """What the canvas sends after one stroke, down (a "1") or across: a 224x224 RGBA PNG, white ink on black."""
    canvas = np.zeros((224, 224, 4), np.uint8)
    canvas[..., 3] = 255
    if across:
        canvas[100:118, 40:180, :3] = 255
    else:
        canvas[40:180, 103:121, :3] = 255
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "PNG")
    return buffer.getvalue()


def draw(app, png: bytes | None):
    """What cnnviz.ui.canvas sends on pen-up (a PNG data URL) or on Clear (None)."""
    return send(app, None if png is None else "data:image/png;base64," + base64.b64encode(png).decode())


def send(app, image):
    app.session_state["insp_canvas"] = {"image": image}
    return app.run()


def canvas_data(app) -> dict:
    """What the page hands the canvas component: its size, pen, labels, and the drawing a fresh mount shows."""
    (canvas,) = [element for element in app.get("bidi_component") if element.key == "insp_canvas"]
    return json.loads(canvas.proto.json)


def click(app, key: str, x: float, y: float, width: float, height: float, when: int):
    app.session_state[key] = {"x": x, "y": y, "width": width, "height": height, "unix_time": when}
    return app.run()


@pytest.fixture
def at():
    return run_page(PAGE, query={"src": "mnist", "i": "0"})


def test_without_a_model_the_page_says_so_and_shows_an_untrained_network():
    app = run_page(PAGE)
    assert "Untrained network" in app.warning[0].value
    assert not app.button(key="insp_quick_train").disabled
    # An empty canvas: a hint, not a prediction.
    assert says(app) == "" and "Draw a digit" in texts(app)
    assert state(app).source == "draw"


def test_a_stroke_on_the_canvas_gives_a_prediction_and_maps():
    app = run_page(PAGE)
    draw(app, stroke_png())
    assert not app.exception
    assert says(app).startswith("The network says")
    assert len(app.get("plotly_chart")) == 1
    assert "Click a map to show it large." in texts(app)  # the grid of maps was drawn
    assert undeclared_transients(app) == set()  # and its layout is not parked in the session for the next click
    first = says(app)
    draw(app, stroke_png(across=True))
    assert says(app) != first  # another digit, another prediction
    draw(app, _blank_png())  # a black canvas: nothing to read
    assert says(app) == "" and "Draw a digit" in texts(app)
    draw(app, stroke_png())
    draw(app, None)  # Clear
    assert says(app) == "" and "Draw a digit" in texts(app)


def test_the_canvas_gets_its_size_pen_labels_and_the_drawing_back():
    app = run_page(PAGE)
    assert canvas_data(app) == {"side": 224, "stroke": 18, "clear": "Clear",
                                "label": "Drawing canvas: draw one digit in white on black", "image": None}
    url = "data:image/png;base64," + base64.b64encode(stroke_png()).decode()
    send(app, url)
    assert canvas_data(app)["image"] == url  # a canvas mounted afresh redraws what the page is reading
    send(app, "data:image/png;base64,junk")
    assert canvas_data(app)["image"] is None  # only a valid drawing goes back to the browser
    chinese = run_page(PAGE, query={"lang": "zh"})
    assert canvas_data(chinese)["clear"] == "清空"


@pytest.mark.parametrize("image", [
    "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff").decode(),  # not a PNG data URL
    "data:image/png;base64,not base64!",
    "data:image/png;base64," + base64.b64encode(b"GIF89a" + bytes(40)).decode(),  # labelled PNG, is not
    "data:image/png;base64," + "A" * 1_000_000,  # over the size cap
    12345,
])
def test_a_malformed_drawing_from_the_browser_is_read_as_an_empty_canvas(image):
    app = run_page(PAGE)
    send(app, image)
    assert not app.exception
    assert says(app) == "" and "Draw a digit" in texts(app)


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((224, 224, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_mnist_index_and_random(at):
    assert "MNIST says this is a 7" in texts(at) and says(at)
    at.number_input(key="insp_index").set_value(1).run()
    assert state(at).index == 1 and "MNIST says this is a 2" in texts(at)
    at.button(key="insp_random").click().run()
    assert not at.exception
    # A link names only what differs from the defaults: a random draw of digit 0 (1 in 10,000) leaves "i" out.
    assert at.number_input(key="insp_index").value == state(at).index == int(at.query_params.get("i", "0"))


def test_an_uploaded_photo_goes_through_the_mnist_recipe(at):
    at.segmented_control(key="insp_source").set_value("upload").run()
    assert "Upload a photo" in texts(at) and says(at) == ""
    paper = np.full((120, 90), 255, np.uint8)
    paper[20:100, 40:52] = 20  # a dark "1" on white paper
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, "PNG")
    at.file_uploader(key="insp_upload").upload("one.png", buffer.getvalue(), "image/png").run()
    assert says(at)
    at.segmented_control(key="insp_ink").set_value("light").run()  # read as light ink: the paper becomes the digit
    assert not at.exception and state(at).ink == "light"
    at.file_uploader(key="insp_upload").upload("bad.png", b"not an image", "image/png").run()
    assert at.error and says(at) == ""


@pytest.mark.slow
def test_the_gallery_offers_the_model_s_mistakes(at):
    at.segmented_control(key="insp_source").set_value("gallery").run()
    picker = at.selectbox(key="insp_gallery")
    assert "misclassified, most confident first" in picker.label
    assert picker.options[0].startswith("#0: a 7 read as")  # the current digit stays on offer
    index = int(picker.options[1].split(":")[0][1:])
    picker.set_value(index).run()
    assert state(at).index == index and state(at).source == "gallery"


def test_feature_map_controls(at):
    at.selectbox(key="insp_layer").set_value("conv2").run()
    assert at.number_input(key="insp_channel").max == 31
    assert at.segmented_control(key="insp_page").options == ["0–15", "16–31"]  # each page's first and last map
    at.segmented_control(key="insp_page").set_value(1).run()
    assert (state(at).page, state(at).channel) == (1, 16)  # a new page shows its first map large
    at.number_input(key="insp_channel").set_value(3).run()
    assert (state(at).page, state(at).channel) == (0, 3)  # the page follows the map shown large
    at.segmented_control(key="insp_scaling").set_value("layer").run()
    assert state(at).scaling == "layer"
    at.selectbox(key="insp_layer").set_value("pool2").run()
    assert state(at).layer == "pool2" and state(at).channel == 3
    at.selectbox(key="insp_layer").set_value("act1").run()  # 16 maps: one page, no page control
    assert not at.get("segmented_control") or all(s.key != "insp_page" for s in at.get("segmented_control"))


def test_clicks_pick_a_map_and_a_unit_and_draw_its_receptive_field(at):
    channels = int(at.number_input(key="insp_channel").max) + 1
    layout = network.grid_layout((24, 24), page_channels(channels, 0, MAPS_PER_PAGE))  # conv1's 24 x 24 maps
    height, width = layout.size
    top, left = layout.origin(5)
    click(at, "insp_grid_click", left + 20, top + 40, width, height, when=1)
    assert state(at).channel == 5 and at.number_input(key="insp_channel").value == 5
    assert "Click a unit" in texts(at)
    click(at, "insp_unit_click", 100, 50, 200, 200, when=2)  # conv1 (5x5, no padding) is 24x24: row 6, column 12
    assert state(at).unit == (6, 12)
    assert "Unit (6, 12) of conv1 sees a 5 × 5 window of the input: rows 6–10, columns 12–16." in texts(at)
    at.run()  # the same click again (the component keeps its value) is not a new one
    assert state(at).unit == (6, 12)
    at.selectbox(key="insp_layer").set_value("pool2").run()
    assert state(at).unit is None  # another layer starts without a unit
    click(at, "insp_unit_click", 0, 0, 200, 200, when=3)
    # conv 5 -> pool 2 -> conv 3 -> pool 2: 5, 5 + 1, 6 + 2 x 2, 10 + 2 x 1 x 2 = 12, from the top-left corner
    assert "Unit (0, 0) of pool2 sees a 12 × 12 window of the input: rows 0–11, columns 0–11." in texts(at)
    assert "padding" not in texts(at)  # the default network pads nothing
    at.button(key="insp_rf_clear").click().run()
    assert state(at).unit is None and "Click a unit" in texts(at)


def test_attribution_controls(at):
    at.segmented_control(key="insp_view").set_value("attribution").run()
    assert "for class" in texts(at)
    for method in ("saliency", "integrated_gradients", "grad_cam"):
        at.segmented_control(key="insp_method").set_value(method).run()
        assert not at.exception and state(at).method == method
    at.selectbox(key="insp_target").set_value(3).run()
    assert "for class **3**" in texts(at) and state(at).target == 3


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_grad_cam_says_it_marks_places_and_can_light_up_the_background(lang):
    query = {"v": "attribution", "m": "grad_cam", "src": "mnist", **({"lang": lang} if lang != "en" else {})}
    captions = [c.value for c in run_page(PAGE, query=query).caption]
    assert t("insp.method_why.grad_cam", lang) in captions
    assert "strokes that count" not in " ".join(captions) and "起决定作用的笔画" not in " ".join(captions)
    assert ("background" if lang == "en" else "背景") in t("insp.method_why.grad_cam", lang)


def test_filters_and_summary(at):
    at.segmented_control(key="insp_view").set_value("filters").run()
    assert "The 16 first-layer filters (5 × 5)" in texts(at)
    at.selectbox(key="insp_filters").set_value("conv2").run()
    assert "conv2, filters 0–15" in texts(at)
    assert at.segmented_control(key="insp_filter_page").options == ["0–15", "16–31"]
    at.segmented_control(key="insp_filter_page").set_value(1).run()
    assert "conv2, filters 16–31" in texts(at) and state(at).filter_page == 1
    at.segmented_control(key="insp_view").set_value("summary").run()
    table = at.dataframe[0].value
    assert list(table["layer"])[:4] == ["conv1", "pool1", "bn1", "act1"]  # the default pools first
    assert list(table["RF"])[:4] == ["5 × 5", "6 × 6", "", ""]
    assert "**108,970** parameters" in texts(at)


def test_a_loaded_checkpoint_is_inspected(at):
    data = save_checkpoint(build_model(NETWORK_PRESETS["tiny"], seed=0), NETWORK_PRESETS["tiny"])
    at.file_uploader(key="insp_ckpt").upload("tiny.pt", data, "application/octet-stream").run()
    assert not at.exception and not at.warning
    assert "Looking inside **tiny.pt** (a loaded checkpoint)" in texts(at)
    assert at.number_input(key="insp_channel").max == 7  # tiny's conv1 has 8 maps


def test_a_checkpoint_with_several_hidden_layers_is_inspected(at):
    from cnnviz.model import ConvBlock, ModelConfig

    cfg = ModelConfig(blocks=(ConvBlock(4, padding=0),), hidden=(24, 12))
    at.file_uploader(key="insp_ckpt").upload("two_fc.pt", save_checkpoint(build_model(cfg, seed=0), cfg),
                                             "application/octet-stream").run()
    assert not at.exception and not at.warning
    at.segmented_control(key="insp_view").set_value("summary").run()
    layers = list(at.dataframe[0].value["layer"])
    assert layers[-6:] == ["flatten1", "fc1", "act2", "fc2", "act3", "fc3"]
    params = 4 * 10 + 24 * (4 * 13 * 13 + 1) + 12 * (24 + 1) + 10 * (12 + 1)
    assert f"**{params:,}** parameters" in texts(at) and says(at)


def test_a_link_opens_its_view_in_a_fresh_session():
    query = {"src": "mnist", "i": "7", "l": "conv2", "ch": "20", "pg": "1", "u": "3,4", "sc": "layer"}
    app = run_page(PAGE, query=query)
    assert state(app).to_query() == query
    assert app.selectbox(key="insp_layer").value == "conv2" and app.number_input(key="insp_channel").value == 20
    assert app.segmented_control(key="insp_source").value == "mnist" and app.number_input(key="insp_index").value == 7
    # conv2's field is 10 wide and moves 2 per unit (after a pool of 2): row 3 starts at 6, column 4 at 8
    assert "Unit (3, 4) of conv2 sees a 10 × 10 window of the input: rows 6–15, columns 8–17." in texts(app)
    other = run_page(PAGE, query={"v": "attribution", "m": "saliency", "cls": "4", "src": "mnist"})
    assert other.segmented_control(key="insp_method").value == "saliency" and "for class **4**" in texts(other)


def test_a_bad_link_says_what_it_ignored():
    app = run_page(PAGE, query={"src": "mnist", "l": "conv9", "ch": "x"})
    assert "ch=x" in app.warning[0].value and "Untrained" in app.warning[1].value
    assert state(app).layer == "conv1"  # an unknown layer falls back to the first


def test_a_drawing_cannot_travel_in_a_link_and_the_share_note_says_so():
    app = run_page(PAGE)
    assert any("A drawing cannot travel in a link" in i.value for i in app.info)


@pytest.mark.slow
def test_the_quick_model_trains_where_the_train_page_can_follow_it():
    from cnnviz.ui import runs

    app = run_page(PAGE, query={"src": "mnist"})
    app.button(key="insp_quick_train").click().run()
    train = page_state(app, "train")
    try:
        assert train.run and (train.subset, train.epochs, train.preset) == (2000, 1, "default")
        assert not app.exception
        assert app.button(key="insp_quick_train").disabled or "Looking inside" in texts(app)
    finally:
        runs.registry().get(train.run).job.stop()


@pytest.mark.slow
def test_a_finished_runs_mistakes_are_its_own_and_expired_weights_are_named(monkeypatch):
    import cnnviz.data
    import cnnviz.training.loop
    from cnnviz.pages.train import misclassified
    from cnnviz.ui import runs

    def refuse(*args, **kwargs):
        raise AssertionError("the server classified the test set: a finished run's own evaluation is its result")

    app = run_page(PAGE, query={"src": "mnist"})
    app.button(key="insp_quick_train").click().run()
    job = runs.registry().get(page_state(app, "train").run).job
    assert job.wait(300) and job.snapshot().state == "done"
    monkeypatch.setattr(cnnviz.training.loop, "evaluate", refuse)
    app.run()
    app.segmented_control(key="insp_source").set_value("gallery").run()
    assert not app.exception and not any("went wrong" in e.value for e in app.error)
    labels = np.asarray(cnnviz.data.load_mnist().test_labels)
    wrong = misclassified(job.snapshot().final.probabilities, labels)
    offered = [int(option.split(":")[0][1:]) for option in app.selectbox(key="insp_gallery").options[1:]]
    assert offered == [int(i) for i in wrong[:len(offered)]]  # the run's own mistakes, most confident first
    monkeypatch.undo()  # the network shown once the weights expire is not a run: its mistakes are computed here
    job.drop_weights()
    app.run()
    assert any("weights have expired" in i.value for i in app.info)
