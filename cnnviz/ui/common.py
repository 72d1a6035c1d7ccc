"""Helpers every page shares: translated text, the session's language, and the URL parameters every page keeps."""
from __future__ import annotations

import logging
from typing import Callable

import streamlit as st

from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

LANG_KEY = "lang"
_LOG = logging.getLogger("cnnviz")


def current_language() -> str:
    """The language of this session: its URL ``?lang=`` if valid, else the session's choice, else English."""
    requested = st.query_params.get(LANG_KEY)
    if requested in LANGUAGES:
        st.session_state[LANG_KEY] = requested
    return st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)


def tr(key: str, **fmt: object) -> str:
    """Translate ``key`` into the session's language."""
    return t(key, current_language(), **fmt)


def global_params() -> dict[str, str]:
    """URL parameters that belong to the session, not to a page: every page writes them back (a page switch
    clears the URL)."""
    language = current_language()
    return {LANG_KEY: language} if language != DEFAULT_LANGUAGE else {}


# A projector shows 720 px: the default 6rem above the title and its 2.75rem size push the pictures off screen.
_COMPACT_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 4rem; padding-bottom: 3rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding-top: 0; padding-bottom: 0.25rem; }
[data-testid="stSidebarContent"] [data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
/* On a phone the columns stack: a page can mark the one that should come last (the controls after the picture). */
@media (max-width: 640px) { [data-testid="stColumn"]:has([class*="st-key-last_on_phone"]) { order: 10; } }
</style>
"""


def page_header(title_key: str, intro_key: str) -> None:
    """The page's title and one line of introduction, compact enough to leave a projector's screen to the content."""
    st.html(_COMPACT_CSS)
    st.title(tr(title_key))
    st.caption(tr(intro_key))


def guarded(render: Callable[..., None], *args: object) -> None:
    """Run a page (or a fragment): an unexpected error becomes a friendly message, its traceback goes to the server log.

    A student never sees a traceback or a server path. Streamlit's own reruns and stops are not ``Exception``s,
    so they pass through.
    """
    try:
        render(*args)
    except Exception:
        _LOG.exception("a page failed")
        st.error(tr("common.crashed"), icon=":material/sentiment_dissatisfied:")
