"""Hosted mode (PLAYGROUND_HOSTED=1): caps that keep one shared server usable by many visitors.

Sized for Streamlit Community Cloud (up to 2 CPUs, ~2.7 GB RAM, one process for everyone).
Each cap can be overridden with an environment variable PLAYGROUND_MAX_<NAME>, e.g.
PLAYGROUND_MAX_EPOCHS=50. Outside hosted mode only the queue length is capped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Caps:
    hosted: bool = False
    epochs: int | None = None              # per run
    steps: int | None = None               # per run, for labs counted in steps
    params: int | None = None              # trainable parameters of a model
    samples: int | None = None             # generated points / training examples used
    running: int = 1                       # runs training at once, per device
    running_per_session: int | None = None
    queued: int = 32                       # runs waiting, overall
    queued_per_session: int | None = None  # runs waiting or running, per browser session

    def describe(self) -> str:
        parts = [f"at most {v:,} {k}" for k, v in (
            ("epochs", self.epochs), ("steps", self.steps), ("parameters", self.params),
            ("training examples", self.samples)) if v]
        parts.append(f"{self.running} run(s) training at once, {self.queued} waiting")
        if self.queued_per_session:
            parts.append(f"{self.queued_per_session} per visitor")
        return "; ".join(parts)


HOSTED_DEFAULTS = Caps(hosted=True, epochs=200, steps=5000, params=2_000_000, samples=10_000,
                       running=1, running_per_session=1, queued=8, queued_per_session=3)


def caps() -> Caps:
    hosted = os.environ.get("PLAYGROUND_HOSTED", "").strip().lower() in ("1", "true", "yes", "on")
    base = HOSTED_DEFAULTS if hosted else Caps()
    values = {}
    for f in fields(Caps):
        raw = os.environ.get(f"PLAYGROUND_MAX_{f.name.upper()}")
        if raw and f.name != "hosted":
            try:
                values[f.name] = int(raw)
            except ValueError:
                pass
    return Caps(**{**base.__dict__, **values})


def limits(config_cls, c: Caps | None = None) -> dict:
    """Tighter upper bounds for the Config fields that the caps govern."""
    c = c or caps()
    names = {f.name for f in fields(config_cls)}
    out = {}
    for field_name, cap in (("epochs", c.epochs), ("steps", c.steps), ("n_samples", c.samples)):
        for name in names:
            if cap and (name == field_name or name.endswith("_" + field_name)):
                out[name] = (None, cap)        # teacher_epochs too
    return out
