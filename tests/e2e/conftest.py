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


@pytest.fixture(scope="session")
def _playwright():
    from playground import browser as chromium

    why = chromium.missing()
    if why:
        pytest.skip(f"browser test skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def _chromium(_playwright):
    """One Chromium for the browser tests of this process (each test in contexts of its own:
    their own cookies and storage), launched again if it died."""
    from playground import browser as chromium

    held = {"browser": chromium.launch(_playwright)}

    def get():
        if not held["browser"].is_connected():
            held["browser"] = chromium.launch(_playwright)
        return held["browser"]
    yield get
    if held["browser"].is_connected():
        held["browser"].close()


@pytest.fixture
def browser(_chromium):
    from playwright.sync_api import expect

    # A fresh server's first page waits for its worker, which imports torch and the labs: on a cold
    # disk (a new venv, CI) that takes longer than Playwright's 5 s default for each expectation.
    expect.set_options(timeout=30_000)
    b = _chromium()
    yield b
    # what a test left open (a failure's pages, already captured) goes with it
    for ctx in list(b.contexts):
        try:
            ctx.close()
        except Exception:  # noqa: BLE001 - a context of a browser that died
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test keeps what it saw: a screenshot of each page still open (in the
    test's tmp_path, named in the report) and the tail of its server's log."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    shots = []
    b = item.funcargs.get("browser")
    folder = item.funcargs.get("tmp_path")
    if b is not None and folder is not None:
        for i, page in enumerate(p for ctx in b.contexts for p in ctx.pages):
            path = folder / f"failure-{i}.png"
            try:
                page.screenshot(path=str(path), full_page=True, timeout=10_000)
                shots.append(f"{path} ({page.url})")
            except Exception as e:  # noqa: BLE001 - a closed page: say so, keep the others
                shots.append(f"page {i} could not be captured: {type(e).__name__}")
    if shots:
        report.sections.append(("browser screenshots", "\n".join(shots)))
    srv = item.funcargs.get("server") or item.funcargs.get("lab_server")
    if srv is not None:
        try:
            tail = srv.output()[getattr(srv, "mark", 0):][-4000:]
        except Exception as e:  # noqa: BLE001
            tail = f"(the log could not be read: {e})"
        report.sections.append(("streamlit server log (tail)", tail))
