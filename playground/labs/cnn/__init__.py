"""The CNN lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/cnn.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from playground.data.images import image_shape
from playground.engine.device import DEVICE_CHOICES
from playground.labs import torch_part
from playground.labs._common import ACTIVATION_NAMES, OPTIMIZERS
from playground.params import param

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
    activation: str = param("relu", choices=tuple(k for k in ACTIVATION_NAMES if k != "linear"),
                            group="Network",
                            help="The non-linearity after every conv and dense layer.")
    fc_size: int = param(64, lo=0, hi=4096, group="Network", label="Dense layer size",
                         help="Neurons of the hidden dense layer (0 = none).")
    dropout: float = param(0.0, lo=0.0, hi=0.9, group="Network",
                           help="Dropout before the last layer.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD, 0.9.")
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


DEMOS = {"default": {"picture": "predictions"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
