"""Shared test settings."""
import os

from hypothesis import settings

# The machine is shared and noisy: no per-example deadline, a modest example count.
settings.register_profile("cnnviz", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnviz"))


import logging  # noqa: E402

import pytest  # noqa: E402


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
