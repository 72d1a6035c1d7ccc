"""Lessons: each tutorial number equals what cnnviz computes, every lesson opens, and its link carries its view."""
import pytest

from apptest_kit import page_state, run_page
from cnnviz.pages.lessons import LESSONS, LessonsState, compute, dense_params


@pytest.mark.parametrize("number", range(1, len(LESSONS) + 1))
def test_the_tutorials_number_is_the_apps(number):
    view = compute(LessonsState(number))
    if view.lesson.app is not None:
        assert view.app_value == view.lesson.tutorial and view.agrees


def test_the_numbers_the_issue_lists():
    tutorial = [lesson.tutorial for lesson in LESSONS]
    assert tutorial[0] == 15 and tutorial[1] == [[6, 8, 3], [12, 15, 8], [7, 12, 14]]
    assert tutorial[6] == {"max": [[6, 8], [14, 16]], "avg": [[3.5, 5.5], [11.5, 13.5]]}
    assert tutorial[4] == "28×28×6" and tutorial[5] == 760 and tutorial[7] == "7×7"
    assert dense_params(32 * 32 * 3, 28 * 28 * 10) == 24_092_320  # the fully connected layer it is compared with


def test_each_lesson_opens_and_links_to_its_page():
    app = run_page("lessons")
    for number in range(1, len(LESSONS) + 1):
        app.radio(key="lessons_pick").set_value(number).run()
        assert not app.exception
        assert page_state(app, "lessons").lesson == number and app.query_params.get("l", "1") == str(number)
        link = next(m.value for m in app.markdown if m.value.startswith("[Open this in"))
        assert f"]({LESSONS[number - 1].path}" in link
    app.radio(key="lessons_pick").set_value(1).run()
    assert "1×1 + 2×0 + 3×0" not in "".join(c.value for c in app.code)  # the lesson shows numbers, not the steps
    assert any("They agree" in s.value for s in app.success)


def test_a_lessons_link_opens_the_page_set_up_for_it():
    app = run_page("lessons", query={"l": "7"})
    link = next(m.value for m in app.markdown if m.value.startswith("[Open this in"))
    query = dict(part.split("=") for part in link.split("?")[1].rstrip(")").split("&"))
    step = run_page("step_by_step", query=query)
    assert step.code[0].value == "max(1, 2, 5, 6) = 6"


def test_next_and_previous():
    app = run_page("lessons", query={"l": "9"})
    app.button(key="lessons_next").click().run()
    assert page_state(app, "lessons").lesson == 10 and app.button(key="lessons_next").disabled
    app.button(key="lessons_previous").click().run()
    assert app.radio(key="lessons_pick").value == 9


def test_the_training_lesson_opens_each_tutorial_network_with_its_recipe():
    from cnnviz.model import TUTORIAL_PRESETS
    from cnnviz.pages.train import TrainPageState

    lesson = next(lesson for lesson in LESSONS if lesson.key == "train")
    states = [lesson.state, *(state for _, state in lesson.also)]
    assert [state.preset for state in states] == list(TUTORIAL_PRESETS)
    assert all(state == TrainPageState().with_recipe(state.preset) for state in states)
    app = run_page("lessons", query={"l": str(LESSONS.index(lesson) + 1)})
    links = [m.value for m in app.markdown if m.value.startswith("[") and "](train?" in m.value]
    assert len(links) == 3 and "Keras guide" in links[1] and "four-conv" in links[2]
    assert any("93,322 parameters" in m.value and "2,327,818" in m.value for m in app.markdown)
    for link, state in zip(links, states):
        query = dict(part.split("=") for part in link.split("?")[1].rstrip(")").split("&"))
        assert TrainPageState.from_query(query) == (state, [])
        train = run_page("train", query=query)
        assert page_state(train, "train").model_config == state.model_config
