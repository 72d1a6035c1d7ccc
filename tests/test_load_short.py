"""A short lecture hall against a real server: three light students and one trainer at once (bench/load.py).

It runs in the normal suite so that a regression under concurrency shows (an exception, an error box, a change
that never answers, a failed request, a traceback in the server log, memory that closed tabs never give back). It
never asserts a time: the machine is shared.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scripts.serve_app import served_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import load  # noqa: E402  (bench/load.py)
from light_client import run_sync  # noqa: E402

pytestmark = pytest.mark.slow

TTL, SWEEP = 2, 1  # seconds: closed tabs expire at once, and the sweep looks every second


@pytest.fixture(scope="module")
def result():
    config = load.LoadConfig(sessions=4, browsers=0, trainers=1, changes=4, think=(0.1, 0.5), ramp=1.0,
                             train_query="n=1000&ep=1", ttl=TTL, sweep=SWEEP, deadline=240, settle=0.5)
    with served_app(env={"CNNVIZ_SWEEP_SECONDS": str(SWEEP)},
                    flags=("--server.disconnectedSessionTTL", str(TTL)), timeout=180) as served:
        yield run_sync(load.run_load(config, load.Servers(served.url, [served], TTL, SWEEP)))


def test_no_errors_anywhere(result):
    assert result["record"].errors == []
    assert result["log_problems"] == []


def test_every_change_is_answered_with_a_new_picture(result):
    record = result["record"]
    assert record.unanswered == 0
    assert len(record.light) >= 3 * 4  # each student made its 4 changes (more while the run still trained)
    assert len(record.upload) == 3 and record.opened == 3


def test_the_training_run_finishes_under_load(result):
    (run,) = result["record"].training
    assert run["steps"] == 8  # 1,000 images in batches of 128: 8 steps for the one epoch
    assert run["images_per_s"] > 0


def test_closed_tabs_give_their_uploads_and_pictures_back(result):
    assert result["idle"]["active_sessions"] == 4  # three students and the trainer
    assert result["idle"]["uploads_mb"] > 0.1  # three photos held while their tabs are open
    assert result["after"]["uploads_mb"] == 0  # released once the TTL ran out (cnnviz.ui.housekeeping)
    assert result["after"]["media_mb"] == 0
