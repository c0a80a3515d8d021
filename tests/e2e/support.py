"""A real `streamlit run` on a free local port, and helpers to read the live panel."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RUN_ID = re.compile(r"\d{8}-\d{6}-mlp-[0-9a-f]{6}")
STEP = re.compile(r"step\s+([\d,]+)\s*/\s*([\d,]+)")
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
EPOCHS = 2000         # the maximum: many seconds even on a fast machine, then we Stop it
STARTUP_S = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = open(log, "wb")
        env = {**os.environ, "PLAYGROUND_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def wait_healthy(self, timeout: float = STARTUP_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"streamlit not healthy after {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log_file.closed:
            self._log_file.close()

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")


def _step(page) -> tuple[int, int] | None:
    """(step, total) from the progress bar's text, or None while there is no bar."""
    bar = page.locator("[data-testid='stProgress']")
    if bar.count() == 0:
        return None
    try:
        m = STEP.search(bar.first.inner_text(timeout=1000))
    except Exception:       # the fragment re-rendered the bar under our feet: try again
        return None
    return (int(m[1].replace(",", "")), int(m[2].replace(",", ""))) if m else None


def _wait_step(page, at_least: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = _step(page)
        if seen and seen[0] >= at_least:
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"progress never reached step {at_least} in {timeout} s (last: {seen})")


