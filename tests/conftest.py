import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST10K = ROOT.parent / "shared" / "data" / "mnist10k"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh PLAYGROUND_HOME: its own runs folder, so tests never see each other's runs."""
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def store(home):
    from playground.engine.runs import RunStore

    return RunStore(home / "runs")


@pytest.fixture
def manager(store):
    from playground.engine.jobs import JobManager

    m = JobManager(store)
    yield m
    m.shutdown()


@pytest.fixture
def mnist_dir(monkeypatch):
    if not (MNIST10K / "MNIST" / "raw").is_dir():
        pytest.skip("../shared/data/mnist10k is not present")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(MNIST10K))
    return MNIST10K


os.environ.setdefault("PLAYGROUND_DATA_DIR", str(ROOT / ".no-downloads-in-tests"))
