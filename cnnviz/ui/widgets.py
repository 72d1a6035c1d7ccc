"""Widgets shared by the convolution pages. Each takes a key prefix and returns plain values."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz import kernels
from cnnviz.geometry import PADDING_MODES, Geometry
from cnnviz.images import ImageError, load_image_info
from cnnviz.samples import SAMPLES
from cnnviz.ui.common import tr


@st.cache_data(max_entries=16, show_spinner=False)
def _decode(data: bytes, max_side: int):
    info = load_image_info(data, max_side=max_side)
    return info.pixels, info.downscaled, info.original_size


@st.cache_data(max_entries=16, show_spinner=False)
def _sample(key: str, max_side: int) -> np.ndarray:
    from cnnviz.samples import load_sample

    return load_sample(key, size=max_side)


def image_input(key: str, *, max_side: int) -> tuple[np.ndarray | None, str, str]:
    """Let the user pick a sample, upload a file or use the webcam.

    Returns:
        (pixels in [0, 1] or None, a note to show (empty if none), a short hash identifying the image).
    """
    source = st.radio(tr("widgets.source"), ["sample", "upload", "camera"], key=f"{key}_source", horizontal=True,
                      format_func=lambda s: tr(f"widgets.source.{s}"), persist_state="session")
    data: bytes | None = None
    if source == "sample":
        sample = st.selectbox(tr("widgets.sample"), [s.key for s in SAMPLES], key=f"{key}_sample",
                              format_func=lambda k: tr(f"samples.{k}"), persist_state="session")
        pixels = _sample(sample, max_side)
        return pixels, "", f"sample:{sample}:{max_side}"
    if source == "upload":
        upload = st.file_uploader(tr("widgets.upload"), type=None, key=f"{key}_upload", help=tr("widgets.upload_help"))
        data = upload.getvalue() if upload is not None else None
    else:
        photo = st.camera_input(tr("widgets.camera"), key=f"{key}_camera")
        data = photo.getvalue() if photo is not None else None
    if data is None:
        return None, tr("widgets.waiting"), ""
    try:
        pixels, downscaled, (width, height) = _decode(data, max_side)
    except ImageError as error:
        st.error(str(error), icon=":material/broken_image:")
        return None, "", ""
    note = tr("widgets.downscaled", width=width, height=height, w=pixels.shape[1], h=pixels.shape[0]) if downscaled else ""
    return pixels, note, hashlib.sha1(data).hexdigest()[:16] + f":{max_side}"


def pair_input(label: str, key: str, *, minimum: int, maximum: int, value: tuple[int, int]) -> tuple[int, int]:
    """Two small number inputs for a (rows, cols) setting."""
    st.markdown(f"**{label}**")
    left, right = st.columns(2)
    # Defaults go into the session state, not the widget, so examples and URLs can set these keys too.
    st.session_state.setdefault(f"{key}_h", value[0])
    st.session_state.setdefault(f"{key}_w", value[1])
    rows = left.number_input(tr("widgets.rows"), minimum, maximum, key=f"{key}_h", persist_state="session")
    cols = right.number_input(tr("widgets.cols"), minimum, maximum, key=f"{key}_w", persist_state="session")
    return int(rows), int(cols)


def geometry_controls(key: str, *, default_padding: str = "same", max_stride: int = 8) -> Geometry:
    """Padding (valid / same / custom, and its mode), stride, dilation and the flip toggle."""
    st.session_state.setdefault(f"{key}_padding", default_padding)
    kind = st.segmented_control(tr("widgets.padding"), ["valid", "same", "custom"], key=f"{key}_padding", required=True,
                                format_func=lambda p: tr(f"widgets.padding.{p}"), help=tr("widgets.padding_help"), persist_state="session")
    padding: str | tuple[int, int] = kind
    if kind == "custom":
        padding = pair_input(tr("widgets.padding_amount"), f"{key}_pad", minimum=0, maximum=32, value=(1, 1))
    mode = st.selectbox(tr("widgets.padding_mode"), PADDING_MODES, key=f"{key}_mode",
                        format_func=lambda m: tr(f"widgets.mode.{m}"), help=tr("widgets.padding_mode_help"), persist_state="session")
    stride = pair_input(tr("widgets.stride"), f"{key}_stride", minimum=1, maximum=max_stride, value=(1, 1))
    dilation = pair_input(tr("widgets.dilation"), f"{key}_dilation", minimum=1, maximum=8, value=(1, 1))
    flip = st.toggle(tr("widgets.flip"), key=f"{key}_flip", help=tr("widgets.flip_help"), persist_state="session")
    st.caption(tr("widgets.flip_on") if flip else tr("widgets.flip_off"))
    return Geometry(padding=padding, padding_mode=mode, stride=stride, dilation=dilation, flip=flip)


# --- the kernel editor ---------------------------------------------------------------------------

def _state(key: str) -> dict:
    store = st.session_state.setdefault(f"{key}_kernel_state", {"version": 0})
    return store


def _set_kernel(key: str, kernel: np.ndarray) -> None:
    store = _state(key)
    store["kernel"] = np.array(kernel, dtype=np.float64)
    store["version"] += 1  # a new editor key makes the grid show the new values
    st.session_state[f"{key}_rows"], st.session_state[f"{key}_cols"] = store["kernel"].shape[-2:]


def _preset_kernel(key: str, channels: int) -> np.ndarray:
    preset = st.session_state[f"{key}_preset"]
    params = {p.name: st.session_state.get(f"{key}_param_{preset}_{p.name}", p.default) for p in kernels.PRESETS[preset].params}
    base = kernels.make_kernel(preset, **params)
    return base if channels == 1 else kernels.rgb_kernel(base, kernels.grayscale_weights())


def _on_preset(key: str, channels: int) -> None:
    _set_kernel(key, _preset_kernel(key, channels))


def _on_resize(key: str) -> None:
    kernel = _state(key)["kernel"]
    rows, cols = st.session_state[f"{key}_rows"], st.session_state[f"{key}_cols"]
    resized = [kernels.resize_kernel(k, rows, cols) for k in (kernel if kernel.ndim == 3 else [kernel])]
    _set_kernel(key, np.stack(resized) if kernel.ndim == 3 else resized[0])


def _on_normalise(key: str) -> None:
    try:
        _set_kernel(key, kernels.normalize_sum(_state(key)["kernel"]))
    except ValueError as error:
        _state(key)["message"] = str(error)


def _on_randomise(key: str) -> None:
    store = _state(key)
    kernel = store["kernel"]
    store["seed"] = store.get("seed", 0) + 1
    rows, cols = kernel.shape[-2:]
    if kernel.ndim == 3:
        _set_kernel(key, np.stack([kernels.random_kernel(rows, cols, seed=store["seed"] * 3 + c) for c in range(3)]))
    else:
        _set_kernel(key, kernels.random_kernel(rows, cols, seed=store["seed"]))


def matrix_editor(kernel: np.ndarray, editor_key: str) -> np.ndarray:
    """An editable grid of numbers; empty cells count as 0."""
    frame = pd.DataFrame(kernel, columns=[str(c) for c in range(kernel.shape[1])])
    edited = st.data_editor(frame, key=editor_key, hide_index=True, width="content",
                            column_config={c: st.column_config.NumberColumn(c, format="%.4g", step=0.01) for c in frame.columns})
    values = edited.to_numpy(dtype=np.float64)
    return np.nan_to_num(values, nan=0.0)


def kernel_editor(key: str, *, colour: str) -> tuple[np.ndarray, str]:
    """Preset picker, parameter sliders and the editable grid.

    Returns:
        (kernel: (kh, kw) for gray, (3, kh, kw) for rgb; the chosen preset's key).
    """
    channels = 1 if colour == "gray" else 3
    store = _state(key)
    preset = st.selectbox(tr("widgets.preset"), list(kernels.PRESETS), key=f"{key}_preset",
                          format_func=lambda k: tr(kernels.PRESETS[k].name_key), on_change=_on_preset, args=(key, channels),
                          index=list(kernels.PRESETS).index("laplacian8"), persist_state="session")
    st.caption(tr(kernels.PRESETS[preset].why_key))
    for spec in kernels.PRESETS[preset].params:
        step = spec.step
        st.slider(tr(spec.label_key), float(spec.min), float(spec.max), float(spec.default), float(step),
                  key=f"{key}_param_{preset}_{spec.name}", on_change=_on_preset, args=(key, channels), persist_state="session")
    kernel = store.get("kernel")
    if kernel is None or kernel.ndim != (2 if channels == 1 else 3):
        _set_kernel(key, _preset_kernel(key, channels))
        kernel = store["kernel"]

    size_left, size_right = st.columns(2)
    size_left.number_input(tr("widgets.kernel_rows"), 1, kernels.MAX_SIDE, key=f"{key}_rows", on_change=_on_resize, args=(key,), persist_state="session")
    size_right.number_input(tr("widgets.kernel_cols"), 1, kernels.MAX_SIDE, key=f"{key}_cols", on_change=_on_resize, args=(key,), persist_state="session")

    version = store["version"]
    if channels == 1:
        edited = matrix_editor(kernel, f"{key}_grid_{version}")
    else:
        tabs = st.tabs([tr("widgets.channel.r"), tr("widgets.channel.g"), tr("widgets.channel.b")])
        slices = []
        for c, tab in enumerate(tabs):
            with tab:
                slices.append(matrix_editor(kernel[c], f"{key}_grid_{version}_{c}"))
        edited = np.stack(slices)  # (3, kh, kw)
    store["kernel"] = edited

    st.markdown(tr("widgets.kernel_sum", total=f"{edited.sum():.4g}"))
    middle, right = st.columns(2)
    middle.button(tr("widgets.normalise"), key=f"{key}_normalise", on_click=_on_normalise, args=(key,),
                  help=tr("widgets.normalise_help"), width="stretch")
    right.button(tr("widgets.randomise"), key=f"{key}_randomise", on_click=_on_randomise, args=(key,), width="stretch")
    message = store.pop("message", None)
    if message:
        st.warning(message)
    return edited, preset
