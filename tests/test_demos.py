"""Recorded demos: every lab has one that loads; a demo is recorded from a real run and replayed
through the live panel at any moment of its time (a comparison as a comparison), with neither
torch nor the lab imported; a damaged recording is refused with what to do."""
import gzip
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from playground import demos, registry
from playground.ui import replay
from tests.helpers import open_page, texts


def test_every_lab_has_a_demo_that_loads_within_the_budget():
    assert demos.check() == []
    assert demos.size_mb() < demos.BUDGET_MB
    for lab in registry.LABS:
        for name in demos.demos_of(lab):
            demo = demos.load(lab, name)
            assert all(len(r.frames) <= demos.MAX_FRAMES + 1 for r in demo.runs)
            assert all(r.status["status"] == "completed" for r in demo.runs)


@pytest.mark.parametrize("lab", registry.LABS)
def test_each_labs_demos_are_valid_settings(lab):
    """What `demos record` would train: settings the form accepts, a comparison where asked."""
    mod = registry.get(lab)
    for name, spec in (getattr(mod, "DEMOS", None) or {"default": {}}).items():
        assert set(spec) <= {"settings", "compare", "title", "picture"}, (lab, name)
        cfg, errors = registry.parse_config(mod, spec.get("settings", {}), budget=False)
        assert errors == [], (lab, name, errors)
        if spec.get("compare"):
            compare = mod.COMPARE(cfg) if callable(mod.COMPARE) else mod.COMPARE
            assert compare and callable(compare["plan"]), (lab, name)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A short single run and a comparison, recorded for real into a scratch folder."""
    root = tmp_path_factory.mktemp("demos")
    one = demos.record("fundamentals", "losses", {"experiment": "losses", "steps": 400},
                       title="Three losses", root=root, log=lambda m: None)
    two = demos.record("fundamentals", "race", {"steps": 1000}, compare=True, root=root,
                       log=lambda m: None, order=1)
    return root, one, two


def test_a_recorded_run_replays_at_any_moment_of_its_time(recorded):
    root, demo, _ = recorded
    assert demos.demos_of("fundamentals", root) == ["losses", "race"]
    run = demo.runs[0]
    assert run.status["status"] == "completed" and run.config["steps"] == 400
    assert 2 <= len(run.frames) <= demos.MAX_FRAMES + 1
    times = [f["time"] for f in run.frames]
    assert times == sorted(times) and run.frames[-1]["step"] == 400
    seen, steps = [], []
    for at in (0.0, demo.duration / 3, 2 * demo.duration / 3, demo.duration + 1):
        store = replay.ReplayStore(demo, at)
        rid = store.ids[0]
        status = store.status(rid)
        tail = store.tail(rid)
        seen.append(len(tail.read()))
        steps.append(status.get("step") or 0)
        if at < demo.duration:
            assert status["status"] == "running" and status["total_steps"] == 400
        else:
            assert status["status"] == "completed" and status["message"].startswith("Finished")
        assert all(r["time"] <= at for r in tail.read())
    assert seen == sorted(seen) and seen[-1] == len(run.records) > seen[0]
    assert steps == sorted(steps) and steps[-1] == 400
    # the pictures of the moment: the last frame written before it
    mid = replay.ReplayStore(demo, run.frames[1]["time"] + 1e-6)
    assert mid.tail(mid.ids[0]).artifacts()["step"] == run.frames[1]["step"]


def test_a_recorded_comparison_replays_its_runs_one_after_another(recorded):
    _, _, demo = recorded
    assert len(demo.runs) == 2 and demo.compare["names"] == ["SGD", "Adam"]
    assert [r.config["optimizers"] for r in demo.runs] == [["sgd"], ["adam"]]
    assert "Adam: step" in demo.compare["verdict"] and len(demo.compare["rows"]) == 2
    first = demo.runs[0].duration
    early = replay.ReplayStore(demo, first / 2)
    assert [early.status(i)["status"] for i in early.ids] == ["running", "queued"]
    late = replay.ReplayStore(demo, first + demo.runs[1].duration / 2)
    assert [late.status(i)["status"] for i in late.ids] == ["completed", "running"]


def test_a_damaged_recording_is_refused_with_what_to_do(recorded, tmp_path):
    root, _, _ = recorded
    import shutil

    copy = tmp_path / "demos"
    shutil.copytree(root, copy)
    frames = copy / "fundamentals" / "losses" / "run0" / "frames.json.gz"
    frames.write_bytes(gzip.compress(b"[{\"time\": 0, \"ste"))
    with pytest.raises(demos.DemoError, match="record it again"):
        demos.load("fundamentals", "losses", copy)
    problems = demos.check(copy)
    assert any("fundamentals/losses" in p for p in problems)
    assert any(p.startswith("mlp: no demo") for p in problems)


def test_the_page_replays_its_demo_without_torch_or_the_lab():
    """A fresh interpreter opens a page in replay mode: the recording shows, torch stays out."""
    code = textwrap.dedent("""
        import os, sys, tempfile, json
        os.environ["PLAYGROUND_HOME"] = tempfile.mkdtemp()
        sys.path.insert(0, os.getcwd())
        from tests.helpers import open_page
        at = open_page("app_pages/10_mlp.py", {"demo": "default"})
        print(json.dumps({"exception": [str(e.value) for e in at.exception],
                          "torch": "torch" in sys.modules,
                          "lab": "playground.labs.mlp" in sys.modules,
                          "info": [i.value for i in at.info],
                          "runs": [m.value for m in at.markdown if m.value.startswith("**Run")]}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PLAYGROUND_WORKER"}   # as served
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=str(Path(__file__).resolve().parents[1]), env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["exception"] == [] and not seen["torch"] and not seen["lab"], seen
    assert any(i.startswith("**Replay of a recorded run**") for i in seen["info"])
    assert any("demo-mlp-default-0" in r for r in seen["runs"])


def test_the_replay_scrubs_pauses_and_goes_back_to_training(home):
    at = open_page("app_pages/10_mlp.py", {"demo": "default"})
    assert not at.exception
    demo = replay.load("mlp", "default")
    assert at.slider(key="_replay.scrub.mlp.default").disabled          # it follows the playback
    at.button(key="_replay.play").click().run()                          # Pause: it jumps
    assert not at.slider(key="_replay.scrub.mlp.default").disabled
    at.slider(key="_replay.scrub.mlp.default").set_value(math.ceil(demo.duration * 10) / 10).run()
    assert not at.exception
    assert any(s.value.startswith("Finished") for s in at.success)        # the run's end
    assert at.button(key="_replay.play").label == "Play"                  # the end: stopped
    at.slider(key="_replay.scrub.mlp.default").set_value(0.5).run()
    assert "running" in texts(at, "markdown")
    assert any("of the recording's" in p.text for p in at.get("progress"))
    at.button(key="_replay.play").click().run()                          # from 0.5 s on
    assert at.button(key="_replay.play").label == "Pause"
    at.button(key="_replay.play").click().run()
    assert at.button(key="_replay.play").label == "Play"
    half = round(demo.duration / 2, 1)
    at.slider(key="_replay.scrub.mlp.default").set_value(half).run()
    assert at.slider(key="_replay.scrub.mlp.default").value == half      # paused: it stays there
    assert any(f"{half:.1f} s of the recording's" in p.text for p in at.get("progress"))
    at.switch_page("app_pages/80_gnn.py")           # a shorter demo: its own jump range
    at.query_params["demo"] = "gcn-vs-mlp"
    at.run()
    assert not at.exception
    at.switch_page("app_pages/10_mlp.py")
    at.query_params["demo"] = "default"
    at.run()
    next(b for b in at.button if b.label == "Train it yourself").click().run()
    assert "demo" not in at.query_params and not at.exception
    assert at.button(key="mlp._train")                                   # the lab's own page
    at.button(key="mlp._replay").click().run()
    assert at.query_params["demo"] in ("default", ["default"])


def test_home_is_a_gallery_with_open_and_replay_for_every_lab(home):
    at = open_page("app_pages/00_home.py")
    assert not at.exception
    # every lab's picture as an image (a drawn thumbnail, or an image picture): no plotly chart
    # for the browser to draw on the first page
    assert len(at.get("image")) == len(registry.LABS) and not at.get("plotly_chart")
    links = [(p.label, p.proto.page) for p in at.get("page_link")]
    replays = [label for label, _ in links if label == "Replay"]
    opens = [label for label, _ in links if label == "Open"]
    assert len(opens) == len(registry.LABS) and len(replays) == len(registry.LABS)


def test_a_run_much_slower_than_its_demo_is_offered_the_recording():
    demo = replay.load("mlp", "default")
    config, recorded = demo.runs[0].config, demo.runs[0].duration
    slow = {"status": "running", "elapsed_s": 3.0, "eta_s": 3 * recorded + 1}
    assert replay.slower_demo("mlp", config, slow) == ("default", 3.0 + 3 * recorded + 1,
                                                       recorded)
    fine = {"status": "running", "elapsed_s": 3.0, "eta_s": recorded}
    assert replay.slower_demo("mlp", config, fine) is None
    early = {"status": "running", "elapsed_s": 0.5, "eta_s": 100 * recorded}
    assert replay.slower_demo("mlp", config, early) is None              # too soon to tell
    other = {**config, "seed": config["seed"] + 1}
    assert replay.slower_demo("mlp", other, slow) is None                 # not what it recorded
    assert replay.slower_demo("mlp", config, {**slow, "status": "completed"}) is None


@pytest.mark.browser
def test_a_thumbnail_is_drawn_from_its_picture_and_known_stale_when_the_picture_changes(
        tmp_path):
    from PIL import Image

    from playground import browser

    if browser.missing():
        pytest.skip(f"browser test skipped: {browser.missing()}")
    lab, name = "gnn", demos.demos_of("gnn")[0]
    (tmp_path / lab).mkdir()
    folder = tmp_path / lab / name
    folder.mkdir()
    (folder / "picture.json").write_bytes((demos.ROOT / lab / name / "picture.json").read_bytes())
    assert "no gallery thumbnail" in demos.thumbnail_problem(lab, name, tmp_path)
    [path] = demos.draw_thumbnails([(lab, name)], tmp_path, log=lambda m: None)
    assert demos.thumbnail_problem(lab, name, tmp_path) is None
    with Image.open(path) as im:
        assert im.size == (2 * demos.THUMB_PX[0], 2 * demos.THUMB_PX[1])
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the graph was drawn, not a blank square"
    item = json.loads((folder / "picture.json").read_text())
    item["data"]["data"] = item["data"]["data"][:1]               # the picture recorded again
    (folder / "picture.json").write_text(json.dumps(item))
    assert "older than its picture" in demos.thumbnail_problem(lab, name, tmp_path)
