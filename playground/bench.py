"""`python -m playground bench`: the engine against the loops our users start from, in one process.

Cases (same model, data shape, batch size and epochs on both sides of each comparison):
  1. MLP 784-512-512-10, batch 64, MNIST-shaped: the tutorial loop (torchvision MNIST with
     per-sample ToTensor/Normalize, a DataLoader, .item() every step) vs the engine.
  2. The same with LeNet-5.
  3. The engine vs a bare hand-written loop over the same resident tensors and batches, with the
     engine's live metric stream and run store on as in the app: the overhead.
  4. Latency: job submission -> first metric readable from the run store; one AppTest rerun of
     the MLP page while a job trains.
  5. Time to target accuracy on real data: digits MLP >= 97%, spiral MLP >= 95%.
  6. A run watched in a real browser against the same run headless (playground.bench_live;
     needs Chromium, skipped with the reason without it).
  7. Hosted load: eight visitors of one server started from cloud/streamlit_app.py - replaying,
     training, browsing - its RSS with the worker's and how fast it answers
     (playground.bench_hosted; needs Chromium).
  8. The server's footprint: a fresh server's RSS after Home and every lab page, how fast a
     page is usable, a slow-motion click through the worker (playground.bench_server; needs
     Chromium).
  9. Settings changed while training: the default spiral MLP with three learning-rate changes
     against none (same steps), and how long a change asked of a running run takes to be
     applied and shown in its status (what the live panel reads).
Throughput cases use synthetic MNIST-shaped files written in MNIST's own format, so the tutorial
side runs torchvision's real MNIST class (content does not change speed). Timings are medians of
repeats; "cold" is the first run of the process (files read, caches empty), "warm" the others.
"""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------------------------------------
# Data: synthetic MNIST in MNIST's own file format

def write_fake_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """idx files under root/MNIST/raw, readable by torchvision.datasets.MNIST(download=False)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) +
                                                          labels.tobytes())
    return root


# ---------------------------------------------------------------------------------------------
# Models shared by both sides

def mlp_784() -> "torch.nn.Module":  # noqa: F821
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10))


def lenet5() -> "torch.nn.Module":  # noqa: F821
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),        # (B, 6, 14, 14)
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),                  # (B, 16, 5, 5)
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


class ModelLab:
    """A minimal lab (the engine's contract) around one of the models above on MNIST, so that
    the engine side runs exactly the network the tutorial side runs."""

    def __init__(self, name: str, make_model):
        from dataclasses import make_dataclass

        from playground.params import param

        self.__name__ = name
        self.make_model = make_model
        self.Config = make_dataclass("Config", [
            ("epochs", int, param(1, lo=1, hi=100, help="epochs")),
            ("batch_size", int, param(64, lo=1, hi=4096, help="batch")),
            ("lr", float, param(1e-3, lo=0, hi=1, help="lr")),
            ("seed", int, param(0, lo=0, hi=10**6, help="seed")),
            ("device", str, param("auto", choices=("auto", "cpu", "cuda", "mps"), help="device"))],
            frozen=True)

    def load_data(self, cfg):
        from playground.data import load_images

        return load_images("mnist", download=False)

    def build(self, cfg, data):

        from playground.labs._shared import make_optimizer

        model = self.make_model().to(data.train[0].device)
        return _BenchState(model, make_optimizer("adam", model.parameters(), cfg.lr))

    def train_step(self, s, batch):
        import torch.nn.functional as F

        x, y = batch
        logits = s.model(x)
        loss = F.cross_entropy(logits, y)
        s.opt.zero_grad(set_to_none=True)
        loss.backward()
        s.opt.step()
        return {"train/loss": loss.detach(), "train/acc": (logits.argmax(1) == y).float().mean()}

    def evaluate(self, s, data):
        import torch.nn.functional as F

        x, y = data.test
        logits = s.model(x)
        return {"val/loss": float(F.cross_entropy(logits, y)),
                "val/acc": float((logits.argmax(1) == y).float().mean())}

    def artifacts(self, s, data):
        return {}


@dataclass
class _BenchState:
    model: object
    opt: object


# ---------------------------------------------------------------------------------------------
# The two loops we compare the engine with

def tutorial_epochs(make_model, root: Path, epochs: int, batch_size: int, device) -> list[float]:
    """The tutorial loop, verbatim in spirit. Returns seconds per epoch; the first includes
    building the dataset and loader (cold)."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    t0 = time.perf_counter()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    model = make_model().to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        running_loss = 0.0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
    return times


def bare_epochs(lab, cfg, epochs: int) -> list[float]:
    """A hand-written loop over the engine's own resident tensors and the engine's batches
    (same generator, same slices), with no metrics at all. Seconds per epoch."""
    import math

    import torch

    from playground.engine import device as devices
    from playground.engine.loop import seed_everything

    dev = devices.pick(cfg.device)
    seed_everything(cfg.seed)
    data = lab.load_data(cfg).to(dev)
    state = lab.build(cfg, data)
    x, y = data.train
    n, bs = data.n_train, min(cfg.batch_size, data.n_train)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev, generator=gen)
        for i in range(math.ceil(n / bs)):
            idx = perm[i * bs:(i + 1) * bs]
            lab.train_step(state, (x[idx], y[idx]))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------------
# Running the engine the way the app does (job manager, run store, live metrics)

def make_config(lab, overrides: dict):
    if lab.__name__.startswith("playground.labs."):
        from playground import registry

        cfg, errors = registry.parse_config(lab, overrides)
        assert not errors, errors
        return cfg
    return lab.Config(**overrides)


def engine_run(store, lab, overrides: dict, schedule: list | None = None):
    """The engine's loop exactly as a job runs it: run store, metric stream, evaluation and
    artefacts all on (`schedule`: settings changed at given steps). Returns (Result, run id)."""
    from playground.engine import loop
    from playground.params import to_dict

    cfg = make_config(lab, overrides)
    run_id = store.create(lab.__name__.rsplit(".", 1)[-1], to_dict(cfg))
    return loop.run(lab, cfg, run_id, store, schedule=schedule or []), run_id


def change_latency(manager, store, device: str, changes: int) -> list[float]:
    """Seconds from asking a running run for a new learning rate to its status showing it."""
    run_id = manager.submit("mlp", {"epochs": 2000, "device": device})
    while not (store.status(run_id).get("step") or 0) > 0:
        if manager.wait(run_id, timeout=0.01) is not None:
            raise RuntimeError("the run ended before it could be changed")
    out = []
    for i in range(changes):
        before = len(store.status(run_id).get("changes") or [])
        t0 = time.perf_counter()
        manager.change(run_id, {"lr": (0.003, 0.001, 0.0003)[i % 3]})
        while len(store.status(run_id).get("changes") or []) == before:
            time.sleep(0.002)
        out.append(time.perf_counter() - t0)
    manager.cancel(run_id)
    manager.wait(run_id)
    return out


def _median(xs):
    return statistics.median(xs) if xs else None


@dataclass
class Row:
    case: str
    ours: float | None
    reference: float | None
    unit: str
    ratio: float | None = None
    target: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def run_bench(quick: bool = False, device: str = "auto", progress=print,
              cases: set[str] | None = None) -> dict:
    """Every case, or only `cases` (their numbers as strings: {"4", "6"})."""
    # Its fake data and runs are scratch: a bench must not leave them on the disk, nor point
    # this process's later runs at them.
    tmp = Path(tempfile.mkdtemp(prefix="playground-bench-"))
    saved = {k: os.environ.get(k) for k in ("PLAYGROUND_DATA_DIR", "PLAYGROUND_HOME")}
    try:
        return _run_bench(tmp, quick, device, progress, cases)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


def _run_bench(tmp: Path, quick: bool, device: str, progress, cases: set[str] | None) -> dict:

    from playground.engine import device as devices
    from playground.engine.jobs import JobManager
    from playground.engine.runs import RunStore

    devices.configure_torch()
    dev = devices.pick(device)
    n_train, n_test = (2000, 500) if quick else (8000, 2000)
    repeats = 2 if quick else 4
    warm_epochs = 2 if quick else 3
    rows: list[Row] = []
    want = lambda case: cases is None or case in cases  # noqa: E731
    os.environ["PLAYGROUND_DATA_DIR"] = str(write_fake_mnist(tmp / "data", n_train, n_test))
    os.environ["PLAYGROUND_HOME"] = str(tmp / "home")
    store = RunStore(tmp / "home" / "runs")
    manager = JobManager(store)

    # -- cases 1 and 2: tutorial loop vs engine ------------------------------------------------
    from playground.labs import cnn

    cnn_cfg = cnn.Config(dataset="mnist")
    cases_12 = (("1", "MLP 784-512-512-10", mlp_784, ModelLab("bench_1", mlp_784), {}, ">= 4x"),
             ("2", "LeNet-5", lenet5, ModelLab("bench_2", lenet5), {}, ">= 2.5x"),
             ("2b", "CNN lab, default network (conv 16-32, fc 64)",
              lambda: cnn.CNN(cnn_cfg, (1, 28, 28), 10), cnn, {"dataset": "mnist"}, ""))
    for case, name, make, lab, overrides, target in [c for c in cases_12 if want(c[0][0])]:
        progress(f"case {case}: {name}, tutorial loop...")
        tut = tutorial_epochs(make, tmp / "data", 1 + repeats, 64, dev)
        progress(f"case {case}: {name}, engine...")
        # Cold: the first one-epoch run of the process (files read, nothing cached). Warm: a
        # run of several epochs per repeat, per epoch, its start-up and final evaluation
        # included - what a user's second Train costs per epoch. A lab from the registry runs
        # with its artefacts (filters, feature maps, predictions) as on the page.
        eng = [engine_run(store, lab, {**overrides, "epochs": 1, "device": device})[0].seconds]
        eng += [engine_run(store, lab, {**overrides, "epochs": warm_epochs, "device": device}
                           )[0].seconds / warm_epochs for _ in range(repeats)]
        cold_ratio = tut[0] / eng[0]
        warm_ratio = _median(tut[1:]) / _median(eng[1:])
        rows.append(Row(f"{case}. {name}, batch 64, epoch of {n_train:,} (warm)", _median(eng[1:]),
                        _median(tut[1:]), "s/epoch", warm_ratio, target,
                        extra={"cold_ours": eng[0], "cold_reference": tut[0],
                               "cold_ratio": cold_ratio}))
        rows.append(Row(f"{case}. {name} (cold: first epoch of the process)", eng[0], tut[0],
                        "s/epoch", cold_ratio))

    # -- case 3: engine vs bare loop on the same tensors ---------------------------------------
    from playground.labs import mlp

    for label, lab, overrides, epochs in (
            ("MLP 784-512-512-10 on MNIST-shaped", ModelLab("bench_3", mlp_784),
             {"device": device}, 2 if quick else 3),
            ("default spiral MLP (2-32-32-2, batch 32)", mlp, {"device": device}, None)
    ) if want("3") else ():
        progress(f"case 3: {label}, bare loop vs engine...")
        if epochs is None:
            epochs = 30 if quick else make_config(lab, overrides).epochs
        overrides = {**overrides, "epochs": epochs}
        cfg = make_config(lab, overrides)
        bare, ours = [], []
        for _ in range(repeats):
            bare.append(sum(bare_epochs(lab, cfg, epochs)))
            ours.append(engine_run(store, lab, overrides)[0].seconds)
        overhead = _median(ours) / _median(bare) - 1
        rows.append(Row(f"3. engine vs bare loop: {label}, {epochs} epochs", _median(ours),
                        _median(bare), "s", overhead, "<= 10% overhead",
                        note="engine time includes data prep, evaluation, artefacts, run store"))

    # -- case 4: latency -----------------------------------------------------------------------
    firsts = []
    for i in range(repeats + 1 if want("4") else 0):
        if i == 0:
            progress("case 4: latency...")
        t0 = time.perf_counter()
        run_id = manager.submit("mlp", {"epochs": 5, "seed": i, "device": device})
        while not store.metrics(run_id):
            time.sleep(0.001)
        firsts.append(time.perf_counter() - t0)
        manager.wait(run_id)
    if firsts:
        rows.append(Row("4. Train -> first metric in the run store (warm)", _median(firsts[1:]),
                        None, "s", target="<= 2 s", extra={"cold": firsts[0]}))
        rerun = page_rerun_seconds(manager, device, repeats=3 if quick else 8)
        rows.append(Row("4. MLP page rerun while a job trains (AppTest)", _median(rerun), None,
                        "s", target="<= 0.15 s", extra={"all": rerun}))

    # -- case 5: time to target accuracy ---------------------------------------------------------
    for label, overrides, target in (("digits MLP to >= 97% test acc", {"dataset": "digits"}, 0.97),
                                     ("spiral MLP to >= 95% test acc", {}, 0.95)
                                     ) if want("5") else ():
        progress(f"case 5: {label}...")
        secs = []
        for seed in range(repeats):
            _, run_id = engine_run(store, mlp, {**overrides, "seed": seed, "device": device})
            hit = [r["time"] for r in store.metrics(run_id) if r.get("val/acc", 0) >= target]
            secs.append(min(hit) if hit else float("inf"))
        rows.append(Row(f"5. {label}", _median(secs), None, "s",
                        target="<= 3 s" if "digits" in label else "<= 5 s",
                        extra={"all": secs}))

    # -- case 9: settings changed while training -----------------------------------------------
    if want("9"):
        progress("case 9: learning-rate changes while training...")
        base = {"device": device, "epochs": 30 if quick else 100}
        steps = engine_run(store, mlp, base)[0].steps           # warm-up, and the step count
        schedule = [{"step": steps * q // 4, "lr": lr}
                    for q, lr in ((1, 0.003), (2, 0.001), (3, 0.0003))]
        plain, changed = [], []
        for _ in range(repeats):
            plain.append(engine_run(store, mlp, base)[0].seconds)
            changed.append(engine_run(store, mlp, base, schedule)[0].seconds)
        rows.append(Row(f"9. spiral MLP, {steps:,} steps: three lr changes vs none",
                        _median(changed), _median(plain), "s",
                        _median(changed) / _median(plain) - 1, "no measurable cost",
                        extra={"changed": changed, "plain": plain}))
        latency = change_latency(manager, store, device, changes=3 if quick else 9)
        rows.append(Row("9. lr change asked of a running run -> in its status", _median(latency),
                        None, "s", target="<= 1 s (one live refresh)",
                        extra={"all": latency}))

    manager.shutdown()
    if want("6"):
        from playground import bench_live

        rows += bench_live.run(quick=quick, progress=progress)
    if want("7"):
        from playground import bench_hosted

        rows += bench_hosted.run(quick=quick, progress=progress)
    if want("8"):
        from playground import bench_server

        rows += bench_server.run(quick=quick, progress=progress)
    return {"machine": machine(dev), "quick": quick, "device": str(dev),
            "rows": [r.__dict__ for r in rows]}


def page_rerun_seconds(manager, device: str, repeats: int) -> list[float]:
    from playground.ui.timing import page_rerun_seconds as timed

    run_id = manager.submit("mlp", {"epochs": 2000, "device": device})
    try:
        return timed("mlp", run_id, repeats)
    finally:
        manager.cancel(run_id)
        manager.wait(run_id, timeout=10)


def machine(dev) -> str:
    import torch

    from playground.engine.device import available_cpus

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if dev.type == "cuda" else ""
    return f"{cpu}, {available_cpus()} cores{gpu}, torch {torch.__version__}"


def format_table(result: dict) -> str:
    lines = [f"Machine: {result['machine']} (device {result['device']})", "",
             f"{'case':<62} {'ours':>9} {'reference':>10} {'ratio':>8}  target"]
    for r in result["rows"]:
        ours = f"{r['ours']:.3f}" if r["ours"] not in (None, float("inf")) else "not reached"
        ref = f"{r['reference']:.3f}" if r["reference"] is not None else ""
        if r["ratio"] is None:
            ratio = ""
        elif "overhead" in r["target"] or "cost" in r["target"]:
            ratio = f"{r['ratio']:+.1%}"
        else:
            ratio = f"{r['ratio']:.1f}x"
        lines.append(f"{r['case']:<62} {ours:>9} {ref:>10} {ratio:>8}  {r['target']}")
    return "\n".join(lines)
