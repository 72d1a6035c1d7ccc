"""Kernel Lab in Chromium: upload, a bad upload, a preset, and a stride change that moves the shape text."""
import io

import numpy as np
from PIL import Image

from browser_kit import assert_no_exception, open_page, save_screenshot, wait_idle


def shapes_text(page) -> str:
    return page.locator(".st-key-kl_shapes").inner_text()


def choose(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} [role=combobox]").click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def set_number(page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)


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
    assert_no_exception(page)
    page.locator(".st-key-kl_stride_h").scroll_into_view_if_needed()
    save_screenshot(page, "kernel_lab")

    photo = tmp_path / "photo.png"
    pixels = (np.indices((120, 160)).sum(axis=0) % 32 * 8).astype(np.uint8)
    Image.fromarray(pixels).save(photo)
    page.locator("[data-testid=stSidebar] label").filter(has_text="Upload").click()
    wait_idle(page)
    page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(photo))
    page.wait_for_function("document.querySelector('.st-key-kl_shapes') && document.querySelector('.st-key-kl_shapes').innerText.includes('120 × 160')")
    wait_idle(page)
    assert "Convolution: 60 × 80" in shapes_text(page)
    assert_no_exception(page)

    # RGB: one 3-D filter, its three partial maps and their sum; details: histograms and downloads.
    page.locator(".st-key-kl_colour button").filter(has_text="RGB").click()
    wait_idle(page)
    page.locator(".st-key-kl_details label").click()
    wait_idle(page)
    page.locator("[data-testid=stPlotlyChart]").first.wait_for()
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "One 3-D filter" in main
    assert page.locator("[data-testid=stDownloadButton]").count() >= 14  # 7 maps x (PNG, .npy)
    assert_no_exception(page)
    page.locator(".st-key-kl_details").scroll_into_view_if_needed()
    save_screenshot(page, "kernel_lab_details", height=2400)

    junk = tmp_path / "notes.txt"
    junk.write_text("this is not an image")
    page.locator(".st-key-kl_upload [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(junk))
    error = page.locator("[data-testid=stAlertContentError]")
    error.first.wait_for()
    assert "not an image" in error.first.inner_text()
    assert_no_exception(page)
