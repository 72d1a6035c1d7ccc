"""Look inside, in Chromium: a stroke drawn with the mouse on the canvas gives a prediction and feature maps, a real
click on the enlarged map draws that unit's receptive field on the input, Clear empties the canvas, and a finger's
stroke draws too."""
from browser_kit import assert_no_exception, open_page, wait_for_query, wait_idle

CANVAS = ".st-key-insp_canvas canvas"  # inside the component's open shadow root: CSS locators pierce it
CLEAR = ".st-key-insp_canvas button"
PREDICTION = ".st-key-insp_prediction"
SAYS = f"document.querySelector('{PREDICTION}').innerText.includes('The network says')"


def points_on(page, points) -> list[tuple[float, float]]:
    """Canvas fractions as page coordinates."""
    box = page.locator(CANVAS).bounding_box()
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]


def stroke(page, points) -> None:
    """Press, move through ``points`` (canvas fractions), release: what a student's drag does."""
    (x, y), *rest = points_on(page, points)
    page.mouse.move(x, y)
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def finger(page, points) -> None:
    """A touch drag through ``points``, as a phone sends it (Chromium turns it into touch pointer events)."""
    cdp = page.context.new_cdp_session(page)
    (x, y), *rest = points_on(page, points)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for x, y in rest:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_a_drawn_digit_is_read_and_a_clicked_unit_shows_its_receptive_field(page, app_url):
    open_page(page, app_url, "inspector")
    assert_no_exception(page)
    assert "Draw a digit" in page.locator(PREDICTION).inner_text()
    canvas = page.locator(CANVAS)
    canvas.wait_for()
    assert canvas.evaluate("c => [c.width, c.height, getComputedStyle(c).touchAction]") == [224, 224, "none"]
    stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)])  # a "1"
    page.wait_for_function(SAYS)
    wait_idle(page)
    grid = page.frame_locator(".st-key-insp_grid_click iframe").locator("img")
    grid.wait_for()
    assert grid.evaluate("img => img.naturalWidth") > 0  # the feature maps arrived
    first = page.locator(PREDICTION).inner_text()
    stroke(page, [(0.25, 0.5), (0.75, 0.5)])  # a cross stroke: now a "+"
    page.wait_for_function(f"document.querySelector('{PREDICTION}').innerText !== {first!r}")
    wait_idle(page)

    large = page.frame_locator(".st-key-insp_unit_click iframe").locator("img")
    large.click(position={"x": 5, "y": 5})  # the top-left unit of conv1
    page.wait_for_function("document.querySelector('.st-key-insp_rf') && "
                           "document.querySelector('.st-key-insp_rf').innerText.includes('sees a 5 × 5 window')")
    wait_for_query(page, "u", "0,0")
    assert "rows 0–4, columns 0–4" in page.locator(".st-key-insp_rf").inner_text()  # conv1: 5 x 5, no padding
    assert_no_exception(page)


def test_clear_empties_the_canvas_and_a_finger_draws(page, app_url):
    open_page(page, app_url, "inspector")
    page.locator(CANVAS).wait_for()
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    page.wait_for_function(SAYS)
    wait_idle(page)
    page.locator(CLEAR).click()
    page.wait_for_function(f"document.querySelector('{PREDICTION}').innerText.includes('Draw a digit')")
    wait_idle(page)
    # The canvas itself is black again: its centre pixel, where the stroke was.
    assert page.locator(CANVAS).evaluate("c => [...c.getContext('2d').getImageData(112, 112, 1, 1).data]") == \
        [0, 0, 0, 255]
    finger(page, [(0.3, 0.2), (0.5, 0.4), (0.5, 0.6), (0.5, 0.8)])
    page.wait_for_function(SAYS)
    wait_idle(page)
    assert page.locator(CANVAS).evaluate("c => c.getContext('2d').getImageData(112, 134, 1, 1).data[0]") == 255
    assert_no_exception(page)
