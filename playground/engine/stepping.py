"""Slow motion: a finished or stopped run picked up again, one hand-made step at a time.

A lab that teaches best step by step (the GAN: one D update, one G update; the optimizer race:
one step of every racer) declares in its face

    STEPS = {"title": ..., "help": ...,
             "ready": "...",                     # said before the first step
             "optimizers": ("opt_g", "opt_d"),   # State attributes kept with the weights
             "actions": ("One D step", ...),     # the buttons
             "from": "end",                      # or "start" (optional, "end" by default)
             "when": fn(cfg) -> bool}            # which configs it teaches (optional)

and in its torch part `STEP_ACTIONS = {"One D step": fn, ...}` (fn(state, data) -> {label:
number}) and `show_steps(state, data)` -> artefacts, the pictures after each step.

From the end (the GAN), the run's weights and its optimizers' state are loaded into a freshly
built State, so a step continues the run's own game rather than a restarted one. From the start
(the race, whose lesson is the first steps), the State is built afresh from the run's config -
same seed, same start - and nothing is loaded. A step is milliseconds to a fraction of a second,
taken on a click, in the worker process (a "steps" ask, engine/asks.py, which keeps each
browser tab's Session), within engine/server.py's caps when hosted: the model's size, the
examples the batches are drawn from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from playground.engine.runs import RunStore

# Real examples kept for the steps' batches: enough for any batch, small for a shared server.
MAX_EXAMPLES = 4096
STEPPABLE = ("completed", "cancelled")


class CannotStep(RuntimeError):
    pass


def offered(lab, cfg) -> bool:
    """Does the lab step by hand, and does it teach for this config?"""
    spec = getattr(lab, "STEPS", None)
    return spec is not None and spec.get("when", lambda _: True)(cfg)


def from_start(lab) -> bool:
    return lab.STEPS.get("from", "end") == "start"


def optimizer_states(lab, state) -> dict:
    """{name: state_dict} of the optimizers STEPS names (an attribute may hold a dict of them)."""
    out = {}
    for name in lab.STEPS.get("optimizers", ()):
        opt = getattr(state, name)
        out[name] = ({k: o.state_dict() for k, o in opt.items()} if isinstance(opt, dict)
                     else opt.state_dict())
    return out


@dataclass
class Session:
    run_id: str
    state: object
    data: object
    counts: dict = field(default_factory=dict)       # action label -> times taken
    log: list = field(default_factory=list)          # [{"#": n, "step": label, metric: value}]
    pictures: dict | None = None                     # the last show(), kept until a step
    pictured_at: int = -1                            # len(log) when they were made


def resume(lab, cfg, store: RunStore, run_id: str) -> Session:
    """The run's State to step on, on the CPU, in training mode: as the run ended (weights and
    optimizers loaded), or as it began for a lab that steps from the start."""
    import torch

    from playground.engine import server

    if not offered(lab, cfg):
        raise CannotStep("this run's settings are not stepped by hand")
    status = store.status(run_id).get("status")
    path = store.model_path(run_id)
    if status not in STEPPABLE or (path is None and not from_start(lab)):
        raise CannotStep(f"run {run_id} is {status}: only a finished or stopped run with its "
                         "weights can be stepped")
    server.check_model(lab, cfg)
    data = lab.load_data(cfg).head(server.examples(MAX_EXAMPLES)).to("cpu")
    with torch.random.fork_rng(devices=[]):     # building must not move the caller's stream
        state = lab.build(cfg, data)
    if from_start(lab):
        state.model.train()
        return Session(run_id, state, data)
    state.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    state.model.train()
    saved = store.optimizers(run_id)
    for name in lab.STEPS.get("optimizers", ()):
        if name not in saved:
            continue
        opt = getattr(state, name)
        if isinstance(opt, dict):
            for k, o in opt.items():
                if k in saved[name]:
                    o.load_state_dict(saved[name][k])
        else:
            opt.load_state_dict(saved[name])
    return Session(run_id, state, data)


def act(lab, session: Session, label: str) -> dict[str, float]:
    """Take the action called `label`; its numbers are logged and returned."""
    if label not in lab.STEPS["actions"]:
        raise CannotStep(f"no step called {label!r}: {', '.join(lab.STEPS['actions'])}")
    out = {k: float(v) for k, v in lab.STEP_ACTIONS[label](session.state, session.data).items()}
    session.counts[label] = session.counts.get(label, 0) + 1
    session.log.append({"#": len(session.log) + 1, "step": label, **out})
    return out


def show(lab, session: Session) -> dict[str, dict]:
    """The lab's pictures of the state now; made once per step however often a page asks (a
    lab may keep a trail of its pictures)."""
    import torch

    if session.pictures is None or session.pictured_at != len(session.log):
        with torch.no_grad():
            session.pictures = lab.show_steps(session.state, session.data)
        session.pictured_at = len(session.log)
    return session.pictures
