"""Shared test settings."""
import os

from hypothesis import settings

# The machine is shared and noisy: no per-example deadline, a modest example count.
settings.register_profile("cnnviz", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cnnviz"))


import logging  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Caches Python, pytest and hypothesis keep on purpose; everything else a test writes into the checkout is a bug.
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}


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


def checkout_state(root: Path) -> dict[str, tuple] | None:
    """What ``git status`` shows in the checkout at ``root``: changed, untracked and ignored paths (an ignored folder
    as one entry, with its modification time, which moves when a file is added to it). None when ``root`` is not a
    git checkout (an unpacked archive) or git is missing.

    Changed files carry their status only, so someone editing a file while the tests run does not fail them.
    """
    try:
        listing = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching"],
                                 cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    state = {}
    entries = iter(listing.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            next(entries)  # a rename names its source next
        if CACHES.intersection(Path(path).parts) or path.endswith(".pyc"):
            continue
        if code == "!!" and (root / path).is_dir():
            state[path] = (code, (root / path).stat().st_mtime_ns)
        else:
            state[path] = (code,)
    return state


def checkout_changes(before: dict, after: dict) -> list[str]:
    """The paths whose entries differ between two ``checkout_state``s."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Fail the session if the tests wrote into the checkout (they once rewrote docs/screenshots): whatever a test
    writes goes under tmp_path."""
    before = checkout_state(ROOT)
    yield
    after = checkout_state(ROOT)
    if before is not None and after is not None and (changed := checkout_changes(before, after)):
        pytest.fail(f"the tests wrote into the checkout: {changed[:10]}; write under tmp_path instead", pytrace=False)
