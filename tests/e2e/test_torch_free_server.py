"""The server draws, the worker computes: a fresh server through a visitor's whole journey - Home,
every lab page, a race trained and stepped by hand, a Word2Vec run trained and looked into with
its Explore panel, its downloads drawn - never loads torch (its library is never mapped into the
Streamlit process), while the pages still show what needs a model: the summary before Train,
the step, the look. The journey is bench case 8's (playground/bench_server.py), quick."""
from __future__ import annotations

import re

import pytest

from playground import bench_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORD2VEC = "word2vec?epochs=1&corpus_tokens=8000&min_count=2"


def _train_and_explore(page, server) -> None:
    from playground.browser import CONNECTED

    # the summary before Train comes from the worker
    page.goto(f"{server.url}/mlp")
    page.wait_for_selector(CONNECTED)
    page.get_by_text(re.compile(r"Model: \d+ layers, [\d,]+ trainable parameters")).first \
        .wait_for(state="visible")
    page.goto(f"{server.url}/{WORD2VEC}")
    page.wait_for_selector(CONNECTED)
    bench_server.wait_train_enabled(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Nearest neighbours of any word").wait_for(state="visible",
                                                                timeout=240_000)
    page.get_by_text("Download: script, weights, ONNX, whole run").wait_for(state="visible")
    rank = page.get_by_test_id("stMain").get_by_role("spinbutton", name="Word to explore")
    rank.fill("3")
    rank.press("Enter")
    page.get_by_text(re.compile(r"Nearest neighbours of '\w+'")).first.wait_for(state="visible")


def test_a_visitors_journey_never_loads_torch_into_the_server(browser):
    found = bench_server.measure(quick=True, progress=lambda _: None, then=_train_and_explore,
                                 chromium=browser)
    assert found["workers"], "the runs trained in no worker process"
    assert len(found["step_s"]) == len(found["ask_s"]) == bench_server.QUICK_CLICKS
    assert found["rss_home"] > 0 and found["rss_pages"] > 0
    assert not found["torch_in_server"], "torch was loaded into the Streamlit server"
    assert "Traceback" not in found["log"]
