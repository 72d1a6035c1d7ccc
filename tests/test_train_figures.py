"""Training figures hold exactly the data they are given."""
import io

import numpy as np
import pytest
from PIL import Image

from cnnviz import train_figures as tf
from cnnviz.train import Metrics


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
    raw = next(t for t in figure.data if t.name == "train loss (raw)")
    assert list(raw.y) == [1.0, 0.5, 1 / 3, 0.25]


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

    from cnnviz.inspection import to_numpy
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
