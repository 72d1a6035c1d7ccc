"""cnnviz entry point: page config and navigation, nothing else."""
import streamlit as st

from cnnviz.ui.common import tr

st.set_page_config(page_title=tr("app.title"), page_icon=":material/grid_on:", layout="wide")

pages = [
    st.Page("cnnviz/ui/kernel_lab.py", title=tr("nav.kernel_lab"), icon=":material/tune:", url_path="kernel-lab", default=True),
    st.Page("cnnviz/ui/step_by_step.py", title=tr("nav.step_by_step"), icon=":material/stairs:", url_path="step-by-step"),
    st.Page("cnnviz/ui/train.py", title=tr("nav.train"), icon=":material/monitoring:", url_path="train"),
    st.Page("cnnviz/ui/inspector.py", title=tr("nav.inspector"), icon=":material/biotech:", url_path="inspector"),
]
st.navigation(pages).run()
