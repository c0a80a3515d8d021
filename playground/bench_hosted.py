"""Bench case 7: one hosted server, eight visitors at once - the Community Cloud case.

`streamlit run cloud/streamlit_app.py` (hosted mode on, as deployed) on 127.0.0.1 with its own
PLAYGROUND_HOME; eight headless Chromium contexts (eight visitors, each their own cookie):
three replay recorded demos (restarting them when they end), three press Train on small labs
(hosted caps queue them: one trains at a time) and press it again when their run ends, two
browse from lab page to lab page through the sidebar. For LOAD_S seconds the server's and its
worker's RSS are sampled together; the server logs how long each of its script runs took
(PLAYGROUND_UI_TIMINGS: whole pages, live-panel polls, replay redraws); the browsing visitors
time each page change to its title on screen.

A ninth visitor is hostile: from one address, each time in a fresh private window (a new
cookie), it asks for a 45-million-link graph, a comparison whose teacher has 50M parameters, and
long runs (batch 1 x 200 epochs). Every visitor's requests carry an X-Forwarded-For address as
the Cloud's proxy adds it, so the caps per address see what they would see there.

Community Cloud gives a server a share of up to 2 CPUs and its visitors bring their own
browsers: here the server and its worker are pinned to one core and Chromium to the others, so
that eight rendering browsers do not stand in for server load they would not cause.

`--quick` checks the machinery, not the load: five visitors (one replaying, two training) for a
few seconds.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from playground import browser, registry
from playground.ui import timing

REPLAYS = (("dqn", "default"), ("gan", "collapse-vs-fix"), ("rnn", "rnn-lstm-gru"))
TRAINS = ("mlp", "fundamentals", "gnn")
# a quick load trains short runs, so that it still sees queued runs end and the next start
QUICK_TRAINS = {"mlp": "epochs=10", "fundamentals": "steps=150", "gnn": "epochs=20"}
# and with fewer visitors, one of each kind (two trainers, so that one waits in the queue): the
# quick look checks the case's machinery - the whole load's numbers are the full case's
QUICK_REPLAYS, QUICK_TRAINERS = 1, 2
BROWSE = ("cnn", "transformer", "vae", "word2vec", "diffusion", "distill", "resnet", "gan",
          "mlp", "gnn")
HOSTILE_IP = "81.2.69.160"
ATTACKS = (("gnn", "graph=sbm&communities=10&community_size=1000&p_in=0&p_out=1"),
           ("distill", "mode=scratch&dataset=digits&teacher_hidden=4096,4096,4096,4096"),
           ("mlp", "epochs=200&batch_size=1"))
LOAD_S, QUICK_LOAD_S = 120, 8
QUICK_UNTIL_S = 120                      # a quick load goes on until it saw each kind
ANSWER_S = 0.5                           # the bar for a page's answer
RSS_LIMIT_MB = 2000
TERMINAL = ("completed", "cancelled", "diverged", "failed", "interrupted")


class _Sampler(threading.Thread):
    """Server + worker RSS every half second: the peak of their sum and of each."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stop, self.peak, self.peak_server, self.peak_worker = server, \
            threading.Event(), 0.0, 0.0, 0.0

    def run(self):
        while not self.stop.wait(0.5):
            server = browser.rss_mb(self.server.proc.pid) or 0.0
            workers = [browser.rss_mb(p) or 0.0 for p in self.server.children()]
            self.peak = max(self.peak, server + sum(workers))
            self.peak_server = max(self.peak_server, server)
            self.peak_worker = max([self.peak_worker, *workers])


def _pin(pid: int, cpus: set[int]) -> None:
    try:
        os.sched_setaffinity(pid, cpus)
    except (AttributeError, OSError):
        pass


def _page_state(page) -> str:
    try:
        return page.evaluate("""() => {
            const app = document.querySelector("[data-testid='stApp']");
            const alerts = [...document.querySelectorAll(
                "[data-testid='stAlert'], [data-testid='stException']")].map(a => a.innerText);
            return `connection ${app && app.dataset.testConnectionState}, ` +
                   `status widget "${(document.querySelector(
                       "[data-testid='stStatusWidget']") || {}).innerText || ""}", ` +
                   `alerts ${JSON.stringify(alerts).slice(0, 600)}`;
        }""")
    except Exception as e:                         # a closed page or a dead browser
        return f"page unreadable ({e})"


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    s = sorted(xs)
    return {"n": len(s), "median": statistics.median(s), "p90": s[int(0.9 * (len(s) - 1))],
            "max": s[-1], "within": sum(x <= ANSWER_S for x in s) / len(s)}


def _status(home: Path, run_id: str) -> str | None:
    try:
        return json.loads((home / "runs" / run_id / "status.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def run(quick: bool = False, progress=print, python: str | None = None) -> list:
    """Rows for the bench table (see playground.bench.Row)."""
    from playground.bench import Row

    why = browser.missing()
    if why:
        return [Row("7. hosted: 8 visitors on one server", None, None, "", note=f"skipped: {why}")]
    from playwright.sync_api import sync_playwright

    load_s = QUICK_LOAD_S if quick else LOAD_S
    replays = REPLAYS[:QUICK_REPLAYS] if quick else REPLAYS
    trains = TRAINS[:QUICK_TRAINERS] if quick else TRAINS
    n_visitors = len(replays) + len(trains) + 2
    tmp = Path(tempfile.mkdtemp(prefix="playground-bench-hosted-"))
    home, log = tmp / "home", tmp / "ui_timings.log"
    env = {"PLAYGROUND_UI_TIMINGS": str(log)}
    server = browser.Server(home, tmp / "streamlit.log", env=env, entry="cloud/streamlit_app.py",
                            **({"python": python} if python else {}))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    split = len(cpus) >= 2
    mine = set(cpus)
    if split:
        _pin(server.proc.pid, {cpus[0]})       # its worker, started later, inherits it
        _pin(0, set(cpus[1:]))                 # and Chromium, launched from here, these
    sampler = _Sampler(server)
    nav, alone, trained, replays_started = [], [], 0, 0
    attacks: dict = {"refused": 0, "queued": 0, "kinds": {}}
    try:
        server.wait_healthy()
        sampler.start()
        with sync_playwright() as pw:
            chromium = browser.launch(pw)
            visitors = []

            def visitor(path: str, address: str | None = None):
                address = address or f"81.2.{len(visitors) + 1}.10"
                ctx = chromium.new_context(viewport={"width": 1300, "height": 1000},
                                           extra_http_headers={"X-Forwarded-For": address})
                page = ctx.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{server.url}/{path}")
                visitors.append(ctx)
                return page

            def change(page, lab: str) -> float:
                t0 = time.perf_counter()
                link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{lab}']")
                if not link.count():                    # a folded list: "View more" first
                    page.locator("[data-testid='stSidebarNavViewButton']").click()
                link.click()
                page.locator("h1").filter(has_text=registry.meta(lab).TITLE).first.wait_for(
                    state="visible")
                page.get_by_role("button", name="Train", exact=True).wait_for(state="visible")
                return time.perf_counter() - t0

            def press_train(page) -> None:
                """Train, once the page is connected and its button enabled - or say why not."""
                button = page.get_by_role("button", name="Train", exact=True)
                try:
                    page.wait_for_selector(browser.CONNECTED)
                    button.click()
                except Exception as e:
                    raise RuntimeError(f"Train could not be pressed on {page.url}: "
                                       f"{_page_state(page)}; server log: "
                                       + " | ".join(server.output().splitlines()[-15:])) from e

            def attack(k: int) -> None:
                """One attack from a fresh private window; counts what the server answered."""
                lab, query = ATTACKS[k % len(ATTACKS)]
                page = visitor(f"{lab}?{query}", HOSTILE_IP)
                ctx = visitors.pop()
                try:
                    page.wait_for_selector(browser.CONNECTED)
                    if lab == "distill":
                        page.get_by_role("button", name=registry.get("distill").COMPARE[
                            "label"]).click()
                    else:
                        button = page.get_by_role("button", name="Train", exact=True)
                        button.wait_for(state="visible")
                        if button.is_enabled():
                            button.click()
                    refused = page.locator("[data-testid='stAlertContentError']").first
                    page.wait_for_function(
                        "() => /[?&]run=/.test(location.search) || document.querySelector("
                        "\"[data-testid='stAlertContentError']\")", timeout=30_000)
                    ok = refused.count() == 0
                    why = "queued" if ok else "refused: " + refused.inner_text()[:70]
                except Exception as e:  # noqa: BLE001 - a page that never answered is counted
                    ok, why = False, f"no answer ({type(e).__name__})"
                finally:
                    ctx.close()
                attacks["queued" if ok else "refused"] += 1
                attacks["kinds"][f"{lab} {why}"] = attacks["kinds"].get(f"{lab} {why}", 0) + 1

            progress("case 7: one visitor alone changes pages (the baseline)...")
            browsing = [visitor(""), visitor("")]
            for page in browsing:
                page.wait_for_selector(browser.CONNECTED)
            warm = 2 if quick else 4
            for lab in BROWSE[:warm]:
                change(browsing[0], lab)                # the labs' first imports, not counted
            alone = [change(browsing[0], lab) for lab in BROWSE[warm:2 * warm]]
            progress(f"case 7: {len(replays)} visitor(s) replay demos, {len(trains)} train, "
                     "2 browse...")
            replaying = [visitor(f"{lab}?demo={name}") for lab, name in replays]
            replays_started = len(replaying)
            training = {}
            for lab in trains:
                page = visitor(f"{lab}?{QUICK_TRAINS[lab]}" if quick else lab)
                press_train(page)
                page.wait_for_url(re.compile(rf"[?&]run=\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}}"))
                training[lab] = (page, re.search(rf"\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}}",
                                                 page.url)[0])
            start, seen = time.monotonic(), len(log.read_text().splitlines()) if log.exists() \
                else 0
            i = 0

            def seen_all() -> bool:
                # a quick look still sees a queued run end and the next one start, a live
                # panel's poll and a replay's redraw (a short demo may end before the look
                # starts: it is restarted below and must be seen redrawing again)
                return trained > 0 and all(timing.read(log, kind, seen)[0]
                                           for kind in ("panel", "replay"))
            while (time.monotonic() - start < load_s
                   or (quick and not seen_all() and time.monotonic() - start < QUICK_UNTIL_S)):
                page, lab = browsing[i % 2], BROWSE[i % len(BROWSE)]
                i += 1
                nav.append(change(page, lab))
                attack(i)
                for lab_t, (tpage, run_id) in list(training.items()):
                    if _status(home, run_id) in TERMINAL:       # done: the visitor goes again
                        trained += 1
                        if quick and time.monotonic() - start >= load_s and seen_all():
                            continue                    # unless the quick look is over
                        press_train(tpage)
                        tpage.wait_for_url(re.compile(
                            rf"run=(?!{run_id})\d{{8}}-\d{{6}}-{lab_t}-[0-9a-f]{{6}}"))
                        training[lab_t] = (tpage, re.search(
                            rf"\d{{8}}-\d{{6}}-{lab_t}-[0-9a-f]{{6}}", tpage.url)[0])
                for rpage, (lab_r, name) in zip(replaying, replays):
                    if rpage.get_by_role("button", name="Play", exact=True).count():
                        rpage.goto(f"{server.url}/{lab_r}?demo={name}",   # ended: again
                                   wait_until="commit")
                        replays_started += 1
                page.wait_for_timeout(1000)             # a visitor reads the page a moment
            for ctx in visitors:
                ctx.close()
            chromium.close()
        sampler.stop.set()
        pages, _ = timing.read(log, "page", seen)
        panels, _ = timing.read(log, "panel", seen)
        redraws, _ = timing.read(log, "replay", seen)
    finally:
        sampler.stop.set()
        server.stop()
        if split:
            _pin(0, mine)
        shutil.rmtree(tmp, ignore_errors=True)
    where = ("server + worker pinned to 1 core, Chromium on the other" if split
             else "server, worker and Chromium sharing the cores")
    s_pages, s_panels, s_redraws, s_nav = (_stats(x) for x in (pages, panels, redraws, nav))
    return [
        Row(f"7. hosted, {n_visitors} visitors for {load_s} s: server + worker RSS, peak (MB)",
            sampler.peak, None, "MB", target=f"< {RSS_LIMIT_MB} MB",
            extra={"server_peak_mb": sampler.peak_server, "worker_peak_mb": sampler.peak_worker,
                   "where": where}),
        Row("7. hosted: the hostile visitor's attacks refused (of all)", attacks["refused"],
            None, "", target="all but capped long runs",
            extra={**attacks, "legit_runs_finished": trained}),
        Row("7. hosted: a page's script run on the server, p90 (s)", s_pages.get("p90"), None,
            "s", target=f"<= {ANSWER_S} s", extra=s_pages),
        Row("7. hosted: live-panel poll, p90 (s)", s_panels.get("p90"), None, "s",
            target=f"<= {ANSWER_S} s", extra={**s_panels, "runs_finished": trained}),
        Row("7. hosted: replay redraw, p90 (s)", s_redraws.get("p90"), None, "s",
            target=f"<= {ANSWER_S} s", extra={**s_redraws, "replays_started": replays_started}),
        Row("7. hosted: a visitor's page change, title and Train on screen (median, s)",
            s_nav.get("median"), statistics.median(alone) if alone else None, "s",
            s_nav["median"] / statistics.median(alone) if alone and nav else None,
            note=f"reference: the same visitor alone on the server; the {n_visitors} visitors' "
                 "browsers share one core here", extra={**s_nav, "alone": alone}),
    ]
