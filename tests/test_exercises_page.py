"""The Exercises page through AppTest: a seeded link, a wrong and a right answer, the score, show me, the language.

Also the page's compute: "show me" opens a page whose own computation gives the problem's answer.
"""
import numpy as np
import pytest

from apptest_kit import page_state, run_page, undeclared_transients
from cnnviz.exercises import KINDS, make, problem_set
from cnnviz.pages import exercises as page
from cnnviz.pages import signals, step
from cnnviz.pages.lessons import LESSONS, LessonsState
from cnnviz.pages.receptive_field import ReceptiveFieldState

LINK = {"kind": "param_count", "set": "3", "q": "2"}  # problem 3 of set 3: seed 32


@pytest.fixture
def at():
    return run_page("exercises", timeout=60, query=LINK)


def _problem(index=2):
    return problem_set("param_count", 3)[index]


def answer(app, text, index=2):
    key = page.attempts_key(_problem(index))
    app.text_input(key=f"ex_answer_{key}").input(text)
    next(button for button in app.button if button.label in ("Check", "检查")).click()
    return app.run()


def texts(elements) -> str:
    return "\n".join(element.value for element in elements)


def test_a_link_opens_its_problem(at):
    state = page_state(at, "exercises")
    assert (state.kind, state.seed, state.index, state.level) == ("param_count", 3, 2, 1)
    assert at.subheader[0].value == "Problem 3 of 10: Parameter count"
    assert _problem().prompt("en") in texts(at.markdown)
    assert "**Score:** 0 of 10 right, 0 at the first try" in texts(at.markdown)
    assert not at.error and not at.warning and not undeclared_transients(at)


def test_a_wrong_answer_gets_a_hint_then_a_right_one_scores(at):
    right = _problem().answer_text()
    answer(at, str(int(right) + 1))
    assert f"{int(right) + 1} is not it (wrong tries: 1)" in at.error[0].value
    hint = texts(at.markdown)
    assert "**Hint:** Each of the" in hint and f"= {right}" not in hint
    answer(at, right)
    assert at.success[0].value == f"✓ {right} is right (try 2)."
    assert "**Score:** 1 of 10 right, 0 at the first try" in texts(at.markdown)
    assert "3 ✓" in texts(at.caption)
    at.button(key="ex_next").click().run()
    assert page_state(at, "exercises").index == 3 and at.query_params["q"] == "3"
    answer(at, _problem(3).answer_text(), index=3)
    assert "**Score:** 2 of 10 right, 1 at the first try" in texts(at.markdown)


def test_an_unreadable_answer_says_what_to_type_and_is_no_try(at):
    answer(at, "twelve")
    assert "“twelve” is not a number" in at.warning[0].value and not at.error
    answer(at, "0")
    assert "wrong tries: 1" in at.error[0].value


def test_show_me_gives_the_working_and_the_link_and_stops_the_score(at):
    at.toggle(key=f"ex_show_{page.attempts_key(_problem())}").set_value(True).run()
    shown = texts(at.markdown)
    right = _problem().answer_text()
    assert f"**Answer:** {right}" in shown and f"= {right}" in shown
    assert at.query_params["show"] == "1"
    answer(at, right)
    assert "**Score:** 0 of 10 right" in texts(at.markdown)  # shown first: no score
    assert "3 ○" in texts(at.caption)


def test_chinese_from_the_link():
    app = run_page("exercises", timeout=60, query={**LINK, "lang": "zh"})
    assert app.subheader[0].value == "第 3 题（共 10 题）：参数个数"
    assert _problem().prompt("zh") in texts(app.markdown)
    answer(app, "1")
    assert "**提示：**" in texts(app.markdown)


def test_changing_the_kind_and_level_moves_the_link(at):
    at.selectbox(key="ex_kind").set_value("pool").run()
    at.radio(key="ex_level").set_value(2).run()
    assert at.query_params["kind"] == "pool" and at.query_params["level"] == "2"
    assert "| **0** |" in texts(at.markdown) and not at.code  # the input grid as a table, rows numbered


@pytest.mark.parametrize("kind", KINDS)
def test_show_me_opens_a_page_that_computes_the_same_answer(kind):
    checked = 0
    for seed in range(40):
        problem = make(kind, seed, 1 + seed % 2)
        target = page.show_me(problem)
        if target is None:
            continue
        checked += 1
        solution = problem.solution()
        if kind == "conv_cell":
            assert float(step.compute(target).walk.output.flat[target.position]) == solution
        elif kind == "pool":
            assert np.array_equal(step.compute(target).walk.output, solution)
        elif kind == "transposed_size":
            assert step.compute(target).scatter.output.shape[1] == solution
        elif kind == "output_size":
            assert isinstance(target, signals.SignalsState)
            assert len(signals.compute(target).output) == solution
        elif kind == "receptive_field":
            assert isinstance(target, ReceptiveFieldState) and target.layer == len(target.layers) - 1
        elif kind == "which_kernel":
            assert target.preset == problem.params["options"][problem.params["target"]]
            assert target.sample == problem.params["sample"]
        elif kind == "separable_count":
            assert LESSONS[target.lesson - 1].key == "separable"
        else:
            assert target == LessonsState(lesson=page.SHARING_LESSON)
            assert LESSONS[target.lesson - 1].key == "sharing"
    assert checked >= 20


def test_lesson_exercises_name_real_lessons_and_kinds():
    keys = {lesson.key for lesson in LESSONS}
    for lesson, problems in page.LESSON_EXERCISES.items():
        assert lesson in keys
        for kind, level, seed in problems:
            assert problem_set(kind, seed, level)


def test_attempts_and_score():
    problem = make("output_size", 0)
    tries = page.Attempts()
    tries = tries.after(problem.check("x"), "x")
    assert tries.wrong == 0 and tries.last == "x"
    tries = tries.after(problem.check("99"), "99").after(problem.check("3"), "3")
    assert tries.ok and tries.wrong == 1 and tries.verdict(problem, "en").ok
    assert page.score([tries, page.Attempts(), page.Attempts(ok=True), page.Attempts(ok=True, shown=True)]) == (2, 1)


def test_a_lesson_ends_with_links_into_a_fixed_set():
    number = [lesson.key for lesson in LESSONS].index("receptive") + 1
    app = run_page("lessons", timeout=60, query={"l": str(number)})
    links = texts(app.markdown)
    assert "Try it yourself:" in links
    assert "[Receptive field, level 1](exercises?kind=receptive_field&set=7)" in links
    assert "[Receptive field, level 2](exercises?kind=receptive_field&level=2&set=7)" in links


def test_a_wrong_answer_marks_the_window_it_is_about():
    app = run_page("exercises", timeout=60, query={"kind": "conv_cell", "set": "2", "q": "4"})
    problem = problem_set("conv_cell", 2)[4]
    assert ":orange-badge" not in texts(app.markdown)
    key = page.attempts_key(problem)
    app.text_input(key=f"ex_answer_{key}").input("5")
    next(button for button in app.button if button.label == "Check").click()
    app.run()
    grid = next(m.value for m in app.markdown if m.value.startswith("| |"))
    rows, cols = problem.window("5")
    assert (rows, cols) == ((1, 2), (1, 2))  # output (1, 1) of a 2×2 kernel at stride 1
    marked = [line for line in grid.splitlines() if ":orange-badge" in line]
    assert [line.split(" |")[0] for line in marked] == ["| **1**", "| **2**"]
    assert all(line.count(":orange-badge") == 2 for line in marked)
    assert "Marked: the window" in texts(app.caption)


def test_which_kernel_shows_the_image_the_map_and_numbered_choices():
    app = run_page("exercises", timeout=60, query={"kind": "which_kernel"})
    problem = problem_set("which_kernel", 1)[0]
    choices = texts(app.markdown)
    assert "1. " in choices and problem.prompt("en") in choices
    answer_key = f"ex_answer_{page.attempts_key(problem)}"
    app.text_input(key=answer_key).input(problem.answer_text())
    next(button for button in app.button if button.label == "Check").click()
    app.run()
    assert "is right" in app.success[0].value
    image, feature_map = page.kernel_pictures(problem)
    assert image.dtype == feature_map.dtype == np.uint8 and feature_map.shape[-1] == 3
