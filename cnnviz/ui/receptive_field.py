"""Receptive fields: click a unit deep in a network and see what it can see, and what actually drives it.

The page's steps (``cnnviz.ui.page``): ``controls`` (widgets -> ReceptiveFieldState), ``compute``
(cnnviz.pages.receptive_field), the choice of unit, and the drawing (the input with the unit's box and every earlier
layer's, the effective fields, the table). The state is the truth and the widgets show it: a click on the picture
or a pick in the layer and unit pickers is applied to this run's view (``_picked``), and the pickers follow.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz import torch_threads
from cnnviz.analysis.clicks import unit_at_click
from cnnviz.analysis.effective_rf import MASS, EffectiveField
from cnnviz.analysis.layer_table import count_text, millions_text, shape_text
from cnnviz.analysis.receptive_field import Box, RFRow
from cnnviz.conv.geometry import LAYER_KINDS, Layer
from cnnviz.figures import receptive_fields
from cnnviz.figures.maps import png_bytes
from cnnviz.figures.receptive_fields import InputFrame
from cnnviz.markdown_text import md_text
from cnnviz.errors import UserError
from cnnviz.graph.effective import random_kernels
from cnnviz.graph.preprocess import Preprocess, prepare, seen
from cnnviz.pages.receptive_field import (ERF_MAX_CHANNELS, LIMITS, MAX_LAYERS, PRESET_NAMES, SESSION, WORKING_SIZES,
                                          YOURS, GraphFields, ReceptiveFieldState, RFView, add_layer,
                                          analyzed_prefix, check_layer, choose, claims, compare_stacks, compute,
                                          graph_fields, graph_view, layer_params, misaligned_rows, model_fields,
                                          move_layer, random_field, remove_layer, session_layers, trained_field,
                                          unit_in_layer, view_at, with_session)
from cnnviz.pages.your_network import DEMOS, FORMATS, UPLOAD, NetworkFacts, YourNetworkState
from cnnviz.ui import runs
from cnnviz.ui import state as page_state
from cnnviz.ui.clickable import new_click
from cnnviz.ui.common import BASE_FONT_PX, PRESENT_FONT_PX, guarded, tr, tr_error, tr_option
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding, presenting
from cnnviz.ui.widgets import image_input
from cnnviz.ui.your_model import demo_facts, graph_table, uploaded

PAGE = "receptive_field"
STACK_COLUMNS = ("kind", "k", "s", "p", "d")  # the stack editor's columns
STACK_NEW_ROW = {"kind": "conv", "k": 3, "s": 1, "p": 1, "d": 1}  # what a blank row added in the editor becomes
TABLE_ROW_PX = 35  # Streamlit's table row height, px, at the browser's root font size (it grows with the font)
GRAPH_CLICK = "rf_graph_click"  # a model's layer table: a click on a row with a field picks it
MODEL_PICTURE_SIDE = WORKING_SIZES[-1]  # px: a picture's longer side before it is fitted to a model's input


# --- callbacks: each changes the state; the next run seeds every widget from it -------------------------------

def _yours_model() -> tuple[str, str]:
    """The model the Your network page shows in this session (a demo and its format, or the upload), else its
    first demo."""
    shown = page_state.stored("yours")
    if isinstance(shown, YourNetworkState) and (shown.model != UPLOAD or uploaded() is not None):
        return shown.model, shown.fmt
    start = YourNetworkState()
    return start.model, start.fmt


def _on_preset() -> None:
    name = page_state.widget_value("rf_preset")
    if name == YOURS:
        network, fmt = _yours_model()
        page_state.replace_state(PAGE, lambda s: s.with_model(network, fmt))
        return
    if name != SESSION:
        page_state.replace_state(PAGE, lambda s: s.with_preset(name))
        return
    inspected = runs.model_to_inspect()
    if inspected is None:
        page_state.flash(PAGE, tr("rf.no_session"))
        page_state.replace_state(PAGE, lambda s: s)  # the picker goes back to the stack shown
    else:
        page_state.replace_state(PAGE, lambda s: with_session(s, inspected.config))


def _use_session() -> None:
    page_state.set_widget("rf_preset", SESSION)
    _on_preset()


def _on_reset() -> None:
    page_state.replace_state(PAGE, lambda s: s.with_preset(s.preset))


def _on_layer() -> None:
    page_state.RF_PICK.set(("layer", page_state.widget_value("rf_layer")))


def _on_unit() -> None:
    page_state.RF_PICK.set(("unit", (page_state.widget_value("rf_row"), page_state.widget_value("rf_col"))))


def _picked(state: ReceptiveFieldState, view: RFView) -> ReceptiveFieldState:
    """``state`` with the unit this run's input chose, if any: a click on the picture this view draws, or a layer
    or unit picked in the pickers. Decoded against this run's view, never a view kept from an earlier run.

    The click is read here rather than in the component's callback, so the page and a test that sets the
    component's value (AppTest does not run component callbacks) take the same path.
    """
    pick = page_state.RF_PICK.pop()
    if pick is not None:
        what, value = pick
        if what == "layer" and isinstance(value, int) and 0 <= value < len(view.rows):
            state = choose(state, view, value, unit_in_layer(view, value))
        elif what == "unit" and value[0] is not None and value[1] is not None:
            state = choose(state, view, view.layer, (int(value[0]), int(value[1])))
    table = new_click(GRAPH_CLICK)  # a row of a model's layer table, by name
    names = [row.name for row in view.rows]
    if table is not None and table.get("layer") in names:
        layer = names.index(table["layer"])
        state = choose(state, view, layer, unit_in_layer(view, layer))
    click = page_state.widget_value("rf_click")
    seen = page_state.CLICK_SEEN.of("rf_click")
    if not isinstance(click, dict) or click.get("unix_time") == seen.get():
        return state
    seen.set(click.get("unix_time"))
    try:
        margin = receptive_fields.frame_for(view.rows, view.input_hw).margin  # the picture that was clicked
        unit = unit_at_click(click, view.input_hw, margin=margin, rows=view.rows, layer=view.layer)
    except ValueError:
        return state  # not a click this version of the component sends
    return choose(state, view, view.layer, unit)


def _edit_stack(change) -> None:
    page_state.replace_state(PAGE, change)


# --- controls --------------------------------------------------------------------------------------------------

def _layer_text(row: RFRow, graph: bool = False) -> str:
    """ "pool5 · max pool 2×2 s2": the layer's name, kind, window and what differs from stride 1, padding 0,
    dilation 1; a model's row as its table writes it, "block1.add · add"."""
    if graph:
        return f"{row.name} · {row.kind}"
    layer = row.layer
    kernel, stride, dilation = layer.kernel[0], layer.stride[0], layer.dilation[0]
    padding = layer.padding[0][0]
    extras = (f" s{stride}" if stride != 1 else "") + (f" p{padding}" if padding else "") + \
        (f" d{dilation}" if dilation != 1 else "")
    return f"{row.name} · {tr(f'rf.kind.{layer.kind}')} {kernel}×{kernel}{extras}"


def _table_row_px() -> int:
    """A table row's height on this page: presentation mode's larger type makes rows taller (42 px, not 35)."""
    return math.ceil(TABLE_ROW_PX * PRESENT_FONT_PX / BASE_FONT_PX) if presenting() else TABLE_ROW_PX


def _stack_table(state: ReceptiveFieldState, rows: tuple[RFRow, ...], in_channels: int) -> tuple[Layer, ...]:
    """The stack as one table: kind, k, s, p and d are editable (rows can be added and deleted), the rest is what
    they give on this input. Returns the stack as edited.

    With dynamic rows Streamlit names the editor after its data, so a changed stack gives a fresh editor that
    shows it: edits are never replayed on top of the stack they already changed.
    """
    params = layer_params(rows, state.channels, in_channels)
    records = []
    for index, layer in enumerate(state.layers):
        record = {"name": "", "kind": layer.kind, "k": layer.kernel[0], "s": layer.stride[0], "p": layer.padding[0][0],
                  "d": layer.dilation[0], "out": "", "size": "", "jump": "", "start": "", "params": ""}
        if index < len(rows):
            row = rows[index]
            record.update(name=("▶ " if index == state.layer else "") + row.name,
                          out=" × ".join(map(str, row.out_size)), size=_pair(row.size), jump=_pair(row.jump),
                          start=_pair(row.start), params=f"{params[index]:,}")
        records.append(record)
    numbers = {column: st.column_config.NumberColumn(tr(f"rf.col.{column}"), min_value=LIMITS[name][0],
                                                     max_value=LIMITS[name][1], step=1, width=44,
                                                     help=tr(f"rf.col.{column}_help"))
               for column, name in (("k", "kernel"), ("s", "stride"), ("p", "padding"), ("d", "dilation"))}
    results = {column: st.column_config.TextColumn(tr(f"rf.th.{column}"), disabled=True)
               for column in ("name", "out", "size", "jump", "start", "params")}
    edited = st.data_editor(
        pd.DataFrame(records), key="rf_stack", num_rows="dynamic", hide_index=True, width="stretch",
        height=_table_row_px() * (len(records) + 2) + 3,  # every layer and the add row, no inner scrolling
        column_order=("name",) + STACK_COLUMNS + ("out", "size", "jump", "start", "params"),
        column_config={"kind": st.column_config.SelectboxColumn(tr("rf.col.kind"), options=list(LAYER_KINDS),
                                                                format_func=tr_option("rf.kind."), required=True,
                                                                width=80), **numbers, **results})
    layers, problems = [], []
    for position, record in enumerate(edited.to_dict("records")):
        values = {key: STACK_NEW_ROW[key] if record.get(key) is None or pd.isna(record.get(key)) else record[key]
                  for key in STACK_COLUMNS}
        try:
            layers.append(check_layer(values["kind"], *(int(values[key]) for key in ("k", "s", "p", "d"))))
        except (ValueError, TypeError) as error:
            problems.append(tr("rf.bad_layer", index=position, reason=tr_error(error)))
    for problem in problems:
        st.warning(problem, icon=":material/edit_off:")
    if not layers:
        st.warning(tr("rf.empty_stack"), icon=":material/edit_off:")
        return state.layers
    if len(layers) > MAX_LAYERS:
        st.warning(tr("rf.too_many", most=MAX_LAYERS), icon=":material/edit_off:")
        return tuple(layers[:MAX_LAYERS])
    return tuple(layers)


def _stack_buttons(state: ReceptiveFieldState) -> None:
    """Buttons that act on the chosen layer: move it, remove it, add a layer after it."""
    buttons = st.columns(6)
    buttons[0].button(tr("rf.move_up"), key="rf_up", on_click=_edit_stack, args=(lambda s: move_layer(s, -1),),
                      disabled=state.layer == 0, width="stretch", icon=":material/arrow_upward:")
    buttons[1].button(tr("rf.move_down"), key="rf_down", on_click=_edit_stack, args=(lambda s: move_layer(s, 1),),
                      disabled=state.layer >= len(state.layers) - 1, width="stretch", icon=":material/arrow_downward:")
    buttons[2].button(tr("rf.remove"), key="rf_remove", on_click=_edit_stack, args=(remove_layer,),
                      disabled=len(state.layers) == 1, width="stretch", icon=":material/delete:")
    for column, kind in zip(buttons[3:], LAYER_KINDS):
        column.button(tr(f"rf.add_{kind}"), key=f"rf_add_{kind}", on_click=_edit_stack,
                      args=(lambda s, k=kind: add_layer(s, k),), disabled=len(state.layers) >= MAX_LAYERS,
                      width="stretch", icon=":material/add:")


def controls(b: PageBinding) -> tuple[ReceptiveFieldState, np.ndarray, str, str]:
    """The sidebar's widgets, seeded from the bound state: (the state, the image, a note about it, its key)."""
    state = b.state
    inspected = runs.model_to_inspect()
    options = [name for name in PRESET_NAMES if name != SESSION or inspected is not None or state.preset == SESSION]
    with st.sidebar:
        st.subheader(tr("rf.network"))
        st.selectbox(tr("rf.preset"), options, key=b.seed("rf_preset", state.preset), on_change=_on_preset,
                     format_func=tr_option("rf.preset."), help=tr("rf.preset_help"))
        if state.graph:  # a model's graph: its own channels, weights and input size
            state = _model_picker(b, state)
            seed = st.number_input(tr("rf.seed"), 0, 9999, key=b.seed("rf_seed", state.seed),
                                   help=tr("rf.model_seed_help"))
            st.subheader(tr("rf.input"))
            image, note, image_key, source, sample = image_input(b, "rf", source=state.source, sample=state.sample,
                                                                 max_side=MODEL_PICTURE_SIDE)
            return replace(state, source=source, sample=sample, seed=int(seed)), image, note, image_key
        if state.edited:
            st.button(tr("rf.reset"), key="rf_reset", on_click=_on_reset, icon=":material/undo:")
        channels = st.number_input(tr("rf.channels"), 1, 4096, key=b.seed("rf_channels", state.channels),
                                   help=tr("rf.channels_help"))
        seed = st.number_input(tr("rf.seed"), 0, 9999, key=b.seed("rf_seed", state.seed), help=tr("rf.seed_help"))
        st.subheader(tr("rf.input"))
        working = st.select_slider(tr("rf.working_size"), WORKING_SIZES, key=b.seed("rf_working", state.working_size),
                                   help=tr("rf.working_size_help"))
        image, note, image_key, source, sample = image_input(b, "rf", source=state.source, sample=state.sample,
                                                             max_side=int(working))
    state = replace(state, working_size=int(working), source=source, sample=sample, channels=int(channels),
                    seed=int(seed))
    return state, image, note, image_key


def _model_picker(b: PageBinding, state: ReceptiveFieldState) -> ReceptiveFieldState:
    """Which model: a demo in either format, or the one this session uploaded on the Your network page."""
    options = DEMOS + ((UPLOAD,) if uploaded() is not None or state.network == UPLOAD else ())
    network = st.selectbox(tr("rf.model"), options, key=b.seed("rf_network", state.network),
                           format_func=tr_option("yours.model."), help=tr("rf.model_help"))
    fmt = state.fmt
    if network != UPLOAD:
        fmt = st.segmented_control(tr("yours.format"), FORMATS, required=True, key=b.seed("rf_fmt", state.fmt),
                                   format_func=tr_option("yours.format."))
    if (network, fmt) != (state.network, state.fmt):  # another model: its own rows, the page's pick
        state = replace(state, node="", unit=None)
    return replace(state, network=network, fmt=fmt)


def _unit_controls(b: PageBinding, state: ReceptiveFieldState, view: RFView) -> ReceptiveFieldState:
    """Layer and unit pickers that show the view's choice (the state decides; these change it by callback)."""
    count = len(view.rows)
    page_state.set_widget("rf_layer", view.layer)
    labels = [_layer_text(row, state.graph) for row in view.rows]  # translated now, not when AppTest asks
    st.selectbox(tr("rf.layer"), list(range(count)), key="rf_layer", on_change=_on_layer, format_func=labels.__getitem__)
    out = view.rows[view.layer].out_size
    sliders = st.columns(2)
    for column, key, value, size, label, only in (
            (sliders[0], "rf_row", view.unit[0], out[0], tr("rf.unit_row"), tr("rf.unit_row_only")),
            (sliders[1], "rf_col", view.unit[1], out[1], tr("rf.unit_col"), tr("rf.unit_col_only"))):
        with column:
            if size > 1:
                page_state.set_widget(key, value)
                st.slider(label, 0, size - 1, key=key, on_change=_on_unit)
            else:
                st.caption(only)
    nested = st.toggle(tr("rf.nested"), key=b.seed("rf_nested", state.nested), help=tr("rf.nested_help"))
    return replace(state, nested=bool(nested))


# --- drawing ---------------------------------------------------------------------------------------------------

def _boxes(view: RFView, state: ReceptiveFieldState) -> list[tuple[Box, str, int, str]]:
    """(box, colour, outline px, legend label) for every box drawn, earliest layer first, the chosen one last."""
    boxes = []
    if state.nested:
        for nested in view.nested[:-1]:
            colour = receptive_fields.NESTED_COLOURS[nested.layer % len(receptive_fields.NESTED_COLOURS)]
            size = view.rows[nested.layer].size
            boxes.append((nested.box, colour, receptive_fields.EARLIER_WIDTH,
                          tr("rf.legend_layer", name=view.rows[nested.layer].name, size=_pair(size))))
    boxes.append((view.box, receptive_fields.CHOSEN_COLOUR, receptive_fields.CHOSEN_WIDTH,
                  tr("rf.legend_chosen", name=view.rows[view.layer].name, size=_pair(view.rows[view.layer].size))))
    return boxes


def _num(value: int) -> str:
    """An integer with a real minus sign, as a student writes it."""
    return str(value).replace("-", "−")


def _pair(values) -> str:
    """"10" for a square pair, "10×8" otherwise."""
    texts = [_num(v) for v in values]
    return texts[0] if texts[0] == texts[1] else "×".join(texts)


def _picture(view: RFView, state: ReceptiveFieldState, image: np.ndarray, frame: receptive_fields.InputFrame,
             dots: np.ndarray | None) -> None:
    boxes = _boxes(view, state)
    pixels = receptive_fields.unit_picture(image, frame, boxes=[box[:3] for box in boxes], shade=view.box, dots=dots)
    with st.container(key="rf_picture"):
        streamlit_image_coordinates(Image.fromarray(pixels), key="rf_click", width="stretch", png_compression_level=1,
                                    cursor="crosshair")


def _unit_text(view: RFView, state: ReceptiveFieldState, dense: bool) -> None:
    row = view.rows[view.layer]
    box = view.box
    with st.container(key="rf_unit", border=True):
        st.markdown(tr("rf.unit_title", row=view.unit[0], col=view.unit[1], name=row.name,
                       out=" × ".join(map(str, row.out_size))))
        st.markdown(tr("rf.unit_box", top=_num(box.top), bottom=_num(box.bottom - 1), left=_num(box.left),
                       right=_num(box.right - 1), size=_pair(row.size),
                       jump=_pair(row.jump), pad=f"{100 * view.padding_fraction:.0f}"))
        entries = [(colour, label, width) for _, colour, width, label in _boxes(view, state)]
        st.html(receptive_fields.legend_html(entries, padding_label=tr("rf.legend_padding")))
        st.caption(tr("rf.click_help_dense") if dense else tr("rf.click_help"))


def _claims(state: ReceptiveFieldState, view: RFView) -> None:
    found = claims(state, view)
    if not found:
        return
    with st.container(key="rf_claims", border=True):
        st.markdown(tr(f"rf.claims.{state.preset}"))
        st.markdown("  \n".join(tr("rf.claim", name=tr(f"rf.claim.{claim.name}"), tutorial=_num(claim.tutorial),
                                   app=_num(claim.app), mark="✓" if claim.holds else "✗") for claim in found))


@shared_results(16)
def _random_field(layers: tuple[Layer, ...], unit: tuple[int, int], box: Box, channels: int, seed: int,
                  image_key: str, _image: np.ndarray) -> EffectiveField:
    return torch_threads.run(random_field, layers, unit, box, _image, channels=channels, seed=seed)


def _field_picture(field: EffectiveField, view: RFView, frame: receptive_fields.InputFrame, caption: str,
                   key: str) -> None:
    picture = receptive_fields.gradient_picture(field.grad, frame, box=view.box, region=field.region)
    with st.container(key=key):
        st.image(png_bytes(picture), width="stretch", caption=caption)
        if field.dead:
            st.warning(tr("rf.dead"), icon=":material/block:")
        else:
            inside = field.box.clip(*field.grad.shape).area
            st.markdown(tr("rf.fraction", mass=f"{100 * MASS:.0f}", region=f"{int(field.region.sum()):,}",
                           box=f"{inside:,}", pct=f"{100 * field.fraction:.0f}"))


def _trained(view: RFView, state: ReceptiveFieldState, image: np.ndarray, frame: receptive_fields.InputFrame) -> None:
    inspected = runs.model_to_inspect()
    if inspected is None:
        st.info(tr("rf.trained_none"), icon=":material/model_training:")
        return
    if state.preset != SESSION or state.layers != session_layers(inspected.config):
        st.info(tr("rf.trained_other", label=md_text(inspected.label)), icon=":material/model_training:")
        st.button(tr("rf.use_session"), key="rf_use_session", on_click=_use_session, icon=":material/input:")
        return
    size = inspected.config.input_size
    if image.shape != (size, size):
        st.info(tr("rf.trained_digit", size=size), icon=":material/draw:")
        return
    try:
        field = trained_field(inspected.model, image, view)
    except ValueError as error:
        st.warning(tr_error(error), icon=":material/block:")
        return
    caption = tr("rf.trained_caption", label=md_text(inspected.label)) + ("" if inspected.trained else tr("rf.untrained"))
    _field_picture(field, view, frame, caption, "rf_trained")


def _effective(view: RFView, state: ReceptiveFieldState, image: np.ndarray, image_key: str,
               frame: receptive_fields.InputFrame) -> None:
    st.subheader(tr("rf.erf_title"))
    st.caption(tr("rf.erf_intro", mass=f"{100 * MASS:.0f}"))
    left, right = st.columns(2)
    channels = min(state.channels, ERF_MAX_CHANNELS)
    layers = tuple(row.layer for row in view.rows[:view.layer + 1])
    with left:
        try:
            field = _random_field(layers, view.unit, view.box, state.channels, state.seed, image_key, image)
        except ValueError as error:
            st.warning(tr_error(error), icon=":material/block:")
        else:
            _field_picture(field, view, frame, tr("rf.random_caption", seed=state.seed, channels=channels),
                           "rf_random")
    with right:
        _trained(view, state, image, frame)
    st.caption(tr("rf.erf_note", h=view.input_hw[0], w=view.input_hw[1], most=WORKING_SIZES[-1]))


def _layers_section(b: PageBinding, state: ReceptiveFieldState, rows: tuple[RFRow, ...],
                    in_channels: int) -> ReceptiveFieldState:
    """Edit the stack and read what every layer gives; an edit reruns the page so the table shows its results."""
    st.subheader(tr("rf.table_title"))
    _stack_buttons(state)
    st.caption(tr("rf.stack_help"))
    layers = _stack_table(state, rows, in_channels)
    if layers != state.layers:
        b.publish(state.with_layers(layers))
        st.rerun()
    params = layer_params(rows, state.channels, in_channels)
    st.caption(tr("rf.table_note", channels=state.channels, image=in_channels, total=f"{sum(params):,}"))
    comparison = compare_stacks(state.channels)
    with st.container(key="rf_compare", border=True):
        st.markdown(tr("rf.compare", c=state.channels, small=f"{comparison.small_weights:,}",
                       large=f"{comparison.large_weights:,}", small_field=comparison.small_field,
                       large_field=comparison.large_field,
                       saved=f"{100 * (1 - comparison.small_weights / comparison.large_weights):.0f}"))
    return state


def _start_from_session(b: PageBinding) -> None:
    """A first visit without a link: when this session has trained (or loaded) a network, start from it."""
    if page_state.stored(PAGE) is not None or b.state != ReceptiveFieldState():
        return
    inspected = runs.model_to_inspect()
    if inspected is not None:
        b.start_from(with_session(b.state, inspected.config))
        page_state.flash(PAGE, tr("rf.started_from_session", label=md_text(inspected.label)))


def steps(b: PageBinding) -> ReceptiveFieldState:
    state, image, note, image_key = controls(b)
    if note:
        st.info(note, icon=":material/info:")
    if state.graph:
        state = _graph_steps(b, state, image, image_key)
        with st.sidebar:  # the link of the view as drawn, after this run's click
            upload = UPLOAD in (state.network, state.source)
            page_state.share_link(state, note=tr("rf.model_link_note") if upload else "")
        return state
    in_channels = 1 if image.ndim == 2 else image.shape[2]
    try:
        view, problem = compute(state, image.shape[:2]), None
        picked = _picked(state, view)
        if picked != state:
            state, view = picked, view_at(view.rows, view.input_hw, picked.layer, picked.unit)
    except ValueError as error:
        view, problem = None, error
    # A stack that does not run still shows, in the table, the layers before the one that fails.
    rows = view.rows if view is not None else analyzed_prefix(state.named_layers(), image.shape[:2])
    view_area, layers_area = st.container(), st.container()
    with layers_area:
        state = _layers_section(b, state, rows, in_channels)
    with st.sidebar:
        page_state.share_link(state, note=tr("rf.upload_link_note") if state.source != "sample" else "")
    if view is None:
        with view_area:
            st.error(tr("rf.impossible", h=image.shape[0], w=image.shape[1], reason=tr_error(problem)),
                     icon=":material/block:")
        return state
    with view_area:
        state, frame = _chosen_unit(b, state, view, image, lambda shown: _claims(shown, view))
        _effective(view, state, image, image_key, frame)
    return state


def _chosen_unit(b: PageBinding, state: ReceptiveFieldState, view: RFView, image: np.ndarray,
                 below: Callable[[ReceptiveFieldState], None]) -> tuple[ReceptiveFieldState, InputFrame]:
    """The picture with the chosen unit's boxes beside its pickers and numbers (``below`` adds under them): the
    state as the pickers leave it, and the input's place in every picture."""
    frame = receptive_fields.frame_for(view.rows, view.input_hw)
    dots = receptive_fields.unit_centres(view.rows, view.layer, frame)
    picture_area, controls_area = st.columns([3, 2])
    with controls_area:
        state = _unit_controls(b, state, view)  # a pick reaches the next run through _picked
        _unit_text(view, state, dense=dots is None)
        below(state)
    with picture_area:
        _picture(view, state, image, frame, dots)
    return state, frame


# --- a model's graph (the "yours" preset) ------------------------------------------------------------------

def _model_found(state: ReceptiveFieldState) -> tuple[NetworkFacts, str] | None:
    """(the model's facts, a key naming it); None for an upload this session does not have."""
    if state.network != UPLOAD:
        return demo_facts(state.network, state.fmt), f"demo:{state.network}:{state.fmt}"
    upload = uploaded()
    return None if upload is None else (upload[1], upload[0])


def _preparation(state: ReceptiveFieldState) -> Preprocess:
    """How a picture becomes the model's input: a demo's own (MNIST's normalisation; the same on every machine, so
    a link shows the same fields); an upload's as set on the Your network page."""
    shown = page_state.stored("yours")
    if state.network == UPLOAD and isinstance(shown, YourNetworkState):
        return shown.preprocess
    return YourNetworkState().preprocess


@shared_results(16)
def _graph_fields(model_key: str, _facts: NetworkFacts) -> GraphFields:
    return graph_fields(_facts.table)


@shared_results(16)
def _model_fields(model_key: str, picture_key: str, preprocess: Preprocess, node: str, unit: tuple[int, int],
                  seed: int, _facts: NetworkFacts, _fields: GraphFields, _view: RFView, _x) -> tuple:
    return torch_threads.run(model_fields, _facts.view.graph_module, _random_model(model_key, seed, _facts), _fields,
                             _view, _x)


@shared_results(2)
def _random_model(model_key: str, seed: int, _facts: NetworkFacts) -> Any:
    """The model with random kernels: a copy of every weight, made once per model and seed, not once per unit."""
    return torch_threads.run(random_kernels, _facts.view.graph_module, seed)


def _model_effective(view: RFView, state: ReceptiveFieldState, found: tuple[NetworkFacts, str], fields: GraphFields,
                     picture_key: str, x, frame: InputFrame) -> None:
    facts, model_key = found
    st.subheader(tr("rf.erf_title"))
    st.caption(tr("rf.erf_intro", mass=f"{100 * MASS:.0f}"))
    try:
        random, trained = _model_fields(model_key, picture_key, _preparation(state), fields.rows[view.layer].name,
                                        view.unit, state.seed, facts, fields, view, x)
    except ValueError as error:
        st.warning(tr_error(error), icon=":material/block:")
        return
    left, right = st.columns(2)
    with left:
        _field_picture(random, view, frame, tr("rf.model_random_caption", seed=state.seed), "rf_random")
    with right:
        _field_picture(trained, view, frame, tr("rf.model_trained_caption", name=md_text(facts.view.name)),
                       "rf_trained")
    st.caption(tr("rf.model_erf_note", h=view.input_hw[0], w=view.input_hw[1]))


def _misaligned(fields: GraphFields, view: RFView) -> None:
    names = misaligned_rows(fields, view)
    if names:
        st.warning(tr("rf.misaligned", names=", ".join(names)), icon=":material/call_split:")


def _graph_section(facts: NetworkFacts, fields: GraphFields, view: RFView | None) -> None:
    """The model's layer table with its lanes; a click on a row with a field picks it."""
    st.subheader(tr("rf.model_table_title"))
    view_info = facts.view
    st.markdown(tr("yours.opened", name=md_text(view_info.name), source=tr(f"yours.source.{view_info.source}"),
                   shape=shape_text(view_info.input_shape), params=count_text(facts.table.total_params),
                   macs=millions_text(facts.table.total_macs)))
    chosen = view.rows[view.layer].name if view is not None else ""
    graph_table(GRAPH_CLICK, facts.table, [row.name for row in fields.rows], chosen)
    st.caption(tr("rf.model_table_help"))


def _graph_steps(b: PageBinding, state: ReceptiveFieldState, image: np.ndarray, image_key: str
                 ) -> ReceptiveFieldState:
    """The page for a model's graph: its fields through every branch, on the picture fitted to its input."""
    found = _model_found(state)
    if found is None:
        st.info(tr("rf.model_upload_first"), icon=":material/upload_file:")
        page_state.open_page_link("cnnviz/ui/your_network.py", "your-network", None, tr("rf.open_yours"))
        return state
    facts, _ = found
    try:
        preprocess = _preparation(state)
        shown = seen(image, preprocess, facts.view.input_shape)
        x = prepare(image, preprocess, facts.view.input_shape)
    except UserError as error:
        st.error(tr_error(error), icon=":material/error:")
        return state
    fields = _graph_fields(found[1], facts)
    if not fields.rows:
        st.info(tr("rf.model_no_fields"), icon=":material/info:")
        _graph_section(facts, fields, None)
        return state
    view = graph_view(fields, shown.shape[:2], state.node, state.unit)
    picked = _picked(state, view)
    if picked != state:
        state, view = picked, graph_view(fields, shown.shape[:2], picked.node, picked.unit)
    state, frame = _chosen_unit(b, state, view, shown, lambda _: _misaligned(fields, view))
    _model_effective(view, state, found, fields, image_key, x, frame)
    _graph_section(facts, fields, view)
    return state


guarded(run_page, Page(PAGE, ReceptiveFieldState, "rf.title", "rf.intro", start=_start_from_session), steps)
