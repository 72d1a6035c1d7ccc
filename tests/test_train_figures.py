"""Training figures hold exactly the data they are given."""
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageFont

from cnnviz.figures import training as tf
from cnnviz.training.loop import Metrics


def step(n, loss, acc=0.5, lr=0.1):
    return Metrics("step", n, 10, n / 10, loss=loss, accuracy=acc, lr=lr)


def test_ema_is_bias_corrected():
    assert tf.ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    assert tf.ema([0.0, 1.0], alpha=0.5) == pytest.approx([0.0, 2 / 3])


def test_thin_keeps_the_last_point():
    assert tf.thin(list(range(10)), limit=4) == [0, 3, 6, 9]
    assert tf.thin(list(range(11)), limit=4) == [0, 3, 6, 9, 10]
    assert tf.thin([1, 2], limit=4) == [1, 2]


def test_curves_and_overlay_names():
    steps = [step(i, 1.0 / i) for i in range(1, 5)]
    evals = [Metrics("eval", 2, 10, 0.2, test_loss=0.5, test_accuracy=0.8), Metrics("done", 4, 10, 1.0, test_loss=0.4, test_accuracy=0.9)]
    current = tf.curves_from("new", steps, evals)
    assert current.eval_steps == [2] and current.test_accuracy == [0.8]  # "done" repeats the last epoch
    old = tf.curves_from("old", steps[:2], [])
    figure = tf.training_figure(current, [old])
    names = {trace.name for trace in figure.data if trace.showlegend is not False}
    assert names == {"new (this run)", "old"}
    raw = next(t for t in figure.data if t.name == "raw loss")  # named as its hover label says
    assert list(raw.y) == [1.0, 0.5, 1 / 3, 0.25]


def test_live_chart_data_holds_the_curves_of_every_run():
    steps = [step(i, loss, acc=acc, lr=0.001 * i) for i, (loss, acc) in enumerate([(2.0, 0.1), (1.0, 0.5), (0.5, 0.9)], 1)]
    evals = [Metrics("eval", 2, 10, 0.2, test_loss=0.75, test_accuracy=0.8)]
    old = tf.curves_from("old", steps[:2], [])
    data = tf.live_chart_data(tf.curves_from("new", steps, evals), [old], total_steps=10)
    loss, accuracy, lr = data["panels"]
    assert [p["title"] for p in data["panels"]] == ["loss", "accuracy", "learning rate"]
    assert [p["format"] for p in data["panels"]] == ["number", "percent", "number"]
    # The older run first (dashed, blue), then this run on top: raw loss, smoothed loss, test points.
    assert [(line["style"], line["colour"]) for line in loss["lines"]] == [
        ("dash", "#1c7ed6"), ("points", "#1c7ed6"), ("faint", "#d9480f"), ("solid", "#d9480f"), ("points", "#d9480f")]
    assert loss["lines"][2] == {"x": [1, 2, 3], "y": [2.0, 1.0, 0.5], "colour": "#d9480f", "style": "faint"}
    # Smoothed as ema(), rounded to 4 significant digits: 0.95 * 2 + 0.05 * 1 over (1 - 0.95 ** 2) = 1.4872
    assert loss["lines"][3]["y"] == [2.0, 1.487, 1.141]
    assert loss["lines"][4] == {"x": [2], "y": [0.75], "colour": "#d9480f", "style": "points"}
    assert loss["lines"][1] == {"x": [], "y": [], "colour": "#1c7ed6", "style": "points"}  # it had no test yet
    assert accuracy["lines"][3] == {"x": [2], "y": [0.8], "colour": "#d9480f", "style": "points"}
    assert lr["lines"][1] == {"x": [1, 2, 3], "y": [0.001, 0.002, 0.003], "colour": "#d9480f", "style": "solid"}
    assert data["x_max"] == 10 and data["x_title"] == "step" and data["points_label"] == "test set"
    assert data["legend"] == [{"label": "new (this run)", "colour": "#d9480f", "style": "solid"},
                              {"label": "old", "colour": "#1c7ed6", "style": "dash"}]


def test_live_chart_data_is_downsampled_and_json_safe():
    import json
    import math

    steps = [step(i, 1.0 / i, lr=0.1) for i in range(1, 1001)]
    steps[500] = step(501, math.nan)  # a diverging step: a gap in the line, not NaN (invalid JSON)
    data = tf.live_chart_data(tf.curves_from("run", steps, []), limit=300)
    raw = data["panels"][0]["lines"][0]
    assert len(raw["x"]) == 251 and raw["x"][:3] == [1, 5, 9] and raw["x"][-2:] == [997, 1000]  # every 4th, and the last
    assert raw["y"][:3] == [1.0, 0.2, 0.1111] and raw["y"][125] is None  # step 501 (index 500 = 125 * 4)
    assert data["x_max"] == 1000  # no planned length given: the longest run
    json.loads(json.dumps(data, allow_nan=False))
    assert tf.live_chart_data(tf.curves_from("empty", [], []))["x_max"] == 1  # before the first step


def test_live_chart_data_refuses_bad_arguments():
    current = tf.curves_from("run", [step(1, 1.0)], [])
    with pytest.raises(ValueError, match="limit=1"):
        tf.live_chart_data(current, limit=1)
    with pytest.raises(ValueError, match="total_steps=-1"):
        tf.live_chart_data(current, total_steps=-1)


def test_confusion_and_per_class():
    matrix = np.array([[5, 1], [0, 4]])
    figure = tf.confusion_figure(matrix)
    np.testing.assert_array_equal(np.asarray(figure.data[0].customdata), matrix)
    bars = tf.per_class_figure(matrix)
    assert list(bars.data[0].y) == pytest.approx([5 / 6, 1.0])


def test_filters_png_layout():
    weights = np.random.default_rng(0).normal(size=(10, 1, 3, 3))
    image = np.asarray(Image.open(io.BytesIO(tf.filters_png(weights, cell=48, columns=8))))
    assert image.shape == (2 * (48 + 4) + 4, 8 * (48 + 4) + 4, 3)


def test_gallery_png():
    pixels = np.zeros((3, 28, 28), np.uint8)
    probabilities = np.full((3, 10), 0.1)
    probabilities[:, 8] = 1.0  # "8: 100%", the widest caption
    data = tf.gallery_png(pixels, np.array([1, 2, 3]), probabilities, [0, 1, 2], columns=2)
    image = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    tile_w = 28 * 4 + 44
    assert image.shape == (2 * (28 * 4 + 10 + 4 * 22), 2 * tile_w)
    # Captions never run into the next tile: the margin before each tile stays white on every caption line.
    captions = image[28 * 4 + 8:28 * 4 + 8 + 4 * 22]
    assert (captions[:, tile_w:tile_w + 20] == 255).all()
    assert (captions < 128).any()  # and there is text


def test_metrics_csv():
    csv = tf.metrics_csv([step(1, 0.5)], [Metrics("epoch", 1, 10, 1.0, test_loss=0.25, test_accuracy=0.75)])
    lines = csv.strip().splitlines()
    assert lines[0].startswith("kind,step,epoch,loss")
    assert lines[1] == "step,1,0.1,0.5,0.5,0.1,,0,,"
    assert lines[2] == "epoch,1,1,,,,,0,0.25,0.75"


def test_the_live_filter_panel_works_with_a_gpu_model():
    # The panel draws conv1 while a run trains; on CUDA its weights refuse .numpy() (a TypeError seen on an H200).
    import torch
    from torch import nn

    from cnnviz.analysis.inspection import to_numpy
    from cnnviz.model import NETWORK_PRESETS, build_model, first_conv_weight

    class DeviceTensor(torch.Tensor):
        def numpy(self, *args, **kwargs):
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() first.")

        def cpu(self, *args, **kwargs):
            return self.as_subclass(torch.Tensor)

    model = build_model(NETWORK_PRESETS["tiny"], seed=0)
    conv = model.features[0]
    conv.weight = nn.Parameter(conv.weight.detach().as_subclass(DeviceTensor))
    with pytest.raises(TypeError):
        conv.weight.detach().numpy()
    picture = tf.filters_png(to_numpy(first_conv_weight(model)))
    assert Image.open(io.BytesIO(picture)).size[0] > 0
# --- words in any language ---------------------------------------------------------------------------------

CHINESE = tf.FigureText(loss="损失", accuracy="准确率", learning_rate="学习率", step="训练步数",
                        step_at="第 {step} 步：{value}", this_run="{label}（本次训练）", raw_loss="原始损失",
                        true_digit="真实数字", predicted_digit="预测数字", confusion_at="真实 {true}，预测 {predicted}：{count} 张",
                        digit="数字", digit_at="数字 {digit}：{accuracy}")


def test_english_defaults_are_the_old_words():
    figure = tf.training_figure(tf.curves_from("new", [step(1, 1.0), step(2, 0.5)], []))
    assert [a.text for a in figure.layout.annotations] == ["loss", "accuracy", "learning rate"]
    assert figure.layout.xaxis.title.text == "step"
    assert figure.data[1].hovertemplate == "step %{x}: %{y:.4f}<extra>train loss (smoothed)</extra>"
    confusion = tf.confusion_figure(np.eye(2, dtype=int))
    assert confusion.data[0].hovertemplate == "true %{y}, predicted %{x}: %{customdata}<extra></extra>"
    assert tf.per_class_figure(np.eye(2, dtype=int)).data[0].hovertemplate == "digit %{x}: %{y:.2%}<extra></extra>"


def test_figures_take_their_words_as_arguments():
    figure = tf.training_figure(tf.curves_from("new", [step(1, 1.0), step(2, 0.5)], []), text=CHINESE)
    assert [a.text for a in figure.layout.annotations] == ["损失", "准确率", "学习率"]
    assert figure.layout.xaxis.title.text == "训练步数"
    assert {t.name for t in figure.data if t.showlegend is not False} == {"new（本次训练）"}
    assert figure.data[0].hovertemplate == "第 %{x} 步：%{y:.4f}<extra>原始损失</extra>"
    confusion = tf.confusion_figure(np.eye(2, dtype=int), CHINESE)
    assert confusion.layout.yaxis.title.text == "真实数字" and confusion.layout.xaxis.title.text == "预测数字"
    assert confusion.data[0].hovertemplate == "真实 %{y}，预测 %{x}：%{customdata} 张<extra></extra>"
    bars = tf.per_class_figure(np.eye(2, dtype=int), CHINESE)
    assert bars.layout.xaxis.title.text == "数字"
    assert bars.data[0].hovertemplate == "数字 %{x}：%{y:.2%}<extra></extra>"


def _gallery(true_label: str) -> np.ndarray:
    probabilities = np.full((1, 10), 0.05)
    probabilities[0, 3] = 0.55
    data = tf.gallery_png(np.zeros((1, 28, 28), np.uint8), np.array([7]), probabilities, [0], columns=1,
                          true_label=true_label)
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def test_gallery_without_a_cjk_font_draws_the_english_label(monkeypatch):
    monkeypatch.setattr(tf, "cjk_font_path", lambda: None)
    assert np.array_equal(_gallery("真实"), _gallery("true"))  # English, never boxes


def test_gallery_with_a_cjk_font_draws_chinese():
    path = tf.cjk_font_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs fonts-noto-cjk, but no CJK font was found")
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    font, text = tf.label_font("真实", "true")
    assert text == "真实"
    # Real glyphs: two different characters draw differently (a missing-glyph font draws the same box twice).
    glyphs = [np.asarray(font.getmask(c)) for c in "真实"]
    assert glyphs[0].size and glyphs[0].any() and not np.array_equal(glyphs[0], glyphs[1])
    assert not np.array_equal(_gallery("真实"), _gallery("true"))


def test_ascii_labels_keep_the_default_font(monkeypatch):
    monkeypatch.setattr(tf, "cjk_font_path", lambda: pytest.fail("no font lookup for ASCII"))
    font, text = tf.label_font("true", "true")
    assert text == "true" and font.getname() == ImageFont.load_default(size=tf.GALLERY_FONT).getname()
