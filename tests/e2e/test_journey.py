"""A newcomer's first minutes, in a real browser against `streamlit run`: from Home (a gallery
with a Replay per lab) to every lab page by the sidebar, one setting changed, away to another page
and back (the setting kept, Train enabled), train, what that lab shows of the finished run, the
lab's comparison with every run's key picture side by side and a verdict (on the labs where it
differs, BROWSER_COMPARE; on the others its button), Train again after the run ended; a replay and back to training; stage mode at a projector's 1280x720 trained from the
keyboard with a result in view. Each lab page trains here and nowhere else in the browser
tests: its own views are checked on the journey's runs (tests/e2e/lab_checks.py)."""
from __future__ import annotations

import re

import pytest

from playground import registry
from tests.e2e.lab_checks import LAB_CHECKS
from tests.e2e.support import ASSETS, CONNECTED, UPDATE, open_page, picture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the setting each journey changes (first; where evaluating the model, not training it, is most
# of a run's time, one or two more): a short run, so that the page's whole path fits a test and
# still shows every view it checks - the fundamentals race reaches momentum's step within the
# tolerance (666), the transformer learns to reverse (60 steps: all right; 40: not yet),
# diffusion samples in 5 DDIM steps and its "sample again" compares the samplers over T = 20
# noise steps (DDPM's all T among them: 1,000 by default)
SETTINGS = {"mlp": [("Epochs", 5)], "fundamentals": [("Steps", 800)], "cnn": [("Epochs", 1)],
            "resnet": [("Epochs", 1), ("Depth", 6)], "distill": [("Epochs", 2)],
            "transfer": [("Steps", 100)],
            "rnn": [("Steps", 60)], "word2vec": [("Epochs", 1)],
            "transformer": [("Steps", 60), ("Examples", 2000)], "gan": [("Steps", 100)],
            "vae": [("Epochs", 3)],
            "diffusion": [("Steps", 150), ("Sampling steps", 5), ("T (noise steps)", 20)],
            "gnn": [("Epochs", 20)], "dqn": [("Environment steps", 1000)]}
# the README's pictures (UPDATE_SCREENSHOTS=1) show longer runs, as they always did
PICTURES = {"fundamentals": [("Steps", 1400)], "cnn": [("Epochs", 6)], "rnn": [("Steps", 120)],
            "word2vec": [("Epochs", 3)], "transformer": [("Steps", 250)],
            "gan": [("Steps", 600)], "vae": [("Epochs", 40)], "diffusion": [("Steps", 1500)],
            "gnn": [("Epochs", 150)], "dqn": [("Environment steps", 10000)]}
if UPDATE:
    SETTINGS.update(PICTURES)
FINISHED = re.compile(r"^(Finished \d+ (environment )?steps|Stopped early at step \d+)")
# The comparison in the browser, on the labs where it differs: three runs and a check of what
# the comparison shows (distill, rnn), pictures as images (vae), as plotly charts (gan). Its
# layout is the ui's, the same on every page, and its pictures are views the lab's own run has
# just shown here; every lab's comparison (plan, runs, table, verdict) is also tested on its
# page (tests/test_<lab>.py) and by the contract (tests/test_contract.py).
BROWSER_COMPARE = {"distill", "rnn", "vae", "gan"}


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


def _gallery(page, tmp_path) -> None:
    """Home is a gallery: every lab with a Replay of its recorded demo."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Fundamentals", exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Replay"))).to_have_count(len(registry.LABS))
    if UPDATE:
        page.wait_for_timeout(2000)             # the demos' pictures
    picture(page, tmp_path / "gallery.png", "gallery.png", 2000)


@pytest.mark.parametrize("lab", registry.LABS)
def test_a_lab_page_keeps_its_form_trains_compares_and_trains_again(browser, lab_server, lab,
                                                                     tmp_path):
    from playwright.sync_api import expect

    title = registry.meta(lab).TITLE
    settings = dict(SETTINGS[lab])
    checks = LAB_CHECKS.get(lab, {})

    def check(when: str) -> None:
        if when in checks:
            checks[when](page, settings, tmp_path)

    ctx, page, errors = open_page(browser, lab_server.url, height=1600, timeout_ms=120_000)
    page.get_by_role("heading", name=re.compile("Neural Playground")).first.wait_for()
    if lab == registry.LABS[0]:
        _gallery(page, tmp_path)

    # -- Home -> the lab by the sidebar; its setting changed ---------------------------------
    _nav(page, title)
    _field(page, next(iter(settings))).wait_for(state="attached")
    _open_groups(page)
    for label, value in settings.items():
        field = _field(page, label)
        field.fill(str(value))
        field.press("Enter")
        page.wait_for_url(re.compile(rf"[?&]\w+={value}(&|$)"))

    # -- away and back by the sidebar: the setting kept, every field sane, Train enabled ------
    _nav(page, "Runs" if lab == "gan" else "Home")
    _nav(page, title)
    for label, value in settings.items():
        expect(_field(page, label)).to_have_value(str(value))
    expect(page.get_by_text("Fix these settings to train")).to_have_count(0)
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    check("before")

    first = _train(page, lab)
    assert first, page.url
    check("trained")

    # -- the comparison: each run's key picture side by side, the table, a verdict ------------
    compare = registry.get(lab).COMPARE if hasattr(registry.get(lab), "COMPARE") else None
    if callable(compare):
        compare = compare(registry.get(lab).Config())
    if compare and lab in BROWSER_COMPARE:
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
        check("compared")
    elif compare:                                  # on offer, ready to press
        expect(page.get_by_role("button", name=compare["label"])).to_be_enabled()

    # -- Train again once it ended: a new run, also to its end --------------------------------
    check("again")
    second = _train(page, lab, before=first)
    assert second and second != first
    for label, value in settings.items():
        expect(_field(page, label)).to_have_value(str(value))
    picture(page, tmp_path / f"journey-{lab}.png", None, 1600)
    assert not errors, errors
    ctx.close()


def test_stage_mode_at_1280x720_trains_from_the_keyboard_with_a_result_in_view(
        browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    steps = 300 if UPDATE else 100
    ctx, page, errors = open_page(browser, f"{lab_server.url}/gan?stage=1&steps={steps}",
                                  height=720, width=1280, timeout_ms=120_000)
    expect(page.get_by_role("button", name=re.compile("^Train"))).to_be_enabled()
    # the sidebar folded, big type, the demonstration's controls on the page, the rest not
    expect(page.locator('[data-testid="stSidebar"]')).to_have_attribute("data-collapsed",
                                                                         "true")
    # the stage's type, once its style has landed (a busy machine draws the page first)
    page.wait_for_function(
        "getComputedStyle(document.documentElement).fontSize == '20px'", timeout=30_000)
    main = page.locator('[data-testid="stMain"]')
    for label in ("Data", "Loss", "D steps per G step", "Steps"):           # gan.STAGE
        expect(main.get_by_text(label, exact=True).first).to_be_visible()
    expect(main.get_by_text("G lr", exact=True)).to_have_count(0)          # in the sidebar
    # a key pressed while the script still runs goes to the element it replaces: wait it out
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.get_by_role("heading", name=re.compile("GAN")).first.click()     # focus off the inputs
    page.keyboard.press("t")
    page.wait_for_url(re.compile(r"[?&]run=\d{8}-\d{6}-gan-[0-9a-f]{6}"))
    assert "stage=1" in page.url
    expect(page.get_by_text(FINISHED).first).to_be_visible(timeout=120_000)
    # the live picture, whole, on the screen as it is (the page not scrolled)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts.first).to_be_visible()
    in_view = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart']")].some(
        c => { const b = c.getBoundingClientRect();
               return b.height > 0 && b.top >= 0 && b.bottom <= 720; })"""
    try:
        page.wait_for_function(in_view, timeout=15_000)
    except Exception:  # noqa: BLE001 - the assertion below says what was on the screen
        pass
    shot = tmp_path / "stage-1280x720.png"
    page.screenshot(path=str(shot))
    if UPDATE:                                                # README's picture of stage mode
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ASSETS / "stage.png"))
    scrolled = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    assert scrolled == 0
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    whole = [b for b in boxes if b and b["y"] >= 0 and b["y"] + b["height"] <= 720]
    assert whole, f"no chart wholly within 1280x720: {boxes} (see {shot})"
    assert not errors, errors
    ctx.close()
