"""Diffusion's pictures: the samples, the noise field and the way from noise to data; the noise
schedule before Train; "Sample again" from a finished run."""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import torch

from playground.data import Data, DataUnavailable
from playground.i18n import N_
from playground.labs.diffusion import IMAGES, Config, schedule_warning
from playground.labs.diffusion.model import (EVAL_IMAGES, EVAL_POINTS, State, _fixed_noise,
                                             _own_look, betas, build, denoise, load_data,
                                             sample_points, scores, timesteps)
from playground.ui import charts

POINTS_CAPTION = N_("Green: held-out data; orange: 1,000 samples ({sampler}, {taken} steps) from "
                    "the same noise every time.")
IMAGES_CAPTION = N_("The same 36 starting noises at every picture.")
# "Sample again" says how long its pictures took: the same captions, timed
TIMED = {POINTS_CAPTION: N_("Green: held-out data; orange: 1,000 samples ({sampler}, {taken} "
                            "steps) from the same noise every time. Pictures made in {took:.2f} "
                            "s."),
         IMAGES_CAPTION: N_("The same 36 starting noises at every picture. Pictures made in "
                            "{took:.2f} s.")}


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


def _trajectory_view(shots: list[tuple[int, torch.Tensor]], real: np.ndarray,
                     title: str = N_("From noise to data: the same points at each t"),
                     caption: str = N_("600 of the 2,000 points at evenly spaced steps of the "
                                       "sampler, t = T (pure noise) first; green: the data."),
                     **values) -> dict:
    """The same points at each kept t, as small multiples in one figure; `title` and `caption`
    messages, their placeholders `values`."""
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
    return charts.artifact(title, "plotly", {"data": traces, "layout": layout}, caption,
                           **values)


def _animation_view(shots: list[tuple[int, torch.Tensor]], real: np.ndarray) -> dict:
    """The trajectory as a slider with a Play button (plotly frames, played in the browser)."""
    frames = [{"name": str(t), "data": [_cloud(real[:500], N_("data"), "#2ca02c", 3),
                                        _cloud(x.cpu().numpy()[:1000], N_("samples"),
                                               charts.ORANGE, 3)]} for t, x in shots]
    layout = {**_layout(440, 2.2),
              **charts.player(frames, "t = ", active=len(frames) - 1, frame_ms=400,
                              transition_ms=300)}
    return charts.artifact(N_("Denoising, step by step"), "plotly",
                           {"data": frames[-1]["data"], "layout": layout, "frames": frames},
                           N_("Drag the slider from t = T (noise) to 0, or press Play."))


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
    fig = {"data": [_cloud(real[:800], N_("data"), "#2ca02c", 3),
                    charts.arrows(start, start + step.cpu().numpy(), N_("-noise"), "#7f3b08",
                                  head=6)],
           "layout": _layout()}
    return charts.artifact(N_("The learned noise field at t = {t}"), "plotly", fig,
                           N_("Each stroke: minus the predicted noise at that place, the "
                              "direction a denoising step moves a point (longer = more noise to "
                              "remove). They point onto the data."), t=t)


def _points_views(s: State, data: Data) -> dict[str, dict]:
    real = data.test[0].cpu().numpy()
    _, x, shots = _own_look(s)
    samples = {"data": [_cloud(real[:1000], N_("data"), "#2ca02c"),
                        _cloud(x.cpu().numpy()[:1000], N_("samples"), charts.ORANGE)],
               "layout": _layout()}
    taken = len(timesteps(s.cfg, s.cfg.sampler, s.cfg.sample_steps))
    return {"samples": charts.artifact(N_("Samples over the data"), "plotly", samples,
                                       POINTS_CAPTION, sampler=s.cfg.sampler, taken=taken),
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
    return {"samples": charts.artifact(N_("Samples from a fixed noise batch"), "image",
                                       _grid(x, 6, scale), IMAGES_CAPTION),
            "strip": charts.artifact(N_("One sample, from noise to digit"), "image",
                                     _grid(strip, len(strip), scale), N_("t = {steps}."),
                                     steps=", ".join(str(t) for t, _ in shots))}


def artifacts(s: State, data: Data) -> dict[str, dict]:
    return _image_views(s, data) if s.judge is not None else _points_views(s, data)


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
                     "y": signal[keep].round(5).tolist(), "name": N_("sqrt(abar): signal left")},
                    {"type": "scatter", "x": [t[i] for i in keep],
                     "y": np.log10(snr[keep]).round(3).tolist(), "name": N_("log10 SNR"),
                     "yaxis": "y2", "line": {"dash": "dot"}}],
           "layout": {"template": "plotly_white", "height": 280,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"title": {"text": "t"}},
                      "yaxis": {"title": {"text": N_("signal left")}, "range": [0, 1.02]},
                      "yaxis2": {"title": {"text": N_("log10 SNR")}, "overlaying": "y",
                                 "side": "right", "showgrid": False},
                      "legend": {"orientation": "h", "y": -0.25}}}
    items = {"schedule": charts.artifact(
        N_("The noise schedule ({schedule}, T = {T})"), "plotly", fig,
        N_("At t = T: {left:.1%} of the signal left, signal-to-noise {snr:.1e}."),
        schedule=cfg.schedule, T=cfg.T, left=float(signal[-1]), snr=float(snr[-1]))}
    warning = schedule_warning(cfg)
    if warning:
        items["warning"] = charts.artifact(N_("The last step keeps too much signal"), "warning",
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
    return charts.artifact(N_("The forward process: a test image as noise is added"), "image",
                           _grid(row, len(ts), max(2, 64 // x0.shape[-1])),
                           N_("t = {steps}: by t = T it should be noise with nothing of the "
                              "digit left."), steps=", ".join(str(t + 1) for t in ts))


def _forward_view(cfg: Config, abar: torch.Tensor) -> dict:
    """The data under the forward process at a few t: what the model learns to undo."""
    x0 = torch.from_numpy(sample_points(cfg, 600, cfg.seed))
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn(x0.shape, generator=gen)
    ts = sorted({0, cfg.T // 10, cfg.T // 4, cfg.T // 2, cfg.T - 1})
    shots = [(t + 1, abar[t].sqrt().float() * x0 + (1 - abar[t]).sqrt().float() * eps)
             for t in ts]
    return _trajectory_view(shots, x0.numpy(),
                            N_("The forward process: the data as noise is added"),
                            N_("The same 600 points at t = {steps}: by t = T they should look "
                               "like a Gaussian blob."),
                            steps=", ".join(str(t) for t, _ in shots))


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
        out["samples"] = _timed(out["samples"], took)
        out["speed"] = _speed_view(s, data)
    return out


def _timed(item: dict, took: float) -> dict:
    """A samples picture whose caption also says how long its pictures took."""
    words = item.get("words") or {}
    values = {**(words.get("values") or {}), "took": took}
    return charts.artifact(words.get("title") or item["title"], item["kind"], item["data"],
                           TIMED[words.get("caption") or item["caption"]], **values)


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
    left_out = len(kept) < len(plan)
    plan = kept
    rows = []
    metric = "val/confident" if s.judge is not None else "val/energy"
    for sampler, k in dict.fromkeys(plan):
        t0 = time.perf_counter()
        out = scores(s, data, sampler, k, 0.0 if sampler == "ddim" else None)
        rows.append({"sampler": sampler, "steps": k, metric: float(out[metric]),
                     "seconds": time.perf_counter() - t0,
                     "noise": float(out.get("val/energy_noise", float("nan")))})
    label = N_("confident samples (higher is better)") if s.judge is not None else \
        N_("energy distance to data (lower is better)")
    fig = {"data": [{"type": "scatter", "mode": "lines+markers+text", "name": sampler,
                     "x": [r["seconds"] for r in rows if r["sampler"] == sampler],
                     "y": [r[metric] for r in rows if r["sampler"] == sampler],
                     "text": [f"{r['steps']}" for r in rows if r["sampler"] == sampler],
                     "textposition": "top center"} for sampler in ("ddim", "ddpm")],
           "layout": {"template": "plotly_white", "height": 320,
                      "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                      "xaxis": {"title": {"text": N_("seconds to sample")}, "type": "log",
                                "dtick": 1, "exponentformat": "power"},
                      "yaxis": {"title": {"text": label}},
                      "legend": {"orientation": "h", "y": -0.3}}}
    if s.judge is not None:
        n, caption = EVAL_IMAGES, (
            N_("The same trained model sampling {n} images with DDIM at several step counts "
               "(labels) and with DDPM's {T} steps. Left out: the step counts over this shared "
               "server's {most:,}.") if left_out else
            N_("The same trained model sampling {n} images with DDIM at several step counts "
               "(labels) and with DDPM's {T} steps."))
    else:
        n, caption = EVAL_POINTS, (
            N_("The same trained model sampling {n:,} points with DDIM at several step counts "
               "(labels) and with DDPM's {T} steps. Left out: the step counts over this shared "
               "server's {most:,}.") if left_out else
            N_("The same trained model sampling {n:,} points with DDIM at several step counts "
               "(labels) and with DDPM's {T} steps."))
    return charts.artifact(N_("Quality against sampling time"), "plotly", fig, caption, n=n,
                           T=cfg.T, **({"most": most} if left_out else {}))
