"""Kernel Lab computation: stages equal ops, formulas carry the user's numbers, display transforms are exact."""
import json

import numpy as np
import pytest

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, Geometry, Pooling
from cnnviz.conv.pipeline import LabConfig, activate, run_bank, run_pipeline, to_working_image
from cnnviz.figures.maps import map_stats, to_display


@pytest.mark.parametrize(
    ("args", "out", "dropped", "text"),
    [
        ((28, 3, 2, 1, 1), 14, 0, "⌊(28 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 14"),
        ((5, 3, 2, 0, 0), 2, 0, "⌊(5 + 0 + 0 − 1·(3 − 1) − 1) / 2⌋ + 1 = 2"),
        ((6, 3, 2, 0, 0), 2, 1, "⌊(6 + 0 + 0 − 1·(3 − 1) − 1) / 2⌋ + 1 = 2"),
        ((7, 2, 3, 0, 0), 2, 2, "⌊(7 + 0 + 0 − 1·(2 − 1) − 1) / 3⌋ + 1 = 2"),
        ((10, 3, 1, 0, 0, 2), 6, 0, "⌊(10 + 0 + 0 − 2·(3 − 1) − 1) / 1⌋ + 1 = 6"),
        ((6, 3, 2, 1, 1), 3, 0, "⌊(6 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3"),
    ],
)
def test_axis_formula(args, out, dropped, text):
    axis = Axis(*args)
    assert (axis.out_size, axis.dropped, axis.text) == (out, dropped, text)


def test_gray_pipeline_equals_ops():
    rng = np.random.default_rng(0)
    image = rng.random((12, 9))
    kernel = rng.normal(size=(3, 2))
    cfg = LabConfig(geometry=Geometry(padding=(1, 0), stride=(2, 1), padding_mode="reflect"), activation="relu",
                    pooling=Pooling("max", (2, 2), (2, 2)), bias=3.0)
    result = run_pipeline(image, kernel, cfg)
    x = to_working_image(image, "gray")
    np.testing.assert_allclose(x, image * 255, rtol=1e-6)
    conv = ops.conv2d(x, kernel, padding=(1, 0), stride=(2, 1), padding_mode="reflect", bias=3.0)
    np.testing.assert_array_equal(result.conv, conv)
    np.testing.assert_allclose(result.activated, np.maximum(conv, 0))
    np.testing.assert_allclose(result.pooled, ops.pool2d(np.maximum(conv, 0), "max", 2, 2))
    assert [s.stage for s in result.shapes] == ["input", "conv", "activation", "pool"]
    assert result.shapes[1].shape == conv.shape
    assert result.shapes[3].rows.out_size == conv.shape[0] // 2


def test_dropped_rows_are_input_coordinates():
    result = run_pipeline(np.zeros((6, 7)), np.ones((3, 3)), LabConfig(geometry=Geometry(padding="valid", stride=2)))
    assert result.dropped_rows == range(5, 6)
    assert result.dropped_cols == range(7, 7)


def test_rgb_partials_sum_to_the_filter_output():
    rng = np.random.default_rng(1)
    image, kernel = rng.random((8, 8, 3)), rng.normal(size=(3, 3, 3))
    result = run_pipeline(image, kernel, LabConfig(colour="rgb", bias=2.5))
    np.testing.assert_allclose(sum(result.partials) + 2.5, result.conv, rtol=1e-6)
    # The same filter as one nn.Conv2d output channel, in float64: agreement to float32 precision.
    np.testing.assert_allclose(result.conv, ops.conv2d(image * 255, kernel, padding="same", bias=2.5), rtol=1e-5, atol=1e-3)


def test_gray_mode_uses_luma_and_rgb_mode_repeats_gray():
    rgb = np.zeros((2, 2, 3))
    rgb[..., 1] = 1.0
    np.testing.assert_allclose(to_working_image(rgb, "gray"), np.full((2, 2), 0.587 * 255), rtol=1e-6)
    assert to_working_image(np.ones((2, 2)), "rgb").shape == (2, 2, 3)


def test_wrong_kernel_rank_and_impossible_geometry():
    with pytest.raises(ValueError, match="rgb mode needs a 3-D kernel"):
        run_pipeline(np.zeros((5, 5, 3)), np.ones((3, 3)), LabConfig(colour="rgb"))
    with pytest.raises(ValueError, match="padded input"):
        run_pipeline(np.zeros((4, 4)), np.ones((7, 7)), LabConfig(geometry=Geometry(padding="valid")))


def test_activations():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activate(x, "relu"), [0, 0, 3])
    np.testing.assert_array_equal(activate(x, "leaky_relu", 0.5), [-1, 0, 3])
    np.testing.assert_array_equal(activate(x, "abs"), [2, 0, 3])
    np.testing.assert_array_equal(activate(x, "none"), x)


def test_display_transforms():
    x = np.array([[-100.0, 0.0], [50.0, 300.0]])
    np.testing.assert_allclose(to_display(x, "clip"), [[0, 0], [50 / 255, 1]])
    np.testing.assert_allclose(to_display(x, "minmax"), [[0, 0.25], [0.375, 1]])
    signed = to_display(x, "diverging")
    assert signed[0, 1] == 0 and signed[0, 0] < 0 < signed[1, 0] and signed.max() == 1.0
    assert to_display(np.zeros((2, 2)), "diverging").sum() == 0
    with pytest.raises(ValueError, match="mode='rainbow'"):
        to_display(x, "rainbow")


def test_robust_peak_ignores_one_outlier():
    x = np.ones((20, 20))
    x[0, 0] = 1000.0
    assert to_display(x, "diverging")[5, 5] == 1.0  # not washed out to 0.001


def test_stats_and_bank():
    stats = map_stats(np.arange(10.0), bins=5)
    assert (stats.min, stats.max, stats.mean) == (0.0, 9.0, 4.5)
    assert stats.counts.tolist() == [2, 2, 2, 2, 2]
    maps = run_bank(np.random.default_rng(2).random((6, 6)), [np.ones((3, 3)), np.eye(3)], LabConfig())
    assert len(maps) == 2 and maps[0].shape == (6, 6)


def test_config_round_trip_and_validation():
    cfg = LabConfig(colour="rgb", working_size=256, geometry=Geometry(padding=(2, 1), stride=3, flip=True),
                    activation="leaky_relu", leaky_slope=0.2, pooling=Pooling("avg", 3, 1), bias=-4.0)
    assert LabConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="colour='cmyk'"):
        LabConfig(colour="cmyk")
    with pytest.raises(ValueError, match="activation='swish'"):
        LabConfig(activation="swish")


def test_input_not_mutated():
    image = np.random.default_rng(3).random((6, 6))
    before = image.copy()
    run_pipeline(image, np.ones((3, 3)), LabConfig(activation="relu"))
    np.testing.assert_array_equal(image, before)
