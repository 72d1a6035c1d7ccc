"""Process-wide housekeeping for a server a whole class uses: what closed tabs leave behind is released.

Streamlit keeps a closed tab's session for ``server.disconnectedSessionTTL`` seconds, so that a tab whose Wi-Fi
dropped gets its session back. When that time runs out, Streamlit 1.67 never shuts the session down:

- its store (a TTL cache) only hides an expired session; the session object, with its widget values (an uploaded
  photo among them), stays in memory until some later disconnect writes to the store;
- and when the store finally drops it, nothing releases what the session holds in the process-wide managers: its
  uploaded files (the ``UploadedFileManager``) and the pictures its page showed last (the ``MediaFileManager`` keeps
  them by session id). Those stay for the life of the process.

Each closed tab leaves its photo and pictures behind (``bench/load.py --soak`` shows the memory), a phone photo is
several MB, and a course opens and closes hundreds of tabs a day.

Every ``sweep_seconds()`` a daemon thread asks the server's event loop (the only thread that touches Streamlit's
session store) to take the expired sessions out of the store and shut them down as Streamlit shuts down a session
it closes itself, and to release the uploads and pictures of any other session id the store no longer knows (one
its own writes dropped first). If a Streamlit upgrade moves the internals it reads, the sweep logs a warning and
stops, and tests/test_load_short.py fails.

Two more things outlive the sessions that needed them, and the sweep gives them back too:

- the spare training worker (cnnviz.training.spare.prepare_worker), an idle interpreter with torch imported, hundreds of MB:
  once no session is left to press Start, it is let go; the next Train page drawn starts another;
- the results every session shared (the pages' caches made with ``shared_results``, each bounded by its entry
  count): once no session is left nobody reads them, and the next student's first change makes what it needs;
- the heap pages freed by a shut-down session: its script thread ends and its objects are freed after the sweep that
  shut it down, so the sweep after that returns the pages to the system as well.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime import Runtime

from cnnviz.model import DEFAULT_PRESET, NETWORK_PRESETS, summarize
from cnnviz.pages import train_live
from cnnviz.training.spare import discard_spare

_LOG = logging.getLogger("cnnviz")


def sweep_seconds() -> float:
    """CNNVIZ_SWEEP_SECONDS, else 0 (off): how often expired sessions are looked for; 30 suits a course server.

    Off by default for now: with the sweep on, tests/browser/test_kernel_lab_browser.py's typing test fails (cause
    not found yet); bench/load.py and tests/test_load_short.py turn it on.
    """
    return max(0.0, float(os.environ.get("CNNVIZ_SWEEP_SECONDS", "0")))


@dataclass(frozen=True)
class Released:
    """What one sweep gave back."""

    shut_down: int  # expired sessions taken out of the store and shut down
    sessions: int  # session ids the store had already dropped, whose leftovers were released
    upload_bytes: int  # the uploaded files of both
    media_files: int  # pictures that were stored before the sweep and are deleted now
    live: int  # sessions left: connected, or closed and still within their reconnect time

    @property
    def anything(self) -> bool:
        return bool(self.shut_down or self.sessions)


def release_expired(runtime: Any) -> Released:
    """Shut down the sessions whose reconnect time ran out, and release the uploads and picture references of every
    session id ``runtime`` no longer knows.

    Must run on the server's event loop: Streamlit's session store is not thread-safe.
    """
    media, uploads = runtime.media_file_mgr, runtime.uploaded_file_mgr
    before = set(media._file_metadata)
    held = sum(len(record.data) for files in uploads.file_storage.values() for record in files.values())
    expired = runtime._session_mgr._session_storage._cache.expire()  # [(session id, SessionInfo)]
    for _, info in expired:
        info.session.shutdown()  # what Streamlit does for a session it closes: uploads, pictures, script thread
    live = {info.session.id for info in runtime._session_mgr.list_sessions()}
    with media._lock:
        known = set(media._files_by_session_and_coord)
    known |= set(uploads.file_storage)
    gone = known - live
    for session_id in gone:
        media.clear_session_refs(session_id)
        uploads.remove_session_files(session_id)
    if gone:
        media.remove_orphaned_files()
    left = sum(len(record.data) for files in uploads.file_storage.values() for record in files.values())
    return Released(len(expired), len(gone), held - left, len(before - set(media._file_metadata)), len(live))


# Every function made by shared_results, by its module and name. A page script runs anew each time and defines its
# cached functions again: keeping only the latest definition of each holds one cached function per name, where a list
# held every run's (and, through each function's globals, every run's whole page namespace) for the server's life.
_SHARED_RESULTS: dict[str, Any] = {}


def shared_results(max_entries: int | None = None, copies: bool = False) -> Callable[[Callable], Any]:
    """``st.cache_resource`` (``st.cache_data`` with ``copies``: each caller gets its own copy) for results that every
    session shares and none owns (pictures, convolutions, a model's forward pass): the sweep empties them once no
    session is left. Not for what outlives sessions by design, such as the run registry, which a refresh must find
    again (tests/test_housekeeping.py lists those)."""
    def register(func: Callable) -> Any:
        cache = st.cache_data if copies else st.cache_resource
        cached = cache(func, max_entries=max_entries, show_spinner=False)
        _SHARED_RESULTS[f"{func.__module__}.{func.__qualname__}"] = cached
        return cached
    return register


def clear_shared_results() -> None:
    for cached in _SHARED_RESULTS.values():
        cached.clear()


def tidy_up(released: Released, before: Released | None) -> None:
    """After a sweep (``released``; ``before``: the sweep before it, None for the first): with no session left, let
    the spare training worker go and empty the shared results; return freed heap pages to the system after any
    sweep that released something and after the one that follows it."""
    if not released.live:
        discard_spare()
        clear_shared_results()
        train_live.clear_shared()  # the room's last charts: a second old already, and no room is left to share them
    if released.anything or (before is not None and before.anything):
        _return_freed_memory()


HEAP_ARENAS = 2  # glibc's malloc arenas for the whole server process
_M_ARENA_MAX = -8  # mallopt's parameter number for the arena count (glibc's malloc.h)


def limit_heap_arenas(arenas: int = HEAP_ARENAS) -> bool:
    """Let glibc's malloc keep at most ``arenas`` heaps in this process (the server; call it before it serves);
    False where the C library is not glibc.

    Each session's script runs in a thread of its own, and glibc gives each new thread a heap of its own, up to eight
    per core. A heap gives back only the free pages at its top and the whole free pages malloc_trim finds, so the
    fragments that many short-lived threads left in many heaps stayed resident after their sessions ended; with two
    heaps the memory closed sessions freed comes back (bench/load.py's soak), and changes answer as fast.
    """
    if arenas < 1:
        raise ValueError(f"arenas must be at least 1, got arenas={arenas}")
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc
        return False


def _return_freed_memory() -> None:
    """Free what closed sessions left in reference cycles, then hand the heap's free pages back to the system.

    A page's script runs anew each time, and every run leaves cycles behind (its fragments, its classes, the
    closures its callbacks hold). Python frees cycles only in a full collection, which starts after enough new
    objects were made: on a server at rest after a lecture none are, and the cycles of every run of the lecture stay
    resident (``bench/load.py --soak``'s after-TTL reading). Then glibc keeps what a thread's arena freed until told
    to (malloc_trim): each session's script runs in a thread of its own.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _sweep_forever(runtime: Any, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    async def on_loop() -> Released:
        return release_expired(runtime)

    before = None
    while not loop.is_closed():
        time.sleep(seconds)
        try:
            released = asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout=60)
        except RuntimeError:  # the loop closed: the server is stopping
            return
        except Exception:
            _LOG.warning("the expired-session sweep stopped: Streamlit's internals changed?", exc_info=True)
            return
        tidy_up(released, before)
        before = released
        if released.anything:
            _LOG.info("shut down %d expired sessions, released the leftovers of %d more: %.1f MB of uploads, "
                      "%d pictures", released.shut_down, released.sessions, released.upload_bytes / 1e6,
                      released.media_files)


_started: list[threading.Thread | None] = []  # the sweep's thread once start() ran in this process
_starting = threading.Lock()


def start() -> threading.Thread | None:
    """Start the sweep once per server process; None where there is no server (AppTest) or it is turned off.

    A module-level guard, not st.cache_resource: a cached call in app.py broke typing into the Kernel Lab's kernel
    grid (tests/browser/test_kernel_lab_browser.py, typing "10" kept no edit).
    """
    with _starting:
        if not _started:
            _started.append(_start())
        return _started[0]


def _start() -> threading.Thread | None:
    if not Runtime.exists():
        return None
    # The first network read on the meta device (every cap check and layer table) imports torch's compiler stack,
    # a second or more: do it now, beside the server's start, instead of in the first student's Train page.
    threading.Thread(target=summarize, args=(NETWORK_PRESETS[DEFAULT_PRESET],), name="cnnviz-warm-up",
                     daemon=True).start()
    seconds = sweep_seconds()
    if not seconds:
        return None
    runtime = Runtime.instance()
    try:
        loop = runtime._get_async_objs().eventloop
    except Exception:  # a runtime without a running server (AppTest)
        return None
    thread = threading.Thread(target=_sweep_forever, args=(runtime, loop, seconds), name="cnnviz-session-sweep",
                              daemon=True)
    thread.start()
    return thread
