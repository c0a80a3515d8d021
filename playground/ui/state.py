"""The process-wide job manager, shared by every browser session of this server."""
from __future__ import annotations

import streamlit as st

from playground.engine import device
from playground.engine.jobs import JobManager
from playground.engine.runs import RunStore, home


@st.cache_resource(show_spinner=False)
def _manager(root: str) -> JobManager:
    device.configure_torch(threads=device.ui_threads())
    return JobManager(RunStore(root))


def manager() -> JobManager:
    # Keyed by folder: a different PLAYGROUND_HOME (tests) gets its own manager and store.
    return _manager(str(home() / "runs"))


def session_id() -> str | None:
    """This browser session, for the per-visitor caps of hosted mode."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None
