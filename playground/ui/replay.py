"""A recorded demo played through the live panel: the same header, tiles, curves and pictures as
a run being watched, read from the recording at a moment of its time instead of from a run
folder. Nothing trains and neither torch nor the lab's module is imported on this path, so it
shows at once on a cold start, offline, on a weak laptop."""
from __future__ import annotations

import bisect
import functools
import math
import threading
import time
from collections import OrderedDict
from types import SimpleNamespace

import streamlit as st

from playground import demos, registry
from playground.i18n import _
from playground.ui import live, stage, timing
from playground.ui.text import plain

SPEEDS = (1, 2, 5, 10)
TICK_S = 0.5                       # how often a playing replay redraws, at first ...
MAX_TICK_S = 4.0                   # ... and at most, on a machine too busy for more
TICK_KEY = "_replay.tick"
_CACHE: OrderedDict = OrderedDict()     # figures built from a demo's data, shared by sessions
_CACHE_LOCK = threading.Lock()


def _cached(key, make):
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = make()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > 256:
            _CACHE.popitem(last=False)
    return value


@functools.lru_cache(maxsize=32)
def _load(lab: str, name: str, stamp: float) -> demos.Demo:
    return demos.load(lab, name)


def load(lab: str, name: str) -> demos.Demo:
    """A demo, read once per change of its files."""
    path = demos.ROOT / lab / name / "demo.json"
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        raise demos.DemoError(f"{lab} has no demo named {name!r}") from None
    return _load(lab, name, stamp)


class _Tail:
    """What the live panel reads of one run (Tail's interface), as it was at one moment."""

    def __init__(self, key: tuple, records: list[dict], frame: dict | None, frame_index: int):
        self.key, self.records = key, records
        self.latest: dict = {}
        for r in records:
            self.latest.update({k: v for k, v in r.items() if isinstance(v, (int, float))})
        self.version = len(records)
        self.frame = frame or {}
        self.artifacts_version = frame_index

    def read(self) -> list[dict]:
        return self.records

    def artifacts(self) -> dict:
        return {"step": self.frame.get("step"), "items": self.frame.get("items") or {}}

    def cached(self, key, make):
        return _cached((*self.key, key), make)


class ReplayStore:
    """The run store's reading side (status, tail, exists, info) for a demo at time `at` of its
    recording; the runs of a comparison follow one another, as they trained."""

    def __init__(self, demo: demos.Demo, at: float):
        self.demo, self.at = demo, at
        self.ids = [r.run_id for r in demo.runs]
        self._runs = {r.run_id: (r, sum(x.duration for x in demo.runs[:i]), i)
                      for i, r in enumerate(demo.runs)}

    def _local(self, run_id: str):
        run, offset, i = self._runs[run_id]
        return run, self.at - offset, i

    def exists(self, run_id: str) -> bool:
        return run_id in self._runs

    def status(self, run_id: str) -> dict:
        run, t, _i = self._local(run_id)
        if t < 0:
            return {"status": "queued"}
        if t >= run.duration:
            return dict(run.status)
        records = self._records(run, t)
        step = max([r.get("step") or 0 for r in records] or [0])
        rate = next((r["perf/samples_per_s"] for r in reversed(records)
                     if "perf/samples_per_s" in r), 0)
        return {"status": "running", "step": step, "total_steps": run.status.get("total_steps"),
                "eta_s": run.duration - t, "samples_per_s": rate,
                "device": run.status.get("device"), "params": run.status.get("params"),
                "started": time.time() - t}

    @staticmethod
    def _records(run: demos.RecordedRun, t: float) -> list[dict]:
        return run.records[:bisect.bisect_right(run.times, t)]

    def tail(self, run_id: str) -> _Tail:
        run, t, i = self._local(run_id)
        if t >= run.duration:
            records, k = run.records, len(run.frames) - 1
        else:
            records = self._records(run, t) if t >= 0 else []
            k = bisect.bisect_right([f["time"] for f in run.frames], t) - 1
        frame = run.frames[k] if k >= 0 else None
        return _Tail((self.demo.lab, self.demo.name, i), records, frame, k)

    def info(self, run_id: str):
        return SimpleNamespace(status=self.status(run_id), run_id=run_id)


class _NoQueue:
    @staticmethod
    def position(run_id: str):
        return None

    @staticmethod
    def controls(run_id: str, by) -> bool:
        return True                 # a recording ships with the app: nobody's to hide


# ---------------------------------------------------------------------------------------------
# The replay's clock, per session: where it is, since when it plays, how fast

def _clock_key(lab: str, name: str) -> str:
    return f"_replay.{lab}.{name}"


def _clock(lab: str, name: str) -> dict:
    return st.session_state.setdefault(_clock_key(lab, name),
                                       {"at": 0.0, "origin": time.time(), "speed": 1})


def position(clock: dict, duration: float, now: float | None = None) -> float:
    """Where the replay is: its last position plus the time played since, at its speed."""
    at = clock["at"]
    if clock.get("origin") is not None:
        at += ((now or time.time()) - clock["origin"]) * clock["speed"]
    return max(0.0, min(at, duration))


def _set(clock: dict, duration: float, **changes) -> None:
    clock["at"] = position(clock, duration)
    if clock.get("origin") is not None:
        clock["origin"] = time.time()
    clock.update(changes)


def exit_replay() -> None:
    st.query_params.pop("demo", None)


def replay_page(lab_name: str, name: str) -> None:
    """The lab page in replay mode: the recording, its controls, and the way back to training."""
    meta = registry.meta(lab_name)
    st.title(f"{meta.ICON} {_(meta.TITLE)}")
    names = demos.demos_of(lab_name)
    if name not in names:
        st.warning(_("This page has no recorded demo named {name}; it has {names}.",
                     name=plain(name), names=", ".join(names)) if names else
                   _("This page has no recorded demo named {name}.", name=plain(name)))
        st.button(_("Train it yourself"), on_click=exit_replay, type="primary")
        return
    try:
        demo = load(lab_name, name)
    except demos.DemoError as e:
        st.error(str(e))
        st.button(_("Train it yourself"), on_click=exit_replay, type="primary")
        return
    st.info(_("**Replay of a recorded run** ({title}; recorded {recorded}). Nothing trains: "
              "the curves and pictures are the recording's, at the speed you pick.",
              title=_(demo.title), recorded=_(demo.recorded)), icon=":material/replay:")
    if getattr(meta, "TRY_THIS", ""):
        st.caption(_("**Try this:** {text}", text=_(meta.TRY_THIS)))
    clock = _clock(lab_name, name)
    duration = demo.duration
    if clock.get("origin") is not None and position(clock, duration) >= duration:
        clock.update(at=duration, origin=None)          # played to the end: it stops there
    c1, c2, c3, c4 = st.columns([1.2, 1.2, 2.2, 1.6])
    playing = clock.get("origin") is not None and position(clock, duration) < duration
    if c1.button(_("Pause") if playing else _("Play"), key="_replay.play", width="stretch",
                 icon=":material/pause:" if playing else ":material/play_arrow:",
                 shortcut=stage.key("play")):
        if playing:
            _set(clock, duration, origin=None)
        else:
            start = 0.0 if position(clock, duration) >= duration else position(clock, duration)
            clock.update(at=start, origin=time.time())
        st.rerun()
    if len(names) > 1:
        picked = c2.selectbox(_("Demo"), names, index=names.index(name), key="_replay.pick",
                              label_visibility="collapsed")
        if picked != name:
            st.query_params["demo"] = picked
            st.rerun()
    speed = c3.segmented_control("Speed", SPEEDS, default=clock["speed"], key="_replay.speed",
                                 format_func=lambda s: f"{s}x", label_visibility="collapsed")
    if speed and speed != clock["speed"]:
        _set(clock, duration, speed=speed)
    c4.button(_("Train it yourself"), on_click=exit_replay, type="primary", width="stretch",
              icon=":material/model_training:")

    key = f"_replay.scrub.{lab_name}.{name}"     # each demo its own range

    top = math.ceil(duration * 10) / 10

    def scrub():
        _set(clock, duration, at=float(st.session_state[key]))

    def scrubber(at: float, playing: bool) -> None:
        # NOTE: while it plays the slider follows the playback, disabled: a value the server
        # sets while the browser still shows an older one would come back as a "change" and
        # throw the replay back there. Paused, it jumps.
        st.session_state[key] = min(top, round(at, 1))
        st.slider(_("Jump to (s)"), 0.0, top, step=0.1, key=key, on_change=scrub,
                  disabled=playing, help=_("Pause, then jump to a moment of the recording."))
    if not playing:
        scrubber(position(clock, duration), False)
    tick = st.session_state.setdefault(TICK_KEY, TICK_S)

    @st.fragment(run_every=tick if playing else None)
    def _player():
        if st.session_state.get(TICK_KEY, tick) != tick:
            st.rerun()                      # a slower tick was chosen: declare it anew
        started, finished = time.perf_counter(), False
        try:
            at = position(clock, duration)
            if playing:
                scrubber(at, True)
            st.progress(min(1.0, at / duration),
                        text=_("{at:.1f} s of the recording's {duration:.1f} s", at=at,
                               duration=duration))
            with timing.logged("replay"):
                _show(demo, at, pictures_first=stage.active())
            finished = True
        finally:
            # NOTE: a redraw that takes longer than the tick is cut short by the next one and
            # a busy machine would show nothing at all: the tick grows with what a redraw costs
            cost = time.perf_counter() - started
            if playing and (not finished or cost > 0.5 * tick) and tick < MAX_TICK_S:
                st.session_state[TICK_KEY] = min(MAX_TICK_S, max(2 * tick, 3 * cost))
        if playing and at >= duration:
            clock.update(at=duration, origin=None)
            st.rerun()                      # the end: stop polling
    _player()


def _show(demo: demos.Demo, at: float, pictures_first: bool = False) -> None:
    store = ReplayStore(demo, at)
    curves = tuple(tuple(c) for c in demo.curves)
    current = next((i for i in store.ids if store.status(i).get("status") == "running"),
                   store.ids[-1] if at >= demo.duration else store.ids[0])
    if demo.compare:
        names = tuple(demo.compare["names"])
        st.subheader(_("Comparison: {names}", names=" vs ".join(_(n) for n in names)))
        cmp_curves = tuple(tuple(c) for c in demo.compare.get("curves") or ()) or None
        live.compare_views(store.ids, names, store, tuple(demo.compare.get("views") or ()),
                           prefix=f"replay-{demo.name}")
        live._compare_body(store.ids, names, store, cmp_curves)
        if at >= demo.duration:
            rows, verdict = demo.compare.get("rows") or [], demo.compare.get("verdict") or ""
            live._compare_table(store.ids, names, store, table=lambda runs: (rows, verdict))
    live._body(current, store, _NoQueue(), artifacts=True, curves=curves,
               pictures_first=pictures_first)


def picture(lab: str) -> dict | None:
    """The gallery's picture of a lab: the last frame's chosen picture of its first demo (kept
    beside the recording; read from the frames when it is missing)."""
    names = demos.demos_of(lab)
    if not names:
        return None
    item = demos.read_picture(lab, names[0])
    if item is not None:
        return item
    try:
        return demos.final_picture(load(lab, names[0]))
    except demos.DemoError:
        return None


SLOWER = 3.0            # a live run predicted this many times slower than its demo: offer it
SETTLED_S = 2.0         # ... once it has run this long (the first steps' estimate is noise)


def slower_demo(lab: str, config: dict, status: dict) -> tuple[str, float, float] | None:
    """A demo of exactly these settings, when this running run is predicted to take more than
    SLOWER times as long as the recording did (a weak laptop, a shared server): (its name, the
    run's predicted seconds, the recording's)."""
    if status.get("status") != "running" or status.get("eta_s") is None:
        return None
    elapsed = float(status.get("elapsed_s") or 0.0)
    if elapsed < SETTLED_S:
        return None
    predicted = elapsed + float(status["eta_s"])
    for name in demos.demos_of(lab):
        try:
            demo = load(lab, name)
        except demos.DemoError:
            continue
        if len(demo.runs) == 1 and demo.runs[0].config == config \
                and predicted > SLOWER * demo.runs[0].duration:
            return name, predicted, demo.runs[0].duration
    return None
