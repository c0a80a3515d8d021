"""The bench command runs end to end; its numbers are not asserted (benchmarks are not tests)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# NOTE: generous limits: on a busy machine (a parallel build, CI neighbours) the same work takes
# several times longer, and a benchmark's duration is not what these tests check.
LIMIT_S = 1800


def _bench(home, *args):
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "playground", "bench", "--quick", "--json", *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT_S)
    assert p.returncode == 0, p.stderr[-2000:]
    return p, json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture
def chromium():
    from playground import browser

    if browser.missing():
        pytest.skip(f"browser test skipped: {browser.missing()}")


@pytest.mark.slow
def test_bench_quick_json_has_every_case(home):
    p, result = _bench(home, "--device", "cpu", *[a for c in "12345" for a in ("--case", c)])
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


@pytest.mark.slow
@pytest.mark.browser
def test_bench_case_6_watches_a_run_in_chromium_and_reads_both_processes(home, chromium):
    _, result = _bench(home, "--case", "6")
    rows = {r["case"]: r for r in result["rows"]}
    watched = rows["6. mlp defaults (quick): page open vs headless"]
    assert watched["ours"] > 0 and watched["reference"] > 0 and watched["ratio"] > 0
    assert watched["extra"]["status"] == "completed" and watched["extra"]["val_points"] >= 10
    assert watched["extra"]["reruns"] > 0, "the server logged its live-panel reruns"
    idle = rows["6. idle app (Home open), server process RSS (MB)"]
    assert idle["ours"] > 0 and idle["extra"]["worker_rss_mb"], "a warm worker beside the server"
    assert rows["6. mlp: Train -> first curve on the page"]["ours"] > 0


@pytest.mark.slow
@pytest.mark.browser
def test_bench_case_7_loads_a_hosted_server_with_each_kind_of_visitor(home, chromium):
    _, result = _bench(home, "--case", "7")

    def row(text):
        return next(r for r in result["rows"] if text in r["case"])
    rss = row("server + worker RSS")
    assert rss["ours"] > 0 and rss["extra"]["worker_peak_mb"] > 0
    # every kind of visitor reached the server: pages, live panels, replays, page changes
    for text in ("a page's script run", "live-panel poll", "replay redraw", "page change"):
        assert row(text)["extra"]["n"] > 0, row(text)
    assert row("live-panel poll")["extra"]["runs_finished"] >= 1     # queued runs went on


def test_fake_mnist_files_load_through_torchvision(tmp_path):
    from torchvision import datasets

    from playground.bench import write_fake_mnist

    root = write_fake_mnist(tmp_path, 30, 10)
    train = datasets.MNIST(str(root), train=True, download=False)
    test = datasets.MNIST(str(root), train=False, download=False)
    assert len(train) == 30 and len(test) == 10
    assert tuple(train.data.shape[1:]) == (28, 28) and int(train.targets.max()) < 10
