"""The MLP's torch part: its data as tensors, the network, one step, and the pictures."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import DATASETS_2D, Data, load_images, make_2d, split
from playground.data.toy2d import REGRESSION_2D, make_regression_2d
from playground.i18n import N_
from playground.labs._shared import ACTIVATIONS, evaluate_classifier, make_optimizer, predict
from playground.labs.mlp import Config, table_of
from playground.labs.mlp.views import name_axes, regions, table_views
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# Data

def load_data(cfg: Config) -> Data:
    if cfg.dataset in DATASETS_2D:
        return make_2d(cfg.dataset, cfg.n_samples, cfg.noise, cfg.train_ratio, cfg.seed)
    if cfg.dataset in REGRESSION_2D:
        return make_regression_2d(cfg.dataset, cfg.n_samples, cfg.noise, cfg.train_ratio,
                                  cfg.seed)
    if cfg.dataset == "csv":
        return _table_data(cfg)
    return load_images(cfg.dataset, train_ratio=cfg.train_ratio, seed=cfg.seed)


def _table_data(cfg: Config) -> Data:
    """The visitor's table: two inputs are a plane (its pictures and features, as the point
    sets'), more are a row of numbers."""
    t = table_of(cfg)
    xtr, ytr, xte, yte = split(t.x, t.y, cfg.train_ratio, cfg.seed)
    regression = t.task == "regression"
    return Data(train=(xtr, ytr), test=(xte, yte), num_classes=1 if regression else len(t.classes),
                input_shape=(t.x.shape[1],), classes=t.classes,
                kind="2d" if t.x.shape[1] == 2 else "tabular", name="csv",
                extra={"regression": regression, "inputs": t.inputs, "target": t.target})


def _shape_and_outputs(cfg: Config) -> tuple[tuple[int, ...], int]:
    if cfg.dataset == "csv":
        t = table_of(cfg)
        return (t.x.shape[1],), 1 if t.task == "regression" else len(t.classes)
    if cfg.dataset in IMAGES:
        return IMAGES[cfg.dataset], 10
    return (2,), 1 if cfg.dataset in REGRESSION_2D else 2


IMAGES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28)}


# ---------------------------------------------------------------------------------------------
# Model

class FeatureMap(nn.Module):
    """The hand-made input features of TensorFlow Playground, computed from (x1, x2)."""

    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names = names

    def forward(self, x):                                   # (B, 2) -> (B, len(names))
        x1, x2 = x[:, 0], x[:, 1]
        table = {"x1": lambda: x1, "x2": lambda: x2, "x1^2": lambda: x1 * x1,
                 "x2^2": lambda: x2 * x2, "x1*x2": lambda: x1 * x2,
                 "sin(x1)": lambda: torch.sin(math.pi * x1), "sin(x2)": lambda: torch.sin(math.pi * x2)}
        return torch.stack([table[n]() for n in self.names], dim=1)


class MLP(nn.Module):
    def __init__(self, cfg: Config, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        if input_shape == (2,):                             # 2-D points: features first
            self.inputs = FeatureMap(cfg.features)
            width = len(cfg.features)
        elif len(input_shape) == 1:                         # a wider table: its columns
            self.inputs = nn.Identity()
            width = input_shape[0]
        else:                                               # images: flattened pixels
            self.inputs = nn.Flatten()
            width = int(np.prod(input_shape))
        self.hidden = nn.ModuleList()
        for size in cfg.hidden_sizes:
            # always there: dropout can be turned up while the run trains (at p = 0 it returns
            # its input untouched and draws no random numbers)
            self.hidden.append(nn.Sequential(nn.Linear(width, size), ACTIVATIONS[cfg.activation](),
                                             nn.Dropout(cfg.dropout)))
            width = size
        self.out = nn.Linear(width, num_classes)
        self._init(cfg.init)

    def _init(self, how: str) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if how == "xavier":
                    nn.init.xavier_uniform_(m.weight)
                elif how == "he":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                elif how == "normal":
                    nn.init.normal_(m.weight, 0.0, 0.5)
                else:
                    nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x, keep_hidden: bool = False):
        h = self.inputs(x)                                  # (B, D)
        hidden = []
        for layer in self.hidden:
            h = layer(h)                                    # (B, H_i)
            hidden.append(h)
        logits = self.out(h)                                # (B, K)
        return (logits, hidden) if keep_hidden else logits


@dataclass
class State:
    cfg: Config
    model: MLP
    opt: torch.optim.Optimizer
    weights: list
    regression: bool = False        # one linear output and the squared error


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = MLP(cfg, data.input_shape, data.num_classes).to(device)
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr), weights,
                 regression=bool(data.extra.get("regression")))


def blueprint(cfg: Config) -> tuple[nn.Module, tuple[int, ...]]:
    """The network and its input shape without any data: the engine builds it on the meta
    device for the summary and the memory estimate shown before Train."""
    shape, outputs = _shape_and_outputs(cfg)
    return MLP(cfg, shape, outputs), shape


# ---------------------------------------------------------------------------------------------
# Training

def penalty(s: State) -> torch.Tensor | float:
    if s.cfg.regularization == "l1":
        return s.cfg.reg_rate * sum(w.abs().sum() for w in s.weights)
    if s.cfg.regularization == "l2":
        return s.cfg.reg_rate * sum((w * w).sum() for w in s.weights)
    return 0.0


def retune(s: State, cfg: Config) -> None:
    """Settings changed while training (LIVE), taken from the next step on; Adam's moments and
    momentum are kept, as a learning-rate schedule keeps them."""
    s.cfg = cfg
    for group in s.opt.param_groups:
        group["lr"] = cfg.lr
    for m in s.model.modules():
        if isinstance(m, nn.Dropout):
            m.p = cfg.dropout


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch                                            # (B, ...), (B,)
    out = s.model(x)                                        # (B, K); regression (B, 1)
    loss = F.mse_loss(out[:, 0], y) if s.regression else F.cross_entropy(out, y)
    s.opt.zero_grad(set_to_none=True)
    (loss + penalty(s) if s.cfg.regularization != "none" else loss).backward()
    s.opt.step()
    if s.regression:
        return {"train/loss": loss.detach(), "train/mse": loss.detach()}
    return {"train/loss": loss.detach(), "train/acc": (out.argmax(1) == y).float().mean()}


def _steps(n: int):
    def take(s: State, data: Data) -> dict[str, float]:
        """n batches drawn from the run's examples, then its test metrics."""
        x, y = data.train
        size = max(1, min(s.cfg.batch_size, len(x)))
        for _ in range(n):
            idx = torch.randint(len(x), (size,), device=x.device)
            out = train_step(s, (x[idx], y[idx]))
        with torch.no_grad():
            test = evaluate(s, data)
        return {"batch loss": out["train/loss"], **{k.replace("val/", "test "): v
                                                     for k, v in test.items() if k != "val/mse"}}
    return take


STEP_ACTIONS = {"One step": _steps(1), "Ten steps": _steps(10)}


def show_steps(s: State, data: Data) -> dict[str, dict]:
    return artifacts(s, data)


def evaluate(s: State, data: Data) -> dict[str, float]:
    if not s.regression:
        return evaluate_classifier(s.model, data)
    x, y = data.test
    mse = F.mse_loss(predict(s.model, x)[:, 0], y)
    r2 = 1 - mse / y.var(unbiased=False).clamp_min(1e-12)
    mse, r2 = torch.stack([mse, r2]).tolist()               # one host sync
    return {"val/loss": mse, "val/mse": mse, "val/r2": r2}


# ---------------------------------------------------------------------------------------------
# What the page shows

GRID = 64                 # boundary resolution
NEURON_GRID = 24          # per-neuron heatmap resolution
MAX_NEURONS = 8           # per layer, in the neuron sheet


def _plane(data: Data, res: int):
    pts = torch.cat([data.train[0], data.test[0]]).float()
    lo = float(pts.min()) - 0.2
    hi = float(pts.max()) + 0.2
    axis = torch.linspace(lo, hi, res, device=pts.device)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)          # (res*res, 2)


def _boundary(s: State, data: Data) -> dict:
    axis, grid = _plane(data, GRID)
    prob = torch.softmax(predict(s.model, grid), 1)[:, 1].reshape(GRID, GRID)
    ax = axis.cpu().numpy()
    (xtr, ytr), (xte, yte) = [(x.cpu().numpy(), y.cpu().numpy()) for x, y in (data.train, data.test)]
    fig = charts.boundary(ax, ax, prob.cpu().numpy(), [
        ("train", xtr[:, 0], xtr[:, 1], ytr, "circle"),
        ("test", xte[:, 0], xte[:, 1], yte, "diamond")])
    return charts.artifact(N_("Decision boundary: p(orange)"), "plotly", name_axes(fig, data),
                           N_("Background: the network's probability of orange; circles are "
                              "training points, diamonds test points."))


def _neurons(s: State, data: Data) -> dict | None:
    if not s.model.hidden:
        return None
    _, grid = _plane(data, NEURON_GRID)
    s.model.eval()
    logits, hidden = s.model(grid, keep_hidden=True)
    s.model.train()
    rows = []
    out = (logits.float()[:, :1] if logits.shape[1] == 1               # regression: the value
           else torch.softmax(logits.float(), 1)[:, 1:2] * 2 - 1)
    for h in hidden + [out]:
        h = h[:, :MAX_NEURONS].float()                                    # (G*G, n)
        scale = h.abs().amax(0).clamp_min(1e-6)
        tiles = (h / scale).T.reshape(-1, NEURON_GRID, NEURON_GRID).flip(1).cpu().numpy()
        rows.append([charts.diverging_rgb(t) for t in tiles])
    sheet = charts.tile_rows(rows, scale=3)
    return charts.artifact(N_("Hidden neurons"), "image", charts.png(sheet),
                           N_("One row per hidden layer (first 8 neurons), last row the output: "
                              "what each neuron responds to over the plane (blue negative, orange "
                              "positive)."))


def _surface(s: State, data: Data) -> dict:
    """Regression: the predicted value over the plane, the points coloured by theirs."""
    axis, grid = _plane(data, GRID)
    z = predict(s.model, grid)[:, 0].detach().reshape(GRID, GRID).cpu().numpy()
    ax = axis.cpu().numpy().tolist()
    (xtr, ytr), (xte, yte) = [(x.cpu().numpy(), y.cpu().numpy()) for x, y in (data.train, data.test)]
    top = float(max(np.abs(z).max(), np.abs(ytr).max(), 1e-6))
    scale = {"colorscale": charts.DIVERGING, "cmin": -top, "cmax": top}
    fig = {"data": [{"type": "heatmap", "x": ax, "y": ax, "z": np.round(z, 4).tolist(),
                     "zmin": -top, "zmax": top, "colorscale": charts.DIVERGING,
                     "colorbar": {"title": {"text": "value"}},
                     "hovertemplate": "(%{x:.2f}, %{y:.2f}): %{z:.3f}<extra></extra>"},
                    *[{"type": "scatter", "mode": "markers", "name": name,
                       "x": np.round(x[:, 0], 3).tolist(), "y": np.round(x[:, 1], 3).tolist(),
                       "marker": {"color": np.round(y, 3).tolist(), **scale, "symbol": symbol,
                                  "size": 5, "line": {"width": 0.5, "color": "#555"}},
                       "hovertemplate": "value %{marker.color:.3f}<extra></extra>"}
                      for name, x, y, symbol in (("train", xtr, ytr, "circle"),
                                                 ("test", xte, yte, "diamond"))]],
           "layout": {"template": "plotly_white", "height": 420,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"range": [ax[0], ax[-1]], "constrain": "domain"},
                      "yaxis": {"range": [ax[0], ax[-1]], "scaleanchor": "x"},
                      "legend": {"orientation": "h", "y": -0.05}}}
    return charts.artifact(N_("Predicted value over the plane"), "plotly", name_axes(fig, data),
                           N_("Background: the network's prediction (blue low, orange high); the "
                              "points are coloured by their true value: where a point's colour "
                              "differs from the ground under it, the network is wrong there."))


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if data.kind == "2d":
        if s.regression:
            out = {"surface": _surface(s, data)}
        elif data.num_classes == 2:
            out = {"boundary": _boundary(s, data)}
        else:
            out = {"boundary": regions(s.model, data, *_plane(data, GRID))}
        neurons = _neurons(s, data)
        if neurons:
            out["neurons"] = neurons
        return out
    if data.kind == "tabular":
        return table_views(s.model, data, s.regression)
    return charts.classification_views(predict(s.model, data.test[0]).argmax(1), data)
