"""Training in Chromium: the run keeps going while the student visits another page, and a refresh finds it again."""
import re

import pytest

from playwright.sync_api import expect

from browser_kit import assert_no_exception, open_page, query, set_number, sidebar_nav, wait_for_value, wait_idle

PROGRESS = ".st-key-train_status .cnnviz-progress"  # cnnviz.ui.progress
POLLED = ".st-key-train_status .live-status"  # cnnviz.ui.live_status
LIVE_CHART = ".st-key-train_live_curves .live-chart"  # inside the component's open shadow root: CSS locators pierce it


def current_step(page) -> int:
    match = re.search(r"step (\d+)/(\d+)", page.locator(PROGRESS).inner_text())
    return int(match.group(1)) if match else 0


def wait_for_step_beyond(page, step: int, timeout: float = 60_000) -> int:
    """Wait, with a deadline, until the progress text shows a later step than ``step``; return it."""
    page.wait_for_function(
        "(n) => { const e = document.querySelector('.st-key-train_status .cnnviz-progress');"
        " const m = e && e.innerText.match(/step (\\d+)\\//); return m && +m[1] > n; }", arg=step, timeout=timeout)
    return current_step(page)


def open_address(page, url: str) -> None:
    """Open a whole address, as one pasted into a new browser."""
    page.goto(url)
    page.wait_for_selector("[data-testid=stApp]")
    wait_idle(page)


def test_training_survives_navigation_and_refresh(page, app_url):
    open_page(page, app_url, "train")
    assert_no_exception(page)
    slider = page.locator(".st-key-train_subset input[type=range]")
    slider.focus()
    slider.press("End")  # 30,000 images
    wait_idle(page)
    set_number(page, "train_epochs", 10)  # 2,350 steps: still training after the visit and the refresh
    page.locator(".st-key-train_start button").click()
    first = wait_for_step_beyond(page, 4)
    second = wait_for_step_beyond(page, first)  # the curve grows while we watch
    # The status moves by polling the server's status route (app.py's st.App), not by Streamlit reruns.
    page.wait_for_selector(f"{POLLED}[data-polled]")
    polled = page.locator(POLLED).get_attribute("data-polled")
    expect(page.locator(POLLED)).not_to_have_attribute("data-polled", polled, timeout=30_000)
    chart = page.locator(LIVE_CHART)
    # The element appears before the component's script has drawn into it; data-step comes with the first drawing.
    page.wait_for_selector(f"{LIVE_CHART}[data-step]", timeout=60_000)
    drawn = int(chart.get_attribute("data-step"))
    expect(chart).not_to_have_attribute("data-step", str(drawn), timeout=60_000)  # redrawn in place, further along
    assert int(chart.get_attribute("data-step")) > drawn
    assert chart.locator("canvas").count() == 3 and "loss" in chart.inner_text()
    assert "run" not in query(page)  # the address bar gives no control: the tab keeps the run (cnnviz.ui.tab_memory)
    run_id = page.evaluate("sessionStorage.getItem('cnnviz.train.run')")
    assert run_id

    sidebar_nav(page, "Kernel Lab")
    assert_no_exception(page)
    sidebar_nav(page, "Train on MNIST")
    third = wait_for_step_beyond(page, second)  # same run, further along: it was not restarted
    assert "run" not in query(page)
    expect(page.locator(".st-key-train_subset")).to_contain_text("30,000")  # settings survive the page switch
    assert query(page)["ep"] == "10"

    page.reload()  # a new server session: the URL finds the settings, the tab's memory the run
    page.wait_for_selector(PROGRESS)
    fourth = wait_for_step_beyond(page, third)
    assert "run" not in query(page) and page.evaluate("sessionStorage.getItem('cnnviz.train.run')") == run_id
    expect(page.locator(".st-key-train_subset")).to_contain_text("30,000")  # drawn with the rest of the fresh page
    expect(page.locator(".st-key-train_pause button")).to_be_enabled()  # the owner's controls, after the refresh
    assert_no_exception(page)

    # The address bar pasted into a class chat: whoever opens it gets the settings, not the run.
    pasted = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_address(pasted, page.url)
        expect(pasted.locator(".st-key-train_pause button")).to_be_disabled()
        assert not pasted.locator(PROGRESS).count()
        expect(pasted.locator(".st-key-train_subset")).to_contain_text("30,000")
        # The watch link: the run live, read-only.
        page.locator(".st-key-train_watch_link button").first.click()
        watch_url = page.locator(".st-key-train_watch_link_box .cnnviz-link-url").input_value()
        page.keyboard.press("Escape")
        assert "watch=" in watch_url and run_id not in watch_url
        open_address(pasted, watch_url)
        pasted.wait_for_selector(PROGRESS)
        wait_for_step_beyond(pasted, fourth)
        expect(pasted.locator("[data-testid=stMain]")).to_contain_text("You are watching")
        for control in ("train_start", "train_pause", "train_stop"):
            assert not pasted.locator(f".st-key-{control}").count()
    finally:
        pasted.close()
    page.locator(".st-key-train_stop button").click()
    wait_idle(page)
    page.wait_for_function("document.querySelector('.st-key-train_status').innerText.includes('Stopped')")
    page.wait_for_selector(".st-key-train_curves .js-plotly-plot")  # a finished run: the full figure, hover and all
    expect(page.locator(LIVE_CHART)).to_have_count(0)  # the live chart leaves with the run's last redraw


def test_a_train_link_opens_its_network_in_a_fresh_browser(page, app_url):
    open_page(page, app_url, "train?net=classic&ep=2&opt=sgd")
    assert_no_exception(page)
    wait_for_value(page, "train_epochs", "2")
    assert "220,234" in page.locator("[data-testid=stMain]").inner_text()  # the classic network's parameters
    field = page.locator(".st-key-train_seed input")
    field.fill("7")
    field.press("Enter")
    page.wait_for_function("new URLSearchParams(location.search).get('seed') === '7'")
    assert query(page)["net"] == "classic" and query(page)["opt"] == "sgd"


# Text an element cuts off: wider than the box that shows it (one pixel of rounding allowed).
_CUT = "e => e.scrollWidth > e.clientWidth + 1"


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (390, 844)])
def test_the_preset_menu_shows_every_name_whole(browser, app_url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = context.new_page()
    try:
        for language in ("en", "zh"):
            open_page(page, app_url, f"train?lang={language}")
            chosen = page.locator(".st-key-train_preset [role=combobox]")
            assert not chosen.evaluate(_CUT), chosen.input_value()
            chosen.click()
            options = page.get_by_role("option")
            expect(options).to_have_count(5)
            cut = [o.inner_text() for o in options.all() if o.locator("div").first.evaluate(_CUT)]
            assert cut == [], f"{language} at {width}x{height}"
            page.keyboard.press("Escape")
    finally:
        context.close()
