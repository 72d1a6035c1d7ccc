"""The Kernel Lab's hover arithmetic in Chromium: every number the panel computes in the browser equals
cnnviz.conv.ops's at that position (gray and RGB, stride, dilation, reflect and circular padding, flip, bias,
activations, max and average pooling), the reverse view finds exactly the units that read a pixel, the pointer and
the keys move it, and hovering sends the server nothing."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

import numpy as np
import pytest

from cnnviz.conv import ops
from cnnviz.conv.samples import load_sample
from cnnviz.pages.kernel_lab import KernelLabState, compute

from browser_kit import assert_no_exception, open_page, set_number, wait_for_query, wait_idle
from browser_kit import query as query_of

# Each view is a link; the browser's numbers are checked against the same view computed here.
VIEWS = {
    # gray: the luma is not whole numbers, so the input travels as float32; a true convolution (flipped kernel)
    "gray": "?img=camera&ws=64&k=sobel_x&p=custom&pa=2,1&pm=reflect&s=2,1&d=1,2&f=1&a=leaky_relu&ls=0.2&b=-3"
            "&pool=max&ps=2,2&pst=2,2",
    # RGB with Lanczos-resized values (float32), same padding with reflect, average pooling with overlap
    "rgb": "?img=chelsea&ws=64&c=rgb&k=sobel_y&p=same&pm=reflect&s=2,2&d=2,2&a=relu&b=5&pool=avg&ps=3,2&pst=2,1",
    # RGB in whole 8-bit values (one byte each), circular padding, a 7×7 kernel
    "bytes": "?img=astronaut&ws=64&c=rgb&k=gaussian&p=custom&pa=3,3&pm=circular&s=1,3&a=abs&b=-40&pool=max",
}
POSITIONS = {"gray": 17, "rgb": 17, "bytes": 16}  # 50 random positions in all
FLOAT32_SUM = 1e-5  # float32 rounding of a sum of at most 147 products, relative to the sum of their sizes


def reference(query: str):
    state, ignored = KernelLabState.from_query(dict(parse_qsl(query[1:])))
    assert not ignored, ignored
    image = load_sample(state.sample, size=state.working_size)
    return state, compute(state, image, f"test:{query}")


def open_view(page, app_url: str, query: str) -> None:
    open_page(page, app_url, query)
    assert_no_exception(page)
    page.wait_for_selector(".cnnviz-hover[data-ready='1']")


def point(page, stage: str, kind: str, row: int, col: int) -> dict:
    return json.loads(page.evaluate("([s, k, r, c]) => window.cnnvizHover.point(s, k, r, c, true)",
                                    [stage, kind, row, col]))


def conv_unit_at(page, shape: tuple[int, int], *, touch: bool = False):
    """Show the convolution stage; returns where on screen its unit (r, c) is, as a function of r and c."""
    chip = page.locator(".cnnviz-hover .hm-chips button[data-stage=conv]")
    chip.tap() if touch else chip.click()
    picture = page.locator(".cnnviz-hover .hm-frame[data-role=output] img")
    picture.scroll_into_view_if_needed()
    box, extent = picture.bounding_box(), page.evaluate("window.cnnvizHover.current.extent")
    return lambda r, c: (box["x"] + (c + 0.5) / shape[1] * extent[1] * box["width"],
                         box["y"] + (r + 0.5) / shape[0] * extent[0] * box["height"])


def stage_maps(result) -> dict[str, np.ndarray]:
    stages = result.stages
    maps = {"conv": stages.conv, "activation": stages.activated}
    if stages.pooled is not None:
        maps["pool"] = stages.pooled
    if stages.partials is not None:
        maps.update({f"partial{c}": stages.partials[c] for c in range(3)})
    return maps


def close(shown: float, expected: float, magnitude: float) -> bool:
    return abs(shown - float(expected)) <= FLOAT32_SUM * magnitude + 1e-6


@pytest.mark.parametrize("view", list(VIEWS))
def test_every_number_equals_ops_at_random_positions(page, app_url, view):
    query = VIEWS[view]
    state, result = reference(query)
    open_view(page, app_url, query)
    stages = result.stages
    image = stages.image if stages.image.ndim == 3 else stages.image[..., None]  # (H, W, C)
    kernel = result.kernel if result.kernel.ndim == 3 else result.kernel[None]  # (C, kh, kw)
    if state.flip:
        kernel = kernel[..., ::-1, ::-1]
    rows, cols = stages.shapes[1].rows, stages.shapes[1].cols
    padded = ops.pad(image, ((rows.pad_before, rows.pad_after), (cols.pad_before, cols.pad_after)), state.padding_mode)
    chosen = stage_maps(result)
    offered = page.locator(".cnnviz-hover .hm-chips button[data-stage]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.stage)")
    assert sorted(offered) == sorted(chosen)
    rng = np.random.default_rng(28)
    names = sorted(chosen)
    for _ in range(POSITIONS[view]):
        stage = names[rng.integers(len(names))]
        r, c = (int(rng.integers(n)) for n in chosen[stage].shape)
        shown = point(page, stage, "out", r, c)
        assert (shown["stage"], shown["row"], shown["col"]) == (stage, r, c)
        if stage.startswith("partial"):  # a channel's partial map shows that channel's grids
            assert page.evaluate("window.cnnvizHover.channel") == int(stage[-1])
        cr, cc = shown["conv_row"], shown["conv_col"]
        taps = padded[cr * rows.stride + np.arange(rows.kernel)[:, None] * rows.dilation,
                      cc * cols.stride + np.arange(cols.kernel)[None, :] * cols.dilation]  # (kh, kw, C)
        window = np.moveaxis(taps, -1, 0).astype(np.float64)  # (C, kh, kw)
        np.testing.assert_array_equal(np.array(shown["window"]), window.reshape(len(window), -1))
        products = window * kernel.astype(np.float32)
        magnitude = float(np.abs(products).sum() + abs(state.bias))
        where = f"{view} {stage} ({r}, {c}) -> conv ({cr}, {cc}): {shown}"
        if stages.partials is not None:
            for channel in range(3):
                assert close(shown["partials"][channel], stages.partials[channel][cr, cc], magnitude), where
        assert close(shown["conv"], stages.conv[cr, cc], magnitude), where
        assert close(shown["activation"], stages.activated[cr, cc], magnitude), where
        if stage == "pool":
            pool = state.pooling
            window_rows = slice(r * pool.stride[0], r * pool.stride[0] + pool.size[0])
            window_cols = slice(c * pool.stride[1], c * pool.stride[1] + pool.size[1])
            pooled = stages.activated[window_rows, window_cols].ravel()
            for got, want in zip(shown["pool_window"], pooled, strict=True):
                assert close(got, want, magnitude), where
            assert close(shown["pool"], stages.pooled[r, c], magnitude), where
            if state.pool == "max":
                assert shown["pool_window"][shown["winner"]] == max(shown["pool_window"]), where
        else:
            assert close(shown[stage if stage in ("conv", "activation") else "conv"],
                         chosen[stage][r, c] if not stage.startswith("partial") else stages.conv[cr, cc], magnitude)
    assert_no_exception(page)


def test_an_input_pixel_lights_every_unit_whose_window_reads_it(page, app_url):
    query = VIEWS["rgb"]
    state, result = reference(query)
    open_view(page, app_url, query)
    image_hw = result.stages.image.shape[:2]
    kernel_hw = result.kernel.shape[-2:]
    rng = np.random.default_rng(7)
    for r, c in [(0, 0), (image_hw[0] - 1, image_hw[1] - 1)] + [tuple(int(rng.integers(n)) for n in image_hw)
                                                                for _ in range(4)]:
        # The units reading pixel (r, c): a convolution of a one-pixel image with a kernel of ones, padded the same
        # way (a reflected copy of the pixel counts too).
        delta = np.zeros(image_hw)
        delta[r, c] = 1
        reads = ops.conv2d(delta, np.ones(kernel_hw), **state.geometry.conv_kwargs()) > 0
        shown = point(page, "conv", "in", r, c)
        lit = np.zeros_like(reads)
        lit[np.ix_(shown["rows"], shown["cols"])] = True
        np.testing.assert_array_equal(lit, reads, err_msg=f"pixel ({r}, {c})")
        assert shown["values"] == list(result.stages.image[r, c])


def test_the_pointer_moves_the_window_and_sends_the_server_nothing(page, app_url):
    sent = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda frame: sent.append(frame)))
    query = VIEWS["gray"]
    state, result = reference(query)
    open_view(page, app_url, query)
    out_rows, out_cols = result.stages.conv.shape
    unit_at = conv_unit_at(page, (out_rows, out_cols))
    before = len(sent)
    for r, c in [(0, 0), (3, 5), (out_rows - 1, out_cols - 1), (10, 2), (7, 7)]:
        x, y = unit_at(r, c)
        page.mouse.move(x, y, steps=4)
        shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
        assert (shown["kind"], shown["row"], shown["col"]) == ("out", r, c)
        assert abs(shown["conv"] - float(result.stages.conv[r, c])) < 1e-3
    page.wait_for_timeout(400)  # a frame the page would send because of the moves has had time to leave
    assert len(sent) == before, [frame for frame in sent[before:]][:3]
    page.mouse.click(x, y)  # pins (7, 7); a pinned place goes into the link (test below), so frames may leave now
    assert page.locator(".cnnviz-hover").get_attribute("data-pinned") == "1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.mouse.move(*unit_at(0, 0))  # pinned: the pointer no longer moves it
    shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
    assert (shown["row"], shown["col"]) == (9, 8)
    inputs = page.locator(".cnnviz-hover .hm-frame[data-role=input] img").bounding_box()
    page.keyboard.press("Escape")
    assert page.locator(".cnnviz-hover").get_attribute("data-pinned") == "0"
    page.keyboard.press("ArrowLeft")  # the keyboard alone pins the stage's centre, then moves it
    page.keyboard.press("ArrowLeft")
    shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
    assert (shown["row"], shown["col"]) == (out_rows // 2, out_cols // 2 - 1)
    page.keyboard.press("Escape")
    page.wait_for_function("!new URLSearchParams(location.search).has('hu')")  # unpinned, and the link says so
    wait_idle(page)
    before = len(sent)
    page.mouse.move(inputs["x"] + inputs["width"] / 2, inputs["y"] + inputs["height"] / 2, steps=6)
    shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
    assert shown["kind"] == "in"
    page.wait_for_timeout(400)
    assert len(sent) == before, [frame for frame in sent[before:]][:3]


def test_a_pinned_place_goes_into_the_link_and_the_link_opens_on_it(page, app_url, browser):
    query = VIEWS["gray"]
    state, result = reference(query)
    open_view(page, app_url, query)
    page.mouse.click(*conv_unit_at(page, result.stages.conv.shape)(5, 6))  # pins (5, 6)
    wait_for_query(page, "hu", "5,6")
    assert "hk" not in query_of(page) and "hs" not in query_of(page)  # a unit (the default) of the convolution
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # held keys send the place they stop at, once
    wait_for_query(page, "hu", "5,8")
    link = page.url
    fresh = browser.new_context(viewport={"width": 1280, "height": 2400})
    try:
        other = fresh.new_page()
        other.set_default_timeout(60_000)
        other.goto(link)
        other.wait_for_selector(".cnnviz-hover[data-ready='1'][data-pinned='1']")
        assert_no_exception(other)
        other.wait_for_function("document.querySelector('.cnnviz-hover .hm-panel').dataset.values !== ''")
        shown = json.loads(other.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
        assert (shown["kind"], shown["row"], shown["col"]) == ("out", 5, 8)
        assert abs(shown["conv"] - float(result.stages.conv[5, 8])) < 1e-3
        other.locator(".cnnviz-hover").focus()
        other.keyboard.press("Escape")
        other.wait_for_function("!new URLSearchParams(location.search).has('hu')")
    finally:
        fresh.close()


def test_a_setting_changes_the_numbers_without_fetching_the_pixels_again(page, app_url):
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    query = VIEWS["gray"]
    state, result = reference(query)
    open_view(page, app_url, query)
    source = page.evaluate("window.cnnvizHover.data.input_src")
    assert sum(source in url for url in fetched) == 1
    shown = point(page, "activation", "out", 4, 9)
    assert close(shown["activation"], result.stages.activated[4, 9], 1e4)
    set_number(page, "kl_bias", 9)
    page.wait_for_function("window.cnnvizHover.data.settings.bias === 9")
    page.wait_for_selector(".cnnviz-hover[data-ready='1']")
    state, result = reference(query.replace("b=-3", "b=9"))
    shown = point(page, "activation", "out", 4, 9)
    assert close(shown["conv"], result.stages.conv[4, 9], 1e4) and close(shown["activation"], result.stages.activated[4, 9], 1e4)
    assert sum(source in url for url in fetched) == 1  # the same input: its values were not sent again


def test_a_finger_pins_a_place_and_drags_it_on_a_phone(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                  device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    query = VIEWS["gray"]
    state, result = reference(query)
    try:
        open_view(page, app_url, query)
        at = conv_unit_at(page, result.stages.conv.shape, touch=True)
        picture = page.locator(".cnnviz-hover .hm-frame[data-role=output] img")

        page.touchscreen.tap(*at(3, 4))
        assert page.locator(".cnnviz-hover").get_attribute("data-pinned") == "1"
        shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
        assert (shown["row"], shown["col"]) == (3, 4)
        x, y = at(12, 20)
        # The move the component follows: a raw one where the page is secure, as here (cnnviz.ui.hover_math).
        picture.evaluate("(img, [x, y]) => img.dispatchEvent(new PointerEvent("
                         "'onpointerrawupdate' in window ? 'pointerrawupdate' : 'pointermove',"
                         " {pointerType: 'touch', buttons: 1, clientX: x, clientY: y, bubbles: true}))", [x, y])
        shown = json.loads(page.locator(".cnnviz-hover .hm-panel").get_attribute("data-values"))
        assert (shown["row"], shown["col"]) == (12, 20)
        assert abs(shown["conv"] - float(result.stages.conv[12, 20])) < 1e-3
    finally:
        context.close()


def test_the_edge_lesson_opens_the_hover_view_where_the_sum_changes_sign(page, app_url):
    from cnnviz.pages.lessons import LESSONS

    number = next(i for i, lesson in enumerate(LESSONS, 1) if lesson.key == "edge_hover")
    open_page(page, app_url, f"lessons?l={number}")
    assert "They agree." in page.locator(".st-key-lessons_numbers").inner_text()
    page.get_by_role("link", name="Open this in Kernel Lab").click()
    page.wait_for_selector(".cnnviz-hover[data-ready='1']")
    assert_no_exception(page)
    lesson = LESSONS[number - 1]
    conv = compute(lesson.state, load_sample(lesson.state.sample, size=lesson.state.working_size), "lesson").stages.conv
    row = int(np.argmax(np.abs(conv).max(axis=1)))  # a row crossing edges both ways
    sums = [point(page, "conv", "out", row, col)["conv"] for col in range(conv.shape[1])]
    assert max(sums) == 1020 and min(sums) == -1020 and 0 in sums
