"""A hostile visitor of the hosted copy: each test tries one attack through the path a visitor
or the CLI would take and asserts the refusal, the cap or the clean-up (issue: every route to the
shared host's CPU, memory and disk is capped). Uploads: test_hostile_uploads.py; the pages'
own work, Markdown from links, tracebacks, sweeps: test_hostile_pages.py."""
import errno
import tracemalloc

import pytest

from playground import registry
from playground.engine import hosting, runs
from playground.engine.jobs import KEEP_DONE, InvalidConfig, JobManager, QueueFull
from tests.helpers import finished_run, open_page, texts

A, B = hosting.owner_id("a" * 32), hosting.owner_id("b" * 32)
HOSTED = hosting.HOSTED_DEFAULTS


@pytest.fixture
def hosted(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    return home


def _manager(store, **caps) -> JobManager:
    return JobManager(store, caps=hosting.Caps(**{**HOSTED.__dict__, **caps}), executor="thread")


# ---- 1. ready configs pass the same check as a form's -----------------------------------------

def test_a_comparisons_oversized_teacher_is_refused_before_any_run_is_queued(hosted, store):
    """Scratch mode checks the small student; the plan's first run is a ~50M-parameter teacher."""
    at = open_page("app_pages/40_distill.py", query={
        "mode": "scratch", "teacher_hidden": "4096,4096,4096,4096", "dataset": "digits"})
    assert "distill._compare" in [b.key for b in at.button]
    assert not at.button(key="distill._compare").disabled      # the form's own check passes
    at.button(key="distill._compare").click().run()
    # as the visitor reads it (Markdown escapes taken out)
    error = texts(at, "error").replace("\\", "").replace("\u200b", "")
    assert "The comparison could not start" in error and "teacher: This model has" in error
    assert "this server allows at most 2,000,000" in error
    assert store.list() == []                                   # not one of its runs queued


def test_a_ready_config_is_checked_like_a_forms(hosted, store):
    from dataclasses import replace

    lab = registry.get("distill")
    small, errors = registry.parse_config(lab, {"mode": "scratch",
                                                "teacher_hidden": [4096] * 4})
    assert not errors
    mgr = _manager(store)
    try:
        with pytest.raises(InvalidConfig, match="this server allows at most 2,000,000"):
            mgr.submit("distill", cfg=replace(small, mode="teacher"), owner=A)
        with pytest.raises(InvalidConfig, match="Epochs must be at most 200"):
            mgr.submit("mlp", cfg=replace(registry.parse_config(registry.get("mlp"), {})[0],
                                          epochs=100_000), owner=A)
        assert store.list() == []
    finally:
        mgr.shutdown()


def test_rnn_vs_lstm_vs_gru_is_checked_whole(hosted, store):
    """An RNN under the parameter cap; its LSTM and GRU are 4x and 3x over it."""
    lab = registry.get("rnn")
    cfg, errors = registry.parse_config(lab, {"cell": "rnn", "hidden_size": 1024})
    assert not errors
    mgr = _manager(store)
    try:
        with pytest.raises(InvalidConfig) as e:
            spec = lab.COMPARE(cfg)
            mgr.submit_plan("rnn", spec["plan"], cfg, owner=A, names=spec["names"])
        assert any(m.startswith("LSTM: This model has") for m in e.value.messages)
        assert store.list() == []
        assert mgr.active() == []
    finally:
        mgr.shutdown()


# ---- 2. a block model's size is bounded before any link is drawn ----------------------------

def test_a_graph_of_45_million_links_is_refused_up_front(hosted, store):
    mgr = _manager(store)
    try:
        with pytest.raises(InvalidConfig, match="about 45,000,000 links"):
            mgr.submit("gnn", {"graph": "sbm", "communities": 10, "community_size": 1000,
                               "p_in": 0.0, "p_out": 1.0}, owner=A)
        assert store.list() == []
    finally:
        mgr.shutdown()


def test_the_largest_allowed_graph_is_built_as_arrays():
    """900k links: networkx's Python edge list took GBs; arrays a block pair at a time."""
    from playground.data import graphs

    graphs.sbm.cache_clear()
    tracemalloc.start()
    try:
        data = graphs.sbm(10, 1000, 0.0, 0.02, 2.0, 3, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        graphs.sbm.cache_clear()
    edges = data.extra["edges"]
    assert 880_000 < len(edges) < 920_000
    assert bool((edges[:, 0] < edges[:, 1]).all())
    # every link across groups, as p_in = 0 says
    assert bool((edges[:, 0] // 1000 != edges[:, 1] // 1000).all())
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB"


# ---- 5. time, steps, submissions and retention ----------------------------------------------

def test_a_run_stops_at_the_time_limit_with_its_weights_and_curves(store):
    mgr = _manager(store, seconds=1, updates=None, samples=None)
    try:
        run_id = mgr.submit("mlp", {"epochs": 200, "batch_size": 1}, owner=A)
        result = mgr.wait(run_id, timeout=120)
        status = store.status(run_id)
        assert result.status == status["status"] == "completed"
        assert status["message"].startswith("Stopped at the time limit")
        assert status["limited"] == "time" and status["step"] < status["total_steps"]
        assert store.model_path(run_id) is not None and store.metrics(run_id)
    finally:
        mgr.shutdown()


def test_a_run_stops_at_the_step_limit(store):
    mgr = _manager(store, seconds=None, updates=40)
    try:
        run_id = mgr.submit("mlp", {"epochs": 200, "batch_size": 1}, owner=A)
        mgr.wait(run_id, timeout=120)
        status = store.status(run_id)
        assert status["message"].startswith("Stopped at the step limit")
        assert status["step"] == status["total_steps"] == 40
        assert store.model_path(run_id) is not None
    finally:
        mgr.shutdown()


def test_a_new_cookie_does_not_renew_the_submission_allowance(store):
    """Each submission from a fresh private window (a new owner), all from one address."""
    mgr = _manager(store, address_submissions_per_minute=4, queued_per_address=None,
                   queued=100)
    try:
        for i in range(4):
            mgr.cancel(mgr.submit("mlp", {"epochs": 1}, owner=hosting.owner_id(f"{i:032x}"),
                                  client="81.2.69.160"))
        with pytest.raises(QueueFull, match="Your network has started 4 runs in the last minute"):
            mgr.submit("mlp", {"epochs": 1}, owner=hosting.owner_id("f" * 32),
                       client="81.2.69.160")
        # another address is not held back by this one
        mgr.cancel(mgr.submit("mlp", {"epochs": 1}, owner=B, client="90.1.2.3"))
    finally:
        mgr.shutdown()


def test_one_address_cannot_fill_the_queue(store):
    mgr = _manager(store, address_submissions_per_minute=None, submissions_per_minute=None,
                   queued_per_address=3)
    try:
        for i in range(3):
            mgr.submit("mlp", {"epochs": 200, "batch_size": 1}, owner=hosting.owner_id(f"{i:032x}"),
                       client="81.2.69.160")
        with pytest.raises(QueueFull, match="3 runs from your network"):
            mgr.submit("mlp", {"epochs": 200, "batch_size": 1}, owner=B, client="81.2.69.160")
    finally:
        mgr.shutdown()


def test_the_address_is_what_the_proxies_saw_not_what_the_visitor_claims():
    # a visitor may send their own X-Forwarded-For; the host's proxy appends the real peer
    assert hosting.client_address("1.2.3.4, 81.2.69.160", "10.0.0.5") == "81.2.69.160"
    assert hosting.client_address("81.2.69.160, 10.1.2.3", "10.0.0.5") == "81.2.69.160"
    assert hosting.client_address(None, "90.1.2.3") == "90.1.2.3"
    assert hosting.client_address(None, "127.0.0.1") is None
    assert hosting.client_address("not an address", None) is None


def test_retention_prunes_the_heaviest_visitor_not_a_quiet_ones_newest(store):
    mgr = _manager(store, stored=8, stored_per_visitor=None)
    try:
        quiet = [finished_run(store, owner=B, age=1000 + i) for i in range(2)]    # the oldest
        heavy = [finished_run(store, owner=A, age=500 - i) for i in range(10)]
        deleted = mgr.prune(A)
        assert len(deleted) == 4 and set(deleted) <= set(heavy)
        assert all(store.exists(r) for r in quiet)
        assert len(store.list()) == 8
    finally:
        mgr.shutdown()


# ---- 7. the teacher picker lists the visitor's own runs --------------------------------------

def test_the_teacher_picker_lists_only_the_visitors_own_runs(hosted, store):
    mine_key = "c" * 32
    theirs = finished_run(store, owner=B, age=10)
    mine = finished_run(store, owner=hosting.owner_id(mine_key), age=5)
    for run_id in (theirs, mine):
        import json

        path = store.path(run_id) / "config.json"
        record = json.loads(path.read_text())
        record["config"]["dataset"] = "digits"
        path.write_text(json.dumps(record))
    at = open_page("app_pages/40_distill.py", visitor_key=mine_key)
    options = at.selectbox(key="distill.teacher_run").options
    assert any(mine in o for o in options)
    assert not any(theirs in o for o in options)


# ---- 8. a full disk at the end of a run ------------------------------------------------------

def test_a_run_whose_end_cannot_be_saved_says_so_and_can_be_deleted(store, monkeypatch):
    mgr = _manager(store, seconds=None, updates=None)
    real = runs.atomic_write

    def full(path, data):
        if path.name == "status.json" and b'"ended"' in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(runs, "atomic_write", full)
    try:
        run_id = mgr.submit("mlp", {"epochs": 2}, owner=A)
        result = mgr.wait(run_id, timeout=120)
        assert result.status == "failed"
        status = store.status(run_id)          # what the page reads, in this process
        assert status["status"] == "failed"
        assert "could not be saved (No space left on device" in status["message"]
        mgr.delete(run_id, by=A)               # not stuck "running": it can go, and free space
        assert not store.exists(run_id)
    finally:
        mgr.shutdown()


# ---- 12. a long-lived server forgets ended jobs ----------------------------------------------

def test_the_job_manager_keeps_a_bounded_memory_of_ended_runs(store):
    mgr = _manager(store, queued=10_000, queued_per_session=None, submissions_per_minute=None,
                   stored=None, stored_per_visitor=None)
    try:
        ids = []
        for _ in range(KEEP_DONE + 40):
            ids.append(mgr.submit("mlp", {"epochs": 1}))
            mgr.cancel(ids[-1])             # ended at once: a queued run is cancelled
        for run_id in ids:
            mgr.wait(run_id, timeout=60)
        assert len(mgr._jobs) <= KEEP_DONE + 1
        assert mgr.wait(ids[0], timeout=0) is None      # forgotten; its folder stays
        assert store.status(ids[0])["status"] in ("cancelled", "completed")
    finally:
        mgr.shutdown()


def test_every_pages_comparison_at_its_defaults_passes_the_hosted_check(hosted, store):
    """The whole-plan check refuses oversized plans only: each page's own comparison, as a
    visitor first meets it, is queued whole (nothing trains here: no training slot)."""
    mgr = _manager(store, running=0, queued=1000, queued_per_session=None,
                   submissions_per_minute=None)
    try:
        planned = 0
        for name in registry.LABS:
            lab = registry.get(name)
            cfg, errors = registry.parse_config(lab, {})
            assert not errors, (name, errors)
            compare = getattr(lab, "COMPARE", None)
            compare = compare(cfg) if callable(compare) else compare
            if compare:
                ids = mgr.submit_plan(name, compare["plan"], cfg, names=compare["names"])
                assert len(ids) >= 2 and all(store.exists(i) for i in ids), name
                planned += 1
        assert planned >= 8
    finally:
        mgr.shutdown()


def test_a_network_that_queued_many_runs_takes_turns_with_the_others(store):
    from tests.helpers import wait_for

    mgr = _manager(store, submissions_per_minute=None, address_submissions_per_minute=None)
    long = {"epochs": 200, "batch_size": 1}
    try:
        # fresh cookies, one address: its first run trains, two more wait
        hostile = [mgr.submit("mlp", long, owner=hosting.owner_id(f"{i:032x}"),
                              client="81.2.69.160") for i in range(3)]
        visitor = mgr.submit("mlp", long, owner=B, client="90.1.2.3")       # queued last
        assert mgr.position(hostile[0]) == 0 and mgr.position(visitor) == 3
        mgr.cancel(hostile[0])
        assert wait_for(lambda: mgr.position(visitor) == 0, timeout=60)
        assert mgr.position(hostile[1]) == 1
    finally:
        mgr.shutdown()
