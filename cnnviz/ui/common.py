"""Helpers every page shares: translated text, the session's language, and the URL parameters every page keeps."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from cnnviz.errors import UserError
from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

LANG_KEY = "lang"
LANG_WIDGET = "language"  # the selector's key (.st-key-language in the browser)


def current_language() -> str:
    """The language of this session: its URL ``?lang=`` if valid, else the session's choice, else English."""
    requested = st.query_params.get(LANG_KEY)
    if requested in LANGUAGES:
        st.session_state[LANG_KEY] = requested
    return st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)


def tr(key: str, **fmt: object) -> str:
    """Translate ``key`` into the session's language."""
    return t(key, current_language(), **fmt)


def tr_option(key: str | Callable[[Any], str]) -> Callable[[Any], str]:
    """A ``format_func`` for options labelled by catalog keys: ``key + option``, or ``key(option)``.

    The language is fixed when the widget is made: AppTest calls format functions outside the script run, where
    the session (and so its language) cannot be read.
    """
    language = current_language()
    if callable(key):
        return lambda option: t(key(option), language)
    return lambda option: t(f"{key}{option}", language)


def tr_error(error: BaseException) -> str:
    """An error's message in the session's language: a ``UserError`` from the catalog, anything else as it is."""
    return error.message(current_language()) if isinstance(error, UserError) else str(error)


def _on_language() -> None:
    # The URL wins over the session in current_language, so the choice goes into both before the rerun.
    language = st.session_state[LANG_WIDGET]
    st.session_state[LANG_KEY] = language
    if language == DEFAULT_LANGUAGE:
        st.query_params.pop(LANG_KEY, None)
    else:
        st.query_params[LANG_KEY] = language


def language_selector() -> str:
    """English / 中文 at the top of the sidebar; returns the session's language."""
    st.session_state[LANG_WIDGET] = current_language()
    with st.sidebar:
        st.segmented_control(tr("common.language"), LANGUAGES, key=LANG_WIDGET, required=True,
                             format_func=lambda language: t(f"lang.{language}", language), on_change=_on_language)
    return current_language()


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
    """The page's title and one line of introduction, compact enough to leave a projector's screen to the content,
    and the language selector at the top of the sidebar."""
    st.html(_COMPACT_CSS)
    language_selector()
    st.title(tr(title_key))
    st.caption(tr(intro_key))
