"""The Kernel Lab's depthwise-separable step in Chromium: the 1×1 step's maps, its weights typed into the grid,
more outputs, the compared width, and a link that brings it all back."""
from browser_kit import (assert_no_exception, choose, open_page, query, set_number, type_in_grid, wait_for_main_text,
                         wait_for_query, wait_idle)

RGB = "?c=rgb&img=astronaut&ws=128"


def main_text(page) -> str:
    return page.locator("[data-testid=stMain]").inner_text()


def pointwise_titles(page) -> list[str]:
    return page.locator(".st-key-kl_pointwise .cnnviz-title strong").all_inner_texts()


def type_weight(page, rows: int, row: int, col: int, text: str, shows: str) -> None:
    """Type ``text`` into a cell of the 1×1 weights' grid of ``rows`` rows until the page ``shows`` the result."""
    # A new row count is a new grid: wait until the browser has drawn that one, not the one it replaces.
    page.wait_for_selector(f"[class*=st-key-kl_pw_grid] canvas table[aria-rowcount='{rows + 1}']", state="attached")
    type_in_grid(page, "[class*=st-key-kl_pw_grid] [data-testid=stDataFrame]", row, col, text, shows=shows,
                 cell_width=64)


def test_the_separable_step_end_to_end(page, app_url):
    open_page(page, app_url, RGB)
    wait_for_main_text(page, "3×3×3 + 3×64 = 219")
    # The picture grids fill in their words after the script run ends (a component's script draws them).
    wait_for_main_text(page, "depthwise convolution (nn.Conv2d with groups=3)")
    wait_for_main_text(page, "1×1 output 1: 1·R + 1·G + 1·B")
    assert_no_exception(page)
    text = main_text(page)
    assert "3×3×3×64 = 1,728" in text and "3×3×3 + 3×64 = 219" in text and "64 (depthwise)" in text
    assert pointwise_titles(page) == ["1×1 output 1: 1·R + 1·G + 1·B"]
    # The default 1×1 step is the convolution itself: the browser shows the very same picture.
    conv = page.locator(".st-key-kl_maps .cnnviz-cell img").nth(1).get_attribute("src")
    assert page.locator(".st-key-kl_pointwise .cnnviz-cell img").first.get_attribute("src") == conv

    type_weight(page, 1, 0, 2, "-2", shows="1×1 output 1: 1·R + 1·G − 2·B")
    wait_idle(page)
    assert page.locator(".st-key-kl_pointwise .cnnviz-cell img").first.get_attribute("src") != conv
    assert "sepw" in query(page)

    set_number(page, "kl_pw_rows", 2)  # a second output: the typed weights stay, the new row is red − green
    page.wait_for_function("document.querySelectorAll('.st-key-kl_pointwise .cnnviz-cell img').length === 2")
    wait_for_main_text(page, "1×1 output 2: 1·R − 1·G")
    assert pointwise_titles(page) == ["1×1 output 1: 1·R + 1·G − 2·B", "1×1 output 2: 1·R − 1·G"]

    choose(page, "kl_sep_width", "128")
    wait_for_query(page, "sepc", "128")
    wait_for_main_text(page, "3×3×3 + 3×128 = 411")
    assert "3×3×(128/4)×128 = 36,864" in main_text(page)

    page.reload()  # the link alone brings the weights, the rows and the width back
    wait_idle(page)
    wait_for_main_text(page, "3×3×3 + 3×128 = 411")
    wait_for_main_text(page, "1×1 output 2: 1·R − 1·G")
    assert pointwise_titles(page) == ["1×1 output 1: 1·R + 1·G − 2·B", "1×1 output 2: 1·R − 1·G"]
    assert_no_exception(page)


def test_the_separable_step_in_chinese(page, app_url):
    open_page(page, app_url, RGB + "&lang=zh")
    wait_for_main_text(page, "3×3×3 + 3×64 = 219")
    assert_no_exception(page)
    text = main_text(page)
    assert "深度可分离卷积" in text and "标准 3×3 卷积" in text and "3×3×3 + 3×64 = 219" in text
