"""The CNN page in a real browser: train, filters and feature maps appear, then the finished
model classifies an uploaded image."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from PIL import Image

from tests.e2e.support import ASSETS, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_cnn_trains_shows_filters_and_classifies_an_upload(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/cnn?epochs=6")
    expect(page.get_by_text("multiply-adds per example")).to_be_visible()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-cnn-[0-9a-f]{6}"))
    expect(page.get_by_text("First-layer filters")).to_be_visible()
    expect(page.get_by_text("Feature maps of test image 0")).to_be_visible()
    expect(page.get_by_text("Finished")).to_be_visible()

    # a "7" drawn dark on white, as a user's pen drawing would be
    img = np.full((64, 64), 255, np.uint8)
    img[12:18, 14:50] = 0
    for k in range(36):
        img[18 + k:24 + k, 44 - k // 2:50 - k // 2] = 0
    drawing = tmp_path / "seven.png"
    Image.fromarray(img).save(drawing)
    page.locator("input[type=file]").set_input_files(str(drawing))
    expect(page.get_by_text("Prediction:")).to_be_visible()
    expect(page.get_by_text("What the model sees")).to_be_visible()
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "cnn.png"), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ASSETS / "cnn_training.png"), full_page=True)
    assert not errors, errors
    ctx.close()
    assert "Traceback" not in lab_server.output()[lab_server.mark:]
