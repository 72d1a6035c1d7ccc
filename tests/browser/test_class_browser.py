"""The class loop in Chromium: a lecturer at a projector's 1280x720 and three students on phones (390x844, one in
Chinese) open, join, answer a pushed question in the banner, and the lecturer's count reaches exactly three with
the right bars; Reveal reaches every student. Every wait is for a change the page shows, with a deadline.

The same loop runs in shared mode: two replicas on one Redis, the lecturer on one and the students spread over both.

Set CNNVIZ_CLASS_SHOTS to a folder to keep the lecturer's and a student's screenshots (the README's).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from browser_kit import assert_no_exception, choose, open_page, query, sidebar_nav, wait_idle

LECTURER = {"width": 1280, "height": 720}  # a projector
PHONE = {"width": 390, "height": 844}  # a student's phone
POLL_DEADLINE_MS = 20_000  # a polled view follows the store within seconds; this allows a busy test machine
STUDENTS = (("Ann", "en", "2"), ("<b>Bo</b>", "en", "2"), ("李雷", "zh", "3"))  # name, language, answer
CHOICES = ("1", "2", "3")
BANNER = ".st-key-class_banner"
# Anything a viewer could act on, but the picture's own full-screen button (the QR code, bigger) and the exit from
# presentation mode (the projector's own display, as on every page).
CONTROLS = ("button:not([kind=elementToolbar]):not(.st-key-present_exit button), input, textarea, [role=combobox], "
            "[role=checkbox]")
TAB_SEAT = "cnnviz.class.seat"  # the tab's memory of its seat (cnnviz.ui.class_banner)


def _context(browser, viewport):
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def _count_is(page, answered: int, students: int) -> None:
    page.wait_for_selector(f'.cv-count[data-answered="{answered}"][data-students="{students}"]',
                           timeout=POLL_DEADLINE_MS)


def _bars(page) -> dict[str, int]:
    return page.evaluate("""() => {
        const cells = [...document.querySelectorAll('.cv-bars > div')];
        const bars = {};
        for (let i = 0; i + 2 < cells.length; i += 3) bars[cells[i].dataset.answer] = +cells[i + 2].dataset.count;
        return bars; }""")


def open_class(page, base_url: str) -> str:
    """Open a class from the Class page as a lecturer does; the join code shown."""
    open_page(page, base_url, "class")
    page.get_by_text("Teaching? Open a class").click()
    page.locator(".st-key-class_open button").click()
    page.wait_for_selector(".cv-code")
    wait_idle(page)
    assert "key=" in page.url
    return page.locator(".cv-code").inner_text().strip()


def join_class(page, base_url: str, code: str, name: str, language: str) -> None:
    open_page(page, base_url, f"class?code={code}" + ("&lang=zh" if language == "zh" else ""))
    page.locator(".st-key-class_name_input input").fill(name)
    page.get_by_role("button", name="加入" if language == "zh" else "Join", exact=True).click()
    page.wait_for_selector(BANNER, timeout=POLL_DEADLINE_MS)
    assert "t=" in page.url and "key=" not in page.url


def push_question(page, prompt: str, choices: tuple[str, ...]) -> None:
    page.locator(".st-key-class_prompt textarea").fill(prompt)
    page.locator(".st-key-class_choices_text textarea").fill("\n".join(choices))
    page.get_by_role("button", name="Push to every student").click()
    wait_idle(page)


def class_loop(browser, lecturer_url: str, student_urls: list[str], shots: Path | None = None) -> None:
    """The whole loop: the lecturer on ``lecturer_url``, student i on ``student_urls[i]`` (one server, or replicas)."""
    contexts = []
    try:
        context, lecturer = _context(browser, LECTURER)
        contexts.append(context)
        code = open_class(lecturer, lecturer_url)
        assert len(code) == 6 and lecturer.locator(".st-key-class_code img").count() == 1  # the QR code
        students = []
        for (name, language, _), url in zip(STUDENTS, student_urls):
            context, page = _context(browser, PHONE)
            contexts.append(context)
            join_class(page, url, code, name, language)
            students.append(page)
        push_question(lecturer, "Output size of a 5x5 input, 3x3 kernel, stride 2?", CHOICES)
        _count_is(lecturer, 0, len(students))
        for page, (_, _, answer) in zip(students, STUDENTS):
            choice = page.locator(f".st-key-class_choice_{CHOICES.index(answer)} button")
            choice.wait_for(timeout=POLL_DEADLINE_MS)  # the pushed question reaches the phone by its poll
            choice.click()
            page.wait_for_function("t => document.querySelector('.st-key-class_banner').innerText.includes(t)",
                                   arg=answer, timeout=POLL_DEADLINE_MS)
        _count_is(lecturer, 3, 3)
        assert _bars(lecturer) == {"2": 2, "3": 1}
        text = lecturer.locator("[data-testid=stMain]").inner_text()
        assert "Ann" not in text and "Bo" not in text  # names stay off the projector
        if shots is not None:
            lecturer.screenshot(path=str(shots / "class_lecturer.png"))
            students[0].screenshot(path=str(shots / "class_student.png"))
        lecturer.get_by_text("Show names").click()
        lecturer.wait_for_selector(".cv-names", timeout=POLL_DEADLINE_MS)
        names = lecturer.locator(".cv-names").inner_text()
        assert "<b>Bo</b>" in names and "李雷" in names  # escaped: shown as typed, never as markup
        choose(lecturer, "class_right_q1", "2")
        lecturer.get_by_role("button", name="Reveal").click()
        wait_idle(lecturer)
        for page, (_, language, _) in zip(students, STUDENTS):
            revealed = "答案：2" if language == "zh" else "Answer: 2"
            page.wait_for_function("t => document.querySelector('.st-key-class_banner').innerText.includes(t)",
                                   arg=revealed, timeout=POLL_DEADLINE_MS)
            assert page.locator(".st-key-class_choice_0").count() == 0  # answers closed
        for page in [lecturer, *students]:
            assert_no_exception(page)
    finally:
        for context in contexts:
            context.close()


def test_class_loop_embedded(browser, app_url):
    shots = os.environ.get("CNNVIZ_CLASS_SHOTS")
    class_loop(browser, app_url, [app_url] * len(STUDENTS), Path(shots) if shots else None)


def test_the_banner_follows_a_student_to_another_page(browser, app_url):
    context, lecturer = _context(browser, LECTURER)
    student_context, student = _context(browser, LECTURER)  # a laptop: the sidebar's page list is open
    try:
        code = open_class(lecturer, app_url)
        join_class(student, app_url, code, "Ann", "en")
        sidebar_nav(student, "Step by step")
        push_question(lecturer, "What does this kernel find?", ("edges", "blobs"))
        student.locator(".st-key-class_choice_0 button").click(timeout=POLL_DEADLINE_MS)
        _count_is(lecturer, 1, 1)
        assert "t=" not in student.url  # the seat stays out of this page's link
    finally:
        context.close()
        student_context.close()


def test_a_reload_keeps_the_seat_until_the_student_leaves(browser, app_url):
    context, lecturer = _context(browser, LECTURER)
    student_context, student = _context(browser, PHONE)
    try:
        code = open_class(lecturer, app_url)
        join_class(student, app_url, code, "Ann", "en")
        token = query(student)["t"]
        assert student.evaluate(f"window.sessionStorage.getItem({TAB_SEAT!r})") == token
        assert lecturer.evaluate(f"window.sessionStorage.getItem({TAB_SEAT!r})") is None  # never the lecturer key
        push_question(lecturer, "What does this kernel find?", ("edges", "blobs"))
        open_page(student, app_url, "step-by-step")  # an address typed in the tab: a new server session
        student.locator(".st-key-class_choice_0 button").click(timeout=POLL_DEADLINE_MS)  # the seat is back
        _count_is(lecturer, 1, 1)
        student.reload()
        student.wait_for_function("t => document.querySelector('.st-key-class_banner')?.innerText.includes(t)",
                                  arg="Your answer: edges", timeout=POLL_DEADLINE_MS)
        assert "What does this kernel find?" in student.locator(BANNER).inner_text() and "t=" not in student.url
        student.locator(".st-key-class_banner_leave button").click()
        student.wait_for_selector(BANNER, state="detached", timeout=POLL_DEADLINE_MS)
        student.wait_for_function(f"window.sessionStorage.getItem({TAB_SEAT!r}) === null", timeout=POLL_DEADLINE_MS)
        student.reload()
        student.wait_for_selector("[data-testid=stApp]")
        wait_idle(student)
        assert student.locator(BANNER).count() == 0
        for page in (lecturer, student):
            assert_no_exception(page)
    finally:
        context.close()
        student_context.close()


def test_the_projector_link_shows_the_room_live_and_read_only(browser, app_url):
    context, lecturer = _context(browser, LECTURER)
    wall_context, wall = _context(browser, LECTURER)  # the projector's own browser
    student_context, student = _context(browser, PHONE)
    try:
        code = open_class(lecturer, app_url)
        key = query(lecturer)["key"]
        link = lecturer.get_by_role("link", name="Projector link")
        assert link.get_attribute("target") == "_blank"
        href = link.get_attribute("href")
        assert "view=" in href and key not in href
        wall.goto(href if href.startswith("http") else app_url + href)
        wall.wait_for_selector(".cv-code")
        wait_idle(wall)
        assert wall.locator(".cv-code").inner_text().strip() == code
        main = wall.locator("[data-testid=stMain]")
        assert main.locator(CONTROLS).count() == 0
        join_class(student, app_url, code, "<b>Bo</b>", "en")
        push_question(lecturer, "What does this kernel find?", ("edges", "blobs"))
        student.locator(".st-key-class_choice_1 button").click(timeout=POLL_DEADLINE_MS)
        _count_is(wall, 1, 1)  # the projector follows the room with no click of its own
        assert _bars(wall) == {"blobs": 1} and "What does this kernel find?" in main.inner_text()
        lecturer.get_by_text("Show names").click()
        lecturer.wait_for_selector(".cv-names", timeout=POLL_DEADLINE_MS)
        choose(lecturer, "class_right_q1", "blobs")
        lecturer.get_by_role("button", name="Reveal").click()
        wall.wait_for_function("t => document.querySelector('[data-testid=stMain]').innerText.includes(t)",
                               arg="Answer: blobs", timeout=POLL_DEADLINE_MS)
        assert "Bo" not in main.inner_text() and key not in wall.content() and key not in wall.url
        assert main.locator(CONTROLS).count() == 0
        for page in (lecturer, wall, student):
            assert_no_exception(page)
    finally:
        for each in (context, wall_context, student_context):
            each.close()


def test_a_which_kernel_exercise_shows_its_pictures_on_the_phone_and_the_wall(browser, app_url):
    from cnnviz.exercises import make
    from cnnviz.i18n import t

    problem = make("which_kernel", 4, 1)
    context, lecturer = _context(browser, LECTURER)
    student_context, student = _context(browser, PHONE)
    try:
        code = open_class(lecturer, app_url)
        join_class(student, app_url, code, "Ann", "en")
        choose(lecturer, "class_ex_kind", "Which kernel?")
        lecturer.locator(".st-key-class_ex_seed input").fill("4")
        lecturer.get_by_role("button", name="Push this exercise").click()
        wait_idle(lecturer)
        assert lecturer.locator(".st-key-class_question img").count() == 2  # image and feature map, on the wall
        kernels = lecturer.locator(".st-key-class_room_ex_choices").inner_text()
        assert all(t(f"kernels.{name}.name", "en") in kernels for name in problem.params["options"])  # problem 4
        choice = student.locator(f".st-key-class_choice_{problem.params['target']} button")
        choice.click(timeout=POLL_DEADLINE_MS)
        _count_is(lecturer, 1, 1)
        assert _bars(lecturer) == {problem.answer_text(): 1}
        pictures = student.locator(f"{BANNER} img")
        assert pictures.count() == 2 and all(pictures.nth(i).evaluate("i => i.complete && i.naturalWidth > 0")
                                             for i in range(2))
        assert student.locator(BANNER).bounding_box()["width"] <= PHONE["width"]  # no sideways scroll on a phone
        for page in (lecturer, student):
            assert_no_exception(page)
    finally:
        context.close()
        student_context.close()


@pytest.fixture(scope="module")
def replicas(browser):  # browser first: it skips (or fails under CI) without Chromium before anything starts
    """Two app replicas sharing one real Redis (shared mode), as tests/browser/test_shared_browser.py starts them."""
    from scripts.serve_app import served_app
    from scripts.shared_mode import redis_server
    from service_kit import require_redis

    require_redis()
    with contextlib.ExitStack() as stack:
        try:
            env = {"CNNVIZ_REDIS_URL": stack.enter_context(redis_server())}
            urls = stack.enter_context(served_app(env=env)).url, stack.enter_context(served_app(env=env)).url
        except RuntimeError as error:
            pytest.fail(str(error))
        yield urls


def test_class_loop_shared_across_two_replicas(browser, replicas):
    replica_a, replica_b = replicas
    class_loop(browser, replica_a, [replica_b, replica_a, replica_b])
