"""cnnviz entry point: page config, navigation and the server-wide housekeeping, nothing else.

`streamlit run app.py` first imports this file to find its server: Streamlit's ``st.App``, with the JSON route the
Train page's live view polls (cnnviz.ui.live_status). Each script run then executes it as ``__main__``.
"""
from pathlib import Path

import streamlit as st

from cnnviz.ui import aliases, housekeeping
from cnnviz.ui.common import tr

if __name__ == "__main__":  # a script run: the pages
    # A local icon: a ":material/...:" page icon would be fetched from a font CDN, and the app must work offline.
    st.set_page_config(page_title=tr("app.title"), page_icon=str(Path(__file__).parent / "assets" / "favicon.png"),
                       layout="wide")

    housekeeping.start()  # once per server process: frees what expired sessions leave behind

    # Three sections, so the pages read as a path: what one convolution does, then a network, then the lessons and
    # the class.
    pages = {
        tr("nav.section.convolution"): [
            st.Page("cnnviz/ui/kernel_lab.py", title=tr("nav.kernel_lab"), icon=":material/tune:", default=True),
            st.Page("cnnviz/ui/step_by_step.py", title=tr("nav.step_by_step"), icon=":material/stairs:",
                    url_path="step-by-step"),
            st.Page("cnnviz/ui/signals.py", title=tr("nav.signals"), icon=":material/graphic_eq:", url_path="signals"),
            st.Page("cnnviz/ui/backward.py", title=tr("nav.backward"), icon=":material/undo:", url_path="backward"),
            # The default page lives at "/": its own name opens it too.
            st.Page(aliases.kernel_lab_by_name, title=tr("nav.kernel_lab"), url_path="kernel-lab",
                    visibility="hidden"),
        ],
        tr("nav.section.network"): [
            st.Page("cnnviz/ui/receptive_field.py", title=tr("nav.receptive_field"),
                    icon=":material/center_focus_strong:", url_path="receptive-field"),
            st.Page("cnnviz/ui/train.py", title=tr("nav.train"), icon=":material/monitoring:", url_path="train"),
            st.Page("cnnviz/ui/inspector.py", title=tr("nav.inspector"), icon=":material/biotech:",
                    url_path="inspector"),
            st.Page("cnnviz/ui/your_network.py", title=tr("nav.yours"), icon=":material/account_tree:",
                    url_path="your-network"),
        ],
        tr("nav.section.learn"): [
            st.Page("cnnviz/ui/lessons.py", title=tr("nav.lessons"), icon=":material/school:", url_path="lessons"),
            st.Page("cnnviz/ui/exercises.py", title=tr("nav.exercises"), icon=":material/quiz:",
                    url_path="exercises"),
            st.Page("cnnviz/ui/class_room.py", title=tr("nav.class"), icon=":material/groups:", url_path="class"),
        ],
    }
    st.navigation(pages).run()
else:  # imported by `streamlit run app.py`: the server
    housekeeping.limit_heap_arenas()  # before any session's thread allocates: freed memory can go back
    from cnnviz.ui import live_status

    app = st.App(__file__, routes=live_status.routes())
