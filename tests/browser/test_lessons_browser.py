"""Lessons in Chromium: walk the whole path, and a lesson's link opens its page with the lesson's numbers."""
from cnnviz.pages.lessons import LESSONS

from browser_kit import assert_no_exception, open_page, query, wait_idle

CODE = ".st-key-step_sum [data-testid=stCode]"


def test_the_lessons_end_to_end(page, app_url):
    open_page(page, app_url, "lessons")
    for number in range(1, len(LESSONS) + 1):
        assert_no_exception(page)
        numbers = page.locator(".st-key-lessons_numbers").inner_text()
        if LESSONS[number - 1].app is not None:
            assert "They agree." in numbers, (number, numbers)
        if number < len(LESSONS):
            page.locator(".st-key-lessons_next button").click()
            page.wait_for_function("(n) => new URLSearchParams(location.search).get('l') === String(n)", arg=number + 1)
            wait_idle(page)
    page.locator(".st-key-lessons_pick label").filter(has_text="7. Pooling").click()
    wait_idle(page)
    page.get_by_role("link", name="Open this in Step by step").click()
    page.wait_for_function(f"document.querySelector('{CODE}') && "
                           f"document.querySelector('{CODE}').innerText.includes('max(11, 12, 15, 16) = 16')")
    assert query(page)["op"] == "max"
    assert_no_exception(page)


def test_lesson_fours_25_numbers_fit_a_phone_and_a_projector(browser, app_url):
    for width, height in ((390, 844), (1280, 720)):
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        try:
            page = context.new_page()
            open_page(page, app_url, "lessons?l=4&lang=zh")
            page.wait_for_function("() => document.querySelectorAll('.st-key-lessons_numbers pre').length === 2")
            blocks = page.locator(".st-key-lessons_numbers pre")
            assert blocks.count() == 2
            for index in range(2):
                block = blocks.nth(index)
                assert block.inner_text().count("\n") == 4  # five rows
                overflow = block.evaluate("(e) => e.scrollWidth - e.clientWidth")
                assert overflow <= 0, (width, overflow)  # nothing cut off, no sideways scroll
        finally:
            context.close()
