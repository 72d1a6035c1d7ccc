"""Helpers for the real-browser tests (imported by test modules as `browser_kit`)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from scripts.serve_app import IDLE


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(400)  # let the rerun start before waiting for it to end
    page.wait_for_selector(IDLE, timeout=timeout)


def open_page(page, app_url: str, path: str = "") -> None:
    page.goto(f"{app_url}/{path}")
    page.wait_for_selector("[data-testid=stApp]")
    wait_idle(page)


def assert_no_exception(page) -> None:
    errors = page.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.first.inner_text()


def query(page) -> dict[str, str]:
    """The page URL's query parameters, one value each."""
    return {key: values[-1] for key, values in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def wait_for_query(page, key: str, value: str, timeout: float = 30_000) -> None:
    """Wait until the URL holds ``key=value`` (the page writes its state there at the end of each run)."""
    page.wait_for_function(
        "([k, v]) => new URLSearchParams(window.location.search).get(k) === v", arg=[key, value], timeout=timeout)


def set_number(page, key: str, value) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)


def choose(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} [role=combobox]").click()
    # A long menu draws only the options in view: type to filter it, as a student would, so the option is drawn.
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def sidebar_nav(page, title: str) -> None:
    """Switch page the way a student does: a click in the sidebar (the same session)."""
    page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).click()
    wait_idle(page)


def wait_for_value(page, key: str, value: str, timeout: float = 30_000) -> None:
    """Wait until the input of widget ``key`` shows ``value`` (a busy machine draws seeded widgets a moment late)."""
    page.wait_for_function("([k, v]) => { const e = document.querySelector(`.st-key-${k} input`); return e && e.value === v; }",
                           arg=[key, value], timeout=timeout)


_HOLDS_STILL = """([selector, frames]) => new Promise((done) => {
  let last = "", same = 0;
  const tick = () => {
    const box = document.querySelector(selector)?.getBoundingClientRect();
    const place = box ? [box.x, box.y, box.width, box.height].join() : "";
    same = place !== "" && place === last ? same + 1 : 0;
    last = place;
    if (same >= frames) done(true); else requestAnimationFrame(tick);
  };
  tick();
})"""


def type_in_grid(page, grid_selector: str, row: int, col: int, text: str, *, shows: str, cell_width: float = 58,
                 row_height: float = 35, header: float = 35) -> None:
    """Type ``text`` into a cell of a data grid and press Enter, until the main area ``shows`` the result.

    The grid is a canvas, so the cell is found by its geometry. A grid laid out again closes the editor a test has
    open and drops what was typed (pictures that load after the run move the page, a busy machine draws the cells
    late), so the grid must hold still first, and the whole edit is retried until the page shows it.
    """
    grid = page.locator(grid_selector).first
    editor = page.locator("textarea.gdg-input")
    for _ in range(5):
        wait_idle(page)
        grid.scroll_into_view_if_needed()  # the mouse clicks where the grid is on screen
        page.evaluate(_HOLDS_STILL, [grid_selector, 5])
        box = grid.bounding_box()
        page.mouse.click(box["x"] + col * cell_width + cell_width / 2, box["y"] + header + row * row_height + 17)
        page.keyboard.press(text[0])  # typing into a selected cell opens its editor with the key in it
        try:
            editor.wait_for(timeout=3000)
        except Exception:  # playwright's TimeoutError: the grid was not ready; select the cell again
            page.keyboard.press("Escape")
            continue
        page.keyboard.type(text[1:], delay=15)  # the next keys at once: a number column once kept only the last
        page.keyboard.press("Enter")
        try:
            wait_for_main_text(page, shows, timeout=10_000)
            return
        except Exception:  # the edit was lost to a late layout: type it again
            page.keyboard.press("Escape")
    wait_for_main_text(page, shows)  # fails, saying what never showed


def wait_for_main_text(page, text: str, timeout: float = 30_000) -> None:
    """Wait until the main area's text includes ``text``."""
    page.wait_for_function("t => document.querySelector('[data-testid=stMain]').innerText.includes(t)", arg=text,
                           timeout=timeout)

