"""The GAN's torch part: the real points and images, both players, the game's steps and scores,
GAN Lab's pictures and the slow-motion steps."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, uploads
from playground.data.base import split
from playground.data.images import load_pm1
from playground.data.toy2d import _points as toy_points
from playground.i18n import N_
from playground.labs._shared import ACTIVATIONS, digit_judge, image_scores
from playground.labs.gan import IMAGES, Config
from playground.ui import charts

MIXTURES = {"ring": 8, "grid": 25}
SIGMA = 0.05                    # standard deviation of every mixture component
NEAR = 3 * SIGMA                # a sample this close to a component (or a real point) counts
SHOWN = 500                     # points drawn per cloud
BOX = 1.6                       # the heatmap covers [-BOX, BOX]^2


# ---------------------------------------------------------------------------------------------
# Data

def mixture_centres(name: str) -> np.ndarray:
    if name == "ring":
        angle = np.arange(8) * 2 * np.pi / 8
        return np.stack([np.cos(angle), np.sin(angle)], 1)
    axis = np.linspace(-1, 1, 5)
    return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)


def sample_points(cfg: Config, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if cfg.data in MIXTURES:
        centres = mixture_centres(cfg.data)
        pick = rng.integers(0, len(centres), n)
        return (centres[pick] + SIGMA * rng.standard_normal((n, 2))).astype(np.float32)
    if cfg.data == "points":
        pts = _own_points(cfg)
        pick = rng.integers(0, len(pts), n)
        return (pts[pick] + 0.01 * rng.standard_normal((n, 2))).astype(np.float32)
    x, _ = toy_points(cfg.data, n, 0.05 if cfg.data == "moons" else 0.03, seed)
    return x / max(1e-6, np.abs(x).max())


def _own_points(cfg: Config) -> np.ndarray:
    """The visitor's uploaded CSV, centred and scaled into [-1, 1]^2."""
    return uploads.stored_points(cfg.points_file, fix={"data": "ring"})


def image_side(name: str) -> int:
    return 16 if name == "digits" else 28


def load_data(cfg: Config) -> Data:
    if cfg.data in IMAGES:
        return load_pm1(cfg.data, size=16 if cfg.data == "digits" else None, seed=cfg.seed)
    x = sample_points(cfg, cfg.n_samples, cfg.seed)
    held_out = sample_points(cfg, 2000, cfg.seed + 1)
    y = np.zeros(len(x), np.int64)
    xtr, ytr, _, _ = split(x, y, 0.999, cfg.seed)
    return Data(train=(xtr, ytr), test=(torch.from_numpy(held_out),
                                        torch.zeros(len(held_out), dtype=torch.long)),
                num_classes=0, input_shape=(2,), kind="2d", name=cfg.data)


# ---------------------------------------------------------------------------------------------
# Models

def _mlp(n_in: int, n_out: int, width: int, layers: int, act: type[nn.Module],
         wrap=lambda m: m) -> nn.Sequential:
    mods, d = [], n_in
    for _ in range(layers):
        mods += [wrap(nn.Linear(d, width)), act()]
        d = width
    return nn.Sequential(*mods, wrap(nn.Linear(d, n_out)))


class DCGenerator(nn.Module):
    """z -> (2w, s/4, s/4) -> upsample by transposed convs -> (1, s, s) in [-1, 1]."""

    def __init__(self, latent: int, width: int, side: int):
        super().__init__()
        self.base = side // 4
        self.fc = nn.Sequential(nn.Linear(latent, 2 * width * self.base ** 2),
                                nn.BatchNorm1d(2 * width * self.base ** 2), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.up(self.fc(z).view(len(z), -1, self.base, self.base))   # (B, 1, s, s)


class DCDiscriminator(nn.Module):
    """(1, s, s) -> strided convs -> one score (a logit)."""

    def __init__(self, width: int, side: int, wrap=lambda m: m):
        super().__init__()
        self.net = nn.Sequential(
            wrap(nn.Conv2d(1, width, 4, 2, 1)), nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2), nn.Flatten(),
            wrap(nn.Linear(2 * width * (side // 4) ** 2, 1)))

    def forward(self, x):
        return self.net(x)


class GAN(nn.Module):
    """Both players in one module (one set of weights to save, export and count)."""

    def __init__(self, cfg: Config):
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        if cfg.data in IMAGES:
            side = image_side(cfg.data)
            self.G = DCGenerator(cfg.latent_dim, cfg.width, side)
            self.D = DCDiscriminator(cfg.width, side, wrap)
        else:
            act = ACTIVATIONS[cfg.activation]
            self.G = _mlp(cfg.latent_dim, 2, cfg.width, cfg.layers, act)
            self.D = _mlp(2, 1, cfg.width, cfg.layers, lambda: nn.LeakyReLU(0.2), wrap)

    def forward(self, z):                 # the part one keeps: noise -> sample
        return self.G(z)


def blueprint(cfg: Config):
    return GAN(cfg), (cfg.latent_dim,)


@dataclass
class State:
    cfg: Config
    model: GAN
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    fixed_z: torch.Tensor
    gen: torch.Generator                     # the training noise
    # the noise of metrics and pictures: how often the page looks must not change the game
    look: torch.Generator
    judge: nn.Module | None = None           # images: a digit classifier for the metrics
    trail: list = field(default_factory=list)  # the fixed samples at each picture


def _adam(params, lr, cfg):
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), foreach=True)


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    model = GAN(cfg).to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 7)
    fixed = torch.randn(64, cfg.latent_dim, generator=gen, device=device)
    look = torch.Generator(device=device).manual_seed(cfg.seed + 11)
    judge = digit_judge(data) if cfg.data in IMAGES else None
    return State(cfg, model, _adam(model.G.parameters(), cfg.lr, cfg),
                 _adam(model.D.parameters(), cfg.d_lr, cfg), fixed, gen, look, judge)


# ---------------------------------------------------------------------------------------------
# One step of the game: D's updates, then G's

def _noise(s: State, n: int) -> torch.Tensor:
    return torch.randn(n, s.cfg.latent_dim, generator=s.gen, device=s.fixed_z.device)


def _gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(|grad D(x)| - 1)^2 at random points between real and fake samples."""
    t = torch.rand((len(real),) + (1,) * (real.ndim - 1), device=real.device)
    mid = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(mid).sum(), mid, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def d_loss(cfg: Config, D, real, fake) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, D's score of real, of fake), the scores as probabilities where D is a classifier."""
    lr, lf = D(real), D(fake)
    if cfg.loss in ("nonsaturating", "minimax"):
        loss = F.softplus(-lr).mean() + F.softplus(lf).mean()      # -log D(x) - log(1 - D(G(z)))
        return loss, torch.sigmoid(lr).mean(), torch.sigmoid(lf).mean()
    if cfg.loss == "hinge":
        loss = F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
    else:
        loss = lf.mean() - lr.mean() + cfg.gp_weight * _gradient_penalty(D, real, fake)
    return loss, lr.mean(), lf.mean()


def g_loss(cfg: Config, D, fake) -> torch.Tensor:
    lf = D(fake)
    if cfg.loss == "nonsaturating":
        return F.softplus(-lf).mean()                               # -log D(G(z))
    if cfg.loss == "minimax":
        return -F.softplus(lf).mean()                               # log(1 - D(G(z)))
    return -lf.mean()                                               # wgan-gp, hinge


def d_update(s: State, real: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One discriminator update on a real batch and as many fresh fakes: (loss, D(x), D(G(z)))."""
    with torch.no_grad():
        fake = s.model.G(_noise(s, len(real)))
    loss_d, score_real, score_fake = d_loss(s.cfg, s.model.D, real, fake)
    s.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    s.opt_d.step()
    return loss_d.detach(), score_real.detach(), score_fake.detach()


def g_update(s: State, n: int) -> torch.Tensor:
    """One generator update against the current D, on n fresh samples."""
    D = s.model.D
    D.requires_grad_(False)               # G's update must not leave gradients in D
    loss_g = g_loss(s.cfg, D, s.model.G(_noise(s, n)))
    s.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    s.opt_g.step()
    D.requires_grad_(True)
    return loss_g.detach()


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    real = batch[0]
    for _ in range(s.cfg.d_steps):
        loss_d, score_real, score_fake = d_update(s, real)
    loss_g = g_update(s, len(real))
    return {"train/d_loss": loss_d, "train/g_loss": loss_g,
            "train/d_real": score_real, "train/d_fake": score_fake}


# ---------------------------------------------------------------------------------------------
# How good are the samples

def _samples(s: State, n: int, z: torch.Tensor | None = None) -> torch.Tensor:
    # in train mode: DCGAN's batch norm samples with batch statistics, as it trains
    if z is None:
        z = torch.randn(n, s.cfg.latent_dim, generator=s.look, device=s.fixed_z.device)
    return s.model.G(z).float()


def point_scores(cfg: Config, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """quality: share of generated points near a real one (near a component, for mixtures);
    coverage: share of real points with a generated one near; modes: components with at least
    1% of the samples near them."""
    out = {"val/coverage": (torch.cdist(real, fake).min(1).values < NEAR).float().mean()}
    if cfg.data in MIXTURES:
        centres = torch.as_tensor(mixture_centres(cfg.data), dtype=fake.dtype, device=fake.device)
        dist, nearest = torch.cdist(fake, centres).min(1)
        near = dist < NEAR
        counts = torch.bincount(nearest[near], minlength=len(centres))
        out["val/quality"] = near.float().mean()
        out["val/modes"] = (counts >= 0.01 * len(fake)).sum().float()
    else:
        out["val/quality"] = (torch.cdist(fake, real).min(1).values < NEAR).float().mean()
    return out


def evaluate(s: State, data: Data) -> dict[str, float]:
    if s.judge is not None:
        out = image_scores(s.judge, _samples(s, 1000), data.num_classes)
    else:
        out = point_scores(s.cfg, _samples(s, 2000), data.test[0])
    return dict(zip(out, torch.stack(list(out.values())).tolist()))


# ---------------------------------------------------------------------------------------------
# What the page shows

TRAIL = 40                       # pictures of the fixed samples kept for their paths
FOLLOWED = 8                     # fixed noise vectors whose paths are drawn: more is a tangle


def _d_field(s: State, n: int = 60) -> tuple[list, np.ndarray]:
    axis = torch.linspace(-BOX, BOX, n, device=s.fixed_z.device)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    score = s.model.D(torch.stack([gx.flatten(), gy.flatten()], 1)).view(n, n).float()
    if s.cfg.loss in ("nonsaturating", "minimax"):
        score = torch.sigmoid(score)
    else:                                     # a critic's raw score: 0..1 over this picture
        score = (score - score.min()) / (score.max() - score.min()).clamp_min(1e-6)
    return axis.cpu().numpy().round(3).tolist(), score.cpu().numpy()


def _push(s: State, fake: torch.Tensor) -> np.ndarray:
    """-grad of G's loss at each generated point: where the generator's update moves it."""
    with torch.enable_grad():
        x = fake.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(g_loss(s.cfg, s.model.D, x) * len(x), x)
    step = -grad
    scale = 0.15 / step.norm(dim=1).max().clamp_min(1e-12)
    return (step * scale).cpu().numpy()


def _points_view(s: State, data: Data) -> dict:
    axis, score = _d_field(s)
    real = data.test[0][:SHOWN].cpu().numpy()
    fake_t = _samples(s, SHOWN)
    fake = fake_t.cpu().numpy()
    push = _push(s, fake_t[:150])
    critic = s.cfg.loss in ("nonsaturating", "minimax")
    traces = [{"type": "heatmap", "x": axis, "y": axis, "z": np.round(score, 3).tolist(),
               "zmin": 0, "zmax": 1, "colorscale": [[0, "#f2f2f2"], [1, "#9ecae1"]],
               "showscale": False, "hovertemplate": ("D(x) = %{z:.2f}" if critic else
                                                     "critic score (scaled) %{z:.2f}")
               + "<extra></extra>"},
              {"type": "scatter", "mode": "markers", "name": N_("real"),
               "x": real[:, 0].tolist(),
               "y": real[:, 1].tolist(), "marker": {"size": 4, "color": "#2ca02c",
                                                    "opacity": 0.6}},
              {"type": "scatter", "mode": "markers", "name": N_("generated"),
               "x": fake[:, 0].tolist(), "y": fake[:, 1].tolist(),
               "marker": {"size": 4, "color": charts.ORANGE, "opacity": 0.8}},
              charts.arrows(fake[:150], fake[:150] + push, N_("G's gradient"), "#7f3b08",
                            head=6)]
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 460, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "xaxis": {"range": [-BOX, BOX], "showgrid": False},
        "yaxis": {"range": [-BOX, BOX], "scaleanchor": "x", "showgrid": False},
        "legend": {"orientation": "h", "y": -0.08}}}
    return charts.artifact(
        N_("Real vs generated, and what D thinks"), "plotly", fig,
        N_("Green: real points; orange: generated. Background: D's probability that a place is "
           "real (darker = more real). Brown strokes: where G's next update pushes each "
           "sample."))


def _trail_view(s: State) -> dict:
    fixed = _samples(s, 0, s.fixed_z[:FOLLOWED]).cpu().numpy()
    s.trail = (s.trail + [fixed])[-TRAIL:]
    path = np.stack(s.trail, 1)                                     # (FOLLOWED, T, 2)
    xs, ys = [], []
    for p in path:
        xs += p[:, 0].tolist() + [None]
        ys += p[:, 1].tolist() + [None]
    # the whole of every path in the frame, the data's box at least
    reach = float(max(BOX, 1.05 * np.abs(path).max()))
    fig = {"data": [{"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": N_("path"),
                     "line": {"color": "#bbbbbb", "width": 1}},
                    {"type": "scatter", "mode": "markers", "name": N_("now"),
                     "x": path[:, -1, 0].tolist(), "y": path[:, -1, 1].tolist(),
                     "marker": {"color": charts.ORANGE, "size": 7}}],
           "layout": {"template": "plotly_white", "height": 460,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"range": [-reach, reach]},
                      "yaxis": {"range": [-reach, reach], "scaleanchor": "x"},
                      "legend": {"orientation": "h", "y": -0.08}}}
    return charts.artifact(N_("{followed} fixed noise vectors, followed"), "plotly", fig,
                           N_("The same z at each of the last {pictures} pictures: under mode "
                              "collapse they all travel together from one mode to the next."),
                           followed=FOLLOWED, pictures=len(s.trail))


def _grid(images: torch.Tensor, cols: int) -> str:
    return charts.image_grid((images + 1) / 2, cols, scale=3, padding=3)      # [-1, 1] -> [0, 1]


def _images_view(s: State) -> dict[str, dict]:
    fixed = _samples(s, 0, s.fixed_z)
    s.trail = (s.trail + [fixed[:10].cpu()])[-10:]
    return {"samples": charts.artifact(N_("Samples from a fixed noise batch"), "image",
                                       _grid(fixed, 8),
                                       N_("The same 64 z at every picture: watch them sharpen.")),
            "history": charts.artifact(N_("The first 10 over training"), "image",
                                       _grid(torch.cat(s.trail), 10),
                                       N_("One row per picture, oldest at the top (the last "
                                          "{pictures})."), pictures=len(s.trail))}


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if s.cfg.data in IMAGES:
        return _images_view(s)
    return {"points": _points_view(s, data), "trail": _trail_view(s)}


# ---------------------------------------------------------------------------------------------
# Slow motion (GAN Lab's step-by-step): one player's update per click, from a finished run

def _real_batch(s: State, data: Data) -> torch.Tensor:
    x = data.train[0]
    idx = torch.randint(0, len(x), (min(s.cfg.batch_size, len(x)),), generator=s.gen,
                        device=x.device)
    return x[idx]


def _step_d(s: State, data: Data) -> dict[str, torch.Tensor]:
    loss, real, fake = d_update(s, _real_batch(s, data))
    return {"D loss": loss, "D on real": real, "D on fake": fake}


def _step_g(s: State, data: Data) -> dict[str, torch.Tensor]:
    return {"G loss": g_update(s, min(s.cfg.batch_size, len(data.train[0])))}


def _step_both(s: State, data: Data) -> dict[str, torch.Tensor]:
    out = train_step(s, (_real_batch(s, data),))
    return {"D loss": out["train/d_loss"], "D on real": out["train/d_real"],
            "D on fake": out["train/d_fake"], "G loss": out["train/g_loss"]}


def show_steps(s: State, data: Data) -> dict[str, dict]:
    # the same noise at every picture, so that a step moves the points and nothing else does
    s.look.manual_seed(s.cfg.seed + 11)
    return artifacts(s, data)


STEP_ACTIONS = {"One D step": _step_d, "One G step": _step_g,
                "One full step (D, then G)": _step_both}
