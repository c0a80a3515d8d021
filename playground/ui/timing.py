"""How long one rerun of a lab page takes while a job trains (the bench's case 4)."""
from __future__ import annotations

import time
from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


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
