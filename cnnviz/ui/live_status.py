"""A training run's live status, polled by the browser from a JSON route instead of redrawn by Streamlit reruns.

Why: a Streamlit rerun, even of a fragment holding one small HTML element, costs the watching browser far more
rendering work than swapping in a few kilobytes of HTML, and on a small machine that work is taken from the run's
torch threads, which wait for each other at every operation (docs/benchmarks.md). Here the page draws the status
once; a small component fetches ``/api/runs/<watch id>/status`` every second and swaps in the HTML it gets back
(cnnviz.ui.status_card builds it). Every third answer also brings the live chart's data, which the chart component
(cnnviz.ui.live_chart) takes from a DOM event, and conv1's filters, swapped into the page's picture. Only when the
run changes state (queued -> running -> paused -> done) does the component ask Streamlit for a rerun, through a
trigger: the page draws the chart and the filters from Start, so the polls always find them.

The route exists when ``streamlit run app.py`` serves the app: app.py hands ``routes()`` to ``st.App``. A browser
whose polls fail three times in a row (a server restarted, a replica gone) says it lost the server and asks for a
rerun, so the page never freezes silently; in shared mode the reconnected page finds its run on any replica. Clients that run no JavaScript (bench/light_client.py) poll the route the same way.
"""
from __future__ import annotations

import base64
import re
from html import escape

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cnnviz.i18n import LANGUAGES
from cnnviz.pages import train_live
from cnnviz.training.registry import Run
from cnnviz.ui import runs, status_card
from cnnviz.ui.common import tr

ROUTE = "/api/runs/{watch_id}/status"
POLL_MS = 1000  # the room sees the run move every second
POLL_TIMEOUT_MS = 4000  # a poll unanswered this long failed: three in a row say the server is lost, within 15 s
ASK_AGAIN_POLLS = 5  # a rerun asked for and not come within 5 polls is asked for again
CHART_EVERY = 3  # polls: the curves and the filters move every 3 s, as the page drew them before
BAR_COLOUR = "var(--st-primary-color, #d9480f)"  # the theme's accent, light or dark, as the component sees it
_WATCH_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")  # what secrets.token_urlsafe makes; anything else is not a run
_NO_STORE = {"Cache-Control": "no-store"}  # every poll must reach the server: a cached answer would freeze the bar


def routes() -> list[Route]:
    """The status route, for ``st.App(..., routes=routes())``."""
    return [Route(ROUTE, status_endpoint)]


def status_endpoint(request: Request) -> JSONResponse:
    """``{"state": ..., "html": ...}`` for the run behind a watch id, with ``"chart"`` (the live chart's JSON text)
    and ``"filters"`` (conv1's filters as a PNG data URL) when asked with ``chart=1``; 404 for an unknown run, 400
    for a malformed request."""
    watch_id, lang = request.path_params["watch_id"], request.query_params.get("lang", "en")
    chart = request.query_params.get("chart", "0")
    if not _WATCH_ID.fullmatch(watch_id) or lang not in LANGUAGES or chart not in ("0", "1"):
        return JSONResponse({"error": "bad request"}, status_code=400, headers=_NO_STORE)
    run = runs.find_watched(watch_id)
    if run is None:
        return JSONResponse({"error": "no such run"}, status_code=404, headers=_NO_STORE)
    return JSONResponse(status_payload(run, lang, chart=chart == "1"), headers=_NO_STORE)


STATUS_SECONDS = 0.5  # a room polling one run shares a status built within this long


def status_payload(run: Run, lang: str, *, chart: bool = False) -> dict:
    """The run's state and status HTML, and with ``chart`` its live chart and filters. Thirty students polling one
    run share one answer (the numbers smooth every step so far, which grows with the run), and the chart and the
    filters picture with the pages that draw them (cnnviz.pages.train_live.shared)."""
    if chart:
        return train_live.shared(run, lang, "answer with chart", lambda: _answer(run, lang, chart=True))
    return train_live.shared(run, lang, "answer", lambda: _answer(run, lang), max_age=STATUS_SECONDS)


def _answer(run: Run, lang: str, *, chart: bool = False) -> dict:
    snap = run.job.snapshot()
    answer = {"state": snap.state, "html": status_card.status_html(snap, lang, accent=BAR_COLOUR)}
    if chart:
        model = run.job.model
        answer["chart"] = train_live.shared_chart(run, snap, lang) if snap.steps else None
        picture = train_live.shared_filters(run, model, lang) if model else None
        answer["filters"] = "data:image/png;base64," + base64.b64encode(picture).decode() if picture else None
    return answer


def status_url(watch_id: str, lang: str) -> str:
    """The route's path, relative to the app's root (the component resolves it against the page's address)."""
    return ROUTE.format(watch_id=watch_id).lstrip("/") + f"?lang={lang}"


_HTML = '<div class="live-status"></div>'

# Called again by Streamlit whenever ``data`` changes, without the previous cleanup (as cnnviz/ui/live_chart.py):
# one poller per root element, restarted with the new data.
_JS = """
const pollers = new WeakMap();  // root element -> { timer }
const FAILURES = 3;  // polls in a row that may fail before the page is asked to redraw itself

function appRoot() {
  // Pages live one level below the app's root (/train, /cnnviz/train behind a proxy): drop the page's own segment.
  return window.location.pathname.replace(/\\/+$/, "").replace(/[^/]*$/, "");
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".live-status");
  let poller = pollers.get(root);
  if (poller === undefined) {
    poller = {};
    pollers.set(root, poller);
  }
  clearInterval(poller.timer);
  if (root.innerHTML !== data.html) root.innerHTML = data.html;  // the server's own HTML, escaped there
  root.dataset.state = data.state;
  let failures = 0, askedAt = null, polls = 0;
  const ask = (trigger, value) => {
    // The rerun it causes mounts this again, with a new poller. Until then the polls go on, and should that rerun
    // never come (folded into a click's rerun on a busy server), the question is asked again: never a frozen page.
    if (askedAt !== null && polls - askedAt < data.ask_again) return;
    askedAt = polls;
    setTriggerValue(trigger, value);
  };
  poller.timer = setInterval(async () => {
    polls += 1;
    const withChart = polls % data.chart_every === 0;
    try {
      // A server that hangs counts as a failed poll, as one that refuses does.
      const response = await fetch(appRoot() + data.url + (withChart ? "&chart=1" : ""),
                                   { cache: "no-store", signal: AbortSignal.timeout(data.timeout) });
      if (!response.ok) throw new Error(String(response.status));
      const status = await response.json();
      failures = 0;
      if (root.innerHTML !== status.html) root.innerHTML = status.html;  // a new state's words, before its rerun
      if (status.state !== data.state) return ask("refresh", status.state);
      root.dataset.polled = String(Number(root.dataset.polled || 0) + 1);  // what a test can wait on
      // The curves and the filters belong to other elements of the page: the live chart listens for its data
      // (cnnviz/ui/live_chart.py), and the filters are a picture the page drew in a keyed container.
      if (status.chart) document.dispatchEvent(new CustomEvent("cnnviz:live-chart", { detail: status.chart }));
      const filters = document.querySelector(data.filters_selector);
      if (status.filters && filters) filters.src = status.filters;
    } catch (error) {
      failures += 1;
      if (failures >= FAILURES) {
        // Say so at once: when the server itself is gone, the rerun asked for only comes once the page has
        // reconnected (to another replica, behind nginx), and until then the page would look frozen.
        root.innerHTML = data.lost_html;
        root.dataset.lost = "1";
        ask("refresh", "unreachable");
      }
    }
  }, data.interval);
  poller.cleanup = () => { clearInterval(poller.timer); pollers.delete(root); };
  return poller.cleanup;
}
"""

# In the page's own DOM, not a shadow root: the status reads as page text to a screen reader's find, to tests and to
# the benchmarks, as the st.html it replaces did; its class names are the page's own.
_component = st.components.v2.component("cnnviz.live_status", html=_HTML, js=_JS, isolate_styles=False)


def live_status(html: str, state: str, url: str, *, key: str, filters_key: str) -> None:
    """Show ``html`` now, then what ``url`` answers every second; a state other than ``state`` reruns the fragment
    this is drawn in. Every CHART_EVERY polls the answer brings the live chart's data (sent to every live chart on
    the page as a ``cnnviz:live-chart`` event) and the filters picture for the container keyed ``filters_key``."""
    lost = f'<p class="live-status-lost" role="alert">{escape(tr("train.status_lost"))}</p>'
    _component(key=key, data={"html": html, "state": state, "url": url, "interval": POLL_MS, "timeout": POLL_TIMEOUT_MS,
                              "chart_every": CHART_EVERY, "ask_again": ASK_AGAIN_POLLS, "filters_selector": f".st-key-{filters_key} img",
                              "lost_html": lost},
               width="stretch", on_refresh_change=_ignore)


def _ignore() -> None:
    """The trigger's rerun is all a refresh needs."""
