"""The sweeps' Ray engine: the same runs, as Ray Tune trials, on this machine or a cluster.

Optional (`pip install -r requirements-ray.txt`); never the default and off in hosted mode: Ray
itself takes ~8 s to start and ~0.7 GB before any trial. Each trial is one run of the run store:
it builds the lab's config from its settings, creates the run and calls the engine's own
training loop (playground.engine.loop.run), which writes metrics, artefacts and weights as any
run does - so the Runs page, links and downloads show Ray's runs as they show the others - and
reports every evaluation of the objective to Tune, whose scheduler may stop it early (the median
rule, or ASHA: successive halving). The driver keeps the sweep's record (playground.sweeps) from
Tune's results as they arrive; cancelling the sweep (its cancel file) stops every trial.

Locally `ray.init(num_cpus=...)` starts a private instance; `address=` joins an existing cluster,
shipping this package with the trials (a runtime_env working_dir) and the PLAYGROUND_* settings.
The trials write to the run store's folder, which on a cluster must be shared storage.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from playground import sweeps

ROOT = Path(__file__).resolve().parents[1]
SCHEDULERS = ("none", "median", "asha")


def missing() -> str | None:
    """Why the Ray engine cannot run here, or None."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        return "Ray is not installed: pip install -r requirements-ray.txt"
    return None


def _trial(config: dict) -> None:
    """One run, inside a Ray worker: the engine's loop, its evaluations reported to Tune."""
    from ray import tune

    from playground import registry
    from playground.engine import loop
    from playground.engine.runs import RunStore
    from playground.params import to_dict

    lab = registry.get(config["lab"])
    row = config["row"]
    cfg, errors = registry.parse_config(lab, config["runs"][row])
    if errors:
        tune.report({"error": "; ".join(errors)})
        return
    store = RunStore(config["root"])
    run_id = store.create(config["lab"], to_dict(cfg), sweep=config["sweep_id"], sweep_row=row,
                          engine="ray")
    metric, tail, cancel = config["metric"], store.tail(run_id), threading.Event()
    reported = {"n": 0, "stopped": False}

    def report(status: dict) -> None:
        if cancel.is_set():
            return
        records = tail.read()
        total = status.get("total_steps") or 1
        for rec in records[reported["n"]:]:
            if rec.get(metric) is None:
                continue
            try:
                tune.report({metric: float(rec[metric]), "step": rec.get("step", 0),
                             "progress": rec.get("step", 0) / total, "run_id": run_id})
            except BaseException:  # noqa: BLE001 - Tune's scheduler stopped this trial
                reported["stopped"] = True
                cancel.set()                       # the loop ends the run cleanly, cancelled
                return
        reported["n"] = len(records)

    result = loop.run(lab, cfg, run_id, store, cancel=cancel, on_progress=report)
    if reported["stopped"] and result.status == "cancelled":
        store.set_status(run_id, message="Stopped early by the sweep's scheduler (its "
                                         f"{metric} was behind the other runs').")
        return
    if reported["stopped"]:
        return              # a run at its last step when Tune called time: it finished
    final = result.metrics.get(metric)
    try:
        tune.report({**({metric: float(final)} if final is not None else {}), "run_id": run_id,
                     "status": result.status, "progress": 1.0, "step": result.steps})
    except BaseException:  # noqa: BLE001 - Tune ended the trial as it finished: the run says all
        pass


def _callback_types():
    """Tune's Callback and Stopper subclasses, defined once Ray is imported (Ray is optional).
    They hold no lock or queue: Tune pickles them."""
    from ray.tune import Callback
    from ray.tune.stopper import Stopper

    class Record(Callback):
        """Keeps the sweep's record from the trials' results as they arrive."""

        def __init__(self, record: dict):
            self.record, self.last_save = record, 0.0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            row = self.record["runs"][trial.config["row"]]
            if result.get("run_id"):
                row["run_id"] = result["run_id"]
            metric = self.record["objective"]["metric"]
            if result.get(metric) is not None:
                row["objective"] = float(result[metric])
            row["status"] = result.get("status", "running")
            if time.monotonic() - self.last_save > 0.5:
                self.last_save = time.monotonic()
                sweeps.summarise(self.record)
                sweeps.save(self.record)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.record["runs"][trial.config["row"]]["status"] = "failed"

    class Cancelled(Stopper):
        """Every trial stops once the sweep's cancel file exists."""

        def __init__(self, sweep_id: str):
            self.sweep_id = sweep_id

        def __call__(self, trial_id, result):
            return sweeps.cancel_requested(self.sweep_id)

        def stop_all(self):
            return sweeps.cancel_requested(self.sweep_id)

    return Record, Cancelled


def _init(address: str | None, num_cpus: int | None) -> None:
    import ray

    if ray.is_initialized():
        return
    env = {k: v for k, v in os.environ.items() if k.startswith("PLAYGROUND_")}
    env["PLAYGROUND_THREADS"] = "1"                 # one core per trial, as Tune allots them
    if address:
        runtime = {"working_dir": str(ROOT), "env_vars": env,
                   "excludes": [".git", ".venv*", "assets", "tests", "**/__pycache__"]}
        ray.init(address=address, runtime_env=runtime, log_to_driver=False)
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                          os.environ.get("PYTHONPATH")]))
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})


def _resources(runs: list[dict], parallel: int) -> dict:
    """What each trial asks Ray for. Ray hides the GPUs from a trial that asks for none
    (CUDA_VISIBLE_DEVICES=""): one that may train on CUDA ("auto" or "cuda") asks for a share,
    so that `parallel` trials share the cluster's GPUs."""
    import ray

    gpus = ray.cluster_resources().get("GPU", 0)
    cuda = any(str(r["settings"].get("device", "auto")) in ("auto", "cuda") for r in runs)
    if gpus and cuda:
        return {"cpu": 1, "gpu": min(1.0, gpus / max(1, parallel))}
    return {"cpu": 1}


def run_ray(plan: sweeps.Plan, store, address: str | None = None, num_cpus: int | None = None,
            scheduler: str = "", record: dict | None = None, progress=None) -> dict:
    """The sweep as Tune trials; returns its final record (also saved). `scheduler`: none,
    median or asha ("" = the plan's early stopping)."""
    why = missing()
    if why:
        raise sweeps.SweepError([why])
    import ray
    from ray import tune

    if record is None:
        record = sweeps.new_record(plan, sweeps.validate(plan))
    record["engine"] = "ray" + (f" at {address}" if address else "")
    sweeps.save(record)
    metric, mode = record["objective"]["metric"], record["objective"]["mode"]
    scheduler = scheduler or plan.early_stop
    if scheduler not in SCHEDULERS:
        raise sweeps.SweepError([f"the Ray scheduler is one of {', '.join(SCHEDULERS)}, got "
                                 f"{scheduler!r}"])
    chosen = None
    if scheduler == "median":
        chosen = tune.schedulers.MedianStoppingRule(time_attr="progress",
                                                    grace_period=sweeps.GRACE,
                                                    min_samples_required=sweeps.MIN_PEERS)
    elif scheduler == "asha":
        chosen = tune.schedulers.ASHAScheduler(time_attr="progress", max_t=1.0,
                                               grace_period=sweeps.GRACE, reduction_factor=2)
    # the run store keeps every result: Tune's own TensorBoard/CSV/JSON files would be copies,
    # and tensorboardX's exit hook starts a thread after Python 3.12 forbids it
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    Record, Cancelled = _callback_types()
    _init(address, num_cpus)
    trainable = tune.with_resources(_trial, _resources(record["runs"], plan.parallel))
    space = {"row": tune.grid_search(list(range(len(record["runs"])))),
             "runs": [r["settings"] for r in record["runs"]], "lab": plan.lab,
             "root": str(store.root), "sweep_id": record["sweep_id"], "metric": metric}
    tuner = tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric=metric, mode=mode, scheduler=chosen,
                                    max_concurrent_trials=plan.parallel),
        run_config=tune.RunConfig(name=record["sweep_id"], storage_path=str(sweeps.home()
                                                                            / "ray"),
                                  stop=Cancelled(record["sweep_id"]), verbose=0,
                                  callbacks=[Record(record)]))
    try:
        tuner.fit()
        _reconcile(record, store)
        cancelled = sweeps.cancel_requested(record["sweep_id"])
        record["status"] = "cancelled" if cancelled else "completed"
    except Exception as e:  # noqa: BLE001 - the record says what stopped the sweep
        record["status"], record["error"] = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        record["ended"] = time.time()
        sweeps.summarise(record)
        sweeps.save(record)
        (sweeps.home() / f"{record['sweep_id']}.cancel").unlink(missing_ok=True)
        ray.shutdown()
    return record


def _reconcile(record: dict, store) -> None:
    """Each row from its run in the store (the trial wrote `sweep_row` into the run's status);
    a run Tune ended without a word is cancelled; a row whose trial never ran, skipped."""
    metric = record["objective"]["metric"]
    for info in store.list(lab=record["lab"]):
        status = info.status
        if status.get("sweep") == record["sweep_id"] and isinstance(status.get("sweep_row"), int):
            record["runs"][status["sweep_row"]]["run_id"] = info.run_id
    for row in record["runs"]:
        if row.get("run_id") is None:
            row["status"] = "skipped"
            continue
        status = store.status(row["run_id"])
        if status.get("status") in ("running", "queued"):
            store.set_status(row["run_id"], status="cancelled", ended=time.time(),
                             message="Stopped by the sweep (Ray ended its trial).")
            status = store.status(row["run_id"])
        row["status"] = status.get("status", "?")
        row["objective"] = sweeps.objective_of(store, row["run_id"], metric)
        if "Stopped early by the sweep's scheduler" in (status.get("message") or ""):
            row["stopped_early"] = status["message"]
