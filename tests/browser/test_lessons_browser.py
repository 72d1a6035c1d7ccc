"""Lessons in Chromium: walk the whole path, and a lesson's link opens its page with the lesson's numbers."""
from browser_kit import assert_no_exception, open_page, query, wait_idle

CODE = ".st-key-step_sum [data-testid=stCode]"


def test_the_lessons_end_to_end(page, app_url):
    open_page(page, app_url, "lessons")
    for number in range(1, 11):
        assert_no_exception(page)
        numbers = page.locator(".st-key-lessons_numbers").inner_text()
        if number <= 8:
            assert "They agree." in numbers, (number, numbers)
        if number < 10:
            page.locator(".st-key-lessons_next button").click()
            page.wait_for_function("(n) => new URLSearchParams(location.search).get('l') === String(n)", arg=number + 1)
            wait_idle(page)
    page.locator(".st-key-lessons_pick label").filter(has_text="7. Pooling").click()
    wait_idle(page)
    page.get_by_role("link", name="Open this in Step by step").click()
    page.wait_for_function(f"document.querySelector('{CODE}') && "
                           f"document.querySelector('{CODE}').innerText.includes('max(1, 2, 5, 6) = 6')")
    assert query(page)["op"] == "max"
    assert_no_exception(page)
