"""The Transfer learning lab's face: its settings, presets and the words its page shows; its torch
part is model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/transfer.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS
from playground.params import param

TITLE, ICON, SECTION = "Transfer learning", "🧳", "Vision"
TRY_THIS = ("Press 'Scratch vs probe vs fine-tune' and read the verdict: these clean digits 5-9 "
            "are learnt from 10 labels each about as well from scratch as from the 0-4 "
            "network, and the frozen probe trails. Then look at how far each layer moved: "
            "fine-tuning barely touches the first conv layer.")

STAGE = ("mode", "labels_per_class", "target")
SOURCES = ("digits0-4", "run", "imagenet")
TARGETS = ("digits5-9", "mnist", "fashion_mnist", "cifar10")
MODES = ("scratch", "probe", "finetune", "discriminative")
# the digits source: the CNN page's network at its defaults (a test holds them equal) for the
# 16x16 digits, written out so that an exported script builds it without the CNN page
DIGITS_NET = {"dataset": "digits", "image_size": 16, "channels": (16, 32), "kernel_size": 3,
              "stride": 1, "padding": "same", "pooling": "max", "pool_every": 1,
              "batch_norm": False, "activation": "relu", "fc_size": 64, "dropout": 0.0}


@dataclass(frozen=True)
class Config:
    source: str = param("digits0-4", choices=SOURCES, group="Source",
                        help="digits0-4: the CNN page's network trained on the embedded digits "
                             "0-4 (trained on first use, then kept and reused). run: the weights "
                             "of a finished CNN or ResNet run of this playground, its "
                             "architecture read from its settings. imagenet: torchvision's "
                             "ResNet-18 trained on ImageNet (a 45 MB download on first use; "
                             "11.7M parameters, images at 32x32 in colour).")
    backbone_run: str = param("", runs_of=("cnn", "resnet"), group="Source",
                              label="Source run", when={"source": ("run",)},
                              help="run: the finished CNN or ResNet run whose layers are "
                                   "reused (all but its last).")
    pretrain_steps: int = param(600, lo=50, hi=5000, group="Source",
                                when={"source": ("digits0-4",)},
                                help="digits0-4: the source network's training steps (a batch "
                                     "of 64 each); each value is trained once and kept.")
    target: str = param("digits5-9", choices=TARGETS, group="Target",
                        help="The task to learn with few labels: the embedded digits 5-9 (never "
                             "seen by the digits0-4 source), or MNIST, Fashion-MNIST, CIFAR-10 "
                             "(downloaded as on the CNN page), resized and turned grey or "
                             "colour to fit the source network's input.")
    labels_per_class: int = param(10, lo=1, hi=1000, group="Target",
                                  label="Labels per class",
                                  help="Labelled training images of each class (picked by the "
                                       "seed); the rest of the training split is unused.")
    mode: str = param("finetune", choices=MODES, group="Training",
                      help="scratch: the same network from random weights. probe: the source's "
                           "layers frozen, a new last layer trained. finetune: everything "
                           "trains from the source's weights. discriminative: the same, the "
                           "source's layers at a smaller learning rate.")
    lr_factor: float = param(0.1, lo=0.001, hi=1.0, log=True, group="Training",
                             label="Backbone lr factor", when={"mode": ("discriminative",)},
                             help="discriminative: the source's layers train at lr x this.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.003, lo=1e-6, hi=10.0, log=True, group="Training",
                      label="Learning rate", help="Step size of the optimizer.")
    batch_size: int = param(64, lo=1, hi=4096, group="Training",
                            help="Images per step (at most the labelled images).")
    steps: int = param(300, lo=1, hi=20_000, group="Training", help="Gradient steps.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Picks the labelled images and the new layers' start.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Fine-tune, 10 labels per class (default)": {},
    "Probe, 10 labels per class": {"mode": "probe", "lr": 0.01},
    "Scratch, 10 labels per class": {"mode": "scratch"},
    "Fine-tune, 1 label per class": {"labels_per_class": 1},
    "Discriminative fine-tuning": {"mode": "discriminative"},
}


def check(cfg: Config) -> list[str]:
    if cfg.source == "run" and not cfg.backbone_run:
        return [_("The run source reuses a finished CNN or ResNet run: pick one under 'Source "
                  "run' (train one on the CNN or ResNet page first), or use the digits0-4 "
                  "source.")]
    return []


def exportable(cfg: Config) -> str:
    """A script trains its own source first (the digits 0-4); another run's weights it cannot
    carry."""
    if cfg.source == "run":
        return _("this run starts from run {run}'s weights, which a script cannot carry: "
                 "download its weights, its ONNX file or the whole run instead",
                 run=cfg.backbone_run)
    if cfg.source == "imagenet":
        return _("a script of an ImageNet-source run is not written yet: download its weights, "
                 "its ONNX file or the whole run instead")
    return ""


def export_stubs(cfg: Config) -> dict[str, str]:
    """A script trains its source on the digits 0-4 itself, before its own run (as a
    distillation script trains its teacher); nothing is kept."""
    return {"_kept": "def _kept(name, make):\n"
                     "    print(f'training the source, {name} steps...', file=sys.stderr)\n"
                     "    return make()",
            "_run_config": "def _run_config(cfg):\n    raise SystemExit('a run source is "
                           "not in a script')",
            "network": "def network(arch, shape, classes):\n"
                       "    return CNN(arch, shape, classes)",
            "_run_weights": "def _run_weights(cfg):\n    raise SystemExit('a run source is "
                            "not in a script')"}


# ---------------------------------------------------------------------------------------------
# The comparison

COMPARED = ("scratch", "probe", "finetune")


def _three_modes(cfg: Config, earlier: list[str]) -> Config | None:
    """Scratch, probe, fine-tune: the same source, labels, seed and steps."""
    return replace(cfg, mode=COMPARED[len(earlier)]) if len(earlier) < len(COMPARED) else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, acc = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        acc[name] = final.get("val/acc")
        rows.append({N_("mode"): name, N_("status"): info.status.get("status"),
                     N_("test accuracy"): acc[name], N_("parameters"): info.status.get("params"),
                     N_("seconds"): info.status.get("seconds")})
    if len(acc) < len(COMPARED) or any(v is None for v in acc.values()):
        return rows, _("The comparison is incomplete: a run did not finish.")
    labels = runs[0][1].config.get("labels_per_class", 10)
    gap = acc["finetune"] - acc["scratch"]
    scores = {"labels": labels, "finetune": acc["finetune"], "scratch": acc["scratch"],
              "probe": acc["probe"]}
    text = (_("With {labels} labelled images per class: fine-tune {finetune:.1%}, scratch "
              "{scratch:.1%}, probe {probe:.1%}.", **scores) if labels != 1 else
            _("With {labels} labelled image per class: fine-tune {finetune:.1%}, scratch "
              "{scratch:.1%}, probe {probe:.1%}.", **scores)) + " "
    if gap >= 0.02:
        text += _("Starting from the source's weights paid {gap:.1%}.", gap=gap)
    elif gap > -0.02:
        text += _("Starting from the source's weights did not pay here: this network learns "
                  "these images from the labels alone about as well. The source's features "
                  "help where the labels are fewer, or the source richer than the target.")
    else:
        text += _("Scratch won by {gap:.1%}: the source's features fit this target worse than "
                  "a fresh start (negative transfer).", gap=-gap)
    if acc["probe"] < min(acc["finetune"], acc["scratch"]) - 0.02:
        text += " " + _("The probe trails both: the frozen features were made for the source's "
                        "classes and a single new layer cannot reshape them.")
    return rows, text


COMPARE = {"label": "Scratch vs probe vs fine-tune", "names": COMPARED, "plan": _three_modes,
           "table": comparison_table, "views": ("features",)}

LABELS = (1, 5, 10, 50, 100)
SWEEPS = {N_("Labels curve"): {
    "grid": {"labels_per_class": ",".join(map(str, LABELS)), "mode": ",".join(COMPARED)},
    "help": N_("Scratch, probe and fine-tune at 1, 5, 10, 50 and 100 labels per class, every "
               "other setting as in the form: the Runs page draws accuracy against labels.")}}


def sweep_verdict(record: dict) -> str:
    """What a labels curve shows: where fine-tuning leads scratch, and by how much."""
    acc: dict[tuple[str, int], list[float]] = {}
    for r in record["runs"]:
        mode, n = r["settings"].get("mode"), r["settings"].get("labels_per_class")
        if r["objective"] is not None and mode in COMPARED and n is not None:
            acc.setdefault((mode, int(n)), []).append(r["objective"])
    mean = {k: sum(v) / len(v) for k, v in acc.items()}
    counts = sorted({n for _mode, n in mean})
    both = [n for n in counts if ("finetune", n) in mean and ("scratch", n) in mean]
    if not both or record.get("objective", {}).get("metric") != "val/acc":
        return ""
    gaps = {n: mean[("finetune", n)] - mean[("scratch", n)] for n in both}
    lead = [n for n in both if gaps[n] >= 0.02]
    parts = ", ".join(f"{n}: {gaps[n]:+.1%}" for n in both)
    text = _("Fine-tune minus scratch, by labels per class - {gaps}.", gaps=parts) + " "
    if not lead:
        text += _("Fine-tuning never led by 2 points: on this target the source's features are "
                  "worth no more than the labels themselves.")
    elif gaps[both[-1]] < gaps[lead[0]] - 0.02:
        text += _("The source pays most with few labels ({labels} per class) and less as "
                  "labels grow: with enough of them a network learns its own features.",
                  labels=lead[0])
    else:
        text += _("Fine-tuning leads from {labels} labels per class on.", labels=lead[0])
    return text


DEMOS = {"modes": {"compare": True, "picture": "features",
                   "title": "Scratch vs probe vs fine-tune, 10 labels per class of digits 5-9"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
