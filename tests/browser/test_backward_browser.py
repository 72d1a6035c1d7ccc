"""Backward pass in Chromium: stepping the stamps writes each one out, a one-hot gradient on a chosen unit stamps
the kernel on its window, every view lands in the URL, and a link opens it again, in Chinese on a phone too."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query

STAMP = ".st-key-bw_stamp_sum [data-testid=stCode]"


def wait_for_text(page, selector: str, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function("([s, t]) => { const e = document.querySelector(s);"
                           " return e && e.innerText.replaceAll('\\u00a0', ' ').includes(t); }",
                           arg=[selector, text], timeout=timeout)


def grid_rows(page, caption: str) -> list[list[str]]:
    """The cells of the grid titled ``caption`` as the browser shows them."""
    return page.evaluate("""(caption) => {
        const box = [...document.querySelectorAll('figure.cv-grid-box')]
            .find(f => f.querySelector('figcaption').innerText.startsWith(caption));
        return [...box.querySelectorAll('tr')].map(r => [...r.querySelectorAll('td')]
            .map(td => td.childNodes[0] ? td.childNodes[0].textContent : ''));
    }""", caption)


def test_stepping_the_stamps_and_a_one_hot_unit(page, app_url):
    open_page(page, app_url, "backward")
    assert_no_exception(page)
    assert page.locator(STAMP).inner_text().replace("\u00a0", " ").startswith("[0, 0] += 1×1 → 1")
    page.locator(".st-key-bw_next button").click()
    wait_for_text(page, STAMP, "[0, 1] += 1×1 → 3")  # on top of the first stamp's 2
    wait_for_query(page, "at", "1")
    page.locator(".st-key-bw_gradient button").filter(has_text="one unit").click()
    wait_for_query(page, "g", "onehot")
    # The unit slider, moved with the keyboard as a student can: one step right is unit (0, 1).
    page.locator(".st-key-bw_unit input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    wait_for_query(page, "u", "0,1")
    ours = [[0, 1, 2, 3, 0], [0, 4, 5, 6, 0], [0, 7, 8, 9, 0], [0] * 5, [0] * 5]
    page.wait_for_function("""(want) => [...document.querySelectorAll('figure.cv-grid-box')].some(f =>
        f.querySelector('figcaption').innerText.startsWith('∂L/∂x by cnnviz') &&
        [...f.querySelectorAll('td')].map(td => td.childNodes[0].textContent).join(',') === want)""",
                           arg=",".join(str(v) for row in ours for v in row), timeout=30_000)
    assert grid_rows(page, "∂L/∂x by torch autograd") == [[str(v) for v in row] for row in ours]
    assert page.locator("[data-testid=stAlertContentSuccess]").count() == 2
    assert_no_exception(page)


def test_a_click_on_an_output_cell_puts_gradient_one_there(page, app_url):
    open_page(page, app_url, "backward")
    gradient = page.locator(".st-key-bw_forward figure").filter(has_text="Output gradient ∂L/∂y")
    gradient.locator("tr").nth(2).locator("td").nth(1).click()
    wait_for_query(page, "u", "2,1")
    assert query(page)["g"] == "onehot"
    page.wait_for_function("""() => [...document.querySelectorAll('.st-key-bw_forward td.current')].length === 2""",
                           timeout=30_000)  # the unit is marked in y and in ∂L/∂y
    assert page.locator(".st-key-bw_unit [data-testid=stSliderThumbValue]").inner_text().strip() == "(2, 1)"
    assert_no_exception(page)


def test_a_link_opens_its_view_in_chinese_on_a_phone(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page = context.new_page()
        open_page(page, app_url, "backward?g=random&seed=5&at=2&tap=1,2&s=2,2&lang=zh")
        assert_no_exception(page)
        assert page.locator("h1").first.inner_text().strip() == "反向传播"
        wait_for_text(page, ".st-key-bw_tap_sum", "∂L/∂w[1, 2]")
        assert {key: query(page)[key] for key in ("g", "seed", "at", "tap", "s")} == {
            "g": "random", "seed": "5", "at": "2", "tap": "1,2", "s": "2,2"}
        assert page.locator("[data-testid=stAlertContentSuccess]").count() == 2
        # Nothing of the page is wider than the phone: the grids wrap under each other.
        width = page.evaluate("document.querySelector('[data-testid=stMain]').scrollWidth")
        assert width <= 390, width
    finally:
        context.close()
