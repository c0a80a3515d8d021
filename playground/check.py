"""The acceptance check of a device: `python -m playground check [--device cuda] [--out DIR]`.

Every lab trains small offline settings through the engine (the full check with the memory
budget, then the loop with its autocast, channels_last and pictures), and each finished run must
have pictures, test metrics and weights that load on a machine without a GPU. Then the paths that
use a trained run: slow motion, classify, explore, the exported script (run on the device, its
weights loaded by a process that sees no GPU) and a run in the worker process. On CUDA the
training steps are audited for host syncs (torch.cuda.set_sync_debug_mode) and a DQN update must
wait on the GPU at most twice. A JSON report goes to DIR/check.json; the exit status is 1 when
anything failed. Here (2 cores, no GPU) the whole check takes about 1.5 minutes on the CPU.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

# Small, offline, a few seconds each on a GPU; together every lab, every model family and the
# code most likely to differ on CUDA: sparse products, cuDNN RNNs, EMA, spectral norm, several
# critic steps, channels_last convolutions, attention, a replay buffer, early stopping.
CASES = [
    ("mlp", {"epochs": 5}),
    ("mlp", {"dataset": "digits", "hidden_sizes": "64", "epochs": 2, "regularization": "l2"}),
    ("fundamentals", {"experiment": "optimizers", "steps": 200, "surface": "noisy"}),
    ("fundamentals", {"experiment": "init", "depth": 20, "train_steps": 50}),
    ("fundamentals", {"experiment": "regularization", "steps": 300, "early_stopping": 2,
                      "augment": True, "batch_norm": True, "dropout": 0.2, "l2": 0.01}),
    ("cnn", {"epochs": 1, "augment": "shift+rotate", "batch_norm": True}),
    ("resnet", {"depth": 6, "epochs": 1}),
    ("distill", {"mode": "teacher", "teacher_epochs": 2}),
    ("distill", {"mode": "distill", "epochs": 2, "drop_class": 3}),   # the teacher: the run above
    ("rnn", {"task": "adding", "cell": "lstm", "steps": 100, "n_samples": 1000}),
    ("rnn", {"task": "copy", "cell": "gru", "seq_len": 10, "steps": 100, "n_samples": 1000,
             "layers": 2, "bidirectional": True}),
    ("rnn", {"task": "chars", "cell": "lstm", "seq_len": 32, "steps": 100, "n_samples": 2000}),
    ("word2vec", {"epochs": 1}),
    ("transformer", {"steps": 100}),
    ("transformer", {"steps": 100, "arch": "encoder-decoder", "task": "addition", "length": 4}),
    ("gan", {"steps": 100}),
    ("gan", {"steps": 50, "loss": "wgan-gp", "d_steps": 3, "spectral_norm": True}),
    ("gan", {"steps": 50, "data": "digits", "latent_dim": 64, "width": 32, "batch_size": 64}),
    ("vae", {"epochs": 2}),
    ("vae", {"epochs": 2, "model": "ae", "arch": "conv"}),
    ("diffusion", {"steps": 200, "T": 100, "sample_steps": 20}),
    ("diffusion", {"steps": 50, "T": 50, "data": "digits8", "width": 16}),
    ("gnn", {"epochs": 50}),
    ("gnn", {"epochs": 50, "graph": "sbm", "model": "sage"}),
    ("dqn", {"env_steps": 3000, "learning_starts": 500, "eval_episodes": 2}),
]
MAX_DQN_SYNCS = 2           # per update, on CUDA


def _train(lab_name: str, settings: dict, device: str, store) -> dict:
    """One run exactly as a job trains: the full check, then the loop."""
    import torch

    from playground import registry
    from playground.engine import loop
    from playground.params import to_dict

    lab = registry.get(lab_name)
    cfg, errors = registry.parse_config(lab, {**settings, "device": device})
    if errors:
        return {"status": "invalid", "message": "; ".join(errors)}
    run_id = store.create(lab_name, to_dict(cfg))
    t0 = time.perf_counter()
    res = loop.run(lab, cfg, run_id, store)
    out = {"run_id": run_id, "status": res.status, "message": res.message[:300],
           "device": res.device, "steps": res.steps, "seconds": round(time.perf_counter() - t0, 2)}
    if res.detail:
        out["detail"] = res.detail[-1500:]
    if res.status != "completed":
        return out
    if not (store.artifacts(run_id).get("items") or {}):
        out["status"] = "no pictures"
    elif not any(k.startswith("val/") for k in res.metrics):
        out["status"] = "no test metrics"
    elif any(t.device.type != "cpu" for t in torch.load(store.model_path(run_id),
                                                        weights_only=True).values()):
        out["status"] = "weights on the GPU"
    return out


def _syncs(lab_name: str, settings: dict, device: str, steps: int = 20) -> dict | None:
    """Host syncs per training step, after three warm-up steps (CUDA only)."""
    import torch

    from playground import registry
    from playground.engine import device as devices
    from playground.engine.loop import seed_everything

    lab = registry.get(lab_name)
    cfg, _ = registry.parse_config(lab, {**settings, "device": device}, budget=False)
    dev = devices.pick(device)
    seed_everything(0)
    data = lab.load_data(cfg).to(dev)
    state = lab.build(cfg, data)
    if getattr(state, "model", None) is not None:
        data = devices.channels_last(state, data)
    gen = torch.Generator(device=dev).manual_seed(0)
    n = data.n_train
    bs = max(1, min(int(getattr(cfg, "batch_size", n)), n))
    amp = devices.autocast(dev, lab)

    def step():
        if data.n_examples is not None:
            batch = lab.draw_batch(data, bs, gen, state)
        else:
            idx = torch.randperm(n, device=dev, generator=gen)[:bs]
            batch = tuple(t[idx] for t in data.train)
        with amp:
            lab.train_step(state, batch)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    seen = [str(w.message).splitlines()[0][:120] for w in caught
            if "synchroniz" in str(w.message).lower()]
    return {"per_step": round(len(seen) / steps, 2), "examples": sorted(set(seen))[:3]}


def _afterwards(device: str, store, runs: list, tmp: Path) -> dict:
    """The paths that use a trained run, each on one of the runs just trained."""
    from PIL import Image

    from playground import export, registry
    from playground.engine import inference, stepping
    from playground.engine.jobs import JobManager

    out = {}

    def finished(lab_name, where=lambda s: True):
        for name, settings, r in runs:
            if name == lab_name and r.get("status") == "completed" and where(settings):
                info = store.info(r["run_id"])
                lab = registry.get(info.lab)
                return r["run_id"], lab, registry.parse_config(lab, info.config, budget=False)[0]
        raise RuntimeError(f"no completed {lab_name} run to use")

    def slow_motion(lab_name, where=lambda s: True):
        run_id, lab, cfg = finished(lab_name, where)
        s = stepping.resume(lab, cfg, store, run_id)
        for label in lab.STEPS["actions"]:
            stepping.act(lab, s, label)
        stepping.show(lab, s)

    def classify():
        run_id, lab, cfg = finished("cnn")
        img = Image.new("L", (64, 64), 255)
        img.paste(0, (28, 8, 36, 56))                   # a dark stroke: a hand-drawn 1
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        classes, probs, _ = inference.classify(lab, cfg, store.model_path(run_id),
                                               buf.getvalue(), True)
        assert len(probs) == len(classes) and abs(sum(probs) - 1) < 1e-3

    def explore(lab_name, *args, fn="explore", where=lambda s: True):
        run_id, lab, cfg = finished(lab_name, where)
        getattr(lab, fn)(cfg, str(store.model_path(run_id)), *args)

    def exported(lab_name, where=lambda s: True):
        run_id, _, _ = finished(lab_name, where)
        script, weights = tmp / f"train_{lab_name}.py", tmp / f"{lab_name}.pt"
        script.write_text(export.run_script(store, run_id))
        p = subprocess.run([sys.executable, str(script), "--device", device, "--json",
                            "--out", str(weights)], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-800:]
        q = subprocess.run([sys.executable, "-c", "import sys, torch; torch.load(sys.argv[1], "
                            "weights_only=True)", str(weights)], capture_output=True, text=True,
                           timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        assert q.returncode == 0, "the weights need a GPU to load: " + q.stderr[-300:]

    def worker():
        manager = JobManager(store, executor="process")
        try:
            run_id = manager.submit("cnn", {"epochs": 1, "device": device})
            res = manager.wait(run_id, timeout=300)
            assert res is not None and res.status == "completed", res and res.message
            info = manager.executor.device_info(5) or {}
            assert info.get("cuda") or device != "cuda", info
        finally:
            manager.shutdown()

    checks = {
        "slow motion: gan": lambda: slow_motion("gan", lambda s: "data" not in s),
        "slow motion: optimizer race": lambda: slow_motion(
            "fundamentals", lambda s: s.get("experiment") == "optimizers"),
        "classify your own image: cnn": classify,
        "explore: distill": lambda: explore("distill", 5, where=lambda s: s.get("mode") ==
                                            "distill"),
        "explore: word2vec": lambda: explore("word2vec", "king - man + woman", fn="neighbours"),
        "explore: diffusion": lambda: explore("diffusion", 10, where=lambda s: "data" not in s),
        "exported script: mlp": lambda: exported("mlp", lambda s: "dataset" not in s),
        "exported script: gnn": lambda: exported("gnn", lambda s: "graph" not in s),
        "worker process: cnn": worker,
    }
    for name, fn in checks.items():
        t0 = time.perf_counter()
        try:
            fn()
            out[name] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 2)}
        except Exception as e:  # noqa: BLE001 - every failure is reported, the others still run
            out[name] = {"status": "failed", "error": f"{type(e).__name__}: {e}"[:300],
                         "detail": traceback.format_exc(limit=4)[-1200:]}
    return out


def run(device: str = "auto", out_dir: str | None = None, only: set[str] | None = None,
        progress=print) -> dict:
    """The whole check; returns the report (also written to out_dir/check.json)."""
    import torch

    from playground.engine import device as devices
    from playground.engine.runs import RunStore

    dev = devices.pick(device)
    tmp = Path(tempfile.mkdtemp(prefix="playground-check-"))
    os.environ["PLAYGROUND_HOME"] = str(tmp / "home")          # its runs are its own
    store = RunStore()
    report = {"device": str(dev), "describe": devices.describe(), "torch": torch.__version__,
              "autocast": os.environ.get("PLAYGROUND_AUTOCAST") or
              ("bf16" if dev.type == "cuda" and devices.native_bf16() else "off"),
              "runs": [], "afterwards": {}}
    t_all = time.perf_counter()
    runs, teacher = [], None
    for lab_name, settings in CASES:
        if only and lab_name not in only:
            continue
        if settings.get("mode") == "distill":
            if teacher is None:
                continue
            settings = {**settings, "teacher_run": teacher}
        try:
            r = _train(lab_name, settings, dev.type, store)
        except Exception as e:  # noqa: BLE001
            r = {"status": "crashed", "message": f"{type(e).__name__}: {e}"[:300],
                 "detail": traceback.format_exc(limit=6)[-1500:]}
        if settings.get("mode") == "teacher" and r["status"] == "completed":
            teacher = r["run_id"]
        if dev.type == "cuda" and r["status"] == "completed":
            try:
                r["syncs"] = _syncs(lab_name, settings, dev.type)
                if lab_name == "dqn" and r["syncs"]["per_step"] > MAX_DQN_SYNCS:
                    r["status"] = f"{r['syncs']['per_step']} host syncs per update"
            except Exception as e:  # noqa: BLE001
                r["syncs"] = f"the audit failed: {type(e).__name__}: {e}"[:200]
        runs.append((lab_name, settings, r))
        shown = {k: v for k, v in settings.items() if k != "teacher_run"}
        progress(f"{'ok' if r['status'] == 'completed' else '!!'} {lab_name:<12} "
                 f"{json.dumps(shown)[:64]:<64} {r['status']:<10} {r.get('seconds', '')}s"
                 + (f"  syncs/step {r['syncs']['per_step']}" if isinstance(r.get("syncs"), dict)
                    else "") + ("" if r["status"] == "completed" else
                                f"  {r.get('message', '')[:200]}"))
    report["runs"] = [{"lab": n, "settings": s, **r} for n, s, r in runs]
    if not only:
        report["afterwards"] = _afterwards(dev.type, store, runs, tmp)
        for name, r in report["afterwards"].items():
            progress(f"{'ok' if r['status'] == 'ok' else '!!'} {name:<30} {r['status']} "
                     f"{r.get('seconds', '')} {r.get('error', '')}")
    failed = ([r for r in report["runs"] if r["status"] != "completed"]
              + [r for r in report["afterwards"].values() if r["status"] != "ok"])
    report.update(seconds=round(time.perf_counter() - t_all, 1), failed=len(failed),
                  passed=not failed)
    progress(f"{len(runs) - sum(r['status'] != 'completed' for _, _, r in runs)}/{len(runs)} "
             f"runs completed, {sum(r['status'] == 'ok' for r in report['afterwards'].values())}"
             f"/{len(report['afterwards'])} after-training paths ok, {report['seconds']} s")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "check.json").write_text(json.dumps(report, indent=1, default=str))
    return report
