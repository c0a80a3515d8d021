import pytest

from tests.e2e.support import Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "home", tmp_path / "streamlit.log")
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def browser():
    from playground import browser as chromium

    why = chromium.missing()
    if why:
        pytest.skip(f"browser test skipped: {why}")
    from playwright.sync_api import expect, sync_playwright

    # A fresh server's first page imports torch and the labs: on a cold disk (a new venv, CI) that
    # takes longer than Playwright's 5 s default for each expectation.
    expect.set_options(timeout=30_000)
    with sync_playwright() as pw:
        b = chromium.launch(pw)
        try:
            yield b
        finally:
            b.close()
