"""The DQN lab's face: its settings, presets and the words its page shows; its torch part is
model.py. What it teaches, how to read its pictures and what it measured: its guide,
docs/labs/dqn.md, which the page shows (playground/guides.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from playground.engine.device import DEVICE_CHOICES
from playground.i18n import N_, _
from playground.labs import torch_part
from playground.params import param

TITLE, ICON, SECTION = "DQN", "🕹️", "Graphs & RL"
TRY_THIS = ("Train the default: CartPole in 60,000 steps - the greedy return climbs to 500 "
            "(the most an episode gives) and the replayed episode keeps the pole up. Then "
            "switch the target network off: the network chases targets it moves itself, its "
            "Q-values run away and the run is stopped. 'With vs without target network' runs "
            "both on the same seed.")

STAGE = ("env", "target_network", "double_dqn", "env_steps")
ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")


@dataclass(frozen=True)
class Config:
    env: str = param("CartPole-v1", choices=ENVS, group="Environment",
                     help="gymnasium's classic control. CartPole: keep the pole up (+1 a step, "
                          "500 at most). Acrobot: swing the tip above the line (-1 a step until "
                          "then). MountainCar: rock the car up the hill (-1 a step, 200 steps).")
    env_steps: int = param(60_000, lo=1000, hi=2_000_000, group="Environment",
                           label="Environment steps",
                           help="Actions taken in the environment over the whole run.")
    hidden_sizes: tuple[int, ...] = param((128, 128), lo=1, hi=1024, min_len=1, max_len=4,
                                          group="Network",
                                          help="Units of each hidden layer of the Q-network.")
    gamma: float = param(0.99, lo=0.0, hi=0.9999, group="Learning",
                         help="Discount: how much a reward a step later is worth.")
    lr: float = param(2e-4, lo=1e-6, hi=1.0, log=True, group="Learning",
                      help="Adam step size.")
    batch_size: int = param(128, lo=1, hi=4096, group="Learning",
                            help="Transitions drawn from the replay buffer per update.")
    buffer_size: int = param(10_000, lo=100, hi=1_000_000, group="Learning",
                             help="Transitions the replay buffer keeps (the oldest go first).")
    learning_starts: int = param(1000, lo=0, hi=1_000_000, group="Learning",
                                 help="Environment steps taken before the first update.")
    train_frequency: int = param(2, lo=1, hi=1000, group="Learning",
                                 help="Environment steps between two updates.")
    loss: str = param("huber", choices=("mse", "huber"), group="Learning",
                      help="Huber (smooth L1: the DQN paper's clipped error, steadier), or the "
                           "squared TD error (CleanRL's).")
    double_dqn: bool = param(False, group="Learning", label="Double DQN",
                             help="The online network picks the next action, the target network "
                                  "scores it (van Hasselt et al., 2016): less overestimation.")
    target_network: bool = param(True, group="Target network",
                                 help="Off: targets come from the network being trained.")
    target_every: int = param(2, lo=1, hi=1_000_000, group="Target network",
                              label="Target update every",
                              help="Environment steps between two target updates.")
    tau: float = param(0.01, lo=0.001, hi=1.0, group="Target network",
                       help="1: the target becomes a copy (a hard update). Below 1: it moves "
                            "this fraction of the way (a soft update).")
    eps_start: float = param(1.0, lo=0.0, hi=1.0, group="Exploration",
                             label="Epsilon start", help="Share of random actions at first.")
    eps_end: float = param(0.05, lo=0.0, hi=1.0, group="Exploration", label="Epsilon end",
                           help="Share of random actions at the end of the decay.")
    exploration_fraction: float = param(0.1, lo=0.0, hi=1.0, group="Exploration",
                                        help="Part of the run over which epsilon falls "
                                             "linearly from start to end.")
    eval_episodes: int = param(5, lo=1, hi=20, group="Training",
                               help="Greedy episodes per evaluation, from fixed seeds.")
    seed: int = param(0, lo=0, hi=2**31 - 1, group="Training",
                      help="Same seed, same episodes, same exploration, same weights.")
    device: str = param("auto", choices=DEVICE_CHOICES, group="Training",
                        help="auto = the GPU when there is one (the environment runs on the "
                             "CPU either way).")


PRESETS = {
    "CartPole, soft target updates (default)": {},
    "CartPole, CleanRL's settings shortened to 100k steps": {
        "env_steps": 100_000, "hidden_sizes": (120, 84), "lr": 2.5e-4, "learning_starts": 10_000,
        "train_frequency": 10, "loss": "mse", "target_every": 500, "tau": 1.0,
        "exploration_fraction": 0.5},
    "CartPole without a target network": {"target_network": False},
    "CartPole, Double DQN": {"double_dqn": True},
    "Acrobot": {"env": "Acrobot-v1", "env_steps": 60_000},
    "MountainCar (hard: the reward comes only at the top)": {
        "env": "MountainCar-v0", "env_steps": 150_000, "lr": 1e-3, "exploration_fraction": 0.3},
}


def first_update(cfg: Config) -> int:
    """The environment step of the first update: after learning_starts, with a batch's worth of
    transitions, on a multiple of train_frequency."""
    start = max(cfg.learning_starts, cfg.batch_size, cfg.train_frequency)
    return math.ceil(start / cfg.train_frequency) * cfg.train_frequency


def steps_of(cfg: Config) -> int:
    """The loop's steps are the updates: one every train_frequency environment steps."""
    return max(0, (cfg.env_steps - first_update(cfg)) // cfg.train_frequency + 1)


STEP_UNIT = N_("environment steps")


def shown_step(cfg: Config, step: int) -> int:
    """The environment step at the end of the loop's `step`-th update (0 before any)."""
    return 0 if step <= 0 else min(cfg.env_steps, first_update(cfg)
                                   + (step - 1) * cfg.train_frequency)


def check(cfg: Config) -> list[str]:
    errors = []
    if cfg.batch_size > cfg.buffer_size:
        errors.append(_("Batch size ({batch_size}) must not exceed the replay buffer "
                        "({buffer_size}).", batch_size=cfg.batch_size,
                        buffer_size=cfg.buffer_size))
    if first_update(cfg) > cfg.env_steps:
        errors.append(_("The first update comes at environment step {first:,} (learning "
                        "starts, batch size, train frequency), after the run's {steps:,} steps: "
                        "more environment steps or an earlier start.", first=first_update(cfg),
                        steps=cfg.env_steps))
    if cfg.eps_end > cfg.eps_start:
        errors.append(_("Epsilon end ({end}) must not exceed epsilon start ({start}): epsilon "
                        "falls as the agent learns.", end=cfg.eps_end, start=cfg.eps_start))
    return errors


ONNX_IO = (("state",), ("q",))

CURVES = (("return", "Return (test: greedy)", False),
          ("q", "Mean Q (test: fixed states)", False),
          ("epsilon", "Epsilon (share of random actions)", False))
HEADLINE = (("val/return", "return"),)


def divergence_hint(cfg: Config) -> str | None:
    if not cfg.target_network:
        return _("without a target network the Q-values ran away - every update moved the "
                 "targets it chased, and Q grew past any return there is (see 'Mean Q'). "
                 "Switch the target network on.")
    return None


# ---------------------------------------------------------------------------------------------
# The comparison: with and without a target network

def _with_then_without(cfg: Config, earlier: list[str]) -> Config | None:
    return replace(cfg, target_network=(len(earlier) == 0)) if len(earlier) < 2 else None


def comparison_table(runs) -> tuple[list[dict], str]:
    rows = []
    for name, info in runs:
        final = info.status.get("final") or {}
        rows.append({N_("target network"): name, N_("status"): info.status.get("status"),
                     N_("greedy return at the end"): final.get("val/return"),
                     N_("best greedy return"): final.get("val/best_return"),
                     N_("seconds"): info.status.get("seconds")})
    if len(rows) < 2 or any(r["greedy return at the end"] is None for r in rows):
        return rows, _("The comparison is incomplete: a run did not finish.")
    (a, b) = rows[:2]
    returns = {"a_end": a["greedy return at the end"], "a_best": a["best greedy return"],
               "b_end": b["greedy return at the end"], "b_best": b["best greedy return"]}
    if b["status"] == "diverged":
        return rows, _("With a target network: greedy return {a_end:.0f} at the end (best "
                       "{a_best:.0f}); without: {b_end:.0f} (best {b_best:.0f}) - its Q-values "
                       "ran away and the run was stopped. Chasing targets it moves itself, the "
                       "network without one learns on sand.", **returns)
    return rows, _("With a target network: greedy return {a_end:.0f} at the end (best "
                   "{a_best:.0f}); without: {b_end:.0f} (best {b_best:.0f}). Chasing targets it "
                   "moves itself, the network without one learns on sand.", **returns)


COMPARE = {"label": "With vs without target network", "names": ("with", "without"),
           "plan": _with_then_without, "table": comparison_table, "views": ("policy",),
           "curves": (("train/return", "Training return (moving average)", False),
                      ("val/return", "Greedy return", False))}

DEMOS = {"default": {"picture": "policy"}}

__getattr__ = torch_part(__name__)      # build, train_step, ...: model.py, in the worker
