"""DL Studio: page config, navigation over pages/, and the sidebar's job status."""

import streamlit as st

from core.tasks import available_tasks
from ui.services import get_jobs

st.set_page_config(page_title="DL Studio", page_icon=":material/neurology:", layout="wide")

from pathlib import Path

HERE = Path(__file__).parent
# (file, title, icon, url) — a page whose file or task is not built yet is left out of the menu.
DEMO_PAGES = [
    ("image", "Image recognition", ":material/image:"),
    ("speech", "Speech commands", ":material/mic:"),
    ("recsys", "Recommendation", ":material/movie:"),
]
TOOL_PAGES = [("whatif", "What-if lab", ":material/science:"), ("runs", "Runs", ":material/history:")]
built = set(available_tasks())


def _pages(specs, need_task: bool) -> list:
    return [
        st.Page(f"pages/{name}.py", title=title, icon=icon, url_path=name)
        for name, title, icon in specs
        if (HERE / "pages" / f"{name}.py").exists() and (name in built or not need_task)
    ]


home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
tools = _pages(TOOL_PAGES, need_task=False)
nav = st.navigation({"DL Studio": [home], "Demos": _pages(DEMO_PAGES, need_task=True), **({"Tools": tools} if tools else {})})

with st.sidebar:
    active = get_jobs().jobs(active_only=True)
    st.caption("Training jobs")
    if not active:
        st.caption("None running.")
    for job in active:
        snap = job.snapshot()
        st.caption(f"{'▶' if snap['status'] == 'running' else '⏳'} {snap['label']} · {snap['status']} · epoch {snap['epoch']}/{snap['epochs']}")

# Streamlit forgets a widget's value when its page is not shown; re-assigning the settings on every run
# keeps them, so leaving a page and coming back finds it as it was. Buttons and uploads cannot be set.
for key in list(st.session_state):
    value = st.session_state[key]
    if isinstance(value, int | float | str | bool | list | type(None)) and not str(key).endswith(("_btn", "_file")):
        st.session_state[key] = value

nav.run()
