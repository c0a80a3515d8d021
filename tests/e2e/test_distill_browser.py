"""The distillation page and the Runs page in a real browser: one click trains teacher, student
from scratch and distilled student; the table and its verdict appear; the Runs page overlays the
three runs and shows what differs between them."""
from __future__ import annotations

import os
import re
from urllib.parse import unquote

import pytest

from tests.e2e.support import ASSETS, CONNECTED

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RUN = r"\d{8}-\d{6}-distill-[0-9a-f]{6}"


def test_three_way_comparison_then_the_runs_page(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab_server.url}/distill?teacher_epochs=20&epochs=60")
    page.wait_for_selector(CONNECTED)
    expect(page.get_by_text("Teacher vs student")).to_be_visible(timeout=90_000)
    smaller = page.get_by_text(re.compile(r"The student is [\d.]+x smaller"))
    expect(smaller).to_be_visible(timeout=90_000)

    page.get_by_role("button", name="Run the three-way comparison").click()
    page.wait_for_url(re.compile(rf"compare={RUN}%2C{RUN}%2C{RUN}"))
    ids = re.findall(RUN, unquote(page.url.split("compare=")[1]))[:3]
    verdict = page.get_by_text(re.compile(r"^Distillation (helped|did not help|made no)"))
    expect(verdict).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Soft targets of test image 0").first).to_be_visible(timeout=90_000)
    expect(page.get_by_text("KL per class").first).to_be_visible(timeout=90_000)
    page.wait_for_timeout(1500)             # let the charts draw before the picture
    page.screenshot(path=str(tmp_path / "distill.png"), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ASSETS / "distill_comparison.png"), full_page=True)

    # after training, the inspector looks at any test image without retraining
    picker = page.get_by_test_id("stMain").get_by_role("spinbutton", name="Test image")
    picker.fill("5")
    picker.press("Enter")
    expect(page.get_by_text("Soft targets of test image 5").first).to_be_visible()

    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{lab_server.url}/runs?runs={','.join(ids)}")
    page.wait_for_selector(CONNECTED)
    diff_cell = page.get_by_text("mode", exact=True).first          # a cell of the diff table
    expect(diff_cell).to_be_attached(timeout=60_000)
    expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible(timeout=90_000)
    page.wait_for_timeout(1500)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ASSETS / "runs_page.png"), full_page=True)
    assert not errors, errors
    ctx.close()
    assert "Traceback" not in lab_server.output()[lab_server.mark:]
