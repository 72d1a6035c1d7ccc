"""Kernel Lab: an image through convolution, activation and pooling, with every shape explained.

The page is three steps: ``controls`` (widgets -> KernelLabState), ``compute`` (cnnviz.pages.kernel_lab, cached)
and ``draw`` (pictures, formulas, the filter bank).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from cnnviz import torch_threads
from cnnviz.analysis import formulas
from cnnviz.cache import LruCache
from cnnviz.conv import kernels, pipeline
from cnnviz.figures import maps
from cnnviz.pages import hover_math as hover_data
from cnnviz.pages.kernel_lab import DISPLAYS, HOVER_STAGES, KernelLabResult, KernelLabState, compute
from cnnviz.ui import state as page_state
from cnnviz.ui import upsample as upsample_stage
from cnnviz.ui.common import BASE_FONT_PX, PRESENT_FONT_PX, guarded, section, tr, tr_error, tr_option
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.hover_math import blob_address, hover_math
from cnnviz.ui.pictures import Picture, media_address, picture_grid
from cnnviz.ui.separable import separable_step
from cnnviz.ui.state import PageBinding, presenting
from cnnviz.ui.widgets import (cell_px, geometry_controls, geometry_values, grid_version, image_input, kernel_sum_text,
                               matrix_editor, pair_input, pair_value, paste_rows)

PAGE = "kernel_lab"
PARTIAL_SIDE = 320  # the per-channel maps are shown four to a row
THUMBNAIL_SIDE = 256  # filter-bank pictures


@shared_results()
def _convolutions() -> LruCache:
    # Shared by every session: keys name the image, kernel and geometry. A 1024-px RGB convolution with its partial
    # maps holds ~28 MB, so few are kept.
    return LruCache(max_entries=4)


@shared_results()
def _bank_maps() -> LruCache:
    # The filter bank's 256-px maps and image copies (a quarter MB each), reused by every bias or activation change,
    # and the maps' value ranges (three numbers each, up to seven a change).
    return LruCache(max_entries=128)


@shared_results()
def _pictures() -> LruCache:
    return LruCache(max_entries=96, workers=2)


@shared_results()
def _input_blobs() -> LruCache:
    # The hover arithmetic's copy of each input (a 1024-px RGB photo: 3 MB), made once per input, not per change.
    return LruCache(max_entries=4)


@st.cache_resource(show_spinner=False)
def _warmed_up() -> bool:
    """Once per server: the torch workers and the PNG encoder started before the first change needs them, so the
    first new geometry on a fresh server is no slower than the next ones."""
    torch_threads.warm_up()
    maps.map_png(np.zeros((8, 8), np.float32), "diverging")
    return True


# cache_resource, not cache_data: results are large arrays that the page only reads, and cache_data would
# pickle and copy them on every hit.
@shared_results(6)
def _compute(state: KernelLabState, image_key: str, _image: np.ndarray, _cache: LruCache,
             _bank_cache: LruCache) -> KernelLabResult:
    return torch_threads.run(compute, state, _image, image_key, cache=_cache, bank_cache=_bank_cache)


# --- controls ----------------------------------------------------------------------------------------------

def _on_colour() -> None:
    colour = page_state.widget_value("kl_colour")

    def switch(state: KernelLabState) -> KernelLabState:
        switched, note = state.with_colour(colour)
        if note:
            page_state.flash(PAGE, tr(note))
        return switched

    page_state.replace_state(PAGE, switch)


def _on_preset() -> None:
    preset = page_state.widget_value("kl_preset")
    page_state.replace_state(PAGE, lambda s: replace(s, preset=preset, params=(), kernel=None))


def _on_param() -> None:
    def apply(state: KernelLabState) -> KernelLabState:
        values = tuple(float(page_state.widget_value(f"kl_param_{state.preset}_{spec.name}"))
                       for spec in kernels.KERNEL_PRESETS[state.preset].params)
        return replace(state, params=values, kernel=None)

    page_state.replace_state(PAGE, apply)


def _on_resize() -> None:
    rows, cols = int(page_state.widget_value("kl_rows")), int(page_state.widget_value("kl_cols"))

    def resize(state: KernelLabState) -> KernelLabState:
        kernel = state.kernel_array()
        slices = [kernels.resize_kernel(k, rows, cols) for k in (kernel if kernel.ndim == 3 else [kernel])]
        return state.with_kernel(np.stack(slices) if kernel.ndim == 3 else slices[0])

    page_state.replace_state(PAGE, resize)


def _on_normalise() -> None:
    def normalise(state: KernelLabState) -> KernelLabState:
        try:
            return state.with_kernel(kernels.normalize_sum(state.kernel_array()))
        except ValueError as error:
            page_state.flash(PAGE, tr_error(error))
            return state

    page_state.replace_state(PAGE, normalise)


def _on_randomise() -> None:
    seed = page_state.KL_RANDOM_SEED.get() + 1
    page_state.KL_RANDOM_SEED.set(seed)

    def randomise(state: KernelLabState) -> KernelLabState:
        kernel = state.kernel_array()
        rows, cols = kernel.shape[-2:]
        if kernel.ndim == 3:
            return state.with_kernel(np.stack([kernels.random_kernel(rows, cols, seed=seed * 3 + c) for c in range(3)]))
        return state.with_kernel(kernels.random_kernel(rows, cols, seed=seed))

    page_state.replace_state(PAGE, randomise)


def _on_reset() -> None:
    page_state.replace_state(PAGE, lambda s: replace(s, kernel=None))


def _kernel_editor(b: PageBinding, state: KernelLabState, room: int, root_px: float) -> KernelLabState:
    """Preset, its sliders, the size, the grid(s) (their cells fitted to ``room`` px at a root font of ``root_px``)
    and the kernel buttons."""
    st.selectbox(tr("widgets.preset"), list(kernels.KERNEL_PRESETS), key=b.seed("kl_preset", state.preset),
                 format_func=tr_option(lambda k: kernels.KERNEL_PRESETS[k].name_key), on_change=_on_preset)
    kernel = state.kernel_array()
    if not state.edited:
        st.caption(tr(kernels.KERNEL_PRESETS[state.preset].why_key))
        for spec, value in zip(kernels.KERNEL_PRESETS[state.preset].params, state.preset_params.values()):
            st.slider(tr(spec.label_key), float(spec.min), float(spec.max), step=float(spec.step),
                      key=b.seed(f"kl_param_{state.preset}_{spec.name}", float(value)), on_change=_on_param)
    elif kernel.shape[-2:] == (1, 1):
        st.caption(tr("kernels.pointwise.why"))
    else:
        st.caption(tr("kl.edited", preset=tr(kernels.KERNEL_PRESETS[state.preset].name_key)))
    with st.container(horizontal=True, wrap=False, vertical_alignment="bottom"):  # one block, not four columns
        st.number_input(tr("widgets.kernel_rows"), 1, kernels.MAX_SIDE, key=b.seed("kl_rows", kernel.shape[-2]),
                        on_change=_on_resize)
        st.number_input(tr("widgets.kernel_cols"), 1, kernels.MAX_SIDE, key=b.seed("kl_cols", kernel.shape[-1]),
                        on_change=_on_resize)
        pasted = paste_rows("kl", max_side=kernels.MAX_SIDE)
    if pasted is not None:
        # A pasted 2-D kernel in RGB is split over the channels like a preset, so the picture means the same.
        pasted = pasted if state.colour == "gray" else kernels.rgb_kernel(pasted, kernels.grayscale_weights())
        state = state.with_kernel(pasted)
        kernel = state.kernel_array()
        page_state.replace_state(PAGE, lambda s: state)
        st.rerun()

    version = grid_version(b, "kl")
    problems: list[str] = []
    fit = {"room": room, "root_px": root_px}
    if kernel.ndim == 2:
        edited, problems = matrix_editor(kernel, f"kl_grid_{version}", **fit)
    else:
        # One channel's grid at a time: every data editor adds to each rerun's drawing, and tabs would draw all three.
        channel = st.segmented_control(tr("widgets.channel"), [0, 1, 2], default=0, required=True, key="kl_channel",
                                       format_func=tr_option(lambda c: f"widgets.channel.{'rgb'[c]}"))
        edited = kernel.copy()  # (3, kh, kw)
        edited[channel], problems = matrix_editor(kernel[channel], f"kl_grid_{version}_{channel}", **fit)
    if not np.array_equal(edited, kernel):
        state = state.with_kernel(edited)
    if problems:
        # The grid goes back to the numbers kept, so "abc" does not stay on screen while the page uses the old value;
        # the warning stays under the grid until the kernel changes: the next valid edit finds none.
        page_state.KL_GRID_PROBLEMS.set((tuple(problems), edited.tobytes()))
        page_state.replace_state(PAGE, lambda s: state)
        st.rerun()
    refused, kept = page_state.KL_GRID_PROBLEMS.get()
    if refused and kept != edited.tobytes():
        refused = ()
        page_state.KL_GRID_PROBLEMS.pop()
    for problem in refused:
        st.warning(problem, icon=":material/edit_off:")
    st.markdown(tr("widgets.kernel_sum", total=kernel_sum_text(edited)))
    with st.container(horizontal=True, wrap=False):
        st.button(tr("widgets.normalise"), key="kl_normalise", on_click=_on_normalise,
                  help=tr("widgets.normalise_help"), width="stretch")
        st.button(tr("widgets.randomise"), key="kl_randomise", on_click=_on_randomise, width="stretch")
        st.button(tr("widgets.reset"), key="kl_reset", on_click=_on_reset, disabled=not state.edited,
                  width="stretch", help=tr("widgets.reset_help"))
    return state


def _input_sidebar(b: PageBinding, state: KernelLabState) -> tuple[KernelLabState, np.ndarray, str, str]:
    """The sidebar's input section: working size, image and colour (a change reruns the whole page)."""
    with st.sidebar:
        st.subheader(tr("kl.input"))
        working = st.select_slider(tr("kl.working_size"), state.working_sizes(),
                                   key=b.seed("kl_working", state.working_size),
                                   help=tr("kl.working_size_help"))
        image, note, image_key, source, sample = image_input(b, "kl", source=state.source, sample=state.sample,
                                                             max_side=int(working))
        st.segmented_control(tr("kl.colour"), ["gray", "rgb"], required=True, key=b.seed("kl_colour", state.colour),
                             format_func=tr_option("kl.colour."), on_change=_on_colour)
    return replace(state, source=source, sample=sample, working_size=int(working)), image, note, image_key


SETTINGS = "kl_settings"  # the settings' fragment: a change of which settings show reruns it and the outputs
OUTPUTS = "kl_outputs"  # the outputs' fragment: a setting that changes only what it draws reruns it alone


def _rerun_outputs() -> None:
    """A setting that changes only the outputs: rerun their fragment, not the page. The kernel editor, the inputs and
    every setting stay as the browser shows them, so it redraws a third of the elements a fragment holding the
    settings would make it redraw."""
    _rerun(OUTPUTS)


def _rerun_settings_and_outputs() -> None:
    """A setting that changes which settings show (custom padding's amounts, the flip's caption, the leaky slope,
    pooling's sizes, the zoom sliders) and the outputs: rerun both fragments, still not the page."""
    _rerun([SETTINGS, OUTPUTS])


def _rerun(fragments: str | list[str]) -> None:
    try:
        st.rerun(fragments)
    except StreamlitAPIException:
        pass  # the last full run stopped before the fragments (an error): returning reruns the whole page


class _FullRun:
    """Whether the page's own run is still drawing. A fragment called after it ended reruns alone: it starts from the
    state the page published, as the page's arguments are those of the run that first drew it."""

    def __init__(self) -> None:
        self.going = True


@st.fragment(key=SETTINGS)
def _settings(b: PageBinding, state: KernelLabState, run: _FullRun) -> None:
    """The sidebar's convolution settings, in a fragment of their own: the run that a change starts before it reruns
    the outputs (``_rerun_outputs``) is this fragment's, so the browser marks only these widgets as out of date while
    it lasts, not every element of the page, which the browser would otherwise redraw twice per change."""
    if not run.going:
        b = page_state.bind(PAGE, KernelLabState)
        state = b.state
    guarded(_conv_sidebar, b, state)  # a fragment's error would skip the page's guard


def _conv_sidebar(b: PageBinding, state: KernelLabState) -> None:
    """Geometry, bias, activation, pooling and view. A change of a value reruns only the outputs; a change of which
    widgets show (padding kind, flip, activation, pooling, details) these settings and the outputs."""
    with st.sidebar:
        st.subheader(tr("kl.geometry"))
        geometry_controls(b, "kl", padding=state.padding, pad=state.pad, padding_mode=state.padding_mode,
                          stride=state.stride, dilation=state.dilation, flip=state.flip, on_change=_rerun_outputs,
                          on_layout_change=_rerun_settings_and_outputs)
        st.subheader(tr("kl.after_conv"))
        st.number_input(tr("kl.bias"), step=1.0, key=b.seed("kl_bias", float(state.bias)), help=tr("kl.bias_help"),
                        on_change=_rerun_outputs)
        activation = st.selectbox(tr("kl.activation"), pipeline.MAP_ACTIVATIONS,
                                  key=b.seed("kl_activation", state.activation), format_func=tr_option("kl.activation."),
                                  on_change=_rerun_settings_and_outputs)
        if activation == "leaky_relu":
            st.slider(tr("kl.leaky_slope"), 0.01, 0.5, step=0.01, key=b.seed("kl_slope", float(state.slope)),
                      on_change=_rerun_outputs)
        pool = st.segmented_control(tr("kl.pooling"), ["none", "max", "avg"], required=True,
                                    key=b.seed("kl_pool", state.pool), format_func=tr_option("kl.pool."),
                                    on_change=_rerun_settings_and_outputs)
        if pool != "none":
            pair_input(b, tr("kl.pool_size"), "kl_pool_size", state.pool_size, minimum=1, maximum=8,
                       on_change=_rerun_outputs)
            pair_input(b, tr("kl.pool_stride"), "kl_pool_stride", state.pool_stride, minimum=1, maximum=8,
                       on_change=_rerun_outputs)
        st.subheader(tr("kl.view"))
        st.selectbox(tr("kl.display"), DISPLAYS, key=b.seed("kl_display", state.display),
                     format_func=tr_option("kl.display."), help=tr("kl.display_help"), on_change=_rerun_outputs)
        if st.toggle(tr("kl.details"), key=b.seed("kl_details", state.details), on_change=_rerun_settings_and_outputs):
            st.caption(tr("kl.zoom_help", side=64))
            for key, label, value in (("kl_zoom_row", tr("kl.zoom_row"), state.zoom[0]),
                                      ("kl_zoom_col", tr("kl.zoom_col"), state.zoom[1])):
                st.slider(label, 0, 100, format="%d%%", key=b.seed(key, value), on_change=_rerun_outputs)
        # Drawn when the settings are: it reads the address bar, where the outputs' fragment publishes every change.
        page_state.share_link(state, live=True, note=tr("kl.upload_link_note") if state.source != "sample" else "")


def _conv_state(state: KernelLabState) -> KernelLabState:
    """``state`` with the convolution settings the sidebar shows, read from the session: the outputs' fragment reruns
    without them. A setting whose widget is hidden (the slope without leaky ReLU) keeps its value."""
    value = page_state.widget_value
    activation, pool, details = value("kl_activation"), value("kl_pool"), bool(value("kl_details"))
    return replace(state, bias=float(value("kl_bias")), activation=activation,
                   slope=float(value("kl_slope")) if activation == "leaky_relu" else state.slope, pool=pool,
                   pool_size=pair_value("kl_pool_size") if pool != "none" else state.pool_size,
                   pool_stride=pair_value("kl_pool_stride") if pool != "none" else state.pool_stride,
                   display=value("kl_display"), details=details,
                   zoom=(int(value("kl_zoom_row")), int(value("kl_zoom_col"))) if details else state.zoom,
                   bank_open=bool(value("kl_bank_open", state.bank_open)),
                   **geometry_values("kl", pad=state.pad))


# --- drawing -------------------------------------------------------------------------------------------------

def _map_caption(mode: str, value_range: tuple[float, float, float]) -> str:
    """The scale a map is drawn on, and its statistics."""
    return tr(f"kl.scale.{mode}") + " · " + tr("kl.stats", min=f"{value_range[0]:.4g}", max=f"{value_range[1]:.4g}",
                                               mean=f"{value_range[2]:.4g}")


def _shape_text(values: np.ndarray) -> str:
    return " × ".join(map(str, values.shape))


@shared_results(32)
def _stats(key: str, _values: np.ndarray) -> maps.MapStats:
    # A histogram of a million values costs more than the rest of a cached change: redo it only when the map changed.
    return maps.map_stats(_values)


def _details(slot: str, values: np.ndarray, mode: str, key: str, state: KernelLabState) -> None:
    with st.container(border=True):
        if values.ndim == 2:
            rows, cols = maps.zoom_window(values.shape, (state.zoom[0] / 100, state.zoom[1] / 100))
            if values.size > maps.HEATMAP_MAX_CELLS:
                st.caption(tr("kl.zoom_window", r0=rows.start, r1=rows.stop - 1, c0=cols.start, c1=cols.stop - 1))
            st.plotly_chart(maps.heatmap_figure(values[rows, cols], signed=mode == "diverging",
                                                origin=(rows.start, cols.start), hover=tr("fig.heatmap_at")),
                            key=f"kl_{slot}_heat")
        st.plotly_chart(maps.histogram_figure(_stats(key, values), hover=tr("fig.histogram_at")), key=f"kl_{slot}_hist")
        # One under the other: side by side, in a quarter of a 1280-px page, each label was cut to "Dow…".
        st.download_button(tr("common.download_png"), lambda: maps.map_png(values, mode, display=False),
                           file_name=f"{slot}.png", mime="image/png", key=f"kl_{slot}_dl_png", width="stretch",
                           icon=":material/image:")
        st.download_button(tr("common.download_npy"), lambda: maps.npy_bytes(values), file_name=f"{slot}.npy",
                           key=f"kl_{slot}_dl_npy", width="stretch", icon=":material/data_array:")


def _details_row(result: KernelLabResult, state: KernelLabState, slots: list[tuple[str, np.ndarray, int]],
                 titles: dict[str, str], per_row: int) -> None:
    """The hover heatmap, histogram and downloads of each map, under the maps in as many columns as they have."""
    columns = st.columns(per_row)
    for index, (name, values, _) in enumerate(slots):
        with columns[index % per_row]:
            st.markdown(f"**{titles[name]}**")
            _details(name, values, result.displays[name], result.keys[name], state)


def _shapes(result: KernelLabResult, state: KernelLabState, timing: str) -> None:
    stages = result.stages
    with st.expander(tr("kl.shapes_title", shape=" × ".join(map(str, stages.shapes[-1].shape))), expanded=True,
                     icon=":material/straighten:", key="kl_shapes"):
        lines = []  # one markdown element for the list, the count and the legend: each element costs every rerun
        for shape in stages.shapes:
            dims = " × ".join(str(d) for d in shape.shape)
            lines.append("- " + tr("kl.stage_shape", stage=tr(f"kl.stage.{shape.stage}"), shape=dims))
            if shape.rows is not None:
                lines += [f"  - {tr('kl.formula_rows')} `{shape.rows.text}`",
                          f"  - {tr('kl.formula_cols')} `{shape.cols.text}`"]
        params = result.params
        kh, kw = params.kernel_hw
        layers = " · ".join(f"{width} → {total:,}" for width, total in params.layers)
        lines += ["", tr("kl.params", c=params.channels, kh=kh, kw=kw, weights=params.weights,
                         total=params.per_filter), "", tr("kl.params_layer", per_filter=params.per_filter, layers=layers),
                  "", f":small[:gray[{tr('kl.formula_legend')}]]", "",
              f":small[:gray[{timing}]]"]
        st.markdown("\n".join(lines))
        dropped = len(stages.dropped_rows), len(stages.dropped_cols)
        if any(dropped):
            st.warning(tr("kl.dropped", rows=dropped[0], cols=dropped[1]), icon=":material/content_cut:")


def _pictures_for(result: KernelLabResult, state: KernelLabState, slots: list[tuple[str, np.ndarray, int]]):
    stages = result.stages
    input_hw = stages.image.shape[:2]
    requests = []
    for name, values, side in slots:
        mode = result.displays[name]
        if name == "input":
            dropped = (stages.dropped_rows, stages.dropped_cols)
            requests.append((result.keys[name], lambda: maps.input_png(stages.image, *dropped)))
        else:
            requests.append((f"{result.keys[name]}|{side}",
                             lambda v=values, m=mode, s=side: maps.map_png(v, m, input_hw=input_hw, max_side=s)))
    return _pictures().get_many(requests)


# The width a 1280×720 projector leaves the kernel grid, px, by (presentation mode, wide layout): beside the maps or
# across the page under them, with the sidebar (300 px) or without it and at presentation mode's larger type.
GRID_ROOM = {(False, False): 305, (False, True): 820, (True, False): 445, (True, True): 1180}


class Layout:
    """Where each part of the page goes. A kernel whose grid fits beside the maps (two a row) sits there, so a
    projector shows the kernel, the input and the output at once: 5 columns, 7 in presentation mode. A wider one gets
    the page's whole width under the maps (four a row), so a 15×15 grid shows every value whole without scrolling
    sideways. Every map has a cell of the same width, so maps keep their sizes relative to the input."""

    def __init__(self, kernel_cols: int):
        self.presenting = presenting()
        self.root_px = PRESENT_FONT_PX if self.presenting else BASE_FONT_PX
        beside = GRID_ROOM[self.presenting, False] // cell_px(5, self.root_px)  # columns of 5 characters
        self.wide = kernel_cols > beside
        self.grid_room = GRID_ROOM[self.presenting, self.wide]
        if self.wide:
            self.maps, self.kernel, self.shapes = st.container(), section("kernel"), section("shapes")
        else:
            left, self.maps = st.columns([1.3, 2], gap="medium")
            self.kernel, self.shapes = section("kernel", left), section("shapes", left)


def draw(result: KernelLabResult, state: KernelLabState, layout: Layout, partials_area, image_key: str) -> None:
    """The maps as one grid, the hover arithmetic, the RGB partial sums as another grid, and the signed scale's
    legend."""
    stages = result.stages
    slots = [("input", stages.image, maps.DISPLAY_MAX_SIDE), ("conv", stages.conv, maps.DISPLAY_MAX_SIDE)]
    if state.activation != "none":
        slots.append(("activation", stages.activated, maps.DISPLAY_MAX_SIDE))
    if stages.pooled is not None:
        slots.append(("pool", stages.pooled, maps.DISPLAY_MAX_SIDE))
    partials = [(f"partial{c}", stages.partials[c], PARTIAL_SIDE) for c in range(3)] if stages.partials else []
    pictures = _pictures_for(result, state, slots + partials)
    titles = {name: tr(f"kl.stage.{name}") for name, _, _ in slots}
    titles.update({f"partial{c}": tr(f"widgets.channel.{'rgb'[c]}") for c in range(len(partials))})
    cells = [Picture(name, titles[name], picture, shape=_shape_text(values),
                     caption=_map_caption(result.displays[name], result.ranges[name]))
             for (name, values, _), picture in zip(slots + partials, pictures)]
    legend = None
    if "diverging" in result.displays.values():
        legend = Picture("legend", tr("kl.legend"), maps.colorbar_png(), caption=tr("kl.legend"))
    with layout.maps:
        per_row = 4 if layout.wide else 2
        addresses = picture_grid("kl_maps", cells[:len(slots)], columns=per_row, legend=legend)
        if not result.kernel.any():
            st.info(tr("kl.zero_kernel", bias=f"{state.bias:g}"), icon=":material/info:")
        if state.details:
            _details_row(result, state, slots, titles, per_row)
    with partials_area:
        # The hover arithmetic is the area's first element, so the area always gets one (see _Areas.below_the_maps).
        if partials:
            # The partial maps' addresses, before their grid is drawn: the hover arithmetic comes first.
            addresses.update({name: media_address(picture, f"kl_partials.{name}")
                              for (name, _, _), picture in zip(partials, pictures[len(slots):])})
        _hover(result, state, image_key, addresses, titles)
        if not partials:
            return
        # The sum is the convolution map itself: the same picture (and address) as the convolution stage.
        total = Picture("sum", tr("kl.partials_sum", bias=f"{state.bias:g}"), pictures[1], shape=_shape_text(stages.conv))
        picture_grid("kl_partials", [*cells[len(slots):], total], columns=4, min_cell=150, heading=tr("kl.partials"),
                     text=tr("kl.partials_help"))
        if state.details:
            _details_row(result, state, partials, titles, 4)


def _hover(result: KernelLabResult, state: KernelLabState, image_key: str, addresses: dict[str, str],
           titles: dict[str, str]) -> None:
    """The hover arithmetic over the input and every stage's picture, at the grids' own addresses (the browser has
    loaded them already)."""
    stages = result.stages
    image = stages.image
    blob = _input_blobs().get((image_key, state.colour), lambda: hover_data.input_blob(image))
    settings = hover_data.settings(result.kernel, image.shape[:2], geometry=state.geometry, bias=state.bias,
                                   activation=state.activation, slope=state.slope, pooling=state.pooling)
    shown = []
    for name in HOVER_STAGES:
        if name not in addresses:
            continue
        values = {"conv": stages.conv, "activation": stages.activated, "pool": stages.pooled}.get(name)
        if values is None:
            values = stages.partials[int(name[-1])]
        side = PARTIAL_SIDE if name.startswith("partial") else maps.DISPLAY_MAX_SIDE
        drawn, frame = maps.map_extent(values.shape, image.shape[:2], side)
        shown.append({"name": name, "title": titles[name], "out": list(values.shape[:2]),
                      "extent": [drawn[0] / frame[0], drawn[1] / frame[1]],
                      "src": addresses[name]})
    channels = [tr("hm.gray")] if state.colour == "gray" else [tr(f"widgets.channel.{c}") for c in "rgb"]
    words = {"window": tr("hm.window"), "kernel": tr("hm.kernel"), "kernel_flipped": tr("hm.kernel_flipped"),
             "products": tr("hm.products"), "pool_window": tr("hm.pool_window"), "point": tr("hm.point"),
             "hint": tr("hm.hint"), "hint_pinned": tr("hm.hint_pinned"), "unit": tr("hm.unit"),
             "pool_unit": tr("hm.pool_unit"), "input_pixel": tr("hm.input_pixel"), "used_by": tr("hm.used_by"),
             "sum_of": tr("hm.sum_of"),
             "input": tr("kl.stage.input"), "channels": channels, "heading": tr("hm.heading"),
             "activation_name": {"relu": tr("hm.act.relu"), "leaky_relu": tr("hm.act.leaky_relu"),
                                 "abs": tr("hm.act.abs")}.get(state.activation, "")}
    hover_math("hover_math", {"input_src": blob_address(blob, "hover"), "input_picture": addresses["input"],
        "input_shape": _shape_text(image), "settings": settings,
        "stages": shown, "stage": shown[-1]["name"] if stages.pooled is not None else "conv", "words": words,
        "pin": state.hover_pin}, on_pin=_on_hover_pin)


def _on_hover_pin() -> None:
    # The pinned place goes into the link; nothing the page draws depends on it, so no widget is seeded anew.
    sent = page_state.widget_value("hover_math")
    pin = sent.get("pin") if isinstance(sent, dict) else None
    if isinstance(pin, dict):
        page_state.replace_view(PAGE, lambda s: s.with_hover_pin(pin.get("place")))


def _bank_choice(b: PageBinding, state: KernelLabState) -> tuple[KernelLabState, st.delta_generator.DeltaGenerator]:
    """The bank's kernels, and the place for their maps: an expander that reruns only the outputs when opened or
    closed. Its maps are computed only while it is open, so a closed bank costs a geometry change nothing."""
    st.subheader(tr("kl.bank"))
    st.caption(tr("kl.bank_help"))
    chosen = st.multiselect(tr("kl.bank_pick"), list(kernels.KERNEL_PRESETS), key=b.seed("kl_bank", list(state.bank)),
                            format_func=tr_option(lambda k: kernels.KERNEL_PRESETS[k].name_key))
    if not chosen:
        return replace(state, bank=()), st.container()  # nothing to open: no expander promising "0 maps"
    # One label whatever the kernels: Streamlit names an expander by its label too, and a new name opened it closed.
    maps = st.expander(tr("kl.bank_show"), key=b.seed("kl_bank_open", state.bank_open),
                       icon=":material/grid_view:", on_change=_rerun_outputs)
    return replace(state, bank=tuple(chosen)), maps.container()


def _bank_pictures(result: KernelLabResult, state: KernelLabState) -> None:
    """One thumbnail per bank kernel that fits; a kernel that does not fit says so by name, the rest still show."""
    params = result.params
    sizes = set(params.bank_filters)
    if len(sizes) == 1:
        (c, kh, kw), = sizes
        st.markdown(tr("kl.bank_params_same", n=len(params.bank_filters), c=c, kh=kh, kw=kw,
                       weights=formulas.conv_filter_weights(c, (kh, kw)), total=params.bank_total))
    else:
        st.markdown(tr("kl.bank_params_mixed", n=len(params.bank_filters), total=params.bank_total))
    fitting = [m for m in result.bank if m.values is not None]
    shapes = {m.values.shape for m in fitting}
    if len(shapes) == 1 and len(fitting) == len(result.bank):
        (rows, cols), = shapes
        st.markdown(tr("kl.bank_output", n=len(fitting), rows=rows, cols=cols))
    requests = []
    for m in fitting:
        mode = maps.auto_display(m.values) if state.display == "auto" else state.display
        requests.append((f"bank|{m.preset}|{result.keys['activation']}|{mode}",
                         lambda v=m.values, md=mode: maps.map_png(v, md, max_side=THUMBNAIL_SIDE)))
    pictures = dict(zip([m.preset for m in fitting], _pictures().get_many(requests)))
    for m in result.bank:
        if m.values is None:
            name = tr(kernels.KERNEL_PRESETS[m.preset].name_key)
            st.error(tr("kl.bank_misfit", name=name, reason=tr_error(m.error)), icon=":material/block:")
    picture_grid("kl_bank_pictures", [Picture(m.preset, tr(kernels.KERNEL_PRESETS[m.preset].name_key), pictures[m.preset],
                                     shape=_shape_text(m.values)) for m in fitting], columns=4, min_cell=120)


class _Areas:
    """The containers the outputs' fragment writes into, made by the full run so the fragment keeps its places."""

    def __init__(self, layout: Layout, partials: st.delta_generator.DeltaGenerator,
                 bank: st.delta_generator.DeltaGenerator):
        self.layout, self.partials, self.bank = layout, partials, bank

    def below_the_maps(self) -> tuple[st.delta_generator.DeltaGenerator, ...]:
        """Every area but the maps'. A fragment's rerun may only write where its full run wrote, so each run writes
        into each of them, if only an empty element (after an error, or with the bank closed)."""
        return self.layout.shapes, self.partials, self.bank


@st.fragment(key=OUTPUTS)
def _outputs(b: PageBinding, state: KernelLabState, image: np.ndarray, image_key: str, areas: _Areas,
             run: _FullRun, started: float) -> None:
    """Everything the convolution settings change. A change of a value reruns only this part (``_rerun_outputs``):
    the settings, the kernel editor, the input controls and the page header stay as they are in the browser."""
    # A fragment's error would skip the page's guard.
    guarded(_draw_outputs, b, state, image, image_key, areas, run, started)


def _draw_outputs(b: PageBinding, state: KernelLabState, image: np.ndarray, image_key: str, areas: _Areas,
                  run: _FullRun, started: float) -> None:
    if not run.going:
        # A fragment rerun: the page's own run is over, so start from the state it published, with the settings the
        # sidebar shows now.
        started = time.perf_counter()
        b = page_state.bind(PAGE, KernelLabState)
        state = _conv_state(b.state)
    layout = areas.layout
    try:
        result = _compute(state.without_view(), image_key, image, _convolutions(), _bank_maps())
    except ValueError as error:
        with layout.maps:
            st.error(tr("kl.impossible", reason=tr_error(error)), icon=":material/block:")
        for area in areas.below_the_maps():
            area.empty()
        b.publish(state)
        return
    draw(result, state, layout, areas.partials, image_key)
    if result.stages.partials is not None:
        with areas.partials:
            state = separable_step(b, result, state, _pictures())
    with areas.bank:
        if result.bank:
            _bank_pictures(result, state)
        else:
            st.empty()  # closed, or no kernels: see _Areas.below_the_maps
    b.publish(state)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    page_state.record_timing(PAGE, elapsed_ms)  # read by bench/kernel_lab.py
    with layout.shapes:  # last, so it can say how long the rest took
        _shapes(result, state, tr("kl.timing", ms=f"{elapsed_ms:.0f}", h=result.stages.image.shape[0],
                                  w=result.stages.image.shape[1]))


def steps(b: PageBinding) -> None:
    """The input, the settings and the kernel, then the outputs: their fragment computes, draws and publishes."""
    _warmed_up()
    started = time.perf_counter()
    state, image, note, image_key = _input_sidebar(b, b.state)
    run = _FullRun()
    _settings(b, state, run)
    state = _conv_state(state)
    if note:
        st.info(note, icon=":material/info:")
    layout = Layout(state.kernel_array().shape[-1])
    with layout.kernel:
        state = _kernel_editor(b, state, layout.grid_room, layout.root_px)
    partials_area = st.container()
    state = upsample_stage.stage(b, state, image, image_key)
    bank_area = section("bank")
    with bank_area:
        st.divider()
        state, bank_maps = _bank_choice(b, state)
    areas = _Areas(layout, partials_area, bank_maps)
    _outputs(b, state, image, image_key, areas, run, started)
    run.going = False


guarded(run_page, Page(PAGE, KernelLabState, "kl.title", "kl.intro", sections=("kernel", "shapes", "bank"),
                       last_on_phone="kernel"), steps)
