"""The hosted caps on model work a page asks for on a visitor's click: Sample again and the
other looks into a finished run (EXPLORE), slow motion (stepping), try your own image, ONNX
export, the distillation page's timing of its two networks before Train.

That work is an ask to the worker process (engine/asks.py), which applies these caps where it
computes: the model it loads (`server_params`), the sampling steps of a look (`server_steps`),
the examples a hand-made step draws its batches from (`server_examples`). The server itself
lets one such ask through at a time (`turn`): the next visitor waits a little, then is told to
try again. Outside hosted mode nothing is capped and nothing waits.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from playground.engine import hosting

WAIT_S = 20.0                   # how long a look waits for another visitor's to end
_turn = threading.Lock()


class TooMuch(ValueError):
    """A request larger than this server computes for a visitor; the message says the limit."""


class Busy(RuntimeError):
    """Another visitor's request is being computed."""


@contextmanager
def turn(wait: float | None = None, caps: hosting.Caps | None = None):
    """Hosted: one piece of server-side model work at a time in this process; Busy after
    `wait` seconds (WAIT_S by default) of another's."""
    c = caps or hosting.caps()
    if not c.hosted:
        yield
        return
    if not _turn.acquire(timeout=WAIT_S if wait is None else wait):
        raise Busy("The shared server is busy with another visitor's request: try again in a "
                   "few seconds.")
    try:
        yield
    finally:
        _turn.release()


def check_model(lab, cfg, caps: hosting.Caps | None = None) -> None:
    """Refuse a model larger than the server loads for a visitor (counted on the meta device,
    before anything is allocated)."""
    c = caps or hosting.caps()
    if not c.server_params or not hasattr(lab, "blueprint"):
        return
    from playground.engine import summary

    n = summary.describe(lab, cfg)["params"]
    if n > c.server_params:
        raise TooMuch(f"This run's model has {n:,} parameters; this shared server loads models "
                      f"of at most {c.server_params:,} for a look or an export. Download the "
                      "weights or the whole run and open it on your own machine.")


def check_steps(steps: int, hint: str = "", caps: hosting.Caps | None = None) -> None:
    """Refuse a sampling of more steps than the server takes at a look."""
    c = caps or hosting.caps()
    if c.server_steps and steps > c.server_steps:
        raise TooMuch(f"This sampling takes {steps:,} steps; this shared server samples with at "
                      f"most {c.server_steps:,} steps at a look.{hint}")


def max_steps(caps: hosting.Caps | None = None) -> int | None:
    return (caps or hosting.caps()).server_steps


def examples(default: int, caps: hosting.Caps | None = None) -> int:
    """The examples a hand-made step draws its batches from: `default`, or the server's cap."""
    c = caps or hosting.caps()
    return min(default, c.server_examples) if c.server_examples else default
