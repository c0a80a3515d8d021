"""Fundamentals' optimizer race in torch: surfaces, racers, a step of each, the pictures."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from playground.data import Data
from playground.i18n import N_
from playground.labs.fundamentals import Config
from playground.labs.fundamentals.common import State
from playground.ui import charts

COLORS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "rmsprop": "#2ca02c", "adagrad": "#9467bd",
          "adam": "#d62728"}
DIVERGED = 1e8               # an optimizer whose loss passes this has left the surface


# ---------------------------------------------------------------------------------------------
# The surfaces: f(x, y) on tensors; (range of x, range of y, minimum value, its place)

def surface_fn(name: str):
    if name == "rosenbrock":
        return lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
    if name == "beale":
        return lambda x, y: ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
                             + (2.625 - x + x * y ** 3) ** 2)
    if name == "saddle":
        return lambda x, y: x ** 2 - y ** 2 + y ** 4 / 4
    if name == "narrow":
        return lambda x, y: 0.5 * (x ** 2 + 50 * y ** 2)
    return lambda x, y: x ** 2 + y ** 2


SURFACE_INFO = {"rosenbrock": ((-2, 2), (-1, 3), 0.0, (1, 1)),
                "beale": ((-4.5, 4.5), (-4.5, 4.5), 0.0, (3, 0.5)),
                "saddle": ((-2, 2), (-2.5, 2.5), -1.0, (0, math.sqrt(2))),
                "narrow": ((-3.5, 3.5), (-1.5, 1.5), 0.0, (0, 0)),
                "noisy": ((-2.5, 2.5), (-2.5, 2.5), 0.0, (0, 0))}
NOISE = 2.0


def _race_data(cfg: Config) -> Data:
    # the race needs no data: one placeholder row, so every step is one step of every racer
    one = torch.zeros(1, 2)
    return Data(train=(one,), test=(one,), num_classes=1, input_shape=(2,), name=cfg.surface,
                kind="surface")


# ---------------------------------------------------------------------------------------------
# The race: one nn.Parameter (x, y) and one torch optimizer per racer

class Racers(nn.Module):
    """Every racer's position; a module so that the engine can count, save and export it."""

    def __init__(self, names: tuple[str, ...], start: tuple[float, float]):
        super().__init__()
        self.names = names
        self.pos = nn.ParameterDict({n: nn.Parameter(torch.tensor(start)) for n in names})

    def forward(self, x=None):
        return torch.stack([self.pos[n] for n in self.names])


def make_optimizer(name: str, params, cfg: Config) -> torch.optim.Optimizer:
    lr = getattr(cfg, f"lr_{name}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.beta2)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def _build_race(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)).to(device)
    opts = {n: make_optimizer(n, [model.pos[n]], cfg) for n in cfg.optimizers}
    s = State(cfg, model, opts, f=surface_fn(cfg.surface),
              gen=torch.Generator(device=device).manual_seed(cfg.seed))
    start = model().detach()
    s.path = [start.clone()]
    s.losses = [s.f(start[:, 0], start[:, 1]).detach()]
    s.stopped = torch.full((len(cfg.optimizers),), -1, device=device)
    return s


def _race_train_step(s: State, batch) -> dict[str, torch.Tensor]:
    cfg, s.step = s.cfg, s.step + 1
    before = s.model().detach()
    for i, name in enumerate(cfg.optimizers):
        p = s.model.pos[name]
        opt = s.opts[name]
        opt.zero_grad(set_to_none=True)
        s.f(p[0], p[1]).backward()
        if cfg.surface == "noisy":
            p.grad.add_(torch.randn(2, device=p.device, generator=s.gen) * NOISE)
        opt.step()
    now = s.model().detach()
    loss = s.f(now[:, 0], now[:, 1])
    # a racer that left the surface (a loss past DIVERGED, or not a number) stays where it
    # was, marked with the step it left at: the others race on (no host sync needed)
    gone = ~torch.isfinite(loss) | (loss.abs() > DIVERGED) | (s.stopped >= 0)
    s.stopped = torch.where(gone & (s.stopped < 0), torch.full_like(s.stopped, s.step), s.stopped)
    with torch.no_grad():
        kept = torch.where(gone[:, None], before, now)
        for i, name in enumerate(cfg.optimizers):
            s.model.pos[name].copy_(kept[i])
    loss = s.f(kept[:, 0], kept[:, 1])
    s.path.append(kept)
    s.losses.append(loss)
    finite = torch.where(gone, torch.full_like(loss, float("inf")), loss)
    best = torch.where(torch.isfinite(finite.min()), finite.min(), torch.zeros(()))
    return {"train/loss": best, **{f"train/f_{n}": loss[i] for i, n in
                                   enumerate(cfg.optimizers)}}


def reached(s: State) -> dict[str, int | None]:
    """The first step each racer came within the tolerance of the minimum (None: not yet)."""
    minimum = SURFACE_INFO[s.cfg.surface][2]
    losses = torch.stack(s.losses).cpu()
    out = {}
    for i, name in enumerate(s.cfg.optimizers):
        hit = torch.nonzero(losses[:, i] - minimum <= s.cfg.tolerance)
        out[name] = int(hit[0]) if len(hit) else None
    return out


def _race_metrics(s: State) -> dict[str, float]:
    last = s.losses[-1].cpu()
    stopped = s.stopped.cpu()
    minimum = SURFACE_INFO[s.cfg.surface][2]
    ok = [float(v) for v, st in zip(last, stopped) if st < 0 and math.isfinite(float(v))]
    out = {"val/loss": (min(ok) - minimum) if ok else float("nan")}
    steps = reached(s)
    for i, name in enumerate(s.cfg.optimizers):
        out[f"val/gap_{name}"] = float(last[i]) - minimum
        out[f"val/steps_{name}"] = float(steps[name]) if steps[name] is not None else -1.0
    return out


# ---------------------------------------------------------------------------------------------
# What the page shows

def _contours(cfg: Config, n: int = 120) -> dict:
    (x0, x1), (y0, y1), minimum, _ = SURFACE_INFO[cfg.surface]
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    z = surface_fn(cfg.surface)(torch.as_tensor(gx), torch.as_tensor(gy)).numpy()
    z = np.log10(z - minimum + 1e-3)                      # valleys need a log scale to show
    return {"type": "contour", "x": xs.round(4).tolist(), "y": ys.round(4).tolist(),
            "z": z.round(3).tolist(), "colorscale": "Greys", "reversescale": True,
            "showscale": False, "ncontours": 30, "hoverinfo": "skip",
            "contours": {"coloring": "lines"}, "name": N_("log10 loss")}


def _race_views(s: State) -> dict:
    cfg = s.cfg
    path = torch.stack(s.path).cpu().numpy()                  # (steps + 1, racers, 2)
    losses = torch.stack(s.losses).cpu().numpy()
    keep = np.unique(np.linspace(0, len(path) - 1, min(len(path), 600)).astype(int))
    (x0, x1), (y0, y1), minimum, best_at = SURFACE_INFO[cfg.surface]
    traces = [_contours(cfg)]
    stopped = s.stopped.cpu().tolist()
    for i, name in enumerate(cfg.optimizers):
        label = name + (f" (left the surface at step {stopped[i]})" if stopped[i] >= 0 else "")
        # paths often share a valley: thin and see-through, each racer's place now marked big
        traces.append({"type": "scatter", "mode": "lines+markers", "name": label,
                       "x": path[keep, i, 0].round(4).tolist(),
                       "y": path[keep, i, 1].round(4).tolist(), "opacity": 0.75,
                       "line": {"color": COLORS[name], "width": 1.5},
                       # a few steps (slow motion): each step's dot big enough to count
                       "marker": {"size": [3 if len(keep) > 60 else 7] * (len(keep) - 1) + [13],
                                  "color": COLORS[name],
                                  "line": {"color": "#ffffff", "width": 1}}})
    traces.append({"type": "scatter", "mode": "markers", "name": N_("minimum"),
                   "x": [best_at[0]], "y": [best_at[1]],
                   "marker": {"symbol": "star", "size": 14, "color": "#000000"}})
    race = {"data": traces, "layout": {
        "template": "plotly_white", "height": 460, "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
        "xaxis": {"range": [x0, x1], "title": {"text": "x"}},
        "yaxis": {"range": [y0, y1], "title": {"text": "y"}},
        "legend": {"orientation": "h", "y": -0.15}}}
    gap = np.maximum(losses - minimum, 1e-12)
    curves = {"data": [{"type": "scatter", "mode": "lines", "name": name,
                        "x": keep.tolist(), "y": gap[keep, i].astype(float).round(8).tolist(),
                        "line": {"color": COLORS[name]}} for i, name in enumerate(cfg.optimizers)],
              "layout": {"template": "plotly_white", "height": 460,
                         "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                         "xaxis": {"title": {"text": N_("step")}},
                         "yaxis": {"title": {"text": N_("loss - minimum")}, "type": "log"},
                         "legend": {"orientation": "h", "y": -0.15}}}
    steps = reached(s)
    rows = "; ".join(f"{n}: {'step ' + str(v) if v is not None else 'not yet'}"
                     for n, v in steps.items())
    return {"race": charts.artifact(N_("The race on the {surface} surface"), "plotly", race,
                                    N_("Every path from ({x:g}, {y:g}); the contours are log10 "
                                       "of the loss."), surface=cfg.surface,
                                    x=float(cfg.start_x), y=float(cfg.start_y)),
            "gap": charts.artifact(N_("Distance to the minimum's loss"), "plotly", curves,
                                   N_("Within {tolerance:g} of the minimum: {reached}."),
                                   tolerance=float(cfg.tolerance), reached=rows)}


# ---------------------------------------------------------------------------------------------
# Slow motion: the race from its start, one step of every racer per click

def _race_step(s: State, data: Data, n: int = 1) -> dict[str, torch.Tensor]:
    for _ in range(n):
        out = _race_train_step(s, None)
    return {name: out[f"train/f_{name}"] for name in s.cfg.optimizers}


def _race_ten(s: State, data: Data) -> dict[str, torch.Tensor]:
    return _race_step(s, data, 10)


def _last_step_view(s: State) -> dict:
    """How long each racer's last step was beside how steep the surface was under it: SGD's
    step follows the slope, Adam's stays near the learning rate whatever the slope."""
    names = list(s.cfg.optimizers)
    moved = (s.path[-1] - s.path[-2]).norm(dim=1).tolist()
    grads = [float(s.model.pos[n].grad.norm()) if s.model.pos[n].grad is not None else 0.0
             for n in names]
    bars = [{"type": "bar", "name": N_("slope (gradient length)"), "x": names, "y": grads,
             "marker": {"color": "#bbbbbb"}},
            {"type": "bar", "name": N_("step length"), "x": names, "y": moved,
             "marker": {"color": [COLORS[n] for n in names]}}]
    fig = {"data": bars, "layout": {
        "template": "plotly_white", "height": 360, "barmode": "group",
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "yaxis": {"type": "log", "title": {"text": N_("length (log)")}},
        "legend": {"orientation": "h", "y": -0.15}}}
    return charts.artifact(N_("Step {step}: how steep, how far"), "plotly", fig,
                           N_("The gradient each racer saw at step {step} (grey) and how far it "
                              "moved (colour); learning rates: {rates}."), step=s.step,
                           rates=", ".join(f"{n} {getattr(s.cfg, 'lr_' + n):g}" for n in names))


def show_steps(s: State, data: Data) -> dict[str, dict]:
    views = _race_views(s)
    # a few steps are a few pixels on the whole surface: the plot follows the racers instead
    path = torch.stack(s.path).reshape(-1, 2)
    keep = torch.isfinite(path).all(1) & (path.abs() < 1e3).all(1)
    lo, hi = path[keep].min(0).values, path[keep].max(0).values
    pad = torch.clamp((hi - lo) * 0.15, min=0.05)
    layout = views["race"]["data"]["layout"]
    for i, axis in enumerate(("xaxis", "yaxis")):
        layout[axis]["range"] = [float(lo[i] - pad[i]), float(hi[i] + pad[i])]
    if s.step:
        views["last_step"] = _last_step_view(s)
    return views


STEP_ACTIONS = {"One step": _race_step, "Ten steps": _race_ten}
