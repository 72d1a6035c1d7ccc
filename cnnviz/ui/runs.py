"""The runs every page shares: the server's runs, this browser's run, and a loaded checkpoint.

The Train page starts and follows runs; other pages (the receptive-field explorer, the inspector) ask here for
the model to look inside: the run the Train page follows, else a checkpoint the user loaded.
"""
from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Callable

import streamlit as st

from cnnviz.data import load_mnist
from cnnviz.errors import UserError
from cnnviz.model import ModelConfig
from cnnviz.pages.train import TrainPageState
from cnnviz.training.checkpoints import CheckpointError, LoadedCheckpoint, load_checkpoint
from cnnviz.training.config import TrainConfig
from cnnviz.training.limiter import JobLimiter, default_limit
from cnnviz.training.registry import Run, RunRegistry, default_idle_seconds, registry_from_env
from cnnviz.training.shared import TrainingUnavailable
from cnnviz.training.status import InspectedModel, inspect_run, run_label
from cnnviz.ui import state as page_state
from cnnviz.ui.common import file_uploader, tr, tr_error
from cnnviz.ui.state import current_language
TRAIN_PAGE = "train"  # the page whose state names the followed run
CHECKPOINT_UPLOAD_MB = 20  # the server's cap: the presets save to under 1 MB; only a huge custom network is refused


@st.cache_resource(show_spinner=False)
def limiter() -> JobLimiter:
    return JobLimiter(default_limit())


@st.cache_resource(show_spinner=False)
def registry() -> RunRegistry:
    # A run nobody watches stops when a closed tab's session expires: a refresh within that time finds both again.
    # Shared through Redis when CNNVIZ_REDIS_URL is set, so that every replica serves every run.
    return registry_from_env(default_idle_seconds(float(st.get_option("server.disconnectedSessionTTL"))))


def training_down() -> UserError | None:
    """Why runs cannot be reached now (shared mode with its store down), else None: pages say so and go on."""
    return registry().unavailable()


def find_run(run_id: str) -> Run | None:
    """The run with this id, marked as watched; None when there is no such run (any more), or none can be reached
    now (``training_down``)."""
    return _reachable(registry().get, run_id)


def find_watched(watch_id: str) -> Run | None:
    """The run behind a read-only watch link; None when there is no such run (any more), or none can be reached."""
    return _reachable(registry().watch, watch_id)


def _reachable(lookup: Callable[[str], Run | None], run_id: str) -> Run | None:
    if not run_id or training_down() is not None:
        return None
    try:
        return lookup(run_id)
    except TrainingUnavailable:  # the store went down since training_down asked
        return None


def _session_owner() -> str:
    """This browser session's token: the runs it starts carry it (RunRegistry.start)."""
    owner = page_state.RUN_OWNER.get()
    if owner is None:
        owner = secrets.token_urlsafe(12)
        page_state.RUN_OWNER.set(owner)
    return owner


def start_run(model_cfg: ModelConfig, train_cfg: TrainConfig, replacing: Run | None) -> Run:
    """Start a run for this browser session (RunRegistry.start); the run it replaces is kept on the charts.

    Raises:
        UserError: this session has another run queued or training.
    """
    # Worded in the language of the page that started the run, for the charts of the runs after it; the run's own
    # pages word it in their reader's language (cnnviz.training.status.run_label).
    return registry().start(model_cfg, train_cfg, limiter=limiter(), data_loader=load_mnist,
                            label=run_label(model_cfg, train_cfg, current_language()), owner=_session_owner(),
                            replacing=replacing)


def loaded_checkpoint() -> LoadedCheckpoint | None:
    return page_state.LOADED_CHECKPOINT.get()


def checkpoint_loader(key: str) -> LoadedCheckpoint | None:
    """An uploader for a saved checkpoint; the loaded model is kept for this session, for every page."""
    upload = file_uploader(tr("train.load_file"), type=None, key=key, max_mb=CHECKPOINT_UPLOAD_MB)
    current = loaded_checkpoint()
    if upload is None:
        return current
    if current is None or current.file_id != upload.file_id:
        try:
            model, cfg, info = load_checkpoint(upload.getvalue())
        except CheckpointError as error:
            st.error(tr_error(error), icon=":material/error:")
            return current
        current = LoadedCheckpoint(upload.file_id, upload.name, model, cfg, info)
        page_state.LOADED_CHECKPOINT.set(current)
    return current


def followed_run() -> Run | None:
    """The run the Train page follows in this session, if it still exists."""
    train_state = page_state.stored(TRAIN_PAGE)
    return find_run(train_state.run) if train_state is not None else None


def model_to_inspect() -> InspectedModel | None:
    """The model other pages look inside: the Train page's run, else the loaded checkpoint, else None."""
    run = followed_run()
    inspected = inspect_run(run, current_language()) if run is not None else None
    if inspected is not None:
        return inspected
    checkpoint = loaded_checkpoint()
    if checkpoint is not None:
        return InspectedModel(checkpoint.model, checkpoint.config, "checkpoint", checkpoint.name, True,
                              f"checkpoint:{checkpoint.file_id}")
    return None


def start_followed_run(train_state: TrainPageState) -> Run:
    """From another page: start a run of ``train_state``'s settings (replacing the followed one) and make the Train
    page follow it, showing exactly those settings, as if it had been started there."""
    run = start_run(train_state.model_config, train_state.train_config, followed_run())
    page_state.store(TRAIN_PAGE, replace(train_state, run=run.id))
    return run
