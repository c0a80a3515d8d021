"""End-to-end: a real Chromium drives `streamlit run streamlit_app.py`.

On the lab pages' shared app (a free local port, its own PLAYGROUND_HOME), opens the MLP lab,
presses Train and checks the live panel: the run id lands in the URL, curves and the decision boundary
appear and keep updating, a reload re-attaches to the same run, Stop cancels it, and Home lists
it under "Recent runs". With KEEP_SCREENSHOTS=1 a full-page screenshot is taken mid-training
(also written to assets/mlp_training.png with UPDATE_SCREENSHOTS=1).

Needs Chromium at /usr/bin/chromium and the playwright package (no `playwright install`);
skipped otherwise.  Run: python -m pytest -q tests/e2e
"""
from __future__ import annotations

import re
import time

import pytest

from tests.e2e.support import (ASSETS, CONNECTED, EPOCHS, RUN_ID, SHOTS, UPDATE, _step,
                               _wait_step)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_mlp_train_live_reload_stop_and_home(browser, lab_server, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

    t0 = time.monotonic()
    ctx = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    console_errors: list[str] = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))

    # -- the MLP page, Train ------------------------------------------------------------------
    page.goto(f"{lab_server.url}/mlp?epochs={EPOCHS}")
    page.wait_for_selector(CONNECTED, timeout=30_000)
    train = page.get_by_role("button", name="Train", exact=True)
    expect(train).to_be_enabled()
    train.click()

    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-mlp-[0-9a-f]{6}"), timeout=20_000)
    run_id = RUN_ID.search(page.url)[0]
    assert f"epochs={EPOCHS}" in page.url, page.url
    header = page.locator("[data-testid='stMarkdownContainer']", has_text=f"Run {run_id}")
    expect(header.first).to_be_visible()

    # -- live panel: curves, decision boundary, hidden neurons -------------------------------
    curves = page.locator("[data-testid='stPlotlyChart']")
    expect(curves.nth(2)).to_be_visible(timeout=30_000)      # Loss, Accuracy, boundary
    expect(page.get_by_text("Decision boundary: p(orange)").first).to_be_visible()
    expect(page.get_by_text("Hidden neurons").first).to_be_visible()
    expect(page.get_by_text("Train loss").first).to_be_visible()
    expect(header.first).to_contain_text("running")

    # -- it updates while training -----------------------------------------------------------
    first, total = _wait_step(page, 1, timeout=20)
    assert total > first, (first, total)
    second, _ = _wait_step(page, first + 1, timeout=15)
    assert second > first
    # the loss curve itself is redrawn with more points: its plotly trace grows
    n_points = ("el => { const d = el.querySelector('.js-plotly-plot');"
                " return d && d.data ? Math.max(...d.data.map(t => (t.x || []).length)) : 0; }")
    loss_chart = curves.first
    before = loss_chart.evaluate(n_points)
    page.wait_for_function(
        """([sel, n]) => { const d = document.querySelector(sel + ' .js-plotly-plot');
            return d && d.data && Math.max(...d.data.map(t => (t.x || []).length)) > n; }""",
        arg=["[data-testid='stPlotlyChart']", before], timeout=15_000)

    # -- screenshot mid-training -------------------------------------------------------------
    _wait_step(page, second + 1, timeout=10)           # make sure it is still running
    if SHOTS:
        # Best effort: catch a moment between two polls, when no element is greyed out as stale
        # (Streamlit fades stale elements only after 0.5 s, so a shot right after is clean).
        try:
            page.wait_for_function("() => !document.querySelector(\"[data-stale='true']\")",
                                   timeout=5_000)
        except PlaywrightTimeout:
            pass
        shot = page.screenshot(full_page=True)
        (tmp_path / "mlp_training.png").write_bytes(shot)
        if UPDATE:
            ASSETS.mkdir(exist_ok=True)
            (ASSETS / "mlp_training.png").write_bytes(shot)

    # -- reload: still attached to the same run, still live -----------------------------------
    before_reload, _ = _step(page) or (0, 0)
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=30_000)
    assert RUN_ID.search(page.url) and RUN_ID.search(page.url)[0] == run_id, page.url
    header = page.locator("[data-testid='stMarkdownContainer']", has_text=f"Run {run_id}")
    expect(header.first).to_be_visible()
    expect(header.first).to_contain_text("running")
    after_reload, _ = _wait_step(page, before_reload + 1, timeout=15)
    assert after_reload > before_reload
    expect(curves.nth(2)).to_be_visible()

    # -- Stop: the run ends as cancelled ------------------------------------------------------
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_enabled()
    at, total = _wait_step(page, after_reload, timeout=5)
    stop.click()
    # a very fast machine may finish the last steps before the Stop lands
    ended = "cancelled" if at < 0.8 * total else re.compile("cancelled|completed")
    expect(header.first).to_contain_text(ended, timeout=15_000)
    expect(page.locator("[data-testid='stProgress']")).to_have_count(0)
    expect(stop).to_be_disabled()

    # -- Home lists it -----------------------------------------------------------------------
    page.goto(f"{lab_server.url}/")
    page.wait_for_selector(CONNECTED, timeout=30_000)
    expect(page.get_by_role("heading", name=re.compile("Neural Playground"))).to_be_visible()
    expect(page.get_by_text("Recent runs", exact=True)).to_be_visible()
    grid = page.locator("[data-testid='stDataFrame']")
    expect(grid).to_be_visible()
    expect(grid).to_contain_text(run_id)
    expect(grid).to_contain_text(ended)

    ctx.close()
    assert not console_errors, console_errors

    # -- the server said nothing bad while this test used it ----------------------------------
    log = lab_server.output()[lab_server.mark:]
    bad = [line for line in log.splitlines()
           if re.search(r"Traceback|Error|Warning|WARNING|deprecat|terminate called", line)]
    assert not bad, "server log:\n" + log
    assert time.monotonic() - t0 < 90, f"took {time.monotonic() - t0:.0f} s"
