"""A finished run leaves the playground as a standalone script, weights, ONNX or a zip."""
import ast
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
import torch

from playground import export, params, registry
from playground.engine import loop
from playground.engine.runs import RunStore
from playground.labs import mlp
from tests.helpers import run_scripts

ALLOWED_IMPORTS = {"torch", "torchvision", "numpy", "sklearn", "__future__", "gymnasium",
                   "networkx", "scipy"}         # the GNN's graphs, Cora's files


def _finished(store, lab_name: str, **overrides) -> str:
    lab = registry.get(lab_name)
    cfg, errors = registry.parse_config(lab, overrides)
    assert not errors, errors
    run_id = store.create(lab_name, params.to_dict(cfg))
    result = loop.run(lab, cfg, run_id, store)
    assert result.status == "completed", result.message
    return run_id


VISION = [("cnn", {"epochs": 1}), ("resnet", {"epochs": 1, "depth": 2, "width": 8}),
          ("rnn", {"steps": 30, "task": "chars", "n_samples": 500})]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """The slow tests' scripts, written and run once: an MLP run's, a distilled student's (its
    teacher first) and three vision labs' from their settings. {name: (path, process, info)}."""
    home = tmp_path_factory.mktemp("home")
    store = RunStore(home / "runs")
    env = pytest.MonkeyPatch()
    env.setenv("PLAYGROUND_HOME", str(home))         # a student's teacher is read from there
    env.setenv("PLAYGROUND_DEVICE", "cpu")           # as every test's runs (conftest.py)
    try:
        written = {}

        def write(name, text, **info):
            path = tmp_path_factory.mktemp(name) / f"train_{name}.py"
            path.write_text(text)
            written[name] = (path, info)

        run_id = _finished(store, "mlp", **{**mlp.PRESETS["Digits"], "epochs": 12,
                                            "batch_size": 64})
        write("mlp", export.run_script(store, run_id), run_id=run_id,
              final=store.status(run_id)["final"]["val/acc"],
              weights=set(torch.load(store.model_path(run_id), weights_only=True)))
        teacher = _finished(store, "distill", teacher_epochs=10)
        student = _finished(store, "distill", mode="distill", teacher_run=teacher, epochs=30)
        write("distill", export.run_script(store, student), teacher=teacher,
              final=store.status(student)["final"]["val/acc"])
        for lab_name, overrides in VISION:
            write(lab_name, export.script(lab_name, overrides))
        done = run_scripts([path for path, _ in written.values()])
    finally:
        env.undo()
    return {name: (path, done[path], info) for name, (path, info) in written.items()}


def _imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("lab_name", registry.LABS)
def test_every_lab_exports_a_script_that_needs_only_torch_and_data_libraries(lab_name):
    text = export.script(lab_name, {})
    compile(text, f"train_{lab_name}.py", "exec")
    third_party = {r for r in _imported_roots(text) if r not in sys.stdlib_module_names}
    assert third_party <= ALLOWED_IMPORTS, third_party
    assert "playground" not in _imported_roots(text)
    for name in ("def load_data", "def build", "def train_step", "def evaluate", "class Config"):
        assert name in text, name


def test_script_holds_the_runs_exact_settings():
    text = export.script("mlp", {"hidden_sizes": "7,5", "lr": 0.0123, "seed": 42})
    assert "hidden_sizes: tuple[int, ...] = (7, 5)" in text
    assert "lr: float = 0.0123" in text
    assert "seed: int = 42" in text


def test_script_follows_the_lab_source(monkeypatch):
    """Generated from the lab module, not a kept copy: the lab's current code is what ships."""
    import inspect

    text = export.script("mlp", {})
    assert inspect.getsource(mlp.train_step).strip() in text
    assert inspect.getsource(mlp.MLP).strip() in text


@pytest.mark.slow
def test_exported_mlp_script_reaches_the_runs_accuracy_within_one_point(scripts):
    path, p, run = scripts["mlp"]
    final = run["final"]
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])["val/acc"]
    assert final > 0.9
    assert abs(got - final) <= 0.01, (got, final)
    weights = torch.load(path.parent / "model.pt", weights_only=True)
    assert set(weights) == run["weights"]


@pytest.mark.slow
@pytest.mark.parametrize("lab_name", [name for name, _ in VISION])
def test_exported_vision_scripts_train(scripts, lab_name):
    _, p, _ = scripts[lab_name]
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert 0.0 <= got["val/acc"] <= 1.0 and got["val/loss"] > 0
    if lab_name == "cnn":
        assert got["val/acc"] > 0.5          # one epoch on digits is far above chance (10%)


def test_onnx_export_passes_the_onnx_checker(store):
    onnx = pytest.importorskip("onnx")
    run_id = _finished(store, "mlp", dataset="digits", hidden_sizes="16", epochs=2)
    model = onnx.load_from_string(export.onnx_bytes(store, run_id))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["logits"]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"                   # any batch size, not just 1


def test_zip_holds_config_metrics_weights_and_script(store):
    run_id = _finished(store, "mlp", epochs=3)
    z = zipfile.ZipFile(io.BytesIO(export.bundle(store, run_id)))
    names = set(z.namelist())
    assert {f"{run_id}/{n}" for n in ("config.json", "status.json", "metrics.csv", "model.pt",
                                      "train_mlp.py")} <= names
    assert json.loads(z.read(f"{run_id}/config.json"))["config"]["epochs"] == 3
    header = z.read(f"{run_id}/metrics.csv").decode().splitlines()[0]
    assert header.startswith("step,") and "train/loss" in header
    state = torch.load(io.BytesIO(z.read(f"{run_id}/model.pt")), weights_only=True)
    assert "out.weight" in state


def test_a_run_that_did_not_complete_is_not_exported_with_a_reason(store):
    run_id = store.create("mlp", params.to_dict(mlp.Config()))
    store.set_status(run_id, status="cancelled")
    with pytest.raises(export.NotExportable, match="only a completed run"):
        export.run_script(store, run_id)
    with pytest.raises(export.NotExportable, match="only a completed run"):
        export.onnx_bytes(store, run_id)
    z = zipfile.ZipFile(io.BytesIO(export.bundle(store, run_id)))     # the rest still downloads
    assert f"{run_id}/train_mlp.py" not in z.namelist()


def test_cli_export_writes_the_script_and_refuses_unknown_runs(home, store, tmp_path):
    run_id = _finished(store, "mlp", epochs=2)
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "script.py"
    p = subprocess.run([sys.executable, "-m", "playground", "export", run_id, "-o", str(out)],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "def train_step" in out.read_text()
    p = subprocess.run([sys.executable, "-m", "playground", "export", "20260101-000000-mlp-abcdef"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "no such run" in p.stderr


@pytest.mark.slow
def test_a_distilled_students_script_trains_its_teacher_first_and_lands_on_the_runs_accuracy(
        scripts):
    path, p, student = scripts["distill"]
    assert f"run {student['teacher']}, trained first by this script" in path.read_text()
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])["val/acc"]
    assert abs(got - student["final"]) <= 0.01, (got, student["final"])


def test_a_student_of_another_pages_teacher_says_why_it_has_no_script(store):
    teacher = _finished(store, "mlp", dataset="digits", hidden_sizes="32", epochs=5)
    student = _finished(store, "distill", mode="distill", teacher_run=teacher, epochs=2)
    with pytest.raises(export.NotExportable, match="trained on another page"):
        export.run_script(store, student)
    assert export.onnx_bytes(store, student)                     # its weights still travel
