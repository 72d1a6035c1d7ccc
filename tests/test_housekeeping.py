"""The expired-session sweep, on Streamlit's real media and upload managers with a stand-in session store.

The end-to-end check (a real server, tabs that close, their TTL running out) is tests/test_load_short.py.
"""
from __future__ import annotations

import ast
import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.runtime import media_file_manager
from streamlit.runtime.caching.ttl_cache import TTLCache
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from cnnviz.training import spare as spares
from cnnviz.pages import train_live
from cnnviz.ui import housekeeping
from cnnviz.ui.housekeeping import Released, release_expired, sweep_seconds, tidy_up


class Session:
    """Stands in for an AppSession: shutting down releases what it holds, as AppSession.shutdown does."""

    def __init__(self, session_id: str, media: MediaFileManager, uploads: MemoryUploadedFileManager):
        self.id, self.media, self.uploads, self.shutdowns = session_id, media, uploads, 0

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.uploads.remove_session_files(self.id)
        self.media.clear_session_refs(self.id)
        self.media.remove_orphaned_files()


@pytest.fixture
def runtime(monkeypatch):
    media = MediaFileManager(MemoryMediaFileStorage("/media"))
    uploads = MemoryUploadedFileManager("/_stcore/upload_file")

    def show(session_id: str, picture: bytes, where: str) -> None:
        monkeypatch.setattr(media_file_manager, "_get_session_id", lambda: session_id)
        media.add(picture, "image/png", where)

    show("alive", b"shared picture", "1.0")
    show("dropped", b"shared picture", "1.0")  # the same bytes: one stored file, referenced by both sessions
    show("dropped", b"dropped's picture", "1.1")
    show("expired", b"expired's picture", "1.0")
    uploads.add_file("alive", UploadedFileRec("a", "a.png", "image/png", b"abc"))
    uploads.add_file("dropped", UploadedFileRec("d", "d.png", "image/png", b"12345"))
    uploads.add_file("expired", UploadedFileRec("e", "e.png", "image/png", b"1234567"))
    clock = [0.0]
    kept = TTLCache(maxsize=128, ttl=10, timer=lambda: clock[0])  # Streamlit's store of disconnected sessions
    expired = Session("expired", media, uploads)
    kept["expired"] = SimpleNamespace(session=expired)
    clock[0] = 11.0  # its reconnect time ran out; the store still holds it
    alive = SimpleNamespace(session=SimpleNamespace(id="alive"))
    manager = SimpleNamespace(_session_storage=SimpleNamespace(_cache=kept),
                              list_sessions=lambda: [alive, *kept.values()])
    return SimpleNamespace(media_file_mgr=media, uploaded_file_mgr=uploads, _session_mgr=manager, expired=expired)


def test_expired_and_dropped_sessions_give_back_their_uploads_and_own_pictures(runtime):
    released = release_expired(runtime)
    assert released == Released(shut_down=1, sessions=1, upload_bytes=7 + 5, media_files=2, live=1)
    assert runtime.expired.shutdowns == 1 and runtime._session_mgr._session_storage._cache.expire() == []
    assert set(runtime.uploaded_file_mgr.file_storage) == {"alive"}
    assert len(runtime.media_file_mgr._file_metadata) == 1  # the picture "alive" still shows is kept


def test_live_sessions_keep_everything_and_a_second_sweep_finds_nothing(runtime):
    release_expired(runtime)
    assert release_expired(runtime) == Released(shut_down=0, sessions=0, upload_bytes=0, media_files=0, live=1)
    assert runtime.expired.shutdowns == 1
    assert runtime.uploaded_file_mgr.get_files("alive", ["a"])[0].data == b"abc"


@pytest.mark.parametrize(("value", "seconds"), [(None, 0.0), ("30", 30.0), ("5", 5.0), ("0", 0.0), ("-2", 0.0)])
def test_sweep_interval_comes_from_the_environment(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv("CNNVIZ_SWEEP_SECONDS", raising=False)
    else:
        monkeypatch.setenv("CNNVIZ_SWEEP_SECONDS", value)
    assert sweep_seconds() == seconds


@pytest.fixture
def spare():
    """A real spare training worker (cnnviz.training.spare.prepare_worker), as the Train page starts one; let go
    afterwards."""
    spares.discard_spare()
    spares.prepare_worker()
    process = spares._SPARES.spare.process
    yield process
    spares.discard_spare()
    process.join(10)


@pytest.mark.slow
def test_a_sweep_that_leaves_no_session_lets_the_spare_worker_go(runtime, spare):
    runtime._session_mgr.list_sessions = lambda: []  # the last tab closed and its reconnect time ran out
    tidy_up(release_expired(runtime), None)
    spare.join(30)
    assert not spare.is_alive() and spares._SPARES.spare is None


@pytest.mark.slow
def test_the_spare_worker_stays_while_a_session_is_left(runtime, spare):
    tidy_up(release_expired(runtime), None)  # "alive" is still connected: it may press Start
    assert spares._SPARES.spare is not None and spares._SPARES.spare.process is spare and spare.is_alive()


@pytest.mark.slow
def test_freed_memory_is_returned_after_a_release_and_once_more_after_it(runtime, spare, monkeypatch):
    trims = []
    monkeypatch.setattr(housekeeping, "_return_freed_memory", lambda: trims.append(len(trims)))
    first = release_expired(runtime)  # shuts "expired" down: its script thread frees its objects later
    tidy_up(first, None)
    second = release_expired(runtime)
    tidy_up(second, first)
    tidy_up(release_expired(runtime), second)
    assert (first.anything, second.anything) == (True, False)
    assert trims == [0, 1]  # after the release, after the sweep that followed it, then no more


class _Cycle:
    """What a finished script run leaves: objects that refer to each other, unreachable from anywhere else."""

    def __init__(self) -> None:
        self.me = self


def test_returning_freed_memory_frees_what_closed_sessions_left_in_cycles():
    enabled = gc.isenabled()
    gc.disable()  # as on a server at rest: no allocations, so no automatic full collection
    try:
        left = weakref.ref(_Cycle())
        assert left() is not None  # only a collection frees a cycle
        housekeeping._return_freed_memory()
        assert left() is None
    finally:
        if enabled:
            gc.enable()


# Eight threads each allocate from the C heap and hold on until all have: glibc gives each new thread a heap (arena)
# of its own, and malloc_stats() prints one "Arena N:" block per heap to stderr.
ARENAS_SCRIPT = """
import ctypes, sys, threading
from cnnviz.ui.housekeeping import limit_heap_arenas
if sys.argv[1] == "limited":
    assert limit_heap_arenas(2)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
all_in = threading.Barrier(8)
def allocate():
    libc.malloc(4096)
    all_in.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()
"""


def heap_arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", ARENAS_SCRIPT, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_server_keeps_its_heap_in_two_arenas():
    assert heap_arenas("default") > 2  # glibc's default: a heap per new thread, so this test can fail
    assert heap_arenas("limited") == 2


def test_a_heap_needs_at_least_one_arena():
    with pytest.raises(ValueError, match="arenas=0"):
        housekeeping.limit_heap_arenas(0)


def test_a_sweep_that_leaves_no_session_empties_the_shared_results(runtime, monkeypatch):
    monkeypatch.setattr(housekeeping, "_SHARED_RESULTS", {})
    made = []

    @housekeeping.shared_results(4)
    def picture(key: str) -> list[str]:
        made.append(key)
        return [key]

    picture("a")
    tidy_up(release_expired(runtime), None)  # "alive" is still connected: its pictures stay
    picture("a")
    assert made == ["a"]
    run = SimpleNamespace(id="run")
    train_live.shared(run, "en", "chart", lambda: "{}")
    runtime._session_mgr.list_sessions = lambda: []  # the last tab closed and its reconnect time ran out
    tidy_up(release_expired(runtime), None)
    picture("a")
    assert made == ["a", "a"]  # made again: the sweep emptied the cache
    assert not train_live._built  # and the room's shared charts


def test_a_page_defining_its_cached_function_again_is_registered_once(monkeypatch):
    # Streamlit runs a page script anew each time, so its module-level cached functions are defined on every run.
    monkeypatch.setattr(housekeeping, "_SHARED_RESULTS", {})
    for _ in range(3):
        @housekeeping.shared_results(4)
        def picture(key: str) -> str:
            return key
    assert list(housekeeping._SHARED_RESULTS) == [f"{__name__}.{picture.__qualname__}"]


# What outlives every session by design: the run registry a refresh must find again, the class store (a class lasts
# 12 hours, across every student's session), and one-off setup.
OUTLIVES_SESSIONS = {"registry", "class_store", "limiter", "_warmed_up", "_untrained"}


def test_every_other_page_cache_is_emptied_by_the_sweep():
    cached = {}
    for path in Path(housekeeping.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    call = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if ast.unparse(call) in ("st.cache_resource", "st.cache_data"):
                        cached[node.name] = path.name
    assert set(cached) <= OUTLIVES_SESSIONS, {name: cached[name] for name in set(cached) - OUTLIVES_SESSIONS}


def test_a_server_warms_the_layer_table_as_it_starts(monkeypatch):
    warmed = threading.Event()
    monkeypatch.setattr(housekeeping, "summarize", lambda cfg: warmed.set())
    monkeypatch.setattr(housekeeping.Runtime, "exists", staticmethod(lambda: True))
    monkeypatch.setenv("CNNVIZ_SWEEP_SECONDS", "0")
    assert housekeeping._start() is None  # no sweep asked for; the warm-up runs all the same
    assert warmed.wait(30)
