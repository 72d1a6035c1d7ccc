"""The Class page in AppTest: a lecturer opens a class, students join, answer the pushed question in the banner
that every page draws, the lecturer's count is exact, names stay hidden until asked for, and Reveal reaches all.

AppTest runs every session in this process, so the sessions below share the one class store of the server, as
browsers of one embedded server do. AppTest never fires a fragment's timer: each poll is a rerun here.
"""
import re
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from apptest_kit import run_page
from cnnviz.pages.class_room import (ClassState, answer_bars, exercise_question, join_link, predict_question,
                                     projector_link, question_text)
from cnnviz.classroom import PREDICT, Question, projector_id

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SEAT = "_transient_class_seat"  # where cnnviz.ui.state keeps the joined seat (CLASS_SEAT)


def htmls(app: AppTest) -> str:
    return " ".join(h.proto.body for h in app.get("html"))


def texts(app: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "error", "warning", "info", "subheader")
             for e in getattr(app, kind)]
    return " ".join(str(part) for part in parts)


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def open_class() -> tuple[AppTest, str]:
    lecturer = run_page("class_room")
    lecturer.button(key="class_open").click().run()
    assert not lecturer.exception and lecturer.query_params["key"]
    code = re.search(r'class="cv-code">([A-Z]{6})<', htmls(lecturer)).group(1)
    return lecturer, code


def join(code: str, name: str, *, lang: str = "") -> AppTest:
    student = run_page("class_room", query={"code": code.lower(), **({"lang": lang} if lang else {})})
    assert student.text_input(key="class_code_input").value == code  # the link's code fills the form
    student.text_input(key="class_name_input").set_value(name)
    button(student, "加入" if lang == "zh" else "Join").click().run()
    assert not student.exception and student.query_params["t"]
    return student


def push(lecturer: AppTest, prompt: str, choices: str = "") -> None:
    lecturer.text_area(key="class_prompt").set_value(prompt)
    lecturer.text_area(key="class_choices_text").set_value(choices)
    button(lecturer, "Push to every student").click().run()
    assert not lecturer.exception


def counted(lecturer: AppTest) -> tuple[int, int, dict[str, int]]:
    """The live panel's numbers: answered, students, and the bars (answer -> count)."""
    text = htmls(lecturer.run())
    answered, students = map(int, re.search(r'data-answered="(\d+)" data-students="(\d+)"', text).groups())
    bars = re.findall(r'data-answer="([^"]*)">.*?data-count="(\d+)"', text)
    return answered, students, {answer: int(count) for answer, count in bars}


def test_the_loop_join_push_answer_count_reveal():
    lecturer, code = open_class()
    students = [join(code, name) for name in ("Ann", "<b>Bo</b>", "Cy")] + [join(code, "Dee", lang="zh")]
    assert "Waiting for the lecturer's question" in texts(students[0])
    assert "No question yet" in texts(lecturer.run())
    push(lecturer, "Output size of 5x5, k=3, stride 2?", "1\n2\n3")
    assert counted(lecturer) == (0, 4, {})
    for student, choice in zip(students[:3], (1, 1, 2)):
        student.run()
        assert "Output size of 5x5, k=3, stride 2?" in texts(student)
        student.button(key=f"class_choice_{choice}").click().run()
        assert not student.exception
        assert "Your answer: 2" in texts(student) or "Your answer: 3" in texts(student)
    assert counted(lecturer) == (3, 4, {"2": 2, "3": 1})
    assert "Bo" not in htmls(lecturer) and "Ann" not in htmls(lecturer)  # names stay off the projector
    lecturer.checkbox(key="class_names").check().run()
    shown = htmls(lecturer)
    assert "<td>Ann</td><td>2</td>" in shown and "&lt;b&gt;Bo&lt;/b&gt;" in shown and "<b>Bo</b>" not in shown
    assert lecturer.query_params["names"] == "1"
    students[0].button(key="class_choice_0").click().run()  # a change of mind replaces the answer
    assert counted(lecturer) == (3, 4, {"1": 1, "2": 1, "3": 1})
    lecturer.selectbox(key="class_right_q1").set_value("2")
    button(lecturer, "Reveal").click().run()
    assert "Answer: 2" in texts(lecturer)
    assert 'class="cv-answer cv-right" data-answer="2"' in htmls(lecturer)  # the right bar, marked
    for student in students:
        student.run()
    assert "Answer: 2" in texts(students[1]) and "Your answer: 2" in texts(students[1])
    assert "答案：2" in texts(students[3]) and "你的答案：未作答" in texts(students[3])
    assert not any((b.key or "").startswith("class_choice") for b in students[0].button)  # answers closed


def test_a_typed_answer_is_counted_as_one_number():
    lecturer, code = open_class()
    ann, bo = join(code, "Ann"), join(code, "Bo")
    push(lecturer, "Receptive field of two 3x3 layers?")
    for student, typed in ((ann, " 5 "), (bo, "5.0")):
        student.run()
        student.text_input(key="class_answer_q1").set_value(typed)
        button(student, "Send").click().run()
        assert not student.exception
    assert counted(lecturer) == (2, 2, {"5": 2})


def test_a_refused_answer_is_said_in_the_banner():
    lecturer, code = open_class()
    ann = join(code, "Ann")
    push(lecturer, "First?", "a\nb")
    ann.run()
    push(lecturer, "Second?", "c\nd")
    ann.button(key="class_choice_0").click().run()  # the button of the first question, clicked after the push
    assert not ann.exception
    assert "the lecturer has moved on" in " ".join(w.value for w in ann.warning)
    assert counted(lecturer) == (0, 1, {})


def test_the_banner_is_on_every_page(monkeypatch):
    lecturer, code = open_class()
    token = join(code, "Ann").query_params["t"]
    push(lecturer, "Look at the Kernel Lab: what does this kernel find?", "edges\nblobs")
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[SEAT] = token
    app.run()
    assert not app.exception
    assert "what does this kernel find?" in texts(app)
    app.button(key="class_choice_0").click().run()
    assert counted(lecturer) == (1, 1, {"edges": 1})
    app.switch_page("cnnviz/ui/step_by_step.py").run()
    assert not app.exception and "Your answer: edges" in texts(app)
    assert "t" not in app.query_params  # the seat never rides in another page's link


def test_store_errors_are_messages_not_tracebacks():
    wrong = run_page("class_room", query={"key": "not-a-key"})
    assert "does not control a class" in texts(wrong) and wrong.button(key="class_open")
    nobody = run_page("class_room", query={"code": "ACDEFH"})
    nobody.text_input(key="class_name_input").set_value("Ann")
    button(nobody, "Join").click().run()
    assert not nobody.exception and "No class has the code" in texts(nobody)
    lecturer, code = open_class()
    lecturer.text_input(key="class_link").set_value("https://elsewhere.example/")
    button(lecturer, "Push to every student").click().run()
    assert not lecturer.exception and "must be a path in cnnviz" in texts(lecturer)
    gone = run_page("class_room", query={"t": "a-seat-of-a-class-that-ended"})
    assert not gone.exception and "no longer in this class" in texts(gone)


def test_a_student_can_leave_and_the_banner_goes():
    lecturer, code = open_class()
    ann = join(code, "Ann")
    ann.button(key="class_banner_leave").click().run()
    assert not ann.exception and "t" not in ann.query_params
    assert f"Class {code}" in texts(join(code, "Bo"))  # the banner, as a joined student sees it
    assert f"Class {code}" not in texts(ann) and ann.text_input(key="class_name_input").value == ""


def test_the_leaderboard_lists_registered_runs_with_watch_links():
    from cnnviz.ui.class_banner import class_store

    lecturer, code = open_class()
    token = join(code, "Ann").query_params["t"]
    class_store().register_run(token, "watch-id-of-a-finished-run")
    lecturer.run()
    assert "**Ann** · run ended" in texts(lecturer)
    assert "(train?watch=watch-id-of-a-finished-run)" in texts(lecturer)  # the page alone: a plain link


def test_chinese_lecturer_view():
    lecturer = run_page("class_room", query={"lang": "zh"})
    assert lecturer.title[0].value == "课堂"
    lecturer.button(key="class_open").click().run()
    assert "用这个代码加入课堂" in texts(lecturer) and not lecturer.exception


# --- the page's pure steps ---------------------------------------------------------------------------------------

def test_state_round_trips_and_refuses_what_is_not_a_secret():
    state = ClassState(key="K-ey_1", token="", code="ACDEFH", names=True)
    assert ClassState.from_query(state.to_query()) == (state, [])
    assert state.to_query() == {"key": "K-ey_1", "code": "ACDEFH", "names": "1"}
    assert ClassState.from_query({"key": "<script>", "code": "BIG"}) == (ClassState(), ["key=<script>", "code=BIG"])
    assert (ClassState(key="k").role, ClassState(token="t").role, ClassState(code="ACDEFH").role) == \
        ("lecturer", "student", "visitor")
    assert (ClassState(view="w", token="t").role, ClassState(key="k", view="w").role) == ("projector", "lecturer")
    assert ClassState.from_query({"view": "Wall-id_1"}) == (ClassState(view="Wall-id_1"), [])


def test_join_and_projector_links_drop_the_lecturer_key():
    assert join_link("http://hall:8501/class?key=SECRET&lang=zh", "ACDEFH") == "http://hall:8501/class?code=ACDEFH"
    assert projector_link("http://hall:8501/class?key=SECRET&lang=zh", "W", "en") == \
        "http://hall:8501/class?view=W&present=1"
    assert join_link("http://hall:8501/", "ACDEFH") == "http://hall:8501/class?code=ACDEFH"
    assert join_link("", "ACDEFH") == "/class?code=ACDEFH"


def test_questions_and_bars():
    assert predict_question("Which?", "", "") == {"kind": PREDICT, "prompt": "Which?", "choices": []}
    assert exercise_question("output_size", 7, 2) == {"kind": "output_size", "seed": 7, "level": 2}
    assert question_text(Question("q1", PREDICT, prompt="Guess"), "zh") == "Guess"
    assert answer_bars((("a", 3),), 0) == [("a", 3, 0)]
    assert [bar.percent for bar in answer_bars((("a", 2), ("b", 1)), 3)] == [67, 33]


def test_an_exercise_is_asked_in_words_checked_by_cnnviz_and_its_working_revealed():
    from cnnviz.exercises import make

    problem = make("output_size", 7, 2)  # what every student gets from the same kind, seed and level
    lecturer, code = open_class()
    ann, dee = join(code, "Ann"), join(code, "Dee", lang="zh")
    lecturer.selectbox(key="class_ex_kind").set_value("output_size")
    lecturer.segmented_control(key="class_ex_level").set_value(2)
    lecturer.number_input(key="class_ex_seed").set_value(7)
    button(lecturer, "Push this exercise").click().run()
    assert not lecturer.exception and problem.prompt("en") in texts(lecturer)
    ann.run(), dee.run()
    assert problem.prompt("en") in texts(ann) and problem.prompt("zh") in texts(dee)
    right = problem.answer_text()
    wrong = str(int(right) + 1)
    for student, typed in ((ann, right), (dee, wrong)):
        student.text_input(key="class_answer_q1").set_value(typed)
        button(student, "提交" if student is dee else "Send").click().run()
        assert not student.exception
    assert counted(lecturer) == (2, 2, {right: 1, wrong: 1})
    assert lecturer.text_input(key="class_right_q1").value == right  # cnnviz solved it: the lecturer confirms
    button(lecturer, "Reveal").click().run()
    ann.run(), dee.run()
    assert f"Answer: {right}" in texts(ann) and [c.value for c in lecturer.code] == [problem.working("en")]
    assert [c.value for c in ann.code] == [problem.working("en")] and [c.value for c in dee.code] == [
        problem.working("zh")]  # the calculation, in each student's language


def test_every_exercise_is_offered_and_grids_and_pictures_come_with_their_question():
    from cnnviz.exercises import KINDS, make
    from cnnviz.i18n import t
    from cnnviz.pages.class_room import CLASS_EXERCISES, GRID_EXERCISES, PICTURE_EXERCISES
    from cnnviz.ui.exercise_views import grid_table

    assert set(CLASS_EXERCISES) == set(KINDS) and {"conv_cell", "pool", "which_kernel"} <= set(
        GRID_EXERCISES + PICTURE_EXERCISES)
    lecturer, code = open_class()
    key = lecturer.query_params["key"]
    ann, dee = join(code, "Ann"), join(code, "Dee", lang="zh")
    pool = make("pool", 1, 1)
    push_exercise(lecturer, "pool", 1)
    ann.run(), dee.run()
    for app in (ann, dee, lecturer):
        assert grid_table(pool.params["input"]) in texts(app)  # the grid is part of the question, everywhere
    right = pool.answer_text()  # "[[8, 9], [6, 9]]"
    for student, typed in ((ann, right.replace("], [", "; ").strip("[]").replace(",", " ")), (dee, right)):
        student.text_input(key="class_answer_q1").set_value(typed)
        button(student, "提交" if student is dee else "Send").click().run()
        assert not student.exception
    assert counted(lecturer) == (2, 2, {right: 2})  # typed two ways, one bar: the right one
    kernel = make("which_kernel", 4, 1)
    push_exercise(lecturer, "which_kernel", 4)
    ann.run()
    assert captions(ann) == [t(f"samples.{kernel.params['sample']}", "en"), t("ex.feature_map", "en")]
    assert [b.label for b in ann.button if (b.key or "").startswith("class_choice_")] == [
        str(number) for number in range(1, len(kernel.params["options"]) + 1)]
    ann.button(key=f"class_choice_{kernel.params['target']}").click().run()
    assert counted(lecturer) == (1, 2, {kernel.answer_text(): 1})
    wall = run_page("class_room", query={"view": projector_id(key)})
    first = kernel.params["options"][0]
    assert f"1. {t(f'kernels.{first}.name', 'en')}" in texts(wall)
    assert captions(wall)[-2:] == captions(ann)  # the QR code, then the problem's two pictures


def push_exercise(lecturer: AppTest, kind: str, seed: int) -> None:
    lecturer.selectbox(key="class_ex_kind").set_value(kind)
    lecturer.number_input(key="class_ex_seed").set_value(seed)
    button(lecturer, "Push this exercise").click().run()
    assert not lecturer.exception


def captions(app: AppTest) -> list[str]:
    return [image.caption for element in app.get("image") for image in element.proto.imgs]


def test_the_module_examples_run():
    import doctest

    import cnnviz.pages.class_room

    assert doctest.testmod(cnnviz.pages.class_room).failed == 0


def test_a_run_a_student_starts_reaches_the_leaderboard():
    from cnnviz.ui import runs

    lecturer, code = open_class()
    token = join(code, "Ann").query_params["t"]
    train = AppTest.from_file(str(Path(APP).parent / "cnnviz" / "ui" / "train.py"), default_timeout=120)
    train.session_state[SEAT] = token
    train.run()
    train.selectbox(key="train_preset").set_value("tiny").run()
    train.select_slider(key="train_subset").set_value(1000).run()
    train.number_input(key="train_epochs").set_value(1).run()
    train.button(key="train_start").click().run()
    assert not train.exception
    try:
        lecturer.run()
        board = texts(lecturer)
        assert "**Ann** · " in board and "run ended" not in board  # the network's label, from the live run
        assert "(train?watch=" in board
    finally:
        train.button(key="train_stop").click().run()
        job = runs.registry().get(train.session_state["_page_state_train"].run).job
        deadline = time.monotonic() + 120
        while not job.finished and time.monotonic() < deadline:  # no training thread outlives the test
            time.sleep(0.2)


def test_presenting_can_hide_the_question_form():
    lecturer, code = open_class()
    lecturer.query_params["present"] = "1"
    lecturer.query_params["hide"] = "compose"
    lecturer.run()
    assert not lecturer.exception
    assert ".st-key-section_compose { display: none; }" in htmls(lecturer)
    assert lecturer.query_params["key"] and lecturer.multiselect(key="hide").value == ["compose"]


# --- a seat kept by the tab: a reload on any page, and leaving --------------------------------------------------

TAB_SENT_SEAT = "_transient_class_tab_seat_sent"  # what the tab's memory (cnnviz.ui.tab_memory) sends after a reload


def tab_memory(app: AppTest) -> dict[str, str]:
    """What the page tells the tab's memory of the seat: keep ``value``, forget ``gone``."""
    import json

    return json.loads(next(e for e in app.get("bidi_component") if e.proto.component_name == "cnnviz.class_seat")
                      .proto.json)


def reloaded(page: str, sent: str = "") -> AppTest:
    """A reload of ``page`` (a new session), to which the tab's memory (JavaScript that AppTest cannot run) has sent
    back the seat it kept."""
    app = AppTest.from_file(str(Path(APP).parent / "cnnviz" / "ui" / f"{page}.py"), default_timeout=60)
    if sent:
        app.session_state[TAB_SENT_SEAT] = sent
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_reload_on_any_page_keeps_the_seat_the_tab_kept():
    lecturer, code = open_class()
    ann = join(code, "Ann")
    token = ann.query_params["t"]
    assert tab_memory(ann) == {"value": token, "gone": ""}  # the tab is told to keep the seat, never a key
    assert tab_memory(lecturer) == {"value": "", "gone": ""}
    push(lecturer, "Which kernel finds edges?", "sobel\nblur")
    step = reloaded("step_by_step", token)
    assert f"Class {code} · Ann" in texts(step) and "Which kernel finds edges?" in texts(step)
    assert "t" not in step.query_params and tab_memory(step) == {"value": token, "gone": ""}
    step.button(key="class_choice_0").click().run()
    assert counted(lecturer) == (1, 1, {"sobel": 1})
    assert f"Class {code}" not in texts(reloaded("step_by_step"))  # a tab that kept nothing: no banner


def test_leaving_from_the_banner_forgets_the_seat_on_every_page():
    lecturer, code = open_class()
    token = join(code, "Ann").query_params["t"]
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[TAB_SENT_SEAT] = token
    app.run()
    app.switch_page("cnnviz/ui/class_room.py").run()
    assert not app.exception and "explore any page" in texts(app)  # the Class page knows the seat too
    app.switch_page("cnnviz/ui/step_by_step.py").run()
    app.button(key="class_banner_leave").click().run()
    assert not app.exception and f"Class {code}" not in texts(app)
    assert tab_memory(app) == {"value": "", "gone": token}  # the tab forgets it: a reload finds no seat
    app.switch_page("cnnviz/ui/class_room.py").run()  # back through the sidebar: the join form, not the seat
    assert not app.exception and app.text_input(key="class_name_input") and "t" not in app.query_params


def test_a_kept_seat_whose_class_ended_is_forgotten():
    from cnnviz.ui.class_banner import class_store

    lecturer, code = open_class()
    token = join(code, "Ann").query_params["t"]
    class_store().close_class(lecturer.query_params["key"])
    app = reloaded("kernel_lab", token)
    assert f"Class {code}" not in texts(app) and not app.error
    assert tab_memory(app) == {"value": "", "gone": token}


# --- the projector link: the room, live and read-only ------------------------------------------------------------

def projector_url(lecturer: AppTest) -> str:
    return next(e for e in lecturer.get("link_button") if e.proto.label == "Projector link").proto.url


def controls(app: AppTest) -> list[str]:
    """The keys of every class control on the page (the sidebar's language and presentation settings aside)."""
    kinds = ("button", "text_input", "text_area", "selectbox", "checkbox", "number_input", "segmented_control")
    return [e.key for kind in kinds for e in getattr(app, kind) if (e.key or "").startswith("class_")]


def test_the_projector_link_shows_the_room_live_without_controls_names_or_key():
    from cnnviz.ui.class_banner import class_store

    lecturer, code = open_class()
    key = lecturer.query_params["key"]
    url = projector_url(lecturer)
    view = re.fullmatch(r"/class\?view=([A-Za-z0-9_-]+)&present=1", url).group(1)
    assert key not in url and "Projector link" in [e.proto.label for e in lecturer.get("link_button")]
    ann, bo = join(code, "Ann"), join(code, "<b>Bo</b>")
    wall = run_page("class_room", query={"view": view})
    assert f'class="cv-code">{code}<' in htmls(wall) and 'data-students="2"' in htmls(wall)
    assert "Join now" in texts(wall) and controls(wall) == [] and not wall.get("form")
    push(lecturer, "Output size of 5x5, k=3, stride 2?", "1\n2\n3")
    ann.run().button(key="class_choice_1").click().run()
    bo.run().button(key="class_choice_2").click().run()
    wall.run()  # a poll of the projector's fragment
    assert "Output size of 5x5, k=3, stride 2?" in texts(wall)
    assert re.search(r'data-answered="2" data-students="2"', htmls(wall)) and 'data-answer="3"' in htmls(wall)
    lecturer.checkbox(key="class_names").check().run()  # the lecturer's own screen shows names ...
    wall.run()
    page = htmls(wall) + texts(wall) + str(dict(wall.query_params))
    assert "Ann" not in page and "Bo" not in page and key not in page  # ... the wall never, nor the key
    assert controls(wall) == [] and not wall.get("form")
    lecturer.selectbox(key="class_right_q1").set_value("2")
    button(lecturer, "Reveal").click().run()
    class_store().register_run(ann.query_params["t"], "watch-id-of-a-finished-run")
    wall.run()
    assert "Answer: 2" in texts(wall) and 'class="cv-answer cv-right" data-answer="2"' in htmls(wall)
    assert "**Run 1** · run ended" in texts(wall) and "Ann" not in texts(wall)
    assert "does not control a class" in texts(run_page("class_room", query={"key": view}))  # no key in disguise


def test_the_projector_in_chinese_and_after_the_class():
    from cnnviz.ui.class_banner import class_store

    lecturer = run_page("class_room", query={"lang": "zh"})
    lecturer.button(key="class_open").click().run()
    url = next(e for e in lecturer.get("link_button") if e.proto.label == "投影链接").proto.url
    assert url.endswith("&lang=zh")
    view = re.search(r"view=([A-Za-z0-9_-]+)", url).group(1)
    wall = run_page("class_room", query={"view": view, "lang": "zh"})
    assert "现在就加入" in texts(wall) and "用这个代码加入课堂" in texts(wall)
    class_store().close_class(lecturer.query_params["key"])
    gone = run_page("class_room", query={"view": view})
    assert not gone.exception and "This projector link shows no class" in texts(gone) and controls(gone) == []
