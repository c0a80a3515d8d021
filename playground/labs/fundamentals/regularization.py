"""Fundamentals' regularization in torch: a network that memorises wrong labels; what helps."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.i18n import N_
from playground.labs.fundamentals import CHECK_EVERY, Config
from playground.labs.fundamentals.common import HISTORY_POINTS, State, _plot, _record
from playground.ui import charts

REG_WIDTH, REG_LR = 256, 1e-3   # regularization's network: 64 pixels, 2 x 256 ReLU, 10 digits
REG_VALID = 200                 # held-out examples early stopping watches (labels as noisy)


def noisy_digits(cfg: Config) -> Data:
    """scikit-learn's 1,797 digits: `train_size` to train on, REG_VALID to validate, the rest to
    test. A `label_noise` share of the training and validation labels is replaced by another
    digit (validation too: in practice the labels one can check against are as noisy). `train`
    carries the true labels as a third tensor, to count what was learned by heart."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]     # (N, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(y), generator=g)
    x, y = x[order], y[order]
    seen = cfg.train_size + REG_VALID
    wrong = (torch.rand(seen, generator=g) < cfg.label_noise)
    shift = torch.randint(1, 10, (seen,), generator=g)                  # never the true digit
    noisy = torch.where(wrong, (y[:seen] + shift) % 10, y[:seen])
    tr = slice(0, cfg.train_size)
    return Data(train=(x[tr], noisy[tr], y[tr]), test=(x[seen:], y[seen:]), num_classes=10,
                input_shape=(1, 8, 8), classes=tuple(str(i) for i in range(10)), kind="image",
                name="digits with wrong labels",
                extra={"valid": (x[cfg.train_size:seen], noisy[cfg.train_size:seen])})


# ---------------------------------------------------------------------------------------------
# The network that overfits, and the shifted copies of its images

class RegNet(nn.Module):
    """The network that overfits: 64 pixels, two hidden layers of REG_WIDTH ReLUs (with batch
    norm and dropout where asked), 10 digits."""

    def __init__(self, cfg: Config):
        super().__init__()
        layers, width = [nn.Flatten()], 64
        for _ in range(2):
            layers.append(nn.Linear(width, REG_WIDTH))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(REG_WIDTH))
            layers.append(nn.ReLU())
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = REG_WIDTH
        layers.append(nn.Linear(width, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def weights(self) -> list[torch.Tensor]:
        """The weight matrices, which L1 and L2 act on (biases and batch norm's scales are
        left alone, as usual)."""
        return [m.weight for m in self.net if isinstance(m, nn.Linear)]


def shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Every image moved by -1, 0 or 1 pixel in each direction (its own shift), zeros coming in
    at the edge: the nine shifted copies are cut from one padded batch."""
    n, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    copies = torch.stack([padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3)
                          for dx in range(3)])                          # (9, n, 1, h, w)
    pick = torch.randint(0, 9, (n,), device=x.device, generator=gen)
    return copies[pick, torch.arange(n, device=x.device)]


def _build_regularization(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = RegNet(cfg).to(device)
    valid = tuple(t.to(device) for t in data.extra["valid"])
    s = State(cfg, model, {"adam": torch.optim.Adam(model.parameters(), lr=REG_LR)},
              gen=torch.Generator(device=device).manual_seed(cfg.seed), history=[],
              history_steps=[], record_every=max(1, cfg.steps // HISTORY_POINTS),
              valid=valid, sets=(data.train[:2], valid, data.test))
    _record(s)
    s.at_init = torch.cat([w.detach().flatten() for w in model.weights()]).cpu()
    return s


def penalty(s: State) -> torch.Tensor:
    cfg, ws = s.cfg, s.model.weights()
    out = torch.zeros((), device=ws[0].device)
    if cfg.l2 > 0:
        out = out + cfg.l2 * sum((w ** 2).sum() for w in ws)
    if cfg.l1 > 0:
        out = out + cfg.l1 * sum(w.abs().sum() for w in ws)
    return out


def _regularized_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch[0], batch[1]
    if s.ended:                     # stopped early: the best weights stay as they are
        return s.last_out
    if s.cfg.augment:
        x = shifted(x, s.gen)
    logits = s.model(x)
    loss = F.cross_entropy(logits, y)
    extra = penalty(s)
    opt = s.opts["adam"]
    opt.zero_grad(set_to_none=True)
    (loss + extra).backward()
    opt.step()
    s.step += 1
    s.last_out = {"train/loss": loss.detach(), "train/penalty": extra.detach(),
                  "train/acc": (logits.argmax(1) == y).float().mean()}
    if s.step % s.record_every == 0:
        _record(s)
    if s.cfg.early_stopping and s.step % CHECK_EVERY == 0:
        _check_validation(s)
    return s.last_out


def _check_validation(s: State) -> None:
    """Early stopping decides on the host, once every CHECK_EVERY steps: one sync there."""
    s.model.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(s.model(s.valid[0]), s.valid[1]))
    s.model.train()
    if s.best is None or loss < s.best[0]:
        weights = {k: v.detach().clone() for k, v in s.model.state_dict().items()}
        s.best, s.waited = (loss, s.step, weights), 0
        return
    s.waited += 1
    if s.waited >= s.cfg.early_stopping:
        s.model.load_state_dict(s.best[2])
        s.model.eval()
        with torch.no_grad():           # the run's last training metrics: the kept weights'
            logits = s.model(s.sets[0][0])
            s.last_out = {"train/loss": F.cross_entropy(logits, s.sets[0][1]),
                          "train/penalty": penalty(s),
                          "train/acc": (logits.argmax(1) == s.sets[0][1]).float().mean()}
        s.model.train()
        s.ended = (f"Stopped early at step {s.step}: the validation loss had not improved for "
                   f"{s.waited} checks; the weights are the best ones, from step {s.best[1]} "
                   f"(validation loss {s.best[0]:.3f}).")


def _regularization_metrics(s: State, data: Data) -> dict[str, float]:
    s.model.eval()
    x, noisy, true = data.train
    seen = s.model(x)
    test = s.model(data.test[0])
    valid = s.model(s.valid[0])
    s.model.train()
    wrong = noisy != true
    said = seen.argmax(1)
    out = {"val/loss": float(F.cross_entropy(test, data.test[1])),
           "val/acc": float((test.argmax(1) == data.test[1]).float().mean()),
           "val/train_loss": float(F.cross_entropy(seen, noisy)),
           "val/train_acc": float((said == noisy).float().mean()),
           # of the training examples whose label is wrong, the share it repeats: by heart
           "val/memorised": float((said[wrong] == noisy[wrong]).float().mean())
           if bool(wrong.any()) else 0.0,
           "val/valid_loss": float(F.cross_entropy(valid, s.valid[1]))}
    out["val/penalty"] = float(penalty(s))
    return out


# ---------------------------------------------------------------------------------------------
# What the page shows

def _regularization_views(s: State, data: Data) -> dict:
    cfg, figs = s.cfg, {}
    h = np.concatenate([np.asarray(s.history_steps, dtype=float)[:, None],
                        torch.stack(s.history).cpu().numpy()], 1)   # step, then 3 x (loss, acc)
    mark = []
    if s.best is not None and cfg.early_stopping:
        mark = [{"type": "line", "x0": s.best[1], "x1": s.best[1], "yref": "paper", "y0": 0,
                 "y1": 1, "line": {"dash": "dash", "color": "#2ca02c"}}]
    figs["loss_curves"] = charts.artifact(N_("Train, validation and test loss"), "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": name, "x": h[:, 0].tolist(),
          "y": h[:, k].round(4).tolist(), "line": {"color": color}}
         for name, k, color in ((N_("train (its labels)"), 1, "#1f77b4"),
                                (N_("validation"), 3, "#2ca02c"), (N_("test"), 5, "#d62728"))],
        360, N_("step"), N_("cross-entropy"), layout={"shapes": mark}),
        N_("The training loss falls as the network learns the wrong labels too; the test loss "
           "then climbs. Dashed: the best validation loss (step {best}), the weights early "
           "stopping keeps.") if mark else
        N_("The training loss falls as the network learns the wrong labels too; the test loss "
           "then climbs."), best=s.best[1] if mark else 0)
    clean = 1 - float((data.train[1] != data.train[2]).float().mean())
    figs["acc_curves"] = charts.artifact(N_("Train and test accuracy"), "plotly", _plot(
        [{"type": "scatter", "mode": "lines", "name": name, "x": h[:, 0].tolist(),
          "y": h[:, k].round(4).tolist(), "line": {"color": color}}
         for name, k, color in ((N_("train (its labels)"), 2, "#1f77b4"),
                                (N_("validation"), 4, "#2ca02c"), (N_("test"), 6, "#d62728"))]
        + [{"type": "scatter", "mode": "lines", "name": N_("right labels in the training set"),
            "x": [0, max(s.step, 1)], "y": [clean, clean],
            "line": {"dash": "dot", "color": "#000000"}}],
        360, N_("step"), N_("accuracy"), yaxis={"tickformat": ".0%", "range": [0, 1.02]}),
        N_("{wrong:.0%} of the training labels are wrong: above the dotted line the network "
           "repeats wrong labels it has learned by heart."), wrong=1 - clean)
    now = torch.cat([w.detach().flatten() for w in s.model.weights()]).float().cpu()
    edge = float(max(s.at_init.abs().max(), now.abs().max(), 1e-6))
    bins = np.linspace(-edge, edge, 81)
    centres = ((bins[:-1] + bins[1:]) / 2).round(5).tolist()
    traces = []
    for name, w, color in ((N_("at initialisation"), s.at_init, "#7f7f7f"),
                           (N_("now"), now, "#1f77b4")):
        counts, _ = np.histogram(w.numpy(), bins=bins)
        traces.append({"type": "bar", "name": name, "x": centres, "y": counts.tolist(),
                       "marker": {"color": color}, "opacity": 0.6})
    tiny = [float((w.abs() < 1e-3).float().mean()) for w in (s.at_init, now)]
    figs["weights"] = charts.artifact(N_("The weights' histogram"), "plotly", _plot(
        traces, 360, N_("weight"), N_("count (log)"), yaxis={"type": "log"},
        layout={"barmode": "overlay", "bargap": 0}),
        N_("{weights:,} weights; near 0 (|w| < 0.001): {tiny_init:.1%} at initialisation, "
           "{tiny_now:.1%} now. Sum of squares {squares_now:.1f} (at initialisation "
           "{squares_init:.1f})."), weights=len(now), tiny_init=tiny[0], tiny_now=tiny[1],
        squares_now=float((now ** 2).sum()), squares_init=float((s.at_init ** 2).sum()))
    return figs
