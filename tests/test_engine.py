"""The loop, the job manager and the run store: lifecycle, cancel, divergence, restart, safety."""
import json
import os
import types
from dataclasses import dataclass

import pytest
import torch

from playground import params
from playground.data import make_2d
from playground.engine import loop
from playground.engine.jobs import InvalidConfig
from playground.params import param

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_lab(nan_at_step: int):
    """A linear model whose loss turns NaN at a chosen step: divergence without luck."""
    @dataclass(frozen=True)
    class Config:
        lr: float = param(0.1, lo=0, hi=10, help="lr")
        epochs: int = param(50, lo=1, hi=100, help="epochs")
        batch_size: int = param(10, lo=1, hi=100, help="batch")
        seed: int = param(0, lo=0, hi=10, help="seed")
        device: str = param("cpu", choices=("cpu",), help="device")

    lab = types.ModuleType("fake")
    lab.Config = Config
    lab.load_data = lambda cfg: make_2d("moons", 100, 0.1, 0.5, 0)

    def build(cfg, data):
        model = torch.nn.Linear(2, 2)
        return types.SimpleNamespace(model=model, opt=torch.optim.SGD(model.parameters(), lr=0.1),
                                     step=0)

    def train_step(s, batch):
        x, y = batch
        s.step += 1
        loss = torch.nn.functional.cross_entropy(s.model(x), y)
        s.opt.zero_grad()
        loss.backward()
        s.opt.step()
        if s.step >= nan_at_step:
            loss = loss * float("nan")
        return {"train/loss": loss.detach()}

    lab.build, lab.train_step = build, train_step
    lab.evaluate = lambda s, d: {"val/acc": 0.5}
    lab.artifacts = lambda s, d: {}
    return lab


# -- lifecycle ---------------------------------------------------------------------------------

def test_a_submitted_run_completes_and_leaves_everything_on_disk(manager, store):
    run_id = manager.submit("mlp", {"epochs": 5})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "completed"
    status = store.status(run_id)
    assert status["status"] == "completed" and status["step"] == status["total_steps"]
    assert store.config(run_id)["config"]["epochs"] == 5
    recs = store.metrics(run_id)
    assert any("val/acc" in r for r in recs) and any("train/loss" in r for r in recs)
    assert "perf/samples_per_s" in recs[0]
    assert store.artifacts(run_id)["items"]
    state = torch.load(store.model_path(run_id), weights_only=True)
    assert any(k.endswith("weight") for k in state)


def test_second_run_waits_in_the_queue_then_runs(manager, store):
    first = manager.submit("mlp", {"epochs": 2000})
    second = manager.submit("mlp", {"epochs": 2})
    assert manager.position(second) == 1
    assert store.status(second)["status"] == "queued"
    manager.cancel(first)
    assert manager.wait(second, timeout=60).status == "completed"


def test_cancelling_a_queued_run_never_starts_it(manager, store):
    first = manager.submit("mlp", {"epochs": 2000})
    second = manager.submit("mlp", {"epochs": 2})
    assert manager.cancel(second)
    assert store.status(second)["status"] == "cancelled"
    manager.cancel(first)


def test_invalid_settings_are_refused_with_every_message(manager, store):
    with pytest.raises(InvalidConfig) as e:
        manager.submit("mlp", {"lr": -1, "hidden_sizes": "8,0"})
    assert len(e.value.messages) == 2
    with pytest.raises(InvalidConfig, match="unknown lab"):
        manager.submit("nope", {})
    assert store.list() == []


# -- divergence and failures -------------------------------------------------------------------

def test_nan_loss_ends_the_run_as_diverged_naming_the_step(store):
    lab = _fake_lab(nan_at_step=37)
    run_id = store.create("fake", {})
    result = loop.run(lab, lab.Config(), run_id, store)
    assert result.status == "diverged"
    assert "NaN at step 37" in result.message and "try 0.01" in result.message
    assert store.status(run_id)["status"] == "diverged"
    assert all(r["step"] < 37 for r in store.metrics(run_id) if "train/loss" in r)


def test_a_huge_learning_rate_diverges_with_advice(manager, store):
    run_id = manager.submit("mlp", {"lr": 100, "optimizer": "sgd", "epochs": 20})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "diverged"
    assert "learning rate 100 is likely too high" in result.message
    assert store.metrics(run_id), "the curve so far is kept"


# -- the run store -----------------------------------------------------------------------------

def test_params_round_trip_through_config_json(store):
    from playground.labs import mlp

    cfg = mlp.Config(hidden_sizes=(4, 3), features=("x1", "x1*x2"))
    run_id = store.create("mlp", params.to_dict(cfg))
    saved = json.loads((store.path(run_id) / "config.json").read_text())["config"]
    assert params.parse(mlp.Config, saved) == (cfg, [])


