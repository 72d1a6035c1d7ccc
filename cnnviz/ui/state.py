"""Binds a page's state (a frozen dataclass from ``cnnviz.pages``) to its widgets, the session and the URL.

Every page run starts from one state: the URL's when the URL names settings this session has not just written
(a shared link, a fresh browser), else the session's (a rerun, or a return from another page, whose switch
clears the URL). Widgets are seeded from that state, ``controls`` reads them back into a new state, and
``publish`` stores it and writes it to the URL. Pages touch ``st.session_state`` and ``st.query_params`` for
their settings only through this module.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from cnnviz.ui.common import global_params, md_text, tr
from cnnviz.ui.link_box import link_box
from cnnviz.urlstate import field_names

State = TypeVar("State")

_STATE = "_page_state_"  # + page: the state the page last published
_URL = "_page_url_"  # + page: the query it last wrote
_RESEED = "_page_reseed_"  # + page: a callback replaced the state; widgets must follow it


class PageBinding(Generic[State]):
    """The state a page run starts from, and how its widgets get their values."""

    def __init__(self, page: str, cls: type[State]):
        self.page, self.cls = page, cls
        params = {key: st.query_params[key] for key in st.query_params.keys() if key in field_names(cls)}
        self.query = params  # the URL's settings for this page, as read
        stored = st.session_state.get(_STATE + page)
        reseed = st.session_state.pop(_RESEED + page, False)
        if stored is not None and (not params or params == st.session_state.get(_URL + page)):
            self.state, self.ignored, self.loading = stored, [], reseed
        else:
            self.state, self.ignored = cls.from_query(params)
            self.loading = True  # a link or a fresh session: every widget shows the link's values

    def seed(self, key: str, value: Any) -> str:
        """``key``, after giving its widget ``value`` when the page loads a state or the widget lost its value
        (Streamlit forgets widgets that were not drawn, e.g. on another page)."""
        if self.loading or key not in st.session_state:
            st.session_state[key] = value
        return key

    def start_from(self, state: State) -> None:
        """Begin this run from ``state`` instead, every widget following it (a page's own default for a session)."""
        self.state, self.loading = state, True

    def publish(self, state: State) -> State:
        """Keep ``state`` for the session and put it in the URL; returns it."""
        st.session_state[_STATE + self.page] = state
        query = state.to_query()
        st.session_state[_URL + self.page] = query
        wanted = {**query, **global_params()}
        if st.query_params.to_dict() != wanted:
            st.query_params.from_dict(wanted)
        return state

    def warn_ignored(self) -> None:
        if self.ignored:
            st.warning(tr("state.ignored", items=md_text(", ".join(self.ignored))), icon=":material/link_off:")


def bind(page: str, cls: type[State]) -> PageBinding[State]:
    return PageBinding(page, cls)


def stored(page: str) -> Any:
    """The state ``page`` last published in this session, or None (for callbacks, which run before the page)."""
    return st.session_state.get(_STATE + page)


def replace_state(page: str, change: Callable[[Any], Any]) -> None:
    """From a widget callback: apply ``change`` to the page's stored state; the next run seeds every widget from it."""
    current = st.session_state.get(_STATE + page)
    if current is not None:
        st.session_state[_STATE + page] = change(current)
        st.session_state[_RESEED + page] = True


def store(page: str, state: Any) -> None:
    """From another page: make ``state`` the page's state for this session; its next run seeds every widget from it."""
    st.session_state[_STATE + page] = state
    st.session_state[_RESEED + page] = True


def share_link(state: Any, *, note: str = "", label: str = "", help_text: str = "", key: str = "share_link",
               live: bool = False) -> None:
    """A "Copy link" control: the full URL of this view in a box with a Copy button.

    ``live``: the box shows the address bar's URL when opened, so a page whose fragment publishes each change draws
    the control once, in its full run (``state`` is then not read)."""
    url = None
    if not live:
        base = (st.context.url or "").split("?")[0]
        query = urlencode({**state.to_query(), **global_params()})
        url = f"{base}?{query}" if query else base
    with st.popover(label or tr("state.copy_link"), icon=":material/link:", key=key):
        st.caption(help_text or tr("state.copy_link_help"))
        link_box(f"{key}_box", url=url, label=tr("state.link_label"), copy=tr("state.copy"), copied=tr("state.copied"))
        if note:
            st.info(note, icon=":material/info:")


def flash(page: str, message: str) -> None:
    """A one-time message for the page's next run (from a callback: what a switch did to the user's work)."""
    st.session_state.setdefault(f"_flash_{page}", []).append(message)


def show_flashes(page: str) -> None:
    for message in st.session_state.pop(f"_flash_{page}", []):
        st.info(message, icon=":material/info:")


def record_timing(page: str, milliseconds: float) -> None:
    """The server time of the page's last run, for the benchmarks (AppTest reads it from the session)."""
    st.session_state[f"_last_run_ms_{page}"] = milliseconds


def widget_value(key: str, default: Any = None) -> Any:
    """A widget's current value (for callbacks and fragments, which run outside the page's three steps)."""
    return st.session_state.get(key, default)


def set_widget(key: str, value: Any) -> None:
    """Move a widget to ``value`` before it is drawn (Play advancing the position slider)."""
    st.session_state[key] = value


def transient(key: str, default: Any = None) -> Any:
    """View state that does not belong in a link, such as whether Play is on."""
    return st.session_state.get(f"_transient_{key}", default)


def set_transient(key: str, value: Any) -> None:
    st.session_state[f"_transient_{key}"] = value


def open_page_link(page_file: str, url_path: str, state: Any, label: str, *,
                   icon: str = ":material/open_in_new:") -> None:
    """A link that opens another page set to ``state`` in the same session (st.page_link), or, where the page is
    not registered (a page script run on its own), a plain link to the same URL."""
    query = {**(state.to_query() if state is not None else {}), **global_params()}
    try:
        st.page_link(page_file, label=label, icon=icon, query_params=query or None)
    except StreamlitPageNotFoundError:
        target = f"{url_path}?{urlencode(query)}" if query else url_path
        st.markdown(f"[{label}]({target})")
