"""Denoising diffusion (DDPM, Ho et al., 2020). A fixed forward process adds Gaussian noise to
the data in T small steps, x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, until nothing but noise
is left. A network learns the reverse: given x_t and t it predicts the noise eps that was added
(the loss is plain mean squared error). Sampling starts from pure noise and removes the predicted
noise step by step; DDIM (Song et al., 2021) takes the same trained network through far fewer
steps. Stable to train, slow to sample.

**What the page shows.** On 2-D data: the samples over the data, the same 2,000 points on their
way from noise (t = T) to data (t = 0), and the learned noise field - arrows showing where the
network would move a point at a given noise level. On images: samples from a fixed noise batch
and one sample's way from noise to digit. Before Train, the noise schedule itself: how much of
the signal is left at each step, with a warning when the last step still keeps too much of it.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.data import Data, DataUnavailable, uploads
from playground.data.base import split
from playground.data.images import load_pm1
from playground.data.toy2d import _points as toy_points
from playground.engine.device import DEVICE_CHOICES
from playground.labs._shared import (digit_judge, image_scores, points_exportable,
                                     points_stubs)
from playground.params import param
from playground.ui import charts

TITLE, ICON, SECTION = "Diffusion", "🌫️", "Generative"
TRY_THIS = ("Train the default swiss roll and watch the orange samples flow from a Gaussian blob "
            "onto the roll; the trajectory panel shows the same points at every noise level. "
            "Then pick the preset 'T = 50': the schedule above Train warns that the last step "
            "still keeps 78% of the signal - press 'Linear vs cosine' to see what that costs.")

STAGE = ("data", "schedule", "T", "sampler")
POINTS = ("swissroll", "moons", "ring", "spiral", "points")
IMAGES = ("digits", "digits8", "mnist", "fashion_mnist")
SIGNAL_LEFT_WARNING = 0.1       # sqrt(abar_T) above this: sampling starts from the wrong place
EVAL_POINTS = 2000              # samples behind val/energy, as many held-out points
EVAL_IMAGES = 100               # samples the digit judge scores
TRAJECTORY = 8                  # small multiples from t = T to 0


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
        errors.append("data = points needs your CSV of x,y points: upload it under 'Your "
                      "points', or pick another data set.")
    if cfg.schedule == "linear" and cfg.beta_start >= cfg.beta_end:
        errors.append(f"Beta start ({cfg.beta_start:g}) must be below beta end "
                      f"({cfg.beta_end:g}): the noise grows with t.")
    if cfg.sampler == "ddim" and cfg.sample_steps > cfg.T:
        errors.append(f"DDIM takes a subset of the T = {cfg.T} steps: sampling steps must be at "
                      f"most {cfg.T} (it is {cfg.sample_steps}).")
    if cfg.data in IMAGES and cfg.width % 8:
        errors.append(f"The U-Net's group norm splits channels in groups of 8: width must be a "
                      f"multiple of 8 (it is {cfg.width}).")
    return errors


# ---------------------------------------------------------------------------------------------
# The noise schedule

def betas(cfg: Config) -> torch.Tensor:
    """beta_1..beta_T in float64 (the products of T factors need it)."""
    if cfg.schedule == "linear":
        return torch.linspace(cfg.beta_start, cfg.beta_end, cfg.T, dtype=torch.float64)
    s = 0.008
    f = torch.cos((torch.arange(cfg.T + 1, dtype=torch.float64) / cfg.T + s) / (1 + s)
                  * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


def signal_left(cfg: Config) -> float:
    """sqrt(abar_T): the share of x_0 still in x_T. Sampling starts from pure noise, so this
    should be about 0."""
    return float(torch.cumprod(1 - betas(cfg), 0)[-1].sqrt())


def schedule_warning(cfg: Config) -> str:
    left = signal_left(cfg)
    if left < SIGNAL_LEFT_WARNING:
        return ""
    return (f"At t = T = {cfg.T} this schedule still keeps {left:.0%} of the signal "
            f"(sqrt(abar_T) = {left:.2f}), but sampling starts from pure noise: the model never "
            "learnt to denoise what it will be given, and its samples come out wrong. Raise T, "
            "raise beta end, or use the cosine schedule.")


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


exportable, export_stubs = points_exportable, points_stubs


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


ONNX_IO = (("x", "t"), ("noise",))


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
# What the page shows

def _layout(height: int = 420, box: float = 1.5) -> dict:
    return {"template": "plotly_white", "height": height,
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "xaxis": {"range": [-box, box], "showgrid": False},
            "yaxis": {"range": [-box, box], "scaleanchor": "x", "showgrid": False},
            "legend": {"orientation": "h", "y": -0.08}}


def _cloud(x: np.ndarray, name: str, color: str, size: int = 3) -> dict:
    return {"type": "scatter", "mode": "markers", "name": name, "x": x[:, 0].round(3).tolist(),
            "y": x[:, 1].round(3).tolist(), "marker": {"size": size, "color": color,
                                                       "opacity": 0.6}}


def _trajectory_view(shots: list[tuple[int, torch.Tensor]], real: np.ndarray) -> dict:
    """The same points at each kept t, as small multiples in one figure."""
    n = len(shots)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    traces, layout = [], {"template": "plotly_white", "height": 240 * rows, "showlegend": False,
                          "margin": {"l": 10, "r": 10, "t": 24, "b": 10}, "annotations": []}
    for k, (t, x) in enumerate(shots):
        r, c = divmod(k, cols)
        axis = "" if k == 0 else str(k + 1)
        dom_x = [c / cols + 0.01, (c + 1) / cols - 0.01]
        dom_y = [1 - (r + 1) / rows + 0.03, 1 - r / rows - 0.06]
        layout[f"xaxis{axis}"] = {"domain": dom_x, "range": [-2.2, 2.2], "visible": False}
        layout[f"yaxis{axis}"] = {"domain": dom_y, "range": [-2.2, 2.2], "visible": False,
                                  "scaleanchor": f"x{axis}"}
        pts = x.cpu().numpy()[:600]
        traces.append({"type": "scatter", "mode": "markers", "x": real[:300, 0].tolist(),
                       "y": real[:300, 1].tolist(), "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                       "marker": {"size": 2, "color": "#2ca02c", "opacity": 0.3},
                       "hoverinfo": "skip"})
        traces.append({"type": "scatter", "mode": "markers", "x": pts[:, 0].round(3).tolist(),
                       "y": pts[:, 1].round(3).tolist(), "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                       "marker": {"size": 2, "color": charts.ORANGE, "opacity": 0.7},
                       "hoverinfo": "skip"})
        layout["annotations"].append({"text": f"t = {t}", "showarrow": False, "xref": "paper",
                                      "yref": "paper", "x": sum(dom_x) / 2, "y": dom_y[1] + 0.05,
                                      "font": {"size": 12}})
    return charts.artifact("From noise to data: the same points at each t", "plotly",
                           {"data": traces, "layout": layout},
                           "600 of the 2,000 points at evenly spaced steps of the sampler, "
                           "t = T (pure noise) first; green: the data.")


def _animation_view(shots: list[tuple[int, torch.Tensor]], real: np.ndarray) -> dict:
    """The trajectory as a slider with a Play button (plotly frames, played in the browser)."""
    frames = [{"name": str(t), "data": [_cloud(real[:500], "data", "#2ca02c", 3),
                                        _cloud(x.cpu().numpy()[:1000], "samples",
                                               charts.ORANGE, 3)]} for t, x in shots]
    layout = {**_layout(440, 2.2),
              **charts.player(frames, "t = ", active=len(frames) - 1, frame_ms=400,
                              transition_ms=300)}
    return charts.artifact("Denoising, step by step", "plotly",
                           {"data": frames[-1]["data"], "layout": layout, "frames": frames},
                           "Drag the slider from t = T (noise) to 0, or press Play.")


def _field_view(s: State, real: np.ndarray, n: int = 21) -> dict:
    """-eps_theta(x, t) on a grid at a middle noise level: where denoising moves a point."""
    t = max(1, s.cfg.T // 10)
    axis = torch.linspace(-1.4, 1.4, n, device=s.abar.device)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    x = torch.stack([gx.flatten(), gy.flatten()], 1)
    eps = s.model(x, torch.full((len(x),), t, device=x.device, dtype=torch.long)).float()
    # direction exact, length compressed: near the data the noise is small but still points
    norm = eps.norm(dim=1, keepdim=True).clamp_min(1e-12)
    step = -eps / norm * 0.12 * (norm / norm.max()) ** 0.3
    start = x.cpu().numpy()
    fig = {"data": [_cloud(real[:800], "data", "#2ca02c", 3),
                    charts.arrows(start, start + step.cpu().numpy(), "-noise", "#7f3b08",
                                  head=6)],
           "layout": _layout()}
    return charts.artifact(f"The learned noise field at t = {t}", "plotly", fig,
                           "Each stroke: minus the predicted noise at that place, the direction "
                           "a denoising step moves a point (longer = more noise to remove). "
                           "They point onto the data.")


def _points_views(s: State, data: Data) -> dict[str, dict]:
    real = data.test[0].cpu().numpy()
    _, x, shots = _own_look(s)
    samples = {"data": [_cloud(real[:1000], "data", "#2ca02c"),
                        _cloud(x.cpu().numpy()[:1000], "samples", charts.ORANGE)],
               "layout": _layout()}
    taken = len(timesteps(s.cfg, s.cfg.sampler, s.cfg.sample_steps))
    return {"samples": charts.artifact("Samples over the data", "plotly", samples,
                                       f"Green: held-out data; orange: 1,000 samples "
                                       f"({s.cfg.sampler}, {taken} steps) from the same noise "
                                       "every time."),
            "field": _field_view(s, real),
            "trajectory": _trajectory_view(shots, real),
            "animation": _animation_view(shots, real)}


def _grid(images: torch.Tensor, cols: int, scale: int) -> str:
    return charts.image_grid((images.float() + 1) / 2, cols, scale=scale, padding=2)


def _image_views(s: State, data: Data) -> dict[str, dict]:
    shape = data.test[0].shape[1:]
    z, gen = _fixed_noise(s, 36, shape)
    x, shots = denoise(s, z, gen=gen, keep=10)
    scale = max(2, 64 // shape[-1])
    strip = torch.stack([shot[0] for _, shot in shots])
    return {"samples": charts.artifact("Samples from a fixed noise batch", "image",
                                       _grid(x, 6, scale),
                                       "The same 36 starting noises at every picture."),
            "strip": charts.artifact("One sample, from noise to digit", "image",
                                     _grid(strip, len(strip), scale),
                                     "t = " + ", ".join(str(t) for t, _ in shots) + ".")}


def artifacts(s: State, data: Data) -> dict[str, dict]:
    return _image_views(s, data) if s.judge is not None else _points_views(s, data)


CURVES = (("energy", "Energy distance to held-out data", True,
           {"pure noise": "val/energy_noise"}),
          ("confident", "Confident samples", False),
          ("class_entropy", "Class entropy (1 = all digits)", False))
HEADLINE = (("val/energy", "energy"), ("val/confident", "confident"))


# ---------------------------------------------------------------------------------------------
# Before Train: the schedule

def overview(cfg: Config) -> dict[str, dict]:
    b = betas(cfg)
    abar = torch.cumprod(1 - b, 0)
    t = list(range(1, cfg.T + 1))
    keep = np.unique(np.linspace(0, cfg.T - 1, min(cfg.T, 400)).astype(int))
    signal = abar.sqrt().numpy()
    snr = (abar / (1 - abar)).clamp_min(1e-12).numpy()
    fig = {"data": [{"type": "scatter", "x": [t[i] for i in keep],
                     "y": signal[keep].round(5).tolist(), "name": "sqrt(abar): signal left"},
                    {"type": "scatter", "x": [t[i] for i in keep],
                     "y": np.log10(snr[keep]).round(3).tolist(), "name": "log10 SNR",
                     "yaxis": "y2", "line": {"dash": "dot"}}],
           "layout": {"template": "plotly_white", "height": 280,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"title": {"text": "t"}},
                      "yaxis": {"title": {"text": "signal left"}, "range": [0, 1.02]},
                      "yaxis2": {"title": {"text": "log10 SNR"}, "overlaying": "y",
                                 "side": "right", "showgrid": False},
                      "legend": {"orientation": "h", "y": -0.25}}}
    items = {"schedule": charts.artifact(
        f"The noise schedule ({cfg.schedule}, T = {cfg.T})", "plotly", fig,
        f"At t = T: {signal[-1]:.1%} of the signal left, signal-to-noise {snr[-1]:.1e}.")}
    warning = schedule_warning(cfg)
    if warning:
        items["warning"] = charts.artifact("The last step keeps too much signal", "warning",
                                           warning)
    if cfg.data in IMAGES:
        try:
            items["forward"] = _forward_image_view(cfg, abar)
        except DataUnavailable:
            pass                        # not downloaded yet: Train says so, with the fix
    elif cfg.data != "points":
        items["forward"] = _forward_view(cfg, abar)
    return items


def _forward_image_view(cfg: Config, abar: torch.Tensor) -> dict:
    x0 = load_data(cfg).test[0][:1]
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    ts = sorted({0, cfg.T // 10, cfg.T // 4, cfg.T // 2, 3 * cfg.T // 4, cfg.T - 1})
    row = torch.cat([abar[t].sqrt().float() * x0 + (1 - abar[t]).sqrt().float() * eps
                     for t in ts]).clamp(-1, 1)
    return charts.artifact("The forward process: a test image as noise is added", "image",
                           _grid(row, len(ts), max(2, 64 // x0.shape[-1])),
                           "t = " + ", ".join(str(t + 1) for t in ts) + ": by t = T it should "
                           "be noise with nothing of the digit left.")


def _forward_view(cfg: Config, abar: torch.Tensor) -> dict:
    """The data under the forward process at a few t: what the model learns to undo."""
    x0 = torch.from_numpy(sample_points(cfg, 600, cfg.seed))
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn(x0.shape, generator=gen)
    ts = sorted({0, cfg.T // 10, cfg.T // 4, cfg.T // 2, cfg.T - 1})
    shots = [(t + 1, abar[t].sqrt().float() * x0 + (1 - abar[t]).sqrt().float() * eps)
             for t in ts]
    item = _trajectory_view(shots, x0.numpy())
    return {**item, "title": "The forward process: the data as noise is added",
            "caption": "The same 600 points at t = " + ", ".join(str(t) for t, _ in shots)
                       + ": by t = T they should look like a Gaussian blob."}


# ---------------------------------------------------------------------------------------------
# After training: sample again, another way

def _finished(cfg: Config, model_path: str) -> tuple[Data, State]:
    from playground.engine import inference

    data = load_data(cfg)
    with torch.random.fork_rng(devices=[]):
        s = build(cfg, data)
    inference.load_weights(s.model, model_path)
    return data, s


def explore(cfg: Config, model_path: str, sample_steps: int) -> dict[str, dict]:
    from playground.engine import server

    cfg = replace(cfg, sample_steps=sample_steps)
    if cfg.sampler == "ddim" and sample_steps > cfg.T:
        raise ValueError(f"DDIM takes at most T = {cfg.T} steps")
    # it samples in the shared server: refused before the model is even built
    server.check_steps(cfg.T if cfg.sampler == "ddpm" else sample_steps,
                       " DDPM takes all T steps: pick DDIM, with fewer steps."
                       if cfg.sampler == "ddpm" else "")
    data, s = _finished(cfg, model_path)
    with torch.no_grad():
        t0 = time.perf_counter()
        views = artifacts(s, data)
        took = time.perf_counter() - t0
        out = {k: views[k] for k in ("samples", "trajectory", "strip") if k in views}
        out["samples"] = {**out["samples"], "caption": out["samples"]["caption"]
                          + f" Pictures made in {took:.2f} s."}
        out["speed"] = _speed_view(s, data)
    return out


def _speed_view(s: State, data: Data) -> dict:
    """Quality against sampling time: DDIM at several step counts and DDPM's T, same model."""
    from playground.engine import server

    cfg = s.cfg
    if cfg.data in IMAGES:             # a U-Net step costs 100x an MLP's: DDIM only
        plan = [("ddim", k) for k in (5, 10, 20, 50, 100) if k <= cfg.T]
    else:
        plan = [("ddim", k) for k in (5, 10, 20, 50, 100, 250, cfg.T) if k <= cfg.T]
        plan.append(("ddpm", cfg.T))
    most = server.max_steps()          # a shared server samples no more at a look
    kept = [(sampler, k) for sampler, k in plan if most is None or k <= most]
    left_out = (f" Left out: the step counts over this shared server's {most:,}."
                if len(kept) < len(plan) else "")
    plan = kept
    rows = []
    metric = "val/confident" if s.judge is not None else "val/energy"
    for sampler, k in dict.fromkeys(plan):
        t0 = time.perf_counter()
        out = scores(s, data, sampler, k, 0.0 if sampler == "ddim" else None)
        rows.append({"sampler": sampler, "steps": k, metric: float(out[metric]),
                     "seconds": time.perf_counter() - t0,
                     "noise": float(out.get("val/energy_noise", float("nan")))})
    label = "confident samples (higher is better)" if s.judge is not None else \
        "energy distance to data (lower is better)"
    fig = {"data": [{"type": "scatter", "mode": "lines+markers+text", "name": sampler,
                     "x": [r["seconds"] for r in rows if r["sampler"] == sampler],
                     "y": [r[metric] for r in rows if r["sampler"] == sampler],
                     "text": [f"{r['steps']}" for r in rows if r["sampler"] == sampler],
                     "textposition": "top center"} for sampler in ("ddim", "ddpm")],
           "layout": {"template": "plotly_white", "height": 320,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"title": {"text": "seconds to sample"}, "type": "log",
                                "dtick": 1, "exponentformat": "power"},
                      "yaxis": {"title": {"text": label}},
                      "legend": {"orientation": "h", "y": -0.3}}}
    what = (f"{EVAL_IMAGES} images" if s.judge is not None else f"{EVAL_POINTS:,} points")
    return charts.artifact("Quality against sampling time", "plotly", fig,
                           f"The same trained model sampling {what} with DDIM at several step "
                           f"counts (labels) and with DDPM's {cfg.T} steps.{left_out}")


EXPLORE = {"title": "Sample again from the finished model", "field": "sample_steps",
           "fn": explore, "options": ("sampler", "eta", "sample_seed"), "cap": "server_steps",
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
        parsed, _ = params.parse(Config, info.config)
        rows.append({"schedule": name, "status": info.status.get("status"),
                     "signal left at T": signal_left(parsed) if parsed else None,
                     "energy": energy, "energy / noise's": ratio.get(name),
                     "confident": final.get("val/confident"),
                     "seconds": info.status.get("seconds")})
    if len(ratio) < 2:
        if len(runs) == 2 and all(r["confident"] is not None for r in rows):
            (a, ca), (b, cb) = [(r["schedule"], r["confident"]) for r in rows]
            return rows, f"Confident digits: {a} {ca:.0%}, {b} {cb:.0%}."
        return rows, "The comparison is incomplete: a run did not finish."
    (a, ra), (b, rb) = list(ratio.items())[:2]
    return rows, (f"{a}: samples at {ra:.1%} of noise's energy distance from the data; {b}: "
                  f"{rb:.1%}. A schedule that leaves signal at t = T starts sampling from a "
                  "place the model was never trained on.")


COMPARE = {"label": "Linear vs cosine", "names": ("linear", "cosine"),
           "plan": _linear_then_cosine, "table": comparison_table, "views": ("samples",),
           "curves": (("train/loss", "Loss", True), ("val/energy", "Energy distance", True))}
