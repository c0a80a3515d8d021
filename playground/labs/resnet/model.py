"""The ResNet's torch part: the images, the blocks, a step that records gradients, the pictures."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, load_images
from playground.data.images import digits_size, image_shape
from playground.i18n import N_
from playground.labs._shared import evaluate_classifier, make_optimizer, predict
from playground.labs.resnet import Config
from playground.ui import charts

GRAD_EVERY = 5            # steps between gradient-norm snapshots for the heatmap


def input_shape(cfg: Config) -> tuple[int, int, int]:
    return image_shape(cfg.dataset, cfg.image_size)


def load_data(cfg: Config) -> Data:
    return load_images(cfg.dataset, seed=cfg.seed, size=digits_size(cfg.dataset, cfg.image_size))


# ---------------------------------------------------------------------------------------------
# Model

class Block(nn.Module):
    def __init__(self, width: int, residual: bool, batch_norm: bool):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(width)) if batch_norm else nn.Identity
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn1 = norm()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm()
        self.residual = residual

    def forward(self, x):                                     # (B, C, H, W) -> same
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(x + out if self.residual else out)


class ResNet(nn.Module):
    def __init__(self, cfg: Config, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.stem = nn.Conv2d(shape[0], cfg.width, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(cfg.width, cfg.residual, cfg.batch_norm)
                                      for _ in range(cfg.depth)])
        self.head = nn.Linear(cfg.width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # NOTE: He init keeps activations' scale through ReLUs; the plain net still
                # loses its gradient with depth, which is the point of this lab.
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if cfg.residual and not cfg.batch_norm:
            # NOTE: without batch norm each x + F(x) adds variance, and 30 blocks would blow
            # the activations up. Fixup (Zhang et al. 2019): scale each branch's first conv by
            # depth^-1/2 and start its last conv at zero, so every block starts as the
            # identity; the skip path itself is unchanged.
            for b in self.blocks:
                b.conv1.weight.data.mul_(cfg.depth ** -0.5)
                nn.init.zeros_(b.conv2.weight)
                nn.init.zeros_(b.conv2.bias)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))                 # (B, C, H, W)
        return self.head(x.mean(dim=(2, 3)))                  # global average pool -> (B, K)

    def layer_weights(self) -> list[torch.Tensor]:
        """Conv weights from input to output: the rows of the gradient heatmap."""
        return [self.stem.weight] + [w for b in self.blocks for w in (b.conv1.weight,
                                                                      b.conv2.weight)]


def blueprint(cfg: Config):
    shape = input_shape(cfg)
    return ResNet(cfg, shape, 10), shape


@dataclass
class State:
    cfg: Config
    model: ResNet
    opt: torch.optim.Optimizer
    weights: list
    step: int = 0
    grad_norms: list = None               # (depth,) tensors every GRAD_EVERY steps, on device
    grad_steps: list = None


def build(cfg: Config, data: Data) -> State:
    model = ResNet(cfg, data.input_shape, data.num_classes).to(data.train[0].device)
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                 model.layer_weights(), grad_norms=[], grad_steps=[])


# ---------------------------------------------------------------------------------------------
# Training

def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch                                              # (B, C, H, W), (B,)
    logits = s.model(x)
    loss = F.cross_entropy(logits, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    first = s.weights[0].grad.norm()
    if s.step % GRAD_EVERY == 0:                              # stays on the device: no sync
        s.grad_norms.append(torch.stack(torch._foreach_norm([w.grad for w in s.weights])))
        s.grad_steps.append(s.step)
    s.opt.step()
    s.step += 1
    return {"train/loss": loss.detach(), "train/acc": (logits.argmax(1) == y).float().mean(),
            "train/grad_first_layer": first}


def evaluate(s: State, data: Data) -> dict[str, float]:
    return evaluate_classifier(s.model, data, chunk=512)


# ---------------------------------------------------------------------------------------------
# What the page shows

def _gradient_heatmap(s: State) -> dict | None:
    if not s.grad_norms:
        return None
    keep = np.linspace(0, len(s.grad_norms) - 1, min(len(s.grad_norms), 300)).astype(int)
    norms = torch.stack([s.grad_norms[i] for i in keep]).float().cpu().numpy()   # (T, L)
    z = np.log10(np.maximum(norms.T, 1e-12))                                      # (L, T)
    names = ["stem"] + [f"block {i // 2 + 1}.conv{i % 2 + 1}" for i in range(norms.shape[1] - 1)]
    fig = {"data": [{"type": "heatmap", "z": np.round(z, 3).tolist(),
                     "x": [s.grad_steps[i] for i in keep], "y": names, "colorscale": "Viridis",
                     "colorbar": {"title": {"text": "log10 |grad|"}},
                     "hovertemplate": "step %{x}, %{y}: 10^%{z:.2f}<extra></extra>"}],
           "layout": {"margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "height": 420,
                      "template": "plotly_white", "xaxis": {"title": {"text": N_("step")}},
                      "yaxis": {"title": {"text": N_("layer (input at the top)")},
                                "autorange": "reversed"}}}
    return charts.artifact(N_("Gradient norm of every layer over training"), "plotly", fig,
                           N_("Each row is a conv layer, input at the top; dark = a tiny "
                              "gradient. In a deep plain net the top rows go dark: those layers "
                              "stop learning."))


def _depth_profile(s: State) -> dict | None:
    if not s.grad_norms:
        return None
    last = s.grad_norms[-1].float().cpu().numpy()
    fig = {"data": [{"type": "bar", "x": list(range(len(last))), "y": last.tolist(),
                     "marker": {"color": charts.BLUE}}],
           "layout": {"margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "height": 300,
                      "template": "plotly_white", "yaxis": {"type": "log",
                                                            "title": {"text": "|grad|"}},
                      "xaxis": {"title": {"text": N_("layer (0 = input)")}}}}
    return charts.artifact(N_("Gradient norm by depth, latest step"), "plotly", fig)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    out = {k: v for k, v in (("gradients", _gradient_heatmap(s)), ("profile", _depth_profile(s)))
           if v is not None}
    pred = predict(s.model, data.test[0], chunk=512).argmax(1)
    views = charts.classification_views(pred, data)
    out["confusion"] = views["confusion"]
    return out
