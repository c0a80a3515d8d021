"""The VAE's torch part: pixels as tensors, encoder and decoder, the -ELBO step, the pictures."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data
from playground.data.images import load_images
from playground.i18n import N_
from playground.labs._shared import make_optimizer
from playground.labs.vae import Config
from playground.ui import charts

GRID = 12                        # the decoded plane: GRID x GRID images


# ---------------------------------------------------------------------------------------------
# Data: pixels in [0, 1] (the decoder's sigmoid), labels only for the map and k-NN

def side(dataset: str) -> int:
    return 16 if dataset == "digits" else 28


def load_data(cfg: Config) -> Data:
    data = load_images(cfg.dataset, size=16 if cfg.dataset == "digits" else None, seed=cfg.seed)
    mean, std = data.extra["mean"], data.extra["std"]
    pixels = lambda t: (t * std + mean).clamp(0, 1)                        # noqa: E731
    return replace(data, train=(pixels(data.train[0]), data.train[1]),
                   test=(pixels(data.test[0]), data.test[1]))


# ---------------------------------------------------------------------------------------------
# Model

class AutoEncoder(nn.Module):
    """x -> encoder -> (mu, log var) or a point z -> decoder -> logits of every pixel."""

    def __init__(self, cfg: Config, s: int):
        super().__init__()
        self.cfg, self.side = cfg, s
        out = 2 * cfg.latent_dim if cfg.model == "vae" else cfg.latent_dim
        h = cfg.hidden
        if cfg.arch == "conv":
            c = max(4, h // 2)
            self.encoder = nn.Sequential(
                nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, h, 4, 2, 1), nn.ReLU(),
                nn.Flatten(), nn.Linear(h * (s // 4) ** 2, out))                # (B, out)
            self.decoder = nn.Sequential(
                nn.Linear(cfg.latent_dim, h * (s // 4) ** 2), nn.ReLU(),
                nn.Unflatten(1, (h, s // 4, s // 4)),
                nn.ConvTranspose2d(h, c, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(c, 1, 4, 2, 1))                             # (B, 1, s, s)
        else:
            n = s * s
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n, h), nn.ReLU(),
                                         nn.Linear(h, h), nn.ReLU(), nn.Linear(h, out))
            self.decoder = nn.Sequential(nn.Linear(cfg.latent_dim, h), nn.ReLU(),
                                         nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n),
                                         nn.Unflatten(1, (1, s, s)))

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, log variance) for a VAE, (z, None) for an AE."""
        out = self.encoder(x)
        if self.cfg.model == "vae":
            mu, logvar = out.chunk(2, dim=1)
            return mu, logvar.clamp(-12, 8)
        return out, None

    def forward(self, x):                   # reconstruction logits from the code's mean
        return self.decoder(self.encode(x)[0])


def blueprint(cfg: Config):
    return AutoEncoder(cfg, side(cfg.dataset)), (1, side(cfg.dataset), side(cfg.dataset))


@dataclass
class State:
    cfg: Config
    model: AutoEncoder
    opt: torch.optim.Optimizer
    gen: torch.Generator                    # the noise of the reparameterisation


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    model = AutoEncoder(cfg, data.input_shape[-1]).to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 5)
    return State(cfg, model, make_optimizer(cfg.optimizer, model.parameters(), cfg.lr), gen)


# ---------------------------------------------------------------------------------------------
# Training: -ELBO = reconstruction + beta * KL, per image

def losses(s: State, x: torch.Tensor, sample: bool = True):
    """(reconstruction, KL) in nats per image, averaged over the batch."""
    mu, logvar = s.model.encode(x)
    z = mu
    if logvar is not None and sample:
        eps = torch.randn(mu.shape, generator=s.gen, device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps                       # the reparameterisation
    recon = F.binary_cross_entropy_with_logits(s.model.decoder(z), x, reduction="sum") / len(x)
    if logvar is None:
        return recon, torch.zeros((), device=x.device)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
    return recon, kl


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x = batch[0]
    recon, kl = losses(s, x)
    loss = recon + s.cfg.beta * kl
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    return {"train/loss": loss.detach(), "train/recon": recon.detach(), "train/kl": kl.detach()}


def codes(s: State, x: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([s.model.encode(x[i:i + chunk])[0] for i in range(0, len(x), chunk)])


def knn_accuracy(train_z, train_y, test_z, test_y, k: int = 5) -> torch.Tensor:
    """Share of test codes whose k nearest training codes mostly carry their label."""
    near = torch.cdist(test_z, train_z).topk(k, largest=False).indices          # (N, k)
    votes = F.one_hot(train_y[near], int(train_y.max()) + 1).sum(1)
    return (votes.argmax(1) == test_y).float().mean()


def evaluate(s: State, data: Data) -> dict[str, float]:
    x, y = data.test
    recon, kl = losses(s, x, sample=False)
    tz = codes(s, data.train[0][:3000])
    knn = knn_accuracy(tz, data.train[1][:3000], codes(s, x[:1000]), y[:1000])
    loss = recon + kl if s.cfg.model == "vae" else recon
    values = torch.stack([loss, recon, kl, knn]).tolist()
    return dict(zip(("val/loss", "val/recon", "val/kl", "val/knn"), values))


# ---------------------------------------------------------------------------------------------
# What the page shows

def _decode(s: State, z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(s.model.decoder(z))


def _reconstructions(s: State, data: Data, n: int = 10) -> dict:
    x = data.test[0][:n]
    return charts.artifact(N_("Test images and their reconstructions"), "image",
                           charts.image_grid(torch.cat([x, _decode(s, s.model.encode(x)[0])]), n),
                           N_("Top: test images the model never trained on; bottom: decoded from "
                              "their codes."))


def _plane(z: torch.Tensor) -> torch.Tensor:
    """(n, D) codes -> (n, 2): the first two coordinates, or for a larger code its two main
    directions."""
    if z.shape[1] <= 2:
        return z if z.shape[1] == 2 else torch.cat([z, torch.zeros_like(z)], 1)
    centred = z - z.mean(0)
    _, _, v = torch.linalg.svd(centred.float(), full_matrices=False)
    return centred @ v[:2].T


def _map(s: State, data: Data, n: int = 1500) -> dict:
    z = _plane(codes(s, data.test[0][:n])).float().cpu().numpy()
    labels = data.test[1][:n].cpu().numpy()
    traces = [{"type": "scatter", "mode": "markers", "name": data.classes[c],
               "x": np.round(z[labels == c, 0], 3).tolist(),
               "y": np.round(z[labels == c, 1], 3).tolist(), "marker": {"size": 5}}
              for c in range(data.num_classes)]
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 420, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"title": {"text": "z1" if s.cfg.latent_dim <= 2 else N_("first direction")}},
        "yaxis": {"title": {"text": "z2" if s.cfg.latent_dim <= 2 else N_("second")},
                  "scaleanchor": "x"}, "legend": {"orientation": "h", "y": -0.12}}}
    caption = (N_("The mean of each test image's code, coloured by its true class (which the "
                  "model never saw). A VAE packs them around 0 with no gaps; an AE's scatter "
                  "anywhere.") if s.cfg.model == "vae" else
               N_("Each test image's code, coloured by its true class (which the model never "
                  "saw). A VAE packs them around 0 with no gaps; an AE's scatter anywhere."))
    return charts.artifact(N_("The code of every test image"), "plotly", fig, caption)


def _grid(s: State, data: Data) -> dict | None:
    if s.cfg.latent_dim != 2:
        return None
    if s.cfg.model == "vae":
        lo, hi = torch.tensor([-2.5, -2.5]), torch.tensor([2.5, 2.5])
    else:                                    # an AE's codes: wherever they landed
        z = codes(s, data.test[0][:1000]).cpu()
        lo, hi = z.quantile(0.02, 0), z.quantile(0.98, 0)
    xs = torch.linspace(float(lo[0]), float(hi[0]), GRID)
    ys = torch.linspace(float(hi[1]), float(lo[1]), GRID)           # top row = largest z2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    z = torch.stack([gx.flatten(), gy.flatten()], 1).to(data.test[0].device)
    caption = (N_("Each tile decodes one point of a {n} x {n} grid over z1 (left to right) and "
                  "z2 (bottom to top), -2.5 to 2.5 (most of N(0, I)).") if s.cfg.model == "vae"
               else N_("Each tile decodes one point of a {n} x {n} grid over z1 (left to right) "
                       "and z2 (bottom to top), the codes' range."))
    return charts.artifact(N_("Decoded all over the code plane"), "image",
                           charts.image_grid(_decode(s, z), GRID, 2), caption, n=GRID)


def _interpolation(s: State, data: Data, steps: int = 10) -> dict:
    x, y = data.test
    a = 0
    b = int((y != y[0]).nonzero()[0]) if (y != y[0]).any() else 1          # another class
    za, zb = s.model.encode(x[a:a + 1])[0], s.model.encode(x[b:b + 1])[0]
    t = torch.linspace(0, 1, steps, device=za.device)[:, None]
    frames = _decode(s, (1 - t) * za + t * zb)
    return charts.artifact(
        N_("From a {a} to a {b}"), "image",
        charts.image_grid(torch.cat([x[a:a + 1], frames, x[b:b + 1]]), steps + 2),
        N_("The two test images at the ends; between them, decoded from codes on the straight "
           "line between theirs."), a=data.classes[int(y[a])], b=data.classes[int(y[b])])


def _prior(s: State, data: Data) -> dict:
    z = torch.randn(32, s.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    return charts.artifact(N_("Samples from the prior N(0, I)"), "image",
                           charts.image_grid(_decode(s, z.to(data.test[0].device)), 8),
                           N_("Codes drawn at random from a standard normal, decoded. A VAE was "
                              "trained for this; an AE was not."))


def artifacts(s: State, data: Data) -> dict[str, dict]:
    s.model.eval()
    try:
        out = {"reconstructions": _reconstructions(s, data), "map": _map(s, data),
               "grid": _grid(s, data), "interpolation": _interpolation(s, data),
               "prior": _prior(s, data)}
    finally:
        s.model.train()
    return {k: v for k, v in out.items() if v is not None}
