"""Shared by the AppTest suites: open one page script the way a fresh browser session would, read its state."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

UI = Path(__file__).resolve().parents[1] / "cnnviz" / "ui"


def run_page(module: str, *, timeout: float = 120, query: dict[str, str] | None = None) -> AppTest:
    """Run ``cnnviz/ui/<module>.py`` once (opened with ``query`` in its URL) and check it rendered cleanly."""
    app = AppTest.from_file(str(UI / f"{module}.py"), default_timeout=timeout)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def page_state(app: AppTest, page: str):
    """The state the page published on its last run."""
    return app.session_state[f"_page_state_{page}"]


def edit_grid(app: AppTest, key: str, edits: dict[int, dict[int, str]]) -> AppTest:
    """Type into a grid made by ``widgets.matrix_editor``: {row: {col: text}}, 0-based, as a user would."""
    rows = {r: {str(c + 1): text for c, text in cells.items()} for r, cells in edits.items()}
    app.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return app.run()


def grid_key(app: AppTest, page_prefix: str, grid: str, suffix: str = "") -> str:
    """The current widget key of a page's grid (its version moves whenever the page loads new numbers)."""
    return f"{page_prefix}_{grid}_{app.session_state[f'{page_prefix}_grid_version']}{suffix}"


def redraw(app: AppTest) -> AppTest:
    """The whole page again, after a setting that reran only one fragment (the Kernel Lab's outputs).

    After such a rerun AppTest's tree holds the fragment's elements alone, while a browser keeps the rest of the page
    as it was; a full run of the same session draws every element again."""
    return app.run()


def undeclared_transients(app: AppTest) -> set[str]:
    """Transient keys in the session that cnnviz.ui.state does not declare (a result parked for the next run)."""
    from cnnviz.ui import state

    declared = {value.key for value in vars(state).values() if isinstance(value, state.Transient)}
    suffixes = tuple(f"_{value.suffix}" for value in vars(state).values() if isinstance(value, state.TransientFamily))
    present = {key.removeprefix("_transient_") for key in app.session_state
               if key.startswith("_transient_")}
    return {key for key in present if key not in declared and not key.endswith(suffixes)}
