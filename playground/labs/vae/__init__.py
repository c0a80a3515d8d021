"""The VAE lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/vae.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.labs._common import OPTIMIZERS
from playground.params import param

TITLE, ICON, SECTION = "VAE", "🌀", "Generative"
TRY_THIS = ("Train the default (a VAE with a 2-D code on digits) and look at the decoded plane: "
            "every place decodes to a digit, and digits morph into each other. Then press 'AE vs "
            "VAE': the autoencoder's codes sprawl with holes between them, and its samples from "
            "N(0, I) are smudges.")

STAGE = ("model", "latent_dim", "beta")
DATASETS = ("digits", "mnist", "fashion_mnist")


@dataclass(frozen=True)
class Config:
    dataset: str = param("digits", choices=DATASETS, group="Data",
                         help="digits: scikit-learn's 8x8 digits shown at 16x16 (embedded). "
                              "MNIST and Fashion-MNIST: 28x28, through torchvision.")
    model: str = param("vae", choices=("vae", "ae"), group="Network",
                       help="vae: codes are distributions pulled towards N(0, I). ae: a plain "
                            "autoencoder, codes are points, nothing shapes where they go.")
    arch: str = param("mlp", choices=("mlp", "conv"), group="Network", label="Architecture",
                      help="mlp: fully connected encoder and decoder. conv: strided "
                           "convolutions down, transposed convolutions up.")
    latent_dim: int = param(2, lo=1, hi=128, group="Network", label="Code size",
                            help="Numbers in z. 2 draws the map and the decoded plane; more "
                                 "reconstructs better (the map then shows the first two "
                                 "principal directions).")
    hidden: int = param(256, lo=8, hi=2048, group="Network",
                        help="Units of each hidden layer (conv: channels of the last conv).")
    beta: float = param(1.0, lo=0.0, hi=50.0, group="Training",
                        help="Weight of the KL term (VAE only). 1: the ELBO; more: a smoother, "
                             "blurrier code (beta-VAE).")
    optimizer: str = param("adam", choices=OPTIMIZERS, group="Training",
                           help="momentum = SGD with momentum 0.9.")
    lr: float = param(0.002, lo=1e-6, hi=1.0, log=True, group="Training",
                      label="Learning rate", help="Step size of the optimizer.")
    batch_size: int = param(128, lo=2, hi=4096, group="Training", help="Images per step.")
    epochs: int = param(150, lo=1, hi=2000, group="Training",
                        help="Passes over the training images.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same data split, same weights, same curve.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one.")


PRESETS = {
    "VAE, 2-D code, digits (default)": {},
    "Autoencoder, 2-D code": {"model": "ae"},
    "beta-VAE (beta 4)": {"beta": 4.0},
    "VAE, 16-D code (sharper)": {"latent_dim": 16},
    "Conv VAE on MNIST": {"dataset": "mnist", "arch": "conv", "hidden": 64, "epochs": 5,
                          "latent_dim": 8},
}


CURVES = (("recon", "Reconstruction (nats per image)", False),
          ("kl", "KL to the prior (nats per image)", False),
          ("knn", "k-NN accuracy of the codes", False))
HEADLINE = ("val/knn", "k-NN acc")


# ---------------------------------------------------------------------------------------------
# The comparison

def _ae_then_vae(cfg: Config, earlier: list[str]) -> Config | None:
    plan = ("ae", "vae")
    return replace(cfg, model=plan[len(earlier)]) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows = []
    for name, info in runs:
        final = info.status.get("final") or {}
        rows.append({N_("model"): name, N_("status"): info.status.get("status"),
                     N_("reconstruction"): final.get("val/recon"), N_("KL"): final.get("val/kl"),
                     N_("k-NN accuracy"): final.get("val/knn"),
                     N_("seconds"): info.status.get("seconds")})
    if len(rows) < 2 or any(r["reconstruction"] is None for r in rows):
        return rows, _("The comparison is incomplete: a run did not finish.")
    return rows, _("The AE reconstructs about as well (its code need not be tidy); compare its "
                   "samples from N(0, I) and its decoded plane with the VAE's: only the VAE's "
                   "codes fill the prior, so only its samples look like digits.")


COMPARE = {"label": "AE vs VAE", "names": ("AE", "VAE"), "plan": _ae_then_vae,
           "table": comparison_table, "views": ("grid",)}

DEMOS = {"ae-vs-vae": {"compare": True, "picture": "grid",
                       "title": "Autoencoder vs VAE: a latent space to sample from"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
