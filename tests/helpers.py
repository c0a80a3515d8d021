"""Shared by the page tests: open a page under AppTest, poll it like the live fragment would."""
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 60


def open_page(page: str = "app_pages/10_mlp.py", query: dict | None = None,
              visitor_key: str | None = None) -> AppTest:
    """A fresh browser session on `page`, with `query` in its URL; `visitor_key` is what the
    browser's cookie brings back (the same visitor after a refresh)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if visitor_key:
        at.session_state["_visitor_key"] = visitor_key
    at.run()
    at.switch_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    return at


def poll_until(at: AppTest, done, timeout: float = 60) -> bool:
    """Rerun the page (AppTest never fires run_every fragments) until `done(at)`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if done(at):
            return True
        time.sleep(0.2)
    return False


def run_id_of(at: AppTest) -> str | None:
    value = at.query_params.get("run")
    if value is None:
        return None
    return value if isinstance(value, str) else value[0]


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(e.value for e in getattr(at, kind))


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll a condition (a run's files, a status) until it holds or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
