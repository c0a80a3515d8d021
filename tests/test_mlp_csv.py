"""Your own data on the MLP page: a CSV table of numbers, its target a column, classification or
regression, every bad file refused with the line at fault."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_circles

from playground import params, registry
from playground.data import uploads
from playground.data.table import MAX_ROWS
from tests.helpers import torch_threads, train_in_memory

lab = registry.get("mlp")


def _csv(header, rows) -> str:
    return ",".join(header) + "\n" + "".join(",".join(f"{v:.5g}" for v in r) + "\n" for r in rows)


def _circles(seed: int = 0) -> str:
    x, y = make_circles(600, noise=0.1, factor=0.5, random_state=seed)
    return _csv(("x1", "x2", "label"), np.column_stack([x, y]))


def _saved(text: str) -> str:
    return uploads.save(text.encode(), kind="table")[0]


GOOD = "a,b,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(30))


@pytest.mark.parametrize("text,message", [
    ("1,2,0\n" * 30, "Line 1 is numbers, not a header"),
    ("a,b,y\n" + "1,2,0\n" * 25 + "1,x,1\n", "Line 27, column 'b': 'x' is not a number"),
    ("a,b,y\n" + "1,2,0\n" * 5, "has 5 rows of data; a network needs at least 20"),
    ("a,b,y\n" + "1,2,0\n" * 25 + "nan,1,1\n", "Line 27, column 'a' is 'nan': every value must be"),
    ("a;b;y\n" + "1;2;0\n" * 25 + "1;inf;1\n", "Line 27, column 'b' is 'inf'"),
    ("a,b,y\n" + "1,2,0\n" * 25 + "1,2\n", "Line 27 has 2 cells; the header names 3 columns"),
    ("a,b,y\n" + "1,,0\n" * 25, "Line 2, column 'b' is empty"),
    ("a,a,y\n1,2,3\n", "Line 1 names the column 'a' twice"),
    ("a,b,y\n" + "1,2,0\n" * (MAX_ROWS + 1), f"more than {MAX_ROWS:,} rows of data (line"),
    ("", "The file is empty: upload a .csv file with a header line"),
])
def test_every_bad_file_is_refused_naming_its_line(home, text, message):
    with pytest.raises(uploads.BadUpload, match=message.replace("(", r"\(").replace(".", r"\.")):
        uploads.save(text.encode(), kind="table")


def test_a_file_too_large_is_refused_before_it_is_read(home):
    with pytest.raises(uploads.BadUpload, match="at most 1 MB"):
        uploads.save(GOOD.encode() + b"0" * 2**20, max_bytes=2**20, kind="table")


@pytest.mark.parametrize("settings,message", [
    ({}, "upload one"),
    ({"target": "z"}, "no column named 'z': its columns are a, b, y"),
    ({"target": "a", "task": "classification"}, "'a' holds 30 different values: too many classes"),
    ({"csv": "a,b,y\n" + "1,2,0\n3,4,0\n" * 12}, "Every row's 'y' is 0: a classifier needs two"),
])
def test_settings_that_cannot_train_on_the_file_say_why(home, settings, message):
    settings = dict(settings)
    text = settings.pop("csv", GOOD)
    raw = {"dataset": "csv", **settings}
    if settings or text is not GOOD:
        raw["csv_file"] = _saved(text)
    _, errors = registry.parse_config(lab, raw)
    assert any(message in e for e in errors), errors


def test_the_task_is_read_from_the_target_unless_asked(home):
    table = _saved(GOOD)
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table})[0]
    assert lab.table_of(cfg).task == "classification"
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table, "task": "regression"})[0]
    assert lab.table_of(cfg).task == "regression"
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table, "target": "a"})[0]
    assert lab.table_of(cfg).task == "regression" and lab.table_of(cfg).inputs == ("b", "y")


def test_two_noisy_circles_reach_90_percent_on_every_seed(home):
    """The issue's target: a CSV of two noisy circles (x1,x2,label; 600 rows), the default
    network, >= 90% test accuracy (measured 98.0-98.3% on three files and seeds)."""
    for seed in (0, 1, 2):
        table = _saved(_circles(seed))
        cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table, "seed": seed})[0]
        with torch_threads(1 + seed % 2):
            state, data, final = train_in_memory(lab, cfg)
        assert final["val/acc"] >= 0.9, (seed, final)
    with torch.no_grad():
        views = lab.artifacts(state, data)
    assert set(views) == {"boundary", "neurons"}
    fig = views["boundary"]["data"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "x1"


def test_the_cli_reads_a_path_through_the_same_checks(home, tmp_path, capsys):
    from tests.helpers import train_cli

    path = tmp_path / "circles.csv"
    path.write_text(_circles())
    code, summary = train_cli(capsys, "mlp", "dataset=csv", f"csv_file={path}", "epochs=40")
    assert code == 0 and summary["metrics"]["val/acc"] >= 0.9
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,label\n" + "1,2,0\n" * 30 + "1,two,1\n")
    from playground.__main__ import main

    assert main(["train", "mlp", "--set", "dataset=csv", "--set", f"csv_file={bad}"]) == 2
    assert "Line 32, column 'x2': 'two' is not a number" in capsys.readouterr().err


def test_three_classes_on_two_inputs_are_coloured_over_the_plane(home):
    x, y = make_blobs(450, centers=[(-2, 0), (2, 0), (0, 3)], cluster_std=0.7, random_state=0)
    table = _saved(_csv(("width", "height", "kind"), np.column_stack([x, y])))
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table, "epochs": 30})[0]
    state, data, final = train_in_memory(lab, cfg)
    assert data.classes == ("0", "1", "2") and final["val/acc"] >= 0.95
    with torch.no_grad():
        view = lab.artifacts(state, data)["boundary"]
    assert view["title"] == "Classes over the plane"
    heat = view["data"]["data"][0]
    assert {v for row in heat["z"] for v in row} == {0, 1, 2}
    assert view["data"]["layout"]["yaxis"]["title"]["text"] == "height"


def test_a_wide_table_shows_predicted_against_true_and_its_principal_components(home):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 6))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.0]) + 0.5 * np.sin(2 * x[:, 0]) \
        + rng.normal(0, 0.1, 800)
    table = _saved(_csv([f"f{i}" for i in range(6)] + ["price"], np.column_stack([x, y])))
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table, "epochs": 60})[0]
    state, data, final = train_in_memory(lab, cfg)
    assert data.kind == "tabular" and final["val/r2"] >= 0.95, final
    with torch.no_grad():
        views = lab.artifacts(state, data)
    assert set(views) == {"predicted", "pca"}
    perfect, rows = views["predicted"]["data"]["data"]
    assert len(rows["x"]) == len(data.test[0])
    assert np.corrcoef(rows["x"], rows["y"])[0, 1] > 0.97        # predictions track the truth
    assert views["pca"]["data"]["layout"]["xaxis"]["title"]["text"].startswith("PC1 (")


def test_a_table_that_is_gone_fails_the_run_with_the_fix(home, store):
    from playground.engine import loop

    table = _saved(GOOD)
    cfg = params.parse(lab.Config, {"dataset": "csv", "csv_file": table})[0]
    uploads.path(table).unlink()
    lab._parsed.cache_clear()
    run_id = store.create("mlp", params.to_dict(cfg))
    result = loop.run(lab, cfg, run_id, store)
    assert result.status == "failed" and "is not on this server" in result.message
    assert store.status(run_id)["fix"] == {"dataset": "spiral"}
