"""The bench command runs end to end; its numbers are not asserted (benchmarks are not tests)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_bench_quick_json_has_every_case(home):
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "playground", "bench", "--quick", "--json"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["quick"] is True and result["machine"] and result["device"] == "cpu"
    cases = [r["case"] for r in result["rows"]]
    for prefix in ("1.", "2.", "3.", "4.", "5."):
        assert any(c.startswith(prefix) for c in cases), (prefix, cases)
    for row in result["rows"]:
        assert set(row) >= {"case", "ours", "reference", "unit", "ratio", "target"}
        assert row["ours"] is None or row["ours"] > 0
    tutorial = [r for r in result["rows"] if r["case"].startswith("1.")][0]
    assert tutorial["reference"] > 0 and tutorial["ratio"] > 0
    assert "case" in p.stderr                    # the human table goes to stderr with --json


def test_fake_mnist_files_load_through_torchvision(tmp_path):
    from torchvision import datasets

    from playground.bench import write_fake_mnist

    root = write_fake_mnist(tmp_path, 30, 10)
    train = datasets.MNIST(str(root), train=True, download=False)
    test = datasets.MNIST(str(root), train=False, download=False)
    assert len(train) == 30 and len(test) == 10
    assert tuple(train.data.shape[1:]) == (28, 28) and int(train.targets.max()) < 10
