"""The dashboard's entry point: ``govsim dashboard DIR`` or ``streamlit run web/app.py -- --root DIR``."""

import sys
from pathlib import Path

import streamlit as st

# Lets `streamlit run web/app.py` work from a checkout that was never pip-installed.
_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from web import ui  # noqa: E402

PAGES = [
    st.Page("views/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs", default=True),
    st.Page("views/run.py", title="Run", icon=":material/monitoring:", url_path="run"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("views/network.py", title="Network", icon=":material/hub:", url_path="network"),
    st.Page("views/rerest.py", title="Re-ReST", icon=":material/model_training:", url_path="rerest"),
    st.Page("views/live.py", title="Live", icon=":material/sensors:", url_path="live"),
    st.Page("views/play.py", title="Play", icon=":material/sports_esports:", url_path="play"),
]

# Pages in the top bar and the sidebar (the run folder) collapsed: a narrow window keeps its whole width.
st.set_page_config(page_title="govsim dashboard", page_icon=":material/water:", layout="wide",
                   initial_sidebar_state="collapsed")
page = st.navigation(PAGES, position="top")
ui.guarded(ui.sidebar)
page.run()
