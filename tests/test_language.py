"""The language selector and ?lang=: every page in Chinese, errors from the core in Chinese, the URL kept."""
import re

import pytest
from streamlit.testing.v1 import AppTest

from apptest_kit import edit_grid, grid_key, redraw, run_page

ZH = {"lang": "zh"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def selector(app):
    return app.segmented_control(key="language")


@pytest.mark.parametrize(("module", "title"), [("kernel_lab", "卷积核实验室"), ("step_by_step", "逐步演算"),
                                               ("train", "在 MNIST 上训练"), ("receptive_field", "感受野"),
                                               ("inspector", "看看网络内部"), ("lessons", "课程"),
                                               ("signals", "一维信号"), ("backward", "反向传播"),
                                               ("class_room", "课堂"), ("exercises", "练习")])
def test_lang_in_the_url_shows_the_page_in_chinese(module, title):
    at = run_page(module, query=ZH)
    assert at.title[0].value == title
    assert selector(at).value == "zh" and selector(at).options == ["English", "中文"]
    assert at.query_params["lang"] == "zh"  # written back with the page's own settings


def test_selector_switches_language_and_the_url_follows():
    at = run_page("kernel_lab", query=ZH)
    assert at.selectbox(key="kl_activation").label == "激活函数"
    assert "绝对值" in at.selectbox(key="kl_activation").options
    selector(at).set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Kernel Lab" and at.selectbox(key="kl_activation").label == "Activation"
    assert "lang" not in at.query_params
    redraw(at.number_input(key="kl_stride_h").set_value(2).run())  # another run: the choice is the session's now
    assert at.title[0].value == "Kernel Lab" and "lang" not in at.query_params
    selector(at).set_value("zh").run()
    assert at.title[0].value == "卷积核实验室" and at.query_params["lang"] == "zh"


def test_widgets_still_work_in_chinese():
    at = run_page("kernel_lab", query=ZH)
    at.selectbox(key="kl_activation").set_value("abs").run()  # format functions run outside the script here
    redraw(at)  # the activation reran the settings and the outputs alone
    at.selectbox(key="kl_preset").set_value("box3").run()
    assert not at.exception
    assert at.query_params["lang"] == "zh" and at.query_params["a"] == "abs"


def test_presentation_sections_and_rgb_channels_work_in_chinese():
    at = run_page("kernel_lab", query={**ZH, "c": "rgb"})
    assert at.multiselect(key="hide").options == ["卷积核编辑器", "形状与公式", "滤波器组"]
    at.multiselect(key="hide").set_value(["bank"]).run()  # format functions run outside the script here
    at.segmented_control(key="kl_channel").set_value(2).run()
    assert not at.exception and not at.error  # the page's own guard turns a crash into an error box
    assert at.query_params["hide"] == "bank" and at.segmented_control(key="kl_channel").value == 2


def test_receptive_field_widgets_work_in_chinese():
    at = run_page("receptive_field", query=ZH, timeout=60)
    assert at.selectbox(key="rf_layer").options == ["conv1 · 卷积 3×3 p1", "pool1 · 最大池化 2×2 s2", "conv2 · 卷积 3×3 p1",
                                                    "pool2 · 最大池化 2×2 s2"]
    at.selectbox(key="rf_layer").set_value(1).run()
    assert not at.exception and at.query_params["layer"] == "1"
    assert "**pool1** 的**单元 (7, 7)**（输出 14 × 14）" in [m.value for m in at.markdown]
    at.selectbox(key="rf_preset").set_value("three_3x3").run()
    assert not at.exception and at.query_params["preset"] == "three_3x3"
    assert "**教程核对**：三个堆叠的 3×3 卷积能看到 7×7 的区域。" in [m.value for m in at.markdown]


def test_a_stack_too_deep_for_its_input_is_explained_in_chinese():
    at = run_page("receptive_field", query={**ZH, "stack": "c15_c15_c15", "img": "mnist_digit"}, timeout=60)
    message = at.error[0].value
    assert message.startswith("这个层堆叠无法在 28×28 的输入上运行：第 1 层（conv2）收到的特征图是 14x14")
    assert not re.search(r"[a-z]{4,}", message.replace("conv2", ""))  # no English words but the layer's name


def test_inspector_widgets_work_in_chinese():
    at = run_page("inspector", query={**ZH, "src": "mnist", "i": "0"})
    assert at.segmented_control(key="insp_source").options == ["手写", "MNIST", "上传", "错例"]
    at.segmented_control(key="insp_scaling").set_value("layer").run()
    at.segmented_control(key="insp_view").set_value("attribution").run()
    at.segmented_control(key="insp_method").set_value("integrated_gradients").run()
    at.selectbox(key="insp_target").set_value(3).run()
    assert not at.exception
    assert [at.query_params[k] for k in ("sc", "v", "m", "cls")] == ["layer", "attribution", "integrated_gradients", "3"]
    assert "**积分梯度**，解释类别 **3**" in [m.value for m in at.markdown]
    at.selectbox(key="insp_target").set_value(-1).run()  # back to the predicted class, labelled in Chinese
    assert not at.exception and at.selectbox(key="insp_target").options[0] == "预测类别"
    at.segmented_control(key="insp_source").set_value("upload").run()
    at.segmented_control(key="insp_ink").set_value("dark").run()
    assert not at.exception and at.query_params["ink"] == "dark"
    at.file_uploader(key="insp_upload").upload("notes.png", b"not an image", "image/png").run()
    assert at.error[0].value == "cnnviz 无法读取这个文件。请上传 PNG、JPEG、WebP、BMP、GIF 或 TIFF 文件。"


def test_lessons_work_in_chinese():
    at = run_page("lessons", query=ZH)
    at.radio(key="lessons_pick").set_value(7).run()
    assert not at.exception and at.query_params["l"] == "7"
    assert at.subheader[0].value == "第 7 课：最大池化与平均池化"
    assert at.code[0].value == "最大池化:\n[[ 6,  8],\n [14, 16]]\n平均池化:\n[[ 3.5,  5.5],\n [11.5, 13.5]]"
    at.button(key="lessons_next").click().run()
    assert at.subheader[0].value == "第 8 课：三层 3×3 与一层 7×7 的感受野"


def test_an_unknown_language_is_english():
    at = run_page("kernel_lab", query={"lang": "xx"})
    assert at.title[0].value == "Kernel Lab" and selector(at).value == "en"


def test_core_errors_are_shown_in_chinese():
    at = run_page("step_by_step", query=ZH)
    at.segmented_control(key="step_padding").set_value("valid").run()
    at.number_input(key="step_dilation_h").set_value(3).run()
    message = at.error[0].value
    assert message.startswith("这些设置无法计算：") and "填充后的输入只有" in message
    assert not re.search(r"[a-z]{4,}", message)  # no English words left


def test_a_bad_cell_is_explained_in_chinese():
    at = run_page("kernel_lab", query=ZH)
    edit_grid(at, grid_key(at, "kl", "grid"), {0: {0: "abc"}})
    assert at.warning[0].value == "第 1 行第 1 列：'abc' 不是数字：请输入 0.5、-2 或 1/9 这样的值。该格保留原来的值。"


def test_an_upload_that_is_not_an_image_is_explained_in_chinese():
    at = run_page("kernel_lab", query=ZH)
    at.radio(key="kl_source").set_value("upload").run()
    at.file_uploader(key="kl_upload").upload("notes.txt", b"not an image", "text/plain").run()
    assert at.error[0].value == "cnnviz 无法读取这个文件。请上传 PNG、JPEG、WebP、BMP、GIF 或 TIFF 文件。"


def test_an_impossible_network_is_explained_in_chinese():
    at = run_page("train", query=ZH)
    at.number_input(key="train_blocks").set_value(4).run()
    for index in range(4):
        at.number_input(key=f"train_b{index}_padding").set_value(0).run()
        at.selectbox(key=f"train_b{index}_pool").set_value("max").run()
    message = at.error[0].value
    assert message.startswith("无法构建这个网络：卷积块 ") and "窗口跨度为" in message


def _tr_error_script():
    import streamlit as st

    from cnnviz.errors import UserError
    from cnnviz.ui.common import tr_error

    st.markdown(tr_error(UserError("error.numfmt.divides_by_zero", text="1/0")))
    st.markdown(tr_error(ValueError("a plain ValueError keeps its text")))


@pytest.mark.parametrize(("query", "first"), [({}, "'1/0' divides by zero"), (ZH, "'1/0' 除以了零")])
def test_tr_error_translates_user_errors_and_keeps_the_rest(query, first):
    at = AppTest.from_function(_tr_error_script)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert [m.value for m in at.markdown] == [first, "a plain ValueError keeps its text"]
