"""A closed tab's run lives as long as its session (server.disconnectedSessionTTL), on a real server.

A refresh within that time finds the run still training; once nobody has watched it for that long, the run stops
and its training slot goes to the next student (the server allows one run here, so the next one waits in the queue
until then). Light clients stand in for the tabs (bench/light_client.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scripts.serve_app import served_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from light_client import LightSession, run_sync  # noqa: E402
from load import FINISHED_STATES, progress  # noqa: E402

pytestmark = pytest.mark.slow

TTL = 8  # seconds a closed tab's session (and so its run) is kept: long enough for a refresh on a busy machine
LONG = "n=60000&ep=50"  # a run that would train far longer than this test
SHORT = "n=1000&ep=1"
DEADLINE = 240  # seconds any wait below may take before the test fails
# The queued run's wait: far beyond the TTL and a 1,000-image run, far below the 180 s a run is kept without a TTL.
QUEUE_DEADLINE = 120


def state(session: LightSession) -> str:
    """The run's state as the Train page shows it; "Queued" while its queue message shows."""
    if any("in the queue" in text for text in session.texts()):
        return "Queued"
    found = progress(session)
    return found.group(1) if found else ""


async def story() -> dict:
    with served_app(env={"CNNVIZ_MAX_JOBS": "1"},
                    flags=("--server.disconnectedSessionTTL", str(TTL)), timeout=180) as served:
        first = LightSession(served.url, timeout=DEADLINE)
        await first.open("train", LONG)
        await first.click("train_start")
        await first.follow_live(DEADLINE, until=lambda s: state(s) == "Training")
        link = first.query  # the page's settings: the address never names the run
        # A browser tab keeps the run's id and sends it back after a refresh (cnnviz.ui.tab_memory); a light client
        # runs no JavaScript, so its "refresh" names the run in the link, which the page still reads.
        kept = f"{link}&run={first.component_data('train_tab_run')['value']}"
        steps_before = int(progress(first).group(2))
        await first.close()

        refreshed = LightSession(served.url, timeout=DEADLINE)  # the same link, well within the TTL
        await refreshed.open("train", kept)
        await refreshed.follow_live(DEADLINE, until=lambda s: state(s) == "Training"
                                    and int(progress(s).group(2)) > steps_before)
        reattached = state(refreshed)
        await refreshed.close()

        other = LightSession(served.url, timeout=DEADLINE)  # a second student wants the only training slot
        await other.open("train", SHORT)
        await other.click("train_start")
        seen: list[str] = []
        await other.follow_live(QUEUE_DEADLINE,
                                until=lambda s: seen.append(state(s)) or state(s) in FINISHED_STATES)
        await other.close()

        late = LightSession(served.url, timeout=DEADLINE)  # the long run's link, long after its TTL
        await late.open("train", kept)
        orphan = state(late)
        await late.close()
        errors = first.errors + refreshed.errors + other.errors + late.errors
        return {"link": link, "reattached": reattached, "seen": seen, "orphan": orphan, "errors": errors}


@pytest.fixture(scope="module")
def result():
    return run_sync(story())


def test_a_refresh_within_the_ttl_finds_the_run_training(result):
    assert "run=" not in result["link"]
    assert result["reattached"] == "Training"


def test_an_unwatched_run_stops_and_frees_its_slot_for_the_next(result):
    assert result["seen"][0] == "Queued"  # the closed tab's run still held the only slot
    assert result["seen"][-1] == "Done"  # it got the slot once that run stopped
    assert result["orphan"] == "Stopped"


def test_no_errors(result):
    assert result["errors"] == []
