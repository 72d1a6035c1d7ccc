"""Receptive fields in Chromium: a real mouse click on the picture chooses a unit and redraws its box."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query, wait_idle

PICTURE = ".st-key-rf_picture iframe"


def picture_src(page) -> str:
    return page.frame_locator(PICTURE).locator("#image").get_attribute("src") or ""


def test_clicking_a_unit_on_the_picture_draws_its_field(page, app_url):
    open_page(page, app_url, "receptive-field")
    assert_no_exception(page)
    image = page.frame_locator(PICTURE).locator("#image")
    page.wait_for_function(  # the component has loaded the picture and sized itself
        f"() => {{ const f = document.querySelector('{PICTURE}'); const i = f && f.contentDocument"
        " && f.contentDocument.getElementById('image'); return i && i.naturalWidth > 0 && i.width > 0; }")
    before = picture_src(page)
    assert before.startswith("data:image/png;base64,")
    box = image.bounding_box()
    # MNIST net, last layer: the 544 px picture has 3 pixels of padding (48 px) around the digit; a click a fifth of
    # the way in from the top left lands nearest unit (0, 0), one near the bottom right on unit (6, 6).
    image.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.2})
    wait_for_query(page, "unit", "0,0")
    wait_idle(page)
    assert "Unit (0, 0)" in page.locator(".st-key-rf_unit").inner_text()
    assert "51% of the field is padding" in page.locator(".st-key-rf_unit").inner_text()
    page.wait_for_function(
        f"(old) => document.querySelector('{PICTURE}').contentDocument.getElementById('image').src !== old",
        arg=before)
    image.click(position={"x": box["width"] * 0.85, "y": box["height"] * 0.85})
    wait_for_query(page, "unit", "6,6")
    # The effective field of the chosen unit: a heat-map picture under the unit picture.
    page.locator(".st-key-rf_random img").wait_for()
    assert "90% of the gradient lies in" in page.locator(".st-key-rf_random").inner_text()
    # The sliders follow the click.
    assert page.locator(".st-key-rf_row input[type=range]").input_value() == "6"
    assert query(page)["unit"] == "6,6"
    assert_no_exception(page)


def test_vgg16s_layer_table_shows_every_layer_without_scrolling_in_presentation_mode(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    page = context.new_page()
    try:
        open_page(page, app_url, "receptive-field?preset=vgg16&present=1")
        assert_no_exception(page)
        page.locator(".st-key-rf_stack").scroll_into_view_if_needed()
        grid = page.locator(".st-key-rf_stack .dvn-scroller")
        grid.wait_for()  # the table draws its canvas once it is on screen
        # 18 layers, the header and the add row, each 42 px at presentation mode's larger type
        page.wait_for_function("() => document.querySelector('.st-key-rf_stack .dvn-scroller').scrollHeight >= 20 * 42")
        heights = grid.evaluate("e => [e.scrollHeight, e.clientHeight]")
        assert heights[0] <= heights[1], f"the table scrolls inside itself: {heights[0]} px in {heights[1]} px"
    finally:
        context.close()
