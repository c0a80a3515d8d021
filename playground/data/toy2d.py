"""Generated 2-D classification sets, the TensorFlow Playground classics. Every set lies in about
[-1, 1]^2 with two classes; `noise` is the standard deviation of the jitter, in those units."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from playground.data.base import Data, split

DATASETS_2D = ("spiral", "moons", "circles", "xor", "gaussians")
# TensorFlow Playground's two regression sets: a value to predict at each point, not a class
REGRESSION_2D = ("plane", "multi_gaussian")
BUMPS = ((-0.6, 0.6, 1.0), (0.6, 0.6, -1.0), (-0.6, -0.6, -1.0), (0.6, -0.6, 1.0),
         (0.0, 0.0, 0.7))                            # (x1, x2, height) of multi_gaussian's bumps


def _spiral(n, noise, rng):
    # Two interleaved arms, 1.5 turns each: needs depth and a non-linear activation.
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n))
    angle = t * 3.0 * np.pi + y * np.pi
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], 1)
    return x + rng.normal(0, noise, x.shape), y


def _xor(n, noise, rng):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05                       # a small margin keeps the quadrants learnable
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + rng.normal(0, noise, x.shape), y


def _gaussians(n, noise, rng):
    y = np.arange(n) % 2
    centers = np.where(y[:, None] == 1, 0.5, -0.5) * np.ones((1, 2))
    return centers + rng.normal(0, 0.25 + noise, (n, 2)), y


@lru_cache(maxsize=32)
def _points(name: str, n: int, noise: float, seed: int):
    from sklearn import datasets as skd     # only where points are made: the server needs none

    rng = np.random.default_rng(seed)
    if name == "spiral":
        x, y = _spiral(n, noise, rng)
    elif name == "moons":
        x, y = skd.make_moons(n, noise=noise, random_state=seed)
        x = (x - [0.5, 0.25]) / 1.25
    elif name == "circles":
        x, y = skd.make_circles(n, noise=noise, factor=0.5, random_state=seed)
    elif name == "xor":
        x, y = _xor(n, noise, rng)
    elif name == "gaussians":
        x, y = _gaussians(n, noise, rng)
    else:
        raise ValueError(f"unknown 2-D dataset {name!r}; pick one of {', '.join(DATASETS_2D)}")
    return x.astype(np.float32), y.astype(np.int64)


def make_2d(name: str, n: int = 1000, noise: float = 0.1, train_ratio: float = 0.5,
            seed: int = 0) -> Data:
    x, y = _points(name, int(n), float(noise), int(seed))
    xtr, ytr, xte, yte = split(x, y, train_ratio, seed)
    return Data(train=(xtr, ytr), test=(xte, yte), num_classes=2, input_shape=(2,),
                classes=("blue", "orange"), kind="2d", name=name)


def regression_value(name: str, x: np.ndarray) -> np.ndarray:
    """The noiseless target at points x (N, 2): plane = a tilted plane, multi_gaussian = a sum
    of Gaussian bumps of either sign, both within about [-1, 1]."""
    if name == "plane":
        return 0.6 * x[:, 0] + 0.4 * x[:, 1]
    if name == "multi_gaussian":
        return sum(h * np.exp(-((x[:, 0] - a) ** 2 + (x[:, 1] - b) ** 2) / (2 * 0.3 ** 2))
                   for a, b, h in BUMPS)
    raise ValueError(f"unknown regression set {name!r}; pick one of {', '.join(REGRESSION_2D)}")


def make_regression_2d(name: str, n: int = 1000, noise: float = 0.1, train_ratio: float = 0.5,
                       seed: int = 0) -> Data:
    """Points uniform on [-1, 1]^2 and their value plus Gaussian noise of std `noise`."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (int(n), 2))
    y = regression_value(name, x) + rng.normal(0, noise, len(x))
    xtr, ytr, xte, yte = split(x.astype(np.float32), y.astype(np.float32), train_ratio, seed)
    return Data(train=(xtr, ytr), test=(xte, yte), num_classes=1, input_shape=(2,),
                classes=(), kind="2d", name=name, extra={"regression": True})
