"""Shared test settings."""
import os

from hypothesis import settings

# The machine is shared and noisy: no per-example deadline, a modest example count.
settings.register_profile("cnnviz", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnviz"))


import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from checkout_kit import checkout_changes, checkout_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class _PageCrashes(logging.Handler):
    """Collects what cnnviz.ui.common.guarded caught: a page that crashed behind its friendly message."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


@pytest.fixture(autouse=True)
def no_hidden_page_crash(request):
    """Fail any test during which a page crashed, even though AppTest then sees only a friendly error box, not an
    exception. A test that provokes a crash on purpose says so with ``@pytest.mark.page_crash_expected``."""
    handler = _PageCrashes()
    logger = logging.getLogger("cnnviz")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.messages and request.node.get_closest_marker("page_crash_expected") is None:
        pytest.fail("a page crashed behind its friendly message:\n" + "\n".join(handler.messages[:3]))


def pytest_configure(config):
    config.addinivalue_line("markers", "page_crash_expected: the test makes a page crash on purpose")


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Fail the session if the tests wrote into the checkout (they once rewrote docs/screenshots): whatever a test
    writes goes under tmp_path."""
    before = checkout_state(ROOT)
    yield
    after = checkout_state(ROOT)
    if before is not None and after is not None and (changed := checkout_changes(before, after)):
        pytest.fail(f"the tests wrote into the checkout: {changed[:10]}; write under tmp_path instead", pytrace=False)
