"""The Kernel Lab's upsampling stage: its controls, its four pictures and why kernel 3 makes a checkerboard.

The computation is ``cnnviz.conv.upsample``; the Kernel Lab calls ``stage`` once per full run, between the RGB
partial maps and the filter bank. It depends on the image and its own settings only, so the outputs' fragment (a
geometry or bias change) never redraws it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from cnnviz import torch_threads
from cnnviz.conv import upsample
from cnnviz.figures import maps
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.ui.common import tr, tr_option
from cnnviz.ui.housekeeping import shared_results
from cnnviz.ui.pictures import Picture, picture_grid
from cnnviz.ui.state import PageBinding

OVERLAPS_SHOWN = 8  # overlap counts written out: enough to see the 1, 2, 1, 2 repeat


@shared_results(4)
def _stage(image_key: str, colour: str, cfg: upsample.UpsampleConfig,
           _image: np.ndarray) -> tuple[upsample.Upsampled, tuple[bytes, ...]]:
    """The stage and its pictures, keyed by the image's name and the stage's settings: two 512-px RGB maps and their
    PNGs are ~7 MB, so few are kept."""
    result = torch_threads.run(upsample.upsample, _image, colour, cfg)
    # One fixed scale for all four, the photo's 0-255: a stretched scale would make the resize's faint noise look
    # like a pattern of its own.
    maps_shown = (result.transposed, result.resized, result.crop(result.transposed), result.crop(result.resized))
    return result, tuple(maps.map_png(values, "clip") for values in maps_shown)


def stage(b: PageBinding, state: KernelLabState, image: np.ndarray, image_key: str) -> KernelLabState:
    """The stage's section: a toggle and, when on, its settings, pictures and explanation. Returns ``state`` with the
    stage's settings as the widgets show them."""
    # Off, the stage is one element, the toggle: every element costs each change of the page (the Kernel Lab's
    # budget in tests/test_kernel_lab_page.py).
    if not st.toggle(f"**{tr('up.title')}**", key=b.seed("kl_up", state.upsample), help=tr("up.toggle_help")):
        return replace(state, upsample=False)
    with st.container(key="kl_upsample"):
        with st.container(horizontal=True):
            size = st.segmented_control(tr("up.kernel_size"), upsample.KERNEL_SIZES, required=True,
                                        key=b.seed("kl_up_kernel", state.up_kernel))
            weights = st.segmented_control(tr("up.weights"), upsample.WEIGHTS, required=True,
                                           key=b.seed("kl_up_weights", state.up_weights),
                                           format_func=tr_option("up.weights."))
            resize = st.segmented_control(tr("up.resize"), upsample.RESIZES, required=True,
                                          key=b.seed("kl_up_resize", state.up_resize),
                                          format_func=tr_option("up.resize."))
        state = replace(state, upsample=True, up_kernel=int(size), up_weights=weights, up_resize=resize)
        result, pictures = _stage(image_key, state.colour, state.upsample_config, image)
        _draw(result, pictures, state)
    return state


def _draw(result: upsample.Upsampled, pictures: tuple[bytes, ...], state: KernelLabState) -> None:
    k, resize = state.up_kernel, tr(f"up.resize.{state.up_resize}")
    st.markdown(tr("up.intro", side=upsample.MAX_INPUT_SIDE, k=k, formula=result.rows.text, resize=resize))
    crop = result.crop(result.transposed)
    top, left = (2 * corner for corner in result.window)
    where = tr("up.crop_caption", r0=top, r1=top + crop.shape[0] - 1, c0=left, c1=left + crop.shape[1] - 1,
               f=int(maps.display_factor(crop.shape)))
    ratio = f"{result.ratio:.2f}"
    shape = " × ".join(map(str, result.transposed.shape))
    cells = [Picture("transposed", tr("up.pic.transposed", k=k), pictures[0], shape=shape),
             Picture("resized", tr("up.pic.resized", resize=resize), pictures[1], shape=shape),
             Picture("crop_transposed", tr("up.pic.crop_transposed"), pictures[2], caption=where),
             Picture("crop_resized", tr("up.pic.crop_resized"), pictures[3], caption=where)]
    picture_grid("kl_upsample_pictures", cells, columns=2, min_cell=160)
    counts = ", ".join(map(str, result.rows.overlaps()[2:2 + OVERLAPS_SHOWN]))
    gains = " · ".join(f"{gain:.2f}" for gain in result.gains.ravel())
    st.markdown(f"**{tr('up.why')}**\n\n" + tr("up.overlaps", counts=counts) + "\n\n"
                + tr("up.uneven" if k % 2 else "up.even", gains=gains, ratio=ratio) + "\n\n" + tr("up.resize_why"))
    st.caption(tr("up.kernel_shown", k=k))
    st.code("\n".join("  ".join(f"{weight:.3f}" for weight in row) for row in result.kernel), language=None)
