"""Kernel Lab through AppTest: every control changes what the page computes, the URL holds the view, nothing raises."""
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1.element_tree import Block

from apptest_kit import edit_grid, grid_key, page_state, redraw, run_page

PAGE = "kernel_lab"


@pytest.fixture
def at():
    return run_page("kernel_lab")


def state(app):
    return page_state(app, PAGE)


def kernel(app) -> np.ndarray:
    return state(app).kernel_array()


def grids(app) -> dict[str, dict]:
    """What each picture grid (``cnnviz.ui.pictures``) was sent, by its key: the pictures' titles, shapes, captions."""
    return {element.key: json.loads(element.proto.json) for element in app.get("bidi_component")
            if element.key.startswith("kl_")}


def titles(app) -> list[str]:
    """Every picture's title with its shape, as the page shows it: "**Input** `512 × 512`"."""
    return [f"**{p['title']}** `{p['shape']}`" for grid in grids(app).values() for p in grid["pictures"]]


def shapes(app) -> str:
    return "\n".join([m.value for m in app.markdown if "`" in m.value] + titles(app))


def captions(app) -> str:
    """Every caption, the pictures' own included."""
    return "\n".join([c.value for c in app.caption] + image_captions(app))


def image_captions(app) -> list[str]:
    return [f"{p['title']} · {p['shape']} · {p['caption']}" for grid in grids(app).values() for p in grid["pictures"]]


def png(size=(40, 30), colour=True, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3) if colour else (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


def test_defaults_show_the_stages_and_the_formula(at):
    text = shapes(at)
    assert "**Input** `512 × 512`" in text and "**Convolution** `512 × 512`" in text
    assert "⌊(512 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 512" in text  # cameraman at 512 px, same padding
    assert at.query_params == {} or all(not v for v in at.query_params.values())  # defaults make a bare URL


def test_working_size(at):
    at.select_slider(key="kl_working").set_value(128).run()
    assert "⌊(128 + 1 + 1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 128" in shapes(at)
    assert at.query_params["ws"] == "128"


def test_sample_choice(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    assert "**Input** `28 × 28`" in shapes(at)


def test_stride_changes_the_shape_and_the_url(at):
    redraw(at.number_input(key="kl_stride_h").set_value(2).run())
    assert "⌊(512 + 0 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 256" in shapes(at)  # "same" at stride 2: ceil(512 / 2)
    redraw(at.number_input(key="kl_stride_w").set_value(3).run())
    assert "⌊(512 + 0 + 1 − 1·(3 − 1) − 1) / 3⌋ + 1 = 171" in shapes(at)
    assert at.query_params["s"] == "2,3"


def blocks_and_elements(node) -> tuple[int, int]:
    blocks = elements = 0
    for child in getattr(node, "children", {}).values():
        if isinstance(child, Block):
            inner = blocks_and_elements(child)
            blocks, elements = blocks + 1 + inner[0], elements + inner[1]
        else:
            elements += 1
    return blocks, elements


def test_the_page_keeps_to_its_budget_of_blocks_and_elements(at):
    # Chromium redraws every block and element of the page (~10 React components each) on each of the ~3 commits a
    # change of a setting makes, whatever changed: the tree's size is most of the Kernel Lab's browser time
    # (bench/kernel_lab.py --browser). Rows of widgets are horizontal containers (one block; columns are three or
    # four) and sections are the layout's own containers. Raise these only for something a student needs: the 50th
    # element is the upsampling stage's toggle (the stage itself is drawn only when it is on), the 51st the tab's
    # memory of a class seat, on every page, so that a student's banner survives a reload (ui/tab_memory.py).
    main, sidebar = blocks_and_elements(at.main), blocks_and_elements(at.sidebar)
    assert main[0] + sidebar[0] <= 24 and main[1] + sidebar[1] <= 51, (main, sidebar)


def test_a_setting_reruns_only_the_outputs(at):
    """Stride, dilation, bias and the view redraw the outputs' fragment alone: the kernel editor, the inputs and the
    settings are not sent again (a browser keeps them), so the browser redraws a fraction of the page."""
    at.number_input(key="kl_stride_h").set_value(2).run()
    assert not at.exception
    assert "⌊(512 + 0 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 256" in shapes(at)  # the outputs followed
    assert not at.dataframe and not at.number_input and not at.title  # the rest was not redrawn
    assert state(at).stride == (2, 1) and at.query_params["s"] == "2,1"  # published from the fragment
    redraw(at)
    assert at.number_input(key="kl_stride_h").value == 2 and at.dataframe
    # A choice that shows more widgets reruns the settings too, still not the page: the pool's sizes appear.
    at.segmented_control(key="kl_pool").set_value("max").run()
    assert at.number_input(key="kl_pool_size_h").value == 2 and "Pooling: `128 × 256`" in shapes(at)
    assert not at.dataframe and not at.title and state(at).pool == "max" and at.query_params["pool"] == "max"


def test_dilation_and_valid_padding(at):
    at.segmented_control(key="kl_padding").set_value("valid").run()
    assert "⌊(512 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 510" in shapes(at)
    redraw(at.number_input(key="kl_dilation_h").set_value(3).run())
    assert "⌊(512 + 0 + 0 − 3·(3 − 1) − 1) / 1⌋ + 1 = 506" in shapes(at)


@pytest.mark.slow
def test_custom_padding_and_mode(at):
    at.segmented_control(key="kl_padding").set_value("custom").run()
    redraw(at.number_input(key="kl_pad_h").set_value(4).run())
    assert "⌊(512 + 4 + 4 − 1·(3 − 1) − 1) / 1⌋ + 1 = 518" in shapes(at)
    for mode in ("reflect", "replicate", "circular"):
        redraw(at.selectbox(key="kl_mode").set_value(mode).run())
        assert not at.exception and not at.error
    assert state(at).padding_mode == "circular"


def test_impossible_settings_explain_instead_of_crashing(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    at.segmented_control(key="kl_padding").set_value("valid").run()
    redraw(at.number_input(key="kl_dilation_h").set_value(8).run())
    at.number_input(key="kl_rows").set_value(5).run()
    assert not at.exception
    assert "cannot work" in at.error[0].value and "dilation" in at.error[0].value


def test_floor_dropped_rows_are_reported(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    at.segmented_control(key="kl_padding").set_value("valid").run()
    redraw(at.number_input(key="kl_stride_h").set_value(2).run())
    # 28 rows, 3x3, stride 2: windows start at 0..24, the last covers rows 24-26; row 27 is dropped.
    assert any("drops 1 input row(s) and 0 column(s)" in w.value for w in at.warning)


@pytest.mark.slow
def test_preset_and_parametric_sliders(at):
    at.selectbox(key="kl_preset").set_value("sobel_x").run()
    np.testing.assert_array_equal(kernel(at), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert at.query_params["k"] == "sobel_x" and "kv" not in at.query_params  # a preset needs no weights in the link
    at.selectbox(key="kl_preset").set_value("gaussian").run()
    assert kernel(at).shape == (7, 7)
    at.slider(key="kl_param_gaussian_sigma").set_value(0.5).run()
    assert kernel(at).shape == (5, 5) and at.query_params["kp"] == "0.5"
    at.selectbox(key="kl_preset").set_value("gabor").run()
    for name, value in (("theta", 90.0), ("sigma", 1.0), ("lambd", 4.0), ("gamma", 0.8), ("psi", 1.0)):
        before = kernel(at).copy()
        at.slider(key=f"kl_param_gabor_{name}").set_value(value).run()
        assert not np.array_equal(before, kernel(at)), name
    at.selectbox(key="kl_preset").set_value("motion_blur").run()
    at.slider(key="kl_param_motion_blur_length").set_value(3.0).run()
    assert kernel(at).shape == (3, 3)


def test_grid_edits_size_normalise_randomise_reset(at):
    at.number_input(key="kl_rows").set_value(4).run()
    at.number_input(key="kl_cols").set_value(2).run()
    assert kernel(at).shape == (4, 2)
    assert "⌊(512 + 1 + 2 − 1·(4 − 1) − 1) / 1⌋ + 1 = 512" in shapes(at)  # even kernel, same padding 1+2
    at.selectbox(key="kl_preset").set_value("box3").run()
    edit_grid(at, grid_key(at, "kl", "grid"), {1: {1: "5"}})
    assert kernel(at)[1, 1] == 5.0 and kernel(at)[0, 0] == 1 / 9  # untouched cells keep their exact value
    assert any("Sum of weights: **53/9**" in m.value for m in at.markdown)  # 8/9 + 5, as an exact fraction
    assert "kv" in at.query_params  # edited weights travel in the link
    at.button(key="kl_normalise").click().run()
    assert kernel(at).sum() == pytest.approx(1.0)
    at.button(key="kl_randomise").click().run()
    first = kernel(at).copy()
    at.button(key="kl_randomise").click().run()
    assert not np.array_equal(first, kernel(at))
    at.button(key="kl_reset").click().run()
    np.testing.assert_array_equal(kernel(at), np.full((3, 3), 1 / 9))
    assert state(at).kernel is None


def test_grid_shows_exact_numbers_and_refuses_nonsense(at):
    at.selectbox(key="kl_preset").set_value("box3").run()
    assert at.dataframe[0].value.iat[0, 0] == "1/9"  # a fraction when it is exact, never 0.11
    edit_grid(at, grid_key(at, "kl", "grid"), {0: {0: "-0.598"}, 0 + 1: {0: "abc"}, 2: {2: "1e309"}})
    assert kernel(at)[0, 0] == -0.598 and kernel(at)[1, 0] == 1 / 9 and kernel(at)[2, 2] == 1 / 9
    problems = " ".join(w.value for w in at.warning)
    assert "Row 2, column 1" in problems and "'abc' is not a number" in problems and "too large" in problems
    at.run()  # the grid's own data now holds the typed value (the browser showed it as an edit until then)
    assert at.dataframe[0].value.iat[0, 0] == "-0.598"
    edit_grid(at, grid_key(at, "kl", "grid"), {0: {0: "1/9"}, 2: {2: " 2 / 3 "}})
    assert kernel(at)[2, 2] == pytest.approx(2 / 3)


def test_zero_sum_shows_zero_and_normalising_it_explains(at):
    at.selectbox(key="kl_preset").set_value("sobel_x").run()
    assert any("Sum of weights: **0**" in m.value for m in at.markdown)
    at.button(key="kl_normalise").click().run()  # Sobel sums to 0
    assert any("sums to 0" in i.value for i in at.info)


def test_rgb_mode_shows_partials_and_the_parameter_count(at):
    at.selectbox(key="kl_sample").set_value("astronaut").run()
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    assert kernel(at).shape == (3, 3, 3)
    partials = grids(at)["kl_partials"]
    assert "One 3-D filter" in partials["heading"]
    assert [p["slot"] for p in partials["pictures"]] == ["partial0", "partial1", "partial2", "sum"]
    assert partials["pictures"][3]["src"] == grids(at)["kl_maps"]["pictures"][1]["src"]  # the sum is the conv map
    assert any("3×3×3 = 27 weights + 1 bias = **28**" in m.value for m in at.markdown)


def test_switching_colour_keeps_an_edited_kernel(at):
    at.number_input(key="kl_rows").set_value(15).run()
    at.number_input(key="kl_cols").set_value(15).run()
    at.button(key="kl_randomise").click().run()
    mine = kernel(at).copy()  # a random 15x15 kernel
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    rgb = kernel(at)
    assert rgb.shape == (3, 15, 15)
    np.testing.assert_allclose(rgb.sum(axis=0), mine)  # split by the luma weights: same output on a gray image
    assert any("Your kernel is kept" in i.value and "luma" in i.value for i in at.info)
    at.segmented_control(key="kl_colour").set_value("gray").run()
    np.testing.assert_allclose(kernel(at), mine)
    assert any("added into one" in i.value for i in at.info)


@pytest.mark.slow
def test_flip_bias_activation_pooling_display(at):
    at.toggle(key="kl_flip").set_value(True).run()
    assert any("rotated 180°" in c.value for c in at.caption)
    redraw(at.number_input(key="kl_bias").set_value(10.0).run())
    at.selectbox(key="kl_activation").set_value("leaky_relu").run()
    redraw(at.slider(key="kl_slope").set_value(0.3).run())
    at.segmented_control(key="kl_pool").set_value("max").run()
    assert "Pooling: `256 × 256`" in shapes(at)
    redraw(at.number_input(key="kl_pool_stride_h").set_value(1).run())
    assert "Pooling: `511 × 256`" in shapes(at)
    for mode in ("abs", "clip", "minmax", "diverging", "auto"):
        redraw(at.selectbox(key="kl_display").set_value(mode).run())
        assert not at.exception
    assert state(at).slope == 0.3 and at.query_params["a"] == "leaky_relu"


def test_automatic_display_is_gray_for_a_blur_and_signed_for_edges(at):
    assert "Signed scale" in captions(at)  # the default edge detector has both signs
    at.selectbox(key="kl_preset").set_value("gaussian").run()
    text = captions(at)
    assert "Gray: 0 black → 255 white" in text and "Signed scale" not in text


def test_filter_bank_maps_are_computed_only_while_open(at):
    assert "kl_bank_pictures" not in grids(at) and state(at).bank_open is False and "bo" not in at.query_params
    assert "Their feature maps on this image" in [e.label for e in at.expander]
    at.session_state["kl_bank_open"] = True  # what opening the expander does
    at.run()
    bank = grids(at)["kl_bank_pictures"]["pictures"]
    assert [p["slot"] for p in bank] == list(state(at).bank) == ["sobel_x", "sobel_y", "laplacian8", "gaussian"]
    assert all(p["shape"] == "256 × 256" for p in bank) and at.query_params["bo"] == "1"
    # Three 3×3 kernels and the 7×7 Gaussian, each with its bias: 3 × 10 + 50.
    assert any("**A layer with these 4 kernels** (of different sizes) has **80** parameters" in m.value
               for m in at.markdown)
    at.session_state["kl_bank_open"] = False
    at.run()
    assert "kl_bank_pictures" not in grids(at) and "bo" not in at.query_params


def test_a_link_opens_the_filter_bank():
    app = run_page("kernel_lab", query={"bo": "1", "bank": "emboss"})
    assert [p["slot"] for p in grids(app)["kl_bank_pictures"]["pictures"]] == ["emboss"]
    assert app.session_state["kl_bank_open"] is True


@pytest.mark.slow
def test_filter_bank_shows_what_fits_and_names_what_does_not(at):
    at.session_state["kl_bank_open"] = True
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()
    at.segmented_control(key="kl_padding").set_value("valid").run()
    redraw(at.number_input(key="kl_dilation_h").set_value(5).run())
    redraw(at.number_input(key="kl_dilation_w").set_value(5).run())
    at.number_input(key="kl_rows").set_value(1).run()  # the main kernel fits; the bank's 7x7 Gaussian does not
    at.number_input(key="kl_cols").set_value(1).run()
    assert not at.exception
    misfits = [e.value for e in at.error]
    assert len(misfits) == 1 and misfits[0].startswith("Gaussian blur does not fit")
    assert sum("Sobel" in caption for caption in image_captions(at)) == 2  # both Sobel thumbnails still show
    at.multiselect(key="kl_bank").set_value(["identity", "emboss"]).run()
    assert any("2 × (1×3×3 + 1) = 2 × (9 + 1) = **20** parameters" in m.value for m in at.markdown)
    at.multiselect(key="kl_bank").set_value([]).run()
    assert state(at).bank == () and at.query_params["bank"] == ""
    assert not [e for e in at.expander if "feature maps" in e.label]  # no expander promising "0 maps"


def test_one_by_one_kernel_explains_itself(at):
    at.number_input(key="kl_rows").set_value(1).run()
    at.number_input(key="kl_cols").set_value(1).run()
    assert any("1×1 kernel sees one pixel" in c.value for c in at.caption)
    at.selectbox(key="kl_preset").set_value("pointwise").run()
    assert kernel(at).shape == (1, 1) and any("mix the channels" in c.value for c in at.caption)


def test_details_toggle_adds_histograms_and_downloads(at):
    at.selectbox(key="kl_sample").set_value("mnist_digit").run()  # 28 x 28: small enough for hover heatmaps
    assert not at.get("download_button")
    at.toggle(key="kl_details").set_value(True).run()
    assert len(at.get("download_button")) == 4  # PNG and .npy for the input and the convolution
    assert len(at.get("plotly_chart")) == 4  # a hover heatmap and a histogram per map


def test_rgb_channel_slices_edit_separately(at):
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    at.selectbox(key="kl_preset").set_value("identity").run()
    before = kernel(at).copy()  # (3, 3, 3)
    at.segmented_control(key="kl_channel").set_value(2).run()  # blue
    edit_grid(at, grid_key(at, "kl", "grid", "_2"), {0: {0: "7"}})
    after = kernel(at)
    assert after[2, 0, 0] == 7.0
    np.testing.assert_array_equal(after[:2], before[:2])  # the red and green slices are untouched


@pytest.mark.slow
def test_column_geometry_and_pool_size(at):
    redraw(at.number_input(key="kl_dilation_w").set_value(2).run())
    assert "⌊(512 + 2 + 2 − 2·(3 − 1) − 1) / 1⌋ + 1 = 512" in shapes(at)  # "same" pads for the dilated span
    at.segmented_control(key="kl_padding").set_value("custom").run()
    redraw(at.number_input(key="kl_pad_w").set_value(3).run())
    assert "⌊(512 + 3 + 3 − 2·(3 − 1) − 1) / 1⌋ + 1 = 514" in shapes(at)
    at.segmented_control(key="kl_pool").set_value("avg").run()
    redraw(at.number_input(key="kl_pool_size_w").set_value(3).run())
    assert "Pooling: `256 × 256`" in shapes(at)  # rows (512 - 2) / 2 + 1, cols (514 - 3) / 2 + 1


def test_upload_good_and_bad(at):
    at.radio(key="kl_source").set_value("upload").run()
    assert any("Upload an image to see it here" in i.value for i in at.info)  # the sample stands in meanwhile
    assert "**Input** `512 × 512`" in shapes(at)
    at.file_uploader(key="kl_upload").upload("photo.png", png((40, 30)), "image/png").run()
    assert "**Input** `30 × 40`" in shapes(at)
    at.file_uploader(key="kl_upload").upload("notes.txt", b"not an image", "text/plain").run()
    assert not at.exception
    assert "not an image" in at.error[0].value


def test_large_upload_is_downscaled_with_a_note(at):
    at.radio(key="kl_source").set_value("upload").run()
    at.file_uploader(key="kl_upload").upload("big.png", png((900, 300), colour=False), "image/png").run()
    # Rows × columns, as the map titles and the tutorials write sizes: once "900×300" beside a "171 × 512" title.
    assert [i.value for i in at.info if "scaled down" in i.value] == [
        "Your 300×900 image was scaled down to 171×512 to keep things fast. Change the working size in the sidebar "
        "to use more pixels."]
    assert "**Input** `171 × 512`" in titles(at)
    assert "sizes are rows × columns (height × width)" in at.caption[0].value


def test_camera_input(at):
    at.radio(key="kl_source").set_value("camera").run()
    at.camera_input(key="kl_camera").upload("snap.jpg", png((64, 48), fmt="JPEG"), "image/jpeg").run()
    assert "**Input** `48 × 64`" in shapes(at)


def test_zoom_window_on_big_maps(at):
    at.toggle(key="kl_details").set_value(True).run()  # cameraman at 512 px: too big for a whole heatmap
    assert any("Rows 224–287, columns 224–287" in c.value for c in at.caption)
    redraw(at.slider(key="kl_zoom_row").set_value(0).run())
    redraw(at.slider(key="kl_zoom_col").set_value(100).run())
    assert any("Rows 0–63, columns 448–511" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 4  # a window heatmap and a histogram per map
    assert at.query_params["z"] == "0,100"


# --- links ---------------------------------------------------------------------------------------------

def test_a_link_opens_its_view_in_a_fresh_session():
    app = run_page("kernel_lab", query={"img": "mnist_digit", "k": "sobel_y", "s": "2,1", "p": "valid", "a": "relu",
                                        "pool": "max", "v": "diverging", "b": "-5"})
    assert app.selectbox(key="kl_sample").value == "mnist_digit"
    assert app.selectbox(key="kl_preset").value == "sobel_y"
    assert (app.number_input(key="kl_stride_h").value, app.number_input(key="kl_stride_w").value) == (2, 1)
    assert app.segmented_control(key="kl_padding").value == "valid"
    assert app.number_input(key="kl_bias").value == -5.0
    text = shapes(app)
    assert "Convolution: `13 × 26`" in text and "Pooling: `6 × 13`" in text  # 28 px, valid 3x3, stride (2, 1)


@pytest.mark.slow
def test_a_link_carries_edited_weights_and_ignores_what_it_cannot_use():
    source = run_page("kernel_lab")
    source.number_input(key="kl_rows").set_value(15).run()
    source.number_input(key="kl_cols").set_value(15).run()
    source.button(key="kl_randomise").click().run()
    source.segmented_control(key="kl_colour").set_value("rgb").run()
    query = dict(source.query_params)
    app = run_page("kernel_lab", query={**query, "s": "0,99", "zz": "1"})
    np.testing.assert_allclose(kernel(app), kernel(source), rtol=1e-6)
    assert state(app).stride == (1, 1)
    assert "s=0,99" in app.warning[0].value and "zz" not in app.warning[0].value  # unknown keys are not the page's


def test_a_link_made_with_an_upload_opens_with_the_sample_and_says_so():
    app = run_page("kernel_lab", query={"src": "upload"})
    assert any("Upload an image to see it here" in i.value for i in app.info)
    assert "**Input** `512 × 512`" in shapes(app)


def test_a_view_that_opened_impossible_recovers_when_a_setting_fixes_it():
    # The page's own run drew the error; the fix reruns only the outputs, which must fill every area again.
    app = run_page("kernel_lab", query={"img": "mnist_digit", "ws": "64", "k": "gaussian", "kp": "2", "p": "valid",
                                        "d": "8,8"})
    assert any("does not fit" in e.value or "kernel" in e.value.lower() for e in app.error)
    redraw(app.number_input(key="kl_dilation_h").set_value(1).run())
    redraw(app.number_input(key="kl_dilation_w").set_value(1).run())
    app.session_state["kl_bank_open"] = True
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "kl_maps" in grids(app) and "kl_bank_pictures" in grids(app)


def test_a_link_naming_a_bank_kernel_twice_keeps_it_once_and_says_so():
    app = run_page("kernel_lab", query={"bank": "gabor,sobel_x,gabor,sobel_x", "bo": "1"})
    assert [p["slot"] for p in grids(app)["kl_bank_pictures"]["pictures"]] == ["gabor", "sobel_x"]
    assert state(app).bank == ("gabor", "sobel_x") and app.query_params["bank"] == "gabor,sobel_x"
    assert [w.value for w in app.warning] == [
        "This link had settings that could not be used, so their defaults are shown: bank=gabor,sobel\\_x."]  # escaped for markdown


def test_the_filter_bank_stays_open_when_its_kernels_change(at):
    at.session_state["kl_bank_open"] = True  # what opening the expander does
    at.run()
    at.multiselect(key="kl_bank").set_value(["sobel_x", "emboss"]).run()
    assert not at.exception
    assert [p["slot"] for p in grids(at)["kl_bank_pictures"]["pictures"]] == ["sobel_x", "emboss"]
    assert state(at).bank_open is True and at.query_params["bo"] == "1"
    assert [e.proto.expanded for e in at.expander if e.label.startswith("Their")] == [True]


def grid_texts(app) -> list[list[str]]:
    return app.dataframe[0].value.values.tolist()


def popover(app, key: str):
    """The popover block with widget key ``key`` (AppTest has no accessor of its own for popovers)."""
    def walk(node):
        for child in getattr(node, "children", {}).values():
            if isinstance(child, Block) and child.type == "popover" and child.proto.id.endswith(f"-{key}"):
                return child.proto.popover
            found = walk(child)
            if found is not None:
                return found
        return None
    return walk(app.main)


def test_a_linked_edit_keeps_the_other_weights_as_fractions():
    # A link carries weights as float32: 1/9 comes back 8e-10 off, and once showed as 0.1111 in every other cell.
    app = run_page("kernel_lab", query={"k": "box3", "kv": "3x3.F.eNpjYFjgYNn32BYfBgAXSxAZ"})
    assert grid_texts(app) == [["5", "1/9", "1/9"], ["1/9"] * 3, ["1/9"] * 3]
    assert "Sum of weights: **53/9**" in [m.value for m in app.markdown]


def test_a_word_in_a_cell_is_wiped_and_its_warning_goes_with_the_next_valid_edit():
    app = run_page("kernel_lab", query={"k": "box3"})
    typed_into = grid_key(app, "kl", "grid")
    edit_grid(app, typed_into, {0: {0: "abc", 1: "2"}})
    assert not app.exception
    assert [w.value for w in app.warning] == [
        "Row 1, column 1: 'abc' is not a number: type a value such as 0.5, -2 or 1/9. "
        "The cell keeps its previous value."]
    assert kernel(app)[0, 1] == 2 and kernel(app)[0, 0] == pytest.approx(1 / 9)  # the valid edit is kept
    # A new grid, showing the numbers kept: the browser drops the one it had, with "abc" and the edits it piled up
    # (once they came back on every later run, and the warning with them).
    assert grid_key(app, "kl", "grid") != typed_into and grid_texts(app)[0] == ["1/9", "2", "1/9"]
    app.run()  # a rerun something else asks for (a timer, a component) once took the warning away unread
    assert len(app.warning) == 1 and "'abc' is not a number" in app.warning[0].value
    edit_grid(app, grid_key(app, "kl", "grid"), {1: {1: "3"}})
    assert [w.value for w in app.warning] == [] and kernel(app)[1, 1] == 3 and kernel(app)[0, 1] == 2


@pytest.mark.slow
def test_the_paste_box_closes_once_its_numbers_are_used():
    app = run_page("kernel_lab", query={"k": "box3"})
    app.session_state["kl_paste_box"] = True  # what opening it does
    app.run()
    assert popover(app, "kl_paste_box").open is True
    app.text_area(key="kl_paste_text").set_value("1 2\n3 4").run()
    app.button(key="kl_paste_apply").click().run()
    assert not app.exception and kernel(app).tolist() == [[1, 2], [3, 4]]
    assert popover(app, "kl_paste_box").open is False  # it would cover the outputs
    app.text_area(key="kl_paste_text").set_value("1 x").run()
    app.session_state["kl_paste_box"] = True
    app.button(key="kl_paste_apply").click().run()
    assert popover(app, "kl_paste_box").open is True and [e.value for e in app.error] == [
        "row 1, column 2: 'x' is not a number: type a value such as 0.5, -2 or 1/9"]


def test_a_gaussian_shows_every_weight_whole_in_the_room_it_has():
    app = run_page("kernel_lab", query={"k": "gaussian"})  # 7 columns: under the maps, the page's whole width
    assert grid_texts(app)[0] == ["1.965e-5", "2.394e-4", "0.001073", "0.001769", "0.001073", "2.394e-4", "1.965e-5"]
    assert "Some weights are shown with fewer digits to fit the grid" in captions(app)
    app = run_page("kernel_lab", query={"k": "gaussian", "present": "1"})  # 7 columns beside the maps: less room
    assert grid_texts(app)[0] == ["2e-5", "2e-4", "0.001", "0.002", "0.001", "2e-4", "2e-5"]


def test_the_parameter_count_names_whole_layers_of_the_filter(at):
    # The default 3×3 gray kernel: 9 weights + 1 bias = 10 a filter, shared across the image, so N filters are N × 10.
    assert "N × 10 parameters" in shapes(at) and "6 → 60 · 10 → 100 · 16 → 160 · 32 → 320 · 64 → 640" in shapes(at)
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    assert "10 → 280" in shapes(at)  # 3×3×3 + 1 = 28
