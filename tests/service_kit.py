"""Helpers for tests that start real services (redis-server, workers): wait for a change with a deadline, and
require redis-server where CI must have it."""
from __future__ import annotations

import os
import time

import pytest

from scripts.shared_mode import redis_server_path


def wait_until(predicate, timeout: float = 60.0, what: str = "the condition"):
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds have passed (then the test fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


def require_redis() -> None:
    """Skip without redis-server, except under CI, which must run the shared-mode tests."""
    if redis_server_path() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the shared-mode tests, but there is no redis-server: apt-get install redis-server")
        pytest.skip("no redis-server (apt-get install redis-server); shared-mode tests skipped outside CI")
