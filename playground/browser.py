"""A real `streamlit run` of the app on 127.0.0.1 and a headless Chromium to look at it.

Used by the live-page benchmark (bench case 6) and the browser tests. Both need Debian's
chromium at /usr/bin/chromium and the playwright package (no `playwright install`); `missing()`
says what is absent so callers can skip with a reason.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playground.engine.procfs import children, cpu_seconds, cpu_seconds_named, rss_mb  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
STARTUP_S = 60


def missing() -> str | None:
    """Why a browser cannot be driven here, or None when it can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (Debian's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (requirements-dev.txt)"
    return None


def launch(pw):
    """A headless Chromium from a running sync_playwright()."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run streamlit_app.py` (or another entrypoint: cloud/streamlit_app.py) on a
    free local port with its own PLAYGROUND_HOME, by this interpreter or `python`."""

    def __init__(self, home: Path, log: Path, env: dict | None = None,
                 entry: str = "streamlit_app.py", python: str = sys.executable):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log)
        self._log_file = open(self.log, "wb")
        env = {**os.environ, "PLAYGROUND_HOME": str(home), "PYTHONUNBUFFERED": "1",
               "PLAYGROUND_WORKER": "process", **(env or {})}
        self.proc = subprocess.Popen(
            [python, "-m", "streamlit", "run", entry,
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
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log_file.closed:
            self._log_file.close()

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        """Pids of the server's child processes (the training worker)."""
        return children(self.proc.pid)
