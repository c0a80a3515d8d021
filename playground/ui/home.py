"""The Home page: what this is, where it trains, the labs by section, recent runs."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from playground import registry
from playground.ui.state import manager, visible_runs


def _device() -> None:
    where = manager().device_description(timeout=0.3)
    if where:
        (st.success if where.startswith("GPU") else st.info)(f"**Device:** {where}", icon="🖥️")
        return

    @st.fragment(run_every=1.0)
    def _starting():
        found = manager().device_description(timeout=0.3)
        if found:
            st.rerun()
        st.info("**Device:** starting the training process...", icon="🖥️")
    _starting()


def home_page() -> None:
    from playground.ui.app import RUNS_PAGE, lab_files

    pages = lab_files()
    st.title("🧪 Neural Playground")
    st.markdown(
        "Pick an architecture, tweak its hyperparameters and press **Train**: a real PyTorch model "
        "trains in the background while the page shows its curves and what it has learnt so far "
        "(decision boundaries, predictions, ...). Runs are saved: refresh, share the link or come "
        "back later.")
    _device()

    by_section: dict[str, list[str]] = {}
    for name in registry.LABS:
        by_section.setdefault(registry.meta(name).SECTION, []).append(name)
    for section in registry.SECTIONS:
        if section not in by_section:
            continue
        st.subheader(section)
        for name in by_section[section]:
            lab = registry.meta(name)
            # the first sentence: up to a full stop that ends one (not "et al." or "e.g.")
            doc = " ".join((lab.__doc__ or "").split())
            first = re.split(r"(?<!\bal)(?<!\be\.g)\.(?=\s+[A-Z]|$)", doc, maxsplit=1)[0]
            if name in pages:
                st.page_link(str(pages[name]), label=f"**{lab.TITLE}** - {first}.", icon=lab.ICON)

    runs = visible_runs(limit=20)
    st.subheader("Recent runs")
    st.page_link(str(RUNS_PAGE), label="All runs: compare, download, delete", icon="🗂️")
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(pd.DataFrame([{
        "run": r.run_id, "lab": r.lab, "status": r.damaged and "damaged" or r.status.get("status"),
        "test acc": (r.status.get("final") or {}).get("val/acc"),
        "seconds": r.status.get("seconds"), "note": r.damaged or r.status.get("message", ""),
    } for r in runs]), hide_index=True, width="stretch",
        column_config={"test acc": st.column_config.NumberColumn(format="percent"),
                       "seconds": st.column_config.NumberColumn(format="%.1f")})
