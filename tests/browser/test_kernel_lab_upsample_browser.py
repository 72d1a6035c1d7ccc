"""The upsampling stage in Chromium: the lesson opens it, and the checkerboard is measured on the pixels the browser
draws (kernel 3: the four output phases of a flat region differ; kernel 4 and resize-then-convolve: they do not)."""
from cnnviz.pages.lessons import LESSONS

from browser_kit import assert_no_exception, open_page, query, wait_for_query, wait_idle

PICTURES = ".st-key-kl_upsample .cnnviz-cell img"  # transposed, resized, then the two zooms on a flat region

# The gray level at the centre of each 7×7 block of a zoom (one block per output pixel), averaged per output phase
# (row % 2, col % 2): brightest phase over darkest.
PHASE_RATIO = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const block = 7, blocks = Math.floor(canvas.width / block), sums = [0, 0, 0, 0], counts = [0, 0, 0, 0];
  for (let i = 0; i < blocks; i++) for (let j = 0; j < blocks; j++) {
    const at = ((i * block + 3) * canvas.width + j * block + 3) * 4;
    const phase = (i % 2) * 2 + (j % 2);
    sums[phase] += (pixels[at] + pixels[at + 1] + pixels[at + 2]) / 3; counts[phase] += 1;
  }
  const means = sums.map((s, k) => s / counts[k]);
  return Math.max(...means) / Math.min(...means);
}"""


def zoom_ratios(page) -> tuple[float, float]:
    """(transposed, resize-then-convolve) phase ratios of the zooms the browser shows now."""
    page.wait_for_function(f"() => [...document.querySelectorAll('{PICTURES}')].length === 4 && "
                           f"[...document.querySelectorAll('{PICTURES}')].every(i => i.complete && i.naturalWidth > 0)")
    images = page.locator(PICTURES)
    assert images.nth(2).evaluate("i => i.naturalWidth") == 224  # 32 output pixels, 7 screen pixels each
    return images.nth(2).evaluate(PHASE_RATIO), images.nth(3).evaluate(PHASE_RATIO)


def test_the_lesson_opens_the_stage_and_the_checkerboard_is_on_screen(page, app_url):
    number = next(n for n, lesson in enumerate(LESSONS, 1) if lesson.key == "upsampling")
    open_page(page, app_url, f"lessons?l={number}")
    assert "They agree." in page.locator(".st-key-lessons_numbers").inner_text()
    page.get_by_role("link", name="Open this in Kernel Lab").click()
    wait_for_query(page, "up", "1")
    wait_idle(page)
    assert_no_exception(page)
    section = page.locator(".st-key-kl_upsample")
    section.get_by_text("Brightest over darkest").wait_for()
    assert "1, 2, 1, 2, 1, 2, 1, 2" in section.inner_text()
    transposed, resized = zoom_ratios(page)
    assert transposed > 1.5 and resized < 1.05, (transposed, resized)

    page.locator(".st-key-kl_up_kernel button").filter(has_text="4").click()
    wait_for_query(page, "uk", "4")
    wait_idle(page)
    page.wait_for_function("() => document.querySelector('.st-key-kl_upsample').innerText.includes('2, 2, 2, 2')")
    transposed, resized = zoom_ratios(page)
    assert transposed < 1.1 and resized < 1.05, (transposed, resized)

    page.locator(".st-key-kl_up label").click()  # the stage off: its pictures go, its settings stay in the link
    page.wait_for_function("() => !new URLSearchParams(location.search).has('up')")
    wait_idle(page)
    assert page.locator(PICTURES).count() == 0 and query(page)["uk"] == "4"
    assert_no_exception(page)
