"""The Runs page: every run of every lab in one table, and a few of them side by side.

Pick runs to compare: their curves overlaid on one chart, the settings that differ between them,
each run's metrics as CSV. The selection lives in the URL (?runs=a,b), so a link reproduces the
view. Deleting is here too, behind a confirmation, and never touches a run that is still training.
On a hosted server a visitor sees their own runs and those opened through a link, and deletes only
their own.
"""
from __future__ import annotations

import datetime as dt
import functools
import math

import pandas as pd
import streamlit as st

from playground import i18n, params, registry
from playground.i18n import N_, _
from playground.engine.jobs import NotOwner
from playground.engine.runs import ACTIVE, NoSuchRun, RunInfo
from playground.ui import charts, share
from playground.ui import sweeps as sweep_ui
from playground.ui.state import manager, mine, session_id, visible_runs, visit
from playground.ui.text import plain

MAX_COMPARED = 8
SELECTED = "runs.selected"
MISSING = "–"
X_AXES = {"step": N_("step"), "epoch": N_("epoch"), "time": N_("seconds since the run started")}
_NOTES = "runs._notes"          # messages of the last delete, shown after its rerun


# ---- what a run is, in words ------------------------------------------------------------------

def _state(r: RunInfo) -> str:
    return "damaged" if r.damaged else str(r.status.get("status", "?"))


def _number(v) -> float | None:
    """A finite number or None: a hand-edited status.json must not break the table."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _value(v) -> str:
    """A setting as a person would type it in the form: `8, 8` rather than `[8, 8]`."""
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _cell(r: RunInfo, key: str) -> str:
    return _value(r.config[key]) if key in r.config else MISSING


def _defaults(lab_name: str) -> dict[str, str]:
    try:
        lab = registry.get(lab_name)
    except registry.UnknownLab:
        return {}
    return {s.name: _value(s.default) for s in params.specs(lab.Config)}


def _settings(r: RunInfo, limit: int = 70) -> str:
    """What sets a run apart: its dataset and every setting that is not its lab's default."""
    if r.damaged:
        return f"damaged: {r.damaged}"[:limit]
    defaults = _defaults(r.lab)
    text = "; ".join(f"{k}={_value(v)}" for k, v in r.config.items()
                     if k == "dataset" or _value(v) != defaults.get(k)) or "defaults"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _differing(runs: list[RunInfo]) -> list[str]:
    keys = dict.fromkeys(k for r in runs for k in r.config)
    return [k for k in keys if len({_cell(r, k) for r in runs}) > 1]


def _names(runs: list[RunInfo], with_settings: bool) -> dict[str, str]:
    """run id -> a short name (lab and id suffix), with the differing settings when they fit."""
    differing = _differing(runs)
    out: dict[str, str] = {}
    for r in runs:
        name = f"{r.lab} …{r.run_id[-6:]}"
        extra = "; ".join(f"{k}={_cell(r, k)}" for k in differing)
        if with_settings and extra and len(extra) <= 40:
            name += f" ({extra})"
        out[r.run_id] = r.run_id if name in out.values() else name
    return out


# ---- the sections of the page ----------------------------------------------------------------

def _keep_valid(key: str, options) -> None:
    """Drop remembered choices that no longer exist (a deleted run, a status no run has now):
    Streamlit refuses a widget value outside its options."""
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]


def _filters(runs: list[RunInfo]) -> list[RunInfo]:
    labs = sorted({r.lab for r in runs})
    states = sorted({_state(r) for r in runs})
    _keep_valid("runs.lab_filter", labs)
    _keep_valid("runs.status_filter", states)
    c1, c2 = st.columns(2)
    lang = i18n.current()
    lab_pick = c1.multiselect(_("Lab"), labs, key="runs.lab_filter", placeholder=_("every lab"),
                              format_func=functools.partial(_lab_title, lang=lang))
    state_pick = c2.multiselect(_("Status"), states, key="runs.status_filter",
                                placeholder=_("every status"),
                                format_func=functools.partial(_state_word, lang=lang))
    return [r for r in runs if (not lab_pick or r.lab in lab_pick)
            and (not state_pick or _state(r) in state_pick)]


def _lab_title(name: str, lang: str) -> str:
    try:
        return i18n.translate(registry.meta(name).TITLE, lang)
    except registry.UnknownLab:
        return name


def _state_word(state: str, lang: str) -> str:
    from playground.ui.live import _STATES

    return i18n.translate(_STATES.get(state, state), lang)


def _table(runs: list[RunInfo]) -> None:
    lang = i18n.current()
    st.dataframe(pd.DataFrame([{
        "run": r.run_id, "lab": r.lab, "status": _state_word(_state(r), lang),
        "result": charts.result(r.lab, r.status.get("final")),
        "seconds": _number(r.status.get("seconds")),
        "created": dt.datetime.fromtimestamp(r.created) if r.created else None,
        "settings": _settings(r)} for r in runs]), hide_index=True, width="stretch",
        column_config={"run": _("run"), "lab": _("lab"), "status": _("status"),
                       "result": _("result"), "settings": _("settings"),
                       "seconds": st.column_config.NumberColumn(_("seconds"), format="%.1f"),
                       "created": st.column_config.DatetimeColumn(
                           _("created"), format="YYYY-MM-DD HH:mm:ss")})


def _selection(shown: list[RunInfo], by_id: dict[str, RunInfo]) -> list[str]:
    if SELECTED not in st.session_state:        # a new visit: the link decides
        wanted = str(st.query_params.get("runs", "")).split(",")
        st.session_state[SELECTED] = list(dict.fromkeys(i for i in wanted if i in by_id))
    st.session_state[SELECTED] = [i for i in st.session_state[SELECTED] if i in by_id][
        :MAX_COMPARED]
    # Narrowing the filters hides other runs from the choices but keeps the ones being compared.
    options = [r.run_id for r in shown]
    options += [i for i in st.session_state[SELECTED] if i not in options]
    picked = st.multiselect(
        _("Runs to compare (up to {n})", n=MAX_COMPARED), options, key=SELECTED,
        max_selections=MAX_COMPARED, placeholder=_("Pick runs to overlay their curves"),
        format_func=functools.partial(_run_choice, by_id, lang=i18n.current()))
    if picked:
        st.query_params["runs"] = ",".join(picked)
    elif "runs" in st.query_params:
        del st.query_params["runs"]
    return picked


def _run_choice(by_id: dict, i: str, lang: str) -> str:
    return f"{by_id[i].lab} · {_state_word(_state(by_id[i]), lang)} · {i}"


def _series(records: list[dict], key: str, x: str) -> tuple[list, list]:
    points = [(r[x], r[key]) for r in records
              if _number(r.get(x)) is not None and _number(r.get(key)) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _overlay(runs: list[RunInfo], store) -> None:
    records = {r.run_id: store.metrics(r.run_id) for r in runs}
    keys = sorted({k for recs in records.values() for rec in recs for k, v in rec.items()
                   if k not in X_AXES and _number(v) is not None})
    if not keys:
        st.caption(_("No metrics recorded yet in the selected runs."))
        return
    if st.session_state.get("runs.metric") not in keys:
        st.session_state["runs.metric"] = ("val/acc" if "val/acc" in keys else
                                           "train/loss" if "train/loss" in keys else keys[0])
    c1, c2, c3 = st.columns(3)
    metric = c1.selectbox(_("Metric"), keys, key="runs.metric")
    smoothing = c2.slider(_("Smoothing"), 0.0, 0.99, 0.0, 0.01, key="runs.smoothing",
                          help=_("Exponential moving average, as in TensorBoard. Test metrics "
                                 "are sparse: smoothing them makes the curve lag behind."))
    x = c3.radio(_("x axis"), list(X_AXES), key="runs.x", horizontal=True,
                 format_func=functools.partial(i18n.translate, lang=i18n.current()))
    names = _names(runs, with_settings=True)
    series = {names[r.run_id]: _series(records[r.run_id], metric, x) for r in runs}
    lacking = [name for name, (xs, _) in series.items() if not xs]
    fig = charts.curves({k: v for k, v in series.items() if v[0]}, metric, x_title=_(X_AXES[x]),
                        y_title=metric, smoothing=smoothing)
    st.plotly_chart(fig, key="runs.chart", width="stretch")
    if lacking:
        st.caption(_("No {metric} in: {runs}.", metric=metric, runs=", ".join(lacking)))


def _config_diff(runs: list[RunInfo]) -> None:
    names = _names(runs, with_settings=False)
    if len(runs) == 1:
        st.markdown("**" + _("Settings") + "**")
        rows = ["lab", *runs[0].config]
    else:
        rows = (["lab"] if len({r.lab for r in runs}) > 1 else []) + _differing(runs)
        if not rows:
            st.info(_("The selected runs have the same settings."))
            return
        st.markdown("**" + _("Settings that differ") + "**")
    st.dataframe(pd.DataFrame({names[r.run_id]: [r.lab if k == "lab" else _cell(r, k)
                                                 for k in rows] for r in runs}, index=rows),
                 width="stretch")


def _per_run(runs: list[RunInfo], store) -> None:
    from playground.ui.app import lab_files

    pages = lab_files()
    names = _names(runs, with_settings=False)
    for r in runs:
        with st.container(border=True):
            st.markdown(f"**{names[r.run_id]}** · {_state_word(_state(r), i18n.current())} · "
                        f"`{r.run_id}`")
            from playground.ui.live import _message

            note = r.damaged or _message(r.status, "")
            if note:
                st.caption(plain(note, 300))        # a failure may quote an uploaded file
            if r.lab in pages:
                st.page_link(str(pages[r.lab]), label=_("Open on its lab page"),
                             query_params={"run": r.run_id}, icon=":material/open_in_new:")
            try:
                st.download_button("metrics.csv", store.metrics_csv(r.run_id),
                                   file_name=f"{r.run_id}-metrics.csv", mime="text/csv",
                                   key=f"runs.csv.{r.run_id}", icon=":material/download:")
            except (NoSuchRun, OSError) as e:
                st.caption(_("Its metrics cannot be read: {error}", error=e))
            # Call site of the other downloads (zip of config, metrics and weights; standalone
            # script; ONNX), whose module may not be there yet.
            try:
                from playground.ui.downloads import run_downloads
            except ImportError:
                pass
            else:
                run_downloads(r.run_id, store, key=f"runs.dl.{r.run_id}", owner=mine(r.run_id))


def _delete_selected(mgr) -> None:
    """A callback: it runs before the page, so it may still change the selection widget."""
    kept, notes, deleted = [], [], 0
    for run_id in st.session_state.get(SELECTED, []):
        try:
            mgr.delete(run_id, by=session_id())
            deleted += 1
        except NoSuchRun:
            pass                                    # already gone (another tab deleted it)
        except NotOwner as e:
            kept.append(run_id)
            notes.append(("warning", str(e)))
        except ValueError as e:
            kept.append(run_id)
            notes.append(("warning", str(e)))
        except OSError as e:
            kept.append(run_id)
            notes.append(("error", _("Run {run} could not be deleted: {error}.", run=run_id,
                                     error=e.strerror or e)))
    if deleted:
        notes.insert(0, ("success", _("Deleted 1 run.") if deleted == 1 else
                         _("Deleted {n} runs.", n=deleted)))
    st.session_state[SELECTED] = kept
    st.session_state["runs.confirm_delete"] = False
    st.session_state[_NOTES] = notes


def _delete_controls(picked: list[str], by_id: dict[str, RunInfo], mgr) -> None:
    others = [i for i in picked if not mine(i)]
    if picked and len(others) == len(picked):
        st.caption(_("The selected runs belong to other visitors: you can compare and "
                     "download them, not delete them."))
        return
    active = [i for i in picked if _state(by_id[i]) in ACTIVE]
    c1, c2 = st.columns([3, 1])
    sure = c1.checkbox(_("Delete the selected run and its files for good") if len(picked) == 1
                       else _("Delete the {n} selected runs and their files for good",
                              n=len(picked)), key="runs.confirm_delete", disabled=not picked)
    c2.button(_("Delete selected runs"), key="runs.delete", disabled=not (sure and picked),
              on_click=_delete_selected, args=(mgr,), icon=":material/delete:",
              width="stretch")
    if active:
        c1.caption(_("{n} of them still training: those are skipped (stop them first).",
                     n=len(active)))
    if others:
        c1.caption(_("{n} of them belong to other visitors: those are kept.", n=len(others)))


def _show_notes() -> None:
    for kind, text in st.session_state.pop(_NOTES, []):
        getattr(st, kind)(text)


def runs_page() -> None:
    mgr = manager()
    store = mgr.store
    st.title("🗂️ " + _("Runs"))
    if mgr.caps.hosted:
        st.markdown(_("Your runs, and the runs you opened through a link. Pick a few to overlay "
                      "their curves and see which settings differ; **Share** gives a link to "
                      "this view that others can open read-only."))
        st.sidebar.caption(mgr.caps.describe_retention())
    else:
        st.markdown(_("Every run of every lab. Pick a few to overlay their curves and see "
                      "which settings differ; the link in the address bar reproduces this view."))
    _show_notes()
    sweep_ui.section(store)
    if SELECTED not in st.session_state:        # a link's runs join this visitor's list
        visit(*[i for i in str(st.query_params.get("runs", "")).split(",") if store.exists(i)])
    runs = visible_runs()
    if not runs:
        st.info(_("No runs yet: train something on any page and it shows up here."))
        if "runs" in st.query_params:
            del st.query_params["runs"]
        return
    by_id = {r.run_id: r for r in runs}
    shown = _filters(runs)
    st.caption(_("{shown} of {total} runs", shown=len(shown), total=len(runs)))
    _table(shown)
    picked = _selection(shown, by_id)
    compared = [by_id[i] for i in picked]
    if compared:
        if any(_state(r) in ACTIVE for r in compared):
            st.caption(_("Some of these runs are still training: interact with the page or "
                         "refresh to see their newest points."))
        _overlay(compared, store)
        _config_diff(compared)
        share.share_button("runs", {"runs": ",".join(picked)}, key="runs.share",
                           what=N_("these runs side by side"))
        _per_run(compared, store)
    _delete_controls(picked, by_id, mgr)
