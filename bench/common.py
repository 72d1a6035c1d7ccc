"""Shared by the benchmark scripts: where and when a figure was measured, quiet AppTest runs, the app in Chromium."""
import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.serve_app import CHROMIUM, CHROMIUM_ARGS, IDLE, serve_app  # noqa: E402,F401  (IDLE: for the benches)


SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile")  # what oneDNN uses


def cpu() -> str:
    """The CPU model and the vector extensions oneDNN can use (Linux /proc/cpuinfo): machines like this one range
    from AVX-512 boxes to AVX2-only ones several times slower, so a time means little without them."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return f"{fields.get('model name', 'unknown CPU')} [{' '.join(f for f in SIMD_FLAGS if f in flags) or 'no AVX2'}]"


def machine() -> str:
    import torch

    return (f"{datetime.date.today().isoformat()} · {cpu()} · {platform.machine()} · {os.cpu_count()} cores · "
            f"Python {platform.python_version()} · torch {torch.__version__} · {torch.get_num_threads()} torch threads · "
            f"commit {commit()}")


def commit() -> str:
    """The checkout's commit, with "+changes" when the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("+changes" if git("status", "--porcelain") else "")


def json_child(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> dict:
    """Run a fresh process; its last stdout line, read as JSON. A failed process ends the benchmark with the end of its
    stderr."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"{' '.join(map(str, command))} in {cwd} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def busy_cpu_seconds() -> float | None:
    """Non-idle CPU seconds of the whole machine since boot (Linux /proc/stat), or None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OthersLoad:
    """How many cores other processes kept busy while a block ran: the machine's busy CPU time minus that of this
    process and everything it started (servers, browsers, their children), per wall second. On 2 shared cores
    anything above ~0.3 spoils a timing.

        with OthersLoad() as load:
            ...
        load.cores
    """

    def __enter__(self) -> "OthersLoad":
        self.cores = None
        self._busy, self._own, self._wall = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy = busy_cpu_seconds()
        if busy is not None and self._busy is not None:
            wall = time.perf_counter() - self._wall
            others = (busy - self._busy) - (own_cpu_seconds() - self._own)
            self.cores = max(0.0, others) / max(wall, 1e-9)


def own_cpu_seconds() -> float:
    """CPU seconds of this process and all its descendants, living or ended (Linux /proc; else this process and
    the children it has waited for). Each process counts its own time and that of the children it has reaped, so
    the sum over the living tree only grows."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    if os.getpid() not in times:
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times[pid] for pid in tree)


def spread(values, form: str = ".3f") -> str:
    """min / median / max, the way every ratio here is reported."""
    values = list(values)
    return " / ".join(format(v, form) for v in (min(values), statistics.median(values), max(values)))


def quiet_streamlit() -> None:
    """Silence Streamlit's bare-mode loggers: AppTest runs the page outside `streamlit run`, and every widget read
    would print "missing ScriptRunContext" (hundreds of lines per benchmark). Streamlit sets each logger's level when
    it creates it and AppTest re-reads the level from its config, so both must say "error"."""
    os.environ["STREAMLIT_LOGGER_LEVEL"] = "error"
    import streamlit.logger

    streamlit.logger.set_log_level("error")


@contextlib.contextmanager
def served_page(viewport=(1400, 1000), script: str = "app.py", env: dict[str, str] | None = None):
    """`streamlit run app.py` on a free loopback port and a blank headless Chromium page: yields (page, base URL).

    The page is not opened yet, so listeners (e.g. on the websocket) can be attached first. ``env`` adds to the
    server's environment (e.g. CNNVIZ_MAX_JOBS).
    """
    from playwright.sync_api import sync_playwright

    with serve_app(script=script, env=env) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        yield page, base
        browser.close()
