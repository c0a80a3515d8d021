from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                       # torch is imported where data is made, not here
    import torch


class DataUnavailable(RuntimeError):
    """A dataset that cannot be loaded here (offline, missing files); the message says what to do
    and `fix` holds the settings that would work instead (the page offers them as a button)."""

    def __init__(self, message: str, fix: dict | None = None):
        super().__init__(message)
        self.fix = fix or {}


@dataclass(frozen=True)
class Data:
    """A whole dataset as tensors: `train` and `test` are tuples (inputs, targets) of equal length.

    The loop moves it to the device once and draws batches as index slices of a device randperm.
    """
    train: tuple[torch.Tensor, ...]
    test: tuple[torch.Tensor, ...]
    num_classes: int
    input_shape: tuple[int, ...]
    classes: tuple[str, ...] = ()
    kind: str = "tabular"          # "2d" | "image" | "tabular" | "sequence" | "text"
    name: str = ""
    extra: dict = field(default_factory=dict)
    # Examples in an epoch when `train` is not a list of examples but material that the lab's
    # draw_batch cuts batches from (a token stream: its windows); None = len(train[0]).
    n_examples: int | None = None

    @property
    def n_train(self) -> int:
        return int(self.n_examples if self.n_examples is not None else self.train[0].shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test[0].shape[0])

    def head(self, n: int) -> "Data":
        """The first n training examples (the test set is kept whole); material that a lab cuts
        its own batches from is kept whole too (its size is the lab's to bound)."""
        if self.n_examples is not None:
            return self
        return replace(self, train=tuple(t[:n] for t in self.train))

    def to(self, device) -> "Data":
        move = lambda ts: tuple(t.to(device, non_blocking=True) for t in ts)  # noqa: E731
        return replace(self, train=move(self.train), test=move(self.test))


def split(x: np.ndarray, y: np.ndarray, train_ratio: float, seed: int):
    """Shuffle with `seed` and split into (x_train, y_train, x_test, y_test) tensors (class
    labels as int64, real-valued targets as float32)."""
    import torch

    order = np.random.default_rng(seed).permutation(len(x))
    n_train = min(max(1, int(round(len(x) * train_ratio))), len(x) - 1)
    tr, te = order[:n_train], order[n_train:]
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    kind = np.float32 if np.issubdtype(np.asarray(y).dtype, np.floating) else np.int64
    as_y = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=kind))  # noqa: E731
    return as_x(x[tr]), as_y(y[tr]), as_x(x[te]), as_y(y[te])
