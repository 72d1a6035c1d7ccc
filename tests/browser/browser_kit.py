"""Helpers for the real-browser tests (imported by test modules as `browser_kit`)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from scripts.serve_app import IDLE


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(400)  # let the rerun start before waiting for it to end
    page.wait_for_selector(IDLE, timeout=timeout)


def open_page(page, app_url: str, path: str = "") -> None:
    page.goto(f"{app_url}/{path}")
    page.wait_for_selector("[data-testid=stApp]")
    wait_idle(page)


def assert_no_exception(page) -> None:
    errors = page.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.first.inner_text()


def query(page) -> dict[str, str]:
    """The page URL's query parameters, one value each."""
    return {key: values[-1] for key, values in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def wait_for_query(page, key: str, value: str, timeout: float = 30_000) -> None:
    """Wait until the URL holds ``key=value`` (the page writes its state there at the end of each run)."""
    page.wait_for_function(
        "([k, v]) => new URLSearchParams(window.location.search).get(k) === v", arg=[key, value], timeout=timeout)


def set_number(page, key: str, value) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)


def choose(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} [role=combobox]").click()
    # A long menu draws only the options in view: type to filter it, as a student would, so the option is drawn.
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def sidebar_nav(page, title: str) -> None:
    """Switch page the way a student does: a click in the sidebar (the same session)."""
    page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).click()
    wait_idle(page)


def wait_for_value(page, key: str, value: str, timeout: float = 30_000) -> None:
    """Wait until the input of widget ``key`` shows ``value`` (a busy machine draws seeded widgets a moment late)."""
    page.wait_for_function("([k, v]) => { const e = document.querySelector(`.st-key-${k} input`); return e && e.value === v; }",
                           arg=[key, value], timeout=timeout)
