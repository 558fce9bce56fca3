"""DL Studio: page config, navigation over app_pages/, and the sidebar's job status."""

from pathlib import Path

import streamlit as st

from core.tasks import available_tasks
from ui.services import get_jobs

st.set_page_config(page_title="DL Studio", page_icon=":material/neurology:", layout="wide")

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
        st.Page(f"app_pages/{name}.py", title=title, icon=icon, url_path=name)
        for name, title, icon in specs
        if (HERE / "app_pages" / f"{name}.py").exists() and (name in built or not need_task)
    ]


home = st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True)
tools = _pages(TOOL_PAGES, need_task=False)
nav = st.navigation(
    {"DL Studio": [home], "Demos": _pages(DEMO_PAGES, need_task=True), **({"Tools": tools} if tools else {})}
)

with st.sidebar:
    active = get_jobs().jobs(active_only=True)
    st.caption("Training jobs")
    if not active:
        st.caption("None running.")
    for job in active:
        snap = job.snapshot()
        icon = "▶" if snap["status"] == "running" else "⏳"
        st.caption(f"{icon} {snap['label']} · {snap['status']} · epoch {snap['epoch']}/{snap['epochs']}")

nav.run()
