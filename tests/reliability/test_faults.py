"""Faults: cancel, divergence, out of memory, disk errors, process exit and restart - the app
keeps working and nothing finished is lost."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from playground.engine import loop
from playground.engine.jobs import JobManager, StoreUnavailable
from playground.engine.runs import RunStore
from tests.helpers import wait_for as _wait_for, open_page, poll_until, run_id_of, texts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def _container(tmp_path, limit: str, current: int, inactive_file: int, active_file: int):
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir(parents=True)
    cgroup.mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 25165824 kB\nMemAvailable: 20971520 kB\n")
    (cgroup / "memory.max").write_text(limit + "\n")
    (cgroup / "memory.current").write_text(f"{current}\n")
    (cgroup / "memory.stat").write_text(
        f"anon {current - inactive_file - active_file}\nfile {inactive_file + active_file}\n"
        f"active_file {active_file}\ninactive_file {inactive_file}\n")
    return {"proc": str(proc), "cgroup": str(cgroup)}


def test_a_container_full_of_page_cache_still_trains(tmp_path, monkeypatch):
    """A 3 GB container that has read files sits at its limit (the kernel reclaims cache only
    there): the cache is free for a run, the processes' own memory is not."""
    from playground import registry
    from playground.engine import summary

    gb = 1 << 30
    cached = _container(tmp_path, str(3 * gb), 3 * gb, inactive_file=int(1.5 * gb),
                        active_file=gb // 2)
    assert summary.available_bytes(**cached) == int(1.75 * gb)
    full = _container(tmp_path / "b", str(3 * gb), 3 * gb, inactive_file=0, active_file=0)
    assert summary.available_bytes(**full) == 0
    unlimited = _container(tmp_path / "c", "max", 3 * gb, 0, 0)
    assert summary.available_bytes(**unlimited) == 20 * gb

    lab = registry.get("mlp")
    real = summary.available_bytes
    monkeypatch.setattr(summary, "available_bytes", lambda device="cpu": real(**cached))
    assert summary.check(lab, lab.Config()) == []
    monkeypatch.setattr(summary, "available_bytes", lambda device="cpu": real(**full))
    assert "only 0 B is free on the machine" in summary.check(lab, lab.Config())[0]


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




def test_process_exit_marks_running_jobs_interrupted(manager, store):
    run_id = manager.submit("mlp", {"epochs": 2000})
    assert _wait_for(lambda: store.metrics(run_id))
    manager._interrupt_all()
    status = store.status(run_id)
    assert status["status"] == "interrupted" and "Press Train" in status["message"]
    assert store.metrics(run_id)


def test_process_exit_starts_no_queued_run(manager, store):
    """A queued run must not start while the process exits: a thread left inside a torch
    kernel at exit aborts the whole process."""
    first = manager.submit("mlp", {"epochs": 2000})
    second = manager.submit("mlp", {"epochs": 2000})
    assert _wait_for(lambda: store.metrics(first))
    manager._interrupt_all()
    assert store.status(first)["status"] == "interrupted"
    assert store.status(second)["status"] == "queued"        # recovered at the next start
    assert manager.active() == [second] and manager.position(second) == 1


def test_stop_in_the_page_cancels_within_one_second(home, store):
    at = open_page(query={"epochs": "2000"})
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert _wait_for(lambda: store.metrics(run_id))
    t0 = time.perf_counter()
    at.button(key="mlp._stop").click().run()
    assert _wait_for(lambda: store.status(run_id)["status"] == "cancelled", timeout=5)
    assert time.perf_counter() - t0 < 1.0
    at.run()
    assert "Stopped at step" in texts(at, "warning") and at.get("plotly_chart")


def test_a_diverging_run_shows_the_step_and_advice_and_keeps_its_curve(home, store):
    at = open_page(query={"lr": "100", "optimizer": "sgd", "epochs": "50"})
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "diverged")
    at.run()
    message = texts(at, "error")
    assert "at step" in message and "try 10" in message
    assert at.get("plotly_chart"), "the curve so far stays visible"
    assert not at.exception


def test_an_unwritable_runs_folder_is_a_message_and_the_manager_survives(home, store,
                                                                         monkeypatch):
    at = open_page(query={"epochs": "5"})

    def read_only(self, *a, **k):
        raise PermissionError(13, "Read-only file system")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunStore, "create", read_only)
        at.button(key="mlp._train").click().run()
    assert "cannot be written" in texts(at, "error") and not at.exception
    assert run_id_of(at) is None
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed")




def test_a_write_failure_mid_run_fails_that_run_only(manager, store):
    real = RunStore.append_metrics
    calls = {"n": 0}

    def flaky(self, run_id, records):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(self, run_id, records)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunStore, "append_metrics", flaky)
        bad = manager.submit("mlp", {"epochs": 200})
        result = manager.wait(bad, timeout=60)
    assert result.status == "failed" and "No space left" in result.message
    good = manager.submit("mlp", {"epochs": 3})
    assert manager.wait(good, timeout=60).status == "completed"


def test_submit_raises_store_unavailable_for_an_unwritable_folder(manager, monkeypatch):
    def read_only(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(RunStore, "create", read_only)
    with pytest.raises(StoreUnavailable, match="cannot be written"):
        manager.submit("mlp", {})
