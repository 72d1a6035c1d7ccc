"""Lessons: the classic tutorial path; each lesson explains one idea and opens the page set up for it.

The page is three steps: ``controls`` (the lesson picker -> LessonsState), ``compute`` (cnnviz.pages.lessons: the
tutorial's number and the app's) and ``draw``.
"""
from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st
from streamlit.errors import StreamlitAPIException

from cnnviz.analysis import formulas
from cnnviz.errors import UserError
from cnnviz.pages.exercises import LESSON_EXERCISES, ExercisesState
from cnnviz.pages.lessons import (LESSONS, Lesson, LessonsState, LessonView, compute, is_lesson_run,
                                  page_of, training_agreement)
from cnnviz.ui import runs
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, tr, tr_error
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding

PAGE = "lessons"


def _title(number: int) -> str:
    return tr("lessons.numbered", number=number, title=tr(f"lessons.{LESSONS[number - 1].key}.title"))


def _step(delta: int) -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, lesson=min(max(1, s.lesson + delta), len(LESSONS))))


def controls(b: PageBinding) -> LessonsState:
    with st.sidebar:
        titles = {number: _title(number) for number in range(1, len(LESSONS) + 1)}  # translated now, not in AppTest
        lesson = st.radio(tr("lessons.pick"), list(titles), format_func=titles.__getitem__,
                          key=b.seed("lessons_pick", b.state.lesson))
    return replace(b.state, lesson=int(lesson))


def _matrix(rows: list[list]) -> str:
    """A grid as a tutorial prints it, one row per line with aligned columns, so 25 numbers fit a phone."""
    cells = [[json.dumps(value) for value in row] for row in rows]
    width = max(len(cell) for row in cells for cell in row)
    return "[" + ",\n ".join("[" + ", ".join(cell.rjust(width) for cell in row) + "]" for row in cells) + "]"


def _shown(value) -> str:
    if isinstance(value, dict):  # the pooling lesson's results by kind, named as the Step by step page names them
        return "\n".join(f"{tr(f'step.op.{name}')}:\n{_shown(grid)}" for name, grid in value.items())
    if isinstance(value, list) and value and isinstance(value[0], list):
        return _matrix(value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)


def _last_test_accuracy(run) -> float | None:
    """The run's one final result once it has it (as the Train page shows it), else its latest epoch's."""
    snap = run.job.snapshot()
    if snap.final is not None:
        return snap.final.accuracy
    tests = [m.test_accuracy for m in snap.evals if m.test_accuracy is not None]
    return tests[-1] if tests else None


def _training_result(lesson: Lesson, column) -> None:
    """The followed run's accuracy, if that run is the lesson's network trained with its tutorial's recipe; else
    nothing to compare, and a button that starts exactly that run."""
    run = runs.followed_run()
    if run is not None and is_lesson_run(lesson, run.job.model_cfg, run.job.train_cfg):
        accuracy = training_agreement(_last_test_accuracy(run))
        column.code(accuracy, language=None)
        st.caption(tr("lessons.run_result", accuracy=accuracy))
        return
    column.code("–", language=None)
    if run is not None:
        st.info(tr("lessons.train.other_run", label=run.job.label), icon=":material/compare_arrows:")
    st.markdown(tr("lessons.train.to_compare"))
    if st.button(tr("lessons.train.start"), key="lessons_train_start", type="primary", icon=":material/play_arrow:",
                 help=tr("lessons.train.start_replaces") if run is not None and not run.job.finished else None):
        try:
            runs.start_followed_run(lesson.state)
        except UserError as error:  # this browser already trains another run
            st.error(tr_error(error), icon=":material/block:")
            return
        try:
            st.switch_page(lesson.page_file)
        except StreamlitAPIException:  # a page script run on its own (AppTest) has no Train page to switch to
            st.success(tr("lessons.train.started"), icon=":material/play_arrow:")


def _exercises(lesson: Lesson) -> None:
    """Links into the Exercises page, each a fixed set, so a class that ends the lesson gets the same problems."""
    problems = LESSON_EXERCISES.get(lesson.key, ())
    if not problems:
        return
    with st.container(key="lessons_exercises"):
        st.markdown(tr("ex.lesson_try"))
        for kind, level, seed in problems:
            page_state.open_page_link("cnnviz/ui/exercises.py", "exercises",
                                      ExercisesState(kind=kind, level=level, seed=seed),
                                      tr("ex.lesson_problem", kind=tr(f"ex.kind.{kind}"), level=level),
                                      icon=":material/quiz:")


def draw(view: LessonView) -> None:
    lesson = view.lesson
    st.subheader(_title(view.number))
    st.markdown(tr(f"lessons.{lesson.key}.text", dense=f"{formulas.dense_layer_params(32 * 32 * 3, 28 * 28 * 10):,}"))
    with st.container(border=True, key="lessons_numbers"):
        if lesson.tutorial is None:
            st.caption(tr("lessons.no_number"))
        else:
            left, right = st.columns(2)
            left.markdown(f"**{tr('lessons.tutorial')}**")
            left.code(_shown(lesson.tutorial), language=None)
            right.markdown(f"**{tr('lessons.app')}**")
            if lesson.app is None:
                _training_result(lesson, right)
            else:
                right.code(_shown(view.app_value), language=None)
                if view.agrees:
                    st.success(tr("lessons.agree"), icon=":material/check_circle:")
                else:
                    st.error(tr("lessons.disagree"), icon=":material/error:")
    page_state.open_page_link(lesson.page_file, lesson.path, lesson.state,
                              tr("lessons.open", page=tr(f"lessons.page.{lesson.path}")))
    if lesson.also:
        st.markdown(tr(f"lessons.{lesson.key}.also"))
    for label, state in lesson.also:
        page_state.open_page_link(page_of(state)[1], page_of(state)[0], state, tr(label))
    _exercises(lesson)
    previous, following = st.columns(2)
    previous.button(tr("lessons.previous"), key="lessons_previous", on_click=_step, args=(-1,),
                    disabled=view.number == 1, width="stretch", icon=":material/arrow_back:")
    following.button(tr("lessons.next"), key="lessons_next", on_click=_step, args=(1,),
                     disabled=view.number == len(LESSONS), width="stretch", icon=":material/arrow_forward:")


def steps(b: PageBinding) -> LessonsState:
    state = controls(b)
    draw(compute(state))
    with st.sidebar:
        page_state.share_link(state)
    return state


guarded(run_page, Page(PAGE, LessonsState, "lessons.title", "lessons.intro"), steps)
