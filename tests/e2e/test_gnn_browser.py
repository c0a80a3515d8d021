"""The GNN page in a real browser: the karate club trained live from its two leaders - the graph
coloured by prediction, the hidden layer in 2-D and the accuracy curves."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page, train_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_gnn_labels_the_karate_club_from_two_leaders(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/gnn", timeout_ms=120_000)
    train_to_the_end(page, "gnn")
    for title in ("The graph, coloured by prediction", "Every node's hidden layer, in 2-D (PCA)"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.get_by_text("Validation-node accuracy").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"the 2 labelled nodes")).first).to_be_visible()
    # the graph is drawn: 34 members and 78 links in one plotly chart
    page.wait_for_function("""() => [...document.querySelectorAll(
        '.js-plotly-plot .scatterlayer .trace')].some(t => t.querySelectorAll('.point').length
        === 34)""")
    finish(page, ctx, lab_server, errors, tmp_path / "gnn.png", "gnn.png", 2200)
