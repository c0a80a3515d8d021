"""The ResNet lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/resnet.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS
from playground.params import param

TITLE, ICON, SECTION = "ResNet", "🪜", "Vision"
TRY_THIS = ("Press 'Compare plain vs residual' at the default 30 blocks: the plain net's loss "
            "stays flat near 2.3 and its test accuracy at chance (10%) while the residual net "
            "passes 90%, and in the plain net's gradient heatmap the top rows (the first layers) "
            "go dark as training goes on. At 4 blocks the plain net learns too. Then turn batch "
            "norm on and compare again.")

STAGE = ("depth", "residual", "batch_norm")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")

# NOTE: the defaults (30 blocks, native 8x8 digits, Adam at 0.002, 8 epochs) were picked so that
# "plain stalls, residual learns" holds on every seed tried, not just on most. Measured on 2 CPU
# cores, seeds 0-5 at 1 and at 2 threads: plain 6-10% test accuracy with the loss stuck at
# ~2.30, residual 93-98%, one run 7-8 s at 2 threads and 12-13 s at 1. With the same settings a
# plain net learns at 4 blocks (90-96%, seeds 0-1) and 8 (82-90%), is seed-dependent at 12-16
# (8-68%) and stalled on all seeds tried from 20 blocks on: it is the depth that stops it. The
# earlier 20 blocks on 12x12 images at lr 0.001 sat at that edge (the plain net learned on 2 of
# 3 seeds). A smaller step lets the deep plain net creep forward on some seeds (30 blocks,
# seed 1: 19% at 0.001, 42% at 0.0005), and the residual net ends higher at 0.002 than at 0.001
# or 0.003 (seeds 1-2: 97-98% against 89-96%).


@dataclass(frozen=True)
class Config:
    dataset: str = param("digits", choices=DATASETS, group="Data",
                         help="digits (8x8) is embedded; the others download on first use.")
    image_size: int = param(8, lo=8, hi=32, group="Data",
                            help="Side of the digits images: 8 is their own size; larger is "
                                 "upscaled (and slower).")
    depth: int = param(30, lo=2, hi=50, group="Network",
                       help="Residual blocks (two 3x3 convolutions each). Without the skip "
                            "connection 4-8 blocks still learn here; at 20 and more the plain "
                            "net stalled on every seed tried.")
    residual: bool = param(True, group="Network",
                           help="Add the block's input to its output (the skip connection).")
    batch_norm: bool = param(False, group="Network",
                             help="Batch norm inside each block: it also helps deep plain nets a "
                                  "little (30 blocks: 25-29% instead of 8-9%), so leave it off "
                                  "to see what the skip connection does alone.")
    width: int = param(16, lo=4, hi=256, group="Network", help="Channels of every block.")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="Even Adam's per-weight step sizes cannot revive a gradient that "
                                "has vanished.")
    lr: float = param(0.002, lo=1e-6, hi=10.0, log=True, group="Training", label="Learning rate",
                      help="Step size of the optimizer. Smaller steps let a deep plain net "
                           "creep forward on some seeds (30 blocks at 0.0005: 42% on seed 1, "
                           "8% on seed 0).")
    batch_size: int = param(64, lo=1, hi=4096, group="Training", help="Images per step.")
    epochs: int = param(8, lo=1, hi=200, group="Training", help="Passes over the training set.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training", help="Same seed, same run.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Depth 30, residual": {},
    "Depth 30, plain": {"residual": False},
    "Depth 50 (compare!)": {"depth": 50},          # plain 8-9%, residual 96-97% (seeds 0-1)
    "Shallow (4 blocks)": {"depth": 4},            # both learn: plain 92-96%, residual 90-92%
    "With batch norm": {"batch_norm": True},
}


def _plain_then_residual(cfg: Config, earlier: list[str]) -> Config | None:
    """The comparison: the same net, seed and data order, first plain, then residual."""
    return replace(cfg, residual=bool(earlier)) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, acc, grad = [], {}, {}
    for name, info in runs:
        final = info.status.get("final") or {}
        acc[name], grad[name] = final.get("val/acc"), final.get("train/grad_first_layer")
        rows.append({N_("net"): name, N_("status"): info.status.get("status"),
                     N_("test accuracy"): acc[name], N_("first layer's gradient"): grad[name],
                     N_("parameters"): info.status.get("params"),
                     N_("seconds"): info.status.get("seconds")})
    if len(runs) < 2 or any(v is None for v in acc.values()):
        return rows, _("The comparison is incomplete: a run did not finish.")
    depth = runs[0][1].config.get("depth", "?")
    (a, acc_a), (b, acc_b) = list(acc.items())[:2]
    text = _("At {depth} blocks the {a} net reached {acc_a:.0%} on the test digits, the {b} one "
             "{acc_b:.0%}.", depth=depth, a=a, acc_a=acc_a, b=b, acc_b=acc_b)
    ga, gb = grad.get(a), grad.get(b)
    if ga is not None and gb is not None and ga > 0 and gb > 10 * ga:
        text += " " + _("The {a} net's first layer got a gradient {ratio:,.0f} times smaller "
                        "than the {b} net's: the skip connections carry the signal back to the "
                        "input.", a=a, ratio=gb / ga, b=b)
    elif acc_a >= acc_b - 0.05:
        text += " " + _("At this depth the plain net still learns: make it deeper (30 blocks) "
                        "to see it stall.")
    return rows, text


COMPARE = {"label": "Compare plain vs residual", "names": ("plain", "residual"),
           "plan": _plain_then_residual, "table": comparison_table, "views": ("gradients",)}

DEMOS = {"plain-vs-residual": {"compare": True,
                               "title": "Plain vs residual at 30 blocks"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
