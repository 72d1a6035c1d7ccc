"""Every page opens in a real browser without an exception."""
import pytest

from browser_kit import assert_no_exception, open_page

PAGES = ["", "step-by-step", "receptive-field", "train", "inspector", "lessons", "signals", "backward", "class",
         "exercises"]  # Kernel Lab at /


@pytest.mark.parametrize("path", PAGES)
def test_page_opens_without_exception(page, app_url, path):
    open_page(page, app_url, path)
    assert_no_exception(page)
    assert page.locator("[data-testid=stMain]").inner_text().strip()
