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


COOKIE = "playground_visitor"
_KEY = "_visitor_key"
_NEW = "_visitor_new"           # the key was made in this session: the browser must keep it
_VISITED = "_visited_runs"
_COOKIE_DAYS = 365


def visitor_key() -> str:
    """This visitor's secret: the key their browser keeps in a cookie (set by remember_visitor),
    so a refresh, a second tab or a restarted server still know them. Never put in a link."""
    from playground.engine.hosting import VISITOR_KEY

    ss = st.session_state
    if _KEY not in ss:
        try:
            key = st.context.cookies.get(COOKIE)
        except Exception:  # noqa: BLE001 - no browser behind this session (tests, bare mode)
            key = None
        if not (isinstance(key, str) and VISITOR_KEY.fullmatch(key)):
            import secrets

            key, ss[_NEW] = secrets.token_hex(16), True
        ss[_KEY] = key
    return ss[_KEY]


def session_id() -> str:
    """The owner id of this visitor: what the engine records for their runs and counts for the
    per-visitor caps (a digest of the key, so the run store never holds the key itself)."""
    from playground.engine.hosting import owner_id

    return owner_id(visitor_key())


def client_id() -> str | None:
    """Where this visitor connects from (hosting.client_address): the hosted caps count it
    beside the cookie, which a private window renews. None locally."""
    from playground.engine.hosting import client_address

    try:
        return client_address(st.context.headers.get("X-Forwarded-For"), st.context.ip_address)
    except Exception:  # noqa: BLE001 - no browser behind this session (tests, bare mode)
        return None


def remember_visitor() -> None:
    """Hosted mode: have the browser keep this visitor's key (first visit, or a cookie that was
    cleared). The script runs in the visitor's own page only; the key never enters a URL."""
    if not manager().caps.hosted:
        return
    key = visitor_key()
    if not st.session_state.get(_NEW):
        return
    # In the sidebar: an empty element there takes no room above the page's title.
    st.sidebar.html(f"""<script>document.cookie = "{COOKIE}={key}; path=/; max-age={_COOKIE_DAYS * 86400}; "
            + "SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");</script>""",
            unsafe_allow_javascript=True)


def visit(*run_ids: str) -> None:
    """Runs this session opened through a link: listed beside its own in hosted mode."""
    seen = st.session_state.setdefault(_VISITED, [])
    for run_id in run_ids:
        if run_id and run_id not in seen:
            seen.append(run_id)


def mine(run_id: str) -> bool:
    """May this visitor stop and delete the run? (Always, unless hosted.)"""
    return manager().controls(run_id, session_id())


def visible_runs(lab: str | None = None, limit: int | None = None) -> list:
    """The runs this visitor sees in lists: all of them locally; hosted, their own and those
    they opened through a link (others' runs stay reachable by their links, read-only)."""
    mgr = manager()
    if not mgr.caps.hosted:
        return mgr.store.list(lab=lab, limit=limit)
    me, seen = session_id(), set(st.session_state.get(_VISITED, []))
    return mgr.store.list(lab=lab, limit=limit,
                          where=lambda r: r.owner == me or r.run_id in seen)
