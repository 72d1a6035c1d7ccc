"""Streamlit pages and widgets: the only Streamlit code besides app.py."""
