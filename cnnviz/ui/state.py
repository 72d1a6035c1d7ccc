"""Binds a page's state (a frozen dataclass from ``cnnviz.pages``) to its widgets, the session and the URL.

Every page run starts from one state: the URL's when the URL names settings this session has not just written
(a shared link, a fresh browser), else the session's (a rerun, or a return from another page, whose switch
clears the URL). Widgets are seeded from that state, ``controls`` reads them back into a new state, and
``publish`` stores it and writes it to the URL. Pages touch ``st.session_state`` and ``st.query_params`` for
their settings only through this module: it also holds the session's own settings (language, presentation) and the
small accessors for widget values and transient view state (``tests/test_layering.py`` keeps it so).
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from cnnviz.markdown_text import md_text
from cnnviz.ui.link_box import link_box
from cnnviz.urlstate import field_names

State = TypeVar("State")
T = TypeVar("T")

_STATE = "_page_state_"  # + page: the state the page last published
_URL = "_page_url_"  # + page: the query it last wrote
_RESEED = "_page_reseed_"  # + page: a callback replaced the state; widgets must follow it


# --- the session's own settings, which every page keeps in its URL ----------------------------------------

LANG_KEY = "lang"  # URL parameter and session key: the session's language


# Each script run happens on a script thread of its own, and each thread starts with a context of its own: the
# language memo set in one run is never seen by another session's run. The session id in the memo guards a thread
# that serves more than one session; page_header clears it at the start of each run.
_RUN_LANGUAGE: ContextVar[tuple[str, str] | None] = ContextVar("cnnviz_run_language", default=None)


def current_language() -> str:
    """The language of this session: its URL ``?lang=`` if valid, else the session's choice, else English.

    Looked up once per script run (``page_header`` starts each run afresh): a page formats hundreds of labels, and
    a lookup through ``st.session_state`` and ``st.query_params`` for each of them adds up to a visible share of a
    run.
    """
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return DEFAULT_LANGUAGE  # outside a script run (AppTest formatting options): no session to ask
    memo = _RUN_LANGUAGE.get()
    if memo is not None and memo[0] == ctx.session_id:
        return memo[1]
    requested = st.query_params.get(LANG_KEY)
    if requested in LANGUAGES:
        st.session_state[LANG_KEY] = requested
    language = st.session_state.get(LANG_KEY, DEFAULT_LANGUAGE)
    _RUN_LANGUAGE.set((ctx.session_id, language))
    return language


def _tr(key: str, **fmt: object) -> str:
    """``common.tr`` for this module's own few labels: common imports this module, not the other way round."""
    return t(key, current_language(), **fmt)


def new_run() -> None:
    """A script run starts: the next ``current_language`` reads the session and the URL afresh."""
    _RUN_LANGUAGE.set(None)


def set_language(language: str) -> None:
    """From the language selector's callback: the session's choice, in the session and the URL (the URL wins over the
    session in ``current_language``, so both change before the rerun)."""
    st.session_state[LANG_KEY] = language
    if language == DEFAULT_LANGUAGE:
        st.query_params.pop(LANG_KEY, None)
    else:
        st.query_params[LANG_KEY] = language


PRESENT_KEY = "present"  # URL parameter and widget key: presentation mode on a projector
HIDE_KEY = "hide"  # URL parameter and widget key: the page sections hidden while presenting


def _from_url_once(key: str, parse: Callable[[str], object]) -> None:
    """A session setting a link may carry (?present=1): the URL's value wins the first time the session sees it."""
    seen = f"_url_seen_{key}"
    text = st.query_params.get(key)
    if text is not None and st.session_state.get(seen) != text:
        st.session_state[seen] = text
        st.session_state[key] = parse(text)


def presenting() -> bool:
    _from_url_once(PRESENT_KEY, lambda text: text == "1")
    return bool(st.session_state.get(PRESENT_KEY, False))


def hidden_sections() -> list[str]:
    _from_url_once(HIDE_KEY, lambda text: [name for name in text.split(",") if name])
    return list(st.session_state.get(HIDE_KEY, []))


def global_params() -> dict[str, str]:
    """URL parameters that belong to the session, not to a page: every page writes them back (a page switch
    clears the URL)."""
    language = current_language()
    params = {LANG_KEY: language} if language != DEFAULT_LANGUAGE else {}
    if presenting():
        params[PRESENT_KEY] = "1"
    if hidden_sections():
        params[HIDE_KEY] = ",".join(hidden_sections())
    for key in (PRESENT_KEY, HIDE_KEY):
        # What we write to the URL is already the session's value: the next run must not take it for a link's
        # (that would set a widget's value after the widget was drawn, which Streamlit refuses).
        if key in params:
            st.session_state[f"_url_seen_{key}"] = params[key]
    return params


# --- a page's state ----------------------------------------------------------------------------------------

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
            st.warning(_tr("state.ignored", items=md_text(", ".join(self.ignored))), icon=":material/link_off:")


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


def replace_view(page: str, change: Callable[[Any], Any]) -> None:
    """From a callback: like ``replace_state``, for a part of the state that no widget shows (a place the browser
    pinned): the widgets keep their keys and the values the user sees."""
    current = st.session_state.get(_STATE + page)
    if current is not None:
        st.session_state[_STATE + page] = change(current)


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
    with st.popover(label or _tr("state.copy_link"), icon=":material/link:", key=key):
        st.caption(help_text or _tr("state.copy_link_help"))
        link_box(f"{key}_box", url=url, label=_tr("state.link_label"), copy=_tr("state.copy"),
                 copied=_tr("state.copied"))
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


# --- transient view state: never in a link, every key declared here ----------------------------------------

_TRANSIENT = "_transient_"  # + key: a transient value's place in the session


class Transient(Generic[T]):
    """One named value of view state that does not belong in a link (whether Play is on, a message a callback
    hands to the run after it), of type ``T`` with its default. Every one is declared below, once: a page reads
    and writes it as ``STEP_PLAYING.get()``, ``.set(True)`` and ``.pop()``. Results are never kept here: a click is
    decoded against the result of the run that reads it."""

    def __init__(self, key: str, default: T):
        self.key, self.default = key, default

    def get(self) -> T:
        return st.session_state.get(_TRANSIENT + self.key, self.default)

    def set(self, value: T) -> None:
        st.session_state[_TRANSIENT + self.key] = value

    def pop(self) -> T:
        """The value, removed: a message or an input handed from a callback to the run that follows it."""
        return st.session_state.pop(_TRANSIENT + self.key, self.default)


class TransientFamily(Generic[T]):
    """One transient value per widget that has it (each click picture's last click): ``CLICK_SEEN.of("rf_click")``
    is the transient ``rf_click_seen``."""

    def __init__(self, suffix: str, default: T):
        self.suffix, self.default = suffix, default

    def of(self, widget_key: str) -> Transient[T]:
        return Transient(f"{widget_key}_{self.suffix}", self.default)


# Each page's transient values. The session's run and checkpoint:
RUN_OWNER: Transient[str | None] = Transient("run_owner", None)  # the token the runs this session starts carry
LOADED_CHECKPOINT: Transient[Any] = Transient("loaded_checkpoint", None)  # the checkpoint this session uploaded
TAB_SENT: TransientFamily[str] = TransientFamily("sent", "")  # what a tab's memory just sent back (a run, a seat)
UPLOAD_DIGESTS: Transient[dict | None] = Transient("upload_digests", None)  # upload file id -> digest of its bytes
# Widgets: a pasted matrix and the message for a paste that was refused, from the Apply callback to the next run.
PASTED: TransientFamily[Any] = TransientFamily("pasted", None)
PASTE_ERROR: TransientFamily[str | None] = TransientFamily("paste_error", None)
# Click pictures: the time stamp of the last click handled (the component keeps its value until the next click).
CLICK_SEEN: TransientFamily[float | None] = TransientFamily("seen", None)
# Kernel Lab.
KL_RANDOM_SEED: Transient[int] = Transient("kl_random_seed", 0)  # Randomise's last seed: each press draws anew
# Cells the grid refused, with the kernel they left unchanged (its bytes): shown under the grid until the kernel
# changes, so a rerun that something else asks for (a timer, a component) does not take the warning away unread.
KL_GRID_PROBLEMS: Transient[tuple[tuple[str, ...], bytes]] = Transient("kl_grid_problems", ((), b""))
# Step by step.
STEP_PLAYING: Transient[bool] = Transient("step_playing", False)  # Play is on: a full run starts the timer
STEP_TICK: Transient[bool] = Transient("step_tick", False)  # the fragment's next run is the timer's: one step on
# Receptive fields: the layer or unit a picker's callback chose, applied by the next run against its own view
# (a new layer keeps the unit nearest the old one's centre, which needs that run's rows).
RF_PICK: Transient[tuple[str, Any] | None] = Transient("rf_pick", None)
# Exercises: each problem's tries this session (pages.exercises.Attempts), under "ex_<kind>_<level>_<seed>": the
# score is the student's, not the link's.
EX_ATTEMPTS: TransientFamily[Any] = TransientFamily("attempts", None)
# Train: the run state the page last drew (a change to finished reruns the page for the results).
TRAIN_DRAWN_STATE: Transient[str | None] = Transient("train_drawn_state", None)
# Look inside: why the quick-train button's run was refused, for the next run to say.
INSP_QUICK_REFUSED: Transient[Exception | None] = Transient("insp_quick_refused", None)
# Class: the seat this session joined (its token, never in another page's link: a shared link would hand the seat
# over; the tab keeps it across a reload, cnnviz.ui.tab_memory), a seat the tab must forget (left, or its class
# ended), and why the store refused the answer a banner's button sent, for the banner's next draw to say.
CLASS_SEAT: Transient[str] = Transient("class_seat", "")
CLASS_SEAT_GONE: Transient[str] = Transient("class_seat_gone", "")
CLASS_REFUSED: Transient[Exception | None] = Transient("class_refused", None)


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
# Your network: what the page last drew, so that a click on its pictures is decoded against them.
YOURS_SHOWN: Transient[Any] = Transient("yours_shown", None)
# ... and the model this session uploaded there, (a key naming it, its NetworkFacts), for the Receptive fields page.
YOURS_UPLOADED: Transient[Any] = Transient("yours_uploaded", None)
