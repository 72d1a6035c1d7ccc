"""Each page's state and computation, without Streamlit.

A page is three steps: ``state = controls(state)`` (in ``cnnviz/ui/<page>.py``), ``result = compute(state, ...)``
(here: plain Python, tested without a browser) and ``draw(result, state)`` (back in the UI module). The state is
one frozen dataclass that round-trips through a dict and the URL (``cnnviz.urlstate``).
"""
