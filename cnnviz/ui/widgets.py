"""Widgets shared by the convolution pages. Each takes the page's binding and current values, returns plain values."""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz.geometry import PADDING_MODES
from cnnviz.images import ImageError, load_image_info
from cnnviz.numfmt import cell_text, parse_number, parse_rows, total_text
from cnnviz.samples import SAMPLES, load_sample
from cnnviz.ui.common import camera_input, file_uploader, tr, tr_error, tr_option
from cnnviz.ui.state import PageBinding

DEFAULT_SAMPLE = SAMPLES[0].key
IMAGE_UPLOAD_MB = 20  # a phone photo is 3-8 MB; the server's own cap (.streamlit/config.toml) is the same


# cache_resource, not cache_data: cache_data hashed a photo's bytes and copied its 12 MB of pixels on every run (up
# to 17 ms of each rerun). The pixels are shared read-only, and the file is named by a digest taken once per upload.
@st.cache_resource(max_entries=8, show_spinner=False)
def _decode(digest: str, max_side: int, _upload):
    info = load_image_info(_upload.getvalue(), max_side=max_side)  # read only on a miss: a photo is megabytes
    return _read_only(info.pixels), info.downscaled, info.original_size


@st.cache_resource(max_entries=16, show_spinner=False)
def _sample(key: str, max_side: int) -> np.ndarray:
    return _read_only(load_sample(key, size=max_side))


def _read_only(pixels: np.ndarray) -> np.ndarray:
    pixels.setflags(write=False)  # shared by every session: a write would change another student's picture
    return pixels


def _digest(upload) -> str:
    """A digest of an uploaded file's bytes, taken once per upload (hashing a phone photo takes milliseconds)."""
    digests = st.session_state.setdefault("_upload_digests", {})
    if upload.file_id not in digests:
        if len(digests) >= 8:
            digests.clear()
        digests[upload.file_id] = hashlib.sha1(upload.getvalue()).hexdigest()[:16]
    return digests[upload.file_id]


def image_input(b: PageBinding, key: str, *, source: str, sample: str, max_side: int
                ) -> tuple[np.ndarray, str, str, str, str]:
    """Let the user pick a sample, upload a file or use the webcam.

    Without an uploaded file or photo yet, the default sample stands in, with a note saying so.

    Returns:
        (pixels in [0, 1], a note to show ("" if none), a key naming the image, the source, the sample).
    """
    source = st.radio(tr("widgets.source"), ["sample", "upload", "camera"], key=b.seed(f"{key}_source", source),
                      horizontal=True, format_func=tr_option("widgets.source."))
    if source == "sample":
        sample = st.selectbox(tr("widgets.sample"), [s.key for s in SAMPLES], key=b.seed(f"{key}_sample", sample),
                              format_func=tr_option("samples."))
        return _sample(sample, max_side), "", f"sample:{sample}:{max_side}", source, sample
    if source == "upload":
        upload = file_uploader(tr("widgets.upload"), type=None, key=f"{key}_upload", help=tr("widgets.upload_help"),
                               max_mb=IMAGE_UPLOAD_MB)
    else:
        upload = camera_input(tr("widgets.camera"), key=f"{key}_camera")
    standin = (_sample(DEFAULT_SAMPLE, max_side), tr(f"widgets.waiting_{source}"),
               f"sample:{DEFAULT_SAMPLE}:{max_side}", source, sample)
    if upload is None:
        return standin
    digest = _digest(upload)
    try:
        pixels, downscaled, (width, height) = _decode(digest, max_side, upload)
    except ImageError as error:
        st.error(tr_error(error), icon=":material/broken_image:")
        return standin[0], "", standin[2], source, sample
    note = tr("widgets.downscaled", width=width, height=height, w=pixels.shape[1], h=pixels.shape[0]) if downscaled else ""
    return pixels, note, f"{digest}:{max_side}", source, sample


def pair_input(b: PageBinding, label: str, key: str, value: tuple[int, int], *, minimum: int,
               maximum: int, on_change: Callable[[], None] | None = None) -> tuple[int, int]:
    """Two small number inputs for a (rows, cols) setting."""
    st.markdown(f"**{label}**")
    # One horizontal container, not two columns: every block is redrawn by the browser on each rerun, and columns
    # cost three (the row and its two columns).
    with st.container(horizontal=True, wrap=False):
        st.number_input(tr("widgets.rows"), minimum, maximum, key=b.seed(f"{key}_h", int(value[0])),
                        on_change=on_change)
        st.number_input(tr("widgets.cols"), minimum, maximum, key=b.seed(f"{key}_w", int(value[1])),
                        on_change=on_change)
    return pair_value(key)


def pair_value(key: str) -> tuple[int, int]:
    """The (rows, cols) a ``pair_input`` shows: read from the session, so a fragment that did not draw it can too."""
    return int(st.session_state[f"{key}_h"]), int(st.session_state[f"{key}_w"])


def geometry_controls(b: PageBinding, key: str, *, padding: str, pad: tuple[int, int], padding_mode: str,
                      stride: tuple[int, int], dilation: tuple[int, int], flip: bool, max_stride: int = 8,
                      on_change: Callable[[], None] | None = None,
                      on_layout_change: Callable[[], None] | None = None) -> dict:
    """Padding (valid / same / custom, and its mode), stride, dilation and the flip toggle.

    ``on_change`` is called when a number or the padding mode changes; ``on_layout_change`` when the padding choice or
    the flip changes, which change which widgets and captions show (without it, they rerun the page).

    Returns:
        ``geometry_values``: the same names as the keyword arguments, with the widgets' values.
    """
    padding = st.segmented_control(tr("widgets.padding"), ["valid", "same", "custom"], required=True,
                                   key=b.seed(f"{key}_padding", padding), help=tr("widgets.padding_help"),
                                   format_func=tr_option("widgets.padding."), on_change=on_layout_change)
    if padding == "custom":
        pair_input(b, tr("widgets.padding_amount"), f"{key}_pad", pad, minimum=0, maximum=32, on_change=on_change)
    st.selectbox(tr("widgets.padding_mode"), PADDING_MODES, key=b.seed(f"{key}_mode", padding_mode),
                 format_func=tr_option("widgets.mode."), help=tr("widgets.padding_mode_help"), on_change=on_change)
    pair_input(b, tr("widgets.stride"), f"{key}_stride", stride, minimum=1, maximum=max_stride, on_change=on_change)
    pair_input(b, tr("widgets.dilation"), f"{key}_dilation", dilation, minimum=1, maximum=8, on_change=on_change)
    flip = st.toggle(tr("widgets.flip"), key=b.seed(f"{key}_flip", flip), help=tr("widgets.flip_help"),
                     on_change=on_layout_change)
    st.caption(tr("widgets.flip_on") if flip else tr("widgets.flip_off"))
    return geometry_values(key, pad=pad)


def geometry_values(key: str, *, pad: tuple[int, int]) -> dict:
    """What ``geometry_controls`` shows, read from the session (``pad`` stands while the padding is not custom)."""
    padding = st.session_state[f"{key}_padding"]
    return {"padding": padding, "pad": pair_value(f"{key}_pad") if padding == "custom" else pad,
            "padding_mode": st.session_state[f"{key}_mode"], "stride": pair_value(f"{key}_stride"),
            "dilation": pair_value(f"{key}_dilation"), "flip": bool(st.session_state[f"{key}_flip"])}


# --- editable grids of numbers ---------------------------------------------------------------------------

def grid_version(b: PageBinding, key: str) -> int:
    """A counter in the grid's widget key: it moves whenever the page loads a state, so the grid shows the
    state's numbers instead of replaying the user's old edits on top of new ones."""
    version_key = f"{key}_grid_version"
    if b.loading or version_key not in st.session_state:
        st.session_state[version_key] = st.session_state.get(version_key, 0) + 1
    return st.session_state[version_key]


def matrix_editor(values: np.ndarray, editor_key: str, *, cell_width: int = 58) -> tuple[np.ndarray, list[str]]:
    """An editable grid of numbers, shown as a student writes them ("1/9", "-0.598").

    Only the cells the user changed are read back, so a value shown rounded never replaces the exact one.

    Returns:
        (the values, one message per cell that is not a number; such a cell keeps its old value).
    """
    texts = [[cell_text(v) for v in row] for row in values]
    columns = [str(c + 1) for c in range(values.shape[1])]
    frame = pd.DataFrame(texts, columns=columns)
    edited = st.data_editor(frame, key=editor_key, hide_index=True, width="content",
                            column_config={c: st.column_config.TextColumn(c, width=cell_width) for c in columns})
    result, problems = np.array(values, dtype=np.float64), []
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            text = edited.iat[r, c]
            if text == texts[r][c]:
                continue
            try:
                result[r, c] = parse_number("" if text is None else text)
            except ValueError as error:
                problems.append(tr("widgets.bad_cell", row=r + 1, col=c + 1, reason=tr_error(error)))
    return result, problems


def paste_rows(key: str, *, max_side: int) -> np.ndarray | None:
    """A text box for pasting rows of numbers; returns the matrix when the user applies a valid one."""
    with st.popover(tr("widgets.paste"), icon=":material/content_paste:", key=f"{key}_paste_box"):
        text = st.text_area(tr("widgets.paste_label"), key=f"{key}_paste_text", height=160,
                            placeholder="1 2 1\n2 4 2\n1 2 1", help=tr("widgets.paste_help"))
        if not st.button(tr("widgets.paste_apply"), key=f"{key}_paste_apply", type="primary"):
            return None
        try:
            rows = np.array(parse_rows(text), dtype=np.float64)
        except ValueError as error:
            st.error(tr_error(error), icon=":material/error:")
            return None
        if max(rows.shape) > max_side:
            st.error(tr("widgets.paste_too_big", rows=rows.shape[0], cols=rows.shape[1], most=max_side))
            return None
        return rows


def kernel_sum_text(kernel: np.ndarray) -> str:
    """The weights' sum, with float noise shown as 0."""
    return total_text(float(kernel.sum()), scale=float(np.abs(kernel).max(initial=0.0)))
