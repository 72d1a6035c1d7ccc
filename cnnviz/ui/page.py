"""How every page runs: bind its state, draw its frame, do the page's own steps, publish the state they end with.

A page module declares one ``Page`` and one function of its own, ``steps(binding) -> state``: controls (the widgets,
seeded from the bound state, read back into a new state), the cached compute, the drawing, and a click decoded
against this run's result. ``run_page`` does the rest the same way on every page::

    bind (the URL's state for a link, else the session's) -> frame (title, language, presentation mode, the joined
    class's question, a link's ignored settings, a callback's message) -> steps -> publish (kept for the session, written into the URL)

``steps`` returns None when it has already published, as a page does before ``st.rerun()``. A page whose settings
change often draws what they affect in keyed fragments inside its steps (the Kernel Lab, Step by step's Play); a
fragment rerun binds the page again with ``state.bind`` and publishes from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic

from cnnviz.ui.class_banner import restore_seat, student_banner
from cnnviz.ui.common import page_header
from cnnviz.ui.state import PageBinding, State, bind, show_flashes


@dataclass(frozen=True)
class Page(Generic[State]):
    """One page: its state and its frame."""

    key: str  # the page's name in the session: its state, messages and timing are kept under it
    state: type[State]  # its frozen state, which round-trips through a dict and the URL
    title_key: str  # catalog key of the title
    intro_key: str  # catalog key of the one-line introduction under the title
    sections: tuple[str, ...] = ()  # the parts presentation mode may hide (``common.section``)
    last_on_phone: str = ""  # the section whose column a phone's stacked layout puts last (controls after pictures)
    # Where a first visit without a link starts when that is not the state's default (the RF page starts from the
    # network this session trained); called with the binding before anything is drawn.
    start: Callable[[PageBinding[State]], None] | None = None


def run_page(page: Page[State], steps: Callable[[PageBinding[State]], State | None]) -> None:
    """Run ``page`` once: bind -> frame -> ``steps`` -> publish."""
    binding = bind(page.key, page.state)
    restore_seat()  # after a reload, the seat the tab kept: before the page (the Class page) reads who it is
    if page.start is not None:
        page.start(binding)
    page_header(page.title_key, page.intro_key, sections=page.sections, last_on_phone=page.last_on_phone)
    student_banner()  # a student in a class sees its question on every page
    binding.warn_ignored()
    show_flashes(page.key)
    state = steps(binding)
    if state is not None:
        binding.publish(state)
