"""The live status route (cnnviz.ui.live_status) and the HTML it shares with the Train page (cnnviz.ui.status_card)."""
import json
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from cnnviz.pages import train_live
from cnnviz.training.job import JobSnapshot
from cnnviz.training.loop import Metrics
from cnnviz.ui import live_status, runs, status_card

WATCH_ID = "AbCdEf0123456789_-xy"  # the shape secrets.token_urlsafe gives


def snapshot(state="running", step=40, total=100):
    steps = tuple(Metrics("step", s, total, s / 50, loss=1.0 / s, accuracy=0.5, lr=0.01, samples_per_second=12345.6,
                          elapsed=s / 10, eta_seconds=(total - s) / 10) for s in range(1, step + 1))
    evals = (Metrics("eval", 20, total, 0.4, test_loss=0.3, test_accuracy=0.9125),)
    return JobSnapshot(state=state, queue_position=0, steps=steps, evals=evals, latest=steps[-1] if steps else None,
                       message="", label="a <b>run</b>")


def fake_run(snap, watch_id=WATCH_ID):
    return SimpleNamespace(id="run-" + watch_id, watch_id=watch_id, job=SimpleNamespace(snapshot=lambda: snap))


@pytest.fixture(autouse=True)
def no_shared_answers():
    train_live.clear_shared()
    yield
    train_live.clear_shared()


def call(watch_id, query=b"lang=en"):
    request = Request({"type": "http", "method": "GET", "path": f"/api/runs/{watch_id}/status", "query_string": query,
                       "headers": [], "path_params": {"watch_id": watch_id}})
    response = live_status.status_endpoint(request)
    return response.status_code, json.loads(response.body), response.headers


def test_the_route_answers_the_state_and_the_pages_own_html(monkeypatch):
    snap = snapshot()
    monkeypatch.setattr(runs, "find_watched", lambda watch_id: fake_run(snap) if watch_id == WATCH_ID else None)
    status, body, headers = call(WATCH_ID)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert body == {"state": "running",
                    "html": status_card.status_html(snap, "en", accent=live_status.BAR_COLOUR)}
    assert "Training · step 40/100 · epoch 0.80 · 12,346 images/s · 4.0 s elapsed · about 6 s left" in body["html"]
    assert "91.25%" in body["html"]  # the latest test accuracy
    assert "width: 40.0%" in body["html"] and "var(--st-primary-color" in body["html"]


def test_the_route_speaks_the_pages_language(monkeypatch):
    monkeypatch.setattr(runs, "find_watched", lambda watch_id: fake_run(snapshot(state="paused")))
    _, english, _ = call(WATCH_ID)
    _, chinese, _ = call(WATCH_ID, b"lang=zh")
    assert english["state"] == chinese["state"] == "paused"
    assert "Paused" in english["html"] and "Paused" not in chinese["html"]
    assert "训练损失" in chinese["html"]  # "train loss"


@pytest.mark.parametrize("watch_id, query", [("short", b"lang=en"), ("../../etc/passwd", b""), (WATCH_ID, b"lang=fr"),
                                             ("x" * 65, b"")])
def test_a_malformed_request_is_refused_before_any_lookup(monkeypatch, watch_id, query):
    monkeypatch.setattr(runs, "find_watched", lambda watch_id: pytest.fail("looked up a malformed id"))
    status, body, headers = call(watch_id, query)
    assert (status, body) == (400, {"error": "bad request"})
    assert headers["cache-control"] == "no-store"  # every answer, refused or not, reaches the server next time


def test_an_unknown_or_forgotten_run_is_404(monkeypatch):
    monkeypatch.setattr(runs, "find_watched", lambda watch_id: None)
    assert call(WATCH_ID)[:2] == (404, {"error": "no such run"})


def test_the_status_html_escapes_and_covers_every_state():
    queued = status_card.status_html(snapshot(state="queued", step=0), "en", accent="#123456")
    assert "cnnviz-progress" not in queued and "train-numbers" in queued  # the numbers alone, no bar yet
    loading = status_card.status_html(JobSnapshot("running", 0, (), (), None, "", ""), "en", accent="#123456")
    assert "Starting" in loading and "width: 0.0%" in loading
    done = status_card.status_html(snapshot(state="done", step=100), "en", accent="#123456")
    assert "width: 100.0%" in done and "Done" in done
    assert "<b>run</b>" not in done  # the label never reaches the HTML unescaped (it is not drawn at all)


def test_routes_give_the_path_the_component_fetches():
    (route,) = live_status.routes()
    assert route.path == live_status.ROUTE == "/api/runs/{watch_id}/status"
    assert live_status.status_url(WATCH_ID, "zh") == f"api/runs/{WATCH_ID}/status?lang=zh"
    assert route.endpoint is live_status.status_endpoint


def test_a_room_polling_one_run_shares_an_answer_for_half_a_second(monkeypatch):
    snaps = iter([snapshot(step=10), snapshot(step=20), snapshot(step=20)])
    run = SimpleNamespace(id="run", watch_id=WATCH_ID, job=SimpleNamespace(snapshot=lambda: next(snaps)))
    clock = iter([100.0, 100.4, 100.6, 100.7])
    monkeypatch.setattr(train_live.time, "monotonic", lambda: next(clock))
    first, second, third = (live_status.status_payload(run, "en") for _ in range(3))
    assert second is first and "step 10/100" in first["html"]  # 0.4 s later: the same answer, built once
    assert "step 20/100" in third["html"]  # 0.6 s later: built again from a new snapshot
    assert live_status.status_payload(run, "zh") is not third  # each language its own


def test_every_third_poll_brings_the_curves_and_the_filters(monkeypatch):
    import base64

    from cnnviz.model import NETWORK_PRESETS, build_model

    snap = snapshot()
    from cnnviz.training.config import TrainConfig

    job = SimpleNamespace(snapshot=lambda: snap, model=build_model(NETWORK_PRESETS["default"]),
                          model_cfg=NETWORK_PRESETS["default"], train_cfg=TrainConfig())  # its legend is worded from these
    run = SimpleNamespace(id="run", watch_id=WATCH_ID, previous=(), job=job)
    monkeypatch.setattr(runs, "find_watched", lambda watch_id: run)
    status, body, _ = call(WATCH_ID, b"lang=en&chart=1")
    assert status == 200 and body["chart"] == train_live.live_chart_json(run, snap, "en")
    assert json.loads(body["chart"])["panels"][0]["title"] == "loss"
    prefix = "data:image/png;base64,"
    assert body["filters"].startswith(prefix)
    assert base64.b64decode(body["filters"][len(prefix):]) == train_live.filters_png(run.job.model)
    assert set(call(WATCH_ID)[1]) == {"state", "html"}  # the other polls: the status alone
    assert call(WATCH_ID, b"lang=en&chart=yes")[0] == 400


def test_app_py_builds_its_server_with_the_route_when_imported(monkeypatch):
    # `streamlit run app.py` imports app.py (not as __main__) to find its st.App; script runs execute the pages.
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "app.py").read_text()
    branch = next(node for node in ast.parse(source).body if isinstance(node, ast.If))
    assert ast.unparse(branch.test) == "__name__ == '__main__'"
    assert "st.navigation(pages).run()" in ast.unparse(branch.body)
    assert ast.unparse(branch.orelse[-1]) == "app = st.App(__file__, routes=live_status.routes())"
