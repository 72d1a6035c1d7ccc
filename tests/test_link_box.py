"""The Copy-link control (``cnnviz.ui.link_box`` via ``state.share_link``): what each page sends it."""
from __future__ import annotations

import json

from tests.apptest_kit import run_page


def link_boxes(app) -> dict[str, dict]:
    return {element.key: json.loads(element.proto.json) for element in app.get("bidi_component")
            if element.key.endswith("_box")}


def test_the_kernel_lab_link_reads_the_address_bar():
    # Its settings rerun only a fragment, which publishes each change to the address bar: the box is drawn once by
    # the page's own run and shows whatever the address bar says when it is opened.
    app = run_page("kernel_lab", query={"k": "sobel_x"})
    (box,) = link_boxes(app).values()
    assert box == {"url": None, "label": "Link to this view", "copy": "Copy",
                   "copied": "Copied. Paste it anywhere to share this view."}


def test_a_page_that_reruns_whole_sends_its_link():
    app = run_page("step_by_step", query={"at": "6", "lang": "zh"})
    (box,) = link_boxes(app).values()
    assert "at=6" in box["url"] and box["url"].endswith("lang=zh") and box["copy"] == "复制"
