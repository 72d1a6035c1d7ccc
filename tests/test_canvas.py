"""cnnviz.ui.canvas outside a page: its arguments are checked before anything is mounted. What it sends and how
the page reads it are in tests/test_inspector_page.py (AppTest) and tests/browser/test_inspector_browser.py."""
import pytest

from cnnviz.ui.canvas import drawing_canvas


@pytest.mark.parametrize("side, stroke, needle", [
    (0, 18, "side=0"), (224.0, 18, "side=224.0"), (224, True, "stroke=True"), (224, -1, "stroke=-1"),
    (16, 18, "stroke=18 for side=16"),
])
def test_bad_sizes_raise_naming_the_value(side, stroke, needle):
    with pytest.raises(ValueError, match=needle):
        drawing_canvas("canvas", side=side, stroke=stroke)
