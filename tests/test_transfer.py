"""Transfer learning: the digits-0-4 source trained once and kept, a finished CNN run as the
source, the target's few labelled images, what each mode trains and how far each layer moves,
and the comparison's verdict."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from playground import params, registry
from playground.data.base import DataUnavailable
from tests.helpers import torch_threads, train_in_memory, trained_run

lab = registry.get("transfer")
MNIST10K = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist10k"


def _cfg(**values):
    cfg, errors = params.parse(lab.Config, values, check=lab.check)
    assert not errors, errors
    return cfg


def test_the_source_is_trained_once_and_kept(home, monkeypatch):
    from playground.labs.transfer import model

    first = model.source_weights(_cfg(pretrain_steps=60), torch.device("cpu"))
    kept = home / "cache" / "transfer" / "digits0-4-60.pt"
    assert kept.is_file()

    def again(*a):
        raise AssertionError("trained a second time")

    trains = model.pretrain
    monkeypatch.setattr(model, "pretrain", again)
    second = model.source_weights(_cfg(pretrain_steps=60), torch.device("cpu"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    kept.write_bytes(b"damaged")                          # a damaged file is trained again
    monkeypatch.setattr(model, "pretrain", trains)
    third = model.source_weights(_cfg(pretrain_steps=60), torch.device("cpu"))
    assert all(torch.equal(first[k], third[k]) for k in first)     # the same, every time


def test_the_target_is_the_digits_5_to_9_with_labels_per_class_picked_by_the_seed(home):
    data = lab.load_data(_cfg(labels_per_class=3))
    assert data.classes == ("5", "6", "7", "8", "9") and data.input_shape == (1, 16, 16)
    assert torch.bincount(data.train[1]).tolist() == [3] * 5
    assert len(data.test[0]) + len(data.train[0]) == 896           # every 5-9 digit, once
    assert set(data.test[1].tolist()) == set(range(5))
    other = lab.load_data(_cfg(labels_per_class=3, seed=1))
    assert not torch.equal(data.train[0], other.train[0])
    assert len(data.test[0]) == len(other.test[0])


@pytest.mark.skipif(not (MNIST10K / "MNIST" / "raw").is_dir(),
                    reason="../shared/data/mnist10k is not present")
def test_mnist_is_made_the_sources_input(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(MNIST10K))
    data = lab.load_data(_cfg(target="mnist", labels_per_class=2))
    assert data.input_shape == (1, 16, 16) and data.train[0].shape == (20, 1, 16, 16)
    assert data.test[0].shape == (2000, 1, 16, 16)


def test_each_mode_trains_what_it_says_and_the_layers_move_accordingly(home):
    """Over seeds 0-2 at 1 and 2 threads (0-4 measured): a probe moves only its new layer;
    fine-tuning moves the first conv layer least; discriminative fine-tuning moves the source's
    layers less than fine-tuning does; the frozen probe trails fine-tuning at 10 labels per
    class."""
    from playground.labs.transfer import model

    for threads in (1, 2):
        with torch_threads(threads):
            for seed in (0, 1, 2):
                moved, acc = {}, {}
                for mode in ("probe", "finetune", "discriminative"):
                    state, data, final = train_in_memory(lab, _cfg(mode=mode, seed=seed))
                    bars = model._movement_view(state)["data"]["data"][0]
                    moved[mode], acc[mode] = dict(zip(bars["x"], bars["y"])), final["val/acc"]
                probe, tune, slow = moved["probe"], moved["finetune"], moved["discriminative"]
                assert probe["conv 1"] == probe["conv 2"] == probe["dense"] == 0.0
                assert probe["new last layer"] > 0.1
                assert tune["conv 1"] < tune["conv 2"] < tune["dense"], (seed, tune)
                for layer in ("conv 1", "conv 2", "dense"):
                    assert slow[layer] < 0.6 * tune[layer], (seed, layer, slow, tune)
                assert acc["probe"] < acc["finetune"] - 0.05, (seed, threads, acc)
    views = lab.artifacts(state, data)
    assert {"features", "movement", "predictions", "confusion"} <= set(views)
    before, after = (t for t in views["features"]["data"]["data"][::5][:2])
    assert before["x"] != after["x"]                       # the features changed in training


def _cnn_run(store) -> str:
    return trained_run(store, "cnn", {"image_size": 12, "channels": "8", "fc_size": 16,
                                      "epochs": 2})


def test_a_finished_cnn_run_is_a_source_with_its_own_architecture(store):
    run_id = _cnn_run(store)
    cfg = _cfg(source="run", backbone_run=run_id, steps=5)
    data = lab.load_data(cfg)
    assert data.input_shape == (1, 12, 12)
    state = lab.build(cfg, data)
    source = torch.load(store.model_path(run_id), weights_only=True)
    mine = state.model.state_dict()
    assert torch.equal(mine["blocks.0.0.weight"], source["blocks.0.0.weight"])
    assert mine["head.3.weight"].shape == (5, 16)              # a new last layer, 5 classes
    assert params.parse(lab.Config, {"source": "run"}, check=lab.check)[1] == [
        "The run source reuses a finished CNN or ResNet run: pick one under 'Source run' "
        "(train one on the CNN or ResNet page first), or use the digits0-4 source."]
    gone = _cfg(source="run", backbone_run="20260101-000000-cnn-abcdef")
    with pytest.raises(DataUnavailable, match="not on this server") as e:
        lab.load_data(gone)
    assert e.value.fix == {"source": "digits0-4"}


def test_a_finished_resnet_run_is_a_source_too(store):
    """Its stem and blocks reused, a new head; the features are its pooled last block; every
    mode trains and the pictures name its layers."""
    from playground.labs.transfer import model

    run_id = trained_run(store, "resnet", {"depth": 3, "width": 8, "image_size": 12,
                                           "epochs": 2})
    source = torch.load(store.model_path(run_id), weights_only=True)
    for mode in ("probe", "finetune"):
        cfg = _cfg(source="run", backbone_run=run_id, steps=30, mode=mode)
        tstate, data, metrics = train_in_memory(lab, cfg)
        assert data.input_shape == (1, 12, 12)
        assert metrics["val/acc"] > (0.5 if mode == "finetune" else 0.2), (mode, metrics)
        assert model.features(tstate.model, data.test[0][:4]).shape == (4, 8)
        bars = model._movement_view(tstate)["data"]["data"][0]
        assert bars["x"][:3] == ["stem", "block 1a", "block 1b"]
        assert bars["x"][-1] == "new last layer"
        if mode == "probe":
            assert all(y == 0 for y in bars["y"][:-1]) and bars["y"][-1] > 0
    fresh = lab.build(_cfg(source="run", backbone_run=run_id), data)
    assert torch.equal(fresh.model.state_dict()["stem.weight"], source["stem.weight"])


def test_the_comparison_says_what_the_runs_show():
    class Run:
        def __init__(self, mode, acc):
            self.config = {"mode": mode, "labels_per_class": 10}
            self.status = {"status": "completed", "final": {"val/acc": acc}, "params": 9,
                           "seconds": 1.0}

    def verdict(scratch, probe, tune):
        return lab.comparison_table([("scratch", Run("scratch", scratch)),
                                     ("probe", Run("probe", probe)),
                                     ("finetune", Run("finetune", tune))])[1]

    assert "Starting from the source's weights paid 10.0%" in verdict(0.8, 0.85, 0.9)
    said = verdict(0.94, 0.72, 0.946)
    assert "did not pay here" in said and "The probe trails both" in said
    assert "Scratch won by 10.0%" in verdict(0.9, 0.85, 0.8)
    assert "incomplete" in lab.comparison_table([])[1]


def test_the_page_compares_the_three_modes(home, store):
    from tests.helpers import compare_on_page, open_page

    at = open_page("app_pages/45_transfer.py", {"steps": "60", "pretrain_steps": "100"})
    assert not at.exception
    ids = compare_on_page(at, store, "transfer")
    assert [store.config(i)["config"]["mode"] for i in ids] == ["scratch", "probe", "finetune"]
    table = next(d.value for d in at.dataframe if "test accuracy" in d.value.columns)
    assert list(table["mode"]) == ["scratch", "probe", "finetune"]
    assert "With 10 labelled images per class: fine-tune" in " ".join(m.value for m in at.info)
    assert (home / "cache" / "transfer" / "digits0-4-100.pt").is_file()


def test_the_cli_trains_a_transfer_run_and_exports_it(home, store, tmp_path, capsys):
    """ONNX of the run's network; a script that trains its own source first and then the run,
    alone (nothing of the playground imported); a run source has no script."""
    import onnx

    from playground.__main__ import main
    from tests.helpers import train_cli

    code, out = train_cli(capsys, "transfer", "steps=20", "pretrain_steps=50",
                          "labels_per_class=2")
    assert code == 0 and out["status"] == "completed" and "val/acc" in out["metrics"]
    path = tmp_path / "transfer.onnx"
    assert main(["export", out["run_id"], "--as", "onnx", "-o", str(path)]) == 0
    onnx.checker.check_model(onnx.load(str(path)))
    script = tmp_path / "train_transfer.py"
    assert main(["export", out["run_id"], "--as", "script", "-o", str(script)]) == 0
    assert "import playground" not in script.read_text()
    import json
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, str(script), "--device", "cpu", "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "training the source, digits0-4-50 steps..." in ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1])["val/acc"] > 0.5
    run_id = _cnn_run(store)
    assert lab.exportable(_cfg(source="run", backbone_run=run_id)).startswith(
        f"this run starts from run {run_id}'s weights")


def test_the_digits_source_is_the_cnn_pages_network_at_its_defaults():
    from dataclasses import asdict

    cnn = asdict(registry.get("cnn").Config(image_size=16))
    assert {k: cnn[k] for k in lab.DIGITS_NET} == lab.DIGITS_NET


def test_the_labels_curve_runs_from_the_page_and_the_runs_page_draws_it(home, store):
    """One click starts scratch, probe and fine-tune at 1-100 labels per class (the form's other
    settings kept); the Runs page draws accuracy against labels, a line per mode, and says
    what it shows."""
    from playground import sweeps
    from tests.helpers import open_page, wait_for

    at = open_page("app_pages/45_transfer.py", {"steps": "15", "pretrain_steps": "60"})
    at.button(key="transfer._sweep.preset.Labels curve").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    sweep_id = at.session_state["transfer._sweep.id"]
    assert wait_for(lambda: sweeps.load(sweep_id)["status"] == "completed", timeout=300)
    record = sweeps.load(sweep_id)
    assert sorted((r["settings"]["mode"], int(r["settings"]["labels_per_class"]))
                  for r in record["runs"]) == sorted((m, n) for m in lab.COMPARED
                                                     for n in lab.LABELS)
    assert {store.config(r["run_id"])["config"]["steps"] for r in record["runs"]} == {15}
    runs = open_page("app_pages/90_runs.py", {"sweep": sweep_id})
    assert not runs.exception
    effect = next(c for c in runs.get("plotly_chart")
                  if '"labels_per_class"' in c.proto.spec and '"log"' in c.proto.spec)
    assert '"finetune"' in effect.proto.spec and '"scratch"' in effect.proto.spec
    assert "Fine-tune minus scratch, by labels per class - 1:" in " ".join(
        i.value for i in runs.info)


def test_the_labels_curves_verdict_says_where_the_source_paid():
    def record(gaps):
        runs = [{"settings": {"mode": m, "labels_per_class": str(n)},
                 "objective": 0.7 + (gaps[i] if m == "finetune" else 0.0)}
                for i, n in enumerate(lab.LABELS) for m in lab.COMPARED]
        return {"runs": runs, "objective": {"metric": "val/acc"}}

    assert "never led by 2 points" in lab.sweep_verdict(record([0.0, 0.01, 0, -0.01, 0]))
    assert "pays most with few labels (1 per class)" in lab.sweep_verdict(
        record([0.15, 0.1, 0.05, 0.0, 0.0]))
    assert "leads from 5 labels per class on" in lab.sweep_verdict(
        record([0.0, 0.05, 0.06, 0.05, 0.05]))


def test_the_imagenet_source_loads_torchvisions_resnet18_weights_from_torchs_folder(
        home, tmp_path, monkeypatch):
    """Offline, the loader reads a state dict of ResNet-18's shape where torch keeps downloads
    ($TORCH_HOME/hub/checkpoints), and without one says where to put it."""
    from torchvision.models import resnet18

    from playground.labs.transfer import model

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DataUnavailable, match="resnet18-f37072fd.pth") as e:
        model.imagenet_weights()
    assert e.value.fix == {"source": "digits0-4"}
    torch.manual_seed(3)
    saved = resnet18().state_dict()
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(saved, folder / "resnet18-f37072fd.pth")
    cfg = _cfg(source="imagenet", labels_per_class=2, steps=3, mode="probe")
    state, data, final = train_in_memory(lab, cfg)
    assert data.input_shape == (3, 32, 32) and data.train[0].shape == (10, 3, 32, 32)
    mine = state.model.state_dict()
    assert torch.equal(mine["layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])
    assert torch.equal(mine["bn1.running_mean"], saved["bn1.running_mean"])   # frozen, BN too
    assert mine["fc.weight"].shape == (5, 512)
    assert model.features(state.model, data.test[0][:3]).shape == (3, 512)
    bars = model._movement_view(state)["data"]["data"][0]
    assert bars["x"][0] == "conv1" and bars["x"][-1] == "new last layer"
    assert lab.exportable(cfg).startswith("a script of an ImageNet-source run")
