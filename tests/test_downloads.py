"""A run's downloads (script, weights, ONNX, zip) on its lab page and on the Runs page."""
import io
import shutil
import zipfile

import pytest
import torch

from playground import export, params
from playground.labs import mlp
from tests.helpers import open_page, texts

FOUR = ["Script (train_mlp.py)", "Weights (model.pt)", "ONNX", "Whole run (.zip)"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished tiny MLP run, trained once for the whole module."""
    from playground.engine import loop
    from playground.engine.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("trained") / "runs")
    cfg = mlp.Config(dataset="digits", hidden_sizes=(16,), epochs=3)
    run_id = store.create("mlp", params.to_dict(cfg))
    assert loop.run(mlp, cfg, run_id, store).status == "completed"
    return store.root, run_id


@pytest.fixture
def run_id(trained, store):
    """This test's own copy of the finished run, in its own PLAYGROUND_HOME."""
    root, rid = trained
    shutil.copytree(root / rid, store.root / rid)
    return rid


@pytest.fixture
def files(monkeypatch):
    """What each download made on click would hand the browser: file name -> (mime, make)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        made[file_name] = (mimetype, data_callable)
        return original(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return made


def labels(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def ours(at) -> list:
    """The download buttons of this module (the Runs page also has a metrics.csv one)."""
    return [b for b in at.get("download_button") if b.proto.label != "metrics.csv"]


def bytes_of(files, name: str) -> bytes:
    data = files[name][1]()
    return data.encode() if isinstance(data, str) else data


def lab_page(run_id):
    at = open_page(query={"run": run_id})
    assert not at.exception, at.exception
    return at


# ---- the lab page ---------------------------------------------------------------------------

def test_a_finished_run_offers_its_script_weights_onnx_and_zip(run_id, store, files):
    at = lab_page(run_id)
    assert labels(at) == FOUR
    assert all(b.proto.ignore_rerun for b in ours(at)), "a download must not rerun the page"
    assert set(files) == {"train_mlp.py", f"{run_id}.pt", f"{run_id}.onnx", f"{run_id}.zip"}
    assert files["train_mlp.py"][0] == "text/x-python"
    assert b"def train_step" in bytes_of(files, "train_mlp.py")
    state = torch.load(io.BytesIO(bytes_of(files, f"{run_id}.pt")), weights_only=True)
    assert "out.weight" in state
    assert bytes_of(files, f"{run_id}.onnx") == export.onnx_bytes(store, run_id)
    names = zipfile.ZipFile(io.BytesIO(bytes_of(files, f"{run_id}.zip"))).namelist()
    assert f"{run_id}/train_mlp.py" in names and f"{run_id}/model.pt" in names


def test_every_download_key_starts_with_the_given_prefix(run_id):
    at = lab_page(run_id)
    keys = [b.key for b in ours(at)]
    assert len(keys) == 4 and all(k.startswith("mlp._dl.") for k in keys), keys


def test_a_run_that_did_not_complete_shows_no_downloads_on_its_lab_page(run_id, store):
    store.set_status(run_id, status="cancelled")
    at = lab_page(run_id)
    assert labels(at) == []


def test_a_form_that_cannot_be_exported_is_a_caption_and_the_others_stay(run_id, monkeypatch,
                                                                        files):
    def refuse(store, run_id):
        raise export.NotExportable("A distilled student's script would need its teacher run.")

    monkeypatch.setattr(export, "run_script", refuse)
    at = lab_page(run_id)
    assert labels(at) == FOUR[1:]
    assert "would need its teacher run" in texts(at, "caption")


def test_an_unexpected_export_error_is_a_caption_not_a_traceback(run_id, monkeypatch):
    def broken(store, run_id):
        raise RuntimeError("the exporter tripped")

    monkeypatch.setattr(export, "onnx_bytes", broken)
    at = lab_page(run_id)
    assert labels(at) == [FOUR[0], FOUR[1], FOUR[3]]
    assert "the exporter tripped" in texts(at, "caption")


def test_onnx_is_exported_once_not_on_every_rerun(run_id, monkeypatch):
    calls = []
    original = export.onnx_bytes

    def counted(store, run_id):
        calls.append(run_id)
        return original(store, run_id)

    monkeypatch.setattr(export, "onnx_bytes", counted)
    at = lab_page(run_id)
    at.run()
    at.run()
    assert not at.exception, at.exception
    assert lab_page(run_id).get("download_button"), "a second session finds it made too"
    assert calls == [run_id]


def test_a_new_status_makes_the_downloads_again(run_id, store, monkeypatch):
    calls = []
    original = export.onnx_bytes
    monkeypatch.setattr(export, "onnx_bytes",
                        lambda s, r: calls.append(r) or original(s, r))
    at = lab_page(run_id)
    store.set_status(run_id, message="Finished again.")
    at.run()
    assert calls == [run_id, run_id]


# ---- the Runs page ---------------------------------------------------------------------------

def test_the_runs_page_offers_the_downloads_of_a_selected_run(run_id, files):
    at = open_page("app_pages/90_runs.py", query={"runs": run_id})
    assert not at.exception, at.exception
    assert [b.proto.label for b in ours(at)] == FOUR
    assert all(b.key.startswith(f"runs.dl.{run_id}.") for b in ours(at))
    assert b"def train_step" in bytes_of(files, "train_mlp.py")


def test_a_cancelled_run_offers_only_the_zip_and_says_why(store, files):
    run_id = store.create("mlp", params.to_dict(mlp.Config()))
    store.set_status(run_id, status="cancelled")
    at = open_page("app_pages/90_runs.py", query={"runs": run_id})
    assert not at.exception, at.exception
    assert [b.proto.label for b in ours(at)] == ["Whole run (.zip)"]
    assert "come with a completed run" in texts(at, "caption")
    names = zipfile.ZipFile(io.BytesIO(bytes_of(files, f"{run_id}.zip"))).namelist()
    assert f"{run_id}/config.json" in names and f"{run_id}/train_mlp.py" not in names


def test_a_damaged_run_offers_nothing_and_says_why(store):
    run_id = store.create("mlp", {})
    (store.path(run_id) / "status.json").write_text("{not json")
    at = open_page("app_pages/90_runs.py", query={"runs": run_id})
    assert not at.exception, at.exception
    assert ours(at) == []
    assert "Nothing to download" in texts(at, "caption")
