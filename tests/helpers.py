"""Shared by the page tests: open a page under AppTest, poll it like the live fragment would."""
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


def train_in_memory(lab, cfg):
    """A lab trained with the loop's own kind of batches but without the store (a lab's
    draw_batch, or slices of a randperm per epoch): returns (state, data, test metrics)."""
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
    for step in range(steps):
        if data.n_examples is not None:
            batch = lab.draw_batch(data, batch_size, gen, state)
        else:
            if step % per_epoch == 0:
                perm = torch.randperm(n, generator=gen)
            idx = perm[(step % per_epoch) * batch_size:][:batch_size]
            batch = tuple(t[idx] for t in data.train)
        lab.train_step(state, batch)
        if hasattr(lab, "finished") and lab.finished(state):
            break
    with torch.no_grad():
        return state, data, lab.evaluate(state, data)


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
