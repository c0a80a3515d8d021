"""The Share action: the link that shows a run (or a comparison) to someone else, read-only.

The link is the page's address with its settings and run ids. A visitor's key lives in their
browser's cookie, never in an address, so nothing in the link lets its reader stop or delete.
"""
from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from playground.i18n import N_, _


def link(url_path: str, params: dict[str, str]) -> str:
    """An absolute link when the browser told us where the app lives, else a relative one."""
    try:
        base = (st.context.url or "").rstrip("/")
    except Exception:  # noqa: BLE001 - no browser behind this session (tests)
        base = ""
    if base.endswith(f"/{url_path}"):      # the browser's address may still name the page
        base = base[:-len(url_path) - 1]
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base}/{url_path}" + (f"?{query}" if query else "")


def share_button(url_path: str, params: dict[str, str], *, key: str, what: str = N_("this run"),
                 container=None) -> None:
    from playground.ui.state import manager

    where = container or st
    with where.popover(_("Share"), icon=":material/share:", width="stretch", key=key):
        st.code(link(url_path, params), language=None, wrap_lines=True)
        if manager().caps.hosted:
            st.caption(_("Anyone with this link can watch {what}, live or finished: read-only. "
                         "Only you can stop or delete your runs (your browser remembers you; "
                         "the link does not carry that).", what=_(what)))
        else:
            st.caption(_("Anyone who can reach this server can open {what} with this link.",
                         what=_(what)))
