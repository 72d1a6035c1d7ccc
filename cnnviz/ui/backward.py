"""Backward pass: the forward output, a chosen output gradient, the input gradient built stamp by stamp as the
transposed convolution it is, the kernel gradient tap by tap, and torch autograd's numbers beside them.

The page is three steps: ``controls`` (widgets -> BackwardState), ``compute`` (cnnviz.pages.backward) and ``draw``
(the grids, drawn as Step by step draws them, and the written-out arithmetic).
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnviz.conv.numfmt import fmt
from cnnviz.figures import maps
from cnnviz.pages.backward import (GRADIENTS, MAX_DILATION, MAX_INPUT, MAX_KERNEL, MAX_PAD, MAX_SEED, MAX_STRIDE,
                                   BackwardResult, BackwardState, clamp_unit, compute, factor, resized)
from cnnviz.ui import state as page_state
from cnnviz.ui.clickable import clickable_grids, new_click
from cnnviz.ui.common import guarded, section, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding
from cnnviz.ui.widgets import grid_version, matrix_editor, pair_input
from cnnviz.urlstate import as_matrix

PAGE = "backward"
CLICK = "bw_click"  # the forward row's grids: a click on an output cell puts gradient 1 there
NO_BREAK = "\u00a0"


def _on_resize() -> None:
    value = page_state.widget_value
    page_state.replace_state(PAGE, lambda s: resized(s, (value("bw_in_rows"), value("bw_in_cols")),
                                                     (value("bw_k_rows"), value("bw_k_cols"))))


def _move(delta: int, count: int) -> None:
    page_state.set_widget("bw_stamp", min(max(0, page_state.widget_value("bw_stamp", 0) + delta), count - 1))


def _sidebar(b: PageBinding, state: BackwardState) -> BackwardState:
    with st.sidebar:
        pad = pair_input(b, tr("widgets.padding_amount"), "bw_pad", state.pad, minimum=0, maximum=MAX_PAD)
        stride = pair_input(b, tr("widgets.stride"), "bw_stride", state.stride, minimum=1, maximum=MAX_STRIDE)
        dilation = pair_input(b, tr("widgets.dilation"), "bw_dilation", state.dilation, minimum=1,
                              maximum=MAX_DILATION)
        st.caption(tr("bw.geometry_note"))
    return replace(state, pad=pad, stride=stride, dilation=dilation)


def _editors(b: PageBinding, state: BackwardState) -> BackwardState:
    """The input and the kernel as editable grids with their sizes, as on Step by step."""
    values, kernel = state.input_array(), state.kernel_array()
    st.markdown(f"**{tr('step.edit')}**")
    sizes = st.columns(4)
    for column, (key, label, value, most) in zip(sizes, (
            ("bw_in_rows", "step.input_rows", values.shape[0], MAX_INPUT),
            ("bw_in_cols", "step.input_cols", values.shape[1], MAX_INPUT),
            ("bw_k_rows", "step.kernel_rows", kernel.shape[0], MAX_KERNEL),
            ("bw_k_cols", "step.kernel_cols", kernel.shape[1], MAX_KERNEL))):
        column.number_input(tr(label), 1, most, key=b.seed(key, value), on_change=_on_resize)
    version = grid_version(b, "bw")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{tr('step.input')}**")
        values, problems = matrix_editor(values, f"bw_input_{version}", cell_width=46)
    with right:
        st.markdown(f"**{tr('step.kernel')}**")
        kernel, kernel_problems = matrix_editor(kernel, f"bw_kernel_{version}", cell_width=46)
    for problem in problems + kernel_problems:
        st.warning(problem, icon=":material/edit_off:")
    return replace(state, input=as_matrix(values), kernel=as_matrix(kernel))


def _pair(cell: tuple[int, int]) -> str:
    return f"({cell[0]}, {cell[1]})"


def _cell_picker(b: PageBinding, label: str, key: str, cell: tuple[int, int], shape: tuple[int, ...],
                 **kwargs) -> tuple[int, int]:
    """A slider over the cells of a grid of ``shape``, row by row, labelled "(row, col)" as the page writes them.

    Its options are those labels, not (row, col) tuples (a tuple value makes a range slider), and a label survives
    a change of shape: a cell the new grid lacks moves to the nearest one it has."""
    options = [_pair((r, c)) for r in range(shape[0]) for c in range(shape[1])]
    if len(options) == 1:
        return 0, 0
    b.seed(key, _pair(clamp_unit(cell, shape)))
    shown = page_state.widget_value(key)
    if shown not in options:
        page_state.set_widget(key, _pair(clamp_unit(_parse_pair(shown) if shown else cell, shape)))
    return _parse_pair(st.select_slider(label, options, key=key, **kwargs))


def _parse_pair(text: str) -> tuple[int, int]:
    row, col = text.strip("()").split(",")
    return int(row), int(col)


def _apply_click(out_shape: tuple[int, int]) -> None:
    """A click on a cell of the output or its gradient, not handled yet: a one-hot gradient on that unit. It is
    read before the gradient's widgets are drawn, so they show it."""
    click = new_click(CLICK)
    if click is None:
        return
    row, col = click.get("row"), click.get("col")
    if isinstance(row, int) and isinstance(col, int) and 0 <= row < out_shape[0] and 0 <= col < out_shape[1]:
        page_state.set_widget("bw_gradient", "onehot")
        page_state.set_widget("bw_unit", _pair((row, col)))


def _gradient_controls(b: PageBinding, state: BackwardState, out_shape: tuple[int, int]) -> BackwardState:
    """Which output gradient flows back: all ones, one unit (picked in the output) or seeded random numbers."""
    _apply_click(out_shape)
    with st.container(horizontal=True, vertical_alignment="bottom", key="bw_gradient_row"):
        gradient = st.segmented_control(tr("bw.gradient"), GRADIENTS, required=True,
                                        key=b.seed("bw_gradient", state.gradient), help=tr("bw.gradient_help"),
                                        format_func=tr_option("bw.gradient."))
        unit, seed = state.unit, state.seed
        if gradient == "onehot":
            unit = _cell_picker(b, tr("bw.unit"), "bw_unit", state.unit, out_shape, width=320)
        elif gradient == "random":
            seed = int(st.number_input(tr("bw.seed"), 0, MAX_SEED, key=b.seed("bw_seed", state.seed), width=160))
    return replace(state, gradient=gradient, unit=tuple(unit), seed=seed)


def controls(b: PageBinding, editors_area, view_area) -> tuple[BackwardState, ValueError | None]:
    """Every setting that changes what is computed; an error when the forward cannot run with them."""
    state = _sidebar(b, b.state)
    with editors_area:
        state = _editors(b, state)
    try:
        out_shape = tuple(axis.out_size for axis in state.axes())
    except ValueError as error:
        return state, error
    with view_area:
        return _gradient_controls(b, state, out_shape), None


def _grids(*grids: str) -> None:
    st.html(maps.GRID_CSS + f'<div class="cv-grids">{"".join(grids)}</div>')


def _padded_input(result: BackwardResult, classes: dict | None = None, notes: dict | None = None,
                  caption: str | None = None) -> str:
    """x with its padding hatched, as the forward reads it."""
    rows, cols = result.rows.padding, result.cols.padding
    marks = {(r, c): "pad" for r in range(result.padded.shape[0]) for c in range(result.padded.shape[1])
             if not (rows <= r < rows + result.x.shape[0] and cols <= c < cols + result.x.shape[1])}
    for cell, css in (classes or {}).items():
        marks[cell] = f"{marks.get(cell, '')} {css}".strip()
    return maps.grid_html(result.padded, caption or tr("bw.input"), classes=marks, notes=notes, signed=True)


def _agreement(agrees: bool, difference: float) -> None:
    if agrees:
        st.success(tr("bw.agree", difference=fmt(difference)), icon=":material/check_circle:")
    else:
        st.error(tr("bw.disagree", difference=fmt(difference)), icon=":material/error:")


def _forward(result: BackwardResult, state: BackwardState) -> None:
    st.markdown(tr("bw.forward"))
    unit = {clamp_unit(state.unit, result.output.shape): "current"} if state.gradient == "onehot" else {}
    clickable = (f'<div class="cv-click">{maps.grid_html(result.output, tr("bw.output"), classes=unit, signed=True)}'
                 f'</div><div class="cv-click">'
                 f'{maps.grid_html(result.grad_out, tr("bw.grad_out"), classes=unit, signed=True)}</div>')
    with st.container(key="bw_forward"):
        clickable_grids(CLICK, maps.GRID_CSS + f'<div class="cv-grids">{_padded_input(result)}'
                        f'{maps.grid_html(result.kernel, tr("bw.kernel"), signed=True)}{clickable}</div>')
        st.caption(tr("bw.click_hint"))


def _input_gradient(b: PageBinding, result: BackwardResult, state: BackwardState) -> int:
    """The input gradient built one stamp at a time; returns the stamp shown."""
    count = result.count
    st.markdown(tr("bw.input_grad"))
    st.caption(tr("bw.input_grad_how"))
    b.seed("bw_stamp", min(state.stamp, count - 1))
    if page_state.widget_value("bw_stamp") >= count:  # a smaller output gradient: its last stamp
        page_state.set_widget("bw_stamp", count - 1)
    shape = result.grad_out.shape
    with st.container(horizontal=True, vertical_alignment="bottom", key="bw_stamp_row"):
        with st.container(horizontal=True, wrap=False, width="content"):
            st.button(tr("step.prev"), key="bw_prev", on_click=_move, args=(-1, count))
            st.button(tr("step.next"), key="bw_next", on_click=_move, args=(1, count))
        position = st.select_slider(tr("bw.stamp", count=count), list(range(count)), key="bw_stamp",
                                    format_func=lambda i: _pair(divmod(i, shape[1]))) if count > 1 else 0
    stamp = result.stamp(position)
    with st.container(key="bw_stamp_sum", border=True):
        st.markdown(tr("bw.stamp_title", row=stamp.unit[0], col=stamp.unit[1], value=fmt(stamp.gradient)))
        by_row: dict[int, list[str]] = {}
        for (r, c), (a, k) in stamp.cells:
            # The running total after the product: where stamps overlap, it is more than the product. No-break
            # spaces inside an entry: a phone wraps the line between entries, never inside one.
            entry = (f"[{r}, {c}] += {factor(stamp.gradient)}×{factor(result.kernel[a, k])}"
                     f" → {fmt(stamp.partial[r, c])}")
            by_row.setdefault(a, []).append(entry.replace(" ", NO_BREAK))
        st.code("\n".join("   ".join(line) for line in by_row.values()) or "–", language=None, wrap_lines=True)
        if stamp.cropped:
            st.caption(tr("bw.stamp_cropped", count=stamp.cropped))
    landed = {cell: "tap" for cell, _ in stamp.cells}
    weights = {cell: fmt(result.kernel[tap]) for cell, tap in stamp.cells}
    _grids(maps.grid_html(result.grad_out, tr("bw.stamping", row=stamp.unit[0], col=stamp.unit[1]),
                          classes={stamp.unit: "current"}, signed=True),
           maps.grid_html(result.kernel, tr("bw.kernel"), signed=True),
           maps.grid_html(stamp.partial, tr("bw.so_far", done=stamp.position + 1, count=count), classes=landed,
                          notes=weights, signed=True))
    st.markdown(tr("bw.size", rows=result.rows.text, cols=result.cols.text))
    _grids(maps.grid_html(result.grads.input, tr("bw.ours_input"), signed=True),
           maps.grid_html(result.autograd.input, tr("bw.torch_input"), signed=True))
    _agreement(result.agrees[0], result.differences[0])
    return stamp.position


def _kernel_gradient(b: PageBinding, result: BackwardResult, state: BackwardState) -> tuple[int, int]:
    """The kernel gradient at one tap, written out; returns the tap shown."""
    st.markdown(tr("bw.kernel_grad_title"))
    written = result.tap(_cell_picker(b, tr("bw.tap"), "bw_tap", state.tap, result.kernel.shape))
    with st.container(key="bw_tap_sum", border=True):
        st.markdown(tr("bw.kernel_grad", row=written.tap[0], col=written.tap[1]))
        st.code(written.text, language=None, wrap_lines=True)
    read = {cell: "tap" for cell in written.cells}
    gradients = {cell: fmt(g) for cell, (_, g) in zip(written.cells, written.terms)}
    _grids(_padded_input(result, read, gradients, tr("bw.read", row=written.tap[0], col=written.tap[1])),
           maps.grid_html(result.grads.kernel, tr("bw.ours_kernel"), classes={written.tap: "current"}, signed=True),
           maps.grid_html(result.autograd.kernel, tr("bw.torch_kernel"), classes={written.tap: "current"},
                          signed=True))
    _agreement(result.agrees[1], result.differences[1])
    return written.tap


def steps(b: PageBinding) -> BackwardState:
    view_area = st.container()
    editors_area = section("editors")
    state, error = controls(b, editors_area, view_area)
    if error is None:
        try:
            result = compute(state)
        except ValueError as failure:
            error = failure
    with view_area:
        if error is not None:
            st.error(tr("step.impossible", reason=tr_error(error)), icon=":material/block:")
        else:
            _forward(result, state)
            stamp = _input_gradient(b, result, state)
            tap = _kernel_gradient(b, result, state)
            state = replace(state, unit=clamp_unit(state.unit, result.output.shape), stamp=stamp, tap=tap)
    with st.sidebar:
        page_state.share_link(state)
    return state


guarded(run_page, Page(PAGE, BackwardState, "bw.title", "bw.intro", sections=("editors",)), steps)
