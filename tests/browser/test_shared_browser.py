"""Shared mode end to end, in Chromium: two app replicas on one real Redis, and one worker started by the documented
command (``python -m cnnviz.training.worker``), all on loopback and started by the tests.

A run started on replica A is served whole by replica B: its watch link live and read-only, its owner's tab with the
controls. A worker killed with -9 is reported on every page that shows its run within 15 s, and both replicas keep
answering. Set CNNVIZ_E2E_SHOTS to a folder to keep a screenshot of a watcher's page and of the failed run.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pytest

from playwright.sync_api import expect

from browser_kit import assert_no_exception, open_page, wait_idle
from scripts.serve_app import nginx_in_front, served_app
from scripts.shared_mode import kill_worker, redis_server, start_worker
from service_kit import require_redis

PROGRESS = ".st-key-train_status .cnnviz-progress"  # cnnviz.ui.progress, inside the polled status
STATUS = ".st-key-train_status"
CONTROLS = ("train_start", "train_pause", "train_stop")
# What a watcher could act with: a chart's toolbar (fullscreen, download the table) only changes the watcher's view.
ACTING = ("button:enabled:not([kind=elementToolbar]), input:enabled:not([readonly]), textarea:enabled,"
          " [role=slider]:not([aria-disabled=true]), [role=combobox]:not([aria-disabled=true])")
TAB_RUN = "cnnviz.train.run"  # the tab's memory of the run it owns (cnnviz.ui.tab_memory)
# 5,000 images in batches of 128 for 50 epochs: 2,000 steps, far more than any test watches; each test ends its run.
LONG_RUN = "train?n=5000&ep=50"
WORKER_LOST = "stopped answering"  # error.worker.lost, in English
FAILURE_DEADLINE_S = 15  # issue 27: a page says its worker died within 15 s
WATCHERS = 10  # fresh browser contexts that must each see the run live (issue 27's "Done when")


@dataclass
class Cluster:
    """Two replicas sharing one Redis, and the worker that trains their runs (replaced after a test kills it)."""

    redis_url: str
    replica_a: str  # base URL, e.g. http://127.0.0.1:8501
    replica_b: str
    worker_log: Path
    worker: Popen | None = None
    servers: dict[str, Popen] | None = None  # each replica's process, by base URL

    def ensure_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            self.worker = start_worker(self.redis_url, log=self.worker_log)

    def on(self, replica: str, url: str) -> str:
        """Replica A's address ``url``, served by ``replica``: a link that the load balancer sent there."""
        assert url.startswith(self.replica_a + "/"), url
        return replica + url[len(self.replica_a):]

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")[-3000:] if self.worker_log.exists() else ""


@pytest.fixture(scope="module")
def cluster(browser):  # browser first: it skips (or fails under CI) without Chromium before anything starts
    require_redis()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cnnviz-e2e-")))
        try:
            url = stack.enter_context(redis_server())
            env = {"CNNVIZ_REDIS_URL": url}
            replica_a = stack.enter_context(served_app(env=env))
            replica_b = stack.enter_context(served_app(env=env))
        except RuntimeError as error:
            pytest.fail(str(error))
        shared = Cluster(url, replica_a.url, replica_b.url, folder / "worker.log",
                         servers={replica_a.url: replica_a.process, replica_b.url: replica_b.process})
        shared.ensure_worker()
        try:
            yield shared
        finally:
            if shared.worker is not None and shared.worker.poll() is None:
                kill_worker(shared.worker)


@pytest.fixture
def new_page(browser):
    """Fresh browser contexts (no cookies, no session, no tab memory), each closed after the test."""
    contexts = []

    def make(width: int = 1280, height: int = 720, tab_run: str = ""):
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        if tab_run:  # the tab's memory of its run, as the owner's own tab holds it, on whichever origin it lands
            context.add_init_script(f"window.sessionStorage.setItem({TAB_RUN!r}, {tab_run!r})")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        return page

    yield make
    for context in contexts:
        context.close()


def current_step(page) -> int:
    match = re.search(r"step ([\d,]+)/", page.locator(PROGRESS).inner_text())
    return int(match.group(1).replace(",", "")) if match else 0


def wait_for_step_beyond(page, step: int, timeout: float = 60_000) -> int:
    """Wait, with a deadline, until the progress text shows a later step than ``step``; return it."""
    page.wait_for_function(
        "(n) => { const e = document.querySelector('.st-key-train_status .cnnviz-progress');"
        " const m = e && e.innerText.match(/step ([\\d,]+)\\//); return m && +m[1].replaceAll(',', '') > n; }",
        arg=step, timeout=timeout)
    return current_step(page)


def assert_live(page) -> tuple[int, int]:
    """The run's step count grows on this page while it stays open: two different steps, the later one larger."""
    first = wait_for_step_beyond(page, 0)
    return first, wait_for_step_beyond(page, first)


def open_address(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid=stApp]")
    wait_idle(page)


def start_run(page, cluster: Cluster, base: str = "") -> str:
    """Start a long run from the Train page at ``base`` (replica A's by default); return its owner's run id, as the
    tab keeps it."""
    open_page(page, base or cluster.replica_a, LONG_RUN)
    assert_no_exception(page)
    page.locator(".st-key-train_start button").click()
    wait_idle(page)
    expect(page.locator(".st-key-train_stop button")).to_be_enabled()
    page.wait_for_function(f"window.sessionStorage.getItem({TAB_RUN!r})")
    return page.evaluate(f"window.sessionStorage.getItem({TAB_RUN!r})")


def watch_link(page) -> str:
    page.locator(".st-key-train_watch_link button").first.click()
    url = page.locator(".st-key-train_watch_link_box .cnnviz-link-url").input_value()
    page.keyboard.press("Escape")
    return url


def assert_watching(page) -> None:
    """A watcher's page: the run's banner, and none of the owner's controls."""
    expect(page.locator("[data-testid=stMain]")).to_contain_text("You are watching")
    for control in CONTROLS:
        expect(page.locator(f".st-key-{control}")).to_have_count(0)
    # Anything else that acts: a button (a chart's own view tools aside), a field, a slider, a menu.
    enabled = page.locator(f"[data-testid=stMain] :is({ACTING})").filter(visible=True)
    labels = [control.evaluate("e => e.getAttribute('aria-label') || e.innerText || e.outerHTML.slice(0, 80)")
              for control in enabled.all()]
    assert labels == [], f"a watcher's page offers {labels}"


def stop_on(page) -> None:
    """Stop: training ends, and the run evaluates its last weights on the worker."""
    page.locator(".st-key-train_stop button").click()
    wait_idle(page)


def screenshot(page, name: str) -> None:
    folder = os.environ.get("CNNVIZ_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def answers(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=10) as response:
        return response.status


def test_a_run_started_on_a_is_watched_and_controlled_on_b(cluster, new_page):
    owner = new_page()
    run_id = start_run(owner, cluster)
    assert run_id
    assert_live(owner)
    watch_url = watch_link(owner)
    assert "watch=" in watch_url and run_id not in watch_url

    watcher = new_page()
    open_address(watcher, cluster.on(cluster.replica_b, watch_url))
    assert_no_exception(watcher)
    assert_live(watcher)
    assert_watching(watcher)
    screenshot(watcher, "watcher_on_b_1280x720.png")

    # The owner's tab lands on replica B (a refresh that nginx sends elsewhere): its memory finds the run there.
    owner_on_b = new_page(tab_run=run_id)
    open_page(owner_on_b, cluster.replica_b, LONG_RUN)
    assert_no_exception(owner_on_b)
    assert_live(owner_on_b)
    expect(owner_on_b.locator(".st-key-train_pause button")).to_be_enabled()
    expect(owner_on_b.locator(".st-key-train_stop button")).to_be_enabled()
    assert owner_on_b.evaluate(f"window.sessionStorage.getItem({TAB_RUN!r})") == run_id
    stop_on(owner_on_b)
    for page in (owner, watcher, owner_on_b):  # A's page and B's watcher learn it from the store
        expect(page.locator(STATUS)).to_contain_text("Stopped", timeout=60_000)
        assert_no_exception(page)


def test_a_watch_link_is_live_in_ten_fresh_contexts_on_either_replica(cluster, new_page):
    cluster.ensure_worker()
    owner = new_page()
    start_run(owner, cluster)
    watch_url = watch_link(owner)
    seen = []
    try:
        for index in range(WATCHERS):
            base = (cluster.replica_a, cluster.replica_b)[index % 2]
            watcher = new_page()
            open_address(watcher, cluster.on(base, watch_url))
            seen.append((base, *assert_live(watcher)))
            assert_watching(watcher)
            watcher.context.close()  # only the owner's page and one watcher at a time: two cores
    finally:  # free the worker for the next test, without hiding why this one failed
        if owner.locator(".st-key-train_stop button").is_enabled():
            stop_on(owner)
    assert len(seen) == WATCHERS and {base for base, *_ in seen} == {cluster.replica_a, cluster.replica_b}
    expect(owner.locator(STATUS)).to_contain_text("Stopped", timeout=60_000)


def test_a_killed_worker_is_reported_on_both_replicas_within_15_s(cluster, new_page):
    cluster.ensure_worker()
    owner = new_page()
    start_run(owner, cluster)
    watcher = new_page()
    open_address(watcher, cluster.on(cluster.replica_b, watch_link(owner)))
    assert_live(watcher)
    _, last_seen = assert_live(owner)

    kill_worker(cluster.worker)
    deadline = time.monotonic() + FAILURE_DEADLINE_S
    try:
        for page in (owner, watcher):  # both poll at once: one deadline for both
            left_ms = max(0.0, deadline - time.monotonic()) * 1000
            expect(page.locator("[data-testid=stMain]")).to_contain_text(WORKER_LOST, timeout=left_ms)
    except AssertionError as error:
        raise AssertionError(f"{error}\nworker log:\n{cluster.worker_output()}") from error
    screenshot(watcher, "worker_lost_on_b_1280x720.png")
    for page in (owner, watcher):
        expect(page.locator("[data-testid=stMain]")).to_contain_text("press Start to train it again")
        assert current_step(page) >= last_seen  # the curves up to the kill are kept
        assert_no_exception(page)
    expect(owner.locator(".st-key-train_start button")).to_be_enabled()  # Start reruns it
    expect(owner.locator(".st-key-train_stop button")).to_be_disabled()

    for base in (cluster.replica_a, cluster.replica_b):  # both replicas keep answering, pages and all
        assert answers(base) == 200
        fresh = new_page()
        open_page(fresh, base, "train")
        expect(fresh.locator(".st-key-train_start button")).to_be_enabled()
        assert_no_exception(fresh)
    cluster.ensure_worker()  # for any test after this one


LOST = "Lost contact with the server"  # train.status_lost, in English
# Set before the replica dies: whether the page ever said it lost the server (it may reconnect before a test looks).
WATCH_FOR_LOST = """() => { window.cnnvizLost = null; const t0 = performance.now();
  new MutationObserver(() => { if (window.cnnvizLost === null && document.body.innerText.includes(%r))
    window.cnnvizLost = performance.now() - t0; }).observe(document.body, { childList: true, subtree: true,
    characterData: true }); }""" % LOST


def test_a_page_whose_replica_died_says_so_and_finds_its_run_through_nginx(cluster, new_page):
    """Last in the file: it kills a replica. Behind nginx, the owner's page says it lost the server (or is live again)
    within 15 s, reconnects to the other replica, and finds its run there, live, with its controls."""
    cluster.ensure_worker()
    ports = [int(base.rsplit(":", 1)[1]) for base in (cluster.replica_a, cluster.replica_b)]
    with nginx_in_front(ports) as front:
        owner = new_page()
        run_id = start_run(owner, cluster, base=front)
        assert_live(owner)
        pinned = {c["name"]: c["value"] for c in owner.context.cookies()}["cnnviz_replica"]  # r1 or r2
        dead = (cluster.replica_a, cluster.replica_b)[int(pinned[1:]) - 1]
        owner.evaluate(WATCH_FOR_LOST)
        at_kill = current_step(owner)
        with owner.expect_websocket(timeout=FAILURE_DEADLINE_S * 1000):  # Streamlit reconnects, through nginx
            cluster.servers[dead].kill()
        # Within 15 s the page either says it lost the server, or is already live again through the other replica
        # (nginx's backup answers its polls, and Streamlit reconnects there): never frozen in silence.
        owner.wait_for_function(
            "(n) => window.cnnvizLost !== null || (() => { const e = document.querySelector("
            "'.st-key-train_status .cnnviz-progress'); const m = e && e.innerText.match(/step ([\\d,]+)\\//);"
            " return m && +m[1].replaceAll(',', '') > n; })()", arg=at_kill, timeout=FAILURE_DEADLINE_S * 1000)
        # Its session now lives on the replica left, which finds the run in Redis through the tab's memory: the
        # controls work from there.
        alive = cluster.replica_b if dead == cluster.replica_a else cluster.replica_a
        assert answers(alive) == 200
        # The reconnected page is drawn again by the replica left: first without the run, then, once the tab's
        # memory has sent it back (a second run), with it. A click between the two would race that second run.
        owner.wait_for_function(
            "() => document.querySelector('[data-testid=stApp][data-test-script-state=notRunning]')"
            " && document.querySelector('.st-key-train_status') && document.querySelector('.st-key-train_tab_run')",
            timeout=60_000)
        wait_idle(owner)
        wait_for_step_beyond(owner, current_step(owner))
        pause = owner.locator(".st-key-train_pause button")
        expect(pause).to_be_enabled(timeout=60_000)
        pause.click()
        expect(owner.locator(STATUS)).to_contain_text("Paused", timeout=60_000)
        assert owner.evaluate(f"window.sessionStorage.getItem({TAB_RUN!r})") == run_id
        assert_no_exception(owner)
        stop_on(owner)
        expect(owner.locator(STATUS)).to_contain_text("Stopped", timeout=60_000)
