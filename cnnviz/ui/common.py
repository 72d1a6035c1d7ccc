"""Helpers every page shares: translated text and the session's language."""
from __future__ import annotations

import streamlit as st

from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t

LANG_KEY = "lang"


def current_language() -> str:
    """The language of this session: its URL ``?lang=`` if valid, else the session's choice, else English."""
    requested = st.query_params.get(LANG_KEY)
    if requested in LANGUAGES:
        st.session_state[LANG_KEY] = requested
    return st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)


def tr(key: str, **fmt: object) -> str:
    """Translate ``key`` into the session's language."""
    return t(key, current_language(), **fmt)
