"""`python -m playground check`: the acceptance check of a device, as a command. The whole check
(every lab, then the after-training paths) is the GPU's acceptance; here it runs on a few labs
under CPU bf16 autocast, where a failure must give a non-zero exit and say which run failed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _check(tmp_path, *args, **env):
    p = subprocess.run([sys.executable, "-m", "playground", "check", "--device", "cpu",
                        "--out", str(tmp_path), "--json", *args], cwd=ROOT,
                       env={**os.environ, "PLAYGROUND_HOME": str(tmp_path / "home"), **env},
                       capture_output=True, text=True, timeout=600)
    return p, json.loads((tmp_path / "check.json").read_text())


@pytest.mark.slow
def test_the_check_trains_labs_under_autocast_and_reports_them(tmp_path):
    p, report = _check(tmp_path, "--only", "gnn,rnn,dqn", PLAYGROUND_AUTOCAST="bf16")
    assert p.returncode == 0, p.stderr[-2000:]
    assert report["passed"] and report["autocast"] == "bf16" and report["device"] == "cpu"
    assert {r["lab"] for r in report["runs"]} == {"gnn", "rnn", "dqn"}
    assert all(r["status"] == "completed" and r["device"] == "cpu" for r in report["runs"])
    assert json.loads(p.stdout.strip().splitlines()[-1])["passed"] is True


def test_a_failing_run_fails_the_check(tmp_path, monkeypatch):
    # a lab that cannot load its data (Cora is not in an empty data folder, offline)
    from playground import check

    monkeypatch.setattr(check, "CASES", [("gnn", {"graph": "cora", "epochs": 5})])
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))    # the check sets its own
    report = check.run("cpu", str(tmp_path), only={"gnn"}, progress=lambda m: None)
    assert not report["passed"] and report["failed"] == 1
    assert report["runs"][0]["status"] == "failed"
