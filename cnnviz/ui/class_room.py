"""Class: the loop a lecturer runs with the room. Ask, let everyone answer, watch the answers come in, reveal.

The roles, from the URL (``cnnviz.pages.class_room.ClassState``):
- the lecturer (``?key=``): the join code in large type and its QR code, the projector link, the question to push,
  the live count and bars of the answers (names only when the lecturer ticks them), Reveal, and the leaderboard of
  the students' runs;
- the projector (``?view=``): the same room, live and read-only: code, QR, question, count, bars, the revealed
  answer and its calculation, and the runs, with no control, no key and never a name;
- a student (``?code=`` to join, then ``?t=``): the join form, then the banner that every page draws
  (``cnnviz.ui.class_banner``), where they answer.

The live parts are fragments that poll the store, one read a poll, so the page's own run happens only on a click.
"""
from __future__ import annotations

import html
from dataclasses import replace

import streamlit as st

from cnnviz.classroom import Current, Question, Room, Tally, join_qr_png, projector_id, safe_name
from cnnviz.errors import UserError
from cnnviz.markdown_text import md_text
from cnnviz.pages.class_room import (CLASS_EXERCISES, PAGE_KEY, ClassState, answer_bars, exercise_question,
                                     exercise_solution, join_link, predict_question, projector_link, question_text)
from cnnviz.pages.train import TrainPageState
from cnnviz.ui import runs
from cnnviz.ui import state as page_state
from cnnviz.ui.class_banner import class_store, question_material
from cnnviz.ui.common import guarded, section, tr, tr_error
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding, current_language

LECTURER_POLL_SECONDS = 1.5  # the lecturer's count follows the room this closely; one store read a poll
PROJECTOR_POLL_SECONDS = 1.5  # the projector follows pushes, answers and reveals this closely; two reads a poll
LEADERBOARD_POLL_SECONDS = 10.0  # runs change over minutes: a slower poll keeps the registry's reads few
QR_PIXELS = 220  # the QR code on the projector: readable from the back rows at 1280x720, beside the code
ROOM_PICTURE_PIXELS = 200  # a which-kernel problem's pictures beside each other in the room's wide column

_CODE_CSS = """<style>
.st-key-class_code .cv-code { font-size: 4.2rem; font-weight: 700; letter-spacing: 0.25rem; line-height: 1.1;
  font-family: ui-monospace, monospace; }
.cv-bars { display: grid; grid-template-columns: minmax(3rem, max-content) 1fr 2.5rem; gap: 0.35rem 0.6rem;
  align-items: center; font-size: 1.15rem; }
.cv-bars .cv-bar { height: 1.4rem; background: #1f77b4; border-radius: 0.2rem; min-width: 2px; }
.cv-bars .cv-right .cv-bar { background: #2ca02c; }
.cv-bars .cv-answer.cv-right { font-weight: 700; }
.cv-bars .cv-answer { overflow-wrap: anywhere; }
.cv-count { font-size: 2.2rem; font-weight: 700; }
</style>"""


def _start(b: PageBinding[ClassState]) -> None:
    """A student's link carries their seat (a reload, a second tab): the banner on every page reads it from the
    session. A browser that joined and comes back through the sidebar finds its seat the same way."""
    if b.state.token:
        page_state.CLASS_SEAT.set(b.state.token)
    elif not b.state.key and not b.state.view and page_state.CLASS_SEAT.get():
        b.start_from(replace(b.state, token=page_state.CLASS_SEAT.get()))


# --- a visitor: join, or open a class ---------------------------------------------------------------------------

def _visitor(b: PageBinding[ClassState]) -> ClassState | None:
    state = b.state
    with st.form("class_join", border=True):
        st.subheader(tr("class.join_title"))
        code = st.text_input(tr("class.code_label"), value=state.code, max_chars=12, key="class_code_input",
                             placeholder="ACDEFH")
        name = st.text_input(tr("class.name_label"), max_chars=40, key="class_name_input",
                             help=tr("class.name_help"))
        joined = st.form_submit_button(tr("class.join"), type="primary", key="class_join_button")
    if joined:
        try:
            token = class_store().join(code, name)
        except UserError as error:
            st.error(tr_error(error), icon=":material/error:")
        else:
            page_state.CLASS_SEAT.set(token)
            b.publish(replace(state, token=token, code=""))
            st.rerun()
    with st.expander(tr("class.teach_title"), icon=":material/co_present:"):
        st.caption(tr("class.teach_help"))
        if st.button(tr("class.open"), key="class_open", icon=":material/add_circle:"):
            opened = class_store().open_class()
            b.publish(replace(state, key=opened.lecturer_key, code="", token=""))
            st.rerun()
    return state


# --- a student who joined: the banner above says it all -------------------------------------------------------

def _student(b: PageBinding[ClassState]) -> ClassState | None:
    st.caption(tr("class.student_help"))  # the banner above has the question and Leave
    return b.state


# --- the lecturer --------------------------------------------------------------------------------------------------

def _join_panel(room: Room, *, count: bool = True) -> None:
    """The code to read aloud, the QR code to scan and the link to type, for the projector (whose live part counts
    the students instead: ``count=False``)."""
    link = join_link(st.context.url or "", room.code)
    with st.container(key="class_code"):
        st.caption(tr("class.join_at"))
        st.html(f'<div class="cv-code">{html.escape(room.code)}</div>')
        st.image(join_qr_png(link), width=QR_PIXELS)
        st.caption(md_text(link))
        if count:
            st.caption(tr("class.students_in", count=len(room.names)))


def _bars_html(counts: tuple[tuple[str, int], ...], students: int, right: str | None) -> str:
    """The answers as bars, each a share of the class; after the reveal the right answer's bar is green."""
    rows = []
    for bar in answer_bars(counts, students):
        mark = " cv-right" if bar.answer == right else ""
        answer = safe_name(bar.answer)
        rows.append(f'<div class="cv-answer{mark}" data-answer="{answer}">{answer}</div>'
                    f'<div class="{mark.strip()}"><div class="cv-bar" style="width: {bar.percent}%"></div></div>'
                    f'<div class="cv-n" data-count="{bar.count}">{bar.count}</div>')
    return f'<div class="cv-bars">{"".join(rows)}</div>'


@st.fragment(run_every=LECTURER_POLL_SECONDS)
def _live(key: str, question_id: str, show_names: bool, right: str | None) -> None:
    guarded(_draw_live, key, question_id, show_names, right)


def _draw_live(key: str, question_id: str, show_names: bool, right: str | None) -> None:
    """How many answered, of how many, and what: the one store read of each poll."""
    _draw_tally(class_store().tally(key, question_id), show_names, right)


def _draw_tally(tally: Tally, show_names: bool, right: str | None) -> None:
    with st.container(key="class_live"):
        st.html(f'<div class="cv-count" data-answered="{tally.answered}" data-students="{tally.students}">'
                f'{html.escape(tr("class.answered", answered=tally.answered, students=tally.students))}</div>')
        if tally.counts:
            st.html(_bars_html(tally.counts, tally.students, right))
        if show_names and tally.names:
            rows = "".join(f"<tr><td>{safe_name(name)}</td><td>{safe_name(answer)}</td></tr>"
                           for name, answer in tally.names)
            st.html(f'<table class="cv-names"><tr><th>{html.escape(tr("class.name_column"))}</th>'
                    f'<th>{html.escape(tr("class.answer_column"))}</th></tr>{rows}</table>')


def _then_rerun(change, *args: object) -> None:
    """A lecturer's change to the class, then the page again; a refusal (a prompt too long, a link elsewhere) is
    said where the lecturer clicked, and the page stays as it was."""
    try:
        change(*args)
    except UserError as error:
        st.error(tr_error(error), icon=":material/error:")
    else:
        st.rerun()


def _revealed(current: Current, solution: tuple[str, str] | None) -> None:
    st.success(tr("class.revealed_answer", answer=md_text(current.answer or "–")), icon=":material/visibility:")
    if solution is not None:
        st.code(solution[1], language=None, wrap_lines=True)  # the calculation, on the projector too


def _question_heading(question: Question) -> None:
    with st.container(key="class_question"):
        st.subheader(md_text(question_text(question, current_language())))
        if question.choices:
            st.caption(" · ".join(md_text(choice) for choice in question.choices))
        question_material(question, key="class_room_ex", picture_width=ROOM_PICTURE_PIXELS)


def _reveal(key: str, room: Room) -> None:
    current = room.current
    solution = exercise_solution(current.question, current_language())
    if current.revealed:
        _revealed(current, solution)
        return
    with st.form("class_reveal", border=False):
        question = current.question
        if solution is not None:  # cnnviz computes it: the lecturer confirms
            answer = st.text_input(tr("class.right_answer"), value=solution[0], key=f"class_right_{question.id}",
                                   max_chars=500)
        elif question.choices:
            answer = st.selectbox(tr("class.right_answer"), question.choices, key=f"class_right_{question.id}")
        else:
            answer = st.text_input(tr("class.right_answer"), key=f"class_right_{question.id}", max_chars=500)
        if st.form_submit_button(tr("class.reveal"), type="primary", icon=":material/visibility:",
                                 key="class_reveal_button"):
            _then_rerun(class_store().reveal, key, question.id, answer or "")


def _push_form(key: str) -> None:
    """A free prompt: "predict the output size before I press Start", with choices or a typed answer.

    Exercises push ``cnnviz.pages.class_room.exercise_question(kind, seed, level)`` the same way, once
    ``cnnviz.exercises`` lands: students see its prompt through ``question_text``."""
    with st.form("class_push", border=True):
        st.markdown(f"**{tr('class.push_title')}**")
        prompt = st.text_area(tr("class.prompt_label"), value=tr("class.prompt_example"), key="class_prompt",
                              height=80, max_chars=500)
        choices = st.text_area(tr("class.choices_label"), key="class_choices_text", height=80,
                               help=tr("class.choices_help"))
        link = st.text_input(tr("class.link_label"), key="class_link", help=tr("class.link_help"),
                             placeholder="/step-by-step?s=2")
        if st.form_submit_button(tr("class.push"), type="primary", icon=":material/campaign:",
                                 key="class_push_button"):
            _then_rerun(class_store().push, key, predict_question(prompt, choices, link))
    with st.form("class_push_exercise", border=True):
        st.markdown(f"**{tr('class.push_exercise_title')}**")
        with st.container(horizontal=True):
            kind = st.selectbox(tr("ex.kind"), CLASS_EXERCISES, key="class_ex_kind",
                                format_func=lambda name: tr(f"ex.kind.{name}"))
            level = st.segmented_control(tr("class.exercise_level"), [1, 2, 3], default=1, required=True,
                                         key="class_ex_level")
            seed = st.number_input(tr("class.exercise_seed"), 1, 999_999, value=1, key="class_ex_seed",
                                   help=tr("class.exercise_seed_help"))
        if st.form_submit_button(tr("class.push_exercise"), type="primary", icon=":material/calculate:",
                                 key="class_push_exercise_button"):
            _then_rerun(class_store().push, key, exercise_question(kind, int(seed), int(level)))


@st.fragment(run_every=LEADERBOARD_POLL_SECONDS)
def _leaderboard(secret: str, projected: bool = False) -> None:
    """The runs of the class whose lecturer key is ``secret``, or, ``projected``, of the class whose projector id
    it is (each run numbered, without its student's name)."""
    guarded(_draw_leaderboard, secret, projected)


def _draw_leaderboard(secret: str, projected: bool) -> None:
    class_runs = class_store().projector_runs(secret) if projected else class_store().runs(secret)
    if not class_runs:
        st.caption(tr("class.no_runs"))
        return
    for number, run in enumerate(class_runs, start=1):
        found = runs.find_watched(run.watch_id)
        snapshot = found.job.snapshot() if found is not None else None
        accuracy = (f"{100 * snapshot.final.accuracy:.1f} %" if snapshot is not None and snapshot.final is not None
                    else "–")
        who = tr("class.run_number", number=number) if projected else md_text(run.name)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"**{who}** · {md_text(snapshot.label if snapshot else tr('class.run_gone'))}"
                        f" · {tr('class.accuracy', accuracy=accuracy)}")
            page_state.open_page_link("cnnviz/ui/train.py", "train", TrainPageState(watch=run.watch_id),
                                      tr("class.watch"), icon=":material/visibility:")


def _lecturer(b: PageBinding[ClassState]) -> ClassState | None:
    state = b.state
    try:
        room = class_store().room(state.key)
    except UserError as error:
        st.error(tr_error(error), icon=":material/error:")
        if st.button(tr("class.open_new"), key="class_open"):
            b.publish(replace(state, key=class_store().open_class().lecturer_key))
            st.rerun()
        return state
    st.html(_CODE_CSS)
    join, main = st.columns([1, 2], gap="large")
    with join:
        _join_panel(room)
        st.link_button(tr("class.projector"), projector_link(st.context.url or "", projector_id(state.key),
                                                             current_language()),
                       icon=":material/cast:", help=tr("class.projector_help"))
    with main:
        if room.current is None:
            st.info(tr("class.no_question"), icon=":material/campaign:")
        else:
            question = room.current.question
            _question_heading(question)
            names = st.checkbox(tr("class.show_names"), key=b.seed("class_names", state.names),
                                help=tr("class.show_names_help"))
            state = replace(state, names=names)
            _live(state.key, question.id, names, room.current.answer if room.current.revealed else None)
            _reveal(state.key, room)
        with section("compose"):  # presenting with &hide=compose keeps the next question off the projector
            _push_form(state.key)
        with section("runs"), st.expander(tr("class.leaderboard"), icon=":material/leaderboard:"):
            _leaderboard(state.key)
        st.caption(tr("class.key_note", hours=f"{room.expires_in / 3600:.1f}"))
    return state


# --- the projector: the room, live, read-only -----------------------------------------------------------------------

@st.fragment(run_every=PROJECTOR_POLL_SECONDS)
def _projected(projector: str) -> None:
    guarded(_draw_projected, projector)


def _draw_projected(projector: str) -> None:
    """What the room sees now: the question, how many answered and what, and the answer once revealed. Nothing here
    is a control, and no read names anyone: the projector's store calls blank every name."""
    room = class_store().projector_room(projector)
    if room.current is None:
        st.info(tr("class.projector_waiting"), icon=":material/campaign:")
        st.html(f'<div class="cv-count" data-students="{len(room.names)}">'
                f'{html.escape(tr("class.students_in", count=len(room.names)))}</div>')
        return
    current = room.current
    _question_heading(current.question)
    _draw_tally(class_store().projector_tally(projector, current.question.id), False,
                current.answer if current.revealed else None)
    if current.revealed:
        _revealed(current, exercise_solution(current.question, current_language()))


def _projector(b: PageBinding[ClassState]) -> ClassState | None:
    state = b.state
    try:
        room = class_store().projector_room(state.view)
    except UserError as error:
        st.error(tr_error(error), icon=":material/error:")
        return state
    st.html(_CODE_CSS)
    join, main = st.columns([1, 2], gap="large")
    with join:
        _join_panel(room, count=False)
    with main:
        _projected(state.view)
        st.subheader(tr("class.leaderboard"))
        _leaderboard(state.view, True)
    return state


def steps(b: PageBinding[ClassState]) -> ClassState | None:
    role = b.state.role
    if role == "lecturer":
        return _lecturer(b)
    if role == "projector":
        return _projector(b)
    if role == "student":
        return _student(b)
    return _visitor(b)


guarded(run_page, Page(PAGE_KEY, ClassState, "class.title", "class.intro", sections=("compose", "runs"), start=_start),
        steps)
