"""The diffusion page in a real browser: the schedule before Train, then a swiss roll trained
live - samples over the data, the noise field, the way from noise to data (small multiples and
the slider) and the energy curve; then the finished model samples again in 10 DDIM steps."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_diffusion_trains_the_swiss_roll_and_shows_the_way_from_noise(browser, lab_server,
                                                                       tmp_path):
    from playwright.sync_api import expect

    steps = os.environ.get("DIFFUSION_BROWSER_STEPS", "1500")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/diffusion?steps={steps}",
                                  timeout_ms=120_000)
    expect(page.get_by_text("The noise schedule (linear, T = 1000)")).to_be_visible()
    expect(page.get_by_text("The forward process: the data as noise is added")).to_be_visible()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-diffusion-[0-9a-f]{6}"))
    expect(page.get_by_text(re.compile(r"^Finished \d+ steps"))).to_be_visible()
    for title in ("Samples over the data", "The learned noise field at t = 100",
                  "From noise to data: the same points at each t", "Denoising, step by step"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.get_by_text("Energy distance to held-out data").first).to_be_visible()
    expect(page.locator(".js-plotly-plot .slider-container").first).to_be_attached()
    # sample the finished model again through 10 DDIM steps: quality against sampling time
    # (computed in the server - DDPM's 1,000 steps among them - so a busy core slows it a lot)
    steps_box = page.get_by_label("Sampling steps").last
    steps_box.fill("10")
    steps_box.press("Enter")
    expect(page.get_by_text("Quality against sampling time")).to_be_visible(timeout=180_000)
    expect(page.get_by_text(re.compile(r"Pictures made in [\d.]+ s"))).to_be_visible()
    page.get_by_text("Quality against sampling time").evaluate("e => e.scrollIntoView()")
    page.screenshot(path=str(tmp_path / "explore.png"))
    finish(page, ctx, lab_server, errors, tmp_path / "diffusion.png", "diffusion.png", 3000)
