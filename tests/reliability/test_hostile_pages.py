"""A public copy survives a hostile visitor (issue 27, items 4, 9, 10 and 11): each test performs
the attack through the path a visitor's click or link takes and asserts the cap or the refusal.

4. Model work the Streamlit server does itself (Sample again, slow motion, ONNX export, the
   distillation overview's timing) is bounded in hosted mode, and done one at a time.
9. Text from a link, and text a model learnt from an upload, is shown as text.
10. A failure's traceback is its owner's; Streamlit's own error details are off when hosted.
11. Only a sweep's owner cancels it; ids with a trailing newline are not ids.
"""
import dataclasses
import json
import threading
import time

import pytest
import torch

from playground import params
from playground.engine import hosting, server
from playground.engine.jobs import NotOwner
from tests.helpers import open_page, texts

A_KEY, B_KEY = "a" * 32, "b" * 32
A, B = hosting.owner_id(A_KEY), hosting.owner_id(B_KEY)
EVIL = "[click](https://evil.example) ![x](https://evil.example/x.png) " + "A" * 500


@pytest.fixture
def hosted(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    return home


def _finished_run(store, lab_name: str, cfg) -> str:
    """A completed run on disk as the worker leaves it: settings, status and the weights of
    `cfg`'s model (freshly built: what a look loads is its size, not its skill)."""
    from playground import registry

    lab = registry.get(lab_name)
    run_id = store.create(lab_name, params.to_dict(cfg))
    with torch.random.fork_rng(devices=[]):
        state = lab.build(cfg, lab.load_data(cfg))
    torch.save(state.model.state_dict(), store.path(run_id) / "model.pt")
    store.set_status(run_id, status="completed", ended=time.time())
    return run_id


# ---- 4. work in the server ----------------------------------------------------------------

def _diffusion(store, **changes):
    from playground.labs import diffusion

    cfg = dataclasses.replace(diffusion.Config(), width=8, layers=1, fourier=False,
                              n_samples=200, steps=1, **changes)
    return diffusion, cfg, store.model_path(_finished_run(store, "diffusion", cfg))


def test_sample_again_refuses_more_sampling_steps_than_the_server_takes(hosted, store):
    diffusion, cfg, path = _diffusion(store, T=4000)
    t0 = time.perf_counter()
    with pytest.raises(server.TooMuch, match="at most 1,000 steps at a look"):
        diffusion.explore(cfg, str(path), 4000)             # DDIM over all of T = 4000
    with pytest.raises(server.TooMuch, match="DDPM takes all T steps: pick DDIM"):
        diffusion.explore(dataclasses.replace(cfg, sampler="ddpm"), str(path), 10)
    assert time.perf_counter() - t0 < 5                     # refused before sampling


def test_the_speed_chart_leaves_out_step_counts_over_the_servers(hosted, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_SERVER_STEPS", "60")
    diffusion, cfg, path = _diffusion(store, T=200)
    speed = diffusion.explore(cfg, str(path), 50)["speed"]
    steps = [int(k) for trace in speed["data"]["data"] for k in trace["text"]]
    assert steps and max(steps) <= 60                       # no DDIM 100, 200, no DDPM 200
    assert "Left out: the step counts over this shared server's 60" in speed["caption"]


def test_slow_motion_draws_its_batches_from_at_most_the_servers_examples(hosted, store):
    from playground.engine import stepping
    from playground.labs import gan

    cfg = gan.Config(n_samples=5000, batch_size=4096, width=16, layers=1)
    run_id = _finished_run(store, "gan", cfg)
    session = stepping.resume(gan, cfg, store, run_id)
    assert len(session.data.train[0]) == hosting.caps().server_examples == 1024
    stepping.act(gan, session, "One D step")                # a batch of 1,024, not 4,096
    assert session.counts == {"One D step": 1}


def test_a_model_larger_than_the_server_loads_is_neither_exported_nor_stepped(hosted, store,
                                                                              monkeypatch):
    from playground import export
    from playground.engine import stepping
    from playground.labs import gan, mlp

    monkeypatch.setenv("PLAYGROUND_MAX_SERVER_PARAMS", "1000")
    run_id = _finished_run(store, "mlp", mlp.Config(hidden_sizes=(64, 64), epochs=1))
    with pytest.raises(export.NotExportable, match="loads models of at most 1,000"):
        export.onnx_bytes(store, run_id)                     # the Download section's ONNX
    cfg = gan.Config(n_samples=500, width=64, layers=2)
    with pytest.raises(server.TooMuch, match="loads models of at most 1,000"):
        stepping.resume(gan, cfg, store, _finished_run(store, "gan", cfg))


def test_the_distillation_overview_does_not_time_a_teacher_larger_than_the_server_loads(
        hosted, monkeypatch):
    """The overview builds and times the form's teacher in the server before any Train, even
    when the mode trains only the student (a ~50M-parameter teacher was one URL away)."""
    from playground.labs import distill

    monkeypatch.setenv("PLAYGROUND_MAX_SERVER_PARAMS", "50000")
    cfg = distill.Config(mode="scratch", teacher_hidden=(512, 512))
    t0 = time.perf_counter()
    text = distill.overview(cfg)["models"]["data"]
    assert "this shared server times networks of at most 50,000" in text
    assert "The teacher (MLP 512x512) has 301,066 parameters" in text
    assert time.perf_counter() - t0 < 2


def test_nor_a_teacher_run_larger_than_the_server_loads(hosted, store, monkeypatch):
    from playground.labs import distill, mlp

    monkeypatch.setenv("PLAYGROUND_MAX_SERVER_PARAMS", "1000")
    teacher = _finished_run(store, "mlp", mlp.Config(dataset="digits", hidden_sizes=(64, 64)))
    cfg = distill.Config(mode="distill", teacher_run=teacher, student_hidden=(8,))
    text = distill.overview(cfg)["models"]["data"]
    assert f"The teacher (run {teacher}) has 8,970 parameters; this shared server" in text


def test_server_work_is_one_at_a_time_when_hosted(hosted, monkeypatch):
    held, release = threading.Event(), threading.Event()

    def first_visitor():
        with server.turn():
            held.set()
            release.wait(10)
    thread = threading.Thread(target=first_visitor)
    thread.start()
    try:
        assert held.wait(5)
        t0 = time.perf_counter()
        with pytest.raises(server.Busy, match="busy with another visitor's request: try again"):
            with server.turn(wait=0.2):
                pass
        assert time.perf_counter() - t0 < 2
        monkeypatch.delenv("PLAYGROUND_HOSTED")
        with server.turn(wait=0.2):                         # locally: nobody waits
            pass
    finally:
        release.set()
        thread.join()


def test_outside_hosted_mode_server_work_is_not_capped(home):
    from playground.labs import mlp

    c = hosting.caps()
    assert (c.server_params, c.server_steps, c.server_examples) == (None, None, None)
    server.check_steps(10**6)
    server.check_model(mlp, mlp.Config(hidden_sizes=(4096, 4096, 4096, 4096)))
    assert server.examples(4096) == 4096


def test_sample_again_on_the_page_stops_at_the_servers_steps(hosted, store):
    _, _, path = _diffusion(store, T=4000, sample_steps=50)
    run_id = path.parent.name
    at = open_page("app_pages/78_diffusion.py", query={"run": run_id})
    assert not at.exception, at.exception
    box = at.number_input(key=f"diffusion._explore.{run_id}")
    assert box.max == 1000
    assert "This shared server takes at most 1,000 sampling steps at a look" in \
        texts(at, "caption")


# ---- 9. text from a link, text learnt from an upload ------------------------------------

_SHOWN = ("markdown", "caption", "warning", "error", "info", "success", "title", "subheader")


def _shown(at) -> list[str]:
    return [e.value for kind in _SHOWN for e in getattr(at, kind)]


@pytest.mark.parametrize("query", [{"run": EVIL}, {EVIL: "1"}, {"demo": EVIL}],
                         ids=["run", "unknown key", "demo"])
def test_a_crafted_link_shows_its_text_as_text_and_cut(home, query):
    at = open_page(query=query)
    assert not at.exception, at.exception
    shown = _shown(at)
    assert any("click" in v for v in shown)                 # it is said, as text
    for value in shown:
        assert "](" not in value.replace("\\](", "")         # no [text](link) nor ![image](src)
        assert "https://evil" not in value                   # nor a bare address GFM would link
        assert "A" * 100 not in value                        # cut to a sane length


def test_text_a_model_learnt_from_an_upload_cannot_close_its_code_block(monkeypatch):
    """A char model trained on an uploaded text writes what it learnt, fences included: its
    samples are shown in a fence longer than any run of backticks in them."""
    from types import SimpleNamespace

    from playground.labs.rnn import model as rnn

    learnt = "```\n![x](https://evil.example/x.png)\n``````"
    monkeypatch.setattr(rnn, "sample_text", lambda *a, **k: learnt)
    body = rnn._chars_view(SimpleNamespace(cfg=SimpleNamespace(temperature=1.0)), None)["data"]
    fence = "`" * 7
    assert body.startswith(f"{fence}text\n{learnt}\n{fence}\n")


# ---- 10. tracebacks ------------------------------------------------------------------------

TRACEBACK = 'Traceback (most recent call last):\n  File "/srv/app/playground/secret.py", line 1'


def _failed(store, owner=None) -> str:
    run_id = store.create("mlp", {"epochs": 1}, owner=owner)
    store.set_status(run_id, status="failed", ended=time.time(), detail=TRACEBACK,
                     message="Training failed: RuntimeError: boom")
    return run_id


def _tracebacks(at) -> list[str]:
    return [c.value for c in at.code if "Traceback" in c.value]


def test_a_failures_traceback_is_shown_to_its_owner_only_when_hosted(hosted, store):
    run_id = _failed(store, owner=A)
    other = open_page(query={"run": run_id}, visitor_key=B_KEY)
    assert not other.exception, other.exception
    assert "Training failed: RuntimeError: boom" in texts(other, "error")
    assert _tracebacks(other) == []
    owner = open_page(query={"run": run_id}, visitor_key=A_KEY)
    assert _tracebacks(owner) == [TRACEBACK]
    assert "detail" in store.status(run_id)                 # kept in the run's files


def test_a_failures_traceback_is_still_shown_locally(home, store):
    at = open_page(query={"run": _failed(store)})
    assert _tracebacks(at) == [TRACEBACK]


def test_the_zip_of_a_failed_run_carries_its_traceback_for_its_owner_only(hosted, store):
    import io
    import zipfile

    from playground import export

    run_id = _failed(store, owner=A)

    def status_in(data: bytes) -> dict:
        return json.loads(zipfile.ZipFile(io.BytesIO(data)).read(f"{run_id}/status.json"))
    assert "detail" not in status_in(export.bundle(store, run_id, detail=False))
    assert status_in(export.bundle(store, run_id))["detail"] == TRACEBACK


def _crash(monkeypatch):
    from playground.ui import home

    def device():
        raise RuntimeError("secret at /srv/app/playground/ui/home.py")
    monkeypatch.setattr(home, "_device", device)


def test_hosted_mode_shows_no_error_details_of_an_uncaught_error(hosted, monkeypatch):
    _crash(monkeypatch)
    at = open_page("app_pages/00_home.py")
    assert at.exception
    shown = " ".join(" ".join([e.message, *e.stack_trace]) for e in at.exception)
    assert "secret" not in shown and "/srv/app" not in shown and "home.py" not in shown


def test_an_uncaught_error_keeps_its_details_locally(home, monkeypatch):
    _crash(monkeypatch)
    at = open_page("app_pages/00_home.py")
    assert "secret at /srv/app" in at.exception[0].message


# ---- 11. sweeps and ids -------------------------------------------------------------------

def _sweep(owner=None) -> str:
    from playground import sweeps

    plan = sweeps.Plan(lab="mlp", grid={"lr": ["0.1", "0.01"]})
    return sweeps.new_record(plan, sweeps.expand(plan), owner=owner)["sweep_id"]


def test_a_visitor_cannot_cancel_another_visitors_sweep(hosted):
    from playground import sweeps

    theirs, cli = _sweep(owner=A), _sweep()
    for sid in (theirs, cli):
        with pytest.raises(NotOwner, match="only the visitor who started it can cancel it"):
            sweeps.cancel(sid, by=B)
        assert not sweeps.cancel_requested(sid)
    sweeps.cancel(theirs, by=A)
    sweeps.cancel(cli)                                      # the command line's own
    assert sweeps.cancel_requested(theirs) and sweeps.cancel_requested(cli)


def test_the_runs_page_offers_cancel_to_the_sweeps_owner_only(hosted):
    _sweep(owner=A)
    owner = open_page("app_pages/90_runs.py", visitor_key=A_KEY)
    assert any(b.key == "runs.sweep.cancel" for b in owner.button)
    other = open_page("app_pages/90_runs.py", visitor_key=B_KEY)
    assert not other.exception, other.exception
    assert not any(b.key == "runs.sweep.cancel" for b in other.button)


def test_ids_with_a_trailing_newline_are_not_ids(store, monkeypatch):
    from types import SimpleNamespace

    from playground import sweeps
    from playground.engine.runs import NoSuchRun
    from playground.labs import distill
    from playground.ui import state

    run_id = "20261125-093000-mlp-1a2b3c"
    with pytest.raises(NoSuchRun, match="is not a run id"):
        store.path(run_id + "\n")
    assert not store.exists(run_id + "\n")
    sid = "20261125-093000-sweep-mlp-1a2b3c"
    with pytest.raises(KeyError, match="not a sweep id"):
        sweeps.cancel(sid + "\n")
    errors = distill.check(distill.Config(mode="distill", teacher_run=run_id + "\n"))
    assert any("is not a run id" in e for e in errors)
    # a cookie's visitor key: a new visitor, not the one whose key it nearly is
    browser = SimpleNamespace(session_state={},
                              context=SimpleNamespace(cookies={state.COOKIE: A_KEY + "\n"}))
    monkeypatch.setattr(state, "st", browser)
    assert state.visitor_key() not in (A_KEY, A_KEY + "\n")
    assert hosting.VISITOR_KEY.fullmatch(state.visitor_key())
