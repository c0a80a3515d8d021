"""The worker process: jobs train outside the app's interpreter, behind the same JobManager
interface (queue, cancel, waiting, restart and exit -> interrupted, a dead worker fails only its
run and the next run gets a fresh worker)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from playground.engine.jobs import JobManager
from tests.helpers import open_page, poll_until, run_id_of, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


@pytest.fixture
def workers(store):
    m = JobManager(store, executor="process")
    yield m
    m.shutdown()


def test_a_run_trains_in_a_worker_process_and_leaves_everything_on_disk(workers, store):
    run_id = workers.submit("mlp", {"epochs": 5})
    result = workers.wait(run_id, timeout=120)
    assert result.status == "completed" and result.metrics["val/acc"] > 0.6
    status = store.status(run_id)
    assert status["worker"] != os.getpid() and status["worker"] in workers.executor.pids()
    assert status["status"] == "completed" and status["step"] == status["total_steps"]
    assert store.artifacts(run_id)["items"] and store.model_path(run_id)
    assert sum("val/acc" in r for r in store.metrics(run_id)) >= 10, "a test curve, not a dot"


def test_the_worker_stays_warm_between_runs(workers, store):
    first = workers.submit("mlp", {"epochs": 2})
    workers.wait(first, timeout=120)
    second = workers.submit("mlp", {"epochs": 2})
    assert workers.wait(second, timeout=60).status == "completed"
    assert store.status(first)["worker"] == store.status(second)["worker"]


def test_a_worker_past_its_memory_limit_is_replaced_after_its_run(workers, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WORKER_MAX_RSS_MB", "1")       # every worker is past it
    first = workers.submit("mlp", {"epochs": 2})
    assert workers.wait(first, timeout=120).status == "completed"
    second = workers.submit("mlp", {"epochs": 2})
    assert workers.wait(second, timeout=120).status == "completed"
    assert store.status(first)["worker"] != store.status(second)["worker"]


def test_hosted_workers_are_recycled_sooner(monkeypatch):
    from playground.engine import worker

    monkeypatch.delenv("PLAYGROUND_WORKER_MAX_RSS_MB", raising=False)
    monkeypatch.delenv("PLAYGROUND_HOSTED", raising=False)
    assert worker.recycle_rss_mb() == worker.RECYCLE_RSS_MB
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    assert worker.recycle_rss_mb() == worker.HOSTED_RECYCLE_RSS_MB < worker.RECYCLE_RSS_MB
    monkeypatch.setenv("PLAYGROUND_WORKER_MAX_RSS_MB", "1500")
    assert worker.recycle_rss_mb() == 1500


def test_cancel_reaches_the_worker_within_one_second(workers, store):
    run_id = workers.submit("mlp", {"epochs": 2000})
    assert wait_for(lambda: store.metrics(run_id), timeout=120)
    t0 = time.perf_counter()
    assert workers.cancel(run_id)
    result = workers.wait(run_id, timeout=5)
    assert result.status == "cancelled" and time.perf_counter() - t0 < 1.0
    assert store.status(run_id)["status"] == "cancelled" and store.metrics(run_id)


def test_queue_and_waiting_work_across_the_process_boundary(workers, store):
    first = workers.submit("mlp", {"epochs": 2000})
    second = workers.submit("mlp", {"epochs": 2})
    assert workers.position(second) == 1 and store.status(second)["status"] == "queued"
    assert wait_for(lambda: store.metrics(first), timeout=120)
    workers.cancel(first)
    assert workers.wait(second, timeout=60).status == "completed"
    assert workers.snapshot(second).get("step") == store.status(second)["step"]


def test_a_killed_worker_fails_its_run_with_a_message_and_the_next_run_gets_a_fresh_one(
        workers, store):
    run_id = workers.submit("mlp", {"epochs": 2000})
    assert wait_for(lambda: store.metrics(run_id), timeout=120)
    dead = store.status(run_id)["worker"]
    os.kill(dead, signal.SIGKILL)
    result = workers.wait(run_id, timeout=10)
    assert result.status == "failed" and "SIGKILL" in result.message
    status = store.status(run_id)
    assert status["status"] == "failed" and "out of memory" in status["message"]
    assert store.metrics(run_id), "the curve so far is kept"
    again = workers.submit("mlp", {"epochs": 2})
    assert workers.wait(again, timeout=120).status == "completed"
    assert store.status(again)["worker"] != dead


def test_a_worker_that_died_while_idle_is_replaced_at_the_next_run(workers, store):
    assert workers.executor.device_info()["pid"]
    for pid in workers.executor.pids():
        os.kill(pid, signal.SIGKILL)
    run_id = workers.submit("mlp", {"epochs": 2})          # no waiting for the death to be seen
    result = workers.wait(run_id, timeout=120)
    assert result is not None and result.status in ("completed", "failed"), result
    if result.status == "failed":                          # it was handed to the dying worker
        assert "killed" in result.message
        run_id = workers.submit("mlp", {"epochs": 2})
        result = workers.wait(run_id, timeout=120)
    assert result.status == "completed"


def test_a_normal_exit_marks_the_run_interrupted_and_stops_the_worker(workers, store):
    run_id = workers.submit("mlp", {"epochs": 2000})
    assert wait_for(lambda: store.metrics(run_id), timeout=120)
    pid = store.status(run_id)["worker"]
    workers._interrupt_all()
    status = store.status(run_id)
    assert status["status"] == "interrupted" and "Press Train" in status["message"]
    assert wait_for(lambda: not _alive(pid), timeout=10), "the worker exits with the app"


def test_a_killed_app_leaves_its_run_interrupted_and_its_worker_exits(home, store):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from playground.engine.jobs import JobManager
        from playground.engine.runs import RunStore
        m = JobManager(RunStore({str(store.root)!r}), executor="process")
        print(m.submit("mlp", {{"epochs": 2000}}), flush=True)
        time.sleep(600)
    """)
    app = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                           text=True)
    try:
        run_id = app.stdout.readline().strip()
        assert wait_for(lambda: store.metrics(run_id), timeout=120)
        worker = store.status(run_id)["worker"]
    finally:
        app.kill()                                   # no goodbye: SIGKILL
        app.wait(10)
    assert wait_for(lambda: not _alive(worker), timeout=10)
    assert store.status(run_id)["status"] == "interrupted"
    lines = (store.path(run_id) / "metrics.jsonl").read_text().count("\n")
    time.sleep(0.5)
    assert (store.path(run_id) / "metrics.jsonl").read_text().count("\n") == lines


def test_a_job_sees_the_settings_of_when_it_was_submitted(workers, monkeypatch, mnist_dir):
    # mnist_dir points PLAYGROUND_DATA_DIR at the real digits after the worker has started
    run_id = workers.submit("mlp", {"dataset": "mnist", "epochs": 1, "hidden_sizes": "32"})
    result = workers.wait(run_id, timeout=120)
    assert result.status == "completed", result.message


def test_the_page_trains_through_a_worker_process(home, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WORKER", "process")
    at = open_page(query={"epochs": "5"})
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed", timeout=120)
    at.run()
    assert store.status(run_id)["worker"] != os.getpid()
    assert len(at.get("plotly_chart")) >= 3 and "Finished" in at.success[0].value
    assert not at.exception


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:             # a zombie has exited
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_pages_looks_image_and_onnx_are_made_by_the_worker_beside_a_training_job(workers,
                                                                                 store):
    import base64
    import io

    from PIL import Image

    from playground.engine import asks

    look = workers.submit("diffusion", {"steps": 30, "T": 100, "sample_steps": 10})
    cnn = workers.submit("cnn", {"epochs": 1})
    assert workers.wait(look, timeout=180).status == "completed"
    assert workers.wait(cnn, timeout=180).status == "completed"
    busy = workers.submit("mlp", {"epochs": 2000})
    assert wait_for(lambda: store.status(busy).get("step", 0) > 0, timeout=60)

    # Sample again, answered by the worker that is training, while it trains
    ask = {"lab": "diffusion", "config": store.config(look)["config"],
           "model": str(store.model_path(look)), "value": 10, "typed": ""}
    out = workers.ask("explore", ask)
    assert {"samples", "trajectory", "speed"} <= set(out)
    assert store.status(busy)["status"] == "running", "answered beside the job, not after it"
    assert store.status(busy)["worker"] == store.status(look)["worker"]
    # the lab's own refusal comes back as the page's message
    with pytest.raises(asks.AskError, match="at most T = 100"):
        workers.ask("explore", {**ask, "value": 500})
    with pytest.raises(asks.AskError, match="unknown ask"):
        workers.ask("train", ask)
    # what a page shows before Train (here the noise schedule), also the worker's
    before = workers.ask("overview", {"lab": "diffusion", "config": ask["config"]})
    assert before and all(item.get("kind") for item in before.values())

    # a visitor's drawing through the finished CNN: its bytes go to the worker, not to disk
    img = Image.new("L", (64, 64), 255)
    img.paste(0, (28, 8, 36, 56))                                     # a "1", pen on paper
    png = io.BytesIO()
    img.save(png, format="PNG")
    ask = {"lab": "cnn", "config": store.config(cnn)["config"],
           "model": str(store.model_path(cnn)), "invert": True,
           "image": base64.b64encode(png.getvalue()).decode()}
    out = workers.ask("classify", ask)
    assert len(out["classes"]) == len(out["probs"]) == 10 and abs(sum(out["probs"]) - 1) < 1e-4
    with Image.open(io.BytesIO(base64.b64decode(out["seen"]))) as seen:
        size = store.config(cnn)["config"]["image_size"]       # digits resized for the CNN
        assert seen.size == (size, size)
    with pytest.raises(asks.BadImage, match="could not be read"):
        workers.ask("classify", {**ask, "image": base64.b64encode(b"\x89PNG broken").decode()})
    out = workers.ask("onnx", {"root": str(store.root), "run_id": cnn})
    workers.cancel(busy)
    assert workers.wait(busy, timeout=60).status == "cancelled"
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(base64.b64decode(out["onnx"]))
    assert [i.name for i in model.graph.input] == ["x"]
