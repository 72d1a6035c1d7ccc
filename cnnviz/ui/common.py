"""Helpers every page shares: translated text, the session's language, and the URL parameters every page keeps."""
from __future__ import annotations

import logging
import threading
from typing import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

LANG_KEY = "lang"
_LOG = logging.getLogger("cnnviz")


_RUN = threading.local()  # a session's script runs happen in its own script thread: per-run memos live here


def current_language() -> str:
    """The language of this session: its URL ``?lang=`` if valid, else the session's choice, else English.

    Looked up once per script run (``page_header`` starts each run afresh): a page formats hundreds of labels, and
    each lookup through ``st.session_state`` and ``st.query_params`` cost ~0.1 ms (20 ms a run on the Kernel Lab).
    """
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return DEFAULT_LANGUAGE  # outside a script run (AppTest formatting options): no session to ask
    memo = getattr(_RUN, "language", None)
    if memo is not None and memo[0] == ctx.session_id:
        return memo[1]
    requested = st.query_params.get(LANG_KEY)
    if requested in LANGUAGES:
        st.session_state[LANG_KEY] = requested
    language = st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)
    _RUN.language = (ctx.session_id, language)
    return language


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
    _RUN.language = None  # a new run: read the language afresh
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
