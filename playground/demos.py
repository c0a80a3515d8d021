"""Recorded demos: real runs kept in the repository, replayed on any machine without training.

A demo is one run (or the runs of a lab's comparison) trained by the engine's own loop and kept
under assets/demos/<lab>/<name>/: demo.json (the settings, each run's final status, what the page
needs to draw it without importing the lab: its CURVES, the comparison's names and final table)
and, per run, metrics.jsonl.gz (every metric record with its time) and frames.json.gz (the run's
pictures at up to MAX_FRAMES moments, with their times). Replaying reads these and nothing else:
no torch, no lab module, so a page can show one on a cold start, offline, on a weak laptop.

    python -m playground demos record [LAB ...]     re-make them from real runs
    python -m playground demos check                every lab has one and each loads
    python -m playground demos thumbnails [LAB ...] draw the gallery's pictures again (Chromium)

Which demos a lab has: its DEMOS ({name: {"settings": overrides, "compare": bool, "title":
str, "picture": the artefact the Home gallery shows}}), else one, "default", of its default
settings.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from playground import registry
from playground.i18n import N_

ROOT = Path(__file__).resolve().parents[1] / "assets" / "demos"
MAX_FRAMES = 12                 # pictures kept per run: evenly over its time, and the last
BUDGET_MB = 20.0                # all demos together stay well under this


class DemoError(RuntimeError):
    pass


@dataclass
class RecordedRun:
    run_id: str
    config: dict
    status: dict                                   # the final status.json
    records: list[dict] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)   # {"time", "step", "items"}

    @functools.cached_property
    def times(self) -> list[float]:
        """Each record's time, made non-decreasing (what a replay's bisect needs)."""
        out, last = [], 0.0
        for r in self.records:
            last = max(last, float(r.get("time") or last))
            out.append(last)
        return out

    @property
    def duration(self) -> float:
        times = [r["time"] for r in self.records if isinstance(r.get("time"), (int, float))]
        times += [f["time"] for f in self.frames]
        return max([float(self.status.get("seconds") or 0.0), *times, 0.1])


@dataclass
class Demo:
    lab: str
    name: str
    title: str
    runs: list[RecordedRun]
    curves: list = field(default_factory=list)     # the lab's CURVES
    compare: dict | None = None                    # {"names", "curves", "rows", "verdict"}
    recorded: str = ""                             # when and where
    picture: str = ""                              # the artefact the gallery shows

    @property
    def duration(self) -> float:
        return sum(r.duration for r in self.runs)


# ---------------------------------------------------------------------------------------------
# Reading

def demos_of(lab: str, root: Path = ROOT) -> list[str]:
    """The names of a lab's recorded demos, in the order the lab lists them (read from the
    recordings: the lab's module, and torch, stay unimported)."""
    folder = root / lab
    found = []
    for path in folder.glob("*/demo.json") if folder.is_dir() else ():
        try:
            order = json.loads(path.read_text(encoding="utf-8")).get("order", 0)
        except (OSError, ValueError):
            order = 0
        found.append((order, path.parent.name))
    return [n for _, n in sorted(found)]


def _declared(lab: str) -> dict:
    return getattr(registry.get(lab), "DEMOS", None) or {"default": {"settings": {}}}


def _read_gz_json(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _read_gz_lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(lab: str, name: str, root: Path = ROOT) -> Demo:
    folder = root / lab / name
    try:
        meta = json.loads((folder / "demo.json").read_text(encoding="utf-8"))
        runs = []
        for i, run in enumerate(meta["runs"]):
            sub = folder / f"run{i}"
            runs.append(RecordedRun(run_id=run["run_id"], config=run["config"],
                                    status=run["status"],
                                    records=_read_gz_lines(sub / "metrics.jsonl.gz"),
                                    frames=_read_gz_json(sub / "frames.json.gz")))
    except (OSError, KeyError, ValueError, TypeError, EOFError, gzip.BadGzipFile) as e:
        raise DemoError(f"the demo {lab}/{name} could not be read ({type(e).__name__}: {e}); "
                        f"record it again: python -m playground demos record {lab}") from e
    if not runs or any(not r.frames or not r.records for r in runs):
        raise DemoError(f"the demo {lab}/{name} has a run without pictures or metrics; record "
                        f"it again: python -m playground demos record {lab}")
    return Demo(lab=lab, name=name, title=meta.get("title", name), runs=runs,
                curves=meta.get("curves", []), compare=meta.get("compare"),
                recorded=meta.get("recorded", ""), picture=meta.get("picture", ""))


def final_picture(demo: Demo) -> dict | None:
    """The artefact the gallery shows: the named one (or the first) of the last frame."""
    items = demo.runs[-1].frames[-1].get("items") or {}
    return items.get(demo.picture) or next(iter(items.values()), None)


def write_picture(demo: Demo, root: Path = ROOT) -> None:
    """Kept beside the recording, so that Home reads a few kB per lab, not every frame."""
    (root / demo.lab / demo.name / "picture.json").write_text(
        json.dumps(final_picture(demo), separators=(",", ":")), encoding="utf-8")


def read_picture(lab: str, name: str, root: Path = ROOT) -> dict | None:
    try:
        item = json.loads((root / lab / name / "picture.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return item if isinstance(item, dict) else None


# ---------------------------------------------------------------------------------------------
# The gallery's thumbnails

THUMB = "thumb.png"
THUMB_PX = (420, 210)           # the gallery card's picture in CSS px; drawn at twice that
THUMB_KEY = "picture-sha256"    # the thumbnail's PNG text: the picture.json it was drawn from


def thumbnail_figure(item: dict) -> dict:
    """A plotly picture made small: no titles, ticks or legend (a card shows it at ~210 px)."""
    fig = item["data"]
    layout = {**(fig.get("layout") or {}), "height": THUMB_PX[1], "width": THUMB_PX[0],
              "showlegend": False, "margin": {"l": 4, "r": 4, "t": 4, "b": 4}, "title": None}
    for axis in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        layout[axis] = {**layout[axis], "title": None, "showticklabels": False}
    return {**fig, "layout": layout}


def _digest(lab: str, name: str, root: Path) -> str | None:
    try:
        return hashlib.sha256((root / lab / name / "picture.json").read_bytes()).hexdigest()
    except OSError:
        return None


def thumbnail(lab: str, name: str, root: Path = ROOT) -> Path | None:
    """The demo's gallery picture as a PNG, where one was drawn: Home shows it as an image, not
    as a plotly chart to draw in every visitor's browser (~3 CPU-s for the gallery's charts)."""
    path = root / lab / name / THUMB
    return path if path.is_file() else None


def thumbnail_problem(lab: str, name: str, root: Path = ROOT) -> str | None:
    """Why this demo's thumbnail is missing or stale, or None (also None where its picture is
    an image already)."""
    item = read_picture(lab, name, root)
    if item is None or item.get("kind") != "plotly":
        return None
    path = thumbnail(lab, name, root)
    fix = f"python -m playground demos thumbnails {lab}"
    if path is None:
        return f"{lab}/{name}: no gallery thumbnail ({fix})"
    from PIL import Image

    try:
        with Image.open(path) as im:
            drawn_from = im.text.get(THUMB_KEY)
    except (OSError, ValueError) as e:
        return f"{lab}/{name}: the gallery thumbnail does not open ({e}; {fix})"
    if drawn_from != _digest(lab, name, root):
        return f"{lab}/{name}: the gallery thumbnail is older than its picture ({fix})"
    return None


def draw_thumbnails(demos_: list[tuple[str, str]], root: Path = ROOT, log=print) -> list[Path]:
    """Draw each (lab, name)'s plotly picture as thumb.png, in headless Chromium with the plotly.js
    that the plotly package ships (offline)."""
    from playground import browser

    why = browser.missing()
    if why:
        raise DemoError(f"the gallery thumbnails need a browser: {why}")
    import plotly.graph_objects as go
    import plotly.offline
    from PIL import Image, PngImagePlugin
    from playwright.sync_api import sync_playwright

    todo = []
    for lab, name in demos_:
        item = read_picture(lab, name, root)
        if item is not None and item.get("kind") == "plotly":
            todo.append((lab, name, item))
        else:
            (root / lab / name / THUMB).unlink(missing_ok=True)
    written = []
    if not todo:
        return written
    width, height = THUMB_PX
    with sync_playwright() as pw:
        chromium = browser.launch(pw)
        try:
            page = chromium.new_page(viewport={"width": width, "height": height},
                                     device_scale_factor=2)
            page.set_content(
                "<html><body style='margin:0;background:#fff'>"
                f"<div id='p' style='width:{width}px;height:{height}px'></div>"
                f"<script>{plotly.offline.get_plotlyjs()}</script></body></html>")
            for lab, name, item in todo:
                # through plotly's Python side, as the page's charts go: it resolves a named
                # colour scale ("Blues") to its colours, which plotly.js alone runs the other way
                figure = json.loads(go.Figure(thumbnail_figure(item)).to_json())
                page.evaluate("f => Plotly.newPlot('p', f.data, f.layout, {staticPlot: true})",
                              figure)
                png = page.locator("#p").screenshot()
                info = PngImagePlugin.PngInfo()
                info.add_text(THUMB_KEY, _digest(lab, name, root))
                path = root / lab / name / THUMB
                with Image.open(io.BytesIO(png)) as im:
                    im.save(path, pnginfo=info, optimize=True)
                written.append(path)
                log(f"  {lab}/{name}: {path.stat().st_size / 1e3:.0f} kB thumbnail")
        finally:
            chromium.close()
    return written


def size_mb(root: Path = ROOT) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6 \
        if root.is_dir() else 0.0


def check(root: Path = ROOT) -> list[str]:
    """What is wrong with the recorded demos: a lab without one, one that does not load or did
    not complete, the budget passed. [] when all is well."""
    problems = []
    for lab in registry.LABS:
        names = demos_of(lab, root)
        if not names:
            problems.append(f"{lab}: no demo (python -m playground demos record {lab})")
        for name in names:
            try:
                demo = load(lab, name, root)
            except DemoError as e:
                problems.append(str(e))
                continue
            if read_picture(lab, name, root) is None:
                problems.append(f"{lab}/{name}: no picture.json for the gallery")
            elif thumbnail_problem(lab, name, root):
                problems.append(thumbnail_problem(lab, name, root))
            if demo.compare is not None and not (demo.compare.get("rows")
                                                 and demo.compare.get("verdict")):
                problems.append(f"{lab}/{name}: a comparison recorded without its table or "
                                f"verdict (python -m playground demos record {lab})")
            bad = [r.run_id for r in demo.runs if r.status.get("status") != "completed"]
            if bad:
                problems.append(f"{lab}/{name}: runs that did not complete: {', '.join(bad)}")
    total = size_mb(root)
    if total > BUDGET_MB:
        problems.append(f"the demos take {total:.1f} MB, over the {BUDGET_MB:.0f} MB budget")
    return problems


# ---------------------------------------------------------------------------------------------
# Recording

def _pick_frames(frames: list[dict], keep: int = MAX_FRAMES) -> list[dict]:
    """Up to `keep` frames evenly spread over the run's time, always the first and the last."""
    if len(frames) <= keep:
        return frames
    end = frames[-1]["time"]
    chosen, j = [], 0
    for k in range(keep):
        target = end * k / (keep - 1)
        while j < len(frames) - 1 and frames[j + 1]["time"] <= target:
            j += 1
        if not chosen or chosen[-1] is not frames[j]:
            chosen.append(frames[j])
    if chosen[-1] is not frames[-1]:
        chosen.append(frames[-1])
    return chosen


def _recording_store(root: Path):
    """A RunStore that also keeps every picture a run writes, with the time it was written."""
    from playground.engine.runs import RunStore

    class RecordingStore(RunStore):
        def __init__(self, root):
            super().__init__(root)
            self.frames: dict[str, list[dict]] = {}
            self.started: dict[str, float] = {}

        def write_artifacts(self, run_id: str, artifacts: dict) -> None:
            super().write_artifacts(run_id, artifacts)
            clean = json.loads((self.path(run_id) / "artifacts" / "latest.json").read_text())
            at = time.perf_counter() - self.started.get(run_id, time.perf_counter())
            self.frames.setdefault(run_id, []).append(
                {"time": round(at, 3), "step": clean.get("step"), "items": clean.get("items")})

    return RecordingStore(root)


def record(lab: str, name: str, settings: dict | None = None, compare: bool = False,
           title: str = "", root: Path = ROOT, log=print, order: int = 0,
           picture: str = "") -> Demo:
    """Train the demo for real with the engine's loop and keep it under root/lab/name."""
    from playground import params
    from playground.engine import loop

    lab_mod = registry.get(lab)
    settings = settings or {}
    scratch = Path(tempfile.mkdtemp(prefix="demo-"))
    # the scratch folder is the runs' home for the recording: a lab that reads an earlier run
    # of the comparison (a distilled student its teacher) finds it there
    home_before = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(scratch)
    try:
        store = _recording_store(scratch / "runs")
        cfg, errors = registry.parse_config(lab_mod, settings)
        if errors:
            raise DemoError(f"{lab}/{name}: " + "; ".join(errors))
        spec = None
        if compare:
            spec = lab_mod.COMPARE(cfg) if callable(lab_mod.COMPARE) else lab_mod.COMPARE
            if spec is None:
                raise DemoError(f"{lab}/{name}: these settings have no comparison")
        ids: list[str] = []

        def train(run_cfg) -> None:
            # every run of a comparison passes the check a visitor's runs pass
            run_cfg, errors = registry.parse_config(lab_mod, params.to_dict(run_cfg))
            if errors:
                raise DemoError(f"{lab}/{name}: " + "; ".join(errors))
            run_id = store.create(lab, params.to_dict(run_cfg))
            store.started[run_id] = time.perf_counter()
            res = loop.run(lab_mod, run_cfg, run_id, store)
            log(f"  {lab}/{name}: {run_id} {res.status} - {res.message}")
            if res.status != "completed":
                raise DemoError(f"{lab}/{name}: the run ended {res.status}: {res.message}")
            ids.append(run_id)

        if spec is None:
            train(cfg)
        else:
            while (item := spec["plan"](cfg, list(ids))) is not None:
                if isinstance(item, str):
                    raise DemoError(f"{lab}/{name}: a demo's comparison cannot name an "
                                    "earlier run")
                train(item)
        folder = root / lab / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        runs_meta = []
        for i, run_id in enumerate(ids):
            sub = folder / f"run{i}"
            sub.mkdir()
            records = store.tail(run_id).read()
            with gzip.open(sub / "metrics.jsonl.gz", "wt", encoding="utf-8") as f:
                f.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            with gzip.open(sub / "frames.json.gz", "wt", encoding="utf-8") as f:
                json.dump(_pick_frames(store.frames.get(run_id, [])), f, separators=(",", ":"))
            runs_meta.append({"run_id": f"demo-{lab}-{name}-{i}",
                              "config": store.config(run_id).get("config", {}),
                              "status": store.status(run_id)})
        meta = {"lab": lab, "name": name, "order": order,
                "title": title or (N_("The page's default settings") if name == "default" else name),
                "picture": picture,
                "runs": runs_meta,
                "curves": [list(c) for c in getattr(lab_mod, "CURVES", ())],
                "recorded": N_("{date} on {device} ({cores} cores)").format(
                    date=time.strftime("%Y-%m-%d"),
                    device=runs_meta[0]["status"].get("device", "?"), cores=os.cpu_count())}
        if spec is not None:
            rows, verdict = ([], "")
            if spec.get("table"):
                rows, verdict = spec["table"]([(n, store.info(i))
                                               for n, i in zip(spec["names"], ids)])
            meta["compare"] = {"names": list(spec["names"]), "curves": spec.get("curves"),
                               "views": list(spec.get("views") or ()),
                               "rows": rows, "verdict": verdict}
        (folder / "demo.json").write_text(json.dumps(meta, indent=1, default=str),
                                          encoding="utf-8")
        demo = load(lab, name, root)
        write_picture(demo, root)
        try:
            draw_thumbnails([(lab, name)], root, log)
        except DemoError as e:                  # `demos check` names what is left to do
            log(f"  {lab}/{name}: {e}")
        return demo
    finally:
        if home_before is None:
            os.environ.pop("PLAYGROUND_HOME", None)
        else:
            os.environ["PLAYGROUND_HOME"] = home_before
        shutil.rmtree(scratch, ignore_errors=True)


def record_lab(lab: str, root: Path = ROOT, log=print) -> list[Demo]:
    out = []
    for order, (name, spec) in enumerate(_declared(lab).items()):
        out.append(record(lab, name, spec.get("settings"), spec.get("compare", False),
                          spec.get("title", ""), root=root, log=log, order=order,
                          picture=spec.get("picture", "")))
    return out
