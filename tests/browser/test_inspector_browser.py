"""Look inside, in Chromium: a stroke drawn with the mouse on the canvas gives a prediction and feature maps, and a
real click on the enlarged map draws that unit's receptive field on the input."""
from browser_kit import assert_no_exception, open_page, wait_for_query, wait_idle

CANVAS = ".st-key-insp_canvas canvas"
PREDICTION = ".st-key-insp_prediction"


def stroke(page, points) -> None:
    """Press, move through ``points`` (canvas fractions), release: what a student's drag does."""
    box = page.locator(CANVAS).last.bounding_box()  # fabric stacks a lower and an upper canvas; the upper gets events
    x, y = box["x"], box["y"]
    page.mouse.move(x + points[0][0] * box["width"], y + points[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x + fx * box["width"], y + fy * box["height"], steps=4)
    page.mouse.up()


def test_a_drawn_digit_is_read_and_a_clicked_unit_shows_its_receptive_field(page, app_url):
    open_page(page, app_url, "inspector")
    assert_no_exception(page)
    assert "Draw a digit" in page.locator(PREDICTION).inner_text()
    page.wait_for_selector(CANVAS)
    stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)])  # a "1"
    page.wait_for_function(f"document.querySelector('{PREDICTION}').innerText.includes('The network says')")
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
                           "document.querySelector('.st-key-insp_rf').innerText.includes('sees a 3 × 3 window')")
    wait_for_query(page, "u", "0,0")
    assert "of it is padding" in page.locator(".st-key-insp_rf").inner_text()
    assert_no_exception(page)
