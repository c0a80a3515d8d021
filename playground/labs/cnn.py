"""Convolutional network. A convolution slides a small learned filter over the image,
y[c, i, j] = sum over (c', u, v) of W[c, c', u, v] * x[c', i+u, j+v] + b[c]: the same few weights
are reused at every position, so a conv layer sees local patterns (edges, strokes, textures)
wherever they are, with far fewer parameters than a dense layer. Pooling halves the resolution so
later layers see larger regions; a small dense head turns the last feature maps into class scores
(LeCun et al., 1998: LeNet-5; Krizhevsky et al., 2012: AlexNet; Simonyan & Zisserman, 2014: VGG).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, load_images
from playground.data.images import digits_size, image_shape
from playground.engine.device import DEVICE_CHOICES
from playground.labs._shared import (ACTIVATIONS, OPTIMIZERS, evaluate_classifier,
                                     make_optimizer, predict)
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "CNN", "🖼️", "Vision"
TRY_THIS = ("Set pooling to none and watch the parameter count and the time per epoch grow "
            "(the dense head now sees every pixel). Then train Fashion-MNIST with and without "
            "augmentation: watch the gap between train and test accuracy.")

STAGE = ("dataset", "pooling", "augment", "epochs")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
ACCEPTS_IMAGES = True     # the page offers "try your own image" for a finished run
AUGMENT = ("none", "shift", "shift+rotate", "shift+flip")


@dataclass(frozen=True)
class Config:
    dataset: str = param("digits", choices=DATASETS, group="Data",
                         help="digits is embedded (8x8, upscaled); MNIST, Fashion-MNIST (28x28) "
                              "and CIFAR-10 (32x32 colour) download on first use.")
    image_size: int = param(16, lo=8, hi=32, group="Data",
                            help="Side of the digits images after upscaling (the others keep "
                                 "their size).")
    augment: str = param("none", choices=AUGMENT, group="Data",
                         help="Random changes to each training batch, on the device: shifts of up "
                              "to 2 px, rotations up to 15 degrees, horizontal flips.")
    channels: tuple[int, ...] = param((16, 32), lo=1, hi=512, min_len=1, max_len=8,
                                      group="Network",
                                      help="Filters per conv block, e.g. 16,32: one block each.")
    kernel_size: int = param(3, lo=1, hi=11, group="Network", help="Side of each filter.")
    stride: int = param(1, lo=1, hi=4, group="Network", help="Step of the filter.")
    padding: str = param("same", choices=("same", "valid"), group="Network",
                         help="same: pad so a stride-1 conv keeps the size; valid: no padding.")
    pooling: str = param("max", choices=("max", "avg", "none"), group="Network",
                         help="2x2 pooling after every `pool every` blocks.")
    pool_every: int = param(1, lo=1, hi=8, group="Network",
                            help="Pool after every n-th block (VGG pools every 2).")
    batch_norm: bool = param(False, group="Network", help="Normalise each conv's outputs.")
    activation: str = param("relu", choices=tuple(k for k in ACTIVATIONS if k != "linear"),
                            group="Network", help="The non-linearity after every conv and dense layer.")
    fc_size: int = param(64, lo=0, hi=4096, group="Network", label="Dense layer size",
                         help="Neurons of the hidden dense layer (0 = none).")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="Dropout before the last layer.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training", help="momentum = SGD, 0.9.")
    lr: float = param(0.003, lo=1e-6, hi=10.0, log=True, group="Training", label="Learning rate",
                      help="Step size of the optimizer.")
    batch_size: int = param(64, lo=1, hi=4096, group="Training", help="Images per step.")
    epochs: int = param(15, lo=1, hi=200, group="Training", help="Passes over the training set.")
    inspect_index: int = param(0, lo=0, hi=1999, group="Training",
                               help="Which test image the feature maps show.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training", help="Same seed, same run.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Tutorial CNN (2 conv + 2 fc)": {"channels": (32, 64), "fc_size": 128, "dataset": "mnist",
                                     "epochs": 2, "lr": 0.001},
    "LeNet-5": {"channels": (6, 16), "kernel_size": 5, "pooling": "avg", "fc_size": 120,
                "activation": "tanh", "dataset": "mnist", "epochs": 3, "lr": 0.002},
    "AlexNet-style (small)": {"channels": (32, 64, 128, 128), "pool_every": 1, "fc_size": 256,
                              "dropout": 0.5, "batch_norm": True, "dataset": "cifar10",
                              "epochs": 10, "lr": 0.001, "augment": "shift+flip"},
    "VGG-style (small)": {"channels": (32, 32, 64, 64, 128, 128), "pool_every": 2,
                          "fc_size": 256, "batch_norm": True, "dataset": "cifar10", "epochs": 10,
                          "lr": 0.001, "augment": "shift+flip"},
    "No pooling": {"pooling": "none"},
    "Fashion-MNIST + augmentation": {"dataset": "fashion_mnist", "augment": "shift",
                                     "epochs": 5, "lr": 0.001},
}


def input_shape(cfg: Config) -> tuple[int, int, int]:
    return image_shape(cfg.dataset, cfg.image_size)


def _sizes(cfg: Config) -> list[int]:
    """Feature-map side after each block (conv, then pooling when due)."""
    side, out = input_shape(cfg)[1], []
    pad = cfg.kernel_size // 2 if cfg.padding == "same" else 0
    for i in range(len(cfg.channels)):
        side = (side + 2 * pad - cfg.kernel_size) // cfg.stride + 1
        if cfg.pooling != "none" and (i + 1) % cfg.pool_every == 0:
            side //= 2
        out.append(side)
    return out


def check(cfg: Config) -> list[str]:
    for i, side in enumerate(_sizes(cfg), 1):
        if side < 1:
            h = input_shape(cfg)[1]
            return [f"Block {i} shrinks the {h}x{h} image to nothing: use padding 'same', a "
                    "smaller kernel or stride, fewer blocks or less pooling"
                    + (", or a larger image size" if cfg.dataset == "digits" else "") + "."]
    return []


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
    return charts.artifact("First-layer filters", "image", charts.png(sheet),
                           "Each learned filter of the first conv layer (blue negative, orange "
                           "positive weights): edge and stroke detectors appear as training goes.")


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
    return charts.artifact(f"Feature maps of test image {i} (predicted {label}, true {truth})",
                           "image", charts.png(sheet),
                           "Top: the image. Then one row per conv block (first 8 channels, "
                           "bright = strong response); later blocks are coarser and more abstract.")


def artifacts(s: State, data: Data) -> dict[str, dict]:
    pred = predict(s.model, data.test[0], chunk=1024).argmax(1)
    return {"filters": _filters(s), "maps": _feature_maps(s, data),
            **charts.classification_views(pred, data)}


DEMOS = {"default": {"picture": "predictions"}}
