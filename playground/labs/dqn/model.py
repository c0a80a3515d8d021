"""The DQN's torch part: the environment, the Q-network, the replay buffer, one update, the
pictures."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from playground.data import Data
from playground.i18n import N_
from playground.labs.dqn import Config, first_update
from playground.ui import charts

EVAL_SEED = 10_000           # evaluation episodes start from these seeds: every run, the same
MOVING = 20                  # episodes in the training return's moving average


# ---------------------------------------------------------------------------------------------
# The environment: gymnasium's, on the CPU; what the network sees and does

def make_env(name: str):
    import gymnasium as gym

    return gym.make(name)


@dataclass(frozen=True)
class EnvInfo:
    obs_dim: int
    n_actions: int
    actions: tuple[str, ...]
    max_steps: int
    solved: float               # a return that counts as solving it (gymnasium's threshold)


ACTIONS = {"CartPole-v1": ("push left", "push right"),
           "Acrobot-v1": ("torque -1", "no torque", "torque +1"),
           "MountainCar-v0": ("push left", "no push", "push right")}


def env_info(name: str) -> EnvInfo:
    env = make_env(name)
    try:
        return EnvInfo(int(np.prod(env.observation_space.shape)), int(env.action_space.n),
                       ACTIONS[name], int(env.spec.max_episode_steps),
                       float(env.spec.reward_threshold))
    finally:
        env.close()


def load_data(cfg: Config) -> Data:
    """No dataset: the agent makes its own. The 'examples' of an epoch are the replay buffer's
    capacity; train/test hold nothing (the buffer lives in the state, on the device)."""
    info = env_info(cfg.env)
    empty = (torch.zeros(0, info.obs_dim),)
    return Data(train=empty, test=empty, num_classes=info.n_actions,
                input_shape=(info.obs_dim,), classes=info.actions, kind="env", name=cfg.env,
                extra={"env": info}, n_examples=cfg.buffer_size)


# ---------------------------------------------------------------------------------------------
# The Q-network

class QNet(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        widths = (obs_dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], n_actions))

    def forward(self, x):
        return self.net(x)


def blueprint(cfg: Config):
    info = env_info(cfg.env)
    return QNet(info.obs_dim, info.n_actions, cfg.hidden_sizes), (info.obs_dim,)




# ---------------------------------------------------------------------------------------------
# Training: each loop step acts train_frequency times, then makes one update

@dataclass
class State:
    cfg: Config
    model: QNet
    target: QNet | None
    opt: torch.optim.Optimizer
    env: object
    info: EnvInfo
    rng: np.random.Generator                  # exploration: which steps are random, and how
    buffer: dict[str, torch.Tensor]           # the replay buffer, on the device
    probe: torch.Tensor                       # fixed states whose Q is tracked
    obs: np.ndarray
    t: int = 0                                # environment steps taken
    size: int = 0                             # transitions in the buffer
    pos: int = 0                              # where the next one goes
    staged: list = field(default_factory=list)       # transitions not yet on the device
    ep_return: float = 0.0
    ep_len: int = 0
    episodes: list = field(default_factory=list)     # (env step at its end, return, length)
    averaged: int = 0                                # episodes in the last moving average
    next_target: int = 0
    last: dict = field(default_factory=dict)         # the last update's metrics (tensors)
    best_return: float = -math.inf
    greedy: list = field(default_factory=list)       # the last greedy episode's states
    greedy_return: float | None = None
    # On a GPU the agent acts with a CPU copy of its network, refreshed after each update: one
    # copy from the device per update, where acting there waited on the GPU at every step
    actor: QNet | None = None


def epsilon(cfg: Config, t: int) -> float:
    span = max(1.0, cfg.exploration_fraction * cfg.env_steps)
    return cfg.eps_start + (cfg.eps_end - cfg.eps_start) * min(1.0, t / span)


def _probe_states(cfg: Config, n: int = 256) -> np.ndarray:
    """States met by a random policy from fixed seeds (the DQN paper tracks Q on such a set)."""
    env, rng, out = make_env(cfg.env), np.random.default_rng(EVAL_SEED), []
    obs, _ = env.reset(seed=EVAL_SEED - 1)
    while len(out) < n:
        out.append(obs)
        obs, _, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        if term or trunc:
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
    env.close()
    return np.asarray(out, dtype=np.float32)


def build(cfg: Config, data: Data) -> State:
    device = data.train[0].device
    info: EnvInfo = data.extra["env"]
    model = QNet(info.obs_dim, info.n_actions, cfg.hidden_sizes).to(device)
    target = None
    if cfg.target_network:
        target = QNet(info.obs_dim, info.n_actions, cfg.hidden_sizes).to(device)
        target.load_state_dict(model.state_dict())
        target.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = cfg.buffer_size
    buffer = {"obs": torch.zeros(n, info.obs_dim, device=device),
              "next": torch.zeros(n, info.obs_dim, device=device),
              "action": torch.zeros(n, dtype=torch.long, device=device),
              "reward": torch.zeros(n, device=device),
              "done": torch.zeros(n, device=device)}
    env = make_env(cfg.env)
    obs, _ = env.reset(seed=cfg.seed)
    zero = torch.zeros((), device=device)
    s = State(cfg, model, target, opt, env, info, np.random.default_rng(cfg.seed), buffer,
              torch.as_tensor(_probe_states(cfg), device=device), np.asarray(obs, np.float32),
              next_target=cfg.target_every)
    s.last = {"train/loss": zero, "train/q": zero, "train/epsilon": zero, "train/return": zero}
    if device.type != "cpu":
        s.actor = QNet(info.obs_dim, info.n_actions, cfg.hidden_sizes).requires_grad_(False)
        _refresh_actor(s)
    return s


def _refresh_actor(s: State) -> None:
    if s.actor is not None:
        with torch.no_grad():
            vector_to_parameters(parameters_to_vector(s.model.parameters()).cpu(),
                                 s.actor.parameters())


def _greedy_action(model: QNet, obs: np.ndarray, device) -> int:
    with torch.no_grad():
        return int(model(torch.as_tensor(obs, device=device)).argmax())


def _act(s: State, n: int) -> None:
    """n epsilon-greedy steps in the environment, each transition staged for the buffer."""
    cfg, dev = s.cfg, s.buffer["obs"].device
    for _ in range(n):
        if s.rng.random() < epsilon(cfg, s.t):
            action = int(s.rng.integers(s.info.n_actions))
        elif s.actor is not None:
            action = _greedy_action(s.actor, s.obs, "cpu")
        else:
            action = _greedy_action(s.model, s.obs, dev)
        nxt, reward, term, trunc, _ = s.env.step(action)
        nxt = np.asarray(nxt, np.float32)
        # a time limit is not a terminal state: its value still counts (only `term` cuts it)
        s.staged.append((s.obs, nxt, action, float(reward), float(term)))
        s.t += 1
        s.ep_return += float(reward)
        s.ep_len += 1
        if term or trunc:
            s.episodes.append((s.t, s.ep_return, s.ep_len))
            s.ep_return, s.ep_len = 0.0, 0
            nxt, _ = s.env.reset()
            nxt = np.asarray(nxt, np.float32)
        s.obs = nxt


def _flush(s: State) -> None:
    """Staged transitions to the device buffer in one copy per field (ring order kept)."""
    if not s.staged:
        return
    obs, nxt, action, reward, done = (np.asarray(v) for v in zip(*s.staged))
    s.staged = []
    total, cap = len(action), s.cfg.buffer_size
    n = min(total, cap)                           # more than it holds: only the newest stay
    d = obs.shape[1]
    # one copy to the device for all five fields (actions are small integers: exact in fp32)
    rows = np.concatenate([obs, nxt, np.stack([action, reward, done], 1)], 1,
                          dtype=np.float32)[total - n:]
    dev = s.buffer["obs"].device
    packed = torch.as_tensor(rows, device=dev)
    idx = (torch.arange(n, device=dev) + (s.pos + total - n)) % cap
    for key, value in (("obs", packed[:, :d]), ("next", packed[:, d:2 * d]),
                       ("action", packed[:, 2 * d]), ("reward", packed[:, 2 * d + 1]),
                       ("done", packed[:, 2 * d + 2])):
        s.buffer[key][idx] = value.to(s.buffer[key].dtype)
    s.pos = (s.pos + total) % cap
    s.size = min(cap, s.size + total)


def draw_batch(data: Data, batch_size: int, gen: torch.Generator, state: State):
    """The agent's own batch: it acts until its next update (the first time: until learning
    starts), then draws `batch_size` transitions from its replay buffer."""
    s = state
    _act(s, (first_update(s.cfg) if s.t == 0 else s.cfg.train_frequency))
    _flush(s)
    idx = torch.randint(s.size, (batch_size,), device=s.buffer["obs"].device, generator=gen)
    return tuple(s.buffer[k][idx] for k in ("obs", "action", "reward", "next", "done"))


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    cfg = s.cfg
    obs, action, reward, nxt, done = batch
    with torch.no_grad():
        scorer = s.target if s.target is not None else s.model
        if cfg.double_dqn:
            pick = s.model(nxt).argmax(1, keepdim=True)
            q_next = scorer(nxt).gather(1, pick).squeeze(1)
        else:
            q_next = scorer(nxt).max(1).values
        y = reward + cfg.gamma * q_next * (1 - done)
    q = s.model(obs).gather(1, action[:, None]).squeeze(1)
    loss = F.mse_loss(q, y) if cfg.loss == "mse" else F.smooth_l1_loss(q, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    s.opt.step()
    if s.target is not None and s.t >= s.next_target:
        with torch.no_grad():
            for tp, p in zip(s.target.parameters(), s.model.parameters()):
                tp.lerp_(p, cfg.tau)
        s.next_target += cfg.target_every * max(1, math.ceil((s.t - s.next_target + 1)
                                                               / cfg.target_every))
    dev = obs.device
    # host numbers become device scalars once per update (not per step): the window stacks them;
    # the moving average is made again only when an episode has ended since the last update
    ret = s.last["train/return"]
    if len(s.episodes) != s.averaged:
        s.averaged = len(s.episodes)
        ret = torch.full((), float(np.mean([r for _, r, _ in s.episodes[-MOVING:]])),
                         device=dev)
    # torch.full: a fill on the device, where torch.tensor would copy (and wait) from the host
    s.last = {"train/loss": loss.detach(), "train/q": q.detach().mean(),
              "train/epsilon": torch.full((), epsilon(cfg, s.t), device=dev), "train/return": ret}
    _refresh_actor(s)
    return s.last


def greedy_episodes(model: QNet, name: str, n: int, device, record: bool = False):
    """n greedy episodes from the fixed seeds, stepped together (one forward for all):
    (returns, the first episode's states when `record`)."""
    envs = [make_env(name) for _ in range(n)]
    obs = np.stack([np.asarray(e.reset(seed=EVAL_SEED + i)[0], np.float32)
                    for i, e in enumerate(envs)])
    returns, alive, frames = np.zeros(n), np.ones(n, bool), []
    try:
        while alive.any():
            if record and alive[0]:
                frames.append(obs[0].copy())
            live = np.flatnonzero(alive)
            with torch.no_grad():
                actions = model(torch.as_tensor(obs[live], device=device)).argmax(1).tolist()
            for i, a in zip(live, actions):
                o, r, term, trunc, _ = envs[i].step(a)
                obs[i] = o
                returns[i] += r
                if term or trunc:
                    alive[i] = False
                    if record and i == 0:
                        frames.append(np.asarray(o, np.float32))
    finally:
        for e in envs:
            e.close()
    return returns, frames


def evaluate(s: State, data: Data) -> dict[str, float]:
    dev = s.probe.device
    returns, frames = greedy_episodes(s.model, s.cfg.env, s.cfg.eval_episodes, dev, record=True)
    s.greedy, s.greedy_return = frames, float(returns[0])
    mean = float(returns.mean())
    s.best_return = max(s.best_return, mean)
    with torch.no_grad():
        q = s.model(s.probe).max(1).values.mean()
    return {"val/return": mean, "val/return_min": float(returns.min()),
            "val/best_return": s.best_return, "val/q": float(q),
            "val/episodes": float(len(s.episodes))}


# ---------------------------------------------------------------------------------------------
# What the page shows

def _returns_view(s: State) -> dict:
    eps = s.episodes
    if not eps:
        return charts.artifact(N_("Return of every training episode"), "markdown",
                               N_("No episode has ended yet."))
    t = np.array([e[0] for e in eps])
    r = np.array([e[1] for e in eps])
    c = np.concatenate([[0.0], r.cumsum()])
    lo = np.maximum(0, np.arange(len(r)) - MOVING + 1)
    avg = (c[1:] - c[lo]) / (np.arange(len(r)) + 1 - lo)      # over the last MOVING episodes
    keep = np.unique(np.linspace(0, len(t) - 1, min(len(t), 1500)).astype(int))
    traces = [{"type": "scatter", "mode": "markers", "name": N_("episode"),
               "x": t[keep].tolist(),
               "y": r[keep].round(2).tolist(), "marker": {"size": 3, "color": "#9ecae1"}},
              {"type": "scatter", "mode": "lines", "name": f"moving average ({MOVING})",
               "x": t[keep].tolist(), "y": avg[keep].round(2).tolist(),
               "line": {"color": charts.ORANGE, "width": 2.5}}]
    fig = {"data": traces, "layout": {
        "template": "plotly_white", "height": 380, "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "xaxis": {"title": {"text": N_("environment step")}},
        "yaxis": {"title": {"text": N_("return")}}, "legend": {"orientation": "h", "y": -0.2}}}
    return charts.artifact(N_("Return of every training episode"), "plotly", fig,
                           N_("{episodes:,} episodes in {steps:,} steps, exploring (epsilon now "
                              "{epsilon:.2f}); the greedy return is charted above."),
                           episodes=len(eps), steps=s.t, epsilon=float(epsilon(s.cfg, s.t)))


def _scene(name: str, state: np.ndarray) -> list[dict]:
    """The environment drawn from its state numbers as plotly traces (no renderer needed)."""
    line = lambda xs, ys, color, width, nm: {  # noqa: E731
        "type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": nm, "hoverinfo": "skip",
        "line": {"color": color, "width": width}}
    if name == "CartPole-v1":
        x, _, theta, _ = (float(v) for v in state)
        top = (x + 1.2 * math.sin(theta), 0.15 + 1.2 * math.cos(theta))
        return [line([-2.4, 2.4], [0, 0], "#888888", 2, N_("track")),
                line([x - .25, x + .25, x + .25, x - .25, x - .25], [0, 0, .3, .3, 0],
                     "#1f77b4", 3, N_("cart")),
                line([x, top[0]], [0.15, top[1]], charts.ORANGE, 7, N_("pole"))]
    if name == "Acrobot-v1":
        c1, s1, c2, s2 = (float(v) for v in state[:4])
        a1, a2 = math.atan2(s1, c1), math.atan2(s2, c2)
        p1 = (math.sin(a1), -math.cos(a1))
        p2 = (p1[0] + math.sin(a1 + a2), p1[1] - math.cos(a1 + a2))
        return [line([-2.2, 2.2], [1, 1], "#888888", 1, N_("goal")),
                line([0, p1[0], p2[0]], [0, p1[1], p2[1]], "#1f77b4", 6, N_("links"))]
    pos = float(state[0])
    hill = np.linspace(-1.2, 0.6, 60)
    return [line(hill.round(3).tolist(), (np.sin(3 * hill) * .45 + .55).round(3).tolist(),
                 "#888888", 2, N_("hill")),
            line([0.5, 0.5], [1.0, 1.15], "#2ca02c", 3, N_("flag")),
            {"type": "scatter", "mode": "markers", "x": [pos], "y": [math.sin(3 * pos) * .45 + .55],
             "name": N_("car"), "marker": {"size": 16, "color": "#1f77b4"}}]


SCENE_RANGE = {"CartPole-v1": ([-2.6, 2.6], [-0.3, 1.6]), "Acrobot-v1": ([-2.2, 2.2], [-2.2, 2.2]),
               "MountainCar-v0": ([-1.25, 0.65], [-0.05, 1.2])}


def _episode_view(s: State) -> dict:
    title = N_("The latest greedy episode, replayed")
    if not s.greedy:
        return charts.artifact(title, "markdown", N_("Shown after the first evaluation."))
    stride = max(1, math.ceil(len(s.greedy) / 100))
    shown = list(range(0, len(s.greedy), stride))
    if shown[-1] != len(s.greedy) - 1:
        shown.append(len(s.greedy) - 1)
    frames = [{"name": str(i), "data": _scene(s.cfg.env, s.greedy[i])} for i in shown]
    xr, yr = SCENE_RANGE[s.cfg.env]
    layout = {"template": "plotly_white", "height": 380, "showlegend": False,
              "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
              "xaxis": {"range": xr, "visible": False},
              "yaxis": {"range": yr, "visible": False, "scaleanchor": "x"},
              **charts.player(frames, N_("step "), active=0, frame_ms=60, button_y=1.12,
                              pad=20)}
    return charts.artifact(title, "plotly",
                           {"data": frames[0]["data"], "layout": layout, "frames": frames},
                           N_("Evaluation episode 1 (seed {seed}): {steps} steps, return "
                              "{ret:g}. Press Play, or drag the slider."),
                           seed=EVAL_SEED, steps=len(s.greedy) - 1, ret=s.greedy_return)


# The two state numbers the policy map spans; the others are held at `base`
POLICY_AXES = {"CartPole-v1": ((2, N_("pole angle (rad)"), 0.21),
                               (3, N_("angular velocity"), 2.0), np.zeros(4)),
               "Acrobot-v1": ((None, N_("first joint angle (rad)"), math.pi),
                              (4, N_("its angular velocity"), 4 * math.pi), None),
               "MountainCar-v0": ((0, N_("position"), None), (1, N_("velocity"), None), None)}


def _policy_states(name: str, n: int = 41) -> tuple[torch.Tensor, np.ndarray, np.ndarray, str, str]:
    (i, xl, xr), (j, yl, yr), base = POLICY_AXES[name]
    if name == "MountainCar-v0":
        xs, ys = np.linspace(-1.2, 0.6, n), np.linspace(-0.07, 0.07, n)
    else:
        xs, ys = np.linspace(-xr, xr, n), np.linspace(-yr, yr, n)
    gx, gy = np.meshgrid(xs, ys)
    if name == "Acrobot-v1":            # (cos a1, sin a1, cos a2, sin a2, da1, da2), a2 = 0
        states = np.stack([np.cos(gx), np.sin(gx), np.ones_like(gx), np.zeros_like(gx), gy,
                           np.zeros_like(gx)], -1)
    else:
        states = np.broadcast_to(base if base is not None else np.zeros(2),
                                 gx.shape + (len(base) if base is not None else 2,)).copy()
        states[..., i], states[..., j] = gx, gy
    return torch.as_tensor(states.reshape(-1, states.shape[-1]), dtype=torch.float32), xs, ys, \
        xl, yl


def _policy_view(s: State) -> dict:
    states, xs, ys, xl, yl = _policy_states(s.cfg.env)
    q = s.model(states.to(s.probe.device)).float().cpu()
    best = q.argmax(1).reshape(len(ys), len(xs)).numpy()
    top = q.max(1).values.reshape(len(ys), len(xs)).numpy()
    n = s.info.n_actions
    colors = ["#1f77b4", "#bbbbbb", charts.ORANGE] if n == 3 else ["#1f77b4", charts.ORANGE]
    hover = [[f"{s.info.actions[best[r, c]]}, Q = {top[r, c]:.1f}" for c in range(len(xs))]
             for r in range(len(ys))]
    fig = {"data": [{"type": "heatmap", "x": xs.round(4).tolist(), "y": ys.round(4).tolist(),
                     "z": best.tolist(), "zmin": -0.5, "zmax": n - 0.5, "text": hover,
                     "hoverinfo": "text", "showscale": True,
                     # one flat band per action: z = k spans [k - 0.5, k + 0.5]
                     "colorscale": [[edge / n, colors[k]] for k in range(n)
                                    for edge in (k, k + 1)],
                     "colorbar": {"tickvals": list(range(n)), "ticktext": list(s.info.actions)}}],
           "layout": {"template": "plotly_white", "height": 380,
                      "margin": {"l": 60, "r": 10, "t": 10, "b": 50},
                      "xaxis": {"title": {"text": xl}}, "yaxis": {"title": {"text": yl}}}}
    caption = {"CartPole-v1": N_("What the network picks (cart at the centre, at rest); hover "
                                 "for Q."),
               "Acrobot-v1": N_("What the network picks (second joint straight and still); "
                                "hover for Q."),
               "MountainCar-v0": N_("What the network picks (every state there is); hover for "
                                    "Q.")}[s.cfg.env]
    return charts.artifact(N_("The greedy action over the state"), "plotly", fig, caption)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    return {"returns": _returns_view(s), "episode": _episode_view(s), "policy": _policy_view(s)}
