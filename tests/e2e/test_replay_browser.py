"""A recorded demo replayed in a real browser: it plays by itself from the first second, at the
speed picked, a comparison run after run and then its verdict. (Home's gallery, whose Replay
opens it, is the journey's first page: tests/e2e/test_journey.py.)"""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_demo_replays_as_a_comparison_at_the_speed_picked(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?demo=regularization",
                                  timeout_ms=120_000)
    expect(page.get_by_text("Replay of a recorded run").first).to_be_visible()
    page.get_by_role("radio", name="10x").click()
    # the first run finishes, the second starts, then the comparison's verdict: all played
    expect(page.get_by_text(re.compile(r"Without regularization the network repeats \d+%"))
           ).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible()     # at the end it stops
    for title in ("Train, validation and test loss", "The weights' histogram"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "replay.png", "replay.png", 1600)
