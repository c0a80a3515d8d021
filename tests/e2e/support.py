"""A real `streamlit run` on a free local port, and helpers to read the live panel."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playground.browser import (CHROMIUM, CHROMIUM_ARGS, CONNECTED, ROOT, STARTUP_S,  # noqa: F401
                                Server)

ASSETS = ROOT / "assets"
UPDATE = os.environ.get("UPDATE_SCREENSHOTS") == "1"      # write the README's pictures too
# a passing test's pictures, in its tmp_path, to look at (a failing one always keeps what it saw:
# tests/e2e/conftest.py); a full-page screenshot costs Chromium 0.6-1.8 CPU-s, ~30 a suite
SHOTS = UPDATE or os.environ.get("KEEP_SCREENSHOTS") == "1"
RUN_ID = re.compile(r"\d{8}-\d{6}-mlp-[0-9a-f]{6}")
STEP = re.compile(r"step\s+([\d,]+)\s*/\s*([\d,]+)")
EPOCHS = 2000         # the maximum: many seconds even on a fast machine, then we Stop it


def _step(page) -> tuple[int, int] | None:
    """(step, total) from the progress bar's text, or None while there is no bar."""
    bar = page.locator("[data-testid='stProgress']")
    if bar.count() == 0:
        return None
    try:
        m = STEP.search(bar.first.inner_text(timeout=1000))
    except Exception:       # the fragment re-rendered the bar under our feet: try again
        return None
    return (int(m[1].replace(",", "")), int(m[2].replace(",", ""))) if m else None


def _wait_step(page, at_least: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = _step(page)
        if seen and seen[0] >= at_least:
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"progress never reached step {at_least} in {timeout} s (last: {seen})")




def open_page(browser, url: str, height: int = 2000, timeout_ms: int = 60_000,
              width: int = 1400):
    """A fresh browser context on `url`, connected; returns (context, page, page errors)."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector(CONNECTED)
    return ctx, page, errors


def picture(page, shot: Path, asset: str | None, height: int) -> None:
    """This test's screenshot (in its tmp_path, with KEEP_SCREENSHOTS=1) and, with
    UPDATE_SCREENSHOTS=1, the README's picture `asset` at `height` (the charts given time to
    draw); the viewport as it was after."""
    if SHOTS:
        page.screenshot(path=str(shot), full_page=True)
    if UPDATE and asset:
        size = page.viewport_size
        page.set_viewport_size({"width": 1400, "height": height})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ASSETS / asset), full_page=True)
        page.set_viewport_size(size)


def finish(page, ctx, server, errors: list[str], shot: Path, asset: str | None,
           height: int) -> None:
    """Screenshot (and, with UPDATE_SCREENSHOTS=1, the README's picture at `height`), then: no
    page errors, and the server stops without a traceback."""
    picture(page, shot, asset, height)
    assert not errors, errors
    ctx.close()
    if getattr(server, "shared", False):          # other tests' server: only this test's part
        assert "Traceback" not in server.output()[server.mark:]
        return
    server.stop()
    assert "Traceback" not in server.output()


def train_to_the_end(page, lab: str, timeout_ms: int = 30_000) -> None:
    """Press Train on a lab page, wait for the run's id in the URL, then for "Finished" (or a
    lab's own end, early stopping's)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(rf"[?&]run=\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}}"))
    expect(page.get_by_text(re.compile(
        r"^(Finished \d+ (environment )?steps|Stopped early at step \d+)"))
           ).to_be_visible(timeout=timeout_ms)


def open_list(page, box) -> None:
    """Open a select box's list: its input clicked until the options show (typed or clicked
    before the list opens, or while the page redraws, the action lands on nothing)."""
    from playwright.sync_api import Error

    for _ in range(5):
        box.locator("input").click()
        try:
            page.get_by_role("option").first.wait_for(state="visible", timeout=5000)
            return
        except Error:
            continue
