"""Fundamentals' losses in torch: lines fitted by MSE, MAE and Huber; four classifiers."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.i18n import N_
from playground.labs.fundamentals import Config
from playground.labs.fundamentals.common import HISTORY_POINTS, State, _plot, _record
from playground.ui import charts

REG_LOSSES = ("mse", "mae", "huber")
CLS_LOSSES = ("ce", "mse", "smooth", "focal")
CLS_TITLES = {"ce": N_("cross-entropy"), "mse": N_("MSE on softmax"),
              "smooth": N_("label smoothing"), "focal": N_("focal")}
CLS_COLORS = {"ce": "#1f77b4", "mse": "#ff7f0e", "smooth": "#2ca02c", "focal": "#9467bd"}
CLS_WIDTH, CLS_LR = 64, 1e-2    # four small classifiers, one per loss, the same start
TRUE_LINE = (2.0, 0.5)           # y = 2 x + 0.5 + noise; the outliers sit far above


def _outlier_points(cfg: Config) -> Data:
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.rand(200, 1, generator=g) * 4 - 2
    y = TRUE_LINE[0] * x + TRUE_LINE[1] + 0.3 * torch.randn(200, 1, generator=g)
    far = torch.rand(200, 1, generator=g) < cfg.outliers
    y = torch.where(far, y + 15 + 5 * torch.rand(200, 1, generator=g), y)
    return Data(train=(x, y), test=(x, y), num_classes=1, input_shape=(1,), name="outliers",
                kind="tabular")


# ---------------------------------------------------------------------------------------------
# The networks: one line per regression loss, one classifier per classification loss

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


class Classifiers(nn.Module):
    """Four copies of one small network (the same weights at the start), one per classification
    loss, so that only the loss differs."""

    def __init__(self, num_classes: int):
        super().__init__()
        one = nn.Sequential(nn.Linear(2, CLS_WIDTH), nn.ReLU(), nn.Linear(CLS_WIDTH, CLS_WIDTH),
                            nn.ReLU(), nn.Linear(CLS_WIDTH, num_classes))
        self.nets = nn.ModuleList(copy.deepcopy(one) for _ in CLS_LOSSES)

    def forward(self, x):
        return torch.stack([net(x) for net in self.nets])        # (losses, n, classes)


def classification_losses(logits: torch.Tensor, y: torch.Tensor, cfg: Config) -> torch.Tensor:
    """Per loss (rows, in CLS_LOSSES' order) and per example: cross-entropy; squared error
    between the softmax and the one-hot target; cross-entropy against the smoothed target;
    focal loss, (1 - p)^gamma times cross-entropy."""
    k = logits.shape[-1]
    logp = logits.float().log_softmax(-1)                           # (4, n, k)
    target = F.one_hot(y, k).float()
    ce = -(target * logp[0]).sum(-1)
    mse = ((logp[1].exp() - target) ** 2).sum(-1)
    smooth = -(((1 - cfg.smoothing) * target + cfg.smoothing / k) * logp[2]).sum(-1)
    right = (target * logp[3]).sum(-1)
    focal = -(1 - right.exp()) ** cfg.focal_gamma * right
    return torch.stack([ce, mse, smooth, focal])


def _build_classifiers(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = Classifiers(data.num_classes).to(device)
    # one Adam over the four networks is four Adams: its statistics are per weight
    s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=CLS_LR)},
              history=[], history_steps=[], record_every=max(1, cfg.steps // HISTORY_POINTS),
              sets=(data.test,))
    _record(s)
    return s


def _build_lines(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = Lines().to(device)
    with torch.no_grad():
        model.fit.weight.zero_()
        model.fit.bias.zero_()
    return State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=0.05)})


def _classifier_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    each = classification_losses(s.model(x), y, s.cfg).mean(1)
    opt = s.opts["adam"]
    opt.zero_grad(set_to_none=True)
    each.sum().backward()                  # the networks share nothing: each its own loss
    opt.step()
    s.step += 1
    if s.step % s.record_every == 0:
        _record(s)
    return {"train/loss": each[0].detach(),
            **{f"train/loss_{n}": each[i].detach() for i, n in enumerate(CLS_LOSSES)}}


def _fit_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    each = regression_losses(s.model(x), y)
    opt = s.opts["adam"]
    opt.zero_grad(set_to_none=True)
    each.sum().backward()                  # the lines share no weights: each its own loss
    opt.step()
    return {"train/loss": each.sum().detach()}


def _fit_metrics(s: State, data: Data) -> dict[str, float]:
    grid = torch.linspace(-2, 2, 41, device=data.test[0].device)[:, None]
    gap = (s.model(grid) - (TRUE_LINE[0] * grid + TRUE_LINE[1])).abs().mean(0).tolist()
    out = {f"val/off_{n}": v for n, v in zip(REG_LOSSES, gap)}    # mean gap to the truth
    out["val/loss"] = float(regression_losses(s.model(data.test[0]), data.test[1]).sum())
    return out


def _classifier_metrics(s: State, data: Data) -> dict[str, float]:
    x, y = data.test
    logits = s.model(x).float()
    p = logits.softmax(-1)
    acc = (logits.argmax(-1) == y).float().mean(1).tolist()
    conf = p.max(-1).values.mean(1).tolist()             # how sure each network says it is
    nll = torch.stack([F.cross_entropy(lg, y) for lg in logits]).tolist()
    out = {"val/acc": max(acc), "val/loss": min(nll)}
    for i, n in enumerate(CLS_LOSSES):
        out[f"val/acc_{n}"], out[f"val/conf_{n}"], out[f"val/nll_{n}"] = acc[i], conf[i], nll[i]
    return out


# ---------------------------------------------------------------------------------------------
# What the page shows

def _fit_views(s: State, data: Data) -> dict:
    x, y = (t.cpu()[:, 0] for t in data.train)
    grid = torch.linspace(-2, 2, 2)
    w, b = s.model.fit.weight[:, 0].cpu(), s.model.fit.bias.cpu()
    traces = [{"type": "scatter", "mode": "markers", "name": N_("points"),
               "x": x.round(decimals=3).tolist(), "y": y.round(decimals=3).tolist(),
               "marker": {"size": 5, "color": "#888888"}},
              {"type": "scatter", "mode": "lines", "name": N_("the true line"),
               "x": grid.tolist(), "y": (TRUE_LINE[0] * grid + TRUE_LINE[1]).tolist(),
               "line": {"dash": "dot", "color": "#000000"}}]
    for i, name in enumerate(REG_LOSSES):
        traces.append({"type": "scatter", "mode": "lines",
                       "name": f"{name}: y = {w[i]:.2f} x + {b[i]:.2f}",
                       "x": grid.tolist(), "y": (w[i] * grid + b[i]).round(decimals=3).tolist(),
                       "line": {"color": ("#1f77b4", "#ff7f0e", "#2ca02c")[i], "width": 3}})
    return {"fit": charts.artifact(N_("Three lines, three losses, the same points"), "plotly", {
        "data": traces, "layout": {"template": "plotly_white", "height": 420,
                                   "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
                                   "legend": {"orientation": "h", "y": -0.15}}},
        N_("{outliers:.0%} of the points moved far above the line: squared errors let them "
           "pull the MSE line up; absolute errors (MAE) and Huber's barely feel them."),
        outliers=s.cfg.outliers)}


def margin_curves(cfg: Config, margins: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each loss of one example of two classes against its margin (the right class's logit minus
    the other's), and the loss's slope there: how hard that example pulls on the weights."""
    m = margins.clone().requires_grad_(True)
    slopes = []
    with torch.enable_grad():           # artefacts are drawn under no_grad
        logits = torch.stack([torch.zeros_like(m), m], -1).expand(len(CLS_LOSSES), -1, -1)
        each = classification_losses(logits, torch.ones(len(m), dtype=torch.int64), cfg)
        for row in each:                    # the rows share one margin: each row's own slope
            slope, = torch.autograd.grad(row.sum(), m, retain_graph=True)
            slopes.append(slope)
    return each.detach().numpy(), torch.stack(slopes).abs().numpy()


def _classifier_views(s: State, data: Data) -> dict:
    cfg = s.cfg
    margins = torch.linspace(-6, 6, 121)
    loss, slope = margin_curves(cfg, margins)
    mx = margins.numpy().round(2).tolist()
    figs = {}
    for key, values, title, y_title, caption in (
            ("margin_loss", loss, N_("Each loss against the margin"), N_("loss"),
             N_("The margin is the right class's logit minus the other's: negative means "
                "wrong, and the further left, the more confidently wrong.")),
            ("margin_slope", slope, N_("How hard each example pulls"), N_("|slope|"),
             N_("MSE on the softmax barely pulls on a confidently wrong example (left): its "
                "slope dies where cross-entropy's is largest. Focal loss lets go of the ones "
                "already right (right); label smoothing ({smoothing:g}) pushes back when a "
                "margin grows too large."))):
        figs[key] = charts.artifact(title, "plotly", _plot(
            [{"type": "scatter", "mode": "lines", "name": CLS_TITLES[n], "x": mx,
              "y": values[i].round(4).tolist(), "line": {"color": CLS_COLORS[n], "width": 2.5}}
             for i, n in enumerate(CLS_LOSSES)], 360, N_("margin"), y_title), caption,
            smoothing=cfg.smoothing)
    h = torch.stack(s.history).cpu().numpy()                  # (records, 8)
    figs["accuracy"] = charts.artifact(N_("Test accuracy of each network"), "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": CLS_TITLES[n], "x": s.history_steps,
          "y": h[:, i].round(4).tolist(), "line": {"color": CLS_COLORS[n]}}
         for i, n in enumerate(CLS_LOSSES)], 360, N_("step"), N_("accuracy"),
        yaxis={"tickformat": ".0%"}), N_("The same network, the same start, the same data; "
                                         "only the loss differs."))
    x, y = data.test
    logits = s.model(x).detach().float()
    acc = (logits.argmax(-1) == y).float().mean(1).tolist()
    conf = logits.softmax(-1).max(-1).values.mean(1).tolist()
    figs["calibration"] = charts.artifact(N_("Accuracy and confidence"), "plotly", _plot(
        [{"type": "bar", "name": N_("accuracy"), "x": [CLS_TITLES[n] for n in CLS_LOSSES],
          "y": [round(a, 4) for a in acc], "marker": {"color": "#7f7f7f"}},
         {"type": "bar", "name": N_("mean confidence"), "x": [CLS_TITLES[n] for n in CLS_LOSSES],
          "y": [round(c, 4) for c in conf], "marker": {"color": "#d62728"}}],
        360, "", N_("share of the test set"), yaxis={"tickformat": ".0%", "range": [0, 1.02]},
        layout={"barmode": "group"}),
        N_("Confidence above accuracy is overconfidence: {gaps}."),
        gaps=", ".join(f"{CLS_TITLES[n]} {c - a:+.1%}" for n, a, c in zip(CLS_LOSSES, acc, conf)))
    # where each network puts the boundary, and how sure it is of it
    x, y = (t.cpu() for t in data.test)
    lo, hi = (x.min(0).values - 0.2).tolist(), (x.max(0).values + 0.2).tolist()
    gx, gy = np.linspace(lo[0], hi[0], 60), np.linspace(lo[1], hi[1], 60)
    grid = torch.tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2), dtype=torch.float32)
    prob = s.model(grid.to(data.test[0].device)).detach().float().softmax(-1)[..., 1].cpu().numpy()
    for i, n in enumerate(CLS_LOSSES):
        fig = charts.boundary(gx, gy, prob[i].reshape(60, 60),
                              [(N_("test points"), x[:, 0].numpy(), x[:, 1].numpy(), y.numpy(),
                                "circle")])
        fig["layout"]["height"] = 340
        figs[f"boundary_{n}"] = charts.artifact(N_("{loss}: where it is sure"), "plotly", fig,
                                                N_("Deep colour: probability near 0 or 1."),
                                                loss=CLS_TITLES[n])
    return figs
