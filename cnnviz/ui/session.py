"""The training session every page shares: the server's runs, this browser's run, and a loaded checkpoint.

The Train page starts and follows runs; other pages (the receptive-field explorer, the inspector) ask here for
the model to look inside: the run the Train page follows, else a checkpoint the user loaded.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

import streamlit as st
from torch import nn

from cnnviz.data import load_mnist, preload
from cnnviz.errors import UserError
from cnnviz.jobs import (JobLimiter, Run, RunRegistry, TrainingJob, default_idle_seconds, default_limit,
                         prepare_worker)
from cnnviz.model import ModelConfig
from cnnviz.pages.train import TrainPageState
from cnnviz.train import CheckpointError, EvalResult, TrainConfig, load_checkpoint
from cnnviz.ui import run_status
from cnnviz.ui import state as page_state
from cnnviz.ui.common import current_language, file_uploader, tr, tr_error

TRAIN_PAGE = "train"  # the page whose state names the followed run
MAX_PREVIOUS = 3  # earlier runs kept on the charts for comparison
CHECKPOINT_UPLOAD_MB = 20  # the server's cap: the presets save to under 1 MB; only a huge custom network is refused


@st.cache_resource(show_spinner=False)
def limiter() -> JobLimiter:
    return JobLimiter(default_limit())


@st.cache_resource(show_spinner=False)
def registry() -> RunRegistry:
    # A run nobody watches stops when a closed tab's session expires: a refresh within that time finds both again.
    return RunRegistry(idle_seconds=default_idle_seconds(float(st.get_option("server.disconnectedSessionTTL"))))


def find_run(run_id: str) -> Run | None:
    """The run with this id, marked as watched; None when there is no such run (any more)."""
    return registry().get(run_id) if run_id else None


def find_watched(watch_id: str) -> Run | None:
    """The run behind a read-only watch link; None when there is no such run (any more)."""
    return registry().watch(watch_id) if watch_id else None


def prepare_for_start() -> None:
    """Get the next Start ready when a page that trains is drawn: a spare worker process with torch imported
    (``cnnviz.jobs.prepare_worker``; none while a run trains), and MNIST loading in the background if it is not
    loaded yet (``cnnviz.data.preload``). Between a first Start and its first step, reading and normalising the
    70,000 images took 2.2 s of the server's CPU, and a new worker ~2 s on one core (py-spy, 2 cores)."""
    prepare_worker()
    preload()


def _session_owner() -> str:
    """This browser session's token: the runs it starts carry it (RunRegistry.active_for)."""
    owner = page_state.transient("run_owner")
    if owner is None:
        owner = secrets.token_urlsafe(12)
        page_state.set_transient("run_owner", owner)
    return owner


def start_run(model_cfg: ModelConfig, train_cfg: TrainConfig, replacing: Run | None) -> Run:
    """Start a run; the run it replaces is stopped and kept on the charts for comparison.

    Raises:
        UserError: this session has another run queued or training (one each, so that one browser cannot fill the
            queue); the run it replaces does not count.
    """
    owner = _session_owner()
    active = registry().active_for(owner)
    if active is not None and active is not replacing:
        raise UserError("error.train.one_run")
    previous = ()
    if replacing is not None:
        replacing.job.stop(timeout=5)
        # Its curves, for comparison: its results belong to its own page (and are the bulk of its memory).
        snapshot = replace(replacing.job.snapshot(), final=None)
        previous = ((snapshot,) if snapshot.steps else ()) + replacing.previous
    # Worded in the language of the page that started the run, for the charts of the runs after it; the run's own
    # pages word it in their reader's language (run_status.run_label).
    label = run_status.run_label(model_cfg, train_cfg, current_language())
    job = TrainingJob(model_cfg, train_cfg, load_mnist, limiter(), label=label)
    job.start()
    return registry().add(job, previous[:MAX_PREVIOUS], owner=owner)


@dataclass(frozen=True)
class LoadedCheckpoint:
    file_id: str  # the upload it came from
    name: str  # its file name
    model: nn.Module  # in eval mode, on the CPU
    config: ModelConfig
    info: dict  # the checkpoint without its weights: configs and metrics


def loaded_checkpoint() -> LoadedCheckpoint | None:
    return page_state.transient("loaded_checkpoint")


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
        page_state.set_transient("loaded_checkpoint", current)
    return current


@dataclass(frozen=True)
class InspectedModel:
    model: nn.Module  # the live model: read it, never train it
    config: ModelConfig
    source: str  # "run" or "checkpoint"
    label: str  # what to call it on the page
    trained: bool  # False while a run has not taken a step yet
    key: str = ""  # names these weights: the run's id and step, or the checkpoint's upload (a cache key for copies)
    final: EvalResult | None = None  # a finished run's own final evaluation: its mistakes, as the Train page shows


def followed_run() -> Run | None:
    """The run the Train page follows in this session, if it still exists."""
    train_state = page_state.stored(TRAIN_PAGE)
    return find_run(train_state.run) if train_state is not None else None


def model_to_inspect() -> InspectedModel | None:
    """The model other pages look inside: the Train page's run, else the loaded checkpoint, else None."""
    run = followed_run()
    if run is not None and run.job.model is not None:
        snap = run.job.snapshot()
        label = run_status.run_label(run.job.model_cfg, run.job.train_cfg, current_language())
        return InspectedModel(run.job.model, run.job.model_cfg, "run", label, bool(snap.steps),
                              f"run:{run.id}:{len(snap.steps)}", snap.final)
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
