"""Hosted mode: a run belongs to the visitor who started it. Others watch it through its link,
read-only (no Stop, no delete, and the engine refuses both); the owner keeps control after a
refresh; the store keeps at most N runs per visitor and M overall. Locally nothing changes."""
import time

import pytest
from playground.engine import hosting
from playground.engine.jobs import JobManager, NotOwner
from tests.helpers import finished_run as _finished
from tests.helpers import open_page, poll_until, run_id_of, texts

A, B = hosting.owner_id("a" * 32), hosting.owner_id("b" * 32)


@pytest.fixture
def hosted(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    monkeypatch.setenv("PLAYGROUND_MAX_EPOCHS", "2000")     # runs that last while we look
    return home


def _has_button(at, key: str) -> bool:
    return any(b.key == key for b in at.button)


# ---- the engine ------------------------------------------------------------------------------

def test_the_engine_refuses_stop_and_delete_to_another_visitor(store):
    mgr = JobManager(store, caps=hosting.Caps(hosted=True), executor="thread")
    try:
        run_id = mgr.submit("mlp", {"epochs": 2000}, owner=A)
        assert store.owner(run_id) == A and A != "a" * 32       # the digest, never the key
        with pytest.raises(NotOwner, match="only the visitor who started it can stop it"):
            mgr.cancel(run_id, by=B)
        assert store.status(run_id)["status"] in ("queued", "running")
        assert mgr.cancel(run_id, by=A)
        assert mgr.wait(run_id, timeout=60).status == "cancelled"
        with pytest.raises(NotOwner, match="can delete it"):
            mgr.delete(run_id, by=B)
        assert store.exists(run_id)
        mgr.delete(run_id, by=A)
        assert not store.exists(run_id)
        # a run of the command line (no owner) is no visitor's to stop or delete
        cli = _finished(store)
        with pytest.raises(NotOwner):
            mgr.delete(cli, by=A)
        # a restarted server reads whose a run is from its folder
        kept = _finished(store, owner=A)
        restarted = JobManager(store, caps=hosting.Caps(hosted=True), executor="thread")
        with pytest.raises(NotOwner):
            restarted.delete(kept, by=B)
        restarted.delete(kept, by=A)
        restarted.shutdown()
    finally:
        mgr.shutdown()


def test_locally_every_run_is_everyones(store):
    mgr = JobManager(store, caps=hosting.Caps(), executor="thread")
    try:
        run_id = mgr.submit("mlp", {"epochs": 2000}, owner=A)
        assert store.owner(run_id) is None                       # nothing recorded locally
        assert mgr.cancel(run_id, by=B)
        assert mgr.wait(run_id, timeout=60).status == "cancelled"
        mgr.delete(run_id, by=B)
        assert not store.exists(run_id)
    finally:
        mgr.shutdown()


def test_retention_prunes_the_oldest_finished_runs_and_never_a_running_one(store):
    caps = hosting.Caps(hosted=True, stored_per_visitor=3, stored=5)
    mgr = JobManager(store, caps=caps, executor="thread")
    try:
        # A: a run still training (the oldest of all) and four finished ones, oldest first
        training = _finished(store, owner=A, status="running", age=500)
        old_a = [_finished(store, owner=A, age=400 - 10 * i) for i in range(4)]
        old_b = [_finished(store, owner=B, age=300 - 10 * i) for i in range(2)]
        cli = _finished(store, age=600)                        # the operator's, oldest of all
        assert len(store.list()) == 8
        deleted = mgr.prune(A)
        # A keeps 3: the running one plus the two newest finished; then overall 5 of the 6
        # left: the heaviest keeper (A, 3 runs) loses its oldest finished one, not the
        # operator's older run nor B's
        assert training not in deleted and store.exists(training)
        assert set(old_a[:3]) == set(deleted)
        assert {r.run_id for r in store.list() if r.owner == A} == {training, old_a[3]}
        left = store.list()
        assert len(left) == 5
        assert {cli, *old_b} <= {r.run_id for r in left}
    finally:
        mgr.shutdown()


def test_retention_also_runs_when_a_visitor_submits(hosted, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_STORED_PER_VISITOR", "2")
    mgr = JobManager(store, executor="thread")
    try:
        assert mgr.caps.stored_per_visitor == 2 and mgr.caps.stored == 200
        old = [_finished(store, owner=A, age=100 - i) for i in range(3)]
        new = mgr.submit("mlp", {"epochs": 1}, owner=A)
        mine = {r.run_id for r in store.list() if r.owner == A}
        assert mine == {old[-1], new}
    finally:
        mgr.shutdown()


def test_no_retention_locally(store):
    mgr = JobManager(store, caps=hosting.Caps(), executor="thread")
    try:
        for i in range(5):
            _finished(store, owner=A, age=i)
        assert mgr.prune(A) == [] and len(store.list()) == 5
    finally:
        mgr.shutdown()


# ---- the pages -------------------------------------------------------------------------------

def test_another_visitor_watches_read_only_and_the_owner_keeps_control(hosted, store):
    owner = open_page("app_pages/10_mlp.py", {"epochs": "2000", "dataset": "digits"})
    owner.button(key="mlp._train").click().run()
    run_id = run_id_of(owner)
    key = owner.session_state["_visitor_key"]
    assert store.owner(run_id) == hosting.owner_id(key)
    assert _has_button(owner, "mlp._stop")

    # a stranger opens the link: the run, live, without Stop
    stranger = open_page("app_pages/10_mlp.py", {"run": run_id})
    assert run_id in " ".join(m.value for m in stranger.markdown)
    assert not _has_button(stranger, "mlp._stop")
    assert "Watching another visitor's run, read-only" in texts(stranger, "info")
    link = " ".join(c.value for c in stranger.code)
    assert f"run={run_id}" in link and "epochs=2000" in link and key not in link
    assert key not in " ".join(c.value for c in owner.code)

    # the stranger's Runs page: only what they opened through a link, and no delete
    runs = open_page("app_pages/90_runs.py", {"runs": run_id})
    assert "belong to other visitors" in " ".join(c.value for c in runs.caption)
    assert not _has_button(runs, "runs.delete")
    alone = open_page("app_pages/90_runs.py")
    assert "No runs yet" in texts(alone, "info")

    # the owner refreshes (their browser brings the key back) and stops it
    again = open_page("app_pages/10_mlp.py", {"run": run_id}, visitor_key=key)
    assert "read-only" not in texts(again, "info")
    again.button(key="mlp._stop").click().run()
    assert poll_until(again, lambda a: store.status(run_id)["status"] == "cancelled")

    # and deletes it from their Runs page
    mine = open_page("app_pages/90_runs.py", visitor_key=key)
    mine.multiselect(key="runs.selected").select(run_id).run()
    mine.checkbox(key="runs.confirm_delete").check().run()
    mine.button(key="runs.delete").click().run()
    assert "Deleted 1 run." in texts(mine, "success")
    assert not store.exists(run_id)


def test_the_per_visitor_queue_cap_survives_a_refresh(hosted, store):
    at = open_page(query={"epochs": "2000"})
    for _ in range(4):
        at.button(key="mlp._train").click().run()
    again = open_page(query={"epochs": "2000"}, visitor_key=at.session_state["_visitor_key"])
    again.button(key="mlp._train").click().run()
    assert "most this server allows per visitor" in texts(again, "error")
    assert len(store.list()) == 4
    for r in store.list():
        again.query_params["run"] = r.run_id
        again.run()
        again.button(key="mlp._stop").click().run()


def test_a_comparison_of_two_visitors_runs_works_through_a_link(hosted, store):
    key = "c" * 32
    mine, theirs = _finished(store, owner=hosting.owner_id(key)), _finished(store, owner=B)
    for run_id in (mine, theirs):
        store.append_metrics(run_id, [{"step": 1, "train/loss": 0.5}, {"step": 2,
                                                                       "train/loss": 0.25}])
    at = open_page("app_pages/90_runs.py", {"runs": f"{theirs},{mine}"}, visitor_key=key)
    assert at.multiselect(key="runs.selected").value == [theirs, mine]
    assert any(c.key == "runs.chart" for c in at.get("plotly_chart"))
    assert "1 of them belong to other visitors: those are kept." in " ".join(
        c.value for c in at.caption)
    at.checkbox(key="runs.confirm_delete").check().run()
    at.button(key="runs.delete").click().run()
    assert "Deleted 1 run." in texts(at, "success")
    assert "started by another visitor" in texts(at, "warning")
    assert store.exists(theirs) and not store.exists(mine)


def test_a_visitors_lists_hold_their_own_runs_only(hosted, store):
    theirs = _finished(store, owner=B)
    at = open_page(query={"epochs": "2"})
    at.button(key="mlp._train").click().run()
    mine = run_id_of(at)
    history = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert mine in history and theirs not in history
    home = open_page("app_pages/00_home.py", visitor_key=at.session_state["_visitor_key"])
    listed = " ".join(str(df.value.to_dict()) for df in home.dataframe)
    assert mine in listed and theirs not in listed
    assert "keeps your newest 20 runs and 200 runs overall" in " ".join(
        c.value for c in at.sidebar.caption)


def test_locally_a_second_session_can_stop_the_run(home, store):
    first = open_page(query={"epochs": "2000"})
    first.button(key="mlp._train").click().run()
    run_id = run_id_of(first)
    second = open_page(query={"run": run_id})
    assert "read-only" not in texts(second, "info")
    second.button(key="mlp._stop").click().run()
    assert poll_until(second, lambda a: store.status(run_id)["status"] == "cancelled")
