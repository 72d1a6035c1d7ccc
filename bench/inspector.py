"""Look inside: how fast a new stroke updates the page. Target (issue "Network inspector"): about 300 ms.

    python bench/inspector.py            # server side: the compute of one stroke, and the page's whole script run
    python bench/inspector.py --browser  # also Chromium: from releasing the mouse to the prediction text changing

Strokes build a "7" and then a "4" on the 224x224 canvas, so each one gives the network a new digit. The canvas is
cnnviz.ui.canvas, which sends the drawing on pen-up; streamlit-drawable-canvas, before it, waited 200 ms first.
"""
from __future__ import annotations

import argparse
import os
import base64
import io
import statistics
import time

from PIL import Image, ImageDraw

from common import IDLE, ROOT, machine, served_page

PAGE = str(ROOT / "cnnviz" / "ui" / "inspector.py")
SIDE = 224  # the page's canvas
# Strokes as canvas fractions: a "7" (bar, then the diagonal in two parts), then a "4" on a cleared canvas.
STROKES = [
    [(0.25, 0.2), (0.75, 0.2)], [(0.75, 0.2), (0.6, 0.5)], [(0.6, 0.5), (0.45, 0.85)],
    [(0.3, 0.15), (0.25, 0.55), (0.7, 0.55)], [(0.6, 0.2), (0.6, 0.9)],
]


def canvases(shift: int = 0) -> list[bytes]:
    """The canvas's PNG after each stroke (white ink, 18 px, on opaque black), as the component draws it; ``shift``
    moves the strokes that many pixels right, so a replay is a new picture and no cache has it."""
    pngs = []
    for index, stroke in enumerate(STROKES):
        if index in (0, 3):
            image = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 255))
            pen = ImageDraw.Draw(image)
        pen.line([(x * SIDE + shift, y * SIDE) for x, y in stroke], fill=(255, 255, 255, 255), width=18,
                 joint="curve")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def compute_times(rounds: int) -> list[float]:
    """Everything the server does for one stroke outside Streamlit: decode the canvas's data URL, prepare the digit,
    run the network, compute the view and encode its pictures (grid, enlarged map, input, receptive field)."""
    from cnnviz.analysis.digits import decode_data_url, prepare_digit
    from cnnviz.figures import network
    from cnnviz.figures.maps import png_bytes
    from cnnviz.model import NETWORK_PRESETS, build_model
    from cnnviz.pages.inspector import InspectorState, ModelCopies, compute, describe

    model = ModelCopies().get("bench", build_model(NETWORK_PRESETS["default"], seed=0))
    facts = describe(model)
    state = InspectorState(layer="conv1", unit=(10, 12))
    times = []
    for round_ in range(rounds):
        for url in map(data_url, canvases(shift=round_)):
            started = time.perf_counter()
            digit = prepare_digit(decode_data_url(url))
            result = compute(state, model, digit, facts=facts)
            values = result.maps.values
            layout = network.grid_layout(values.shape[1:], result.channels)
            grid = network.maps_grid(values, layout, result.peaks, result.signed, state.channel)
            large = network.enlarged_map(values[0], float(result.peaks[0]), result.signed, state.unit)
            for picture in (grid, large, network.digit_picture(digit.pixels28, side=84),
                            network.digit_picture(digit.pixels28, result.box, side=168)):
                png_bytes(picture)
            times.append(time.perf_counter() - started)
    return times


def in_worker_thread(measure, rounds: int) -> list[float]:
    """``measure(rounds)`` after a warm-up, in a thread of its own, as Streamlit runs a page's script. On a busy
    two-core machine the main thread's two-thread OpenMP team waits for cores, so timing there would measure the
    machine's load, not the page."""
    import threading

    result = {}

    def run() -> None:
        measure(1)  # torch's first passes allocate
        result["times"] = measure(rounds)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return result["times"]


def page_times(rounds: int) -> tuple[list[float], list[float]]:
    """The page's script run per stroke (as it measures itself) and the AppTest round trip; every stroke is a new
    picture, so the page's per-digit cache never answers."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    script, round_trip = [], []
    for round_ in range(rounds):
        for url in map(data_url, canvases(shift=round_)):
            at.session_state["insp_canvas"] = {"image": url}  # what cnnviz.ui.canvas sends on pen-up
            started = time.perf_counter()
            at.run()
            round_trip.append(time.perf_counter() - started)
            assert not at.exception, at.exception
            assert any(m.value.startswith("The network says") for m in at.markdown)
            script.append(at.session_state["_last_run_ms_inspector"] / 1000)
    return script, round_trip


PREDICTION = ".st-key-insp_prediction"
CANVAS = ".st-key-insp_canvas canvas"  # in the component's open shadow root: CSS locators pierce it
CLEAR = ".st-key-insp_canvas button"


def browser_times(rounds: int) -> tuple[list[float], list[float], float]:
    """In Chromium, on a quick model trained first (an untrained network can print the same percentage for two
    digits): seconds from releasing the mouse after a stroke to the prediction text changing, and to the canvas's
    message leaving for the server; and the seconds the quick model took from the click to the page showing it."""
    times, sends = [], []
    sent = {"at": None}
    with served_page(viewport=(1280, 900)) as (page, base):
        page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.__setitem__(
            "at", sent["at"] or time.perf_counter())))
        page.goto(f"{base}/inspector")
        page.wait_for_selector(IDLE)
        trained = time.perf_counter()
        page.locator(".st-key-insp_quick_train button:visible").click()
        page.wait_for_function("document.querySelector('.st-key-insp_model') && "
                               "document.querySelector('.st-key-insp_model').innerText.includes('Looking inside')",
                               timeout=300_000)
        trained = time.perf_counter() - trained
        page.wait_for_selector(IDLE)
        for _ in range(rounds):
            for index, stroke in enumerate(STROKES):
                if index in (0, 3):
                    page.locator(CLEAR).click()
                    page.wait_for_timeout(800)
                    page.wait_for_selector(IDLE)
                page.wait_for_timeout(600)
                before = page.locator(PREDICTION).inner_text()
                box = page.locator(CANVAS).bounding_box()
                x, y = box["x"], box["y"]
                page.mouse.move(x + stroke[0][0] * SIDE, y + stroke[0][1] * SIDE)
                page.mouse.down()
                for fx, fy in stroke[1:]:
                    page.mouse.move(x + fx * SIDE, y + fy * SIDE, steps=6)
                sent["at"] = None
                started = time.perf_counter()
                page.mouse.up()
                page.wait_for_function("(old) => document.querySelector('.st-key-insp_prediction').innerText !== old",
                                       arg=before, timeout=30_000)
                times.append(time.perf_counter() - started)
                sends.append((sent["at"] or started) - started)
                page.wait_for_selector(IDLE)
    return times, sends, trained


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    return (f"{label}: median {statistics.median(ms):6.1f} ms, 90th percentile {ms[int(0.9 * (len(ms) - 1))]:6.1f} ms, "
            f"max {ms[-1]:6.1f} ms  ({len(ms)} strokes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="times each of the five strokes is replayed")
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    print(f"Look inside benchmark · {machine()} · load average {os.getloadavg()[0]:.1f} at the start")
    print(summary("server, compute of one stroke (pure code)    ", in_worker_thread(compute_times, args.rounds)))
    script, round_trip = page_times(args.rounds)
    print(summary("server, the page's script run per stroke     ", script))
    print(summary("server, AppTest round trip per stroke        ", round_trip))
    if args.browser:
        times, sends, trained = browser_times(max(1, args.rounds // 2))
        print(f"Chromium, the quick model: {trained:.1f} s from the click to the page showing it")
        print(summary("Chromium, mouse released -> prediction text  ", times))
        print(summary("Chromium, mouse released -> canvas sends     ", sends))
    print(f"target: about 300 ms from a stroke to the update · load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
