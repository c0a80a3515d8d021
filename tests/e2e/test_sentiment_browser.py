"""Sentiment in a real browser: a CSV of labelled texts is uploaded and named, the LSTM trains on
it, and the finished model is asked - a probe clicked, a sentence typed - with each word's push
drawn."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page, train_to_the_end
from tests.test_sentiment_corpora import BAD, GOOD, _csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_uploaded_csv_trains_and_the_finished_model_answers(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/rnn?task=sentiment&corpus=file"
                                           "&seq_len=12&steps=150&embedding=16&hidden_size=16"
                                           "&lr=0.01", timeout_ms=60_000)
    upload = page.locator("section[data-testid='stSidebar'] input[type=file]")
    few = tmp_path / "few.csv"
    few.write_text(_csv(10))
    upload.set_input_files(str(few))
    expect(page.get_by_text("The file has 10 labelled rows").first).to_be_visible()
    own = tmp_path / "reviews.csv"
    own.write_text(_csv(300, labels=(("1", GOOD), ("0", BAD))))
    upload.set_input_files(str(own))
    expect(page.get_by_text(re.compile(r"Using reviews\.csv: 300 texts, 2 labels"))).to_be_visible()
    train_to_the_end(page, "rnn", timeout_ms=60_000)
    expect(page.get_by_text("Ask the finished model")).to_be_visible()
    page.get_by_role("radio", name="not good", exact=True).click()
    expect(page.get_by_text(re.compile(r"P\(positive\) = \d\.\d\d"))).to_be_visible()
    expect(page.get_by_text("Not in its vocabulary, read as 'unknown': not, good")).to_be_visible()
    box = page.get_by_role("textbox", name="Type a sentence")
    assert box.input_value() == "not good"
    box.fill("the acting was superb and I love it")
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"the model reads it as positive"))).to_be_visible()
    expect(page.get_by_text("Each word's push")).to_be_visible()
    # away and back: the uploader comes back empty, the form still holds the file
    sidebar = page.locator("section[data-testid='stSidebar']")
    sidebar.get_by_role("link", name="Home").click()
    expect(page.get_by_text("Neural Playground").first).to_be_visible()
    sidebar.get_by_role("link", name="RNN / LSTM / GRU").click()
    expect(page.get_by_text(re.compile(r"Using reviews\.csv, uploaded before: 300 texts"))
           ).to_be_visible()
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    sidebar.get_by_role("button", name="Use no file").click()
    expect(page.get_by_text("The file corpus is a CSV of your own: upload one")).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "sentiment.png", None, 2600)
