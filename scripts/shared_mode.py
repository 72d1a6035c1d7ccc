"""Shared mode's parts on loopback, for tests and benchmarks: a real ``redis-server`` and workers started by the
documented command, each stopped afterwards.

    with redis_server() as url, workers(url, 1):
        ...  # serve replicas with env={"CNNVIZ_REDIS_URL": url}
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from scripts.serve_app import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = os.environ.get("CNNVIZ_REDIS_SERVER", "redis-server")


def redis_server_path() -> str | None:
    """The redis-server binary (Debian's package puts it in /usr/bin), or None."""
    return shutil.which(REDIS_SERVER) or (REDIS_SERVER if Path(REDIS_SERVER).is_file() else None)


@contextlib.contextmanager
def redis_server(timeout: float = 20) -> Iterator[str]:
    """A real redis-server on a free loopback port, with no persistence and a password; yields its URL."""
    binary = redis_server_path()
    if binary is None:
        raise RuntimeError(f"no {REDIS_SERVER}: apt-get install redis-server")
    import redis

    port, password = free_port(), "cnnviz-test"
    with tempfile.TemporaryDirectory(prefix="cnnviz-redis-") as folder:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", folder, "--requirepass", password, "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"redis://:{password}@127.0.0.1:{port}/0"
        try:
            client, deadline = redis.Redis.from_url(url), time.monotonic() + timeout
            while True:
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not answer on port {port} (exit code {server.poll()})")
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            stop_process(server)


def start_worker(url: str, *, log: Path | None = None) -> subprocess.Popen:
    """One worker, started by the documented command, in a process group of its own (so that a test can kill it
    and its training process with one signal, as a machine that goes away would)."""
    output = open(log, "ab") if log is not None else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "cnnviz.training.worker"], cwd=ROOT,
                            env={**os.environ, "CNNVIZ_REDIS_URL": url}, stdout=output, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its training process: nothing gets to say goodbye."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def workers(url: str, count: int = 1, *, log: Path | None = None) -> Iterator[list[subprocess.Popen]]:
    processes = [start_worker(url, log=log) for _ in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                kill_worker(process)
