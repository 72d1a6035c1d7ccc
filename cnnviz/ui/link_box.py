"""A link in a read-only box with a Copy button, as ONE element (Streamlit Custom Components v2).

With no address given, the box shows the page's own address as it is when the box comes into view or the button is
pressed. A page whose settings rerun only a fragment publishes each change to the address bar, so its link can be
drawn once by the full run instead of being sent again with every change (each element a rerun sends costs the
browser React work, and a popover with a code block costs more than a plain element).

Inline HTML, CSS and JS in the page's own DOM (``isolate_styles=False``), so ``location`` is the app's address and
the theme applies. Copying uses the Clipboard API where the page is a secure context (https, localhost) and the
selection with ``execCommand("copy")`` elsewhere, e.g. a lecture-hall server reached by its LAN address.
"""
from __future__ import annotations

import streamlit as st

_HTML = """<div class="cnnviz-link">
  <input class="cnnviz-link-url" type="text" readonly spellcheck="false">
  <button class="cnnviz-link-copy" type="button"></button>
  <div class="cnnviz-link-status" role="status" aria-live="polite"></div>
</div>"""

_CSS = """
.cnnviz-link { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center;
  font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); }
.cnnviz-link-url { flex: 1 1 12rem; min-width: 0; font-family: var(--st-code-font, monospace); font-size: 0.85rem;
  padding: 0.4rem 0.5rem; border-radius: 0.5rem; color: inherit;
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4));
  background: var(--st-secondary-background-color, rgba(128, 128, 128, 0.08)); }
.cnnviz-link-copy { font: inherit; font-size: 0.875rem; padding: 0.4rem 0.9rem; border-radius: 0.5rem; cursor: pointer;
  color: inherit; background: var(--st-background-color, transparent);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4)); }
.cnnviz-link-copy:hover, .cnnviz-link-copy:focus-visible { border-color: var(--st-primary-color, #ff4b4b);
  color: var(--st-primary-color, inherit); }
.cnnviz-link-status { flex-basis: 100%; font-size: 0.8rem; opacity: 0.72; min-height: 1em; }
"""

# The address is read again whenever the box comes into view (a popover opening) and on every press, so it is the
# one the address bar shows then, not the one of the run that drew the box.
_JS = """
export default function ({ parentElement, data }) {
  const root = parentElement.querySelector(".cnnviz-link");
  const input = root.querySelector(".cnnviz-link-url");
  const button = root.querySelector(".cnnviz-link-copy");
  const status = root.querySelector(".cnnviz-link-status");
  const address = () => data.url || window.location.href;
  const refresh = () => { input.value = address(); };
  input.setAttribute("aria-label", data.label);
  button.textContent = data.copy;
  refresh();
  if (!root.watching) {
    root.watching = true;
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) { refresh(); status.textContent = ""; }
    }).observe(root);
  }
  input.onfocus = () => { refresh(); input.select(); };
  button.onclick = async () => {
    refresh();
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (error) {
      input.select();
      document.execCommand("copy");
    }
    status.textContent = data.copied;
  };
}
"""

_component = st.components.v2.component("cnnviz.link_box", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def link_box(key: str, *, label: str, copy: str, copied: str, url: str | None = None) -> None:
    """The link ``url`` (the page's own address when None) with a Copy button; ``label`` names the box for screen
    readers, ``copy`` is the button's text and ``copied`` what it says once pressed."""
    _component(key=key, data={"url": url, "label": label, "copy": copy, "copied": copied})
