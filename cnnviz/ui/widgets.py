"""Widgets shared by the convolution pages. Each takes the page's binding and current values, returns plain values."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz.conv.geometry import PADDING_MODES
from cnnviz.conv.images import ImageError, load_image_info
from cnnviz.conv.numfmt import cell_text, parse_number, parse_rows, total_text
from cnnviz.conv.samples import SAMPLES, load_sample
from cnnviz.ui import state as page_state
from cnnviz.ui.common import camera_input, file_uploader, tr, tr_error, tr_option
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.state import PageBinding

DEFAULT_SAMPLE = SAMPLES[0].key
IMAGE_UPLOAD_MB = 20  # a phone photo is 3-8 MB; the server's own cap (.streamlit/config.toml) is the same


# cache_resource, not cache_data: cache_data would hash a photo's bytes and copy its decoded pixels on every run. The
# pixels are shared read-only, and the file is named by a digest taken once per upload.
@shared_results(8)
def _decode(digest: str, max_side: int, _upload):
    info = load_image_info(_upload.getvalue(), max_side=max_side)  # read only on a miss: a photo is megabytes
    return _read_only(info.pixels), info.downscaled, info.original_size


@shared_results(16)
def _sample(key: str, max_side: int) -> np.ndarray:
    return _read_only(load_sample(key, size=max_side))


def _read_only(pixels: np.ndarray) -> np.ndarray:
    pixels.setflags(write=False)  # shared by every session: a write would change another student's picture
    return pixels


def upload_digest(upload) -> str:
    """A digest of an uploaded file's bytes, taken once per upload (hashing a phone photo takes milliseconds, a
    model file far more): the key its decoded form is cached under."""
    digests = page_state.UPLOAD_DIGESTS.get()
    if digests is None:
        digests = {}
        page_state.UPLOAD_DIGESTS.set(digests)
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
    try:
        pixels, note, name = uploaded_pixels(upload, max_side)
    except ImageError as error:
        st.error(tr_error(error), icon=":material/broken_image:")
        return standin[0], "", standin[2], source, sample
    return pixels, note, name, source, sample


def uploaded_pixels(upload, max_side: int) -> tuple[np.ndarray, str, str]:
    """An uploaded picture decoded once for every session (read-only pixels in [0, 1]), a note if it was downscaled
    ("" if not) and a key naming it.

    Raises:
        ImageError: not a picture that can be used, with the message to show.
    """
    digest = upload_digest(upload)
    pixels, downscaled, (width, height) = _decode(digest, max_side, upload)
    note = tr("widgets.downscaled", width=width, height=height, w=pixels.shape[1], h=pixels.shape[0]) if downscaled else ""
    return pixels, note, f"{digest}:{max_side}"


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
    return int(page_state.widget_value(f"{key}_h")), int(page_state.widget_value(f"{key}_w"))


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
    padding = page_state.widget_value(f"{key}_padding")
    return {"padding": padding, "pad": pair_value(f"{key}_pad") if padding == "custom" else pad,
            "padding_mode": page_state.widget_value(f"{key}_mode"), "stride": pair_value(f"{key}_stride"),
            "dilation": pair_value(f"{key}_dilation"), "flip": bool(page_state.widget_value(f"{key}_flip"))}


# --- editable grids of numbers ---------------------------------------------------------------------------

def grid_version(b: PageBinding, key: str) -> int:
    """A counter in the grid's widget key: it moves whenever the page loads a state, so the grid shows the
    state's numbers instead of replaying the user's old edits on top of new ones."""
    version_key = f"{key}_grid_version"  # kept beside the widgets it names: tests build the grid's key from it
    version = page_state.widget_value(version_key)
    if b.loading or version is None:
        version = (version or 0) + 1
        page_state.set_widget(version_key, version)
    return version


# The data editor draws its text at 0.875 rem with 0.5 rem of padding on each side, its header 2.1875 rem high, no
# column narrower than 3.125 rem, and a digit, the widest character a number uses, is 0.5 em wide in its font (6.96 px
# at 14 px, measured in Chromium).
GRID_FONT_REM = 0.875
GRID_PADDING_REM = 0.5
GRID_HEADER_REM = 2.1875
GRID_MIN_COLUMN_REM = 3.125
DIGIT_EM = 0.5
MIN_CELL_CHARS = 4  # the column numbers and their edit icon need about this much
MAX_CELL_CHARS = 8  # "-0.01196" or "1.965e-5": every value shows whole with room to spare


@dataclass(frozen=True)
class GridFit:
    """How a grid of numbers fits the room it has: its texts, and its cells' size in CSS pixels."""

    texts: list[list[str]]  # each value as the cell shows it
    cell_width: int  # px
    row_height: int  # px
    rounded: bool  # some value shows with fewer digits than it has
    height: int  # px: the header and every row, so the grid never scrolls inside itself


def cell_px(chars: int, root_px: float) -> int:
    """The width of a cell that shows ``chars`` characters whole, at a root font size of ``root_px``."""
    return max(math.ceil(chars * DIGIT_EM * GRID_FONT_REM * root_px + 2 * GRID_PADDING_REM * root_px + 2),
               round(GRID_MIN_COLUMN_REM * root_px))


def fit_grid(values: np.ndarray, *, room: int, root_px: float) -> GridFit:
    """The texts and cell size that show every value of ``values`` whole in ``room`` px: as many characters per cell
    as the room allows (``MIN_CELL_CHARS`` to ``MAX_CELL_CHARS``), fewer significant digits where a value needs more.

    Rows are made shorter for a tall grid, so 15 rows and the column numbers fit a 720-px projector.
    """
    cols = values.shape[1]
    per_cell = room / cols
    most = MIN_CELL_CHARS
    while most < MAX_CELL_CHARS and cell_px(most + 1, root_px) <= per_cell:
        most += 1
    texts = [[cell_text(v, most) for v in row] for row in values]
    longest = max(MIN_CELL_CHARS, *(len(text) for row in texts for text in row))
    rounded = any(abs(parse_number(text) - v) > 2.0**-23 * abs(v)
                  for text_row, row in zip(texts, values) for text, v in zip(text_row, row))
    font_px = GRID_FONT_REM * root_px
    row_height = round((1.9 if values.shape[0] > 10 else 2.5) * font_px)
    height = round(GRID_HEADER_REM * root_px) + values.shape[0] * row_height + 2  # + the top and bottom borders
    return GridFit(texts, cell_px(longest, root_px), row_height, rounded, height)


def matrix_editor(values: np.ndarray, editor_key: str, *, cell_width: int = 58, room: int | None = None,
                  root_px: float = 16, headers: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """An editable grid of numbers, shown as a student writes them ("1/9", "-0.598").

    With ``room`` (px), the cells are sized to show every value whole in that width (``fit_grid``), with a note when
    some show rounded; without it, every cell is ``cell_width`` px. Only the cells the user changed are read back, so
    a value shown rounded never replaces the exact one. The columns are headed 1, 2, ... or by ``headers``.

    Returns:
        (the values, one message per cell that is not a number; such a cell keeps its old value).
    """
    if room is None:
        texts, row_height, rounded, height = [[cell_text(v) for v in row] for row in values], None, False, "auto"
    else:
        fit = fit_grid(values, room=room, root_px=root_px)
        texts, cell_width, row_height, rounded, height = (fit.texts, fit.cell_width, fit.row_height, fit.rounded,
                                                          fit.height)
    columns = list(headers) if headers is not None else [str(c + 1) for c in range(values.shape[1])]
    frame = pd.DataFrame(texts, columns=columns)
    edited = st.data_editor(frame, key=editor_key, hide_index=True, width="content", height=height,
                            row_height=row_height,
                            column_config={c: st.column_config.TextColumn(c, width=cell_width) for c in columns})
    if rounded:
        st.caption(tr("widgets.grid_rounded"))
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
    """A text box for pasting rows of numbers; returns the matrix when the user applies a valid one, and closes the
    box, which would cover the outputs."""
    with st.popover(tr("widgets.paste"), icon=":material/content_paste:", key=f"{key}_paste_box", on_change="rerun"):
        st.text_area(tr("widgets.paste_label"), key=f"{key}_paste_text", height=160, placeholder="1 2 1\n2 4 2\n1 2 1",
                     help=tr("widgets.paste_help"))
        st.button(tr("widgets.paste_apply"), key=f"{key}_paste_apply", type="primary", on_click=_apply_paste,
                  args=(key, max_side))
        error = page_state.PASTE_ERROR.of(key).pop()
        if error:
            st.error(error, icon=":material/error:")
    return page_state.PASTED.of(key).pop()


def _apply_paste(key: str, max_side: int) -> None:
    try:
        rows = np.array(parse_rows(page_state.widget_value(f"{key}_paste_text")), dtype=np.float64)
    except ValueError as error:
        page_state.PASTE_ERROR.of(key).set(tr_error(error))
        return
    if max(rows.shape) > max_side:
        page_state.PASTE_ERROR.of(key).set(tr("widgets.paste_too_big", rows=rows.shape[0], cols=rows.shape[1],
                                               most=max_side))
        return
    page_state.PASTED.of(key).set(rows)
    page_state.set_widget(f"{key}_paste_box", False)  # closed: the numbers are in the grid


def kernel_sum_text(kernel: np.ndarray) -> str:
    """The weights' sum, with float noise shown as 0."""
    return total_text(float(kernel.sum()), scale=float(np.abs(kernel).max(initial=0.0)))
