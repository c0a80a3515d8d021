import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(home, *args):
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _in_process(capsys, *args) -> subprocess.CompletedProcess:
    """The same command through `main` in this process (a subprocess spends ~4 s importing
    torch): its exit status, whether returned or raised (argparse exits), stdout and stderr."""
    from playground.__main__ import main

    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


# the real `python -m playground`, once: its exit status, its stdout's last line
def test_train_json_prints_one_summary_object_last(home):
    p = _cli(home, "train", "mlp", "--set", "dataset=spiral", "--set", "hidden_sizes=8,8",
             "--set", "epochs=20", "--set", "device=cpu", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(out) >= {"run_id", "lab", "status", "metrics", "seconds", "device", "params"}
    assert out["status"] == "completed" and out["lab"] == "mlp" and out["device"] == "cpu"
    assert 0 <= out["metrics"]["val/acc"] <= 1
    assert out["params"] == 2 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert (home / "runs" / out["run_id"] / "model.pt").is_file()


def test_bad_settings_exit_2_with_the_form_messages(home, capsys):
    p = _in_process(capsys, "train", "mlp", "--set", "lr=abc", "--set", "colour=red",
                    "--set", "epochs")
    assert p.returncode == 2
    assert "Learning rate must be a number" in p.stderr
    assert "unknown setting 'colour'" in p.stderr or "--set expects key=value" in p.stderr
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_unknown_lab_exits_2(home, capsys):
    p = _in_process(capsys, "train", "nope")
    assert p.returncode == 2 and "unknown lab" in p.stderr


def test_a_diverged_run_exits_non_zero(home, capsys):
    p = _in_process(capsys, "train", "mlp", "--set", "lr=100", "--set", "optimizer=sgd",
                    "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout.strip().splitlines()[-1])["status"] == "diverged"


def test_labs_json_lists_every_parameter(home, capsys):
    p = _in_process(capsys, "labs", "--json")
    labs = json.loads(p.stdout)
    mlp = next(lab for lab in labs if lab["name"] == "mlp")
    assert {"dataset", "hidden_sizes", "lr", "epochs"} <= {q["name"] for q in mlp["params"]}
