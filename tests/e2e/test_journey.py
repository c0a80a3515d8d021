"""A newcomer's first minutes, in a real browser against `streamlit run`: from Home to every lab
page by the sidebar, one setting changed, away to another page and back (the setting kept, Train
enabled), train, the lab's comparison with every run's key picture side by side and a verdict,
Train again after the run ended; a replay and back to training; stage mode at a projector's
1280x720 with a result in view after Train."""
from __future__ import annotations

import os
import re

import pytest

from playground import registry
from tests.e2e.support import ASSETS, CONNECTED, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the one setting each journey changes: a short run, so that the page's whole path fits a test
SETTING = {"mlp": ("Epochs", 5), "fundamentals": ("Steps", 150), "cnn": ("Epochs", 1),
           "resnet": ("Epochs", 1), "distill": ("Epochs", 2), "rnn": ("Steps", 60),
           "word2vec": ("Epochs", 1), "transformer": ("Steps", 40), "gan": ("Steps", 150),
           "vae": ("Epochs", 3), "diffusion": ("Steps", 150), "gnn": ("Epochs", 20),
           "dqn": ("Environment steps", 1000)}
FINISHED = re.compile(r"^(Finished \d+ (environment )?steps|Stopped early at step \d+)")


HEADINGS = {"Home": "Neural Playground"}


def _nav(page, title: str) -> None:
    """Go to a page by the sidebar's navigation, as a visitor does (no URL typed)."""
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.locator("a", has_text=re.compile(rf"^\W*{re.escape(title)}\s*$")).first.click()
    page.wait_for_selector(CONNECTED)
    heading = HEADINGS.get(title, title)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)


def _field(page, label: str):
    return page.locator('[data-testid="stSidebar"]').get_by_label(label, exact=True)


def _open_groups(page) -> None:
    """Unfold the sidebar's groups of settings, as a visitor looking for one does."""
    closed = page.locator('[data-testid="stSidebar"] details:not([open]) > summary')
    while closed.count():
        closed.first.click()


def _run_id(page, lab: str) -> str:
    m = re.search(rf"[?&]run=(\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}})", page.url)
    return m[1] if m else ""


def _train(page, lab: str, before: str = "", timeout_ms: int = 120_000) -> str:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(
        "([lab, before]) => { const m = location.search.match(new RegExp("
        "'[?&]run=(\\\\d{8}-\\\\d{6}-' + lab + '-[0-9a-f]{6})')); return m && m[1] != before; }",
        arg=[lab, before])
    expect(page.get_by_text(FINISHED).first).to_be_visible(timeout=timeout_ms)
    return _run_id(page, lab)


@pytest.mark.parametrize("lab", registry.LABS)
def test_a_lab_page_keeps_its_form_trains_compares_and_trains_again(browser, lab_server, lab,
                                                                     tmp_path):
    from playwright.sync_api import expect

    title = registry.meta(lab).TITLE
    label, value = SETTING[lab]
    ctx, page, errors = open_page(browser, lab_server.url, height=1600, timeout_ms=120_000)
    page.get_by_role("heading", name=re.compile("Neural Playground")).first.wait_for()

    # -- Home -> the lab by the sidebar; one setting changed ---------------------------------
    _nav(page, title)
    field = _field(page, label)
    field.wait_for(state="attached")
    _open_groups(page)
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_url(re.compile(rf"[?&]\w+={value}(&|$)"))

    # -- away and back by the sidebar: the setting kept, every field sane, Train enabled ------
    _nav(page, "Runs" if lab == "gan" else "Home")
    _nav(page, title)
    expect(_field(page, label)).to_have_value(str(value))
    expect(page.get_by_text("Fix these settings to train")).to_have_count(0)
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()

    first = _train(page, lab)
    assert first, page.url

    # -- the comparison: each run's key picture side by side, the table, a verdict ------------
    compare = registry.get(lab).COMPARE if hasattr(registry.get(lab), "COMPARE") else None
    if callable(compare):
        compare = compare(registry.get(lab).Config())
    if compare:
        page.get_by_role("button", name=compare["label"]).click()
        page.wait_for_url(re.compile(r"[?&]compare="))
        verdict = page.locator(".st-key-cmp-verdict")
        expect(verdict).to_be_visible(timeout=240_000)
        expect(verdict.get_by_test_id("stAlert")).to_be_visible()
        views = page.locator(".st-key-cmp-views")
        pictures = views.locator("[data-testid='stPlotlyChart'], [data-testid='stImage']")
        expect(pictures).to_have_count(len(compare["names"]) * max(1, len(
            compare.get("views", ()))))
        for name in compare["names"]:
            expect(views.get_by_text(re.compile(rf"^{re.escape(name)}:")).first).to_be_visible()
        first = _run_id(page, lab)

    # -- Train again once it ended: a new run, also to its end --------------------------------
    second = _train(page, lab, before=first)
    assert second and second != first
    expect(_field(page, label)).to_have_value(str(value))
    page.screenshot(path=str(tmp_path / f"journey-{lab}.png"), full_page=True)
    assert not errors, errors
    ctx.close()


def test_replay_then_train_it_yourself_gives_a_form_that_trains(browser, lab_server):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/resnet?epochs=2",
                                  timeout_ms=120_000)
    expect(_field(page, "Epochs")).to_have_value("2")
    page.get_by_role("button", name="Replay demo").click()
    expect(page.get_by_text(re.compile("Replay of a recorded run"))).to_be_visible()
    page.get_by_role("button", name="Train it yourself").first.click()
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    expect(_field(page, "Epochs")).to_have_value("2")
    expect(_field(page, "Depth")).not_to_have_value("0")
    expect(page.get_by_text("Fix these settings to train")).to_have_count(0)
    _train(page, "resnet")
    assert not errors, errors
    ctx.close()


def test_stage_mode_at_1280x720_shows_a_result_without_scrolling(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/gan?stage=1&steps=300",
                                  height=720, width=1280, timeout_ms=120_000)
    expect(page.get_by_role("button", name=re.compile("^Train"))).to_be_enabled()
    # a key pressed while the script still runs goes to the element it replaces: wait it out
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.get_by_role("heading", name=re.compile("GAN")).first.click()     # focus off the inputs
    page.keyboard.press("t")
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-gan-[0-9a-f]{6}"))
    expect(page.get_by_text(FINISHED).first).to_be_visible(timeout=120_000)
    page.wait_for_timeout(1500)
    shot = tmp_path / "stage-1280x720.png"
    page.screenshot(path=str(shot))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":          # README's picture of stage mode
        page.screenshot(path=str(ASSETS / "stage.png"))
    # the live picture, whole, on the screen as it is (the page not scrolled)
    scrolled = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    assert scrolled == 0
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts.first).to_be_visible()
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    whole = [b for b in boxes if b and b["y"] >= 0 and b["y"] + b["height"] <= 720]
    assert whole, f"no chart wholly within 1280x720: {boxes} (see {shot})"
    assert not errors, errors
    ctx.close()
