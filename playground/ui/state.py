"""The process-wide job manager, shared by every browser session of this server."""
from __future__ import annotations

import streamlit as st

from playground.engine import device
from playground.engine.jobs import JobManager
from playground.engine.runs import RunStore, home


@st.cache_resource(show_spinner=False)
def _manager(root: str) -> JobManager:
    from playground.engine import worker

    if worker.mode() == "thread":           # training shares this process: leave a core free
        device.configure_torch(threads=device.ui_threads())
    return JobManager(RunStore(root))


def manager() -> JobManager:
    # Keyed by folder: a different PLAYGROUND_HOME (tests) gets its own manager and store.
    return _manager(str(home() / "runs"))


def session_id() -> str:
    """This browser session (a token kept in its session state), for the per-visitor caps."""
    import secrets

    return st.session_state.setdefault("_visitor", secrets.token_hex(8))
