"""A visitor's own text in a real browser: a binary file is refused with a message, a .txt is
stored and named under the uploader, and the character model trains on it."""
from __future__ import annotations

import re

import pytest

from tests.e2e.support import finish, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_char_transformer_trains_on_an_uploaded_text(browser, lab_server, tmp_path):
    from playwright.sync_api import expect

    ctx, page, errors = open_page(browser, f"{lab_server.url}/transformer?task=chars&context=16"
                                           "&d_model=32&steps=40", timeout_ms=60_000)
    upload = page.locator("section[data-testid='stSidebar'] input[type=file]")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4000))
    upload.set_input_files(str(binary))
    expect(page.get_by_text("This is not a text file").first).to_be_visible()
    own = tmp_path / "poem.txt"
    own.write_text("the owl and the pussy-cat went to sea in a beautiful pea-green boat.\n" * 60)
    upload.set_input_files(str(own))
    expect(page.get_by_text(re.compile(r"Using poem\.txt: 4,140 characters"))).to_be_visible()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]text_file=[0-9a-f]{16}"))
    expect(page.get_by_text(re.compile(r"^Finished \d+ steps"))).to_be_visible()
    expect(page.get_by_text("Generated text at temperature").first).to_be_visible()
    finish(page, ctx, lab_server, errors, tmp_path / "upload.png", "transformer_upload.png", 2600)
