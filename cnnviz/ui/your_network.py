"""Your network: open any model (a demo, or your own .pt2 / .onnx / checkpoint) and look inside it.

The page is three steps: ``controls`` (the model, the picture and how it is prepared, the view -> YourNetworkState),
``compute`` (cnnviz.pages.your_network, cached per model, picture and state) and ``draw`` (the graph beside its layer
table, the chosen layer's maps, a unit's field on the picture, and an attribution).
"""
from __future__ import annotations

from dataclasses import replace
from html import escape

import numpy as np
import streamlit as st

from cnnviz.analysis.clicks import unit_at_click
from cnnviz.analysis.layer_table import count_text, millions_text, shape_text
from cnnviz.conv.images import ImageError
from cnnviz.errors import UserError
from cnnviz.figures import network
from cnnviz.figures.maps import png_bytes
from cnnviz.graph.attribution import METHODS
from cnnviz.graph.open import Limits, ModelFileError, open_model
from cnnviz.graph.preprocess import NORMS, Preprocess
from cnnviz.pages.receptive_field import ReceptiveFieldState
from cnnviz.pages.your_network import (DEMOS, FORMATS, IMAGE_SOURCES, MAPS_PER_PAGE, TEST_DIGITS, UPLOAD,
                                       Explanation, Forward, NetworkFacts, YourNetworkResult, YourNetworkState,
                                       assemble, demo_labels, describe, digit_pixels, explain, forward, label_of,
                                       parse_labels, sample_pixels, shown_layer)
from cnnviz.conv.samples import sample_keys
from cnnviz.ui import state as page_state
from cnnviz.ui.clickable import clickable_picture, new_click
from cnnviz.ui.common import file_uploader, guarded, section, tr, tr_error, tr_option
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.page import Page, run_page
from cnnviz.ui.state import PageBinding
from cnnviz.ui.widgets import IMAGE_UPLOAD_MB, upload_digest, uploaded_pixels
from cnnviz.ui.your_model import demo_facts, graph_table, remember_upload

PAGE = "yours"
MODEL_UPLOAD = "yours_model_upload"
LABELS_UPLOAD = "yours_labels_upload"
PICTURE_UPLOAD = "yours_picture_upload"
GRID_CLICK = "yours_grid_click"  # the grid of maps: picks the channel shown large
UNIT_CLICK = "yours_unit_click"  # the large map: picks the unit whose field is drawn
TABLE_CLICK = "yours_table_click"  # the layer table: a row with maps picks the layer
MODEL_UPLOAD_MB = Limits().max_file_bytes >> 20  # the reader's own cap: a larger file is refused before it is read
PICTURE_SIDE = 1024  # px: an uploaded picture's longer side is brought down to this before preparing it
LABELS_KB = 1024  # a labels file: ImageNet's 1,000 names are 20 KB


# --- the model ---------------------------------------------------------------------------------------------

@shared_results(4)
def _uploaded_facts(digest: str, filename: str, _upload) -> NetworkFacts:
    """The upload's facts; for a model with an operator cnnviz cannot read, those of the part before it, with the
    refusal as ``partial`` (any other refusal is raised). The file's bytes are read only on a miss."""
    try:
        return describe(open_model(_upload.getvalue(), filename))
    except ModelFileError as error:
        if error.supported_part is None:
            raise
        return describe(error.supported_part, partial=error)


def _standin(labels: tuple[str, ...]) -> tuple[NetworkFacts, str, tuple[str, ...]]:
    """What the page shows while no usable model is uploaded: the residual demo (its facts, key and labels)."""
    return demo_facts("resnet", "pt2"), "demo:resnet:pt2", labels or demo_labels()


def _model(b: PageBinding, state: YourNetworkState) -> tuple[YourNetworkState, NetworkFacts, str, tuple[str, ...]]:
    """The model chosen or uploaded: (state, its facts, a key naming it, its class names)."""
    model = st.selectbox(tr("yours.model"), DEMOS + (UPLOAD,), key=b.seed("yours_model", state.model),
                         format_func=tr_option("yours.model."))
    state = replace(state, model=model)
    if model != UPLOAD:
        fmt = st.segmented_control(tr("yours.format"), FORMATS, required=True, key=b.seed("yours_fmt", state.fmt),
                                   format_func=tr_option("yours.format."))
        return replace(state, fmt=fmt), demo_facts(model, fmt), f"demo:{model}:{fmt}", demo_labels()
    upload = file_uploader(tr("yours.upload"), key=MODEL_UPLOAD, max_mb=MODEL_UPLOAD_MB,
                           type=["pt2", "onnx", "pt", "pth"], help=tr("yours.upload_help"))
    labels_file = file_uploader(tr("yours.labels"), key=LABELS_UPLOAD, max_mb=1, type=["txt"])
    labels: tuple[str, ...] = ()
    if labels_file is not None:
        try:
            labels = parse_labels(labels_file.getvalue()[:LABELS_KB << 10])
        except UserError as error:
            st.error(tr_error(error), icon=":material/error:")
    if upload is not None:
        digest = upload_digest(upload)
        try:
            facts = _uploaded_facts(digest, upload.name, upload)
        except UserError as error:
            st.error(tr_error(error), icon=":material/block:")
        else:
            if facts.partial is not None:
                st.warning(tr("yours.partial", reason=tr_error(facts.partial)), icon=":material/warning:")
            remember_upload(f"upload:{digest}", facts)
            return state, facts, f"upload:{digest}", labels
    st.info(tr("yours.waiting_upload"), icon=":material/upload_file:")
    return (state, *_standin(labels))


# --- the picture -------------------------------------------------------------------------------------------

def _picture(b: PageBinding, state: YourNetworkState, facts: NetworkFacts
             ) -> tuple[YourNetworkState, np.ndarray, str]:
    """The picture chosen: (state, pixels in [0, 1], a key naming it)."""
    source = st.segmented_control(tr("yours.picture"), IMAGE_SOURCES, required=True,
                                  key=b.seed("yours_source", state.source), format_func=tr_option("yours.picture."))
    state = replace(state, source=source)
    if source == "digit":
        digit = int(st.number_input(tr("yours.digit"), 0, TEST_DIGITS - 1, key=b.seed("yours_digit", state.digit)))
        return replace(state, digit=digit), digit_pixels(digit), f"digit:{digit}"
    if source == "sample":
        sample = st.selectbox(tr("widgets.sample"), sample_keys(), key=b.seed("yours_sample", state.sample),
                              format_func=tr_option("samples."))
        return replace(state, sample=sample), sample_pixels(sample, facts.view.input_shape), f"sample:{sample}"
    upload = file_uploader(tr("yours.picture_upload"), key=PICTURE_UPLOAD, max_mb=IMAGE_UPLOAD_MB, type=None)
    if upload is not None:
        try:
            pixels, note, name = uploaded_pixels(upload, PICTURE_SIDE)
        except ImageError as error:
            st.error(tr_error(error), icon=":material/broken_image:")
        else:
            if note:
                st.caption(note)
            return state, pixels, f"picture:{name}"
    st.info(tr("yours.waiting_picture"), icon=":material/image:")
    return state, digit_pixels(0), "digit:0"


def _preparation(b: PageBinding, state: YourNetworkState) -> YourNetworkState:
    with st.expander(tr("yours.prepare"), icon=":material/crop:"):
        crop = st.toggle(tr("yours.crop"), key=b.seed("yours_crop", state.crop), help=tr("yours.crop_help"))
        resize = int(st.number_input(tr("yours.resize"), 0, 4096, key=b.seed("yours_resize", state.resize)))
        norm = st.selectbox(tr("yours.norm"), tuple(NORMS), key=b.seed("yours_norm", state.norm),
                            format_func=tr_option("yours.norm."))
        invert = st.toggle(tr("yours.invert"), key=b.seed("yours_invert", state.invert))
    return replace(state, crop=crop, resize=resize, norm=norm, invert=invert)


# --- the view ----------------------------------------------------------------------------------------------

def _grid_layout(result: YourNetworkResult) -> network.GridLayout:
    return network.grid_layout(result.maps.shape[1:], result.channels)


def _clicks(state: YourNetworkState, shown: YourNetworkResult | None) -> YourNetworkState:
    """A click on the grid (the channel shown large) or the large map (the unit), decoded against the pictures the
    last run drew (``shown``)."""
    grid, unit, table = new_click(GRID_CLICK), new_click(UNIT_CLICK), new_click(TABLE_CLICK)
    if table is not None and isinstance(table.get("layer"), str):
        page_state.set_widget("yours_layer", table["layer"])  # the layer menu follows; _view checks the name
    if shown is None or shown.maps is None:
        return state
    if grid is not None:
        channel = _grid_layout(shown).channel_at(grid.get("x", -1), grid.get("y", -1), grid.get("width", 0),
                                                 grid.get("height", 0))
        if channel is not None:
            state = replace(state, channel=channel, unit=None if channel != shown.state.channel else state.unit)
    if unit is not None:
        try:
            state = replace(state, unit=unit_at_click(unit, shown.maps.shape[1:]))
        except ValueError:
            pass  # a click this page did not send
    return state


def _view(b: PageBinding, state: YourNetworkState, facts: NetworkFacts, labels: tuple[str, ...],
          classes: int) -> YourNetworkState:
    """Which layer's maps; which attribution, for which class."""
    if facts.map_rows:
        default = facts.cam_rows[0][0] if facts.cam_rows else facts.map_rows[0]
        if page_state.widget_value("yours_layer", default) not in facts.map_rows:  # a layer of the model before
            page_state.set_widget("yours_layer", state.layer if state.layer in facts.map_rows else default)
        layer = st.selectbox(tr("yours.layer"), facts.map_rows,
                             key=b.seed("yours_layer", state.layer if state.layer in facts.map_rows else default))
        if layer != (state.layer or default):  # another layer: its own first channel, page and no unit yet
            state = replace(state, channel=0, page=0, unit=None)
        state = replace(state, layer=layer)
    method = st.segmented_control(tr("yours.method"), METHODS, required=True, key=b.seed("yours_method", state.method),
                                  format_func=tr_option("yours.method."))
    target = st.selectbox(tr("yours.target"), [-1, *range(classes)],
                          key=b.seed("yours_target", state.target if state.target < classes else -1),
                          format_func=lambda t: (tr("yours.target.predicted") if t < 0
                                                 else f"{t}: {label_of(labels, t)}"))
    cam_layer = state.cam_layer
    if method == "grad_cam" and facts.cam_rows:
        names = ["", *(name for name, _ in facts.cam_rows)]
        cam_layer = st.selectbox(tr("yours.cam_layer"), names,
                                 key=b.seed("yours_cam", cam_layer if cam_layer in names else ""),
                                 format_func=lambda n: n or tr("yours.cam_layer.last"))
    return replace(state, method=method, target=target, cam_layer=cam_layer)


# --- drawing -----------------------------------------------------------------------------------------------

def _summary(facts: NetworkFacts, result: YourNetworkResult, labels: tuple[str, ...]) -> None:
    view = facts.view
    st.markdown(tr("yours.opened", name=escape(view.name), source=tr(f"yours.source.{view.source}"),
                   shape=shape_text(view.input_shape), params=count_text(facts.table.total_params),
                   macs=millions_text(facts.table.total_macs)))
    p = result.probabilities
    if not len(p):  # a partial graph: no prediction
        return
    st.markdown(tr("yours.says", label=escape(label_of(labels, result.predicted)), p=f"{p[result.predicted]:.1%}"))
    top = np.argsort(-p)[:5]
    st.caption(tr("yours.top", classes=" · ".join(f"{escape(label_of(labels, int(i)))} {p[i]:.1%}" for i in top)))


def _on_page() -> None:
    chosen = page_state.widget_value("yours_page")
    if chosen is not None:  # a second click on the shown page unselects it: it stays shown
        page_state.replace_view(PAGE, lambda s: replace(s, page=chosen, channel=chosen * MAPS_PER_PAGE, unit=None))


def _maps(result: YourNetworkResult) -> None:
    state, maps, row = result.state, result.maps, result.row
    st.markdown(f"**{tr('yours.maps', layer=escape(row.name))}**")
    peaks = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    signed = bool(maps.min() < 0)
    grid, large = st.columns(2)
    with grid:
        clickable_picture(GRID_CLICK, png_bytes(network.maps_grid(maps, _grid_layout(result), peaks, signed,
                                                                  state.channel)),
                          alt=tr("yours.maps", layer=row.name))
        first, last = result.channels.start, result.channels.stop - 1
        if result.pages > 1:
            st.segmented_control(tr("yours.page"), range(result.pages), key="yours_page", default=state.page,
                                 format_func=lambda p: str(p + 1), on_change=_on_page)
        scale = "signed" if signed else "gray"  # after a ReLU nothing is negative: black to white, as the inspector
        st.caption(tr("yours.maps_page", first=first, last=last, count=len(maps)) + " · "
                   + tr(f"yours.grid_help.{scale}"))
    with large:
        clickable_picture(UNIT_CLICK, png_bytes(network.enlarged_map(maps[state.channel],
                                                                     float(peaks[state.channel]), signed,
                                                                     state.unit)),
                          alt=tr("yours.large", channel=state.channel), cursor="crosshair")
        st.caption(tr("yours.large", channel=state.channel) + " · " + tr("yours.unit_help"))


def _field(result: YourNetworkResult) -> None:
    state, row = result.state, result.row
    st.markdown(f"**{tr('yours.input')}**")
    st.image(png_bytes(network.digit_picture(result.shown, result.box)), width="stretch")
    if row is None:
        return
    if row.rf_size is None and not row.varies:
        reason = row.note.render(page_state.current_language()) if row.note is not None else ""
        st.caption(tr("yours.field_unknown", reason=escape(reason)))
    elif result.box is None and state.unit is not None:  # a unit in a transposed convolution's hole
        st.caption(tr("yours.field_none", row=state.unit[0], col=state.unit[1], layer=escape(row.name)))
    elif result.box is None:
        st.caption(tr("yours.no_unit"))
    else:
        box = result.box
        st.caption(tr("yours.field", row=state.unit[0], col=state.unit[1], layer=escape(row.name),
                      rows=box.bottom - box.top, cols=box.right - box.left, top=box.top, left=box.left))
        height, width = result.shown.shape[:2]
        if box.top < 0 or box.left < 0 or box.bottom > height or box.right > width:
            st.caption(tr("yours.field_padding"))


def _attribution(result: YourNetworkResult, labels: tuple[str, ...]) -> None:
    attribution = result.attribution
    if attribution is None:
        st.info(tr(result.attribution_note), icon=":material/info:")
        return
    st.image(png_bytes(network.attribution_picture(result.shown, attribution.normalised())), width="stretch")
    st.markdown(tr("yours.attribution_title", method=tr(f"yours.method.{attribution.method}"),
                   label=escape(label_of(labels, attribution.target))))
    st.caption(tr(f"yours.method_why.{attribution.method}"))


# Apart, so that a click on a unit, a channel or a page redoes neither the forward pass nor the attribution, and a
# change of attribution does not redo the forward pass.
@shared_results(16)
def _forward(model_key: str, picture_key: str, preprocess: Preprocess, layer: str, _facts: NetworkFacts,
             _pixels: np.ndarray) -> Forward:
    return forward(_facts, _pixels, preprocess, layer)


@shared_results(16)
def _explained(model_key: str, picture_key: str, preprocess: Preprocess, method: str, target: int, cam_layer: str,
               _facts: NetworkFacts, _looked: Forward) -> Explanation:
    return explain(_facts, _looked, preprocess, method, target, cam_layer)


def _computed(model_key: str, picture_key: str, state: YourNetworkState, facts: NetworkFacts,
              pixels: np.ndarray) -> YourNetworkResult:
    looked = _forward(model_key, picture_key, state.preprocess, shown_layer(facts, state.layer), facts, pixels)
    why = _explained(model_key, picture_key, state.preprocess, state.method, state.target, state.cam_layer, facts,
                     looked)
    return assemble(facts, looked, why, state)


def _fields_link(model_key: str, result: YourNetworkResult) -> None:
    """A link to the Receptive fields page set to the model shown (the demo that stands in for a missing upload),
    and to its layer and unit when that layer has a field."""
    state = result.state
    network, fmt = (UPLOAD, state.fmt) if model_key.startswith("upload:") else tuple(model_key.split(":")[1:])
    there = ReceptiveFieldState().with_model(network, fmt)
    if result.row is not None and result.row.rf_size is not None:
        there = replace(there, node=result.row.name, unit=state.unit)
    page_state.open_page_link("cnnviz/ui/receptive_field.py", "receptive-field", there, tr("yours.open_rf"),
                              icon=":material/center_focus_strong:")


def _share(state: YourNetworkState) -> None:
    with st.sidebar:
        upload = UPLOAD in (state.model, state.source)
        page_state.share_link(state, note=tr("yours.upload_link_note") if upload else "")


def steps(b: PageBinding[YourNetworkState]) -> YourNetworkState:
    # The settings live in the sidebar, as on every page: on a phone it folds away and the network shows first.
    with section("model", st.sidebar):
        state, facts, model_key, labels = _model(b, b.state)
        state, pixels, picture_key = _picture(b, state, facts)
        state = _preparation(b, state)
        state = _clicks(state, page_state.YOURS_SHOWN.get())
        state = _view(b, state, facts, labels, facts.classes)
    try:
        result = _computed(model_key, picture_key, state, facts, pixels)
    except UserError as error:
        st.error(tr_error(error), icon=":material/error:")
        _share(state)
        return state
    page_state.YOURS_SHOWN.set(result)
    _summary(facts, result, labels)
    with section("summary"):
        st.markdown(f"**{tr('yours.table')}**")
        graph_table(TABLE_CLICK, facts.table, facts.map_rows, result.row.name if result.row is not None else "")
        st.caption(tr("yours.table_help"))
        _fields_link(model_key, result)
    if result.maps is None:
        st.info(tr("yours.no_maps"), icon=":material/info:")
    else:
        _maps(result)
    picture, why = st.columns(2)
    with picture:
        _field(result)
    with why:
        st.markdown(f"**{tr('yours.why')}**")
        _attribution(result, labels)
    _share(result.state)
    return result.state


guarded(run_page, Page(PAGE, YourNetworkState, "yours.title", "yours.intro", sections=("model", "summary")), steps)
