"""Transfer learning's torch part: the source network (trained once on the digits 0-4 and kept,
or a finished CNN run's), the target's few labelled images, the modes, the pictures."""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, load_images
from playground.data.base import DataUnavailable
from playground.labs._shared import (evaluate_classifier, finished_run, make_optimizer,
                                     predict)
from playground.data.images import image_shape
from playground.i18n import N_
from playground.labs.cnn.model import CNN
from playground.labs.transfer import DIGITS_NET, Config
from playground.ui import charts

SOURCE_CLASSES, TARGET_CLASSES = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)

DIGITS_SIDE = 16                    # the CNN page's default image size for the 8x8 digits
IMAGENET_SIDE = 32                  # ResNet-18 reads any size; 32 px keeps it CPU-sized
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PRETRAIN_LR, PRETRAIN_BATCH, PRETRAIN_SEED = 0.003, 64, 0
SHOWN = 600                         # test images in the features' picture


# ---------------------------------------------------------------------------------------------
# The source

def source_config(cfg: Config):
    """The source network's architecture (a CNN or ResNet page's settings, its `lab` beside
    them): the CNN page's defaults, the named run's, or torchvision's ResNet-18."""
    if cfg.source == "digits0-4":
        return SimpleNamespace(lab="cnn", **DIGITS_NET)
    if cfg.source == "imagenet":
        return SimpleNamespace(lab="imagenet", dataset="cifar10", image_size=IMAGENET_SIDE)
    return _run_config(cfg)


def _run_config(cfg: Config):
    from dataclasses import asdict

    lab, arch, _ = _source_run(cfg)
    return SimpleNamespace(lab=lab, **asdict(arch))


def source_shape(arch) -> tuple[int, int, int]:
    if arch.lab == "imagenet":
        return (3, IMAGENET_SIDE, IMAGENET_SIDE)
    return image_shape(arch.dataset, arch.image_size)


def network(arch, shape: tuple[int, int, int], classes: int) -> nn.Module:
    if arch.lab == "imagenet":
        from torchvision.models import resnet18

        return resnet18(num_classes=classes)
    if arch.lab == "resnet":
        from playground.labs.resnet.model import ResNet

        return ResNet(arch, shape, classes)
    return CNN(arch, shape, classes)


def _resnet(model: nn.Module) -> bool:
    return hasattr(model, "stem")             # the ResNet page's network; else the CNN page's


def _torchvision_net(model: nn.Module) -> bool:
    return hasattr(model, "fc") and hasattr(model, "layer4")      # ImageNet's ResNet-18


def last_layer(model: nn.Module) -> tuple[str, nn.Linear]:
    """The layer a new task replaces: (its name in the state dict, the layer)."""
    if _torchvision_net(model):
        return "fc", model.fc
    if _resnet(model):
        return "head", model.head
    return f"head.{len(model.head) - 1}", model.head[-1]


def _source_run(cfg: Config):
    return finished_run(cfg.backbone_run, ("cnn", "resnet"), "CNN or ResNet",
                        fix={"source": "digits0-4"})


def _digit_classes(classes: tuple[int, ...]):
    """The embedded digits of these classes, relabelled 0..k-1, on the split the CNN page uses
    with seed 0 (the source and every target run share it: the digits 5-9 of the test half are
    never seen by anyone's training)."""
    d = load_images("digits", seed=0, size=DIGITS_SIDE)
    out = []
    for x, y in (d.train, d.test):
        keep = (y[:, None] == torch.tensor(classes)).any(1)
        out.append((x[keep], y[keep] - classes[0]))
    return out, d.extra


def source_weights(cfg: Config, device: torch.device) -> dict[str, torch.Tensor]:
    """The source network's weights: a finished run's, or the digits-0-4 network, trained on
    first use and kept (one per number of steps)."""
    if cfg.source == "run":
        return _run_weights(cfg)
    if cfg.source == "imagenet":
        return imagenet_weights()
    return _kept(f"digits0-4-{cfg.pretrain_steps}", lambda: pretrain(cfg.pretrain_steps, device))


def imagenet_weights() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-18 trained on ImageNet (He et al., 2016), downloaded once (45 MB)
    into torch's hub folder ($TORCH_HOME/hub/checkpoints) and read from there."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - offline, a proxy, a damaged file alike
        raise DataUnavailable(
            f"The ImageNet weights could not be loaded ({type(e).__name__}): the machine may be "
            f"offline. Put {weights.url.rsplit('/', 1)[-1]} from {weights.url} in "
            "$TORCH_HOME/hub/checkpoints (by default ~/.cache/torch/hub/checkpoints), or use "
            "the digits0-4 source.", fix={"source": "digits0-4"}) from None


def _run_weights(cfg: Config) -> dict[str, torch.Tensor]:
    return torch.load(_source_run(cfg)[2], map_location="cpu", weights_only=True)


def _kept(name: str, make) -> dict[str, torch.Tensor]:
    """Weights under $PLAYGROUND_HOME/cache/transfer/<name>.pt, made by `make` when absent or
    damaged."""
    from playground.engine.runs import atomic_write, home

    cached = home() / "cache" / "transfer" / f"{name}.pt"
    try:
        return torch.load(cached, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        pass                                         # absent or damaged: make it again
    weights = make()
    buf = io.BytesIO()
    torch.save(weights, buf)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cached, buf.getvalue())
    return weights


def pretrain(steps: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The CNN page's network trained on the digits 0-4, the same way for every run."""
    (train, _), _ = _digit_classes(SOURCE_CLASSES)
    x, y = (t.to(device) for t in train)
    gen = torch.Generator(device=device).manual_seed(PRETRAIN_SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PRETRAIN_SEED)
        model = CNN(SimpleNamespace(**DIGITS_NET), tuple(x.shape[1:]),
                    len(SOURCE_CLASSES)).to(device)
    opt = make_optimizer("adam", model.parameters(), PRETRAIN_LR)
    for _ in range(steps):
        idx = torch.randint(len(x), (PRETRAIN_BATCH,), device=device, generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# The target

def _fit(x01: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Images in [0, 1] made the source's input: its channels (grey <-> colour), its side."""
    c, side = shape[0], shape[1]
    if x01.shape[1] != c:
        x01 = x01.mean(1, keepdim=True) if c == 1 else x01.expand(-1, c, -1, -1)
    if x01.shape[-1] != side:
        x01 = F.interpolate(x01, size=(side, side), mode="bilinear", align_corners=False)
    return x01.contiguous()


def load_data(cfg: Config) -> Data:
    """`labels_per_class` labelled training images of each class (picked by the seed) and the
    target's test half (the digits 5-9: every one not labelled), in the source network's input
    shape."""
    shape = source_shape(source_config(cfg))
    if cfg.target == "digits5-9":
        (train, test), stats = _digit_classes(TARGET_CLASSES)
        classes = tuple(str(c) for c in TARGET_CLASSES)
    else:
        d = load_images(cfg.target)
        train, test, stats, classes = d.train, d.test, d.extra, d.classes
    unit = lambda x: (x * stats["std"] + stats["mean"]).clamp(0, 1)  # noqa: E731
    xtr, xte = _fit(unit(train[0]), shape), _fit(unit(test[0]), shape)
    ytr, yte = train[1], test[1]
    gen = torch.Generator().manual_seed(cfg.seed)
    picked = []
    for c in range(len(classes)):
        mine = torch.nonzero(ytr == c)[:, 0]
        picked.append(mine[torch.randperm(len(mine), generator=gen)[:cfg.labels_per_class]])
    picked = torch.cat(picked)
    if cfg.target == "digits5-9":
        # a few hundred test digits measure 1% steps: every 5-9 digit not labelled is tested
        # (the source never saw one; the labelled ones are left out)
        unused = torch.ones(len(xtr), dtype=torch.bool)
        unused[picked] = False
        xte, yte = torch.cat([xtr[unused], xte]), torch.cat([ytr[unused], yte])
    xtr, ytr = xtr[picked], ytr[picked]
    if cfg.source == "imagenet":                     # the statistics its weights expect
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    else:
        mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
        std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3) if len(xtr) > 1 \
            else torch.ones_like(mean)
    norm = lambda t: (t - mean) / std  # noqa: E731
    return Data(train=(norm(xtr), ytr), test=(norm(xte), yte), num_classes=len(classes),
                input_shape=shape, classes=classes, kind="image", name=cfg.target,
                extra={"mean": mean, "std": std})


# ---------------------------------------------------------------------------------------------
# The network and the modes

def blueprint(cfg: Config):
    arch = source_config(cfg)
    shape = source_shape(arch)
    return network(arch, shape, len(TARGET_CLASSES) if cfg.target == "digits5-9" else 10), shape


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the new last layer reads: the output of every layer before it."""
    if _torchvision_net(model):
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        return model.avgpool(x).flatten(1)
    if _resnet(model):
        return model.blocks(F.relu(model.stem(x))).mean(dim=(2, 3))
    for block in model.blocks:
        x = block(x)
    return model.head[:-1](x)


@dataclass
class State:
    cfg: Config
    model: nn.Module
    opt: torch.optim.Optimizer
    start: dict[str, torch.Tensor]                  # each weight as training began
    before: np.ndarray                              # (n, 2) test features in 2-D, before
    trained: int = 0                                # parameters the optimizer changes
    extra: dict = field(default_factory=dict)


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    model = network(source_config(cfg), data.input_shape, data.num_classes).to(device)
    name, last = last_layer(model)
    if cfg.mode != "scratch":
        source = source_weights(cfg, device)
        mine = model.state_dict()
        reused = {k: v for k, v in source.items()
                  if k in mine and mine[k].shape == v.shape and not k.startswith(f"{name}.")}
        model.load_state_dict(reused, strict=False)
    head = list(last.parameters())
    backbone = [p for p in model.parameters() if all(p is not h for h in head)]
    if cfg.mode == "probe":
        for p in backbone:
            p.requires_grad_(False)
        groups = head
    elif cfg.mode == "discriminative":
        groups = [{"params": backbone, "lr": cfg.lr * cfg.lr_factor}, {"params": head}]
    else:
        groups = list(model.parameters())
    opt = make_optimizer(cfg.optimizer, groups, cfg.lr)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return State(cfg, model, opt, start, _features_2d(model, data)[0], trained)


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch
    if s.cfg.mode == "probe":
        s.model.eval()          # a frozen backbone's batch norm keeps its statistics too
    logits = s.model(x)
    loss = F.cross_entropy(logits, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    return {"train/loss": loss.detach(), "train/acc": (logits.argmax(1) == y).float().mean()}


def evaluate(s: State, data: Data) -> dict[str, float]:
    return evaluate_classifier(s.model, data, chunk=1024)


# ---------------------------------------------------------------------------------------------
# What the page shows

def _features_2d(model: nn.Module, data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The first SHOWN test images' features projected on their own two principal axes."""
    x, y = data.test[0][:SHOWN], data.test[1][:SHOWN]
    model.eval()
    try:
        with torch.no_grad():
            f = features(model, x).float()
    finally:
        model.train()
    f = f - f.mean(0)
    _, _, v = torch.linalg.svd(f, full_matrices=False)
    return (f @ v[:2].T).cpu().numpy(), y.cpu().numpy()


def _features_view(s: State, data: Data) -> dict:
    after, y = _features_2d(s.model, data)
    traces = []
    for col, (name, pts) in enumerate((("before", s.before), ("after", after)), start=1):
        for c, label in enumerate(data.classes):
            m = y == c
            traces.append({"type": "scattergl", "mode": "markers", "name": str(label),
                           "legendgroup": str(label), "showlegend": col == 1,
                           "x": np.round(pts[m, 0], 3).tolist(),
                           "y": np.round(pts[m, 1], 3).tolist(),
                           "xaxis": f"x{col if col > 1 else ''}",
                           "yaxis": f"y{col if col > 1 else ''}",
                           "marker": {"size": 5, "color": charts.CLASS_COLOURS[
                               c % len(charts.CLASS_COLOURS)]}})
    layout = {"template": "plotly_white", "height": 340,
              "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
              "xaxis": {"domain": [0, 0.48], "showticklabels": False},
              "xaxis2": {"domain": [0.52, 1], "showticklabels": False},
              "yaxis": {"showticklabels": False},
              "yaxis2": {"anchor": "x2", "showticklabels": False},
              "annotations": [{"text": t, "x": x, "y": 1.06, "xref": "paper", "yref": "paper",
                               "showarrow": False} for t, x in
                              ((N_("before"), 0.24), (N_("after"), 0.76))]}
    return charts.artifact(N_("The features of the test images (PCA)"), "plotly",
                           {"data": traces, "layout": layout},
                           N_("What the last layer reads, for each test image, on its two main "
                              "axes. Before: the source's features (scratch: random ones). "
                              "Classes that already sit apart need only a new last layer."))


def _movement_view(s: State) -> dict:
    names, moved = [], []
    for k, w0 in s.start.items():
        if not k.endswith("weight") or w0.dim() < 2:           # convs and linears, not norms
            continue
        w = s.model.state_dict()[k]
        moved.append(float((w - w0).norm() / w0.norm().clamp_min(1e-12)))
        names.append(_layer_name(s.model, k))
    fig = {"data": [{"type": "bar", "x": names, "y": np.round(moved, 4).tolist(),
                     "marker": {"color": charts.BLUE},
                     "hovertemplate": "%{x}: moved %{y:.1%} of its size<extra></extra>"}],
           "layout": {"template": "plotly_white", "height": 300,
                      "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
                      "xaxis": {"type": "category"},
                      "yaxis": {"title": {"text": "|W - W start| / |W start|"},
                                "tickformat": ".0%"}}}
    return charts.artifact(N_("How far each layer moved"), "plotly", fig,
                           N_("The change of each layer's weights since training began, relative "
                              "to their size: a probe moves only the new layer; fine-tuning moves "
                              "the first conv layer least (its strokes and edges serve any digit) "
                              "and the later ones more; discriminative fine-tuning, the source's "
                              "layers less."))


def _layer_name(model: nn.Module, key: str) -> str:
    if key.startswith(last_layer(model)[0] + "."):
        return N_("new last layer")
    parts = key.split(".")
    if _torchvision_net(model):
        return key.removesuffix(".weight")
    if _resnet(model):
        return "stem" if parts[0] == "stem" else \
            f"block {int(parts[1]) + 1}{'ab'[parts[2] == 'conv2']}"
    return f"conv {int(parts[1]) + 1}" if parts[0] == "blocks" else "dense"


def artifacts(s: State, data: Data) -> dict[str, dict]:
    pred = predict(s.model, data.test[0], chunk=1024).argmax(1)
    return {"features": _features_view(s, data), "movement": _movement_view(s),
            **charts.classification_views(pred, data)}
