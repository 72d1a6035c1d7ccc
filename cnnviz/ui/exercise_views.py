"""What an exercise shows besides its words: the grids of a convolution or pooling problem, and a which-kernel
problem's image, feature map and numbered kernels. Drawn by the Exercises page and, for a pushed exercise, by the
class's banner, the lecturer's screen and the projector; ``key`` keeps each drawing's containers apart, since a
banner can sit on the Exercises page itself.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz.exercises import make
from cnnviz.figures.maps import png_bytes
from cnnviz.pages.exercises import kernel_pictures
from cnnviz.ui.common import tr
from cnnviz.ui.housekeeping import shared_results


def grid_table(rows: list[list], window: tuple[tuple[int, ...], tuple[int, ...]] | None = None) -> str:
    """A grid as a Markdown table with its row and column numbers (the questions count from 0), the cells of
    ``window`` (the one a wrong answer is about) highlighted."""
    marked = {(r, c) for r in window[0] for c in window[1]} if window else set()
    header = "| | " + " | ".join(f"**{c}**" for c in range(len(rows[0]))) + " |"
    lines = [header, "|" + "---|" * (len(rows[0]) + 1)]
    for r, row in enumerate(rows):
        cells = [f":orange-badge[**{value}**]" if (r, c) in marked else str(value) for c, value in enumerate(row)]
        lines.append(f"| **{r}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grids(params: dict, window=None, *, key: str = "ex") -> None:
    """The grids a convolution or pooling problem gives; after a wrong answer, the window it is about marked."""
    columns = st.columns(2 if isinstance(params.get("kernel"), list) else 1)
    with columns[0].container(key=f"{key}_input"):
        st.markdown(f"**{tr('ex.input')}**")
        st.markdown(grid_table(params["input"], window))
        if window:
            st.caption(tr("ex.window_marked"))
    if len(columns) == 2:
        with columns[1].container(key=f"{key}_kernel"):
            st.markdown(f"**{tr('ex.kernel_grid')}**")
            st.markdown(grid_table(params["kernel"]))


def kernel_choices(params: dict, pictures: tuple[np.ndarray | bytes, np.ndarray | bytes], *, key: str = "ex",
                   width: int = 240) -> None:
    """A which-kernel problem: the image, the map to recognise, and the numbered choices."""
    image, feature_map = pictures
    with st.container(horizontal=True):
        st.image(image, caption=tr(f"samples.{params['sample']}"), width=width)
        st.image(feature_map, caption=tr("ex.feature_map"), width=width)
    with st.container(key=f"{key}_choices"):
        st.markdown(f"**{tr('ex.kernel_choices')}**")
        st.markdown("\n".join(f"{number}. {tr(f'kernels.{name}.name')}"
                              for number, name in enumerate(params["options"], start=1)))


@shared_results(32, copies=True)
def pictures_png(kind: str, seed: int, level: int) -> tuple[bytes, bytes]:
    """A which-kernel problem's two pictures as PNG bytes, made once per problem: a class's banners poll every few
    seconds, and the same bytes keep the same address, so a phone never loads them twice."""
    return tuple(png_bytes(pixels) for pixels in kernel_pictures(make(kind, seed, level)))
