"""Screenshots of every page for the README and for checking layouts: a projector (1280x720) and a phone (390x844).

    python scripts/screenshots.py                 # all pages, into docs/screenshots
    python scripts/screenshots.py --only kernel_lab --out /tmp/shots
    python scripts/screenshots.py --lang zh       # the same views in Chinese: <view>_zh.png, <view>_zh_projector.png

Each view is opened from a link, as a student would open it; training views start a short run first. Streamlit
scrolls inside its own container, so "full" shots use a tall window.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnviz.i18n import DEFAULT_LANGUAGE, LANGUAGES, t  # noqa: E402
from scripts.serve_app import CHROMIUM, CHROMIUM_ARGS, IDLE, ROOT, serve_app  # noqa: E402

SIZES = {"projector": (1280, 720), "phone": (390, 844)}
# name -> (path and query, window height for the README's full-page shot)
VIEWS = {
    "kernel_lab": ("?k=sobel_x&s=2,2&bo=1", 1900),
    "kernel_lab_rgb": ("?img=astronaut&c=rgb&k=gaussian&det=1&a=relu&pool=max", 2600),
    "step_by_step": ("step-by-step?at=6", 1300),
    "backward": ("backward?at=4&tap=1,1", 1520),
    "train": ("train?n=2000&ep=1", 1700),
    "lessons": ("lessons?l=7", 1100),
    "receptive_field": ("receptive-field?preset=vgg16&layer=17&unit=3,3", 2700),
    "inspector": ("inspector?src=mnist&i=0&l=act1&u=5,6", 1500),
    "your_network": ("your-network?ly=block1.add&u=3,4", 2150),
    "receptive_field_model": ("receptive-field?preset=yours&net=inception&node=mixed.cat&unit=4,9", 2000),
    "presentation": ("?k=sobel_x&present=1&hide=bank", 1000),  # presentation mode, as a lecturer's link opens it
    "signals": ("signals?at=9&c=1", 1500),
    "exercises": ("exercises?kind=conv_cell&set=2&q=4", 1250),
}


# Custom components (the receptive-field picture) draw inside iframes that load after the script run ends.
_FRAMES_DRAWN = """() => [...document.querySelectorAll('iframe')].every(frame => {
    const doc = frame.contentDocument;
    return doc && doc.readyState === 'complete' && [...doc.images].every(i => i.complete && i.naturalWidth > 0);
})"""


def settle(page) -> None:
    page.wait_for_timeout(600)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_function(_FRAMES_DRAWN, timeout=60_000)
    # A busy machine can leave elements as grey placeholders for a while after the run ends.
    page.wait_for_function("!document.querySelector('[data-testid=stSkeleton]')", timeout=60_000)
    page.wait_for_timeout(800)


def view_url(path: str, language: str) -> str:
    """The view's link, in ``language`` (``?lang=`` added for any language but the default)."""
    if language == DEFAULT_LANGUAGE:
        return path
    return f"{path}{'&' if '?' in path else '?'}lang={language}"


def shoot(page, base: str, name: str, out: Path, sizes: dict[str, tuple[int, int]],
          language: str = DEFAULT_LANGUAGE) -> list[Path]:
    path, tall = VIEWS[name]
    stem = name if language == DEFAULT_LANGUAGE else f"{name}_{language}"
    done = t("train.state.done", language)
    looking = t("insp.model_trained", language).split("**")[0].strip()  # "Looking inside": the model is trained
    written = []
    for label, (width, height) in {**sizes, "full": (1400, tall)}.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base}/{view_url(path, language)}")
        settle(page)
        if name == "train":
            page.locator(".st-key-train_start button").click()
            page.wait_for_function("(done) => document.querySelector('.st-key-train_status') && "
                                   "document.querySelector('.st-key-train_status').innerText.includes(done)",
                                   arg=done, timeout=240_000)
            settle(page)
        if name == "inspector":
            page.locator(".st-key-insp_quick_train button:visible").click()  # the maps of a trained network, not noise
            page.wait_for_function("(looking) => document.querySelector('.st-key-insp_model') && "
                                   "document.querySelector('.st-key-insp_model').innerText.includes(looking)",
                                   arg=looking, timeout=240_000)
            settle(page)
        if name == "exercises":  # a wrong answer, so the shot shows the hint that names the window
            field = page.locator("[class*=st-key-ex_answer_] input")
            field.fill("2")
            field.press("Enter")
            page.locator(".st-key-ex_verdict [data-testid=stAlert]").wait_for()
            settle(page)
        target = out / (f"{stem}.png" if label == "full" else f"{stem}_{label}.png")
        page.screenshot(path=str(target))
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", choices=sorted(VIEWS), default=sorted(VIEWS))
    parser.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE,
                        help="the interface language (files are named <view>_<lang>*.png for any but English)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with serve_app() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(device_scale_factor=1).new_page()
        for name in args.only:
            for path in shoot(page, base, name, args.out, SIZES, args.lang):
                print(path)
        browser.close()


if __name__ == "__main__":
    main()
