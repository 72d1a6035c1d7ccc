"""The class a student has joined, on every page: the lecturer's current question as a banner under the title,
answered there, and the answer once the lecturer reveals it. ``cnnviz.ui.page.run_page`` draws it on each page.

The seat's token lives in the session (``state.CLASS_SEAT``), never in other pages' links: a student who shares a
Kernel Lab link must not hand over their seat. The tab keeps it in its ``sessionStorage`` (``cnnviz.ui.tab_memory``),
so a reload or an address typed in the same tab finds the seat again on any page; the banner's Leave forgets it.
Only the token is kept: it names the seat, and its class's code comes from the store with it. The banner polls the
store once every ``STUDENT_POLL_SECONDS``, in a fragment, so a page's own work never reruns for it.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import streamlit as st

from cnnviz.classroom import ClassStore, Question, Seat, class_store_from_env
from cnnviz.errors import UserError
from cnnviz.markdown_text import md_text
from cnnviz.exercises import make
from cnnviz.pages.class_room import (GRID_EXERCISES, PAGE_KEY, PICTURE_EXERCISES, answer_choices, class_answer,
                                     exercise_solution, question_text)
from cnnviz.ui import exercise_views
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, tr, tr_error
from cnnviz.ui.state import current_language
from cnnviz.ui.tab_memory import TabSlot

STUDENT_POLL_SECONDS = 2.0  # a pushed question or a reveal reaches a student within this; one store read each
BANNER_PICTURE_PIXELS = 150  # a which-kernel problem's two pictures side by side on a 390-pixel phone
_LOG = logging.getLogger("cnnviz")
# The tab's memory of its seat: a student token as ClassStore.join makes it (secrets.token_urlsafe(16)).
SEAT_MEMORY = TabSlot("class_seat", "cnnviz.class.seat", r"[A-Za-z0-9_-]{1,64}")
TAB_SEAT_KEY = "class_tab_seat"  # the memory's widget key; common's CSS hides its element


@st.cache_resource(show_spinner=False)
def class_store() -> ClassStore:
    """The server's one class store: this process's own, or Redis when CNNVIZ_REDIS_URL is set (every replica)."""
    return class_store_from_env()


def register_run(watch_id: str) -> None:
    """Put the run this browser just started on its class's leaderboard, when it has joined a class (a newer run
    replaces its older one there). The run trains whatever the class store says: a refusal is only logged."""
    token = page_state.CLASS_SEAT.get()
    if not token or not watch_id:
        return
    try:
        class_store().register_run(token, watch_id)
    except UserError as error:  # the class ended, or its store is out of reach
        _LOG.warning("a run was not put on its class's leaderboard: %s", error)


def _send(token: str, question_id: str, answer: object) -> None:
    """An answer from a button or the answer box (a callback: the question is the one the student saw)."""
    try:
        class_store().answer(token, question_id, answer)
    except UserError as error:  # the question closed, the rate limit: the banner says so on its next draw
        page_state.CLASS_REFUSED.set(error)


def _send_typed(token: str, question: Question, widget: str) -> None:
    typed = page_state.widget_value(widget, "")
    _send(token, question.id, class_answer(question, typed) if isinstance(typed, str) else typed)


def question_material(question: Question, *, key: str, picture_width: int) -> None:
    """What an exercise shows besides its words, under them: a convolution's or pooling's grids, or a which-kernel
    problem's image, feature map and numbered kernels. Nothing for the others. ``key`` keeps the containers of
    each place that draws it apart."""
    if question.kind in GRID_EXERCISES:
        exercise_views.grids(make(question.kind, question.seed, question.level).params, key=key)
    elif question.kind in PICTURE_EXERCISES:
        params = make(question.kind, question.seed, question.level).params
        pictures = exercise_views.pictures_png(question.kind, question.seed, question.level)
        exercise_views.kernel_choices(params, pictures, key=key, width=picture_width)


def restore_seat() -> None:
    """After a reload (a new session), sit again in the seat the tab kept, before the page reads who it is. A seat
    whose class has ended is forgotten; a store out of reach keeps it, and the banner says why it cannot show."""
    token = SEAT_MEMORY.sent(TAB_SEAT_KEY)
    if not token or page_state.CLASS_SEAT.get():
        return
    try:
        class_store().student(token)
    except UserError as error:
        if error.key == "error.class.seat_gone":
            page_state.CLASS_SEAT_GONE.set(token)
            return
    page_state.CLASS_SEAT.set(token)


def leave_class() -> None:
    """Give up this session's seat: the banner goes from every page, the tab forgets it, and the Class page's state
    drops it (coming back through the sidebar must not sit down again)."""
    page_state.CLASS_SEAT_GONE.set(page_state.CLASS_SEAT.get())
    page_state.CLASS_SEAT.set("")
    page_state.replace_view(PAGE_KEY, lambda state: replace(state, token=""))


def _draw(token: str) -> None:
    try:
        seat = class_store().student(token)
    except UserError as error:
        st.error(tr_error(error), icon=":material/cloud_off:")
        if error.key == "error.class.seat_gone":
            leave_class()  # the class ended: the next page run drops the banner, and the tab forgets the seat
        return
    refused = page_state.CLASS_REFUSED.pop()
    with st.container(key="class_banner", border=True):
        with st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute"):
            st.caption(tr("class.banner_seat", code=seat.code, name=md_text(seat.name)))
            left = st.button(tr("class.leave"), key="class_banner_leave", icon=":material/logout:", type="tertiary")
        if left:
            leave_class()
            st.rerun(scope="app")
        _question(token, seat)
        if refused is not None:
            st.warning(tr_error(refused), icon=":material/block:")


def _question(token: str, seat: Seat) -> None:
    current = seat.current
    if current is None:
        st.markdown(tr("class.banner_waiting"))
        return
    question = current.question
    st.markdown(f"**{md_text(question_text(question, current_language()))}**")
    question_material(question, key="class_banner_ex", picture_width=BANNER_PICTURE_PIXELS)
    if question.link:
        st.markdown(f"[{tr('class.open_link')}]({question.link})")  # PAGE_LINK: a path in this app only
    if current.revealed:
        st.success(tr("class.revealed_answer", answer=md_text(current.answer or "–")), icon=":material/visibility:")
        solution = exercise_solution(question, current_language())
        if solution is not None:
            st.code(solution[1], language=None, wrap_lines=True)  # the calculation, with everyone's own numbers
        mine = md_text(seat.my_answer) if seat.my_answer is not None else tr("class.no_answer")
        st.caption(tr("class.your_answer_was", answer=mine))
        return
    choices = answer_choices(question)
    if choices:
        with st.container(horizontal=True, key="class_choices"):
            for index, choice in enumerate(choices):
                st.button(choice, key=f"class_choice_{index}", on_click=_send, args=(token, question.id, choice),
                          type="primary" if choice == seat.my_answer else "secondary")
    else:
        with st.form("class_answer_form", border=False):
            widget = f"class_answer_{question.id}"
            st.text_input(tr("class.answer_label"), key=widget, max_chars=100)
            st.form_submit_button(tr("class.send"), on_click=_send_typed, args=(token, question, widget),
                                  key="class_send_button")
    if seat.my_answer is not None:
        st.caption(tr("class.your_answer", answer=md_text(seat.my_answer)))


@st.fragment(run_every=STUDENT_POLL_SECONDS)
def _banner(token: str) -> None:
    guarded(_draw, token)


def student_banner() -> None:
    """The joined class's current question, drawn where it is called (each page, under its title); nothing for a
    browser that has not joined a class. The tab's memory of the seat is mounted on every page, joined or not: a
    reload anywhere sends the kept seat back (``restore_seat``)."""
    token = page_state.CLASS_SEAT.get()
    SEAT_MEMORY.keep(TAB_SEAT_KEY, token, gone=page_state.CLASS_SEAT_GONE.pop())
    if token:
        _banner(token)
