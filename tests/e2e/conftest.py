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


@pytest.fixture(scope="session")
def _one_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("shared_server")
    srv = Server(home / "home", home / "streamlit.log")
    srv.shared = True
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def lab_server(_one_server):
    """One server for the lab pages' tests (each looks at its own page and runs): a server
    start and a warm-up of its worker less per test. `finish` reads only this test's log."""
    _one_server.mark = len(_one_server.output())
    yield _one_server
    assert "Traceback" not in _one_server.output()[_one_server.mark:]


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
