"""Kernel Lab: an image through convolution, activation and pooling, with every shape explained."""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz import figures, kernels, pipeline
from cnnviz.geometry import Pooling
from cnnviz.pipeline import LabConfig, PipelineResult
from cnnviz.ui.common import tr
from cnnviz.ui.widgets import geometry_controls, image_input, kernel_editor, pair_input



@st.cache_data(max_entries=24, show_spinner=False)
def _run(image_id: str, _image: np.ndarray, kernel: bytes, kernel_shape: tuple, cfg: dict) -> PipelineResult:
    # image_id stands in for the pixels in the cache key: hashing a 1024x1024 image on every rerun would cost more
    # than it saves.
    return pipeline.run_pipeline(_image, np.frombuffer(kernel).reshape(kernel_shape), LabConfig.from_dict(cfg))


@st.cache_data(max_entries=48, show_spinner=False)
def _png(stage_id: str, _values: np.ndarray, mode: str, signed: bool) -> bytes:
    return figures.map_png(pipeline.to_display(_values, mode), signed=signed)


@st.cache_data(max_entries=8, show_spinner=False)
def _bank(image_id: str, _image: np.ndarray, presets: tuple[str, ...], cfg: dict) -> list[np.ndarray]:
    cfg_obj = LabConfig.from_dict(cfg)
    bank_kernels = [kernels.make_kernel(p) for p in presets]
    if cfg_obj.colour == "rgb":
        bank_kernels = [kernels.rgb_kernel(k, kernels.grayscale_weights()) for k in bank_kernels]
    return pipeline.run_bank(_image, bank_kernels, cfg_obj)


def _controls() -> tuple[np.ndarray | None, str, str, LabConfig, np.ndarray, str]:
    with st.sidebar:
        st.subheader(tr("kl.input"))
        working = st.select_slider(tr("kl.working_size"), [64, 128, 256, 512, 768, 1024], value=512, key="kl_working",
                                   help=tr("kl.working_size_help"), persist_state="session")
        colour = st.segmented_control(tr("kl.colour"), ["gray", "rgb"], default="gray", required=True, key="kl_colour",
                                      format_func=lambda c: tr(f"kl.colour.{c}"), persist_state="session")
        image, note, image_id = image_input("kl", max_side=working)
    kernel_col, geometry_col, stage_col = st.columns([1.25, 1, 1], gap="medium")
    with kernel_col:
        st.subheader(tr("kl.kernel"))
        kernel, preset = kernel_editor("kl", colour=colour)
    with geometry_col:
        st.subheader(tr("kl.geometry"))
        geometry = geometry_controls("kl")
    with stage_col:
        st.subheader(tr("kl.after_conv"))
        bias = st.number_input(tr("kl.bias"), value=0.0, step=1.0, key="kl_bias", help=tr("kl.bias_help"), persist_state="session")
        activation = st.selectbox(tr("kl.activation"), pipeline.ACTIVATIONS, key="kl_activation",
                                  format_func=lambda a: tr(f"kl.activation.{a}"), persist_state="session")
        slope = 0.1
        if activation == "leaky_relu":
            slope = st.slider(tr("kl.leaky_slope"), 0.01, 0.5, 0.1, 0.01, key="kl_slope", persist_state="session")
        pool_kind = st.segmented_control(tr("kl.pooling"), ["none", "max", "avg"], default="none", required=True,
                                         key="kl_pool", format_func=lambda p: tr(f"kl.pool.{p}"), persist_state="session")
        pooling = Pooling()
        if pool_kind != "none":
            size = pair_input(tr("kl.pool_size"), "kl_pool_size", minimum=1, maximum=8, value=(2, 2))
            stride = pair_input(tr("kl.pool_stride"), "kl_pool_stride", minimum=1, maximum=8, value=size)
            pooling = Pooling(kind=pool_kind, size=size, stride=stride)
        display = st.selectbox(tr("kl.display"), pipeline.DISPLAY_MODES, key="kl_display",
                               format_func=lambda m: tr(f"kl.display.{m}"), help=tr("kl.display_help"), persist_state="session")
    cfg = LabConfig(colour=colour, working_size=working, geometry=geometry, activation=activation, leaky_slope=slope,
                    pooling=pooling, bias=float(bias))
    return image, note, image_id, cfg, kernel, display


def _shape_text(result: PipelineResult) -> None:
    with st.container(key="kl_shapes", border=True):
        st.markdown(f"**{tr('kl.shapes')}**")
        for shape in result.shapes:
            dims = " × ".join(str(d) for d in shape.shape)
            st.markdown(f"- {tr(f'kl.stage.{shape.stage}')}: `{dims}`")
            if shape.rows is not None:
                st.markdown(f"  - {tr('kl.formula_rows')} `{shape.rows.text}`")
                st.markdown(f"  - {tr('kl.formula_cols')} `{shape.cols.text}`")
        st.caption(tr("kl.formula_legend"))
        dropped = len(result.dropped_rows), len(result.dropped_cols)
        if any(dropped):
            st.warning(tr("kl.dropped", rows=dropped[0], cols=dropped[1]), icon=":material/content_cut:")


def _stage(column, title: str, stage_id: str, values: np.ndarray, display: str, *, signed: bool | None = None,
           overlay: tuple[range, range] | None = None) -> None:
    with column:
        st.markdown(f"**{title}**  \n`{' × '.join(map(str, values.shape))}`")
        is_signed = (display == "diverging") if signed is None else signed
        if overlay is not None and any(len(r) for r in overlay):
            pixels = figures.colourise(pipeline.to_display(values, "clip"), signed=False)
            data = figures.png_bytes(figures.fit_for_display(figures.mark_dropped(pixels, *overlay)))
        else:
            mode = "clip" if signed is False else display
            data = _png(stage_id, values, mode, is_signed)
        st.image(data, width="stretch")
        stats = pipeline.map_stats(values)
        st.caption(tr("kl.stats", min=f"{stats.min:.4g}", max=f"{stats.max:.4g}", mean=f"{stats.mean:.4g}"))
        with st.expander(tr("kl.details"), expanded=False):
            if values.ndim == 2 and values.size <= figures.HEATMAP_MAX_CELLS:
                st.plotly_chart(figures.heatmap_figure(values, signed=is_signed), key=f"{stage_id}_heat")
            st.plotly_chart(figures.histogram_figure(stats), key=f"{stage_id}_hist")
            left, right = st.columns(2)
            left.download_button(tr("common.download_png"), lambda: figures.map_png(pipeline.to_display(values, display if signed is None else "clip"), signed=is_signed, display=False),
                                 file_name=f"{stage_id}.png", mime="image/png", key=f"{stage_id}_dl_png")
            right.download_button(tr("common.download_npy"), lambda: figures.npy_bytes(values), file_name=f"{stage_id}.npy",
                                  key=f"{stage_id}_dl_npy")


def render() -> None:
    st.title(tr("kl.title"))
    st.caption(tr("kl.intro"))
    image, note, image_id, cfg, kernel, display = _controls()
    if note:
        st.info(note, icon=":material/info:")
    if image is None:
        return
    try:
        result = _run(image_id, image, np.ascontiguousarray(kernel, dtype=np.float64).tobytes(), kernel.shape, cfg.to_dict())
    except ValueError as error:
        st.error(tr("kl.impossible", reason=str(error)), icon=":material/block:")
        return

    _shape_text(result)
    stage_key = f"{image_id}|{hash(kernel.tobytes())}|{cfg.to_dict()}"
    if display == "diverging":
        st.image(figures.colorbar_png(), caption=tr("kl.legend"), width=256)
    columns = st.columns(4 if result.pooled is not None else 3)
    _stage(columns[0], tr("kl.stage.input"), f"input|{image_id}|{cfg.colour}", result.image, display, signed=False,
           overlay=(result.dropped_rows, result.dropped_cols))
    _stage(columns[1], tr("kl.stage.conv"), f"conv|{stage_key}", result.conv, display)
    _stage(columns[2], tr("kl.stage.activation"), f"act|{stage_key}", result.activated, display)
    if result.pooled is not None:
        _stage(columns[3], tr("kl.stage.pool"), f"pool|{stage_key}", result.pooled, display)

    if result.partials is not None:
        st.subheader(tr("kl.partials"))
        st.caption(tr("kl.partials_help"))
        cols = st.columns(4)
        for c, name in enumerate("rgb"):
            _stage(cols[c], tr(f"widgets.channel.{name}"), f"partial{c}|{stage_key}", result.partials[c], display)
        _stage(cols[3], tr("kl.partials_sum", bias=f"{cfg.bias:g}"), f"sum|{stage_key}", result.conv, display)

    st.divider()
    st.subheader(tr("kl.bank"))
    st.caption(tr("kl.bank_help"))
    chosen = st.multiselect(tr("kl.bank_pick"), list(kernels.PRESETS), default=["sobel_x", "sobel_y", "laplacian8", "gaussian"],
                            key="kl_bank", format_func=lambda k: tr(kernels.PRESETS[k].name_key), persist_state="session")
    if chosen:
        try:
            maps = _bank(image_id, image, tuple(chosen), cfg.to_dict())
        except ValueError as error:
            st.error(tr("kl.impossible", reason=str(error)))
            return
        grid = st.columns(min(4, len(chosen)))
        for index, (preset, values) in enumerate(zip(chosen, maps)):
            with grid[index % len(grid)]:
                st.image(_png(f"bank|{preset}|{stage_key}", values, display, display == "diverging"), width="stretch",
                         caption=tr(kernels.PRESETS[preset].name_key))


render()
