"""Restart: the server process is killed mid-run; after a restart the run is `interrupted` with
its metrics kept, finished runs are intact, and Train works again."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.support import CONNECTED, RUN_ID, Server, _wait_step
from tests.helpers import train_cli


def _alive(pid: int) -> bool:
    """Running, not exited (a zombie waiting for its new parent to reap it counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector(CONNECTED)
    return ctx, page


def test_killed_server_leaves_interrupted_and_intact_runs(browser, tmp_path, monkeypatch,
                                                         capsys):
    from playwright.sync_api import expect

    home = tmp_path / "home"
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    code, done = train_cli(capsys, "mlp", "epochs=5")         # a finished run, before the app
    assert code == 0, done
    finished = done["run_id"]
    finished_dir = home / "runs" / finished
    before = {p.name: p.read_bytes() for p in finished_dir.iterdir() if p.is_file()}

    first = Server(home, tmp_path / "first.log")
    try:
        first.wait_healthy()
        ctx, page = _open(browser, f"{first.url}/mlp?epochs=2000")
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_url(RUN_ID)
        run_id = RUN_ID.search(page.url).group(0)
        _wait_step(page, 50, timeout=60)
        ctx.close()
        workers = first.children()
        first.proc.kill()                            # no goodbye: SIGKILL mid-run
        first.proc.wait(timeout=10)
        # the worker sees its stdin close, marks the run interrupted and exits: what it wrote
        # until then is the run's record, which the restart must leave as it is
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "the worker outlived the app by 30 s"
            time.sleep(0.1)
    finally:
        first.stop()
    metrics_at_kill = (home / "runs" / run_id / "metrics.jsonl").read_text().count("\n")
    assert metrics_at_kill > 0

    second = Server(home, tmp_path / "second.log")
    try:
        second.wait_healthy()
        ctx, page = _open(browser, f"{second.url}/mlp?run={run_id}")
        expect(page.get_by_text("interrupted").first).to_be_visible()
        expect(page.get_by_text("Press Train to start again").first).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()   # curve kept
        ctx.close()

        ctx, page = _open(browser, f"{second.url}/mlp?run={finished}")
        expect(page.get_by_text("Finished").first).to_be_visible()
        ctx.close()
        after = {p.name: p.read_bytes() for p in finished_dir.iterdir() if p.is_file()}
        assert after == before, "a finished run must not change"

        ctx, page = _open(browser, f"{second.url}/mlp?epochs=5")
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_url(RUN_ID)
        expect(page.get_by_text("Finished").first).to_be_visible(timeout=60_000)
        ctx.close()
    finally:
        second.stop()
    status = json.loads((home / "runs" / run_id / "status.json").read_text())
    assert status["status"] == "interrupted"
    assert (home / "runs" / run_id / "metrics.jsonl").read_text().count("\n") == metrics_at_kill
    log = second.output()
    assert "Traceback" not in log, log
