"""Helpers every page shares: translated text and errors, the page header (title, language, presentation mode),
uploaders in the catalog's words, sections, and the guard that keeps a traceback out of the browser."""
from __future__ import annotations

import logging
from typing import Any, Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnviz.errors import Join, Text, UserError
from cnnviz.i18n import LANGUAGES, t
from cnnviz.markdown_text import md_text
from cnnviz.ui.state import (HIDE_KEY, PRESENT_KEY, current_language, hidden_sections, new_run, presenting,
                             set_language, set_widget, widget_value)

LANG_WIDGET = "language"  # the selector's key (.st-key-language in the browser)
_LOG = logging.getLogger("cnnviz")


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


def _inert(value: object) -> object:
    """An error's values with every piece of plain text made inert; numbers keep their format specs."""
    if isinstance(value, (Text, UserError)):
        return Text(value.key, **{name: _inert(inner) for name, inner in value.values.items()})
    if isinstance(value, Join):
        return Join(_inert(part) for part in value.parts)
    return md_text(value) if isinstance(value, str) else value


def tr_error(error: BaseException) -> str:
    """An error's message in the session's language, ready for markdown: a ``UserError`` from the catalog (its
    wording may format, the values it quotes may not), anything else as inert text."""
    if isinstance(error, UserError):
        return _inert(error).render(current_language())
    return md_text(error)


def _on_language() -> None:
    set_language(widget_value(LANG_WIDGET))


def language_selector() -> str:
    """English / 中文 at the top of the sidebar; returns the session's language."""
    set_widget(LANG_WIDGET, current_language())
    with st.sidebar:
        st.segmented_control(tr("common.language"), LANGUAGES, key=LANG_WIDGET, required=True,
                             format_func=lambda language: t(f"lang.{language}", language), on_change=_on_language)
    return current_language()


# A projector shows 720 px: the default 6rem above the title and its 2.75rem size push the pictures off screen.
_COMPACT_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 4rem; padding-bottom: 3rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding-top: 0; padding-bottom: 0.25rem; }
[data-testid="stSidebarContent"] [data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
/* The tab's memory of a class seat (cnnviz.ui.class_banner), on every page: it draws nothing, so it takes no gap. */
.st-key-class_tab_seat { display: none; }
/* A grid's hover toolbar sits just above it: room for it, so it covers neither the channel tabs nor the Paste box. */
.st-key-section_kernel [data-testid="stElementContainer"]:has([data-testid="stDataFrame"]) { margin-top: 2.25rem; }
</style>
"""


BASE_FONT_PX = 16  # the browser's root font size, which Streamlit's rem sizes scale with
PRESENT_FONT_PX = 19  # the root font size while presenting: larger type for the back row
# Presentation mode: no sidebar or toolbar, larger type and full width, for the back row of a lecture hall.
_PRESENT_CSS = f"""
<style>
html {{ font-size: {PRESENT_FONT_PX}px; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stToolbar"] {{ display: none; }}
[data-testid="stMainBlockContainer"] {{ max-width: 100%; padding-left: 2.5rem; padding-right: 2.5rem; }}
</style>
"""


def _exit_presentation() -> None:
    set_widget(PRESENT_KEY, False)


def page_header(title_key: str, intro_key: str, *, sections: tuple[str, ...] = (), last_on_phone: str = "") -> None:
    """The page's title and one line of introduction, compact enough to leave a projector's screen to the content,
    the language selector at the top of the sidebar, and the classroom controls: presentation mode, and which of
    the page's ``sections`` it hides. ``last_on_phone``: the section whose column comes last when a phone stacks the
    page's columns (the controls after the pictures)."""
    new_run()
    # One style element for both: every element costs each rerun.
    st.html(_COMPACT_CSS + (f'<style>@media (max-width: 640px) {{ [data-testid="stColumn"]:has(.st-key-section_'
                            f'{last_on_phone}) {{ order: 10; }} }}</style>' if last_on_phone else ""))
    language_selector()
    # Both settings come from the link before their widgets are drawn: read later in the run (global_params), a
    # link's ?hide= would set the multiselect's value after it exists, which Streamlit refuses.
    hidden = [name for name in hidden_sections() if name in sections]
    if presenting():
        st.html(_PRESENT_CSS + "".join(f"<style>.st-key-section_{name} {{ display: none; }}</style>" for name in hidden))
        st.button(tr("common.present_exit"), key="present_exit", on_click=_exit_presentation,
                  icon=":material/close_fullscreen:", type="tertiary")
    st.title(tr(title_key))
    st.caption(tr(intro_key))
    with st.sidebar.expander(tr("common.present_settings"), icon=":material/co_present:"):
        st.toggle(tr("common.present"), key=PRESENT_KEY, help=tr("common.present_help"))
        if sections:
            st.multiselect(tr("common.present_hide"), sections, key=HIDE_KEY, format_func=tr_option("sections."),
                           help=tr("common.present_hide_help"))


# Streamlit 1.67 words its file uploader in English whatever the page's language ("Upload", "20MB per file") and has
# no locale setting. The uploader's own words are hidden (visibility: screen readers skip them too) and the page's
# are drawn in their place, scoped to the uploader's key.
_UPLOADER_CSS = """<style>
.st-key-{key} [data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p,
.st-key-{key} [data-testid="stFileUploaderDropzoneInstructions"] span {{ visibility: hidden; font-size: 0; }}
.st-key-{key} [data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {{
  content: "{button}"; visibility: visible; font-size: 1rem; }}
.st-key-{key} [data-testid="stFileUploaderDropzoneInstructions"] span::after {{
  content: "{limit}"; visibility: visible; font-size: 0.875rem; }}
</style>"""


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")


def file_uploader(label: str, *, key: str, max_mb: int, **kwargs: Any) -> Any:
    """``st.file_uploader`` (at most ``max_mb`` MB a file) whose button and size limit read in the page's language."""
    st.html(_UPLOADER_CSS.format(key=key, button=_css_string(tr("common.upload_button")),
                                 limit=_css_string(tr("common.upload_limit", mb=max_mb))))
    return st.file_uploader(label, key=key, max_upload_size=max_mb, **kwargs)


# The camera input's English, replaced the same way: the request for the camera (with Streamlit's link to its docs),
# and its one button, which reads "Take Photo" until a photo is taken and "Clear photo" after.
_CAMERA_CSS = """<style>
.st-key-{key} [data-testid="stCameraInputWebcamComponent"] p,
.st-key-{key} button[data-testid="stCameraInputButton"] {{ font-size: 0; }}
.st-key-{key} [data-testid="stCameraInputWebcamComponent"] p > * {{ display: none; }}
.st-key-{key} [data-testid="stCameraInputWebcamComponent"] p::after {{ content: "{allow}"; font-size: 0.875rem; }}
.st-key-{key} button[data-testid="stCameraInputButton"]::after {{ content: "{take}"; font-size: 1rem; }}
.st-key-{key} [data-testid="stCameraInput"]:has(img) button[data-testid="stCameraInputButton"]::after {{
  content: "{clear}"; }}
</style>"""


def camera_input(label: str, *, key: str) -> Any:
    """``st.camera_input`` whose request for the camera and whose button read in the page's language."""
    st.html(_CAMERA_CSS.format(key=key, allow=_css_string(tr("common.camera_allow")),
                               take=_css_string(tr("common.camera_take")),
                               clear=_css_string(tr("common.camera_clear"))))
    return st.camera_input(label, key=key)


def section(name: str, parent: DeltaGenerator | None = None) -> DeltaGenerator:
    """A part of a page that presentation mode can hide (``page_header(..., sections=...)`` lists the names), made in
    ``parent`` (the page when None). Make it the page's own container for that part rather than one more inside it:
    the browser redraws every block of a page on each rerun."""
    return (parent or st).container(key=f"section_{name}")


def guarded(render: Callable[..., None], *args: object) -> None:
    """Run a page (or a fragment): an unexpected error becomes a friendly message, its traceback goes to the server log.

    A student never sees a traceback or a server path. Streamlit's own reruns and stops are not ``Exception``s,
    so they pass through.
    """
    try:
        render(*args)
    except UserError as error:  # written for the student (a store that went down mid-run, say): say it as it is
        _LOG.warning("a page stopped: %s", error)
        st.error(tr_error(error), icon=":material/error:")
    except Exception:
        _LOG.exception("a page failed")
        st.error(tr("common.crashed"), icon=":material/sentiment_dissatisfied:")
