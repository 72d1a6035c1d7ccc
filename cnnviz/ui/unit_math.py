"""Look inside's network view: the overview of every layer, a layer's map beside its input maps, and one unit's value
taken apart, written out the way the Step page writes a convolution.

Only drawing and widgets live here; the numbers come from ``cnnviz.pages.drill`` (``DrillResult``).
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import streamlit as st

from cnnviz.analysis.clicks import unit_at_click
from cnnviz.analysis.unit_math import (ActivationStage, BatchNormStage, DenseMath, PoolStage, SoftmaxMath, Stage,
                                       UnitMath)
from cnnviz.figures import network, overview
from cnnviz.figures.maps import png_bytes
from cnnviz.pages.drill import OVERVIEW, SOFTMAX, DrillResult, overview_columns, resolve_drill
from cnnviz.pages.inspector import INPUT_SHAPE, InspectorResult, InspectorState, ModelFacts
from cnnviz.ui import state as page_state
from cnnviz.ui.clickable import clickable_picture, new_click
from cnnviz.ui.common import tr
from cnnviz.ui.pictures import Picture, picture_grid
from cnnviz.ui.state import PageBinding

PAGE = "inspector"
OVERVIEW_CLICK = "insp_drill_click"  # the overview, a clickable picture: opens a layer and a map
UNIT_CLICK = "insp_drill_unit_click"  # ... on the layer's large map: the unit taken apart
SOURCES_SHOWN = 16  # input maps pictured beside a map: a 4x4 grid
TERMS_SHOWN = 16  # input channels pictured as window and kernel pairs
LARGEST_SHOWN = 8  # products of a dense unit written out one by one
_ACTIVATION_LINES = {"relu": "drill.line.relu", "leaky_relu": "drill.line.leaky_relu", "tanh": "drill.line.tanh",
                     "sigmoid": "drill.line.sigmoid", "gelu": "drill.line.gelu"}  # each function's written form


def num(value: float) -> str:
    """A network's number in 3 significant digits: 0.412, -1.23, 1.2e-4 (weights are rarely round)."""
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m.group(1) == '-' else ''}{m.group(2)}", text)


def _term(value: float) -> str:
    return f"({num(value)})" if value < 0 else num(value)


# --- clicks and controls -------------------------------------------------------------------------------------

def _layout(facts: ModelFacts) -> overview.OverviewLayout:
    return overview.overview_layout(overview_columns(facts, INPUT_SHAPE))


def _map_key(state: InspectorState) -> str:
    return f"insp_drill_map_{state.drill}"  # one widget per layer: each has its own number of maps


def clicks(state: InspectorState, facts: ModelFacts) -> InspectorState:
    """Apply a click on the overview (a layer and its map, or a dense unit) or on the large map (a unit), each
    decoded against what this model's description draws."""
    where, unit_click = new_click(OVERVIEW_CLICK), new_click(UNIT_CLICK)
    if where is not None:
        layout = _layout(facts)
        hit = layout.hit(where.get("x", -1), where.get("y", -1), where.get("width", 0), where.get("height", 0))
        if hit is not None:
            column = layout.columns[hit[0]]
            if column.kind == "input":
                state = replace(state, drill=OVERVIEW, drill_map=0, drill_unit=None)
            else:
                state = replace(state, drill=column.label, drill_map=0 if column.kind == "softmax" else hit[1],
                                drill_unit=None)
                page_state.set_widget(_map_key(state), state.drill_map)
    if unit_click is not None:
        columns = _layout(facts).columns
        shown = resolve_drill(state, columns)
        column = next((c for c in columns if c.label == shown.drill and c.maps), None)
        if column is not None:
            try:
                state = replace(state, drill_unit=unit_at_click(unit_click, column.shape[1:]))
            except ValueError:
                pass  # not a click on the map this version of the component sends
    return state


def _on_overview() -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, drill=OVERVIEW, drill_map=0, drill_unit=None))


def _on_clear_unit() -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, drill_unit=None))


def controls(b: PageBinding, state: InspectorState, facts: ModelFacts) -> InspectorState:
    """The way back to the overview, and the map (or dense unit) of the layer drilled into."""
    state = resolve_drill(state, _layout(facts).columns)
    if state.drill == OVERVIEW:
        return state
    column = next(c for c in _layout(facts).columns if c.label == state.drill)
    left, right = st.columns([1, 1.3], vertical_alignment="bottom")
    left.button(tr("drill.back"), key="insp_drill_back", on_click=_on_overview, icon=":material/arrow_back:",
                width="stretch")
    if column.kind == SOFTMAX:
        return state
    count = column.shape[0]
    label = tr("drill.map", count=count) if column.maps else tr("drill.unit", count=count)
    key = b.seed(_map_key(state), state.drill_map)
    if not 0 <= int(page_state.widget_value(key, 0)) < count:
        page_state.set_widget(key, state.drill_map)
    chosen = int(right.number_input(label, 0, count - 1, key=key))
    if chosen != state.drill_map:
        state = replace(state, drill_map=chosen, drill_unit=None)
    return state


# --- drawing -------------------------------------------------------------------------------------------------

def _overview(drill: DrillResult, state: InspectorState, facts: ModelFacts) -> None:
    layout = _layout(facts)
    labels = [c.label for c in layout.columns]
    selected = (labels.index(state.drill), state.drill_map) if state.drill in labels else None
    picture = overview.overview_picture(layout, drill.values, selected)
    clickable_picture(OVERVIEW_CLICK, png_bytes(picture), alt=tr("drill.overview_help"))
    st.caption(tr("drill.overview_help"))


def _layer(drill: DrillResult, state: InspectorState) -> None:
    column, sources = drill.column, drill.sources
    count = len(sources)
    key = "drill.layer_title" if count > 1 or column.kind == "conv" else "drill.layer_title_one"
    st.markdown(tr(key, layer=column.label, channel=state.drill_map, count=count, source=drill.source_label))
    values = drill.values[[c.label for c in drill.columns].index(column.label)]  # (C, H, W)
    left, right = st.columns([1, 1], gap="medium")
    with left:
        shown = range(min(count, SOURCES_SHOWN))
        peaks = np.abs(sources).reshape(count, -1).max(axis=1)
        layout = network.grid_layout(sources.shape[1:], shown, columns=min(4, count))
        grid = network.maps_grid(sources, layout, peaks, bool((sources < 0).any()), None)
        if drill.window is not None:
            grid = overview.frame_window(grid, layout, sources.shape[1:], drill.window)
        st.image(png_bytes(grid), width="stretch")
        if count > SOURCES_SHOWN:
            st.caption(tr("drill.sources_more", shown=SOURCES_SHOWN, count=count))
    with right:
        chosen = values[state.drill_map]
        picture = network.enlarged_map(chosen, float(np.abs(chosen).max()), bool((values < 0).any()), state.drill_unit)
        clickable_picture(UNIT_CLICK, png_bytes(picture), cursor="crosshair")


def channel_lines(math: UnitMath) -> list[str]:
    """Each input channel's window times its kernel slice, term by term, one line a channel."""
    lines = []
    for term in math.terms:
        products = " + ".join(f"{_term(x)}×{_term(w)}" for x, w in zip(term.window.ravel(), term.weights.ravel()))
        lines.append(tr("drill.line.channel", channel=term.channel, terms=products, partial=num(term.partial)))
    return lines


def conv_lines(math: UnitMath) -> list[str]:
    """The partial sums added up, the bias, and the block's stages after the conv, one line each."""
    lines = []
    if len(math.terms) > 1:
        partials = " + ".join(_term(term.partial) for term in math.terms)
        lines.append(tr("drill.line.sum", count=len(math.terms), terms=partials, total=num(math.total)))
    lines.append(tr("drill.line.bias", total=num(math.total), bias=_term(math.bias), value=num(math.value)))
    for stage in math.stages:
        lines.append(stage_line(stage))
    if math.dropped_by is not None:
        lines.append(tr("drill.line.dropped", layer=math.dropped_by))
    return lines


def stage_line(stage: Stage) -> str:
    """One BatchNorm, activation or pooling stage written out."""
    if isinstance(stage, BatchNormStage):
        return tr("drill.line.bn", layer=stage.layer, x=num(stage.input), mean=_term(stage.mean), var=num(stage.var),
                  eps=num(stage.eps), weight=_term(stage.weight), bias=_term(stage.bias), value=num(stage.value))
    if isinstance(stage, ActivationStage):
        return tr(_ACTIVATION_LINES.get(stage.function, "drill.line.other"), layer=stage.layer, x=_term(stage.input),
                  slope=num(stage.slope), function=stage.function, value=num(stage.value))
    winner = None if stage.winner is None else stage.winner[0] * stage.window.shape[1] + stage.winner[1]
    values = ", ".join(f"[{num(v)}]" if i == winner else num(v) for i, v in enumerate(stage.window.ravel()))
    if stage.kind == "max":
        return tr("drill.line.max", layer=stage.layer, k=stage.window.shape[0], values=values, value=num(stage.value))
    return tr("drill.line.avg", layer=stage.layer, k=stage.window.shape[0], n=stage.window.size,
              values=" + ".join(_term(v) for v in stage.window.ravel()), value=num(stage.value))


def _unit(drill: DrillResult, state: InspectorState, result: InspectorResult) -> None:
    math = drill.unit_math
    row, col = state.drill_unit
    with st.container(key="insp_drill_math", border=True):
        st.markdown(tr("drill.unit_title", layer=drill.column.label, channel=state.drill_map, row=row, col=col,
                       value=num(_clicked_value(math))))
        kh, kw = math.terms[0].window.shape
        text = tr("drill.conv_title", layer=math.layer, row=math.position[0], col=math.position[1],
                  count=len(math.terms), kh=kh, kw=kw, source=math.source)
        pools = [stage for stage in math.stages if isinstance(stage, PoolStage)]
        after_pool = [stage.layer for stage in math.stages[math.stages.index(pools[0]):]] if pools else []
        if math.clicked in after_pool:  # the conv unit was found back through the pooling window
            text += " " + tr("drill.from_winner" if pools[0].kind == "max" else "drill.from_first")
        st.markdown(text)
        st.code("\n".join(conv_lines(math)), language=None, wrap_lines=True)
        with st.expander(tr("drill.channels", count=len(math.terms)), expanded=len(math.terms) <= 4):
            st.code("\n".join(channel_lines(math)), language=None, wrap_lines=True)
        if drill.box is not None:
            picture, words = st.columns([1, 2], vertical_alignment="center")
            picture.image(png_bytes(network.digit_picture(result.digit.pixels28, drill.box, side=168)),
                          width="stretch")
            words.caption(tr("drill.rf", rows=drill.box.bottom - drill.box.top, cols=drill.box.right - drill.box.left))
            words.button(tr("drill.clear"), key="insp_drill_clear", on_click=_on_clear_unit, icon=":material/close:")
    pictures = [Picture(f"ch{term.channel}", tr("drill.channel_title", channel=term.channel),
                        png_bytes(overview.term_picture(term.window, term.padding, term.weights)),
                        caption=tr("drill.partial", value=num(term.partial)))
                for term in math.terms[:TERMS_SHOWN]]
    more = tr("drill.terms_more", shown=TERMS_SHOWN, count=len(math.terms)) if len(math.terms) > TERMS_SHOWN else ""
    picture_grid("insp_drill_terms", pictures, columns=4, min_cell=90,
                 text=" ".join(filter(None, [tr("drill.terms_legend", source=math.source), more])))


def _clicked_value(math: UnitMath) -> float:
    """The value of the unit that was clicked: the conv's, or its stage's."""
    if math.clicked == math.layer:
        return math.value
    return next(stage.value for stage in math.stages if stage.layer == math.clicked)


def dense_lines(math: DenseMath) -> list[str]:
    """The arithmetic of a dense unit: the largest products one by one, the rest as one sum, bias, activation."""
    products = math.products
    count = len(products)
    if count <= LARGEST_SHOWN:
        terms = " + ".join(f"{_term(x)}×{_term(w)}" for x, w in zip(math.inputs, math.weights))
        lines = [tr("drill.line.dense_sum", count=count, terms=terms, total=num(math.total))]
    else:
        largest = math.largest(LARGEST_SHOWN)
        top = float(products[largest].sum())
        rest = math.total - top
        terms = " + ".join(f"{_term(math.inputs[i])}×{_term(math.weights[i])}" for i in largest)
        lines = [tr("drill.line.largest", shown=LARGEST_SHOWN, terms=terms, total=num(top)),
                 tr("drill.line.rest", count=count - LARGEST_SHOWN, total=num(rest)),
                 tr("drill.line.dense_total", largest=num(top), rest=_term(rest), total=num(math.total))]
    lines.append(tr("drill.line.bias", total=num(math.total), bias=_term(math.bias), value=num(math.value)))
    if math.activation is not None:
        lines.append(stage_line(math.activation))
    return lines


def _dense(drill: DrillResult) -> None:
    math = drill.dense_math
    with st.container(key="insp_drill_math", border=True):
        st.markdown(tr("drill.dense_title", layer=math.layer, unit=math.unit, value=num(math.final),
                       count=len(math.inputs), source=math.source))
        st.code("\n".join(dense_lines(math)), language=None, wrap_lines=True)
        st.caption(tr("drill.dense_pick", layer=math.layer))


def softmax_lines(soft: SoftmaxMath) -> tuple[list[str], list[str]]:
    """(the ten exponentials and their sum, the ten probabilities), one line each."""
    if soft.shift:
        exps = [tr("drill.line.exp_shifted", digit=k, z=num(z), shift=num(soft.shift), e=num(e))
                for k, (z, e) in enumerate(zip(soft.logits, soft.exponentials))]
    else:
        exps = [tr("drill.line.exp", digit=k, z=num(z), e=num(e))
                for k, (z, e) in enumerate(zip(soft.logits, soft.exponentials))]
    exps.append(tr("drill.line.total", total=num(soft.total)))
    probabilities = [tr("drill.line.probability", digit=k, e=num(e), total=num(soft.total), p=f"{p:.1%}")
                     for k, (e, p) in enumerate(zip(soft.exponentials, soft.probabilities))]
    return exps, probabilities


def _softmax(drill: DrillResult) -> None:
    soft = drill.softmax
    with st.container(key="insp_drill_math", border=True):
        st.markdown(tr("drill.softmax_title", confidence=f"{soft.probabilities[soft.top]:.1%}", digit=soft.top))
        if soft.shift:
            st.caption(tr("drill.softmax_shift", shift=num(soft.shift)))
        exps, probabilities = softmax_lines(soft)
        left, right = st.columns(2)
        left.markdown(f"**{tr('drill.exponentials')}**")
        left.code("\n".join(exps), language=None, wrap_lines=True)
        right.markdown(f"**{tr('drill.probabilities')}**")
        right.code("\n".join(probabilities), language=None, wrap_lines=True)


def draw(result: InspectorResult, facts: ModelFacts) -> None:
    """The network view: the overview, then the layer, unit, dense unit or softmax drilled into."""
    drill, state = result.drill, result.state
    if drill is None:
        st.info(tr("insp.maps_need_digit"), icon=":material/draw:")
        return
    _overview(drill, state, facts)
    if drill.column is None:
        return
    if drill.column.kind == SOFTMAX:
        _softmax(drill)
    elif drill.column.kind == "fc":
        _dense(drill)
    else:
        _layer(drill, state)
        if drill.unit_math is not None:
            _unit(drill, state, result)
