"""Fundamentals' activations in torch: the functions, their slopes, the units that die."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from playground.data import Data
from playground.i18n import N_
from playground.labs.fundamentals import ACTIVATIONS
from playground.labs.fundamentals.common import State
from playground.ui import charts

if TYPE_CHECKING:               # the network is init's, which builds it from the names here
    from playground.labs.fundamentals.init import DeepMLP

ACT_FNS = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu,
           "silu": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
           "linear": lambda h: h}
ACT_DEPTH, ACT_WIDTH = 4, 32     # the small net of `activations`


def dead_units(model: DeepMLP, x: torch.Tensor) -> list[float]:
    """Per hidden layer, the share of units whose slope is 0 for every input (a ReLU that outputs
    0 for all of them: no gradient reaches its weights any more)."""
    model.pre = []
    try:
        with torch.no_grad():
            model(x)
        out = []
        for z in model.pre:
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                slope, = torch.autograd.grad(model.act(z).sum(), z)
            out.append((slope.abs() < 1e-8).all(0).float().mean())
        return torch.stack(out).tolist()
    finally:
        model.pre = None


# ---------------------------------------------------------------------------------------------
# What the page shows

def _activation_views(s: State, data: Data) -> dict:
    z = torch.linspace(-4, 4, 161, requires_grad=True)
    figs = {}
    curves = {}
    for name in ACTIVATIONS:
        with torch.enable_grad():
            out = ACT_FNS[name](z)
            slope, = torch.autograd.grad(out.sum(), z)
        curves[name] = (out.detach().numpy(), slope.numpy())
    for key, k, title in (("functions", 0, N_("The activation functions")),
                          ("slopes", 1, N_("Their slopes (derivatives)"))):
        traces = [{"type": "scatter", "mode": "lines", "name": name,
                   "x": z.detach().numpy().round(3).tolist(),
                   "y": curves[name][k].round(4).tolist(),
                   "line": {"width": 4 if name == s.cfg.activation else 1.2},
                   "opacity": 1.0 if name == s.cfg.activation else 0.55}
                  for name in ACTIVATIONS]
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": N_("input")}},
            "yaxis": {"range": [-1.5, 4] if k == 0 else [-0.2, 1.3]},
            "legend": {"orientation": "h", "y": -0.2}}},
            N_("Bold: {activation}, the one this network uses.") if k == 0 else
            N_("Where the slope is 0, no gradient passes: a ReLU unit whose inputs are all "
               "negative never learns again."), activation=s.cfg.activation)
    dead = dead_units(s.model, data.train[0])
    figs["dead"] = charts.artifact(N_("Dead units, layer by layer"), "plotly", {
        "data": [{"type": "bar", "x": [f"layer {i + 1}" for i in range(len(dead))],
                  "y": [round(d, 4) for d in dead], "marker": {"color": "#d62728"}}],
        "layout": {"template": "plotly_white", "height": 300,
                   "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                   "yaxis": {"range": [0, 1], "title": {"text": N_("share of units")},
                             "tickformat": ".0%"}}},
        N_("A unit is dead when its slope is 0 for all {points} training points; {dead:.0%} of "
           "the {depth} x {width} units now."), points=len(data.train[0]),
        dead=sum(dead) / len(dead), depth=ACT_DEPTH, width=ACT_WIDTH)
    return figs
