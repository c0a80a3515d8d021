"""Bench case 8: what the Streamlit process costs - the server draws, the worker computes.

A fresh `streamlit run` (a training worker process beside it, as the app runs by default) on
127.0.0.1 and one visitor in headless Chromium: Home, then every lab page through the sidebar
(the first one after the start counted apart: it used to import torch), then a finished
optimizer race stepped by hand twenty times. Measured: the server's and its worker's RSS after
Home and after every page, how long each page change takes until the page's title and an enabled
Train button are on screen, how long a slow-motion click takes until its step is on screen, and
whether torch was ever loaded into the server (its shared library mapped in the process); then
the same steps asked of a warm worker directly: what a click costs the worker, round trip.
"""
from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from playground import browser, registry

CLICKS = 20
QUICK_CLICKS = 5
RACE = "fundamentals?experiment=optimizers&steps=60"


def torch_loaded(pid: int) -> bool:
    """Is torch's library mapped into the process (an `import torch` anywhere in it)?"""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "libtorch" in maps or "/torch/_C" in maps


def _worker_rss(pid: int) -> float:
    return sum(browser.rss_mb(c) or 0.0 for c in browser.children(pid))


def _p90(xs: list[float]) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def _train_button(page):
    return page.get_by_role("button", name="Train", exact=True)


def wait_train_enabled(page) -> None:
    """Until the page's Train button is on screen and enabled (its settings checked)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.trim()"
        ".endsWith('Train') && !b.disabled)")


def change(page, lab: str) -> float:
    """Sidebar link -> the lab's title and an enabled Train button on screen, in seconds."""
    t0 = time.perf_counter()
    page.locator("[data-testid='stSidebarNav'] a").first.wait_for(state="visible")
    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{lab}']")
    if not link.count():                    # a folded list: "View more" first
        page.locator("[data-testid='stSidebarNavViewButton']").click()
    link.click()
    page.locator("h1").filter(has_text=registry.meta(lab).TITLE).first.wait_for(state="visible")
    wait_train_enabled(page)
    return time.perf_counter() - t0


def step_clicks(page, clicks: int) -> list[float]:
    """A finished race, stepped by hand: click -> 'n x one step' on screen, in seconds."""
    page.get_by_text("Step through it by hand").click()
    page.get_by_text("Every racer on the start").first.wait_for(state="visible", timeout=120_000)
    button = page.get_by_role("button", name="One step", exact=True)
    times = []
    for n in range(1, clicks + 1):
        t0 = time.perf_counter()
        button.click()
        page.get_by_text(re.compile(rf"Steps taken by hand: {n} x one step\.")).first.wait_for(
            state="visible", timeout=60_000)
        times.append(time.perf_counter() - t0)
    return times


def measure(quick: bool = False, progress=print, then=None, chromium=None) -> dict:
    """The case's numbers; `then(page, server)` is one more part of the visit, before the last
    look at the server (the test of a torch-free server uses an Explore panel there).
    `chromium`: a running browser to use (a test's), else one is launched."""
    if chromium is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            own = browser.launch(pw)
            try:
                return measure(quick, progress, then, own)
            finally:
                own.close()
    tmp = Path(tempfile.mkdtemp(prefix="playground-bench-server-"))
    server = browser.Server(tmp / "home", tmp / "streamlit.log")
    out: dict = {}
    try:
        server.wait_healthy()
        pid = server.proc.pid
        ctx = chromium.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        progress("case 8: Home...")
        t0 = time.perf_counter()
        page.goto(server.url)
        page.wait_for_selector(browser.CONNECTED)
        page.locator("h1").first.wait_for(state="visible")
        out["home_s"] = time.perf_counter() - t0
        page.wait_for_timeout(1000)
        out["rss_home"] = browser.rss_mb(pid)
        labs = list(registry.LABS)
        progress("case 8: every lab page...")
        out["first_page_s"] = change(page, labs[0])
        later = [change(page, lab) for lab in labs[1:]]
        page.wait_for_timeout(1000)
        out["later_pages_s"] = later
        out["rss_pages"] = browser.rss_mb(pid)
        out["rss_worker"] = _worker_rss(pid)
        progress("case 8: a race, stepped by hand...")
        page.goto(f"{server.url}/{RACE}")
        page.wait_for_selector(browser.CONNECTED)
        wait_train_enabled(page)
        _train_button(page).click()
        page.wait_for_url(re.compile(r"[?&]run="))
        page.get_by_text("Step through it by hand").wait_for(state="visible", timeout=300_000)
        out["step_s"] = step_clicks(page, QUICK_CLICKS if quick else CLICKS)
        run_id = re.search(r"[?&]run=([\w-]+)", page.url)[1]
        if then is not None:
            then(page, server)
        out["rss_end"] = browser.rss_mb(pid)
        out["rss_worker_end"] = _worker_rss(pid)
        out["torch_in_server"] = torch_loaded(pid)
        out["workers"] = browser.children(pid)
        ctx.close()
    finally:
        server.stop()
        out["log"] = server.output()
    try:
        if "step_s" in out:
            progress("case 8: the step's ask alone, through a warm worker...")
            out["ask_s"] = step_asks(tmp / "home", run_id, QUICK_CLICKS if quick else CLICKS)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def step_asks(home: Path, run_id: str, clicks: int) -> list[float]:
    """What a slow-motion click costs the worker, round trip: the same race's steps asked of a
    warm worker process directly, without a page."""
    from playground import params
    from playground.engine.jobs import JobManager
    from playground.engine.runs import RunStore

    manager = JobManager(RunStore(home / "runs"), executor="process")
    try:
        config = manager.store.config(run_id)["config"]
        cfg = params.to_dict(params.parse(registry.get("fundamentals").Config, config)[0])
        args = {"lab": "fundamentals", "config": cfg, "root": str(manager.store.root),
                "run_id": run_id, "session": "bench"}
        manager.ask("steps", {**args, "actions": [], "reset": True}, sticky="bench")
        times = []
        for _ in range(clicks):
            t0 = time.perf_counter()
            manager.ask("steps", {**args, "actions": ["One step"]}, sticky="bench")
            times.append(time.perf_counter() - t0)
        return times
    finally:
        manager.shutdown()


def run(quick: bool = False, progress=print) -> list:
    """Rows for the bench table (see playground.bench.Row)."""
    from playground.bench import Row

    why = browser.missing()
    if why:
        return [Row("8. the server's footprint", None, None, "", note=f"skipped: {why}")]
    m = measure(quick, progress)
    torch_note = ("torch loaded in the server" if m["torch_in_server"]
                  else "torch never loaded in the server")
    return [
        Row("8. server RSS after Home", m["rss_home"], None, "MB"),
        Row("8. server RSS after Home and every lab page", m["rss_pages"], None, "MB",
            target="<= 300 MB", note=f"worker {m['rss_worker']:.0f} MB; {torch_note}"),
        Row("8. first lab page after a start, usable", m["first_page_s"], None, "s",
            target="<= 2 s"),
        Row("8. a later lab page, usable (median of 12)", statistics.median(m["later_pages_s"]),
            None, "s", target="<= 1 s", extra={"all": m["later_pages_s"]}),
        Row(f"8. slow motion: a step click to its step on screen, p90 of {len(m['step_s'])}",
            _p90(m["step_s"]), None, "s", extra={"all": m["step_s"]},
            note=f"server {m['rss_end']:.0f} MB, worker {m['rss_worker_end']:.0f} MB after"),
        Row(f"8. slow motion: the step's ask through the warm worker, p90 of {len(m['ask_s'])}",
            _p90(m["ask_s"]), None, "s", target="<= 0.15 s", extra={"all": m["ask_s"]}),
    ]


if __name__ == "__main__":
    import json
    import sys

    found = measure(quick="--quick" in sys.argv)
    print(json.dumps({k: v for k, v in found.items() if k != "log"}, indent=1))
