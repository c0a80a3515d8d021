"""A recorded demo replayed in a real browser: it plays by itself from the first second, at the
speed picked, a comparison run after run and then its verdict; Home is a gallery whose Replay
opens it."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import ASSETS, finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_demo_replays_as_a_comparison_at_the_speed_picked(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/", timeout_ms=120_000)
    expect(page.get_by_text("Fundamentals", exact=True).first).to_be_visible()
    replays = page.get_by_role("link", name=re.compile("Replay"))
    expect(replays).to_have_count(13, timeout=30_000)           # one per lab
    page.wait_for_timeout(2000)
    page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ASSETS / "gallery.png"), full_page=True)
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?demo=regularization",
                                  timeout_ms=120_000)
    expect(page.get_by_text("Replay of a recorded run").first).to_be_visible()
    page.get_by_role("radio", name="5x").click()
    # the first run finishes, the second starts, then the comparison's verdict: all played
    expect(page.get_by_text(re.compile(r"Without regularization the network repeats \d+%"))
           ).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible()     # at the end it stops
    for title in ("Train, validation and test loss", "The weights' histogram"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "replay.png", "replay.png", 1600)
