"""The picture grid: what the browser is sent, where the pictures are served from, and clear errors."""
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit import config
from streamlit.testing.v1 import AppTest

from cnnviz.ui.pictures import Picture, picture_grid


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 6), value, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def grid_page(dark: int, light: int, legend: bool) -> None:
    import streamlit as st

    from cnnviz.ui.pictures import Picture, picture_grid
    from tests.test_pictures import png

    pictures = [Picture("a", "Input", png(dark), shape="4 × 6", caption="Gray"),
                Picture("b", "Output", png(light), caption="Signed", alt="the output")]
    picture_grid("grid", pictures, columns=2, min_cell=150, heading="Maps", text="What they show",
                 legend=Picture("legend", "Legend", png(7), caption="−1 … +1") if legend else None)
    st.markdown("after the grid")


def sent(app: AppTest) -> dict:
    (grid,) = app.get("bidi_component")
    return json.loads(grid.proto.json)


def run_grid(dark: int, light: int, legend: bool = False) -> AppTest:
    app = AppTest.from_function(grid_page, args=(dark, light, legend))
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_browser_gets_every_word_and_an_address_per_picture():
    data = sent(run_grid(10, 200, legend=True))
    assert (data["columns"], data["min_cell"], data["heading"], data["text"]) == (2, 150, "Maps", "What they show")
    first, second = data["pictures"]
    assert {k: first[k] for k in ("slot", "title", "shape", "caption", "alt")} == {
        "slot": "a", "title": "Input", "shape": "4 × 6", "caption": "Gray", "alt": ""}
    assert (second["slot"], second["title"], second["shape"], second["alt"]) == ("b", "Output", "", "the output")
    assert all(p["src"].endswith(".png") and "/media/" in p["src"] for p in (first, second, data["legend"]))
    assert first["src"] != second["src"] and "image" not in first  # addresses travel, bytes do not
    assert data["legend"]["caption"] == "−1 … +1"


def test_equal_pictures_share_an_address_so_the_browser_keeps_them():
    data = sent(run_grid(10, 10))
    assert data["pictures"][0]["src"] == data["pictures"][1]["src"]
    assert sent(run_grid(10, 99))["pictures"][0]["src"] == data["pictures"][0]["src"]  # the same bytes, run again
    assert sent(run_grid(10, 10))["legend"] is None


def test_a_base_path_goes_before_the_address(monkeypatch):
    real = config.get_option
    monkeypatch.setattr(config, "get_option",
                        lambda name: "/cnnviz/" if name == "server.baseUrlPath" else real(name))
    src = sent(run_grid(10, 200))["pictures"][0]["src"]
    assert src.startswith("/cnnviz/") and "/media/" in src


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": 0}, "columns must be a positive int, got columns=0"),
    ({"columns": True}, "columns must be a positive int, got columns=True"),
    ({"columns": 2, "min_cell": -5}, "min_cell must be a positive int, got min_cell=-5"),
])
def test_sizes_must_be_positive_ints(kwargs, message):
    with pytest.raises(ValueError, match=message):
        picture_grid("grid", [], **kwargs)


def test_two_pictures_cannot_share_a_slot():
    twins = [Picture("a", "One", png(1)), Picture("a", "Two", png(2))]
    with pytest.raises(ValueError, match=r"each picture needs its own slot, got \['a', 'a'\]"):
        picture_grid("grid", twins, columns=2)
