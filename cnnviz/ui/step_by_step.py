"""Step by step: slide the window one output at a time and see every multiplication; or, for a transposed
convolution, stamp one input cell at a time onto the output.

The page is three steps: ``controls`` (widgets -> StepState), ``compute`` (cnnviz.pages.step) and ``draw`` (the
grids and the written-out arithmetic, in a fragment that Play reruns once a second).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from cnnviz.conv.numfmt import fmt
from cnnviz.figures import maps
from cnnviz.pages.step import (EXAMPLES, KERNEL_OPERATIONS, MAX_INPUT, MAX_KERNEL, OPERATIONS, StepResult, StepState,
                               TransposedFrame, TransposedResult, compute, resized)
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, section, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding
from cnnviz.ui.widgets import geometry_controls, grid_version, matrix_editor, pair_input
from cnnviz.urlstate import as_matrix

PAGE = "step"
PLAY_SECONDS = 0.9  # time between steps while playing
# Below this width the position slider moves under the buttons (a phone) instead of squeezing its label beside them.
CONTROLS_CSS = "<style>.st-key-step_controls .st-key-step_pos { min-width: 18rem; }</style>"
# The zero-inserted view tells three kinds of cell apart: the input's own values (bold), the zeros inserted between
# them (blue, dotted) and the padding around them (hatched, as in conv mode).
TRANSPOSED_CSS = """<style>
.cv-grid td.ins { background: #e0f2fe; color: #0c4a6e; outline: 1px dotted #0369a1; outline-offset: -4px; }
.cv-grid td.tap.ins { background: #bae6fd; outline: 3px solid #ea580c; outline-offset: -3px; }
.cv-grid td.src { font-weight: 700; }
.cv-grid td.later { color: #64748b; }  /* not stamped yet: greyed, still 4.7:1 */
</style>"""


def _load_example(name: str) -> None:
    page_state.replace_state(PAGE, lambda s: EXAMPLES[name])
    page_state.STEP_PLAYING.set(False)


def _on_resize() -> None:
    value = page_state.widget_value
    page_state.replace_state(PAGE, lambda s: resized(s, (value("step_in_rows"), value("step_in_cols")),
                                                     (value("step_k_rows"), value("step_k_cols"))))


def _move(delta: int, count: int) -> None:
    position = page_state.widget_value("step_pos") + delta
    page_state.set_widget("step_pos", min(max(0, position), count - 1))
    page_state.STEP_TICK.set(False)  # while playing, the click is this step, not the timer


def _toggle_play(count: int) -> None:
    playing = not page_state.STEP_PLAYING.get()
    if playing and page_state.widget_value("step_pos", 0) >= count - 1:
        page_state.set_widget("step_pos", 0)  # Play at the end plays the walk again
    page_state.STEP_PLAYING.set(playing)


def _sidebar(b: PageBinding, state: StepState) -> StepState:
    with st.sidebar:
        st.markdown(f"**{tr('step.examples')}**")
        for name in EXAMPLES:
            st.button(tr(f"step.example.{name}"), key=f"step_example_{name}", on_click=_load_example, args=(name,),
                      icon=":material/school:", width="stretch")
        op = st.segmented_control(tr("step.operation"), OPERATIONS, required=True, key=b.seed("step_op", state.op),
                                  format_func=tr_option("step.op."))
        state = replace(state, op=op)
        if op == "conv":
            geometry = geometry_controls(b, "step", padding=state.padding, pad=state.pad,
                                         padding_mode=state.padding_mode, stride=state.stride,
                                         dilation=state.dilation, flip=state.flip, max_stride=5)
            bias = st.number_input(tr("step.bias"), step=1.0, key=b.seed("step_bias", float(state.bias)))
            state = replace(state, bias=float(bias), **geometry)
        elif op == "transposed":
            state = _transposed_controls(b, state)
        else:
            size = pair_input(b, tr("step.pool_size"), "step_pool_size", state.pool_size, minimum=1, maximum=MAX_KERNEL)
            stride = pair_input(b, tr("step.pool_stride"), "step_pool_stride", state.pool_stride, minimum=1,
                                maximum=MAX_KERNEL)
            state = replace(state, pool_size=size, pool_stride=stride)
    return state


def _transposed_controls(b: PageBinding, state: StepState) -> StepState:
    """Stride, the padding it crops, output padding, dilation and the zero-inserted view (sidebar)."""
    # The two views count different things (input cells, output cells): a toggle starts the new one at its first.
    zero_view = st.toggle(tr("step.t.zero_view"), key=b.seed("step_zero_view", state.zero_view),
                          help=tr("step.t.zero_view_help"), on_change=page_state.set_widget, args=("step_pos", 0))
    stride = pair_input(b, tr("widgets.stride"), "step_t_stride", state.stride, minimum=1, maximum=5)
    pad = pair_input(b, tr("step.t.padding"), "step_t_pad", state.pad, minimum=0, maximum=4)
    extra = pair_input(b, tr("step.t.output_padding"), "step_t_opad", state.output_padding, minimum=0, maximum=4)
    dilation = pair_input(b, tr("widgets.dilation"), "step_t_dilation", state.dilation, minimum=1, maximum=4)
    return replace(state, stride=stride, pad=pad, output_padding=extra, dilation=dilation, zero_view=zero_view)


def _editors(b: PageBinding, state: StepState) -> StepState:
    """The input (and, for a convolution, the kernel) as editable grids with their sizes."""
    values, kernel = state.input_array(), state.kernel_array()
    st.markdown(f"**{tr('step.edit')}**")
    sizes = st.columns(4)
    sizes[0].number_input(tr("step.input_rows"), 1, MAX_INPUT, key=b.seed("step_in_rows", values.shape[0]),
                          on_change=_on_resize)
    sizes[1].number_input(tr("step.input_cols"), 1, MAX_INPUT, key=b.seed("step_in_cols", values.shape[1]),
                          on_change=_on_resize)
    if state.op in KERNEL_OPERATIONS:
        sizes[2].number_input(tr("step.kernel_rows"), 1, MAX_KERNEL, key=b.seed("step_k_rows", kernel.shape[0]),
                              on_change=_on_resize)
        sizes[3].number_input(tr("step.kernel_cols"), 1, MAX_KERNEL, key=b.seed("step_k_cols", kernel.shape[1]),
                              on_change=_on_resize)
    version = grid_version(b, "step")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{tr('step.t.input') if state.op == 'transposed' else tr('step.input')}**")
        values, problems = matrix_editor(values, f"step_input_{version}", cell_width=46)
    if state.op in KERNEL_OPERATIONS:
        with right:
            st.markdown(f"**{tr('step.kernel')}**")
            kernel, kernel_problems = matrix_editor(kernel, f"step_kernel_{version}", cell_width=46)
            problems += kernel_problems
    for problem in problems:
        st.warning(problem, icon=":material/edit_off:")
    return replace(state, input=as_matrix(values), kernel=as_matrix(kernel))


def controls(b: PageBinding, editors_area) -> StepState:
    """Every setting of the page, seeded from the bound state; the grids go into ``editors_area``."""
    state = _sidebar(b, b.state)
    with editors_area:
        return _editors(b, state)


def _grids(result: StepResult, frame, state: StepState) -> str:
    if result.scatter is not None:
        return _zero_grids(result, frame)
    walk, step = result.walk, frame.step
    classes = {(r, c): "pad" for r, c in zip(*np.nonzero(walk.pad_mask))}
    notes = {}
    for i, cell in enumerate(step.cells):
        classes[cell] = (classes.get(cell, "") + " tap").strip()
        if step.weights is not None:
            notes[cell] = fmt(step.weights[i])
    grids = [maps.grid_html(walk.padded, tr("step.padded_input") if walk.kind == "conv" else tr("step.input_window"),
                            classes=classes, notes=notes)]
    if walk.kernel is not None:
        grids.append(maps.grid_html(walk.kernel, tr("step.kernel_applied_flipped") if state.flip
                                    else tr("step.kernel_applied"), signed=True))
    grids.append(maps.grid_html(frame.shown, tr("step.output", row=step.out_row, col=step.out_col),
                                classes={(step.out_row, step.out_col): "current"}, signed=walk.kind == "conv"))
    return CONTROLS_CSS + maps.GRID_CSS + f'<div class="cv-grids">{"".join(grids)}</div>'


def _zero_grids(result: StepResult, frame) -> str:
    """The zero-inserted view: inserted zeros, padding and the input's own values drawn apart, the kernel flipped."""
    walk, step = result.walk, frame.step
    classes = {(r, c): "pad" for r, c in zip(*np.nonzero(walk.pad_mask))}
    classes.update({(r, c): "ins" for r, c in zip(*np.nonzero(walk.inserted))})
    source = ~(walk.pad_mask | walk.inserted)
    classes.update({(r, c): "src" for r, c in zip(*np.nonzero(source))})
    notes = {}
    for i, cell in enumerate(step.cells):
        classes[cell] = classes[cell] + " tap"
        notes[cell] = fmt(step.weights[i])
    height, width = walk.padded.shape
    out_h, out_w = walk.output.shape
    grids = [maps.grid_html(walk.padded, tr("step.t.zero_input", rows=height, cols=width), classes=classes,
                            notes=notes),
             maps.grid_html(walk.kernel, tr("step.t.zero_kernel"), signed=True),
             maps.grid_html(frame.shown, tr("step.t.zero_output", rows=out_h, cols=out_w, row=step.out_row,
                                            col=step.out_col),
                            classes={(step.out_row, step.out_col): "current"}, signed=True)]
    return CONTROLS_CSS + maps.GRID_CSS + TRANSPOSED_CSS + f'<div class="cv-grids">{"".join(grids)}</div>'


def _span(positions: range) -> str:
    """Output rows or cols a stamp covers: "2..4", or "0..4 by 2" when the kernel is dilated."""
    if len(positions) == 1:
        return str(positions.start)
    if positions.step == 1:
        return f"{positions.start}..{positions[-1]}"
    return tr("step.t.every", first=positions.start, last=positions[-1], step=positions.step)


def _scatter_grids(result: TransposedResult, frame: TransposedFrame) -> str:
    """Input (its current cell marked), kernel, the running output (this stamp's cells outlined) and overlap counts."""
    scatter, stamp = result.scatter, frame.stamp
    in_h, in_w = scatter.input.shape
    out_h, out_w = frame.shown.shape
    last = frame.position == result.count - 1
    shown = frame.shown if last else np.where(frame.reached, frame.shown, np.nan)  # empty until a stamp lands
    input_classes = {(stamp.in_row, stamp.in_col): "current"}
    for later in scatter.stamps[frame.position + 1:]:
        input_classes[(later.in_row, later.in_col)] = "later"
    output_classes = {cell: "tap" for cell in stamp.targets}
    notes = {cell: fmt(weight) for cell, weight in zip(stamp.targets, stamp.weights)}
    grids = [maps.grid_html(scatter.input, tr("step.t.input_grid", rows=in_h, cols=in_w), classes=input_classes),
             maps.grid_html(scatter.kernel, tr("step.t.kernel_grid"), signed=True),
             maps.grid_html(shown, tr("step.t.output_grid", rows=out_h, cols=out_w), classes=output_classes,
                            notes=notes, signed=True),
             maps.grid_html(scatter.overlaps(), tr("step.t.overlaps_grid"))]
    return CONTROLS_CSS + maps.GRID_CSS + TRANSPOSED_CSS + f'<div class="cv-grids">{"".join(grids)}</div>'


def _draw_scatter(result: TransposedResult, frame: TransposedFrame) -> None:
    """One input cell's stamp: what it adds where, the sums so far at those cells, the grids and the size formula."""
    stamp = frame.stamp
    with st.container(key="step_sum", border=True):
        st.markdown(tr("step.t.title"))
        if stamp.targets:
            line = tr("step.t.stamp", row=stamp.in_row, col=stamp.in_col, value=fmt(stamp.value),
                      rows=_span(stamp.rows), cols=_span(stamp.cols))
        else:
            line = tr("step.t.stamp_cropped", row=stamp.in_row, col=stamp.in_col, value=fmt(stamp.value))
        st.code("\n".join((line, *frame.sums)), language=None, wrap_lines=True)
        notes = [tr("step.t.alone", count=frame.alone)] if frame.alone else []
        if stamp.cropped:
            notes.append(tr("step.t.cropped", count=stamp.cropped, taps=result.scatter.kernel.size))
        if notes:
            st.caption(" ".join(notes))
    st.html(_scatter_grids(result, frame))
    rows, cols = result.scatter.rows, result.scatter.cols
    st.markdown(f"{tr('step.shape_rows')} `H′ = {rows.text}` · {tr('step.shape_cols')} `W′ = {cols.text}`")
    st.caption(tr("step.t.overlaps_note"))


def _position_slider(result: StepResult | TransposedResult):
    """The label and the (row, col) format of the position slider: input cells for the scatter, else outputs."""
    if isinstance(result, TransposedResult):
        rows, cols = result.scatter.input.shape
        label = tr("step.t.position", count=result.count, rows=rows, cols=cols)
    else:
        rows, cols = result.walk.output.shape
        label = tr("step.position", count=result.count, rows=rows, cols=cols)
    return label, lambda i: f"({i // cols}, {i % cols})"


def draw(b: PageBinding, result: StepResult | TransposedResult, state: StepState, timed: bool) -> None:
    """Position controls, the arithmetic and the grids. Runs as a fragment, so Play redraws only this part.

    ``timed``: whether this fragment was created with Play's timer. Play and Pause are clicked inside the fragment,
    which then reruns alone and keeps the timer it was created with; only a full run can start or stop it."""
    count = result.count
    playing = page_state.STEP_PLAYING.get()
    if playing != timed:
        st.rerun()
    position = min(page_state.widget_value("step_pos", 0), count - 1)  # seeded by render, moved by the buttons
    if playing and page_state.STEP_TICK.get():
        position = min(position + 1, count - 1)
        if position == count - 1:
            page_state.set_widget("step_pos", position)
            page_state.STEP_PLAYING.set(False)
            st.rerun()  # the last step: a full run draws it with Play again and re-creates this fragment untimed
    page_state.STEP_TICK.set(True)
    page_state.set_widget("step_pos", position)
    # One row that wraps the slider, never the buttons, under them on a phone (columns would stack all four).
    with st.container(horizontal=True, vertical_alignment="bottom", key="step_controls"):
        with st.container(horizontal=True, wrap=False, width="content", key="step_buttons"):
            st.button(tr("step.prev"), key="step_prev", on_click=_move, args=(-1, count))
            st.button(tr("step.next"), key="step_next", on_click=_move, args=(1, count))
            st.button(tr("step.pause") if playing else tr("step.play"), key="step_play", on_click=_toggle_play,
                      args=(count,), type="primary", icon=":material/pause:" if playing else ":material/play_arrow:")
        if count > 1:
            label, format_func = _position_slider(result)
            position = st.select_slider(label, list(range(count)), key="step_pos", format_func=format_func)
    frame = result.frame(position)
    if isinstance(result, TransposedResult):
        _draw_scatter(result, frame)
    else:
        _draw_window(result, frame, state)
    if frame.position == count - 1:
        st.success(tr("step.t.complete") if isinstance(result, TransposedResult) else tr("step.complete"),
                   icon=":material/check_circle:")
    b.publish(replace(state, position=frame.position))


def _draw_window(result: StepResult, frame, state: StepState) -> None:
    """One window position: its arithmetic, the grids and the size formula (the zero-inserted view's as well)."""
    walk, step = result.walk, frame.step
    zero_view = result.scatter is not None
    with st.container(key="step_sum", border=True):
        title = "step.t.zero_title" if zero_view else "step.sum_title" if walk.kind == "conv" else f"step.{walk.kind}_title"
        st.markdown(tr(title, row=step.out_row, col=step.out_col))
        st.code(frame.explanation, language=None, wrap_lines=True)
        if zero_view:
            inserted = sum(bool(walk.inserted[cell]) for cell in step.cells)
            st.caption(tr("step.t.zero_note", inserted=inserted, padding=sum(step.is_padding)))
        elif any(step.is_padding):
            st.caption(tr("step.padding_note", count=sum(step.is_padding), mode=tr(f"widgets.mode.{state.padding_mode}")))
    st.html(_grids(result, frame, state))
    if zero_view:
        rows, cols = result.scatter.rows, result.scatter.cols
        st.markdown(f"{tr('step.shape_rows')} `H′ = {rows.text}` · {tr('step.shape_cols')} `W′ = {cols.text}`")
        st.caption(tr("step.t.zero_formula", rows=walk.rows.text, cols=walk.cols.text))
    else:
        rows, cols = walk.rows, walk.cols
        st.markdown(f"{tr('step.shape_rows')} `H′ = {rows.text}` · {tr('step.shape_cols')} `W′ = {cols.text}`")


def _draw_fragment(b: PageBinding, result: StepResult | TransposedResult, state: StepState, timed: bool) -> None:
    guarded(draw, b, result, state, timed)


def steps(b: PageBinding) -> StepState | None:
    view_area = st.container()
    editors_area = section("editors")
    state = controls(b, editors_area)
    try:
        result = compute(state)
    except ValueError as error:
        with view_area:
            st.error(tr("step.impossible", reason=tr_error(error)), icon=":material/block:")
        return state
    with view_area:
        # Seeded here, in the full run: fragment reruns keep this run's binding, which may still be "loading".
        b.seed("step_pos", min(b.state.position, result.count - 1))
        if page_state.widget_value("step_pos") >= result.count:
            page_state.set_widget("step_pos", result.count - 1)
        playing = page_state.STEP_PLAYING.get()
        if playing:
            page_state.STEP_TICK.set(False)  # the first fragment run after Play shows the current step
        st.fragment(_draw_fragment, run_every=PLAY_SECONDS if playing else None)(b, result, state, playing)
    with st.sidebar:
        page_state.share_link(page_state.stored(PAGE) or state)
    return None  # the fragment publishes the position it shows


guarded(run_page, Page(PAGE, StepState, "step.title", "step.intro", sections=("editors",)), steps)
