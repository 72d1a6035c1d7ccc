"""Training speed inside the real app: `streamlit run app.py` driven by a headless Chromium on the same machine.

Two runs of the default config (full training set), each in a fresh server:
  watching: the browser stays on the Train page and draws the live charts every second;
  away:     after Start, the browser moves to the Step-by-step page, so nothing live is drawn, and comes back at the end.
The figures are the ones the page shows (training seconds and images/s, evaluations excluded). Chromium runs with
--disable-gpu, so it rasterises in software: on a small machine it competes with training for the same cores,
as it would on a lecturer's laptop that serves and shows the app at once.

    python bench/train_in_app.py
"""
from __future__ import annotations

import re
import time

from common import IDLE, machine, served_page

PROGRESS = re.compile(r"(Done|Training) · step (\d+)/(\d+) · epoch [\d.]+ · ([\d,]+) images/s · ([\d.]+) s elapsed")


def progress(page) -> re.Match | None:
    return PROGRESS.search(page.locator("[data-testid=stMain]").inner_text())


def run(watch: bool, timeout: float = 240) -> re.Match:
    with served_page(viewport=(1400, 1200)) as (page, base):
        page.goto(f"{base}/train")
        page.wait_for_selector(IDLE)
        page.locator(".st-key-train_start button").click()
        page.wait_for_timeout(2000)
        nav = page.locator("[data-testid=stSidebarNav] a")
        if not watch:
            nav.filter(has_text="Step by step").click()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if watch:
                page.wait_for_timeout(3000)
            else:  # stay away long enough to finish on a quiet machine, then look; a peek draws the page briefly
                page.wait_for_timeout(30000)
                nav.filter(has_text="Train on MNIST").click()
                page.wait_for_timeout(2000)
            found = progress(page)
            if found and found.group(1) == "Done":
                return found
            if not watch:
                nav.filter(has_text="Step by step").click()
        raise SystemExit(f"training did not finish within {timeout} s")


def main() -> None:
    print(f"Training inside the app · {machine()} (server and headless Chromium on this machine)")
    for label, watch in (("watching the live page", True), ("on another page", False)):
        found = run(watch)
        print(f"{label:24s} {found.group(4)} images/s, {found.group(5)} s of training for {found.group(3)} steps")


if __name__ == "__main__":
    main()
