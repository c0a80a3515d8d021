"""A sweep in a real browser: a 4 x 2 grid started from the MLP page's Sweep panel trains
locally, and the Runs page shows it - parallel coordinates, the ranked table, the best run."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_list, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _vary(page, label: str) -> None:
    open_list(page, page.get_by_test_id("stMultiSelect").filter(has_text="Settings to vary"))
    page.keyboard.type(label)
    page.get_by_role("option", name=label, exact=True).click()
    page.keyboard.press("Escape")
    # the page reruns with the new setting: its values box is there before the next change
    page.get_by_label(f"{label}: values", exact=True).wait_for(state="visible")


def _values(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")


def test_a_grid_sweep_from_the_mlp_page(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/mlp?epochs=4&dataset=moons",
                                  height=1400, timeout_ms=120_000)
    page.get_by_text("Sweep: many runs of these settings").click()
    _vary(page, "Learning rate")
    _vary(page, "Hidden sizes")
    _values(page, "Learning rate: values", "0.003,0.01,0.03,0.1")
    _values(page, "Hidden sizes: values", "4;16,16")
    expect(page.get_by_text("8 runs.")).to_be_visible()
    page.get_by_role("button", name=re.compile("Start sweep")).click()
    page.get_by_text("Follow it on the Runs page").click()
    page.wait_for_url(re.compile(r"/runs\?sweep=\d{8}-\d{6}-sweep-mlp-[0-9a-f]{6}"))
    expect(page.get_by_text(re.compile(r"completed: 8 of 8 runs ended"))).to_be_visible(
        timeout=180_000)
    expect(page.locator(".parcoords").first).to_be_attached()
    expect(page.get_by_text(re.compile("Open the best run on the mlp page"))).to_be_visible()
    expect(page.get_by_text("How much each setting moves the objective")).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "sweep.png", "sweep.png", 1400)
