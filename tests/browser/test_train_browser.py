"""Training in Chromium: the run keeps going while the student visits another page and comes back."""
import re

from browser_kit import assert_no_exception, open_page, save_screenshot, wait_idle


def current_step(page) -> int:
    text = page.locator(".st-key-train_status [data-testid=stProgress]").inner_text()
    match = re.search(r"step (\d+)/(\d+)", text)
    return int(match.group(1)) if match else 0


def test_training_survives_navigation(page, app_url):
    open_page(page, app_url, "train")
    assert_no_exception(page)
    slider = page.locator(".st-key-train_subset input[type=range]")
    slider.focus()
    slider.press("End")  # 30,000 images: a run of about 700 steps
    wait_idle(page)
    page.locator(".st-key-train_start button").click()
    page.locator(".st-key-train_status [data-testid=stProgress]").wait_for(timeout=60_000)
    page.wait_for_function(
        "(() => { const e = document.querySelector('.st-key-train_status [data-testid=stProgress]');"
        " const m = e && e.innerText.match(/step (\\d+)\\//); return m && +m[1] >= 5; })()", timeout=60_000)
    first = current_step(page)
    page.wait_for_timeout(3000)
    second = current_step(page)
    assert second > first, (first, second)  # the curve grows while we watch

    page.locator("[data-testid=stSidebarNav] a").filter(has_text="Kernel Lab").click()
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_timeout(2000)
    page.locator("[data-testid=stSidebarNav] a").filter(has_text="Train on MNIST").click()
    page.locator(".st-key-train_status [data-testid=stProgress]").wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    third = current_step(page)
    assert third > second, (second, third)  # same job, further along: it was not restarted
    assert "30,000" in page.locator(".st-key-train_subset").inner_text()  # settings survive the page switch
    assert_no_exception(page)
    save_screenshot(page, "train", height=1500)
    page.locator(".st-key-train_stop button").click()
    wait_idle(page)
