"""How long the app's script runs take: logged from a real server for the benchmarks (cases 6
and 7), and measured through AppTest for case 4."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


@contextmanager
def logged(kind: str):
    """With PLAYGROUND_UI_TIMINGS=<file>, append "<unix time> <kind> <seconds>" for the block
    (kinds: page, a whole page's run; panel, a live-panel poll; replay, a replay's redraw)."""
    log = os.environ.get("PLAYGROUND_UI_TIMINGS")
    if not log:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        with open(log, "a") as f:
            f.write(f"{time.time():.3f} {kind} {time.perf_counter() - t0:.4f}\n")


def read(path: Path, kind: str, since: int = 0) -> tuple[list[float], int]:
    """The seconds of `kind` logged after line `since`, and the lines read so far."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return [], since
    rows = [line.split() for line in lines[since:]]
    return [float(r[2]) for r in rows if len(r) == 3 and r[1] == kind], len(lines)


def page_rerun_seconds(lab_name: str, run_id: str, repeats: int) -> list[float]:
    """Seconds of AppTest reruns of the lab's page showing the live run `run_id` (the first
    run, which imports and builds the page, is not counted)."""
    import logging

    from streamlit.testing.v1 import AppTest

    # AppTest runs scripts without a browser session; Streamlit warns about that once per thread.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR)

    from playground.ui.app import lab_files

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(str(lab_files()[lab_name].relative_to(Path(APP).parent)))
    at.query_params["run"] = run_id
    at.run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"the page failed: {at.exception}")
    return times
