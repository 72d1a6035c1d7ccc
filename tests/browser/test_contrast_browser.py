"""The page's own HTML (st.html and our components) stays readable in both themes: every piece of text meets
WCAG AA contrast against what is behind it, with the browser asking for a dark theme and for a light one."""
import pytest

from browser_kit import assert_no_exception, wait_idle

# Views that draw custom HTML: the pictures' titles, Step by step's grids, the receptive-field legend, the
# Inspector's pictures, the lessons' tables, the Train page's numbers and progress.
VIEWS = ["", "?bo=1", "step-by-step", "backward?pa=1,1&g=onehot", "receptive-field", "train", "inspector?src=mnist", "lessons"]

# For each visible text in st.html elements and custom components (their shadow roots too): its colour, times
# every ancestor's opacity, over the backgrounds behind it (each colour of a gradient tried); the contrast ratio
# of https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio, against 4.5 (3 for large text).
CONTRAST_JS = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const luminance = ([r, g, b]) => { const f = (v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const parentOf = (e) => e.parentElement || (e.getRootNode() && e.getRootNode().host) || null;
  // Every background the text may stand on: the nearest opaque colour with the translucent ones above it, and
  // each stop of a gradient on the way.
  const backgrounds = (el) => {
    const layers = [];
    for (let e = el; e; e = parentOf(e)) {
      const s = getComputedStyle(e);
      const image = s.backgroundImage && s.backgroundImage !== 'none' ? s.backgroundImage : '';
      if (image.includes('url(')) return [];  // a picture behind text: not measured here
      const stops = (image.match(/rgba?\\([^)]+\\)/g) || []).map(parse);
      const colour = parse(s.backgroundColor);
      if (stops.length) { layers.push(stops); if (stops.every(c => c[3] >= 1)) break; }
      if (colour && colour[3] > 0) { layers.push([colour]); if (colour[3] >= 1) break; }
    }
    let results = [[255, 255, 255, 1]];
    for (const options of layers.reverse()) results = results.flatMap(below => options.map(c => over(c, below)));
    return results;
  };
  const hosts = [...document.querySelectorAll('[data-testid=stHtml], [data-testid^=stBidiComponent]')];
  const roots = hosts.concat(hosts.flatMap(h => [...h.querySelectorAll('*')].filter(e => e.shadowRoot)
                                                                             .map(e => e.shadowRoot)));
  const failures = [], measured = new Set();
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement, text = node.textContent.trim();
      if (!text || !el || measured.has(el) || el.closest('style, script')) continue;
      const s = getComputedStyle(el);
      if (s.visibility === 'hidden' || el.getClientRects().length === 0) continue;
      measured.add(el);
      let alpha = 1;
      for (let e = el; e; e = parentOf(e)) alpha *= Number(getComputedStyle(e).opacity);
      const colour = parse(el.closest('svg') ? s.fill : s.color);
      if (!colour || colour[3] === 0) continue;  // transparent on purpose (a step not reached yet)
      const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
      for (const bg of backgrounds(el)) {
        const shown = over([colour[0], colour[1], colour[2], colour[3] * alpha], bg);
        const [light, dark] = [luminance(shown), luminance(bg)].sort((a, b) => b - a);
        const ratio = (light + 0.05) / (dark + 0.05);
        if (ratio < (large ? 3 : 4.5)) {
          failures.push(`${text.slice(0, 30)} (${el.className}): ${ratio.toFixed(2)}, ${s.color} on rgb(${bg.slice(0, 3).map(Math.round)})`);
          break;
        }
      }
    }
  }
  return {measured: measured.size, failures: [...new Set(failures)]};
}
"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_custom_html_text_meets_wcag_aa_contrast_in_both_themes(browser, app_url, scheme):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        failures, measured = {}, 0
        for view in VIEWS:
            page.goto(f"{app_url}/{view}")
            page.wait_for_selector("[data-testid=stApp]")
            wait_idle(page)
            assert_no_exception(page)
            page.wait_for_function("() => document.querySelector('[data-testid=stHtml], [data-testid^=stBidiComponent]')")
            result = page.evaluate(CONTRAST_JS)
            measured += result["measured"]
            if result["failures"]:
                failures[view or "kernel-lab"] = result["failures"][:5]
        assert measured > 50  # the script found the pages' text
        assert failures == {}
    finally:
        context.close()
