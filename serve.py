"""The server: the app (app.py) plus the JSON route its live training status polls (cnnviz.ui.live_status).

    streamlit run serve.py

Streamlit finds the ``st.App`` below and serves app.py with it, with every option of ``streamlit run`` (port,
address, config.toml). ``streamlit run app.py`` still works; its Train page then redraws the live status from
Streamlit reruns, which costs a watched run some of its speed.
"""
import streamlit as st

from cnnviz.ui import live_status

app = st.App("app.py", routes=live_status.routes())
