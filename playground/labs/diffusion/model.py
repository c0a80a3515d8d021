"""Diffusion's torch part: the schedule and the data as tensors, the denoisers, one step, the
samplers and their scores (the pictures, the overview and "Sample again" are in views.py)."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, uploads
from playground.data.base import split
from playground.data.images import load_pm1
from playground.data.toy2d import _points as toy_points
from playground.labs._shared import digit_judge, image_scores
from playground.labs.diffusion import IMAGES, Config, beta_schedule

EVAL_POINTS = 2000              # samples behind val/energy, as many held-out points
EVAL_IMAGES = 100               # samples the digit judge scores
TRAJECTORY = 8                  # small multiples from t = T to 0


# ---------------------------------------------------------------------------------------------
# The noise schedule

def betas(cfg: Config) -> torch.Tensor:
    """The schedule's beta_1..beta_T as a float64 tensor."""
    return torch.from_numpy(beta_schedule(cfg))


# ---------------------------------------------------------------------------------------------
# Data

def sample_points(cfg: Config, n: int, seed: int) -> np.ndarray:
    """n points of the 2-D set, scaled into [-1, 1]^2 like images are."""
    rng = np.random.default_rng(seed)
    if cfg.data == "swissroll":
        from sklearn.datasets import make_swiss_roll

        x = make_swiss_roll(n, noise=0.5, random_state=seed)[0][:, [0, 2]] / 13.0
    elif cfg.data == "ring":
        angle = rng.integers(0, 8, n) * 2 * np.pi / 8
        x = np.stack([np.cos(angle), np.sin(angle)], 1) + 0.05 * rng.standard_normal((n, 2))
    elif cfg.data == "points":
        pts = _own_points(cfg)
        x = pts[rng.integers(0, len(pts), n)] + 0.01 * rng.standard_normal((n, 2))
    else:
        x, _ = toy_points(cfg.data, n, 0.05 if cfg.data == "moons" else 0.03, seed)
        x = x / 1.1
    return np.clip(x, -1.2, 1.2).astype(np.float32)


def _own_points(cfg: Config) -> np.ndarray:
    """The visitor's uploaded CSV, centred and scaled into [-1, 1]^2."""
    return uploads.stored_points(cfg.points_file, fix={"data": "swissroll"})



def image_side(name: str) -> int:
    return {"digits": 16, "digits8": 8}.get(name, 28)


def load_data(cfg: Config) -> Data:
    if cfg.data in IMAGES:
        name = "digits" if cfg.data.startswith("digits") else cfg.data
        return load_pm1(name, size=16 if cfg.data == "digits" else None, seed=cfg.seed)
    x = sample_points(cfg, cfg.n_samples, cfg.seed)
    held_out = sample_points(cfg, EVAL_POINTS, cfg.seed + 1)
    y = np.zeros(len(x), np.int64)
    xtr, ytr, _, _ = split(x, y, 0.999, cfg.seed)
    return Data(train=(xtr, ytr), test=(torch.from_numpy(held_out),
                                        torch.zeros(len(held_out), dtype=torch.long)),
                num_classes=0, input_shape=(2,), kind="2d", name=cfg.data)


# ---------------------------------------------------------------------------------------------
# The denoisers: eps_theta(x_t, t)

def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The transformer's sinusoidal position code, of the step number t."""
    half = dim // 2
    freq = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angle = t.float()[:, None] * freq[None]
    return torch.cat([angle.sin(), angle.cos()], 1)


class PointDenoiser(nn.Module):
    """[x, sin/cos of x (optional), embedding of t] -> MLP -> the predicted noise (2 numbers)."""

    T_DIM, X_FREQS = 32, 8

    def __init__(self, cfg: Config):
        super().__init__()
        self.fourier = cfg.fourier
        d = 2 + self.T_DIM + (4 * self.X_FREQS if cfg.fourier else 0)
        mods = []
        for _ in range(cfg.layers):
            mods += [nn.Linear(d, cfg.width), nn.GELU()]
            d = cfg.width
        self.net = nn.Sequential(*mods, nn.Linear(d, 2))

    def forward(self, x, t):
        parts = [x, time_embedding(t, self.T_DIM)]
        if self.fourier:
            freq = 25.0 * torch.exp(-math.log(10_000.0) * torch.arange(
                self.X_FREQS, device=x.device) / self.X_FREQS)
            angle = (x[..., None] * freq).flatten(1)
            parts += [angle.sin(), angle.cos()]
        return self.net(torch.cat(parts, 1))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the step's embedding added in between, and a skip."""

    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(emb)[:, :, None, None]
        return self.conv2(F.silu(self.norm2(h))) + self.skip(x)


class UNet(nn.Module):
    """A small U-Net: two resolutions (side, side/2), a block at each on the way down, one in
    the middle, one on the way up after the skip connection."""

    def __init__(self, width: int):
        super().__init__()
        c, t_dim = width, 4 * width
        self.width = c
        self.time = nn.Sequential(nn.Linear(c, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.down1 = ResBlock(c, c, t_dim)
        self.pool = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.down2 = ResBlock(2 * c, 2 * c, t_dim)
        self.mid = ResBlock(2 * c, 2 * c, t_dim)
        self.unpool = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)
        self.up1 = ResBlock(2 * c, c, t_dim)
        self.head = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x, t):
        emb = self.time(time_embedding(t, self.width))
        h1 = self.down1(self.stem(x), emb)
        h2 = self.mid(self.down2(self.pool(h1), emb), emb)
        return self.head(self.up1(torch.cat([self.unpool(h2), h1], 1), emb))


def make_denoiser(cfg: Config) -> nn.Module:
    return UNet(cfg.width) if cfg.data in IMAGES else PointDenoiser(cfg)


def blueprint(cfg: Config):
    # two inputs: a noisy batch and its step numbers
    side = image_side(cfg.data)
    x = torch.zeros(2, 1, side, side) if cfg.data in IMAGES else torch.zeros(2, 2)
    return make_denoiser(cfg), (x, torch.zeros(2, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# Training

@dataclass
class State:
    cfg: Config
    net: nn.Module                      # what the optimizer trains
    model: nn.Module                    # what samples, is saved and exported: the EMA, or net
    opt: torch.optim.Optimizer
    abar: torch.Tensor                  # (T,) float32 on the device
    beta: torch.Tensor
    gen: torch.Generator                # the training noise
    clip: float                         # |x_0| predictions are clipped to the data's range
    judge: nn.Module | None = None
    steps: int = 0
    ema_pairs: tuple | None = None      # (EMA parameters, trained parameters), listed once
    drawn: tuple | None = None          # (steps, samples, snapshots) of the run's own look


def build(cfg: Config, data: Data) -> State:
    device = data.test[0].device
    net = make_denoiser(cfg).to(device)
    model = copy.deepcopy(net).requires_grad_(False) if cfg.ema else net
    b = betas(cfg)
    judge = digit_judge(data) if cfg.data in IMAGES else None
    pairs = (list(model.parameters()), list(net.parameters())) if cfg.ema else None
    return State(cfg, net, model, torch.optim.Adam(net.parameters(), lr=cfg.lr, foreach=True),
                 torch.cumprod(1 - b, 0).float().to(device), b.float().to(device),
                 torch.Generator(device=device).manual_seed(cfg.seed + 7),
                 1.0 if cfg.data in IMAGES else 1.2, judge, ema_pairs=pairs)


def noised(s: State, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The forward process in one jump: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
    a = s.abar[t].view(-1, *([1] * (x0.ndim - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    x0 = batch[0]
    t = torch.randint(0, s.cfg.T, (len(x0),), device=x0.device, generator=s.gen)
    eps = torch.randn(x0.shape, device=x0.device, generator=s.gen)
    loss = F.mse_loss(s.net(noised(s, x0, t, eps), t), eps)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    s.steps += 1
    if s.ema_pairs is not None:
        # the usual warm-up: early on the average follows quickly, later it is 0.999
        decay = min(0.999, (1 + s.steps) / (10 + s.steps))
        torch._foreach_lerp_(*s.ema_pairs, 1 - decay)
    return {"train/loss": loss.detach()}


# ---------------------------------------------------------------------------------------------
# Sampling: DDPM's ancestral steps, or DDIM's shortcut

def timesteps(cfg: Config, sampler: str, steps: int) -> list[int]:
    if sampler == "ddpm":
        return list(range(cfg.T - 1, -1, -1))
    return sorted({int(round(v)) for v in np.linspace(cfg.T - 1, 0, max(1, steps))},
                  reverse=True)


def denoise(s: State, z: torch.Tensor, sampler: str | None = None, steps: int | None = None,
            eta: float | None = None, gen: torch.Generator | None = None,
            keep: int = 0) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Noise z (at t = T) -> samples (t = 0), with `keep` snapshots [(t, x_t)] on the way
    (t = T first). The predicted x_0 is clipped to the data's range at every step, as DDPM's
    sampler does: at large t dividing by sqrt(abar_t) would blow small errors up."""
    cfg = s.cfg
    sampler = sampler or cfg.sampler
    eta = cfg.eta if eta is None else eta
    ts = timesteps(cfg, sampler, steps or cfg.sample_steps)
    marks = set(np.linspace(0, len(ts), keep).round().astype(int).tolist()) if keep else set()
    shots = [(cfg.T, z)] if 0 in marks else []
    x = z
    one = torch.ones((), device=z.device)
    for i, t in enumerate(ts):
        a = s.abar[t]
        prev = ts[i + 1] if i + 1 < len(ts) else -1
        a_prev = s.abar[prev] if prev >= 0 else one
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.long)
        eps = s.model(x, tt).float()
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-s.clip, s.clip)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        if sampler == "ddpm":
            beta = 1 - a / a_prev
            mean = (a_prev.sqrt() * beta / (1 - a)) * x0 + ((1 - beta).sqrt() * (1 - a_prev)
                                                             / (1 - a)) * x
            sigma = (beta * (1 - a_prev) / (1 - a)).sqrt()
        else:
            sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp_min(0).sqrt()
            mean = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp_min(0).sqrt() * eps
        x = mean
        if prev >= 0 and float(sigma) > 0:
            x = mean + sigma * torch.randn(x.shape, device=x.device, generator=gen)
        if i + 1 in marks:             # labelled 1..T like the forward process; 0 = done
            shots.append((prev + 1, x))
    return x, shots


def _fixed_noise(s: State, n: int, shape: tuple) -> tuple[torch.Tensor, torch.Generator]:
    """The same starting noise at every look: the pictures change only as the model does."""
    device = s.abar.device
    gen = torch.Generator(device=device).manual_seed(s.cfg.sample_seed * 7919 + 11)
    return torch.randn((n,) + tuple(shape), device=device, generator=gen), gen


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """2 E|X - Y| - E|X - X'| - E|Y - Y'|: 0 exactly when the two distributions are equal."""
    return 2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()


def scores(s: State, data: Data, sampler: str | None = None, steps: int | None = None,
           eta: float | None = None) -> dict[str, torch.Tensor]:
    if s.judge is not None:
        z, gen = _fixed_noise(s, EVAL_IMAGES, data.test[0].shape[1:])
        x, _ = denoise(s, z, sampler, steps, eta, gen)
        return image_scores(s.judge, x, data.num_classes)
    if sampler is None and steps is None and eta is None:
        z, x, _ = _own_look(s)
    else:
        z, gen = _fixed_noise(s, EVAL_POINTS, (2,))
        x, _ = denoise(s, z, sampler, steps, eta, gen)
    held = data.test[0]
    return {"val/energy": energy_distance(x, held), "val/energy_noise": energy_distance(z, held)}


def _own_look(s: State) -> tuple[torch.Tensor, torch.Tensor, list]:
    """(noise, samples, snapshots) of the run's own sampler from its fixed noise: made once per
    training step however many ask (the score and the pictures, usually at the same step)."""
    if s.drawn is None or s.drawn[0] != s.steps:
        z, gen = _fixed_noise(s, EVAL_POINTS, (2,))
        s.drawn = (s.steps, z, *denoise(s, z, gen=gen, keep=TRAJECTORY))
    return s.drawn[1:]


def evaluate(s: State, data: Data) -> dict[str, float]:
    out = scores(s, data)
    return dict(zip(out, torch.stack(list(out.values())).tolist()))


# ---------------------------------------------------------------------------------------------
# What the page shows, before Train and after it: views.py, which draws with what is defined
# above (so it is imported last)

from playground.labs.diffusion import views  # noqa: E402

artifacts, overview, explore = views.artifacts, views.overview, views.explore
