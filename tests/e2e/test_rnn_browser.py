"""The RNN page in a real browser: the three-cell comparison on the adding problem trains, its
overlaid curves and table appear, and the LSTM's own pictures (gates, the gradient reaching each
input step) are drawn."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_rnn_vs_lstm_vs_gru_in_the_browser(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    steps = os.environ.get("RNN_BROWSER_STEPS", "120")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/rnn?steps={steps}", timeout_ms=120_000)
    expect(page.get_by_text("multiply-adds per example")).to_be_visible()
    page.get_by_role("button", name="RNN vs LSTM vs GRU").click()
    page.wait_for_url(re.compile(r"[?&]compare=(\d{8}-\d{6}-rnn-[0-9a-f]{6}(%2C|,)?){3}"))
    expect(page.get_by_text("Comparison: RNN vs LSTM vs GRU")).to_be_visible()
    expect(page.get_by_text("Gradient of the loss w.r.t. each input step").first).to_be_visible()
    expect(page.get_by_text("Best here:")).to_be_visible()          # the table, once all ended
    expect(page.get_by_text("GRU gates over time").first).to_be_visible()
    expect(page.get_by_text("Predicted vs true sums").first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "rnn.png", "rnn_compare.png", 3300)
