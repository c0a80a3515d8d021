"""Changing a running MLP run (learning rate, L1/L2, dropout), pausing it, stepping it one batch at a
time, and the schedule of changes kept with the run, replayed by the CLI and by its export."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from playground import export, params, registry
from playground.engine import loop, stepping
from playground.engine.jobs import InvalidConfig, JobManager, SubmitError
from tests.helpers import wait_for

lab = registry.get("mlp")
LONG = {"epochs": 2000}            # ~30 s if left alone: every test here stops it sooner


@pytest.fixture
def threads(store):
    m = JobManager(store, executor="thread")
    yield m
    m.shutdown()


def _running(manager, store, settings=LONG) -> str:
    run_id = manager.submit("mlp", settings)
    assert wait_for(lambda: (store.status(run_id).get("step") or 0) > 0, 60)
    return run_id


def test_a_change_mid_epoch_is_applied_at_that_step_recorded_and_replayed_by_the_export(
        store, tmp_path):
    """A schedule whose changes fall inside epochs (16 steps each): each is taken before the
    step it names, kept in the run's config, marked in its status; the exported script replays
    them and lands on the run's exact test metrics, which differ from the unchanged run's."""
    settings = {"epochs": 12, "n_samples": 1000, "batch_size": 32}     # 16 steps an epoch
    schedule = [{"step": 37, "lr": 0.001}, {"step": 101, "dropout": 0.3, "regularization": "l2"}]
    cfg = params.parse(lab.Config, settings)[0]
    changed = store.create("mlp", params.to_dict(cfg))
    result = loop.run(lab, cfg, changed, store, schedule=schedule)
    plain = store.create("mlp", params.to_dict(cfg))
    unchanged = loop.run(lab, cfg, plain, store, schedule=[])
    assert result.status == unchanged.status == "completed"
    info = store.info(changed)
    assert info.changes == schedule == store.status(changed)["changes"]
    assert store.info(plain).changes == []
    assert result.metrics["val/loss"] != unchanged.metrics["val/loss"]

    text = export.run_script(store, changed)
    assert "CHANGES = {\n    37: {'lr': 0.001},\n    101: {'dropout': 0.3, 'regularization': 'l2'}," \
           in text
    path = tmp_path / "train_mlp.py"
    path.write_text(text)
    p = subprocess.run([sys.executable, str(path), "--device", "cpu", "--json", "--out",
                        str(tmp_path / "m.pt")], capture_output=True, text=True, timeout=240,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    final = __import__("json").loads(p.stdout.strip().splitlines()[-1])
    assert final["val/loss"] == pytest.approx(result.metrics["val/loss"], rel=1e-5)
    assert final["val/acc"] == pytest.approx(result.metrics["val/acc"], abs=1e-6)


def test_the_new_values_really_act_on_the_optimizer_and_the_network():
    cfg = params.parse(lab.Config, {"dropout": 0.0})[0]
    data = lab.load_data(cfg)
    state = lab.build(cfg, data)
    new = params.parse(lab.Config, {"dropout": 0.5, "lr": 0.0003, "regularization": "l1"})[0]
    lab.retune(state, new)
    assert [g["lr"] for g in state.opt.param_groups] == [0.0003]
    drops = [m.p for m in state.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops == [0.5, 0.5]
    assert float(lab.penalty(state).detach()) > 0


def test_pause_one_step_change_and_resume_through_the_job_manager(threads, store):
    run_id = _running(threads, store)
    threads.pause(run_id, True)
    assert wait_for(lambda: store.status(run_id).get("paused"), 10)
    at = store.status(run_id)["step"]
    assert store.status(run_id)["message"].startswith(f"Paused at step {at:,}")
    threads.step_once(run_id)
    assert wait_for(lambda: store.status(run_id)["step"] == at + 1, 10)
    threads.step_once(run_id)
    assert wait_for(lambda: store.artifacts(run_id).get("step") == at + 2, 10)   # redrawn
    assert store.status(run_id)["step"] == at + 2
    assert threads.change(run_id, {"lr": "0.001"}) == {"lr": 0.001}
    assert wait_for(lambda: store.status(run_id).get("changes"), 10)
    assert store.status(run_id)["changes"] == [{"step": at + 2, "lr": 0.001}]
    assert store.status(run_id)["step"] == at + 2                # paused still: no step taken
    threads.pause(run_id, False)
    assert wait_for(lambda: (store.status(run_id).get("step") or 0) > at + 50, 20)
    assert store.status(run_id)["paused"] is False
    threads.cancel(run_id)
    result = threads.wait(run_id, timeout=30)
    assert result.status == "cancelled"
    assert store.info(run_id).changes == [{"step": at + 2, "lr": 0.001}]


def test_a_refused_change_says_why_and_changes_nothing(threads, store):
    run_id = _running(threads, store)
    with pytest.raises(InvalidConfig, match="at most 100"):
        threads.change(run_id, {"lr": 5000})
    with pytest.raises(InvalidConfig, match="epochs cannot change while the run trains"):
        threads.change(run_id, {"epochs": 3})
    with pytest.raises(SubmitError, match="not paused"):
        threads.step_once(run_id)
    threads.cancel(run_id)
    threads.wait(run_id, timeout=30)
    with pytest.raises(SubmitError, match="only a run that is training"):
        threads.change(run_id, {"lr": 0.001})
    assert store.info(run_id).changes == [] and not store.status(run_id).get("changes")


def test_a_run_left_paused_stops_with_its_weights(store):
    cfg = params.parse(lab.Config, LONG)[0]
    run_id = store.create("mlp", params.to_dict(cfg))
    store.request_control(run_id, pause=True)        # read at the first flush
    result = loop.run(lab, cfg, run_id, store, max_pause=0.5)
    assert result.status == "cancelled" and "minutes paused" in result.message
    assert store.model_path(run_id) is not None and result.steps < 1000


def test_the_cli_replays_changes_and_refuses_a_wrong_one(capsys, home):
    from playground.__main__ import main
    from playground.engine.runs import RunStore

    code = main(["train", "mlp", "--set", "epochs=5", "--change", "40:lr=0.001",
                 "--change", "40:dropout=0.2", "--json"])
    assert code == 0
    run = RunStore().list(lab="mlp")[0]
    assert run.changes == [{"step": 40, "lr": 0.001, "dropout": 0.2}]
    capsys.readouterr()
    assert main(["train", "mlp", "--change", "40:hidden_sizes=3"]) == 2
    assert "hidden_sizes cannot change while the run trains" in capsys.readouterr().err
    assert main(["train", "mlp", "--change", "soon:lr=1"]) == 2
    assert "--change expects STEP:key=value" in capsys.readouterr().err


def test_one_step_on_a_finished_run_moves_its_boundary(store):
    from tests.helpers import trained_run

    run_id = trained_run(store, "mlp", {"epochs": 2})
    store.save_optimizers(run_id, {})        # trained_run keeps no optimizer: a fresh Adam
    cfg = params.parse(lab.Config, store.config(run_id)["config"])[0]
    session = stepping.resume(lab, cfg, store, run_id)
    before = stepping.show(lab, session)["boundary"]["data"]["data"][0]["z"]
    out = stepping.act(lab, session, "Ten steps")
    assert set(out) == {"batch loss", "test loss", "test acc"}
    after = stepping.show(lab, session)["boundary"]["data"]["data"][0]["z"]
    assert after != before


def test_the_page_changes_pauses_and_steps_its_running_run_and_marks_the_curves(home, store):
    from tests.helpers import open_page, run_id_of

    at = open_page("app_pages/10_mlp.py", {"epochs": "2000"})
    at.button(key="mlp._train").click().run()
    run_id = run_id_of(at)
    assert wait_for(lambda: store.status(run_id).get("status") == "running"
                    and (store.status(run_id).get("step") or 0) > 0, 120)
    at.run()
    key = f"mlp._live.{run_id}"
    assert at.selectbox(key=f"{key}.lr").value == 0.01
    at.selectbox(key=f"{key}.lr").set_value(0.001).run()
    assert not at.exception
    changes = store.status(run_id)["changes"]
    assert [c["lr"] for c in changes] == [0.001]
    assert any(f"Learning rate = 0.001 from step {changes[0]['step']:,}" in c.value
               for c in at.caption)
    loss = next(c for c in at.get("plotly_chart") if c.key == "curve-loss")
    assert "lr 0.001" in loss.proto.spec                          # the change, marked

    assert at.button(key=f"{key}.step").disabled
    at.button(key=f"{key}.pause").click().run()
    assert store.status(run_id)["paused"] and at.button(key=f"{key}.pause").label == "Resume"
    step = store.status(run_id)["step"]
    at.button(key=f"{key}.step").click().run()
    assert store.status(run_id)["step"] == step + 1
    at.selectbox(key=f"{key}.regularization").set_value("l2").run()
    assert store.status(run_id)["changes"][-1] == {"step": step + 1, "regularization": "l2"}
    at.button(key=f"{key}.pause").click().run()
    assert wait_for(lambda: store.status(run_id)["step"] > step + 20, 30)
    at.button(key="mlp._stop").click().run()
    assert wait_for(lambda: store.status(run_id)["status"] == "cancelled", 30)
    at.run()
    assert not at.exception and not any(b.key == f"{key}.pause" for b in at.button)
