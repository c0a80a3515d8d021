"""The Runs page and the run store calls behind it: compare, filter, export and delete runs."""
import csv
import io
import json
import shutil

import pytest

from playground import params
from playground.engine.runs import NoSuchRun, RunStore
from playground.labs import mlp
from tests.helpers import open_page, texts

PAGE = "app_pages/90_runs.py"
SETTINGS = {"narrow": dict(hidden_sizes=(4,), lr=0.03), "wide": dict(hidden_sizes=(8, 8), lr=0.1)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two finished MLP runs, trained once for the whole module."""
    from playground.engine import loop

    store = RunStore(tmp_path_factory.mktemp("trained") / "runs")
    ids = {}
    for name, settings in SETTINGS.items():
        cfg = mlp.Config(epochs=5, **settings)
        ids[name] = store.create("mlp", params.to_dict(cfg))
        assert loop.run(mlp, cfg, ids[name], store).status == "completed"
    return store.root, ids


@pytest.fixture
def runs(trained, store):
    """This test's own copy of the two runs, in its own PLAYGROUND_HOME."""
    root, ids = trained
    for run_id in ids.values():
        shutil.copytree(root / run_id, store.root / run_id)
    return ids


def chart(at) -> dict:
    figures = at.get("plotly_chart")
    assert len(figures) == 1
    return json.loads(figures[0].proto.spec)


def url_runs(at) -> list[str]:
    value = at.query_params.get("runs", "")
    return [i for i in (value if isinstance(value, str) else value[0]).split(",") if i]


def compare(*run_ids):
    at = open_page(PAGE)
    at.multiselect(key="runs.selected").set_value(list(run_ids)).run()
    assert not at.exception, at.exception
    return at


def table_ids(at) -> list[str]:
    return at.dataframe[0].value["run"].tolist()


def a_damaged_run(store) -> str:
    run_id = store.new_id("mlp")
    (store.root / run_id).mkdir()
    (store.root / run_id / "config.json").write_text('{"lab": "mlp", "conf')
    return run_id


# ---- the page -----------------------------------------------------------------------------------

def test_the_page_renders_with_no_runs(home):
    at = open_page(PAGE, query={"runs": "20260101-000000-mlp-abcdef"})
    assert not at.exception
    assert "No runs yet: train something on any page" in texts(at, "info")
    assert "runs" not in at.query_params


def test_every_run_is_listed_with_its_headline_result_and_settings(runs, store):
    at = open_page(PAGE)
    table = at.dataframe[0].value.set_index("run")
    assert set(table.index) == set(runs.values())
    narrow = table.loc[runs["narrow"]]
    assert narrow["status"] == "completed"
    acc = store.status(runs["narrow"])["final"]["val/acc"]
    assert narrow["result"] == f"{acc:.1%} test acc"
    assert "hidden_sizes=4" in narrow["settings"] and "lr=0.03" in narrow["settings"]


def test_two_selected_runs_are_overlaid_with_one_named_trace_each(runs):
    at = compare(runs["narrow"], runs["wide"])
    assert at.selectbox(key="runs.metric").value == "val/acc"
    names = [t["name"] for t in chart(at)["data"]]
    assert len(names) == 2
    assert names[0].startswith("mlp") and runs["narrow"][-6:] in names[0]
    assert "hidden_sizes=4" in names[0] and "lr=0.03" in names[0]
    assert runs["wide"][-6:] in names[1] and "hidden_sizes=8, 8" in names[1]


def test_the_selection_is_written_to_the_url(runs):
    at = compare(runs["wide"], runs["narrow"])
    assert url_runs(at) == [runs["wide"], runs["narrow"]]


def test_runs_in_the_url_are_preselected_and_unknown_ids_ignored(runs):
    at = open_page(PAGE, query={"runs": f"{runs['wide']},../../etc/passwd,{runs['narrow']}"})
    assert not at.exception
    assert at.multiselect(key="runs.selected").value == [runs["wide"], runs["narrow"]]
    assert len(chart(at)["data"]) == 2


def test_at_most_eight_runs_are_compared_even_from_a_long_link(runs, store):
    copies = []
    for i in range(9):
        run_id = f"{runs['narrow'][:-6]}{i:06x}"
        shutil.copytree(store.root / runs["narrow"], store.root / run_id)
        copies.append(run_id)
    at = open_page(PAGE, query={"runs": ",".join(copies)})
    assert not at.exception, at.exception
    assert at.multiselect(key="runs.selected").value == copies[:8]
    assert len(chart(at)["data"]) == 8


def test_the_diff_table_shows_only_the_settings_that_differ(runs):
    at = compare(runs["narrow"], runs["wide"])
    diff = at.dataframe[1].value
    assert list(diff.index) == ["hidden_sizes", "lr"]
    assert diff.loc["hidden_sizes"].tolist() == ["4", "8, 8"]
    assert diff.loc["lr"].tolist() == ["0.03", "0.1"]


def test_a_setting_missing_in_one_run_shows_a_dash_and_the_labs_differ(runs, store):
    other = store.create("cnn", {"dataset": "digits", "lr": 0.03})
    store.set_status(other, status="failed")
    at = compare(runs["narrow"], other)
    diff = at.dataframe[1].value
    assert diff.loc["lab"].tolist() == ["mlp", "cnn"]
    assert diff.loc["hidden_sizes"].tolist() == ["4", "–"]
    assert "lr" not in diff.index


def test_runs_with_the_same_settings_say_so(runs, store):
    twin = store.create("mlp", store.config(runs["narrow"])["config"])
    store.set_status(twin, status="cancelled")
    at = compare(runs["narrow"], twin)
    assert "same settings" in texts(at, "info")


def test_one_selected_run_shows_its_full_config(runs):
    at = compare(runs["narrow"])
    config = at.dataframe[1].value
    assert {"lab", "dataset", "hidden_sizes", "lr", "epochs", "seed"} <= set(config.index)
    assert config.loc["epochs"].tolist() == ["5"]


def test_the_x_axis_choice_changes_the_x_values(runs, store):
    at = compare(runs["narrow"])
    evals = [r for r in store.metrics(runs["narrow"]) if "val/acc" in r]
    assert chart(at)["data"][0]["x"] == [r["step"] for r in evals]
    at.radio(key="runs.x").set_value("time").run()
    figure = chart(at)
    assert figure["data"][0]["x"] == [r["time"] for r in evals]
    assert figure["layout"]["xaxis"]["title"]["text"] == "seconds since the run started"


def test_the_metric_and_smoothing_change_the_curve(runs, store):
    at = compare(runs["narrow"])
    at.selectbox(key="runs.metric").set_value("train/loss").run()
    raw = chart(at)["data"][0]["y"]
    assert raw == [r["train/loss"] for r in store.metrics(runs["narrow"]) if "train/loss" in r]
    at.slider(key="runs.smoothing").set_value(0.9).run()
    smoothed = chart(at)["data"][0]["y"]
    assert len(smoothed) == len(raw) and smoothed != raw


def test_filtering_by_status_and_lab_hides_the_other_runs(runs, store):
    other = store.create("cnn", {"dataset": "digits"})
    store.set_status(other, status="failed")
    store.set_status(runs["wide"], status="cancelled")
    at = open_page(PAGE)
    assert len(table_ids(at)) == 3
    at.multiselect(key="runs.lab_filter").set_value(["cnn"]).run()
    assert table_ids(at) == [other]
    at.multiselect(key="runs.lab_filter").set_value([]).run()
    at.multiselect(key="runs.status_filter").set_value(["completed"]).run()
    assert table_ids(at) == [runs["narrow"]]
    options = " ".join(at.multiselect(key="runs.selected").options)
    assert runs["narrow"] in options and runs["wide"] not in options and other not in options


def test_each_compared_run_offers_its_metrics_as_csv(runs):
    at = compare(runs["narrow"], runs["wide"])
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("metrics.csv") == 2


# ---- deleting -----------------------------------------------------------------------------------

def test_deleting_a_finished_run_removes_its_folder_and_its_row(runs, store):
    at = compare(runs["narrow"])
    assert at.button(key="runs.delete").disabled, "nothing is deleted without the confirmation"
    at.checkbox(key="runs.confirm_delete").check().run()
    at.button(key="runs.delete").click().run()
    assert not at.exception, at.exception
    assert not (store.root / runs["narrow"]).exists()
    assert table_ids(at) == [runs["wide"]]
    assert at.multiselect(key="runs.selected").value == []
    assert "runs" not in at.query_params
    assert "Deleted 1 run." in texts(at, "success")


def test_a_training_run_is_skipped_when_deleting_with_a_message(runs, store):
    store.set_status(runs["wide"], status="running")
    at = compare(runs["narrow"], runs["wide"])
    at.checkbox(key="runs.confirm_delete").check().run()
    at.button(key="runs.delete").click().run()
    assert not at.exception, at.exception
    assert not (store.root / runs["narrow"]).exists()
    assert store.exists(runs["wide"])
    assert "stop it first" in texts(at, "warning")
    assert at.multiselect(key="runs.selected").value == [runs["wide"]]


def test_a_damaged_run_is_listed_and_can_be_deleted(runs, store):
    damaged = a_damaged_run(store)
    at = open_page(PAGE)
    table = at.dataframe[0].value.set_index("run")
    assert table.loc[damaged, "status"] == "damaged"
    at.multiselect(key="runs.selected").set_value([damaged]).run()
    at.checkbox(key="runs.confirm_delete").check().run()
    at.button(key="runs.delete").click().run()
    assert not at.exception, at.exception
    assert not (store.root / damaged).exists()
    assert damaged not in table_ids(at)


# ---- the run store ------------------------------------------------------------------------------

def test_delete_refuses_a_running_run(store):
    run_id = store.create("mlp", {})
    store.set_status(run_id, status="running")
    with pytest.raises(ValueError, match="stop it first"):
        store.delete(run_id)
    assert store.exists(run_id)
    store.set_status(run_id, status="cancelled")
    store.delete(run_id)
    assert not (store.root / run_id).exists() and store.list() == []


def test_delete_of_an_unknown_or_malformed_id_is_no_such_run(store):
    with pytest.raises(NoSuchRun):
        store.delete("20260101-000000-mlp-abcdef")
    with pytest.raises(NoSuchRun):
        store.delete("../../home")


def test_a_run_without_its_status_file_is_listed_as_damaged_and_can_be_deleted(store):
    run_id = store.create("mlp", {})
    (store.path(run_id) / "status.json").unlink()
    [info] = store.list()
    assert info.damaged and "status.json is missing" in info.damaged
    store.delete(run_id)
    assert store.list() == []

def test_metrics_csv_has_step_first_and_one_row_per_record(runs, store):
    text = store.metrics_csv(runs["narrow"])
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["step", "epoch", "time"]
    assert header[3:] == sorted(header[3:]) and "val/acc" in header and "train/loss" in header
    records = store.metrics(runs["narrow"])
    assert len(body) == len(records)
    assert [int(r[0]) for r in body] == [r["step"] for r in records]
    evaluation = next(i for i, r in enumerate(records) if "val/acc" in r)
    assert body[evaluation][header.index("train/loss")] == ""


# ---- navigation ---------------------------------------------------------------------------------

def test_home_links_to_the_runs_page(home):
    at = open_page("app_pages/00_home.py")
    links = [link.proto.page for link in at.get("page_link")]
    assert any(page.endswith("runs") for page in links), links

