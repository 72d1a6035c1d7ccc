"""Kernel Lab speed, each figure beside a reference timed in the same run.

Server side: the script time per control change on a 1024x1024 RGB image with a 7x7 Gaussian (AppTest).
In Chromium: a 3000x2000 photo at the largest working size, RGB, stride, dilation and bias stepped up and down; the
time from the key press to the settled page (script run over, every picture loaded), against bench/reference_page.py
(one number input, one 1024x683 picture, a 3x3 blur) stepped the same way. Goal: p95 at most 1.5x the reference's,
and at most 1.5 MB per change.

    python bench/kernel_lab.py            # server time (AppTest) and pure compute
    python bench/kernel_lab.py --browser  # also the Chromium ratio and bytes per change
    python bench/kernel_lab.py --browser --same-size 47   # and the floor of a Streamlit page as big as the Kernel Lab
    python bench/kernel_lab.py --baseline ../old-checkout   # server time of both trees, alternating, in one run
    python bench/kernel_lab.py --baseline ../old-checkout --bank-open   # this tree with the filter bank's maps shown
"""
from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import IDLE, ROOT, machine, quiet_streamlit, served_page

PAGE = str(ROOT / "cnnviz" / "ui" / "kernel_lab.py")


def photo_png(side: int = 1024) -> bytes:
    y, x = np.mgrid[0:side, 0:side] / side
    rgb = np.stack([np.sin(12 * x) * 0.5 + 0.5, np.cos(9 * y) * 0.5 + 0.5, (x * y) % 1], axis=-1)
    rgb += np.random.default_rng(0).normal(0, 0.05, rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def setup_app(data: bytes, bank_open: bool = False):
    """The page on a 1024-px RGB photo with a 7x7 Gaussian; ``bank_open``: with the filter bank's maps shown (closed,
    the page's default, they are not computed)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=300)
    if bank_open:
        at.session_state["kl_bank_open"] = True
    at.run()
    at.select_slider(key="kl_working").set_value(1024).run()
    at.radio(key="kl_source").set_value("upload").run()
    at.file_uploader(key="kl_upload").upload("photo.png", data, "image/png").run()
    at.segmented_control(key="kl_colour").set_value("rgb").run()
    at.selectbox(key="kl_preset").set_value("gaussian").run()  # sigma 1 -> 7x7
    assert not at.exception and at.session_state["_page_state_kernel_lab"].kernel_array().shape == (3, 7, 7)
    assert "1024 × 1024" in " ".join(m.value for m in at.markdown)
    return at


CHANGES = [
    # (label, key, widget kind, values): each value is a parameter set never computed before, so nothing comes
    # from the cache except maps the change does not affect.
    ("bias", "kl_bias", "number_input", [1.0, 2.0, 3.0, 4.0]),
    ("stride rows", "kl_stride_h", "number_input", [2, 3, 4, 1]),
    ("dilation cols", "kl_dilation_w", "number_input", [2, 3, 4, 1]),
    ("padding mode", "kl_mode", "selectbox", ["reflect", "replicate", "circular", "zeros"]),
    ("activation", "kl_activation", "selectbox", ["relu", "abs", "leaky_relu", "none"]),
    ("display", "kl_display", "selectbox", ["abs", "clip", "minmax", "diverging"]),
    ("pooling", "kl_pool", "segmented_control", ["max", "avg", "max", "none"]),
    ("kernel preset", "kl_preset", "selectbox", ["sobel_x", "laplacian8", "emboss", "sharpen"]),
    ("padding", "kl_padding", "segmented_control", ["valid", "custom", "same", "valid"]),
]


def server_times(at) -> dict[str, list[float]]:
    """Script time of each rerun (measured by the page itself) and the AppTest round trip."""
    results = {}
    for label, key, kind, values in CHANGES:
        script, round_trip = [], []
        for value in values:
            if key not in {getattr(w, "key", None) for w in getattr(at, kind)}:
                at.run()  # the last change reran only the outputs' fragment: AppTest's tree lost the settings
            widget = getattr(at, kind)(key=key).set_value(value)
            started = time.perf_counter()
            widget.run()
            round_trip.append(time.perf_counter() - started)
            script.append(at.session_state["_last_run_ms_kernel_lab"] / 1000)
            assert not at.exception, at.exception
        results[label] = (script, round_trip)
    return results


def compute_times(data: bytes, changes: int) -> list[float]:
    from cnnviz.conv import kernels, pipeline
    from cnnviz.conv.images import load_image
    from cnnviz.figures import maps

    image = load_image(data, max_side=1024)
    kernel = kernels.rgb_kernel(kernels.gaussian_kernel(1.0), kernels.grayscale_weights())
    times = []
    for i in range(changes):
        started = time.perf_counter()
        result = pipeline.run_pipeline(image, kernel, pipeline.LabConfig(colour="rgb", working_size=1024, bias=float(i)))
        for values in [result.conv, result.activated, *result.partials]:
            maps.map_png(values, "diverging")
        times.append(time.perf_counter() - started)
    return times


# Counts finished script runs: the page is idle again once the count moved and every picture has loaded.
_WATCH_RUNS = """() => {
  window.__runs = 0;
  window.__loads = 0;
  document.addEventListener('load', (event) => { if (event.target.tagName === 'IMG') window.__loads += 1; }, true);
  // The whole document is watched, not one element: Streamlit may replace the app's root node, and an observer on
  // the old node would miss every later run.
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.target.getAttribute('data-test-script-state') === 'notRunning') window.__runs += 1;
    }
  }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""
# What the user sees: the URL a run publishes and the pictures it loads. A run fast enough (a change back to a
# cached view) can start and end within one browser frame, so the script-state attribute never shows it: a change
# of what the page shows counts as a finished run too.
# Pictures are counted as they load rather than read by address: a picture sent inside its element has a data URL
# of up to a few hundred kB, and reading ten of those on every frame would load the page being measured.
_VIEW = "() => location.search + '|' + window.__loads"
_SETTLED = f"""(before) => (window.__runs > before.runs || ({_VIEW})() !== before.view)
  && document.querySelector('[data-testid=stApp]').getAttribute('data-test-script-state') !== 'running'
  && [...document.images].every(i => i.complete)"""


def _timed_changes(page, steps: list[tuple[str, str]], received: dict) -> tuple[list[float], list[int]]:
    """Type each (widget key, value) and press Enter; time from typing to the page settled, and count bytes."""
    times, sizes = [], []
    for key, value in steps:
        page.wait_for_timeout(300)  # a student's pace: no change overlaps the previous one
        field = page.locator(f".st-key-{key} input")
        before = page.evaluate(f"() => ({{runs: window.__runs, view: ({_VIEW})()}})")  # read first: typing alone may start the run
        received["bytes"] = 0
        started = time.perf_counter()
        field.fill(str(value))
        field.press("Enter")
        page.wait_for_function(_SETTLED, arg=before, timeout=60_000)
        times.append(time.perf_counter() - started)
        page.wait_for_timeout(200)  # late image responses still count towards this change
        sizes.append(received["bytes"])
    return times, sizes


def _count_bytes(page, received: dict) -> None:
    def frame(data) -> None:
        received["bytes"] += len(data) if isinstance(data, (bytes, str)) else 0

    def response(reply) -> None:
        if "/media/" in reply.url:
            try:
                received["bytes"] += len(reply.body())
            except Exception:  # the page moved on before the body arrived; it was not needed
                pass

    page.on("websocket", lambda socket: socket.on("framereceived", frame))
    page.on("response", response)


def kernel_lab_in_chromium(cycles: int) -> tuple[list[float], list[int]]:
    """The issue's protocol: a 3000x2000 photo at the largest working size, RGB, stride, dilation and bias stepped up
    and down."""

    received = {"bytes": 0}
    with served_page(viewport=(1400, 1000)) as (page, base):
        _count_bytes(page, received)
        page.goto(f"{base}/?ws=1024&c=rgb&src=upload&k=gaussian")
        page.wait_for_selector(IDLE)
        page.evaluate(_WATCH_RUNS)
        upload_photo(page, photo_jpeg(3000, 2000), "683 × 1024")
        steps = [("kl_stride_h", 2), ("kl_stride_h", 1), ("kl_dilation_w", 2), ("kl_dilation_w", 1), ("kl_bias", 8),
                 ("kl_bias", 0)] * cycles
        return _timed_changes(page, steps, received)


def reference_in_chromium(cycles: int, extra: int = 0) -> tuple[list[float], list[int]]:
    """The same pace of changes on bench/reference_page.py: the floor of any Streamlit page with one picture, or with
    ``extra`` inert elements beside it, the floor of a page that size."""
    received = {"bytes": 0}
    with served_page(viewport=(1400, 1000), script="bench/reference_page.py",
                     env={"CNNVIZ_REFERENCE_ELEMENTS": str(extra)}) as (page, base):
        _count_bytes(page, received)
        page.goto(base)
        page.wait_for_selector(IDLE)
        page.evaluate(_WATCH_RUNS)
        return _timed_changes(page, [("value", v) for v in (10, 0, 20, 0, 30, 0)] * cycles, received)


def upload_photo(page, jpeg: bytes, shown: str, timeout: float = 180_000) -> None:
    """Upload ``jpeg`` to the Kernel Lab in ``page`` and wait until its shapes line shows ``shown`` (the working
    size) and the run has ended."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(jpeg)
        file.flush()
        page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]").set_input_files(file.name)
        page.wait_for_function("(shown) => { const e = document.querySelector('.st-key-kl_shapes');"
                               " return e && e.innerText.includes(shown); }", arg=shown, timeout=timeout)
    page.wait_for_selector(IDLE)


def photo_jpeg(width: int, height: int) -> bytes:
    """A phone-sized photo: smooth colour and fine noise, as JPEG."""
    y, x = np.mgrid[0:height, 0:width] / height
    rgb = np.stack([np.sin(12 * x) * 0.5 + 0.5, np.cos(9 * y) * 0.5 + 0.5, (x * y) % 1], axis=-1)
    rgb += np.random.default_rng(0).normal(0, 0.05, rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def browser_ratio(cycles: int, rounds: int, same_size: int = 0) -> None:
    """Kernel Lab against the reference page, alternating fresh servers, in one run; with ``same_size`` also against
    the reference page carrying that many inert elements."""
    lab, reference, lab_bytes, sized = [], [], [], []
    for round_ in range(rounds):
        times, sizes = kernel_lab_in_chromium(cycles)
        lab += times
        lab_bytes += sizes
        reference += reference_in_chromium(cycles)[0]
        if same_size:
            sized += reference_in_chromium(cycles, same_size)[0]
        print(f"  round {round_ + 1}: Kernel Lab p50 {1000 * percentile(times, 0.5):.0f} ms, p95 "
              f"{1000 * percentile(times, 0.95):.0f} ms; reference p95 {1000 * percentile(reference, 0.95):.0f} ms"
              + (f"; same-size page p95 {1000 * percentile(sized, 0.95):.0f} ms" if same_size else ""), flush=True)
    lab95, ref95 = percentile(lab, 0.95), percentile(reference, 0.95)
    print(f"Chromium, change -> settled page ({len(lab)} changes each):")
    print(f"  Kernel Lab  p50 {1000 * percentile(lab, 0.5):6.0f} ms  p95 {1000 * lab95:6.0f} ms  "
          f"bytes per change median {statistics.median(lab_bytes) / 1e6:.2f} MB, max {max(lab_bytes) / 1e6:.2f} MB")
    print(f"  reference   p50 {1000 * percentile(reference, 0.5):6.0f} ms  p95 {1000 * ref95:6.0f} ms")
    print(f"  ratio of p95: {lab95 / ref95:.2f}  (goal <= 1.5, moonshot 1.2; bytes goal <= 1.5 MB)")
    if same_size:
        sized95 = percentile(sized, 0.95)
        print(f"  same-size page ({same_size} inert elements) p50 {1000 * percentile(sized, 0.5):6.0f} ms  p95 "
              f"{1000 * sized95:6.0f} ms: its p95 / the reference's {sized95 / ref95:.2f}; the Kernel Lab's / its "
              f"{lab95 / sized95:.2f}")


SUMMARY = re.compile(r"all changes: median ([\d.]+) ms, 90th percentile ([\d.]+) ms, max ([\d.]+) ms")
ROUND_TRIP = re.compile(r"\[round trip median\s+([\d.]+) ms\]")


def compare(baseline: Path, rounds: int, bank_open: bool = False) -> None:
    """Server time of this tree against another checkout (e.g. the previous commit), alternating fresh processes."""
    trees = {"baseline": baseline.resolve(), "this tree": ROOT}
    figures = {name: [] for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            # An older bench may not know these flags (and an older page always computed the bank).
            flags = ["--server-only", *(["--bank-open"] if bank_open else [])] if tree == ROOT else []
            out = subprocess.run([sys.executable, str(tree / "bench" / "kernel_lab.py"), *flags], cwd=tree,
                                 capture_output=True, text=True, check=True).stdout
            # The script time as each page measures it, and AppTest's round trip per change, which also counts
            # Streamlit's own work around the script (a fragment's rerun starts with a run its callback ends).
            round_trip = statistics.median(map(float, ROUND_TRIP.findall(out)))
            figures[name].append((*map(float, SUMMARY.search(out).groups()), round_trip))
            print(f"  {name:9s} median {figures[name][-1][0]:6.1f} ms  p90 {figures[name][-1][1]:6.1f} ms  "
                  f"max {figures[name][-1][2]:6.1f} ms  round trip (median of the changes' medians) "
                  f"{round_trip:6.1f} ms", flush=True)
    for column, label in ((0, "script time"), (3, "round trip")):
        base, this = (statistics.median(row[column] for row in figures[name]) for name in trees)
        print(f"{label}, median of medians: baseline {base:.1f} ms, this tree {this:.1f} ms, ratio {this / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=8)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--server-only", action="store_true", help="only the server time per change")
    parser.add_argument("--baseline", type=Path, help="another checkout to time beside this one, in the same run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each side (--baseline, --browser)")
    parser.add_argument("--cycles", type=int, default=4, help="--browser: up-and-down cycles of six changes per round")
    parser.add_argument("--bank-open", action="store_true",
                        help="server time with the filter bank's maps shown (the page's default keeps them closed)")
    parser.add_argument("--same-size", type=int, default=0, metavar="N",
                        help="--browser: also time the reference page with N inert elements (47 give it the Kernel "
                             "Lab's 49 elements in this test)")
    args = parser.parse_args()
    quiet_streamlit()
    print(f"Kernel Lab benchmark · {machine()}")
    if args.baseline:
        compare(args.baseline, args.rounds, args.bank_open)
        return
    data = photo_png()
    if not args.server_only:
        compute = compute_times(data, args.changes)
        print(f"pipeline + 5 display PNGs (pure code):   median {1000 * statistics.median(compute):6.1f} ms  "
              f"(min {1000 * min(compute):.1f}, max {1000 * max(compute):.1f})")
    at = setup_app(data, bank_open=args.bank_open)
    print("server time per control change (script run, as the page measures it; AppTest round trip in brackets):")
    every = []
    for label, (script, round_trip) in server_times(at).items():
        every += script
        print(f"  {label:14s} median {1000 * statistics.median(script):6.1f} ms  max {1000 * max(script):6.1f} ms  "
              f"[round trip median {1000 * statistics.median(round_trip):6.1f} ms]  "
              f"each: {' '.join(f'{1000 * t:.0f}' for t in script)}")
    print(f"all changes: median {1000 * statistics.median(every):.1f} ms, "
          f"90th percentile {1000 * sorted(every)[int(0.9 * len(every))]:.1f} ms, max {1000 * max(every):.1f} ms  "
          f"target <= 150 ms")
    if args.browser:
        browser_ratio(args.cycles, args.rounds, args.same_size)


if __name__ == "__main__":
    main()
