"""Lessons: each tutorial number equals what cnnviz computes, every lesson opens, and its link carries its view."""
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from apptest_kit import page_state, run_page
from cnnviz.analysis.formulas import dense_layer_params
from cnnviz.pages.lessons import LESSON_KEYS, LESSONS, LessonsState, compute, page_of
from cnnviz.pages.train import TrainPageState
from cnnviz.ui import runs


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
    assert dense_layer_params(32 * 32 * 3, 28 * 28 * 10) == 24_092_320  # the fully connected layer it is compared with


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
    assert step.code[0].value == "max(11, 12, 15, 16) = 16"  # opened at the last window: the whole output shows


def test_next_and_previous():
    last = len(LESSONS)
    app = run_page("lessons", query={"l": str(last - 1)})
    app.button(key="lessons_next").click().run()
    assert page_state(app, "lessons").lesson == last and app.button(key="lessons_next").disabled
    app.button(key="lessons_previous").click().run()
    assert app.radio(key="lessons_pick").value == last - 1


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


def page_text(app) -> str:
    """Every word the page shows, its HTML's tags dropped."""
    parts = [element.value for kind in ("title", "markdown", "caption", "code", "success", "info", "subheader")
             for element in getattr(app, kind)]
    parts += [re.sub(r"<[^>]+>", " ", element.value) for element in app.html]
    parts += [slider.label for slider in app.select_slider]
    return "\n".join(str(part) for part in parts)


def output_grid(app) -> list[list[float]]:
    """The numbers in Step by step's output grid, row by row (empty cells: not filled in yet)."""
    html = "".join(element.value for element in app.html)
    table = re.search(r"<figcaption>Output[^<]*</figcaption><table[^>]*>(.*?)</table>", html)
    assert table, "no output grid on the page"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))
    return [[float(cell) for cell in re.findall(r"<td[^>]*>([^<]*)", row)] for row in rows]


def opened(state):
    """The page a lesson's link opens, run with the link's query as a fresh browser would."""
    _, script = page_of(state)
    return run_page(Path(script).stem, query=state.to_query())


def flat(grid) -> list[float]:
    return [float(value) for row in grid for value in row]


@pytest.mark.slow
def test_every_lessons_link_opens_a_page_showing_its_number():
    by_key = {lesson.key: lesson for lesson in LESSONS}
    # What each lesson's page shows of its number; lessons without one (training, inspecting) open cleanly.
    assert "= 15" in page_text(opened(by_key["conv"].state))
    for key in ("padding", "detectors"):
        assert flat(output_grid(opened(by_key[key].state))) == flat(by_key[key].tutorial), key
    assert "a 2×2 output" in page_text(opened(by_key["stride"].state))
    assert "**28×28×6**" in page_text(opened(by_key["rgb"].state))
    sharing = page_text(opened(by_key["sharing"].state))
    assert "3×5×5 = 75 weights + 1 bias = **76**" in sharing  # one filter's 76
    assert "N × 76 parameters" in sharing and "10 → 760" in sharing  # the lesson's ten filters
    pooling = by_key["pooling"]
    assert flat(output_grid(opened(pooling.state))) == flat(pooling.tutorial["max"])
    (_, average), = pooling.also
    assert flat(output_grid(opened(average))) == flat(pooling.tutorial["avg"])
    assert re.search(r"7 ?× ?7", page_text(opened(by_key["receptive"].state)))
    for lesson in LESSONS:
        for state in (lesson.state, *(state for _, state in lesson.also)):
            assert not opened(state).exception, lesson.key


def test_lesson_four_shows_its_25_numbers_as_a_5x5_grid():
    app = run_page("lessons", query={"l": "4"})
    tutorial = app.code[0].value
    assert tutorial.splitlines() == ["[[  5,   9,  16, -10,   4],", " [ -7,  -4,   4,  14,   2],",
                                     " [ 20, -13,  -5,   5,  -7],", " [  2,   5,  13, -12,   3],",
                                     " [ -4,   0,   7,  18,  -4]]"]
    link = next(m.value for m in app.markdown if m.value.startswith("[Open this in"))
    assert link == "[Open this in Step by step](step-by-step?at=24)"


def test_lesson_five_reproduces_28x28x6_at_32x32():
    app = opened(next(lesson for lesson in LESSONS if lesson.key == "rgb").state)
    assert app.select_slider(key="kl_working").value == 32
    text = page_text(app)
    assert "Input: `32 × 32 × 3`" in text and "Convolution: `28 × 28`" in text
    assert page_state(app, "kernel_lab").bank_open and app.query_params["bo"] == "1"


def fake_run(state, accuracy: float):
    """A finished run of ``state``'s network and training whose one final result is ``accuracy`` on the test set
    (its last epoch's live figure differs: the lesson must show the final result, as the Train page does)."""
    snapshot = SimpleNamespace(evals=(SimpleNamespace(test_accuracy=0.5), SimpleNamespace(test_accuracy=accuracy - 0.01)),
                               final=SimpleNamespace(accuracy=accuracy))
    job = SimpleNamespace(model_cfg=state.model_config, train_cfg=state.train_config, label=f"{state.preset} run",
                          finished=True, snapshot=lambda: snapshot)
    return SimpleNamespace(id="r1", job=job)


TRAIN_LESSON = str(LESSON_KEYS.index("train") + 1)


def test_the_training_lesson_compares_only_a_run_of_the_classic_recipe(monkeypatch):
    classic = TrainPageState().with_recipe("classic")
    cases = {"none": None, "default": fake_run(TrainPageState(), 0.9929), "fewer images": fake_run(
        replace(classic, subset=1000), 0.91), "classic": fake_run(replace(classic, seed=7), 0.9851)}
    for name, run in cases.items():
        monkeypatch.setattr(runs, "followed_run", lambda run=run: run)
        app = run_page("lessons", query={"l": TRAIN_LESSON})
        shown = [code.value for code in app.code]
        if name == "classic":
            assert shown == ["98.08%", "98.51%"] and any("reached 98.51%" in c.value for c in app.caption)
            assert "lessons_train_start" not in keys(app)
        else:
            assert shown == ["98.08%", "–"], name
            assert any("Train the classic network to compare" in m.value for m in app.markdown), name
            assert "lessons_train_start" in keys(app), name
            assert bool(app.info) == (run is not None), name
            if run is not None:
                assert f"({run.job.label})" in app.info[0].value and "not compared" in app.info[0].value


def keys(app) -> set[str]:
    return {button.key for button in app.button}


def test_one_click_starts_the_classic_network(monkeypatch):
    started = []
    monkeypatch.setattr(runs, "followed_run", lambda: None)
    monkeypatch.setattr(runs, "start_followed_run", started.append)
    app = run_page("lessons", query={"l": TRAIN_LESSON})
    app.button(key="lessons_train_start").click().run()
    assert not app.exception
    assert started == [LESSONS[int(TRAIN_LESSON) - 1].state]
    assert started[0].preset == "classic" and started[0].train_config.epochs == 5 and started[0].subset == 0


def test_the_causal_lesson_checks_wavenets_receptive_field_and_opens_its_view():
    lesson = next(lesson for lesson in LESSONS if lesson.key == "causal")
    assert lesson.tutorial == 16 == 1 + sum(d * (2 - 1) for d in (1, 2, 4, 8))  # 1 + Σ d_i·(k − 1)
    assert compute(LessonsState(LESSONS.index(lesson) + 1)).agrees
    app = run_page("lessons", query={"l": str(LESSONS.index(lesson) + 1)})
    link = next(m.value for m in app.markdown if m.value.startswith("[Open this in 1-D signals"))
    assert "](signals?" in link
    page = opened(lesson.state)
    assert page.code[0].value == "y[16] = w[0]·x[15] + w[1]·x[16]\n     = 0×(-1) + 1×1 = 1"  # the step, found causally
    assert "Receptive field: **16** inputs" in page_text(page)


def test_the_separable_lesson_is_mobilenets_saving():
    from fractions import Fraction

    lesson = next(lesson for lesson in LESSONS if lesson.key == "separable")
    assert lesson.tutorial == [1728, 219] and compute(LessonsState(LESSONS.index(lesson) + 1)).agrees
    standard, separable = lesson.tutorial
    # Howard et al. 2017, eq. 5: the separable pair costs 1/N + 1/D_K² of the standard layer.
    assert Fraction(separable, standard) == Fraction(1, 64) + Fraction(1, 3 * 3)


def test_the_separable_lessons_link_opens_the_kernel_lab_with_its_counts():
    lesson = next(lesson for lesson in LESSONS if lesson.key == "separable")
    app = opened(lesson.state)
    assert page_state(app, "kernel_lab") == lesson.state
    text = page_text(app)
    assert "`3×3×3×64 = 1,728`" in text and "`3×3×3 + 3×64 = 219`" in text
    assert app.number_input(key="kl_pw_rows").value == 2
