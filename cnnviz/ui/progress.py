"""A progress bar redrawn every second without animation, for pages that follow a training run.

Why not ``st.progress``: it slides to each new width, and the watching browser draws every frame of that slide. On
a 2-core machine the CPU that drawing takes is time the run's worker loses (about twice this bar's, in the figures
of docs/benchmarks.md), and with torch's two threads waiting on each other, a small theft costs training more than
its share. Here the bar jumps to its new width, as a bar updated once a second can.
"""
from __future__ import annotations

import math
from html import escape

import streamlit as st

_CSS = """<style>
.cnnviz-progress { margin: 0.25rem 0 0.5rem; }
.cnnviz-progress p { margin: 0 0 0.375rem; font-size: 0.875rem; overflow-wrap: anywhere; }
.cnnviz-progress .cnnviz-track { height: 0.5rem; border-radius: 0.25rem; background: rgba(128, 128, 128, 0.25);
                                 overflow: hidden; }
.cnnviz-progress .cnnviz-fill { height: 100%; border-radius: 0.25rem; }
</style>"""


def accent() -> str:
    """The theme's primary colour (.streamlit/config.toml), dark or light as the browser shows the app."""
    dark = st.context.theme.type == "dark"
    return st.get_option(f"theme.{'dark' if dark else 'light'}.primaryColor") or ("#ff8a4c" if dark else "#d9480f")


def progress_html(fraction: float, text: str, *, accent: str = "#d9480f") -> str:
    """The bar at ``fraction`` (clamped to 0..1) under its line of ``text``, with its CSS, as HTML for ``st.html``.

    Raises:
        ValueError: ``fraction`` is not a finite number.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction):
        raise ValueError(f"fraction must be a finite number, got {fraction!r}")
    percent = 100 * min(max(float(fraction), 0.0), 1.0)
    return (f'{_CSS}<div class="cnnviz-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{percent:.0f}" aria-valuetext="{escape(text)}"><p>{escape(text)}</p>'
            f'<div class="cnnviz-track"><div class="cnnviz-fill" style="width: {percent:.1f}%; '
            f'background: {escape(accent)}"></div></div></div>')


def progress(fraction: float, text: str) -> None:
    """Draw the bar and its text."""
    st.html(progress_html(fraction, text, accent=accent()))
