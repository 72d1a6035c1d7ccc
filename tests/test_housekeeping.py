"""The expired-session sweep, on Streamlit's real media and upload managers with a stand-in session store.

The end-to-end check (a real server, tabs that close, their TTL running out) is tests/test_load_short.py.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from streamlit.runtime import media_file_manager
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from cnnviz.ui.housekeeping import Released, release_expired, sweep_seconds


@pytest.fixture
def runtime(monkeypatch):
    media = MediaFileManager(MemoryMediaFileStorage("/media"))
    uploads = MemoryUploadedFileManager("/_stcore/upload_file")

    def show(session_id: str, picture: bytes, where: str) -> None:
        monkeypatch.setattr(media_file_manager, "_get_session_id", lambda: session_id)
        media.add(picture, "image/png", where)

    show("alive", b"shared picture", "1.0")
    show("gone", b"shared picture", "1.0")  # the same bytes: one stored file, referenced by both sessions
    show("gone", b"only gone's picture", "1.1")
    uploads.add_file("alive", UploadedFileRec("a", "a.png", "image/png", b"abc"))
    uploads.add_file("gone", UploadedFileRec("g", "g.png", "image/png", b"12345"))
    store = SimpleNamespace(list_sessions=lambda: [SimpleNamespace(session=SimpleNamespace(id="alive"))])
    return SimpleNamespace(media_file_mgr=media, uploaded_file_mgr=uploads, _session_mgr=store)


def test_an_expired_session_gives_back_its_uploads_and_its_own_pictures(runtime):
    assert release_expired(runtime) == Released(sessions=1, upload_bytes=5, media_files=1)
    assert set(runtime.uploaded_file_mgr.file_storage) == {"alive"}
    assert len(runtime.media_file_mgr._file_metadata) == 1  # the picture "alive" still shows is kept


def test_live_sessions_keep_everything_and_a_second_sweep_finds_nothing(runtime):
    release_expired(runtime)
    assert release_expired(runtime) == Released(sessions=0, upload_bytes=0, media_files=0)
    assert runtime.uploaded_file_mgr.get_files("alive", ["a"])[0].data == b"abc"


@pytest.mark.parametrize(("value", "seconds"), [(None, 30.0), ("5", 5.0), ("0", 0.0), ("-2", 0.0)])
def test_sweep_interval_comes_from_the_environment(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv("CNNVIZ_SWEEP_SECONDS", raising=False)
    else:
        monkeypatch.setenv("CNNVIZ_SWEEP_SECONDS", value)
    assert sweep_seconds() == seconds
