"""Shared by the page tests: open a page under AppTest, poll it like the live fragment would."""
import contextlib
import re
import os
import subprocess
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 60


def open_page(page: str = "app_pages/10_mlp.py", query: dict | None = None,
              visitor_key: str | None = None) -> AppTest:
    """A fresh browser session on `page`, with `query` in its URL; `visitor_key` is what the
    browser's cookie brings back (the same visitor after a refresh)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if visitor_key:
        at.session_state["_visitor_key"] = visitor_key
    at.run()
    at.switch_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    return at


def poll_until(at: AppTest, done, timeout: float = 60) -> bool:
    """Rerun the page (AppTest never fires run_every fragments) until `done(at)`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if done(at):
            return True
        time.sleep(0.2)
    return False


def run_id_of(at: AppTest) -> str | None:
    value = at.query_params.get("run")
    if value is None:
        return None
    return value if isinstance(value, str) else value[0]


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(e.value for e in getattr(at, kind))


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll a condition (a run's files, a status) until it holds or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to n, and back after. A lab of many small ops runs one: two
    OpenMP threads wait for each other whenever a core is busy elsewhere (this shared 2-core
    machine), which made word2vec's default run take 70 s instead of 10 s."""
    import torch

    from playground.engine import device

    device.configure_torch()                 # once per process: it must not undo this later
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_in_memory(lab, cfg):
    """A lab trained with the loop's own kind of batches but without the store (a lab's
    draw_batch, or slices of a randperm per epoch): returns (state, data, test metrics)."""
    state, data, metrics, _ = train_until(lab, cfg)
    return state, data, metrics


def compare_on_page(at, store, lab_name: str, timeout: float = 180) -> list[str]:
    """Press a lab page's comparison button, wait for every compared run to complete and show
    the page again; returns the runs' ids in the plan's order."""
    at.button(key=f"{lab_name}._compare").click().run()
    ids = at.query_params["compare"]
    ids = (ids if isinstance(ids, str) else ids[0]).split(",")
    assert poll_until(at, lambda a: all(store.status(i)["status"] == "completed" for i in ids),
                      timeout=timeout)
    at.run()
    return ids


def train_cli(capsys, lab_name: str, *settings: str) -> tuple[int, dict]:
    """`python -m playground train LAB --set ... --json` in this process (the subprocess path,
    its exit codes and its stderr, is tests/test_cli.py's): (exit status, the JSON summary)."""
    import json

    from playground.__main__ import main

    argv = ["train", lab_name, *[a for s in settings for a in ("--set", s)], "--json"]
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


# a DQN run of a few seconds (tests/test_dqn.py and its exported script)
DQN_TINY = {"env_steps": 3000, "learning_starts": 500, "buffer_size": 1000, "batch_size": 32,
            "train_frequency": 10, "target_every": 200, "eval_episodes": 2}


def trained_run(store, lab_name: str, settings: dict) -> str:
    """A run really trained here (no worker process) and kept in `store` as the engine keeps a
    finished one: its settings, weights and final metrics."""
    from playground import params, registry

    lab = registry.get(lab_name)
    cfg = params.parse(lab.Config, settings)[0]
    state, _, final = train_in_memory(lab, cfg)
    run_id = store.create(lab_name, params.to_dict(cfg))
    store.save_model(run_id, state.model.state_dict())
    store.set_status(run_id, status="completed", final=final)
    return run_id


def finished_run(store, lab="mlp", owner=None, status="completed", age=0.0) -> str:
    """A run in the store as if it had ended (`status`) `age` seconds before now."""
    run_id = store.create(lab, {"epochs": 1}, owner=owner)
    store.set_status(run_id, status=status, ended=time.time())
    if age:         # an older run, as if created earlier
        import json

        path = store.path(run_id) / "config.json"
        record = json.loads(path.read_text())
        record["created"] -= age
        path.write_text(json.dumps(record))
    return run_id


def train_until(lab, cfg, every: int = 0, done=None, limit: int | None = None, outputs=None,
                extra=None):
    """train_in_memory, looked at every `every` steps: stops at the first look where
    `done(metrics)` holds, at `limit` steps, or at the end of the run's own budget. A look's
    metrics are the lab's evaluate(state, data) and, with `extra`, extra(state, data)'s; `outputs`,
    a list, gets every step's train_step output (host floats), as the loop logs them. A look
    leaves the run as it was (every random generator and the model's mode restored), so the
    steps up to the stop are those of an uninterrupted run. Returns (state, data, metrics,
    steps trained)."""
    import torch

    from playground.engine import loop

    loop.seed_everything(cfg.seed)
    data = lab.load_data(cfg)
    state = lab.build(cfg, data)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = data.n_train
    batch_size = getattr(cfg, "batch_size", n)         # none: the whole set (a graph's nodes)
    per_epoch = max(1, n // batch_size)
    steps = (lab.steps_of(cfg) if hasattr(lab, "steps_of") else cfg.steps) \
        if not hasattr(cfg, "epochs") else cfg.epochs * per_epoch
    steps = min(steps, limit) if limit else steps

    def look():
        gens = [v for v in vars(state).values() if isinstance(v, torch.Generator)]
        saved = (torch.get_rng_state(), [g.get_state() for g in gens])
        model = getattr(state, "model", None)
        mode = model.training if model is not None else None
        with torch.no_grad():
            metrics = lab.evaluate(state, data)
            if extra is not None:
                metrics.update(extra(state, data))
        torch.set_rng_state(saved[0])
        for g, s in zip(gens, saved[1]):
            g.set_state(s)
        if model is not None:
            model.train(mode)
        return metrics

    step, metrics = 0, None
    while step < steps:
        if data.n_examples is not None:
            batch = lab.draw_batch(data, batch_size, gen, state)
        else:
            if step % per_epoch == 0:
                perm = torch.randperm(n, generator=gen)
            idx = perm[(step % per_epoch) * batch_size:][:batch_size]
            batch = tuple(t[idx] for t in data.train)
        out = lab.train_step(state, batch)
        if outputs is not None:
            outputs.append(out)
        step += 1
        if hasattr(lab, "finished") and lab.finished(state):
            break
        if done is not None and step < steps and step % every == 0:
            metrics = look()
            if done(metrics):
                break
            metrics = None
    if metrics is None:
        metrics = look()
    if outputs is not None:
        outputs[:] = [{k: float(v) for k, v in o.items()} for o in outputs]
    return state, data, metrics, step


# Each script, as `python train_x.py --json` would run it: __main__, its own argv, its own folder
# as the working directory and the first entry of sys.path, its stdout and stderr apart, the
# status it exits with. One interpreter runs them one after another: each would otherwise spend
# ~2-4 s importing torch and scikit-learn before training for about as long.
_RUNNER = r"""
import contextlib, os, runpy, sys, traceback
for path in sys.argv[1:]:
    folder = os.path.dirname(path)
    os.chdir(folder)
    sys.path[0] = folder
    sys.argv = [path, "--json"]
    code = 0
    with open(path + ".out", "w") as out, open(path + ".err", "w") as err, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
    with open(path + ".status", "w") as f:
        f.write(str(code))
"""


def run_scripts(paths, timeout=600) -> dict:
    """{path: CompletedProcess} of every script, run by one interpreter (see _RUNNER) from its
    own folder, without this repository on its path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # from /tmp, so that nothing of this repository can be imported by accident
    p = subprocess.run([sys.executable, "-c", _RUNNER, *map(str, paths)], cwd=paths[0].parent,
                       env=env, capture_output=True, text=True, timeout=timeout)
    done = {}
    for path in paths:
        status = path.with_name(path.name + ".status")
        if not status.is_file():        # the interpreter died before this script ended
            done[path] = subprocess.CompletedProcess(path, p.returncode or 1, "", p.stderr)
            continue
        done[path] = subprocess.CompletedProcess(
            path, int(status.read_text()), path.with_name(path.name + ".out").read_text(),
            path.with_name(path.name + ".err").read_text())
    return done


ENGLISH = re.compile(r"(?<![\w/.`{-])(?:[A-Za-z][a-z']+[ ,;:]+){2,}[A-Za-z][a-z']+")
# code, links, placeholders, and a work's title in italics (a paper's name stays as it is)
_CODE = re.compile(r"`[^`]*`|https?://\S+|\]\([^)]*\)|\{[^}]*\}|(?<![*\w])\*[^*\n]+\*(?![*\w])")


def english_left(at: AppTest, allowed: tuple = ()) -> list[str]:
    """The runs of three or more English words a visitor reads on the page (titles, text,
    alerts, widgets' labels and help), outside code, links and the `allowed` phrases: names
    and units are single words, a sentence left untranslated is not."""
    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "error", "success", "exception"):
        texts += [str(getattr(e, "value", "") or "") for e in getattr(at, kind)]
    for kind in ("button", "selectbox", "number_input", "slider", "text_input", "toggle",
                 "multiselect", "radio", "checkbox", "select_slider", "text_area"):
        for w in getattr(at, kind):
            texts += [str(getattr(w, "label", "") or ""), str(getattr(w, "help", "") or "")]
    found = []
    for text in texts:
        # a quotation is the data's own words (a corpus' sentences)
        text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))
        text = _CODE.sub(" ", text)
        for phrase in allowed:
            text = text.replace(phrase, " ")
        found += [m.group(0) for m in ENGLISH.finditer(text)]
    return sorted(set(found))
