"""A visitor's journey in each language, in Chromium: Home, a lab page, a run trained to its
end with its pictures, and the language changed on the way without losing the run."""
from __future__ import annotations

import pytest

from playground import i18n, registry
from tests.e2e.support import RUN_ID, finish, open_list, open_page

WORDS = {   # what each language's visitor reads, in the catalogue's words
    "en": {"train": "Train", "done": "Finished", "picture": "Decision boundary: p(orange)",
           "other": "zh", "other_train": "训练"},
    "zh": {"train": "训练", "done": "完成：", "picture": "决策边界：p(橙色)",
           "other": "en", "other_train": "Train"},
}


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_visitors_journey_in_each_language(browser, lab_server, tmp_path, lang):
    from playwright.sync_api import expect

    words = WORDS[lang]
    assert i18n.translate("Decision boundary: p(orange)", lang) == words["picture"]
    ctx, page, errors = open_page(browser, f"{lab_server.url}/?lang={lang}", timeout_ms=120_000)
    title = i18n.translate(registry.meta("mlp").TITLE, lang)
    page.locator("[data-testid='stSidebarNav'] a[href$='/mlp']").click()
    expect(page.locator("h1").filter(has_text=title).first).to_be_visible()
    # the visit keeps its language from page to page
    expect(page.get_by_role("button", name=words["train"], exact=True)).to_be_visible()
    page.goto(f"{lab_server.url}/mlp?lang={lang}&epochs=5")
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.get_by_role("button", name=words["train"], exact=True).click()
    page.wait_for_url(RUN_ID)
    expect(page.locator("[data-testid='stAlertContentSuccess']").filter(
        has_text=words["done"]).first).to_be_visible(timeout=90_000)
    expect(page.get_by_text(words["picture"], exact=True).first).to_be_visible()
    run_id = RUN_ID.search(page.url)[0]
    # the other language from the sidebar's picker: the same run, in its words
    _pick(page, i18n.LANGUAGES[words["other"]])
    expect(page.get_by_role("button", name=words["other_train"], exact=True)).to_be_visible()
    assert run_id in page.url and f"lang={words['other']}" in page.url
    finish(page, ctx, lab_server, errors, tmp_path / f"journey_{lang}.png", None, 1600)



def _pick(page, language: str) -> None:
    """The sidebar's language picker, then the language."""
    open_list(page, page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has_text="Language / 语言"))
    page.get_by_role("option", name=language).click()
