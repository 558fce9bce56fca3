"""DL Studio: page config, navigation over pages/, and the sidebar's job status."""

import streamlit as st

from core.tasks import available_tasks
from ui.services import get_jobs

st.set_page_config(page_title="DL Studio", page_icon=":material/neurology:", layout="wide")

TASK_PAGES = {
    "image": st.Page("pages/image.py", title="Image recognition", icon=":material/image:", url_path="image"),
    "speech": st.Page("pages/speech.py", title="Speech commands", icon=":material/mic:", url_path="speech"),
    "recsys": st.Page("pages/recsys.py", title="Recommendation", icon=":material/movie:", url_path="recsys"),
}
OPTIONAL_PAGES = {
    "whatif": st.Page("pages/whatif.py", title="What-if lab", icon=":material/science:", url_path="whatif"),
    "runs": st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
}


def _exists(page_path: str) -> bool:
    from pathlib import Path

    return (Path(__file__).parent / page_path).exists()


home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
built = set(available_tasks())
demos = [p for name, p in TASK_PAGES.items() if name in built and _exists(f"pages/{name}.py")]
tools = [p for name, p in OPTIONAL_PAGES.items() if _exists(f"pages/{name}.py")]
nav = st.navigation({"DL Studio": [home], "Demos": demos, **({"Tools": tools} if tools else {})})

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
