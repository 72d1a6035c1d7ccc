"""Lessons: the classic tutorial path; each lesson explains one idea and opens the page set up for it.

The page is three steps: ``controls`` (the lesson picker -> LessonsState), ``compute`` (cnnviz.pages.lessons: the
tutorial's number and the app's) and ``draw``.
"""
from __future__ import annotations

import json
from dataclasses import replace

import streamlit as st

from cnnviz.pages.lessons import LESSONS, LessonsState, LessonView, compute, dense_params, training_agreement
from cnnviz.ui import session
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, page_header, tr
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


def _shown(value) -> str:
    if isinstance(value, dict):  # the pooling lesson's results by kind, named as the Step by step page names them
        return "\n".join(f"{tr(f'step.op.{name}')}: {json.dumps(grid)}" for name, grid in value.items())
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)


def _run_accuracy() -> str:
    """The test accuracy of the run the Train page follows, if it has one."""
    train_state = page_state.stored(session.TRAIN_PAGE)
    run = session.find_run(train_state.run) if train_state is not None else None
    snap = run.job.snapshot() if run else None
    tests = [m.test_accuracy for m in snap.evals if m.test_accuracy is not None] if snap else []
    if snap is not None and snap.final is not None:  # the run's one result, as the Train page shows it
        tests.append(snap.final.accuracy)
    return training_agreement(tests[-1] if tests else None)


def draw(view: LessonView) -> None:
    lesson = view.lesson
    st.subheader(_title(view.number))
    st.markdown(tr(f"lessons.{lesson.key}.text", dense=f"{dense_params(32 * 32 * 3, 28 * 28 * 10):,}"))
    with st.container(border=True, key="lessons_numbers"):
        if lesson.tutorial is None:
            st.caption(tr("lessons.no_number"))
        else:
            left, right = st.columns(2)
            left.markdown(f"**{tr('lessons.tutorial')}**")
            left.code(_shown(lesson.tutorial), language=None)
            right.markdown(f"**{tr('lessons.app')}**")
            if lesson.app is None:
                right.code(_run_accuracy(), language=None)
                st.caption(tr("lessons.run_result", accuracy=_run_accuracy()))
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
        page_state.open_page_link(lesson.page_file, lesson.path, state, tr(label))
    previous, following = st.columns(2)
    previous.button(tr("lessons.previous"), key="lessons_previous", on_click=_step, args=(-1,),
                    disabled=view.number == 1, width="stretch", icon=":material/arrow_back:")
    following.button(tr("lessons.next"), key="lessons_next", on_click=_step, args=(1,),
                     disabled=view.number == len(LESSONS), width="stretch", icon=":material/arrow_forward:")


def render() -> None:
    b = page_state.bind(PAGE, LessonsState)
    page_header("lessons.title", "lessons.intro")
    b.warn_ignored()
    state = controls(b)
    draw(compute(state))
    with st.sidebar:
        page_state.share_link(state)
    b.publish(state)


guarded(render)
