"""Distillation's torch part: the transfer set with the teacher's logits, the networks, the
loss, one step, the soft-target inspector and the teacher-vs-student costs."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, DataUnavailable, load_images
from playground.data.images import image_shape
from playground.i18n import N_, _
from playground.labs._shared import make_optimizer, predict
from playground.labs.cnn.model import CNN
from playground.labs.distill import (Config, _cnn_settings, _cost_key, _role,
                                     _teacher_problems, describe_model)
from playground.labs.mlp.model import MLP
from playground.ui import charts


# ---------------------------------------------------------------------------------------------
# Models: the playground's own MLP and CNN, sized for each role

def make_model(cfg: Config, who: str, shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The teacher's or the student's network (`who`), built as the MLP and CNN pages build it."""
    if getattr(cfg, f"{who}_model") == "cnn":
        return CNN(_cnn_settings(cfg, who), shape, num_classes)
    dropout = cfg.teacher_dropout if who == "teacher" else 0.0
    settings = SimpleNamespace(features=(), hidden_sizes=getattr(cfg, f"{who}_hidden"),
                               activation="relu", dropout=dropout, init="he")
    return MLP(settings, shape, num_classes)


def blueprint(cfg: Config):
    shape = image_shape(cfg.dataset, 8)
    return make_model(cfg, _role(cfg), shape, 10), shape


# ---------------------------------------------------------------------------------------------
# Data: the students' transfer set, with the teacher's logits beside every example

def load_data(cfg: Config) -> Data:
    """The teacher trains on the whole training set. The students train on the transfer set
    (the first `transfer_size` examples, without `drop_class`). In distill mode every example
    carries the teacher's logits as a third tensor, computed once: batches slice it along."""
    data = load_images(cfg.dataset, train_ratio=cfg.train_ratio, seed=cfg.seed)
    if cfg.mode == "teacher":
        return data
    x, y = data.train
    extra_train, extra_test = (), ()
    if cfg.mode == "distill":
        logits_train, logits_test = teacher_logits(cfg, data)
        extra_train, extra_test = (logits_train,), (logits_test,)
    keep = torch.ones(len(y), dtype=torch.bool) if cfg.drop_class < 0 else y != cfg.drop_class
    idx = keep.nonzero()[:, 0]
    if cfg.transfer_size:
        idx = idx[:cfg.transfer_size]
    return replace(data, train=(x[idx], y[idx], *(t[idx] for t in extra_train)),
                   test=(*data.test, *extra_test))


def teacher_logits(cfg: Config, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher run's logits for every training and test example. The teacher sees the
    examples as its own page prepared them (a CNN run's upscaled digits, say); its labels must
    match ours one for one, or it was trained on a different split and has seen our test set."""
    from playground import registry
    from playground.engine import inference
    from playground.engine.runs import RunStore

    store = RunStore()
    problems = _teacher_problems(cfg)
    if problems:
        raise DataUnavailable(problems[0])
    info = store.info(cfg.teacher_run)
    if info.status.get("status") != "completed" or store.model_path(cfg.teacher_run) is None:
        raise DataUnavailable(f"Teacher run {cfg.teacher_run} has not completed: there are no "
                              "weights to learn from yet.")
    lab = registry.get(info.lab)
    teacher_cfg, errors = registry.parse_config(lab, info.config, budget=False)
    if errors:
        raise DataUnavailable(f"Teacher run {cfg.teacher_run}'s settings are no longer valid: "
                              + "; ".join(errors))
    seen = lab.load_data(teacher_cfg)
    same = (seen.n_train == data.n_train and seen.n_test == data.n_test
            and torch.equal(seen.train[1], data.train[1])
            and torch.equal(seen.test[1], data.test[1]))
    if not same:
        raise DataUnavailable(
            f"Teacher run {cfg.teacher_run} was trained on another split of {cfg.dataset} "
            f"(seed {info.config.get('seed')}, train ratio {info.config.get('train_ratio', 0.8)}): "
            "it may have seen this page's test images. Use its seed and train ratio here.",
            fix={"seed": info.config.get("seed", 0),
                 "train_ratio": info.config.get("train_ratio", 0.8)})
    model = inference.load_model(lab, teacher_cfg, store.model_path(cfg.teacher_run))
    with torch.no_grad():
        return predict(model, seen.train[0], 2048), predict(model, seen.test[0], 2048)


# ---------------------------------------------------------------------------------------------
# Training

@dataclass
class State:
    cfg: Config
    model: nn.Module
    opt: torch.optim.Optimizer


def build(cfg: Config, data: Data) -> State:
    # NOTE: reseeded here so that the scratch and the distilled student start from the very same
    # weights, whatever loading the teacher did to the random state.
    torch.manual_seed(cfg.seed)
    model = make_model(cfg, _role(cfg), data.input_shape, data.num_classes)
    model = model.to(data.train[0].device)
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr))


def distillation_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float):
    """alpha * T² * KL(teacher(T) || student(T)) + (1 - alpha) * CE(student, labels).
    Returns (total, soft term, hard term)."""
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                    reduction="batchmean", log_target=True) * (t * t)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard, soft, hard


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x, y = batch[0], batch[1]                                   # (B, C, H, W), (B,)
    logits = s.model(x)                                         # (B, K)
    out = {}
    if s.cfg.mode == "distill":
        loss, soft, hard = distillation_loss(logits, batch[2], y, s.cfg.temperature,
                                             s.cfg.alpha_kd)
        out["train/soft_loss"] = soft.detach()
    else:
        loss = hard = F.cross_entropy(logits, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    # train/loss is the label loss in every mode, so the three runs' curves compare
    return {"train/loss": hard.detach(), "train/acc": (logits.argmax(1) == y).float().mean(),
            **out}


def evaluate(s: State, data: Data) -> dict[str, float]:
    x, y = data.test[0], data.test[1]
    logits = predict(s.model, x, 2048)
    wrong = logits.argmax(1) != y
    values = [F.cross_entropy(logits, y), 1 - wrong.float().mean(), wrong.sum().float()]
    names = ["val/loss", "val/acc", "val/errors"]
    if s.cfg.drop_class >= 0:
        dropped = y == s.cfg.drop_class
        values.append((~wrong & dropped).sum() / dropped.sum().clamp_min(1))
        names.append("val/acc_dropped")
        # NOTE: as in the paper, the unseen class is mostly held back by its bias: raise its logit
        # by the shift that is best for the whole test set, and ask again.
        shifts = torch.linspace(0, 10, 41, device=logits.device)                   # (S,)
        shifted = logits.unsqueeze(0).repeat(len(shifts), 1, 1)                    # (S, N, K)
        shifted[:, :, s.cfg.drop_class] += shifts[:, None]
        right = shifted.argmax(2) == y                                             # (S, N)
        best = right.float().mean(1).argmax()
        values.append((right[best] & dropped).sum() / dropped.sum().clamp_min(1))
        names.append("val/acc_dropped_bias")
    return dict(zip(names, torch.stack([v.float() for v in values]).tolist()))


# ---------------------------------------------------------------------------------------------
# What the page shows

def _probabilities(s: State, data: Data, i: int, t: float):
    """(student or trained model, teacher or None) probabilities at temperature t for test i."""
    x = data.test[0][i:i + 1]
    s.model.eval()
    mine = torch.softmax(s.model(x).float() / t, 1)[0]
    s.model.train()
    theirs = torch.softmax(data.test[2][i:i + 1].float() / t, 1)[0] if len(data.test) > 2 else None
    return mine.cpu().numpy(), None if theirs is None else theirs.cpu().numpy()


def _inspector(s: State, data: Data) -> dict:
    i = min(s.cfg.inspect_index, data.n_test - 1)
    t = s.cfg.temperature
    classes = list(data.classes)
    truth = classes[int(data.test[1][i])]
    image = (data.test[0][i].float().cpu() * data.extra["std"][0] + data.extra["mean"][0])
    image = np.clip(image[0].numpy(), 0, 1)
    scale = max(1, 112 // image.shape[0])
    picture = charts.png((np.kron(image, np.ones((scale, scale))) * 255).astype(np.uint8))
    mine, teacher = _probabilities(s, data, i, t)
    out = {}
    if teacher is None:                           # no teacher here: the model's own softening
        hard, _unused = _probabilities(s, data, i, 1.0)
        bars = [("T = 1", hard, charts.BLUE), (f"T = {t:g}", mine, charts.ORANGE)]
        caption = (N_("This teacher's probabilities at T = 1 and softened at T = {t:g}: the "
                      "small ones are what a student would learn from.")
                   if _role(s.cfg) == "teacher" else
                   N_("This student's probabilities at T = 1 and softened at T = {t:g}: the "
                      "small ones are what a student would learn from."))
    else:
        bars = [(f"teacher, T = {t:g}", teacher, charts.BLUE),
                (f"student, T = {t:g}", mine, charts.ORANGE)]
        caption = N_("The soft targets the student is pulled towards, and where it stands now.")
    fig = {"data": [{"type": "bar", "name": name, "x": classes, "y": np.round(p, 4).tolist(),
                     "marker": {"color": color}} for name, p, color in bars],
           "layout": {"barmode": "group", "height": 300, "template": "plotly_white",
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"type": "category", "domain": [0.3, 1.0]},
                      "yaxis": {"title": {"text": N_("probability")}},
                      "legend": {"orientation": "h", "y": -0.2},
                      # the image itself, left of the bars
                      "images": [{"source": "data:image/png;base64," + picture, "xref": "paper",
                                  "yref": "paper", "x": 0.0, "y": 0.95, "sizex": 0.17,
                                  "sizey": 0.9, "xanchor": "left", "yanchor": "top",
                                  "layer": "above"}]}}
    out["soft_targets"] = charts.artifact(
        N_("Soft targets of test image {i} (a {truth}) at T = {t:g}"), "plotly", fig, caption,
        i=int(i), truth=str(truth), t=float(t))
    if teacher is not None:
        kl = teacher * (np.log(np.maximum(teacher, 1e-12)) - np.log(np.maximum(mine, 1e-12)))
        fig = {"data": [{"type": "bar", "x": classes, "y": np.round(kl, 5).tolist(),
                         "marker": {"color": charts.BLUE}}],
               "layout": {"height": 260, "template": "plotly_white",
                          "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                          "xaxis": {"type": "category"},
                          "yaxis": {"title": {"text": "p_t log(p_t / p_s)"}}}}
        out["kl"] = charts.artifact(N_("KL per class (total {total:.4f})"), "plotly", fig,
                                    N_("Each class's share of KL(teacher || student) for this "
                                       "image: where the student still disagrees with its "
                                       "teacher."), total=float(kl.sum()))
    return out


def explore(cfg: Config, model_path: str, index: int) -> dict[str, dict]:
    """The soft-target inspector on any test image of a finished run, from its saved weights."""
    data, model = _finished(cfg, model_path)
    with torch.no_grad():
        return _inspector(State(replace(cfg, inspect_index=index), model, None), data)


@lru_cache(maxsize=4)
def _finished(cfg: Config, model_path: str) -> tuple[Data, nn.Module]:
    from playground.engine import inference

    model = make_model(cfg, _role(cfg), image_shape(cfg.dataset, 8), 10)
    return load_data(cfg), inference.load_weights(model, model_path)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    views = charts.classification_views(predict(s.model, data.test[0], 2048).argmax(1), data)
    return {**_inspector(s, data), "per_class": views["per_class"],
            "confusion": views["confusion"]}


# ---------------------------------------------------------------------------------------------
# Before Train and after the comparison: teacher vs student

def _measure(model: nn.Module, shape: tuple[int, ...]) -> dict:
    """Parameters, multiply-adds per image and measured CPU time per 1,000 images."""
    from playground.engine.summary import layer_table

    macs = sum(r["mult-adds"] for r in layer_table(model, torch.zeros((2,) + tuple(shape))))
    x = torch.randn((1000,) + tuple(shape))
    with torch.no_grad():
        for _i in range(2):                                    # warm-up (allocations, kernels)
            model(x)
        t0 = time.perf_counter()
        model(x)
        # NOTE: a small student runs a batch in well under a millisecond, where one timing is
        # mostly the clock's and the scheduler's noise: time blocks of repeats, take the median
        reps = max(1, min(50, int(0.01 / max(time.perf_counter() - t0, 1e-6))))
        times = []
        for _i in range(7):
            t0 = time.perf_counter()
            for _i in range(reps):
                model(x)
            times.append((time.perf_counter() - t0) / reps)
    return {"params": sum(p.numel() for p in model.parameters()), "macs": macs,
            "ms": 1000 * statistics.median(times)}


@lru_cache(maxsize=64)
def _cost(cfg: Config, who: str) -> dict:
    shape = image_shape(cfg.dataset, 8)
    return _measure(make_model(cfg, who, shape, 10), shape)


@lru_cache(maxsize=32)
def _run_cost(run_id: str) -> tuple[dict, str] | None:
    """The network of a finished run (a teacher from another page): its cost and a name."""
    from playground import registry
    from playground.engine.runs import RunStore

    try:
        info = RunStore().info(run_id)
        lab = registry.get(info.lab)
    except (LookupError, OSError):
        return None
    cfg, errors = registry.parse_config(lab, info.config, budget=False)
    if errors or not hasattr(lab, "blueprint"):
        return None
    model, shape = lab.blueprint(cfg)
    if info.lab == "distill":
        name = describe_model(cfg, _role(cfg))
    else:
        sizes = getattr(cfg, "hidden_sizes", None) or getattr(cfg, "channels", ())
        name = f"{lab.TITLE} " + "x".join(map(str, sizes))
    return _measure(model, shape), f"{name} (run {run_id[-6:]})"


def _teacher_cost(cfg: Config) -> tuple[dict, str]:
    named = _run_cost(cfg.teacher_run) if cfg.teacher_run else None
    if named is not None:
        return named
    return _cost(_cost_key(cfg), "teacher"), describe_model(cfg, "teacher")


def _too_large_to_time(cfg: Config) -> str:
    """Hosted: why the overview does not time these networks in the shared server ('' if it
    does) - a teacher of the form's is built and run here, whatever mode trains."""
    from playground.engine import hosting

    cap = hosting.caps().server_params
    if not cap:
        return ""
    shape = image_shape(cfg.dataset, 8)
    for who in ("teacher", "student"):
        if who == "teacher" and cfg.teacher_run:
            n, name = _run_params(cfg.teacher_run), f"run {cfg.teacher_run}"
        else:
            with torch.device("meta"):         # counted, not allocated
                n = sum(p.numel() for p in make_model(cfg, who, shape, 10).parameters())
            name = describe_model(cfg, who)
        if n > cap:
            return (f"The {who} ({name}) has {n:,} parameters; this shared server times "
                    f"networks of at most {cap:,}, so their sizes and speeds are not compared "
                    "here.")
    return ""


def _run_params(run_id: str) -> int:
    """The parameters of a stored run's network, counted from its settings (0 if unknown)."""
    from playground import registry
    from playground.engine import summary
    from playground.engine.runs import RunStore

    try:
        info = RunStore().info(run_id)
        lab = registry.get(info.lab)
        run_cfg, _unused = registry.parse_config(lab, info.config, budget=False)
        return summary.describe(lab, run_cfg)["params"] if run_cfg is not None else 0
    except (LookupError, OSError, AttributeError):
        return 0


def overview(cfg: Config) -> dict[str, dict]:
    why = _too_large_to_time(cfg)
    if why:
        return {"models": charts.artifact(N_("Teacher vs student"), "markdown", why)}
    teacher, teacher_name = _teacher_cost(cfg)
    student = _cost(_cost_key(cfg), "student")
    # an overview is asked by a page: its words in the page's language
    rows = ["| | " + " | ".join((_("network"), _("parameters"), _("multiply-adds per image"),
                                 _("CPU time per 1,000 images"))) + " |",
            "|---|---|---:|---:|---:|"]
    for who, name, c in ((_("teacher"), teacher_name, teacher),
                         (_("student"), describe_model(cfg, "student"), student)):
        rows.append(f"| **{who}** | {name} | {c['params']:,} | {c['macs']:,} | {c['ms']:.2f} ms |")
    rows.append("\n" + _(
        "The student is **{smaller:.1f}x smaller** and **{faster:.1f}x faster** than the teacher "
        "(time measured here, batch of 1,000). The soft term of the loss is multiplied by T² so "
        "that its gradients keep their size whatever T is (see *{more}*).",
        smaller=teacher["params"] / max(1, student["params"]),
        faster=teacher["ms"] / max(1e-6, student["ms"]), more=_("More about this architecture")))
    return {"models": charts.artifact(N_("Teacher vs student"), "markdown", "\n".join(rows))}
