import pytest

from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS, Server


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
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser test needs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed")
    from playwright.sync_api import expect

    # A fresh server's first page imports torch and the labs: on a cold disk (a new venv, CI) that
    # takes longer than Playwright's 5 s default for each expectation.
    expect.set_options(timeout=30_000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


