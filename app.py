"""DL Studio: page config, navigation over app_pages/, and the sidebar's job status."""

from pathlib import Path

import streamlit as st

from core.tasks import task_specs

HERE = Path(__file__).parent
# A local file, not a ":material/…:" icon: the page icon is the favicon, which Streamlit fetches from a fonts host.
st.set_page_config(page_title="DL Studio", page_icon=str(HERE / "assets" / "icon.png"), layout="wide")

TOOL_PAGES = [
    ("whatif", "What-if lab", ":material/science:"),
    ("learn", "How it learns", ":material/school:"),
    ("runs", "Runs", ":material/history:"),
]


def _page(name: str, title: str, icon: str) -> st.Page | None:
    """A page of app_pages/, or None while its file is not built yet."""
    if not (HERE / "app_pages" / f"{name}.py").exists():
        return None
    return st.Page(f"app_pages/{name}.py", title=title, icon=icon, url_path=name)


home = st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True)
demos = [p for spec in task_specs() if (p := _page(spec.name, spec.title, spec.icon))]
tools = [p for spec in TOOL_PAGES if (p := _page(*spec))]
nav = st.navigation({"DL Studio": [home], "Demos": demos, **({"Tools": tools} if tools else {})})


SIDEBAR_JOBS = 4  # a sidebar that lists every session's jobs grows long, and is redrawn every 2 s in every tab


def job_status() -> None:
    """Running and queued jobs of every session, each with its Stop (redrawn on its own by the fragments below)."""
    from ui.services import get_jobs, session_id  # the job pool imports PyTorch: after the page is on screen

    jobs = get_jobs()
    mine = session_id()
    active = sorted(jobs.jobs(active_only=True), key=lambda job: (job.owner != mine, job.status != "running", job.id))
    st.caption(f"**Training jobs** · {jobs.max_workers} at once")
    if not active:
        st.caption("None running.")
    shown = [job.snapshot() for job in active[:SIDEBAR_JOBS]]  # this session's first, then running, then queued
    for snap in shown:
        text, stop = st.columns([4, 1], vertical_alignment="center")
        where = f"epoch {snap['epoch']}/{snap['epochs']}" if snap["status"] == "running" else "queued"
        icon = ":material/play_arrow:" if snap["status"] == "running" else ":material/hourglass_empty:"
        text.caption(f"{icon} {snap['label']} · {where}")
        if stop.button(":material/stop:", key=f"sidebar_stop_{snap['id']}_btn", help=f"Stop {snap['label']}"):
            jobs.stop(snap["id"])
    if len(active) > len(shown):
        running = sum(job.status == "running" for job in active[len(shown) :])
        st.caption(f"… and {len(active) - len(shown)} more ({running} running): see **Runs**.")


# Every few seconds while anything trains, every 15 s otherwise (to notice other sessions' jobs): each
# redraw is a small script run, and eight idle browser tabs polling every 2 s add up.
live_status = st.fragment(run_every=2.0)(job_status)
idle_status = st.fragment(run_every=15.0)(job_status)
# The status's place is made first (top of the sidebar) and filled after the page has run: a fresh server's first
# page view then shows the page before the job pool (and with it PyTorch) has loaded. `finally`: a page that ends
# with st.stop() (a guard) still gets the status.
status_slot = st.sidebar.container()
try:
    nav.run()
finally:
    with status_slot:
        from ui.services import get_jobs

        (live_status if get_jobs().jobs(active_only=True) else idle_status)()
