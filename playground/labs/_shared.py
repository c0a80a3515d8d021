"""Pieces the labs' torch parts share: activations and optimizers by name, prediction and evaluation
of a classifier, the digit judge of the generative labs."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.labs._common import ACTIVATION_MODULES

ACTIVATIONS = {name: getattr(nn, module) for name, module in ACTIVATION_MODULES.items()}


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


def digit_judge(data, steps: int = 400) -> nn.Module:
    """A small classifier of the real images, trained once per run: it labels a generative
    model's samples (GAN, diffusion)."""
    x, y = data.train[0], data.train[1]
    with torch.random.fork_rng(devices=[]):       # the run's own random stream stays as it was
        torch.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), 256), nn.ReLU(),
                            nn.Linear(256, data.num_classes)).to(x.device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    gen = torch.Generator(device=x.device).manual_seed(0)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(0, len(x), (128,), device=x.device, generator=gen)
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval().requires_grad_(False)


def image_scores(judge: nn.Module, fake: torch.Tensor, classes: int) -> dict[str, torch.Tensor]:
    """confident: share of samples the classifier is sure of (p > 0.9); class entropy: of the
    histogram of predicted classes, 1 = all classes equally often, 0 = one class (collapse);
    modes: classes drawn with confidence in at least 2% of the samples."""
    p = torch.softmax(judge(fake), 1)
    conf, label = p.max(1)
    hist = torch.bincount(label, minlength=classes).float() / len(label)
    entropy = -(hist * hist.clamp_min(1e-12).log()).sum() / np.log(classes)
    sure = torch.bincount(label[conf > 0.9], minlength=classes).float() / len(label)
    return {"val/confident": (conf > 0.9).float().mean(), "val/class_entropy": entropy,
            "val/modes": (sure >= 0.02).sum().float()}


def finished_run(run_id: str, labs: tuple[str, ...], kind: str, fix: dict):
    """A finished run of one of `labs` that a new run starts from (Word2Vec vectors, a transfer
    source): (its lab, its settings, its weights' path), or DataUnavailable saying why it cannot
    be used here, with `fix` (the setting that does without it)."""
    from playground import registry
    from playground.data.base import DataUnavailable
    from playground.engine.runs import RunStore

    store = RunStore()
    try:
        info = store.info(run_id)
    except (OSError, LookupError, ValueError):     # NoSuchRun is a LookupError
        raise DataUnavailable(f"{kind} run {run_id} is not on this server.", fix=fix) from None
    path = store.model_path(run_id)
    if info.lab not in labs or info.status.get("status") != "completed" or path is None:
        raise DataUnavailable(f"Run {run_id} is not a finished {kind} run: there are no weights "
                              "to start from.", fix=fix)
    cfg, errors = registry.parse_config(registry.get(info.lab), info.config, budget=False)
    if errors:
        raise DataUnavailable(f"{kind} run {run_id}'s settings are no longer valid: "
                              + "; ".join(errors), fix=fix)
    return info.lab, cfg, path
