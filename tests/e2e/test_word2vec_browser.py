"""The Word2Vec page in a real browser: train on the toy corpus, the word map and the analogy
panel appear, then a typed word's neighbours come from the finished run's vectors."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_word2vec_trains_maps_words_and_explores_a_typed_word(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    epochs = os.environ.get("W2V_BROWSER_EPOCHS", "3")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/word2vec?epochs={epochs}",
                                  timeout_ms=120_000)
    expect(page.get_by_text("The corpus", exact=True)).to_be_visible()   # before Train
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-word2vec-[0-9a-f]{6}"))
    expect(page.get_by_text("Word map (PCA of the word vectors)").first).to_be_visible()
    expect(page.get_by_text("Analogies: b - a + c").first).to_be_visible()
    expect(page.get_by_text("Finished")).to_be_visible()
    box = page.get_by_role("textbox", name="Type a word")
    box.fill("berlin")
    box.press("Enter")
    expect(page.get_by_text("Nearest neighbours of 'berlin'").first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "word2vec.png", "word2vec.png", 3600)
