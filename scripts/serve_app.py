"""Serve the app for a real browser: `streamlit run app.py` on a free loopback port, stopped afterwards.

Shared by the browser tests, the benchmarks and the screenshot script, so each drives the app exactly as a user's
`streamlit run app.py` serves it (its pages and the live status route).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"  # the page's script run has finished


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Served:
    """A running `streamlit run` of the app."""

    url: str  # base URL, e.g. http://127.0.0.1:8501
    process: subprocess.Popen  # the server process (its pid for memory readings)
    log: Path  # its stdout and stderr, removed when the server stops


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Ask ``process`` to end; kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def answers_health(url: str, process: subprocess.Popen, timeout: float) -> bool:
    """Wait until ``url``'s /_stcore/health answers 200; False if ``process`` ends or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


@contextlib.contextmanager
def served_app(*, timeout: float = 90, env: dict[str, str] | None = None, script: str = "app.py",
               port: int | None = None, flags: tuple[str, ...] = ()) -> Iterator[Served]:
    """A freshly started app (``script``, relative to the repository) on ``port`` (a free one if None), with extra
    ``flags`` for `streamlit run`; raise RuntimeError with the server's log if it never answers."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"streamlit-{port}-", suffix=".log", delete=False)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *flags],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(url, server, timeout):
            log.seek(0)
            raise RuntimeError(f"streamlit did not answer on port {port} (exit code {server.poll()}):\n"
                               f"{log.read()[-3000:]}")
        yield Served(url, server, Path(log.name))
    finally:
        stop_process(server)
        log.close()
        os.unlink(log.name)


@contextlib.contextmanager
def serve_app(*, timeout: float = 90, env: dict[str, str] | None = None, script: str = "app.py") -> Iterator[str]:
    """Yield the base URL of a freshly started app (``script``, relative to the repository); raise RuntimeError with
    the server's log if it never answers."""
    with served_app(timeout=timeout, env=env, script=script) as served:
        yield served.url


@contextlib.contextmanager
def nginx_in_front(ports: list[int], *, timeout: float = 30) -> Iterator[str]:
    """nginx in the foreground on a free loopback port, in front of the app replicas on loopback ``ports``, filled in
    from deploy/nginx.conf with its own prefix and temp folders; yields its URL."""
    import shutil

    from deploy.nginx_conf import nginx_conf

    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install -y nginx")
    folder = Path(tempfile.mkdtemp(prefix="cnnviz-nginx-"))
    folder.chmod(0o755)  # nginx's workers run as an unprivileged user and write their temp files here
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(nginx_conf(f"127.0.0.1:{port}", ports, folder))
    process = subprocess.Popen([binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf),
                                "-g", f"daemon off; pid {folder / 'nginx.pid'};"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(url, process, timeout):
            log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
            raise RuntimeError(f"nginx did not answer on port {port}:\n{log[-2000:]}")
        yield url
    finally:
        stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)
