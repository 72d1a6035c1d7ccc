"""Look inside's network view in Chromium: a real click on a map of the overview opens its layer, a click on a unit of
the large map writes out its value, and both land in the URL."""
from browser_kit import assert_no_exception, open_page, wait_for_query, wait_idle

from cnnviz.figures import overview
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.pages.drill import overview_columns
from cnnviz.pages.inspector import INPUT_SHAPE, describe

OVERVIEW = ".st-key-insp_drill_click img"
LARGE = ".st-key-insp_drill_unit_click img"
MATH = ".st-key-insp_drill_math"


def test_a_click_on_a_map_then_on_a_unit_takes_its_value_apart(page, app_url):
    open_page(page, app_url, "inspector?src=mnist&i=0&v=network")
    assert_no_exception(page)
    picture = page.locator(OVERVIEW)
    picture.wait_for()
    page.wait_for_function(f"document.querySelector('{OVERVIEW}').naturalWidth > 0")
    # Where conv2's map 2 is drawn, in the picture shown at whatever size the column gives it.
    layout = overview.overview_layout(overview_columns(describe(build_model(NETWORK_PRESETS["default"], seed=0)),
                                                       INPUT_SHAPE))
    labels = [column.label for column in layout.columns]
    top, left, bottom, right = layout.boxes(labels.index("conv2"))[2]
    height, width = layout.size
    box = picture.bounding_box()
    picture.click(position={"x": (left + right) / 2 * box["width"] / width,
                            "y": (top + bottom) / 2 * box["height"] / height})
    wait_for_query(page, "dl", "conv2")
    wait_for_query(page, "dm", "2")
    wait_idle(page)
    assert "computed from the 16 maps of act1" in page.locator("[data-testid=stMain]").inner_text()

    large = page.locator(LARGE)
    large.wait_for()
    shown = large.bounding_box()
    large.click(position={"x": shown["width"] * 0.15, "y": shown["height"] * 0.35})  # conv2 is 10 x 10: (3, 1)
    wait_for_query(page, "du", "3,1")
    page.wait_for_selector(MATH)
    # The written-out sum is a code block drawn a moment after the panel around it: wait for it, with a deadline.
    page.wait_for_function(f"document.querySelector('{MATH}').innerText.includes('sum of the 16 partial sums')")
    text = page.locator(MATH).inner_text()
    assert "Unit (3, 1) of conv2, map 2" in text
    assert "sum of the 16 partial sums" in text and "plus bias" in text
    assert "act2 ReLU: max(0, " in text and "10 × 10 window of the digit" in text
    page.locator(f"{MATH} summary").filter(has_text="term by term").click()  # the sixteen channels, term by term
    page.wait_for_function(f"document.querySelector('{MATH}').innerText.includes('ch 15: ')")
    assert_no_exception(page)
