"""Step-by-step in Chromium: stepping moves the window and the written-out sum; Play runs; a link opens a step."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query, wait_idle

CODE = ".st-key-step_sum [data-testid=stCode]"


def sum_text(page) -> str:
    return page.locator(CODE).inner_text()


def wait_for_sum(page, value: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        f"document.querySelector('{CODE}') && document.querySelector('{CODE}').innerText.trim().endsWith('= {value}')",
        timeout=timeout,
    )


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
    wait_idle(page)
    assert_no_exception(page)


def test_a_link_opens_a_step_with_its_numbers(page, app_url):
    open_page(page, app_url, "step-by-step?at=3")
    wait_for_sum(page, "-10")
    page.locator(".st-key-step_example_pool_max button").click()
    wait_for_sum(page, "6")
    assert query(page)["op"] == "max" and "at" not in query(page)
    assert "largest" in page.locator(".st-key-step_sum").inner_text()
