import os
from pathlib import Path

import pytest

# `make test` runs the suite on 2 pytest-xdist workers, so a torch process shares the machine's
# 2 cores with another: there, torch takes one intra-op thread unless a test asks for more (the
# demonstrations at 2 threads do), and OpenMP threads sleep rather than spin while they wait for
# a descheduled sibling (a 2-thread GAN run beside a busy core: 24 s spinning, 10 s sleeping).
# Set before torch is imported, and inherited by the servers and workers the tests start.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PLAYGROUND_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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


@pytest.fixture(autouse=True)
def _error_details():
    """A hosted page switches Streamlit's error details off for the whole process (ui/app.py):
    the next test starts with them as they were."""
    from streamlit import config

    before = config.get_option("client.showErrorDetails")
    yield
    config.set_option("client.showErrorDetails", before)


@pytest.fixture(autouse=True)
def _stop_workers():
    """Worker processes of this test's managers (each holds torch) end with the test."""
    yield
    from playground.engine.jobs import JobManager

    for m in list(JobManager.instances):
        m.executor.shutdown()


os.environ.setdefault("PLAYGROUND_DATA_DIR", str(ROOT / ".no-downloads-in-tests"))
# Pages and managers train on threads in the tests, so a test can patch a lab or the store in
# this process; the worker process itself is tested in tests/test_worker.py and by every browser
# test (a real `streamlit run`).
os.environ.setdefault("PLAYGROUND_WORKER", "thread")


@pytest.fixture(autouse=True)
def _cpu_unless_marked_cuda(request, monkeypatch):
    """The suite's claims (accuracies over seeds, timings) were measured on the CPU: on a GPU
    machine `auto` would move them to CUDA. Tests marked `cuda` train on the GPU on purpose."""
    if request.node.get_closest_marker("cuda") is None:
        monkeypatch.setenv("PLAYGROUND_DEVICE", "cpu")


# The lab tests' exported scripts: each lab's test reads how its script ran. They are written and
# run together on first use, by one interpreter (tests.helpers.run_scripts), rather than each
# importing torch in its own; the tests that read them are LAB_SCRIPT_TESTS.
LAB_SCRIPTS = {
    "gan": ("gan", {"steps": 20}),
    "fundamentals-init": ("fundamentals", {"experiment": "init", "depth": 10, "train_steps": 100}),
    "fundamentals-early-stop": ("fundamentals", {"experiment": "regularization",
                                                 "early_stopping": 5}),
    "gnn": ("gnn", {"graph": "sbm", "epochs": 100}),
    "diffusion": ("diffusion", {"steps": 30, "data": "moons", "sample_steps": 10}),
}


@pytest.fixture(scope="session")
def lab_scripts(tmp_path_factory):
    """{name: CompletedProcess} of `python train_<lab>.py --json` for each of LAB_SCRIPTS (and
    the DQN's tiny run), each from its own folder."""
    from playground import export
    from tests.helpers import DQN_TINY, run_scripts

    paths = {}
    for name, (lab, settings) in {**LAB_SCRIPTS, "dqn": ("dqn", DQN_TINY)}.items():
        path = tmp_path_factory.mktemp(f"script-{name}") / f"train_{lab}.py"
        path.write_text(export.script(lab, settings))
        paths[name] = path
    done = run_scripts(list(paths.values()))
    return {name: done[path] for name, path in paths.items()}


# `make test` runs `-n 2 --dist loadgroup`: the tests go one at a time to whichever worker is
# free, except those that share something costly set up once per worker, which stay together on
# one: a module's trained runs (the whole module, so its fixture is built once), a local Ray
# instance (two at once would find each other), the lab scripts' run. pytest-xdist's own groups
# (the `xdist_group` mark) are lost under pytest 9, whose node ids it can no longer suffix, so
# the groups are named here and the scheduler reads them from the node ids.
SHARED_MODULES = {"test_word2vec.py", "test_demos.py", "test_downloads.py", "test_runs_page.py",
                  "test_export.py", "test_cloud.py", "test_sweep_ray.py"}
LAB_SCRIPT_TESTS = {"test_cli_trains_the_ring_and_the_script_export_runs",          # GAN
                    "test_cli_script_and_page", "test_early_stopping_also_ends_the_exported_script",
                    "test_cli_and_the_exported_script",                               # GNN
                    "test_summary_cli_script_and_onnx",                               # diffusion
                    "test_cli_script_and_onnx"}                                       # DQN


def _group(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    if Path(path).name in SHARED_MODULES:
        return path
    if name.split("[")[0] in LAB_SCRIPT_TESTS:
        return "lab_scripts"
    return nodeid


@pytest.hookimpl(tryfirst=True, optionalhook=True)      # a hook of pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return Groups(config, log)


def pytest_collection_modifyitems(config, items):
    strays = [i.nodeid for i in items if "lab_scripts" in i.fixturenames
              and i.name.split("[")[0] not in LAB_SCRIPT_TESTS]
    if strays:
        raise pytest.UsageError(f"add {strays} to LAB_SCRIPT_TESTS (tests/conftest.py)")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # the longest first (browser runs, then other slow tests), the many short ones next:
        # they fill the gaps, so that neither worker ends long after the other; then the few
        # marked `last`, which run best on an idle machine
        def rank(item):
            if item.get_closest_marker("last"):
                return 3
            slow = item.get_closest_marker("slow") is not None
            return 0 if slow and item.get_closest_marker("browser") else 1 if slow else 2
        items.sort(key=rank)
