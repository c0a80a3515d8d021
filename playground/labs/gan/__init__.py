"""The GAN lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/gan.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import points_exportable, points_stubs
from playground.params import param

TITLE, ICON, SECTION = "GAN", "🎭", "Generative"
TRY_THIS = ("Train the default on the ring of 8 Gaussians and watch the orange points spread "
            "to all 8 modes. Then pick the preset 'Mode collapse' (or press 'Collapse vs fix'): "
            "the generator sits on one or two modes and hops between them as D catches up.")

STAGE = ("data", "loss", "d_steps", "steps")
POINTS = ("ring", "grid", "moons", "spiral", "points")
IMAGES = ("digits", "mnist", "fashion_mnist")
LOSSES = ("nonsaturating", "minimax", "wgan-gp", "hinge")


@dataclass(frozen=True)
class Config:
    data: str = param("ring", choices=POINTS + IMAGES, group="Data",
                      help="2-D: ring (8 Gaussians on a circle), grid (25 Gaussians), moons, "
                           "spiral, or points: your own CSV of x,y. Images: digits (embedded), "
                           "MNIST, Fashion-MNIST.")
    points_file: str = param("", upload=("csv",), group="Data", label="Your points (.csv)",
                             help="data = points: one x,y pair per line (a header line is "
                                  "skipped); at least 10 points. They are centred and scaled "
                                  "into [-1, 1].")
    n_samples: int = param(10_000, lo=100, hi=100_000, group="Data", label="Samples",
                           help="2-D: how many real points to draw from the distribution.")
    latent_dim: int = param(2, lo=1, hi=512, group="Network", label="Noise dimensions",
                            help="Size of the noise z the generator starts from.")
    width: int = param(128, lo=4, hi=1024, group="Network",
                       help="Units per hidden layer of G and D (images: channels of the "
                            "first conv layer, doubled in the next).")
    layers: int = param(3, lo=1, hi=6, group="Network",
                        help="Hidden layers of G and of D (2-D only).")
    activation: str = param("relu", choices=("relu", "leaky_relu", "tanh", "gelu"),
                            group="Network", help="Non-linearity of G (D uses leaky ReLU).")
    spectral_norm: bool = param(False, group="Network", label="Spectral norm on D",
                                help="Bound each of D's layers to Lipschitz 1 (Miyato et al., "
                                     "2018): a smoother D, steadier training.")
    loss: str = param("nonsaturating", choices=LOSSES, group="Training",
                      help="nonsaturating: G maximises log D(G(z)). minimax: G minimises "
                           "log(1 - D(G(z))), the original game (weak gradients early). "
                           "wgan-gp: Wasserstein critic with a gradient penalty. hinge.")
    d_steps: int = param(1, lo=1, hi=10, group="Training", label="D steps per G step",
                         help="Discriminator updates before each generator update.")
    lr: float = param(0.001, lo=1e-6, hi=1.0, log=True, group="Training", label="G lr",
                      help="Adam step size of the generator.")
    d_lr: float = param(0.001, lo=1e-6, hi=1.0, log=True, group="Training", label="D lr",
                        help="Adam step size of the discriminator.")
    beta1: float = param(0.5, lo=0.0, hi=0.999, group="Training", label="Adam beta1",
                         help="Momentum of both Adams; GANs usually use 0.5 or less.")
    beta2: float = param(0.999, lo=0.0, hi=0.9999, group="Training", label="Adam beta2",
                         help="Second-moment decay of both Adams.")
    gp_weight: float = param(1.0, lo=0.0, hi=100.0, group="Training", label="Gradient penalty",
                             when={"loss": ("wgan-gp",)},
                             help="wgan-gp: weight of the penalty on |grad D| - 1.")
    batch_size: int = param(256, lo=2, hi=4096, group="Training", help="Real samples per step.")
    steps: int = param(1500, lo=1, hi=100_000, group="Training",
                       help="Generator updates (each after its D steps).")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data, same noise, same game.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "Ring of 8 Gaussians (default)": {},
    "Mode collapse": {"latent_dim": 256, "lr": 0.0001, "d_lr": 0.0001},
    "The fix: WGAN-GP, same noise and lr": {"latent_dim": 256, "lr": 0.0001, "d_lr": 0.0001,
                                             "loss": "wgan-gp", "d_steps": 3, "beta1": 0.0,
                                             "beta2": 0.9},
    "Grid of 25 Gaussians": {"data": "grid", "steps": 5000},
    "Two moons": {"data": "moons"},
    "WGAN-GP on the ring": {"loss": "wgan-gp", "d_steps": 5, "lr": 0.0005, "d_lr": 0.0005,
                            "beta1": 0.0, "beta2": 0.9},
    "DCGAN on digits": {"data": "digits", "latent_dim": 64, "width": 32, "lr": 0.0002,
                        "d_lr": 0.0002, "batch_size": 64, "steps": 1500},
}


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.data == "points" and not cfg.points_file:
        errors.append(_("data = points needs your CSV of x,y points: upload it under 'Your "
                        "points', or pick another data set."))
    if cfg.loss == "wgan-gp" and cfg.gp_weight == 0:
        errors.append(_("wgan-gp without its gradient penalty is an unconstrained critic that "
                        "diverges: set the gradient penalty above 0 (10 in the paper)."))
    return errors


exportable, export_stubs = points_exportable, points_stubs


# ---------------------------------------------------------------------------------------------
# Slow motion (GAN Lab's step-by-step): one player's update per click, from a finished run

STEPS = {"title": "Slow motion: one player at a time",
         "help": "Pick up this run where it ended and play the game by hand: a D step moves the "
                 "background (what D calls real), a G step moves the orange points along the "
                 "brown arrows. Nothing is saved; the run itself is unchanged.",
         "ready": "The run as it ended. Take a step: only the player you pick moves.",
         "optimizers": ("opt_g", "opt_d"),
         "actions": ("One D step", "One G step", "One full step (D, then G)")}


# The page charts these beside each other; runs are listed by modes covered.
CURVES = (("d_loss", "D loss", False), ("g_loss", "G loss", False),
          ("d_real", "D on real / fake", False), ("modes", "Modes covered", False),
          ("quality", "Quality (share near the data)", False),
          ("coverage", "Coverage (share of the data reached)", False),
          ("confident", "Confident samples", False),
          ("class_entropy", "Class entropy (1 = all digits)", False))
HEADLINE = ("val/modes", "modes")


# ---------------------------------------------------------------------------------------------
# The comparison: the collapse preset, then the fix, same seed

def _collapse_then_fix(cfg: Config, earlier: list[str]) -> Config | None:
    plans = (PRESETS["Mode collapse"], PRESETS["The fix: WGAN-GP, same noise and lr"])
    if len(earlier) >= len(plans):
        return None
    # the visitor's data, seed and number of G steps; the rest from the preset
    reset = ("loss", "spectral_norm", "d_steps", "beta1", "beta2")
    plan = {k: v for k, v in plans[len(earlier)].items() if k != "steps"}
    return replace(cfg, **{**{k: getattr(Config(), k) for k in reset}, **plan})


def comparison_table(runs) -> tuple[list[dict], str]:
    rows, modes = [], {}
    for name, info in runs:
        final = info.status.get("final") or {}
        modes[name] = final.get("val/modes")
        rows.append({N_("run"): name, N_("status"): info.status.get("status"),
                     N_("modes covered"): final.get("val/modes"),
                     N_("quality"): final.get("val/quality"),
                     N_("coverage"): final.get("val/coverage"),
                     N_("seconds"): info.status.get("seconds")})
    if not runs or any(v is None for v in modes.values()):
        return rows, _("The comparison is incomplete: a run did not finish.")
    (a, ma), (b, mb) = list(modes.items())[:2]
    return rows, _("{a}: {ma:.0f} modes covered; {b}: {mb:.0f}. A collapsed generator puts its "
                   "samples on a few modes; the fix spreads them over all.",
                   a=a, ma=ma, b=b, mb=mb)


COMPARE = {"label": "Collapse vs fix", "names": ("collapse", "fix"), "plan": _collapse_then_fix,
           "table": comparison_table, "views": ("points",),
           "curves": (("train/g_loss", "G loss", True), ("val/modes", "Modes covered", False))}

DEMOS = {"ring": {"title": "Eight modes of a ring, found one by one"},
        "collapse-vs-fix": {"compare": True, "title": "Mode collapse, then the fix (WGAN-GP)"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
