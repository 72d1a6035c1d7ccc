"""The Train page's run, kept by the browser tab that follows it, out of the address bar (Custom Components v2).

A run's id gives Pause and Stop, so it is not in the address: a lecturer who pastes the address bar into the class
chat would hand everyone control of the run. The tab keeps the id in its ``sessionStorage`` instead, and a refresh
(a new session, whose address names no run) gets it back from there: the component sends it to the page, which
follows the run again if it still exists.

Why ``sessionStorage`` and not a cookie: it belongs to one tab and ends with it. A cookie is shared by every tab of
the browser (two runs in two tabs would swap on a refresh), is sent with every request, and on a shared lab computer
outlives the tab, handing the next student the last one's run. A hint asking the owner not to share the address
would leave the control id in every copy of it, and in the browser's history.

An invisible element: no HTML of its own, and its JS only reads and writes the tab's storage.
"""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from cnnviz.ui.state import TAB_SENT_RUN, widget_value

_STORAGE_KEY = "cnnviz.train.run"
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as secrets.token_urlsafe makes them (cnnviz.pages.train.TokenCodec)

# ``data.run``: the run the page follows now (kept); ``data.gone``: a kept run the server no longer has (forgotten).
# With neither, a kept run is sent back to the page once per mount: the page asks for it only when it follows none.
_JS = """
const KEY = "%s";
export default function ({ data, setTriggerValue }) {
  let kept;
  try {
    kept = window.sessionStorage.getItem(KEY);
  } catch (error) {
    return;  // storage blocked: the tab keeps nothing, and a refresh shows the page without the run
  }
  if (data.run) {
    if (kept !== data.run) window.sessionStorage.setItem(KEY, data.run);
  } else if (kept && kept === data.gone) {
    window.sessionStorage.removeItem(KEY);
  } else if (kept) {
    setTriggerValue("run", kept);
  }
}
""" % _STORAGE_KEY

_component = st.components.v2.component("cnnviz.tab_memory", js=_JS)


def _received(key: str) -> None:
    """The tab sent its kept run: hold it for the page's next run, which follows it once."""
    sent = widget_value(key)
    run = sent.get("run") if isinstance(sent, dict) else None
    TAB_SENT_RUN.of(key).set(run if isinstance(run, str) and _RUN_ID.fullmatch(run) else "")


def sent_run(key: str) -> str:
    """The run id the tab just sent back (after a refresh), once; "" otherwise. Any id the browser sends is only a
    key to look up: a run is followed only if the server has it."""
    return TAB_SENT_RUN.of(key).pop()


def keep_run(key: str, run: str, *, gone: str = "") -> Any:
    """Mount the tab's memory: it keeps ``run`` (the run the page follows now, "" for none) and forgets ``gone`` (a
    kept run the server no longer has). Following none, the page gets the tab's kept run from ``sent_run`` on the
    run this triggers."""
    return _component(key=key, data={"run": run, "gone": gone}, default={}, height=0, on_run_change=lambda: _received(key))
