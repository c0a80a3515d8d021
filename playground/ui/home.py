"""The Home page: what this is, where it trains, the labs by section, recent runs."""
from __future__ import annotations

import base64
import functools
import json
import re

import pandas as pd
import streamlit as st

from playground import guides, registry
from playground.ui import charts
from playground.ui.state import manager, visible_runs
from playground.i18n import _


def _device() -> None:
    where = manager().device_description(timeout=0.3)
    if where:
        shown = _("**Device:** {where}", where=_(where))        # the worker's words, in English
        (st.success if where.startswith("GPU") else st.info)(shown, icon="🖥️")
        return

    @st.fragment(run_every=1.0)
    def _starting():
        found = manager().device_description(timeout=0.3)
        if found:
            st.rerun()
        st.info(_("**Device:** starting the training process..."), icon="🖥️")
    _starting()


GALLERY_COLUMNS = 3


def sentences(doc: str) -> list[str]:
    """A docstring's sentences: split at a full stop that ends one (not "et al." or "e.g.")."""
    doc = " ".join((doc or "").split())
    if re.search(r"[\u4e00-\u9fff]", doc):          # Chinese: a sentence ends with 。
        return [x + "。" for x in doc.split("。") if x.strip()]
    return [x for x in re.split(r"(?<!\bal)(?<!\be\.g)\.\s+(?=[A-Z*])", doc) if x]


def idea(doc: str, limit: int = 170) -> str:
    """A lab's idea in a line: its docstring's first sentence, or the second where the first
    only names the architecture ("Residual network.")."""
    parts = sentences(doc) or [""]
    chinese = bool(re.search(r"[\u4e00-\u9fff]", doc or ""))
    # only a name: short, or in Chinese a sentence without a clause ("图神经网络（GCN ...）。")
    named = ("，" not in re.sub(r"（[^）]*）", "", parts[0]) if chinese else len(parts[0]) < 60)
    limit = limit // 2 if chinese else limit                        # a character says more
    text = parts[1] if len(parts) > 1 and named else parts[0]
    text = text.rstrip(".。")
    end = "。" if chinese else "."
    if len(text) <= limit:
        return text + end
    cut = text.rfind(" ", 0, limit - 3) if not chinese else limit - 1
    return text[:cut].rstrip("，、；：（ ") + ("…" if chinese else "...")


@functools.lru_cache(maxsize=32)
def _thumbnail(spec: str):
    """A demo's plotly picture as a small static figure, where no PNG of it was drawn."""
    import plotly.graph_objects as go

    from playground import demos

    fig = demos.thumbnail_figure({"data": json.loads(spec)})
    fig["layout"].pop("width", None)
    return go.Figure(fig)


def _card(name: str, page) -> None:
    """One lab in the gallery: its picture from its recorded demo, its idea, open and replay."""
    from playground import demos
    from playground.ui import replay

    lab = registry.meta(name)
    st.markdown(f"**{lab.ICON} {_(lab.TITLE)}**")
    recorded = demos.demos_of(name)
    # a PNG where one was drawn (Home is every visitor's first page: a dozen plotly charts cost
    # the browser ~3 CPU-s), else the picture itself
    thumb = demos.thumbnail(name, recorded[0]) if recorded else None
    item = None if thumb else replay.picture(name)
    try:
        if thumb:
            st.image(str(thumb), width="stretch")
        elif item and item.get("kind") == "image":
            st.image(base64.b64decode(item["data"]), width="stretch")
        elif item and item.get("kind") == "plotly":
            st.plotly_chart(_thumbnail(json.dumps(item["data"], sort_keys=True)),
                            key=f"thumb-{name}", width="stretch",
                            config={"staticPlot": True})
    except Exception:  # noqa: BLE001 - a picture that cannot be drawn leaves the card's text
        pass
    st.caption(idea(guides.intro(name)))
    b1, b2 = st.columns(2)
    b1.page_link(str(page), label=_("Open"), icon=":material/open_in_new:")
    if recorded:
        b2.page_link(str(page), label=_("Replay"), icon=":material/replay:",
                     query_params={"demo": recorded[0]})


def home_page() -> None:
    from playground.ui.app import RUNS_PAGE, lab_files

    pages = lab_files()
    st.title("🧪 Neural Playground")
    st.markdown(_(
        "Pick an architecture, tweak its hyperparameters and press **Train**: a real PyTorch model "
        "trains in the background while the page shows its curves and what it has learnt so far "
        "(decision boundaries, predictions, ...). Runs are saved: refresh, share the link or come "
        "back later."))
    _device()

    by_section: dict[str, list[str]] = {}
    for name in registry.LABS:
        by_section.setdefault(registry.meta(name).SECTION, []).append(name)
    for section in registry.SECTIONS:
        if section not in by_section:
            continue
        st.subheader(_(section))
        cols = st.columns(GALLERY_COLUMNS)
        for i, name in enumerate(n for n in by_section[section] if n in pages):
            with cols[i % GALLERY_COLUMNS].container(border=True):
                _card(name, pages[name])

    runs = visible_runs(limit=20)
    st.subheader(_("Recent runs"))
    st.page_link(str(RUNS_PAGE), label=_("All runs: compare, download, delete"), icon="🗂️")
    if not runs:
        st.caption(_("No runs yet."))
        return
    st.dataframe(pd.DataFrame([{
        "run": r.run_id, "lab": r.lab, "status": r.damaged and "damaged" or r.status.get("status"),
        "result": charts.result(r.lab, r.status.get("final")),
        "seconds": r.status.get("seconds"), "note": r.damaged or r.status.get("message", ""),
    } for r in runs]), hide_index=True, width="stretch",
        column_config={"seconds": st.column_config.NumberColumn(format="%.1f")})
