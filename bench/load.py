"""A lecture hall on one server: N students use the Kernel Lab at once while two of them train.

Most sessions are light clients (bench/light_client.py: Streamlit's own websocket protocol, no browser), a few are
headless Chromium tabs, which measure what a user sees; two light sessions train on the Train page and follow its
live panel. Each Kernel Lab student opens the app, uploads a photo of their own, then changes the kernel preset
and the stride in turn, looking at each result for a few seconds. Everything runs on loopback.

    python bench/load.py                  # 30 sessions against one app process
    python bench/load.py --replicas 2     # the same through nginx in front of two app processes (deploy/nginx.conf)
    python bench/load.py --soak 600       # 30 sessions keep changing for 10 minutes; memory over time
    python bench/load.py --sessions 10 --browsers 0 --soak 75 --churn 8 --ttl 10 --sweep 5    # a short soak
    python bench/load.py --sessions 4 --browsers 1 --changes 3 --ttl 5    # a quick look
    python bench/load.py --redis --replicas 2 --workers 1 --sessions 60 --changes 6 --ttl 20 --sweep 5
        # shared mode (issue 27): a real redis-server, two replicas behind nginx sharing it, one training worker
        # started by `python -m cnnviz.training.worker`; then the same sessions against one process with no Redis,
        # and the two side by side with their ratio, and what Redis holds per finished run

Reports the time from a control change to the updated picture (p50/p95), errors (exception boxes, error boxes,
failed requests, tracebacks in the server log), the server's memory (VmRSS of the app processes and their
children: before, with every session open and idle, peak, and after the sessions closed and their
`server.disconnectedSessionTTL` ran out; baseline -> peak -> after TTL split into the server and its training
workers), and the two training runs' throughput as their pages show it. In shared mode also Redis's memory per
finished run, how long a finished run stays there, and what expires it (bench/redis_usage.py).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CHROMIUM, CHROMIUM_ARGS, IDLE, ROOT, OthersLoad, machine  # noqa: E402
from light_client import ClientError, LightSession, http  # noqa: E402
from scripts.serve_app import nginx_in_front, served_app  # noqa: E402
from scripts.shared_mode import redis_server, workers as training_workers  # noqa: E402
import redis_usage  # noqa: E402  (bench/redis_usage.py)

from cnnviz.conv import kernels  # noqa: E402

PRESET_CYCLE = ("sobel_x", "gaussian", "sharpen", "emboss", "box5", "laplacian8")  # each change moves the conv map
STRIDE_CYCLE = (2, 3, 1)
TRAIN_QUERY = "n=10000&ep=3"  # 10,000 training images, 3 epochs: about a minute on 2 loaded cores
# Shared mode's comparison: one worker trains the two runs one after the other (the second waits in the queue), so
# each is a third as long, and the students' changes are timed while each side trains for about as long.
SHARED_TRAIN_QUERY = "n=10000&ep=1"
PROGRESS = re.compile(r"(\w+) · step (\d+)/(\d+) · epoch [\d.]+ · ([\d,]+|–) images/s · ([\d.]+) s elapsed")
FINISHED_STATES = ("Done", "Stopped", "Diverged", "Failed")
# In the page: the convolution picture has a new source, the run is over and every picture has loaded.
UPDATED_JS = """(before) => {
  const conv = document.querySelector('.st-key-kl_maps [data-slot=conv] img');
  if (!conv || conv.src === before || !document.querySelector('%s')) return false;
  return [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth > 0);
}""" % IDLE
CONV_SRC_JS = "() => document.querySelector('.st-key-kl_maps [data-slot=conv] img')?.src || ''"


@dataclass(frozen=True)
class LoadConfig:
    sessions: int = 30  # all sessions: Kernel Lab students (light and Chromium) plus trainers
    browsers: int = 2  # of them, Kernel Lab students in headless Chromium (each costs the machine far more CPU)
    trainers: int = 2  # of them, light sessions training on the Train page
    changes: int = 20  # control changes per Kernel Lab student (the load phase lasts until all are made)
    think: tuple[float, float] = (2.0, 6.0)  # seconds a student looks at a result before the next change
    ramp: float = 15.0  # seconds over which the students arrive
    replicas: int = 1  # app processes; more than one go behind nginx
    soak: float = 0.0  # > 0: instead of `changes`, keep changing for this many seconds and sample memory
    churn: int = 25  # in a soak, a student leaves and a new one arrives after this many changes (0 = never)
    train_query: str = TRAIN_QUERY  # the Train page's settings for each run (its short link keys)
    ttl: int | None = None  # server.disconnectedSessionTTL override, s; None = .streamlit/config.toml's
    sweep: float | None = None  # CNNVIZ_SWEEP_SECONDS override; 0 turns the expired-session sweep off
    deadline: float = 1800.0  # the load phase stops by itself after this many seconds
    settle: float = 5.0  # seconds the server gets before a memory reading (baseline, idle, after the TTL)
    seed: int = 0  # think times and photos
    redis: bool = False  # shared mode: the replicas share a real redis-server, and `workers` train every run
    workers: int = 1  # shared mode's training workers (`python -m cnnviz.training.worker`)

    @property
    def students(self) -> int:
        return self.sessions - self.trainers

    def __post_init__(self):
        if self.sessions < self.trainers or self.students < self.browsers:
            raise ValueError(f"sessions must cover trainers and browsers: sessions={self.sessions}, "
                             f"trainers={self.trainers}, browsers={self.browsers}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got replicas={self.replicas}")
        if self.redis and self.workers < 1:
            raise ValueError(f"shared mode needs a training worker, got workers={self.workers}")

    @property
    def setup(self) -> str:
        """The servers, in words."""
        where = f"{self.replicas} app processes behind nginx" if self.replicas > 1 else "1 app process"
        return f"{where}, Redis, {self.workers} worker(s)" if self.redis else f"{where}, no Redis"


@dataclass
class Record:
    """Everything the sessions measured."""

    light: list[float] = field(default_factory=list)  # change -> last new picture, light sessions, s
    # Of those, each student's first `changes` changes: the ones every side makes, however long its runs train
    # (students keep changing while they do), so two sides compare the same work.
    light_share: list[float] = field(default_factory=list)
    browser: list[float] = field(default_factory=list)  # change -> every picture loaded, Chromium, s
    script: list[float] = field(default_factory=list)  # change -> end of the script run, light sessions, s
    first: list[float] = field(default_factory=list)  # opening the app, s
    upload: list[float] = field(default_factory=list)  # photo upload -> its pictures, s
    errors: list[str] = field(default_factory=list)
    unanswered: int = 0  # changes whose convolution picture never changed
    training: list[dict] = field(default_factory=list)  # one per finished run
    redis: dict = field(default_factory=dict)  # shared mode: Redis's memory and the runs' keys, before and after
    samples: list[dict] = field(default_factory=list)  # memory over time
    opened: int = 0  # Kernel Lab sessions opened (more than `students` with churn)


# --- servers -------------------------------------------------------------------------------------------------

MIN_IDLE_SECONDS = 60  # a training run is stopped as unwatched no sooner than this, whatever the sessions' TTL


def configured_ttl() -> int:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return int(config.get("server", {}).get("disconnectedSessionTTL", 120))


@dataclass
class Servers:
    url: str  # where the sessions connect: the app, or nginx in front of the replicas
    replicas: list  # scripts.serve_app.Served, one per app process
    ttl: int
    sweep: float
    redis_url: str = ""  # shared mode's store; "" in the embedded mode
    workers: list = field(default_factory=list)  # shared mode's training worker processes
    worker_log: Path | None = None  # their stdout and stderr together


@contextlib.contextmanager
def servers(config: LoadConfig) -> Iterator[Servers]:
    ttl = config.ttl if config.ttl is not None else configured_ttl()
    sweep = config.sweep if config.sweep is not None else float(os.environ.get("CNNVIZ_SWEEP_SECONDS", "30"))
    env = {"CNNVIZ_SWEEP_SECONDS": str(sweep)}  # the app's default is off (cnnviz.ui.housekeeping.sweep_seconds)
    if "CNNVIZ_RUN_IDLE_SECONDS" not in os.environ:
        # A run nobody looked at for the TTL is stopped, and in shared mode "looked at" is a time a page wrote into
        # Redis: with a TTL of a few seconds, the worker that takes a run while the Start click's own script run is
        # still drawing the page finds it idle and stops it before its first step.
        env["CNNVIZ_RUN_IDLE_SECONDS"] = str(max(ttl, MIN_IDLE_SECONDS))
    if config.replicas > 1:  # the replicas share the cores: torch's thread team in each gets its share of them
        env["OMP_NUM_THREADS"] = str(replica_threads(config.replicas))
    flags = ("--server.disconnectedSessionTTL", str(ttl))
    with contextlib.ExitStack() as stack:
        redis_url, processes, worker_log = "", [], None
        if config.redis:
            redis_url = env["CNNVIZ_REDIS_URL"] = stack.enter_context(redis_server())
            worker_log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cnnviz-workers-"))) / "log"
            processes = stack.enter_context(training_workers(redis_url, config.workers, log=worker_log))
        # The trainers are light clients: they poll the status route as a browser does (light_client.follow_live).
        replicas = [stack.enter_context(served_app(env=env, flags=flags, timeout=180))
                    for _ in range(config.replicas)]
        url = replicas[0].url if config.replicas == 1 else stack.enter_context(nginx(replicas))
        yield Servers(url, replicas, ttl, sweep, redis_url, processes, worker_log)


def replica_threads(replicas: int) -> int:
    """Torch threads for each of ``replicas`` app processes on this machine: its cores shared out, at least one.

    Each process otherwise starts a team of one thread per core; two replicas training at once then run 4 busy
    threads on 2 cores, and OpenMP's spinning barriers make training an order of magnitude slower.
    """
    return max(1, (os.cpu_count() or 1) // replicas)


def nginx(replicas):
    """nginx in front of ``replicas`` on a free loopback port (scripts/serve_app.nginx_in_front); yields its URL."""
    return nginx_in_front([int(r.url.rsplit(":", 1)[1]) for r in replicas])


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, MB."""
    return sum(rss_split(pid))


def rss_split(pid: int) -> tuple[float, float]:
    """VmRSS of ``pid`` itself and of all its descendants together (training workers, the spare one), MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    own, descendants, todo = _vm_rss(pid), 0.0, list(children.get(pid, []))
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        descendants += _vm_rss(current)
    return own, descendants


def _vm_rss(pid: int, field: str = "VmRSS") -> float:
    """A memory line of ``/proc/<pid>/status`` (VmRSS, RssAnon, RssFile), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


METRICS_CACHE_SECONDS = 5.0  # Streamlit computes its memory counters at most this often and answers the last ones
_metrics_read: dict[str, float] = {}  # url -> when its counters were last computed


async def server_metrics(url: str, fresh: bool = False) -> dict[str, float]:
    """Streamlit's own counters (/_stcore/metrics): bytes held for uploads, pictures and session state; sessions.

    ``fresh`` waits until the server computes its memory counters anew instead of answering its cached ones.
    """
    if fresh:
        await asyncio.sleep(max(0.0, _metrics_read.get(url, 0.0) + METRICS_CACHE_SECONDS + 0.2 - time.monotonic()))
    if time.monotonic() > _metrics_read.get(url, 0.0) + METRICS_CACHE_SECONDS:
        _metrics_read[url] = time.monotonic()
    found = {"uploads_mb": 0.0, "media_mb": 0.0, "session_state_mb": 0.0, "active_sessions": 0.0}
    names = {"UploadedFileManager": "uploads_mb", "st_memory_media_file_storage": "media_mb",
             "st_session_state": "session_state_mb"}
    try:
        text = (await http("GET", f"{url}/_stcore/metrics", timeout=10)).body.decode()
    except ClientError:
        return found
    for line in text.splitlines():
        cache = re.match(r'cache_memory_bytes\{cache_type="(\w+)".*\} (\d+)', line)
        if cache and cache.group(1) in names:
            found[names[cache.group(1)]] += int(cache.group(2)) / 1e6
        elif line.startswith("active_sessions "):
            found["active_sessions"] = float(line.split()[1])
    return found


async def sample(served: Servers, started: float, phase: str, fresh: bool = True) -> dict:
    per_replica = [await server_metrics(r.url, fresh) for r in served.replicas]
    parts = [rss_split(r.process.pid) for r in served.replicas]
    point = {"t": round(time.monotonic() - started, 1), "phase": phase,
             "rss_mb": round(sum(map(sum, parts)), 1), "server_mb": round(sum(p[0] for p in parts), 1),
             "workers_mb": round(sum(p[1] for p in parts), 1),
             # The server's own memory split: heap and other private pages, and mapped files (code of imported
             # libraries), which a first use maps once and which says nothing about what sessions leave behind.
             "server_anon_mb": round(sum(_vm_rss(r.process.pid, "RssAnon") for r in served.replicas), 1),
             "server_file_mb": round(sum(_vm_rss(r.process.pid, "RssFile") for r in served.replicas), 1),
             # shared mode's training workers and their training processes, which are nobody's children here
             "queue_workers_mb": round(sum(rss_mb(w.pid) for w in served.workers), 1)}
    for key in per_replica[0]:
        point[key] = round(sum(m[key] for m in per_replica), 2)
    point["sessions_per_replica"] = [int(m["active_sessions"]) for m in per_replica]
    return point


def log_problems(served: Servers) -> list[str]:
    """Tracebacks and page failures the app logged (pages show a friendly box and log the details)."""
    problems = []
    for replica in served.replicas:
        text = replica.log.read_text(errors="replace")
        problems += [line for line in text.splitlines() if "Traceback" in line or "a page failed" in line
                     or " ERROR " in line]
    if served.worker_log is not None and served.worker_log.exists():
        problems += [f"worker: {line}" for line in served.worker_log.read_text(errors="replace").splitlines()
                     if "Traceback" in line or "Error" in line]
    return problems


# --- the students -----------------------------------------------------------------------------------------------

def student_photo(index: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A JPEG of a phone photo's proportions, different for every student (so no two share a cached result)."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:size[1], 0:size[0]] / size[0]
    f1, f2, f3 = rng.uniform(3, 20, 3)
    rgb = np.stack([np.sin(f1 * x + index) * 0.5 + 0.5, np.cos(f2 * y) * 0.5 + 0.5, (f3 * x * y) % 1], axis=-1)
    rgb += rng.normal(0, 0.04, rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def preset_label(session: LightSession, key: str) -> str:
    return session.options("kl_preset")[list(kernels.KERNEL_PRESETS).index(key)]


def next_change(count: int) -> tuple[str, object]:
    """The ``count``-th change a student makes: kernel preset and stride in turn, each moving the picture."""
    if count % 2 == 0:
        return "kl_preset", PRESET_CYCLE[(count // 2) % len(PRESET_CYCLE)]
    return "kl_stride_h", STRIDE_CYCLE[(count // 2) % len(STRIDE_CYCLE)]


class Phase:
    """The sessions' shared timeline: arrive and upload; once all have, change controls until the phase ends."""

    def __init__(self, config: LoadConfig):
        self.config = config
        self.ready = 0
        self.all_ready = asyncio.Event()  # every student has opened the app and uploaded a photo
        self.go = asyncio.Event()  # the load phase started
        self.stop = asyncio.Event()  # the load phase is over (a soak's time ran out)
        self.trainers_left = config.trainers
        self.trained = asyncio.Event()  # every trainer's run ended: students may stop after their changes
        if not config.trainers:
            self.trained.set()

    def arrived(self) -> None:
        self.ready += 1
        if self.ready >= self.config.students:
            self.all_ready.set()

    def trainer_finished(self) -> None:
        self.trainers_left -= 1
        if self.trainers_left <= 0:
            self.trained.set()

    def keep_changing(self, count: int) -> bool:
        """Whether a student makes another change after ``count``: until the soak ends, or until each made its
        share and the training runs are over (so the runs train under load from start to end)."""
        if self.stop.is_set():
            return False
        return bool(self.config.soak) or count < self.config.changes or not self.trained.is_set()


class LightTab:
    """A Kernel Lab student on a light client."""

    def __init__(self, url: str, index: int):
        self.session, self.index = LightSession(url), index
        self.script_seconds: float | None = None  # the last change's server side: until its run ended

    async def open(self) -> float:
        return (await self.session.open("")).seconds

    async def upload(self, photo: bytes) -> float:
        await self.session.set("kl_source", self.session.options("kl_source")[1])  # "Upload"
        return (await self.session.upload("kl_upload", f"photo-{self.index}.jpg", photo, "image/jpeg")).seconds

    async def change(self, key: str, value: object) -> float | None:
        """Seconds from the change to its last new picture; None if the convolution picture did not change."""
        before = self.session.picture_urls("kl_maps").get("conv")
        change = await self.session.set(key, preset_label(self.session, value) if key == "kl_preset" else value)
        self.script_seconds = change.script_seconds
        return change.seconds if self.session.picture_urls("kl_maps").get("conv") != before else None

    async def close(self) -> list[str]:
        await self.session.close()
        return self.session.errors


class BrowserTab:
    """A Kernel Lab student in a headless Chromium tab (its own browser context: cookies, session)."""

    def __init__(self, url: str, index: int, browser):
        self.url, self.index, self.browser, self.errors = url, index, browser, []
        self.script_seconds = None

    async def open(self) -> float:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        self.page.set_default_timeout(120_000)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url} {r.failure}"))
        started = time.perf_counter()
        await self.page.goto(f"{self.url}/")
        await self.page.wait_for_selector(".st-key-kl_maps [data-slot=conv] img")
        await self.page.wait_for_selector(IDLE)
        return time.perf_counter() - started

    async def upload(self, photo: bytes) -> float:
        await self.page.locator("[data-testid=stSidebar] label").filter(has_text="Upload").click()
        dropzone = self.page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]")
        await dropzone.wait_for(state="attached")
        before = await self.page.evaluate(CONV_SRC_JS)
        started = time.perf_counter()
        await dropzone.set_input_files(files=[{"name": f"photo-b{self.index}.jpg", "mimeType": "image/jpeg",
                                               "buffer": photo}])
        await self.page.wait_for_function(UPDATED_JS, arg=before)
        return time.perf_counter() - started

    async def change(self, key: str, value: object) -> float | None:
        before = await self.page.evaluate(CONV_SRC_JS)
        if key == "kl_preset":
            await self.page.locator(".st-key-kl_preset [role=combobox]").click()
            # The long menu draws only the options in view: type to filter it, as a student would.
            await self.page.keyboard.type(_preset_name(value))
            option = self.page.get_by_role("option", name=_preset_name(value), exact=True)
            started = time.perf_counter()
            await option.click()
        else:
            field_ = self.page.locator(".st-key-kl_stride_h input")
            await field_.fill(str(value))
            started = time.perf_counter()
            await field_.press("Enter")
        try:
            await self.page.wait_for_function(UPDATED_JS, arg=before, timeout=60_000)
            seconds = time.perf_counter() - started
        except Exception:  # playwright's timeout: counted as a change without a new picture
            seconds = None
        boxes = await self.page.locator("[data-testid=stException]").count()
        if boxes:
            self.errors.append(f"{boxes} exception boxes")
        return seconds

    async def close(self) -> list[str]:
        if hasattr(self, "context"):
            await self.context.close()
        return self.errors


async def student(index: int, make_tab, config: LoadConfig, phase: Phase, record: Record, rng: random.Random,
                  timings: list[float]) -> None:
    """One seat in the hall: arrive, upload a photo, change controls; in a soak, a new student takes the seat
    every ``config.churn`` changes."""
    await asyncio.sleep(rng.uniform(0, config.ramp))
    count, generation, waiting = 0, 0, True
    while True:
        tab = make_tab()
        try:
            record.first.append(await tab.open())
            record.opened += 1
            record.upload.append(await tab.upload(student_photo(index * 1000 + generation)))
            if waiting:
                phase.arrived()
                waiting = False
                await phase.go.wait()
            here = 0
            while phase.keep_changing(count) and not (config.soak and config.churn and here >= config.churn):
                await asyncio.sleep(rng.uniform(*config.think))
                seconds = await tab.change(*next_change(here))  # a new student starts from the default view
                count, here = count + 1, here + 1
                if seconds is None:
                    record.unanswered += 1
                else:
                    timings.append(seconds)
                    if timings is record.light and count <= config.changes:
                        record.light_share.append(seconds)
                if tab.script_seconds is not None:
                    record.script.append(tab.script_seconds)
        except Exception as error:  # ClientError or playwright's: this seat ends, the others go on
            record.errors.append(f"student {index} ({type(tab).__name__}): {type(error).__name__}: {str(error)[:300]}")
            if waiting:
                phase.arrived()
            return
        finally:
            record.errors += [f"student {index} ({type(tab).__name__}): {e}" for e in await tab.close()]
        generation += 1
        if not phase.keep_changing(count):
            return


def _preset_name(key: str) -> str:
    from cnnviz.i18n import t

    return t(kernels.KERNEL_PRESETS[key].name_key, "en")


async def trainer(index: int, url: str, config: LoadConfig, phase: Phase, record: Record) -> None:
    """Open the Train page with a training subset, press Start, watch the live panel until the run ends; in a
    soak, start again until the phase stops."""
    session = LightSession(url, timeout=300)
    try:
        await session.open("train", config.train_query)
        await phase.go.wait()
        while True:
            started = time.monotonic()
            await session.click("train_start")
            speeds, began = [], []

            def finished(s: LightSession) -> bool:
                found = progress(s)
                if found and found.group(1) != "Queued" and not began:
                    began.append(time.monotonic())  # a worker took it (shared mode's runs wait in its queue)
                if found and found.group(4) != "–":
                    speeds.append(int(found.group(4).replace(",", "")))
                return run_over(s)

            await session.follow_live(config.deadline, until=finished)
            found = progress(session)
            if not found or found.group(1) != "Done":
                record.errors.append(f"trainer {index}: the run did not finish: {found and found.group(0)}")
                phase.trainer_finished()
                return
            record.training.append({"trainer": index, "steps": int(found.group(3)), "images_per_s": int(
                found.group(4).replace(",", "")), "training_s": float(found.group(5)),
                "wall_s": round(time.monotonic() - started, 1), "live_speeds": speeds,
                "waiting_s": round((began[0] if began else time.monotonic()) - started, 1)})
            if not config.soak or phase.stop.is_set():
                phase.trainer_finished()
                return
    except ClientError as error:
        record.errors.append(f"trainer {index}: {error}")
        phase.trainer_finished()
    finally:
        record.errors += [f"trainer {index}: {e}" for e in session.errors]
        await session.close()


def run_over(session: LightSession) -> bool:
    """Whether the Train page shows its run ended: a final state, or no live status left to poll (a run stopped
    before its first step shows no progress line)."""
    found = progress(session)
    return bool(found and found.group(1) in FINISHED_STATES) or session._status_component() is None


def progress(session: LightSession) -> re.Match | None:
    """The Train page's progress line (state, step, total, images/s, seconds), if it shows one."""
    for text in session.texts():
        found = PROGRESS.search(text)
        if found:
            return found
    return None


# --- the run ----------------------------------------------------------------------------------------------------

WARM_UP_TRAINING = "n=1000&ep=1"  # 8 steps: loads MNIST into the process (about 220 MB, kept for every later run)


async def warm_up(url: str) -> None:
    """One session opens the Kernel Lab and makes a change, then trains a few steps on the Train page, so imports,
    MNIST and first-use caches are in the baseline instead of counting against the students."""
    session = LightSession(url, timeout=300)
    await session.open("")
    await session.set("kl_stride_h", 2)
    await session.close()
    session = LightSession(url, timeout=300)
    await session.open("train", WARM_UP_TRAINING)
    await session.click("train_start")
    await session.follow_live(300, until=run_over)
    found = progress(session)
    await session.close()
    if not found or found.group(1) != "Done":
        texts = " | ".join(text.strip()[:160] for text in session.texts() if text.strip())
        raise RuntimeError(f"the warm-up run on {url} did not finish: {found and found.group(0)}; the page: {texts}")


async def released(served: Servers, started: float, settle: float, phase: str = "after_ttl") -> dict:
    """Wait until every closed session's uploads and pictures are released (their TTL ran out and the sweep ran),
    or a deadline; then a memory sample."""
    deadline = time.monotonic() + served.ttl + (served.sweep or 0) + 20
    while time.monotonic() < deadline:
        held = await sample(served, started, "after_ttl", fresh=False)
        if held["uploads_mb"] == 0 and held["media_mb"] == 0:
            break
        await asyncio.sleep(2)
    await asyncio.sleep(settle)
    return await sample(served, started, phase)


async def redis_readings(served: Servers, phase: Phase, record: Record) -> asyncio.Task:
    """Shared mode: Redis's memory now, as the load starts; a task that reads it again once every trainer's run
    has ended and been released (its keys given their expiry), with the keys of the runs that ended meanwhile."""
    url = served.redis_url
    earlier = set(await asyncio.to_thread(redis_usage.run_footprints, url))  # the warm-up's runs
    record.redis["used_before"] = await asyncio.to_thread(redis_usage.used_memory, url)
    return asyncio.create_task(_redis_after(url, earlier, phase, record))


async def _redis_after(url: str, earlier: set[str], phase: Phase, record: Record) -> None:
    await phase.trained.wait()
    deadline = time.monotonic() + 30
    while True:
        runs = {key: run for key, run in (await asyncio.to_thread(redis_usage.run_footprints, url)).items()
                if key not in earlier}
        released = all(run.ttls and min(run.ttls) > 0 for run in runs.values())
        if released or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    record.redis["used_after"] = await asyncio.to_thread(redis_usage.used_memory, url)
    record.redis["runs"] = [asdict(run) for run in runs.values()]
    record.redis["released"] = released


async def monitor(served: Servers, started: float, record: Record, phase_name: list[str], every: float) -> None:
    while True:
        record.samples.append(await sample(served, started, phase_name[0], fresh=False))
        await asyncio.sleep(every)


async def run_load(config: LoadConfig, served: Servers) -> dict:
    record, rng = Record(), random.Random(config.seed)
    started = time.monotonic()
    for replica in served.replicas:  # every replica imports and warms its caches before the clock starts
        await warm_up(replica.url)
    note(f"warmed up; waiting for the warm-up sessions' TTL ({served.ttl} s), so the baseline and the reading "
         "after the students' TTL are alike")
    baseline = await released(served, started, config.settle, "baseline")
    phase_name = ["arriving"]
    watcher = asyncio.create_task(monitor(served, started, record, phase_name, 10.0 if config.soak else 2.0))
    phase = Phase(config)
    tasks = [asyncio.create_task(trainer(i, served.url, config, phase, record)) for i in range(config.trainers)]
    playwright = browser = None
    if config.browsers:
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    light, readings = config.students - config.browsers, None
    tasks += [asyncio.create_task(student(i, lambda i=i: LightTab(served.url, i), config, phase, record,
                                          random.Random(rng.random()), record.light)) for i in range(light)]
    tasks += [asyncio.create_task(student(light + i, lambda i=i: BrowserTab(served.url, light + i, browser), config,
                                          phase, record, random.Random(rng.random()), record.browser))
              for i in range(config.browsers)]
    try:
        note(f"{config.students} students arriving over {config.ramp:.0f} s")
        await asyncio.wait_for(phase.all_ready.wait(), config.deadline)
        note("every student has uploaded a photo")
        await asyncio.sleep(config.settle)
        idle = await sample(served, started, "idle")
        phase_name[0] = "load"
        load_started = time.monotonic()
        readings = await redis_readings(served, phase, record) if served.redis_url else None
        phase.go.set()
        note("load phase: changing controls" + (" and training" if config.trainers else ""))
        limit = config.soak or config.deadline
        done, pending = await asyncio.wait(tasks, timeout=limit)
        phase.stop.set()
        note(f"load phase over; {len(pending)} sessions finishing their last change")
        if pending:
            await asyncio.wait(pending, timeout=180)
        load_seconds = time.monotonic() - load_started
        if readings is not None:
            await asyncio.wait_for(readings, 60)
            record.redis["without_ttl"] = dict(await asyncio.to_thread(redis_usage.keys_without_ttl,
                                                                       served.redis_url))
    finally:
        for task in tasks + ([readings] if readings is not None else []):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if browser is not None:
            await browser.close()
            await playwright.stop()
    peak = max(record.samples, key=lambda s: s["rss_mb"])
    phase_name[0] = "closed"
    closed = await sample(served, started, "closed", fresh=False)
    note(f"sessions closed; waiting for their TTL ({served.ttl} s) and the sweep (every {served.sweep:g} s)")
    after = await released(served, started, config.settle)
    watcher.cancel()
    return {"config": asdict(config), "record": record, "baseline": baseline, "idle": idle,
            "peak_rss_mb": peak["rss_mb"], "peak": peak,
            "closed": closed, "after": after, "load_seconds": load_seconds, "log_problems": log_problems(served)}


def note(text: str) -> None:
    """Progress on stderr, so a long run shows where it is."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "–"
    return (f"p50 {percentile(values, 0.5):.2f} s  p95 {percentile(values, 0.95):.2f} s  "
            f"max {max(values):.2f} s  ({len(values)})")


def report(result: dict, served: Servers) -> None:
    config, record = LoadConfig(**{**result["config"], "think": tuple(result["config"]["think"])}), result["record"]
    base, idle, after = result["baseline"], result["idle"], result["after"]
    print(f"\n{config.setup}; {config.sessions} sessions: {config.students - config.browsers} light Kernel Lab, "
          f"{config.browsers} Chromium Kernel Lab, {config.trainers} training"
          + (f" (light, {config.train_query}); " if config.trainers else "; ")
          + f"think {config.think[0]:g}–{config.think[1]:g} s; "
          + (f"soak {config.soak:.0f} s, a new student every {config.churn} changes" if config.soak
             else f"{config.changes} changes each") + f"; load phase {result['load_seconds']:.0f} s")
    print(f"  change -> updated picture, light:    {summary(record.light)}")
    print(f"    each student's first {config.changes} changes: {summary(record.light_share)}")
    print(f"  change -> updated picture, Chromium: {summary(record.browser)}")
    print(f"  change -> end of script run, light:  {summary(record.script)}")
    print(f"  first load: {summary(record.first)};  photo upload -> pictures: {summary(record.upload)}")
    errors = record.errors + [f"server log: {line}" for line in result["log_problems"]]
    print(f"  errors: {len(errors)}; changes without a new picture: {record.unanswered}")
    for line in errors[:10]:
        print(f"    {line[:240]}")
    per_session = (idle["rss_mb"] - base["rss_mb"]) / max(config.sessions, 1)
    print(f"  server RSS: baseline {base['rss_mb']:.0f} MB, {config.sessions} sessions idle {idle['rss_mb']:.0f} MB "
          f"({per_session:+.1f} MB per session), peak {result['peak_rss_mb']:.0f} MB, "
          f"just closed {result['closed']['rss_mb']:.0f} MB, after TTL {after['rss_mb']:.0f} MB "
          f"({after['rss_mb'] - base['rss_mb']:+.0f} MB vs baseline)")
    print(f"  held by Streamlit (uploads / pictures / session state, MB): idle {idle['uploads_mb']:.1f} / "
          f"{idle['media_mb']:.1f} / {idle['session_state_mb']:.2f}, just closed {result['closed']['uploads_mb']:.1f} / "
          f"{result['closed']['media_mb']:.1f}, after TTL {after['uploads_mb']:.1f} / {after['media_mb']:.1f} / "
          f"{after['session_state_mb']:.2f}; sessions per replica at idle {idle['sessions_per_replica']}")
    for run in record.training:
        live = run["live_speeds"]
        print(f"  training run (trainer {run['trainer']}): {run['images_per_s']:,} images/s as the page reports, "
              f"{run['training_s']:.1f} s training, {run['wall_s']:.0f} s from Start to Done "
              f"({run['waiting_s']:.0f} s of them before its first step), {run['steps']} steps; "
              f"live figures {min(live) if live else 0:,}–{max(live) if live else 0:,} images/s")
    print("  memory, server + its workers (RSS MB): " + " -> ".join(
        f"{name} {point['rss_mb']:.0f} ({point['server_mb']:.0f} + {point['workers_mb']:.0f})"
        for name, point in (("baseline", base), ("peak", result["peak"]), ("after TTL", after)))
        + f"; after TTL {after['rss_mb'] - base['rss_mb']:+.0f} MB vs baseline")
    print(f"  the server's own RSS after TTL vs baseline: private (heap) "
          f"{after['server_anon_mb'] - base['server_anon_mb']:+.0f} MB, mapped files (libraries' code) "
          f"{after['server_file_mb'] - base['server_file_mb']:+.0f} MB")
    if config.redis:
        print(f"  training workers (RSS MB, with their training processes): baseline {base['queue_workers_mb']:.0f}, "
              f"peak {result['peak']['queue_workers_mb']:.0f}, after TTL {after['queue_workers_mb']:.0f}")
        redis_report(record.redis)
    if config.soak:
        soak_curve(record.samples)


def redis_report(readings: dict) -> None:
    """What Redis holds per finished run, how long it stays, and what expires it."""
    from cnnviz.training.shared import keep_seconds

    runs = [run for run in readings.get("runs", []) if run["state"] in ("done", "stopped", "failed")]
    if not runs:
        print("  Redis: no run finished during the load phase")
        return
    grown = readings["used_after"] - readings["used_before"]
    parts = ", ".join(f"{part} {statistics.mean(r['parts'].get(part, 0) for r in runs) / 1e3:.1f}"
                      for part in runs[0]["parts"])
    print(f"  Redis per finished run: {statistics.mean(r['bytes'] for r in runs) / 1e3:.0f} kB by MEMORY USAGE of "
          f"its keys ({parts} kB; "
          f"{statistics.mean(r['records'] for r in runs):.0f} records in its stream, weights "
          f"{statistics.mean(r['weights_bytes'] for r in runs) / 1e3:.0f} kB as torch.save bytes; "
          f"{', '.join(sorted({r['size'] for r in runs}))}); used_memory {readings['used_before'] / 1e6:.2f} -> "
          f"{readings['used_after'] / 1e6:.2f} MB over {len(runs)} finished runs, {grown / len(runs) / 1e3:+.0f} kB "
          "per run")
    ttls = [t for r in runs for t in r["ttls"]]
    print(f"  a finished run stays {keep_seconds()} s after a page last looked at it (CNNVIZ_RUN_KEEP_SECONDS as "
          f"this process reads it; every look sets it again): its keys' TTLs read {min(ttls)}–{max(ttls)} s just "
          f"after the runs ended{'' if readings['released'] else ' (some keys were not yet released)'}; Redis "
          "expires the keys themselves (EXPIRE on each key, no sweeper)")
    lasting = readings.get("without_ttl", {})
    lasting = ", ".join(f"{count} {pattern}" for pattern, count in sorted(lasting.items())) or "none"
    print(f"  keys with no expiry after the load: {lasting}")


def compare(sides: list[tuple[LoadConfig, dict]], goal: float = 1.2) -> None:
    """The shared side against the one-process reference, side by side, with the ratio of their p95s."""
    (one, reference), (shared, result) = sides
    picks = {"change -> picture p50, s": lambda r: percentile(r["record"].light_share, 0.5),
             "change -> picture p95, s": lambda r: percentile(r["record"].light_share, 0.95),
             "changes timed": lambda r: len(r["record"].light_share),
             "all changes: p50, s": lambda r: percentile(r["record"].light, 0.5),
             "all changes: p95, s": lambda r: percentile(r["record"].light, 0.95),
             "all changes: count": lambda r: len(r["record"].light),
             "changes with no new picture": lambda r: r["record"].unanswered,
             "errors": lambda r: len(r["record"].errors) + len(r["log_problems"]),
             "training runs done": lambda r: len(r["record"].training),
             "load phase, s": lambda r: r["load_seconds"],
             "other processes' load, cores": lambda r: r.get("others_cores")}
    rows = {name: (pick(reference), pick(result)) for name, pick in picks.items()}
    print(f"\nShared mode against one process: {shared.sessions} sessions ({shared.trainers} training, "
          f"{shared.browsers} in Chromium), {shared.changes} changes each, think {shared.think[0]:g}–"
          f"{shared.think[1]:g} s, runs {shared.train_query}")
    print(f"  one process = {one.setup}; shared = {shared.setup}")
    print(f"  change -> picture: each student's first {shared.changes} changes, which both sides make; \"all "
          "changes\" adds those made while the runs still trained")
    print(f"  {'':30} {'one process':>12} {'shared':>12}  shared / one")
    cell = (lambda v: "–" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v))
    for name, (a, b) in rows.items():
        ratio = f"{b / a:.2f}" if isinstance(a, float) and isinstance(b, float) and a else ""
        print(f"  {name:30} {cell(a):>12} {cell(b):>12}  {ratio}")
    low, high = rows["change -> picture p95, s"]
    p95, errors = high / low if low else float("inf"), sum(rows["errors"])
    print(f"  goal: 0 errors and p95 shared <= {goal}x one process: "
          f"{'met' if errors == 0 and p95 <= goal else 'NOT met'} ({errors} errors, ratio {p95:.2f})")


def soak_curve(samples: list[dict]) -> None:
    load = [s for s in samples if s["phase"] == "load"]
    if len(load) < 4:
        return
    t0 = load[0]["t"]
    print("  soak memory (minute: RSS MB, uploads MB, pictures MB, sessions):")
    marks = {}
    for s in load:
        marks.setdefault(int((s["t"] - t0) // 60), s)
    for minute, s in sorted(marks.items()):
        print(f"    {minute:3d}: {s['rss_mb']:7.0f} {s['uploads_mb']:7.1f} {s['media_mb']:7.1f} "
              f"{int(s['active_sessions']):4d}")
    second_half = load[len(load) // 2:]
    t = np.array([s["t"] for s in second_half]) / 60
    slope = np.polyfit(t, [s["rss_mb"] for s in second_half], 1)[0]
    media = np.polyfit(t, [s["media_mb"] + s["uploads_mb"] for s in second_half], 1)[0]
    print(f"  second half of the soak: RSS {slope:+.1f} MB/min, uploads + pictures {media:+.2f} MB/min; "
          f"RSS min {min(s['rss_mb'] for s in load):.0f}, max {max(s['rss_mb'] for s in load):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = LoadConfig()
    parser.add_argument("--sessions", type=int, default=defaults.sessions)
    parser.add_argument("--browsers", type=int, help=f"default {defaults.browsers}; 0 with --redis (light only)")
    parser.add_argument("--trainers", type=int, default=defaults.trainers)
    parser.add_argument("--changes", type=int, default=defaults.changes)
    parser.add_argument("--think", default="2-6", help="seconds between a student's changes, min-max")
    parser.add_argument("--ramp", type=float, default=defaults.ramp)
    parser.add_argument("--replicas", type=int, default=defaults.replicas)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of continuous changes")
    parser.add_argument("--churn", type=int, default=defaults.churn)
    parser.add_argument("--train-query", help=f"default {defaults.train_query}; {SHARED_TRAIN_QUERY} with --redis")
    parser.add_argument("--redis", action="store_true",
                        help="shared mode (a real redis-server, --workers training workers), then the same sessions "
                             "against one process with no Redis, and the two compared")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="shared mode's training workers")
    parser.add_argument("--ttl", type=int, help="override server.disconnectedSessionTTL, s")
    parser.add_argument("--sweep", type=float, help="override CNNVIZ_SWEEP_SECONDS (0 = no expired-session sweep)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    low, high = (float(v) for v in args.think.split("-"))
    browsers = args.browsers if args.browsers is not None else 0 if args.redis else defaults.browsers
    train_query = args.train_query or (SHARED_TRAIN_QUERY if args.redis else defaults.train_query)
    config = LoadConfig(sessions=args.sessions, browsers=browsers, trainers=args.trainers, changes=args.changes,
                        think=(low, high), ramp=args.ramp, replicas=args.replicas, soak=args.soak, churn=args.churn,
                        train_query=train_query, ttl=args.ttl, sweep=args.sweep, redis=args.redis,
                        workers=args.workers)
    print(f"Load benchmark · {machine()} · load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    # Shared mode is measured against its reference, the embedded mode in one process, in the same invocation.
    configs = [replace(config, redis=False, replicas=1), config] if config.redis else [config]
    sides = []
    for each in configs:
        note(f"starting: {each.setup}")
        with servers(each) as served, OthersLoad() as others:
            result = asyncio.run(run_load(each, served))
        result["others_cores"] = others.cores
        report(result, served)
        sides.append((each, result))
    if config.redis:
        compare(sides)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        out = [{**result, "record": asdict(result["record"]), "machine": machine(), "loadavg_end": os.getloadavg()}
               for _, result in sides]
        args.json.write_text(json.dumps(out if config.redis else out[0], indent=1, default=str))


if __name__ == "__main__":
    main()
