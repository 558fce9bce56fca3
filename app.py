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


def job_status() -> None:
    """Running and queued jobs of every session (redrawn on its own by the fragments below)."""
    jobs = get_jobs()
    active = [job.snapshot() for job in jobs.jobs(active_only=True)]
    running = [s for s in active if s["status"] == "running"]
    queued = [s for s in active if s["status"] == "queued"]
    st.caption(f"**Training jobs** · {jobs.max_workers} at once")
    if not active:
        st.caption("None running.")
    for snap in running:
        st.caption(f":material/play_arrow: {snap['label']} · epoch {snap['epoch']}/{snap['epochs']}")
    if queued:
        st.caption(f":material/hourglass_empty: {len(queued)} queued · next: {queued[0]['label']}")


# Every few seconds while anything trains, every 15 s otherwise (to notice other sessions' jobs): each
# redraw is a small script run, and eight idle browser tabs polling every 2 s add up.
live_status = st.fragment(run_every=2.0)(job_status)
idle_status = st.fragment(run_every=15.0)(job_status)
with st.sidebar:
    (live_status if get_jobs().jobs(active_only=True) else idle_status)()

nav.run()
