"""1-D signals: a kernel sliding along a signal, ordinary or causal, and WaveNet's dilated causal stack.

The page is three steps: ``controls`` (widgets -> SignalsState), ``compute`` (cnnviz.pages.signals, small enough to
run on every rerun) and ``draw`` (the charts, the output length formula, one output's arithmetic and the stack).
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnviz.conv.numfmt import cell_text
from cnnviz.figures import signals as figures
from cnnviz.pages.signals import (KERNELS, MAX_DILATION, MAX_KERNEL, MAX_PAD, MAX_SIGNAL, MAX_STRIDE, SOURCES,
                                  STACK_LENGTH, SignalsState, SignalsView, compute, parse_values, values_text,
                                  wavenet_stack)
from cnnviz.ui import state as page_state
from cnnviz.ui.common import guarded, section, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding

PAGE = "signals"
STATIC = {"displayModeBar": False}  # hover stays; the toolbar's zoom buttons only distract on a projector


def _typed_list(b: PageBinding, label: str, key: str, values: tuple[float, ...], most: int, help_key: str,
                bad_key: str) -> tuple[float, ...]:
    """A text box of numbers; a list that does not parse keeps ``values`` and says why."""
    text = st.text_input(label, key=b.seed(key, values_text(values)), help=tr(help_key, most=most))
    try:
        return parse_values(text, label, most)
    except ValueError as error:
        st.warning(tr(bad_key, reason=tr_error(error)), icon=":material/edit_off:")
        return values


def controls(b: PageBinding) -> SignalsState:
    """Every setting in the sidebar, seeded from the bound state."""
    state = b.state
    with st.sidebar:
        source = st.selectbox(tr("sig.source"), SOURCES, key=b.seed("sig_source", state.source),
                              format_func=tr_option("sig.source."))
        typed = state.typed
        if source == "typed":
            typed = _typed_list(b, tr("sig.typed"), "sig_typed", state.typed, MAX_SIGNAL, "sig.typed_help",
                                "sig.bad_typed")
        kernel = st.selectbox(tr("sig.kernel"), KERNELS, key=b.seed("sig_kernel", state.kernel),
                              format_func=tr_option("sig.kernel."))
        size, custom = state.size, state.custom
        if kernel in ("average", "gaussian"):
            size = int(st.number_input(tr("sig.size"), 1, MAX_KERNEL, key=b.seed("sig_size", state.size)))
        elif kernel == "custom":
            custom = _typed_list(b, tr("sig.custom"), "sig_custom", state.custom, MAX_KERNEL, "sig.custom_help",
                                 "sig.bad_custom")
        left, right = st.columns(2)
        stride = int(left.number_input(tr("sig.stride"), 1, MAX_STRIDE, key=b.seed("sig_stride", state.stride)))
        dilation = int(right.number_input(tr("sig.dilation"), 1, MAX_DILATION,
                                          key=b.seed("sig_dilation", state.dilation)))
        causal = st.toggle(tr("sig.causal"), key=b.seed("sig_causal", state.causal), help=tr("sig.causal_help"))
        padding = int(st.number_input(tr("sig.padding"), 0, MAX_PAD, key=b.seed("sig_padding", state.padding),
                                      disabled=causal))
    return replace(state, source=source, typed=typed, kernel=kernel, size=size, custom=custom, stride=stride,
                   dilation=dilation, causal=causal, padding=padding)


def _figure_text() -> figures.SignalText:
    return figures.SignalText(**{name: tr(f"sig.fig.{name}") for name in figures.SignalText.__dataclass_fields__})


def _position_slider(b: PageBinding, key: str, label: str, value: int, count: int) -> int:
    """A slider over 0..count-1 seeded with ``value``; a lone position needs none."""
    b.seed(key, min(value, count - 1))
    if page_state.widget_value(key, 0) > count - 1:
        page_state.set_widget(key, count - 1)  # the output shrank under the slider
    if count == 1:
        return 0
    return int(st.slider(label, 0, count - 1, key=key))


def draw_signal(b: PageBinding, state: SignalsState) -> SignalsState:
    """The charts, the length formula and one output's window, drawn from this run's state; returns the state with
    the chosen output."""
    try:
        view = compute(state)
    except ValueError as error:
        st.error(tr("sig.impossible", reason=tr_error(error)), icon=":material/block:")
        return state
    view = view.at(_position_slider(b, "sig_index", tr("sig.index"), state.index, len(view.output)))
    axis, text = view.axis, _figure_text()
    st.plotly_chart(figures.signal_figure(view.signal, view.output, pad_before=axis.pad_before,
                                          pad_after=axis.pad_after, taps=list(view.window.taps), index=view.index,
                                          stride=axis.stride, text=text), key="sig_chart", config=STATIC)
    st.markdown(tr("sig.weights", weights=", ".join(cell_text(w) for w in view.kernel)) + "  \n"
                + tr("sig.length", formula=axis.text))
    if state.causal:
        st.caption(tr("sig.padding_causal", pad=axis.pad_before))
    _window(view, state)
    return replace(state, index=view.index)


def _window(view: SignalsView, state: SignalsState) -> None:
    with st.container(key="sig_sum", border=True):
        st.markdown(tr("sig.sum_title", index=view.index))
        st.code(f"{view.positions}\n     = {view.explanation}", language=None, wrap_lines=True)
        in_padding = sum(term.padding for term in view.terms)
        if in_padding:
            st.caption(tr("sig.padding_note", count=in_padding))
        if state.causal:
            st.caption(tr("sig.causal_note", index=view.index, first=view.terms[0].position,
                          last=view.terms[-1].position))


def draw_stack(b: PageBinding, state: SignalsState) -> SignalsState:
    st.subheader(tr("sig.stack_title"))
    st.caption(tr("sig.stack_intro"))
    output = _position_slider(b, "sig_stack_output", tr("sig.stack_output"), state.stack_output, STACK_LENGTH)
    stack = wavenet_stack(output)
    st.plotly_chart(figures.stack_figure(stack.dilations, stack.length, stack.output, stack.reached, stack.edges,
                                         (stack.box.left, stack.box.right), _figure_text()),
                    key="sig_stack", config=STATIC)
    st.markdown(tr("sig.stack_field", field=stack.field, first=stack.box.left, last=stack.box.right - 1,
                   formula=stack.formula))
    if stack.box.left < 0:
        st.caption(tr("sig.stack_padding"))
    return replace(state, stack_output=stack.output)


def steps(b: PageBinding) -> SignalsState:
    state = controls(b)
    state = draw_signal(b, state)
    with section("stack"):
        state = draw_stack(b, state)
    with st.sidebar:
        page_state.share_link(state)
    return state


guarded(run_page, Page(PAGE, SignalsState, "sig.title", "sig.intro", sections=("stack",)), steps)
