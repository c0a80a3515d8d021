"""The sweeps' Ray engine on a local Ray instance of 2 CPUs: its trials are runs of the run store
(metrics, final values, status), the CLI drives it, and cancelling the sweep stops its trials.
Skipped with the reason where Ray is not installed (requirements-ray.txt; the suite installs it)."""
import json
import threading

import pytest

from playground import sweep_ray, sweeps
from playground.__main__ import main
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sweep_ray.missing() is not None,
                                 reason=f"Ray engine skipped: {sweep_ray.missing()}")]


def test_cancelling_a_ray_sweep_stops_its_trials(home, store):
    plan = sweeps.Plan("mlp", grid={"lr": ["0.003", "0.03", "0.1"]}, fixed={"epochs": "2000"},
                       parallel=1, engine="ray")
    record = sweeps.new_record(plan, sweeps.validate(plan))
    done = {}
    thread = threading.Thread(target=lambda: done.update(
        record=sweep_ray.run_ray(plan, store, num_cpus=2, record=record)), daemon=True)
    thread.start()
    assert wait_for(lambda: any(i.status.get("sweep") == record["sweep_id"]
                                and i.status.get("status") == "running"
                                for i in store.list(lab="mlp")), timeout=120)
    sweeps.cancel(record["sweep_id"])
    thread.join(timeout=120)
    assert not thread.is_alive(), "the sweep did not stop"
    final = done["record"]
    assert final["status"] == "cancelled"
    started = [r for r in final["runs"] if r["run_id"]]
    assert started and all(store.status(r["run_id"])["status"] == "cancelled" for r in started)
    assert all(r["status"] in ("cancelled", "skipped") for r in final["runs"])


def test_a_grid_from_the_cli_runs_on_ray_and_lands_in_the_run_store(home, store, capsys):
    # one start of Ray for the CLI and the run store's side; two trials at once
    code = main(["sweep", "mlp", "--grid", "lr=0.003,0.03", "--grid", "hidden_sizes=4;16,16",
                 "--set", "epochs=6", "--set", "dataset=moons", "--engine", "ray",
                 "--cpus", "2", "--parallel", "2", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["status"] == "completed" and len(out["runs"]) == 4
    record = sweeps.load(out["sweep_id"])
    assert record["status"] == "completed" and record["engine"] == "ray"
    assert [r["status"] for r in record["runs"]] == ["completed"] * 4
    assert record["plan"]["parallel"] == 2
    for r in record["runs"]:
        status = store.status(r["run_id"])
        assert status["status"] == "completed" and status["sweep"] == record["sweep_id"]
        # the trial's evaluations reached the run store, and the objective is its final one
        accs = [m["val/acc"] for m in store.metrics(r["run_id"]) if "val/acc" in m]
        assert len(accs) >= 5 and r["objective"] == pytest.approx(status["final"]["val/acc"])
        config = store.config(r["run_id"])["config"]
        assert (str(config["lr"]), config["epochs"]) == (r["settings"]["lr"], 6)
    assert max(r["objective"] for r in record["runs"]) > 0.5
    assert record["best"]["objective"] == max(r["objective"] for r in record["runs"])
    assert out["best"]["run_id"] == record["best"]["run_id"]


def test_a_trial_that_may_train_on_cuda_asks_ray_for_a_share_of_the_gpu(monkeypatch):
    """Ray hides the GPUs from a trial that asks for none: `auto` would train on the CPU and
    `cuda` fail."""
    import ray

    from playground import sweep_ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    auto = [{"settings": {"epochs": 2}}, {"settings": {"device": "cuda"}}]
    assert sweep_ray._resources(auto, parallel=4) == {"cpu": 1, "gpu": 0.25}
    assert sweep_ray._resources([{"settings": {"device": "cpu"}}], parallel=4) == {"cpu": 1}
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    assert sweep_ray._resources(auto, parallel=4) == {"cpu": 1}
