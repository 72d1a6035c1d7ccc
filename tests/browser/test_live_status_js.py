"""The live status's poller (cnnviz.ui.live_status's JavaScript) in Chromium, on its own: a fake page and a fake
status route, so that what the script does with each answer can be driven and seen without a server or a run."""
import json

from playwright.sync_api import expect

from cnnviz.ui import live_status

ORIGIN = "http://cnnviz.test"

# The component's module, called as Streamlit calls it, with a setTriggerValue that records what it is asked.
MOUNT = """async ([source, data]) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const mount = (await import(url)).default;
  const parent = document.getElementById("parent");
  parent.innerHTML = '<div class="live-status"></div>';
  window.asked = [];
  mount({ data, parentElement: parent, setTriggerValue: (name, value) => window.asked.push([name, value]) });
}"""


def _serve(page, answer: dict) -> None:
    page.route(f"{ORIGIN}/train", lambda route: route.fulfill(content_type="text/html", body='<div id="parent"></div>'))
    page.route(f"{ORIGIN}/api/**",
               lambda route: route.fulfill(content_type="application/json", body=json.dumps(answer)))
    page.goto(f"{ORIGIN}/train")


def _data(state: str) -> dict:
    return {"html": "<p>Running</p>", "state": state, "url": "api/runs/abcdefgh/status?lang=en", "interval": 50,
            "timeout": 1000, "chart_every": 1000, "ask_again": 4, "filters_selector": ".none img",
            "lost_html": "<p>lost</p>"}


def test_a_new_state_shows_at_once_and_its_rerun_is_asked_for_again_until_it_comes(page):
    _serve(page, {"state": "stopped", "html": "<p>Stopped</p>"})
    page.evaluate(MOUNT, [live_status._JS, _data("running")])
    expect(page.locator(".live-status")).to_have_text("Stopped")  # the new state's words, before any rerun
    page.wait_for_function("window.asked.length >= 1")
    # No rerun mounts the component again here, as when a busy server folds the asked rerun away: it asks again,
    # a few polls later, instead of leaving the page frozen on its last state.
    page.wait_for_function("window.asked.length >= 2", timeout=10_000)
    assert page.evaluate("window.asked")[:2] == [["refresh", "stopped"], ["refresh", "stopped"]]


def test_an_unchanged_state_asks_for_nothing(page):
    _serve(page, {"state": "running", "html": "<p>Running, step 7</p>"})
    page.evaluate(MOUNT, [live_status._JS, _data("running")])
    expect(page.locator(".live-status")).to_have_text("Running, step 7")
    page.wait_for_function("Number(document.querySelector('.live-status').dataset.polled) >= 10")
    assert page.evaluate("window.asked") == []
