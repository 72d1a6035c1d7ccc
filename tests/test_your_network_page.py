"""The Your network page through AppTest: the demos, a link, clicks on the table and the maps, uploads, 中文."""
import io

import pytest
import torch
from torch import nn

from apptest_kit import page_state, run_page


@pytest.fixture(scope="module")
def at():
    return run_page("your_network", timeout=120)


def text(app) -> str:
    return "\n".join(m.value for m in app.markdown) + "\n" + "\n".join(c.value for c in app.caption)


def test_the_first_visit_opens_the_residual_demo_on_a_seven(at):
    said = text(at)
    assert "**resnet** (torch.export) takes one 1 × 28 × 28 image: 19,706 parameters" in said
    assert "It says **7**" in said and "Feature maps of stem.0.0" in said and "Grad-CAM for **7**" in said
    assert not at.error
    assert page_state(at, "yours").layer == "stem.0.0"  # the first convolution


def test_a_link_opens_the_onnx_inception_net_at_a_unit():
    layer = "stem.0.Conv"  # named after its ONNX node, as a torch layer after its module
    app = run_page("your_network", query={"m": "inception", "fmt": "onnx", "ly": layer, "u": "4,5", "dg": "1"})
    said = text(app)
    assert "(ONNX)" in said and f"Feature maps of {layer}" in said
    # The ONNX net's first layer: a 3x3 convolution with padding 1 (field 3, start -1): unit (4, 5) sees rows 3..5.
    assert f"Unit (4, 5) of {layer} sees 3 × 3 input pixels, from row 3 and column 4." in said
    assert "It says **2**" in said  # MNIST's second test digit


def test_clicks_pick_the_layer_the_channel_and_the_unit():
    app = run_page("your_network")
    app.session_state["yours_table_click"] = {"click": {"layer": "block1.add", "unix_time": 1}}
    app.run()
    assert page_state(app, "yours").layer == "block1.add"
    # The grid: 16 maps of 14 x 14 in tiles of 84 px (6 px apart), 4 a row, 366 px square; a click in the second
    # tile of the first row picks channel 1.
    app.session_state["yours_grid_click"] = {"click": {"x": 6 + 90 + 40, "y": 40, "width": 366, "height": 366,
                                                       "unix_time": 2}}
    app.run()
    assert page_state(app, "yours").channel == 1
    app.session_state["yours_unit_click"] = {"click": {"x": 4.5 * 16, "y": 3.5 * 16, "width": 224, "height": 224,
                                                       "unix_time": 3}}
    app.run()
    assert page_state(app, "yours").unit == (3, 4)
    assert "Unit (3, 4) of block1.add sees 12 × 12 input pixels, from row 1 and column 3." in text(app)


def _exported_bytes() -> bytes:
    # 3·4·5·5 + 4 = 304 parameters in the convolution, 4·6·6·3 + 3 = 435 in the dense layer: 739.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(net, (torch.zeros(1, 3, 16, 16),)), buffer)
    return buffer.getvalue()


def test_an_uploaded_model_is_opened_with_its_labels_and_a_bad_one_is_refused():
    app = run_page("your_network", query={"m": "upload", "nm": "none"})
    assert "Choose a model file above" in "\n".join(i.value for i in app.info)
    app.file_uploader(key="yours_model_upload").upload("tiny.pt2", _exported_bytes(), "application/octet-stream")
    app.file_uploader(key="yours_labels_upload").upload("labels.txt", "cat\ndog\nbird\n".encode(), "text/plain")
    app.run()
    said = text(app)
    assert not app.error and "**tiny** (torch.export) takes one 3 × 16 × 16 image: 739 parameters" in said
    assert any(word in said for word in ("It says **cat**", "It says **dog**", "It says **bird**"))
    app.file_uploader(key="yours_model_upload").upload("evil.pt2", b"PK\x03\x04 not a zip", "application/zip")
    app.run()
    assert app.error and "Meanwhile the residual demo net is shown" in "\n".join(i.value for i in app.info)


def test_the_page_reads_in_chinese():
    app = run_page("your_network", query={"lang": "zh", "am": "saliency"})
    said = text(app)
    assert "逐层查看" in said and "它判断为 **7**" in said and "显著图" in said


def _onnx_with_a_gather() -> bytes:
    """A 3x3 convolution and a ReLU, then an operator cnnviz does not read (Gather)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(3, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["X", "W"], ["c"], name="my_conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="my_relu"),
             helper.make_node("Gather", ["r", "i"], ["Y"], name="pick_rows")]
    graph = helper.make_graph(nodes, "partial", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2, 8, 8])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(np.array([0]), "i")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_model_with_an_unreadable_operator_shows_the_part_before_it():
    app = run_page("your_network", query={"m": "upload", "nm": "none"})
    upload = app.file_uploader(key="yours_model_upload")
    upload.upload("partial.onnx", _onnx_with_a_gather(), "application/octet-stream")
    app.run()
    warned = "\n".join(w.value for w in app.warning)
    assert "Gather" in warned and "pick\\_rows" in warned and "without a prediction" in warned  # markdown-escaped
    said = text(app)
    assert "**partial** (ONNX) takes one 2 × 8 × 8 image: 54 parameters" in said  # 3·2·3·3, no bias
    assert "It says" not in said and "Feature maps of" in said
    assert "no prediction to explain" in "\n".join(i.value for i in app.info)


def test_an_uploaded_picture_is_prepared_for_the_network():
    from PIL import Image

    app = run_page("your_network", query={"src": "upload", "inv": "1"})
    assert "Choose a picture above" in "\n".join(i.value for i in app.info)
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (250, 250, 250)).save(buffer, format="PNG")  # a blank white page
    app.file_uploader(key="yours_picture_upload").upload("page.png", buffer.getvalue(), "image/png").run()
    assert not app.error and "Choose a picture above" not in "\n".join(i.value for i in app.info)
    assert "It says" in text(app)


def test_the_settings_are_in_the_sidebar_with_a_link_that_says_what_it_cannot_carry(at):
    assert at.sidebar.selectbox(key="yours_model").value == "resnet"  # settings fold away on a phone
    assert not any("cannot carry" in note.value for note in at.info)  # a demo's link carries everything
    app = run_page("your_network", query={"m": "upload"})
    assert any("cannot carry your uploaded model or picture" in note.value for note in app.sidebar.info)


def test_a_decoders_unit_after_an_upsampling_shows_its_own_field_and_a_hole_says_so():
    from test_pages_your_network import decoder_bytes

    app = run_page("your_network", query={"m": "upload"})
    app.file_uploader(key="yours_model_upload").upload("decoder.pt2", decoder_bytes(), "application/octet-stream")
    app.run()
    assert not app.error
    app.session_state["yours_layer"] = "up"  # 28 x 28 units, each reading one unit of down's 14 x 14
    app.run()
    app.session_state["yours_unit_click"] = {"click": {"x": 9.5 * 10, "y": 5.5 * 10, "width": 280, "height": 280,
                                                       "unix_time": 1}}
    app.run()
    assert "Unit (5, 9) of up sees 3 × 3 input pixels, from row 3 and column 7." in text(app)
    app.session_state["yours_layer"] = "scatter"  # 55 x 55: a 1x1 kernel at stride 2 writes the even units only
    app.run()
    app.session_state["yours_unit_click"] = {"click": {"x": 6.5 * 10, "y": 3.5 * 10, "width": 550, "height": 550,
                                                       "unix_time": 2}}
    app.run()
    assert "Unit (3, 6) of scatter reads no input pixel" in text(app)
