"""The Transformer page in a real browser: train the default (reverse), the attention heatmaps
and the answers appear, then a typed question is answered from the finished run's weights."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_transformer_reverses_and_shows_its_attention(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    steps = os.environ.get("TRANSFORMER_BROWSER_STEPS", "250")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/transformer?steps={steps}",
                                  timeout_ms=120_000)
    expect(page.get_by_text("multiply-adds per example")).to_be_visible()   # before Train
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-transformer-[0-9a-f]{6}"))
    expect(page.get_by_text("Attention on test example 0").first).to_be_visible()
    expect(page.get_by_text("Accuracy per answer position").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Finished \d+ steps"))).to_be_visible()
    # plotly drew the grid: one heatmap per layer and head
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_visible()
    box = page.get_by_role("textbox", name=re.compile("Type a question"))
    box.fill("12345678")
    box.press("Enter")
    expect(page.get_by_text("The model's answer", exact=True)).to_be_visible()
    expect(page.get_by_text("8 7 6 5 4 3 2 1")).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "transformer.png", "transformer.png", 3400)
