"""The loop, the job manager and the run store: lifecycle, cancel, divergence, restart, safety."""
import json
import os
import signal
import subprocess
import sys
import time
import types
from dataclasses import dataclass

import pytest
import torch

from playground import params
from playground.data import make_2d
from playground.engine import loop
from playground.engine.jobs import InvalidConfig, JobManager
from playground.engine.runs import NoSuchRun, RunStore
from playground.params import param

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _fake_lab(nan_at_step: int):
    """A linear model whose loss turns NaN at a chosen step: divergence without luck."""
    @dataclass(frozen=True)
    class Config:
        lr: float = param(0.1, lo=0, hi=10, help="lr")
        epochs: int = param(50, lo=1, hi=100, help="epochs")
        batch_size: int = param(10, lo=1, hi=100, help="batch")
        seed: int = param(0, lo=0, hi=10, help="seed")
        device: str = param("cpu", choices=("cpu",), help="device")

    lab = types.ModuleType("fake")
    lab.Config = Config
    lab.load_data = lambda cfg: make_2d("moons", 100, 0.1, 0.5, 0)

    def build(cfg, data):
        model = torch.nn.Linear(2, 2)
        return types.SimpleNamespace(model=model, opt=torch.optim.SGD(model.parameters(), lr=0.1),
                                     step=0)

    def train_step(s, batch):
        x, y = batch
        s.step += 1
        loss = torch.nn.functional.cross_entropy(s.model(x), y)
        s.opt.zero_grad()
        loss.backward()
        s.opt.step()
        if s.step >= nan_at_step:
            loss = loss * float("nan")
        return {"train/loss": loss.detach()}

    lab.build, lab.train_step = build, train_step
    lab.evaluate = lambda s, d: {"val/acc": 0.5}
    lab.artifacts = lambda s, d: {}
    return lab


# -- lifecycle ---------------------------------------------------------------------------------

def test_a_submitted_run_completes_and_leaves_everything_on_disk(manager, store):
    run_id = manager.submit("mlp", {"epochs": 5})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "completed"
    status = store.status(run_id)
    assert status["status"] == "completed" and status["step"] == status["total_steps"]
    assert store.config(run_id)["config"]["epochs"] == 5
    recs = store.metrics(run_id)
    assert any("val/acc" in r for r in recs) and any("train/loss" in r for r in recs)
    assert "perf/samples_per_s" in recs[0]
    assert store.artifacts(run_id)["items"]
    state = torch.load(store.model_path(run_id), weights_only=True)
    assert any(k.endswith("weight") for k in state)


def test_second_run_waits_in_the_queue_then_runs(manager, store):
    first = manager.submit("mlp", {"epochs": 2000})
    second = manager.submit("mlp", {"epochs": 2})
    assert manager.position(second) == 1
    assert store.status(second)["status"] == "queued"
    manager.cancel(first)
    assert manager.wait(second, timeout=60).status == "completed"


def test_cancel_stops_within_one_second_and_keeps_metrics(manager, store):
    run_id = manager.submit("mlp", {"epochs": 2000})
    assert _wait_for(lambda: store.metrics(run_id))
    t0 = time.perf_counter()
    manager.cancel(run_id)
    result = manager.wait(run_id, timeout=5)
    elapsed = time.perf_counter() - t0
    assert result.status == "cancelled" and elapsed < 1.0, elapsed
    assert store.status(run_id)["status"] == "cancelled"
    assert store.metrics(run_id)


def test_cancelling_a_queued_run_never_starts_it(manager, store):
    first = manager.submit("mlp", {"epochs": 2000})
    second = manager.submit("mlp", {"epochs": 2})
    assert manager.cancel(second)
    assert store.status(second)["status"] == "cancelled"
    manager.cancel(first)


def test_invalid_settings_are_refused_with_every_message(manager, store):
    with pytest.raises(InvalidConfig) as e:
        manager.submit("mlp", {"lr": -1, "hidden_sizes": "8,0"})
    assert len(e.value.messages) == 2
    with pytest.raises(InvalidConfig, match="unknown lab"):
        manager.submit("nope", {})
    assert store.list() == []


# -- divergence and failures -------------------------------------------------------------------

def test_nan_loss_ends_the_run_as_diverged_naming_the_step(store):
    lab = _fake_lab(nan_at_step=37)
    run_id = store.create("fake", {})
    result = loop.run(lab, lab.Config(), run_id, store)
    assert result.status == "diverged"
    assert "NaN at step 37" in result.message and "try 0.01" in result.message
    assert store.status(run_id)["status"] == "diverged"
    assert all(r["step"] < 37 for r in store.metrics(run_id) if "train/loss" in r)


def test_a_huge_learning_rate_diverges_with_advice(manager, store):
    run_id = manager.submit("mlp", {"lr": 100, "optimizer": "sgd", "epochs": 20})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "diverged"
    assert "learning rate 100 is likely too high" in result.message
    assert store.metrics(run_id), "the curve so far is kept"


def test_out_of_memory_fails_the_run_with_advice_and_the_next_run_works(store, monkeypatch):
    from playground import registry

    lab = registry.get("mlp")
    real_step = lab.train_step

    def oom(state, batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(lab, "train_step", oom)
    cfg = lab.Config(epochs=1)
    bad = loop.run(lab, cfg, store.create("mlp", {}), store)
    assert bad.status == "failed" and "batch size below 32" in bad.message
    monkeypatch.setattr(lab, "train_step", real_step)
    assert loop.run(lab, cfg, store.create("mlp", {}), store).status == "completed"


# -- the run store -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../etc", "/etc/passwd", "..", "", None, "20261125-050147-mlp-af2e26/..",
                                 "20261125-050147-MLP-af2e26", "x" * 500])
def test_run_ids_that_are_not_ours_are_rejected_before_touching_disk(store, bad):
    with pytest.raises(NoSuchRun):
        store.path(bad)
    assert not store.exists(bad)


def test_atomic_write_keeps_the_old_file_when_a_write_fails(store, monkeypatch):
    run_id = store.create("mlp", {"a": 1})
    before = store.status(run_id)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.set_status(run_id, status="running")
    monkeypatch.undo()
    assert store.status(run_id) == before
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


def test_runs_of_a_killed_process_become_interrupted_on_restart(home, store):
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "playground", "train", "mlp", "--set",
                             "epochs=2000"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: any(r.status.get("status") == "running" and store.metrics(r.run_id)
                                     for r in store.list()), timeout=60)
        assert JobManager(RunStore(home / "runs")).recovered == []   # its owner is alive
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    run_id = store.list()[0].run_id
    manager = JobManager(RunStore(home / "runs"))
    assert manager.recovered == [run_id]
    status = store.status(run_id)
    assert status["status"] == "interrupted" and "Press Train" in status["message"]
    assert store.metrics(run_id), "metrics written before the kill are kept"
    again = manager.submit("mlp", {"epochs": 2})
    assert manager.wait(again, timeout=60).status == "completed"


def test_params_round_trip_through_config_json(store):
    from playground.labs import mlp

    cfg = mlp.Config(hidden_sizes=(4, 3), features=("x1", "x1*x2"))
    run_id = store.create("mlp", params.to_dict(cfg))
    saved = json.loads((store.path(run_id) / "config.json").read_text())["config"]
    assert params.parse(mlp.Config, saved) == (cfg, [])


def test_process_exit_marks_running_jobs_interrupted(manager, store):
    run_id = manager.submit("mlp", {"epochs": 2000})
    assert _wait_for(lambda: store.metrics(run_id))
    manager._interrupt_all()
    status = store.status(run_id)
    assert status["status"] == "interrupted" and "Press Train" in status["message"]
    assert store.metrics(run_id)
