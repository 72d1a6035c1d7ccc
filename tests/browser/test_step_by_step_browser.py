"""Step-by-step in Chromium: stepping moves the window and the written-out sum; Play runs to the end; a link opens a
step; the controls and titles fit a phone and Chinese."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query

CODE = ".st-key-step_sum [data-testid=stCode]"


def sum_text(page) -> str:
    return page.locator(CODE).inner_text()


def wait_for_sum(page, value: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        f"document.querySelector('{CODE}') && document.querySelector('{CODE}').innerText.trim().endsWith('= {value}')",
        timeout=timeout,
    )


def wait_for_play_label(page, label: str, timeout: float = 30_000) -> None:
    page.wait_for_function("(label) => document.querySelector('.st-key-step_play button').innerText.trim().endsWith(label)",
                           arg=label, timeout=timeout)


def test_stepping_through_the_edge_example(page, app_url):
    open_page(page, app_url, "step-by-step")
    assert_no_exception(page)
    assert sum_text(page).strip().endswith("= 5")
    page.locator(".st-key-step_next button").click()
    wait_for_sum(page, "9")
    page.locator(".st-key-step_next button").click()
    wait_for_sum(page, "16")
    wait_for_query(page, "at", "2")
    # Play advances on its own, about once a second.
    page.locator(".st-key-step_play button").click()
    wait_for_sum(page, "-10")
    page.locator(".st-key-step_play button").click()
    wait_for_play_label(page, "Play")
    assert_no_exception(page)


def test_a_link_opens_a_step_with_its_numbers(page, app_url):
    open_page(page, app_url, "step-by-step?at=3")
    wait_for_sum(page, "-10")
    page.locator(".st-key-step_example_pool_max button").click()
    wait_for_sum(page, "6")
    assert query(page)["op"] == "max" and "at" not in query(page)
    assert "largest" in page.locator(".st-key-step_sum").inner_text()


def test_play_runs_to_the_last_position_and_stops(page, app_url):
    open_page(page, app_url, "step-by-step")
    page.locator(".st-key-step_example_pool_max button").click()
    wait_for_sum(page, "6")
    page.locator(".st-key-step_play button").click()
    # 4×4 with 2×2 max pooling has 4 outputs; the last window (11, 12, 15, 16) gives 16.
    wait_for_sum(page, "16")
    wait_for_query(page, "at", "3")
    wait_for_play_label(page, "Play")
    assert "Output[1, 1]" in page.locator(".st-key-step_sum").inner_text()
    assert_no_exception(page)


def test_a_phone_keeps_the_buttons_in_one_row_and_titles_whole(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page = context.new_page()
        open_page(page, app_url, "step-by-step?lang=zh")
        keys = ("step_prev", "step_next", "step_play")
        # The row is laid out in steps as its buttons and the pictures below arrive: wait (with a deadline) until it
        # has stayed in one line for ten frames in a row, then it is the layout the student reads.
        page.wait_for_function("""(keys) => {
            const tops = keys.map(k => document.querySelector(`.st-key-${k} button`)?.getBoundingClientRect().top);
            const inLine = tops.every(t => t !== undefined) && Math.max(...tops) - Math.min(...tops) < 2;
            window.framesInLine = inLine ? (window.framesInLine || 0) + 1 : 0;
            return window.framesInLine >= 10;
        }""", arg=list(keys), timeout=30_000, polling="raf")
        grids = page.locator(".cv-grids").bounding_box()
        assert grids["y"] < 844, grids  # the grids start on the first screen
        assert_title_on_one_line(page, "输出，当前位于第 0 行、第 0 列")
    finally:
        context.close()


def test_chinese_titles_are_not_squeezed_to_their_grid(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, "step-by-step?lang=zh")
    for title in ("填充后的输入（斜线格是填充；×w = 卷积核权重）", "卷积核（实际使用的）", "输出，当前位于第 0 行、第 0 列"):
        assert_title_on_one_line(page, title)


def assert_title_on_one_line(page, title: str) -> None:
    find = "(title) => [...document.querySelectorAll('.cv-grids figcaption')].find(e => e.innerText.trim() === title)"
    page.wait_for_function(f"(title) => !!({find})(title)", arg=title, timeout=30_000)
    lines = page.evaluate(f"""(title) => {{
        const caption = ({find})(title);
        return (caption.getBoundingClientRect().height - 6) / parseFloat(getComputedStyle(caption).lineHeight);
    }}""", title)  # 6 px: the title's bottom padding
    assert round(lines) == 1, f"{title!r} takes {lines:.1f} lines"


# --- transposed convolution ---------------------------------------------------------------------------------------

GRID_ROWS = """(title) => {
    const box = [...document.querySelectorAll('.cv-grid-box')]
        .find(b => b.querySelector('figcaption').innerText.trim().startsWith(title));
    if (!box) return null;
    return [...box.querySelectorAll('tr')].map(tr => [...tr.querySelectorAll('td')]
        .map(td => td.firstChild && td.firstChild.nodeType === 3 ? td.firstChild.textContent : ''));
}"""


def wait_for_grid(page, title: str, rows: list[list[str]], timeout: float = 30_000) -> None:
    """Wait until the drawn grid titled ``title...`` shows ``rows`` (each cell's number, its ×w note left out)."""
    page.wait_for_function(f"([title, rows]) => JSON.stringify(({GRID_ROWS})(title)) === JSON.stringify(rows)",
                           arg=[title, rows], timeout=timeout)


def test_stepping_through_the_two_by_two_transposed_example(page, app_url):
    open_page(page, app_url, "step-by-step")
    page.locator(".st-key-step_example_transposed_two button").click()
    wait_for_query(page, "op", "transposed")
    wait_for_grid(page, "Output (5×5", [["1", "1", "1", "", ""]] * 3 + [[""] * 5] * 2)  # the first stamp only
    assert "Input (2×2, what is upsampled)" in page.locator(".cv-grids").inner_text()
    page.locator(".st-key-step_next button").click()
    wait_for_grid(page, "Output (5×5", [["1", "1", "3", "2", "2"]] * 3 + [[""] * 5] * 2)
    page.locator(".st-key-step_next button").click()
    wait_for_query(page, "at", "2")  # a click while the last one's rerun runs can merge into it (seen: at=2)
    page.locator(".st-key-step_next button").click()  # the fourth stamp meets the other three in the centre
    final = [["1", "1", "3", "2", "2"]] * 2 + [["4", "4", "10", "6", "6"]] + [["3", "3", "7", "4", "4"]] * 2
    wait_for_grid(page, "Output (5×5", final)
    wait_for_query(page, "at", "3")
    assert "out[2,2] = 1×1 + 2×1 + 3×1 + 4×1 = 10" in sum_text(page)
    # The same output as an ordinary convolution over the zero-inserted input, its window at the last position.
    page.locator(".st-key-step_zero_view label").click()
    wait_for_query(page, "zi", "1")
    page.locator(".st-key-step_play button").click()
    wait_for_grid(page, "Output (5×5)", final, timeout=60_000)
    wait_for_play_label(page, "Play")
    # out[4,4]: the window's top-left tap is x[1,1] = 4, the rest inserted zeros and border.
    assert sum_text(page).strip() == "4×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 = 4"
    assert_no_exception(page)
