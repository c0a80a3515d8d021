"""Change while it trains: a running run's LIVE settings (its lab says which), pause, resume and
one step at a time, as TensorFlow Playground's. The page asks (JobManager.change, pause,
step_once); the training process applies the ask at its next flush, a few times a second, and
records it: a change is marked on the curves, kept in the run's config and replayed by its export.
"""
from __future__ import annotations

import math
import time

import streamlit as st

from playground import params
from playground.engine.jobs import InvalidConfig, NotOwner, SubmitError
from playground.i18n import _
from playground.ui.state import session_id
from playground.ui.text import plain

ACK_S = 1.5            # how long a click waits to see its ask taken (the loop flushes at 4 Hz)


def _ladder(spec: params.Spec, current) -> list:
    """The values offered for a log-scale number: 1 and 3 of every decade in its range (as
    TensorFlow Playground's learning rates), 0 when allowed, and the value it has now."""
    lo = spec.lo if spec.lo and spec.lo > 0 else 1e-5
    hi = spec.hi if spec.hi is not None else 10.0
    out = [0.0] if spec.lo == 0 else []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [float(f"{m}e{e}") for m in (1, 3) if lo <= m * 10.0 ** e <= hi]
    return sorted(set(out) | {float(current)})


def _current(lab, store, run_id: str) -> dict:
    """The run's settings now: as it started (defaults filled in), then its changes."""
    info = store.info(run_id)
    cfg, _errors = params.parse(lab.Config, info.config)
    now = {**{s.name: s.default for s in params.specs(lab.Config)},
           **(params.to_dict(cfg) if cfg is not None else info.config)}
    for change in info.changes:
        now.update({k: v for k, v in change.items() if k != "step"})
    return now


def _wait(store, run_id: str, taken) -> None:
    """Until the run's status shows the ask taken (a rerun then draws it), or ACK_S."""
    end = time.monotonic() + ACK_S
    while time.monotonic() < end:
        try:
            status = store.status(run_id)
        except Exception:  # noqa: BLE001 - a run deleted meanwhile: the page says so
            return
        if taken(status) or status.get("status") != "running":
            return
        time.sleep(0.05)


def _said(key: str, text: str, bad: bool = False) -> None:
    st.session_state[f"{key}.said"] = (text, bad)


def _send(mgr, store, run_id: str, name: str, key: str, title: str) -> None:
    value = st.session_state[key]
    before = len(store.status(run_id).get("changes") or [])
    try:
        mgr.change(run_id, {name: value}, by=session_id())
    except (InvalidConfig, SubmitError, NotOwner) as e:
        _said(key.rsplit(".", 1)[0], plain(e, 300), bad=True)
        return
    _wait(store, run_id, lambda s: len(s.get("changes") or []) > before or s.get("notice"))
    change = (store.status(run_id).get("changes") or [{}])[-1]
    if "step" in change and name in change:
        _said(key.rsplit(".", 1)[0], _("{setting} = {value} from step {step:,} on (marked on the "
                                       "curves).", setting=_(title),
                                       value=params.to_text(_spec(mgr, run_id, name), value),
                                       step=change["step"]))


def _spec(mgr, run_id: str, name: str) -> params.Spec:
    from playground import registry

    lab = registry.get(mgr.store.info(run_id).lab)
    return {s.name: s for s in params.specs(lab.Config)}[name]


def _pause(mgr, store, run_id: str, paused: bool, key: str) -> None:
    try:
        mgr.pause(run_id, paused, by=session_id())
    except (SubmitError, NotOwner) as e:
        _said(key, plain(e, 300), bad=True)
        return
    _wait(store, run_id, lambda s: bool(s.get("paused")) == paused)


def _step(mgr, store, run_id: str, key: str) -> None:
    before = store.status(run_id).get("step")
    try:
        mgr.step_once(run_id, by=session_id())
    except (SubmitError, NotOwner) as e:
        _said(key, plain(e, 300), bad=True)
        return
    _wait(store, run_id, lambda s: s.get("step") != before)


def panel(lab_name: str, lab, run_id: str, store, mgr) -> None:
    """The controls of a running run of a lab with LIVE settings (for its owner)."""
    live = tuple(getattr(lab, "LIVE", ()))
    status = store.status(run_id)
    if not live or status.get("status") != "running":
        return
    specs = {s.name: s for s in params.specs(lab.Config)}
    now = _current(lab, store, run_id)
    paused = bool(status.get("paused"))
    key = f"{lab_name}._live.{run_id}"
    with st.container(border=True):
        st.markdown("**" + _("Change while it trains") + "**")
        cols = st.columns([1.2] * len(live) + [1, 1])
        for col, name in zip(cols, live):
            spec = specs[name]
            wkey = f"{key}.{name}"
            args = (mgr, store, run_id, name, wkey, spec.title)
            if spec.choices:
                col.selectbox(_(spec.title), spec.choices, index=spec.choices.index(now[name]),
                              key=wkey, on_change=_send, args=args, help=_(spec.help))
            elif spec.log:
                options = _ladder(spec, now[name])
                col.selectbox(_(spec.title), options, index=options.index(float(now[name])),
                              key=wkey, on_change=_send, args=args, help=spec.help,
                              format_func=lambda v: f"{v:g}")
            else:
                col.slider(_(spec.title), float(spec.lo), float(spec.hi), float(now[name]),
                           step=0.05, key=wkey, on_change=_send, args=args, help=_(spec.help))
        cols[-2].button(_("Resume") if paused else _("Pause"), key=f"{key}.pause", width="stretch",
                        icon=":material/play_arrow:" if paused else ":material/pause:",
                        on_click=_pause, args=(mgr, store, run_id, not paused, key),
                        help=_("Pause: the run waits at its next step, its pictures and test "
                               "metrics drawn as they are; Resume goes on from there."))
        cols[-1].button(_("One step"), key=f"{key}.step", width="stretch", disabled=not paused,
                        icon=":material/skip_next:", on_click=_step,
                        args=(mgr, store, run_id, key),
                        help=_("While paused: train on one batch, then redraw the curves and "
                               "pictures."))
        said = st.session_state.get(f"{key}.said")         # kept until the next one
        if said:
            (st.error if said[1] else st.caption)(said[0])
        elif status.get("notice"):
            st.warning(plain(status["notice"], 300))
        else:
            st.caption(_("A change applies from the run's next step, a fraction of a second "
                         "later; it is marked on the curves and kept with the run, and its "
                         "exported script replays it."))
