"""Stage mode in a real browser: the sidebar folded, big type, the demonstration's controls on
the page, and Train pressed from the keyboard."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_stage_mode_trains_from_the_keyboard(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/resnet?stage=1&depth=4&epochs=3",
                                  height=1100, timeout_ms=120_000)
    expect(page.get_by_role("button", name=re.compile(r"^Train"))).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed",
                                                                         "true")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
    main = page.locator('[data-testid="stMain"]')
    for label in ("Depth", "Residual", "Batch norm"):
        expect(main.get_by_text(label, exact=True).first).to_be_visible()
    expect(main.get_by_text("Epochs", exact=True)).to_have_count(0)      # in the sidebar
    page.get_by_role("heading", name=re.compile("ResNet")).first.click()  # focus off the inputs
    page.keyboard.press("t")
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-resnet-[0-9a-f]{6}"))
    assert "stage=1" in page.url
    expect(page.get_by_text(re.compile(r"^Finished \d+ steps"))).to_be_visible(timeout=90_000)
    # README's picture of stage mode is the projector's 1280x720 (test_journey.py)
    finish(page, ctx, lab_server, errors, tmp_path / "stage.png", None, 1100)
