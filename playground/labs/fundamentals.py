"""The fundamentals every architecture rests on, one experiment at a time. **optimizers**: SGD,
momentum, RMSprop, Adagrad and Adam race from the same point down a 2-D loss surface (the
Rosenbrock valley, Beale's function, a saddle, a long narrow bowl, a bowl with noisy gradients),
each path drawn on the contours. **init**: a deep MLP's signal, layer by layer, under zeros,
a small normal, Xavier or He initialisation - the spread of the activations going forward and
of the gradients coming back, and whether the network then learns at all. **activations**: the
functions and their slopes, and the units that die (a ReLU whose every input is negative).
**losses**: three lines fitted to the same points with outliers, by MSE, MAE and Huber.

**What the page shows.** optimizers: the contour plot with every optimizer's path, its loss
against the step, the steps each needed to come within the tolerance of the minimum. init: the
standard deviation of every layer's activations and gradients (log scale) at initialisation and
now, the accuracy the deep network reaches on two moons.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, make_2d
from playground.engine.device import DEVICE_CHOICES
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "Fundamentals", "🧮", "Foundations"
TRY_THIS = ("Train the default: five optimizers race down the Rosenbrock valley from the same "
            "point - plain SGD crawls along the valley floor, momentum overshoots and catches "
            "up, Adam's steps stay the same size whatever the slope. Then pick experiment = "
            "init at depth 50: He keeps the signal's spread near 1 through every ReLU layer, "
            "Xavier lets it fade, zeros never start. Last, experiment = activations at lr 0.05: "
            "watch ReLU units die, then try leaky_relu.")

EXPERIMENTS = ("optimizers", "init", "activations", "losses")
REG_LOSSES = ("mse", "mae", "huber")
TRUE_LINE = (2.0, 0.5)           # y = 2 x + 0.5 + noise; the outliers sit far above
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
SURFACES = ("rosenbrock", "beale", "saddle", "narrow", "noisy")
INITS = ("zeros", "normal", "xavier", "he")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "softplus",
               "linear")
ACT_FNS = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu,
           "silu": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
           "linear": lambda h: h}
ACT_DEPTH, ACT_WIDTH = 4, 32     # the small net of `activations`
COLORS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "rmsprop": "#2ca02c", "adagrad": "#9467bd",
          "adam": "#d62728"}
DIVERGED = 1e8               # an optimizer whose loss passes this has left the surface


@dataclass(frozen=True)
class Config:
    experiment: str = param("optimizers", choices=EXPERIMENTS, group="Experiment",
                            help="optimizers: a race on a 2-D loss surface. init: how a deep "
                                 "network's initialisation carries the signal. activations: "
                                 "the functions, their slopes, and the units that die.")
    surface: str = param("rosenbrock", choices=SURFACES, group="Optimizers",
                         help="rosenbrock: a curved valley, minimum 0 at (1, 1). beale: steep "
                              "walls, minimum 0 at (3, 0.5). saddle: x^2 - y^2 + y^4/4, minima "
                              "-1 at (0, +-1.41), a saddle at the origin. narrow: a bowl 50x "
                              "steeper across than along. noisy: a round bowl whose gradients "
                              "carry noise (std 2), as minibatches do.")
    optimizers: tuple[str, ...] = param(OPTIMIZERS, choices=OPTIMIZERS, min_len=1,
                                        group="Optimizers", help="Which optimizers race.")
    lr_sgd: float = param(1e-3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                          label="lr SGD", help="Step size of plain SGD.")
    lr_momentum: float = param(1e-3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                               label="lr momentum", help="Step size of SGD with momentum.")
    lr_rmsprop: float = param(1e-2, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                              label="lr RMSprop", help="Step size of RMSprop.")
    lr_adagrad: float = param(0.3, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                              label="lr Adagrad", help="Step size of Adagrad.")
    lr_adam: float = param(5e-2, lo=1e-6, hi=10.0, log=True, group="Optimizers",
                           label="lr Adam", help="Step size of Adam.")
    momentum: float = param(0.9, lo=0.0, hi=0.999, group="Optimizers",
                            help="Momentum's share of the last step (SGD with momentum).")
    beta1: float = param(0.9, lo=0.0, hi=0.999, group="Optimizers",
                         help="Adam's average of gradients.")
    beta2: float = param(0.999, lo=0.0, hi=0.99999, group="Optimizers",
                         help="Adam's (and RMSprop's, as alpha) average of squared gradients.")
    start_x: float = param(-1.5, lo=-4.0, hi=4.0, group="Optimizers", help="Where all start: x.")
    start_y: float = param(2.0, lo=-4.0, hi=4.0, group="Optimizers", help="Where all start: y.")
    tolerance: float = param(1e-3, lo=1e-9, hi=1.0, log=True, group="Optimizers",
                             help="'Reached' means within this of the surface's minimum.")
    depth: int = param(50, lo=2, hi=100, group="Initialisation",
                       help="Hidden layers of the deep MLP.")
    width: int = param(128, lo=4, hi=1024, group="Initialisation", help="Units per layer.")
    init: str = param("he", choices=INITS, group="Initialisation",
                      help="zeros: every weight 0. normal: N(0, init_std^2). xavier: std "
                           "sqrt(2 / (in + out)), made for tanh. he: std sqrt(2 / in), made "
                           "for ReLU (which zeroes half the signal).")
    init_std: float = param(0.01, lo=1e-6, hi=10.0, log=True, group="Initialisation",
                            label="init std", help="The std of 'normal'.")
    activation: str = param("relu", choices=ACTIVATIONS, group="Initialisation",
                            help="Between the layers (init and activations).")
    lr: float = param(1e-3, lo=1e-6, hi=1.0, log=True, group="Initialisation",
                      help="Adam's step size when the network trains (init: the deep one on "
                           "two moons; activations: 4 layers of 32 on the spiral).")
    outliers: float = param(0.1, lo=0.0, hi=0.5, group="Losses",
                            help="Share of the points moved far above the line.")
    steps: int = param(1500, lo=1, hi=20_000, group="Optimizers",
                       help="Steps of every racer.")
    train_steps: int = param(300, lo=1, hi=20_000, group="Initialisation",
                             help="Adam steps on the whole data set (init, activations).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same weights, same noise.")
    device: str = param("cpu", choices=DEVICE_CHOICES, group="Training",
                        help="These experiments are small: the CPU is fastest.")


PRESETS = {
    "Optimizers on the Rosenbrock valley (default)": {},
    "Optimizers at a saddle": {"surface": "saddle", "start_x": -1.5, "start_y": 0.001,
                               "lr_sgd": 0.01, "lr_momentum": 0.01, "lr_adam": 0.05},
    "Optimizers in a narrow bowl": {"surface": "narrow", "start_x": -3.0, "start_y": 1.0,
                                    "lr_sgd": 0.035, "lr_momentum": 0.01},
    "SGD at a learning rate that diverges": {"optimizers": ("sgd", "adam"), "lr_sgd": 0.01},
    "Init: He at depth 50 (ReLU)": {"experiment": "init"},
    "Init: Xavier at depth 50 (ReLU)": {"experiment": "init", "init": "xavier"},
    "Init: twice He's std (explodes)": {"experiment": "init", "init": "normal",
                                        "init_std": 0.25},
    "Init: zeros": {"experiment": "init", "init": "zeros"},
    "Activations: ReLU at a high learning rate (units die)": {
        "experiment": "activations", "lr": 0.05, "train_steps": 500},
    "Activations: leaky ReLU at the same rate": {
        "experiment": "activations", "activation": "leaky_relu", "lr": 0.05, "train_steps": 500},
}


def steps_of(cfg: Config) -> int:
    return cfg.steps if cfg.experiment in ("optimizers", "losses") else cfg.train_steps


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


def load_data(cfg: Config) -> Data:
    if cfg.experiment == "init":
        return make_2d("moons", n=800, noise=0.15, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "activations":
        return make_2d("spiral", n=800, noise=0.1, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "losses":
        g = torch.Generator().manual_seed(cfg.seed)
        x = torch.rand(200, 1, generator=g) * 4 - 2
        y = TRUE_LINE[0] * x + TRUE_LINE[1] + 0.3 * torch.randn(200, 1, generator=g)
        far = torch.rand(200, 1, generator=g) < cfg.outliers
        y = torch.where(far, y + 15 + 5 * torch.rand(200, 1, generator=g), y)
        return Data(train=(x, y), test=(x, y), num_classes=1, input_shape=(1,), name="outliers",
                    kind="tabular")
    # the race needs no data: one placeholder row, so every step is one step of every racer
    one = torch.zeros(1, 2)
    return Data(train=(one,), test=(one,), num_classes=1, input_shape=(2,), name=cfg.surface,
                kind="surface")


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


class Lines(nn.Module):
    """One line y = a x + b per regression loss, fitted side by side on the same points."""

    def __init__(self):
        super().__init__()
        self.fit = nn.Linear(1, len(REG_LOSSES))

    def forward(self, x):
        return self.fit(x)


def regression_losses(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each column's own loss: MSE, MAE and Huber (delta 1) of its line."""
    err = pred - y
    return torch.stack([(err[:, 0] ** 2).mean(), err[:, 1].abs().mean(),
                        F.huber_loss(pred[:, 2], y[:, 0], delta=1.0)])


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


def blueprint(cfg: Config):
    if cfg.experiment == "init":
        return DeepMLP(cfg), (2,)
    return Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)), (2,)


ONNX = False          # a race has no input to map; the deep MLP's weights and script download


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


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    if cfg.experiment == "losses":
        model = Lines().to(device)
        with torch.no_grad():
            model.fit.weight.zero_()
            model.fit.bias.zero_()
        return State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=0.05)})
    if cfg.experiment != "optimizers":
        model = DeepMLP(cfg).to(device)
        s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=cfg.lr)})
        s.at_init = spreads(model, *data.train)
        return s
    model = Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)).to(device)
    opts = {n: make_optimizer(n, [model.pos[n]], cfg) for n in cfg.optimizers}
    s = State(cfg, model, opts, f=surface_fn(cfg.surface),
              gen=torch.Generator(device=device).manual_seed(cfg.seed))
    start = model().detach()
    s.path = [start.clone()]
    s.losses = [s.f(start[:, 0], start[:, 1]).detach()]
    s.stopped = torch.full((len(cfg.optimizers),), -1, device=device)
    return s


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    if s.cfg.experiment == "losses":
        x, y = batch
        each = regression_losses(s.model(x), y)
        opt = s.opts["adam"]
        opt.zero_grad(set_to_none=True)
        each.sum().backward()                  # the lines share no weights: each its own loss
        opt.step()
        return {"train/loss": each.sum().detach()}
    if s.cfg.experiment != "optimizers":
        x, y = batch
        loss = F.cross_entropy(s.model(x), y)
        opt = s.opts["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"train/loss": loss.detach()}
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


def evaluate(s: State, data: Data) -> dict[str, float]:
    if s.cfg.experiment == "losses":
        grid = torch.linspace(-2, 2, 41, device=data.test[0].device)[:, None]
        gap = (s.model(grid) - (TRUE_LINE[0] * grid + TRUE_LINE[1])).abs().mean(0).tolist()
        out = {f"val/off_{n}": v for n, v in zip(REG_LOSSES, gap)}    # mean gap to the truth
        out["val/loss"] = float(regression_losses(s.model(data.test[0]), data.test[1]).sum())
        return out
    if s.cfg.experiment != "optimizers":
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
                "val/act_std_last": acts[-1], "val/grad_std_first": back[0]}
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
            "contours": {"coloring": "lines"}, "name": "log10 loss"}


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
                       "marker": {"size": [3] * (len(keep) - 1) + [13], "color": COLORS[name],
                                  "line": {"color": "#ffffff", "width": 1}}})
    traces.append({"type": "scatter", "mode": "markers", "name": "minimum",
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
                         "xaxis": {"title": {"text": "step"}},
                         "yaxis": {"title": {"text": "loss - minimum"}, "type": "log"},
                         "legend": {"orientation": "h", "y": -0.15}}}
    steps = reached(s)
    rows = "; ".join(f"{n}: {'step ' + str(v) if v is not None else 'not yet'}"
                     for n, v in steps.items())
    return {"race": charts.artifact(f"The race on the {cfg.surface} surface", "plotly", race,
                                    f"Every path from ({cfg.start_x:g}, {cfg.start_y:g}); the "
                                    "contours are log10 of the loss."),
            "gap": charts.artifact("Distance to the minimum's loss", "plotly", curves,
                                   f"Within {cfg.tolerance:g} of the minimum: {rows}.")}


def _spread_views(s: State, data: Data) -> dict:
    now = spreads(s.model, *data.train)
    layers = list(range(1, s.cfg.depth + 1))
    figs = {}
    for key, title, k in (("forward", "Activations' spread, layer by layer", 0),
                          ("backward", "Gradients' spread, layer by layer", 1)):
        traces = []
        for when, values, dash in (("at initialisation", s.at_init[k], "dot"),
                                   ("now", now[k], "solid")):
            v = np.maximum(np.asarray(values, dtype=float), 1e-30)
            traces.append({"type": "scatter", "mode": "lines+markers", "name": when,
                           "x": layers, "y": v.tolist(), "line": {"dash": dash}})
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380, "margin": {"l": 60, "r": 10, "t": 10,
                                                                 "b": 40},
            "xaxis": {"title": {"text": "layer"}},
            "yaxis": {"title": {"text": "standard deviation"}, "type": "log",
                      "exponentformat": "power"},
            "legend": {"orientation": "h", "y": -0.2}}},
            f"{s.cfg.init} init, {s.cfg.activation}: after {s.cfg.depth} layers the spread is "
            f"{s.at_init[k][-1 if k == 0 else 0]:.2g} at initialisation"
            + (" (the first layer's gradient)" if k == 1 else "") + ".")
    return figs


def _activation_views(s: State, data: Data) -> dict:
    z = torch.linspace(-4, 4, 161, requires_grad=True)
    figs = {}
    curves = {}
    for name in ACTIVATIONS:
        with torch.enable_grad():
            out = ACT_FNS[name](z)
            slope, = torch.autograd.grad(out.sum(), z)
        curves[name] = (out.detach().numpy(), slope.numpy())
    for key, k, title in (("functions", 0, "The activation functions"),
                          ("slopes", 1, "Their slopes (derivatives)")):
        traces = [{"type": "scatter", "mode": "lines", "name": name,
                   "x": z.detach().numpy().round(3).tolist(),
                   "y": curves[name][k].round(4).tolist(),
                   "line": {"width": 4 if name == s.cfg.activation else 1.2},
                   "opacity": 1.0 if name == s.cfg.activation else 0.55}
                  for name in ACTIVATIONS]
        figs[key] = charts.artifact(title, "plotly", {"data": traces, "layout": {
            "template": "plotly_white", "height": 380,
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "input"}},
            "yaxis": {"range": [-1.5, 4] if k == 0 else [-0.2, 1.3]},
            "legend": {"orientation": "h", "y": -0.2}}},
            f"Bold: {s.cfg.activation}, the one this network uses." if k == 0 else
            "Where the slope is 0, no gradient passes: a ReLU unit whose inputs are all negative "
            "never learns again.")
    dead = dead_units(s.model, data.train[0])
    figs["dead"] = charts.artifact("Dead units, layer by layer", "plotly", {
        "data": [{"type": "bar", "x": [f"layer {i + 1}" for i in range(len(dead))],
                  "y": [round(d, 4) for d in dead], "marker": {"color": "#d62728"}}],
        "layout": {"template": "plotly_white", "height": 300,
                   "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                   "yaxis": {"range": [0, 1], "title": {"text": "share of units"},
                             "tickformat": ".0%"}}},
        f"A unit is dead when its slope is 0 for all {len(data.train[0])} training points; "
        f"{sum(dead) / len(dead):.0%} of the {ACT_DEPTH} x {ACT_WIDTH} units now.")
    return figs


def _fit_views(s: State, data: Data) -> dict:
    x, y = (t.cpu()[:, 0] for t in data.train)
    grid = torch.linspace(-2, 2, 2)
    w, b = s.model.fit.weight[:, 0].cpu(), s.model.fit.bias.cpu()
    traces = [{"type": "scatter", "mode": "markers", "name": "points",
               "x": x.round(decimals=3).tolist(), "y": y.round(decimals=3).tolist(),
               "marker": {"size": 5, "color": "#888888"}},
              {"type": "scatter", "mode": "lines", "name": "the true line",
               "x": grid.tolist(), "y": (TRUE_LINE[0] * grid + TRUE_LINE[1]).tolist(),
               "line": {"dash": "dot", "color": "#000000"}}]
    for i, name in enumerate(REG_LOSSES):
        traces.append({"type": "scatter", "mode": "lines",
                       "name": f"{name}: y = {w[i]:.2f} x + {b[i]:.2f}",
                       "x": grid.tolist(), "y": (w[i] * grid + b[i]).round(decimals=3).tolist(),
                       "line": {"color": ("#1f77b4", "#ff7f0e", "#2ca02c")[i], "width": 3}})
    return {"fit": charts.artifact("Three lines, three losses, the same points", "plotly", {
        "data": traces, "layout": {"template": "plotly_white", "height": 420,
                                   "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
                                   "legend": {"orientation": "h", "y": -0.15}}},
        f"{s.cfg.outliers:.0%} of the points moved far above the line: squared errors let them "
        "pull the MSE line up; absolute errors (MAE) and Huber's barely feel them.")}


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if s.cfg.experiment == "losses":
        return _fit_views(s, data)
    if s.cfg.experiment == "activations":
        return _activation_views(s, data)
    if s.cfg.experiment == "init":
        return _spread_views(s, data)
    return _race_views(s)


CURVES = (("act_std_last", "Last layer's activation spread", True),
          ("dead", "Dead units (share)", False))
HEADLINE = (("val/acc", "acc"), ("val/loss", "loss"))
