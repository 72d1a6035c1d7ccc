"""Kernel Lab in Chromium: upload, a bad upload, a preset, stride in the shapes and the URL, links, page switches."""
import time
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from cnnviz.urlstate import encode_matrix
from scripts.serve_app import IDLE

from browser_kit import (assert_no_exception, choose, open_page, query, set_number, sidebar_nav, type_in_grid,
                         wait_for_query, wait_for_value, wait_idle)


def shapes_text(page) -> str:
    return page.locator(".st-key-kl_shapes").inner_text()


def test_kernel_lab_end_to_end(page, app_url, tmp_path):
    open_page(page, app_url, "")
    assert_no_exception(page)
    assert "512 × 512" in shapes_text(page)

    choose(page, "kl_preset", "Sobel x")
    assert "Right minus left" in page.locator("[data-testid=stMain]").inner_text()

    set_number(page, "kl_stride_h", 2)
    set_number(page, "kl_stride_w", 2)
    text = shapes_text(page)
    assert "Convolution: 256 × 256" in text and "/ 2⌋ + 1 = 256" in text
    wait_for_query(page, "s", "2,2")
    assert query(page)["k"] == "sobel_x"

    photo = tmp_path / "photo.png"
    pixels = (np.indices((120, 160)).sum(axis=0) % 32 * 8).astype(np.uint8)
    Image.fromarray(pixels).save(photo)
    page.locator("[data-testid=stSidebar] label").filter(has_text="Upload").click()
    wait_idle(page)
    page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(photo))
    page.wait_for_function("document.querySelector('.st-key-kl_shapes') && "
                           "document.querySelector('.st-key-kl_shapes').innerText.includes('120 × 160')")
    wait_idle(page)
    assert "Convolution: 60 × 80" in shapes_text(page)

    # RGB: one 3-D filter, its three partial maps and their sum; details: histograms and downloads.
    page.locator(".st-key-kl_colour button").filter(has_text="RGB").click()
    wait_idle(page)
    page.locator(".st-key-kl_details label").click()
    wait_idle(page)
    page.locator("[data-testid=stPlotlyChart]").first.wait_for()
    assert "One 3-D filter" in page.locator("[data-testid=stMain]").inner_text()
    assert page.locator("[data-testid=stDownloadButton]").count() == 10  # input, convolution, 3 partials: PNG + .npy
    assert_no_exception(page)

    junk = tmp_path / "notes.txt"
    junk.write_text("this is not an image")
    page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(junk))
    error = page.locator("[data-testid=stAlertContentError]")
    error.first.wait_for()
    assert "not an image" in error.first.inner_text()
    assert_no_exception(page)


def test_a_link_opens_the_same_view_in_a_fresh_browser(page, app_url):
    # `page` is a new browser context: no session, no cookies; only the URL carries the view.
    open_page(page, app_url, "?img=mnist_digit&k=sobel_y&s=2,1&p=valid&a=relu&pool=max&b=-5")
    assert_no_exception(page)
    text = shapes_text(page)
    assert "Convolution: 13 × 26" in text and "Pooling: 6 × 13" in text
    wait_for_value(page, "kl_stride_h", "2")
    wait_for_value(page, "kl_bias", "-5.00")
    assert "Bottom minus top" in page.locator("[data-testid=stMain]").inner_text()
    set_number(page, "kl_dilation_w", 2)
    wait_for_query(page, "d", "1,2")
    assert query(page)["k"] == "sobel_y" and query(page)["s"] == "2,1"
    assert "Convolution: 13 × 24" in shapes_text(page)


def test_settings_survive_a_page_switch(page, app_url):
    open_page(page, app_url, "")
    set_number(page, "kl_stride_h", 3)
    wait_for_query(page, "s", "3,1")
    sidebar_nav(page, "Step by step")
    assert "s" not in query(page) or query(page)["s"] != "3,1"  # the Step page writes its own settings
    sidebar_nav(page, "Kernel Lab")
    wait_for_query(page, "s", "3,1")
    wait_for_value(page, "kl_stride_h", "3")
    assert "Convolution: 171 × 512" in shapes_text(page)
    assert_no_exception(page)


KERNEL_GRID = ".st-key-section_kernel [data-testid=stDataFrame]"


def test_typing_ten_quickly_into_a_kernel_cell_keeps_ten(page, app_url):
    open_page(page, app_url, "")
    # The 1 and the 0 are typed at once: a number column once kept only the "0" (the sum would be 1).
    type_in_grid(page, KERNEL_GRID, 0, 0, "10", shows="Sum of weights: 11")
    wait_idle(page)
    assert "kv" in query(page)  # the edited kernel is in the link


def test_one_typed_weight_leaves_the_other_ninths_as_fractions(page, app_url):
    open_page(page, app_url, "?k=box3")
    type_in_grid(page, KERNEL_GRID, 0, 0, "5", shows="Sum of weights: 53/9")
    page.wait_for_function("location.search.includes('kv=')")
    wait_idle(page)
    grid = page.locator(KERNEL_GRID).first
    assert grid.locator("td").all_inner_texts() == ["5"] + ["1/9"] * 8  # once every 1/9 turned into 0.1111
    page.reload()  # the link alone: its weights are float32
    wait_idle(page)
    grid.locator("td").first.wait_for(state="attached")
    assert grid.locator("td").all_inner_texts() == ["5"] + ["1/9"] * 8


def test_a_word_typed_in_a_cell_goes_and_its_warning_with_the_next_edit(page, app_url):
    open_page(page, app_url, "?k=box3")
    type_in_grid(page, KERNEL_GRID, 0, 0, "abc", shows="'abc' is not a number")
    warning = page.locator(".st-key-section_kernel [data-testid=stAlertContentWarning]")
    assert "Row 1, column 1: 'abc' is not a number" in warning.inner_text()
    wait_idle(page)
    grid = page.locator(KERNEL_GRID).first
    assert grid.locator("td").all_inner_texts() == ["1/9"] * 9  # once "abc" stayed on screen
    type_in_grid(page, KERNEL_GRID, 1, 1, "2", shows="Sum of weights: 26/9")
    wait_idle(page)
    assert warning.count() == 0  # once it came back with every later edit


def test_a_15_by_15_kernel_is_editable_without_scrolling_on_a_projector(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, "?k=box3")
    set_number(page, "kl_rows", 15)
    set_number(page, "kl_cols", 15)
    grid = page.locator(".st-key-section_kernel [data-testid=stDataFrame]").first
    grid.wait_for()
    scroller = grid.locator(".dvn-scroller").first
    assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # every column on screen at once
    main = page.locator("[data-testid=stMainBlockContainer]").bounding_box()
    assert grid.bounding_box()["x"] + grid.bounding_box()["width"] <= main["x"] + main["width"] + 1


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def wait_until_settled(page, in_flight: set, timeout: float = 60) -> None:
    """Wait, with a deadline, until the page has finished: its script run is over, no request is in flight, and every
    picture and font has loaded, on two checks in a row (one quiet moment may fall between two fetches)."""
    settled = "() => [...document.images].every(image => image.complete) && document.fonts.status === 'loaded'"
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 2:
        assert time.monotonic() < deadline, f"the page never settled: {sorted(r.url for r in in_flight)[:5]}"
        page.wait_for_timeout(250)  # a poll: playwright delivers the request events while it waits
        idle = page.locator(IDLE).count() == 1 and not in_flight and page.evaluate(settled)
        quiet = quiet + 1 if idle else 0


def test_the_app_fetches_nothing_from_outside(page, app_url):
    # The app must work offline (the favicon once came from a font CDN): every request from the first page's start,
    # through a student's clicks, until each page has settled, stays on this machine.
    requested, in_flight = [], set()
    context = page.context
    context.on("request", lambda request: (requested.append(request.url), in_flight.add(request)))
    context.on("requestfinished", lambda request: in_flight.discard(request))
    context.on("requestfailed", lambda request: in_flight.discard(request))
    page.on("websocket", lambda socket: requested.append(socket.url))

    open_page(page, app_url, "")
    wait_until_settled(page, in_flight)
    choose(page, "kl_preset", "Sobel x")
    set_number(page, "kl_stride_h", 2)
    wait_until_settled(page, in_flight)
    sidebar_nav(page, "Step by step")
    page.locator(".st-key-step_next button").click()
    wait_until_settled(page, in_flight)
    open_page(page, app_url, "train")
    wait_until_settled(page, in_flight)

    assert any(url.startswith(app_url) for url in requested)  # the recording saw the app's own requests
    outside = [url for url in requested
               if urlparse(url).scheme not in ("data", "blob") and urlparse(url).hostname not in LOOPBACK]
    assert outside == []


def bank_shapes(page) -> list[str]:
    return page.locator(".st-key-kl_bank_pictures [data-slot] code").all_inner_texts()


def test_the_filter_bank_opens_follows_the_geometry_and_closes(page, app_url):
    open_page(page, app_url, "?k=sobel_x")
    assert bank_shapes(page) == [] and "bo" not in query(page)  # closed: not computed
    page.locator(".st-key-kl_bank_open summary").click()
    wait_for_query(page, "bo", "1")
    page.wait_for_function("document.querySelectorAll('.st-key-kl_bank_pictures [data-slot] img').length == 4")
    assert bank_shapes(page) == ["256 × 256"] * 4
    set_number(page, "kl_stride_h", 2)  # reruns the outputs only: the open bank follows
    wait_for_query(page, "s", "2,1")
    page.wait_for_function("[...document.querySelectorAll('.st-key-kl_bank_pictures code')]"
                           ".every(c => c.innerText === '128 × 256')")
    page.locator(".st-key-kl_bank_open summary").click()
    page.wait_for_function("!location.search.includes('bo=1')")
    wait_idle(page)
    assert bank_shapes(page) == []
    assert_no_exception(page)


# Every keyed element Streamlit marks out of date (while a run that may redraw it lasts).
_WATCH_STALE = """() => {
  window.__stale = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const box = record.target;
      if (box.getAttribute('data-stale') !== 'true') continue;
      const key = [...box.classList].find((c) => c.startsWith('st-key-'));
      if (key) window.__stale.push(key);
    }
  }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-stale']});
}"""


def map_slots(page, count: int) -> list[str]:
    """The maps grid's cells, in the order the browser shows them, once it shows ``count`` (the grid's script draws
    them a moment after the run)."""
    page.wait_for_function(f"document.querySelectorAll('.st-key-kl_maps .cnnviz-cell').length === {count}")
    return page.evaluate("[...document.querySelectorAll('.st-key-kl_maps .cnnviz-cell')].map(c => c.dataset.slot)")


def test_a_setting_never_marks_the_kernel_editor_or_the_inputs_out_of_date(page, app_url):
    """A setting reruns the settings' and the outputs' fragments, never the page: the browser does not mark the kernel
    editor or the input section out of date (a page run marked all ~90 elements, then unmarked them, on every change:
    ~10 ms of style and paint each time on a 2-core laptop)."""
    open_page(page, app_url, "")
    assert map_slots(page, 2) == ["input", "conv"]  # no activation by default
    page.evaluate(_WATCH_STALE)
    page.evaluate("document.querySelector('.st-key-kl_maps [data-slot=input] strong').kept = true")
    set_number(page, "kl_bias", 3)
    wait_for_query(page, "b", "3")
    # The grid rewrites only what changed: the input's title is the very node it was (no restyle for nothing).
    assert page.evaluate("document.querySelector('.st-key-kl_maps [data-slot=input] strong').kept === true")
    page.locator(".st-key-kl_pool button").filter(has_text="Max").click()  # shows the pool's sizes
    page.locator(".st-key-kl_pool_size_h input").wait_for()
    wait_for_query(page, "pool", "max")
    wait_idle(page)
    assert "Pooling: 256 × 256" in shapes_text(page)
    assert map_slots(page, 3) == ["input", "conv", "pool"]
    # Whether a mark shows at all depends on how fast the run is; a page run marked these in every try on the old page.
    stale = set(page.evaluate("window.__stale"))
    assert not {"st-key-section_kernel", "st-key-kl_preset", "st-key-kl_working", "st-key-kl_upload"} & stale
    assert_no_exception(page)
    choose(page, "kl_activation", "ReLU: max(0, x)")  # a new cell goes where the data puts it, in the middle
    assert map_slots(page, 4) == ["input", "conv", "activation", "pool"]
    choose(page, "kl_activation", "none")  # and goes again; the others keep their order
    assert map_slots(page, 3) == ["input", "conv", "pool"]


# Every cell of the kernel grid whose text is wider than its cell, measured in the grid's own font: the grid is drawn on
# a canvas, and its accessible table (one <td> per cell) holds the same texts.
_OVERFLOWING_CELLS = """(grid) => {
  const root = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const context = document.createElement('canvas').getContext('2d');
  context.font = `400 ${0.875 * root}px "Source Sans", sans-serif`;
  const cells = [...grid.querySelectorAll('td')];
  const cols = Math.max(...cells.map((c) => +c.getAttribute('aria-colindex')));
  const cellWidth = (grid.getBoundingClientRect().width - 2) / cols;
  return {count: cells.length, texts: cells.map((c) => c.innerText),
          over: cells.filter((c) => context.measureText(c.innerText).width + root > cellWidth).map((c) => c.innerText)};
}"""


def gaussian_link(side: int, sigma: float) -> str:
    """A side × side Gaussian's weights as a link's kv= value (sigma 1.5 at 15 × 15: corners of 2e-11)."""
    x = np.arange(side) - side // 2
    weights = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return encode_matrix((weights / weights.sum()).tolist())


def kernel_grid(page):
    grid = page.locator(".st-key-section_kernel [data-testid=stDataFrame]").first
    grid.locator("td").first.wait_for(state="attached")
    return grid


def test_a_7_by_7_gaussian_shows_every_weight_whole_at_1280_by_720(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, "?k=gaussian")
    grid = kernel_grid(page)
    cells = grid.evaluate(_OVERFLOWING_CELLS)
    assert cells["count"] == 49 and cells["over"] == []  # once "1.965e-0", and columns 6-7 off to the side
    assert cells["texts"][:4] == ["1.965e-5", "2.394e-4", "0.001073", "0.001769"]
    assert grid.locator(".dvn-scroller").first.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert "shown with fewer digits" in page.locator(".st-key-section_kernel").inner_text()


def test_a_15_by_15_kernel_shows_whole_on_one_screen_in_presentation_mode(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, f"?present=1&k=gaussian&kv={gaussian_link(15, 1.5)}")
    grid = kernel_grid(page)
    cells = grid.evaluate(_OVERFLOWING_CELLS)
    assert cells["count"] == 225 and cells["over"] == []
    scroller = grid.locator(".dvn-scroller").first
    # Every row and column at once: once 10 of 15 rows, the rest behind a scroll inside the grid.
    assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight")
    # Scrolled down to its last row, the grid shows every row at once, the column numbers below the app's header band.
    grid.evaluate("e => e.scrollIntoView({block: 'end'})")
    box, header = grid.bounding_box(), page.locator("[data-testid=stHeader]").bounding_box()
    bottom, below_header = box["y"] + box["height"], header["y"] + header["height"]
    assert bottom <= 720 + 1 and box["y"] >= below_header, (box, header)  # + 1: the border's subpixels


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_the_grids_toolbar_covers_neither_the_channel_tabs_nor_the_paste_box(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, "?c=rgb")
    grid = kernel_grid(page)
    grid.hover()
    toolbar = page.locator(".st-key-section_kernel [data-testid=stElementToolbar]").first
    toolbar.wait_for()
    page.wait_for_function("el => getComputedStyle(el).opacity === '1'",
                           arg=toolbar.element_handle())  # it fades in on hover
    for control in (".st-key-kl_channel", ".st-key-kl_paste_box"):
        assert not overlap(toolbar.bounding_box(), page.locator(control).bounding_box()), control


def test_download_buttons_show_their_whole_labels(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, app_url, "?k=gaussian&det=1")  # 7 columns: four maps a row, the narrowest cells
    buttons = page.locator("[data-testid=stDownloadButton] button")
    buttons.first.wait_for()
    # The label's box clips its text with an ellipsis: cut, its text is wider than the box.
    labels = buttons.evaluate_all("""(all) => all.map((b) => {
        const label = b.querySelector('[data-testid=stMarkdownContainer]');
        return [label.innerText, label.scrollWidth <= label.clientWidth];
    })""")
    assert labels == [["Download PNG", True], ["Download .npy", True]] * 2  # once "Dow…"


def test_the_kernel_lab_opens_by_its_own_name_with_the_links_settings(page, app_url):
    open_page(page, app_url, "kernel-lab?k=sobel_x&s=2,2")  # once "Page not found": the page lives at "/"
    page.wait_for_function("document.querySelector('.st-key-kl_shapes') && "
                           "document.querySelector('.st-key-kl_shapes').innerText.includes('256 × 256')")
    assert "Page not found" not in page.locator("body").inner_text()
    assert query(page)["k"] == "sobel_x" and query(page)["s"] == "2,2"
    assert_no_exception(page)
