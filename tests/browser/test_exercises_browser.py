"""Exercises in Chromium: a seeded link opens its problem, a wrong answer gets a hint, a right one scores, and the
page reads on a phone in Chinese."""
from browser_kit import assert_no_exception, open_page, query, wait_for_query

from cnnviz.exercises import problem_set
from cnnviz.pages.exercises import attempts_key

LINK = "exercises?kind=param_count&set=3&q=2"
PROBLEM = problem_set("param_count", 3)[2]
BOX = f".st-key-ex_answer_{attempts_key(PROBLEM)} input"


def submit(page, text: str) -> None:
    field = page.locator(BOX)
    field.fill(text)
    field.press("Enter")  # the form submits on Enter, as a student types


def test_a_seeded_link_a_wrong_and_a_right_answer_and_the_score(page, app_url):
    open_page(page, app_url, LINK)
    assert_no_exception(page)
    main = page.locator("[data-testid=stMain]")
    main.get_by_text(PROBLEM.prompt("en")).wait_for()
    right = PROBLEM.answer_text()
    submit(page, str(int(right) + 1))
    verdict = page.locator(".st-key-ex_verdict")
    verdict.get_by_text("is not it (wrong tries: 1)").wait_for()
    hint = verdict.inner_text()
    assert "Hint:" in hint and "Each of the" in hint and f"= {right}" not in hint
    submit(page, right)
    verdict.get_by_text(f"{right} is right (try 2)").wait_for()
    page.locator(".st-key-ex_score").get_by_text("1 of 10 right, 0 at the first try").wait_for()
    assert query(page)["set"] == "3" and query(page)["q"] == "2"
    page.locator(".st-key-ex_next button").click()
    wait_for_query(page, "q", "3")
    assert_no_exception(page)


def test_show_me_and_a_phone_in_chinese(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    try:
        open_page(page, app_url, f"{LINK}&lang=zh")
        page.locator("[data-testid=stMain]").get_by_text(PROBLEM.prompt("zh")).wait_for()
        submit(page, "1")
        page.locator(".st-key-ex_verdict").get_by_text("提示：").wait_for()
        page.locator(f".st-key-ex_show_{attempts_key(PROBLEM)} label").click()
        wait_for_query(page, "show", "1")
        shown = page.locator(".st-key-ex_show_me")
        shown.get_by_text(f"答案： {PROBLEM.answer_text()}").wait_for()
        assert shown.bounding_box()["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off the side
        assert_no_exception(page)
    finally:
        context.close()
