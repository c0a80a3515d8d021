"""Fundamentals' torch part every experiment shares: a run's State, its own curves, a plot."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from playground.labs.fundamentals import Config

HISTORY_POINTS = 150            # rows of the lab's own curves in a run


@dataclass
class State:
    cfg: Config
    model: nn.Module
    opts: dict                                  # racer -> optimizer (init: "adam" -> Adam)
    f: object = None
    gen: torch.Generator | None = None
    path: list = None                           # racers' positions, one (n, 2) tensor a step
    losses: list = None                         # racers' losses, one (n,) tensor a step
    stopped: torch.Tensor | None = None         # step at which a racer left the surface (-1)
    step: int = 0
    at_init: tuple | None = None                # init: the spreads before training
    history: list = None                        # losses, regularization: a device row ...
    history_steps: list = None                  # ... every record_every steps, and its step
    record_every: int = 1
    sets: tuple = ()                            # the sets the history measures
    valid: tuple | None = None                  # regularization: early stopping's examples
    best: tuple | None = None                   # ... its best (validation loss, step, weights)
    waited: int = 0                             # ... checks since the best
    ended: str | None = None                    # why the run ended early, once it has
    last_out: dict | None = None                # regularization: the last step's metrics


def _record(s: State) -> None:
    """One row of the lab's own curves, measured at a fixed step interval (the engine's test
    points follow the wall clock, too few in a run of a second); it stays on the device, no
    sync. regularization: loss and accuracy on the training (its labels), validation and test
    sets. classification losses: each network's test accuracy and mean confidence."""
    training = s.model.training
    s.model.eval()
    with torch.no_grad():
        if s.cfg.experiment == "regularization":
            row = []
            for x, y in s.sets:
                logits = s.model(x)
                row += [F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()]
            row = torch.stack(row)
        else:
            x, y = s.sets[0]
            logits = s.model(x).float()
            row = torch.cat([(logits.argmax(-1) == y).float().mean(1),
                             logits.softmax(-1).max(-1).values.mean(1)])
    s.model.train(training)
    s.history.append(row)
    s.history_steps.append(s.step)


def _plot(traces: list, height: int, x_title: str, y_title: str, **axes) -> dict:
    return {"data": traces, "layout": {
        "template": "plotly_white", "height": height,
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "xaxis": {"title": {"text": x_title}, **axes.get("xaxis", {})},
        "yaxis": {"title": {"text": y_title}, **axes.get("yaxis", {})},
        "legend": {"orientation": "h", "y": -0.2}, **axes.get("layout", {})}}
