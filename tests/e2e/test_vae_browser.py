"""The VAE page in a real browser: train the default, the code map, the decoded plane and the
prior's samples appear."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_vae_trains_and_draws_its_code(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    epochs = os.environ.get("VAE_BROWSER_EPOCHS", "40")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/vae?epochs={epochs}",
                                  timeout_ms=120_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-vae-[0-9a-f]{6}"))
    expect(page.get_by_text(re.compile(r"^Finished \d+ epochs?|^Finished \d+ steps"))
           ).to_be_visible()
    for title in ("The code of every test image", "Decoded all over the code plane",
                  "Samples from the prior N(0, I)", "k-NN accuracy of the codes"):
        expect(page.get_by_text(title).first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "vae.png", "vae.png", 2800)
