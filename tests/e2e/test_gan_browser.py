"""The GAN page in a real browser: train on the ring; the points over D's heatmap, the
generator's push and the followed noise vectors appear, and the modes-covered curve is drawn;
then the finished run is stepped by hand (slow motion) and the steps are counted."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import ASSETS, finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_gan_trains_on_the_ring_and_draws_what_d_thinks(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    steps = os.environ.get("GAN_BROWSER_STEPS", "600")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/gan?steps={steps}",
                                  timeout_ms=120_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-gan-[0-9a-f]{6}"))
    expect(page.get_by_text("Real vs generated, and what D thinks").first).to_be_visible()
    expect(page.get_by_text("8 fixed noise vectors, followed").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Finished \d+ steps"))).to_be_visible()
    expect(page.get_by_text("Modes covered").first).to_be_visible()
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_visible()
    page.get_by_text("Step through it by hand").click()
    expect(page.get_by_text("The run as it ended")).to_be_visible(timeout=30_000)
    for _ in range(2):
        page.get_by_role("button", name="One G step").click()
        page.wait_for_timeout(300)
    expect(page.get_by_text("Steps taken by hand: 2 x one g step.")).to_be_visible()
    page.get_by_role("button", name="One D step").click()
    expect(page.get_by_text("2 x one g step, 1 x one d step")).to_be_visible()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": 1400, "height": 1250})
        page.wait_for_timeout(1500)
        heading = page.get_by_text("Slow motion: one player at a time")
        heading.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        top = max(0, heading.bounding_box()["y"] - 10)
        page.screenshot(path=str(ASSETS / "gan_steps.png"),
                        clip={"x": 300, "y": top, "width": 1100, "height": 1240 - top})
    finish(page, ctx, lab_server, errors, tmp_path / "gan.png", "gan.png", 2600)
