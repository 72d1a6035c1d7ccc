"""Kernel Lab: an image through convolution, activation and pooling, with every shape explained."""
from __future__ import annotations

import json
import time

import numpy as np
import streamlit as st

from cnnviz import figures, kernels, pipeline
from cnnviz.geometry import Pooling
from cnnviz.images import downscale
from cnnviz.pipeline import LabConfig, PipelineResult
from cnnviz.ui.common import tr
from cnnviz.ui.widgets import geometry_controls, image_input, kernel_editor, pair_input



BANK_SIDE = 256  # the filter bank's thumbnails are computed on a copy of the image at most this big
PARTIAL_SIDE = 320  # the per-channel maps are shown four to a row


# cache_resource, not cache_data: results are large arrays that the page only reads, and cache_data would
# pickle and copy them on every hit. Keys are content hashes, so sharing across sessions is safe.
@st.cache_resource(max_entries=6, show_spinner=False)
def _convolve(image_id: str, _image: np.ndarray, kernel: bytes, kernel_shape: tuple, conv_cfg: str) -> pipeline.Convolved:
    # image_id stands in for the pixels in the cache key: hashing a 1024x1024 image on every rerun would cost more
    # than it saves. conv_cfg holds only what the convolution depends on, so bias, activation and pooling
    # changes reuse it.
    return pipeline.convolve(_image, np.frombuffer(kernel).reshape(kernel_shape), LabConfig.from_dict(json.loads(conv_cfg)))


@st.cache_resource(max_entries=6, show_spinner=False)
def _run(image_id: str, _image: np.ndarray, kernel: bytes, kernel_shape: tuple, cfg: str) -> PipelineResult:
    lab = LabConfig.from_dict(json.loads(cfg))
    conv_cfg = json.dumps({"colour": lab.colour, "geometry": lab.geometry.to_dict()}, sort_keys=True)
    return pipeline.finish(_convolve(image_id, _image, kernel, kernel_shape, conv_cfg), lab)


@st.cache_resource(show_spinner=False)
def _pictures() -> figures.PngCache:
    return figures.PngCache()


def _map_request(stage_id: str, values: np.ndarray, mode: str, max_side: int = figures.DISPLAY_MAX_SIDE):
    """A picture request for ``PngCache``: its key (what the picture depends on) and how to make it."""
    return f"{stage_id}|{mode}|{max_side}", lambda: figures.map_png(values, mode, max_side=max_side)


@st.cache_resource(max_entries=32, show_spinner=False)
def _stats(key: str, _values: np.ndarray) -> pipeline.MapStats:
    # A histogram of a million values takes ~9 ms: with details on, redo it only when the map changed.
    return pipeline.map_stats(_values)


@st.cache_resource(max_entries=4, show_spinner=False)
def _small(image_id: str, _image: np.ndarray) -> np.ndarray:
    return downscale(_image, BANK_SIDE) if max(_image.shape[:2]) > BANK_SIDE else _image


@st.cache_resource(max_entries=8, show_spinner=False)
def _bank(image_id: str, _image: np.ndarray, presets: tuple[str, ...], cfg: str) -> list[np.ndarray]:
    cfg_obj = LabConfig.from_dict(json.loads(cfg))
    bank_kernels = [kernels.make_kernel(p) for p in presets]
    if cfg_obj.colour == "rgb":
        bank_kernels = [kernels.rgb_kernel(k, kernels.grayscale_weights()) for k in bank_kernels]
    return pipeline.run_bank(_small(image_id, _image), bank_kernels, cfg_obj)


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


def _stage(column, slot: str, title: str, key: str, picture: bytes, values: np.ndarray, mode: str, *,
           details: bool, zoom: tuple[float, float]) -> None:
    """One map: picture and stats; with ``details``, hover values, histogram and downloads.

    ``slot`` names the place on the page (widget keys, file names); ``key`` names the values (its picture's key).
    """
    with column:
        st.markdown(f"**{title}**  \n`{' × '.join(map(str, values.shape))}`")
        st.image(picture, width="stretch")
        st.caption(tr("kl.stats", min=f"{values.min():.4g}", max=f"{values.max():.4g}", mean=f"{values.mean():.4g}"))
        if not details:
            return
        stats = _stats(key, values)
        with st.container(border=True):
            if values.ndim == 2 and values.size <= figures.HEATMAP_MAX_CELLS:
                st.plotly_chart(figures.heatmap_figure(values, signed=mode == "diverging"), key=f"kl_{slot}_heat")
            elif values.ndim == 2:
                rows, cols = figures.zoom_window(values.shape, zoom)
                st.caption(tr("kl.zoom_window", r0=rows.start, r1=rows.stop - 1, c0=cols.start, c1=cols.stop - 1))
                st.plotly_chart(figures.heatmap_figure(values[rows, cols], signed=mode == "diverging",
                                                       origin=(rows.start, cols.start)), key=f"kl_{slot}_heat")
            st.plotly_chart(figures.histogram_figure(stats), key=f"kl_{slot}_hist")
            left, right = st.columns(2)
            left.download_button(tr("common.download_png"), lambda: figures.map_png(values, mode, display=False),
                                 file_name=f"{slot}.png", mime="image/png", key=f"kl_{slot}_dl_png")
            right.download_button(tr("common.download_npy"), lambda: figures.npy_bytes(values),
                                  file_name=f"{slot}.npy", key=f"kl_{slot}_dl_npy")


def render() -> None:
    started = time.perf_counter()
    st.title(tr("kl.title"))
    st.caption(tr("kl.intro"))
    image, note, image_id, cfg, kernel, display = _controls()
    if note:
        st.info(note, icon=":material/info:")
    if image is None:
        return
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    kernel_bytes = np.ascontiguousarray(kernel, dtype=np.float64).tobytes()
    try:
        result = _run(image_id, image, kernel_bytes, kernel.shape, cfg_json)
    except ValueError as error:
        st.error(tr("kl.impossible", reason=str(error)), icon=":material/block:")
        return

    _shape_text(result)
    # Stage ids name exactly what a map depends on, so unchanged maps come from the PNG cache.
    conv_key = f"{image_id}|{hash(kernel_bytes)}|{json.dumps(cfg.geometry.to_dict())}|{cfg.colour}"
    conv_id = f"conv|{conv_key}|{cfg.bias}"
    act_id = conv_id if cfg.activation == "none" else f"act|{conv_id}|{cfg.activation}|{cfg.leaky_slope}"
    legend, toggle = st.columns([1, 1], vertical_alignment="center")
    if display == "diverging":
        legend.image(figures.colorbar_png(), caption=tr("kl.legend"), width=256)
    details = toggle.toggle(tr("kl.details"), key="kl_details", persist_state="session")
    zoom = (0.5, 0.5)
    if details and result.conv.size > figures.HEATMAP_MAX_CELLS:
        st.caption(tr("kl.zoom_help", side=64))
        left, right = st.columns(2)
        zoom = (left.slider(tr("kl.zoom_row"), 0, 100, 50, format="%d%%", key="kl_zoom_row", persist_state="session") / 100,
                right.slider(tr("kl.zoom_col"), 0, 100, 50, format="%d%%", key="kl_zoom_col", persist_state="session") / 100)
    view = {"details": details, "zoom": zoom}

    dropped = (result.dropped_rows, result.dropped_cols)
    columns = st.columns(4 if result.pooled is not None else 3)
    stages = [  # (column, slot, title, values, display mode, picture request)
        (columns[0], "input", tr("kl.stage.input"), result.image, "clip",
         (f"input|{image_id}|{cfg.colour}|{dropped}", lambda: figures.input_png(result.image, *dropped))),
        (columns[1], "convolution", tr("kl.stage.conv"), result.conv, display, _map_request(conv_id, result.conv, display)),
        (columns[2], "activation", tr("kl.stage.activation"), result.activated, display,
         _map_request(act_id, result.activated, display)),
    ]
    if result.pooled is not None:
        stages.append((columns[3], "pooling", tr("kl.stage.pool"), result.pooled, display,
                       _map_request(f"pool|{act_id}|{cfg_json}", result.pooled, display)))
    partials = []
    if result.partials is not None:
        for c, name in enumerate("rgb"):
            partials.append((c, f"partial_{name}", tr(f"widgets.channel.{name}"), result.partials[c], display,
                             _map_request(f"partial{c}|{conv_key}", result.partials[c], display, PARTIAL_SIDE)))
        # The sum is the convolution map itself: the same picture as the convolution stage.
        partials.append((3, "partial_sum", tr("kl.partials_sum", bias=f"{cfg.bias:g}"), result.conv, display,
                         _map_request(conv_id, result.conv, display)))
    pictures = _pictures().get_many([request for *_, request in stages + partials])

    for (column, slot, title, values, mode, (key, _)), picture in zip(stages, pictures):
        _stage(column, slot, title, key, picture, values, mode, **view)
    if partials:
        st.subheader(tr("kl.partials"))
        st.caption(tr("kl.partials_help"))
        cols = st.columns(4)
        for (c, slot, title, values, mode, (key, _)), picture in zip(partials, pictures[len(stages):]):
            _stage(cols[c], slot, title, key, picture, values, mode, **view)
    _filter_bank(image, image_id, cfg, cfg_json, display)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    st.session_state["kl_last_run_ms"] = elapsed_ms  # read by bench/kernel_lab.py
    st.caption(tr("kl.timing", ms=f"{elapsed_ms:.0f}", h=result.image.shape[0], w=result.image.shape[1]))


def _filter_bank(image: np.ndarray, image_id: str, cfg: LabConfig, cfg_json: str, display: str) -> None:
    st.divider()
    st.subheader(tr("kl.bank"))
    st.caption(tr("kl.bank_help", side=BANK_SIDE))
    chosen = st.multiselect(tr("kl.bank_pick"), list(kernels.PRESETS), default=["sobel_x", "sobel_y", "laplacian8", "gaussian"],
                            key="kl_bank", format_func=lambda k: tr(kernels.PRESETS[k].name_key), persist_state="session")
    if not chosen:
        return
    try:
        maps = _bank(image_id, image, tuple(chosen), cfg_json)
    except ValueError as error:
        st.error(tr("kl.impossible", reason=str(error)))
        return
    pictures = _pictures().get_many([_map_request(f"bank|{preset}|{image_id}|{cfg_json}", values, display, PARTIAL_SIDE)
                                     for preset, values in zip(chosen, maps)])
    grid = st.columns(min(4, len(chosen)))
    for index, (preset, picture) in enumerate(zip(chosen, pictures)):
        grid[index % len(grid)].image(picture, width="stretch", caption=tr(kernels.PRESETS[preset].name_key))


render()
