"""The Diffusion lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/diffusion.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import points_exportable, points_stubs
from playground.params import param

TITLE, ICON, SECTION = "Diffusion", "🌫️", "Generative"
TRY_THIS = ("Train the default swiss roll and watch the orange samples flow from a Gaussian blob "
            "onto the roll; the trajectory panel shows the same points at every noise level. "
            "Then pick the preset 'T = 50': the schedule above Train warns that the last step "
            "still keeps 78% of the signal - press 'Linear vs cosine' to see what that costs.")

STAGE = ("data", "schedule", "T", "sampler")
POINTS = ("swissroll", "moons", "ring", "spiral", "points")
IMAGES = ("digits", "digits8", "mnist", "fashion_mnist")
SIGNAL_LEFT_WARNING = 0.1       # sqrt(abar_T) above this: sampling starts from the wrong place


@dataclass(frozen=True)
class Config:
    data: str = param("swissroll", choices=POINTS + IMAGES, group="Data",
                      help="2-D: swissroll, moons, ring (8 Gaussians), spiral, or points: your "
                           "own CSV of x,y. Images: digits (embedded, upscaled to 16x16), "
                           "digits8 (the original 8x8), MNIST, Fashion-MNIST.")
    points_file: str = param("", upload=("csv",), group="Data", label="Your points (.csv)",
                             help="data = points: one x,y pair per line (a header line is "
                                  "skipped); at least 10 points. They are centred and scaled "
                                  "into [-1, 1].")
    n_samples: int = param(10_000, lo=100, hi=100_000, group="Data", label="Samples",
                           help="2-D: how many training points to draw.")
    schedule: str = param("linear", choices=("linear", "cosine"), group="Diffusion",
                          help="How the noise grows with t. linear: beta from beta start to "
                               "beta end (DDPM). cosine: abar(t) follows a squared cosine "
                               "(Nichol & Dhariwal, 2021) and ignores the beta range.")
    T: int = param(1000, lo=2, hi=4000, group="Diffusion", label="T (noise steps)",
                   help="Steps of the forward process; at least 2. DDPM used 1,000.")
    beta_start: float = param(1e-4, lo=1e-6, hi=0.5, log=True, group="Diffusion",
                              help="Linear schedule: the noise variance added at the first "
                                   "step, in (0, 1).")
    beta_end: float = param(0.02, lo=1e-5, hi=0.999, log=True, group="Diffusion",
                            help="Linear schedule: the noise variance added at the last step, "
                                 "in (0, 1) and above beta start.")
    sampler: str = param("ddim", choices=("ddim", "ddpm"), group="Sampling",
                         help="ddpm: the ancestral sampler, all T steps, fresh noise at each. "
                              "ddim: a subset of the steps (sampling steps), deterministic "
                              "at eta = 0.")
    sample_steps: int = param(50, lo=1, hi=4000, group="Sampling", label="Sampling steps",
                              when={"sampler": ("ddim",)},
                              help="ddim: how many of the T steps sampling takes (at most T).")
    eta: float = param(0.0, lo=0.0, hi=1.0, group="Sampling",
                       when={"sampler": ("ddim",)},
                       help="ddim: 0 = deterministic, 1 = as much fresh noise as DDPM.")
    sample_seed: int = param(0, lo=0, hi=2**31 - 1, group="Sampling",
                             help="Which starting noise the pictures and the score sample "
                                  "from; the same noise at every look, so they change only "
                                  "as the model does.")
    width: int = param(128, lo=8, hi=1024, group="Network",
                       help="2-D: units per hidden layer of the MLP. Images: channels of the "
                            "U-Net's first level (doubled in the next).")
    layers: int = param(3, lo=1, hi=8, group="Network", help="2-D: hidden layers of the MLP.")
    fourier: bool = param(True, group="Network", label="Fourier features of x",
                          help="2-D: feed sin/cos of the coordinates at several frequencies "
                               "too - fine detail (the roll's arms) comes much sooner.")
    ema: bool = param(True, group="Training", label="EMA of weights",
                      help="Sample with an exponential moving average of the weights (decay "
                           "0.999): much steadier samples than the last step's weights.")
    lr: float = param(0.001, lo=1e-6, hi=1.0, log=True, group="Training",
                      help="Adam step size.")
    batch_size: int = param(256, lo=2, hi=4096, group="Training",
                            help="Examples per step, each at its own random t.")
    steps: int = param(3000, lo=1, hi=200_000, group="Training",
                       help="Training steps (one random t per example per step).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same noise, same model.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Swiss roll (default)": {},
    "T = 50: the linear schedule's mistake": {"T": 50},
    "Two moons": {"data": "moons"},
    "Ring of 8 Gaussians": {"data": "ring"},
    "Digits (U-Net, a few CPU minutes)": {"data": "digits", "width": 32, "batch_size": 64,
                                          "steps": 2500, "lr": 0.001},
    "Digits 8x8 (fast)": {"data": "digits8", "width": 32, "batch_size": 64, "steps": 2000},
}


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.data == "points" and not cfg.points_file:
        errors.append(_("data = points needs your CSV of x,y points: upload it under 'Your "
                        "points', or pick another data set."))
    if cfg.schedule == "linear" and cfg.beta_start >= cfg.beta_end:
        errors.append(_("Beta start ({start:g}) must be below beta end ({end:g}): the noise "
                        "grows with t.", start=cfg.beta_start, end=cfg.beta_end))
    if cfg.sampler == "ddim" and cfg.sample_steps > cfg.T:
        errors.append(_("DDIM takes a subset of the T = {T} steps: sampling steps must be at "
                        "most {T} (it is {steps}).", T=cfg.T, steps=cfg.sample_steps))
    if cfg.data in IMAGES and cfg.width % 8:
        errors.append(_("The U-Net's group norm splits channels in groups of 8: width must be a "
                        "multiple of 8 (it is {width}).", width=cfg.width))
    return errors


exportable, export_stubs = points_exportable, points_stubs


# ---------------------------------------------------------------------------------------------
# The noise schedule (numpy: the comparison's table, drawn by the page, shows the signal left)

def beta_schedule(cfg: Config) -> np.ndarray:
    """beta_1..beta_T in float64 (the products of T factors need it)."""
    if cfg.schedule == "linear":
        return np.linspace(cfg.beta_start, cfg.beta_end, cfg.T, dtype=np.float64)
    s = 0.008
    f = np.cos((np.arange(cfg.T + 1, dtype=np.float64) / cfg.T + s) / (1 + s)
               * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clip(max=0.999)


def signal_left(cfg: Config) -> float:
    """sqrt(abar_T): the share of x_0 still in x_T. Sampling starts from pure noise, so this
    should be about 0."""
    return float(np.sqrt(np.cumprod(1 - beta_schedule(cfg))[-1]))


def schedule_warning(cfg: Config) -> str:
    left = signal_left(cfg)
    if left < SIGNAL_LEFT_WARNING:
        return ""
    return _("At t = T = {T} this schedule still keeps {left:.0%} of the signal "
             "(sqrt(abar_T) = {left:.2f}), but sampling starts from pure noise: the model never "
             "learnt to denoise what it will be given, and its samples come out wrong. Raise T, "
             "raise beta end, or use the cosine schedule.", T=cfg.T, left=left)


ONNX_IO = (("x", "t"), ("noise",))

CURVES = (("energy", "Energy distance to held-out data", True,
           {"pure noise": "val/energy_noise"}),
          ("confident", "Confident samples", False),
          ("class_entropy", "Class entropy (1 = all digits)", False))
HEADLINE = (("val/energy", "energy"), ("val/confident", "confident"))

EXPLORE = {"title": "Sample again from the finished model", "field": "sample_steps",
           "options": ("sampler", "eta", "sample_seed"), "cap": "server_steps",
           "help": "Sampling steps (DDIM); the sampler, eta and seed beside it. Nothing is "
                   "retrained; the chart compares quality and time over step counts."}


# ---------------------------------------------------------------------------------------------
# The comparison: the same run under the linear and the cosine schedule

def _linear_then_cosine(cfg: Config, earlier: list[str]) -> Config | None:
    plan = ("linear", "cosine")
    return replace(cfg, schedule=plan[len(earlier)]) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    from playground import params

    rows, ratio = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        energy, noise = final.get("val/energy"), final.get("val/energy_noise")
        if energy is not None and noise:
            ratio[name] = energy / noise
        parsed, _errors = params.parse(Config, info.config)
        rows.append({N_("schedule"): name, N_("status"): info.status.get("status"),
                     N_("signal left at T"): signal_left(parsed) if parsed else None,
                     N_("energy"): energy, N_("energy / noise's"): ratio.get(name),
                     N_("confident"): final.get("val/confident"),
                     N_("seconds"): info.status.get("seconds")})
    if len(ratio) < 2:
        if len(runs) == 2 and all(r["confident"] is not None for r in rows):
            (a, ca), (b, cb) = [(r["schedule"], r["confident"]) for r in rows]
            return rows, _("Confident digits: {a} {ca:.0%}, {b} {cb:.0%}.", a=a, ca=ca, b=b,
                           cb=cb)
        return rows, _("The comparison is incomplete: a run did not finish.")
    (a, ra), (b, rb) = list(ratio.items())[:2]
    return rows, _("{a}: samples at {ra:.1%} of noise's energy distance from the data; {b}: "
                   "{rb:.1%}. A schedule that leaves signal at t = T starts sampling from a "
                   "place the model was never trained on.", a=a, ra=ra, b=b, rb=rb)


COMPARE = {"label": "Linear vs cosine", "names": ("linear", "cosine"),
           "plan": _linear_then_cosine, "table": comparison_table, "views": ("samples",),
           "curves": (("train/loss", "Loss", True), ("val/energy", "Energy distance", True))}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
