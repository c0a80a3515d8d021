"""The fundamentals page in a real browser: a 50-layer ReLU network shows its signal's spread
layer by layer, ReLU units die at a high learning rate, five optimizers race down the Rosenbrock
valley, lines and classifiers fitted by different losses, a network that overfits (and one
stopped early)."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page, train_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_optimizers_race_and_initialisation_shows_the_signal(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment=init"
                                           "&train_steps=100", timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    for title in ("Activations' spread, layer by layer", "Gradients' spread, layer by layer"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    page.screenshot(path=str(tmp_path / "init.png"), full_page=True)
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment="
                                           "activations&lr=0.05&train_steps=500",
                                  timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    for title in ("The activation functions", "Their slopes (derivatives)",
                  "Dead units, layer by layer"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.locator(".js-plotly-plot .bars").first).to_be_attached()     # the dead-unit bars
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "activations.png"), full_page=True)
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals", timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    for title in ("The race on the rosenbrock surface", "Distance to the minimum's loss"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"momentum: step \d+")).first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "fundamentals.png", "fundamentals.png",
           2000)


def test_losses_and_regularization_show_their_views(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment=losses"
                                           "&steps=300", timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    expect(page.get_by_text("Three lines, three losses, the same points",
                            exact=True).first).to_be_visible()
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment=losses"
                                           "&loss_task=classification&steps=300",
                                  timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    for title in ("Each loss against the margin", "How hard each example pulls",
                  "Accuracy and confidence", "label smoothing: where it is sure"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "losses.png"), full_page=True)
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment="
                                           "regularization&early_stopping=5", timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    expect(page.get_by_text(re.compile(r"Stopped early at step \d+")).first).to_be_visible()
    ctx.close()
    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?experiment="
                                           "regularization", timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    for title in ("Train, validation and test loss", "Train and test accuracy",
                  "The weights' histogram"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "regularization.png",
           "fundamentals_regularization.png", 2000)


def test_the_race_in_slow_motion(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/fundamentals?steps=100",
                                  timeout_ms=120_000)
    train_to_the_end(page, "fundamentals", 60_000)
    expect(page.get_by_text("Slow motion: the race, one step per click")).to_be_visible()
    page.get_by_text("Step through it by hand").click()
    expect(page.get_by_text(re.compile("Every racer on the start"))).to_be_visible()
    step = page.get_by_role("button", name="One step", exact=True)
    for n in (1, 2, 3):
        step.click()
        expect(page.get_by_text(f"Steps taken by hand: {n} x one step.")).to_be_visible()
    expect(page.get_by_text("Step 3: how steep, how far")).to_be_visible()
    page.get_by_role("button", name="Ten steps", exact=True).click()
    expect(page.get_by_text("Step 13: how steep, how far")).to_be_visible()
    expect(page.get_by_text("Step 13: how steep, how far")).to_be_visible()
    page.get_by_text("Slow motion: the race, one step per click").evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    finish(page, ctx, lab_server, errors, tmp_path / "steps.png", "fundamentals_steps.png", 1700)
