"""Receptive-field page through AppTest: presets, the click, the pickers, the stack table, errors and links.

Inputs stay small (the 28x28 MNIST digit, or a 64 px sample) so every run takes a fraction of a second.
"""
import pytest
from streamlit.testing.v1 import AppTest

from apptest_kit import UI, page_state, run_page, undeclared_transients
from cnnviz.model import NETWORK_PRESETS as MODEL_PRESETS
from cnnviz.model import build_model
from cnnviz.pages.receptive_field import STACK_PRESETS
from cnnviz.training.checkpoints import LoadedCheckpoint

PAGE = "receptive_field"


@pytest.fixture
def at():
    return run_page(PAGE, timeout=60)


def state(app):
    return page_state(app, PAGE)


def markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def images(app) -> int:
    return sum(len(element.proto.imgs) for element in app.get("image"))


def test_default_is_the_classic_mnist_net_with_its_tutorial_numbers(at):
    page = markdown(at)
    assert "**Unit (3, 3)** of **pool2** (output 7 × 7)" in page
    assert "sees input rows 9 … 18 and columns 9 … 18: a field of **10** px" in page
    assert "Field size: tutorial **10**, this app **10** ✓" in page
    assert "Start (first input position of unit 0): tutorial **−3**, this app **−3** ✓" in page
    assert "90% of the gradient lies in **" in page and "of the **100** pixels" in page
    assert "27C² = **110,592**" in page and "49C² = **200,704**" in page
    assert images(at) == 1  # the random-weight field; the unit picture is a component AppTest cannot see
    assert undeclared_transients(at) == set()  # no view is parked in the session for the next click
    assert not at.query_params or all(not v for v in at.query_params.values())
    assert "Train a network" in at.info[0].value
    assert "The network trained in this session" not in at.selectbox(key="rf_preset").options


def test_a_click_on_the_picture_chooses_the_unit_under_it(at):
    # The 544 px picture shown 272 px wide: unit (0, 0)'s centre is at (40, 40), unit (0, 6)'s at (232, 40).
    at.session_state["rf_click"] = {"x": 40, "y": 40, "width": 272, "height": 272, "unix_time": 1}
    at.run()
    assert state(at).unit == (0, 0) and at.query_params["unit"] == "0,0"
    page = markdown(at)
    assert "sees input rows −3 … 6 and columns −3 … 6" in page and "**51%** of the field is padding" in page
    assert at.slider(key="rf_row").value == 0 and at.slider(key="rf_col").value == 0  # the sliders follow
    at.session_state["rf_click"] = {"x": 232, "y": 40, "width": 272, "height": 272, "unix_time": 2}
    at.run()
    assert state(at).unit == (0, 6)
    at.slider(key="rf_row").set_value(2).run()  # an unrelated rerun does not replay the last click
    assert state(at).unit == (2, 6)


def test_sliders_choose_the_unit(at):
    at.slider(key="rf_row").set_value(5).run()
    at.slider(key="rf_col").set_value(1).run()
    assert state(at).unit == (5, 1) and at.query_params["unit"] == "5,1"
    assert "**Unit (5, 1)**" in markdown(at)


def test_changing_the_layer_keeps_the_place(at):
    at.selectbox(key="rf_layer").set_value(0).run()
    assert (state(at).layer, state(at).unit) == (0, (14, 14))  # conv1's unit centred nearest (13.5, 13.5)
    assert "field of **3** px" in markdown(at)
    assert at.slider(key="rf_row").max == 27
    at.selectbox(key="rf_layer").set_value(2).run()
    assert (state(at).layer, state(at).unit) == (2, (7, 7))


def test_nested_boxes_toggle(at):
    assert "conv1: 3" in "".join(h.proto.body for h in at.get("html"))
    at.toggle(key="rf_nested").set_value(False).run()
    assert at.query_params["nest"] == "0"
    assert "conv1: 3" not in "".join(h.proto.body for h in at.get("html"))


def test_presets_and_their_tutorial_check(at):
    at.selectbox(key="rf_preset").set_value("three_3x3").run()
    assert "Field size: tutorial **7**, this app **7** ✓" in markdown(at)
    assert at.query_params["preset"] == "three_3x3"
    at.selectbox(key="rf_preset").set_value("dilated").run()
    assert "field of **15** px" in markdown(at) and "tutorial" not in markdown(at)


def test_editing_the_stack_in_the_table(at):
    at.session_state["rf_stack"] = {"edited_rows": {0: {"k": 5, "p": 2}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert state(at).layers[0].kernel == (5, 5) and state(at).preset == "mnist"
    assert at.query_params["stack"] == "c5p2_m2s2_c3p1_m2s2"
    assert "field of **12** px" in markdown(at) and "tutorial" not in markdown(at)  # edited: no tutorial check
    at.button(key="rf_reset").click().run()
    assert state(at).layers == STACK_PRESETS["mnist"].layers and "stack" not in at.query_params


def test_adding_and_deleting_rows_in_the_table(at):
    at.session_state["rf_stack"] = {"edited_rows": {}, "added_rows": [{"kind": "avg", "k": 3}], "deleted_rows": [1]}
    at.run()
    assert at.query_params["stack"] == "c3p1_c3p1_m2s2_a3p1"  # blank cells of a new row: s 1, p 1, d 1


def test_buttons_move_remove_and_add_the_chosen_layer(at):
    at.button(key="rf_up").click().run()
    assert at.query_params["stack"] == "c3p1_m2s2_m2s2_c3p1" and state(at).layer == 2
    at.button(key="rf_remove").click().run()
    assert at.query_params["stack"] == "c3p1_m2s2_c3p1" and state(at).layer == 1
    at.button(key="rf_add_avg").click().run()
    assert at.query_params["stack"] == "c3p1_m2s2_a2s2_c3p1" and state(at).layer == 2
    at.button(key="rf_down").click().run()
    assert at.query_params["stack"] == "c3p1_m2s2_c3p1_a2s2" and state(at).layer == 3
    assert at.button(key="rf_down").disabled


def test_a_stack_that_kills_the_input_says_which_layer(at):
    for _ in range(3):
        at.button(key="rf_add_max").click().run()  # 7 -> 3 -> 1 -> nothing
    assert not at.exception
    # pool2 is the mnist stack's; the three added pools follow it (markdown escapes the underscore)
    assert r"layer 6 (pool2\_4) gets a 1x1 map" in at.error[0].value
    assert at.button(key="rf_remove").disabled is False  # the table and its buttons stay to fix it
    at.button(key="rf_remove").click().run()
    assert not at.error and "**Unit (0, 0)** of **pool2_3**" in markdown(at)


def test_channels_fill_in_the_parameter_counts(at):
    at.number_input(key="rf_channels").set_value(8).run()
    assert "27C² = **1,728**" in markdown(at) and at.query_params["ch"] == "8"
    assert "C = 8 channels in every conv (the first conv takes the image's 1): C_in·C_out·k·k + C_out each, 664" in \
        " ".join(c.value for c in at.caption)  # (1·8·9 + 8) + (8·8·9 + 8) = 80 + 584


def test_seed_changes_the_random_field(at):
    before = markdown(at)
    at.number_input(key="rf_seed").set_value(5).run()
    assert at.query_params["seed"] == "5"
    captions = [i.caption for e in at.get("image") for i in e.proto.imgs]
    assert captions[0] == "Random weights (PyTorch's default initialisation, seed 5, 16 channels)"
    assert before != markdown(at)


def test_a_link_opens_vgg16_on_a_small_sample():
    app = run_page(PAGE, query={"preset": "vgg16", "ws": "64", "unit": "1,0"})
    assert "**Unit (1, 0)** of **pool5** (output 2 × 2)" in markdown(app)
    assert "a field of **212** px" in markdown(app)
    assert app.selectbox(key="rf_preset").value == "vgg16" and app.select_slider(key="rf_working").value == 64


def test_vgg16_on_the_mnist_digit_is_an_error_not_an_exception():
    app = run_page(PAGE, query={"preset": "vgg16", "img": "mnist_digit"})
    assert "cannot run on a 28×28 input: layer 17 (pool5) gets a 1x1 map" in app.error[0].value


def test_a_bad_link_says_what_it_ignored():
    app = run_page(PAGE, query={"stack": "c3p1_zz", "layer": "x"})
    assert r"stack=c3p1\_zz" in app.warning[0].value and "layer=x" in app.warning[0].value  # shown as text
    assert state(app).layers == STACK_PRESETS["mnist"].layers


def _with_checkpoint() -> AppTest:
    app = AppTest.from_file(str(UI / f"{PAGE}.py"), default_timeout=60)
    model = build_model(MODEL_PRESETS["tiny"], seed=0)
    app.session_state["_transient_loaded_checkpoint"] = LoadedCheckpoint("file", "tiny.pt", model,
                                                                         MODEL_PRESETS["tiny"], {})
    app.run()
    assert not app.exception
    return app


def test_with_a_trained_network_the_page_starts_from_it_and_shows_trained_weights():
    app = _with_checkpoint()
    assert state(app).preset == "session" and "tiny.pt" in app.info[0].value  # the note saying so
    assert app.selectbox(key="rf_preset").value == "session"
    captions = [i.caption for e in app.get("image") for i in e.proto.imgs]
    assert captions[1] == "Trained weights: tiny.pt"
    assert markdown(app).count("90% of the gradient lies in") == 2
    app.selectbox(key="rf_preset").set_value("vgg16").run()
    assert "tiny.pt" in app.info[-1].value  # another stack: an offer to go back to the trained one
    app.button(key="rf_use_session").click().run()
    assert state(app).preset == "session" and app.query_params["preset"] == "session"
    assert [i.caption for e in app.get("image") for i in e.proto.imgs][1] == "Trained weights: tiny.pt"


def test_a_link_wins_over_the_trained_network():
    app = AppTest.from_file(str(UI / f"{PAGE}.py"), default_timeout=60)
    app.session_state["_transient_loaded_checkpoint"] = LoadedCheckpoint("file", "tiny.pt", build_model(
        MODEL_PRESETS["tiny"], seed=0), MODEL_PRESETS["tiny"], {})
    app.query_params["preset"] = "three_3x3"
    app.run()
    assert state(app).preset == "three_3x3"


def test_a_session_link_without_a_trained_network_shows_the_layers():
    app = run_page(PAGE, query={"preset": "session", "stack": "c5p2_m2s2"})
    assert "field of **6** px" in markdown(app) and "Train a network" in app.info[0].value


def test_one_run_computes_the_view_once(monkeypatch):
    import cnnviz.pages.receptive_field as rf_page
    calls = {"compute": 0, "analyzed_prefix": 0}

    def counted(name):
        real = getattr(rf_page, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    for name in calls:
        monkeypatch.setattr(rf_page, name, counted(name))
    app = run_page(PAGE, timeout=60)
    assert calls == {"compute": 1, "analyzed_prefix": 0}  # the table reads the view's rows
    app.slider(key="rf_row").set_value(2).run()
    assert calls == {"compute": 2, "analyzed_prefix": 0}
    # A stack that shrinks the input to nothing: the table shows the layers that still run.
    broken = run_page(PAGE, timeout=60, query={"preset": "vgg16", "img": "mnist_digit"})
    assert "layer 17 (pool5) gets a 1x1 map" in broken.error[0].value
    assert calls == {"compute": 3, "analyzed_prefix": 1}


# --- "your model": a model's graph instead of the stack -----------------------------------------------------

MODEL_LINK = {"preset": "yours", "net": "resnet", "node": "block1.add", "unit": "3,4"}


def test_a_link_opens_a_residual_blocks_unit_on_the_models_input():
    at = run_page(PAGE, timeout=60, query=MODEL_LINK)
    page = markdown(at)
    # stem 3x3 p1, pool 2; block1's two 3x3 convs: field 12, jump 2, start -5 (the shortcut's 4 lies inside it)
    assert "**Unit (3, 4)** of **block1.add** (output 14 × 14)" in page
    assert "sees input rows 1 … 12 and columns 3 … 14: a field of **12** px, neighbouring units 2 px apart" in page
    assert "takes one 1 × 28 × 28 image: 19,706 parameters" in page
    assert images(at) == 2  # the effective field on random kernels and on the trained ones
    assert page.count("90% of the gradient lies in") == 2
    layer = at.selectbox(key="rf_layer")
    assert layer.value == 9 and layer.format_func(9) == "block1.add · add"
    assert not at.get("arrow_data_frame") and "rf_stack" not in at.session_state  # no stack editor for a graph
    written = {key: at.query_params[key] for key in at.query_params if at.query_params[key]}
    assert written == {"preset": "yours", "node": "block1.add", "unit": "3,4"}  # the residual net is the default
    assert not at.warning  # both paths centred alike


def test_picking_your_model_in_the_menu_then_a_layer_and_another_model():
    at = run_page(PAGE, timeout=60)
    at.selectbox(key="rf_preset").set_value("yours").run()
    assert state(at).graph and state(at).network == "resnet" and state(at).node == ""
    assert "**Unit (3, 3)** of **block2.relu_1** (output 7 × 7)" in markdown(at)  # the deepest layer of maps
    at.selectbox(key="rf_layer").set_value(3).run()  # stem.2, the pool: the unit nearest the same centre
    assert state(at).node == "stem.2" and at.query_params["node"] == "stem.2"
    # block2.relu_1's (3, 3) is centred at -11 + 3·4 + 23/2 = 12.5; stem.2's unit i at -1 + 2i + 3/2: i = 6
    assert "**Unit (6, 6)** of **stem.2**" in markdown(at)
    at.selectbox(key="rf_network").set_value("inception").run()
    assert state(at).network == "inception" and state(at).node == "" and at.query_params["net"] == "inception"
    assert "**Unit (3, 3)** of **head.0** (output 7 × 7)" in markdown(at)
    at.selectbox(key="rf_preset").set_value("vgg16").run()  # back to a stack: the model leaves the link
    assert not state(at).graph and "net" not in at.query_params and "node" not in at.query_params


def test_a_click_on_the_models_picture_and_on_a_row_of_its_table():
    at = run_page(PAGE, timeout=60, query=MODEL_LINK)
    at.session_state["rf_graph_click"] = {"click": {"layer": "block2.add", "unix_time": 1}}
    at.run()
    # block1.add's (3, 4) is centred at (6.5, 8.5); block2.add's unit i at -11 + 4i + 23/2 = 4i + 0.5: rows 1.5,
    # halfway, go to the later unit 2; columns 2
    assert state(at).node == "block2.add" and state(at).unit == (2, 2)
    assert "**Unit (2, 2)** of **block2.add** (output 7 × 7)" in markdown(at)
    at.session_state["rf_graph_click"] = {"click": {"layer": "head.2", "unix_time": 2}}  # the linear layer: no field
    at.run()
    assert state(at).node == "block2.add"
    # The picture: 28 px and a margin as far as head.0's field reaches (11 px), 2 px a pixel wide... a click at the
    # very first pixel of the picture's input lands on unit (0, 0).
    margin = 11
    side = 28 + 2 * margin
    at.session_state["rf_click"] = {"x": margin + 0.5, "y": margin + 0.5, "width": side, "height": side,
                                   "unix_time": 3}
    at.run()
    assert state(at).unit == (0, 0) and at.query_params["unit"] == "0,0"


def test_an_uploaded_model_reached_by_a_link_without_it_says_where_to_open_one():
    at = run_page(PAGE, timeout=60, query={"preset": "yours", "net": "upload"})
    assert "No model has been uploaded in this session yet" in at.info[0].value
    assert "Open a model on the Your network page" in markdown(at)


def test_the_model_this_session_uploaded_is_offered_and_shown():
    from cnnviz.pages.your_network import describe, open_demo

    at = AppTest.from_file(str(UI / f"{PAGE}.py"), default_timeout=60)
    at.session_state["_transient_yours_uploaded"] = ("upload:test", describe(open_demo("inception", "onnx")))
    at.query_params.update({"preset": "yours", "net": "upload"})
    at.run()
    assert not at.exception
    assert at.selectbox(key="rf_network").options[-1] == "Your own file"
    assert "**Unit (3, 3)** of **head.0.MaxPool** (output 7 × 7)" in markdown(at)
    assert any("cannot carry your uploaded model" in note.value for note in at.info)  # in the link's popover


def test_the_your_network_page_links_to_its_models_fields_at_its_layer_and_unit():
    at = run_page("your_network", timeout=120, query={"m": "inception", "fmt": "onnx"})
    # the page's first convolution, no unit chosen yet
    assert "receptive-field?preset=yours&net=inception&fmt=onnx&node=stem.0.Conv)" in markdown(at)
    at = run_page("your_network", timeout=120, query={"m": "resnet", "ly": "block1.add", "u": "3,4"})
    assert "receptive-field?preset=yours&unit=3%2C4&node=block1.add)" in markdown(at)


def test_a_colour_model_of_another_size_takes_a_colour_picture():
    import io

    import torch
    from torch import nn

    from cnnviz.graph.open import open_model
    from cnnviz.pages.your_network import describe

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(net, (torch.zeros(1, 3, 40, 48),)), buffer)
    facts = describe(open_model(buffer.getvalue(), "colour.pt2"))
    at = AppTest.from_file(str(UI / f"{PAGE}.py"), default_timeout=60)
    at.session_state["_transient_yours_uploaded"] = ("upload:colour", facts)
    at.query_params.update({"preset": "yours", "net": "upload", "img": "astronaut", "unit": "5,6"})
    at.run()
    assert not at.exception
    # conv 3x3 s2 p1 (3, jump 2, start -1), then conv 3x3 p1: 7 px, jump 2, start -3; a 20 x 24 map
    page = markdown(at)
    assert "**Unit (5, 6)** of **2** (output 20 × 24)" in page
    assert "sees input rows 7 … 13 and columns 9 … 15: a field of **7** px, neighbouring units 2 px apart" in page
    assert page.count("90% of the gradient lies in") == 2
