"""cnnviz.ui.live_chart outside a page: it takes JSON text only. What the Train page sends is in
tests/test_train_page.py (AppTest), the data itself in tests/test_train_figures.py, and the drawing, redrawn in
place as a run goes on, in tests/browser/test_train_browser.py."""
import pytest

from cnnviz.ui.live_chart import live_chart


def test_a_dict_is_refused_naming_its_type():
    with pytest.raises(ValueError, match="got dict"):
        live_chart({"panels": []}, key="chart")
