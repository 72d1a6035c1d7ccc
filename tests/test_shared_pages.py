"""The pages in shared mode (CNNVIZ_REDIS_URL), through AppTest: with a real Redis that no worker serves, and with
one that is down. The browser test (tests/browser/test_shared_browser.py) trains for real across two replicas."""
from __future__ import annotations

import pytest

from apptest_kit import page_state, run_page
from scripts.serve_app import free_port
from scripts.shared_mode import redis_server, redis_server_path
from service_kit import require_redis, wait_until


@pytest.fixture
def shared_mode(monkeypatch):
    """Point the pages at ``url`` for one test; the registry is made again from the environment, and after."""
    from cnnviz.ui import runs

    def use(url: str) -> None:
        monkeypatch.setenv("CNNVIZ_REDIS_URL", url)
        runs.registry.clear()

    yield use
    monkeypatch.delenv("CNNVIZ_REDIS_URL", raising=False)
    runs.registry.clear()


def test_with_the_store_down_the_train_page_says_so_and_keeps_its_settings(shared_mode):
    shared_mode(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    at = run_page("train")
    assert any(e.value.startswith("The training service is unavailable right now") for e in at.error)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert page_state(at, "train").run == ""
    assert sum("training service is unavailable" in e.value for e in at.error) >= 1
    watcher = run_page("train", query={"watch": "AbCdEfGhIjKlMnOp"})
    assert watcher.query_params["watch"] == "AbCdEfGhIjKlMnOp"  # kept for a reload once the store is back
    assert not [w for w in watcher.warning if "gone" in w.value]


def test_with_the_store_down_the_other_pages_keep_working(shared_mode):
    shared_mode(f"redis://127.0.0.1:{free_port()}/0")
    inspector = run_page("inspector")
    assert any("training service is unavailable" in w.value for w in inspector.warning)
    for page in ("kernel_lab", "receptive_field", "lessons"):
        app = run_page(page)
        assert not app.error, (page, [e.value for e in app.error])


def test_start_queues_the_run_in_redis_for_any_replica(shared_mode):
    require_redis()
    with redis_server() as url:
        shared_mode(url)
        at = run_page("train")
        at.selectbox(key="train_preset").set_value("tiny").run()
        at.button(key="train_start").click().run()
        assert not at.exception and not at.error
        run_id = page_state(at, "train").run
        assert run_id

        from cnnviz.training.shared import RedisRegistry

        other_replica = RedisRegistry(url, idle_seconds=60)
        snap = other_replica.get(run_id).job.snapshot()
        assert snap.state == "queued" and (snap.queue.place, snap.queue.workers) == (1, 0)
        assert other_replica.get(run_id).job.model_cfg.blocks[0].channels == 8  # the tiny preset, as chosen
        # A second Start on the same page replaces the run (the first is stopped), rather than adding one.
        at.button(key="train_start").click().run()
        wait_until(lambda: other_replica.get(run_id).job.snapshot().state == "stopped", 5, "the first run to stop")
        assert page_state(at, "train").run not in ("", run_id)
        assert redis_server_path() is not None
