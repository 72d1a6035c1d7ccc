"""Exercises: ten seeded problems a set, each answer checked by cnnviz's own maths, a hint per wrong try, a score.

The page is three steps: ``controls`` (kind, level, set, problem, show me -> ExercisesState), ``compute``
(cnnviz.pages.exercises: the problem and the page that shows it worked) and ``draw`` (the question, its grids, the
answer box, the verdict, the score and "show me").
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnviz.exercises import KINDS, LEVELS, SET_SIZE, Problem, problem_set
from cnnviz.pages.exercises import (MAX_SET, Attempts, ExercisesState, ExerciseView, attempts_key, compute, page_of,
                                    score)
from cnnviz.ui import exercise_views
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, tr, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import EX_ATTEMPTS, PageBinding, current_language

PAGE = "exercises"


def _steps(text: str) -> str:
    """The clauses of a hint or a calculation one per line (the catalog joins them with "; " or "；")."""
    return text.replace("; ", "  \n").replace("；", "  \n")


def _attempts(problem) -> Attempts:
    return EX_ATTEMPTS.of(attempts_key(problem)).get() or Attempts()


def _step(delta: int) -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, index=min(max(0, s.index + delta), SET_SIZE - 1), show=False))


def _mark(attempts: Attempts) -> str:
    if attempts.scores:
        return " ✓"
    if attempts.ok or attempts.shown:
        return " ○"  # solved after "show me", or shown: no score
    return " ✗" if attempts.wrong else ""


def controls(b: PageBinding) -> ExercisesState:
    state = b.state
    with st.sidebar:
        kind = st.selectbox(tr("ex.kind"), KINDS, key=b.seed("ex_kind", state.kind), format_func=tr_option("ex.kind."))
        level = st.radio(tr("ex.level"), LEVELS, horizontal=True, key=b.seed("ex_level", state.level),
                         format_func=tr_option("ex.level."))
        seed = int(st.number_input(tr("ex.set"), 0, MAX_SET, key=b.seed("ex_set", state.seed),
                                   help=tr("ex.set_help")))
    # Labels that never change: a radio whose labels change between runs is a new widget and forgets its choice.
    index = st.radio(tr("ex.problem"), range(SET_SIZE), horizontal=True, key=b.seed("ex_index", state.index),
                     format_func=lambda number: str(number + 1))
    problems = problem_set(kind, seed, int(level))
    marks = " · ".join(f"{number}{_mark(_attempts(problem))}" for number, problem in enumerate(problems, start=1))
    st.caption(marks, help=tr("ex.marks_help"))
    return replace(state, kind=kind, level=int(level), seed=seed, index=int(index))


def _check(problem: Problem) -> None:
    """The Check button's callback: record the answer before the page runs, so the problem picker's marks and the
    score drawn above and below the box already count it."""
    key = attempts_key(problem)
    typed = str(page_state.widget_value(f"ex_answer_{key}", ""))
    attempts = _attempts(problem)
    EX_ATTEMPTS.of(key).set(attempts.after(problem.check(typed, attempts.wrong + 1, current_language()), typed))


def _answer(view: ExerciseView, attempts: Attempts) -> Attempts:
    """The answer box and the verdict on the last answer."""
    problem = view.problem
    key = attempts_key(problem)
    if not attempts.ok:  # answered: the verdict stays, the box goes
        with st.form(f"ex_form_{key}", border=False, enter_to_submit=True):
            st.text_input(tr("ex.answer"), key=f"ex_answer_{key}", placeholder=tr(f"ex.placeholder.{problem.kind}"))
            st.form_submit_button(tr("ex.check"), type="primary", icon=":material/check:", on_click=_check,
                                  args=(problem,))
    verdict = attempts.verdict(problem, current_language())
    with st.container(key="ex_verdict"):
        if verdict is None:
            return attempts
        if verdict.ok:
            st.success(tr("ex.right", answer=attempts.last.strip(), tries=attempts.wrong + 1),
                       icon=":material/check_circle:")
        elif not verdict.read:
            st.warning(verdict.hint, icon=":material/edit_off:")
        else:
            st.error(tr("ex.wrong", answer=attempts.last.strip(), tries=attempts.wrong), icon=":material/close:")
            st.markdown(tr("ex.hint", hint=_steps(verdict.hint)))
    return attempts


def _show_me(view: ExerciseView, attempts: Attempts) -> None:
    problem = view.problem
    if not attempts.ok and not attempts.shown:
        EX_ATTEMPTS.of(attempts_key(problem)).set(replace(attempts, shown=True))  # a shown answer no longer scores
    with st.container(border=True, key="ex_show_me"):
        st.markdown(tr("ex.answer_is", answer=problem.answer_text()))
        st.markdown(_steps(problem.working(current_language())))
        if view.show_me is None:
            st.caption(tr("ex.no_page"))
        else:
            path, script = page_of(view.show_me)
            page_state.open_page_link(script, path, view.show_me, tr(f"ex.open.{problem.kind}"))


def draw(b: PageBinding, view: ExerciseView, state: ExercisesState) -> ExercisesState:
    problem = view.problem
    attempts = _attempts(problem)
    st.subheader(tr("ex.problem_title", number=view.number, total=SET_SIZE, kind=tr(f"ex.kind.{problem.kind}")))
    st.markdown(problem.prompt(current_language()))
    if view.pictures is not None:
        exercise_views.kernel_choices(problem.params, view.pictures)
    if problem.kind in ("conv_cell", "pool"):
        exercise_views.grids(problem.params, problem.window(attempts.last) if attempts.last and not attempts.ok
                             else None)
    attempts = _answer(view, attempts)
    show = st.toggle(tr("ex.show_me"), key=b.seed(f"ex_show_{attempts_key(problem)}", state.show),
                     help=tr("ex.show_me_help"))
    if show:
        _show_me(view, attempts)
    problems = problem_set(state.kind, state.seed, state.level)
    right, first = score([_attempts(p) for p in problems])
    with st.container(key="ex_score", border=True):
        st.markdown(tr("ex.score", right=right, total=SET_SIZE, first=first))
    previous, following = st.columns(2)
    previous.button(tr("ex.previous"), key="ex_previous", on_click=_step, args=(-1,), disabled=view.number == 1,
                    width="stretch", icon=":material/arrow_back:")
    following.button(tr("ex.next"), key="ex_next", on_click=_step, args=(1,), disabled=view.number == SET_SIZE,
                     width="stretch", icon=":material/arrow_forward:")
    return replace(state, show=bool(show))


def steps(b: PageBinding) -> ExercisesState:
    state = controls(b)
    state = draw(b, compute(state), state)
    with st.sidebar:
        page_state.share_link(state, help_text=tr("ex.share_help"))
    return state


guarded(run_page, Page(PAGE, ExercisesState, "ex.title", "ex.intro"), steps)
