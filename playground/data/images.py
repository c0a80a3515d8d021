"""Image classification sets as (N, C, H, W) float tensors, normalised per channel.

`digits` (scikit-learn's 1,797 8x8 handwritten digits) is embedded and always works. MNIST,
Fashion-MNIST and CIFAR-10 come through torchvision's own loaders into $PLAYGROUND_DATA_DIR,
downloaded on first use when the machine is online; the raw arrays are converted in one go
(no per-sample transform)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                       # torch is imported where data is made, not here
    import torch

from playground.data.base import Data, DataUnavailable, split

DOWNLOADABLE = ("mnist", "fashion_mnist", "cifar10")
IMAGE_DATASETS = ("digits",) + DOWNLOADABLE

_FASHION = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
            "Boot")
_CIFAR = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def image_shape(name: str, digits_side: int = 8) -> tuple[int, int, int]:
    """(C, H, W) of a set without loading it; digits are upscaled to `digits_side`."""
    return {"digits": (1, digits_side, digits_side), "mnist": (1, 28, 28),
            "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}[name]


def digits_size(name: str, side: int) -> int | None:
    """The resize a lab asks for: only the 8x8 digits are upscaled."""
    return side if name == "digits" else None


def data_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_DATA_DIR") or Path.home() / ".neural_playground" / "data")


def _torchvision(name: str, root: Path, train: bool, download: bool):
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
           "cifar10": datasets.CIFAR10}[name]
    try:
        return cls(root=str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DataUnavailable(f"{name} is not in {root}; allow downloads or pick the embedded "
                                  "'digits' set", fix={"dataset": "digits"}) from None
    try:
        return cls(root=str(root), train=train, download=True)
    except Exception as e:  # urllib, socket and checksum errors all mean the same to a user
        raise DataUnavailable(
            f"{name} could not be downloaded into {root} ({type(e).__name__}: {e}). The machine "
            "may be offline: pick the embedded 'digits' set, or copy the dataset into "
            "$PLAYGROUND_DATA_DIR.", fix={"dataset": "digits"}) from None


def _as_images(array) -> torch.Tensor:
    import torch

    x = torch.as_tensor(np.asarray(array))
    if x.ndim == 3:                                  # (N, H, W) grey
        x = x.unsqueeze(1)
    else:                                            # (N, H, W, C) colour
        x = x.permute(0, 3, 1, 2)
    return x.contiguous().float().div_(255.0)        # (N, C, H, W) in [0, 1]


@lru_cache(maxsize=8)
def _download_set(name: str, root: str, download: bool):
    import torch

    tr = _torchvision(name, Path(root), True, download)
    te = _torchvision(name, Path(root), False, download)
    return (_as_images(tr.data), torch.as_tensor(np.asarray(tr.targets), dtype=torch.long),
            _as_images(te.data), torch.as_tensor(np.asarray(te.targets), dtype=torch.long))


@lru_cache(maxsize=8)
def _digits(train_ratio: float, seed: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]      # (N, 1, 8, 8) in [0, 1]
    return split(x, d.target, train_ratio, seed)


def load_images(name: str, *, train_ratio: float = 0.8, seed: int = 0, size: int | None = None,
                download: bool = True, max_train: int | None = None) -> Data:
    """Load an image set. `train_ratio`/`seed` apply to digits (it has no official split);
    `size` resizes (digits are 8x8; a CNN wants 16-32 px); `max_train` keeps a prefix.
    Cached: a second Train on the same data starts without re-normalising it."""
    return _load_images(name, float(train_ratio) if name == "digits" else 0.0,
                        int(seed) if name == "digits" else 0, size, download, max_train,
                        str(data_dir()))


@lru_cache(maxsize=8)
def _load_images(name, train_ratio, seed, size, download, max_train, _root) -> Data:
    import torch

    if name == "digits":
        xtr, ytr, xte, yte = _digits(float(train_ratio), int(seed))
        classes = tuple(str(i) for i in range(10))
    elif name in DOWNLOADABLE:
        xtr, ytr, xte, yte = _download_set(name, str(data_dir()), download)
        classes = {"fashion_mnist": _FASHION, "cifar10": _CIFAR}.get(name,
                                                                     tuple(map(str, range(10))))
    else:
        raise ValueError(f"unknown image dataset {name!r}; pick one of {', '.join(IMAGE_DATASETS)}")
    if max_train is not None:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
    if size is not None and size != xtr.shape[-1]:
        resize = lambda t: torch.nn.functional.interpolate(  # noqa: E731
            t, size=(size, size), mode="bilinear", align_corners=False)
        xtr, xte = resize(xtr), resize(xte)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    norm = lambda t: (t - mean) / std  # noqa: E731
    return Data(train=(norm(xtr), ytr), test=(norm(xte), yte), num_classes=len(classes),
                input_shape=tuple(xtr.shape[1:]), classes=classes, kind="image", name=name,
                extra={"mean": mean, "std": std})


def load_pm1(name: str, size: int | None = None, seed: int = 0) -> Data:
    """An image set with its pixels in [-1, 1] (the generative labs' range: a tanh output, or
    the scale of the noise a diffusion model adds)."""
    from dataclasses import replace

    data = load_images(name, size=size, seed=seed)
    mean, std = data.extra["mean"], data.extra["std"]

    def to_pm1(t):
        return (t * std + mean).clamp(0, 1) * 2 - 1

    return replace(data, train=(to_pm1(data.train[0]), data.train[1]),
                   test=(to_pm1(data.test[0]), data.test[1]))
