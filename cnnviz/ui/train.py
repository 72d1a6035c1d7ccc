"""Train on MNIST: configure a CNN, train it in the background, watch it learn, look at its mistakes."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz import train_figures
from cnnviz.data import DataError, load_mnist
from cnnviz.jobs import FINISHED, JobLimiter, TrainingJob, config_label, default_limit
from cnnviz.model import ACTIVATIONS, DEFAULT_PRESET, PRESETS, ConvBlock, ModelConfig, first_conv_weight, summarize
from cnnviz.train import (DEVICES, OPTIMIZERS, SCHEDULES, CheckpointError, EvalResult, TrainConfig, confusion_matrix,
                          evaluate, load_checkpoint, save_checkpoint)
from cnnviz.ui.common import tr

MAX_PREVIOUS = 3  # earlier runs kept for comparison


@dataclass
class TrainingSession:
    """This browser session's runs: the current job and up to three finished ones."""

    job: TrainingJob | None = None
    previous: list[train_figures.Curves] = field(default_factory=list)
    evaluation: tuple[int, EvalResult] | None = None  # (step evaluated at, result) for the current job
    loaded: tuple[str, object, ModelConfig, dict] | None = None  # (file name, model, config, checkpoint info)


def _release(session: TrainingSession) -> None:
    if session.job is not None:
        session.job.stop(timeout=5)


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def _session() -> TrainingSession:
    # One per browser session; when the session ends Streamlit calls _release, which stops the worker thread.
    return TrainingSession()


@st.cache_resource(show_spinner=False)
def _limiter() -> JobLimiter:
    return JobLimiter(default_limit())


# --- configuration ---------------------------------------------------------------------------------

def _apply_preset() -> None:
    cfg = PRESETS[st.session_state["train_preset"]]
    st.session_state["train_blocks"] = len(cfg.blocks)
    for index, block in enumerate(cfg.blocks):
        for name, value in vars(block).items():
            st.session_state[f"train_b{index}_{name}"] = value
    st.session_state["train_hidden"] = cfg.hidden
    st.session_state["train_dropout"] = cfg.dropout


def _block_controls(index: int) -> ConvBlock:
    defaults = ConvBlock(channels=[16, 32, 64, 64][index], batch_norm=True, pool="max" if index < 2 else "none")
    for name, value in vars(defaults).items():
        st.session_state.setdefault(f"train_b{index}_{name}", value)
    key = f"train_b{index}_"
    left, right = st.columns(2)
    channels = left.number_input(tr("train.channels"), 1, 256, key=key + "channels", persist_state="session")
    kernel = right.number_input(tr("train.kernel_size"), 1, 9, key=key + "kernel_size", persist_state="session")
    padding = left.number_input(tr("train.padding"), 0, 4, key=key + "padding", persist_state="session")
    stride = right.number_input(tr("train.stride"), 1, 4, key=key + "stride", persist_state="session")
    activation = left.selectbox(tr("train.activation"), ACTIVATIONS, key=key + "activation",
                                format_func=lambda a: tr(f"train.act.{a}"), persist_state="session")
    pool = right.selectbox(tr("train.pool"), ["none", "max", "avg"], key=key + "pool", format_func=lambda p: tr(f"train.pool.{p}"), persist_state="session")
    pool_size = left.number_input(tr("train.pool_size"), 1, 4, key=key + "pool_size", disabled=pool == "none", persist_state="session")
    batch_norm = right.checkbox(tr("train.batch_norm"), key=key + "batch_norm", persist_state="session")
    return ConvBlock(int(channels), int(kernel), int(padding), int(stride), activation, bool(batch_norm), pool, int(pool_size))


def _config_controls() -> tuple[ModelConfig, TrainConfig]:
    if "train_preset" not in st.session_state:
        st.session_state["train_preset"] = DEFAULT_PRESET
        _apply_preset()
    st.selectbox(tr("train.preset"), list(PRESETS), key="train_preset", on_change=_apply_preset,
                 format_func=lambda p: tr(f"train.preset.{p}"), persist_state="session")
    st.number_input(tr("train.blocks"), 1, 4, key="train_blocks", persist_state="session")
    blocks = []
    for index in range(st.session_state["train_blocks"]):
        with st.expander(tr("train.block", index=index + 1), expanded=False):
            blocks.append(_block_controls(index))
    left, right = st.columns(2)
    hidden = left.number_input(tr("train.hidden"), 0, 512, key="train_hidden", help=tr("train.hidden_help"), persist_state="session")
    dropout = right.slider(tr("train.dropout"), 0.0, 0.8, step=0.05, key="train_dropout", persist_state="session")
    model_cfg = ModelConfig(blocks=blocks, hidden=int(hidden), dropout=float(dropout))

    st.markdown(f"**{tr('train.training')}**")
    defaults = TrainConfig()
    left, right = st.columns(2)
    optimizer = left.selectbox(tr("train.optimizer"), OPTIMIZERS, index=OPTIMIZERS.index(defaults.optimizer), key="train_optimizer",
                             format_func=lambda o: tr(f"train.optimizer.{o}"), persist_state="session")
    schedule = right.selectbox(tr("train.schedule"), SCHEDULES, index=SCHEDULES.index(defaults.schedule), key="train_schedule", help=tr("train.schedule_help"),
                               format_func=lambda s: tr(f"train.schedule.{s}"), persist_state="session")
    lr = left.number_input(tr("train.lr"), 1e-5, 10.0, defaults.lr, format="%.4f", step=0.001, key="train_lr", persist_state="session")
    batch = right.select_slider(tr("train.batch_size"), [16, 32, 64, 128, 256, 512], defaults.batch_size, key="train_batch", persist_state="session")
    epochs = left.number_input(tr("train.epochs"), 1, 50, defaults.epochs, key="train_epochs", persist_state="session")
    subset = right.select_slider(tr("train.subset"), [0, 1000, 2000, 5000, 10000, 30000], 0, key="train_subset",
                                 format_func=lambda n: tr("train.subset_all") if n == 0 else f"{n:,}", help=tr("train.subset_help"), persist_state="session")
    seed = left.number_input(tr("train.seed"), 0, 10_000, defaults.seed, key="train_seed", persist_state="session")
    device = right.selectbox(tr("train.device"), DEVICES, key="train_device", persist_state="session")
    train_cfg = TrainConfig(optimizer=optimizer, lr=float(lr), schedule=schedule, batch_size=int(batch), epochs=int(epochs),
                            subset=int(subset), seed=int(seed), device=device,
                            eval_every=50 if subset and subset < 10_000 else 100)
    return model_cfg, train_cfg


def _summary(model_cfg: ModelConfig) -> bool:
    try:
        rows = summarize(model_cfg)
    except ValueError as error:
        st.error(tr("train.invalid", reason=str(error)), icon=":material/block:")
        return False
    total = sum(r.params for r in rows)
    macs = sum(r.macs for r in rows)
    st.markdown(tr("train.params_total", params=f"{total:,}", macs=f"{macs / 1e6:.2f}"))
    table = pd.DataFrame([{tr("train.col.layer"): r.name, tr("train.col.shape"): " × ".join(map(str, r.output_shape)),
                           tr("train.col.params"): r.params, tr("train.col.macs"): r.macs} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", key="train_summary")
    return True


# --- the run ------------------------------------------------------------------------------------------

def _start(session: TrainingSession, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    if session.job is not None:
        session.job.stop(timeout=5)
        snap = session.job.snapshot()
        if snap.steps:
            session.previous.insert(0, train_figures.curves_from(snap.label, snap.steps, snap.evals))
            del session.previous[MAX_PREVIOUS:]
    session.evaluation = None
    session.job = TrainingJob(model_cfg, train_cfg, load_mnist, _limiter(), label=config_label(model_cfg, train_cfg))
    session.job.start()


def _buttons(session: TrainingSession, model_cfg: ModelConfig, train_cfg: TrainConfig, valid: bool) -> None:
    job = session.job
    active = job is not None and not job.finished
    start, pause, stop = st.columns(3)
    if start.button(tr("train.start"), key="train_start", type="primary", disabled=not valid, width="stretch",
                    icon=":material/play_arrow:"):
        _start(session, model_cfg, train_cfg)
        st.rerun()
    paused = active and job.snapshot().state == "paused"
    if pause.button(tr("train.resume") if paused else tr("train.pause"), key="train_pause", disabled=not active, width="stretch",
                    icon=":material/pause:" if not paused else ":material/play_arrow:"):
        job.resume() if paused else job.pause()
        st.rerun()
    if stop.button(tr("train.stop"), key="train_stop", disabled=not active, width="stretch", icon=":material/stop:"):
        job.stop()
        st.rerun()


def _live(session: TrainingSession) -> None:
    """Redrawn every second by a fragment while the job runs."""
    job = session.job
    snap = job.snapshot()
    if snap.state in FINISHED and st.session_state.get("train_drawn_state") not in FINISHED:
        st.session_state["train_drawn_state"] = snap.state
        st.rerun()  # a full rerun shows the results and stops this fragment's timer
    st.session_state["train_drawn_state"] = snap.state
    latest = snap.latest
    with st.container(key="train_status"):
        if snap.state == "queued":
            st.info(tr("train.queued", position=max(snap.queue_position, 1), limit=job.limiter.limit), icon=":material/hourglass_top:")
        elif snap.state == "diverged":
            st.error(snap.message, icon=":material/warning:")
        elif snap.state == "failed":
            st.error(tr("train.failed", message=snap.message), icon=":material/error:")
        if latest is not None:
            speed = f"{latest.samples_per_second:,.0f}" if latest.samples_per_second else "–"
            eta = f"{latest.eta_seconds:.0f}" if latest.eta_seconds is not None else "–"
            st.progress(min(1.0, latest.step / max(latest.total_steps, 1)),
                        text=tr("train.progress", state=tr(f"train.state.{snap.state}"), step=latest.step,
                                total=latest.total_steps, epoch=f"{latest.epoch:.2f}", speed=speed, eta=eta,
                                elapsed=f"{latest.elapsed:.1f}"))
        elif snap.state != "queued":
            st.progress(0.0, text=tr("train.loading"))
        tests = [m for m in snap.evals if m.test_accuracy is not None]
        metrics = st.columns(4)
        last_step = snap.steps[-1] if snap.steps else None
        metrics[0].metric(tr("train.metric.loss"), f"{train_figures.ema([m.loss for m in snap.steps])[-1]:.4f}" if last_step else "–")
        metrics[1].metric(tr("train.metric.train_acc"), f"{train_figures.ema([m.accuracy for m in snap.steps])[-1]:.2%}" if last_step else "–")
        metrics[2].metric(tr("train.metric.test_acc"), f"{tests[-1].test_accuracy:.2%}" if tests else "–",
                          help=tr("train.metric.test_acc_help"))
        metrics[3].metric(tr("train.metric.lr"), f"{last_step.lr:.2g}" if last_step else "–")
    if snap.steps:
        current = train_figures.curves_from(snap.label, snap.steps, snap.evals)
        st.plotly_chart(train_figures.training_figure(current, session.previous), key="train_curves")
    if job.model is not None:
        st.markdown(f"**{tr('train.filters')}**")
        st.image(train_figures.filters_png(first_conv_weight(job.model).numpy()), caption=tr("train.filters_help"))


def _evaluation(session: TrainingSession) -> None:
    job = session.job
    snap = job.snapshot()
    if job.data is None or not snap.steps:
        return
    st.subheader(tr("train.results"))
    step = snap.steps[-1].step
    if not job.finished and (session.evaluation is None or session.evaluation[0] != step):
        if not st.button(tr("train.evaluate_now"), key="train_evaluate", icon=":material/fact_check:"):
            st.caption(tr("train.evaluate_hint"))
            return
    if session.evaluation is None or session.evaluation[0] != step:
        with st.spinner(tr("train.evaluating")):
            # A copy: the training thread keeps its model in train mode; evaluate() switches to eval mode.
            model = copy.deepcopy(job.model) if not job.finished else job.model
            session.evaluation = (step, evaluate(model, job.data.test_images, job.data.test_labels))
    _results(session.evaluation[1], job.data)
    left, right = st.columns(2)
    left.download_button(tr("train.download_checkpoint"), lambda: save_checkpoint(job.model, job.model_cfg, job.train_cfg,
                         metrics={"test_accuracy": session.evaluation[1].accuracy, "step": step}),
                         file_name="cnnviz-mnist.pt", mime="application/octet-stream", key="train_dl_ckpt",
                         icon=":material/download:")
    right.download_button(tr("train.download_csv"), lambda: train_figures.metrics_csv(snap.steps, snap.evals),
                          file_name="cnnviz-metrics.csv", mime="text/csv", key="train_dl_csv", icon=":material/download:")
    st.download_button(tr("train.download_config"), json.dumps({"model_config": job.model_cfg.to_dict(),
                       "train_config": job.train_cfg.to_dict()}, indent=2), file_name="cnnviz-config.json",
                       mime="application/json", key="train_dl_json")


def _results(result: EvalResult, data) -> None:
    labels = data.test_labels.numpy()
    matrix = confusion_matrix(labels, result.predictions)
    st.markdown(tr("train.test_summary", accuracy=f"{result.accuracy:.2%}", loss=f"{result.loss:.4f}",
                   wrong=int((result.predictions != labels).sum())))
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{tr('train.confusion')}**")
        st.plotly_chart(train_figures.confusion_figure(matrix), key="train_confusion")
    with right:
        st.markdown(f"**{tr('train.per_class')}**")
        st.plotly_chart(train_figures.per_class_figure(matrix), key="train_per_class")
    wrong = np.flatnonzero(result.predictions != labels)
    if len(wrong):
        # Most confident mistakes first: those are the surprising ones.
        order = wrong[np.argsort(-result.probabilities[wrong].max(axis=1))][:24]
        st.markdown(f"**{tr('train.gallery', shown=len(order), total=len(wrong))}**")
        st.image(train_figures.gallery_png(data.test_pixels, labels, result.probabilities, order))


def _checkpoint_loader(session: TrainingSession) -> None:
    with st.expander(tr("train.load"), expanded=False):
        upload = st.file_uploader(tr("train.load_file"), type=None, key="train_ckpt")
        if upload is None:
            return
        if session.loaded is None or session.loaded[0] != upload.file_id:
            try:
                model, cfg, info = load_checkpoint(upload.getvalue())
            except CheckpointError as error:
                st.error(str(error), icon=":material/error:")
                return
            session.loaded = (upload.file_id, model, cfg, info)
        _, model, cfg, info = session.loaded
        st.success(tr("train.loaded", params=f"{sum(p.numel() for p in model.parameters()):,}"), icon=":material/check:")
        st.json(cfg.to_dict(), expanded=False)
        try:
            data = load_mnist()
        except DataError as error:
            st.error(str(error))
            return
        _results(evaluate(model, data.test_images, data.test_labels), data)


def render() -> None:
    st.title(tr("train.title"))
    st.caption(tr("train.intro"))
    session = _session()
    config, main = st.columns([1.3, 2.2], gap="large")
    with config:
        st.subheader(tr("train.model"))
        model_cfg, train_cfg = _config_controls()
    with main:
        valid = _summary(model_cfg)
        _buttons(session, model_cfg, train_cfg, valid)
        if session.job is None:
            st.info(tr("train.ready"), icon=":material/school:")
        else:
            running = not session.job.finished
            st.fragment(_live, run_every=1.0 if running else None)(session)
            _evaluation(session)
        _checkpoint_loader(session)


render()
