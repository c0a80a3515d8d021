"""The GAN lab: the default covers the ring's 8 modes, the collapse preset does not, the fix
does; every loss trains; the metrics mean what they say; the pictures are GAN Lab's; a DCGAN
on digits makes samples its judge can read; bad points files are refused with a message; a
finished or stopped run is stepped by hand."""
import json
import threading

import pytest
import torch

from playground import export, params, registry
from playground.data import uploads
from playground.engine import device as devices
from playground.engine import loop, stepping, summary
from playground.labs import gan
from tests.helpers import (compare_on_page, open_page, run_id_of, texts, train_cli,
                           train_in_memory, train_until)


def _cfg(**overrides):
    cfg, errors = registry.parse_config(gan, overrides)
    assert errors == [], errors
    return cfg


def _train(cfg):
    return train_in_memory(gan, cfg)


def test_the_metrics_count_modes_quality_and_coverage():
    cfg = _cfg()
    centres = torch.tensor(gan.mixture_centres("ring"), dtype=torch.float32)
    real = torch.tensor(gan.sample_points(cfg, 2000, 1))
    on_three = centres[torch.arange(999) % 3] + 0.01 * torch.randn(999, 2)
    scores = gan.point_scores(cfg, torch.cat([on_three, torch.zeros(1, 2)]), real)
    assert scores["val/modes"] == 3
    assert scores["val/quality"] == pytest.approx(0.999)
    assert 0.3 < scores["val/coverage"] < 0.45                   # 3 of 8 modes reached
    everywhere = gan.point_scores(cfg, torch.tensor(gan.sample_points(cfg, 2000, 2)), real)
    assert everywhere["val/modes"] == 8 and everywhere["val/coverage"] > 0.95


# NOTE: measured on 2 cores, looked at every 100 steps: the default covers 8 of 8 ring modes
# with quality over 0.6 after 700-1,100 of its 1,500 steps (it stops there) on seeds 0-3 at 1
# and 2 threads, the collapse preset given as many steps 0-1 modes (it hops between modes, over
# 8,000 steps too); the fix 8 of 8. Seed 4 trained here, in memory, collapses to 1 mode by step
# 1,500 at both thread counts; through the engine, as the page trains it (its own batch order),
# seed 4 covers 8 of 8 (quality 0.82). The test takes two seeds at different thread counts.
@pytest.mark.slow
@pytest.mark.parametrize("seed, n_threads", [(0, 2), (1, 1)])
def test_default_covers_the_ring_and_the_collapse_preset_does_not(seed, n_threads):
    devices.configure_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        _, _, good, steps = train_until(
            gan, _cfg(seed=seed), every=100,
            done=lambda m: m["val/modes"] >= 7 and m["val/quality"] > 0.6)
        # the collapse preset, given as many steps
        _, _, bad, _ = train_until(gan, _cfg(seed=seed, **gan.PRESETS["Mode collapse"]),
                                   every=100, limit=steps)
    finally:
        torch.set_num_threads(before)
    assert good["val/modes"] >= 7 and good["val/quality"] > 0.6, good
    assert bad["val/modes"] <= 3, bad


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_every_loss_moves_the_generator_towards_the_data(loss):
    """G's samples end nearer the real points than they started, on two seeds. Measured as the
    mean distance from a sample to its nearest real point: which modes 400 steps cover is
    chaotic (hinge covered 40% of the ring on seed 0, 0.2% on seed 2), the approach is not
    (the distance fell 15-63% with hinge, 63-94% with the others, seeds 0-3)."""
    from playground.labs.gan import model as torch_part

    def distance(state, data) -> float:
        with torch.no_grad():
            fake = torch_part._samples(state, 1000)
            return torch.cdist(fake, data.train[0][:2000].float()).min(1).values.mean().item()

    for seed in (0, 2):
        cfg = _cfg(loss=loss, steps=400, seed=seed,
                   **({"d_steps": 2, "beta1": 0.0, "beta2": 0.9} if loss == "wgan-gp" else {}))
        loop.seed_everything(cfg.seed)
        data = gan.load_data(cfg)
        before = distance(gan.build(cfg, data), data)
        state, data, _ = _train(cfg)
        after = distance(state, data)
        assert after < 0.9 * before, (seed, before, after)


def test_the_pictures_show_d_the_points_the_push_and_the_paths():
    state, data, _ = _train(_cfg(steps=20))
    with torch.no_grad():
        first = gan.artifacts(state, data)
        second = gan.artifacts(state, data)
    traces = {t["name"] if "name" in t else t["type"]: t
              for t in first["points"]["data"]["data"]}
    assert {"heatmap", "real", "generated", "G's gradient"} <= set(traces)
    z = traces["heatmap"]["z"]
    assert len(z) == 60 and all(0 <= v <= 1 for row in z for v in row)
    push = traces["G's gradient"]["x"]
    assert len(push) == 3 * 150 and push[2] is None               # segments from each sample
    assert len(state.trail) == 2
    path = second["trail"]["data"]["data"][0]["x"]
    assert len(path) == gan.FOLLOWED * 3                          # 2 positions + a break each


@pytest.mark.slow
def test_dcgan_on_digits_makes_samples_its_judge_reads():
    cfg = _cfg(**{**gan.PRESETS["DCGAN on digits"], "steps": 300})
    state, data, m = _train(cfg)
    assert state.judge is not None
    # the judge itself reads real digits
    with torch.no_grad():
        real = gan.image_scores(state.judge, data.test[0][:300], 10)
    assert real["val/confident"] > 0.6 and real["val/modes"] == 10
    assert m["val/confident"] > 0.3 and m["val/modes"] >= 5, m
    with torch.no_grad():
        arts = gan.artifacts(state, data)
    assert {a["kind"] for a in arts.values()} == {"image"}


@pytest.mark.parametrize("text, message", [
    ("x,y\n1,2\n", r"has 1 point\(s\)"),
    ("1,2\n3,four\n" + "1,1\n" * 20, "Line 2 of the points file is not two numbers"),
    ("1,2\n" * 5 + "nan,1\n" + "1,1\n" * 10, "is not finite"),
])
def test_bad_points_files_are_refused(home, text, message):
    with pytest.raises(uploads.BadUpload, match=message):
        uploads.save(text.encode(), kind="csv")


def test_a_drawn_point_set_trains_and_a_missing_one_says_so(home, store):
    text = "x,y\n" + "\n".join(f"{i % 7},{(i * 3) % 5}" for i in range(40))
    points_id, info = uploads.save(text.encode(), kind="csv")
    assert info == {"points": 40}
    cfg = _cfg(data="points", points_file=points_id, steps=30)
    data = gan.load_data(cfg)
    assert data.train[0].abs().max() <= 1.05
    run_id = store.create("gan", params.to_dict(cfg))
    assert loop.run(gan, cfg, run_id, store).status == "completed"
    with pytest.raises(export.NotExportable, match="uploaded points"):
        export.script("gan", params.to_dict(cfg))
    uploads.path(points_id).unlink()
    again = store.create("gan", params.to_dict(cfg))
    result = loop.run(gan, cfg, again, store)
    assert result.status == "failed" and "upload the file again" in result.message
    cfg, errors = registry.parse_config(gan, {"data": "points"})
    assert cfg is None and any("needs your CSV" in e for e in errors)


@pytest.mark.parametrize("overrides", [{}, {"data": "digits", "latent_dim": 16, "width": 8},
                                       {"spectral_norm": True}])
def test_the_summary_counts_both_players(overrides):
    cfg = _cfg(**overrides)
    info = summary.describe(gan, cfg)
    built = gan.build(cfg, gan.load_data(cfg)).model
    assert info["params"] == sum(p.numel() for p in built.parameters())


def test_cli_trains_the_ring_and_the_script_export_runs(home, capsys, lab_scripts):
    code, out = train_cli(capsys, "gan", "data=ring", "steps=50")
    assert code == 0 and out["status"] == "completed" and "val/modes" in out["metrics"]
    run = lab_scripts["gan"]                       # conftest.LAB_SCRIPTS
    assert run.returncode == 0, run.stderr[-2000:]
    assert "val/modes" in json.loads(run.stdout.strip().splitlines()[-1])


def test_the_page_compares_collapse_and_fix(home, store):
    at = open_page("app_pages/70_gan.py", {"steps": "40"})
    assert not at.exception
    ids = compare_on_page(at, store, "gan")
    configs = [store.config(i)["config"] for i in ids]
    assert [c["latent_dim"] for c in configs] == [256, 256]
    assert [c["loss"] for c in configs] == ["nonsaturating", "wgan-gp"]
    assert [c["steps"] for c in configs] == [40, 40]                # the same budget
    table = next(d.value for d in at.dataframe if "modes covered" in d.value.columns)
    assert list(table["run"]) == ["collapse", "fix"]
    assert "modes covered" in texts(at, "info")
    assert run_id_of(at) == ids[-1]


def test_a_diverging_game_stops_with_a_message_and_keeps_its_curve(store):
    cfg = _cfg(lr=1.0, d_lr=1.0, loss="wgan-gp", gp_weight=0.01, steps=300)
    run_id = store.create("gan", params.to_dict(cfg))
    result = loop.run(gan, cfg, run_id, store)
    assert result.status == "diverged" and "too high" in result.message, result.message
    assert store.metrics(run_id)                                  # the curve so far is kept


def _finished(store, **overrides):
    cfg = _cfg(**overrides)
    run_id = store.create("gan", params.to_dict(cfg))
    assert loop.run(gan, cfg, run_id, store).status == "completed"
    return cfg, run_id


def _points_now(session):
    # the pictures' own noise: the same z at every picture
    session.state.look.manual_seed(session.state.cfg.seed + 11)
    with torch.no_grad():
        return gan._samples(session.state, gan.SHOWN)


def test_slow_motion_moves_one_player_per_step_from_where_the_run_ended(store):
    cfg, run_id = _finished(store, steps=200)
    session = stepping.resume(gan, cfg, store, run_id)
    adam = next(iter(session.state.opt_d.state.values()))
    assert adam["step"] == 200                      # the run's own Adam, not a fresh one
    G = [p.clone() for p in session.state.model.G.parameters()]
    D = [p.clone() for p in session.state.model.D.parameters()]
    out = stepping.act(gan, session, "One D step")
    assert set(out) == {"D loss", "D on real", "D on fake"}
    assert all(torch.equal(a, b) for a, b in zip(G, session.state.model.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(D, session.state.model.D.parameters()))
    # a G step moves the points where the picture's arrows said it would, and D stays put
    before = _points_now(session)
    arrows = torch.tensor(gan._push(session.state, before))
    D = [p.clone() for p in session.state.model.D.parameters()]
    stepping.act(gan, session, "One G step")
    moved = _points_now(session) - before
    assert all(torch.equal(a, b) for a, b in zip(D, session.state.model.D.parameters()))
    along = torch.nn.functional.cosine_similarity(moved, arrows, dim=1)
    # Adam's step blends the run's earlier gradients, so "along" is not 1: 0.69-0.96 over seeds
    # 0-4 on this CPU, where a step that ignored the arrows would average 0
    assert along.mean() > 0.5 and moved.norm(dim=1).mean() > 1e-3, along.mean()
    assert session.counts == {"One D step": 1, "One G step": 1}
    first = stepping.show(gan, session)
    assert stepping.show(gan, session) is first     # a rerun redraws nothing
    stepping.act(gan, session, "One full step (D, then G)")
    assert set(stepping.show(gan, session)) == {"points", "trail"}
    again = stepping.resume(gan, cfg, store, run_id)          # the run itself is unchanged
    assert all(torch.equal(a, b) for a, b in zip(G, again.state.model.G.parameters()))


def test_a_stopped_run_keeps_its_weights_and_can_be_stepped(store):
    cfg = _cfg(steps=100_000)
    run_id = store.create("gan", params.to_dict(cfg))
    stop = threading.Event()
    stop.set()                                      # stopped as soon as it looks
    result = loop.run(gan, cfg, run_id, store, cancel=stop)
    assert result.status == "cancelled" and "weights are kept" in result.message
    assert store.model_path(run_id) is not None
    stepping.act(gan, stepping.resume(gan, cfg, store, run_id), "One G step")
    failed = store.create("gan", params.to_dict(cfg))
    store.set_status(failed, status="failed")
    with pytest.raises(stepping.CannotStep, match="finished or stopped"):
        stepping.resume(gan, cfg, store, failed)


def test_the_page_steps_a_finished_run_by_hand(home, store):
    _, run_id = _finished(store, steps=60)
    at = open_page("app_pages/70_gan.py", {"run": run_id})
    assert not at.exception and "Slow motion" in texts(at, "subheader")
    assert not any(b.label == "One G step" for b in at.button)       # off until asked
    at.toggle(key=f"gan._steps_on.{run_id}").set_value(True).run()
    assert "as it ended" in texts(at, "caption")
    at.button(key="gan._steps.One G step").click().run()
    at.button(key="gan._steps.One D step").click().run()
    assert not at.exception
    assert "1 x one g step, 1 x one d step" in texts(at, "caption")
    log = next(d.value for d in at.dataframe if "step" in d.value.columns)
    assert list(log["step"]) == ["One G step", "One D step"]
    assert log["D loss"].iloc[0] == "" and float(log["D loss"].iloc[-1]) > 0
    assert len(at.get("plotly_chart")) >= 2
    at.button(key="gan._steps.reset").click().run()
    assert "as it ended" in texts(at, "caption")
