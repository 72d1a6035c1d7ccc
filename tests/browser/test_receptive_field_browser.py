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


def test_a_models_unit_is_chosen_on_the_picture_and_its_layer_in_the_table(page, app_url):
    from cnnviz.figures.receptive_fields import frame_for
    from cnnviz.pages.receptive_field import graph_fields
    from cnnviz.pages.your_network import describe, open_demo

    open_page(page, app_url, "receptive-field?preset=yours&net=resnet&fmt=onnx&node=block1.Add")
    assert_no_exception(page)
    image = page.frame_locator(PICTURE).locator("#image")
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{PICTURE}'); const i = f && f.contentDocument"
        " && f.contentDocument.getElementById('image'); return i && i.naturalWidth > 0 && i.width > 0; }")
    assert "Unit (7, 7) of block1.Add" in page.locator(".st-key-rf_unit").inner_text()  # its centre unit
    # The 28 px digit sits in a margin as wide as the deepest field reaches; input pixel (4.5, 20.5) is the centre
    # of unit (2, 10) of block1.Add (field 12, jump 2, start -5: unit i is centred at 2i + 0.5).
    margin = frame_for(graph_fields(describe(open_demo("resnet", "onnx")).table).rows, (28, 28)).margin
    side = 28 + 2 * margin
    box = image.bounding_box()
    image.click(position={"x": box["width"] * (margin + 20.5) / side, "y": box["height"] * (margin + 4.5) / side})
    wait_for_query(page, "unit", "2,10")
    wait_idle(page)
    unit = page.locator(".st-key-rf_unit").inner_text()
    assert "Unit (2, 10) of block1.Add" in unit and "rows −1 … 10 and columns 15 … 26" in unit
    for key in ("rf_random", "rf_trained"):  # random kernels and trained ones, each with its share of the box
        assert "90% of the gradient lies in" in page.locator(f".st-key-{key}").inner_text()
    # A row of the model's table picks its layer, and the unit nearest the same centre: block2.Add's unit i is
    # centred at 4i + 0.5, so (4.5, 20.5) becomes (1, 5).
    page.locator("[class*='st-key-rf_graph_click'] tr[data-layer='block2.Add']").click()
    wait_for_query(page, "node", "block2.Add")
    wait_idle(page)
    assert "Unit (1, 5) of block2.Add" in page.locator(".st-key-rf_unit").inner_text()
    assert page.locator("[class*='st-key-rf_graph_click'] tr.chosen").inner_text().startswith("block2.Add")
    assert query(page)["unit"] == "1,5"
    assert_no_exception(page)
