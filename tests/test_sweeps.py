"""Sweeps through the engine: a grid of four MLP runs on embedded data, a random search on a log
range, repeats over seeds, the median rule stopping runs that cannot learn, cancelling a sweep,
and every bad input refused with a message before anything trains."""
import json
import math

import pytest

from playground import sweeps
from playground.__main__ import main
from playground.engine import hosting


def _grid_plan(**overrides):
    base = dict(grid={"lr": ["0.001", "0.03"], "hidden_sizes": ["4", "32,32"]},
                fixed={"epochs": "8", "dataset": "moons"})
    return sweeps.Plan("mlp", **{**base, **overrides})


def test_a_grid_of_four_mlp_runs_trains_and_ranks_them(home, manager, store):
    record = sweeps.run_local(_grid_plan(), manager)
    assert record["status"] == "completed" and len(record["runs"]) == 4
    assert {(r["settings"]["lr"], r["settings"]["hidden_sizes"]) for r in record["runs"]} == {
        ("0.001", "4"), ("0.001", "32,32"), ("0.03", "4"), ("0.03", "32,32")}
    for r in record["runs"]:
        assert r["status"] == "completed"
        # the objective is the run's own final val/acc, read from the run store
        assert r["objective"] == pytest.approx(store.status(r["run_id"])["final"]["val/acc"])
        assert store.config(r["run_id"])["config"]["epochs"] == 8
    best = max(record["runs"], key=lambda r: r["objective"])
    assert record["best"]["run_id"] == best["run_id"]
    assert sweeps.ranked(record)[0]["run_id"] == best["run_id"]
    assert best["settings"]["lr"] == "0.03"          # 8 epochs at 0.001 have not got far
    assert set(sweeps.sensitivity(record)) == {"lr", "hidden_sizes"}
    # the record outlives the process: listed and loaded from disk
    assert sweeps.load(record["sweep_id"])["best"]["run_id"] == best["run_id"]
    assert [s["sweep_id"] for s in sweeps.list_sweeps("mlp")] == [record["sweep_id"]]


def test_a_random_search_samples_a_log_range_within_its_bounds():
    plan = sweeps.Plan("mlp", ranges={"lr": [1e-4, 1e-1, None]}, random=40,
                       grid={"activation": ["relu", "tanh"]})
    runs = sweeps.expand(plan)
    lrs = [float(r["lr"]) for r in runs]
    assert len(runs) == 40 and all(1e-4 <= x <= 1e-1 for x in lrs)
    # lr is a log param: log-uniform puts about a third of the draws in each decade
    for lo in (1e-4, 1e-3, 1e-2):
        assert 5 <= sum(lo <= x < lo * 10 for x in lrs) <= 22
    assert {r["activation"] for r in runs} == {"relu", "tanh"}
    assert sweeps.expand(plan) == runs                                  # the same draw again
    assert sweeps.expand(sweeps.Plan(**{**plan.__dict__, "sample_seed": 1})) != runs
    ints = sweeps.expand(sweeps.Plan("mlp", ranges={"epochs": [1, 50, None]}, random=10))
    assert all(r["epochs"].isdigit() and 1 <= int(r["epochs"]) <= 50 for r in ints)


def test_seeds_repeat_every_setting():
    runs = sweeps.expand(_grid_plan(grid={"lr": ["0.001", "0.03"]}, seeds=[0, 1, 2]))
    assert [(r["lr"], r["seed"]) for r in runs] == [(lr, s) for lr in ("0.001", "0.03")
                                                   for s in ("0", "1", "2")]


@pytest.mark.slow
def test_the_median_rule_stops_runs_that_cannot_learn(home, manager, monkeypatch):
    # three runs that learn first, then three whose learning rate is too small to move. The
    # sweep must see each of those running past a quarter of the way: it looks every POLL_S,
    # here every 0.1 s instead of 0.5, so that runs of 100 epochs (about 2 s each on 2 cores)
    # leave it ~15 looks past the quarter (300 epochs at 0.5 s: ~9, in a 30 s test)
    monkeypatch.setattr(sweeps, "POLL_S", 0.1)
    plan = sweeps.Plan("mlp", grid={"lr": ["0.03", "0.000001"]}, seeds=[0, 1, 2],
                       fixed={"epochs": "100", "dataset": "moons"}, early_stop="median")
    record = sweeps.run_local(plan, manager)
    by_lr = {lr: [r for r in record["runs"] if r["settings"]["lr"] == lr]
             for lr in ("0.03", "0.000001")}
    assert all(r["status"] == "completed" and not r.get("stopped_early") for r in by_lr["0.03"])
    assert all(r["status"] == "cancelled" and "median" in r["stopped_early"]
               for r in by_lr["0.000001"]), by_lr["0.000001"]
    assert record["best"]["settings"]["lr"] == "0.03"


def test_cancelling_a_sweep_stops_its_runs_and_starts_no_more(home, manager, store):
    plan = _grid_plan(fixed={"epochs": "2000"})
    sweep_id = sweeps.start(plan, manager)
    from tests.helpers import wait_for

    assert wait_for(lambda: any(r["status"] == "running"
                                for r in sweeps.load(sweep_id)["runs"]), timeout=60)
    sweeps.cancel(sweep_id)
    assert wait_for(lambda: sweeps.load(sweep_id)["status"] == "cancelled", timeout=60)
    runs = sweeps.load(sweep_id)["runs"]
    assert {r["status"] for r in runs} <= {"cancelled", "skipped"}
    assert sum(r["status"] == "skipped" for r in runs) >= 2           # never started
    started = [r["run_id"] for r in runs if r["run_id"]]
    assert all(store.status(i)["status"] == "cancelled" for i in started)


@pytest.mark.parametrize("plan, message", [
    (sweeps.Plan("mlp", grid={"lrr": ["0.1"]}), "unknown setting 'lrr' for mlp"),
    (sweeps.Plan("mlp", grid={"lr": []}), "the grid has no values"),
    (sweeps.Plan("mlp", grid={"lr": ["fast"]}), "grid lr:"),
    (sweeps.Plan("mlp", ranges={"lr": [1e-9, 1.0, None]}, random=3),
     "the range 1e-09:1 is outside what it takes"),
    (sweeps.Plan("mlp", ranges={"activation": [0, 1, None]}, random=3), "not a number"),
    (sweeps.Plan("mlp", ranges={"lr": [0.1, 0.01, None]}, random=3), "lo < hi"),
    (sweeps.Plan("mlp", ranges={"lr": [1e-3, 1e-1, None]}), "number of runs"),
    (sweeps.Plan("mlp"), "nothing to vary"),
    (sweeps.Plan("mlp", grid={"lr": ["0.1", "1", "10"]}, seeds=[0, 1, 2], budget=8),
     "makes 9 runs, more than its budget of 8"),
    (sweeps.Plan("nope", grid={"lr": ["0.1"]}), "nope"),
    (sweeps.Plan("mlp", grid={"lr": ["0.1"]}, objective="accuracy"), "a metric such as"),
    (sweeps.Plan("mlp", grid={"lr": ["0.1"]}, early_stop="asha"), "needs the Ray engine"),
    (sweeps.Plan("mlp", grid={"lr": ["0.1"]}, engine="spark"), "the engine is one of"),
    (sweeps.Plan("mlp", grid={"lr": ["0.1"]}, fixed={"hidden_sizes": "0"}),
     "lr=0.1: Hidden sizes"),
])
def test_bad_sweeps_are_refused_with_a_message(plan, message):
    with pytest.raises(sweeps.SweepError) as e:
        sweeps.validate(plan)
    assert any(message in m for m in e.value.messages), e.value.messages


def test_sweeps_are_off_on_a_shared_server(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    assert hosting.caps().hosted
    with pytest.raises(sweeps.SweepError, match="off on this shared server"):
        sweeps.validate(_grid_plan())


def test_the_objective_defaults_to_the_labs_headline_and_its_direction():
    assert sweeps.default_objective("mlp") == ("val/acc", "max")
    assert sweeps.default_objective("diffusion") == ("val/energy", "min")
    assert sweeps.mode_of("val/loss") == "min" and sweeps.mode_of("val/return") == "max"


def test_cli_sweep_json(home, capsys):
    code = main(["sweep", "mlp", "--grid", "lr=0.001,0.03", "--grid", "hidden_sizes=4;16,16",
                 "--set", "epochs=4", "--set", "dataset=moons", "--objective", "val/loss:min",
                 "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["status"] == "completed" and len(out["runs"]) == 4
    assert out["objective"] == {"metric": "val/loss", "mode": "min"}
    losses = [r["objective"] for r in out["runs"]]
    assert out["best"]["objective"] == min(losses) and all(math.isfinite(x) for x in losses)
    assert sorted(r["settings"]["hidden_sizes"] for r in out["runs"]) == ["16,16", "16,16",
                                                                         "4", "4"]
    code = main(["sweep", "mlp", "--grid", "lrr=1", "--range", "lr=5", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown setting 'lrr'" in err and "lo:hi" in err


def test_the_mlp_page_starts_a_4x2_sweep_and_the_runs_page_shows_it(home, store):
    from tests.helpers import open_page, texts, wait_for

    at = open_page("app_pages/10_mlp.py", {"epochs": "4", "dataset": "moons"})
    assert not at.exception
    at.multiselect(key="mlp._sweep.vary").set_value(["lr", "hidden_sizes"]).run()
    # the panel suggests values around the form's: lr (0.01) is a log setting
    assert at.text_input(key="mlp._sweep.grid.lr").value == "0.001,0.01,0.1"
    at.text_input(key="mlp._sweep.grid.lr").set_value("0.003,0.01,0.03,0.1").run()
    at.text_input(key="mlp._sweep.grid.hidden_sizes").set_value("4;16,16").run()
    assert "8 runs." in texts(at, "caption")
    at.button(key="mlp._sweep.start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    sweep_id = at.session_state["mlp._sweep.id"]
    assert wait_for(lambda: sweeps.load(sweep_id)["status"] == "completed", timeout=300)
    record = sweeps.load(sweep_id)
    assert all(r["status"] == "completed" for r in record["runs"]) and len(record["runs"]) == 8
    # every run kept the form's other settings
    assert {store.config(r["run_id"])["config"]["epochs"] for r in record["runs"]} == {4}

    runs = open_page("app_pages/90_runs.py", {"sweep": sweep_id})
    assert not runs.exception
    assert "Sweeps" in texts(runs, "subheader")
    specs = [c.proto.spec for c in runs.get("plotly_chart")]
    assert any('"parcoords"' in s for s in specs), "the parallel-coordinates view"
    table = next(d.value for d in runs.dataframe if "val/acc" in d.value.columns)
    assert len(table) == 8 and list(table["val/acc"]) == sorted(table["val/acc"], reverse=True)
    assert table["run"].iloc[0] == record["best"]["run_id"]
    links = [e for e in runs.get("page_link") if "Open the best run" in e.proto.label]
    assert links and record["best"]["run_id"] in str(links[0].proto)     # its run, one click


def test_a_bad_sweep_on_the_page_says_why(home):
    from tests.helpers import open_page

    at = open_page("app_pages/10_mlp.py")
    at.multiselect(key="mlp._sweep.vary").set_value(["lr"]).run()
    at.text_input(key="mlp._sweep.grid.lr").set_value("0.1,fast").run()
    at.button(key="mlp._sweep.start").click().run()
    assert not at.exception
    assert any("grid lr:" in e.value for e in at.error)
    assert "mlp._sweep.id" not in at.session_state


def test_a_sweep_whose_process_died_says_so_and_its_runs_stay(home, store):
    plan = _grid_plan(grid={"lr": ["0.03"]}, fixed={"epochs": "2", "dataset": "moons"})
    record = sweeps.new_record(plan, sweeps.validate(plan))
    run_id = store.create("mlp", {"lr": 0.03})
    store.set_status(run_id, status="completed")
    record["runs"][0].update(run_id=run_id, status="completed")
    record["pid"] = 2 ** 22 + 12345                  # no such process: the app was restarted
    sweeps.save(record)
    again = sweeps.load(record["sweep_id"])
    assert again["status"] == "interrupted" and again["runs"][0]["run_id"] == run_id
    assert store.status(run_id)["status"] == "completed"
    with pytest.raises(KeyError):
        sweeps.load("../../etc/passwd")               # ids from links are checked first
