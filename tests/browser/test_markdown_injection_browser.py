"""A link's bad value is shown as text in the app's own warning: no link a student could click, and no picture the
browser would fetch from wherever the link says."""
from urllib.parse import quote

from browser_kit import assert_no_exception, open_page

ALERT = "[data-testid=stAlertContentWarning]"


def _open_with_bad_value(page, app_url, value: str, word: str) -> None:
    open_page(page, app_url, f"lessons?l={quote(value)}")
    warning = page.locator(ALERT).filter(has_text=word)
    warning.wait_for()  # the warning has been drawn
    page.wait_for_load_state("networkidle")
    assert_no_exception(page)
    # The value reads as it was typed; an invisible word joiner keeps its address from becoming a link.
    assert f"l={value}." in warning.inner_text().replace("\u2060", "")


def test_a_markdown_link_in_a_link_value_is_not_clickable(page, app_url):
    _open_with_bad_value(page, app_url, "[Log in again](https://evil.example/)", "Log in again")
    assert page.locator("a[href*='evil.example']").count() == 0


def test_a_markdown_picture_in_a_link_value_is_never_fetched(page, app_url):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    _open_with_bad_value(page, app_url, "![b](http://127.0.0.1:9/beacon.png)", "beacon.png")
    assert page.locator("img[src*='127.0.0.1:9']").count() == 0
    assert [url for url in requested if "127.0.0.1:9/" in url] == []
