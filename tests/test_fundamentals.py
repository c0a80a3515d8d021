"""The fundamentals lab, its two experiments so far: optimizers racing on 2-D surfaces (momentum
and Adam reach the Rosenbrock minimum where plain SGD crawls; a racer that diverges leaves the
race and the others go on) and initialisation (He keeps a 50-layer ReLU network's signal and
learns, Xavier lets it fade, twice He's std explodes, zeros never start)."""
import json
import subprocess
import sys

import pytest
import torch

from playground import export, params, registry
from playground.engine import loop
from playground.labs import fundamentals as fu
from tests.helpers import open_page, poll_until, run_id_of, texts, train_cli, train_in_memory


def _cfg(**overrides):
    cfg, errors = registry.parse_config(fu, overrides)
    assert errors == [], errors
    return cfg


def test_momentum_and_adam_reach_the_rosenbrock_minimum_where_sgd_crawls():
    state, _, m = train_in_memory(fu, _cfg())
    steps = fu.reached(state)
    assert steps["momentum"] is not None and steps["adam"] is not None, steps
    assert steps["sgd"] is None and m["val/gap_sgd"] > 0.3          # still in the valley
    assert m["val/loss"] <= 1e-3 and m["val/steps_momentum"] == steps["momentum"]
    # every path starts at the same point
    assert torch.allclose(state.path[0], torch.tensor([[-1.5, 2.0]] * 5))


@pytest.mark.parametrize("surface, start", [("saddle", (-1.5, 0.001)), ("narrow", (-3.0, 1.0)),
                                            ("noisy", (-1.5, 2.0)), ("beale", (-1.5, 2.0))])
def test_every_surface_is_raced_and_drawn(surface, start):
    cfg = _cfg(surface=surface, start_x=start[0], start_y=start[1], steps=300)
    state, data, m = train_in_memory(fu, cfg)
    assert all(v == v for v in m.values()), m
    items = fu.artifacts(state, data)
    race = items["race"]["data"]["data"]
    assert race[0]["type"] == "contour" and len(race) == 1 + 5 + 1
    assert all(len(t["x"]) >= 2 for t in race[1:-1])
    if surface == "saddle":                  # away from the saddle's ridge, onto a minimum
        assert min(m[f"val/gap_{n}"] for n in fu.OPTIMIZERS) < 1e-3


def test_a_racer_that_diverges_leaves_the_race_and_the_others_go_on(store):
    cfg = _cfg(optimizers=("sgd", "adam"), lr_sgd=0.01)
    run_id = store.create("fundamentals", params.to_dict(cfg))
    res = loop.run(fu, cfg, run_id, store)
    assert res.status == "completed", res.message
    assert res.metrics["val/gap_adam"] < 1e-2 and res.metrics["val/gap_sgd"] > 1e3
    items = store.artifacts(run_id)["items"]
    names = [t["name"] for t in items["race"]["data"]["data"]]
    assert any(n.startswith("sgd (left the surface at step ") for n in names), names


@pytest.mark.parametrize("init, std, last_spread, learns", [
    ("he", 0.01, (0.1, 10), True), ("xavier", 0.01, (0, 1e-6), False),
    ("normal", 0.25, (1e8, float("inf")), None), ("zeros", 0.01, (0, 0), False)])
def test_initialisation_decides_whether_a_deep_relu_network_carries_its_signal(init, std,
                                                                               last_spread,
                                                                               learns):
    state, data, m = train_in_memory(fu, _cfg(experiment="init", init=init, init_std=std,
                                                train_steps=150))
    acts, grads = state.at_init
    assert len(acts) == 50 and last_spread[0] <= acts[-1] <= last_spread[1], acts[-1]
    if learns is True:
        assert m["val/acc"] > 0.9
    elif learns is False:
        assert m["val/acc"] < 0.6                       # two moons: half is chance
    items = fu.artifacts(state, data)
    assert {"forward", "backward"} <= set(items)
    assert items["forward"]["data"]["layout"]["yaxis"]["type"] == "log"


def test_bad_settings_are_refused_with_a_message():
    for overrides, message in (({"optimizers": ("sgd", "sgd")}, "twice"),
                               ({"optimizers": ("lbfgs",)}, "optimizers"),
                               ({"depth": 500}, "depth"), ({"surface": "everest"}, "surface")):
        _, errors = registry.parse_config(fu, overrides)
        assert any(message in e.lower() for e in errors), (overrides, errors)


def test_cli_script_and_page(home, store, tmp_path, capsys):
    code, out = train_cli(capsys, "fundamentals", "experiment=optimizers", "steps=200")
    assert code == 0 and out["status"] == "completed" and "val/gap_adam" in out["metrics"]
    script = tmp_path / "train_fundamentals.py"
    script.write_text(export.script("fundamentals", {"experiment": "init", "depth": 10,
                                                     "train_steps": 100}))
    run = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True,
                         timeout=180, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["val/acc"] > 0.8
    at = open_page("app_pages/15_fundamentals.py", {"steps": "300"})
    assert not at.exception
    at.button(key="fundamentals._train").click().run()
    assert not at.exception, at.exception
    run_id = run_id_of(at)
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed")
    at.run()
    assert any("Finished" in s.value for s in at.success)
    assert "The race on the rosenbrock surface" in texts(at, "markdown")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_units_die_at_a_high_learning_rate_where_leaky_ones_do_not(seed):
    fast = {"experiment": "activations", "lr": 0.05, "train_steps": 500, "seed": seed}
    state, data, relu = train_in_memory(fu, _cfg(**fast))
    _, _, leaky = train_in_memory(fu, _cfg(**fast, activation="leaky_relu"))
    assert relu["val/dead"] > 0.3 and leaky["val/dead"] == 0.0, (relu, leaky)
    assert relu["val/acc"] > 0.8                      # the live ones still fit the spiral
    items = fu.artifacts(state, data)
    assert [t["name"] for t in items["functions"]["data"]["data"]] == list(fu.ACTIVATIONS)
    bars = items["dead"]["data"]["data"][0]["y"]
    assert len(bars) == fu.ACT_DEPTH and sum(bars) / len(bars) == pytest.approx(relu["val/dead"], abs=1e-3)
    slopes = {t["name"]: t["y"] for t in items["slopes"]["data"]["data"]}
    assert slopes["relu"][0] == 0 and slopes["leaky_relu"][0] == pytest.approx(0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outliers_pull_the_squared_error_line_and_not_the_absolute_one(seed):
    state, data, m = train_in_memory(fu, _cfg(experiment="losses", seed=seed))
    # measured: MSE's line 1.3-2.4 off the truth, MAE's 0.02-0.05, Huber's 0.06-0.17
    assert m["val/off_mse"] > 1.0 and m["val/off_mae"] < 0.2 and m["val/off_huber"] < 0.3, m
    _, _, clean = train_in_memory(fu, _cfg(experiment="losses", seed=seed, outliers=0.0))
    assert clean["val/off_mse"] < 0.2                  # without outliers all three agree
    names = [t["name"] for t in fu.artifacts(state, data)["fit"]["data"]["data"]]
    assert [n.split(":")[0] for n in names[2:]] == list(fu.REG_LOSSES)
