"""Sweeps in the app: the Sweep panel of a lab page (what to vary, how, the objective) and the
Sweeps view of the Runs page (parallel coordinates, the runs ranked, the best one a click from its
lab page, the top runs' curves, how much each setting moves the objective). The sweep itself is
playground.sweeps on a thread of this server, through the app's job manager."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from playground import params, sweeps
from playground import i18n
from playground.i18n import _
from playground.ui import charts

MAX_SUGGESTED = 4
TOP_CURVES = 5


def _suggest(spec: params.Spec, value) -> str:
    """Values around the current one, to edit: a log setting /10 and x10, others /2 and x2."""
    if spec.kind == "bool":
        return "true,false"
    if spec.choices and spec.kind == "str":
        rest = [c for c in spec.choices if c != value][:MAX_SUGGESTED - 1]
        return ",".join([str(value), *rest])
    if spec.kind in ("int", "float"):
        factor = 10 if spec.log else 2
        out = []
        for x in (value / factor, value, value * factor):
            x = min(spec.hi if spec.hi is not None else x, max(spec.lo if spec.lo is not None
                                                                else x, x))
            x = int(round(x)) if spec.kind == "int" else x
            text = params.to_text(spec, x)
            if text not in out:
                out.append(text)
        return ",".join(out)
    if spec.kind == "ints":
        wider = tuple(min(int(spec.hi or 2 * v), 2 * v) for v in value)
        return ";".join(dict.fromkeys([params.to_text(spec, value), params.to_text(spec, wider)]))
    return params.to_text(spec, value)


def _suggest_range(spec: params.Spec, value) -> str:
    factor = 10 if spec.log else 2
    lo = max(spec.lo, value / factor) if spec.lo is not None else value / factor
    hi = min(spec.hi, value * factor) if spec.hi is not None else value * factor
    if spec.kind == "int":
        lo, hi = int(math.floor(lo)), int(math.ceil(hi))
    return f"{lo:g}:{hi:g}"


def panel(lab_name: str, lab, cfg, mgr) -> None:
    """The Sweep expander of a lab page: the form's settings, some of them varied."""
    if cfg is None:
        return
    with st.expander(_("Sweep: many runs of these settings, a few of them varied")):
        _panel(lab_name, lab, cfg, mgr)


def _panel(lab_name: str, lab, cfg, mgr) -> None:
    key = f"{lab_name}._sweep"
    specs = [s for s in params.specs(lab.Config)
             if s.name not in ("device",) and not s.upload and not s.runs_of]
    by_name = {s.name: s for s in specs}
    st.caption(_("Every other setting stays as in the form. Each run is an ordinary run: the "
                 "Runs page lists them and shows the sweep as a whole."))
    for name, preset in getattr(lab, "SWEEPS", {}).items():
        grid = {k: sweeps.split_values(by_name[k], v) for k, v in preset["grid"].items()}
        n = math.prod(len(v) for v in grid.values())
        if st.button(_("{name} ({n} runs)", name=_(name), n=n), key=f"{key}.preset.{name}",
                     help=_(preset["help"]) if preset.get("help") else None,
                     icon=":material/stacked_line_chart:"):
            fixed = {s.name: params.to_text(s, getattr(cfg, s.name))
                     for s in params.specs(lab.Config) if s.name not in grid}
            _start(key, sweeps.Plan(lab_name, grid=grid, fixed=fixed, budget=n,
                                    parallel=max(1, mgr.caps.running)), mgr)
    how = st.radio(_("Search"), ["grid", "random"], horizontal=True, key=f"{key}.how",
                   format_func={"grid": _("Grid: every combination"),  # dict: fixed now
                                "random": _("Random: N draws")}.get)
    varied = st.multiselect(_("Settings to vary"), list(by_name), key=f"{key}.vary",
                            format_func=lambda n, lang=i18n.current():
                            i18n.translate(by_name[n].title, lang))
    grid, ranges, errors = {}, {}, []
    for name in varied:
        spec, value = by_name[name], getattr(cfg, name)
        numeric = spec.kind in ("int", "float")
        if how == "random" and numeric:
            text = st.text_input(_("{setting}: range lo:hi", setting=_(spec.title)),
                                 _suggest_range(spec, value), key=f"{key}.range.{name}",
                                 help=(_("Sampled log-uniformly; add :log or :lin to choose.")
                                       if spec.log else
                                       _("Sampled uniformly; add :log or :lin to choose."))
                                 + " " + _(spec.help))
            try:
                ranges[name] = sweeps.parse_range(text)
            except ValueError as e:
                errors.append(f"{spec.title}: {e}")
        else:
            sep = "';'" if spec.kind in ("ints", "strs") else "','"
            text = st.text_input(_("{setting}: values", setting=_(spec.title)),
                                 _suggest(spec, value), key=f"{key}.grid.{name}",
                                 help=_("Separated by {sep}.", sep=sep) + " " + _(spec.help))
            grid[name] = sweeps.split_values(spec, text)
    c1, c2, c3 = st.columns(3)
    n_random = c1.number_input(_("Runs (random)"), 1, sweeps.MAX_BUDGET, 8, key=f"{key}.n",
                               disabled=how != "random")
    budget = c2.number_input(_("Budget (most runs)"), 1, sweeps.MAX_BUDGET, 32, key=f"{key}.budget")
    seeds_text = c3.text_input(_("Seeds (repeats)"), "", key=f"{key}.seeds",
                               placeholder=_("e.g. 0,1,2"), disabled="seed" not in by_name)
    # NOTE: the app trains one run per device at a time (every page shares its queue), so a
    # sweep here does too; the CLI's --parallel gives a sweep its own slots
    parallel = max(1, mgr.caps.running)
    metric0, _mode = sweeps.default_objective(lab_name)
    headline = getattr(lab, "HEADLINE", ())
    options = list(dict.fromkeys([metric0, *[h[0] for h in headline if isinstance(h, tuple)],
                                  "val/acc", "val/loss", "train/loss"]))
    c1, c2, c3 = st.columns(3)
    metric = c1.selectbox(_("Objective"), options, key=f"{key}.metric")
    mode = c2.radio(_("Best is"), ["max", "min"], horizontal=True, key=f"{key}.mode.{metric}",
                    index=0 if sweeps.mode_of(metric) == "max" else 1)
    early = c3.selectbox(_("Stop bad runs early"), sweeps.EARLY_STOPS, key=f"{key}.early",
                         help=_("median: a run a quarter of the way through that is worse than "
                                "the median of at least 3 other runs at the same point is "
                                "stopped."))
    try:
        seeds = [int(s) for s in seeds_text.split(",") if s.strip()]
    except ValueError:
        errors.append(_("Seeds: whole numbers such as 0,1,2, got {text}", text=repr(seeds_text)))
        seeds = []
    fixed = {s.name: params.to_text(s, getattr(cfg, s.name)) for s in params.specs(lab.Config)
             if s.name not in grid and s.name not in ranges
             and not (seeds and s.name == "seed")}
    plan = sweeps.Plan(lab_name, grid=grid, ranges=ranges,
                       random=int(n_random) if how == "random" else 0, fixed=fixed,
                       seeds=seeds, objective=metric, mode=mode, budget=int(budget),
                       parallel=int(parallel), early_stop=early)
    if varied and not errors:
        st.caption(_("{n} runs.", n=sweeps.size(plan)))
    if st.button(_("Start sweep"), key=f"{key}.start", icon=":material/tune:",
                 disabled=not varied):
        if errors:
            st.error(_("This sweep cannot start:") + "\n\n" + "\n".join(f"- {m}" for m in errors))
        else:
            _start(key, plan, mgr)
    started = st.session_state.get(f"{key}.id")
    if started:
        from playground.ui.app import RUNS_PAGE

        st.success(_("Sweep {sweep} started: its runs train one after another in the "
                     "background, in the app's queue (the command line's `sweep --parallel` "
                     "trains several at once).", sweep=started), icon=":material/tune:")
        st.page_link(str(RUNS_PAGE), label=_("Follow it on the Runs page"),
                     icon=":material/monitoring:", query_params={"sweep": started})


def _start(key: str, plan: sweeps.Plan, mgr) -> None:
    from playground.ui.state import session_id

    try:
        st.session_state[f"{key}.id"] = sweeps.start(plan, mgr, owner=session_id())
    except sweeps.SweepError as e:
        st.error(_("This sweep cannot start:") + "\n\n" + "\n".join(f"- {m}" for m in e.messages))


# ---------------------------------------------------------------------------------------------
# The Runs page's Sweeps view

def _numeric(values: list) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _dimension(name: str, values: list) -> dict:
    nums = _numeric(values)
    if nums is not None and all(math.isfinite(x) for x in nums):
        if min(nums) > 0 and max(nums) / min(nums) >= 20:        # a log setting, drawn as one
            ticks = sorted(set(nums))
            return {"label": f"{name} (log)", "values": [math.log10(x) for x in nums],
                    "tickvals": [math.log10(x) for x in ticks],
                    "ticktext": [f"{x:g}" for x in ticks]}
        return {"label": name, "values": nums}
    levels = sorted({str(v) for v in values})
    return {"label": name, "values": [levels.index(str(v)) for v in values],
            "tickvals": list(range(len(levels))), "ticktext": levels}


def parallel_coordinates(record: dict) -> dict | None:
    """Plotly parcoords: one axis per swept setting, the objective last; a line per run."""
    runs = [r for r in record["runs"] if r["objective"] is not None
            and math.isfinite(r["objective"])]
    if not runs:
        return None
    metric, mode = record["objective"]["metric"], record["objective"]["mode"]
    dims = [_dimension(n, [r["settings"].get(n) for r in runs]) for n in record["swept"]]
    objective = [r["objective"] for r in runs]
    dims.append({"label": metric, "values": objective})
    return {"data": [{"type": "parcoords", "dimensions": dims,
                      "line": {"color": objective, "showscale": True,
                               "colorscale": "Viridis", "reversescale": mode == "min",
                               "colorbar": {"title": {"text": metric}}}}],
            "layout": {"template": "plotly_white", "height": 380,
                       "margin": {"l": 70, "r": 40, "t": 50, "b": 30}}}


def effect_chart(record: dict) -> dict | None:
    """The objective against the one numeric setting a grid varies (three values or more), a
    line for each value of the one other setting it varies, means over seeds: e.g. accuracy
    against labels per class, one line per mode (log x where the values span 20x or more)."""
    swept = [n for n in record["swept"] if n != "seed"]
    runs = [r for r in record["runs"] if r["objective"] is not None
            and math.isfinite(r["objective"])]
    numeric = [n for n in swept if (v := _numeric([r["settings"].get(n) for r in runs]))
               and len(set(v)) >= 3]
    if len(numeric) != 1 or len(swept) > 2 or not runs:
        return None
    x_name = numeric[0]
    by = next((n for n in swept if n != x_name), None)
    lines: dict[str, dict[float, list[float]]] = {}
    for r in runs:
        group = str(r["settings"].get(by)) if by else record["objective"]["metric"]
        x = float(r["settings"][x_name])
        lines.setdefault(group, {}).setdefault(x, []).append(r["objective"])
    xs = sorted({x for pts in lines.values() for x in pts})
    log = min(xs) > 0 and max(xs) / min(xs) >= 20
    traces = [{"type": "scatter", "mode": "lines+markers", "name": group,
               "x": sorted(pts), "y": [sum(pts[x]) / len(pts[x]) for x in sorted(pts)]}
              for group, pts in lines.items()]
    metric = record["objective"]["metric"]
    return {"data": traces,
            "layout": {"template": "plotly_white", "height": 360,
                       "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
                       "xaxis": {"title": {"text": x_name}, "type": "log" if log else "linear",
                                 "tickvals": xs, "ticktext": [f"{x:g}" for x in xs]},
                       "yaxis": {"title": {"text": metric}},
                       "legend": {"title": {"text": by or ""}}}}


def _table(record: dict) -> pd.DataFrame:
    rows = []
    for r in sweeps.ranked(record):
        rows.append({record["objective"]["metric"]: r["objective"], "status": r["status"],
                     **{n: r["settings"].get(n) for n in record["swept"]},
                     "note": r.get("stopped_early") or r.get("error") or "",
                     "run": r["run_id"] or ""})
    return pd.DataFrame(rows)


def _top_curves(record: dict, store) -> dict | None:
    metric = record["objective"]["metric"]
    series = {}
    for r in [r for r in sweeps.ranked(record) if r["run_id"]][:TOP_CURVES]:
        name = " ".join(f"{n}={r['settings'].get(n)}" for n in record["swept"])
        points = [(m["step"], m[metric]) for m in store.metrics(r["run_id"])
                  if m.get(metric) is not None and m.get("step") is not None]
        if points:
            series[name] = ([p[0] for p in points], [p[1] for p in points])
    if not series:
        return None
    return charts.curves(series, f"{metric} of the top {len(series)} runs", y_title=metric)


def _sensitivity_chart(record: dict) -> dict | None:
    sens = sweeps.sensitivity(record)
    if not sens:
        return None
    return {"data": [{"type": "bar", "x": list(sens.values()), "y": list(sens),
                      "orientation": "h", "marker": {"color": charts.ORANGE}}],
            "layout": {"template": "plotly_white", "height": 80 + 40 * len(sens),
                       "margin": {"l": 120, "r": 20, "t": 10, "b": 40},
                       "yaxis": {"autorange": "reversed"},
                       "xaxis": {"title": {"text": f"spread of the mean "
                                                   f"{record['objective']['metric']}"}}}}


def _verdict(record: dict) -> str:
    """The lab's sentence on a finished sweep (its `sweep_verdict`), or none."""
    from playground import registry

    try:
        say = getattr(registry.get(record["lab"]), "sweep_verdict", None)
    except registry.UnknownLab:
        return ""
    return say(record) if say is not None and record["status"] != "running" else ""


def _yours(record: dict) -> bool:
    """May this visitor cancel the sweep? (Always, unless hosted.)"""
    from playground.engine import hosting
    from playground.ui.state import session_id

    return not hosting.caps().hosted or record.get("owner") == session_id()


def section(store) -> None:
    """The Runs page's Sweeps section (nothing when there is no sweep). Hosted: the visitor's
    own sweeps and the command line's, not another visitor's (their run ids are theirs)."""
    from playground.engine import hosting

    records = [r for r in sweeps.list_sweeps()
               if not hosting.caps().hosted or r.get("owner") is None or _yours(r)]
    if not records:
        return
    st.subheader("Sweeps")
    ids = [r["sweep_id"] for r in records]
    asked = str(st.query_params.get("sweep", ""))
    by_id = {r["sweep_id"]: r for r in records}

    def label(i: str) -> str:
        r = by_id[i]
        return f"{i} · {r['lab']} · {len(r['runs'])} runs · {r['status']}"
    picked = st.selectbox("Sweep", ids, index=ids.index(asked) if asked in ids else 0,
                          key="runs.sweep", format_func=label)
    if picked != asked:
        st.query_params["sweep"] = picked
    running = by_id[picked]["status"] == "running"

    @st.fragment(run_every=1.0 if running else None)
    def _live():
        record = sweeps.load(picked)
        _view(record, store)
        if running and record["status"] != "running":
            st.rerun()                          # it ended: stop polling
    _live()


def _view(record: dict, store) -> None:
    sid, metric = record["sweep_id"], record["objective"]["metric"]
    counts = record.get("counts", {})
    ended = sum(v for k, v in counts.items() if k in sweeps.TERMINAL + ("skipped",))
    best = record.get("best")
    line = (f"**{record['status']}**: {ended} of {len(record['runs'])} runs ended; objective "
            f"{metric} ({record['objective']['mode']})")
    if best:
        line += f", best {best['objective']:.4g}"
    c1, c2 = st.columns([4, 1])
    c1.markdown(line)
    if record["status"] == "running" and _yours(record) and c2.button(
            "Cancel sweep", key="runs.sweep.cancel", icon=":material/stop:"):
        from playground.engine.jobs import NotOwner
        from playground.ui.state import session_id

        try:
            sweeps.cancel(sid, by=session_id())
            st.toast("Cancelling: its runs stop, the waiting ones will not start.")
        except NotOwner as e:
            st.error(str(e))
    if best and best.get("run_id"):
        from playground.ui.app import lab_files

        page = lab_files().get(record["lab"])
        if page is not None:
            swept = " ".join(f"{n}={best['settings'].get(n)}" for n in record["swept"])
            st.page_link(str(page), label=f"Open the best run on the {record['lab']} page "
                         f"({swept})", icon=":material/trophy:",
                         query_params={**best["settings"], "run": best["run_id"]})
    effect = effect_chart(record)
    if effect:
        st.plotly_chart(effect, key="sweep.effect", width="stretch")
        verdict = _verdict(record)
        if verdict:
            st.info(verdict, icon="⚖️")
    fig = parallel_coordinates(record)
    if fig:
        st.plotly_chart(fig, key="sweep.parcoords", width="stretch")
    st.dataframe(_table(record), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    curves = _top_curves(record, store)
    if curves:
        c1.plotly_chart(curves, key="sweep.curves", width="stretch")
    sens = _sensitivity_chart(record)
    if sens:
        c2.markdown("**How much each setting moves the objective**")
        c2.plotly_chart(sens, key="sweep.sensitivity", width="stretch")
        c2.caption("The spread of the objective's mean over the runs that share each value of "
                   "a setting (for a sampled range: its lower and upper half).")
