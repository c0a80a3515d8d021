"""Navigation: Home, one page per lab grouped by section (derived from the registry), then the
Tools pages that work across labs."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from playground import registry
from playground.i18n import _

ROOT = Path(__file__).resolve().parents[2]
RUNS_PAGE = ROOT / "app_pages" / "90_runs.py"


def lab_files() -> dict[str, Path]:
    """The thin page file of each lab that has one (app_pages/<nn>_<lab>.py)."""
    out = {}
    for name in registry.LABS:
        files = sorted((ROOT / "app_pages").glob(f"*_{name}.py"))
        if files:
            out[name] = files[0]
    return out


def lab_pages() -> dict[str, st.Page]:
    return {name: st.Page(str(path), title=_(registry.meta(name).TITLE),
                          icon=registry.meta(name).ICON, url_path=name)
            for name, path in lab_files().items()}


def main() -> None:
    from playground.ui import stage

    st.set_page_config(page_title="Neural Playground", page_icon="🧪", layout="wide",
                       initial_sidebar_state="collapsed" if stage.active() else "auto")
    from playground.engine import hosting

    if hosting.caps().hosted:
        # An uncaught error shows Streamlit's generic sentence, never a traceback, to anyone
        # watching: set from the script, because the cloud's only config file is the repo's
        # .streamlit/config.toml, shared with local use, and it has no environment to set.
        st.set_option("client.showErrorDetails", "none")
    from playground.ui import language
    from playground.ui.state import remember_visitor

    language.resolve()
    remember_visitor()
    pages = lab_pages()
    home = st.Page(str(ROOT / "app_pages" / "00_home.py"), title=_("Home"), icon="🏠",
                   default=True)
    sections: dict[str, list] = {_("Start"): [home]}
    for section in registry.SECTIONS:
        in_section = [p for name, p in pages.items() if registry.meta(name).SECTION == section]
        if in_section:
            sections[_(section)] = in_section
    runs = st.Page(str(RUNS_PAGE), title=_("Runs"), icon="🗂️", url_path="runs")
    sections.setdefault(_("Tools"), []).append(runs)
    from playground.ui import timing

    from playground.ui import form

    with timing.logged("page"):
        page = st.navigation(sections, expanded=True)      # every page in view, Runs too
        form.entered(page.url_path)
        page.run()
        language.picker()
