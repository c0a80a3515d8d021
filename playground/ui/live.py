"""The live panel: status, progress, curves and artefacts of one run, read from the run store.

While the run is queued or running the panel is a fragment that polls the run folder (only the
panel reruns, not the page): every 0.5 s for a run's first seconds, then less often. A poll does
only the work that changed: metrics are read from the last offset, figures are rebuilt only when
their data changed (plotly figures built once, not validated again on every rerun), artefacts
only when the run wrote new ones; all of it is shared by every page watching the same run. When
the run ends the page reruns once, and a finished run is drawn once.
"""
from __future__ import annotations

import base64
import functools
import time

import pandas as pd
import streamlit as st

from playground import i18n
from playground.engine.runs import ACTIVE, NoSuchRun
from playground.i18n import N_, _
from playground.ui import charts, timing
from playground.ui.state import session_id
from playground.ui.text import plain

POLL_S = 0.5                  # a run's first seconds: the curve should move at once
POLLS = ((5, 0.5), (60, 1.0), (float("inf"), 2.0))     # (run younger than s, poll every s)
ARTIFACT_POLLS = 2            # artefacts (the browser's heaviest redraws) every this many polls
MAX_CURVE_POINTS = 1000       # per series: more than a chart this wide can show
_BADGE = {"queued": ("⏳", "gray"), "running": ("🏃", "blue"), "completed": ("✅", "green"),
          "cancelled": ("⏹️", "orange"), "diverged": ("💥", "red"), "failed": ("❌", "red"),
          "interrupted": ("⚠️", "orange"), "damaged": ("🩹", "red")}
_CURVES = (("loss", N_("Loss"), False), ("acc", N_("Accuracy"), False))
# a run's status, as its badge says it
_STATES = {"queued": N_("queued"), "running": N_("running"), "completed": N_("completed"),
           "cancelled": N_("cancelled"), "diverged": N_("diverged"), "failed": N_("failed"),
           "interrupted": N_("interrupted"), "damaged": N_("damaged")}
_UNITS = (N_("step"), N_("environment step"))      # the x axis of a lab's curves


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _series(records: list[dict], key: str, x: str) -> tuple[list, list]:
    number = (int, float)
    pts = [(r[x], r[key]) for r in records
           if isinstance(r.get(x), number) and isinstance(r.get(key), number)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _header(run_id: str, status: dict, position: int | None, on_fix=None,
            owner: bool = True) -> None:
    state = status.get("status", "?")
    icon, color = _BADGE.get(state, ("•", "gray"))
    word, shown = _("Run"), _(_STATES.get(state, state))
    st.markdown(f"**{word}** `{run_id}` &nbsp; :{color}-badge[{icon} {shown}]"
                + (" &nbsp; " + _("on `{device}`", device=status["device"])
                   if status.get("device") else "")
                + (" &nbsp; " + _("{params:,} parameters", params=status["params"])
                   if status.get("params") else ""))
    total = status.get("total_steps") or 0
    step = status.get("step") or 0
    if state == "queued":
        where = (_("position {position} in the queue", position=position) if position
                 else _("waiting for a free slot"))
        st.info(_("Queued: {where}. It starts when the run before it finishes.", where=where))
    elif state == "running":
        if status.get("unit"):          # the lab's own count (environment steps)
            step, total = status.get("shown_step") or 0, status.get("shown_total") or total
        text = _("step {step:,} / {total:,} · ETA {eta} · {rate:,.0f} samples/s", step=step,
                 total=total, eta=_fmt_s(status.get("eta_s")),
                 rate=status.get("samples_per_s") or 0) if total else \
            _message(status, _("starting..."))
        if status.get("paused"):
            text = "⏸ " + _("paused at step {step:,} / {total:,}", step=step, total=total)
        st.progress(min(1.0, step / total) if total else 0.0, text=text)
    elif state == "completed":
        st.success(_message(status, _("Completed.")))
    elif state in ("diverged", "failed", "damaged"):
        st.error(plain(_message(status, state), 1000))     # may quote an uploaded file
        fix = status.get("fix") or {}
        if fix and on_fix is not None:
            label = ", ".join(f"{k} = {v}" for k, v in fix.items())
            st.button(_("Use {fix} instead", fix=label), key=f"fix-{run_id}", on_click=on_fix, args=(fix,),
                      icon=":material/build:")
        # a traceback names files and code: hosted, for the run's owner only (it stays in
        # the run's status.json either way)
        if status.get("detail") and owner:
            with st.expander(_("Details")):
                st.code(status["detail"])
    elif state in ("cancelled", "interrupted"):
        st.warning(_message(status, state))


def _message(status: dict, default: str) -> str:
    """A run's message in the page's language: made in the worker in English, with its words
    (a message id and values) beside it where it has any."""
    message, words = status.get("message"), status.get("message_words")
    if not message or not isinstance(words, list):      # a recording's: known by its shape
        return _(message) if message else default
    try:
        parts = [(w["text"], w.get("values") or {}) for w in words]
        if "".join(t.format(**v) for t, v in parts) != message:
            return _(message)           # words of an earlier message
        # a value may be a word of its own (a lab's unit: "environment steps")
        return "".join(_(t, **{k: _(x) if isinstance(x, str) else x for k, x in v.items()})
                       for t, v in parts)
    except (KeyError, ValueError, IndexError, TypeError, AttributeError):
        return _(message)


def poll_seconds(status: dict, now: float | None = None) -> float:
    """How often to poll a run: fast while it is young, slower as it goes on."""
    age = (now or time.time()) - float(status.get("started") or status.get("created") or 0)
    if status.get("status") == "queued":
        return POLL_S                   # about to start: its first point should show at once
    return next(every for older, every in POLLS if age < older)


@functools.lru_cache(maxsize=8)
def _template(name: str) -> dict:
    import plotly.io as pio

    return pio.templates[name].to_plotly_json()


STAGE_FONT_PX, STAGE_MAX_HEIGHT_PX = 17, 330    # a projector at 1280x720: big type, in view


def look() -> tuple:
    """How figures are drawn on this page: on stage (font px, max height px) or not, and in the
    page's language (its code, when not English). Part of every figure cache key: a stage and a
    desk, in English and in Chinese, may watch the same run."""
    from playground.ui import stage

    staged = (STAGE_FONT_PX, STAGE_MAX_HEIGHT_PX) if stage.active() else ()
    lang = i18n.current()
    return staged + ((lang,) if lang != i18n.DEFAULT else ())


def _figure_words(spec: dict, lang: str) -> dict:
    """A figure made in the worker, in English, with its words in `lang` where the catalogue
    has them: axis, legend and chart titles, traces' names, annotations and words on an axis."""
    def say(x):
        return i18n.translate(x, lang) if isinstance(x, str) else x

    def titled(d):
        if not isinstance(d, dict):
            return d
        d = dict(d)
        title = d.get("title")
        if isinstance(title, dict):
            d["title"] = {**title, "text": say(title.get("text"))}
        elif isinstance(title, str):
            d["title"] = say(title)
        return d

    layout = dict(spec.get("layout") or {})
    for k in list(layout):
        if k.startswith(("xaxis", "yaxis", "coloraxis", "legend", "title", "scene")):
            layout[k] = say(layout[k]) if isinstance(layout[k], str) else titled(layout[k])
    if isinstance(layout.get("annotations"), list):
        layout["annotations"] = [{**a, "text": say(a.get("text"))} if isinstance(a, dict) else a
                                 for a in layout["annotations"]]
    data = []
    for t in spec.get("data") or []:
        t = dict(t) if isinstance(t, dict) else t
        if isinstance(t, dict):
            if isinstance(t.get("name"), str):
                t["name"] = say(t["name"])
            if isinstance(t.get("colorbar"), dict):
                t["colorbar"] = titled(t["colorbar"])
            marker = t.get("marker")
            if isinstance(marker, dict) and isinstance(marker.get("colorbar"), dict):
                t["marker"] = {**marker, "colorbar": titled(marker["colorbar"])}
            for k in ("x", "y"):        # categories: bar charts of named things
                if isinstance(t.get(k), list) and t[k] and all(isinstance(v, str) for v in t[k]):
                    t[k] = [say(v) for v in t[k]]
        data.append(t)
    return {**spec, "layout": layout, "data": data}


def _figure(spec: dict, look: tuple = ()):
    """A plotly figure validated once, for st.plotly_chart to send as it is on every poll.

    st.plotly_chart validates a dict on every call (~20-30 ms a chart here, most of it
    deep-copying the named template), and deep-copies a Figure (to_dict). This one is validated
    without its template, which is resolved once per name, and hands Streamlit the finished
    dict: a poll then costs only the JSON of the picture. Profiled with py-spy on a watched run."""
    import plotly.graph_objects as go

    lang = next((x for x in look if isinstance(x, str)), None)
    look = tuple(x for x in look if not isinstance(x, str))
    if lang:
        spec = _figure_words(spec, lang)
    layout = dict(spec.get("layout") or {})
    template = layout.pop("template", None)
    # NOTE: axis automargin (which plotly's templates turn on) makes plotly.js measure every
    # tick label and lay the chart out again, on every redraw: a third of the browser's time
    # on a watched run. Fixed margins wide enough for the labels do the same job once.
    # Axes labelled with words (layer names, classes) keep automargin: their width varies.
    if not any(isinstance(next(iter(t.get(k) or []), 0), str)
               for t in spec.get("data") or [] for k in ("x", "y")):
        margin = dict(layout.get("margin") or {})
        margin["l"], margin["b"] = max(margin.get("l", 0), 56), max(margin.get("b", 0), 42)
        layout["margin"] = margin
        for axis in ("xaxis", "yaxis"):
            layout[axis] = {"automargin": False, **(layout.get(axis) or {})}
    for axis in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        if (layout[axis] or {}).get("type") == "log":
            # "5, 2, 0.1, 5, 2, 0.01" reads as nonsense: every label a whole number
            layout[axis] = {"minorloglabels": "complete", **layout[axis]}
    legend = layout.get("legend") or {}
    if legend.get("orientation") == "h" and (legend.get("y") or 0) < 0:
        # a legend under the plot sits on the x axis' title once the type grows: above it
        titled = bool((layout.get("title") or {}).get("text"))
        # beside the chart's own title (right-aligned under it), else at the top left
        layout["legend"] = {**legend, "y": 1.0, "yanchor": "bottom",
                            **({"x": 1, "xanchor": "right"} if titled else
                               {"x": 0, "xanchor": "left"})}
        margin = dict(layout.get("margin") or {})
        margin["t"] = max(margin.get("t", 0), 56 if titled else 36)
        layout["margin"] = margin
    if look:
        font_px, max_px = look
        layout["font"] = {**(layout.get("font") or {}), "size": font_px}
        layout["height"] = min(int(layout.get("height") or 450), max_px)

    fig = _built_class()({**spec, "layout": layout})
    built = go.Figure.to_dict(fig)
    if isinstance(template, str):
        built["layout"]["template"] = _template(template)
    elif template is not None:
        built["layout"]["template"] = template
    fig._built = built
    return fig


@functools.lru_cache(maxsize=1)
def _built_class():
    """A Figure whose to_dict() is the dict it was finished as (plotly imported on first use)."""
    import plotly.graph_objects as go

    class Built(go.Figure):
        def to_dict(self):
            return self._built

    return Built


def _tiles(latest: dict, curves: tuple = ()) -> None:
    """The newest values: loss and accuracy, then the lab's own test metrics (CURVES)."""
    shown = [(k, lbl) for k, lbl in (("train/loss", N_("Train loss")), ("val/loss", N_("Test loss")),
                                      ("train/acc", N_("Train accuracy")),
                                      ("val/acc", N_("Test accuracy")),
                                      *((f"val/{c[0]}", c[1]) for c in curves))
             if k in latest]
    if not shown:
        return
    for col, (k, lbl) in zip(st.columns(len(shown)), shown):
        v = latest[k]
        share = k.endswith("acc") or "accuracy" in lbl or "share" in lbl
        col.metric(_(lbl), f"{v:.0f}" if k.endswith("modes") else charts.number(v, share))


def _marks(fig: dict, changes: list) -> dict:
    """Settings changed while the run trained: a dotted line at each, saying what changed."""
    shapes, notes = [], []
    for c in changes or ():
        if not isinstance(c, dict) or not isinstance(c.get("step"), (int, float)):
            continue
        what = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in c.items() if k != "step")
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": c["step"],
                       "x1": c["step"], "y0": 0, "y1": 1,
                       "line": {"color": "#7f7f7f", "width": 1, "dash": "dot"}})
        notes.append({"xref": "x", "yref": "paper", "x": c["step"], "y": 1, "yanchor": "top",
                      "xanchor": "left", "text": what, "showarrow": False,
                      "font": {"size": 10, "color": "#555"}, "bgcolor": "rgba(255,255,255,0.7)"})
    if shapes:
        fig["layout"] = {**fig["layout"], "shapes": shapes, "annotations": notes}
    return fig


def _curve_figure(records: list[dict], suffix: str, title: str, log_y: bool, smoothing: float,
                  also: dict | None = None, x_title: str = "step", changes: tuple = ()):
    series = {}
    for split, name in (("train", _("train")), ("val", _("test"))):
        xs, ys = _series(records, f"{split}/{suffix}", "step")
        if xs:
            series[name] = (xs, ys)
    for name, key in (also or {}).items():        # a baseline beside it (pure noise's score)
        xs, ys = _series(records, key, "step")
        if xs and series:
            series[name] = (xs, ys)
    if not series:
        return None
    title = _(title)
    axis = title.lower() if i18n.current() == i18n.DEFAULT else title    # "D 损失", not "d 损失"
    return _figure(_marks(charts.curves(series, title, x_title=_(x_title), y_title=axis,
                                       smoothing=smoothing, smooth_only=(_("train"),), log_y=log_y,
                                       max_points=MAX_CURVE_POINTS), list(changes)), look())


def _curves(tail, extra: tuple = (), x_title: str = "step", plain: bool = True,
            changes: list | None = None) -> None:
    """Loss and accuracy, then the lab's own metrics (a lab's CURVES: (suffix, title, log y),
    and optionally {series name: metric} drawn beside them, e.g. a baseline); `x_title`: the
    lab's unit of steps (DQN: environment step); `plain`: loss and accuracy charted at all (a
    race of points on a surface has its own pictures of both); `changes`: settings changed
    while the run trained, marked on every chart."""
    smoothing = st.session_state.get("_smoothing", 0.6)
    records = tail.read()
    wanted = [c for c in _CURVES if plain and (f"train/{c[0]}" in tail.latest
                                               or f"val/{c[0]}" in tail.latest)]
    wanted += [c for c in extra if f"val/{c[0]}" in tail.latest or f"train/{c[0]}" in tail.latest]
    cols = st.columns(2) * ((len(wanted) + 1) // 2)
    for col, (suffix, title, log_y, *also) in zip(cols, wanted):
        marks = tuple(tuple(sorted(c.items())) for c in changes or () if isinstance(c, dict))
        fig = tail.cached(("curve", suffix, tail.version, smoothing, look(), x_title, marks),
                          lambda: _curve_figure(records, suffix, title, log_y, smoothing,
                                                also[0] if also else None, x_title,
                                                tuple(changes or ())))
        if fig is not None:
            col.plotly_chart(fig, key=f"curve-{suffix}", width="stretch")


def _artifacts(tail, columns: int = 2) -> None:
    art = tail.artifacts()
    artifact_grid(art.get("items"), columns=columns, cache=lambda key, make: tail.cached(
        ("art", key, tail.artifacts_version, look()), make))


def artifact_grid(items, columns: int = 2, prefix: str = "art", cache=None) -> None:
    """Artefacts `columns` to a row; a bad one is a caption, never an exception. `cache(key,
    make)` keeps what is built from an item (a figure, decoded image bytes) while it is unchanged."""
    if not isinstance(items, dict) or not items:
        return
    cache = cache or (lambda key, make: make())
    cols = st.columns(columns)
    for i, (key, item) in enumerate(items.items()):
        with cols[i % columns]:
            try:
                _artifact(f"{prefix}-{key}", item, cache)
            except Exception as e:  # noqa: BLE001 - one bad picture must not hide the rest
                st.caption(_("This picture could not be shown ({error}).",
                             error=type(e).__name__))


def _markdown_words(text: str) -> str:
    """A text made in the worker, in English, in the page's language: each line or table cell
    the catalogue knows (a table's header, "None yet."); the data's own words stay."""
    if i18n.current() == i18n.DEFAULT or not isinstance(text, str):
        return text
    out = []
    for line in text.split("\n"):
        if line.startswith("|") and line.endswith("|") and "---" not in line:
            cells = line[1:-1].split("|")
            line = "|" + "|".join(f" {_(c.strip())} " if c.strip() else c for c in cells) + "|"
        elif line.strip():
            line = _(line)
        out.append(line)
    return "\n".join(out)


def _artifact(key: str, item: dict, cache, name: str = "") -> None:
    # a picture's words are made in the worker, in English: shown in the page's language
    words = item.get("words") if isinstance(item.get("words"), dict) else {}
    values = words.get("values") if isinstance(words.get("values"), dict) else {}
    title = _(words["title"], **values) if words.get("title") else _(item.get("title", key))
    st.markdown(f"**{name}: {title}**" if name else f"**{title}**")
    kind, data = item.get("kind"), item.get("data")
    if kind == "plotly":
        st.plotly_chart(cache(key, lambda: _figure(data, look())), key=key, width="stretch")
    elif kind == "image":
        st.image(cache(key, lambda: base64.b64decode(data)), width="stretch")
    elif kind == "markdown":
        st.markdown(_markdown_words(data))
    elif kind == "warning":
        st.warning(data, icon=":material/warning:")
    if item.get("caption"):
        st.caption(_(words["caption"], **values) if words.get("caption")
                   else _(item["caption"]))


def _body(run_id: str, store, manager, on_fix=None, artifacts: bool = True,
          curves: tuple = (), columns: int = 2, notice=None, pictures_first: bool = False,
          plain: bool = True, controls=None) -> str:
    try:
        status = store.status(run_id)
    except NoSuchRun as e:
        st.warning(plain(e, 200))
        return "missing"
    tail = store.tail(run_id)
    if artifacts and pictures_first:
        _artifacts(tail, columns)
    _header(run_id, status, manager.position(run_id), on_fix,
            owner=bool(status.get("detail")) and manager.controls(run_id, session_id()))
    if notice is not None:
        notice(status)
    if controls is not None:
        controls(status)
    tail.read()
    _tiles(tail.latest, curves)
    _curves(tail, curves, x_title=(status.get("unit") or "steps")[:-1], plain=plain,
            changes=status.get("changes"))
    if artifacts and not pictures_first:
        _artifacts(tail, columns)
    return status.get("status", "?")


def panel(run_id: str, store, manager, on_fix=None, curves: tuple = (),
          columns: int = 2, notice=None, pictures_first: bool = False,
          plain: bool = True, controls=None) -> None:
    """Show a run; poll while it is active. `on_fix(settings)` applies a suggested fix;
    `curves`: the lab's own metrics to chart beside loss and accuracy (its CURVES);
    `pictures_first` (on stage): the lab's pictures above the numbers and curves, in view;
    `controls(status)`: what the run's owner may do to it while it trains, drawn under its
    header at every poll (so they come when a queued run starts)."""
    try:
        state = store.status(run_id).get("status")
    except NoSuchRun as e:
        st.warning(_("{error}. It may have been deleted, or the link is wrong.",
                     error=plain(e, 200)))
        return
    if not pictures_first:
        st.slider(_("Curve smoothing"), 0.0, 0.99, 0.6, 0.01, key="_smoothing",
                  help=_("Exponential moving average, as in TensorBoard."))
    if state in ACTIVE:
        every = poll_seconds(store.status(run_id))

        @st.fragment(run_every=every)
        def _live():
            with timing.logged("panel"):
                now = _body(run_id, store, manager, on_fix, artifacts=False, curves=curves,
                            notice=notice, plain=plain, controls=controls)
            if now not in ACTIVE:
                st.rerun()
            elif poll_seconds(store.status(run_id)) != every:
                st.rerun()                  # declare the fragment again with the new interval

        @st.fragment(run_every=every * ARTIFACT_POLLS)
        def _live_artifacts():
            _artifacts(store.tail(run_id), columns)
        if pictures_first:
            _live_artifacts()
            _live()
        else:
            _live()
            _live_artifacts()
    else:
        _body(run_id, store, manager, on_fix, curves=curves, columns=columns,
              pictures_first=pictures_first, plain=plain)


def _compare_body(ids: list[str], names: tuple, store, curves: tuple | None = None) -> bool:
    """Overlaid curves of the compared runs; True while any of them is still going."""
    smoothing = st.session_state.get("_smoothing", 0.6)
    runs, active, versions = [], False, []
    for rid, name in zip(ids, names):
        try:
            state = store.status(rid).get("status", "?")
        except NoSuchRun:
            continue
        active |= state in ACTIVE
        tail = store.tail(rid)
        runs.append((f"{_(name)} ({_(_STATES.get(state, state))})", tail.read()))
        versions.append((rid, state, tail.version))
    if not runs:
        return active
    cache = store.tail(versions[-1][0]).cached

    def figure(key, title, smooth_it):
        series = {name: _series(recs, key, "step") for name, recs in runs}
        series = {k: v for k, v in series.items() if v[0]}
        return _figure(charts.curves(series, _(title), y_title=key.split("/")[1],
                                     smoothing=smoothing if smooth_it else 0.0,
                                     max_points=MAX_CURVE_POINTS), look()) if series else None

    # the headline test metric: accuracy where the runs have one (a regression: its test loss)
    headline = (("val/acc", N_("Test accuracy")) if any("val/acc" in r for _, recs in runs
                                                         for r in recs)
                else ("val/loss", N_("Test loss")))
    cols = st.columns(2)
    # a lab's own pair of charts (a GAN has no single loss), else training loss and headline
    shown = curves or (("train/loss", N_("Training loss"), True), (*headline, False))
    for col, (key, title, smooth_it) in zip(cols, shown):
        fig = cache(("compare", key, tuple(versions), smoothing, look()),
                    lambda: figure(key, title, smooth_it))
        if fig is not None:
            col.plotly_chart(fig, key=f"compare-{key}", width="stretch")
    return active


def plain_rows(runs) -> list[dict]:
    """A comparison's table where its lab has none: the runs' final metrics."""
    return [{N_("run"): name, N_("status"): r.status.get("status"),
             N_("test accuracy"): (r.status.get("final") or {}).get("val/acc"),
             N_("parameters"): r.status.get("params"), N_("seconds"): r.status.get("seconds")}
            for name, r in runs]


def _compare_table(ids: list[str], names: tuple, store, table=None) -> None:
    """The final table of a finished comparison: the lab's own (with its verdict) or a plain
    one from the runs' final metrics."""
    runs = [(name, store.info(i)) for name, i in zip(names, ids) if store.exists(i)]
    rows, verdict = table(runs) if table is not None else (plain_rows(runs), "")
    frame = pd.DataFrame(rows)
    if "status" in frame.columns:
        frame["status"] = frame["status"].map(lambda v: _(_STATES.get(v, v))
                                              if isinstance(v, str) else v)
    for c in frame.columns:             # the compared runs' names, as the subheader says them
        if not pd.api.types.is_numeric_dtype(frame[c]):
            frame[c] = frame[c].map(lambda v: _(v) if isinstance(v, str) and v in names else v)
    # the columns keep their English names (a lab's table names them), shown translated
    formats = {}
    for c in frame.columns:
        label = _(str(c))
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            formats[c] = st.column_config.Column(label)
            continue
        values = frame[c].dropna()
        if "accuracy" in c or "share" in c:
            formats[c] = st.column_config.NumberColumn(label, format="percent")
        elif len(values) and (values == values.round()).all():
            formats[c] = st.column_config.NumberColumn(label, format="localized")     # 139,530
        else:           # a GRU's 0.0004 and a gradient of 1e-07 are not "0"
            formats[c] = st.column_config.NumberColumn(label, format="%.3g")
    st.dataframe(frame, hide_index=True, width="stretch", column_config=formats)
    if verdict:
        st.info(_(verdict), icon="⚖️")          # a recording's verdict is English


def compare_views(ids: list[str], names: tuple, store, views: tuple = (),
                  prefix: str = "cmp") -> None:
    """Each compared run's key pictures side by side, one row per view (the lab's COMPARE
    "views": artefact keys; else each run's first picture): the plain net's gradients going
    dark beside the residual net's, not only the last run's."""
    tails = [(name, store.tail(rid)) for rid, name in zip(ids, names) if store.exists(rid)]
    if not tails:
        return
    arts = [(name, tail, (tail.artifacts().get("items") or {})) for name, tail in tails]
    keys = tuple(views) or next((tuple(items)[:1] for _, _, items in reversed(arts) if items), ())
    with st.container(key=f"{prefix}-views"):
        for view in keys:
            cols = st.columns(len(arts))
            for i, (col, (name, tail, items)) in enumerate(zip(cols, arts)):
                with col:
                    item = items.get(view)
                    if item is None:
                        st.markdown(f"**{_(name)}**")
                        st.caption(_("Its picture comes once it trains.") if not items else
                                   _("This run has no such picture."))
                        continue
                    try:
                        _artifact(f"{prefix}-{i}-{view}", item,
                                  lambda key, make, t=tail: t.cached(
                                      ("art", key, t.artifacts_version, look()), make),
                                  name=_(name))
                    except Exception as e:  # noqa: BLE001 - one bad picture must not hide the rest
                        st.caption(_("This picture could not be shown ({error}).",
                                     error=type(e).__name__))


def compare_panel(ids: list[str], names: tuple, store, table=None,
                  curves: tuple | None = None, views: tuple = ()) -> None:
    st.subheader(_("Comparison: {names}", names=" vs ".join(_(n) for n in names)))
    st.caption(_("Same data order, same seed. The runs train one after another, each one's "
                 "picture beside the others'; the panel further down follows the last one."))
    if any(store.exists(i) and store.status(i).get("status") in ACTIVE for i in ids):
        @st.fragment(run_every=2 * POLL_S)
        def _live():
            if not _compare_body(ids, names, store, curves):
                st.rerun()

        @st.fragment(run_every=2 * POLL_S * ARTIFACT_POLLS)
        def _live_views():
            compare_views(ids, names, store, views)
        _live_views()
        _live()
    else:
        compare_views(ids, names, store, views)
        _compare_body(ids, names, store, curves)
        with st.container(key="cmp-verdict"):
            _compare_table(ids, names, store, table)
