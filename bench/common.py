"""Shared by the benchmark scripts: where and when a figure was measured, quiet AppTest runs, the app in Chromium."""
import contextlib
import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.serve_app import CHROMIUM, CHROMIUM_ARGS, IDLE, serve_app  # noqa: E402,F401  (IDLE: for the benches)


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (the platform's architecture where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def machine() -> str:
    import torch

    return (f"{datetime.date.today().isoformat()} · {cpu_model()} · {os.cpu_count()} cores · "
            f"Python {platform.python_version()} · torch {torch.__version__} · {torch.get_num_threads()} torch threads")


def quiet_streamlit() -> None:
    """Silence Streamlit's bare-mode loggers: AppTest runs the page outside `streamlit run`, and every widget read
    would print "missing ScriptRunContext" (hundreds of lines per benchmark). Streamlit sets each logger's level when
    it creates it and AppTest re-reads the level from its config, so both must say "error"."""
    os.environ["STREAMLIT_LOGGER_LEVEL"] = "error"
    import streamlit.logger

    streamlit.logger.set_log_level("error")


@contextlib.contextmanager
def served_page(viewport=(1400, 1000), script: str = "app.py"):
    """`streamlit run app.py` on a free loopback port and a blank headless Chromium page: yields (page, base URL).

    The page is not opened yet, so listeners (e.g. on the websocket) can be attached first.
    """
    from playwright.sync_api import sync_playwright

    with serve_app(script=script) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        yield page, base
        browser.close()
