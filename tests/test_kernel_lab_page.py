"""Kernel Lab through AppTest: every control changes what the page computes, and nothing raises."""
import io

import numpy as np
import pytest
from PIL import Image

from apptest_kit import run_page


@pytest.fixture
def at():
    return run_page("kernel_lab")


def shapes(app) -> str:
    return "\n".join(m.value for m in app.markdown if "`" in m.value)


def kernel(app) -> np.ndarray:
    return app.session_state["kl_kernel_state"]["kernel"]


def png(size=(40, 30), colour=True, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3) if colour else (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


def test_defaults_show_three_stages_and_the_formula(at):
    text = shapes(at)
    assert "Input: `512 × 512`" in text
    assert "⌊(512 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 512" in text  # cameraman at 512 px, same padding
    assert len(at.image) >= 4  # legend + input + conv + activation (+ bank)


def test_working_size(at):
    at.select_slider(key="kl_working").set_value(128).run()
    assert "⌊(128 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 128" in shapes(at)


def test_sample_choice(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    assert "Input: `28 × 28`" in shapes(at)
    assert not at.exception


def test_stride_changes_the_shape(at):
    at.number_input(key="kl_stride_h").set_value(2).run()
    assert "⌊(512 + 0 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 256" in shapes(at)  # "same" at stride 2: ceil(512 / 2)
    at.number_input(key="kl_stride_w").set_value(3).run()
    assert "⌊(512 + 0 + 1 − 1·(3 − 1) − 1) / 3⌋ + 1 = 171" in shapes(at)


def test_dilation_and_valid_padding(at):
    at.segmented_control(key="kl_padding").set_value("valid").run()
    assert "⌊(512 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 510" in shapes(at)
    at.number_input(key="kl_dilation_h").set_value(3).run()
    assert "⌊(512 + 0 + 0 − 3·(3 − 1) − 1) / 1⌋ + 1 = 506" in shapes(at)


def test_custom_padding_and_mode(at):
    at.segmented_control(key="kl_padding").set_value("custom").run()
    at.number_input(key="kl_pad_h").set_value(4).run()
    assert "⌊(512 + 4 + 4 − 1·(3 − 1) − 1) / 1⌋ + 1 = 518" in shapes(at)
    for mode in ("reflect", "replicate", "circular"):
        at.selectbox(key="kl_mode").set_value(mode).run()
        assert not at.exception and not at.error


def test_impossible_settings_explain_instead_of_crashing(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    at.segmented_control(key="kl_padding").set_value("valid").run()
    at.number_input(key="kl_dilation_h").set_value(8).run()
    at.number_input(key="kl_rows").set_value(5).run()
    assert not at.exception
    assert "cannot work" in at.error[0].value and "dilation" in at.error[0].value


def test_floor_dropped_rows_are_reported(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    at.segmented_control(key="kl_padding").set_value("valid").run()
    at.number_input(key="kl_stride_h").set_value(2).run()
    # 28 rows, 3x3, stride 2: windows start at 0..24, the last covers rows 24-26; row 27 is dropped.
    assert any("drops 1 input row(s) and 0 column(s)" in w.value for w in at.warning)


def test_preset_and_parametric_sliders(at):
    at.selectbox(key="kl_preset").set_value("sobel_x").run()
    np.testing.assert_array_equal(kernel(at), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    at.selectbox(key="kl_preset").set_value("gaussian").run()
    assert kernel(at).shape == (7, 7)
    at.slider(key="kl_param_gaussian_sigma").set_value(0.5).run()
    assert kernel(at).shape == (5, 5)
    at.selectbox(key="kl_preset").set_value("gabor").run()
    for name, value in (("theta", 90.0), ("sigma", 1.0), ("lambd", 4.0), ("gamma", 0.8), ("psi", 1.0)):
        before = kernel(at).copy()
        at.slider(key=f"kl_param_gabor_{name}").set_value(value).run()
        assert not np.array_equal(before, kernel(at)), name
    at.selectbox(key="kl_preset").set_value("motion_blur").run()
    at.slider(key="kl_param_motion_blur_length").set_value(3.0).run()
    assert kernel(at).shape == (3, 3)


def test_grid_size_edit_normalise_randomise(at):
    at.number_input(key="kl_rows").set_value(4).run()
    at.number_input(key="kl_cols").set_value(2).run()
    assert kernel(at).shape == (4, 2)
    assert "⌊(512 + 1 + 2 − 1·(4 − 1) − 1) / 1⌋ + 1 = 512" in shapes(at)  # even kernel, same padding 1+2
    at.selectbox(key="kl_preset").set_value("box3").run()
    version = at.session_state["kl_kernel_state"]["version"]
    at.session_state[f"kl_grid_{version}"] = {"edited_rows": {1: {"1": 5.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert kernel(at)[1, 1] == 5.0
    assert any("**5.889**" in m.value for m in at.markdown)  # 8/9 + 5
    at.button(key="kl_normalise").click().run()
    assert kernel(at).sum() == pytest.approx(1.0)
    at.button(key="kl_randomise").click().run()
    first = kernel(at).copy()
    at.button(key="kl_randomise").click().run()
    assert not np.array_equal(first, kernel(at))


def test_normalising_a_zero_sum_kernel_explains(at):
    at.button(key="kl_normalise").click().run()  # the 8-neighbour Laplacian sums to 0
    assert any("sums to 0" in w.value for w in at.warning)


def test_rgb_mode_shows_partials(at):
    at.selectbox(key="kl_sample").set_value("astronaut").run()
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    assert kernel(at).shape == (3, 3, 3)
    assert any("One 3-D filter" in s.value for s in at.subheader)
    assert not at.exception


def test_flip_bias_activation_pooling_display(at):
    at.toggle(key="kl_flip").set_value(True).run()
    assert any("rotated 180°" in c.value for c in at.caption)
    at.number_input(key="kl_bias").set_value(10.0).run()
    at.selectbox(key="kl_activation").set_value("leaky_relu").run()
    at.slider(key="kl_slope").set_value(0.3).run()
    at.segmented_control(key="kl_pool").set_value("max").run()
    assert "Pooling: `256 × 256`" in shapes(at)
    at.number_input(key="kl_pool_stride_h").set_value(1).run()
    assert "Pooling: `511 × 256`" in shapes(at)
    for mode in ("abs", "clip", "minmax", "diverging"):
        at.selectbox(key="kl_display").set_value(mode).run()
        assert not at.exception


def test_filter_bank(at):
    at.multiselect(key="kl_bank").set_value(["identity", "emboss"]).run()
    assert not at.exception
    assert len(at.image) == 6  # legend, 3 stages, 2 bank maps
    at.multiselect(key="kl_bank").set_value([]).run()
    assert len(at.image) == 4


def test_details_toggle_adds_histograms_and_downloads(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()  # 28 x 28: small enough for hover heatmaps
    assert not [b for b in at.get("download_button")]
    at.toggle(key="kl_details").set_value(True).run()
    assert not at.exception
    downloads = at.get("download_button")
    assert len(downloads) == 6  # PNG and .npy for input, convolution and activation
    charts = at.get("plotly_chart")
    assert len(charts) == 6  # a hover heatmap and a histogram per map


def test_rgb_channel_slices_edit_separately(at):
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    at.selectbox(key="kl_preset").set_value("identity").run()
    before = kernel(at).copy()  # (3, 3, 3)
    version = at.session_state["kl_kernel_state"]["version"]
    at.session_state[f"kl_grid_{version}_2"] = {"edited_rows": {0: {"0": 7.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    after = kernel(at)
    assert after[2, 0, 0] == 7.0
    np.testing.assert_array_equal(after[:2], before[:2])  # the red and green slices are untouched


def test_column_geometry_and_pool_size(at):
    at.number_input(key="kl_dilation_w").set_value(2).run()
    assert "⌊(512 + 2 + 2 − 2·(3 − 1) − 1) / 1⌋ + 1 = 512" in shapes(at)  # "same" pads for the dilated span
    at.segmented_control(key="kl_padding").set_value("custom").run()
    at.number_input(key="kl_pad_w").set_value(3).run()
    assert "⌊(512 + 3 + 3 − 2·(3 − 1) − 1) / 1⌋ + 1 = 514" in shapes(at)
    at.segmented_control(key="kl_pool").set_value("avg").run()
    at.number_input(key="kl_pool_size_w").set_value(3).run()
    assert "Pooling: `256 × 256`" in shapes(at)  # rows (512 - 2) / 2 + 1, cols (514 - 3) / 2 + 1


def test_upload_good_and_bad(at):
    at.radio(key="kl_source").set_value("upload").run()
    assert any("Choose an image" in i.value for i in at.info)
    at.file_uploader(key="kl_upload").upload("photo.png", png((40, 30)), "image/png").run()
    assert "Input: `30 × 40`" in shapes(at)
    at.file_uploader(key="kl_upload").upload("notes.txt", b"not an image", "text/plain").run()
    assert not at.exception
    assert "not an image" in at.error[0].value


def test_large_upload_is_downscaled_with_a_note(at):
    at.radio(key="kl_source").set_value("upload").run()
    at.file_uploader(key="kl_upload").upload("big.png", png((900, 300), colour=False), "image/png").run()
    assert any("scaled down to 512×171" in i.value for i in at.info)


def test_camera_input(at):
    at.radio(key="kl_source").set_value("camera").run()
    at.camera_input(key="kl_camera").upload("snap.jpg", png((64, 48), fmt="JPEG"), "image/jpeg").run()
    assert not at.exception
    assert "Input: `48 × 64`" in shapes(at)


def test_zoom_window_on_big_maps(at):
    at.toggle(key="kl_details").set_value(True).run()  # cameraman at 512 px: too big for a whole heatmap
    assert any("Rows 224–287, columns 224–287" in c.value for c in at.caption)
    at.slider(key="kl_zoom_row").set_value(0).run()
    at.slider(key="kl_zoom_col").set_value(100).run()
    assert any("Rows 0–63, columns 448–511" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 6  # a window heatmap and a histogram per map
    assert not at.exception
