"""The fundamentals page's other experiments in a real browser (the optimizers' race and its slow
motion are the journey's: tests/e2e/lab_checks.py): a 50-layer ReLU network shows its signal's
spread layer by layer, ReLU units die at a high learning rate, lines and classifiers fitted by
different losses, a network that overfits stopped early."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import UPDATE, finish, open_page, picture, train_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_each_experiment_trains_and_shows_its_views(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment=init"
                                           "&train_steps=100", timeout_ms=120_000)

    def train(query: str) -> None:
        page.goto(f"{lab_server.url}/fundamentals?{query}")
        train_to_the_end(page, "fundamentals", 60_000)

    def see(*titles: str) -> None:
        for title in titles:
            expect(page.get_by_text(title, exact=True).first).to_be_visible()

    train_to_the_end(page, "fundamentals", 60_000)
    see("Activations' spread, layer by layer", "Gradients' spread, layer by layer")
    picture(page, tmp_path / "init.png", None, 2000)

    train("experiment=activations&lr=0.05&train_steps=500")
    see("The activation functions", "Their slopes (derivatives)", "Dead units, layer by layer")
    expect(page.locator(".js-plotly-plot .bars").first).to_be_attached()     # the dead-unit bars
    picture(page, tmp_path / "activations.png", None, 2000)

    train("experiment=losses&steps=300")
    see("Three lines, three losses, the same points")
    train("experiment=losses&loss_task=classification&steps=300")
    see("Each loss against the margin", "How hard each example pulls", "Accuracy and confidence",
        "label smoothing: where it is sure")
    picture(page, tmp_path / "losses.png", None, 2000)

    # a network that learns wrong labels by heart, stopped early: the run says so, and shows
    # its curves and weights as a run to the end does (the README's picture: one to the end)
    train("experiment=regularization&early_stopping=5")
    expect(page.get_by_text(re.compile(r"Stopped early at step \d+")).first).to_be_visible()
    see("Train, validation and test loss", "Train and test accuracy", "The weights' histogram")
    picture(page, tmp_path / "early.png", None, 2000)
    if UPDATE:
        train("experiment=regularization")
        see("Train, validation and test loss", "Train and test accuracy",
            "The weights' histogram")
    finish(page, ctx, lab_server, errors, tmp_path / "regularization.png",
           "fundamentals_regularization.png", 2000)
