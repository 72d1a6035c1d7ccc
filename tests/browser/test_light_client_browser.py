"""The load bench's light client sees what Chromium sees: the same shapes and the same pictures for the same view.

Pictures are served under a hash of their bytes, so equal URLs mean byte-identical pictures.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from browser_kit import open_page, set_number, wait_for_query

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from light_client import LightSession, run_sync  # noqa: E402

DIMS = re.compile(r"\d+ × \d+")
LINK = "?k=sobel_x&s=2%2C1&ws=256"


def browser_view(page) -> tuple[list[str], str]:
    shapes = page.locator(".st-key-kl_shapes [data-testid=stExpanderDetails]").inner_text()  # not its title
    return DIMS.findall(shapes), page.locator(".st-key-kl_maps [data-slot=conv] img").get_attribute("src")


def test_the_light_client_sees_the_browser_s_shapes_and_pictures(app_url, page):
    async def light():
        session = LightSession(app_url)
        await session.open("", LINK[1:])
        first = (DIMS.findall(" ".join(session.texts("kl_shapes"))), session.picture_urls("kl_maps")["conv"])
        change = await session.set("kl_stride_w", 3)
        second = (DIMS.findall(" ".join(session.texts("kl_shapes"))), session.picture_urls("kl_maps")["conv"])
        await session.close()
        return first, second, change, session.errors

    first, second, change, errors = run_sync(light(), timeout=120)
    assert errors == []
    assert first[0][:2] == ["256 × 256", "128 × 256"]  # input, then stride 2 down the rows: (256 + 2 - 3) // 2 + 1
    assert second[0][:2] == ["256 × 256", "128 × 86"]  # stride 3 across: (256 + 2 - 3) // 3 + 1 = 86
    assert change.images >= 1 and change.seconds >= change.script_seconds

    open_page(page, app_url, LINK)
    dims, src = browser_view(page)
    assert dims == first[0] and src.endswith(first[1])
    set_number(page, "kl_stride_w", 3)
    wait_for_query(page, "s", "2,3")
    dims, src = browser_view(page)
    assert dims == second[0] and src.endswith(second[1])
