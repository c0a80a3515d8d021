"""Bench case 6: a run watched in a real browser against the same run headless.

`streamlit run` on 127.0.0.1 with its own PLAYGROUND_HOME, the lab's page opened in headless
Chromium, Train pressed with the lab's defaults; the same defaults through
`python -m playground train LAB --json`, one after the other, side by side. Compared: the run's
own seconds (status.json, the same clock the CLI reports). Also read: Train -> first curve on the
page, the server's CPU seconds during the run, how long each live-panel rerun took (the server
logs them with PLAYGROUND_UI_TIMINGS), the server's and the worker's RSS with the app idle, and
how many test-curve points each run got. Needs Chromium and playwright; skipped with the reason
otherwise.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playground import browser
from playground.ui import timing

LABS = ("mlp", "cnn", "resnet")
QUICK = {"mlp": {"epochs": 20}}
TERMINAL = ("completed", "cancelled", "diverged", "failed", "interrupted")
RUN_TIMEOUT_S = 600


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]


def _val_points(run_dir: Path) -> int:
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if '"val/acc"' in line or '"val/loss"' in line)


def headless(lab: str, home: Path, overrides: dict) -> dict:
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "playground", "train", lab, "--json",
                        *_sets(overrides)], cwd=browser.ROOT, env=env, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError(f"headless {lab} failed: {p.stderr[-1500:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return {"seconds": out["seconds"],
            "val_points": _val_points(home / "runs" / out["run_id"])}


def _status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def watched(page, server, home: Path, lab: str, overrides: dict) -> dict:
    """Open the lab's page, press Train, follow the run to its end with the page open."""
    from urllib.parse import urlencode

    query = f"?{urlencode(overrides)}" if overrides else ""
    page.goto(f"{server.url}/{lab}{query}")
    page.wait_for_selector(browser.CONNECTED)
    train = page.get_by_role("button", name="Train", exact=True)
    train.wait_for(state="visible")
    page.wait_for_timeout(1000)                         # the page settles before the clock starts
    cpu0 = browser.cpu_seconds(server.proc.pid)
    chrome0 = browser.cpu_seconds_named("chrom")
    t0 = time.perf_counter()
    train.click()
    page.wait_for_url(re.compile(rf"[?&]run=\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}}"))
    run_id = re.search(rf"\d{{8}}-\d{{6}}-{lab}-[0-9a-f]{{6}}", page.url)[0]
    run_dir = home / "runs" / run_id
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(state="visible",
                                                                 timeout=RUN_TIMEOUT_S * 1000)
    first_curve = time.perf_counter() - t0
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while _status(run_dir).get("status") not in TERMINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {lab} run did not end in {RUN_TIMEOUT_S} s")
        page.wait_for_timeout(200)
    ended = time.perf_counter() - t0
    status = _status(run_dir)
    page.get_by_text(re.compile("Finished|cancelled|diverged|failed")).first.wait_for(
        state="visible", timeout=60_000)
    shown = time.perf_counter() - t0
    cpu1 = browser.cpu_seconds(server.proc.pid)
    chrome1 = browser.cpu_seconds_named("chrom")
    return {"seconds": status.get("seconds"), "status": status.get("status"),
            "first_curve_s": first_curve, "ended_s": ended, "shown_s": shown,
            "server_cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
            "browser_cpu_s": chrome1 - chrome0,
            "val_points": _val_points(run_dir)}


def _reruns(path: Path, since: int) -> tuple[list[float], int]:
    return timing.read(path, "panel", since)


def run(quick: bool = False, labs=LABS, progress=print, server_env: dict | None = None) -> list:
    """Rows for the bench table (see playground.bench.Row)."""
    from playground.bench import Row

    why = browser.missing()
    if why:
        return [Row("6. page open in Chromium vs headless", None, None, "s",
                    note=f"skipped: {why}")]
    from playwright.sync_api import sync_playwright

    labs = ("mlp",) if quick else tuple(labs)
    tmp = Path(tempfile.mkdtemp(prefix="playground-bench-live-"))
    timings = tmp / "ui_timings.log"
    server = browser.Server(tmp / "page-home", tmp / "streamlit.log",
                            env={"PLAYGROUND_UI_TIMINGS": str(timings), **(server_env or {})})
    rows, seen = [], 0
    try:
        server.wait_healthy()
        with sync_playwright() as pw:
            chromium = browser.launch(pw)
            ctx = chromium.new_context(viewport={"width": 1400, "height": 1600})
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{server.url}/")
            page.wait_for_selector(browser.CONNECTED)
            # the warm-up (worker, imports) settles; a quick look reads the RSS before that
            page.wait_for_timeout(2000 if quick else 8000)
            idle_server = browser.rss_mb(server.proc.pid)
            workers = [browser.rss_mb(p) for p in server.children()]
            rows.append(Row("6. idle app (Home open), server process RSS (MB)", idle_server, None,
                            "MB", target="<= 400 MB",
                            extra={"worker_rss_mb": [w for w in workers if w]}))
            # "Warm" as a returning user has it: one short run first (the browser has loaded
            # and compiled the chart library, the worker has run a job), not counted; a quick
            # look checks the machinery, not the numbers
            if not quick:
                watched(page, server, tmp / "page-home", "mlp", {"epochs": 3})
                seen = len(_reruns(timings, 0)[0])
            for lab in labs:
                overrides = QUICK.get(lab, {}) if quick else {}
                progress(f"case 6: {lab}, headless...")
                cli = headless(lab, tmp / "cli-home", overrides)
                progress(f"case 6: {lab}, page open in Chromium...")
                web = watched(page, server, tmp / "page-home", lab, overrides)
                reruns, seen = _reruns(timings, seen)
                rows.append(Row(
                    f"6. {lab} defaults{' (quick)' if overrides else ''}: page open vs headless",
                    web["seconds"], cli["seconds"], "s",
                    web["seconds"] / cli["seconds"] if web["seconds"] and cli["seconds"] else None,
                    "<= 1.3x",
                    extra={**{k: v for k, v in web.items() if k != "seconds"},
                           "headless_val_points": cli["val_points"],
                           "rerun_median_s": statistics.median(reruns) if reruns else None,
                           "rerun_p90_s": (sorted(reruns)[int(0.9 * (len(reruns) - 1))]
                                           if reruns else None),
                           "reruns": len(reruns)}))
                rows.append(Row(f"6. {lab}: Train -> first curve on the page", web["first_curve_s"],
                                None, "s", target="<= 2 s"))
                if reruns:
                    rows.append(Row(f"6. {lab}: live panel rerun while training (median)",
                                    statistics.median(reruns), None, "s", target="<= 0.15 s",
                                    extra={"max": max(reruns), "n": len(reruns)}))
            ctx.close()
            chromium.close()
        rows.append(Row("6. server process RSS after the runs (lab pages open, MB)",
                        browser.rss_mb(server.proc.pid), None, "MB", target="<= 400 MB"))
        rows.append(Row("6. worker process RSS after the runs (MB)",
                        max([browser.rss_mb(p) or 0 for p in server.children()] or [0]) or None,
                        None, "MB"))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
