"""The Community Cloud entrypoint as deployed: `streamlit run cloud/streamlit_app.py` with no
setting of ours in the environment starts the app in hosted mode (the caps shown to a visitor),
its gallery and a demo's replay included. On Python 3.12 too where PLAYGROUND_PYTHON312 names an
interpreter with the requirements installed."""
from __future__ import annotations

import os
import sys

import pytest

from tests.e2e.support import CONNECTED, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("python", ["this interpreter", "python 3.12"])
def test_the_cloud_entrypoint_starts_the_app_in_hosted_mode(browser, tmp_path, python):
    from playwright.sync_api import expect

    exe = sys.executable if python == "this interpreter" else os.environ.get(
        "PLAYGROUND_PYTHON312")
    if not exe:
        pytest.skip("set PLAYGROUND_PYTHON312 to a Python 3.12 with requirements.txt installed")
    srv = Server(tmp_path / "home", tmp_path / "streamlit.log", entry="cloud/streamlit_app.py",
                 python=exe, env={"PLAYGROUND_HOSTED": ""})       # the entrypoint alone turns it on
    try:
        srv.wait_healthy()
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{srv.url}/")
        page.wait_for_selector(CONNECTED)
        expect(page.locator("a").filter(has_text="Replay").first).to_be_visible(timeout=60_000)
        page.goto(f"{srv.url}/mlp")
        page.wait_for_selector(CONNECTED)
        expect(page.get_by_text("Shared server:").first).to_be_visible(timeout=60_000)
        page.goto(f"{srv.url}/gnn?demo=gcn-vs-mlp")
        expect(page.get_by_text("Replay of a recorded run").first).to_be_visible()
        ctx.close()
        out = srv.output()
        assert "Traceback" not in out, out[-3000:]
    finally:
        srv.stop()
