"""The CNN's torch part: its images as tensors, the network, augmentation, a step, the pictures."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, load_images
from playground.data.images import digits_size
from playground.i18n import N_
from playground.labs._shared import ACTIVATIONS, evaluate_classifier, make_optimizer, predict
from playground.labs.cnn import Config, _sizes, input_shape
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# Data and model

def load_data(cfg: Config) -> Data:
    return load_images(cfg.dataset, seed=cfg.seed, size=digits_size(cfg.dataset, cfg.image_size))


class CNN(nn.Module):
    def __init__(self, cfg: Config, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        act = ACTIVATIONS[cfg.activation]
        pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}.get(cfg.pooling)
        pad = cfg.kernel_size // 2 if cfg.padding == "same" else 0
        c = shape[0]
        self.blocks = nn.ModuleList()
        for i, ch in enumerate(cfg.channels):
            layers = [nn.Conv2d(c, ch, cfg.kernel_size, cfg.stride, pad, bias=not cfg.batch_norm)]
            if cfg.batch_norm:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(act())
            if pool is not None and (i + 1) % cfg.pool_every == 0:
                layers.append(pool(2))
            self.blocks.append(nn.Sequential(*layers))
            c = ch
        side = _sizes(cfg)[-1]
        flat = c * side * side
        head = [nn.Flatten()]
        if cfg.fc_size:
            head += [nn.Linear(flat, cfg.fc_size), act()]
            flat = cfg.fc_size
        if cfg.dropout:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(flat, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x, keep_maps: bool = False):
        maps = []
        for block in self.blocks:
            x = block(x)                                     # (B, C_i, H_i, W_i)
            maps.append(x)
        logits = self.head(x)                                # (B, K)
        return (logits, maps) if keep_maps else logits


def blueprint(cfg: Config):
    shape = input_shape(cfg)
    return CNN(cfg, shape, 10), shape


@dataclass
class State:
    cfg: Config
    model: CNN
    opt: torch.optim.Optimizer


def build(cfg: Config, data: Data) -> State:
    model = CNN(cfg, data.input_shape, data.num_classes).to(data.train[0].device)
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr))


# ---------------------------------------------------------------------------------------------
# Training

def augment(x: torch.Tensor, how: str) -> torch.Tensor:
    """One batched affine warp on the device: shifts (+-2 px), rotations (+-15 deg), flips."""
    if how == "none":
        return x
    b, _, h, _ = x.shape
    shift = (torch.rand(b, 2, device=x.device) * 2 - 1) * (4.0 / h)      # 2 px in [-1, 1] units
    angle = ((torch.rand(b, device=x.device) * 2 - 1) * math.radians(15) if "rotate" in how
             else torch.zeros(b, device=x.device))
    flip = (torch.where(torch.rand(b, device=x.device) < 0.5, -1.0, 1.0) if "flip" in how
            else torch.ones(b, device=x.device))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)   # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    return out.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
        memory_format=torch.channels_last) and x.shape[1] > 1 else out


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch                                             # (B, C, H, W), (B,)
    logits = s.model(augment(x, s.cfg.augment))              # (B, K)
    loss = F.cross_entropy(logits, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    return {"train/loss": loss.detach(), "train/acc": (logits.argmax(1) == y).float().mean()}


def evaluate(s: State, data: Data) -> dict[str, float]:
    return evaluate_classifier(s.model, data, chunk=1024)


# ---------------------------------------------------------------------------------------------
# What the page shows

MAPS_PER_BLOCK = 8
TILE = 32


def _filters(s: State) -> dict:
    w = s.model.blocks[0][0].weight.detach().float().cpu()   # (C_out, C_in, k, k)
    w = w[:32]
    if w.shape[1] == 3:                                      # colour filters as colours
        lo = w.amin(dim=(1, 2, 3), keepdim=True)
        hi = w.amax(dim=(1, 2, 3), keepdim=True)
        tiles = ((w - lo) / (hi - lo).clamp_min(1e-8)).permute(0, 2, 3, 1).numpy()
        tiles = [(t * 255).astype(np.uint8) for t in tiles]
    else:
        scale = w[:, 0].abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-8)
        tiles = [charts.diverging_rgb(t) for t in (w[:, 0] / scale).numpy()]
    per_row = 8
    rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
    sheet = charts.tile_rows(rows, scale=max(2, 48 // w.shape[-1]))
    return charts.artifact(N_("First-layer filters"), "image", charts.png(sheet),
                           N_("Each learned filter of the first conv layer (blue negative, orange "
                              "positive weights): edge and stroke detectors appear as training "
                              "goes."))


def _feature_maps(s: State, data: Data) -> dict:
    x = data.test[0]
    i = min(s.cfg.inspect_index, len(x) - 1)
    s.model.eval()
    logits, maps = s.model(x[i:i + 1], keep_maps=True)
    s.model.train()
    image = (x[i:i + 1].float().cpu() * data.extra["std"] + data.extra["mean"]).clamp(0, 1)
    image = F.interpolate(image, size=(TILE, TILE), mode="nearest")[0].permute(1, 2, 0).numpy()
    rows = [[(np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image) * 255]]
    rows[0] = [r.astype(np.uint8) for r in rows[0]]
    for m in maps:
        m = m[0, :MAPS_PER_BLOCK].float()                   # (n, H, W)
        m = F.interpolate(m[None], size=(TILE, TILE), mode="nearest")[0]
        m = (m - m.amin(dim=(1, 2), keepdim=True)) / (
            m.amax(dim=(1, 2), keepdim=True) - m.amin(dim=(1, 2), keepdim=True)).clamp_min(1e-8)
        rows.append([np.repeat((t[..., None] * 255).astype(np.uint8), 3, axis=2)
                     for t in m.cpu().numpy()])
    label = data.classes[int(logits.argmax(1))]
    truth = data.classes[int(data.test[1][i])]
    sheet = charts.tile_rows(rows, scale=2)
    return charts.artifact(N_("Feature maps of test image {i} (predicted {label}, true {truth})"),
                           "image", charts.png(sheet),
                           N_("Top: the image. Then one row per conv block (first 8 channels, "
                              "bright = strong response); later blocks are coarser and more "
                              "abstract."), i=i, label=label, truth=truth)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    pred = predict(s.model, data.test[0], chunk=1024).argmax(1)
    return {"filters": _filters(s), "maps": _feature_maps(s, data),
            **charts.classification_views(pred, data)}

