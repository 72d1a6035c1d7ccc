"""Process-wide housekeeping for a server a whole class uses: what closed tabs leave behind is released.

Streamlit keeps a closed tab's session for ``server.disconnectedSessionTTL`` seconds, so that a tab whose Wi-Fi
dropped gets its session back. When that time runs out, Streamlit 1.67 drops the session from its store (a TTL
cache) without shutting it down, so what the session holds in the process-wide managers stays for the life of the
process: its uploaded files (the ``UploadedFileManager``) and the pictures its page showed last (the
``MediaFileManager`` keeps them referenced by session id). bench/load.py measured about 1 MB per closed tab with a
small photo; a phone photo is several MB, and a course reconnects hundreds of times a day.

Every ``sweep_seconds()`` a daemon thread asks the server's event loop (the only thread that touches Streamlit's
session store) which sessions still exist, connected or kept for a reconnect, and releases the uploads and pictures
of every other session id. It only calls the managers' own thread-safe release methods; if a Streamlit upgrade
moves the internals it reads, the sweep logs a warning and stops, and tests/test_load_short.py fails.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime import Runtime

_LOG = logging.getLogger("cnnviz")


def sweep_seconds() -> float:
    """CNNVIZ_SWEEP_SECONDS, else 30: how often expired sessions are looked for; 0 turns the sweep off."""
    return max(0.0, float(os.environ.get("CNNVIZ_SWEEP_SECONDS", "30")))


@dataclass(frozen=True)
class Released:
    """What one sweep gave back."""

    sessions: int  # expired session ids whose leftovers were released
    upload_bytes: int  # their uploaded files
    media_files: int  # pictures no session references any more, deleted


def release_expired(runtime: Any) -> Released:
    """Release the uploads and picture references of every session id ``runtime`` no longer knows.

    Must run on the server's event loop: Streamlit's session store is not thread-safe.
    """
    live = {info.session.id for info in runtime._session_mgr.list_sessions()}
    media, uploads = runtime.media_file_mgr, runtime.uploaded_file_mgr
    with media._lock:
        known = set(media._files_by_session_and_coord)
    known |= set(uploads.file_storage)
    gone = known - live
    upload_bytes = sum(len(record.data) for sid in gone for record in uploads.file_storage.get(sid, {}).values())
    for session_id in gone:
        media.clear_session_refs(session_id)
        uploads.remove_session_files(session_id)
    before = len(media._file_metadata)
    if gone:
        media.remove_orphaned_files()
    return Released(len(gone), upload_bytes, before - len(media._file_metadata))


def _sweep_forever(runtime: Any, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    async def on_loop() -> Released:
        return release_expired(runtime)

    while not loop.is_closed():
        time.sleep(seconds)
        try:
            released = asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout=60)
        except RuntimeError:  # the loop closed: the server is stopping
            return
        except Exception:
            _LOG.warning("the expired-session sweep stopped: Streamlit's internals changed?", exc_info=True)
            return
        if released.sessions:
            _LOG.info("released %d expired sessions: %.1f MB of uploads, %d pictures", released.sessions,
                      released.upload_bytes / 1e6, released.media_files)


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread | None:
    """Start the sweep once per server process; None where there is no server (AppTest) or it is turned off."""
    seconds = sweep_seconds()
    if not seconds or not Runtime.exists():
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
