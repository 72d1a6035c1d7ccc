"""1-D signals in Chromium: the causal toggle and the output slider rewrite the arithmetic and the link, a typed
signal is read, the charts draw, and the page fits a phone in Chinese."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query, wait_idle

CODE = ".st-key-sig_sum [data-testid=stCode]"


def wait_for_sum(page, start: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        f"(start) => {{ const e = document.querySelector('{CODE}'); return e && e.innerText.trim().startsWith(start); }}",
        arg=start, timeout=timeout)


def test_causal_toggle_and_the_output_slider(page, app_url):
    open_page(page, app_url, "signals")
    assert_no_exception(page)
    wait_for_sum(page, "y[0] = w[0]·x[0] + w[1]·x[1]")
    page.locator(".st-key-sig_chart .js-plotly-plot").wait_for()  # both charts are drawn
    page.locator(".st-key-sig_stack .js-plotly-plot").wait_for()
    assert "positions 8 to 23" in page.locator("[data-testid=stMain]").inner_text()
    page.locator(".st-key-sig_causal label").click()
    wait_for_query(page, "c", "1")
    wait_for_sum(page, "y[0] = w[0]·x[-4] + w[1]·x[-3]")  # causal: four zeros before the signal
    thumb = page.locator(".st-key-sig_index input[type=range]")
    thumb.focus()
    for position in ("1", "2", "3"):  # one key a rerun: a press while the last one's rerun runs can be lost
        thumb.press("ArrowRight")
        wait_for_query(page, "at", position)
    wait_for_sum(page, "y[3] = w[0]·x[-1] + w[1]·x[0] + w[2]·x[1] + w[3]·x[2] + w[4]·x[3]")
    assert "Causal: y[3] reads inputs -1 to 3" in page.locator(".st-key-sig_sum").inner_text()
    assert_no_exception(page)


def test_a_typed_signal(page, app_url):
    open_page(page, app_url, "signals?src=typed&k=derivative&c=1")
    wait_for_sum(page, "y[0] = w[0]·x[-1] + w[1]·x[0]")
    field = page.locator(".st-key-sig_typed input")
    field.fill("1, 2, 4, 7")
    field.press("Enter")
    wait_for_query(page, "x", "1,2,4,7")
    wait_idle(page)
    assert page.locator(CODE).inner_text().strip().endswith("= 0×(-1) + 1×1 = 1")
    field.fill("1, 2, oops")
    field.press("Enter")
    page.get_by_text("The signal was not changed").wait_for()
    assert query(page)["x"] == "1,2,4,7"
    assert_no_exception(page)


def test_fits_a_phone_in_chinese(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    try:
        open_page(page, app_url, "signals?lang=zh&c=1&at=9")
        wait_for_sum(page, "y[9] = w[0]·x[5]")
        assert "因果：y[9] 读取位置 5 到 9 的输入" in page.locator(".st-key-sig_sum").inner_text()
        for key in ("sig_chart", "sig_stack"):
            chart = page.locator(f".st-key-{key} .js-plotly-plot")
            chart.wait_for()
            assert chart.bounding_box()["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
        assert_no_exception(page)
    finally:
        context.close()


def test_the_causal_lesson_opens_the_page_on_its_example(page, app_url):
    from cnnviz.pages.lessons import LESSON_KEYS

    open_page(page, app_url, f"lessons?l={LESSON_KEYS.index('causal') + 1}")
    assert "They agree." in page.locator(".st-key-lessons_numbers").inner_text()
    page.get_by_role("link", name="Open this in 1-D signals").click()
    wait_for_sum(page, "y[16] = w[0]·x[15] + w[1]·x[16]")
    assert query(page)["c"] == "1" and query(page)["k"] == "derivative"
    assert_no_exception(page)
