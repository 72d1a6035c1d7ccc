"""The app entry: navigation reaches every page and nothing raises."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["cnnviz/ui/kernel_lab.py", "cnnviz/ui/step_by_step.py", "cnnviz/ui/train.py", "cnnviz/ui/inspector.py"]


def test_default_page_runs():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_through_navigation(page):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception
    assert at.title or at.header or at.markdown
