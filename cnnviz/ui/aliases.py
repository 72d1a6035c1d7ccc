"""Pages under a second name: each sends the browser on to the page itself, with the link's settings."""
import streamlit as st


def kernel_lab_by_name() -> None:
    """/kernel-lab: Streamlit serves the default page at "/" only, and a link a lesson or a person writes may name it
    (it showed "Page not found")."""
    st.switch_page("cnnviz/ui/kernel_lab.py", query_params=st.query_params.to_dict())
