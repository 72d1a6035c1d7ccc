"""The Kernel Lab's depthwise-separable step (RGB), under the partial maps: the 1×1 step's weights and its maps, and
the parameter and multiply-add counts of a standard layer against a depthwise-separable one, with groups between.

Drawn by the outputs' fragment of ``cnnviz.ui.kernel_lab``: a change of a weight reruns that fragment alone.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import streamlit as st

from cnnviz.cache import LruCache
from cnnviz.conv.numfmt import cell_text
from cnnviz.figures import maps
from cnnviz.pages.kernel_lab import KernelLabResult, KernelLabState
from cnnviz.pages.separable import (MAX_POINTWISE, SEPARABLE_WIDTHS, SeparableCounts, pointwise_maps, resized,
                                    separable_counts)
from cnnviz.ui.common import tr
from cnnviz.ui.pictures import Picture, picture_grid
from cnnviz.ui import state as page_state
from cnnviz.ui.state import PageBinding
from cnnviz.ui.widgets import grid_version, matrix_editor

POINTWISE_SIDE = 320  # the 1×1 step's maps, four to a row like the partial maps


def separable_step(b: PageBinding, result: KernelLabResult, state: KernelLabState, pictures: LruCache) -> KernelLabState:
    """The 1×1 step's controls, maps and counts; returns ``state`` with the weights and width the widgets show."""
    st.subheader(tr("sep.title"))
    st.caption(tr("sep.help"))
    weights = state.pointwise_array()
    with st.container(horizontal=True, vertical_alignment="bottom"):
        rows = int(st.number_input(tr("sep.outputs"), 1, MAX_POINTWISE, key=b.seed("kl_pw_rows", len(weights)),
                                   width=200))
        version = grid_version(b, "kl_pw")
        if rows != len(weights):
            # A grid of another height is a new editor (a new key), so no edit made on the old rows is replayed.
            weights, version = resized(weights, rows), version + 1
            page_state.set_widget("kl_pw_grid_version", version)
        edited, problems = matrix_editor(weights, f"kl_pw_grid_{version}", cell_width=64, headers=("R", "G", "B"))
    for problem in problems:
        st.warning(problem, icon=":material/edit_off:")
    state = state.with_pointwise(edited)
    _pointwise_maps(result, state, pictures)
    st.subheader(tr("sep.counts_title"))
    width = st.selectbox(tr("sep.width"), SEPARABLE_WIDTHS, key=b.seed("kl_sep_width", state.separable_width),
                         help=tr("sep.width_help"), width=320)
    state = replace(state, separable_width=int(width))
    kernel_hw = result.kernel.shape[-2:]
    st.markdown(_counts_text(separable_counts(kernel_hw, result.stages.conv.shape, state.separable_width), kernel_hw))
    return state


def _pointwise_maps(result: KernelLabResult, state: KernelLabState, pictures: LruCache) -> None:
    """The 1×1 step's output maps as one picture grid, drawn on the scale the page's display setting picks."""
    weights = state.pointwise_array()
    outputs = pointwise_maps(result.stages.partials, weights, state.bias)
    ranges = [(float(m.min()), float(m.max()), float(m.mean(dtype=np.float64))) for m in outputs]
    if not all(math.isfinite(value) for low, high, _ in ranges for value in (low, high)):
        st.error(tr("sep.overflow"), icon=":material/block:")
        return
    modes = [maps.auto_display(r) if state.display == "auto" else state.display for r in ranges]
    input_hw = result.stages.image.shape[:2]
    # The partial maps' keys name the image, kernel and geometry; the weights and the bias name the rest.
    depends = "|".join(result.keys[f"partial{c}"] for c in range(3)) + f"|{state.bias!r}"
    requests = [(f"pw|{depends}|{row.tolist()!r}|{mode}|{POINTWISE_SIDE}",
                 lambda v=values, m=mode: maps.map_png(v, m, input_hw=input_hw, max_side=POINTWISE_SIDE))
                for values, row, mode in zip(outputs, weights, modes)]
    cells = [Picture(f"pointwise{o}", tr("sep.map_title", number=o + 1, sum=_mix_text(row)), picture,
                     shape=" × ".join(map(str, values.shape)),
                     caption=tr(f"kl.scale.{mode}") + " · " + tr("kl.stats", min=f"{r[0]:.4g}", max=f"{r[1]:.4g}",
                                                                 mean=f"{r[2]:.4g}"))
             for o, (values, row, mode, r, picture) in enumerate(zip(outputs, weights, modes, ranges,
                                                                     pictures.get_many(requests)))]
    picture_grid("kl_pointwise", cells, columns=4, min_cell=150, heading=tr("sep.maps"),
                 text=tr("sep.maps_help", bias=f"{state.bias:g}"))


def _mix_text(row: np.ndarray) -> str:
    """One output's weights as the sum it computes: "1·R + 1·G + 1·B", "−0.5·R + 2·B"."""
    used = [(float(w), channel) for w, channel in zip(row, "RGB") if w]
    if not used:
        return "0"
    terms = [f"{cell_text(abs(w), most=6)}·{channel}" for w, channel in used]
    text = ("−" if used[0][0] < 0 else "") + terms[0]
    for (weight, _), term in zip(used[1:], terms[1:]):
        text += f" {'−' if weight < 0 else '+'} {term}"
    return text


def _counts_text(counts: SeparableCounts, kernel_hw: tuple[int, int]) -> str:
    """The counts of a standard layer against the separable pair, then the groups between them, as one markdown
    element (each element costs every rerun)."""
    costs, (kh, kw), width, (rows, cols) = counts.costs, kernel_hw, counts.width, counts.output_hw
    lines = [tr("sep.counts_intro", c_out=width, kh=kh, kw=kw, h=rows, w=cols), "",
             f"| | {tr('sep.col_params')} | {tr('sep.col_mult_adds')} |", "|---|---|---|"]
    labels = (tr("sep.kind.standard", kh=kh, kw=kw), tr("sep.kind.depthwise", kh=kh, kw=kw),
              tr("sep.kind.pointwise"), tr("sep.kind.separable"))
    for label, cost in zip(labels, (costs.standard, costs.depthwise, costs.pointwise, costs.separable)):
        lines.append(f"| {label} | `{cost.params_formula}` | `{cost.mult_adds_formula}` |")
    percent = 100 * costs.ratio
    lines += ["", tr("sep.saving", percent=f"{percent:.1f}", c_out=width, kh=kh, kw=kw,
                     standard=f"{costs.standard.params:,}", separable=f"{costs.separable.params:,}"), "",
              f"#### {tr('sep.groups_title')}", tr("sep.groups_intro", c=width, kh=kh, kw=kw), "",
              f"| {tr('sep.col_groups')} | {tr('sep.col_sees')} | {tr('sep.col_params')} |", "|---|---|---|"]
    name = {"standard": f" ({tr('sep.name.standard')})", "depthwise": f" ({tr('sep.name.depthwise')})"}
    for groups, cost in counts.groups:
        lines.append(f"| {groups}{name.get(cost.kind, '')} | {width // groups} | `{cost.params_formula}` |")
    return "\n".join(lines)
