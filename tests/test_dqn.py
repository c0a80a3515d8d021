"""The DQN lab: the default agent balances CartPole (greedy return 500) within a short run; the
replay buffer, the time-limit rule, the target network (hard and soft) and Double DQN do what
they say; NaN, cancel and bad settings end with a message; the pictures, CLI, script, ONNX,
hosted cap and the page's comparison work."""
import json
import threading

import numpy as np
import pytest
import torch

from playground import export, params, registry
from playground.engine import device as devices
from playground.engine import loop
from playground.labs import dqn
from tests.helpers import DQN_TINY, compare_on_page, open_page, run_id_of, texts, train_cli

gym = pytest.importorskip("gymnasium")

# a few seconds: an agent that acts and updates, not one that learns
TINY = DQN_TINY


def _cfg(**overrides):
    cfg, errors = registry.parse_config(dqn, overrides)
    assert errors == [], errors
    return cfg


def _state(**overrides):
    cfg = _cfg(**overrides)
    torch.manual_seed(cfg.seed)                        # the network's first weights
    data = dqn.load_data(cfg)
    return cfg, data, dqn.build(cfg, data)


def _run(store, **overrides):
    cfg = _cfg(**overrides)
    run_id = store.create("dqn", params.to_dict(cfg))
    return run_id, loop.run(dqn, cfg, run_id, store)


def test_the_loop_counts_updates_and_the_first_one_waits_for_learning_starts():
    cfg = _cfg()
    assert dqn.first_update(cfg) == 1000 and dqn.steps_of(cfg) == 29_501
    assert dqn.first_update(_cfg(learning_starts=0, batch_size=64, train_frequency=10)) == 70
    _, data, s = _state(**TINY)
    gen = torch.Generator().manual_seed(0)
    batch = dqn.draw_batch(data, 32, gen, s)
    assert s.t == 500 and s.size == 500 and [len(b) for b in batch] == [32] * 5
    dqn.draw_batch(data, 32, gen, s)
    assert s.t == 510


def test_progress_curves_and_the_end_count_environment_steps_as_the_form_does(store):
    cfg = _cfg()
    assert dqn.shown_step(cfg, dqn.steps_of(cfg)) == cfg.env_steps == 60_000
    run_id, res = _run(store, **TINY)
    assert res.status == "completed", res.message
    assert res.message.startswith("Finished 3000 environment steps") and "updates" in res.message
    steps = [m["step"] for m in store.metrics(run_id)]
    assert max(steps) == 3000 and min(steps) >= 500          # the x axes: environment steps
    assert store.status(run_id)["unit"] == "environment steps"


def test_the_replay_buffer_is_a_ring_of_the_newest_transitions_in_order():
    _, data, s = _state(**{**TINY, "buffer_size": 100})
    dqn._act(s, 250)
    staged = list(s.staged)
    dqn._flush(s)
    assert s.size == 100 and s.pos == 50
    newest = staged[-100:]                                   # transitions 150..249
    rows = [(k + 50) % 100 for k in range(100)]              # 150 went to row 50, ...
    for k, row in enumerate(rows):
        obs, nxt, action, reward, done = newest[k]
        assert torch.equal(s.buffer["obs"][row], torch.as_tensor(obs))
        assert torch.equal(s.buffer["next"][row], torch.as_tensor(nxt))
        assert int(s.buffer["action"][row]) == action and float(s.buffer["done"][row]) == done
    # one transition's next state is the following one's state, unless an episode ended there
    # (then the environment was reset)
    ends = {t for t, _, _ in s.episodes}
    for k, (a, b) in enumerate(zip(newest, newest[1:])):
        assert np.array_equal(a[1], b[0]) == (150 + k + 1 not in ends), k


def test_a_time_limit_ends_an_episode_but_is_not_a_terminal_state(monkeypatch):
    monkeypatch.setattr("playground.labs.dqn.model.make_env",
                        lambda name: gym.make(name, max_episode_steps=5))
    _, _, s = _state(**TINY)
    s.rng = np.random.default_rng(0)
    dqn._act(s, 40)
    lengths = [n for _, _, n in s.episodes]
    assert lengths and set(lengths) <= {1, 2, 3, 4, 5} and 5 in lengths
    truncated = [tr for tr in s.staged if tr[4] == 0.0]
    assert len(truncated) >= 30                       # the cut-off steps still bootstrap
    assert all(e[1] == e[2] for e in s.episodes)     # CartPole: +1 a step


def _fixed_batch(s, n=64):
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(n, 4, generator=g) * 0.1
    return (obs, torch.randint(2, (n,), generator=g), torch.ones(n), obs + 0.01,
            (torch.rand(n, generator=g) < 0.2).float())


def test_targets_come_from_the_target_network_and_double_dqn_lets_the_online_one_choose():
    for double in (False, True):
        cfg, _, s = _state(**TINY, double_dqn=double, lr=1e-6, loss="mse")
        with torch.no_grad():                          # a target network clearly apart
            for p in s.target.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        obs, action, reward, nxt, done = batch = _fixed_batch(s)
        with torch.no_grad():
            if double:
                pick = s.model(nxt).argmax(1, keepdim=True)
                q_next = s.target(nxt).gather(1, pick).squeeze(1)
            else:
                q_next = s.target(nxt).max(1).values
            y = reward + cfg.gamma * q_next * (1 - done)
            expected = torch.nn.functional.mse_loss(
                s.model(obs).gather(1, action[:, None]).squeeze(1), y)
        out = dqn.train_step(s, batch)
        assert float(out["train/loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_hard_updates_copy_at_their_steps_and_soft_ones_move_a_fraction():
    _, _, s = _state(**TINY, lr=0.05, tau=1.0)
    batch = _fixed_batch(s)
    s.t = 150                                          # before the first update (200)
    dqn.train_step(s, batch)
    assert not torch.equal(s.target.net[0].weight, s.model.net[0].weight)
    s.t = 200
    dqn.train_step(s, batch)
    assert torch.equal(s.target.net[0].weight, s.model.net[0].weight) and s.next_target == 400
    _, _, s = _state(**TINY, lr=0.05, tau=0.1)
    before = s.target.net[0].weight.clone()
    s.t = 200
    dqn.train_step(s, batch)
    moved = s.target.net[0].weight - before
    assert torch.allclose(moved, 0.1 * (s.model.net[0].weight - before), atol=1e-6)
    _, _, s = _state(**TINY, target_network=False)
    assert s.target is None
    dqn.train_step(s, batch)                           # bootstraps from itself


def test_greedy_evaluation_is_the_same_episodes_every_time():
    _, data, s = _state(**TINY)
    a, b = dqn.evaluate(s, data), dqn.evaluate(s, data)
    assert a["val/return"] == b["val/return"] and 8 <= a["val/return"] <= 500
    assert len(s.greedy) == s.greedy_return + 1        # every state of episode 1, the last too


def _threads(n):
    devices.configure_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


# NOTE: measured on 2 cores, default settings (60k steps): the greedy return first reached 450
# after 20-38 s and ended at 500 on seeds 0-4 (see the README); one seed here, at 1 thread: a net
# this small gains nothing from a second thread, which waits on the first (beside a busy core the
# run took 47 s at 2 threads, 37 s at 1)
@pytest.mark.slow
def test_the_default_agent_balances_the_pole(store):
    cfg = _cfg(seed=3)
    run_id = store.create("dqn", params.to_dict(cfg))
    tail = store.tail(run_id)

    def stop_once_balanced(_status):
        # the claim holds from the first greedy return of 450 on: the rest of the 60k steps
        # would show nothing more, so the run is cancelled as a visitor's Stop would
        if any(m.get("val/return", 0) >= 450 for m in tail.read()):
            store.request_cancel(run_id)

    before = _threads(1)
    try:
        res = loop.run(dqn, cfg, run_id, store, on_progress=stop_once_balanced)
    finally:
        torch.set_num_threads(before)
    greedy = [m["val/return"] for m in store.metrics(run_id) if "val/return" in m]
    assert max(greedy) >= 450, (res.status, res.message, greedy)
    assert greedy[0] < 100                             # it did not start there
    # stopped there, before the end of its steps, with its weights kept
    assert res.status == "cancelled" and res.steps < dqn.steps_of(cfg), res.message
    # a guard against a run that never ends, not a measure (the benchmark times runs): with a
    # second busy process on one of the 2 cores the whole run took 177 s, 41 s on a quiet machine
    assert res.seconds < 600


# The page's demonstration: the same settings without a target network run away (all of seeds
# 0-4 measured: Q of fixed states past 1,000 where no return exceeds 100, stopped as diverged)
@pytest.mark.slow
@pytest.mark.parametrize("seed, n_threads", [(0, 1), (1, 2)])
def test_without_a_target_network_the_q_values_run_away(store, seed, n_threads):
    before = _threads(n_threads)
    try:
        run_id, res = _run(store, seed=seed, target_network=False)
    finally:
        torch.set_num_threads(before)
    assert res.status == "diverged" and "without a target network" in res.message
    q = [m["train/q"] for m in store.metrics(run_id) if "train/q" in m]
    assert max(q) > 1000 and res.metrics["val/best_return"] < 450


def test_nan_and_cancel_end_with_a_message_and_keep_what_was_done(store, monkeypatch):
    run_id, res = _run(store, **TINY, lr=1e-3)
    assert res.status == "completed"
    real = dqn.make_env

    class NaNReward(gym.Wrapper):
        def step(self, action):
            o, r, term, trunc, info = self.env.step(action)
            return o, float("nan"), term, trunc, info

    monkeypatch.setattr("playground.labs.dqn.model.make_env", lambda name: NaNReward(real(name)))
    run_id, res = _run(store, **TINY)
    assert res.status == "diverged" and "NaN" in res.message
    monkeypatch.setattr("playground.labs.dqn.model.make_env", real)
    cancel = threading.Event()
    cfg = _cfg(**TINY)
    run_id = store.create("dqn", params.to_dict(cfg))
    res = loop.run(dqn, cfg, run_id, store, cancel=cancel,
                   on_progress=lambda st: cancel.set() if st.get("step", 0) > 20 else None)
    assert res.status == "cancelled" and "weights are kept" in res.message
    assert store.model_path(run_id).is_file()


@pytest.mark.parametrize("overrides, message", [
    ({"batch_size": 512, "buffer_size": 256}, "must not exceed the replay buffer"),
    ({"env_steps": 5000, "learning_starts": 8000}, "after the run's 5,000 steps"),
    ({"eps_start": 0.1, "eps_end": 0.5}, "epsilon falls"),
    ({"env": "Pong-v5"}, "env"),
    ({"tau": 0.0}, "tau"),
    ({"hidden_sizes": "0"}, "hidden"),
])
def test_bad_settings_are_refused_with_a_message(overrides, message):
    _, errors = registry.parse_config(dqn, overrides)
    assert any(message.lower() in e.lower() for e in errors), errors


def test_hosted_servers_cap_environment_steps(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    assert registry.parse_config(dqn, {"env_steps": 100_000})[1] == []
    _, errors = registry.parse_config(dqn, {"env_steps": 200_000})
    assert any("100000" in e.replace(",", "") for e in errors), errors


@pytest.mark.parametrize("env", dqn.ENVS)
def test_every_environment_trains_and_is_drawn(store, env):
    run_id, res = _run(store, **TINY, env=env)
    assert res.status == "completed", res.message
    items = store.artifacts(run_id)["items"]
    assert items["returns"]["kind"] == "plotly" or env == "MountainCar-v0"
    episode = items["episode"]["data"]
    assert 2 <= len(episode["frames"]) <= 102 and episode["layout"]["sliders"]
    heat = items["policy"]["data"]["data"][0]
    assert len(heat["z"]) == 41 and len(heat["z"][0]) == 41
    assert set(np.unique(heat["z"])) <= set(range(len(dqn.ACTIONS[env])))


def test_cli_script_and_onnx(home, store, capsys, lab_scripts):
    code, out = train_cli(capsys, "dqn", *[f"{k}={v}" for k, v in TINY.items()])
    assert code == 0 and out["status"] == "completed" and "val/return" in out["metrics"]
    run = lab_scripts["dqn"]                       # export.script("dqn", TINY), run
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["val/return"] >= 8
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(export.onnx_bytes(store, out["run_id"]))
    assert [i.name for i in model.graph.input] == ["state"]
    assert [o.name for o in model.graph.output] == ["q"]


def test_the_page_compares_with_and_without_a_target_network(home, store):
    at = open_page("app_pages/82_dqn.py", {k: str(v) for k, v in TINY.items()})
    assert not at.exception
    ids = compare_on_page(at, store, "dqn")
    assert [store.config(i)["config"]["target_network"] for i in ids] == [True, False]
    table = next(d.value for d in at.dataframe if "best greedy return" in d.value.columns)
    assert list(table["target network"]) == ["with", "without"]
    assert "With a target network: greedy return" in texts(at, "info") + texts(at, "success") + \
        texts(at, "markdown")
    assert run_id_of(at) == ids[-1]
