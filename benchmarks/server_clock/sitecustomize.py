"""The server's own clock for the load benchmarks: with DLSTUDIO_SERVER_CLOCK=FILE and this folder on PYTHONPATH,
a served app writes one line per full-page rerun request it handles and per full script run it begins and ends:
`time session_id ask` / `time session_id start RUN` / `time session_id finish RUN STATUS` (time.perf_counter), and
`fragment_new_session` / `fragment_script_finished RUN FRAGMENT_IDS` for a fragment's run; `new_runner` when the
session starts a ScriptRunner thread, `dropped_event EVENT` when it ignores an event of a runner it replaced."""

import os
import sys
import threading
import time

LOG = os.environ.get("DLSTUDIO_SERVER_CLOCK")


def _patch(app_session) -> None:
    handle, enqueue = app_session.handle_backmsg, app_session._enqueue_forward_msg
    out = open(LOG, "a", buffering=1)  # noqa: SIM115 (open for the server's life, a line at a time)

    def handle_backmsg(self, msg):
        if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
            out.write(f"{time.perf_counter():.6f} {self.id} ask\n")
        return handle(self, msg)

    def enqueue_forward_msg(self, msg):
        kind, run, now = msg.WhichOneof("type"), msg.metadata.run, time.perf_counter()
        if kind == "new_session" and not run.fragment_ids:
            out.write(f"{now:.6f} {self.id} start {run.script_run_id}\n")
        elif kind == "script_finished" and not run.fragment_ids:
            out.write(f"{now:.6f} {self.id} finish {run.script_run_id} {msg.script_finished}\n")
        elif kind in ("new_session", "script_finished"):  # a fragment's run: which fragment, begun or ended
            out.write(f"{now:.6f} {self.id} fragment_{kind} {run.script_run_id} {','.join(run.fragment_ids)}\n")
        return enqueue(self, msg)

    app_session.handle_backmsg, app_session._enqueue_forward_msg = handle_backmsg, enqueue_forward_msg
    create, on_event = app_session._create_scriptrunner, app_session._handle_scriptrunner_event_on_event_loop

    def create_scriptrunner(self, initial_rerun_data):  # a new ScriptRunner thread for the session
        out.write(f"{time.perf_counter():.6f} {self.id} new_runner {initial_rerun_data.fragment_id_queue}\n")
        return create(self, initial_rerun_data)

    def handle_event(self, sender, event, *args, **kwargs):  # the session drops the events of a runner it replaced
        if sender is not None and sender is not self._scriptrunner:
            out.write(f"{time.perf_counter():.6f} {self.id} dropped_event {event.name}\n")
        return on_event(self, sender, event, *args, **kwargs)

    app_session._create_scriptrunner, app_session._handle_scriptrunner_event_on_event_loop = (
        create_scriptrunner,
        handle_event,
    )


def _when_imported() -> None:  # streamlit imports its runtime after this file runs: patch the class once it exists
    while not hasattr(sys.modules.get("streamlit.runtime.app_session"), "AppSession"):
        time.sleep(0.005)
    _patch(sys.modules["streamlit.runtime.app_session"].AppSession)


if LOG:
    threading.Thread(target=_when_imported, daemon=True).start()
