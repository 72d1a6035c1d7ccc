"""The language in Chromium: ?lang=zh opens Chinese, the sidebar selector switches and rewrites the URL, and the
choice follows the student from page to page."""
from browser_kit import assert_no_exception, open_page, sidebar_nav, wait_for_query, wait_idle

TITLE = "[data-testid=stMain] h1"


def wait_for_title(page, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function("(t) => { const h = document.querySelector('[data-testid=stMain] h1');"
                           " return h && h.innerText.trim() === t; }", arg=text, timeout=timeout)


def choose_language(page, name: str) -> None:
    page.locator(".st-key-language button").filter(has_text=name).click()
    wait_idle(page)


def test_switching_language_and_pages(page, app_url):
    open_page(page, app_url, "step-by-step?lang=zh")
    assert_no_exception(page)
    wait_for_title(page, "逐步演算")
    assert "在 MNIST 上训练" in page.locator("[data-testid=stSidebarNav]").inner_text()  # navigation too

    choose_language(page, "English")
    wait_for_title(page, "Step by step")
    page.wait_for_function("() => !new URLSearchParams(window.location.search).has('lang')")
    assert "Train on MNIST" in page.locator("[data-testid=stSidebarNav]").inner_text()

    choose_language(page, "中文")
    wait_for_title(page, "逐步演算")
    wait_for_query(page, "lang", "zh")

    sidebar_nav(page, "在 MNIST 上训练")  # a page switch clears the URL: the session keeps the language
    wait_for_title(page, "在 MNIST 上训练")
    wait_for_query(page, "lang", "zh")  # and the new page writes it back, so its link opens in Chinese
    sidebar_nav(page, "卷积核实验室")
    wait_for_title(page, "卷积核实验室")
    assert page.locator(TITLE).inner_text().strip() == "卷积核实验室"
    assert_no_exception(page)
    sidebar_nav(page, "课程")  # the newer pages too, their option labels included
    wait_for_title(page, "课程")
    page.locator("[data-testid=stSidebar] label").filter(has_text="第 8 课：").click()
    wait_for_query(page, "l", "8")
    page.get_by_text("打开“感受野”页面").wait_for()
    assert_no_exception(page)
