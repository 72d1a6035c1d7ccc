"""Train on MNIST: configure a CNN, train it in the background, watch it learn, look at its mistakes.

The page is three steps: ``controls`` (widgets -> TrainPageState), ``compute`` (cnnviz.pages.train: the network's
summary and a run's evaluation panels; the run the state names comes from the shared training session) and ``draw``
(live curves, filters and results).
"""
from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import streamlit as st

from cnnviz.analysis.layer_table import count_text, millions_text, shape_text
from cnnviz.data import DataError, load_mnist
from cnnviz.errors import UserError
from cnnviz.export import pytorch_code
from cnnviz.figures import training
from cnnviz.markdown_text import md_text
from cnnviz.model import LAYER_ACTIVATIONS, NETWORK_PRESETS, POOL_KINDS, ConvBlock, evaluation_batch
from cnnviz.pages import train_live
from cnnviz.pages.train import (BATCH_SIZES, MAX_BLOCKS, MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH, SUBSETS, TrainPageState,
                                evaluation, format_hidden, link_over_cap, parse_hidden, summary)
from cnnviz.training import status as run_info
from cnnviz.training.checkpoints import save_checkpoint
from cnnviz.training.config import OPTIMIZERS, SCHEDULES, available_devices
from cnnviz.training.job import FINISHED
from cnnviz.training.loop import EvalResult, evaluate
from cnnviz.training.registry import Run
from cnnviz.training.spare import prepare_for_start
from cnnviz.training.status import config_label
from cnnviz.ui import class_banner, live_status, runs, status_card, tab_memory
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, section, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.live_chart import live_chart
from cnnviz.ui.progress import accent
from cnnviz.ui.state import PageBinding, current_language

PAGE = runs.TRAIN_PAGE
# --- controls -------------------------------------------------------------------------------------------

def _on_preset() -> None:
    page_state.replace_state(PAGE, lambda s: s.with_recipe(page_state.widget_value("train_preset")))


def _default_block(index: int) -> ConvBlock:
    return ConvBlock(channels=(16, 32, 64, 64)[index], batch_norm=True, pool="max" if index < 2 else "none")


def _block_controls(b: PageBinding, index: int, block: ConvBlock) -> ConvBlock:
    key = f"train_b{index}_"
    left, right = st.columns(2)
    channels = left.number_input(tr("train.channels"), 1, 256, key=b.seed(key + "channels", block.channels))
    kernel = right.number_input(tr("train.kernel_size"), 1, 9, key=b.seed(key + "kernel_size", block.kernel_size))
    padding = left.number_input(tr("train.padding"), 0, 4, key=b.seed(key + "padding", block.padding))
    stride = right.number_input(tr("train.stride"), 1, 4, key=b.seed(key + "stride", block.stride))
    activation = left.selectbox(tr("train.activation"), LAYER_ACTIVATIONS, key=b.seed(key + "activation", block.activation),
                                format_func=tr_option("train.act."))
    pool = right.selectbox(tr("train.pool"), POOL_KINDS, key=b.seed(key + "pool", block.pool),
                           format_func=tr_option("train.pool."))
    pool_size = left.number_input(tr("train.pool_size"), 1, 4, key=b.seed(key + "pool_size", block.pool_size),
                                  disabled=pool == "none")
    batch_norm = right.checkbox(tr("train.batch_norm"), key=b.seed(key + "batch_norm", block.batch_norm))
    pool_first = left.checkbox(tr("train.pool_first"), key=b.seed(key + "pool_first", block.pool_first),
                               disabled=pool == "none", help=tr("train.pool_first_help"))
    return ConvBlock(int(channels), int(kernel), int(padding), int(stride), activation, bool(batch_norm), pool,
                     int(pool_size), bool(pool_first) and pool != "none")


def _hidden_input(b: PageBinding, column, widths: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """The hidden FC widths typed as "1024, 128", and "" or, for text that is not such a list, why ``widths`` stay."""
    text = column.text_input(tr("train.hidden"), key=b.seed("train_hidden", format_hidden(widths)),
                             help=tr("train.hidden_help", most=MAX_HIDDEN_LAYERS, high=MAX_HIDDEN_WIDTH))
    try:
        return parse_hidden(text), ""
    except ValueError:
        return widths, tr("train.hidden_invalid", text=md_text(text[:40]), most=MAX_HIDDEN_LAYERS, high=MAX_HIDDEN_WIDTH,
                          kept=format_hidden(widths))


def controls(b: PageBinding) -> TrainPageState:
    """The network and training settings, seeded from the bound state."""
    state = b.state
    # Short names in the menu, the details under it: in the ~270 px column at 1280x720 the menu cut long names off.
    preset = st.selectbox(tr("train.preset"), list(NETWORK_PRESETS), key=b.seed("train_preset", state.preset),
                          on_change=_on_preset, format_func=tr_option("train.preset."))
    st.caption(tr(f"train.preset_about.{preset}"))
    count = st.number_input(tr("train.blocks"), 1, MAX_BLOCKS, key=b.seed("train_blocks", len(state.blocks)))
    blocks = []
    for index in range(int(count)):
        block = state.blocks[index] if index < len(state.blocks) else _default_block(index)
        with st.expander(tr("train.block", index=index + 1), expanded=False):
            blocks.append(_block_controls(b, index, block))
    left, right = st.columns(2)
    hidden, problem = _hidden_input(b, left, state.hidden)
    dropout = right.slider(tr("train.dropout"), 0.0, 0.8, step=0.05, key=b.seed("train_dropout", float(state.dropout)))
    if problem:  # under both columns: half the width made it a tall narrow box
        st.error(problem, icon=":material/edit_off:")
    st.markdown(f"**{tr('train.training')}**")
    left, right = st.columns(2)
    optimizer = left.selectbox(tr("train.optimizer"), OPTIMIZERS, key=b.seed("train_optimizer", state.optimizer),
                               format_func=tr_option("train.optimizer."))
    schedule = right.selectbox(tr("train.schedule"), SCHEDULES, key=b.seed("train_schedule", state.schedule),
                               help=tr("train.schedule_help"), format_func=tr_option("train.schedule."))
    lr = left.number_input(tr("train.lr"), 1e-5, 10.0, format="%.4f", step=0.001, key=b.seed("train_lr", float(state.lr)))
    batch = right.select_slider(tr("train.batch_size"), BATCH_SIZES, key=b.seed("train_batch", state.batch_size))
    epochs = left.number_input(tr("train.epochs"), 1, 50, key=b.seed("train_epochs", state.epochs))
    subset = right.select_slider(tr("train.subset"), SUBSETS, key=b.seed("train_subset", state.subset),
                                 format_func=lambda n, everything=tr("train.subset_all"): everything if n == 0 else f"{n:,}",
                                 help=tr("train.subset_help"))
    seed = left.number_input(tr("train.seed"), 0, 10_000, key=b.seed("train_seed", state.seed))
    devices = available_devices()
    device = right.selectbox(tr("train.device"), devices,
                             key=b.seed("train_device", state.device if state.device in devices else "auto"),
                             format_func=tr_option("train.device."), help=tr("train.device_help"))
    return replace(state, blocks=tuple(blocks), hidden=hidden, dropout=float(dropout), optimizer=optimizer,
                   lr=float(lr), schedule=schedule, batch_size=int(batch), epochs=int(epochs), subset=int(subset),
                   seed=int(seed), device=device)


# --- drawing ---------------------------------------------------------------------------------------------

def figure_text() -> training.FigureText:
    """The charts' words in the session's language."""
    return train_live.figure_text(current_language())


def _summary(state: TrainPageState, *, export: bool = True) -> bool:
    try:
        network = summary(state)
    except ValueError as error:
        st.error(tr("train.invalid", reason=tr_error(error)), icon=":material/block:")
        return False
    st.markdown(tr("train.params_total", params=count_text(network.table.total_params),
                   macs=millions_text(network.table.total_macs)))
    table = pd.DataFrame([{tr("train.col.layer"): name, tr("train.col.shape"): shape_text(r.output_shape),
                           tr("train.col.params"): r.params, tr("train.col.macs"): r.macs}
                          for name, r in zip(network.names, network.rows)])
    with section("summary"):
        st.dataframe(table, hide_index=True, width="stretch", key="train_summary")
    if not export:
        return True
    with st.expander(tr("train.export"), icon=":material/code:"):
        code = pytorch_code(state.model_config, state.train_config, label=config_label(state.model_config,
                                                                                         state.train_config))
        st.caption(tr("train.export_help"))
        st.download_button(tr("train.download_code"), code, file_name="cnnviz_net.py", mime="text/x-python",
                           key="train_dl_code", icon=":material/download:")
        st.code(code, language="python")
    return True


def _buttons(state: TrainPageState, run: Run | None, valid: bool) -> TrainPageState:
    job = run.job if run is not None else None
    active = job is not None and not job.finished
    start, pause, stop = st.columns(3)
    if start.button(tr("train.start"), key="train_start", type="primary", disabled=not valid, width="stretch",
                    icon=":material/play_arrow:"):
        try:
            run = runs.start_run(state.model_config, state.train_config, run)
        except UserError as error:  # this browser has another run queued or training
            st.error(tr_error(error), icon=":material/block:")
            return state
        class_banner.register_run(run.watch_id)  # a student in a class: the lecturer's leaderboard lists it
        return replace(state, run=run.id)
    paused = active and job.snapshot().state == "paused"
    finishing = active and job.finishing
    if pause.button(tr("train.resume") if paused else tr("train.pause"), key="train_pause",
                    disabled=not active or finishing, width="stretch",
                    icon=":material/play_arrow:" if paused else ":material/pause:"):
        job.resume() if paused else job.pause()
    # The first Stop ends training and lets the run evaluate its final weights; a second one ends that too.
    if stop.button(tr("train.stop_now") if finishing else tr("train.stop"), key="train_stop", disabled=not active,
                   width="stretch", icon=":material/stop:"):
        job.stop() if finishing else job.finish()
        st.rerun()  # the buttons were drawn before the click: redraw them as they now are ("Stop now")
    return state


def _find(run_id: str, watching: bool) -> Run | None:
    """The run by its control id, or by its read-only watch id; looking marks it as watched."""
    return runs.find_watched(run_id) if watching else runs.find_run(run_id)


LIVE_CHART_KEY, FILTERS_KEY = "train_live_curves", "train_filters"  # the live status updates both in place


def _live(run: Run, snap) -> None:
    """The run's state, progress and latest numbers. While the run trains, the browser polls them every second from
    the status route (cnnviz.ui.live_status)."""
    job = run.job
    drawn = page_state.TRAIN_DRAWN_STATE.get()
    page_state.TRAIN_DRAWN_STATE.set(snap.state)
    if snap.state in FINISHED and drawn not in FINISHED and drawn is not None:
        st.rerun()  # a full rerun shows the results and the final figure
    with st.container(key="train_status"):
        if snap.state == "queued" and snap.queue is None:  # shared mode: the polled status shows the place
            st.info(tr("train.queued", position=max(snap.queue_position, 1), limit=job.limiter.limit),
                    icon=":material/hourglass_top:")
        elif snap.state == "diverged":
            st.error(tr_error(snap.error) if snap.error else md_text(snap.message), icon=":material/warning:")
        elif snap.state == "failed":
            reason = tr_error(snap.error) if isinstance(snap.error, UserError) else md_text(snap.message)
            st.error(tr("train.failed", message=reason), icon=":material/error:")
        if snap.state not in FINISHED:  # polled; a change of state reruns this fragment
            lang = current_language()
            live_status.live_status(status_card.status_html(snap, lang, accent=live_status.BAR_COLOUR), snap.state,
                                    live_status.status_url(run.watch_id, lang), key="train_live_status",
                                    filters_key=FILTERS_KEY)
        else:
            st.html(status_card.status_html(snap, current_language(), accent=accent()))


def _live_charts(run: Run, snap) -> None:
    """The curves and the first layer's filters; while the run trains, the status polls bring newer ones."""
    job = run.job
    if snap.state not in FINISHED:
        # While it trains, a few hundred points on canvases the browser redraws in place (see live_chart). Drawn from
        # Start, empty until the first step: the polled curves then fill it in place, where a page without it had to
        # be run again in full just as the run's first steps began.
        live_chart(train_live.shared_chart(run, snap, current_language()), key=LIVE_CHART_KEY)
    elif snap.steps:  # the full figure, with hover and zoom, once nothing changes any more
        st.plotly_chart(training.training_figure(*train_live.curves(run, snap, current_language()), figure_text()),
                        key="train_curves")
    model = job.model
    if model is None and job.weights_expired:
        st.info(tr("train.weights_expired"), icon=":material/history:")
    elif model is not None:
        st.markdown(f"**{tr('train.filters')}**")
        # A finished run's page is drawn once, with its last weights: never a shared picture from before them.
        picture = (train_live.filters_png(model) if snap.state in FINISHED
                   else train_live.shared_filters(run, model, current_language()))
        with st.container(key=FILTERS_KEY):  # the status component swaps in newer pictures while polling
            st.image(picture, caption=tr("train.filters_help"))


def _draw_live(draw, run_id: str, watching: bool) -> None:
    run = _find(run_id, watching)  # None once the registry dropped it
    if run is not None:
        draw(run, run.job.snapshot())


def _live_fragment(run_id: str, watching: bool = False) -> None:
    guarded(_draw_live, _live, run_id, watching)


def _live_charts_fragment(run_id: str, watching: bool = False) -> None:
    guarded(_draw_live, _live_charts, run_id, watching)


def _live_panels(run: Run, run_id: str, watching: bool = False) -> None:
    """The live status and the live charts, each in its own fragment. While the run trains, the status polls the
    status route and brings the curves and filters too (cnnviz.ui.live_status); a change of state reruns the status
    fragment, which reruns the page when the run ends."""
    st.fragment(_live_fragment)(run_id, watching)
    st.fragment(_live_charts_fragment)(run_id, watching)


def _evaluation(run: Run, *, downloads: bool = True) -> None:
    """The run's results: its own final evaluation (JobSnapshot.final), which the run computed once on its final
    weights; this page never classifies the test set itself."""
    job = run.job
    snap = job.snapshot()
    if job.data is None or not snap.steps:
        return
    st.subheader(tr("train.results"))
    if not job.finished:
        st.caption(tr("train.stop_now_help") if job.finishing else tr("train.evaluate_hint"))
        return
    if snap.final is None:
        st.info(tr("train.no_final"), icon=":material/info:")
    else:
        _results(snap.final, job.data, "train")
    if not downloads:
        return
    columns = st.columns(3)
    model, step = job.model, snap.steps[-1].step
    if model is None:
        columns[0].caption(tr("train.weights_expired"))
    else:
        metrics = {"step": step} | ({"test_accuracy": snap.final.accuracy} if snap.final is not None else {})
        columns[0].download_button(
            tr("train.download_checkpoint"), lambda: save_checkpoint(model, job.model_cfg, job.train_cfg,
                                                                     metrics=metrics),
            file_name="cnnviz-mnist.pt", mime="application/octet-stream", key="train_dl_ckpt",
            icon=":material/download:", width="stretch")
    columns[1].download_button(tr("train.download_csv"), lambda: training.metrics_csv(snap.steps, snap.evals),
                               file_name="cnnviz-metrics.csv", mime="text/csv", key="train_dl_csv",
                               icon=":material/table:", width="stretch")
    columns[2].download_button(tr("train.download_config"), json.dumps(
        {"model_config": job.model_cfg.to_dict(), "train_config": job.train_cfg.to_dict()}, indent=2),
        file_name="cnnviz-config.json", mime="application/json", key="train_dl_json", icon=":material/settings:",
        width="stretch")


def _results(result: EvalResult, data, prefix: str) -> None:
    """Confusion matrix, per-digit accuracy and the gallery; ``prefix`` keeps element keys unique on the page."""
    labels = data.test_labels.cpu().numpy()
    panels = evaluation(result, labels)
    st.markdown(tr("train.test_summary", accuracy=f"{panels.accuracy:.2%}", loss=f"{panels.loss:.4f}",
                   wrong=panels.wrong))
    # One chart per row: ten columns of four-digit counts need the width to stay readable on a projector.
    st.markdown(f"**{tr('train.confusion')}**")
    st.plotly_chart(training.confusion_figure(panels.matrix, figure_text()), key=f"{prefix}_confusion")
    st.markdown(f"**{tr('train.per_class')}**")
    st.plotly_chart(training.per_class_figure(panels.matrix, figure_text()), key=f"{prefix}_per_class")
    if panels.wrong:
        st.markdown(f"**{tr('train.gallery', shown=len(panels.gallery), total=panels.wrong)}**")
        st.image(training.gallery_png(data.test_pixels, labels, result.probabilities, panels.gallery,
                                      true_label=tr("train.gallery_true")))


def _checkpoint_section() -> None:
    with st.expander(tr("train.load"), expanded=False, icon=":material/upload_file:"):
        checkpoint = runs.checkpoint_loader("train_ckpt")
        if checkpoint is None:
            return
        st.success(tr("train.loaded", name=md_text(checkpoint.name),
                      params=f"{sum(p.numel() for p in checkpoint.model.parameters()):,}"), icon=":material/check:")
        st.json(checkpoint.config.to_dict(), expanded=False)
        try:
            data = load_mnist()
        except DataError as error:
            st.error(tr_error(error), icon=":material/error:")
            return
        _results(_evaluate_checkpoint(checkpoint.file_id, checkpoint.model, data, evaluation_batch(checkpoint.config)),
                 data, "ckpt")


@shared_results(4)
def _evaluate_checkpoint(file_id: str, _model, _data, batch_size: int) -> EvalResult:
    return evaluate(_model, _data.test_images, _data.test_labels, batch_size=batch_size)


def _watch(b: PageBinding, state: TrainPageState, run: Run) -> None:
    """A read-only view of someone else's run: its network, live curves and results; no controls."""
    job = run.job
    label = run_info.run_label(job.model_cfg, job.train_cfg, current_language())
    st.info(tr("train.watching", label=md_text(label)), icon=":material/visibility:")
    config, main = st.columns([1.3, 2.2], gap="large")
    with config, section("network"):
        st.subheader(tr("train.model"))
        _summary(replace(state, blocks=job.model_cfg.blocks, hidden=job.model_cfg.hidden,
                         dropout=job.model_cfg.dropout, batch_size=job.train_cfg.batch_size), export=False)
    with main:
        _live_panels(run, state.watch, True)
        _evaluation(run, downloads=False)
    b.publish(state)


TAB_MEMORY_KEY = "train_tab_run"


def _followed(state: TrainPageState) -> tuple[TrainPageState, Run | None, str]:
    """The state, the run it follows, and the id of a run the server no longer has ("" if none), which the page
    says is gone. The run is the state's, else, after a refresh, the one this tab kept (cnnviz.ui.tab_memory): the
    address bar never names it."""
    if runs.training_down() is not None:  # the run may well be there: keep its id until the store answers again
        return state, None, ""
    run, gone = runs.find_run(state.run), ""
    if not state.run:
        kept = tab_memory.sent_run(TAB_MEMORY_KEY)
        run = runs.find_run(kept)
        state, gone = (replace(state, run=run.id), "") if run is not None else (state, kept)
    elif run is None:
        state, gone = replace(state, run=""), state.run
    if gone:
        st.warning(tr("train.run_gone", minutes=f"{runs.registry().idle_seconds / 60:.0f}"),
                   icon=":material/history:")
    return state, run, gone


def steps(b: PageBinding) -> TrainPageState | None:
    if {"b", "fc"} & set(b.ignored):  # keys only the cap check ignores whole: say which cap
        refusal = link_over_cap(b.query)
        if refusal is not None:
            st.error(tr("train.link_over_cap", preset=tr(f"train.preset.{b.state.preset}"), reason=tr_error(refusal)),
                     icon=":material/block:")
    down = runs.training_down()
    if down is not None:
        st.error(tr_error(down), icon=":material/cloud_off:")
        if b.state.watch and not b.state.run:
            return None  # the watch link stays in the address bar: a reload finds the run once the store is back
    if b.state.watch and not b.state.run:
        watched = runs.find_watched(b.state.watch)
        if watched is not None:
            _watch(b, b.state, watched)
            return None
        st.warning(tr("train.run_gone", minutes=f"{runs.registry().idle_seconds / 60:.0f}"), icon=":material/history:")
    if runs.registry().trains_here:
        prepare_for_start()  # while the student sets up the run
    config, main = st.columns([1.3, 2.2], gap="large")
    with config, section("network"):
        st.subheader(tr("train.model"))
        state = controls(b)
    with main:
        valid = _summary(state)
        state, run, gone = _followed(state)
        started = _buttons(state, run, valid)
        if started.run != state.run:
            b.publish(started)
            page_state.TRAIN_DRAWN_STATE.set(None)
            st.rerun()
        if run is None:
            st.info(tr("train.ready"), icon=":material/school:")
        else:
            page_state.share_link(TrainPageState(watch=run.watch_id), label=tr("train.watch_link"),
                                  help_text=tr("train.watch_link_help"), key="train_watch_link")
            _live_panels(run, run.id)
            _evaluation(run)
        _checkpoint_section()
        tab_memory.keep_run(TAB_MEMORY_KEY, state.run, gone=gone)  # invisible, but it takes a gap: last
    with st.sidebar:
        page_state.share_link(state)  # never the run's control id: TrainPageState.to_query leaves it out
    return replace(state, watch="")


guarded(run_page, Page(PAGE, TrainPageState, "train.title", "train.intro", sections=("network", "summary")), steps)
