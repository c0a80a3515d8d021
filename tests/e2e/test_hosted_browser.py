"""Two visitors of one hosted server, each in their own browser context (their own cookies):
B opens A's link and watches the live run with no Stop and no delete; A refreshes and can still
stop it (A's browser remembers A; the link carries nothing of that)."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import CONNECTED, RUN_ID, Server, _step, _wait_step

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def hosted_server(tmp_path):
    srv = Server(tmp_path / "home", tmp_path / "streamlit.log",
                 # a run long enough to still be training when the owner comes back to stop it,
                 # on a busy machine too: 50,000 updates (the hosted default) took 25 s
                 env={"PLAYGROUND_HOSTED": "1", "PLAYGROUND_MAX_EPOCHS": "2000",
                      "PLAYGROUND_MAX_UPDATES": "1000000"})
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


def _visitor(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def test_a_shared_link_is_read_only_and_the_owner_keeps_control(browser, hosted_server,
                                                               tmp_path):
    from playwright.sync_api import expect

    url = hosted_server.url
    a_ctx, a = _visitor(browser)
    # long enough (batch 4: ~250 steps an epoch) that it is still running when A comes back
    a.goto(f"{url}/mlp?epochs=2000&batch_size=4")
    a.wait_for_selector(CONNECTED)
    a.get_by_role("button", name="Train", exact=True).click()
    a.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-mlp-[0-9a-f]{6}"))
    run_id = RUN_ID.search(a.url)[0]
    _wait_step(a, 1, timeout=30)
    key = {c["name"]: c["value"] for c in a_ctx.cookies()}.get("playground_visitor")
    assert key and re.fullmatch(r"[0-9a-f]{32}", key), a_ctx.cookies()
    assert key not in a.url

    # A's Share link: the settings and the run, nothing of A's key
    a.get_by_role("button", name="Share").click()
    link = a.locator("[data-testid='stCode']").first.inner_text()
    assert f"run={run_id}" in link and "epochs=2000" in link and key not in link, link
    a.keyboard.press("Escape")

    # B, another browser, opens it: the live run, read-only
    b_ctx, b = _visitor(browser)
    b.goto(link.strip())
    b.wait_for_selector(CONNECTED)
    expect(b.get_by_text("Watching another visitor's run, read-only").first).to_be_visible()
    expect(b.get_by_text(f"Run {run_id}").first).to_be_visible()
    first, _ = _wait_step(b, 1, timeout=30)
    _wait_step(b, first + 1, timeout=30)                     # live: it moves on B's page too
    assert b.get_by_role("button", name="Stop", exact=True).count() == 0
    b.goto(f"{url}/runs?runs={run_id}")
    b.wait_for_selector(CONNECTED)
    expect(b.get_by_text("belong to other visitors").first).to_be_visible()
    assert b.get_by_role("button", name="Delete selected runs").count() == 0

    # A refreshes: still A's run, Stop works
    a.reload()
    a.wait_for_selector(CONNECTED)
    assert a.get_by_text("read-only").count() == 0
    stop = a.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_enabled()
    stop.click()
    expect(a.get_by_text("cancelled").first).to_be_visible()
    step = _step(a)
    assert step is None or step[0] < step[1]
    a_ctx.close()
    b_ctx.close()
    log = hosted_server.output()
    assert "Traceback" not in log, log
