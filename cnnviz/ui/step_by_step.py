"""Step by step: slide the window one output at a time and see every multiplication."""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz import figures, stepper
from cnnviz.geometry import Pooling
from cnnviz.kernels import make_kernel, resize_kernel
from cnnviz.pipeline import AxisFormula, axis_formula
from cnnviz.ui.common import tr
from cnnviz.ui.widgets import geometry_controls, matrix_editor, pair_input

FIVE = np.array([[1, 2, 3, 0, 1], [0, 1, 2, 3, 1], [3, 0, 1, 2, 0], [1, 2, 3, 0, 1], [0, 1, 2, 3, 0]], dtype=float)
THREE = np.arange(1, 10, dtype=float).reshape(3, 3)
EXAMPLES = {
    # name -> (input, kernel, padding kind, padding amount)
    "five": (FIVE, make_kernel("laplacian8"), "custom", (1, 1)),
    "three": (THREE, np.eye(3), "valid", (0, 0)),
    "three_padded": (THREE, np.eye(3), "custom", (1, 1)),
}
STATE = "step_state"


def _set_matrices(values: np.ndarray, kernel: np.ndarray) -> None:
    state = st.session_state.setdefault(STATE, {"version": 0})
    state["input"], state["kernel"] = np.array(values, float), np.array(kernel, float)
    state["version"] += 1
    st.session_state["step_in_rows"], st.session_state["step_in_cols"] = state["input"].shape
    st.session_state["step_k_rows"], st.session_state["step_k_cols"] = state["kernel"].shape
    st.session_state["step_pos"] = 1


def _load_example(name: str) -> None:
    values, kernel, padding, amount = EXAMPLES[name]
    _set_matrices(values, kernel)
    st.session_state["step_padding"] = padding
    st.session_state["step_pad_h"], st.session_state["step_pad_w"] = amount
    for key in ("step_stride_h", "step_stride_w", "step_dilation_h", "step_dilation_w"):
        st.session_state[key] = 1
    st.session_state["step_mode"] = "zeros"
    st.session_state["step_flip"] = False
    st.session_state["step_op"] = "conv"


def _resize() -> None:
    state = st.session_state[STATE]
    rows, cols = st.session_state["step_in_rows"], st.session_state["step_in_cols"]
    grown = np.zeros((rows, cols))
    old = state["input"][:rows, :cols]
    grown[: old.shape[0], : old.shape[1]] = old
    _set_matrices(grown, resize_kernel(state["kernel"], st.session_state["step_k_rows"], st.session_state["step_k_cols"]))


def _move(delta: int, count: int) -> None:
    st.session_state["step_pos"] = min(max(1, st.session_state.get("step_pos", 1) + delta), count)


def _toggle_play() -> None:
    st.session_state["step_playing"] = not st.session_state.get("step_playing", False)


def _matrices() -> tuple[np.ndarray, np.ndarray]:
    if STATE not in st.session_state:
        _load_example("five")
    state = st.session_state[STATE]
    st.markdown(f"**{tr('step.examples')}**")
    for name in EXAMPLES:
        st.button(tr(f"step.example.{name}"), key=f"step_example_{name}", on_click=_load_example, args=(name,),
                  icon=":material/school:")
    sizes = st.columns(4)
    sizes[0].number_input(tr("step.input_rows"), 1, 10, key="step_in_rows", on_change=_resize, persist_state="session")
    sizes[1].number_input(tr("step.input_cols"), 1, 10, key="step_in_cols", on_change=_resize, persist_state="session")
    sizes[2].number_input(tr("step.kernel_rows"), 1, 5, key="step_k_rows", on_change=_resize, persist_state="session")
    sizes[3].number_input(tr("step.kernel_cols"), 1, 5, key="step_k_cols", on_change=_resize, persist_state="session")
    st.markdown(f"**{tr('step.input')}**")
    values = matrix_editor(state["input"], f"step_input_{state['version']}")
    st.markdown(f"**{tr('step.kernel')}**")
    kernel = matrix_editor(state["kernel"], f"step_kernel_{state['version']}")
    state["input"], state["kernel"] = values, kernel
    return values, kernel


def _walkthrough(values: np.ndarray, kernel: np.ndarray) -> tuple[stepper.Walkthrough, AxisFormula, AxisFormula] | None:
    st.session_state.setdefault("step_op", "conv")
    op = st.segmented_control(tr("step.operation"), ["conv", "max", "avg"], key="step_op", required=True,
                              format_func=lambda o: tr(f"step.op.{o}"), persist_state="session")
    try:
        if op == "conv":
            with st.expander(tr("step.geometry"), expanded=True):
                geometry = geometry_controls("step", default_padding="custom", max_stride=5)
                bias = st.number_input(tr("step.bias"), value=0.0, step=1.0, key="step_bias", persist_state="session")
            walk = stepper.conv_walkthrough(values, kernel, geometry, bias)
            (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
            return (walk, axis_formula(values.shape[0], kernel.shape[0], sh, *walk.pads[0], dh),
                    axis_formula(values.shape[1], kernel.shape[1], sw, *walk.pads[1], dw))
        size = pair_input(tr("step.pool_size"), "step_pool_size", minimum=1, maximum=5, value=(2, 2))
        stride = pair_input(tr("step.pool_stride"), "step_pool_stride", minimum=1, maximum=5, value=size)
        walk = stepper.pool_walkthrough(values, Pooling(op, size, stride))
        return (walk, axis_formula(values.shape[0], size[0], stride[0], 0, 0),
                axis_formula(values.shape[1], size[1], stride[1], 0, 0))
    except ValueError as error:
        st.error(tr("step.impossible", reason=str(error)), icon=":material/block:")
        return None


def _view(walk: stepper.Walkthrough) -> None:
    count = len(walk.steps)
    if st.session_state.get("step_pos", 1) > count:
        st.session_state["step_pos"] = count
    if st.session_state.get("step_playing") and st.session_state.get("step_tick"):
        if st.session_state.get("step_pos", 1) < count:
            st.session_state["step_pos"] = st.session_state.get("step_pos", 1) + 1
        else:
            st.session_state["step_playing"] = False
            st.rerun()  # a full rerun re-creates this fragment without its timer
    st.session_state["step_tick"] = True
    controls = st.columns([1.3, 1.3, 1.5, 5], vertical_alignment="bottom")
    controls[0].button(tr("step.prev"), key="step_prev", on_click=_move, args=(-1, count), width="stretch")
    controls[1].button(tr("step.next"), key="step_next", on_click=_move, args=(1, count), width="stretch")
    playing = st.session_state.get("step_playing", False)
    controls[2].button(tr("step.pause") if playing else tr("step.play"), key="step_play", on_click=_toggle_play,
                       width="stretch", type="primary")
    position = 1
    if count > 1:
        position = controls[3].slider(tr("step.position", count=count), 1, count, key="step_pos", persist_state="session")
    step = walk.steps[position - 1]

    taps = {cell: i for i, cell in enumerate(step.cells)}
    classes = {(r, c): "pad" for r, c in zip(*np.nonzero(walk.pad_mask))}
    notes = {}
    for cell, i in taps.items():
        classes[cell] = (classes.get(cell, "") + " tap").strip()
        if step.weights is not None:
            notes[cell] = stepper.fmt(step.weights[i])
    out_classes = {}
    shown = np.full(walk.output.shape, np.nan)
    for done in walk.steps[:position]:
        shown[done.out_row, done.out_col] = done.total
    out_classes[(step.out_row, step.out_col)] = "current"
    grids = [figures.grid_html(walk.padded, tr("step.padded_input") if walk.kind == "conv" else tr("step.input"),
                               classes=classes, notes=notes)]
    if walk.kernel is not None:
        grids.append(figures.grid_html(walk.kernel, tr("step.kernel_applied_flipped") if st.session_state.get("step_flip")
                                       else tr("step.kernel_applied"), signed=True))
    grids.append(figures.grid_html(shown, tr("step.output", row=step.out_row, col=step.out_col), classes=out_classes,
                                   signed=walk.kind == "conv"))
    st.html(figures.GRID_CSS + f'<div class="cv-grids">{"".join(grids)}</div>')
    with st.container(key="step_sum", border=True):
        st.markdown(tr("step.sum_title", row=step.out_row, col=step.out_col))
        st.code(stepper.explain(walk, step), language=None, wrap_lines=True)
        if any(step.is_padding):
            st.caption(tr("step.padding_note", count=sum(step.is_padding), mode=st.session_state.get("step_mode", "zeros")))
    if position == count:
        st.success(tr("step.complete"), icon=":material/check_circle:")


def render() -> None:
    st.title(tr("step.title"))
    st.caption(tr("step.intro"))
    setup, view = st.columns([5, 7], gap="large")
    with setup:
        values, kernel = _matrices()
        result = _walkthrough(values, kernel)
    if result is None:
        return
    walk, rows, cols = result
    with view:
        st.markdown(f"{tr('step.shape_rows')} `H′ = {rows.text}`  \n{tr('step.shape_cols')} `W′ = {cols.text}`")
        playing = st.session_state.get("step_playing", False)
        if playing:
            st.session_state["step_tick"] = False  # the first fragment run after Play shows the current step
        st.fragment(_view, run_every=0.9 if playing else None)(walk)


render()
