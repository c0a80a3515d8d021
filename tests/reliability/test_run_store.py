"""Run ids from URLs and users, and damaged run folders: never a file outside the runs folder,
never one bad folder hiding the others."""
import os

import pytest

from playground.engine.runs import DamagedRun, NoSuchRun
from tests.helpers import open_page, texts

BAD_IDS = ["../etc", "/etc/passwd", "..", "", None, "20261125-050147-mlp-af2e26/..",
           "20261125-050147-MLP-af2e26", "x" * 500, "../../../../tmp/x", "%2e%2e%2f",
           "20261125-050147-mlp-af2e26\x00"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_run_ids_that_are_not_ours_are_rejected_before_touching_disk(store, bad):
    with pytest.raises(NoSuchRun):
        store.path(bad)
    assert not store.exists(bad)


def test_atomic_write_keeps_the_old_file_when_a_write_fails(store, monkeypatch):
    run_id = store.create("mlp", {"a": 1})
    before = store.status(run_id)

    def broken_replace(src, dst):
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError):
            store.set_status(run_id, status="running")
    from playground.engine.runs import RunStore

    assert RunStore(store.root).status(run_id) == before        # the file: untouched
    assert store.status(run_id)["status"] == "running"          # this process: not lost
    assert [p.name for p in store.path(run_id).iterdir() if p.name.startswith(".")] == []


def test_a_torn_metrics_line_and_a_damaged_run_do_not_hide_the_others(store):
    good = store.create("mlp", {})
    store.append_metrics(good, [{"step": 1, "train/loss": 0.5}])
    with open(store.path(good) / "metrics.jsonl", "a") as f:
        f.write('{"step": 2, "train/lo')
    assert store.metrics(good) == [{"step": 1, "train/loss": 0.5}]
    bad = store.create("mlp", {})
    (store.path(bad) / "config.json").write_text("{not json")
    listed = {r.run_id: r for r in store.list()}
    assert listed[bad].damaged and listed[good].lab == "mlp"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "20991231-235959-mlp-abcdef",
                                 "<script>alert(1)</script>"])
def test_run_ids_in_the_url_say_no_such_run_and_touch_nothing(home, store, tmp_path, bad):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    before = sorted(os.listdir(store.root))
    at = open_page(query={"run": bad})
    assert not at.exception
    assert "No such run" in texts(at, "warning")
    assert outside.read_text() == "keep" and sorted(os.listdir(store.root)) == before


@pytest.mark.parametrize("damage", ["config", "status", "metrics", "artifacts"])
def test_a_damaged_run_is_shown_as_damaged_and_the_rest_still_loads(home, store, damage):
    from playground.engine import loop
    from playground.labs import mlp
    from playground.params import to_dict

    cfg = mlp.Config(epochs=3)
    good, bad = (store.create("mlp", to_dict(cfg)) for _ in range(2))
    for run_id in (good, bad):
        loop.run(mlp, cfg, run_id, store)
    target = {"config": "config.json", "status": "status.json", "metrics": "metrics.jsonl",
              "artifacts": "artifacts/latest.json"}[damage]
    path = store.path(bad) / target
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] + b"\xff\xfe garbage")

    home_page = open_page("app_pages/00_home.py")
    assert not home_page.exception
    table = home_page.dataframe[0].value
    assert good in set(table["run"]) and bad in set(table["run"])
    if damage in ("config", "status"):
        assert table.set_index("run").loc[bad, "status"] == "damaged"
    page = open_page(query={"run": bad})
    assert not page.exception
    if damage == "config":
        assert "damaged" in texts(page, "error")
    page = open_page(query={"run": good})
    assert "Finished" in texts(page, "success")


def test_a_run_whose_status_file_is_missing_is_an_error_on_its_page_not_a_crash(home, store):
    from playground.engine import loop
    from playground.labs import mlp
    from playground.params import to_dict

    cfg = mlp.Config(epochs=2)
    run_id = store.create("mlp", to_dict(cfg))
    loop.run(mlp, cfg, run_id, store)
    (store.path(run_id) / "status.json").unlink()
    page = open_page(query={"run": run_id})
    assert not page.exception, page.exception
    assert "status.json is missing" in texts(page, "error")


def test_damaged_run_is_a_no_such_run_for_callers(store):
    run_id = store.create("mlp", {})
    (store.path(run_id) / "config.json").write_text("[1, 2")
    with pytest.raises(DamagedRun):
        store.config(run_id)
    assert issubclass(DamagedRun, NoSuchRun)
