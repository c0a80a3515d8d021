"""Stage mode (`?stage=1`, or the sidebar's toggle): a lab page for a talk - big type, the sidebar
folded away, only the controls the lab's TRY_THIS needs (its STAGE) above large Train / Stop /
Replay buttons with keyboard shortcuts, Try this folded, and the pictures first, above the
numbers and curves, sized so that a result is in view on a 1280x720 projector. `hide=a,b` in the
URL hides more of the controls."""
from __future__ import annotations

import streamlit as st

from playground.i18n import _

PARAM, HIDE = "stage", "hide"
SHORTCUTS = {"train": "T", "stop": "S", "replay": "D", "compare": "V", "play": "P"}

_CSS = """
<style>
html { font-size: 20px; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 0.6rem 2rem 1.5rem 2rem; }
[data-testid="stMain"] .stButton button { min-height: 2.6rem; font-size: 1.1rem;
                                          padding: 0.4rem 1.2rem; }
[data-testid="stMetricValue"] { font-size: 1.8rem; }
[data-testid="stMain"] [data-testid="stImage"] img { max-height: 330px; object-fit: contain; }
h1 { font-size: 1.8rem !important; padding: 0 0 0.2rem 2.2rem !important; }
/* the title shares the top row with the sidebar's button: the bar lets it (and clicks) through */
[data-testid="stHeader"], [data-testid="stHeader"] * { background: transparent;
                                                      pointer-events: none; }
[data-testid="stHeader"] button, [data-testid="stHeader"] a { pointer-events: auto; }
[data-testid="stMain"]:focus { outline: none; }
</style>
"""


def active() -> bool:
    return str(st.query_params.get(PARAM, "")) == "1"


def key(action: str) -> str | None:
    """A button's keyboard shortcut: on stage only (elsewhere a key hint would crowd the
    buttons, and typing in the form should never start a run)."""
    return SHORTCUTS[action] if active() else None


def hidden() -> set[str]:
    return {h.strip() for h in str(st.query_params.get(HIDE, "")).split(",") if h.strip()}


def fields(lab) -> tuple[str, ...]:
    """The controls shown on stage: the lab's STAGE, less what the URL hides."""
    hide = hidden()
    return tuple(f for f in getattr(lab, "STAGE", ()) if f not in hide)


def style() -> None:
    st.markdown(_CSS, unsafe_allow_html=True)


def _toggled() -> None:
    if st.session_state.get("_stage_toggle"):
        st.query_params[PARAM] = "1"
    else:
        st.query_params.pop(PARAM, None)
        st.query_params.pop(HIDE, None)


def toggle() -> None:
    """The sidebar's switch in and out of stage mode (the URL keeps it: a link opens on stage)."""
    st.session_state["_stage_toggle"] = active()
    st.sidebar.toggle(_("Stage mode"), key="_stage_toggle", on_change=_toggled,
                      help=_("For talks: big type, only the controls the demonstration needs, "
                             "large buttons (keys: T train, S stop, D replay the demo, V "
                             "compare)."))
