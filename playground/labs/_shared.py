"""Pieces every lab shares: activations, optimizers by name, prediction and evaluation of a
classifier."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "linear": nn.Identity}
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")


def make_optimizer(name: str, params, lr: float):
    """The optimizer by name. Fused kernels (one call for all parameters) where torch has them
    for the device, else the multi-tensor path: on small models the per-parameter Python loop
    would cost more than the arithmetic."""
    params = list(params)
    cls, kw = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
               "adam": (torch.optim.Adam, {}), "adamw": (torch.optim.AdamW, {}),
               "rmsprop": (torch.optim.RMSprop, {})}[name]
    if name != "rmsprop":
        try:
            return cls(params, lr=lr, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):
            pass
    return cls(params, lr=lr, foreach=True, **kw)


def predict(model: nn.Module, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    model.eval()                      # dropout off; train_step relies on train() coming back
    try:
        return torch.cat([model(x[i:i + chunk]).float() for i in range(0, len(x), chunk)])
    finally:
        model.train()


def evaluate_classifier(model: nn.Module, data, chunk: int = 8192) -> dict[str, float]:
    """Test loss and accuracy of a classifier over the whole test set, one host sync."""
    x, y = data.test[0], data.test[1]
    logits = predict(model, x, chunk)
    loss = torch.nn.functional.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    loss, acc = torch.stack([loss, acc]).tolist()
    return {"val/loss": loss, "val/acc": acc}


def text_exportable(cfg) -> str:
    """A char model's `exportable`: why a run cannot be a standalone script ("" when it can)."""
    if cfg.task == "chars" and cfg.text_file:
        return ("this run trained on an uploaded text, which a script cannot carry: download "
                "its weights or the whole run instead")
    return ""


def text_stubs(cfg) -> dict[str, str]:
    """A char model's `export_stubs`: a script trains on the built-in text (a run on an uploaded
    one is not exportable); its build is given the data, never asks for the alphabet."""
    return {"_own_text": "def _own_text(cfg):\n    return None   # the built-in English text",
            "_alphabet": "def _alphabet(cfg):\n    raise AssertionError('build passes the data')"}
