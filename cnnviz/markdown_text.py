r"""User text made inert for Streamlit's markdown: plain string work, no Streamlit (``cnnviz.ui.common`` offers it
to the pages).

    >>> print(md_text("*bold* [x]"))
    \*bold\* \[x\]
"""
from __future__ import annotations

import re

# What makes text do something in Streamlit's markdown: emphasis, code, links and images ([]()!), raw HTML (<>),
# headings, tables, strikethrough, LaTeX ($), shortcodes (:smile:, :red[...]) and entities (&). A backslash before
# ASCII punctuation shows it as it is.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]()!<>#|~$:@&{}])")
# GFM turns bare addresses ("https://", "www.", "a@b.cn") into links after the escapes are gone, so a backslash
# cannot stop them: an invisible word joiner inside the address does.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=@)|(?<=www)(?=\.)", re.IGNORECASE)
_JOINER = "\u2060"


def md_text(text: object) -> str:
    """``text`` from a user (a link's value, a file name, a typed cell) made inert for st.markdown, st.caption and
    the alert boxes: it shows as typed, on one line, and never becomes a link, an image or formatting."""
    one_line = " ".join(str(text).splitlines())
    return _MARKDOWN_ACTIVE.sub(r"\\\1", _AUTOLINK.sub(_JOINER, one_line))
