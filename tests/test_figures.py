"""Map pictures: colours mean what the legend says, sizes are right, tiny maps are not blurred."""
import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.figures import maps
from cnnviz.figures.maps import map_stats


def decode(data: bytes) -> np.ndarray:
    """Pixels as the browser shows them: palette PNGs are expanded to their colours (gray ones to one channel)."""
    image = Image.open(io.BytesIO(data))
    if image.mode == "P":
        rgb = np.asarray(image.convert("RGB"))
        return rgb[..., 0] if (rgb[..., 0] == rgb[..., 2]).all() and (rgb[..., 0] == rgb[..., 1]).all() else rgb
    return np.asarray(image)


def test_diverging_colours():
    pixels = maps.colourise(np.array([[-1.0, 0.0, 1.0]]), signed=True)
    blue, white, red = pixels[0]
    assert blue[2] > blue[0]  # negative is blue
    assert red[0] > red[2]  # positive is red
    assert white.min() >= 240  # zero is white


def test_tiny_maps_are_upscaled_by_repetition():
    values = np.array([[0.0, 255.0], [255.0, 0.0]])
    pixels = decode(maps.map_png(values, "clip"))
    assert pixels.shape == (224, 224)
    assert set(np.unique(pixels)) == {0, 255}  # no blurred in-between values
    assert pixels[0, 0] == 0 and pixels[0, 223] == 255


def test_big_maps_shrink_for_display_but_not_for_download():
    values = np.random.default_rng(0).normal(size=(1024, 800))
    shown = Image.open(io.BytesIO(maps.map_png(values, "diverging")))
    assert shown.mode == "P" and shown.size == (400, 512)  # a palette PNG: one byte per pixel
    assert decode(maps.map_png(values, "minmax", display=False)).shape == (1024, 800)


def test_shrink_averages_blocks():
    values = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_allclose(maps.shrink(values, max_side=2), [[2.5, 4.5], [10.5, 12.5]])
    assert maps.shrink(values, max_side=8) is values


def test_mark_dropped_tints_only_those_rows():
    pixels = np.full((4, 4), 200, np.uint8)
    marked = maps.mark_dropped(pixels, range(3, 4), range(4, 4))
    assert marked.shape == (4, 4, 3)
    assert (marked[:3] == 200).all()
    assert marked[3, 0, 0] > marked[3, 0, 2]
    both = maps.mark_dropped(pixels, range(3, 4), range(3, 4))
    np.testing.assert_array_equal(both[3, 3], [211, 111, 111])  # 0.45 * 200 + 0.55 * (220, 38, 38), tinted once
    np.testing.assert_array_equal(both[0, 3], [211, 111, 111])
    assert (both[:3, :3] == 200).all()
    assert pixels.ndim == 2 and (pixels == 200).all()  # the input is not modified


def test_input_png_is_the_image_with_its_dropped_band():
    image = np.full((6, 300), 255.0, np.float32)
    plain = np.asarray(Image.open(io.BytesIO(maps.input_png(image, range(6, 6), range(300, 300)))))
    marked = np.asarray(Image.open(io.BytesIO(maps.input_png(image, range(5, 6), range(300, 300)))))
    assert plain.shape[:2] == marked.shape[:2] == (6, 300)
    assert (plain >= 250).all()  # a photo-sized input is a JPEG: near-exact is what it promises
    np.testing.assert_allclose(marked[5, 150, :3], [236, 136, 136], atol=12)  # 0.45 * 255 + 0.55 * (220, 38, 38)
    assert maps.input_png(image, range(6, 6), range(300, 300))[:2] == b"\xff\xd8"  # JPEG
    tiny = maps.input_png(np.full((28, 28), 255.0, np.float32), range(27, 28), range(28, 28))
    assert tiny[:4] == b"\x89PNG"  # enlarged blocks stay sharp and exact
    pixels = np.asarray(Image.open(io.BytesIO(tiny)))
    assert pixels.shape[:2] == (224, 224) and (pixels[:216] == 255).all()


def test_heatmap_holds_raw_values_and_refuses_big_maps():
    values = np.array([[-2.0, 1.0]])
    figure = maps.heatmap_figure(values, signed=True)
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), values)
    assert (figure.data[0].zmin, figure.data[0].zmax) == (-2.0, 2.0)
    with pytest.raises(ValueError, match="4096"):
        maps.heatmap_figure(np.zeros((65, 65)), signed=False)


def test_histogram_and_npy():
    stats = map_stats(np.array([-1.0, 1.0, 1.0]), bins=2)
    figure = maps.histogram_figure(stats)
    assert list(figure.data[0].y) == [1, 2]
    values = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.load(io.BytesIO(maps.npy_bytes(values))), values)


def test_colorbar_runs_blue_to_red():
    strip = decode(maps.colorbar_png())
    assert strip[0, 0, 2] > strip[0, 0, 0] and strip[0, -1, 0] > strip[0, -1, 2]


def test_palette_png_colours_match_the_legend():
    values = np.zeros((300, 3))
    values[:, 0], values[:, 2] = -5.0, 5.0
    rgb = np.asarray(Image.open(io.BytesIO(maps.map_png(values, "diverging"))).convert("RGB"))
    np.testing.assert_array_equal(rgb[0, 0], maps.DIVERGING_LUT[0])
    np.testing.assert_array_equal(rgb[0, rgb.shape[1] // 2], [247, 247, 247])  # exactly the legend's white at 0
    np.testing.assert_array_equal(rgb[0, -1], maps.DIVERGING_LUT[255])


def test_zoom_window_is_centred_and_stays_inside():
    assert maps.zoom_window((512, 300), (0.5, 0.5)) == (slice(224, 288), slice(118, 182))
    assert maps.zoom_window((512, 300), (0.0, 1.0)) == (slice(0, 64), slice(236, 300))
    assert maps.zoom_window((20, 300), (0.9, 0.0)) == (slice(0, 20), slice(0, 64))  # smaller than the window


def test_heatmap_window_hovers_with_whole_map_indices():
    values = np.arange(12.0).reshape(3, 4)
    figure = maps.heatmap_figure(values, signed=False, origin=(100, 7))
    assert list(figure.data[0].x) == [7, 8, 9, 10] and list(figure.data[0].y) == [100, 101, 102]


def test_maps_are_drawn_at_their_inputs_scale():
    # A stride-2 map of a 1024-px input is half as wide on screen as the input, on a checkered frame of its size.
    half = Image.open(io.BytesIO(maps.map_png(np.ones((512, 400)), "clip", input_hw=(1024, 800))))
    assert half.size == (400, 512)
    pixels = np.asarray(half)
    assert (pixels[:256, :200] == 1).all()  # the map itself: 1 of 255 is level 1 of 252
    assert set(np.unique(pixels[300:, 300:])) == {253, 254}  # the frame beyond it: checker, never a value
    # A tiny input grows by a whole factor, and its strided map by the same factor.
    assert Image.open(io.BytesIO(maps.map_png(np.ones((14, 14)), "clip", input_hw=(28, 28)))).size == (224, 224)
    assert (np.asarray(Image.open(io.BytesIO(maps.map_png(np.ones((14, 14)), "clip", input_hw=(28, 28)))))[112:, :]
            >= 253).all()
    assert maps.display_factor((28, 28)) == 8 and maps.display_factor((1024, 512)) == 0.5


def test_auto_display_is_gray_for_images_and_signed_for_edges():
    assert maps.auto_display(np.array([0.0, 128.0, 255.0])) == "clip"  # a blur stays on the pixel scale
    assert maps.auto_display(np.array([0.0, 300.0])) == "abs"  # non-negative beyond 255: gray to its peak
    assert maps.auto_display(np.array([-3.0, 5.0])) == "diverging"
    assert maps.auto_display(np.array([-1e-5, 255.0])) == "clip"  # float32 noise is not a sign
