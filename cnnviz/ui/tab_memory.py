"""What a browser tab keeps out of the address bar across a reload (Custom Components v2): the Train page's run,
and the seat of a student in a class.

A run's id gives Pause and Stop, and a seat's token answers as its student, so neither is in the address: a lecturer
who pastes the address bar into the class chat would hand everyone control of the run, and a student who shares a
Kernel Lab link would hand over their seat. The tab keeps each in its ``sessionStorage`` instead, and a refresh (a
new session, whose address names neither) gets it back from there: the component sends it to the page, which uses
it again if the server still has it.

Why ``sessionStorage`` and not a cookie: it belongs to one tab and ends with it. A cookie is shared by every tab of
the browser (two runs in two tabs would swap on a refresh), is sent with every request, and on a shared lab computer
outlives the tab, handing the next student the last one's run or seat. A hint asking the owner not to share the
address would leave the secret in every copy of it, and in the browser's history.

An invisible element: no HTML of its own, and its JS only reads and writes the tab's storage.
"""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from cnnviz.ui.state import TAB_SENT, widget_value

# ``data.value``: what the page holds now (kept); ``data.gone``: a kept value the server no longer has (forgotten).
# With neither, a kept value is sent back to the page once per mount: the page asks for it only when it holds none.
_JS = """
const KEY = "%s";
export default function ({ data, setTriggerValue }) {
  let kept;
  try {
    kept = window.sessionStorage.getItem(KEY);
  } catch (error) {
    return;  // storage blocked: the tab keeps nothing, and a refresh shows the page without it
  }
  if (data.value) {
    if (kept !== data.value) window.sessionStorage.setItem(KEY, data.value);
  } else if (kept && kept === data.gone) {
    window.sessionStorage.removeItem(KEY);
  } else if (kept) {
    setTriggerValue("value", kept);
  }
}
"""


class TabSlot:
    """One value a tab keeps in its ``sessionStorage`` under ``storage_key``, shaped as ``pattern`` (anything else
    the browser sends is dropped: it is only ever a key to look up)."""

    def __init__(self, name: str, storage_key: str, pattern: str):
        self.pattern = re.compile(pattern)
        self._component = st.components.v2.component(f"cnnviz.{name}", js=_JS % storage_key)

    def _received(self, key: str) -> None:
        """The tab sent its kept value: hold it for the page's next run, which uses it once."""
        sent = widget_value(key)
        value = sent.get("value") if isinstance(sent, dict) else None
        TAB_SENT.of(key).set(value if isinstance(value, str) and self.pattern.fullmatch(value) else "")

    def sent(self, key: str) -> str:
        """The value the tab just sent back (after a refresh), once; "" otherwise."""
        return TAB_SENT.of(key).pop()

    def keep(self, key: str, value: str, *, gone: str = "") -> Any:
        """Mount the tab's memory: it keeps ``value`` ("" for none) and forgets ``gone`` (a kept value the server
        no longer has, or one its owner dropped). Holding none, the page gets the tab's kept value from ``sent`` on
        the run this triggers."""
        return self._component(key=key, data={"value": value, "gone": gone}, default={}, height=0,
                               on_value_change=lambda: self._received(key))


# A run id as secrets.token_urlsafe makes them (cnnviz.pages.train.TokenCodec).
RUN = TabSlot("tab_memory", "cnnviz.train.run", r"[A-Za-z0-9_-]{1,64}")


def sent_run(key: str) -> str:
    """The run id the tab just sent back (after a refresh), once; "" otherwise. A run is followed only if the
    server has it."""
    return RUN.sent(key)


def keep_run(key: str, run: str, *, gone: str = "") -> Any:
    """Mount the Train page's memory of its run: it keeps ``run`` ("" for none) and forgets ``gone``."""
    return RUN.keep(key, run, gone=gone)
