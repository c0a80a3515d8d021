"""Sweeps: many runs of one lab, a grid or a random search over its settings, through the engine.

A `Plan` names the lab, the settings to vary (a grid of values, or ranges sampled `random` times,
log-uniform where the range - or the param itself - is log), fixed settings, seeds for repeats,
a budget of runs, how many train at once, the objective (a metric and max/min) and optional
early stopping by the median rule. `check(plan)` gives every message a user can act on before
anything runs (an unknown setting, an empty grid, a range out of the param's bounds, a
combination the lab refuses); `expand(plan)` the runs' settings.

`run_local(plan, manager)` submits them to a JobManager (the app's or the CLI's), at most
`parallel` at once, and keeps the sweep's record in $PLAYGROUND_HOME/sweeps/<id>.json: its
runs with their settings, status and objective. The runs are ordinary runs of the run store:
the Runs page, links, downloads and restarts treat them as any other. No torch, no Streamlit.

Early stopping (median rule): once a run is `GRACE` of the way through and at least
`MIN_PEERS` other runs of the sweep got as far, it is stopped when its best objective so far is
worse than the median of theirs at the same point.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import secrets
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from playground import params, registry

TERMINAL = ("completed", "cancelled", "diverged", "failed", "interrupted")
MAX_BUDGET = 256
GRACE = 0.25                 # the median rule looks at a run from a quarter of its steps on
MIN_PEERS = 3
POLL_S = 0.5
EARLY_STOPS = ("none", "median", "asha")     # asha (successive halving): the Ray engine
ENGINES = ("local", "ray")
LOWER_IS_BETTER = ("loss", "energy", "gap", "error", "nll", "off_", "dead")
SWEEP_ID = re.compile(r"^\d{8}-\d{6}-sweep-[a-z0-9_]+-[0-9a-f]{6}$")


class SweepError(ValueError):
    """Every message at once, as the form and the CLI show them."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class Plan:
    lab: str
    grid: dict = field(default_factory=dict)       # setting -> [raw values]
    ranges: dict = field(default_factory=dict)     # setting -> [lo, hi, log or None]
    random: int = 0                                # samples of a random search (0: the grid)
    fixed: dict = field(default_factory=dict)      # settings every run shares
    seeds: list = field(default_factory=list)      # repeats: each setting once per seed
    objective: str = ""                            # "" = the lab's headline metric
    mode: str = ""                                 # "max" | "min" ("" = from the metric)
    budget: int = 64
    parallel: int = 1
    early_stop: str = "none"
    sample_seed: int = 0                           # the random search's own draw
    engine: str = "local"                          # or "ray" (playground.sweep_ray)


def default_objective(lab_name: str) -> tuple[str, str]:
    """The lab's headline metric (val/acc without one), and whether more is better."""
    headline = getattr(registry.get(lab_name), "HEADLINE", ("val/acc", "acc"))
    metric = headline[0][0] if isinstance(headline[0], tuple) else headline[0]
    return metric, mode_of(metric)


def mode_of(metric: str) -> str:
    return "min" if any(w in metric.split("/")[-1] for w in LOWER_IS_BETTER) else "max"


# ---------------------------------------------------------------------------------------------
# Text as the CLI and the form take it

def split_values(spec: params.Spec, text: str) -> list[str]:
    """A grid's values: "0.001,0.01" for a number or a choice; "8,8;32,32" for a list setting
    (its own values hold commas). ';' always separates."""
    parts = text.split(";") if (";" in text or spec.kind in ("ints", "strs")) else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def parse_range(text: str) -> list:
    """"1e-4:1e-1:log" or "1:8" -> [lo, hi, log or None]; raises ValueError with a message."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "lin")):
        raise ValueError(f"a range is lo:hi or lo:hi:log, got {text!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"a range's ends must be numbers, got {text!r}") from None
    return [lo, hi, None if len(parts) == 2 else parts[2] == "log"]


# ---------------------------------------------------------------------------------------------
# Checking and expanding a plan

def _specs(lab_name: str) -> dict[str, params.Spec]:
    from playground.engine import hosting

    lab = registry.get(lab_name)
    limits = hosting.limits(lab.Config)
    return {s.name: params.bounded(s, limits) for s in params.specs(lab.Config)}


def check(plan: Plan) -> list[str]:
    """Every problem with the plan itself (before any run's settings are checked)."""
    from playground.engine import hosting

    if hosting.caps().hosted:
        return ["Sweeps are off on this shared server: they would hold its one training slot "
                "for every other visitor. Run the app locally for sweeps."]
    try:
        specs = _specs(plan.lab)
    except registry.UnknownLab as e:
        return [str(e)]
    errors = []
    known = ", ".join(specs)
    for name in [*plan.grid, *plan.ranges, *plan.fixed]:
        if name not in specs:
            errors.append(f"unknown setting {name!r} for {plan.lab}; known settings: {known}")
    for name in set(plan.grid) & set(plan.ranges):
        errors.append(f"{name} is both a grid and a range: pick one")
    for name, values in plan.grid.items():
        if name in specs and not values:
            errors.append(f"{specs[name].title}: the grid has no values")
        if name in specs:
            for v in values:
                try:
                    params.coerce(specs[name], v)
                except params.Invalid as e:
                    errors.append(f"grid {name}: {e}")
    for name, rng in plan.ranges.items():
        spec = specs.get(name)
        if spec is None:
            continue
        lo, hi, log = rng
        if spec.kind not in ("int", "float"):
            errors.append(f"{spec.title} is not a number: give it a grid of values, not a range")
            continue
        if not lo < hi:
            errors.append(f"{spec.title}: a range needs lo < hi, got {lo:g}:{hi:g}")
        if (spec.lo is not None and lo < spec.lo) or (spec.hi is not None and hi > spec.hi):
            errors.append(f"{spec.title}: the range {lo:g}:{hi:g} is outside what it takes "
                          f"({spec.lo:g} to {spec.hi:g})")
        if (log if log is not None else spec.log) and lo <= 0:
            errors.append(f"{spec.title}: a log range must start above 0, got {lo:g}")
    if plan.ranges and plan.random <= 0:
        errors.append("ranges are sampled: give the number of runs of the random search")
    if not plan.grid and not plan.ranges:
        errors.append("nothing to vary: give at least one setting a grid of values or a range")
    if plan.seeds:
        if "seed" not in specs:
            errors.append(f"{plan.lab} has no seed setting to repeat runs over")
        elif "seed" in plan.grid or "seed" in plan.ranges:
            errors.append("seed is swept already: leave the seed list empty")
    if not 1 <= plan.budget <= MAX_BUDGET:
        errors.append(f"the budget is 1 to {MAX_BUDGET} runs, got {plan.budget}")
    if plan.parallel < 1:
        errors.append(f"runs at once must be at least 1, got {plan.parallel}")
    if plan.early_stop not in EARLY_STOPS:
        errors.append(f"early stopping is one of {', '.join(EARLY_STOPS)}, got "
                      f"{plan.early_stop!r}")
    if plan.engine not in ENGINES:
        errors.append(f"the engine is one of {', '.join(ENGINES)}, got {plan.engine!r}")
    elif plan.engine == "local" and plan.early_stop == "asha":
        errors.append("asha (successive halving) pauses and resumes runs: it needs the Ray "
                      "engine; the local engine stops runs by the median rule")
    elif plan.engine == "ray":
        from playground import sweep_ray

        why = sweep_ray.missing()
        if why:
            errors.append(why)
    if plan.mode not in ("", "max", "min"):
        errors.append(f"the objective is maximised (max) or minimised (min), got {plan.mode!r}")
    if plan.objective and not re.fullmatch(r"(val|train)/[\w.-]+", plan.objective):
        errors.append(f"the objective is a metric such as val/acc, got {plan.objective!r}")
    if not errors:
        n = size(plan)
        if n > plan.budget:
            errors.append(f"the sweep makes {n} runs, more than its budget of {plan.budget}: "
                          "fewer values, fewer seeds or a larger budget")
    return errors


def size(plan: Plan) -> int:
    per_seed = plan.random if plan.random > 0 else math.prod(len(v) for v in plan.grid.values())
    return per_seed * max(1, len(plan.seeds))


def _sample(spec: params.Spec, rng: list, draw: random.Random):
    lo, hi, log = rng
    log = spec.log if log is None else log
    x = math.exp(draw.uniform(math.log(lo), math.log(hi))) if log else draw.uniform(lo, hi)
    return str(int(round(x))) if spec.kind == "int" else f"{x:.4g}"


def expand(plan: Plan) -> list[dict]:
    """The runs' raw settings (fixed, then the swept ones, then the seed), in order."""
    specs = _specs(plan.lab)
    if plan.random > 0:
        draw = random.Random(plan.sample_seed)
        points = [{**{k: draw.choice(v) for k, v in plan.grid.items()},
                   **{k: _sample(specs[k], r, draw) for k, r in plan.ranges.items()}}
                  for _ in range(plan.random)]
    else:
        names = list(plan.grid)
        points = [dict(zip(names, combo)) for combo in
                  itertools.product(*(plan.grid[n] for n in names))]
    seeds = [str(s) for s in plan.seeds] or [None]
    return [{**plan.fixed, **p, **({"seed": s} if s is not None else {})}
            for p in points for s in seeds]


def validate(plan: Plan, manager=None) -> list[dict]:
    """The runs' settings, or SweepError with every message (the plan's, then each run's).
    With a job manager, each run is checked as it will be submitted (its model by the worker:
    the app's server imports no torch)."""
    from playground.engine.jobs import InvalidConfig

    errors = check(plan)
    if errors:
        raise SweepError(errors)
    runs = expand(plan)
    lab = registry.get(plan.lab)
    for settings in runs:
        if manager is None:
            _, problems = registry.parse_config(lab, settings)
        else:
            try:
                manager.check(plan.lab, settings)
                problems = []
            except InvalidConfig as e:
                problems = e.messages
        for p in problems:
            swept = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in plan.fixed)
            msg = f"{swept}: {p}"
            if msg not in errors:
                errors.append(msg)
    if errors:
        raise SweepError(errors)
    return runs


# ---------------------------------------------------------------------------------------------
# The sweep's record

def home() -> Path:
    from playground.engine.runs import home as runs_home

    return runs_home() / "sweeps"


def new_id(lab: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-sweep-{lab}-{secrets.token_hex(3)}"


def _path(sweep_id: str) -> Path:
    if not SWEEP_ID.fullmatch(sweep_id or ""):
        raise KeyError(f"not a sweep id: {sweep_id!r}")
    return home() / f"{sweep_id}.json"


def save(record: dict) -> None:
    from playground.engine.runs import atomic_write

    home().mkdir(parents=True, exist_ok=True)
    atomic_write(_path(record["sweep_id"]), json.dumps(record, indent=1).encode())


def load(sweep_id: str) -> dict:
    """The record; a sweep whose process has gone is said to be interrupted."""
    from playground.engine.runs import _pid_alive

    record = json.loads(_path(sweep_id).read_text())
    if record.get("status") == "running" and not _pid_alive(record.get("pid")):
        record["status"] = "interrupted"
    return record


def list_sweeps(lab: str | None = None) -> list[dict]:
    out = []
    for p in sorted(home().glob("*.json"), reverse=True) if home().is_dir() else []:
        try:
            record = load(p.stem)
        except (OSError, ValueError, KeyError):
            continue                            # a damaged record hides itself, not the others
        if lab is None or record.get("lab") == lab:
            out.append(record)
    return out


def cancel(sweep_id: str, by: str | None = None) -> None:
    """Ask the sweep's runner to stop (it stops its runs and starts no more). `by`: who asks (an
    owner id; None: this process itself, the command line); hosted, only the sweep's owner may,
    anyone else gets NotOwner."""
    from playground.engine import hosting

    path = _path(sweep_id)              # a strict id: never a file outside the sweeps folder
    if by is not None and hosting.caps().hosted and owner_of(sweep_id) != by:
        from playground.engine.jobs import NotOwner

        raise NotOwner(f"Sweep {sweep_id} belongs to another visitor: only the visitor who "
                       "started it can cancel it.")
    home().mkdir(parents=True, exist_ok=True)
    path.with_suffix(".cancel").touch()


def owner_of(sweep_id: str) -> str | None:
    """Who started the sweep (None: the command line, or an unreadable record)."""
    try:
        return json.loads(_path(sweep_id).read_text()).get("owner")
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def cancel_requested(sweep_id: str) -> bool:
    return _path(sweep_id).with_suffix(".cancel").exists()


# ---------------------------------------------------------------------------------------------
# Reading runs

def objective_of(store, run_id: str, metric: str) -> float | None:
    """The run's final value of the metric (its last one while it trains)."""
    status = store.status(run_id)
    final = status.get("final") or {}
    if metric in final and final[metric] is not None:
        return float(final[metric])
    for rec in reversed(store.metrics(run_id)):
        if rec.get(metric) is not None:
            return float(rec[metric])
    return None


def _series(store, run_id: str, metric: str) -> list[tuple[float, float]]:
    total = store.status(run_id).get("total_steps") or 0
    if not total:
        return []
    return [(rec["step"] / total, float(rec[metric])) for rec in store.metrics(run_id)
            if rec.get(metric) is not None and rec.get("step") is not None
            and math.isfinite(float(rec[metric]))]


def _best_by(series, at: float, better) -> float | None:
    seen = [v for p, v in series if p <= at]
    return better(seen) if seen else None


def below_median(store, run_id: str, peers: list[str], metric: str, mode: str) -> str | None:
    """Why the median rule stops this run now, or None."""
    mine = _series(store, run_id, metric)
    if not mine or mine[-1][0] < GRACE:
        return None
    at = mine[-1][0]
    better = max if mode == "max" else min
    theirs = []
    for peer in peers:
        s = _series(store, peer, metric)
        if s and s[-1][0] >= at:
            theirs.append(_best_by(s, at, better))
    theirs = [t for t in theirs if t is not None]
    if len(theirs) < MIN_PEERS:
        return None
    mine_best, median = _best_by(mine, at, better), statistics.median(theirs)
    worse = mine_best < median if mode == "max" else mine_best > median
    if worse:
        return (f"stopped by the sweep at {at:.0%} of its steps: {metric} {mine_best:.4g}, "
                f"the median of {len(theirs)} other runs there {median:.4g}")
    return None


# ---------------------------------------------------------------------------------------------
# The local engine: the job manager's queue

def start(plan: Plan, manager, owner: str | None = None) -> str:
    """Check the plan, write its record and run it on a thread; returns the sweep id."""
    runs = validate(plan, manager)
    record = new_record(plan, runs, owner=owner)
    threading.Thread(target=run_local, args=(plan, manager), kwargs={"record": record,
                     "owner": owner}, name=f"sweep-{record['sweep_id']}", daemon=True).start()
    return record["sweep_id"]


def new_record(plan: Plan, runs: list[dict], owner: str | None = None) -> dict:
    """`owner`: the visitor who started it (an owner id, see hosting.owner_id); hosted, only
    they may cancel it. None: the command line's, no visitor's."""
    metric = plan.objective or default_objective(plan.lab)[0]
    mode = plan.mode or mode_of(metric)
    record = {"sweep_id": new_id(plan.lab), "lab": plan.lab, "plan": asdict(plan),
              "objective": {"metric": metric, "mode": mode}, "engine": "local",
              "swept": [*plan.grid, *plan.ranges, *(["seed"] if plan.seeds else [])],
              "status": "running", "pid": os.getpid(), "created": time.time(), "owner": owner,
              "runs": [{"settings": s, "run_id": None, "status": "waiting", "objective": None}
                       for s in runs]}
    save(record)
    return record


def run_local(plan: Plan, manager, record: dict | None = None, owner: str | None = None,
              progress=None) -> dict:
    """Train the sweep's runs through `manager`; returns its final record (also saved)."""
    from playground.engine.jobs import InvalidConfig, QueueFull, SubmitError

    if record is None:
        record = new_record(plan, validate(plan, manager), owner=owner)
    sid, store = record["sweep_id"], manager.store
    metric, mode = record["objective"]["metric"], record["objective"]["mode"]
    rows = record["runs"]
    try:
        while True:
            stop = cancel_requested(sid)
            active = [r for r in rows if r["run_id"] and r["status"] not in TERMINAL]
            for r in active:
                r["status"] = store.status(r["run_id"]).get("status", "?")
                r["objective"] = objective_of(store, r["run_id"], metric)
                if stop and r["status"] not in TERMINAL:
                    manager.cancel(r["run_id"])
                elif r["status"] == "running" and plan.early_stop == "median":
                    peers = [p["run_id"] for p in rows if p["run_id"] and p is not r]
                    why = below_median(store, r["run_id"], peers, metric, mode)
                    if why:
                        r["stopped_early"] = why
                        manager.cancel(r["run_id"])
            active = [r for r in rows if r["run_id"] and r["status"] not in TERMINAL]
            waiting = [r for r in rows if r["run_id"] is None and r["status"] == "waiting"]
            if stop:
                for r in waiting:
                    r["status"] = "skipped"
                waiting = []
            for r in waiting[:max(0, plan.parallel - len(active))]:
                try:
                    r["run_id"] = manager.submit(plan.lab, r["settings"], owner=owner)
                    r["status"] = "queued"
                except QueueFull:
                    break                       # the queue is full: try again next poll
                except (InvalidConfig, SubmitError) as e:
                    r["status"], r["error"] = "failed", "; ".join(
                        getattr(e, "messages", None) or [str(e)])
            summarise(record)
            save(record)
            if progress is not None:
                progress(record)
            if not [r for r in rows if r["status"] == "waiting"
                    or (r["run_id"] and r["status"] not in TERMINAL)]:
                break
            time.sleep(POLL_S)
        for r in rows:                          # the runs' final word
            if r["run_id"]:
                r["status"] = store.status(r["run_id"]).get("status", "?")
                r["objective"] = objective_of(store, r["run_id"], metric)
        record["status"] = "cancelled" if cancel_requested(sid) else "completed"
    except Exception as e:  # noqa: BLE001 - the record says what stopped the sweep
        record["status"], record["error"] = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        record["ended"] = time.time()
        summarise(record)
        save(record)
        try:
            (home() / f"{sid}.cancel").unlink(missing_ok=True)
        except OSError:
            pass
    return record


def summarise(record: dict) -> None:
    mode = record["objective"]["mode"]
    done = [r for r in record["runs"] if r["status"] == "completed" and r["objective"] is not None
            and math.isfinite(r["objective"])]
    best = (max if mode == "max" else min)(done, key=lambda r: r["objective"]) if done else None
    record["best"] = best
    record["counts"] = {s: sum(r["status"] == s for r in record["runs"])
                        for s in {r["status"] for r in record["runs"]}}


def ranked(record: dict) -> list[dict]:
    """The runs, best objective first (no objective last)."""
    sign = -1 if record["objective"]["mode"] == "max" else 1
    return sorted(record["runs"], key=lambda r: (r["objective"] is None or
                                                 not math.isfinite(r["objective"]),
                                                 sign * (r["objective"] or 0)))


def sensitivity(record: dict) -> dict[str, float]:
    """How much the objective moves with each swept setting: the spread (max - min) of its mean
    over the completed runs that share each of the setting's values - for a sampled range, each
    half of the runs by the setting's value."""
    runs = [r for r in record["runs"] if r["status"] == "completed" and r["objective"] is not None]
    ranges = set(record.get("plan", {}).get("ranges", {}))
    out = {}
    for name in record.get("swept", []):
        groups: dict[str, list[float]] = {}
        if name in ranges:
            ordered = sorted(runs, key=lambda r: float(r["settings"][name]))
            half = len(ordered) // 2
            for i, r in enumerate(ordered):
                groups.setdefault("low" if i < half else "high", []).append(r["objective"])
        else:
            for r in runs:
                groups.setdefault(str(r["settings"].get(name)), []).append(r["objective"])
        means = [statistics.fmean(v) for v in groups.values()]
        if len(means) >= 2:
            out[name] = max(means) - min(means)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
