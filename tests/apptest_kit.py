"""Shared by the AppTest suites: open one page script the way a fresh browser session would."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

UI = Path(__file__).resolve().parents[1] / "cnnviz" / "ui"


def run_page(module: str, *, timeout: float = 120) -> AppTest:
    """Run ``cnnviz/ui/<module>.py`` once and check it rendered without an exception."""
    app = AppTest.from_file(str(UI / f"{module}.py"), default_timeout=timeout)
    app.run()
    assert not app.exception, app.exception
    return app
