"""Helpers for the real-browser tests (imported by test modules as `browser_kit`)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


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


def save_screenshot(page, name: str, height: int = 1700) -> Path:
    """Save a screenshot for the README. Streamlit scrolls inside its own container, so the window is made tall."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
