"""The DQN page in a real browser: a short CartPole run trained live - the return curves, the
episode returns, the latest greedy episode replayed (Play) and the greedy action over the
pole's angle and angular velocity."""
from __future__ import annotations

import os
import re

import pytest

from tests.e2e.support import finish, open_page, train_to_the_end

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_dqn_trains_cartpole_and_replays_a_greedy_episode(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    steps = os.environ.get("DQN_BROWSER_STEPS", "10000")
    ctx, page, errors = open_page(browser, f"{lab_server.url}/dqn?env_steps={steps}",
                                  timeout_ms=120_000)
    train_to_the_end(page, "dqn", 240_000)
    for title in ("Return of every training episode", "The latest greedy episode, replayed",
                  "The greedy action over the state"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    expect(page.get_by_text("Return (test: greedy)", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Evaluation episode 1 \(seed 10000\): \d+ steps"))
           ).to_be_visible()
    play = page.get_by_text("▶ Play").first
    expect(play).to_be_attached()
    play.click()
    expect(page.locator(".js-plotly-plot .slider-container").first).to_be_attached()
    finish(page, ctx, lab_server, errors, tmp_path / "dqn.png", "dqn.png", 2400)
