"""Fundamentals' torch part: the contract, each name handed on to its experiment's module."""
from __future__ import annotations

import torch

from playground.data import Data, make_2d
from playground.labs.fundamentals import Config
from playground.labs.fundamentals.activations import ACT_DEPTH, _activation_views
from playground.labs.fundamentals.common import State
from playground.labs.fundamentals.init import (DeepMLP, _build_deep, _deep_metrics, _deep_step,
                                               _spread_views)
from playground.labs.fundamentals.losses import (CLS_LOSSES, REG_LOSSES, Classifiers, Lines,
                                                 _build_classifiers, _build_lines,
                                                 _classifier_metrics, _classifier_step,
                                                 _classifier_views, _fit_metrics, _fit_step,
                                                 _fit_views, _outlier_points, margin_curves)
from playground.labs.fundamentals.race import (STEP_ACTIONS, Racers, _build_race, _race_data,
                                               _race_metrics, _race_train_step, _race_views,
                                               reached, show_steps)
from playground.labs.fundamentals.regularization import (RegNet, _build_regularization,
                                                         _regularization_metrics,
                                                         _regularization_views,
                                                         _regularized_step, noisy_digits, shifted)

# what the face hands on (its __getattr__): the contract, and the looks and names tests take
__all__ = ["load_data", "blueprint", "State", "build", "train_step", "finished", "evaluate",
           "artifacts", "STEP_ACTIONS", "show_steps", "reached", "shifted", "margin_curves",
           "ACT_DEPTH", "CLS_LOSSES", "REG_LOSSES"]


def load_data(cfg: Config) -> Data:
    if cfg.experiment == "init":
        return make_2d("moons", n=800, noise=0.15, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "activations":
        return make_2d("spiral", n=800, noise=0.1, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "losses" and cfg.loss_task == "classification":
        return make_2d("spiral", n=800, noise=0.1, train_ratio=0.5, seed=cfg.seed)
    if cfg.experiment == "regularization":
        return noisy_digits(cfg)
    if cfg.experiment == "losses":
        return _outlier_points(cfg)
    return _race_data(cfg)


def blueprint(cfg: Config):
    if cfg.experiment in ("init", "activations"):
        return DeepMLP(cfg), (2,)
    if cfg.experiment == "regularization":
        return RegNet(cfg), (1, 8, 8)
    if cfg.experiment == "losses":
        return (Classifiers(2), (2,)) if cfg.loss_task == "classification" else (Lines(), (1,))
    return Racers(cfg.optimizers, (cfg.start_x, cfg.start_y)), (2,)


def build(cfg: Config, data: Data) -> State:
    if cfg.experiment == "regularization":
        return _build_regularization(cfg, data)
    if cfg.experiment == "losses" and cfg.loss_task == "classification":
        return _build_classifiers(cfg, data)
    if cfg.experiment == "losses":
        return _build_lines(cfg, data)
    if cfg.experiment != "optimizers":
        return _build_deep(cfg, data)
    return _build_race(cfg, data)


def train_step(s: State, batch) -> dict[str, torch.Tensor]:
    if s.cfg.experiment == "regularization":
        return _regularized_step(s, batch)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        return _classifier_step(s, batch)
    if s.cfg.experiment == "losses":
        return _fit_step(s, batch)
    if s.cfg.experiment != "optimizers":
        return _deep_step(s, batch)
    return _race_train_step(s, batch)


def finished(s: State) -> str | None:
    return s.ended


def evaluate(s: State, data: Data) -> dict[str, float]:
    if s.cfg.experiment == "regularization":
        return _regularization_metrics(s, data)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        return _classifier_metrics(s, data)
    if s.cfg.experiment == "losses":
        return _fit_metrics(s, data)
    if s.cfg.experiment != "optimizers":
        return _deep_metrics(s, data)
    return _race_metrics(s)


def artifacts(s: State, data: Data) -> dict[str, dict]:
    if s.cfg.experiment == "regularization":
        return _regularization_views(s, data)
    if s.cfg.experiment == "losses" and s.cfg.loss_task == "classification":
        return _classifier_views(s, data)
    if s.cfg.experiment == "losses":
        return _fit_views(s, data)
    if s.cfg.experiment == "activations":
        return _activation_views(s, data)
    if s.cfg.experiment == "init":
        return _spread_views(s, data)
    return _race_views(s)
