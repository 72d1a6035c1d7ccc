"""Real-browser fixtures: one served app for the whole session, driven by Debian's Chromium through playwright.

Without Chromium the browser tests skip, except under CI, where they must run.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from scripts.serve_app import CHROMIUM, CHROMIUM_ARGS, serve_app


def pytest_collection_modifyitems(config, items):
    # Every browser test serves the app and drives Chromium: the slow tier (`-m "not slow"` leaves them out).
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def _require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but there is no Chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped outside CI")


@pytest.fixture(scope="session")
def app_url():
    """The app, served once for every browser test."""
    _require_chromium()
    try:
        with serve_app() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies, no session) with a desktop window."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
