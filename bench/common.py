"""Shared by the benchmark scripts: where and when a figure was measured, and the app served to Chromium."""
import contextlib
import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    import torch

    return (f"{datetime.date.today().isoformat()} · {platform.machine()} · {os.cpu_count()} cores · "
            f"Python {platform.python_version()} · torch {torch.__version__} · {torch.get_num_threads()} torch threads")


IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def served_page(viewport=(1400, 1000)):
    """`streamlit run app.py` on a free loopback port and a blank headless Chromium page: yields (page, base URL).

    The page is not opened yet, so listeners (e.g. on the websocket) can be attached first.
    """
    import socket
    import subprocess
    import time
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page, base
            browser.close()
    finally:
        server.terminate()
