"""Look inside: a digit (drawn, from MNIST, uploaded, or one the model gets wrong) through the user's own network.

The page is three steps: ``controls`` (widgets and clicks -> InspectorState and the digit), ``compute``
(cnnviz.pages.inspector, on a frozen copy of the model, cached per model and digit) and ``draw`` (the prediction,
feature maps with receptive fields, filters, attributions and the layer table).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.analysis.clicks import unit_at_click
from cnnviz.analysis.digits import INK_MODES, PreparedDigit, prepare_digit
from cnnviz.analysis.inspection import FilterBank, conv_filters, page_channels, page_count
from cnnviz.analysis.unit_math import Trace
from cnnviz.analysis.layer_table import count_text, field_text, millions_text, shape_text
from cnnviz.conv.images import ImageError, load_image
from cnnviz.data import DataError, load_mnist
from cnnviz.errors import UserError
from cnnviz.figures import network, training
from cnnviz.figures.maps import png_bytes
from cnnviz.markdown_text import md_text
from cnnviz.model import DEFAULT_PRESET, NETWORK_PRESETS
from cnnviz.pages.inspector import (FILTERS_PER_PAGE, MAPS_PER_PAGE, METHODS, PREDICTED, SCALINGS, SOURCES,
                                    TEST_DIGITS, UNTRAINED_KEY, VIEWS, Forward, InspectorResult, InspectorState,
                                    Model, ModelCopies, ModelFacts, compute_on_torch_threads, describe,
                                    forward_digit, mistakes_on_test_set, mnist_digit, mnist_test_labels,
                                    quick_train_state, resolve, trace_digit, untrained_model)
from cnnviz.pages.train import misclassified
from cnnviz.ui import runs
from cnnviz.ui import unit_math as network_view
from cnnviz.ui import state as page_state
from cnnviz.ui.canvas import drawing_canvas
from cnnviz.ui.common import file_uploader, guarded, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.progress import progress
from cnnviz.ui.runs import InspectedModel
from cnnviz.ui.state import PageBinding
from cnnviz.ui.widgets import IMAGE_UPLOAD_MB

PAGE = "inspector"
CANVAS_KEY = "insp_canvas"  # cnnviz.ui.canvas: the drawing as a PNG data URL, sent the moment the pen lifts
GRID_CLICK = "insp_grid_click"  # streamlit-image-coordinates on the grid of maps: picks the channel shown large
UNIT_CLICK = "insp_unit_click"  # ... on the enlarged map: picks the unit whose receptive field is drawn
CANVAS_SIDE = 224  # px: 8 per MNIST pixel, and it fits a phone
STROKE = 18  # px: MNIST strokes are 2-3 of 28 pixels wide
GALLERY_CHOICES = 200  # mistakes offered in the gallery picker, most confident first
GALLERY_SHOWN = 12  # mistakes pictured above the picker


# --- the model ---------------------------------------------------------------------------------------------

@shared_results()
def _copies() -> ModelCopies:
    # Shared by every session: keys name the weights (a run's id and step, a checkpoint's upload id).
    return ModelCopies(max_entries=8)


@st.cache_resource(show_spinner=False)
def _untrained() -> Model:
    return untrained_model()


@shared_results(8)
def _facts(model_key: str, _model: Model) -> ModelFacts:
    return describe(_model)


@shared_results(32)
def _forward(model_key: str, digit_key: str, _model: Model, _digit: PreparedDigit) -> Forward:
    return forward_digit(_model, _digit)


@shared_results(8)
def _trace(model_key: str, digit_key: str, _model: Model, _digit: PreparedDigit) -> Trace:
    return trace_digit(_model, _digit)


@shared_results(8)
def _filter_banks(model_key: str, _model: Model) -> list[FilterBank]:
    return conv_filters(_model)


@shared_results(4)
def _mistakes(model_key: str, _model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the misclassified test digits, most confident first; every digit's probabilities)."""
    return mistakes_on_test_set(_model)


def subject() -> InspectedModel:
    """The model the page looks inside, its model a frozen copy (``ModelCopies``): the session's run or checkpoint,
    else the untrained default network, whose source is "untrained"."""
    inspected = runs.model_to_inspect()
    if inspected is None:
        return InspectedModel(_copies().get(UNTRAINED_KEY, _untrained()), NETWORK_PRESETS[DEFAULT_PRESET], "untrained",
                              tr("insp.untrained_label"), False, UNTRAINED_KEY)
    return replace(inspected, model=_copies().get(inspected.key, inspected.model))


def _on_quick_train() -> None:
    try:
        runs.start_followed_run(quick_train_state())
    except UserError as error:  # this browser has another run queued or training
        page_state.INSP_QUICK_REFUSED.set(error)


def _quick_progress(run_id: str) -> None:
    """Redrawn every second while the quick model trains; a full rerun shows it once it is done."""
    run = runs.find_run(run_id)
    if run is None:
        return
    snap = run.job.snapshot()
    if run.job.finished:
        st.rerun()
    latest = snap.latest
    done = latest.step / max(latest.total_steps, 1) if latest is not None else 0.0
    progress(done, tr("insp.quick_progress", step=latest.step if latest else 0,
                      total=latest.total_steps if latest else "…"))


def _quick_progress_fragment(run_id: str) -> None:
    guarded(_quick_progress, run_id)


def model_status(model: InspectedModel) -> None:
    """Which model this is; for an untrained one, the offer to train a quick one or load a checkpoint."""
    run = runs.followed_run()
    with st.container(key="insp_model"):
        down = runs.training_down()
        if down is not None:  # the session's run is out of reach for now: say why its network is not shown
            st.warning(tr_error(down), icon=":material/cloud_off:")
        if run is not None and run.job.weights_expired:  # so the network shown instead is not taken for it
            st.info(tr("train.weights_expired"), icon=":material/history:")
        if model.trained:
            where = tr(f"insp.model_from.{model.source}")
            st.caption(tr("insp.model_trained", label=md_text(model.label), where=where))
        else:
            text, button = st.columns([4, 1.2], vertical_alignment="center")
            text.warning(tr("insp.model_untrained") if model.source == "untrained"
                         else tr("insp.model_not_yet", label=md_text(model.label)), icon=":material/casino:")
            busy = run is not None and not run.job.finished
            button.button(tr("insp.quick_train"), key="insp_quick_train", on_click=_on_quick_train, disabled=busy,
                          icon=":material/bolt:", type="primary", width="stretch", help=tr("insp.quick_train_help"))
            refused = page_state.INSP_QUICK_REFUSED.pop()
            if refused is not None:
                st.error(tr_error(refused), icon=":material/block:")
        if run is not None and not run.job.finished:
            st.fragment(_quick_progress_fragment, run_every=1.0)(run.id)


def checkpoint_section() -> None:
    """The uploader, first in the sidebar: a checkpoint loaded in this run is the model this run inspects."""
    with st.sidebar, st.expander(tr("insp.load_checkpoint"), icon=":material/upload_file:",
                                 expanded=runs.model_to_inspect() is None):
        runs.checkpoint_loader("insp_ckpt")
        st.caption(tr("insp.load_checkpoint_help"))


# --- the digit ---------------------------------------------------------------------------------------------

def _on_random() -> None:
    index = secrets.randbelow(TEST_DIGITS)
    page_state.replace_state(PAGE, lambda s: replace(s, index=index))


def _blank() -> PreparedDigit:
    return prepare_digit(np.zeros((28, 28), np.float32))


@shared_results(16, copies=True)
def _upload_digit(data: bytes, ink: str) -> tuple[np.ndarray, PreparedDigit]:
    pixels = load_image(data, max_side=512)
    return pixels, prepare_digit(pixels, ink=ink)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=10).hexdigest()


def _drawn_digit() -> tuple[PreparedDigit, str]:
    pixels = drawing_canvas(CANVAS_KEY, side=CANVAS_SIDE, stroke=STROKE)  # (H, W, 4) uint8 or None
    if pixels is None:
        return _blank(), "blank"
    return prepare_digit(pixels), f"drawn:{pixels.shape}:{_digest(pixels.tobytes())}"


def _gallery_pick(b: PageBinding, state: InspectorState, model: InspectedModel) -> int:
    data = load_mnist()
    labels = mnist_test_labels()
    if model.final is not None:  # a finished run: its own result, the one its Train page shows
        wrong, probabilities = misclassified(model.final.probabilities, labels), model.final.probabilities
    else:
        with st.spinner(tr("insp.gallery_wait")):
            wrong, probabilities = _mistakes(model.key, model.model)
    if len(wrong) == 0:
        st.success(tr("insp.gallery_none"), icon=":material/check_circle:")
        return state.index
    choices = [int(i) for i in wrong[:GALLERY_CHOICES]]
    if state.index not in choices:
        choices.insert(0, state.index)  # a link's digit stays on offer, whatever this model gets wrong

    # Labels translated now: AppTest formats options outside the script run, where the language cannot be read.
    names = {index: tr("insp.gallery_item", index=index, true=int(labels[index]),
                       guess=int(probabilities[index].argmax()), confidence=f"{probabilities[index].max():.0%}")
             for index in choices}
    index = st.selectbox(tr("insp.gallery_pick", wrong=f"{len(wrong):,}"), choices, format_func=names.__getitem__,
                         key=b.seed("insp_gallery", state.index))
    with st.expander(tr("insp.gallery_show", shown=min(GALLERY_SHOWN, len(wrong))), icon=":material/grid_view:"):
        st.image(training.gallery_png(data.test_pixels, labels, probabilities, wrong[:GALLERY_SHOWN], columns=3,
                                      true_label=tr("train.gallery_true")), width="stretch")
    return int(index)


def digit_controls(b: PageBinding, state: InspectorState, model: InspectedModel
                   ) -> tuple[InspectorState, PreparedDigit, str, str]:
    """The source picker and its input: (state, the digit, a key naming it, a note under it)."""
    source = st.segmented_control(tr("insp.source"), SOURCES, required=True, key=b.seed("insp_source", state.source),
                                  format_func=tr_option("insp.source."), width="stretch")
    state = replace(state, source=source)
    if source == "draw":
        digit, key = _drawn_digit()
        return state, digit, key, tr("insp.draw_help")
    if source == "upload":
        upload = file_uploader(tr("insp.upload"), type=None, key="insp_upload", help=tr("insp.upload_help"),
                               max_mb=IMAGE_UPLOAD_MB)
        ink = st.segmented_control(tr("insp.ink"), INK_MODES, required=True, key=b.seed("insp_ink", state.ink),
                                   format_func=tr_option("insp.ink."), help=tr("insp.ink_help"))
        state = replace(state, ink=ink)
        if upload is None:
            return state, _blank(), "blank", ""
        data = upload.getvalue()
        try:
            pixels, digit = _upload_digit(data, ink)
        except ImageError as error:
            st.error(tr_error(error), icon=":material/broken_image:")
            return state, _blank(), "blank", ""
        st.image(pixels, width=CANVAS_SIDE // 2, caption=tr("insp.uploaded"), clamp=True)
        return state, digit, f"upload:{_digest(data)}:{ink}", ""
    try:
        data = load_mnist()
    except DataError as error:
        st.error(tr_error(error), icon=":material/error:")
        return state, _blank(), "blank", ""
    if source == "mnist":
        index_column, random_column = st.columns([1.4, 1], vertical_alignment="bottom")
        index = index_column.number_input(tr("insp.index"), 0, TEST_DIGITS - 1, key=b.seed("insp_index", state.index))
        random_column.button(tr("insp.random"), key="insp_random", on_click=_on_random, icon=":material/casino:",
                             width="stretch")
    else:
        index = _gallery_pick(b, state, model)
    state = replace(state, index=int(index))
    return state, mnist_digit(data.test_pixels, state.index), f"mnist:{state.index}", \
        tr("insp.true_label", label=int(mnist_test_labels()[state.index]))


# --- clicks ------------------------------------------------------------------------------------------------

def _new_click(key: str) -> dict | None:
    """The component's click if it is one this page has not handled yet (its value stays until the next click)."""
    click = page_state.widget_value(key)
    seen = page_state.CLICK_SEEN.of(key)
    if not isinstance(click, dict) or click.get("unix_time") == seen.get():
        return None
    seen.set(click.get("unix_time"))
    return click


def _grid_layout(state: InspectorState, facts: ModelFacts) -> network.GridLayout:
    """Where each map of the state's layer and page sits in the grid picture (``state`` resolved for the model)."""
    count, height, width = facts.shapes[state.layer]
    return network.grid_layout((height, width), page_channels(count, state.page, MAPS_PER_PAGE))


def clicks(state: InspectorState, facts: ModelFacts) -> InspectorState:
    """Apply a click on the grid (the channel shown large) or on the enlarged map (the unit). Both pictures are
    what this run's model description and starting state draw, so the click is decoded against them."""
    grid, unit_click = _new_click(GRID_CLICK), _new_click(UNIT_CLICK)
    if grid is None and unit_click is None:
        return state
    shown = resolve(state, facts)
    if grid is not None:
        channel = _grid_layout(shown, facts).channel_at(grid.get("x", -1), grid.get("y", -1), grid.get("width", 0),
                                                        grid.get("height", 0))
        if channel is not None:
            state = replace(state, channel=channel)
            page_state.set_widget("insp_channel", channel)
    if unit_click is not None:
        try:
            state = replace(state, unit=unit_at_click(unit_click, facts.shapes[shown.layer][1:]))
        except ValueError:
            pass  # not a click on the map this version of the component sends
    return state


# --- view controls -----------------------------------------------------------------------------------------

def _span(count: int, page: int, per_page: int) -> str:
    """A page's first and last index, "16–31", as its button reads."""
    shown = page_channels(count, page, per_page)
    return f"{shown.start}–{shown.stop - 1}"


def _on_page() -> None:
    page_state.set_widget("insp_channel", int(page_state.widget_value("insp_page")) * MAPS_PER_PAGE)


def _on_clear_unit() -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, unit=None))


def _choice(b: PageBinding, key: str, value, options: list):
    """Seed a choice widget, moving it to the first option when its value is not one (another model's layer)."""
    b.seed(key, value if value in options else options[0])
    if page_state.widget_value(key) not in options:
        page_state.set_widget(key, options[0])
    return key


def maps_controls(b: PageBinding, state: InspectorState, facts: ModelFacts) -> tuple[InspectorState, object, object]:
    """Layer, page and the map shown large above the maps; returns the state and the two columns (grid, enlarged
    map) to draw in."""
    top = st.columns([1.5, 1.1, 1], vertical_alignment="bottom")
    layer = top[0].selectbox(tr("insp.layer"), list(facts.layers), key=_choice(b, "insp_layer", state.layer,
                                                                                list(facts.layers)),
                             format_func=lambda l: f"{l} · {' × '.join(map(str, facts.shapes[l]))}",
                             help=tr("insp.layer_help"))
    channels = facts.shapes[layer][0]
    b.seed("insp_channel", state.channel)
    channel = min(max(int(page_state.widget_value("insp_channel", 0)), 0), channels - 1)
    page_state.set_widget("insp_channel", channel)
    pages = page_count(channels, MAPS_PER_PAGE)
    if pages > 1:
        page_state.set_widget("insp_page", channel // MAPS_PER_PAGE)  # the page always holds the enlarged map
        top[1].segmented_control(tr("insp.page"), list(range(pages)), required=True, key="insp_page",
                                 on_change=_on_page, format_func=lambda p: _span(channels, p, MAPS_PER_PAGE))
    top[2].number_input(tr("insp.channel", count=channels), 0, channels - 1, key="insp_channel")
    with st.sidebar:
        scaling = st.segmented_control(tr("insp.scaling"), SCALINGS, required=True,
                                       key=b.seed("insp_scaling", state.scaling),
                                       format_func=tr_option("insp.scaling."), help=tr("insp.scaling_help"))
    grid_column, large_column = st.columns([1.15, 1], gap="medium")
    unit = state.unit if layer == state.layer else None  # another layer starts without a chosen unit
    return replace(state, layer=layer, scaling=scaling, channel=channel, page=channel // MAPS_PER_PAGE,
                   unit=unit), grid_column, large_column


def attribution_controls(b: PageBinding, state: InspectorState) -> InspectorState:
    left, right = st.columns([2.4, 1], vertical_alignment="bottom")
    method = left.segmented_control(tr("insp.method"), METHODS, required=True, key=b.seed("insp_method", state.method),
                                    format_func=tr_option("insp.method."), help=tr("insp.method_help"))
    predicted = tr("insp.target_predicted")  # translated now: AppTest formats options outside the script run
    target = right.selectbox(tr("insp.target"), [PREDICTED, *range(10)], key=b.seed("insp_target", state.target),
                             format_func=lambda c: predicted if c == PREDICTED else str(c))
    return replace(state, method=method, target=int(target))


def filter_controls(b: PageBinding, state: InspectorState, facts: ModelFacts) -> InspectorState:
    convs = list(facts.convs)
    left, right = st.columns([1, 1.6], vertical_alignment="bottom")
    layer = left.selectbox(tr("insp.filters"), convs, key=_choice(b, "insp_filters", state.filters, convs),
                           format_func=lambda l: f"{l} · {facts.filter_counts[l]}")
    page = 0
    filters = facts.filter_counts[layer]
    pages = page_count(filters, FILTERS_PER_PAGE)
    if pages > 1 and layer != convs[0]:
        options = list(range(pages))
        page = right.segmented_control(
            tr("insp.filter_page"), options, required=True,
            key=_choice(b, "insp_filter_page", min(state.filter_page, pages - 1), options),
            format_func=lambda p: _span(filters, p, FILTERS_PER_PAGE))
    return replace(state, filters=layer, filter_page=int(page))


def controls(b: PageBinding, model: InspectedModel, facts: ModelFacts, input_area, view_area):
    """Every setting of the page, seeded from the bound state, and the digit.

    Returns:
        (state, digit, digit key, note under the digit, the maps view's columns or None).
    """
    state = network_view.clicks(clicks(b.state, facts), facts)
    with input_area:
        state, digit, digit_key, note = digit_controls(b, state, model)
    columns = None
    with view_area:
        view = st.segmented_control(tr("insp.view"), VIEWS, required=True, key=b.seed("insp_view", state.view),
                                    format_func=tr_option("insp.view."), width="stretch")
        state = replace(state, view=view)
        if view == "maps":
            state, *columns = maps_controls(b, state, facts)
        elif view == "attribution":
            state = attribution_controls(b, state)
        elif view == "filters":
            state = filter_controls(b, state, facts)
        elif view == "network":
            state = network_view.controls(b, state, facts)
    return state, digit, digit_key, note, columns


# --- drawing -----------------------------------------------------------------------------------------------

def draw_prediction(result: InspectorResult, note: str, state: InspectorState) -> None:
    digit = result.digit
    with st.container(key="insp_prediction"):
        if result.forward is None:
            st.info(tr(f"insp.empty.{state.source}"), icon=":material/draw:")
            if note:
                st.caption(note)
            return
        prediction = result.forward.prediction
        st.markdown(tr("insp.says", digit=prediction.top, confidence=f"{prediction.confidence:.1%}"))
        picture, chart = st.columns([1, 2.6], vertical_alignment="bottom")
        picture.image(png_bytes(network.digit_picture(digit.pixels28, side=84)), caption=tr("insp.sees"))
        chart.plotly_chart(network.probability_figure(prediction.probabilities, prediction.top),
                           key="insp_probabilities", config={"displayModeBar": False, "staticPlot": True})
        if note:
            st.caption(note)


def draw_maps(result: InspectorResult, facts: ModelFacts, grid_column, large_column) -> None:
    state, maps = result.state, result.maps
    if maps is None:
        st.info(tr("insp.maps_need_digit"), icon=":material/draw:")
        return
    values = maps.values  # (C, H, W)
    layout = _grid_layout(state, facts)
    with grid_column:
        streamlit_image_coordinates(
            network.maps_grid(values, layout, result.peaks, result.signed, state.channel), key=GRID_CLICK,
            width="stretch", cursor="pointer", image_format="PNG", png_compression_level=1)
        st.caption(tr("insp.grid_help", scale=tr(f"insp.scale.{'signed' if result.signed else 'gray'}"),
                      how=tr(f"insp.scaling.{state.scaling}")))
    with large_column:
        streamlit_image_coordinates(
            network.enlarged_map(values[state.channel], float(result.peaks[state.channel]), result.signed,
                                             state.unit), key=UNIT_CLICK, width="stretch", cursor="crosshair",
            png_compression_level=1)
        _receptive_field(result, facts)


def _receptive_field(result: InspectorResult, facts: ModelFacts) -> None:
    state = result.state
    with st.container(key="insp_rf"):
        if result.box is None:
            st.caption(tr("insp.rf_hint") if result.rf_index is not None else tr("insp.rf_none"))
            return
        row = facts.rf_rows[result.rf_index]
        box = result.box
        st.image(png_bytes(network.digit_picture(result.digit.pixels28, box, side=168)), width="stretch")
        clipped = box.clip(28, 28)
        padding = box.padding_fraction(28, 28)
        st.caption(tr("insp.rf_text", row=state.unit[0], col=state.unit[1], layer=state.layer, rows=row.size[0],
                      cols=row.size[1], top=clipped.top, left=clipped.left, bottom=clipped.bottom - 1,
                      right=clipped.right - 1)
                   + (" " + tr("insp.rf_padding", share=f"{padding:.0%}") if padding > 0 else ""))
        st.button(tr("insp.rf_clear"), key="insp_rf_clear", on_click=_on_clear_unit, icon=":material/close:")


def draw_filters(state: InspectorState, model: InspectedModel) -> None:
    bank = next(b for b in _filter_banks(model.key, model.model) if b.layer == state.filters)
    weights = bank.weights  # (out, in, kh, kw)
    if weights.shape[1] == 1:
        st.caption(tr("insp.filters_first", count=weights.shape[0], kh=weights.shape[2], kw=weights.shape[3]))
        st.image(training.filters_png(weights))
        return
    outputs = range(state.filter_page * FILTERS_PER_PAGE,
                    min(weights.shape[0], (state.filter_page + 1) * FILTERS_PER_PAGE))
    st.caption(tr("insp.filters_deep", layer=state.filters, first=outputs.start, last=outputs.stop - 1,
                  inputs=weights.shape[1], kh=weights.shape[2], kw=weights.shape[3]))
    st.image(png_bytes(network.deep_filters(weights, outputs)), width="stretch")


def draw_attribution(result: InspectorResult) -> None:
    if result.attribution is None:
        st.info(tr("insp.maps_need_digit"), icon=":material/draw:")
        return
    attribution = result.attribution
    picture, text = st.columns([1, 1], gap="medium")
    picture.image(png_bytes(network.attribution_picture(result.digit.pixels28, attribution.normalised())), width="stretch")
    text.markdown(tr("insp.attribution_title", method=tr(f"insp.method.{attribution.method}"),
                     target=attribution.target))
    text.caption(tr(f"insp.method_why.{attribution.method}"))


def draw_summary(facts: ModelFacts) -> None:
    table = facts.table
    rows = [{tr("insp.col.layer"): r.layer, tr("insp.col.type"): r.type_name,
             tr("insp.col.shape"): shape_text(r.output_shape), tr("insp.col.params"): r.params,
             tr("insp.col.macs"): r.macs, tr("insp.col.rf"): field_text(r.receptive_field)} for r in table.rows]
    st.markdown(tr("insp.summary_total", params=count_text(table.total_params), macs=millions_text(table.total_macs)))
    small = st.column_config.Column(width="small")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="insp_summary",
                 column_config={tr("insp.col.layer"): small, tr("insp.col.params"): small,
                                tr("insp.col.macs"): small})
    st.caption(tr("insp.summary_help"))


def draw(result: InspectorResult, note: str, model: InspectedModel, facts: ModelFacts, prediction_area, view_area,
         columns) -> None:
    with prediction_area:
        draw_prediction(result, note, result.state)
    with view_area:
        view = result.state.view
        if view == "maps":
            draw_maps(result, facts, *columns)
        elif view == "filters":
            draw_filters(result.state, model)
        elif view == "attribution":
            draw_attribution(result)
        elif view == "network":
            network_view.draw(result, facts)
        else:
            draw_summary(facts)


def _link_note(state: InspectorState) -> str:
    parts = [tr("insp.link_note_model")]
    if state.source in ("draw", "upload"):
        parts.insert(0, tr(f"insp.link_note_{state.source}"))
    return " ".join(parts)


def steps(b: PageBinding) -> InspectorState:
    started = time.perf_counter()
    checkpoint_section()
    model = subject()
    model_status(model)
    try:
        facts = _facts(model.key, model.model)
    except ValueError as error:
        st.error(tr("insp.impossible", reason=tr_error(error)), icon=":material/block:")
        return b.state
    left, right = st.columns([1.45, 2.3], gap="medium")
    with left:
        input_area, prediction_area = st.container(), st.container()
    with right:
        view_area = st.container()
    state, digit, digit_key, note, columns = controls(b, model, facts, input_area, view_area)
    try:
        ran = None if digit.empty else _forward(model.key, digit_key, model.model, digit)
        traced = _trace(model.key, digit_key, model.model, digit) if state.view == "network" and not digit.empty \
            else None
        result = compute_on_torch_threads(state, model.model, digit, facts=facts, ran=ran, traced=traced)
    except ValueError as error:
        st.error(tr("insp.impossible", reason=tr_error(error)), icon=":material/block:")
        return state
    draw(result, note, model, facts, prediction_area, view_area, columns)
    with st.sidebar:
        page_state.share_link(result.state, note=_link_note(result.state))
    page_state.record_timing(PAGE, 1000 * (time.perf_counter() - started))  # read by bench/inspector.py
    return result.state


guarded(run_page, Page(PAGE, InspectorState, "insp.title", "insp.intro"), steps)
