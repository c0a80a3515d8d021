"""Fundamentals' init in torch: the deep MLP (activations' too) and its signal's spread."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.i18n import N_
from playground.labs.fundamentals import Config
from playground.labs.fundamentals.activations import ACT_DEPTH, ACT_FNS, ACT_WIDTH, dead_units
from playground.labs.fundamentals.common import State
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# The deep MLP of `init`

class DeepMLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        depth, width = ((ACT_DEPTH, ACT_WIDTH) if cfg.experiment == "activations"
                        else (cfg.depth, cfg.width))
        widths = [2] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(width, 2)
        self.act = ACT_FNS[cfg.activation]
        for lin in self.hidden:
            initialise(lin, cfg)
        self.trace: list[torch.Tensor] | None = None   # set to a list to record activations
        self.pre: list[torch.Tensor] | None = None     # and one for what goes into them

    def forward(self, x):
        h = x
        for lin in self.hidden:
            z = lin(h)
            h = self.act(z)
            if self.trace is not None:
                self.trace.append(h)
            if self.pre is not None:
                self.pre.append(z)
        return self.out(h)


def initialise(lin: nn.Linear, cfg: Config) -> None:
    with torch.no_grad():
        lin.bias.zero_()
        if cfg.init == "zeros":
            lin.weight.zero_()
        elif cfg.init == "normal":
            lin.weight.normal_(0, cfg.init_std)
        elif cfg.init == "xavier":
            nn.init.xavier_normal_(lin.weight)
        else:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")


def spreads(model: DeepMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """The std of every hidden layer's activations (forward) and of the loss's gradient with
    respect to them (backward), for one batch."""
    model.trace = []
    try:
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, model.trace, allow_unused=True)
        acts = torch.stack([h.detach().float().std() for h in model.trace]).tolist()
        back = torch.stack([g.float().std() if g is not None else torch.zeros(())
                            for g in grads]).tolist()
    finally:
        model.trace = None
    return acts, back


def _build_deep(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = DeepMLP(cfg).to(device)
    s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=cfg.lr)})
    s.at_init = spreads(model, *data.train)
    return s


def _deep_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    loss = F.cross_entropy(s.model(x), y)
    opt = s.opts["adam"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"train/loss": loss.detach()}


def _deep_metrics(s: State, data: Data) -> dict[str, float]:
    s.model.eval()
    x, y = data.test
    logits = s.model(x)
    s.model.train()
    if s.cfg.experiment == "activations":
        dead = dead_units(s.model, data.train[0])
        return {"val/loss": float(F.cross_entropy(logits, y)),
                "val/acc": float((logits.argmax(1) == y).float().mean()),
                "val/dead": sum(dead) / len(dead)}
    acts, back = spreads(s.model, *data.train)
    return {"val/loss": float(F.cross_entropy(logits, y)),
            "val/acc": float((logits.argmax(1) == y).float().mean()),
            "val/act_std_last": acts[-1], "val/grad_std_first": back[0],
            "val/act_std_init": s.at_init[0][-1]}


# ---------------------------------------------------------------------------------------------
# What the page shows

def _spread_views(s: State, data: Data) -> dict:
    now = spreads(s.model, *data.train)
    layers = list(range(1, s.cfg.depth + 1))
    figs = {}
    for key, title, k in (("forward", N_("Activations' spread, layer by layer"), 0),
                          ("backward", N_("Gradients' spread, layer by layer"), 1)):
        traces = []
        for when, values, dash in ((N_("at initialisation"), s.at_init[k], "dot"),
                                   (N_("now"), now[k], "solid")):
            v = np.maximum(np.asarray(values, dtype=float), 1e-30)
            traces.append({"type": "scatter", "mode": "lines+markers", "name": when,
                           "x": layers, "y": v.tolist(), "line": {"dash": dash}})
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 10, "t": 10,
                                                                 "b": 40},
            "xaxis": {"title": {"text": N_("layer")}},
            "yaxis": {"title": {"text": N_("standard deviation")}, "type": "log",
                      "exponentformat": "power"},
            "legend": {"orientation": "h", "y": -0.2}}},
            N_("{init} init, {activation}: after {depth} layers the spread is {spread:.2g} at "
               "initialisation.") if k == 0 else
            N_("{init} init, {activation}: after {depth} layers the spread is {spread:.2g} at "
               "initialisation (the first layer's gradient)."), init=s.cfg.init,
            activation=s.cfg.activation, depth=s.cfg.depth,
            spread=float(s.at_init[k][-1 if k == 0 else 0]))
    return figs
