"""The live panel does only the work that changed: metrics read from the last offset, figures
built once per change, a poll interval that slows down for long runs."""
import json
import time

from playground.ui import charts, live
from tests.helpers import open_page, run_id_of, poll_until


def _append(store, run_id, records, partial: str = ""):
    with open(store.path(run_id) / "metrics.jsonl", "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records) + partial)


def test_the_tail_reads_only_new_complete_lines(store):
    run_id = store.create("mlp", {})
    tail = store.tail(run_id)
    assert tail.read() == [] and tail.version == 0
    _append(store, run_id, [{"step": 1, "train/loss": 2.0}], partial='{"step": 2, "train/lo')
    assert [r["step"] for r in tail.read()] == [1] and tail.version == 1
    assert tail.read() is tail.read() and tail.version == 1, "nothing new: nothing re-read"
    _append(store, run_id, [], partial='ss": 1.5}\n')
    _append(store, run_id, [{"step": 3, "train/loss": 1.0, "val/acc": 0.5}])
    assert [r["step"] for r in tail.read()] == [1, 2, 3] and tail.version == 2
    assert tail.latest["train/loss"] == 1.0 and tail.latest["val/acc"] == 0.5
    assert tail.read() == store.metrics(run_id), "the same records as a full read"
    assert store.tail(run_id) is tail, "one tail per run, shared by every page"


def test_damaged_bytes_spoil_one_line_of_the_tail_only(store):
    run_id = store.create("mlp", {})
    with open(store.path(run_id) / "metrics.jsonl", "ab") as f:
        f.write(b'{"step": 1}\n\xff\xfe junk\n{"step": 2}\n')
    assert [r["step"] for r in store.tail(run_id).read()] == [1, 2]


def test_artifacts_are_parsed_again_only_when_the_run_wrote_new_ones(store):
    run_id = store.create("mlp", {})
    tail = store.tail(run_id)
    store.write_artifacts(run_id, {"step": 1, "items": {}})
    first = tail.artifacts()
    assert first["step"] == 1 and tail.artifacts() is first
    version = tail.artifacts_version
    time.sleep(0.01)
    store.write_artifacts(run_id, {"step": 2, "items": {}})
    assert tail.artifacts()["step"] == 2 and tail.artifacts_version == version + 1


def test_poll_interval_is_fast_for_a_young_run_and_slower_later():
    now = 1000.0
    assert live.poll_seconds({"status": "running", "started": now - 2}, now) == 0.5
    assert live.poll_seconds({"status": "running", "started": now - 30}, now) == 1.0
    assert live.poll_seconds({"status": "running", "started": now - 600}, now) == 2.0
    assert live.poll_seconds({"status": "queued", "created": now - 600}, now) == 0.5


def test_curves_keep_at_most_a_thousand_points_and_the_newest_one():
    xs = list(range(50_000))
    fig = charts.curves({"train": (xs, [float(x) for x in xs])}, "Loss", max_points=1000)
    trace = fig["data"][0]
    assert len(trace["x"]) <= 1001 and trace["x"][-1] == 49_999 and trace["y"][-1] == 49_999.0


def test_a_poll_with_nothing_new_builds_no_figure(home, store, monkeypatch):
    finished = store.create("mlp", {"epochs": 5})
    _append(store, finished, [{"step": s, "train/loss": 1.0 / s, "train/acc": 0.5,
                               "val/acc": 0.5, "val/loss": 1.0} for s in range(1, 50)])
    store.write_artifacts(finished, {"step": 49, "items": {
        "b": charts.artifact("Boundary", "plotly", {"data": [{"type": "heatmap", "z": [[0, 1]]}],
                                                    "layout": {}})}})
    store.set_status(finished, status="running", started=time.time())
    built = []
    real = live._figure
    monkeypatch.setattr(live, "_figure", lambda spec, *look: built.append(1) or real(spec, *look))
    at = open_page(query={"run": finished})
    assert not at.exception and len(at.get("plotly_chart")) == 3
    first = len(built)
    assert first == 3, "loss, accuracy, boundary"
    at.run()
    at.run()
    assert len(built) == first, "unchanged data: no figure rebuilt"
    _append(store, finished, [{"step": 50, "train/loss": 0.01, "train/acc": 0.9}])
    at.run()
    assert len(built) == first + 2, "new metrics: the two curves, not the artefact"
    store.set_status(finished, status="completed", message="Finished.")
